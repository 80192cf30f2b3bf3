#include "analyzer/stats/burn_rate.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace ta::analyzer::stats {
namespace {

constexpr uint64_t kMin = kNsPerMinute;
// An arbitrary non-zero epoch so that minute arithmetic is not anchored at 0.
constexpr uint64_t kT0 = 1'700'000'000ULL * 1'000'000'000ULL;

// SLO 0.9375 leaves a budget of exactly 1/16, so burn rates are exact multiples of ratios and
// boundary tests compare equal doubles (burn == threshold does not fire: the rule is ">").
BurnRateConfig SixteenthBudget() {
  BurnRateConfig c;
  c.slo = 0.9375;
  return c;
}

TEST(BurnRateTest, EmptyTrackerIsZero) {
  BurnRateTracker t;
  EXPECT_EQ(t.ring_minutes(), 4320U);
  EXPECT_EQ(t.BurnRate(60), 0.0);
  const auto a = t.Evaluate();
  EXPECT_FALSE(a.page_fast || a.page_slow || a.ticket);
}

TEST(BurnRateTest, ExactBurnRates) {
  BurnRateTracker t(SixteenthBudget());
  // 60 minutes: minute i has 16 events, 1 bad. The last 5 minutes have 8 bad of 16.
  for (uint64_t i = 0; i < 60; ++i) {
    const uint64_t bad = i >= 55 ? 8 : 1;
    t.Add(kT0 + i * kMin + 17, 16 - bad, bad);
  }
  EXPECT_DOUBLE_EQ(t.ErrorRatio(5), 0.5);
  EXPECT_DOUBLE_EQ(t.BurnRate(5), 8.0);
  EXPECT_DOUBLE_EQ(t.BurnRate(1), 8.0);
  // 60 minutes: 55 + 40 = 95 bad of 960.
  EXPECT_DOUBLE_EQ(t.ErrorRatio(60), 95.0 / 960.0);
  EXPECT_DOUBLE_EQ(t.BurnRate(60), 95.0 / 960.0 * 16.0);
  // Longer windows only see what exists.
  EXPECT_DOUBLE_EQ(t.ErrorRatio(4320), 95.0 / 960.0);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(100000), 95.0 / 960.0);  // clamped to the ring
}

TEST(BurnRateTest, DefaultSloBurnRate) {
  BurnRateTracker t;    // SLO 99.9 %
  t.Add(kT0, 980, 20);  // 2 % errors = 20x budget
  EXPECT_NEAR(t.BurnRate(5), 20.0, 1e-9);
  const auto a = t.Evaluate();
  EXPECT_TRUE(a.page_fast);
  EXPECT_TRUE(a.page_slow);
  EXPECT_TRUE(a.ticket);
  EXPECT_TRUE(a.page());
}

// burn = 16 * bad / total. Fast page at 14.4: bad/total = 0.9 exactly at the boundary.
TEST(BurnRateTest, FastPageBoundary) {
  {
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 1, 9);  // burn 14.4 in every window: not above
    EXPECT_DOUBLE_EQ(t.BurnRate(60), 14.4);
    EXPECT_FALSE(t.Evaluate().page_fast);
  }
  {
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 9, 91);  // 14.56
    EXPECT_TRUE(t.Evaluate().page_fast);
  }
  {
    // 1h high but 5m recovered: the short window resets the page.
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 0, 1000);
    t.Add(kT0 + 10 * kMin, 100, 0);  // 5m window: burn 0; 1h: 1000/1100 * 16 = 14.5
    EXPECT_GT(t.BurnRate(60), 14.4);
    EXPECT_EQ(t.BurnRate(5), 0.0);
    EXPECT_FALSE(t.Evaluate().page_fast);
  }
  {
    // 5m high but 1h low: a blip does not page.
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 1000, 0);
    t.Add(kT0 + 50 * kMin, 0, 100);
    EXPECT_EQ(t.BurnRate(5), 16.0);
    EXPECT_LT(t.BurnRate(60), 14.4);
    EXPECT_FALSE(t.Evaluate().page_fast);
  }
}

// Slow page at 6: bad/total = 0.375 (6/16) at the boundary.
TEST(BurnRateTest, SlowPageBoundary) {
  {
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 5, 3);  // 3/8 = 0.375: burn exactly 6
    EXPECT_DOUBLE_EQ(t.BurnRate(360), 6.0);
    const auto a = t.Evaluate();
    EXPECT_FALSE(a.page_slow);
    EXPECT_FALSE(a.page_fast);
    EXPECT_TRUE(a.ticket);
  }
  {
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 62, 38);  // 6.08
    const auto a = t.Evaluate();
    EXPECT_TRUE(a.page_slow);
    EXPECT_FALSE(a.page_fast);
  }
  {
    // 6h high, last 30m clean.
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 0, 100);
    t.Add(kT0 + 100 * kMin, 10, 0);
    EXPECT_GT(t.BurnRate(360), 6.0);
    EXPECT_FALSE(t.Evaluate().page_slow);
  }
}

