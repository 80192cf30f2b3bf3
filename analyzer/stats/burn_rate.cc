#include "analyzer/stats/burn_rate.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "analyzer/state/codec.h"

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

BurnRateTracker::Counts BurnRateTracker::WindowCounts(uint32_t window_minutes) const {
  Counts counts;
  if (!started_) return counts;
  uint64_t window = std::min<uint64_t>(window_minutes, ring_.size());
  // Minutes before the first one ever seen hold zeros anyway; stop at minute 0.
  window = std::min<uint64_t>(window, newest_minute_ + 1);
  for (uint64_t i = 0; i < window; ++i) {
    const Bucket& b = ring_[(newest_minute_ - i) % ring_.size()];
    counts.good += b.good;
    counts.bad += b.bad;
  }
  return counts;
}

double BurnRateTracker::ErrorRatio(uint32_t window_minutes) const {
  const Counts c = WindowCounts(window_minutes);
  const uint64_t total = c.good + c.bad;
  return total == 0 ? 0.0 : static_cast<double>(c.bad) / static_cast<double>(total);
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

void BurnRateTracker::Save(state::Writer& out) const {
  out.Tag("BURN");
  out.U32(static_cast<uint32_t>(ring_.size()));
  out.Bool(started_);
  out.U64(newest_minute_);
  out.U64(late_dropped_events_);
  // Sparse: (ring position, good, bad) for the minutes that hold events.
  uint32_t used = 0;
  for (const Bucket& b : ring_) used += (b.good | b.bad) != 0 ? 1 : 0;
  out.U32(used);
  for (size_t i = 0; i < ring_.size(); ++i) {
    if ((ring_[i].good | ring_[i].bad) == 0) continue;
    out.U32(static_cast<uint32_t>(i));
    out.U64(ring_[i].good);
    out.U64(ring_[i].bad);
  }
}

bool BurnRateTracker::Load(state::Reader& in) {
  if (!in.Tag("BURN")) return false;
  const uint32_t ring_minutes = in.U32();
  if (!in.ok()) return false;
  if (ring_minutes != ring_.size()) {
    in.Fail("burn rate: snapshot ring of " + std::to_string(ring_minutes) +
            " minutes, configured " + std::to_string(ring_.size()));
    return false;
  }
  const bool started = in.Bool();
  const uint64_t newest_minute = in.U64();
  const uint64_t late_dropped = in.U64();
  const uint32_t used = in.Count(4 + 8 + 8);
  if (!in.ok()) return false;
  if (!started && (newest_minute != 0 || used != 0)) {
    in.Fail("burn rate: events in a tracker that never started");
    return false;
  }
  std::vector<Bucket> ring(ring_.size());
  int64_t last = -1;
  for (uint32_t i = 0; i < used; ++i) {
    const uint32_t position = in.U32();
    const uint64_t good = in.U64();
    const uint64_t bad = in.U64();
    if (!in.ok()) return false;
    if (position >= ring.size() || static_cast<int64_t>(position) <= last || (good | bad) == 0) {
      in.Fail("burn rate: minute " + std::to_string(i) + " at ring position " +
              std::to_string(position) + " is out of order, out of range or empty");
      return false;
    }
    ring[position] = Bucket{good, bad};
    last = position;
  }
  ring_ = std::move(ring);
  started_ = started;
  newest_minute_ = newest_minute;
  late_dropped_events_ = late_dropped;
  return true;
}

}  // namespace ta::analyzer::stats
