// Incremental WebSocket frame parser (RFC 6455 §5) for one direction of an upgraded connection.
// It takes the reassembled stream chunk by chunk (a chunk may end anywhere, also inside the 2..14
// byte header), keeps at most one header (14 bytes, inline), and counts payload bytes without
// copying them. The only payload bytes it looks at are a close frame's first two, unmasked, which
// carry the status code (§5.5.1, §7.4).
//
// Validity is checked at two levels:
//  - Per frame, here: reserved opcodes, RSV2/RSV3, the 64-bit length's most significant bit,
//    control frames longer than 125 bytes or fragmented (§5.2, §5.5). These break framing: a
//    stream that carries them is not (or no longer) WebSocket as we understand it.
//  - Per message, by the FrameObserver (§5.4): a continuation with no message in progress, a new
//    data frame while one is in progress. These break framing too.
// WebSocket has no resynchronisation point (payload bytes can look like anything, including a
// frame header), so a framing violation stops the direction for good: stats.websocket
// .parse_errors and .framing_lost are incremented and every later captured byte is counted in
// stats.parser_discarded_bytes (together with the bytes of the offending header). Gap bytes after
// that are not counted again: the reassembler already counted them as lost or uncaptured.
//
// Rules whose violation leaves framing intact are counted in stats.websocket.parse_errors (once
// per frame) and parsing goes on: the masking rule (§5.1: client frames masked, server frames
// not), a length not in its minimal encoding (§5.2), RSV1 on a control frame or a continuation
// (RFC 7692 §6: only a message's first frame carries "compressed"), a one-byte close payload
// (§5.5.1).
//
// Gaps (tcp/reassembler.h gives their exact length): inside a payload they are payload we did not
// capture, framing is kept and the bytes still count. A gap that reaches a header (even its first
// byte) loses framing: stats.websocket.framing_lost, no parse error (the peer did nothing wrong).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "analyzer/analyzer.h"
#include "analyzer/events.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer::protocols::websocket {

// Opcodes in use (RFC 6455 §5.2, §11.8). 0x3-0x7 and 0xB-0xF are reserved.
inline constexpr uint8_t kOpContinuation = 0x0;
inline constexpr uint8_t kOpText = 0x1;
inline constexpr uint8_t kOpBinary = 0x2;
inline constexpr uint8_t kOpClose = 0x8;
inline constexpr uint8_t kOpPing = 0x9;
inline constexpr uint8_t kOpPong = 0xA;

// Control frames have the opcode's high bit set (§5.5).
constexpr bool IsControlOpcode(uint8_t opcode) { return (opcode & 0x8) != 0; }

// §5.5: all control frames MUST have a payload length of 125 bytes or less.
inline constexpr uint64_t kMaxControlPayload = 125;
// 2 bytes, up to 8 of extended length, up to 4 of masking key (§5.2).
inline constexpr size_t kMaxHeaderBytes = 14;

struct FrameHeader {
  bool fin = false;
  bool rsv1 = false;   // "compressed" on a message's first frame (permessage-deflate, RFC 7692)
  uint8_t opcode = 0;  // the raw 4-bit value
  bool masked = false;
  std::array<uint8_t, 4> masking_key{};
  uint64_t payload_len = 0;
  uint8_t header_len = 0;  // 2..14 bytes on the wire
};

// What went wrong with a frame. The first group leaves framing intact; the rest stops the
// direction (BreaksFraming).
enum class FrameError : uint8_t {
  kNone,
  // Counted, parsing continues.
  kMaskingRule,          // client frame unmasked or server frame masked (§5.1)
  kNonMinimalLength,     // e.g. 126 + a 16-bit length below 126 (§5.2)
  kMisplacedRsv1,        // RSV1 on a control frame or a continuation (RFC 7692 §6)
  kOneByteClosePayload,  // a close body must start with a 2-byte code (§5.5.1)
  // Framing lost, the direction stops.
  kReservedBits,            // RSV2 or RSV3 set: no extension we know defines them (§5.2)
  kReservedOpcode,          // 0x3-0x7, 0xB-0xF (§5.2)
  kLengthMsbSet,            // 64-bit length with its most significant bit set (§5.2)
  kControlTooLong,          // control payload > 125 bytes (§5.5)
  kControlFragmented,       // control frame without FIN (§5.5)
  kUnexpectedContinuation,  // continuation frame with no data message in progress (§5.4)
  kUnexpectedDataFrame,     // text/binary frame while a data message is in progress (§5.4)
  kGapInHeader,             // bytes of a frame header were not captured (not a peer error)
};

