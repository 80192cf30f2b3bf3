// Latency degradation: a route's p99 (configurable quantile) far above its own history.
//
// Per (port, route) - not per port: a port's p99 mixes routes of very different speeds and
// swings with their mix, which is not a degradation. The engine windows' durations go into a
// DDSketch (stats::QuantileSketch, relative error 1 % by default: no sorting, no stored
// samples). A p99 from a handful of samples is their maximum, so windows are merged until the
// sketch holds min_samples (default 200; or max_merge_windows passed: then the samples are
// dropped, counted as skipped). Each p99 so obtained is one sample, in log scale, of an Ewma
// (half-life 30 min): exp(mean) is the baseline p99 and the standard deviation is the spread of
// p99 across windows (log scale because latency degrades by factors and a p99's noise grows
// with it).
// Fires when z = (ln p99 - mean) / max(stddev, noise_floor) > z_threshold, and p99 is at least
// min_ratio x the baseline and at least min_seconds (absolute floors: 2 ms -> 3 ms is no
// incident), after min_windows p99 samples of history. Critical from twice the threshold.
// Frozen while its own anomaly is active. While windows merge, the last verdict stands (it is
// repeated each window), so resolution waits for a p99 that is back to normal.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "analyzer/anomaly/detector.h"
#include "analyzer/stats/ewma.h"
#include "analyzer/stats/quantile_sketch.h"

namespace ta::analyzer::anomaly {

class LatencyDetector final : public Detector {
 public:
  // Buckets per sketch: at 1 % relative error, 1024 buckets span about 9 decades before the
  // lowest buckets collapse (which only blurs the low quantiles, never p99).
  static constexpr size_t kSketchBuckets = 1024;

  explicit LatencyDetector(const LatencyConfig& config);

  DetectorKind kind() const override { return DetectorKind::kLatency; }
  void OnExchange(const ExchangeFacts& facts) override;
  void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) override;
  double LastMaxScore() const override { return last_max_score_; }
  double LearnedFraction() const override;
  const DetectorCounters& counters() const override { return counters_; }
  void Save(state::Writer& out) const override;
  bool Load(state::Reader& in) override;

 private:
  struct KeyState {
    explicit KeyState(const LatencyConfig& config)
        : sketch(std::make_unique<stats::QuantileSketch>(config.relative_accuracy,
                                                         kSketchBuckets)),
          baseline(config.half_life_ns, config.min_windows) {}
    std::unique_ptr<stats::QuantileSketch> sketch;
    uint32_t merged_windows = 0;
    stats::Ewma baseline;
    // The verdict of the last p99, repeated while the next one is being gathered (merged
    // windows), so an ongoing degradation does not look resolved between two p99s.
    std::optional<Finding> last_finding;
  };

  KeyState& Key(uint16_t port, std::string_view route);

  LatencyConfig config_;
  std::map<std::pair<uint16_t, std::string>, KeyState> keys_;
  DetectorCounters counters_;
  double last_max_score_ = 0.0;
};

}  // namespace ta::analyzer::anomaly
