#include "analyzer/protocols/http1/chunked_decoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "tests/analyzer/test_support.h"

namespace ta::analyzer::protocols::http1 {
namespace {

constexpr std::string_view kBody =
    "9\r\n"
    "pixelated\r\n"
    "1A;name=value\r\n"
    "abcdefghijklmnopqrstuvwxyz\r\n"
    "0\r\n"
    "Trailer-One: 1\r\n"
    "Trailer-Two: 2\r\n"
    "\r\n";

TEST(ChunkedDecoderTest, DecodesChunksExtensionsAndTrailers) {
  ChunkedDecoder d(1024);
  const std::string input = std::string(kBody) + "GET /next";
  const ChunkedDecoder::Result r = d.Consume(input);
  EXPECT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(r.consumed, kBody.size());
  EXPECT_EQ(d.body_bytes(), 9u + 26u);
}

TEST(ChunkedDecoderTest, GivesTheSameResultForAnySplit) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<size_t> cuts = analyzer::testing::RandomCuts(rng, kBody.size(), 12);
    ChunkedDecoder d(1024);
    size_t start = 0;
    ChunkedDecoder::Result r;
    for (size_t i = 0; i <= cuts.size(); ++i) {
      const size_t end = i < cuts.size() ? cuts[i] : kBody.size();
      r = d.Consume(kBody.substr(start, end - start));
      ASSERT_EQ(r.consumed, end - start) << "seed " << seed;
      ASSERT_EQ(r.state, end == kBody.size() ? ParseState::kDone : ParseState::kNeedsMoreData)
          << "seed " << seed;
      start = end;
    }
    EXPECT_EQ(d.body_bytes(), 35u);
  }
}

TEST(ChunkedDecoderTest, SkipsUncapturedChunkData) {
  ChunkedDecoder d(1024);
  EXPECT_EQ(d.Consume("10\r\nabcd").state, ParseState::kNeedsMoreData);
  EXPECT_EQ(d.data_remaining(), 12u);
  d.SkipData(12);
  EXPECT_EQ(d.data_remaining(), 0u);
  const ChunkedDecoder::Result r = d.Consume("\r\n0\r\n\r\n");
  EXPECT_EQ(r.state, ParseState::kDone);
  EXPECT_EQ(d.body_bytes(), 16u);
}

TEST(ChunkedDecoderTest, RejectsMalformedFraming) {
  for (const char* input : {
           "\r\n",                   // no size
           "g\r\n",                  // not hex
           "5 x\r\nabcde\r\n",       // junk after the size
           "5\r\nabcdeX\r\n",        // no CRLF after data
           "5\r\nabcde\r\r\n",       // CR CR
           "11111111111111111\r\n",  // 17 hex digits overflow 64 bits
           "5\rx\r\n",               // bare CR in the size line
       }) {
    ChunkedDecoder d(1024);
    EXPECT_EQ(d.Consume(input).state, ParseState::kInvalid) << input;
  }
}

// Found by fuzz.http1_chunked (regressions/http1_chunked/chunk_sizes_summing_past_2_64): each
// size fits 64 bits, their sum did not, and the decoded body size wrapped around to 9.
TEST(ChunkedDecoderTest, RejectsChunkSizesWhoseSumOverflows) {
  ChunkedDecoder d(1024);
  EXPECT_EQ(d.Consume("A\r\n0123456789\r\n").state, ParseState::kNeedsMoreData);
  EXPECT_EQ(d.body_bytes(), 10u);
  EXPECT_EQ(d.Consume("FFFFFFFFFFFFFFFF\r\n").state, ParseState::kInvalid);
  EXPECT_EQ(d.body_bytes(), 10u);
  // The largest sum that fits is still fine.
  ChunkedDecoder e(1024);
  EXPECT_EQ(e.Consume("A\r\n0123456789\r\nFFFFFFFFFFFFFFF5\r\n").state,
            ParseState::kNeedsMoreData);
  EXPECT_EQ(e.body_bytes(), UINT64_MAX);
}

TEST(ChunkedDecoderTest, BoundsSizeLinesAndTrailers) {
  ChunkedDecoder d(16);
  EXPECT_EQ(d.Consume("5;" + std::string(20, 'x')).state, ParseState::kInvalid);
  ChunkedDecoder t(16);
  EXPECT_EQ(t.Consume("0\r\nX-Long-Trailer: 12345678\r\n\r\n").state, ParseState::kInvalid);
}

TEST(ChunkedDecoderTest, ResetStartsANewBody) {
  ChunkedDecoder d(1024);
  EXPECT_EQ(d.Consume("3\r\nabc\r\n0\r\n\r\n").state, ParseState::kDone);
  d.Reset();
  EXPECT_EQ(d.body_bytes(), 0u);
  EXPECT_EQ(d.Consume("2\r\nab\r\n0\r\n\r\n").state, ParseState::kDone);
  EXPECT_EQ(d.body_bytes(), 2u);
}

}  // namespace
}  // namespace ta::analyzer::protocols::http1
