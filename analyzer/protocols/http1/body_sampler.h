// The first bytes of one HTTP/1.x message body as the parser walks it, for payload scoring
// (HttpExchange::request_body / response_body). The stream parser feeds it decoded body bytes
// (chunk framing already removed) and capture gaps; it copies only while under its bound, so a
// body past the sample costs one branch per piece.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/http_exchange.h"

namespace ta::analyzer::protocols::http1 {

// Bound on BodySample::content_encoding and content_type.
inline constexpr size_t kMaxMediaFieldBytes = 64;

// A Content-Type value as BodySample keeps it: the media type without parameters (RFC 9110
// §8.3.1: media-type = type "/" subtype parameters), trimmed, lower-cased (type and subtype are
// case-insensitive), at most kMaxMediaFieldBytes.
std::string NormalizeContentType(std::string_view value);
// A Content-Encoding value (RFC 9110 §8.4: a list of codings, case-insensitive): trimmed,
// lower-cased, at most kMaxMediaFieldBytes. The list is kept as sent ("gzip, br").
std::string NormalizeContentEncoding(std::string_view value);

class BodySampler {
 public:
  // A new message. `limit` 0 samples nothing (and leaves the media fields empty, so no copying at
  // all); `expected` (Content-Length) sizes the one allocation when it is below the limit. The
  // media field values are the raw header values ("" when absent).
  void Start(uint32_t limit, std::optional<uint64_t> expected, std::string_view content_type,
             std::string_view content_encoding);
  // Decoded body bytes, in order.
  void Append(std::string_view bytes) {
    if (open_) AppendSlow(bytes);
  }
  // Body bytes that were not captured: the sample ends here; when it still had room, it is
  // marked truncated_by_gap (the bytes after the gap would not be a contiguous prefix).
  void Gap() {
    if (open_) {
      sample_.truncated_by_gap = true;
      open_ = false;
    }
  }
  // The message ended (or its framing was lost): no more bytes. The sample stays readable, and
  // may be moved from, until the next Start.
  void Finish() { open_ = false; }
  BodySample& sample() { return sample_; }

 private:
  void AppendSlow(std::string_view bytes);

  BodySample sample_;
  size_t limit_ = 0;
  size_t reserve_ = 0;  // capacity taken at the first byte
  bool open_ = false;   // more bytes are wanted: limit_ > 0, not full, no gap yet
};

}  // namespace ta::analyzer::protocols::http1
