#include "analyzer/protocols/websocket/frame_parser.h"

#include <algorithm>
#include <cstring>

namespace ta::analyzer::protocols::websocket {
namespace {

// Payload length field values that announce an extended length (§5.2).
constexpr uint8_t kLength16 = 126;
constexpr uint8_t kLength64 = 127;

// The header's full size, known from its first two bytes (§5.2).
size_t HeaderLength(uint8_t byte1) {
  const uint8_t len7 = byte1 & 0x7F;
  size_t n = 2;
  if (len7 == kLength16) n += 2;
  if (len7 == kLength64) n += 8;
  if ((byte1 & 0x80) != 0) n += 4;
  return n;
}

}  // namespace

void FrameParser::OnChunk(const tcp::StreamChunk& chunk) {
  if (chunk.kind == tcp::StreamChunk::Kind::kData) {
    OnData(chunk.data, chunk.ts_ns);
  } else {
    OnGap(chunk.gap_len, chunk.ts_ns);
  }
}

bool FrameParser::Finish() {
  const bool cut = (phase_ == Phase::kHeader && header_have_ > 0) || phase_ == Phase::kPayload;
  phase_ = Phase::kFinished;
  return cut;
}

void FrameParser::OnData(std::span<const uint8_t> bytes, uint64_t ts) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    switch (phase_) {
      case Phase::kFinished:
        return;
      case Phase::kStopped:
        stats_.parser_discarded_bytes += bytes.size() - pos;
        return;
      case Phase::kHeader:
        pos += ConsumeHeader(bytes.subspan(pos), ts);
        break;
      case Phase::kPayload: {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(payload_remaining_, bytes.size() - pos));
        ConsumePayload(n, bytes.subspan(pos, n), ts);
        pos += n;
        break;
      }
    }
  }
}

void FrameParser::OnGap(uint64_t length, uint64_t ts) {
  if (phase_ == Phase::kPayload) {
    // Payload we did not capture: its length is known, so framing survives.
    const uint64_t n = std::min(length, payload_remaining_);
    ConsumePayload(n, {}, ts);
    length -= n;
  }
  // Whatever is left of the gap covers (part of) a header: the next frame's size is unknown.
  if (length > 0 && phase_ == Phase::kHeader) Stop(FrameError::kGapInHeader);
}

size_t FrameParser::ConsumeHeader(std::span<const uint8_t> bytes, uint64_t ts) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t need = header_have_ < 2 ? 2 : HeaderLength(header_bytes_[1]);
    const size_t take = std::min(need - header_have_, bytes.size() - pos);
    std::memcpy(header_bytes_.data() + header_have_, bytes.data() + pos, take);
    header_have_ += take;
    pos += take;
    if (header_have_ < need) break;
    if (need == 2) {
      const FrameError error = CheckFirstBytes();
      if (error != FrameError::kNone) {
        Stop(error);
        break;
      }
      if (HeaderLength(header_bytes_[1]) > 2) continue;
    }
    OnHeaderComplete(ts);
    break;
  }
  return pos;
}

FrameError FrameParser::CheckFirstBytes() const {
  const uint8_t b0 = header_bytes_[0];
  const uint8_t b1 = header_bytes_[1];
  const uint8_t opcode = b0 & 0x0F;
  if ((b0 & 0x30) != 0) return FrameError::kReservedBits;
  const bool known = opcode <= kOpBinary || (opcode >= kOpClose && opcode <= kOpPong);
  if (!known) return FrameError::kReservedOpcode;
  if (IsControlOpcode(opcode)) {
    if ((b0 & 0x80) == 0) return FrameError::kControlFragmented;
    if ((b1 & 0x7F) > kMaxControlPayload) return FrameError::kControlTooLong;
  }
  return FrameError::kNone;
}

