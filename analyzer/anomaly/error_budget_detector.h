// Error budget: the seed's circuit rule and SLO burn-rate alerting on 5xx answers.
//
//  - Circuit rule (seed): the 5xx ratio over a rolling window_minutes (default 5) exceeds
//    max_ratio (default 1 %), with at least min_requests requests and min_errors 5xx in it (a
//    quiet route's single 500 is not 100 % errors). Severity critical: this is the signal the
//    policy (issue 6) may turn into a circuit action. The rolling window is kept per engine
//    window (5 s steps), so it is exact to one window.
//  - Multiwindow, multi-burn-rate (Google SRE Workbook ch. 5, table 5-8, via
//    stats::BurnRateTracker): page when burn(1h) and burn(5m) > 14.4, or burn(6h) and
//    burn(30m) > 6; ticket when burn(3d) and burn(6h) > 1; burn = error ratio / (1 - SLO).
//    Pages are critical, tickets warnings. The same volume floor applies (min_requests in the
//    rolling window), since a burn rate of a handful of requests is noise; and a condition needs
//    min_errors 5xx in its short window. A condition applies once its tracker has history as
//    long as the condition's short window: a tracker 10 minutes old has no "6 h" or "3 d" to
//    speak of, and its long windows would all be those 10 minutes. Conditions are evaluated
//    once per minute (the tracker's resolution).
// Keys: each port and each (port, route), at most max_tracked_routes routes (a tracker holds 3
// days of minutes, ~70 KB: 256 routes are ~18 MB); beyond that a route is only seen through its
// port (counted in overflow). Trackers start with a route's first request, not its first 5xx: a
// tracker born at the first error would divide by a few minutes of traffic and overstate every
// long-window burn rate.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/anomaly/detector.h"
#include "analyzer/stats/burn_rate.h"

namespace ta::analyzer::anomaly {

class ErrorBudgetDetector final : public Detector {
 public:
  explicit ErrorBudgetDetector(const ErrorBudgetConfig& config);

  DetectorKind kind() const override { return DetectorKind::kErrorBudget; }
  void OnExchange(const ExchangeFacts& facts) override;
  void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) override;
  double LastMaxScore() const override { return last_max_score_; }
  const DetectorCounters& counters() const override { return counters_; }
  void Save(state::Writer& out) const override;
  bool Load(state::Reader& in) override;

 private:
  struct Counts {
    uint64_t good = 0;
    uint64_t bad = 0;
  };
  struct KeyState {
    explicit KeyState(const stats::BurnRateConfig& burn_config)
        : tracker(std::make_unique<stats::BurnRateTracker>(burn_config)) {}
    std::unique_ptr<stats::BurnRateTracker> tracker;
    uint64_t first_ns = 0;  // wall time of the first request: how much history the tracker has
    uint64_t evaluated_minute = UINT64_MAX;  // burn conditions are evaluated once per minute
    stats::BurnRateAlerts burn;
    Counts window;                // the open engine window
    std::vector<Counts> rolling;  // the last window_minutes of engine windows, ring
    size_t next = 0;
    Counts rolling_sum;
  };

  KeyState* Key(uint16_t port, std::string_view route);
  void Record(KeyState& key, uint64_t wall_ns, bool bad);
  stats::BurnRateAlerts EvaluateBurn(const KeyState& key, uint64_t now_ns) const;

  ErrorBudgetConfig config_;
  std::map<std::pair<uint16_t, std::string>, KeyState> keys_;
  size_t route_keys_ = 0;
  DetectorCounters counters_;
  double last_max_score_ = 0.0;
};

}  // namespace ta::analyzer::anomaly
