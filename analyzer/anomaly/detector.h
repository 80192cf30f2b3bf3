// The interface between the anomaly engine and its detectors.
//
// The engine owns time: it converts event timestamps to wall-clock time, places every exchange
// in a fixed window (AnomalyEngineConfig::window_ns), and closes windows in order. A detector
// sees each accepted exchange once (OnExchange), connection census snapshots (OnCensus), and
// the close of each window (CloseWindow), where it reports the conditions that hold in that
// window as Findings. The engine turns findings into anomaly records: the first finding on a
// (detector, port, route, subject) fires, and the anomaly resolves after
// resolve_after_windows windows without one. Detectors ask WindowContext::IsActive to freeze
// their baselines while their own anomaly is active (an attack must not teach itself as
// normal).
//
// Detectors are pure (no clocks, no I/O), single-threaded, and bounded in memory by their
// config; every give-up is counted in DetectorCounters.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/anomaly/anomaly.h"
#include "analyzer/anomaly/config.h"
#include "analyzer/anomaly/thresholds.h"
#include "analyzer/http_exchange.h"
#include "analyzer/state/codec.h"

namespace ta::analyzer::anomaly {

// One exchange as detectors see it, with what the engine already derived from it.
struct ExchangeFacts {
  const HttpExchange& exchange;
  uint16_t port = 0;       // server port
  std::string_view route;  // templated route (the engine may have folded it into "" at max_keys)
  ClientAddress client;
  uint64_t wall_ns = 0;  // request start, wall clock
  double duration_s = 0.0;
  uint16_t status_class = 0;  // 1..5 (status / 100), 0 when there is no status
};

// A condition that holds in the window being closed.
struct Finding {
  uint16_t port = 0;
  std::string route;
  ClientAddress subject;  // family 0 = not about one client
  Severity severity = Severity::kWarning;
  double observed = 0.0;
  double baseline = 0.0;
  double score = 0.0;
  double threshold = 0.0;
  std::string unit;
  std::vector<ClientShare> clients;
  std::string explanation;
};

struct WindowContext {
  uint64_t start_ns = 0;  // wall clock, [start, end)
  uint64_t end_ns = 0;
  const AnomalyEngineConfig& config;
  const ThresholdTable& thresholds;
  // True while an anomaly of `kind` on (port, route, subject) is firing (not yet resolved).
  std::function<bool(uint16_t port, std::string_view route, const ClientAddress& subject)>
      is_active;

  double Threshold(DetectorKind kind, std::string_view parameter, uint16_t port,
                   std::string_view route, double fallback) const {
    return thresholds.Get(kind, parameter, port, route, end_ns, fallback);
  }
};

// Per-detector counters, exported as traffic_analyzer_anomaly_detector_*{detector}.
struct DetectorCounters {
  uint64_t scored = 0;    // samples/windows/bodies scored
  uint64_t skipped = 0;   // not scored: below a volume floor, warming up, undecodable, ...
  uint64_t overflow = 0;  // state not tracked because a bound (keys, clients) was reached
};

// Detectors with aggregate keys (a port's "" route, the node's port 0) report an aggregate only
// when nothing more specific explains it: a flood on one route is one anomaly, not three. Removes
// from out[first..] every port-level finding whose port has a route-level finding, and every
// node-level finding when any port or route finding exists.
// `explained_ports` adds ports whose route-level condition holds but was silenced on purpose
// (a route's threshold widened for a launch): the launch must not page through its port.
inline void DropExplainedAggregates(std::vector<Finding>& out, size_t first,
                                    std::vector<uint16_t> explained_ports = {}) {
  bool any_specific = !explained_ports.empty();
  std::vector<uint16_t>& ports_with_routes = explained_ports;
  for (size_t i = first; i < out.size(); ++i) {
    if (out[i].port != 0) any_specific = true;
    if (out[i].port != 0 && !out[i].route.empty()) ports_with_routes.push_back(out[i].port);
  }
  size_t kept = first;
  for (size_t i = first; i < out.size(); ++i) {
    const Finding& f = out[i];
    const bool explained =
        (f.port == 0 && any_specific) ||
        (f.port != 0 && f.route.empty() &&
         std::find(ports_with_routes.begin(), ports_with_routes.end(), f.port) !=
             ports_with_routes.end());
    if (!explained) {
      if (kept != i) out[kept] = std::move(out[i]);
      ++kept;
    }
  }
  out.resize(kept);
}

class Detector {
 public:
  virtual ~Detector() = default;
  virtual DetectorKind kind() const = 0;
  virtual void OnExchange(const ExchangeFacts& /*facts*/) {}
  // The HTTP/1.x connections inside an exchange, at wall time `wall_ns` (Analyzer::Census,
  // flows as captured; phase times converted to wall clock by the engine).
  virtual void OnCensus(uint64_t /*wall_ns*/, std::span<const ConnectionProgress> /*census*/) {}
  virtual void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) = 0;
  // The highest score / threshold among the keys scored in the last closed window (0 when
  // nothing was scored): the traffic_analyzer_anomaly_score{detector} gauge, so an operator sees
  // how close a detector is to firing.
  virtual double LastMaxScore() const { return 0.0; }
  // Share of baselines past warm-up, 0..1 (1 for detectors without a learned baseline).
  virtual double LearnedFraction() const { return 1.0; }
  virtual const DetectorCounters& counters() const = 0;
  // Persistence of learned state (baselines), not of the current partial window.
  virtual void Save(state::Writer& out) const = 0;
  virtual bool Load(state::Reader& in) = 0;
};

}  // namespace ta::analyzer::anomaly
