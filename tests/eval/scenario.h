// Evaluation plans (traffic + attacks + scheduled threshold changes), the runner that feeds a
// plan's events to a real AnomalyEngine, and the scoring of the anomalies it reports against the
// plan's labels.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/anomaly/anomaly.h"
#include "analyzer/anomaly/config.h"
#include "analyzer/anomaly/engine.h"
#include "analyzer/anomaly/thresholds.h"
#include "tests/eval/traffic_generator.h"

namespace ta::eval {

using analyzer::anomaly::Anomaly;
using analyzer::anomaly::AnomalyEngineConfig;
using analyzer::anomaly::ThresholdOverride;

// A runtime threshold change the runner applies through AnomalyEngine::SetThreshold when event
// time reaches `at_ns` (offset from the run start; ThresholdOverride::expires_ns is also taken as
// an offset from the run start here and converted to wall time).
struct ScheduledOverride {
  uint64_t at_ns = 0;
  ThresholdOverride value;
};

struct EvalPlan {
  std::string name;
  GeneratorConfig generator;
  std::vector<ScheduledOverride> overrides;
  AnomalyEngineConfig engine;
  // A matching anomaly that starts up to this long after its label's end is still a detection
  // (windows close late by allowed_lateness; a detector may need its evidence window).
  uint64_t grace_ns = 2 * kNsPerMinute;
};

// The service: six routes on :80 and :443, 1.5 to 17 req/s each at the weekday peak.
std::vector<RouteSpec> DefaultRoutes();

// `days` simulated days from Monday 2026-01-05: day 0 is warm-up, the attacks are on days 1 and 2
// (flood 3x and 10x, 5xx burst, latency x4, slowloris, BOLA walk, high-entropy dump), the
// announced 5x launch on day 3 (needs days >= 4), the rest is normal traffic. With
// widen_launch the flood z_threshold of the launch route is raised to 5.0 through SetThreshold
// from 15 minutes before the launch until 30 minutes after it.
EvalPlan StandardPlan(uint64_t seed, uint64_t days, bool widen_launch);

// Normal traffic only (false-positive measurement), `days` long.
EvalPlan NormalPlan(uint64_t seed, uint64_t days);

struct RunResult {
  std::vector<Label> labels;
  std::vector<Anomaly> records;  // every record the sink received, in order
  GeneratorCounts counts;
  analyzer::anomaly::EngineStatus status;
  uint64_t events = 0;  // exchanges + censuses fed
  uint64_t ticks = 0;
  std::vector<std::string> override_errors;  // SetThreshold refusals (a plan bug)
};

RunResult RunPlan(const EvalPlan& plan);

struct LabelOutcome {
  Label label;
  bool detected = false;
  uint64_t delay_ns = 0;  // first matching started_ns - label start
};

struct FalsePositive {
  Anomaly anomaly;
  std::string during;  // name of the label or "launch" the anomaly overlaps in time, or ""
};

struct DetectorScore {
  DetectorKind detector = DetectorKind::kFlood;
  size_t labels = 0;
  size_t detected = 0;
  size_t true_positives = 0;  // firing records that match a label
  size_t false_positives = 0;
  std::optional<double> max_delay_s;
  std::optional<double> median_delay_s;
  double precision = 1.0;  // true / (true + false) firing records; 1 when none fired
  double recall = 1.0;     // detected labels / labels; 1 when no labels
  // False positives of the (port, route) with the most, per simulated week.
  double max_fp_per_route_week = 0.0;
  std::string worst_route;  // ":80 /api/events"; "*" = all routes of the port
};

struct Score {
  std::string plan;
  double weeks = 0.0;
  std::vector<DetectorScore> detectors;  // one per DetectorKind, in enum order
  std::vector<LabelOutcome> labels;
  std::vector<FalsePositive> false_positives;
  // All detectors together: the (port, route) with the most false positives, per week.
  double max_fp_per_route_week_all = 0.0;
  std::string worst_route_all;
  // False positives per (port, route) key, per detector (DetectorKind order).
  std::map<std::string, std::array<size_t, analyzer::anomaly::kDetectorKinds>> fp_by_route;
  size_t exfiltration_fps = 0;  // every normal body is JSON or gzip'd JSON: all are "on gzip/JSON"
  size_t launch_flood_alerts = 0;  // flood anomalies on the launch route during the launch
  bool launch_widened = false;
  bool has_launch = false;
};

Score ScorePlan(const EvalPlan& plan, const RunResult& result);
// The fixed-width report: per detector, per label, the summary lines and the false positives.
std::string FormatScore(const Score& score, size_t max_listed_false_positives = 20);

}  // namespace ta::eval
