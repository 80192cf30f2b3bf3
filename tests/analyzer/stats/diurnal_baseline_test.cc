#include "analyzer/stats/diurnal_baseline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace ta::analyzer::stats {
namespace {

constexpr uint64_t kMinute = 60ull * 1'000'000'000;
constexpr uint64_t kSlot = 5 * kMinute;
// Midnight UTC of an arbitrary day (2023-12-09), as the caller's wall-clock-like ns.
constexpr uint64_t kDay0 = 19'700 * kNsPerDay;

// Request rate over the day: 100 +- 60 with a peak at 06:00 and a trough at 18:00.
double Rate(uint64_t ts_ns) {
  const double phase = static_cast<double>(ts_ns % kNsPerDay) / static_cast<double>(kNsPerDay);
  return 100.0 + 60.0 * std::sin(2 * std::numbers::pi * phase);
}

TEST(DiurnalBaselineTest, SlotsFromTimeOfDay) {
  DiurnalBaseline b;
  EXPECT_EQ(b.slot_count(), 288u);
  EXPECT_EQ(b.SlotOf(kDay0), 0u);
  EXPECT_EQ(b.SlotOf(kDay0 + kSlot - 1), 0u);
  EXPECT_EQ(b.SlotOf(kDay0 + kSlot), 1u);
  EXPECT_EQ(b.SlotOf(kDay0 + kNsPerDay - 1), 287u);
  EXPECT_EQ(b.SlotOf(kDay0 + 5 * kNsPerDay + 12 * 60 * kMinute), 144u);
}

TEST(DiurnalBaselineTest, SlotLengthMustDivideTheDay) {
  EXPECT_TRUE(DiurnalBaseline::ValidSlot(kSlot));
  EXPECT_TRUE(DiurnalBaseline::ValidSlot(60 * kMinute));
  EXPECT_FALSE(DiurnalBaseline::ValidSlot(0));
  EXPECT_FALSE(DiurnalBaseline::ValidSlot(7 * kMinute));  // 1440 / 7 is not whole
  EXPECT_FALSE(DiurnalBaseline::ValidSlot(2 * kNsPerDay));
  DiurnalBaselineOptions hourly;
  hourly.slot_ns = 60 * kMinute;
  EXPECT_EQ(DiurnalBaseline(hourly).slot_count(), 24u);
  DiurnalBaselineOptions bad;
  bad.slot_ns = 7 * kMinute;
  DiurnalBaseline fallback(bad);
  EXPECT_EQ(fallback.slot_ns(), kSlot);
  EXPECT_EQ(fallback.slot_count(), 288u);
}

TEST(DiurnalBaselineTest, ReadyAfterOneDayAndLearnsTheSine) {
  DiurnalBaseline b;
  std::mt19937_64 rng(2024);
  std::normal_distribution<double> noise(0.0, 2.0);
  // One value per slot (the slot's rate, measured at the slot start) over 3 days.
  for (uint64_t i = 0; i < 3 * 288; ++i) {
    const uint64_t ts = kDay0 + i * kSlot;
    if (i < 288) {
      EXPECT_FALSE(b.ready()) << i;
      EXPECT_FALSE(b.Expected(ts).has_value());
      EXPECT_DOUBLE_EQ(b.learned_fraction(), static_cast<double>(i) / 288.0);
    }
    ASSERT_TRUE(b.Add(Rate(ts) + noise(rng), ts));
    if (i == 287) {
      EXPECT_FALSE(b.ready());  // 23:55 of history
      EXPECT_DOUBLE_EQ(b.learned_fraction(), 1.0);
    }
    if (i == 288) {
      EXPECT_TRUE(b.ready());  // exactly 24 h
    }
  }
  ASSERT_TRUE(b.ready());
  double worst = 0;
  for (uint64_t s = 0; s < 288; ++s) {
    const uint64_t ts = kDay0 + 3 * kNsPerDay + s * kSlot;
    const std::optional<DiurnalExpectation> e = b.Expected(ts);
    ASSERT_TRUE(e.has_value()) << s;
    EXPECT_EQ(e->samples, 3u);
    worst = std::max(worst, std::abs(e->mean - Rate(ts)));
    EXPECT_LT(e->stddev, 8.0) << s;  // noise sigma 2, three samples per slot
  }
  // Three samples of sigma-2 noise per slot: the weighted mean is within 4 sigma / sqrt(3).
  EXPECT_LT(worst, 4.7);
  EXPECT_EQ(b.samples(), 864u);
  EXPECT_EQ(b.out_of_order(), 0u);
}

TEST(DiurnalBaselineTest, NoiselessSineIsLearnedExactly) {
  DiurnalBaseline b;
  for (uint64_t i = 0; i < 3 * 288; ++i) b.Add(Rate(kDay0 + i * kSlot), kDay0 + i * kSlot);
  for (uint64_t s = 0; s < 288; ++s) {
    const uint64_t ts = kDay0 + s * kSlot + 2 * kMinute;  // any time inside the slot
    const auto e = b.Expected(ts);
    ASSERT_TRUE(e.has_value());
    EXPECT_NEAR(e->mean, Rate(kDay0 + s * kSlot), 1e-9) << s;
    EXPECT_NEAR(e->stddev, 0.0, 1e-6) << s;
  }
}

TEST(DiurnalBaselineTest, LearnedFractionCountsSlotsWithEnoughSamples) {
  DiurnalBaselineOptions options;
  options.min_samples_per_slot = 2;
  DiurnalBaseline b(options);
  for (uint64_t i = 0; i < 288; ++i) b.Add(1.0, kDay0 + i * kSlot);
  EXPECT_DOUBLE_EQ(b.learned_fraction(), 0.0);  // one sample per slot so far
  for (uint64_t i = 288; i < 288 + 144; ++i) b.Add(1.0, kDay0 + i * kSlot);
  EXPECT_DOUBLE_EQ(b.learned_fraction(), 0.5);
  // Extra samples in an already learned slot do not count twice.
  for (int k = 0; k < 10; ++k) b.Add(1.0, kDay0 + 288 * kSlot + 1);
  EXPECT_DOUBLE_EQ(b.learned_fraction(), 0.5);
}

TEST(DiurnalBaselineTest, ExpectedIsEmptyForAnUnseenSlot) {
  DiurnalBaselineOptions options;
  options.min_history_ns = 60 * kMinute;
  DiurnalBaseline b(options);
  for (uint64_t i = 0; i < 24; ++i) b.Add(50.0, kDay0 + i * kSlot);  // 00:00 to 01:55
  ASSERT_TRUE(b.ready());
  EXPECT_TRUE(b.Expected(kDay0 + 30 * kMinute).has_value());
  EXPECT_FALSE(b.Expected(kDay0 + 18 * 60 * kMinute).has_value());
}

TEST(DiurnalBaselineTest, FreezeKeepsTheAnomalyOut) {
  DiurnalBaseline b;
  for (uint64_t i = 0; i <= 288; ++i) b.Add(Rate(kDay0 + i * kSlot), kDay0 + i * kSlot);
  const uint64_t ts = kDay0 + 288 * kSlot + 10 * kSlot;  // day 2, 00:50
  const double before = b.Expected(ts)->mean;
  b.Freeze();
  EXPECT_TRUE(b.frozen());
  EXPECT_FALSE(b.Add(10'000.0, ts));
  EXPECT_FALSE(b.Add(10'000.0, ts + kSlot));
  EXPECT_EQ(b.frozen_dropped(), 2u);
  EXPECT_EQ(b.Expected(ts)->mean, before);
  EXPECT_EQ(b.samples(), 289u);
  b.Unfreeze();
  EXPECT_TRUE(b.Add(Rate(ts), ts));
  EXPECT_EQ(b.Expected(ts)->samples, 2u);
  EXPECT_NEAR(b.Expected(ts)->mean, before, 1e-9);
}

TEST(DiurnalBaselineTest, OutOfOrderSamplesAreCountedBySlot) {
  DiurnalBaseline b;
  b.Add(1.0, kDay0 + kNsPerDay);
  b.Add(3.0, kDay0);  // same slot, a day earlier
  EXPECT_EQ(b.out_of_order(), 1u);
  EXPECT_TRUE(b.ready());  // history spans first..latest regardless of arrival order
  EXPECT_NEAR(b.Expected(kDay0)->mean, 2.0, 1e-12);
}

}  // namespace
}  // namespace ta::analyzer::stats
