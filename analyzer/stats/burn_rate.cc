#include "analyzer/stats/burn_rate.h"

#include <algorithm>

namespace ta::analyzer::stats {

BurnRateTracker::BurnRateTracker(const BurnRateConfig& config) : config_(config) {
  const uint32_t longest = std::max({config.fast_long_minutes, config.fast_short_minutes,
                                     config.slow_long_minutes, config.slow_short_minutes,
                                     config.ticket_long_minutes, config.ticket_short_minutes, 1U});
  ring_.assign(longest, Bucket{});
}

void BurnRateTracker::Add(uint64_t ts_ns, uint64_t good, uint64_t bad) {
  const uint64_t minute = ts_ns / kNsPerMinute;
  const uint64_t size = ring_.size();
  if (!started_) {
    started_ = true;
    newest_minute_ = minute;
  } else if (minute > newest_minute_) {
    if (minute - newest_minute_ >= size) {
      std::fill(ring_.begin(), ring_.end(), Bucket{});
    } else {
      for (uint64_t m = newest_minute_ + 1; m <= minute; ++m) ring_[m % size] = Bucket{};
    }
    newest_minute_ = minute;
  } else if (newest_minute_ - minute >= size) {
    late_dropped_events_ += good + bad;
    return;
  }
  Bucket& bucket = ring_[minute % size];
  bucket.good += good;
  bucket.bad += bad;
}

double BurnRateTracker::ErrorRatio(uint32_t window_minutes) const {
  if (!started_) return 0.0;
  uint64_t window = std::min<uint64_t>(window_minutes, ring_.size());
  // Minutes before the first one ever seen hold zeros anyway; stop at minute 0.
  window = std::min<uint64_t>(window, newest_minute_ + 1);
  uint64_t good = 0;
  uint64_t bad = 0;
  for (uint64_t i = 0; i < window; ++i) {
    const Bucket& b = ring_[(newest_minute_ - i) % ring_.size()];
    good += b.good;
    bad += b.bad;
  }
  const uint64_t total = good + bad;
  return total == 0 ? 0.0 : static_cast<double>(bad) / static_cast<double>(total);
}

double BurnRateTracker::BurnRate(uint32_t window_minutes) const {
  const double budget = 1.0 - config_.slo;
  if (budget <= 0.0) return 0.0;  // a 100 % SLO has no budget to burn; treat as unconfigured
  return ErrorRatio(window_minutes) / budget;
}

BurnRateAlerts BurnRateTracker::Evaluate() const {
  BurnRateAlerts a;
  a.page_fast = BurnRate(config_.fast_long_minutes) > config_.fast_burn &&
                BurnRate(config_.fast_short_minutes) > config_.fast_burn;
  a.page_slow = BurnRate(config_.slow_long_minutes) > config_.slow_burn &&
                BurnRate(config_.slow_short_minutes) > config_.slow_burn;
  a.ticket = BurnRate(config_.ticket_long_minutes) > config_.ticket_burn &&
             BurnRate(config_.ticket_short_minutes) > config_.ticket_burn;
  return a;
}

}  // namespace ta::analyzer::stats
