#include "analyzer/stats/ewma.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "analyzer/state/codec.h"

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

void Ewma::Save(state::Writer& out) const {
  out.Tag("EWMA");
  out.F64(weight_);
  out.F64(mean_);
  out.F64(m2_);
  out.U64(samples_);
  out.U64(last_ts_ns_);
  out.U64(frozen_dropped_);
  out.U64(out_of_order_);
}

bool Ewma::Load(state::Reader& in) {
  if (!in.Tag("EWMA")) return false;
  const double weight = in.F64();
  const double mean = in.F64();
  const double m2 = in.F64();
  const uint64_t samples = in.U64();
  const uint64_t last_ts_ns = in.U64();
  const uint64_t frozen_dropped = in.U64();
  const uint64_t out_of_order = in.U64();
  if (!in.ok()) return false;
  if (!std::isfinite(weight) || !std::isfinite(mean) || !std::isfinite(m2)) {
    in.Fail("ewma: non-finite weight, mean or squared deviation");
    return false;
  }
  // Every sample adds exactly 1 to the weight and decay only shrinks it, so 0 < W <= samples
  // (exact in doubles: rounding is monotonic). Without samples everything is still zero.
  if (samples == 0 ? (weight != 0.0 || mean != 0.0 || m2 != 0.0 || last_ts_ns != 0)
                   : (weight <= 0.0 || weight > static_cast<double>(samples))) {
    in.Fail("ewma: weight " + std::to_string(weight) + " inconsistent with " +
            std::to_string(samples) + " samples");
    return false;
  }
  if (out_of_order > samples) {
    in.Fail("ewma: more out-of-order samples than samples");
    return false;
  }
  weight_ = weight;
  mean_ = mean;
  m2_ = m2;
  samples_ = samples;
  last_ts_ns_ = last_ts_ns;
  frozen_dropped_ = frozen_dropped;
  out_of_order_ = out_of_order;
  return true;
}

}  // namespace ta::analyzer::stats
