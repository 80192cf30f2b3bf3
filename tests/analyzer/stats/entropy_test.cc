#include "analyzer/stats/entropy.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ta::analyzer::stats {
namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng() >> 56);
  return out;
}

TEST(ByteEntropyTest, EmptyAndConstantAreZero) {
  ByteEntropy e;
  EXPECT_EQ(e.Entropy(), 0.0);
  EXPECT_EQ(e.EntropyCorrected(), 0.0);
  e.Add(std::string(4096, 'A'));
  EXPECT_EQ(e.total(), 4096U);
  EXPECT_EQ(e.distinct(), 1U);
  EXPECT_EQ(e.Entropy(), 0.0);
  EXPECT_EQ(e.EntropyCorrected(), 0.0);  // m - 1 = 0: no correction
  EXPECT_FALSE(LooksRandom(e));
}

TEST(ByteEntropyTest, TwoEqualValuesAreOneBit) {
  ByteEntropy e;
  for (int i = 0; i < 512; ++i) e.Add("ab");
  EXPECT_DOUBLE_EQ(e.Entropy(), 1.0);
  // Miller-Madow: + (2 - 1) / (2 * 1024 * ln 2).
  EXPECT_NEAR(e.EntropyCorrected(), 1.0 + 1.0 / (2048.0 * 0.6931471805599453), 1e-12);
}

TEST(ByteEntropyTest, UniformRandomIsNearEight) {
  ByteEntropy e;
  const auto bytes = RandomBytes(64 * 1024, 42);
  // Added in pieces: the histogram does not care how the stream is split.
  e.Add(std::span<const uint8_t>(bytes.data(), 1000));
  e.Add(std::span<const uint8_t>(bytes.data() + 1000, bytes.size() - 1000));
  EXPECT_EQ(e.total(), bytes.size());
  EXPECT_GT(e.Entropy(), 7.99);
  EXPECT_LE(e.EntropyCorrected(), 8.0);
  EXPECT_GT(e.EntropyCorrected(), e.Entropy());
  EXPECT_TRUE(LooksRandom(e));
}

TEST(ByteEntropyTest, SmallRandomSampleIsUnderestimatedAndCorrected) {
  // 1 KiB of random bytes: the plug-in estimate is well below 8, the correction recovers most.
  ByteEntropy e;
  const auto bytes = RandomBytes(1024, 9);
  e.Add(bytes);
  EXPECT_LT(e.Entropy(), 7.85);
  EXPECT_GT(e.EntropyCorrected(), 7.85);
  EXPECT_TRUE(LooksRandom(e));
}

TEST(ByteEntropyTest, EnglishTextIsFourToFiveBits) {
  const std::string text =
      "It was the best of times, it was the worst of times, it was the age of wisdom, it was "
      "the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it "
      "was the season of Light, it was the season of Darkness, it was the spring of hope, it "
      "was the winter of despair, we had everything before us, we had nothing before us, we "
      "were all going direct to Heaven, we were all going direct the other way - in short, the "
      "period was so far like the present period, that some of its noisiest authorities "
      "insisted on its being received, for good or for evil, in the superlative degree of "
      "comparison only. There were a king with a large jaw and a queen with a plain face, on "
      "the throne of England; there were a king with a large jaw and a queen with a fair face, "
      "on the throne of France. In both countries it was clearer than crystal to the lords of "
      "the State preserves of loaves and fishes, that things in general were settled for ever. "
      "It was the year of Our Lord one thousand seven hundred and seventy-five. Spiritual "
      "revelations were conceded to England at that favoured period, as at this.";
  ByteEntropy e;
  e.Add(text);
  ASSERT_GE(e.total(), 1024U);
  EXPECT_GT(e.Entropy(), 4.0) << e.Entropy();
  EXPECT_LT(e.Entropy(), 5.0);
  EXPECT_FALSE(LooksRandom(e));
}

TEST(ByteEntropyTest, JsonIsLow) {
  std::string json = "[";
  for (int i = 0; i < 40; ++i) {
    json += "{\"id\":" + std::to_string(1000 + i) + ",\"name\":\"user" + std::to_string(i) +
            "\",\"active\":" + (i % 3 == 0 ? "false" : "true") + "},";
  }
  json.back() = ']';
  ByteEntropy e;
  e.Add(json);
  ASSERT_GE(e.total(), 1024U);
  EXPECT_LT(e.EntropyCorrected(), 5.0);
  EXPECT_FALSE(LooksRandom(e));
}

TEST(ByteEntropyTest, CompressedLikeDataLooksRandom) {
  // Compressed output (gzip, br) is close to uniform bytes; a seeded PRNG stream stands in for
  // it here. This is why the exfiltration detector must undo Content-Encoding before scoring.
  ByteEntropy e;
  e.Add(RandomBytes(8 * 1024, 1234));
  EXPECT_TRUE(LooksRandom(e));
}

TEST(ByteEntropyTest, BelowMinBytesIsNeverRandom) {
  ByteEntropy e;
  const auto bytes = RandomBytes(1023, 77);
  e.Add(bytes);
  EXPECT_GT(e.EntropyCorrected(), 7.5);
  EXPECT_FALSE(LooksRandom(e));
  e.Add(RandomBytes(1, 78));
  EXPECT_TRUE(LooksRandom(e));
  EXPECT_FALSE(LooksRandom(e, 7.5, 4096));
  EXPECT_FALSE(LooksRandom(e, 8.0));  // strictly above the threshold
  e.Reset();
  EXPECT_EQ(e.total(), 0U);
  EXPECT_EQ(e.distinct(), 0U);
}

}  // namespace
}  // namespace ta::analyzer::stats
