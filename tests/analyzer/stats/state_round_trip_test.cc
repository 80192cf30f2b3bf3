// Save/Load of every statistics class (analyzer/state/codec.h): a restored object behaves exactly
// like the original for the same further inputs (same outputs, same bytes when saved again), a
// snapshot of another shape is refused, every truncation is refused, and a refused Load leaves
// the object as it was.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "analyzer/state/codec.h"
#include "analyzer/stats/burn_rate.h"
#include "analyzer/stats/diurnal_baseline.h"
#include "analyzer/stats/ewma.h"
#include "analyzer/stats/heavy_hitters.h"
#include "analyzer/stats/hyperloglog.h"
#include "analyzer/stats/quantile_sketch.h"

namespace ta::analyzer::stats {
namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kHour = 3600ull * 1'000'000'000;

template <typename T>
std::string Saved(const T& object) {
  state::Writer w;
  object.Save(w);
  return w.Take();
}

// Loads `bytes` into `object`; expects success and that every byte was consumed.
template <typename T>
void LoadOk(T& object, const std::string& bytes) {
  state::Reader r(bytes);
  ASSERT_TRUE(object.Load(r)) << r.error();
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.AtEnd());
}

// Loads `bytes` into a copy of `fresh`; expects refusal with `error` (when not empty) and the
// copy unchanged.
template <typename T>
void ExpectRefused(const T& fresh, const std::string& bytes, const std::string& error) {
  T object = fresh;
  state::Reader r(bytes);
  EXPECT_FALSE(object.Load(r));
  EXPECT_FALSE(r.ok());
  if (!error.empty()) {
    EXPECT_EQ(r.error(), error);
  }
  EXPECT_EQ(Saved(object), Saved(fresh));
}

// Every strict prefix of a valid encoding is refused and leaves the target unchanged.
template <typename T>
void ExpectEveryTruncationRefused(const T& target, const std::string& bytes) {
  const std::string before = Saved(target);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    T object = target;
    state::Reader r(std::string_view(bytes).substr(0, cut));
    ASSERT_FALSE(object.Load(r)) << "cut at " << cut;
    ASSERT_EQ(Saved(object), before) << "cut at " << cut;
  }
}

// Seeded random byte flips: Load may accept a flip that still describes a valid state, but a
// refused Load must leave the target unchanged, and nothing may read out of bounds.
template <typename T>
void ExpectGarbageHandled(const T& target, const std::string& bytes, uint64_t seed) {
  const std::string before = Saved(target);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 300; ++round) {
    std::string bad = bytes;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      bad[rng() % bad.size()] = static_cast<char>(rng());
    }
    T object = target;
    state::Reader r(bad);
    if (!object.Load(r)) {
      EXPECT_EQ(Saved(object), before) << "round " << round;
    }
  }
}

void OverwriteU64(std::string& bytes, size_t offset, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) bytes[offset + i] = static_cast<char>(v >> (8 * i));
}

// ---------------------------------------------------------------------------------------------
// Ewma

void FeedEwma(Ewma& e, uint64_t seed, int n, uint64_t start) {
  std::mt19937_64 rng(seed);
  uint64_t t = start;
  for (int i = 0; i < n; ++i) {
    t += rng() % (20 * kMs);
    // Every tenth sample arrives late.
    const uint64_t ts = i % 10 == 9 ? t - 30 * kMs : t;
    e.Add(static_cast<double>(rng() % 1000) / 7.0, ts);
  }
}

void ExpectSameEwma(const Ewma& a, const Ewma& b) {
  EXPECT_EQ(a.mean(), b.mean());
  EXPECT_EQ(a.variance(), b.variance());
  EXPECT_EQ(a.weight(), b.weight());
  EXPECT_EQ(a.samples(), b.samples());
  EXPECT_EQ(a.last_ts_ns(), b.last_ts_ns());
  EXPECT_EQ(a.out_of_order(), b.out_of_order());
  EXPECT_EQ(a.frozen_dropped(), b.frozen_dropped());
  EXPECT_EQ(a.ZScore(42.0), b.ZScore(42.0));
}

