#include "analyzer/anomaly/content_decoding.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace ta::analyzer::anomaly {
namespace {

// windowBits as in zlib's manual: 15 zlib, -15 raw deflate, 31 gzip.
std::string Compress(std::string_view in, int window_bits) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY),
            Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}
std::string Gzip(std::string_view in) { return Compress(in, 31); }
std::string Zlib(std::string_view in) { return Compress(in, 15); }
std::string RawDeflate(std::string_view in) { return Compress(in, -15); }

// A JSON array of `n` user objects: text with the redundancy of a real API response.
std::string Json(size_t n) {
  std::string out = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i != 0) out += ',';
    out += "{\"id\":" + std::to_string(1000 + i) + ",\"name\":\"user-" + std::to_string(i * 7) +
           "\",\"email\":\"user" + std::to_string(i) +
           "@example.com\",\"active\":" + (i % 3 == 0 ? "true" : "false") + "}";
  }
  return out + "]";
}

TEST(ContentDecoderTest, IdentityAndEmptyPassTheBytesThrough) {
  ContentDecoder decoder(1 << 16);
  const std::string body = "{\"a\":1}";
  for (std::string_view encoding : {"", "identity", "IDENTITY", " identity ", ",", "identity,"}) {
    const DecodedContent d = decoder.Decode(encoding, body);
    EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded) << encoding;
    EXPECT_EQ(d.bytes.data(), body.data()) << "no copy for identity";
    EXPECT_EQ(d.bytes, body);
    EXPECT_TRUE(d.complete);
  }
}

TEST(ContentDecoderTest, IdentityIsCutAtTheOutputBound) {
  ContentDecoder decoder(4);
  const DecodedContent d = decoder.Decode("", "abcdefgh");
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, "abcd");
  EXPECT_FALSE(d.complete);
}

TEST(ContentDecoderTest, GzipAndItsAliasesInflate) {
  ContentDecoder decoder(1 << 16);
  const std::string json = Json(40);
  const std::string gz = Gzip(json);
  for (std::string_view encoding : {"gzip", "x-gzip", "GZip", "  gzip\t", "identity, gzip"}) {
    const DecodedContent d = decoder.Decode(encoding, gz);
    EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded) << encoding;
    EXPECT_EQ(d.bytes, json) << encoding;
    EXPECT_TRUE(d.complete) << encoding;
  }
}

TEST(ContentDecoderTest, DeflateInZlibAndRawFormats) {
  ContentDecoder decoder(1 << 16);
  const std::string json = Json(40);
  const std::string zlib_format = Zlib(json);
  const std::string raw = RawDeflate(json);
  ASSERT_EQ(static_cast<uint8_t>(zlib_format[0]), 0x78);  // RFC 1950 header, 32 KiB window
  DecodedContent d = decoder.Decode("deflate", zlib_format);
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, json);
  EXPECT_TRUE(d.complete);
  d = decoder.Decode("deflate", raw);
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, json);
  EXPECT_TRUE(d.complete);
}

TEST(ContentDecoderTest, ConcatenatedGzipMembersAndStackedCodings) {
  ContentDecoder decoder(1 << 16);
  const std::string a = Json(10);
  const std::string b = "tail after the first member";
  DecodedContent d = decoder.Decode("gzip", Gzip(a) + Gzip(b));
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, a + b);
  EXPECT_TRUE(d.complete);

  // Listed in the order applied: deflate first, then gzip; undone gzip first.
  const std::string stacked = Gzip(Zlib(a));
  d = decoder.Decode("deflate, gzip", stacked);
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, a);
  EXPECT_TRUE(d.complete);
  d = decoder.Decode("gzip,gzip,gzip", Gzip(Gzip(Gzip(a))));
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, a);

  // Trailing bytes that are not another member are ignored, as gzip(1) does.
  d = decoder.Decode("gzip", Gzip(a) + "\r\n");
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes, a);
}

TEST(ContentDecoderTest, EveryPrefixOfAGzipBodyInflatesToAPrefix) {
  ContentDecoder decoder(1 << 16);
  const std::string json = Json(200);
  const std::string gz = Gzip(json);
  ASSERT_GT(gz.size(), 1000u);
  for (size_t cut = 0; cut <= gz.size(); ++cut) {
    const DecodedContent d = decoder.Decode("gzip", std::string_view(gz).substr(0, cut));
    ASSERT_EQ(d.status, ContentDecodeStatus::kDecoded) << cut;
    ASSERT_EQ(std::string_view(json).substr(0, d.bytes.size()), d.bytes) << cut;
    ASSERT_EQ(d.complete, cut == gz.size()) << cut;
  }
  // The whole deflate stream without the 8-byte trailer still yields every byte.
  const DecodedContent d = decoder.Decode("gzip", std::string_view(gz).substr(0, gz.size() - 8));
  EXPECT_EQ(d.bytes, json);
  EXPECT_FALSE(d.complete);
}

