#include "analyzer/stats/ewma.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace ta::analyzer::stats {
namespace {

constexpr uint64_t kMs = 1'000'000;

// The definition in ewma.h computed directly: weights 0.5^((T - t_i) / h), T the latest time.
struct Direct {
  double mean;
  double variance;
};
Direct DirectWeighted(const std::vector<std::pair<double, uint64_t>>& samples, uint64_t h) {
  uint64_t latest = 0;
  for (const auto& s : samples) latest = std::max(latest, s.second);
  double w_sum = 0;
  double wx_sum = 0;
  for (const auto& [x, t] : samples) {
    const double w = std::exp2(-static_cast<double>(latest - t) / static_cast<double>(h));
    w_sum += w;
    wx_sum += w * x;
  }
  const double mean = wx_sum / w_sum;
  double dev = 0;
  for (const auto& [x, t] : samples) {
    const double w = std::exp2(-static_cast<double>(latest - t) / static_cast<double>(h));
    dev += w * (x - mean) * (x - mean);
  }
  return {mean, dev / w_sum};
}

TEST(EwmaTest, ConstantSeriesHasZeroVariance) {
  Ewma e(10 * kMs);
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(e.Add(5.25, i * kMs));
  EXPECT_EQ(e.mean(), 5.25);
  EXPECT_EQ(e.variance(), 0.0);
  EXPECT_EQ(e.stddev(), 0.0);
  EXPECT_EQ(e.ZScore(100.0), 0.0);  // variance 0: no z-score
  EXPECT_EQ(e.samples(), 1000u);
}

TEST(EwmaTest, StepChangeIsHalfwayAfterOneHalfLife) {
  // Half-life of 10 ticks; 200 half-lives of 0 make the old history effectively infinite
  // (its finite-history error is 2^-200).
  Ewma e(10 * kMs);
  uint64_t t = 0;
  for (int i = 0; i < 2000; ++i, t += kMs) e.Add(0.0, t);
  for (int i = 0; i < 10; ++i, t += kMs) e.Add(1.0, t);
  EXPECT_NEAR(e.mean(), 0.5, 1e-9);
  for (int i = 0; i < 10; ++i, t += kMs) e.Add(1.0, t);
  EXPECT_NEAR(e.mean(), 0.75, 1e-9);
  for (int i = 0; i < 10; ++i, t += kMs) e.Add(1.0, t);
  EXPECT_NEAR(e.mean(), 0.875, 1e-9);
}

TEST(EwmaTest, AlternatingSeriesVariance) {
  // +1, -1, +1, ... with per-tick decay d = 0.5^(1/8): over an infinite history ending on +1,
  // mean = (1 - d) / (1 + d) and variance = 1 - mean^2.
  Ewma e(8 * kMs);
  std::vector<std::pair<double, uint64_t>> samples;
  for (uint64_t i = 0; i <= 2000; ++i) {
    const double x = i % 2 == 0 ? 1.0 : -1.0;
    e.Add(x, i * kMs);
    samples.emplace_back(x, i * kMs);
  }
  const double d = std::exp2(-1.0 / 8.0);
  const double mean = (1 - d) / (1 + d);
  EXPECT_NEAR(e.mean(), mean, 1e-12);
  EXPECT_NEAR(e.variance(), 1 - mean * mean, 1e-12);
  const Direct direct = DirectWeighted(samples, 8 * kMs);
  EXPECT_NEAR(e.mean(), direct.mean, 1e-12);
  EXPECT_NEAR(e.variance(), direct.variance, 1e-12);
}

TEST(EwmaTest, IrregularSpacingMatchesTheDefinition) {
  const std::vector<std::pair<double, uint64_t>> samples = {
      {3.0, 0},        {7.5, 3 * kMs},  {1.0, 4 * kMs},  {4.0, 10 * kMs}, {-2.0, 11 * kMs},
      {6.0, 11 * kMs}, {2.5, 25 * kMs}, {9.0, 26 * kMs}, {0.5, 60 * kMs}, {5.0, 61 * kMs},
  };
  Ewma e(5 * kMs);
  for (const auto& [x, t] : samples) e.Add(x, t);
  const Direct direct = DirectWeighted(samples, 5 * kMs);
  EXPECT_NEAR(e.mean(), direct.mean, 1e-12);
  EXPECT_NEAR(e.variance(), direct.variance, 1e-12);
  EXPECT_EQ(e.out_of_order(), 0u);  // equal timestamps are not out of order
}

TEST(EwmaTest, IrregularSeriesEqualsTheRegularOneWithTheSameSpacingInHalfLives) {
  // Samples every 2 ms with a 6 ms half-life decay exactly like samples every 1 ms with a 3 ms
  // half-life: only dt / half_life matters. A gap (missing samples) is just a longer dt.
  Ewma regular(3 * kMs);
  Ewma stretched(6 * kMs);
  const double values[] = {1.0, 4.0, 2.0, 8.0, 5.0, 7.0};
  const uint64_t ticks[] = {0, 1, 2, 7, 8, 20};
  for (int i = 0; i < 6; ++i) {
    regular.Add(values[i], ticks[i] * kMs);
    stretched.Add(values[i], 2 * ticks[i] * kMs);
  }
  EXPECT_NEAR(regular.mean(), stretched.mean(), 1e-12);
  EXPECT_NEAR(regular.variance(), stretched.variance(), 1e-12);
  // Samples at one instant (dt = 0) are plain weighted West updates: the ordinary mean.
  Ewma burst(kMs);
  for (double x : values) burst.Add(x, 42);
  EXPECT_NEAR(burst.mean(), 27.0 / 6.0, 1e-12);
}

TEST(EwmaTest, FreezeDropsAndCounts) {
  Ewma e(10 * kMs);
  for (uint64_t i = 0; i < 10; ++i) e.Add(static_cast<double>(i), i * kMs);
  const double mean = e.mean();
  const double variance = e.variance();
  e.Freeze();
  EXPECT_TRUE(e.frozen());
  for (uint64_t i = 10; i < 15; ++i) EXPECT_FALSE(e.Add(1000.0, i * kMs));
  EXPECT_EQ(e.frozen_dropped(), 5u);
  EXPECT_EQ(e.samples(), 10u);
  EXPECT_EQ(e.mean(), mean);
  EXPECT_EQ(e.variance(), variance);
  e.Unfreeze();
  EXPECT_TRUE(e.Add(1000.0, 15 * kMs));
  EXPECT_EQ(e.samples(), 11u);
  EXPECT_GT(e.mean(), mean);
}

TEST(EwmaTest, OutOfOrderAppliedWithoutDecay) {
  const uint64_t h = 10 * kMs;
  Ewma e(h);
  e.Add(0.0, 100 * kMs);
  e.Add(2.0, 100 * kMs + h);  // W = 0.5 + 1, mean = 2 / 1.5
  EXPECT_NEAR(e.mean(), 4.0 / 3.0, 1e-15);
  e.Add(4.0, 0);  // earlier than the latest: weight 1, no decay; the clock stays
  EXPECT_EQ(e.out_of_order(), 1u);
  EXPECT_EQ(e.last_ts_ns(), 100 * kMs + h);
  EXPECT_NEAR(e.weight(), 2.5, 1e-15);
  EXPECT_NEAR(e.mean(), 6.0 / 2.5, 1e-15);
  e.Add(0.0, 100 * kMs + 2 * h);  // one half-life later: W = 1.25 + 1
  EXPECT_NEAR(e.weight(), 2.25, 1e-15);
  EXPECT_NEAR(e.mean(), 3.0 / 2.25, 1e-15);
}

TEST(EwmaTest, HugeGapForgetsEverythingWithoutNan) {
  Ewma e(1);  // 1 ns half-life
  e.Add(5.0, 0);
  e.Add(-3.0, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(e.mean(), -3.0);
  EXPECT_EQ(e.variance(), 0.0);
  Ewma zero(0);  // treated as 1 ns
  EXPECT_EQ(zero.half_life_ns(), 1u);
}

TEST(EwmaTest, ZScoreNeedsMinimumSamples) {
  Ewma e(1'000 * kMs, 4);
  e.Add(1.0, 0);
  e.Add(-1.0, kMs);
  e.Add(1.0, 2 * kMs);
  EXPECT_GT(e.variance(), 0.0);
  EXPECT_EQ(e.ZScore(10.0), 0.0);  // 3 samples < 4
  e.Add(-1.0, 3 * kMs);
  const double z = e.ZScore(10.0);
  EXPECT_NE(z, 0.0);
  EXPECT_NEAR(z, (10.0 - e.mean()) / e.stddev(), 1e-12);
  EXPECT_LT(e.ZScore(-10.0), 0.0);
}

}  // namespace
}  // namespace ta::analyzer::stats
