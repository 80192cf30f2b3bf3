// HTTP/2 frame layout (RFC 9113 §4.1, §6): the 9-byte frame header, frame types, flags and the
// settings the analyzer reads, plus the conservative "do these bytes start with frames?" test
// used to join a connection mid-way and to resynchronise after lost framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ta::analyzer::protocols::http2 {

// RFC 9113 §3.4: the client connection preface, sent before the client's first frame.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

inline constexpr size_t kFrameHeaderSize = 9;  // RFC 9113 §4.1
// RFC 9113 §6.5.2: SETTINGS_MAX_FRAME_SIZE starts at 2^14 and can be raised up to 2^24-1.
inline constexpr uint32_t kDefaultMaxFrameSize = 16384;
inline constexpr uint32_t kLargestMaxFrameSize = (1u << 24) - 1;
// RFC 7541 §4.2 / RFC 9113 §6.5.2: SETTINGS_HEADER_TABLE_SIZE starts at 4096.
inline constexpr uint32_t kDefaultHeaderTableSize = 4096;

// RFC 9113 §6 frame types. Others are extensions and are ignored (§5.5).
enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoAway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};
inline constexpr uint8_t kLastKnownFrameType = 0x9;

// Flags (RFC 9113 §6). The same bit means different things in different frame types.
inline constexpr uint8_t kFlagEndStream = 0x01;   // DATA, HEADERS
inline constexpr uint8_t kFlagAck = 0x01;         // SETTINGS, PING
inline constexpr uint8_t kFlagEndHeaders = 0x04;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kFlagPadded = 0x08;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kFlagPriority = 0x20;    // HEADERS

// RFC 9113 §6.5.2 setting identifiers the analyzer acts on.
inline constexpr uint16_t kSettingHeaderTableSize = 0x1;
inline constexpr uint16_t kSettingMaxFrameSize = 0x5;

struct FrameHeader {
  uint32_t length = 0;  // payload length, 24 bits
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // 31 bits, the reserved bit masked off (§4.1: ignored on receipt)
  bool reserved_bit = false;

  bool has(uint8_t flag) const { return (flags & flag) != 0; }
  bool is(FrameType t) const { return type == static_cast<uint8_t>(t); }
};

// `bytes` must hold at least kFrameHeaderSize bytes.
FrameHeader ParseFrameHeader(std::span<const uint8_t> bytes);

inline uint32_t ReadUint32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// The RFC 9113 §6 rules on one frame header that need no other context: payload length per
// type (PRIORITY 5, RST_STREAM 4, PING 8, WINDOW_UPDATE 4, SETTINGS a multiple of 6 and empty
// with ACK, GOAWAY at least 8, PUSH_PROMISE at least 4, room for the pad length and priority
// fields), whether the frame belongs on stream 0 or on a stream, and the length against
// `max_frame_size`. Unknown types pass (§5.5). Padding needs the payload and is checked later.
bool FrameHeaderValid(const FrameHeader& h, uint32_t max_frame_size);

// True when `bytes` (the start of a TCP segment) begins with one or more plausible frame
// headers that chain exactly to the end of `bytes` or run past it (a frame continues in a later
// segment). Deliberately stricter than a receiver, to rule out HTTP/1, TLS records and random
// bytes:
//  - at least one complete frame header;
//  - every type is one of RFC 9113 §6 (0x0-0x9); extension types are not accepted here;
//  - the R bit is 0 and only the flags defined for the type are set;
//  - FrameHeaderValid with the default 16384-byte maximum frame size (a peer that raised
//    SETTINGS_MAX_FRAME_SIZE is recognised at the next segment that starts with a smaller frame);
//  - a pad length present in `bytes` leaves room in the payload;
//  - the chain does not start with CONTINUATION, and a header block left open (no END_HEADERS)
//    is followed by a CONTINUATION on the same stream (§6.10).
// An HTTP/1 request line ("GET ...") or a TLS record (0x16 0x03 ...) reads as a payload length
// far above 16384, so neither matches.
bool LooksLikeHttp2Frames(std::span<const uint8_t> bytes);

}  // namespace ta::analyzer::protocols::http2
