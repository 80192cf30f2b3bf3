#include "agent/alerts/alertmanager.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <climits>

#include "agent/alerts/text.h"

namespace ta::agent::alerts {
namespace {

using analyzer::anomaly::AnomalyState;
using analyzer::anomaly::DetectorName;
using analyzer::anomaly::SeverityName;

constexpr uint64_t kNsPerSecond = 1'000'000'000ULL;
constexpr size_t kMaxAlertsPerPost = 500;  // keeps a re-send body well under a megabyte

// The client an anomaly is about, when it is about one client (exfiltration, slow_rate, bola).
// For the other detectors the clients are contributors, not the subject, and a `client` label
// would split one alert into many.
const analyzer::anomaly::ClientAddress* Subject(const analyzer::anomaly::Anomaly& a) {
  return a.subject.family != 0 ? &a.subject : nullptr;
}

std::string WithUnit(double value, const std::string& unit) {
  return unit.empty() ? FormatNumber(value) : FormatNumber(value) + " " + unit;
}

std::string Hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

void AppendObject(std::string& out, const std::vector<std::pair<std::string, std::string>>& kv) {
  out.push_back('{');
  for (size_t i = 0; i < kv.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, kv[i].first);
    out.push_back(':');
    AppendJsonString(out, kv[i].second);
  }
  out.push_back('}');
}

}  // namespace

PostableAlert ToPostableAlert(const Anomaly& a, const std::string& instance,
                              const std::string& generator_url, uint64_t now_ns,
                              std::chrono::seconds resend_interval) {
  PostableAlert alert;
  // Sorted by name, as Prometheus sends them. Values are repaired to UTF-8: Alertmanager
  // rejects a label value that is not.
  alert.labels.emplace_back("alertname", "TrafficAnalyzerAnomaly");
  if (const auto* subject = Subject(a)) alert.labels.emplace_back("client", subject->ToString());
  alert.labels.emplace_back("detector", std::string(DetectorName(a.detector)));
  alert.labels.emplace_back("instance", RepairUtf8(instance));
  alert.labels.emplace_back("port", std::to_string(a.port));
  if (!a.route.empty()) alert.labels.emplace_back("route", RepairUtf8(a.route));
  alert.labels.emplace_back("severity", std::string(SeverityName(a.severity)));

  alert.annotations.emplace_back("anomaly_id", std::to_string(a.id));
  alert.annotations.emplace_back("baseline", WithUnit(a.baseline, a.unit));
  alert.annotations.emplace_back("observed", WithUnit(a.observed, a.unit));
  alert.annotations.emplace_back("score", FormatNumber(a.score));
  alert.annotations.emplace_back("summary", RepairUtf8(a.explanation));
  alert.annotations.emplace_back("threshold", FormatNumber(a.threshold));

  alert.starts_ns = a.started_ns;
  alert.ends_ns = a.state == AnomalyState::kResolved
                      ? a.window_end_ns
                      : now_ns + 4 * static_cast<uint64_t>(resend_interval.count()) * kNsPerSecond;
  alert.generator_url = generator_url;
  return alert;
}

std::string FormatAlertmanagerBody(const std::vector<PostableAlert>& alerts) {
  std::string out = "[";
  for (size_t i = 0; i < alerts.size(); ++i) {
    const PostableAlert& alert = alerts[i];
    if (i > 0) out.push_back(',');
    out += "{\"labels\":";
    AppendObject(out, alert.labels);
    out += ",\"annotations\":";
    AppendObject(out, alert.annotations);
    out += ",\"startsAt\":";
    AppendJsonString(out, FormatRfc3339Millis(alert.starts_ns));
    out += ",\"endsAt\":";
    AppendJsonString(out, FormatRfc3339Millis(alert.ends_ns));
    if (!alert.generator_url.empty()) {
      out += ",\"generatorURL\":";
      AppendJsonString(out, alert.generator_url);
    }
    out.push_back('}');
  }
  out.push_back(']');
  return out;
}