TEST(ContentDecoderTest, SeededRandomPrefixesOfDeflateInflateToPrefixes) {
  ContentDecoder decoder(1 << 16);
  const std::string json = Json(300);
  const std::string zlib_format = Zlib(json);
  const std::string raw = RawDeflate(json);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 200; ++i) {
    for (const std::string* stream : {&zlib_format, &raw}) {
      const size_t cut = static_cast<size_t>(rng() % (stream->size() + 1));
      const DecodedContent d = decoder.Decode("deflate", std::string_view(*stream).substr(0, cut));
      ASSERT_EQ(d.status, ContentDecodeStatus::kDecoded) << cut;
      ASSERT_EQ(std::string_view(json).substr(0, d.bytes.size()), d.bytes) << cut;
    }
  }
}

TEST(ContentDecoderTest, CorruptDataIsAnError) {
  ContentDecoder decoder(1 << 16);
  // Not a gzip magic number.
  EXPECT_EQ(decoder.Decode("gzip", "{\"plain\":\"json\"}").status, ContentDecodeStatus::kError);
  // Raw deflate block with BTYPE = 11 (reserved, RFC 1951 §3.2.3).
  EXPECT_EQ(decoder.Decode("deflate", std::string("\xff\xff\xff\xff", 4)).status,
            ContentDecodeStatus::kError);
  // A gzip body with a flipped byte in its compressed data fails the CRC-32 or the stream.
  std::string gz = Gzip(Json(50));
  gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0x55);
  EXPECT_EQ(decoder.Decode("gzip", gz).status, ContentDecodeStatus::kError);
  EXPECT_TRUE(decoder.Decode("gzip", gz).bytes.empty());
  // The decoder is still usable afterwards.
  EXPECT_EQ(decoder.Decode("gzip", Gzip("ok")).bytes, "ok");
}

TEST(ContentDecoderTest, CodingsWeCannotUndoAreUnsupported) {
  ContentDecoder decoder(1 << 16);
  for (std::string_view encoding : {"br", "zstd", "compress", "x-compress", "snappy", "gzip, br",
                                    "br, gzip", "gzip;q=1", "gzip, gzip, gzip, gzip"}) {
    const DecodedContent d = decoder.Decode(encoding, Gzip("x"));
    EXPECT_EQ(d.status, ContentDecodeStatus::kUnsupported) << encoding;
    EXPECT_TRUE(d.bytes.empty()) << encoding;
  }
}

TEST(ContentDecoderTest, DecompressionBombStopsAtTheBound) {
  ContentDecoder decoder(64 * 1024);
  const std::string zeros(10 * 1024 * 1024, '\0');
  const std::string bomb = Gzip(zeros);
  ASSERT_LT(bomb.size(), 16u * 1024);
  const DecodedContent d = decoder.Decode("gzip", bomb);
  EXPECT_EQ(d.status, ContentDecodeStatus::kDecoded);
  EXPECT_EQ(d.bytes.size(), 64u * 1024);
  EXPECT_EQ(d.bytes, std::string_view(zeros).substr(0, 64 * 1024));
  EXPECT_FALSE(d.complete);
  // Concatenated bombs stop at the bound too.
  const DecodedContent twice = decoder.Decode("gzip", bomb + bomb);
  EXPECT_EQ(twice.bytes.size(), 64u * 1024);
  EXPECT_FALSE(twice.complete);
}

TEST(ContentDecoderTest, GarbageNeverCrashesAndIsBounded) {
  ContentDecoder decoder(4096);
  std::mt19937_64 rng(77);
  for (int i = 0; i < 2000; ++i) {
    std::string garbage(static_cast<size_t>(rng() % 600), '\0');
    for (char& c : garbage) c = static_cast<char>(rng() >> 56);
    // Half of the inputs get a valid gzip or zlib header, so inflate reaches the block decoder.
    if (i % 4 == 1 && garbage.size() >= 10) garbage.replace(0, 4, "\x1f\x8b\x08\x00", 4);
    if (i % 4 == 2 && garbage.size() >= 2) garbage.replace(0, 2, "\x78\x9c", 2);
    for (std::string_view encoding : {"gzip", "deflate", "deflate, gzip"}) {
      const DecodedContent d = decoder.Decode(encoding, garbage);
      ASSERT_LE(d.bytes.size(), 4096u);
      if (d.status != ContentDecodeStatus::kDecoded) {
        ASSERT_TRUE(d.bytes.empty());
      }
    }
  }
}

TEST(OpaqueMediaTypeTest, CompressedByDesignAreSkippedTextAndOctetStreamAreNot) {
  for (std::string_view type :
       {"image/png", "image/jpeg", "image/webp", "video/mp4", "audio/mpeg", "font/woff2",
        "application/zip", "application/gzip", "application/x-gzip", "application/pdf",
        "application/zstd", "application/x-7z-compressed", "application/epub+zip",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.oasis.opendocument.text", "application/java-archive"}) {
    EXPECT_TRUE(IsOpaqueMediaType(type)) << type;
  }
  for (std::string_view type :
       {"", "application/json", "text/html", "text/plain", "image/svg+xml",
        "application/octet-stream", "application/x-protobuf", "application/grpc", "application/xml",
        "multipart/form-data", "application/x-tar"}) {
    EXPECT_FALSE(IsOpaqueMediaType(type)) << type;
  }
}

}  // namespace
}  // namespace ta::analyzer::anomaly
