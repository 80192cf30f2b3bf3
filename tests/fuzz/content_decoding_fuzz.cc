// Content-Encoding undoing for the exfiltration detector (analyzer/anomaly/content_decoding.h):
// zlib on attacker-chosen bytes, under a bounded output.
//
// Input: one byte choosing the declared coding, then the body.
// Properties checked besides "does not crash":
//  - the output never exceeds max_output;
//  - an error or an unsupported coding yields no bytes;
//  - "identity" (and an empty header) hand the body back unchanged (up to the bound).
#include <cstdint>
#include <string_view>

#include "analyzer/anomaly/content_decoding.h"
#include "tests/fuzz/fuzz_target.h"

TA_FUZZ_TARGET(content_decoding) {
  using ta::analyzer::anomaly::ContentDecodeStatus;
  static constexpr std::string_view kCodings[] = {
      "gzip", "deflate", "deflate, gzip", "x-gzip", "identity", "", "br", "gzip, identity"};
  static constexpr size_t kMaxOutput = 8192;
  if (size == 0) return;
  const std::string_view coding = kCodings[data[0] % std::size(kCodings)];
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  static ta::analyzer::anomaly::ContentDecoder decoder(kMaxOutput);
  const auto decoded = decoder.Decode(coding, body);
  if (decoded.bytes.size() > kMaxOutput) __builtin_trap();
  if (decoded.status != ContentDecodeStatus::kDecoded && !decoded.bytes.empty()) __builtin_trap();
  if ((coding == "identity" || coding.empty()) && decoded.status == ContentDecodeStatus::kDecoded &&
      decoded.bytes != body.substr(0, decoded.bytes.size())) {
    __builtin_trap();
  }
}
