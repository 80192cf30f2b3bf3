// The daemon's side of the anomaly engine: feeds it the analyzer's exchanges and connection
// census, ticks it, persists its baselines in state_dir, and hands its records to the metrics
// and the alert sinks (agent/alerts/). Everything here runs on the daemon's main thread; the
// sinks deliver on their own threads behind bounded queues, so a slow receiver never stalls
// analysis.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "agent/alerts/dispatcher.h"
#include "agent/alerts/json_lines.h"
#include "agent/config.h"
#include "agent/metrics.h"
#include "agent/result.h"
#include "agent/state_store.h"
#include "analyzer/analyzer.h"
#include "analyzer/anomaly/engine.h"

namespace ta::agent {

class AnomalyService final : public analyzer::anomaly::AnomalySink {
 public:
  // The snapshot container's schema (agent/state_store.h); the engine's own payload carries its
  // detectors' schema inside.
  static constexpr uint32_t kStateSchema = 1;
  static constexpr const char* kStateFile = "anomaly.state";

  // Builds the engine and the sinks configured in `config.alerts`; restores the baselines from
  // state_dir. Fails only on what the operator must fix (a sink that cannot be set up, an
  // unusable state_dir); a corrupt state file is set aside and reported, not fatal.
  static Result<std::unique_ptr<AnomalyService>> Start(const Config& config, Metrics& metrics);
  ~AnomalyService() override;

  // The analyzer's exchanges (server side only: client-side TLS calls are this node's own
  // outgoing requests, not traffic to protect).
  void OnHttpExchange(const analyzer::HttpExchange& exchange);
  // Once a second: wall clock offset, census (once per window), Tick, status metrics, periodic
  // save.
  void Housekeeping(uint64_t monotonic_ns, const analyzer::Analyzer& analyzer);
  // SIGHUP: reopens the JSON lines file after logrotate moved it.
  void ReopenLogs();
  // Saves the baselines and drains the sinks (bounded by the dispatcher's stop deadline).
  void Stop();

  // analyzer::anomaly::AnomalySink: from the engine.
  void OnAnomaly(const analyzer::anomaly::Anomaly& anomaly) override;

  analyzer::anomaly::AnomalyEngine& engine() { return *engine_; }

 private:
  AnomalyService(const Config& config, Metrics& metrics);
  void Save();

  const Config config_;
  Metrics& metrics_;
  alerts::AlertDispatcher dispatcher_;
  alerts::JsonLinesSink* json_log_ = nullptr;  // owned by dispatcher_
  std::unique_ptr<analyzer::anomaly::AnomalyEngine> engine_;
  StateStore store_;
  // Writes the last snapshot to state_dir off the event loop (a snapshot of 1000 keys is tens of
  // MB: the checksum and fsync must not stall the ring buffer consumer). At most one at a time.
  std::thread saver_;
  uint64_t next_census_ns_ = 0;
  std::chrono::steady_clock::time_point next_save_;
  std::vector<analyzer::ConnectionProgress> census_;
  bool stopped_ = false;
};

}  // namespace ta::agent
