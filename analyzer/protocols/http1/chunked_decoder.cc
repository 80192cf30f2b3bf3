#include "analyzer/protocols/http1/chunked_decoder.h"

#include <algorithm>

namespace ta::analyzer::protocols::http1 {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void ChunkedDecoder::Reset() {
  phase_ = Phase::kSize;
  remaining_ = 0;
  body_bytes_ = 0;
  line_.clear();
  saw_cr_ = false;
  trailer_bytes_ = 0;
  trailer_line_len_ = 0;
}

void ChunkedDecoder::SkipData(uint64_t n) {
  n = std::min(n, data_remaining());
  remaining_ -= n;
  if (phase_ == Phase::kData && remaining_ == 0) phase_ = Phase::kDataEnd;
}

bool ChunkedDecoder::ParseSizeLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint64_t size = 0;
  size_t i = 0;
  for (; i < line.size(); ++i) {
    const int v = HexValue(line[i]);
    if (v < 0) break;
    if (size > (UINT64_MAX >> 4)) return false;  // would overflow
    size = (size << 4) | static_cast<uint64_t>(v);
  }
  if (i == 0) return false;
  // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): extensions are ignored, but
  // anything after the size must start one.
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i < line.size() && line[i] != ';') return false;
  if (line.find('\r') != std::string_view::npos) return false;  // bare CR (§2.2)

  // RFC 9112 section 7.1: "prevent parsing errors due to integer conversion overflows". Each
  // size fits 64 bits (checked above); their sum must too, or body_bytes() would wrap.
  if (size > UINT64_MAX - body_bytes_) return false;
  remaining_ = size;
  body_bytes_ += size;
  phase_ = size == 0 ? Phase::kTrailer : Phase::kData;
  return true;
}

ChunkedDecoder::Result ChunkedDecoder::Consume(std::string_view bytes, BodySampler* sampler) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    switch (phase_) {
      case Phase::kSize: {
        const size_t lf = bytes.find('\n', pos);
        const size_t end = lf == std::string_view::npos ? bytes.size() : lf;
        if (line_.size() + (end - pos) > max_line_bytes_) return {pos, ParseState::kInvalid};
        if (lf == std::string_view::npos) {
          line_.append(bytes.substr(pos));
          return {bytes.size(), ParseState::kNeedsMoreData};
        }
        bool ok;
        if (line_.empty()) {
          ok = ParseSizeLine(bytes.substr(pos, lf - pos));
        } else {
          line_.append(bytes.substr(pos, lf - pos));
          ok = ParseSizeLine(line_);
          line_.clear();
        }
        if (!ok) return {pos, ParseState::kInvalid};
        pos = lf + 1;
        break;
      }
      case Phase::kData: {
        const auto n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size() - pos));
        if (sampler != nullptr) sampler->Append(bytes.substr(pos, n));
        pos += n;
        SkipData(n);
        break;
      }
      case Phase::kDataEnd: {
        const char c = bytes[pos];
        if (c == '\r' && !saw_cr_) {
          saw_cr_ = true;
        } else if (c == '\n') {
          saw_cr_ = false;
          phase_ = Phase::kSize;
        } else {
          return {pos, ParseState::kInvalid};
        }
        ++pos;
        break;
      }
      case Phase::kTrailer: {
        // trailer-section = *( field-line CRLF ) CRLF; field lines are skipped, not validated.
        const char c = bytes[pos++];
        if (++trailer_bytes_ > max_line_bytes_) return {pos, ParseState::kInvalid};
        if (c == '\n') {
          if (trailer_line_len_ == 0) {
            phase_ = Phase::kDone;
            return {pos, ParseState::kDone};
          }
          trailer_line_len_ = 0;
        } else if (c != '\r') {
          ++trailer_line_len_;
        }
        break;
      }
      case Phase::kDone:
        return {pos, ParseState::kDone};
    }
  }
  return {pos, phase_ == Phase::kDone ? ParseState::kDone : ParseState::kNeedsMoreData};
}

}  // namespace ta::analyzer::protocols::http1
