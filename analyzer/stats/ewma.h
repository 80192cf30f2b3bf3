// Ewma: exponentially weighted mean and variance over samples at irregular event times, with the
// forgetting rate given as a half-life (a duration, not a per-sample factor).
//
// Why: request rates, latencies and sizes arrive at irregular times (bursts, idle periods), so a
// per-sample smoothing factor would forget faster in busy periods than in quiet ones. Weighting
// each sample by 0.5^(age / half_life) makes the memory a property of time: a sample one
// half-life old counts half as much as a new one, whatever happened in between.
//
// Definition. For accepted samples x_i at times t_i and the latest time T, with weights
// w_i = 0.5^((T - t_i) / half_life):
//     mean     = sum(w_i x_i) / sum(w_i)
//     variance = sum(w_i (x_i - mean)^2) / sum(w_i)   (population form, reliability weights)
// computed incrementally: before each sample the accumulated weight W and sum of squared
// deviations S are multiplied by the decay 0.5^(dt / half_life), then West's weighted update
// with weight 1 is applied:
//     W += 1;  d = x - mean;  mean += d / W;  S += d * (x - mean)
// Sources: D. H. D. West, "Updating mean and variance estimates: an improved method", CACM 22(9),
// 1979; T. Finch, "Incremental calculation of weighted mean and variance", University of
// Cambridge Computing Service, 2009, §4 (weighted incremental algorithm) and §5.1 (exponentially
// weighted variance). West's form avoids the cancellation of the sum-of-squares formula.
//
// Out-of-order samples (ts earlier than the latest seen) are applied with weight 1 and no decay
// (the clock never moves backwards) and counted in out_of_order(). While frozen (Freeze()), Add
// is ignored and counted in frozen_dropped(): the baseline is frozen while its own anomaly is
// active, so the anomaly does not become the new normal.
//
// ZScore(x) = (x - mean) / stddev, and 0 when variance is 0 or fewer than min_samples samples
// have been accepted (a z-score from two samples is noise, not evidence).
// No clocks (time is passed in by the caller, event time), no allocation, no exceptions.
#pragma once

#include <cstdint>

namespace ta::analyzer::state {
class Reader;
class Writer;
}  // namespace ta::analyzer::state

namespace ta::analyzer::stats {

class Ewma {
 public:
  static constexpr uint64_t kDefaultMinSamples = 8;

  // half_life_ns 0 is treated as 1 ns (a zero half-life would divide by zero).
  explicit Ewma(uint64_t half_life_ns, uint64_t min_samples = kDefaultMinSamples);

  // Adds one sample at event time ts_ns. Returns false when frozen (the sample is dropped).
  bool Add(double value, uint64_t ts_ns);

  double mean() const { return mean_; }
  double variance() const;
  double stddev() const;
  double ZScore(double value) const;

  // Accepted samples (not decayed; for the ZScore minimum and "learned" thresholds).
  uint64_t samples() const { return samples_; }
  // Sum of the decayed weights as of the latest sample time.
  double weight() const { return weight_; }
  uint64_t last_ts_ns() const { return last_ts_ns_; }
  uint64_t half_life_ns() const { return half_life_ns_; }
  uint64_t min_samples() const { return min_samples_; }

  void Freeze() { frozen_ = true; }
  void Unfreeze() { frozen_ = false; }
  bool frozen() const { return frozen_; }
  uint64_t frozen_dropped() const { return frozen_dropped_; }
  uint64_t out_of_order() const { return out_of_order_; }

  // Persistence (analyzer/state/codec.h): the learned state (weight, mean, squared deviations,
  // samples, latest time) and the counters. Not saved: the configuration (half-life,
  // min_samples: the constructor's values stay in force, so a changed half-life applies to the
  // restored history from then on) and the frozen flag (it belongs to an active anomaly, and
  // active anomalies are not restored). Load returns false and leaves *this unchanged when a
  // value is impossible (NaN or infinite, negative weight, weight above the sample count, a
  // non-zero mean without samples) or the input is short; the Reader then says why.
  void Save(state::Writer& out) const;
  bool Load(state::Reader& in);

 private:
  uint64_t half_life_ns_;
  uint64_t min_samples_;
  double weight_ = 0.0;  // W
  double mean_ = 0.0;
  double m2_ = 0.0;  // S: weighted sum of squared deviations
  uint64_t samples_ = 0;
  uint64_t last_ts_ns_ = 0;
  bool frozen_ = false;
  uint64_t frozen_dropped_ = 0;
  uint64_t out_of_order_ = 0;
};

}  // namespace ta::analyzer::stats
