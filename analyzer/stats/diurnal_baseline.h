// DiurnalBaseline: what a per-slot value (e.g. request rate per 5 minutes) normally is at this
// time of day, learned as one Ewma per time-of-day slot.
//
// Why: API traffic follows the working day. A single running mean would flag every morning ramp
// as an anomaly and miss a night-time surge that is still below the daytime mean. Comparing a
// value with the same time of day on previous days is the classic seasonal baseline (the
// seasonal component of Holt-Winters: C. C. Holt 1957, P. R. Winters, "Forecasting sales by
// exponentially weighted moving averages", Management Science 6(3), 1960; applied to network
// monitoring by J. D. Brutlag, "Aberrant behavior detection in time series for network
// monitoring", USENIX LISA 2000). Here each slot keeps its own exponentially weighted mean and
// variance (ewma.h), so the expected band (mean +- k stddev) is per time of day and adapts with
// a half-life measured in days.
//
// Time: ts_ns is wall-clock-like time (ns since the Unix epoch, UTC, or already shifted to local
// time if the day should follow a local timezone). The analyzer has no clock and does no timezone
// conversion: the caller converts its event time (e.g. CLOCK_MONOTONIC plus the boot offset) to
// this scale. The slot is (ts_ns mod 24 h) / slot_ns.
//
// Readiness: ready() once the accepted samples span at least min_history_ns (default 24 h) from
// the first one; before that Expected() returns nothing, so no anomaly is raised against a
// baseline that has not seen a whole day. learned_fraction() is the share of slots holding at
// least min_samples_per_slot samples (progress for an operator).
//
// Freeze()/Unfreeze() as in Ewma: while frozen, Add is ignored and counted, so an active anomaly
// does not teach the baseline that it is normal.
// All slots are allocated in the constructor; Add does not allocate. No exceptions, no clocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "analyzer/stats/ewma.h"

namespace ta::analyzer::stats {

inline constexpr uint64_t kNsPerDay = 24ull * 60 * 60 * 1'000'000'000;

struct DiurnalBaselineOptions {
  // Must divide 24 h and be > 0; otherwise the default is used (see slot_ns()).
  uint64_t slot_ns = 5ull * 60 * 1'000'000'000;  // 288 slots per day
  // Half-life of each slot's Ewma: one sample per slot per day, so 7 days means last week's
  // value at this time weighs half as much as today's.
  uint64_t slot_half_life_ns = 7 * kNsPerDay;
  uint64_t min_history_ns = kNsPerDay;
  uint64_t min_samples_per_slot = 1;  // "learned" threshold for learned_fraction()
  uint64_t slot_min_samples = 2;      // Ewma::min_samples of each slot (for ZScore)
};

struct DiurnalExpectation {
  double mean = 0.0;
  double stddev = 0.0;
  uint64_t samples = 0;  // samples in the slot
};

class DiurnalBaseline {
 public:
  explicit DiurnalBaseline(const DiurnalBaselineOptions& options = {});

  // True when slot_ns is usable (> 0 and divides 24 h).
  static bool ValidSlot(uint64_t slot_ns);

  // Adds one value at wall-clock-like ts_ns into its time-of-day slot. Returns false when frozen
  // (dropped and counted).
  bool Add(double value, uint64_t ts_ns);

  // The slot's mean and stddev for the time of day of ts_ns; nullopt before ready() or when that
  // slot has no sample yet.
  std::optional<DiurnalExpectation> Expected(uint64_t ts_ns) const;

  bool ready() const;
  double learned_fraction() const;

  size_t SlotOf(uint64_t ts_ns) const {
    return static_cast<size_t>((ts_ns % kNsPerDay) / slot_ns_);
  }
  size_t slot_count() const { return slots_.size(); }
  uint64_t slot_ns() const { return slot_ns_; }
  const Ewma& slot(size_t i) const { return slots_[i]; }

  void Freeze() { frozen_ = true; }
  void Unfreeze() { frozen_ = false; }
  bool frozen() const { return frozen_; }
  uint64_t frozen_dropped() const { return frozen_dropped_; }
  uint64_t samples() const { return samples_; }
  uint64_t out_of_order() const;

  // Persistence (analyzer/state/codec.h): slot length and count (the shape), every slot's Ewma
  // (ewma.h: learned state, not configuration), the sample count, first and latest time and the
  // frozen-drop counter. Load refuses (false, *this unchanged, the Reader says why) a snapshot
  // with another slot length or count, or whose sample count differs from the sum over the
  // slots. The frozen flag is not saved (see Ewma::Save); learned_fraction() is recomputed with
  // this object's min_samples_per_slot, and min_history_ns stays as configured.
  void Save(state::Writer& out) const;
  bool Load(state::Reader& in);

 private:
  uint64_t slot_ns_;
  uint64_t min_history_ns_;
  uint64_t min_samples_per_slot_;
  std::vector<Ewma> slots_;
  size_t learned_slots_ = 0;
  uint64_t samples_ = 0;
  uint64_t first_ts_ns_ = 0;
  uint64_t last_ts_ns_ = 0;  // latest seen
  bool frozen_ = false;
  uint64_t frozen_dropped_ = 0;
};

}  // namespace ta::analyzer::stats