TEST(EwmaStateTest, RoundTripBehavesIdentically) {
  Ewma original(50 * kMs, 4);
  FeedEwma(original, 1, 200, 1000 * kMs);
  original.Freeze();
  original.Add(1.0, 1);  // dropped and counted
  original.Unfreeze();
  const std::string bytes = Saved(original);
  EXPECT_EQ(bytes.size(), 4u + 7 * 8);

  Ewma restored(50 * kMs, 4);
  LoadOk(restored, bytes);
  ExpectSameEwma(original, restored);
  EXPECT_EQ(restored.frozen_dropped(), 1u);
  FeedEwma(original, 2, 100, original.last_ts_ns());
  FeedEwma(restored, 2, 100, restored.last_ts_ns());
  ExpectSameEwma(original, restored);
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(EwmaStateTest, EmptyRoundTrips) {
  Ewma restored(kMs);
  LoadOk(restored, Saved(Ewma(kMs)));
  EXPECT_EQ(restored.samples(), 0u);
  EXPECT_EQ(restored.mean(), 0.0);
}

TEST(EwmaStateTest, FrozenFlagAndConfigurationAreNotRestored) {
  Ewma original(50 * kMs, 4);
  FeedEwma(original, 3, 20, 0);
  original.Freeze();
  Ewma restored(100 * kMs, 2);  // another half-life: the configuration stays as constructed
  LoadOk(restored, Saved(original));
  EXPECT_FALSE(restored.frozen());
  EXPECT_EQ(restored.half_life_ns(), 100 * kMs);
  EXPECT_EQ(restored.min_samples(), 2u);
  EXPECT_EQ(restored.mean(), original.mean());
}

TEST(EwmaStateTest, ImpossibleValuesAreRefused) {
  const Ewma fresh(kMs);
  auto encode = [](double weight, double mean, double m2, uint64_t samples, uint64_t last,
                   uint64_t ooo) {
    state::Writer w;
    w.Tag("EWMA");
    w.F64(weight);
    w.F64(mean);
    w.F64(m2);
    w.U64(samples);
    w.U64(last);
    w.U64(0);
    w.U64(ooo);
    return w.Take();
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  ExpectRefused(fresh, encode(1.0, nan, 0.0, 1, 5, 0),
                "ewma: non-finite weight, mean or squared deviation");
  ExpectRefused(fresh, encode(1.0, 2.0, inf, 1, 5, 0),
                "ewma: non-finite weight, mean or squared deviation");
  ExpectRefused(fresh, encode(3.5, 2.0, 0.0, 3, 5, 0),
                "ewma: weight 3.500000 inconsistent with 3 samples");
  ExpectRefused(fresh, encode(-1.0, 2.0, 0.0, 3, 5, 0),
                "ewma: weight -1.000000 inconsistent with 3 samples");
  ExpectRefused(fresh, encode(0.0, 2.0, 0.0, 0, 0, 0),
                "ewma: weight 0.000000 inconsistent with 0 samples");
  ExpectRefused(fresh, encode(1.0, 2.0, 0.0, 2, 5, 3),
                "ewma: more out-of-order samples than samples");
  ExpectRefused(fresh, "EWMB" + encode(1.0, 2.0, 0.0, 2, 5, 0).substr(4),
                "expected section \"EWMA\" at offset 0, found \"EWMB\"");
  // A valid one for contrast.
  Ewma ok(kMs);
  LoadOk(ok, encode(1.5, 2.0, 0.25, 2, 5, 1));
  EXPECT_EQ(ok.mean(), 2.0);
  EXPECT_EQ(ok.variance(), 0.25 / 1.5);
}

TEST(EwmaStateTest, TruncationsAndGarbage) {
  Ewma original(50 * kMs, 4);
  FeedEwma(original, 4, 50, 0);
  const std::string bytes = Saved(original);
  ExpectEveryTruncationRefused(Ewma(kMs), bytes);
  ExpectGarbageHandled(Ewma(kMs), bytes, 4);
}

// ---------------------------------------------------------------------------------------------
// DiurnalBaseline

DiurnalBaselineOptions HourlySlots() {
  DiurnalBaselineOptions o;
  o.slot_ns = kHour;  // 24 slots
  o.slot_half_life_ns = 2 * kNsPerDay;
  o.min_history_ns = kNsPerDay;
  o.min_samples_per_slot = 2;
  return o;
}

void FeedDiurnal(DiurnalBaseline& d, uint64_t seed, uint64_t from, uint64_t to, uint64_t step) {
  std::mt19937_64 rng(seed);
  for (uint64_t t = from; t < to; t += step) {
    const double hour = static_cast<double>(t % kNsPerDay) / static_cast<double>(kHour);
    d.Add(100.0 + 50.0 * std::sin(hour / 24.0 * 6.283185307179586) +
              static_cast<double>(rng() % 100) / 10.0,
          t);
  }
}

void ExpectSameDiurnal(const DiurnalBaseline& a, const DiurnalBaseline& b, uint64_t day_start) {
  EXPECT_EQ(a.ready(), b.ready());
  EXPECT_EQ(a.learned_fraction(), b.learned_fraction());
  EXPECT_EQ(a.samples(), b.samples());
  EXPECT_EQ(a.out_of_order(), b.out_of_order());
  EXPECT_EQ(a.frozen_dropped(), b.frozen_dropped());
  for (uint64_t t = day_start; t < day_start + kNsPerDay; t += kHour / 2) {
    const auto ea = a.Expected(t);
    const auto eb = b.Expected(t);
    ASSERT_EQ(ea.has_value(), eb.has_value());
    if (!ea) continue;
    EXPECT_EQ(ea->mean, eb->mean);
    EXPECT_EQ(ea->stddev, eb->stddev);
    EXPECT_EQ(ea->samples, eb->samples);
  }
}

TEST(DiurnalBaselineStateTest, RoundTripBehavesIdentically) {
  const uint64_t day0 = 20000 * kNsPerDay;  // a wall-clock-like epoch time
  DiurnalBaseline original(HourlySlots());
  FeedDiurnal(original, 1, day0, day0 + 2 * kNsPerDay + 5 * kHour, kHour / 3);
  original.Add(1.0, day0 + kHour);  // late
  original.Freeze();
  original.Add(1.0, day0 + 3 * kNsPerDay);
  original.Unfreeze();
  ASSERT_TRUE(original.ready());

  DiurnalBaseline restored(HourlySlots());
  LoadOk(restored, Saved(original));
  ExpectSameDiurnal(original, restored, day0);
  EXPECT_EQ(restored.frozen_dropped(), 1u);
  EXPECT_GT(restored.out_of_order(), 0u);

  FeedDiurnal(original, 2, day0 + 3 * kNsPerDay, day0 + 4 * kNsPerDay, kHour / 4);
  FeedDiurnal(restored, 2, day0 + 3 * kNsPerDay, day0 + 4 * kNsPerDay, kHour / 4);
  ExpectSameDiurnal(original, restored, day0);
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(DiurnalBaselineStateTest, NotReadyStaysNotReady) {
  DiurnalBaseline original(HourlySlots());
  FeedDiurnal(original, 3, kNsPerDay, kNsPerDay + 5 * kHour, kHour);
  DiurnalBaseline restored(HourlySlots());
  LoadOk(restored, Saved(original));
  EXPECT_FALSE(restored.ready());
  EXPECT_EQ(restored.learned_fraction(), 0.0);  // one sample per slot, two needed
  FeedDiurnal(restored, 4, kNsPerDay + 5 * kHour, 2 * kNsPerDay + 5 * kHour, kHour);
  EXPECT_TRUE(restored.ready());
  EXPECT_EQ(restored.learned_fraction(), 5.0 / 24.0);  // hours 0-4 were seen twice
}

TEST(DiurnalBaselineStateTest, OtherSlotCountIsRefused) {
  DiurnalBaseline original(HourlySlots());
  FeedDiurnal(original, 5, 0, kNsPerDay, kHour);
  DiurnalBaselineOptions other = HourlySlots();
  other.slot_ns = kHour / 2;
  ExpectRefused(DiurnalBaseline(other), Saved(original),
                "diurnal baseline: snapshot has 24 slots of 3600000000000 ns, configured 48 slots "
                "of 1800000000000 ns");
}

TEST(DiurnalBaselineStateTest, SampleCountMustMatchTheSlots) {
  DiurnalBaseline original(HourlySlots());
  FeedDiurnal(original, 6, 0, kNsPerDay, kHour);
  std::string bytes = Saved(original);
  // Layout tail: samples, first, latest, frozen_dropped (8 bytes each).
  OverwriteU64(bytes, bytes.size() - 32, 25);
  ExpectRefused(DiurnalBaseline(HourlySlots()), bytes,
                "diurnal baseline: 25 samples but the slots hold 24");
  bytes = Saved(original);
  OverwriteU64(bytes, bytes.size() - 24, kNsPerDay);  // first after latest
  ExpectRefused(DiurnalBaseline(HourlySlots()), bytes,
                "diurnal baseline: first time after latest time");
}

TEST(DiurnalBaselineStateTest, TruncationsAndGarbage) {
  DiurnalBaselineOptions small = HourlySlots();
  small.slot_ns = 6 * kHour;  // 4 slots keep the every-prefix loop short
  DiurnalBaseline original(small);
  FeedDiurnal(original, 7, 0, 2 * kNsPerDay, kHour);
  const std::string bytes = Saved(original);
  ExpectEveryTruncationRefused(DiurnalBaseline(small), bytes);
  ExpectGarbageHandled(DiurnalBaseline(small), bytes, 7);
}

// ---------------------------------------------------------------------------------------------
// QuantileSketch

void ExpectSameSketch(const QuantileSketch& a, const QuantileSketch& b) {
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.zero_count(), b.zero_count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.rejected(), b.rejected());
  EXPECT_EQ(a.collapsed_count(), b.collapsed_count());
  EXPECT_EQ(a.bucket_count(), b.bucket_count());
  if (a.bucket_count() > 0) {
    EXPECT_EQ(a.lowest_index(), b.lowest_index());
    EXPECT_EQ(a.highest_index(), b.highest_index());
    for (int32_t k = a.lowest_index(); k <= a.highest_index(); ++k) {
      ASSERT_EQ(a.BucketCount(k), b.BucketCount(k)) << k;
    }
  }
  for (int i = 0; i <= 100; ++i) {
    const double q = i / 100.0;
    EXPECT_EQ(a.Quantile(q), b.Quantile(q)) << q;
  }
}

void FeedSketch(QuantileSketch& s, uint64_t seed, int n, double lo_exp, double hi_exp) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> exponent(lo_exp, hi_exp);
  for (int i = 0; i < n; ++i) {
    s.Add(i % 17 == 0 ? 0.0 : std::pow(10.0, exponent(rng)));
  }
  s.Add(-1.0);  // rejected
}

TEST(QuantileSketchStateTest, RoundTripBehavesIdentically) {
  QuantileSketch original;
  FeedSketch(original, 1, 5000, -4, 1);  // 0.1 ms .. 10 s
  QuantileSketch restored;
  LoadOk(restored, Saved(original));
  ExpectSameSketch(original, restored);
  FeedSketch(original, 2, 1000, -6, 3);
  FeedSketch(restored, 2, 1000, -6, 3);
  ExpectSameSketch(original, restored);
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(QuantileSketchStateTest, CollapsedSketchKeepsCollapsing) {
  // 64 buckets at alpha 1 % cover a ratio of about 3.6; values over 12 decades collapse.
  QuantileSketch original(0.01, 64);
  FeedSketch(original, 3, 3000, -6, 0);
  ASSERT_TRUE(original.collapsed());
  QuantileSketch restored(0.01, 64);
  LoadOk(restored, Saved(original));
  ExpectSameSketch(original, restored);
  // Further values above the window (collapse upward) and below it (folded into the lowest).
  FeedSketch(original, 4, 500, -9, 3);
  FeedSketch(restored, 4, 500, -9, 3);
  ExpectSameSketch(original, restored);
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(QuantileSketchStateTest, EmptyAndZerosOnly) {
  QuantileSketch restored;
  LoadOk(restored, Saved(QuantileSketch()));
  EXPECT_EQ(restored.count(), 0u);
  EXPECT_EQ(restored.Quantile(0.5), std::nullopt);
  QuantileSketch zeros;
  zeros.Add(0.0, 5);
  LoadOk(restored, Saved(zeros));
  EXPECT_EQ(restored.count(), 5u);
  EXPECT_EQ(restored.Quantile(0.99), 0.0);
  restored.Add(2.0);
  zeros.Add(2.0);
  ExpectSameSketch(zeros, restored);
}

TEST(QuantileSketchStateTest, OtherShapeIsRefused) {
  QuantileSketch original(0.01, 2048);
  FeedSketch(original, 5, 100, -3, 0);
  ExpectRefused(QuantileSketch(0.02, 2048), Saved(original),
                "quantile sketch: snapshot has relative accuracy 0.010000 and 2048 buckets, "
                "configured 0.020000 and 2048");
  ExpectRefused(QuantileSketch(0.01, 1024), Saved(original),
                "quantile sketch: snapshot has relative accuracy 0.010000 and 2048 buckets, "
                "configured 0.010000 and 1024");
}

TEST(QuantileSketchStateTest, InconsistentCountsAreRefused) {
  QuantileSketch original;
  original.Add(0.0);
  original.Add(1.0);
  original.Add(2.0);
  const std::string good = Saved(original);
  // Layout: tag 4, alpha 8, max_buckets 4, count 8 (offset 16), zeros 8 (24), min 8 (32),
  // max 8 (40), ...
  std::string bytes = good;
  OverwriteU64(bytes, 16, 4);
  ExpectRefused(QuantileSketch(), bytes,
                "quantile sketch: count 4, zeros 1, bucket total 2, min 0.000000, max 2.000000 "
                "do not agree");
  bytes = good;
  OverwriteU64(bytes, 32, std::bit_cast<uint64_t>(std::numeric_limits<double>::quiet_NaN()));
  ExpectRefused(QuantileSketch(), bytes, "");
  bytes = good;
  OverwriteU64(bytes, 32, std::bit_cast<uint64_t>(0.5));  // zeros present but min 0.5
  ExpectRefused(QuantileSketch(), bytes, "");
}

TEST(QuantileSketchStateTest, TruncationsAndGarbage) {
  QuantileSketch original(0.01, 128);
  FeedSketch(original, 6, 300, -2, 0);
  const std::string bytes = Saved(original);
  ExpectEveryTruncationRefused(QuantileSketch(0.01, 128), bytes);
  ExpectGarbageHandled(QuantileSketch(0.01, 128), bytes, 6);
}

// ---------------------------------------------------------------------------------------------
// HyperLogLog

void FeedHll(HyperLogLog& h, uint64_t first, uint64_t n) {
  for (uint64_t i = first; i < first + n; ++i) h.Add(Mix64(i * 0x9e3779b97f4a7c15ULL + 1));
}

TEST(HyperLogLogStateTest, ExactModeRoundTripThenConversion) {
  HyperLogLog original(12, 64);
  FeedHll(original, 0, 30);
  ASSERT_TRUE(original.exact());
  HyperLogLog restored(12, 64);
  LoadOk(restored, Saved(original));
  EXPECT_TRUE(restored.exact());
  EXPECT_EQ(restored.Estimate(), 30.0);
  FeedHll(original, 20, 200);  // overlaps, then converts to registers
  FeedHll(restored, 20, 200);
  EXPECT_FALSE(restored.exact());
  EXPECT_EQ(original.Estimate(), restored.Estimate());
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(HyperLogLogStateTest, RegisterModeRoundTrip) {
  HyperLogLog original(10, 16);
  FeedHll(original, 0, 20000);
  HyperLogLog restored(10, 16);
  const std::string bytes = Saved(original);
  EXPECT_EQ(bytes.size(), 4u + 1 + 1 + 4 + 1024);
  LoadOk(restored, bytes);
  EXPECT_EQ(original.Estimate(), restored.Estimate());
  FeedHll(original, 100000, 5000);
  FeedHll(restored, 100000, 5000);
  EXPECT_EQ(original.Estimate(), restored.Estimate());
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(HyperLogLogStateTest, LoweredExactLimitConvertsToRegisters) {
  HyperLogLog original(12, 64);
  FeedHll(original, 0, 30);
  HyperLogLog restored(12, 10);
  LoadOk(restored, Saved(original));
  EXPECT_FALSE(restored.exact());
  HyperLogLog direct(12, 10);
  FeedHll(direct, 0, 30);
  EXPECT_EQ(restored.Estimate(), direct.Estimate());
  EXPECT_EQ(Saved(restored), Saved(direct));
}

TEST(HyperLogLogStateTest, OtherPrecisionAndBadValuesAreRefused) {
  HyperLogLog original(12, 64);
  FeedHll(original, 0, 5);
  ExpectRefused(HyperLogLog(14, 64), Saved(original),
                "hyperloglog: snapshot precision 12, configured 14");

  state::Writer unsorted;
  unsorted.Tag("HLL");
  unsorted.U8(12);
  unsorted.U8(0);
  unsorted.U32(2);
  unsorted.U64(9);
  unsorted.U64(9);
  ExpectRefused(HyperLogLog(12, 64), unsorted.Take(),
                "hyperloglog: exact hashes not sorted and distinct");

  state::Writer high;
  high.Tag("HLL");
  high.U8(4);
  high.U8(1);
  std::vector<uint8_t> regs(16, 1);
  regs[3] = 62;  // 64 - 4 + 1 = 61 is the largest rank
  high.Bytes(regs);
  ExpectRefused(HyperLogLog(4, 0), high.Take(),
                "hyperloglog: 16 registers (expected 16) or a register above 61");

  state::Writer short_regs;
  short_regs.Tag("HLL");
  short_regs.U8(4);
  short_regs.U8(1);
  short_regs.Bytes(std::vector<uint8_t>(15, 1));
  ExpectRefused(HyperLogLog(4, 0), short_regs.Take(),
                "hyperloglog: 15 registers (expected 16) or a register above 61");

  state::Writer mode;
  mode.Tag("HLL");
  mode.U8(4);
  mode.U8(2);
  ExpectRefused(HyperLogLog(4, 0), mode.Take(), "hyperloglog: unknown mode 2");
}

TEST(HyperLogLogStateTest, TruncationsAndGarbage) {
  HyperLogLog exact(6, 64);
  FeedHll(exact, 0, 40);
  ExpectEveryTruncationRefused(HyperLogLog(6, 64), Saved(exact));
  ExpectGarbageHandled(HyperLogLog(6, 64), Saved(exact), 8);
  HyperLogLog regs(6, 0);
  FeedHll(regs, 0, 1000);
  ExpectEveryTruncationRefused(HyperLogLog(6, 0), Saved(regs));
  ExpectGarbageHandled(HyperLogLog(6, 0), Saved(regs), 9);
}

// ---------------------------------------------------------------------------------------------
// BurnRateTracker

void FeedBurn(BurnRateTracker& b, uint64_t seed, uint64_t from, uint64_t to) {
  std::mt19937_64 rng(seed);
  for (uint64_t t = from; t < to; t += 7 * 1'000'000'000ULL) {
    const uint64_t bad = rng() % 10 == 0 ? rng() % 5 : 0;
    b.Add(t, rng() % 50, bad);
    if (rng() % 20 == 0 && t > 400 * kNsPerMinute) b.Add(t - 400 * kNsPerMinute, 1, 1);  // late
  }
}

void ExpectSameBurn(const BurnRateTracker& a, const BurnRateTracker& b) {
  for (uint32_t w : {1U, 5U, 30U, 60U, 360U, 4320U, 10000U}) {
    EXPECT_EQ(a.ErrorRatio(w), b.ErrorRatio(w)) << w;
  }
  const BurnRateAlerts x = a.Evaluate();
  const BurnRateAlerts y = b.Evaluate();
  EXPECT_EQ(x.page_fast, y.page_fast);
  EXPECT_EQ(x.page_slow, y.page_slow);
  EXPECT_EQ(x.ticket, y.ticket);
  EXPECT_EQ(a.late_dropped_events(), b.late_dropped_events());
}

TEST(BurnRateStateTest, RoundTripBehavesIdentically) {
  BurnRateConfig config;
  config.ticket_long_minutes = 120;  // the ring is 6 hours (slow_long_minutes)
  config.ticket_short_minutes = 60;
  const uint64_t t0 = 29'000'000 * kNsPerMinute;
  BurnRateTracker original(config);
  FeedBurn(original, 1, t0, t0 + 3 * kHour);
  ASSERT_GT(original.late_dropped_events(), 0u);
  BurnRateTracker restored(config);
  LoadOk(restored, Saved(original));
  ExpectSameBurn(original, restored);
  // The daemon was down for 40 minutes: the next events clear the minutes in between.
  FeedBurn(original, 2, t0 + 3 * kHour + 40 * kNsPerMinute, t0 + 4 * kHour);
  FeedBurn(restored, 2, t0 + 3 * kHour + 40 * kNsPerMinute, t0 + 4 * kHour);
  ExpectSameBurn(original, restored);
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(BurnRateStateTest, DefaultRingAndUnstarted) {
  BurnRateTracker unstarted;
  BurnRateTracker restored;
  LoadOk(restored, Saved(unstarted));
  EXPECT_EQ(restored.ErrorRatio(60), 0.0);
  BurnRateTracker original;
  original.Add(10 * kNsPerMinute, 90, 10);
  original.Add(11 * kNsPerMinute, 100, 0);
  const std::string bytes = Saved(original);
  EXPECT_EQ(bytes.size(), 4u + 4 + 1 + 8 + 8 + 4 + 2 * 20);  // sparse: two minutes
  LoadOk(restored, bytes);
  EXPECT_EQ(restored.ErrorRatio(5), 10.0 / 200.0);
  EXPECT_EQ(restored.ErrorRatio(1), 0.0);
}

TEST(BurnRateStateTest, OtherRingAndBadMinutesAreRefused) {
  BurnRateTracker original;  // 4320-minute ring
  original.Add(kNsPerMinute, 1, 1);
  BurnRateConfig shorter;
  shorter.ticket_long_minutes = 720;
  ExpectRefused(BurnRateTracker(shorter), Saved(original),
                "burn rate: snapshot ring of 4320 minutes, configured 720");

  auto encode = [](bool started, uint64_t newest, std::vector<std::array<uint64_t, 3>> minutes) {
    state::Writer w;
    w.Tag("BURN");
    w.U32(4320);
    w.Bool(started);
    w.U64(newest);
    w.U64(0);
    w.U32(static_cast<uint32_t>(minutes.size()));
    for (const auto& m : minutes) {
      w.U32(static_cast<uint32_t>(m[0]));
      w.U64(m[1]);
      w.U64(m[2]);
    }
    return w.Take();
  };
  const BurnRateTracker fresh;
  ExpectRefused(fresh, encode(false, 0, {{1, 1, 0}}),
                "burn rate: events in a tracker that never started");
  ExpectRefused(fresh, encode(true, 5, {{4320, 1, 0}}),
                "burn rate: minute 0 at ring position 4320 is out of order, out of range or "
                "empty");
  ExpectRefused(fresh, encode(true, 5, {{3, 1, 0}, {3, 1, 0}}),
                "burn rate: minute 1 at ring position 3 is out of order, out of range or empty");
  ExpectRefused(fresh, encode(true, 5, {{3, 0, 0}}),
                "burn rate: minute 0 at ring position 3 is out of order, out of range or empty");
  BurnRateTracker ok;
  LoadOk(ok, encode(true, 5, {{4, 3, 1}, {5, 0, 4}}));
  EXPECT_EQ(ok.ErrorRatio(2), 5.0 / 8.0);
}

TEST(BurnRateStateTest, TruncationsAndGarbage) {
  BurnRateConfig config;
  config.ticket_long_minutes = 60;
  config.ticket_short_minutes = 30;
  config.slow_long_minutes = 60;
  BurnRateTracker original(config);
  FeedBurn(original, 3, 0, kHour / 3);
  const std::string bytes = Saved(original);
  ExpectEveryTruncationRefused(BurnRateTracker(config), bytes);
  ExpectGarbageHandled(BurnRateTracker(config), bytes, 3);
}

// ---------------------------------------------------------------------------------------------
// SpaceSaving

std::array<uint8_t, 16> Address(uint32_t n) {
  std::array<uint8_t, 16> a{};
  a[10] = 0xff;
  a[11] = 0xff;  // IPv4-mapped 198.18.x.y
  a[12] = 198;
  a[13] = 18;
  a[14] = static_cast<uint8_t>(n >> 8);
  a[15] = static_cast<uint8_t>(n);
  return a;
}

void FeedAddresses(AddressHeavyHitters& s, uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < n; ++i) {
    // Skewed: small numbers are frequent.
    const auto k = static_cast<uint32_t>((rng() % 64) * (rng() % 64) / 16);
    s.Add(Address(k), 1 + rng() % 3);
  }
}

template <typename Sketch>
void ExpectSameTop(const Sketch& a, const Sketch& b) {
  const auto ta = a.Top(a.capacity());
  const auto tb = b.Top(b.capacity());
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    EXPECT_EQ(ta[i].key, tb[i].key) << i;
    EXPECT_EQ(ta[i].count, tb[i].count) << i;
    EXPECT_EQ(ta[i].error, tb[i].error) << i;
  }
  EXPECT_EQ(a.total(), b.total());
  EXPECT_EQ(a.MinCount(), b.MinCount());
}

TEST(SpaceSavingStateTest, AddressRoundTripBehavesIdentically) {
  AddressHeavyHitters original(8);
  FeedAddresses(original, 1, 3000);
  AddressHeavyHitters restored(8);
  LoadOk(restored, Saved(original));
  ExpectSameTop(original, restored);
  ASSERT_NE(restored.Find(original.Top(1)[0].key), nullptr);
  FeedAddresses(original, 2, 1000);
  FeedAddresses(restored, 2, 1000);
  ExpectSameTop(original, restored);
  EXPECT_EQ(Saved(original), Saved(restored));
}

TEST(SpaceSavingStateTest, StringKeysAndNotYetFull) {
  SpaceSaving<std::string> original(4);
  original.Add("/api/users/{id}", 5);
  original.Add("/login", 2);
  SpaceSaving<std::string> restored(4);
  LoadOk(restored, Saved(original));
  ExpectSameTop(original, restored);
  EXPECT_EQ(restored.MinCount(), 0u);
  for (const char* k : {"/a", "/b", "/c", "/login", "/d"}) {
    original.Add(k);
    restored.Add(k);
  }
  ExpectSameTop(original, restored);
}

TEST(SpaceSavingStateTest, CustomKeyCodec) {
  SpaceSaving<uint32_t> original(3);
  for (uint32_t i = 0; i < 50; ++i) original.Add(i % 7, i);
  auto encode = [](state::Writer& w, const uint32_t& k) { w.U32(k); };
  auto decode = [](state::Reader& r, uint32_t& k) {
    k = r.U32();
    return r.ok();
  };
  state::Writer w;
  original.Save(w, encode);
  SpaceSaving<uint32_t> restored(3);
  state::Reader r(w.data());
  ASSERT_TRUE(restored.Load(r, decode)) << r.error();
  EXPECT_TRUE(r.AtEnd());
  ExpectSameTop(original, restored);
}

// Hand-made SpaceSaving<std::string> encodings.
std::string EncodeCounters(uint32_t capacity, uint64_t total,
                           const std::vector<std::tuple<std::string, uint64_t, uint64_t>>& c) {
  state::Writer w;
  w.Tag("SPSV");
  w.U32(capacity);
  w.U64(total);
  w.U32(static_cast<uint32_t>(c.size()));
  for (const auto& [key, count, error] : c) {
    w.String(key);
    w.U64(count);
    w.U64(error);
  }
  return w.Take();
}

TEST(SpaceSavingStateTest, InconsistentCountersAreRefused) {
  const SpaceSaving<std::string> fresh(3);
  ExpectRefused(SpaceSaving<std::string>(4), EncodeCounters(3, 1, {{"a", 1, 0}}),
                "heavy hitters: snapshot capacity 3, configured 4");
  ExpectRefused(fresh, EncodeCounters(3, 4, {{"a", 1, 0}, {"b", 1, 0}, {"c", 1, 0}, {"d", 1, 0}}),
                "heavy hitters: 4 counters, capacity 3");
  ExpectRefused(fresh, EncodeCounters(3, 3, {{"a", 1, 0}, {"a", 2, 0}}),
                "heavy hitters: counter 1 is empty, repeated, out of heap order, overflows or "
                "has error above count");
  ExpectRefused(fresh, EncodeCounters(3, 3, {{"a", 2, 0}, {"b", 1, 0}}),  // not a min-heap
                "heavy hitters: counter 1 is empty, repeated, out of heap order, overflows or "
                "has error above count");
  ExpectRefused(fresh, EncodeCounters(3, 2, {{"a", 2, 3}}),
                "heavy hitters: counter 0 is empty, repeated, out of heap order, overflows or "
                "has error above count");
  ExpectRefused(fresh, EncodeCounters(3, 9, {{"a", 1, 0}, {"b", 2, 0}}),
                "heavy hitters: counts sum to 3, total 9");
  const std::string short_key = [] {
    state::Writer w;
    w.Tag("SPSV");
    w.U32(2);
    w.U64(1);
    w.U32(1);
    w.String("abc");  // 3 bytes where an address needs 16
    w.U64(1);
    w.U64(0);
    return w.Take();
  }();
  ExpectRefused(AddressHeavyHitters(2), short_key, "key of 3 bytes, expected 16");
  SpaceSaving<std::string> ok(3);
  LoadOk(ok, EncodeCounters(3, 5, {{"a", 1, 0}, {"b", 4, 1}}));
  EXPECT_EQ(ok.Top(1)[0].key, "b");
}

TEST(SpaceSavingStateTest, TruncationsAndGarbage) {
  AddressHeavyHitters original(4);
  FeedAddresses(original, 3, 200);
  const std::string bytes = Saved(original);
  ExpectEveryTruncationRefused(AddressHeavyHitters(4), bytes);
  ExpectGarbageHandled(AddressHeavyHitters(4), bytes, 5);
}

// Sections in sequence, as the engine writes them: a misplaced section is caught by its tag.
TEST(StatsStateTest, SectionsInSequenceAndMisplaced) {
  Ewma e(kMs);
  e.Add(1.0, 1);
  HyperLogLog h;
  h.Add(5);
  state::Writer w;
  e.Save(w);
  h.Save(w);
  Ewma e2(kMs);
  HyperLogLog h2;
  state::Reader r(w.data());
  EXPECT_TRUE(e2.Load(r));
  EXPECT_TRUE(h2.Load(r));
  EXPECT_TRUE(r.AtEnd());
  state::Reader swapped(w.data());
  EXPECT_FALSE(h2.Load(swapped));
  EXPECT_EQ(swapped.error(), "expected section \"HLL \" at offset 0, found \"EWMA\"");
}

}  // namespace
}  // namespace ta::analyzer::stats
