#include "analyzer/protocols/http2/frame.h"

namespace ta::analyzer::protocols::http2 {
namespace {

// Flags RFC 9113 §6 defines per frame type (index = type).
constexpr uint8_t kDefinedFlags[kLastKnownFrameType + 1] = {
    kFlagEndStream | kFlagPadded,                                   // DATA
    kFlagEndStream | kFlagEndHeaders | kFlagPadded | kFlagPriority,  // HEADERS
    0,                                                              // PRIORITY
    0,                                                              // RST_STREAM
    kFlagAck,                                                       // SETTINGS
    kFlagEndHeaders | kFlagPadded,                                  // PUSH_PROMISE
    kFlagAck,                                                       // PING
    0,                                                              // GOAWAY
    0,                                                              // WINDOW_UPDATE
    kFlagEndHeaders,                                                // CONTINUATION
};

}  // namespace

FrameHeader ParseFrameHeader(std::span<const uint8_t> b) {
  FrameHeader h;
  h.length = (uint32_t{b[0]} << 16) | (uint32_t{b[1]} << 8) | uint32_t{b[2]};
  h.type = b[3];
  h.flags = b[4];
  const uint32_t id = ReadUint32(&b[5]);
  h.reserved_bit = (id & 0x80000000u) != 0;
  h.stream_id = id & 0x7fffffffu;
  return h;
}

bool FrameHeaderValid(const FrameHeader& h, uint32_t max_frame_size) {
  if (h.length > max_frame_size) return false;  // §4.2
  if (h.type > kLastKnownFrameType) return true;  // §5.5: unknown types are ignored
  const bool on_stream = h.stream_id != 0;
  const uint32_t pad_field = h.has(kFlagPadded) ? 1 : 0;
  switch (static_cast<FrameType>(h.type)) {
    case FrameType::kData:  // §6.1
      return on_stream && h.length >= pad_field;
    case FrameType::kHeaders:  // §6.2
      return on_stream && h.length >= pad_field + (h.has(kFlagPriority) ? 5u : 0u);
    case FrameType::kPriority:  // §6.3
      return on_stream && h.length == 5;
    case FrameType::kRstStream:  // §6.4
      return on_stream && h.length == 4;
    case FrameType::kSettings:  // §6.5
      return !on_stream && h.length % 6 == 0 && !(h.has(kFlagAck) && h.length != 0);
    case FrameType::kPushPromise:  // §6.6
      return on_stream && h.length >= pad_field + 4;
    case FrameType::kPing:  // §6.7
      return !on_stream && h.length == 8;
    case FrameType::kGoAway:  // §6.8
      return !on_stream && h.length >= 8;
    case FrameType::kWindowUpdate:  // §6.9: connection (0) or stream
      return h.length == 4;
    case FrameType::kContinuation:  // §6.10
      return on_stream;
  }
  return true;
}

bool LooksLikeHttp2Frames(std::span<const uint8_t> bytes) {
  size_t off = 0;
  bool first = true;
  uint32_t open_block_stream = 0;  // stream of a header block still expecting CONTINUATION
  while (off + kFrameHeaderSize <= bytes.size()) {
    const FrameHeader h = ParseFrameHeader(bytes.subspan(off, kFrameHeaderSize));
    if (h.type > kLastKnownFrameType || h.reserved_bit) return false;
    if ((h.flags & ~kDefinedFlags[h.type]) != 0) return false;
    if (!FrameHeaderValid(h, kDefaultMaxFrameSize)) return false;
    const bool continuation = h.is(FrameType::kContinuation);
    if (first && continuation) return false;
    if (open_block_stream != 0 && (!continuation || h.stream_id != open_block_stream)) {
      return false;
    }
    const size_t payload = off + kFrameHeaderSize;
    if (h.has(kFlagPadded) && payload < bytes.size()) {
      // §6.1, §6.2, §6.6: the padding must be shorter than the rest of the payload.
      const uint32_t fixed = h.is(FrameType::kHeaders) && h.has(kFlagPriority) ? 5u
                             : h.is(FrameType::kPushPromise)                    ? 4u
                                                                                : 0u;
      if (uint32_t{bytes[payload]} + 1 + fixed > h.length) return false;
    }
    const bool block = h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise) || continuation;
    open_block_stream = block && !h.has(kFlagEndHeaders) ? h.stream_id : 0;
    first = false;
    off = payload + h.length;
  }
  // Chained to the end exactly, or the last frame (or its header) runs past the end.
  return !first;
}

}  // namespace ta::analyzer::protocols::http2
