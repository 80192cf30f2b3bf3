#include "analyzer/stats/ewma.h"

#include <algorithm>
#include <cmath>

namespace ta::analyzer::stats {

Ewma::Ewma(uint64_t half_life_ns, uint64_t min_samples)
    : half_life_ns_(std::max<uint64_t>(half_life_ns, 1)), min_samples_(min_samples) {}

bool Ewma::Add(double value, uint64_t ts_ns) {
  if (frozen_) {
    ++frozen_dropped_;
    return false;
  }
  if (samples_ != 0) {
    if (ts_ns < last_ts_ns_) {
      ++out_of_order_;  // no decay; the latest time stays where it is
    } else if (ts_ns > last_ts_ns_) {
      const double age =
          static_cast<double>(ts_ns - last_ts_ns_) / static_cast<double>(half_life_ns_);
      const double decay = std::exp2(-age);
      weight_ *= decay;
      m2_ *= decay;
      last_ts_ns_ = ts_ns;
    }
  } else {
    last_ts_ns_ = ts_ns;
  }
  // West 1979 / Finch 2009 §4 with sample weight 1.
  weight_ += 1.0;
  const double delta = value - mean_;
  mean_ += delta / weight_;
  m2_ += delta * (value - mean_);
  ++samples_;
  return true;
}

double Ewma::variance() const {
  if (weight_ <= 0.0) return 0.0;
  // Rounding can leave S a hair below zero for a constant series.
  return std::max(0.0, m2_ / weight_);
}

double Ewma::stddev() const { return std::sqrt(variance()); }

double Ewma::ZScore(double value) const {
  const double var = variance();
  if (samples_ < min_samples_ || var <= 0.0) return 0.0;
  return (value - mean_) / std::sqrt(var);
}

}  // namespace ta::analyzer::stats
