#include "analyzer/state/codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace ta::analyzer::state {
namespace {

using namespace std::string_literals;

// One of every field, as a snapshot section would hold them.
std::string SampleEncoding() {
  Writer w;
  w.Tag("SMPL");
  w.U8(0xab);
  w.U16(0x1234);
  w.U32(0xdeadbeef);
  w.U64(0x0102030405060708ULL);
  w.I64(-2);
  w.F64(1.5);
  w.Bool(true);
  w.String("route");
  const uint8_t bytes[] = {0, 255, 7};
  w.Bytes(bytes);
  w.U32(2);  // a count of two U16 elements
  w.U16(1);
  w.U16(2);
  return w.Take();
}

// Reads SampleEncoding back; returns whether the reader stayed ok and checks each value while it
// does.
bool ReadSample(Reader& r, bool check_values) {
  const bool tag = r.Tag("SMPL");
  const uint8_t u8 = r.U8();
  const uint16_t u16 = r.U16();
  const uint32_t u32 = r.U32();
  const uint64_t u64 = r.U64();
  const int64_t i64 = r.I64();
  const double f64 = r.F64();
  const bool b = r.Bool();
  const std::string s = r.String();
  const std::string bytes = r.Bytes();
  const uint32_t n = r.Count(2);
  uint32_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += r.U16();
  if (check_values) {
    EXPECT_TRUE(tag);
    EXPECT_EQ(u8, 0xab);
    EXPECT_EQ(u16, 0x1234);
    EXPECT_EQ(u32, 0xdeadbeefU);
    EXPECT_EQ(u64, 0x0102030405060708ULL);
    EXPECT_EQ(i64, -2);
    EXPECT_EQ(f64, 1.5);
    EXPECT_TRUE(b);
    EXPECT_EQ(s, "route");
    EXPECT_EQ(bytes, "\x00\xff\x07"s);
    EXPECT_EQ(n, 2u);
    EXPECT_EQ(sum, 3u);
  }
  return r.ok();
}

TEST(CodecTest, LittleEndianLiteralBytes) {
  Writer w;
  w.U8(0x01);
  w.U16(0x0203);
  w.U32(0x04050607);
  w.U64(0x08090a0b0c0d0e0fULL);
  w.I64(-1);
  w.F64(1.0);  // 0x3ff0000000000000
  w.Bool(false);
  w.String("ab");
  w.Tag("EWMA");
  EXPECT_EQ(w.data(),
            "\x01"
            "\x03\x02"
            "\x07\x06\x05\x04"
            "\x0f\x0e\x0d\x0c\x0b\x0a\x09\x08"
            "\xff\xff\xff\xff\xff\xff\xff\xff"
            "\x00\x00\x00\x00\x00\x00\xf0\x3f"
            "\x00"
            "\x02\x00\x00\x00"
            "ab"
            "EWMA"s);
}

TEST(CodecTest, RoundTripsEveryField) {
  const std::string data = SampleEncoding();
  Reader r(data);
  EXPECT_TRUE(ReadSample(r, /*check_values=*/true));
  EXPECT_TRUE(r.AtEnd());
  EXPECT_EQ(r.error(), "");
}

TEST(CodecTest, DoublesKeepTheirBits) {
  const double values[] = {0.0,
                           -0.0,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::max(),
                           0.1};
  Writer w;
  for (double v : values) w.F64(v);
  w.F64(std::numeric_limits<double>::quiet_NaN());
  Reader r(w.data());
  for (double v : values) {
    const double got = r.F64();
    EXPECT_EQ(std::signbit(got), std::signbit(v));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(std::isnan(r.F64()));
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.AtEnd());
}

TEST(CodecTest, ExtremeIntegersRoundTrip) {
  Writer w;
  w.U64(UINT64_MAX);
  w.I64(std::numeric_limits<int64_t>::min());
  w.I64(std::numeric_limits<int64_t>::max());
  w.U16(UINT16_MAX);
  Reader r(w.data());
  EXPECT_EQ(r.U64(), UINT64_MAX);
  EXPECT_EQ(r.I64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(r.I64(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(r.U16(), UINT16_MAX);
  EXPECT_TRUE(r.ok());
}

TEST(CodecTest, EveryTruncationFailsCleanly) {
  const std::string data = SampleEncoding();
  for (size_t cut = 0; cut < data.size(); ++cut) {
    Reader r(std::string_view(data).substr(0, cut));
    EXPECT_FALSE(ReadSample(r, /*check_values=*/false)) << "cut at " << cut;
    EXPECT_NE(r.error(), "") << "cut at " << cut;
  }
}

TEST(CodecTest, ReadsAfterAFailureReturnZero) {
  const std::string r_bytes = "\x05"s;
  Reader r(r_bytes);
  EXPECT_EQ(r.U32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "truncated: 4 bytes needed at offset 0, 1 left");
  // The byte that was there is not consumed by later reads either: the reader stays failed.
  EXPECT_EQ(r.U8(), 0u);
  EXPECT_EQ(r.String(), "");
  EXPECT_FALSE(r.Tag("EWMA"));
  EXPECT_EQ(r.error(), "truncated: 4 bytes needed at offset 0, 1 left");  // first failure wins
}

TEST(CodecTest, HugeLengthFailsBeforeAllocating) {
  // 0xffffffff bytes announced, three present: above the limit.
  const std::string r_bytes =
      "\xff\xff\xff\xff"
      "abc"s;
  Reader r(r_bytes);
  EXPECT_EQ(r.Bytes(), "");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "length 4294967295 at offset 0 exceeds the limit of 67108864");

  // Within the limit but beyond what is left.
  const std::string r2_bytes =
      "\x00\x00\x10\x00"
      "abc"s;
  Reader r2(r2_bytes);  // 1 MiB announced
  EXPECT_EQ(r2.Bytes(), "");
  EXPECT_EQ(r2.error(), "truncated: 1048576 bytes needed at offset 4, 3 left");

  // A caller's tighter limit.
  const std::string r3_bytes =
      "\x05\x00\x00\x00"
      "hello"s;
  Reader r3(r3_bytes);
  EXPECT_EQ(r3.String(4), "");
  EXPECT_EQ(r3.error(), "length 5 at offset 0 exceeds the limit of 4");
}

TEST(CodecTest, CountGuardsAgainstImpossibleCounts) {
  Writer w;
  w.U32(1'000'000'000);
  w.U64(7);
  Reader r(w.data());
  EXPECT_EQ(r.Count(8), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "count 1000000000 at offset 0 needs at least 8 bytes each, 8 left");

  Writer one;
  one.U32(1);
  one.U64(7);
  Reader r2(one.data());
  EXPECT_EQ(r2.Count(8), 1u);
  EXPECT_TRUE(r2.ok());
  // A minimum of 0 is treated as 1 byte per element.
  Writer two;
  two.U32(3);
  two.U8(1);
  two.U8(2);
  Reader r3(two.data());
  EXPECT_EQ(r3.Count(0), 0u);
  EXPECT_FALSE(r3.ok());
}

TEST(CodecTest, TagMismatchNamesBothSections) {
  Writer w;
  w.Tag("QSKT");
  Reader r(w.data());
  EXPECT_FALSE(r.Tag("EWMA"));
  EXPECT_EQ(r.error(), "expected section \"EWMA\" at offset 0, found \"QSKT\"");

  const std::string garbage_bytes = "\x01\x02\"\\"s;
  Reader garbage(garbage_bytes);
  EXPECT_FALSE(garbage.Tag("HLL"));  // short codes are padded with spaces
  EXPECT_EQ(garbage.error(),
            "expected section \"HLL \" at offset 0, found \"\\x01\\x02\\x22\\x5c\"");
}

TEST(CodecTest, ShortTagIsPaddedConsistently) {
  Writer w;
  w.Tag("HLL");
  EXPECT_EQ(w.data(), "HLL ");
  Reader r(w.data());
  EXPECT_TRUE(r.Tag("HLL"));
  EXPECT_TRUE(r.AtEnd());
}

TEST(CodecTest, BoolAcceptsOnlyZeroAndOne) {
  const std::string r_bytes = "\x00\x01\x02"s;
  Reader r(r_bytes);
  EXPECT_FALSE(r.Bool());
  EXPECT_TRUE(r.Bool());
  EXPECT_TRUE(r.ok());
  r.Bool();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "boolean byte 2 at offset 2");
}

TEST(CodecTest, FailKeepsTheFirstReason) {
  Reader r("abcd");
  r.Fail("value out of range");
  r.Fail("second");
  EXPECT_EQ(r.error(), "value out of range");
  EXPECT_EQ(r.U8(), 0u);
  Reader empty_reason("x");
  empty_reason.Fail("");
  EXPECT_FALSE(empty_reason.ok());
}

TEST(CodecTest, GarbageNeverReadsOutOfBounds) {
  // Seeded random bytes read as the sample schema: any outcome is fine as long as the reader
  // either succeeds and consumed exactly its input's prefix, or failed with a reason.
  uint64_t seed = 0x5eed;
  for (int round = 0; round < 2000; ++round) {
    std::string data(static_cast<size_t>(round % 64), '\0');
    for (char& c : data) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      c = static_cast<char>(seed >> 56);
    }
    if (round % 3 == 0 && data.size() >= 4) data.replace(0, 4, "SMPL");
    Reader r(data);
    const bool ok = ReadSample(r, /*check_values=*/false);
    EXPECT_EQ(ok, r.error().empty());
    EXPECT_LE(r.remaining(), data.size());
  }
}

}  // namespace
}  // namespace ta::analyzer::state
