#include "analyzer/anomaly/content_decoding.h"

// zlib's next_in is `z_const Bytef*`; with ZLIB_CONST it is const and needs no const_cast.
#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>

namespace ta::analyzer::anomaly {
namespace {

// windowBits for inflateInit2/inflateReset2 (zlib manual): 15 = zlib header (RFC 1950),
// -15 = raw deflate (RFC 1951), 16 + 15 = gzip header (RFC 1952).
constexpr int kZlibWindowBits = 15;
constexpr int kRawWindowBits = -15;
constexpr int kGzipWindowBits = 16 + 15;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsLower(std::string_view token, std::string_view lower) {
  if (token.size() != lower.size()) return false;
  for (size_t i = 0; i < token.size(); ++i) {
    char c = token[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// RFC 1950 §2.2: CMF (CM = 8 deflate, CINFO = log2(window) - 8 <= 7) and FLG, with
// CMF * 256 + FLG a multiple of 31. A preset dictionary (FDICT) cannot be used over HTTP, so a
// header asking for one is not taken as zlib.
bool HasZlibHeader(std::string_view in) {
  if (in.size() < 2) return false;
  const auto cmf = static_cast<uint8_t>(in[0]);
  const auto flg = static_cast<uint8_t>(in[1]);
  if ((cmf & 0x0f) != 8 || (cmf >> 4) > 7) return false;
  if ((flg & 0x20) != 0) return false;
  return ((static_cast<unsigned>(cmf) << 8) | flg) % 31 == 0;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

struct ContentDecoder::Stream {
  z_stream zs{};
  bool ok = false;
  Stream() { ok = inflateInit2(&zs, kZlibWindowBits) == Z_OK; }
  ~Stream() {
    if (ok) inflateEnd(&zs);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

ContentDecoder::ContentDecoder(size_t max_output)
    : max_output_(std::max<size_t>(max_output, 1)), stream_(std::make_unique<Stream>()) {}

ContentDecoder::~ContentDecoder() = default;

DecodedContent ContentDecoder::Decode(std::string_view content_encoding, std::string_view body) {
  std::array<Coding, kMaxCodings> codings{};
  size_t count = 0;
  while (true) {
    const size_t comma = content_encoding.find(',');
    const std::string_view token = Trim(content_encoding.substr(0, comma));
    // Empty list elements are allowed by the #rule (RFC 9110 §5.6.1); identity is a no-op.
    if (!token.empty() && !EqualsLower(token, "identity")) {
      Coding coding;
      if (EqualsLower(token, "gzip") || EqualsLower(token, "x-gzip")) {
        coding = Coding::kGzip;
      } else if (EqualsLower(token, "deflate")) {
        coding = Coding::kDeflate;
      } else {
        return {ContentDecodeStatus::kUnsupported, {}, false};
      }
      if (count == kMaxCodings) return {ContentDecodeStatus::kUnsupported, {}, false};
      codings[count++] = coding;
    }
    if (comma == std::string_view::npos) break;
    content_encoding.remove_prefix(comma + 1);
  }

  DecodedContent result;
  result.bytes = body.substr(0, std::min(body.size(), max_output_));
  result.complete = body.size() <= max_output_;
  if (count == 0) return result;

  result.complete = true;
  std::string_view in = body;
  for (size_t layer = count; layer-- > 0;) {
    std::string& buffer = buffers_[layer % 2];
    if (buffer.size() != max_output_) buffer.resize(max_output_);  // once: no clearing per body
    size_t produced = 0;
    const ContentDecodeStatus status =
        Inflate(codings[layer], in, buffer, produced, result.complete);
    if (status != ContentDecodeStatus::kDecoded) return {status, {}, false};
    in = std::string_view(buffer.data(), produced);
  }
  result.bytes = in;
  return result;
}

ContentDecodeStatus ContentDecoder::Inflate(Coding coding, std::string_view in, std::string& out,
                                            size_t& produced, bool& complete) {
  if (coding == Coding::kGzip) {
    return InflateWith(kGzipWindowBits, true, in, out, produced, complete);
  }
  if (HasZlibHeader(in)) {
    bool zlib_complete = complete;
    if (InflateWith(kZlibWindowBits, false, in, out, produced, zlib_complete) ==
        ContentDecodeStatus::kDecoded) {
      complete = zlib_complete;
      return ContentDecodeStatus::kDecoded;
    }
    // A raw stream whose first two bytes happen to pass the header check: try it raw.
  }
  return InflateWith(kRawWindowBits, false, in, out, produced, complete);
}

ContentDecodeStatus ContentDecoder::InflateWith(int window_bits, bool multi_member,
                                                std::string_view in, std::string& out,
                                                size_t& produced, bool& complete) {
  // `out` is max_output_ bytes long; only the first `produced` are the result.
  produced = 0;
  if (!stream_->ok) return ContentDecodeStatus::kError;  // zlib could not allocate its state
  z_stream& zs = stream_->zs;
  if (inflateReset2(&zs, window_bits) != Z_OK) return ContentDecodeStatus::kError;
  zs.next_in = reinterpret_cast<const Bytef*>(in.data());
  // Samples are small; a body beyond 4 GiB is only ever partly inflated, which is fine.
  zs.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), UINT_MAX));
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(std::min<size_t>(max_output_, UINT_MAX));
  ContentDecodeStatus status = ContentDecodeStatus::kDecoded;
  while (true) {
    const int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      // RFC 1952 §2.2: another member may follow; anything else after the end is ignored, as
      // gzip(1) does with trailing garbage.
      if (multi_member && zs.avail_in >= 2 && zs.next_in[0] == 0x1f && zs.next_in[1] == 0x8b) {
        if (zs.avail_out == 0) {
          complete = false;
          break;
        }
        if (inflateReset(&zs) != Z_OK) {
          status = ContentDecodeStatus::kError;
          break;
        }
        continue;
      }
      break;
    }
    if (rc == Z_OK) {
      if (zs.avail_out == 0 || zs.avail_in == 0) {
        complete = false;  // output bound reached, or the sample ended inside the stream
        break;
      }
      continue;
    }
    if (rc == Z_BUF_ERROR) {  // no progress possible: same two cases
      complete = false;
      break;
    }
    status = ContentDecodeStatus::kError;  // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR, ...
    break;
  }
  if (status == ContentDecodeStatus::kDecoded) produced = max_output_ - zs.avail_out;
  return status;
}

bool IsOpaqueMediaType(std::string_view type) {
  // Compressed by their format: images (except SVG, which is XML text), audio, video, fonts
  // (WOFF/WOFF2 are compressed).
  if (StartsWith(type, "image/")) return type != "image/svg+xml";
  if (StartsWith(type, "audio/") || StartsWith(type, "video/") || StartsWith(type, "font/")) {
    return true;
  }
  // Archives and compressed files. RFC 6839 §3.6: "+zip" marks a ZIP container (EPUB, ...);
  // OOXML and ODF documents are ZIP containers too.
  if (EndsWith(type, "+zip")) return true;
  if (StartsWith(type, "application/vnd.openxmlformats-officedocument.") ||
      StartsWith(type, "application/vnd.oasis.opendocument.")) {
    return true;
  }
  // PDF: content streams are almost always FlateDecode-compressed, so a PDF download scores
  // near 8 bits/byte; flagging every PDF would bury real findings. application/octet-stream is
  // deliberately NOT here: it is the generic type of an arbitrary binary download and the
  // likeliest label for an exfiltrated archive.
  static constexpr std::string_view kOpaque[] = {
      "application/zip",
      "application/gzip",
      "application/x-gzip",
      "application/x-bzip2",
      "application/x-xz",
      "application/zstd",
      "application/x-7z-compressed",
      "application/vnd.rar",
      "application/x-rar-compressed",
      "application/java-archive",
      "application/vnd.android.package-archive",
      "application/font-woff",
      "application/pdf",
  };
  return std::find(std::begin(kOpaque), std::end(kOpaque), type) != std::end(kOpaque);
}

}  // namespace ta::analyzer::anomaly
