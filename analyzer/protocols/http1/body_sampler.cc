#include "analyzer/protocols/http1/body_sampler.h"

#include <algorithm>

namespace ta::analyzer::protocols::http1 {
namespace {

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// OWS (RFC 9110 §5.6.3).
std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string LowerBounded(std::string_view s) {
  std::string out(s.substr(0, kMaxMediaFieldBytes));
  for (char& c : out) c = Lower(c);
  return out;
}

}  // namespace

std::string NormalizeContentType(std::string_view value) {
  return LowerBounded(Trim(value.substr(0, value.find(';'))));
}

std::string NormalizeContentEncoding(std::string_view value) { return LowerBounded(Trim(value)); }

void BodySampler::Start(uint32_t limit, std::optional<uint64_t> expected,
                        std::string_view content_type, std::string_view content_encoding) {
  // Cleared in place (a moved-from sample is already empty): no allocation, no string moves.
  sample_.bytes.clear();
  sample_.truncated_by_gap = false;
  sample_.content_type.clear();
  sample_.content_encoding.clear();
  limit_ = limit;
  open_ = limit > 0;
  if (!open_) return;
  if (!content_type.empty()) sample_.content_type = NormalizeContentType(content_type);
  if (!content_encoding.empty()) {
    sample_.content_encoding = NormalizeContentEncoding(content_encoding);
  }
  // The sample is allocated once, at its first byte, for the body's size when known and smaller.
  reserve_ = static_cast<size_t>(std::min<uint64_t>(limit_, expected.value_or(limit_)));
}

void BodySampler::AppendSlow(std::string_view bytes) {
  if (bytes.empty()) return;
  if (sample_.bytes.empty()) sample_.bytes.reserve(reserve_);
  const size_t room = limit_ - sample_.bytes.size();
  sample_.bytes.append(bytes.substr(0, room));
  if (sample_.bytes.size() >= limit_) open_ = false;
}

}  // namespace ta::analyzer::protocols::http1