constexpr bool BreaksFraming(FrameError e) { return e >= FrameError::kReservedBits; }

constexpr std::string_view ToString(FrameError e) {
  switch (e) {
    case FrameError::kNone:
      return "none";
    case FrameError::kMaskingRule:
      return "masking-rule";
    case FrameError::kNonMinimalLength:
      return "non-minimal-length";
    case FrameError::kMisplacedRsv1:
      return "misplaced-rsv1";
    case FrameError::kOneByteClosePayload:
      return "one-byte-close-payload";
    case FrameError::kReservedBits:
      return "reserved-bits";
    case FrameError::kReservedOpcode:
      return "reserved-opcode";
    case FrameError::kLengthMsbSet:
      return "length-msb-set";
    case FrameError::kControlTooLong:
      return "control-too-long";
    case FrameError::kControlFragmented:
      return "control-fragmented";
    case FrameError::kUnexpectedContinuation:
      return "unexpected-continuation";
    case FrameError::kUnexpectedDataFrame:
      return "unexpected-data-frame";
    case FrameError::kGapInHeader:
      return "gap-in-header";
  }
  return "?";
}

class FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  // A header is complete and valid as a frame on its own. Returns kNone to accept it, or the
  // message-level violation (§5.4) it commits, which stops the parser before the frame counts.
  virtual FrameError OnFrameStart(const FrameHeader& header) = 0;
  // The frame's last byte arrived (or fell in a gap) in a chunk stamped `ts_ns`. `close_code`:
  // a close frame's status code, empty when it has none or its bytes were not captured.
  virtual void OnFrameEnd(const FrameHeader& header, std::optional<uint16_t> close_code,
                          uint64_t ts_ns) = 0;
};

class FrameParser final : public tcp::StreamConsumer {
 public:
  // `dir` decides the masking rule. `stats` and `observer` must outlive the parser.
  FrameParser(Direction dir, AnalyzerStats& stats, FrameObserver& observer)
      : dir_(dir), stats_(stats), observer_(observer) {}

  void OnChunk(const tcp::StreamChunk& chunk) override;
  // The stream ended: ignore anything delivered later. Returns true when a frame was cut short
  // (header or payload incomplete); false when the parser was between frames or had stopped.
  bool Finish();

  // Framing was lost (violation or gap in a header); later bytes are only counted.
  bool stopped() const { return stop_reason_ != FrameError::kNone; }
  // Why parsing stopped, kNone while it runs.
  FrameError stop_reason() const { return stop_reason_; }
  // The most recent error of any kind (kNone if none so far).
  FrameError last_error() const { return last_error_; }

 private:
  enum class Phase : uint8_t { kHeader, kPayload, kStopped, kFinished };

  void OnData(std::span<const uint8_t> bytes, uint64_t ts);
  void OnGap(uint64_t length, uint64_t ts);
  // Takes header bytes from `bytes`; returns how many it took. May stop the parser.
  size_t ConsumeHeader(std::span<const uint8_t> bytes, uint64_t ts);
  // Checks the first two header bytes (everything but the length's extension and the key), so
  // garbage is rejected without waiting for up to 12 more bytes.
  FrameError CheckFirstBytes() const;
  // The whole header is in header_bytes_: decode, check, report (or stop).
  void OnHeaderComplete(uint64_t ts);
  // Counts payload bytes [offset, offset + n) of the current frame; `data` holds them when
  // captured (empty for a gap).
  void ConsumePayload(uint64_t n, std::span<const uint8_t> data, uint64_t ts);
  void EndFrame(uint64_t ts);
  void Stop(FrameError reason);

  const Direction dir_;
  AnalyzerStats& stats_;
  FrameObserver& observer_;
  Phase phase_ = Phase::kHeader;
  std::array<uint8_t, kMaxHeaderBytes> header_bytes_{};
  size_t header_have_ = 0;  // bytes of the current header received so far
  FrameHeader header_;
  uint64_t payload_remaining_ = 0;
  // A close frame's first two payload bytes, unmasked; close_have_ counts the ones captured.
  std::array<uint8_t, 2> close_bytes_{};
  uint8_t close_have_ = 0;
  bool close_lost_ = false;  // one of them fell in a gap
  FrameError stop_reason_ = FrameError::kNone;
  FrameError last_error_ = FrameError::kNone;
};

}  // namespace ta::analyzer::protocols::websocket
