#include "agent/anomaly_service.h"

#include <ctime>

#include <spdlog/spdlog.h>

#include "agent/clock.h"

namespace ta::agent {

AnomalyService::AnomalyService(const Config& config, Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      dispatcher_(config.alerts.dispatcher),
      engine_(std::make_unique<analyzer::anomaly::AnomalyEngine>(config.anomaly.engine, *this)),
      store_(config.state_dir, kStateFile, kStateSchema),
      next_save_(std::chrono::steady_clock::now() +
                 std::chrono::seconds(config.anomaly.save_interval_seconds)) {}

AnomalyService::~AnomalyService() { Stop(); }

Result<std::unique_ptr<AnomalyService>> AnomalyService::Start(const Config& config,
                                                              Metrics& metrics) {
  std::unique_ptr<AnomalyService> service(new AnomalyService(config, metrics));
  // Before the first event: events are on CLOCK_MONOTONIC, windows on the wall clock.
  service->engine_->SetWallClockOffset(RealtimeMinusMonotonicNs());
  const AlertsConfig& alerts = config.alerts;
  if (alerts.json_log.enabled) {
    auto sink = alerts::JsonLinesSink::Open(alerts.json_log);
    if (!sink) return sink.error();
    service->json_log_ = sink->get();
    service->dispatcher_.AddSink(std::move(*sink));
  }
  if (alerts.alertmanager.enabled) {
    auto sink = alerts::AlertmanagerSink::Create(alerts.alertmanager);
    if (!sink) return sink.error();
    service->dispatcher_.AddSink(std::move(*sink));
  }
  if (alerts.syslog.enabled) {
    auto sink = alerts::SyslogSink::Create(alerts.syslog);
    if (!sink) return sink.error();
    service->dispatcher_.AddSink(std::move(*sink));
  }
  service->dispatcher_.Start();

  // Baselines from the last run. A bad file is never fatal: it is set aside and learning starts
  // again (the operator sees why in the log and in traffic_analyzer_state_snapshots_total).
  auto loaded = service->store_.Load();
  if (!loaded) {
    spdlog::warn("{}", loaded.error().ToString());
    metrics.CountSnapshot("set_aside");
  } else if (loaded->has_value()) {
    if (auto error = service->engine_->Restore(**loaded)) {
      spdlog::warn("{}", service->store_.SetAside(*error).ToString());
      metrics.CountSnapshot("set_aside");
    } else {
      metrics.CountSnapshot("restored");
      spdlog::info("anomaly baselines restored from {}", service->store_.path());
    }
  } else {
    spdlog::info("no anomaly state in {} yet: baselines start learning now", config.state_dir);
  }
  return service;
}

void AnomalyService::OnHttpExchange(const analyzer::HttpExchange& exchange) {
  if (exchange.role != analyzer::HttpRole::kServer) return;
  engine_->OnHttpExchange(exchange);
}

void AnomalyService::Housekeeping(uint64_t monotonic_ns, const analyzer::Analyzer& analyzer) {
  engine_->SetWallClockOffset(RealtimeMinusMonotonicNs());
  if (monotonic_ns >= next_census_ns_) {
    census_.clear();
    analyzer.Census(census_);
    engine_->OnCensus(monotonic_ns, census_);
    next_census_ns_ = monotonic_ns + config_.anomaly.engine.window_ns;
  }
  engine_->Tick(monotonic_ns);
  metrics_.UpdateAnomalyStatus(engine_->Status());
  std::vector<Metrics::AlertSinkCounts> sinks;
  for (const alerts::SinkStats& s : dispatcher_.Stats()) {
    sinks.push_back({s.sink, s.sent, s.failed, s.dropped + s.abandoned});
  }
  metrics_.UpdateAlertSinks(sinks);
  if (std::chrono::steady_clock::now() >= next_save_) {
    Save();
    next_save_ = std::chrono::steady_clock::now() +
                 std::chrono::seconds(config_.anomaly.save_interval_seconds);
  }
}

void AnomalyService::ReopenLogs() {
  if (json_log_ == nullptr) return;
  if (auto reopened = json_log_->Reopen(); !reopened) {
    spdlog::warn("{}", reopened.error().ToString());
  } else {
    spdlog::info("reopened {}", config_.alerts.json_log.path);
  }
}

void AnomalyService::Save() {
  // The snapshot is taken here, on the event loop (the engine is single-threaded); the file is
  // written by a worker. The previous write is long done unless the disk is very slow.
  std::string payload = engine_->Snapshot();
  if (saver_.joinable()) saver_.join();
  saver_ = std::thread([this, payload = std::move(payload)] {
    if (auto saved = store_.Save(payload); !saved) {
      spdlog::warn("{}; baselines will be learned again after a restart",
                   saved.error().ToString());
      metrics_.CountSnapshot("save_failed");
    } else {
      metrics_.CountSnapshot("saved");
    }
  });
}

void AnomalyService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  Save();
  saver_.join();
  dispatcher_.Stop();
}

void AnomalyService::OnAnomaly(const analyzer::anomaly::Anomaly& anomaly) {
  metrics_.CountAnomaly(anomaly);
  if (anomaly.state == analyzer::anomaly::AnomalyState::kFiring) {
    spdlog::warn("anomaly {} fired: {} ({}, score {:.1f} > {:.1f})", anomaly.id,
                 anomaly.explanation, analyzer::anomaly::SeverityName(anomaly.severity),
                 anomaly.score, anomaly.threshold);
  } else {
    spdlog::info("anomaly {} resolved: {} {}", anomaly.id,
                 analyzer::anomaly::DetectorName(anomaly.detector),
                 anomaly.route.empty() ? std::to_string(anomaly.port)
                                       : std::to_string(anomaly.port) + " " + anomaly.route);
  }
  dispatcher_.OnAnomaly(anomaly);
}

}  // namespace ta::agent
