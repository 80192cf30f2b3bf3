// Undoing HTTP Content-Encoding on a body sample before the exfiltration detector scores its
// entropy, and the media types whose bodies are compressed by design.
//
// Why: a gzip'd JSON response is as random-looking as an encrypted one (deflate output is close
// to 8 bits/byte), so scoring the bytes as transferred would flag every compressed API. The
// detector inflates gzip and deflate and refuses to judge codings it cannot undo.
//
// What is undone (RFC 9110 §8.4.1):
//  - "gzip" and its alias "x-gzip" (RFC 9110 §8.4.1.3, RFC 1952), including concatenated members
//    (RFC 1952 §2.2: a gzip file is a series of members);
//  - "deflate" (RFC 9110 §8.4.1.2): the zlib format (RFC 1950). Some servers send raw deflate
//    (RFC 1951) under that name, so a body without a valid zlib header (RFC 1950 §2.2: CM = 8,
//    CINFO <= 7, FCHECK making CMF*256 + FLG a multiple of 31) is inflated raw;
//  - "identity" and an empty value: the bytes as they are.
// A list ("gzip, identity") is undone last-applied first (§8.4: codings are listed in the order
// they were applied), at most kMaxCodings deep. Anything else (br, zstd, compress, unknown) is
// kUnsupported: we cannot see the plaintext, so we do not guess.
//
// The sample is a prefix of the body, so a compressed stream usually ends early: the inflated
// prefix is returned (complete = false). Output is bounded by max_output bytes, which also caps
// the work a decompression bomb can cause. Corrupt data is kError, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ta::analyzer::anomaly {

enum class ContentDecodeStatus : uint8_t {
  kDecoded = 0,      // bytes hold the decoded prefix
  kUnsupported = 1,  // a coding we do not undo (br, zstd, compress, unknown token)
  kError = 2,        // the data is not valid for its declared coding
};

struct DecodedContent {
  ContentDecodeStatus status = ContentDecodeStatus::kDecoded;
  // Points into the input (identity) or into the decoder's buffer: valid until the next Decode.
  std::string_view bytes;
  // False when the output stopped at max_output or the input ended inside a compressed stream.
  bool complete = true;
};

class ContentDecoder {
 public:
  // Codings undone in one body at most ("gzip, gzip" is legal; deeper nesting is not plausible).
  static constexpr size_t kMaxCodings = 3;

  explicit ContentDecoder(size_t max_output);
  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  // `content_encoding` is the header value (case-insensitive, a comma-separated list).
  DecodedContent Decode(std::string_view content_encoding, std::string_view body);

  size_t max_output() const { return max_output_; }

 private:
  enum class Coding : uint8_t { kGzip, kDeflate };
  // Inflates `in` into the first `produced` bytes of `out` (max_output_ bytes long); kDecoded or
  // kError. `complete` is cleared when the output is cut.
  ContentDecodeStatus Inflate(Coding coding, std::string_view in, std::string& out,
                              size_t& produced, bool& complete);
  ContentDecodeStatus InflateWith(int window_bits, bool multi_member, std::string_view in,
                                  std::string& out, size_t& produced, bool& complete);

  struct Stream;  // zlib's z_stream, kept out of this header
  size_t max_output_;
  std::unique_ptr<Stream> stream_;
  std::string buffers_[2];
};

// True for media types whose bodies are compressed or random by design (images, audio, video,
// fonts, archives, PDF), which the detector skips. `content_type` is lower-cased, without
// parameters. See the .cc for the list and why each is there.
bool IsOpaqueMediaType(std::string_view content_type);

}  // namespace ta::analyzer::anomaly
