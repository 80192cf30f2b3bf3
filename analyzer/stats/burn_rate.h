// Multiwindow, multi-burn-rate SLO alerting over good/bad event counts.
//
// Why: a plain "error ratio > X" alert either pages on short blips or reacts hours late. The SRE
// Workbook's recommended scheme (Google, "The Site Reliability Workbook", chapter 5 "Alerting on
// SLOs", section 6 "Multiwindow, Multi-Burn-Rate Alerts") pages when the error budget burns fast
// over a long window AND is still burning over a short one (so the alert resets quickly once the
// problem stops):
//   page   if burn(1h) > 14.4 and burn(5m)  > 14.4   (2 % of a 30-day budget in 1 hour)
//   page   if burn(6h) > 6    and burn(30m) > 6      (5 % of the budget in 6 hours)
//   ticket if burn(3d) > 1    and burn(6h)  > 1      (10 % of the budget in 3 days)
// where burn(w) = error ratio over w / (1 - SLO). Thresholds and SLO are configurable.
// The seed rule "5xx ratio > 1 % over a rolling 5 minutes" is ErrorRatioExceeds(5 min, 0.01).
//
// Storage: one bucket of (good, bad) per minute for the longest window (3 days = 4320 buckets) in
// a ring allocated at construction. A window of w minutes ending at the newest minute seen sums
// the w newest buckets, the newest one partial, so windows are accurate to one minute. Events are
// placed by their own timestamp (ns, from the caller; no clock here):
//  - newer than the newest minute: buckets skipped over are cleared (a long jump clears all);
//  - older but within the ring (out of order): added to their own minute's bucket;
//  - older than the ring: dropped and counted in late_dropped_events().
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ta::analyzer::state {
class Reader;
class Writer;
}  // namespace ta::analyzer::state

namespace ta::analyzer::stats {

inline constexpr uint64_t kNsPerMinute = 60ULL * 1000 * 1000 * 1000;

struct BurnRateConfig {
  double slo = 0.999;  // target fraction of good events
  // Windows in minutes, SRE Workbook table 5-8.
  uint32_t fast_long_minutes = 60;
  uint32_t fast_short_minutes = 5;
  double fast_burn = 14.4;
  uint32_t slow_long_minutes = 360;
  uint32_t slow_short_minutes = 30;
  double slow_burn = 6.0;
  uint32_t ticket_long_minutes = 3 * 24 * 60;
  uint32_t ticket_short_minutes = 360;
  double ticket_burn = 1.0;
};

struct BurnRateAlerts {
  bool page_fast = false;  // 1h and 5m above fast_burn
  bool page_slow = false;  // 6h and 30m above slow_burn
  bool ticket = false;     // 3d and 6h above ticket_burn
  bool page() const { return page_fast || page_slow; }
};

class BurnRateTracker {
 public:
  // The ring spans the longest configured window (at least one minute).
  explicit BurnRateTracker(const BurnRateConfig& config = {});

  void Add(uint64_t ts_ns, uint64_t good, uint64_t bad);

  struct Counts {
    uint64_t good = 0;
    uint64_t bad = 0;
  };
  // Events over the `window_minutes` newest minutes (clamped to the ring).
  Counts WindowCounts(uint32_t window_minutes) const;
  // bad / (good + bad) over the `window_minutes` newest minutes (clamped to the ring); 0 when no
  // events fall in the window.
  double ErrorRatio(uint32_t window_minutes) const;
  // ErrorRatio / (1 - slo).
  double BurnRate(uint32_t window_minutes) const;
  BurnRateAlerts Evaluate() const;
  // The seed rule: error ratio strictly above `max_ratio` over the window.
  bool ErrorRatioExceeds(uint32_t window_minutes, double max_ratio) const {
    return ErrorRatio(window_minutes) > max_ratio;
  }

  // Events (good + bad) that arrived older than the ring and were dropped.
  uint64_t late_dropped_events() const { return late_dropped_events_; }
  size_t ring_minutes() const { return ring_.size(); }

  // Persistence (analyzer/state/codec.h): the ring length (the shape: it must match), the newest
  // minute, the late-drop counter and the non-empty minutes. The SLO and burn thresholds are
  // configuration and stay as constructed. Load refuses (false, *this unchanged, the Reader says
  // why) another ring length, minutes out of order or out of the ring, and a ring with events
  // that never started. After a restart the next Add clears the minutes the daemon was down, as
  // for any jump in time; this needs event time on a scale that survives a reboot (wall clock).
  void Save(state::Writer& out) const;
  bool Load(state::Reader& in);

 private:
  struct Bucket {
    uint64_t good = 0;
    uint64_t bad = 0;
  };

  BurnRateConfig config_;
  std::vector<Bucket> ring_;
  bool started_ = false;
  uint64_t newest_minute_ = 0;
  uint64_t late_dropped_events_ = 0;
};

}  // namespace ta::analyzer::stats
