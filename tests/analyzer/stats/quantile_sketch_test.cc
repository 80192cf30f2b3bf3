#include "analyzer/stats/quantile_sketch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace ta::analyzer::stats {
namespace {

constexpr double kQuantiles[] = {0.5, 0.9, 0.99, 0.999};

// The element the header's guarantee talks about: 0-based rank floor(q * (n - 1)).
double ExactQuantile(std::vector<double> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  const auto rank = static_cast<size_t>(std::floor(q * static_cast<double>(sorted.size() - 1)));
  return sorted[rank];
}

// |estimate - x| <= alpha * x, with a few ulps of slack for the logarithm's rounding.
void ExpectWithinBound(const QuantileSketch& sketch, const std::vector<double>& values,
                       const char* name) {
  const double alpha = sketch.relative_accuracy();
  for (double q : kQuantiles) {
    const double exact = ExactQuantile(values, q);
    const std::optional<double> estimate = sketch.Quantile(q);
    ASSERT_TRUE(estimate.has_value()) << name << " q=" << q;
    EXPECT_LE(std::abs(*estimate - exact), alpha * exact * (1 + 1e-12))
        << name << " q=" << q << " exact=" << exact << " estimate=" << *estimate;
  }
}

std::vector<double> Uniform(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(0.0, 2.0);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

std::vector<double> LogNormal(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(std::log(0.05), 1.0);  // ~50 ms median latency
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

// Cache hits around 2 ms and misses around 300 ms.
std::vector<double> Bimodal(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> fast(std::log(0.002), 0.3);
  std::lognormal_distribution<double> slow(std::log(0.3), 0.2);
  std::bernoulli_distribution is_slow(0.3);
  std::vector<double> v(n);
  for (double& x : v) x = is_slow(rng) ? slow(rng) : fast(rng);
  return v;
}

// Pareto(x_m = 100 bytes, shape 1.2) by inverse transform: heavy-tailed sizes.
std::vector<double> Pareto(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = 100.0 / std::pow(1.0 - u(rng), 1.0 / 1.2);
  return v;
}

QuantileSketch SketchOf(const std::vector<double>& values, double alpha = 0.01,
                        size_t max_buckets = QuantileSketch::kDefaultMaxBuckets) {
  QuantileSketch s(alpha, max_buckets);
  for (double x : values) EXPECT_TRUE(s.Add(x));
  return s;
}

TEST(QuantileSketchTest, GuaranteeHoldsOnSeededDistributions) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    const std::vector<std::pair<const char*, std::vector<double>>> cases = {
        {"uniform", Uniform(seed, 100'000)},
        {"lognormal", LogNormal(seed, 100'000)},
        {"bimodal", Bimodal(seed, 100'000)},
        {"pareto", Pareto(seed, 100'000)},
    };
    for (const auto& [name, values] : cases) {
      // alpha = 0.001 needs ten times the buckets for the same range (log(gamma) ~ 2 alpha).
      for (const auto& [alpha, buckets] :
           {std::pair{0.01, size_t{2048}}, std::pair{0.05, size_t{2048}},
            std::pair{0.001, size_t{20'000}}}) {
        const QuantileSketch s = SketchOf(values, alpha, buckets);
        EXPECT_EQ(s.count(), values.size());
        EXPECT_FALSE(s.collapsed()) << name;
        EXPECT_EQ(s.min(), *std::min_element(values.begin(), values.end()));
        EXPECT_EQ(s.max(), *std::max_element(values.begin(), values.end()));
        ExpectWithinBound(s, values, name);
      }
    }
  }
}

TEST(QuantileSketchTest, BucketBoundariesFollowTheMapping) {
  QuantileSketch s(0.01);
  const double gamma = 1.01 / 0.99;
  // k = ceil(log_gamma(x)): 1 is bucket 0, just above 1 is bucket 1, gamma^5 mid-bucket is 5.
  EXPECT_EQ(s.IndexOf(1.0), 0);
  EXPECT_EQ(s.IndexOf(std::nextafter(1.0, 2.0)), 1);
  EXPECT_EQ(s.IndexOf(std::pow(gamma, 4.5)), 5);
  EXPECT_EQ(s.IndexOf(std::pow(gamma, -3.5)), -3);
}

TEST(QuantileSketchTest, MergeEqualsAddingEverythingToOneSketch) {
  std::vector<double> values = LogNormal(7, 50'000);
  const std::vector<double> more = Pareto(8, 50'000);
  values.insert(values.end(), more.begin(), more.end());
  values.insert(values.end(), 123, 0.0);
  const QuantileSketch whole = SketchOf(values);

  std::mt19937_64 rng(99);
  for (int round = 0; round < 20; ++round) {
    // Split at seeded random points into up to 5 parts, merge them in order.
    std::vector<size_t> cuts = {0, values.size()};
    std::uniform_int_distribution<size_t> pick(0, values.size());
    for (int i = 0; i < 4; ++i) cuts.push_back(pick(rng));
    std::sort(cuts.begin(), cuts.end());
    QuantileSketch merged;
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      QuantileSketch part;
      for (size_t i = cuts[c]; i < cuts[c + 1]; ++i) part.Add(values[i]);
      ASSERT_TRUE(merged.Merge(part));
    }
    ASSERT_EQ(merged.count(), whole.count());
    EXPECT_EQ(merged.zero_count(), whole.zero_count());
    EXPECT_EQ(merged.min(), whole.min());
    EXPECT_EQ(merged.max(), whole.max());
    ASSERT_EQ(merged.lowest_index(), whole.lowest_index());
    ASSERT_EQ(merged.highest_index(), whole.highest_index());
    EXPECT_EQ(merged.bucket_count(), whole.bucket_count());
    for (int32_t k = whole.lowest_index(); k <= whole.highest_index(); ++k) {
      ASSERT_EQ(merged.BucketCount(k), whole.BucketCount(k)) << "bucket " << k;
    }
    for (double q : kQuantiles) EXPECT_EQ(merged.Quantile(q), whole.Quantile(q));
  }
}

TEST(QuantileSketchTest, MergeRejectsDifferentAccuracy) {
  QuantileSketch a(0.01);
  QuantileSketch b(0.02);
  a.Add(1.0);
  b.Add(2.0);
  EXPECT_FALSE(a.Merge(b));
  EXPECT_EQ(a.count(), 1u);
  EXPECT_EQ(a.max(), 1.0);
}

TEST(QuantileSketchTest, MergeCarriesCountersAndSelfMergeDoubles) {
  QuantileSketch a;
  a.Add(-1.0);
  a.Add(0.0);
  a.Add(5.0, 3);
  QuantileSketch empty;
  ASSERT_TRUE(empty.Merge(a));
  EXPECT_EQ(empty.count(), 4u);
  EXPECT_EQ(empty.rejected(), 1u);
  EXPECT_EQ(empty.min(), 0.0);
  EXPECT_EQ(empty.max(), 5.0);
  ASSERT_TRUE(a.Merge(a));
  EXPECT_EQ(a.count(), 8u);
  EXPECT_EQ(a.zero_count(), 2u);
  EXPECT_EQ(a.BucketCount(a.IndexOf(5.0)), 6u);
  EXPECT_EQ(a.bucket_count(), 1u);
}

// Mid-bucket values gamma^(k - 0.5) land in bucket k without boundary rounding questions.
double MidBucket(int k) { return std::pow(1.01 / 0.99, k - 0.5); }

TEST(QuantileSketchTest, CollapsesLowestBucketsWhenGrowingUpwards) {
  QuantileSketch s(0.01, 16);
  std::vector<double> values;
  for (int k = 0; k < 100; ++k) {
    values.push_back(MidBucket(k));
    ASSERT_TRUE(s.Add(values.back()));
  }
  EXPECT_EQ(s.count(), 100u);
  EXPECT_TRUE(s.collapsed());
  EXPECT_EQ(s.collapsed_count(), 84u);  // buckets 0..83 folded into 84
  EXPECT_EQ(s.lowest_index(), 84);
  EXPECT_EQ(s.highest_index(), 99);
  EXPECT_EQ(s.bucket_count(), 16u);
  EXPECT_EQ(s.BucketCount(84), 85u);
  // The high quantiles keep the bound...
  for (double q : {0.9, 0.99, 1.0}) {
    const double exact = ExactQuantile(values, q);
    EXPECT_LE(std::abs(*s.Quantile(q) - exact), 0.01 * exact) << q;
  }
  // ...the low ones lose it (over-estimated).
  EXPECT_EQ(*s.Quantile(0.0), values.front());  // the minimum is kept exactly
  EXPECT_GT(*s.Quantile(0.1), 1.5 * ExactQuantile(values, 0.1));
  EXPECT_GT(*s.Quantile(0.5), 1.3 * ExactQuantile(values, 0.5));
  EXPECT_EQ(s.min(), values.front());  // min/max stay exact
}

TEST(QuantileSketchTest, MergingACollapsedSketchKeepsItsCounts) {
  QuantileSketch collapsed(0.01, 16);
  for (int k = 0; k < 100; ++k) collapsed.Add(MidBucket(k));
  QuantileSketch target(0.01, 16);
  ASSERT_TRUE(target.Merge(collapsed));
  EXPECT_EQ(target.collapsed_count(), 84u);
  EXPECT_EQ(target.BucketCount(84), 85u);
  // Growing further folds bucket 84 again: only its one original value is newly moved.
  ASSERT_TRUE(target.Add(MidBucket(100)));
  EXPECT_EQ(target.collapsed_count(), 85u);
  EXPECT_EQ(target.BucketCount(85), 86u);
}

TEST(QuantileSketchTest, CollapsesNewLowValuesIntoTheLowestBucket) {
  QuantileSketch s(0.01, 16);
  for (int k = 99; k >= 0; --k) ASSERT_TRUE(s.Add(MidBucket(k)));
  EXPECT_EQ(s.collapsed_count(), 84u);
  EXPECT_EQ(s.lowest_index(), 84);
  EXPECT_EQ(s.highest_index(), 99);
  EXPECT_EQ(s.BucketCount(84), 85u);
  EXPECT_EQ(s.bucket_count(), 16u);
}

TEST(QuantileSketchTest, WindowShiftsWithoutCollapseWhileTheRangeFits) {
  QuantileSketch s(0.01, 16);
  // 16 distinct buckets far apart from where the window was first centred, alternating ends.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(s.Add(MidBucket(1000 + i)));
    ASSERT_TRUE(s.Add(MidBucket(1015 - i)));
  }
  ASSERT_TRUE(s.Add(MidBucket(1000)));
  EXPECT_FALSE(s.collapsed());
  EXPECT_EQ(s.bucket_count(), 16u);
  EXPECT_EQ(s.BucketCount(1000), 2u);
  EXPECT_EQ(s.BucketCount(1015), 1u);
  // One more distinct bucket below forces a collapse of exactly that one value.
  ASSERT_TRUE(s.Add(MidBucket(999)));
  EXPECT_EQ(s.collapsed_count(), 1u);
  EXPECT_EQ(s.BucketCount(1000), 3u);
}

TEST(QuantileSketchTest, SingleBucketSketchKeepsOnlyTheTop) {
  QuantileSketch s(0.01, 1);
  ASSERT_TRUE(s.Add(MidBucket(10)));
  ASSERT_TRUE(s.Add(MidBucket(50)));  // bucket 10 folds into 50
  ASSERT_TRUE(s.Add(MidBucket(3)));   // folds straight into 50
  EXPECT_EQ(s.bucket_count(), 1u);
  EXPECT_EQ(s.BucketCount(50), 3u);
  EXPECT_EQ(s.collapsed_count(), 2u);
  EXPECT_NEAR(*s.Quantile(0.5), MidBucket(50), 0.01 * MidBucket(50));  // bucket 50 estimate
}

TEST(QuantileSketchTest, EmptySketch) {
  QuantileSketch s;
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.min(), 0.0);
  EXPECT_EQ(s.max(), 0.0);
  EXPECT_EQ(s.bucket_count(), 0u);
  for (double q : kQuantiles) EXPECT_FALSE(s.Quantile(q).has_value());
}

TEST(QuantileSketchTest, SingleValueIsExactAfterClamping) {
  QuantileSketch s;
  ASSERT_TRUE(s.Add(0.0375));
  for (double q : {0.0, 0.5, 0.999, 1.0}) EXPECT_EQ(s.Quantile(q), 0.0375);
}

TEST(QuantileSketchTest, ZerosHaveTheirOwnCount) {
  QuantileSketch s;
  ASSERT_TRUE(s.Add(0.0, 5));
  ASSERT_TRUE(s.Add(-0.0));  // negative zero is zero, not a negative value
  ASSERT_TRUE(s.Add(2.0, 4));
  EXPECT_EQ(s.count(), 10u);
  EXPECT_EQ(s.zero_count(), 6u);
  EXPECT_EQ(s.rejected(), 0u);
  EXPECT_EQ(s.Quantile(0.0), 0.0);
  EXPECT_EQ(s.Quantile(0.6), 0.0);     // rank floor(0.6 * 9) = 5: the sixth zero
  const double q7 = *s.Quantile(0.7);  // rank 6: the first 2.0
  EXPECT_LE(std::abs(q7 - 2.0), 0.02);
  EXPECT_EQ(s.Quantile(1.0), 2.0);  // the last rank is max() exactly
}

TEST(QuantileSketchTest, RejectsNegativeNanInfinityAndBadQuantiles) {
  QuantileSketch s;
  EXPECT_FALSE(s.Add(-1e-9));
  EXPECT_FALSE(s.Add(-5.0, 3));
  EXPECT_FALSE(s.Add(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(s.Add(std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(s.Add(1.0, 0));  // count 0: nothing
  EXPECT_EQ(s.rejected(), 6u);
  EXPECT_EQ(s.count(), 0u);
  ASSERT_TRUE(s.Add(1.0));
  EXPECT_FALSE(s.Quantile(-0.1).has_value());
  EXPECT_FALSE(s.Quantile(1.1).has_value());
  EXPECT_FALSE(s.Quantile(std::numeric_limits<double>::quiet_NaN()).has_value());
}

TEST(QuantileSketchTest, ExtremeValuesNeverOverflow) {
  const double tiny = std::numeric_limits<double>::denorm_min();
  const double huge = std::numeric_limits<double>::max();
  // About 72,700 buckets apart at alpha = 0.01: the default bound collapses the tiny one...
  QuantileSketch bounded;
  ASSERT_TRUE(bounded.Add(tiny));
  ASSERT_TRUE(bounded.Add(huge));
  ASSERT_TRUE(bounded.Add(huge));
  EXPECT_EQ(bounded.collapsed_count(), 1u);
  EXPECT_EQ(bounded.Quantile(0.5), huge);  // gamma^k overflows to inf; clamped to max()
  EXPECT_EQ(bounded.highest_index() - bounded.lowest_index(), 2047);
  // ...a wide enough sketch keeps both.
  QuantileSketch wide(0.01, 80'000);
  ASSERT_TRUE(wide.Add(tiny));
  ASSERT_TRUE(wide.Add(huge));
  EXPECT_FALSE(wide.collapsed());
  ASSERT_TRUE(wide.Add(huge));
  EXPECT_EQ(wide.Quantile(0.5), huge);
  EXPECT_EQ(wide.Quantile(0.0), tiny);
}

TEST(QuantileSketchTest, ClearForgetsEverything) {
  QuantileSketch s(0.01, 16);
  for (int k = 0; k < 40; ++k) s.Add(MidBucket(k));
  s.Add(-1.0);
  s.Clear();
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.rejected(), 0u);
  EXPECT_FALSE(s.collapsed());
  EXPECT_EQ(s.bucket_count(), 0u);
  EXPECT_FALSE(s.Quantile(0.5).has_value());
  ASSERT_TRUE(s.Add(3.0));
  EXPECT_EQ(s.Quantile(0.5), 3.0);
}

TEST(QuantileSketchTest, InvalidParametersFallBack) {
  EXPECT_EQ(QuantileSketch(0.0).relative_accuracy(), 0.01);
  EXPECT_EQ(QuantileSketch(1.0).relative_accuracy(), 0.01);
  EXPECT_EQ(QuantileSketch(std::numeric_limits<double>::quiet_NaN()).relative_accuracy(), 0.01);
  EXPECT_EQ(QuantileSketch(0.01, 0).max_buckets(), 1u);
  EXPECT_EQ(QuantileSketch(0.01, size_t{1} << 40).max_buckets(), QuantileSketch::kMaxMaxBuckets);
}

}  // namespace
}  // namespace ta::analyzer::stats