void FrameParser::OnHeaderComplete(uint64_t ts) {
  const uint8_t b0 = header_bytes_[0];
  const uint8_t b1 = header_bytes_[1];
  FrameHeader h;
  h.fin = (b0 & 0x80) != 0;
  h.rsv1 = (b0 & 0x40) != 0;
  h.opcode = b0 & 0x0F;
  h.masked = (b1 & 0x80) != 0;
  h.header_len = static_cast<uint8_t>(header_have_);
  const uint8_t len7 = b1 & 0x7F;
  size_t pos = 2;
  FrameError error = FrameError::kNone;  // the first rule broken that leaves framing intact
  if (len7 == kLength16) {
    h.payload_len = static_cast<uint64_t>(header_bytes_[2]) << 8 | header_bytes_[3];
    if (h.payload_len < kLength16) error = FrameError::kNonMinimalLength;
    pos += 2;
  } else if (len7 == kLength64) {
    for (size_t i = 0; i < 8; ++i) h.payload_len = h.payload_len << 8 | header_bytes_[2 + i];
    // §5.2: "the most significant bit MUST be 0". A length this large is never real traffic.
    if ((h.payload_len >> 63) != 0) {
      Stop(FrameError::kLengthMsbSet);
      return;
    }
    if (h.payload_len <= UINT16_MAX) error = FrameError::kNonMinimalLength;
    pos += 8;
  } else {
    h.payload_len = len7;
  }
  if (h.masked) std::memcpy(h.masking_key.data(), header_bytes_.data() + pos, 4);

  // §5.1: a client masks every frame it sends, a server never does.
  if (h.masked != (dir_ == Direction::kClientToServer)) error = FrameError::kMaskingRule;
  if (h.rsv1 && (h.opcode == kOpContinuation || IsControlOpcode(h.opcode))) {
    error = FrameError::kMisplacedRsv1;
  }
  if (h.opcode == kOpClose && h.payload_len == 1) error = FrameError::kOneByteClosePayload;

  const FrameError rejected = observer_.OnFrameStart(h);
  if (rejected != FrameError::kNone) {
    Stop(rejected);
    return;
  }
  if (error != FrameError::kNone) {
    ++stats_.websocket.parse_errors;
    last_error_ = error;
  }
  ++stats_.websocket.frames;
  header_ = h;
  header_have_ = 0;
  payload_remaining_ = h.payload_len;
  close_have_ = 0;
  close_lost_ = false;
  if (payload_remaining_ == 0) {
    EndFrame(ts);
  } else {
    phase_ = Phase::kPayload;
  }
}

void FrameParser::ConsumePayload(uint64_t n, std::span<const uint8_t> data, uint64_t ts) {
  if (header_.opcode == kOpClose) {
    // The status code is the payload's first two bytes, unmasked: payload byte i is XORed with
    // key byte i mod 4 (§5.3), so bytes 0 and 1 use key bytes 0 and 1.
    const uint64_t offset = header_.payload_len - payload_remaining_;
    for (uint64_t i = offset; i < 2 && i < offset + n; ++i) {
      if (data.empty()) {
        close_lost_ = true;
        continue;
      }
      const size_t k = static_cast<size_t>(i);
      const uint8_t key = header_.masked ? header_.masking_key[k] : 0;
      close_bytes_[k] = static_cast<uint8_t>(data[static_cast<size_t>(i - offset)] ^ key);
      ++close_have_;
    }
  }
  payload_remaining_ -= n;
  if (payload_remaining_ == 0) EndFrame(ts);
}

void FrameParser::EndFrame(uint64_t ts) {
  std::optional<uint16_t> close_code;
  if (header_.opcode == kOpClose && close_have_ == 2 && !close_lost_) {
    close_code = static_cast<uint16_t>(close_bytes_[0] << 8 | close_bytes_[1]);
  }
  phase_ = Phase::kHeader;
  observer_.OnFrameEnd(header_, close_code, ts);
}

void FrameParser::Stop(FrameError reason) {
  // The offending header's bytes (or the part of a header before a gap) are discarded too.
  if (phase_ == Phase::kHeader) stats_.parser_discarded_bytes += header_have_;
  header_have_ = 0;
  phase_ = Phase::kStopped;
  stop_reason_ = reason;
  last_error_ = reason;
  ++stats_.websocket.framing_lost;
  if (reason != FrameError::kGapInHeader) ++stats_.websocket.parse_errors;
}

}  // namespace ta::analyzer::protocols::websocket