Result<std::unique_ptr<AlertmanagerSink>> AlertmanagerSink::Create(const AlertmanagerConfig& config,
                                                                   WallClock clock) {
  if (config.urls.empty()) {
    return Error{0,
                 "alerts.alertmanager.urls is empty; list at least one Alertmanager "
                 "(e.g. http://127.0.0.1:9093) or disable the sink"};
  }
  std::vector<HttpUrl> urls;
  for (const std::string& text : config.urls) {
    auto url = ParseHttpUrl(text);
    if (!url.ok()) return Error{0, "alerts.alertmanager.urls: " + url.error().message};
    // The API path goes after any route prefix ("http://am/alertmanager" + "/api/v2/alerts").
    std::string& path = url->path;
    while (!path.empty() && path.back() == '/') path.pop_back();
    path += "/api/v2/alerts";
    urls.push_back(std::move(url.value()));
  }
  if (!clock) {
    clock = [] {
      return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    };
  }
  std::string instance = config.instance.empty() ? Hostname() : config.instance;
  return std::unique_ptr<AlertmanagerSink>(
      new AlertmanagerSink(config, std::move(urls), std::move(instance), std::move(clock)));
}

AlertmanagerSink::AlertmanagerSink(AlertmanagerConfig config, std::vector<HttpUrl> urls,
                                   std::string instance, WallClock clock)
    : config_(std::move(config)),
      urls_(std::move(urls)),
      instance_(std::move(instance)),
      clock_(std::move(clock)),
      last_resend_(std::chrono::steady_clock::now()) {}

Result<void> AlertmanagerSink::PostToAll(const std::vector<PostableAlert>& alerts) {
  const std::string body = FormatAlertmanagerBody(alerts);
  size_t accepted = 0;
  std::string errors;
  for (const HttpUrl& url : urls_) {
    auto response = HttpPost(url, "application/json", body, config_.timeouts);
    if (response.ok()) {
      ++accepted;
      continue;
    }
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.endpoint_failures;
    }
    if (!errors.empty()) errors += "; ";
    errors += response.error().ToString();
  }
  if (accepted > 0 && !errors.empty()) {
    spdlog::warn("alertmanager sink: {} of {} Alertmanagers accepted; {}", accepted, urls_.size(),
                 errors);
  }
  if (accepted == 0) return Error{0, "no Alertmanager accepted the alert: " + errors};
  return {};
}

Result<void> AlertmanagerSink::Deliver(const Anomaly& anomaly) {
  PostableAlert alert =
      ToPostableAlert(anomaly, instance_, config_.generator_url, clock_(), config_.resend_interval);
  if (anomaly.state == AnomalyState::kFiring) {
    if (active_.size() < config_.max_active || active_.count(anomaly.id) > 0) {
      active_.insert_or_assign(anomaly.id, alert);
    } else {
      std::lock_guard lock(stats_mu_);
      ++stats_.active_overflow;
    }
  } else if (auto it = active_.find(anomaly.id); it != active_.end()) {
    // Resolve exactly the alert that fired: its labels, not the ones recomputed now.
    alert.labels = it->second.labels;
    active_.erase(it);
  }
  {
    std::lock_guard lock(stats_mu_);
    stats_.active = active_.size();
  }
  return PostToAll({alert});
}

std::chrono::milliseconds AlertmanagerSink::MaintenanceInterval() const {
  // Wake a few times per interval so a re-send is at most a quarter interval late.
  return std::chrono::duration_cast<std::chrono::milliseconds>(config_.resend_interval) / 4;
}

void AlertmanagerSink::Maintain() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_resend_ < config_.resend_interval) return;
  last_resend_ = now;
  if (active_.empty()) return;
  const uint64_t wall_ns = clock_();
  const uint64_t ends_ns =
      wall_ns + 4 * static_cast<uint64_t>(config_.resend_interval.count()) * kNsPerSecond;
  bool all_ok = true;
  std::vector<PostableAlert> batch;
  for (auto it = active_.begin(); it != active_.end();) {
    batch.push_back(it->second);
    batch.back().ends_ns = ends_ns;
    ++it;
    if (batch.size() == kMaxAlertsPerPost || it == active_.end()) {
      auto posted = PostToAll(batch);
      if (!posted.ok()) {
        all_ok = false;
        spdlog::warn("alertmanager sink: re-sending {} active alert(s) failed: {}", batch.size(),
                     posted.error().ToString());
      }
      batch.clear();
    }
  }
  std::lock_guard lock(stats_mu_);
  ++stats_.resends;
  if (!all_ok) ++stats_.resend_failures;
}

AlertmanagerStats AlertmanagerSink::Stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

}  // namespace ta::agent::alerts
