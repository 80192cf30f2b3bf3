// Volumetric flood: a window's request rate far above what this route (or port, or the whole
// node) normally sees at this time of day.
//
// Keys: every (port, route), every port (route ""), and the node (port 0, route ""), so a flood
// spread over many routes still shows at the port and node level.
//
// Baseline per key, multiplicative level x season (the structure of Holt-Winters; Brutlag,
// USENIX LISA 2000, applies it to network monitoring):
//  - season s: once the diurnal baseline is ready (24 h of history), the time-of-day slot's mean
//    rate divided by the mean over all learned slots (clamped to [0.05, 20]); before, s = 1.
//  - level: an exponentially weighted mean and variance of the deseasonalised rate r / s, one
//    update per window (windows are regular, so a per-window factor from the half-life is exact).
//    When the diurnal baseline becomes ready, the level is rescaled once so the switch is
//    seamless.
//  - expected = level x s; sigma = max(level stddev x s, noise_floor x expected,
//    sqrt(expected x window) / window) - the last term is the Poisson noise of the count.
// Fires when z = (rate - expected) / sigma > z_threshold (runtime-adjustable, e.g. 5.0 for a
// launch), the count is also poisson_z Poisson sigmas above its expectation (Anscombe scale: at
// low rates counting noise alone would cross z 3 about daily), the rate is at least min_rate
// (volume floor) and the key has min_windows of history.
// Severity is critical from twice the threshold. While a key's flood is active, its windows do
// not reach the level or the diurnal slots (frozen): the attack does not become the baseline.
// Announced changes: while a route's z_threshold is widened above the configured one (a launch),
// its port and the node are judged with at least that threshold too (they carry its traffic),
// and those windows do not reach the diurnal slots (the launch is not expected again tomorrow
// at that hour); the level still follows them.
// Attribution: a Space-Saving sketch per key per window names the top sources.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "analyzer/anomaly/detector.h"
#include "analyzer/stats/diurnal_baseline.h"
#include "analyzer/stats/heavy_hitters.h"

namespace ta::analyzer::anomaly {

// Exponentially weighted mean and variance updated once per regular window. alpha comes from the
// half-life: after half_life / window updates a sample weighs half. The first updates weigh 1/n
// (a running mean) until that is below alpha, so the warm-up learns from all its windows.
struct WindowLevel {
  double mean = 0.0;
  double variance = 0.0;
  uint64_t windows = 0;

  void Add(double value, double alpha);
  void Scale(double factor) {
    mean *= factor;
    variance *= factor * factor;
  }
};

class FloodDetector final : public Detector {
 public:
  static constexpr size_t kSourcesPerKey = 32;

  explicit FloodDetector(const FloodConfig& config);

  DetectorKind kind() const override { return DetectorKind::kFlood; }
  void OnExchange(const ExchangeFacts& facts) override;
  void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) override;
  double LastMaxScore() const override { return last_max_score_; }
  double LearnedFraction() const override;
  const DetectorCounters& counters() const override { return counters_; }
  void Save(state::Writer& out) const override;
  bool Load(state::Reader& in) override;

 private:
  using ClientKey = std::array<uint8_t, 17>;  // address + family
  using Sources = stats::SpaceSaving<ClientKey, stats::ByteArrayHash>;

  struct KeyState {
    explicit KeyState(const stats::DiurnalBaselineOptions& diurnal_options)
        : diurnal(diurnal_options) {}
    uint64_t count = 0;  // this window
    std::unique_ptr<Sources> sources;
    WindowLevel level;
    bool seasonal = false;  // level is deseasonalised (diurnal was ready)
    stats::DiurnalBaseline diurnal;
    // Mean rate of the current diurnal slot, fed to `diurnal` when the slot ends.
    uint64_t slot = UINT64_MAX;
    double slot_sum = 0.0;
    uint32_t slot_windows = 0;
  };

  KeyState& Key(uint16_t port, std::string_view route);
  double Season(const KeyState& key, uint64_t wall_ns) const;
  void FeedDiurnal(KeyState& key, uint64_t window_start, double rate, bool frozen) const;

  FloodConfig config_;
  stats::DiurnalBaselineOptions diurnal_options_;
  double alpha_ = 0.0;
  std::map<std::pair<uint16_t, std::string>, KeyState> keys_;
  DetectorCounters counters_;
  double last_max_score_ = 0.0;
  uint64_t window_ns_ = 0;  // learned from the first CloseWindow
};

}  // namespace ta::analyzer::anomaly