// Ticket at 1: bad/total = 1/16 at the boundary.
TEST(BurnRateTest, TicketBoundary) {
  {
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 15, 1);
    EXPECT_DOUBLE_EQ(t.BurnRate(4320), 1.0);
    EXPECT_FALSE(t.Evaluate().ticket);
  }
  {
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 14, 1);
    t.Add(kT0 + 2 * 24 * 60 * kMin, 14, 1);  // two days later; both inside 3 days
    EXPECT_DOUBLE_EQ(t.BurnRate(4320), 16.0 / 15.0);
    EXPECT_TRUE(t.Evaluate().ticket);
  }
  {
    // 3 days above 1 but the last 6 hours clean.
    BurnRateTracker t(SixteenthBudget());
    t.Add(kT0, 0, 10);
    t.Add(kT0 + 24 * 60 * kMin, 100, 0);
    EXPECT_GT(t.BurnRate(4320), 1.0);
    EXPECT_FALSE(t.Evaluate().ticket);
  }
}

TEST(BurnRateTest, ConfigurableThresholds) {
  BurnRateConfig c = SixteenthBudget();
  c.fast_burn = 2.0;
  BurnRateTracker t(c);
  t.Add(kT0, 7, 1);  // burn 2: not above
  EXPECT_FALSE(t.Evaluate().page_fast);
  t.Add(kT0, 0, 1);  // 2/9 * 16 = 3.56
  EXPECT_TRUE(t.Evaluate().page_fast);
}

TEST(BurnRateTest, WindowsRollOff) {
  BurnRateTracker t(SixteenthBudget());
  t.Add(kT0, 0, 10);  // minute 0: all bad
  t.Add(kT0 + 4 * kMin, 10, 0);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(5), 0.5);  // minutes 0..4
  t.Add(kT0 + 5 * kMin, 10, 0);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(5), 0.0);  // minute 0 left the 5-minute window
  EXPECT_DOUBLE_EQ(t.ErrorRatio(6), 10.0 / 30.0);
  // The ring wraps: after 4320 minutes minute 0's bucket is reused.
  t.Add(kT0 + 4320 * kMin, 10, 0);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(4320), 0.0);
}

TEST(BurnRateTest, SeedRuleFiveMinuteRatio) {
  BurnRateTracker t;
  // 1 % exactly is not above 1 %.
  t.Add(kT0, 99, 1);
  EXPECT_FALSE(t.ErrorRatioExceeds(5, 0.01));
  t.Add(kT0 + 30'000'000'000ULL, 0, 1);  // 2 / 101
  EXPECT_TRUE(t.ErrorRatioExceeds(5, 0.01));
  t.Add(kT0 + 5 * kMin, 1000, 0);  // minute 0 rolled out
  EXPECT_FALSE(t.ErrorRatioExceeds(5, 0.01));
}

TEST(BurnRateTest, LateAndOutOfOrderEvents) {
  BurnRateTracker t(SixteenthBudget());
  t.Add(kT0 + 5000 * kMin, 10, 0);
  // Out of order but within the ring: goes to its own minute.
  t.Add(kT0 + 4999 * kMin, 0, 10);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(1), 0.0);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(2), 0.5);
  // The oldest minute still in the ring (newest - 4319) is accepted.
  t.Add(kT0 + (5000 - 4319) * kMin, 0, 20);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(4320), 30.0 / 40.0);
  EXPECT_EQ(t.late_dropped_events(), 0U);
  // One minute older is late: dropped and counted.
  t.Add(kT0 + (5000 - 4320) * kMin, 3, 4);
  t.Add(kT0, 1, 1);
  EXPECT_EQ(t.late_dropped_events(), 9U);
  EXPECT_DOUBLE_EQ(t.ErrorRatio(4320), 30.0 / 40.0);
}

TEST(BurnRateTest, LongTimeJumpClearsEverything) {
  BurnRateTracker t(SixteenthBudget());
  for (uint64_t i = 0; i < 100; ++i) t.Add(kT0 + i * kMin, 0, 5);
  t.Add(kT0 + 1'000'000 * kMin, 16, 0);
  EXPECT_EQ(t.ErrorRatio(4320), 0.0);
  // A jump shorter than the ring clears only the skipped minutes.
  BurnRateTracker u(SixteenthBudget());
  u.Add(kT0, 0, 5);
  u.Add(kT0 + 10 * kMin, 0, 5);
  u.Add(kT0 + 4000 * kMin, 10, 0);
  EXPECT_DOUBLE_EQ(u.ErrorRatio(4320), 10.0 / 20.0);
  u.Add(kT0 + 4325 * kMin, 10, 0);  // minute 0 is gone, minute 10 still there
  EXPECT_DOUBLE_EQ(u.ErrorRatio(4320), 5.0 / 25.0);
}

TEST(BurnRateTest, SmallRingFromConfig) {
  BurnRateConfig c;
  c.fast_long_minutes = 2;
  c.fast_short_minutes = 1;
  c.slow_long_minutes = 2;
  c.slow_short_minutes = 1;
  c.ticket_long_minutes = 3;
  c.ticket_short_minutes = 1;
  BurnRateTracker t(c);
  EXPECT_EQ(t.ring_minutes(), 3U);
  t.Add(0, 0, 1);
  t.Add(3 * kMin, 1, 0);
  EXPECT_EQ(t.ErrorRatio(3), 0.0);
  t.Add(0, 0, 1);  // now older than the ring
  EXPECT_EQ(t.late_dropped_events(), 1U);
}

}  // namespace
}  // namespace ta::analyzer::stats
