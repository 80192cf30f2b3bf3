#include "analyzer/stats/hyperloglog.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <string>

namespace ta::analyzer::stats {
namespace {

TEST(HyperLogLogTest, HashBytesIsDeterministicAndSpreads) {
  EXPECT_EQ(HashBytes("abc"), HashBytes("abc"));
  EXPECT_NE(HashBytes("abc"), HashBytes("abd"));
  EXPECT_NE(HashBytes("a"), HashBytes(std::string_view("a\0", 2)));
  EXPECT_NE(HashBytes(""), HashBytes(std::string_view("\0", 1)));
  EXPECT_NE(HashBytes("abc", 1), HashBytes("abc", 2));
  EXPECT_NE(HashBytes("0123456789abcdef"), HashBytes("0123456789abcdeg"));
  // Flipping one input bit flips about half the output bits (avalanche), averaged.
  std::string s = "GET /api/v1/users/12345 HTTP/1.1";
  const uint64_t base = HashBytes(s);
  int flipped = 0;
  int trials = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string t = s;
      t[i] = static_cast<char>(t[i] ^ (1 << bit));
      flipped += std::popcount(HashBytes(t) ^ base);
      ++trials;
    }
  }
  const double mean = static_cast<double>(flipped) / trials;
  EXPECT_GT(mean, 30.0);
  EXPECT_LT(mean, 34.0);
}

TEST(HyperLogLogTest, ExactBelowLimitAndDuplicatesDoNotCount) {
  HyperLogLog hll;
  EXPECT_EQ(hll.Estimate(), 0.0);
  for (int round = 0; round < 3; ++round) {
    for (uint64_t i = 0; i < HyperLogLog::kDefaultExactLimit; ++i) hll.Add(Mix64(i));
  }
  EXPECT_TRUE(hll.exact());
  EXPECT_EQ(hll.Estimate(), static_cast<double>(HyperLogLog::kDefaultExactLimit));
  hll.Add(Mix64(1000));
  EXPECT_FALSE(hll.exact());
  EXPECT_NEAR(hll.Estimate(), 65.0, 2.0);  // linear counting is near exact this small
  hll.AddBytes("x");
  hll.AddBytes("x");
  EXPECT_NEAR(hll.Estimate(), 66.0, 2.0);
}

TEST(HyperLogLogTest, DuplicatesInRegisterModeDoNotCount) {
  HyperLogLog once;
  HyperLogLog thrice;
  for (uint64_t i = 0; i < 50000; ++i) once.Add(Mix64(i));
  for (int r = 0; r < 3; ++r) {
    for (uint64_t i = 0; i < 50000; ++i) thrice.Add(Mix64(i));
  }
  EXPECT_EQ(once.Estimate(), thrice.Estimate());
}

TEST(HyperLogLogTest, PrecisionIsClamped) {
  EXPECT_EQ(HyperLogLog(1).precision(), HyperLogLog::kMinPrecision);
  EXPECT_EQ(HyperLogLog(30).precision(), HyperLogLog::kMaxPrecision);
  EXPECT_NEAR(HyperLogLog(12).StandardError(), 1.04 / 64.0, 1e-12);
}

class HyperLogLogAccuracyTest : public testing::TestWithParam<uint64_t> {};

TEST_P(HyperLogLogAccuracyTest, WithinThreeStandardErrors) {
  const uint64_t n = GetParam();
  HyperLogLog hll;
  std::mt19937_64 rng(n * 31 + 5);
  // Distinct inputs: a counter fed through HashBytes, offset by a seeded random base.
  const uint64_t base = rng();
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t v = base + i;
    hll.AddBytes(std::string_view(reinterpret_cast<const char*>(&v), sizeof v));
  }
  const double rel = std::abs(hll.Estimate() - static_cast<double>(n)) / static_cast<double>(n);
  EXPECT_LT(rel, 3.0 * hll.StandardError()) << "estimate " << hll.Estimate();
}

INSTANTIATE_TEST_SUITE_P(Sizes, HyperLogLogAccuracyTest,
                         testing::Values(1000U, 10000U, 11000U, 12000U, 100000U, 1000000U));

TEST(HyperLogLogTest, MergeEqualsUnion) {
  HyperLogLog a;
  HyperLogLog b;
  HyperLogLog both;
  // Overlapping ranges: a = [0, 60000), b = [40000, 100000), union 100000 distinct.
  for (uint64_t i = 0; i < 60000; ++i) {
    a.Add(Mix64(i));
    both.Add(Mix64(i));
  }
  for (uint64_t i = 40000; i < 100000; ++i) {
    b.Add(Mix64(i));
    both.Add(Mix64(i));
  }
  ASSERT_TRUE(a.Merge(b));
  EXPECT_EQ(a.Estimate(), both.Estimate());  // register-wise max is exactly the union sketch
  EXPECT_LT(std::abs(a.Estimate() - 100000.0) / 100000.0, 3.0 * a.StandardError());
}

TEST(HyperLogLogTest, MergeExactSetsStaysExactWhileSmall) {
  HyperLogLog a;
  HyperLogLog b;
  for (uint64_t i = 0; i < 30; ++i) a.Add(Mix64(i));
  for (uint64_t i = 20; i < 50; ++i) b.Add(Mix64(i));
  ASSERT_TRUE(a.Merge(b));
  EXPECT_TRUE(a.exact());
  EXPECT_EQ(a.Estimate(), 50.0);
  // Growing past the limit through a merge switches to registers and matches direct adds.
  HyperLogLog c;
  HyperLogLog direct;
  for (uint64_t i = 50; i < 100; ++i) c.Add(Mix64(i));
  for (uint64_t i = 0; i < 100; ++i) direct.Add(Mix64(i));
  ASSERT_TRUE(a.Merge(c));
  EXPECT_FALSE(a.exact());
  EXPECT_EQ(a.Estimate(), direct.Estimate());
  // Exact into registers and registers into exact.
  HyperLogLog small;
  for (uint64_t i = 0; i < 10; ++i) small.Add(Mix64(i));
  HyperLogLog big = direct;
  ASSERT_TRUE(big.Merge(small));
  EXPECT_EQ(big.Estimate(), direct.Estimate());
  ASSERT_TRUE(small.Merge(direct));
  EXPECT_EQ(small.Estimate(), direct.Estimate());
}

TEST(HyperLogLogTest, MergeRejectsDifferentPrecision) {
  HyperLogLog a(12);
  HyperLogLog b(10);
  a.Add(1);
  b.Add(2);
  EXPECT_FALSE(a.Merge(b));
  EXPECT_EQ(a.Estimate(), 1.0);
}

}  // namespace
}  // namespace ta::analyzer::stats
