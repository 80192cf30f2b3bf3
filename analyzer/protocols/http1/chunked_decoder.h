// Incremental decoder for the chunked transfer coding (RFC 9112 §7.1). It counts body bytes and
// copies none itself: the analyzer needs sizes and boundaries, and at most a bounded sample of
// the content, which a BodySampler takes from the chunk data it is shown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "analyzer/protocols/http1/body_sampler.h"
#include "analyzer/protocols/parse_state.h"

namespace ta::analyzer::protocols::http1 {

class ChunkedDecoder {
 public:
  struct Result {
    size_t consumed = 0;
    // kNeedsMoreData: all bytes consumed, message not finished. kDone: the message ended after
    // `consumed` bytes (the rest belongs to the next message). kInvalid: not chunked coding.
    ParseState state = ParseState::kNeedsMoreData;
  };

  // `max_line_bytes` bounds a chunk-size line and, separately, the whole trailer section.
  explicit ChunkedDecoder(uint32_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  void Reset();
  // `sampler`, when given, is shown the chunk data (the decoded body) in order.
  Result Consume(std::string_view bytes, BodySampler* sampler = nullptr);

  // Data bytes left in the current chunk; 0 outside chunk data. A gap in the stream no longer
  // than this stays inside the chunk, so framing survives it (see SkipData).
  uint64_t data_remaining() const { return phase_ == Phase::kData ? remaining_ : 0; }
  // Accounts for `n` <= data_remaining() chunk data bytes that were not captured.
  void SkipData(uint64_t n);
  // Decoded body size so far: the sum of chunk sizes.
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class Phase : uint8_t { kSize, kData, kDataEnd, kTrailer, kDone };

  // chunk-size [ chunk-ext ] without its line ending. False when malformed.
  bool ParseSizeLine(std::string_view line);

  uint32_t max_line_bytes_;
  Phase phase_ = Phase::kSize;
  uint64_t remaining_ = 0;
  uint64_t body_bytes_ = 0;
  std::string line_;     // a chunk-size line split across chunks
  bool saw_cr_ = false;  // kDataEnd: the CR of the CRLF after chunk data was seen
  uint32_t trailer_bytes_ = 0;
  uint32_t trailer_line_len_ = 0;
};

}  // namespace ta::analyzer::protocols::http1
