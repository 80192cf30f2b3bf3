// The anomaly engine: HTTP exchanges (and connection census snapshots) in, anomaly records out.
//
// It is an ExchangeSink, so the daemon tees the analyzer's output into it next to the metrics
// sink, and the evaluation harness (tests/eval) feeds it generated exchanges the same way.
// Pure and single-threaded: time comes from the events (monotonic ns live, converted to wall
// clock with the offset the caller sets) and from Tick, which closes windows.
//
// Windows: fixed, aligned to multiples of window_ns in wall time. An exchange counts in the
// window of its response end (when the exchange became known). Tick(now) closes every window
// whose end + allowed_lateness <= now, in order, and hands each to every detector; findings
// become firing/resolved anomalies on the sink. Events older than the open window are counted
// (late_events): within allowed_lateness they count in the open window, beyond it they are not
// scored. Events more than max_future_ns ahead of every event and tick are counted
// (future_events) and not scored. None can corrupt a closed window. A step of the wall clock
// (SetWallClockOffset) restarts the windows at the new time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/anomaly/anomaly.h"
#include "analyzer/anomaly/config.h"
#include "analyzer/anomaly/thresholds.h"
#include "analyzer/http_exchange.h"

namespace ta::analyzer::anomaly {

struct DetectorStatus {
  DetectorKind kind = DetectorKind::kFlood;
  bool enabled = false;
  double learned_fraction = 0.0;  // 0..1
  uint64_t fired = 0;             // anomalies fired (firing records)
  uint64_t active = 0;            // currently firing
  double max_score = 0.0;         // highest score / threshold in the last closed window
  uint64_t scored = 0;
  uint64_t skipped = 0;
  uint64_t overflow = 0;
};

struct EngineStatus {
  uint64_t exchanges = 0;        // accepted into a window
  uint64_t late_events = 0;      // older than the oldest open window: not scored
  uint64_t future_events = 0;    // more than max_future_ns ahead of events and ticks: dropped
  uint64_t clock_steps = 0;      // wall clock offset changes beyond allowed_lateness
  uint64_t windows_closed = 0;
  uint64_t keys = 0;             // (port, route) keys tracked
  uint64_t keys_overflowed = 0;  // exchanges whose route was folded into its port's key
  double learned_fraction = 0.0;  // overall warm-up, 0..1 (mean of enabled detectors)
  std::vector<DetectorStatus> detectors;
};

class AnomalyEngine final : public ExchangeSink {
 public:
  AnomalyEngine(const AnomalyEngineConfig& config, AnomalySink& sink);
  ~AnomalyEngine() override;
  AnomalyEngine(const AnomalyEngine&) = delete;
  AnomalyEngine& operator=(const AnomalyEngine&) = delete;

  // Wall clock = event ns + offset (live: CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed by the
  // daemon each tick; the harness uses 0 with epoch-based event times).
  void SetWallClockOffset(int64_t offset_ns);

  void OnHttpExchange(const HttpExchange& exchange) override;
  // Census of in-progress connections at event time `now_ns` (Analyzer::Census).
  void OnCensus(uint64_t now_ns, std::span<const ConnectionProgress> census);
  // Closes due windows at event time `now_ns`.
  void Tick(uint64_t now_ns);

  // Runtime thresholds (see thresholds.h). now is event time like everything else.
  std::optional<std::string> SetThreshold(const ThresholdOverride& override_value,
                                          uint64_t now_ns);
  bool ClearThreshold(DetectorKind detector, std::string_view parameter, uint16_t port,
                      std::string_view route);
  const std::vector<ThresholdOverride>& thresholds() const;

  // Currently firing anomalies (latest values), and the most recent records (firing and
  // resolved, newest last, bounded) for `trafficctl anomalies`.
  std::vector<Anomaly> Active() const;
  std::vector<Anomaly> Recent(size_t max) const;
  EngineStatus Status() const;

  // Persistence: learned baselines, detector state, anomaly id counter and threshold overrides
  // (not open windows or active anomalies). Restore replaces the state; on error (wrong schema,
  // truncated, out of range) it returns the reason and the engine keeps its previous state.
  std::string Snapshot() const;
  std::optional<std::string> Restore(std::string_view snapshot);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ta::analyzer::anomaly
