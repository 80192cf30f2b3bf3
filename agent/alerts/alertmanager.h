// Alertmanager sink: POST /api/v2/alerts (Alertmanager's OpenAPI `postableAlerts`) to every
// configured Alertmanager, like Prometheus does.
//
// Alertmanager resolves an alert when its endsAt passes, so a firing alert is posted with
// endsAt = now + 4 x resend_interval and re-posted every resend_interval while active: if the
// agent dies, its alerts expire on their own instead of firing forever (Prometheus uses the same
// factor). A resolved record posts the same labels with endsAt = the resolve time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "agent/alerts/http_client.h"
#include "agent/alerts/sink.h"
#include "agent/result.h"

namespace ta::agent::alerts {

struct AlertmanagerConfig {
  bool enabled = false;
  // Base URLs of the Alertmanagers ("http://127.0.0.1:9093", or with the --web.route-prefix,
  // "http://am:9093/alertmanager"); "/api/v2/alerts" is appended. Each alert goes to every
  // URL (an HA cluster deduplicates). At least one when enabled; http:// only.
  std::vector<std::string> urls;
  std::chrono::seconds resend_interval{60};  // 1 s .. 1 h
  std::string instance;                      // `instance` label; "" = gethostname()
  std::string generator_url;                 // optional link in every alert; "" = omitted
  HttpTimeouts timeouts;                     // connect 2 s, whole exchange 5 s
  size_t max_active = 10000;  // active alerts remembered for re-sending; beyond: counted
};

// One alert as Alertmanager receives it.
struct PostableAlert {
  std::vector<std::pair<std::string, std::string>> labels;       // in output order
  std::vector<std::pair<std::string, std::string>> annotations;  // in output order
  uint64_t starts_ns = 0;
  uint64_t ends_ns = 0;
  std::string generator_url;  // "" = omitted
};

// The alert for a record: labels alertname, client (single-subject detectors only), detector,
// instance, port, route (omitted when ""), severity; annotations anomaly_id, baseline,
// observed, score, summary (the explanation), threshold. endsAt is now + 4 x resend for a
// firing record and window_end for a resolved one.
PostableAlert ToPostableAlert(const Anomaly& anomaly, const std::string& instance,
                              const std::string& generator_url, uint64_t now_ns,
                              std::chrono::seconds resend_interval);

// The JSON array body of POST /api/v2/alerts.
std::string FormatAlertmanagerBody(const std::vector<PostableAlert>& alerts);

struct AlertmanagerStats {
  uint64_t active = 0;             // firing alerts being re-sent (gauge)
  uint64_t active_overflow = 0;    // firing alerts not remembered (max_active reached)
  uint64_t endpoint_failures = 0;  // POSTs one Alertmanager refused or did not answer
  uint64_t resends = 0;            // re-send rounds completed
  uint64_t resend_failures = 0;    // re-send rounds no Alertmanager accepted
};

class AlertmanagerSink final : public Sink {
 public:
  using WallClock = std::function<uint64_t()>;  // Unix ns; tests inject a fixed time

  // Validates the URLs (errors name the bad one). `clock` defaults to the system clock.
  static Result<std::unique_ptr<AlertmanagerSink>> Create(const AlertmanagerConfig& config,
                                                          WallClock clock = nullptr);

  std::string Name() const override { return "alertmanager"; }
  // Succeeds when at least one Alertmanager accepted the alert (HA peers gossip it to the
  // others); each refusing one is counted and logged.
  Result<void> Deliver(const Anomaly& anomaly) override;
  std::chrono::milliseconds MaintenanceInterval() const override;
  void Maintain() override;  // re-post every active alert once resend_interval has passed

  AlertmanagerStats Stats() const;

 private:
  AlertmanagerSink(AlertmanagerConfig config, std::vector<HttpUrl> urls, std::string instance,
                   WallClock clock);
  Result<void> PostToAll(const std::vector<PostableAlert>& alerts);

  const AlertmanagerConfig config_;
  const std::vector<HttpUrl> urls_;
  const std::string instance_;
  const WallClock clock_;
  // Firing anomalies by id, with the labels they were first posted with: a resolved record
  // must carry the same label set or Alertmanager would treat it as another alert.
  std::map<uint64_t, PostableAlert> active_;  // worker thread only
  std::chrono::steady_clock::time_point last_resend_;
  mutable std::mutex stats_mu_;
  AlertmanagerStats stats_;
};

}  // namespace ta::agent::alerts
