#include "agent/control/daemon_handler.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/alerts/text.h"
#include "agent/anomaly_service.h"
#include "agent/clock.h"
#include "agent/enforce/enforcement_service.h"
#include "agent/enforce/rule_json.h"
#include "agent/tls_probes.h"
#include "analyzer/analyzer.h"
#include "analyzer/anomaly/explain.h"
#include "analyzer/anomaly/thresholds.h"

namespace ta::agent::control {
namespace {

namespace anomaly = analyzer::anomaly;
constexpr double kNsPerSecond = 1e9;

Json TimeOrNull(int64_t unix_ns) {
  if (unix_ns <= 0) return nullptr;
  return alerts::FormatRfc3339Millis(static_cast<uint64_t>(unix_ns));
}

Json AnomalyToJson(const anomaly::Anomaly& a) {
  Json j{{"id", a.id},
         {"detector", anomaly::DetectorName(a.detector)},
         {"severity", anomaly::SeverityName(a.severity)},
         {"state", anomaly::StateName(a.state)},
         {"port", a.port},
         {"route", a.route},
         {"subject", nullptr},
         {"observed", a.observed},
         {"baseline", a.baseline},
         {"score", a.score},
         {"threshold", a.threshold},
         {"unit", a.unit},
         {"started", TimeOrNull(static_cast<int64_t>(a.started_ns))},
         {"explanation", a.explanation}};
  if (a.subject.family != 0) j["subject"] = a.subject.ToString();
  Json clients = Json::array();
  for (const anomaly::ClientShare& c : a.clients) {
    clients.push_back({{"client", c.client.ToString()}, {"count", c.count}});
  }
  j["clients"] = std::move(clients);
  return j;
}

Result<anomaly::DetectorKind> ParseDetector(std::string_view name) {
  std::string known;
  for (size_t i = 0; i < anomaly::kDetectorKinds; ++i) {
    const auto kind = static_cast<anomaly::DetectorKind>(i);
    if (anomaly::DetectorName(kind) == name) return kind;
    known += (i == 0 ? "" : ", ") + std::string(anomaly::DetectorName(kind));
  }
  return Error{0, fmt::format("unknown detector '{}' (known: {})", name, known)};
}

Json OverrideToJson(const anomaly::ThresholdOverride& o) {
  return {{"detector", anomaly::DetectorName(o.detector)},
          {"parameter", o.parameter},
          {"port", o.port},
          {"route", o.route},
          {"value", o.value},
          {"expires", TimeOrNull(static_cast<int64_t>(o.expires_ns))},
          {"reason", o.reason}};
}

// The args of a request, field by field, with errors that name the field.
class Args {
 public:
  explicit Args(const Json& args) : args_(args) {}

  Result<void> OnlyKnown(std::initializer_list<std::string_view> known) const {
    if (!args_.is_object()) return Error{0, "args must be a JSON object"};
    for (const auto& [key, value] : args_.items()) {
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
        return Error{0, fmt::format("unknown field '{}' (known: {})", key, list)};
      }
    }
    return {};
  }
  bool Has(const char* key) const { return args_.is_object() && args_.contains(key); }
  Result<uint64_t> Unsigned(const char* key, uint64_t max) const {
    const Json& v = args_.at(key);
    if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
      return Error{0, fmt::format("'{}' must be an integer in 0..{}", key, max)};
    }
    return v.get<uint64_t>();
  }
  Result<double> Number(const char* key) const {
    const Json& v = args_.at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>())) {
      return Error{0, fmt::format("'{}' must be a number", key)};
    }
    return v.get<double>();
  }
  Result<std::string> String(const char* key) const {
    const Json& v = args_.at(key);
    if (!v.is_string()) return Error{0, fmt::format("'{}' must be a string", key)};
    return v.get<std::string>();
  }

 private:
  const Json& args_;
};

}  // namespace

Result<Json> DaemonHandler::Handle(std::string_view cmd, const Json& args) {
  if (cmd == "status") return Status();
  if (cmd == "rules.list") return RulesList();
  if (cmd == "rules.add") return RulesAdd(args);
  if (cmd == "rules.del") return RulesDel(args);
  if (cmd == "rules.explain") return RulesExplain(args);
  if (cmd == "thresholds.get") return ThresholdsGet();
  if (cmd == "thresholds.set") return ThresholdsSet(args);
  if (cmd == "anomalies") return Anomalies(args);
  if (cmd == "top") return Top();
  return Error{0, fmt::format("unknown command '{}' (known: status, rules.list, rules.add, "
                              "rules.del, rules.explain, thresholds.get, thresholds.set, "
                              "anomalies, observe, top)",
                              cmd)};
}

Result<enforce::EnforcementService*> DaemonHandler::Enforcement() const {
  if (view_.enforcement == nullptr) {
    return Error{0, "enforcement is off on this node (enforcement.enabled: false in the "
                    "config): there are no rules"};
  }
  return view_.enforcement;
}

Result<Json> DaemonHandler::Status() const {
  const uint64_t now = MonotonicNs();
  Json features = Json::object();
  for (const auto& [name, ok] : view_.features) features[name] = ok;
  Json j{{"version", TA_VERSION},
         {"pid", getpid()},
         {"uptime_s", static_cast<double>(now - view_.started_mono_ns) / kNsPerSecond},
         {"kernel", {{"release", view_.kernel_release}, {"features", features}}},
         {"capture", {{"interfaces", view_.capture_interfaces},
                      {"ports", view_.config->ports}}}};
  Json enforcement{{"enabled", view_.enforcement != nullptr},
                   {"dry_run", view_.config->enforcement.dry_run},
                   {"interfaces", Json::array()},
                   {"heartbeat", nullptr},
                   {"rules", 0},
                   {"max_rules", view_.config->enforcement.max_rules},
                   {"stats", Json::object()}};
  if (view_.enforcement != nullptr) {
    const enforce::EnforcementService& e = *view_.enforcement;
    for (const enforce::XdpAttachment& a : e.xdp().attachments()) {
      enforcement["interfaces"].push_back({{"name", a.ifname},
                                           {"mode", a.native ? "native" : "generic"},
                                           {"prog_id", a.prog_id},
                                           {"replaced_leftover", a.replaced_leftover}});
    }
    const enforce::HeartbeatStatus hb = e.Heartbeat(now);
    enforcement["heartbeat"] = {{"age_ms", static_cast<double>(hb.age_ns) / 1e6},
                                {"timeout_ms", static_cast<double>(hb.timeout_ns) / 1e6},
                                {"fail_open", hb.fail_open}};
    enforcement["rules"] = view_.enforcement->rules().size();
    if (auto stats = e.xdp().ReadStats(); stats) {
      for (size_t i = 0; i < stats->size(); ++i) {
        enforcement["stats"][std::string(Metrics::XdpStatName(i))] = (*stats)[i];
      }
    }
  }
  j["enforcement"] = std::move(enforcement);
  j["tls"] = {{"enabled", view_.tls != nullptr},
              {"hooked_libraries", view_.tls != nullptr ? view_.tls->hooked_libraries() : 0}};
  Json anomaly_status{{"enabled", view_.anomalies != nullptr}, {"learned_ratio", 0.0}};
  if (view_.anomalies != nullptr) {
    anomaly_status["learned_ratio"] = view_.anomalies->engine().Status().learned_fraction;
  }
  j["anomaly"] = std::move(anomaly_status);
  if (view_.analyzer != nullptr) {
    j["connections"] = {{"tracked", view_.analyzer->stats().connections_tracked},
                        {"max", view_.config->connections.max}};
  }
  if (view_.rates != nullptr) {
    j["events"] = {{"per_second", view_.rates->per_second},
                   {"lost_per_second", view_.rates->lost_per_second},
                   {"lost_total", view_.rates->lost_total}};
  }
  return j;
}

namespace {

Json RuleWithCounters(const enforce::RuleManager& rules, const enforce::Rule& rule) {
  Json j = enforce::RuleToJson(rule);
  if (auto c = rules.Counters(rule.id); c) {
    j["counters"] = enforce::CountersToJson(*c);
  } else {
    j["counters"] = nullptr;
  }
  return j;
}

}  // namespace

Result<Json> DaemonHandler::RulesList() const {
  auto e = Enforcement();
  if (!e) return e.error();
  Json list = Json::array();
  for (const enforce::Rule& r : (*e)->rules().List()) {
    list.push_back(RuleWithCounters((*e)->rules(), r));
  }
  return Json{{"rules", std::move(list)}};
}

Result<Json> DaemonHandler::RulesAdd(const Json& args) {
  auto e = Enforcement();
  if (!e) return e.error();
  auto request = enforce::RuleRequestFromJson(args);
  if (!request) return request.error();
  request->origin = enforce::RuleOrigin::kOperator;
  auto added = (*e)->rules().Add(*request, RealtimeNs(), RealtimeMinusMonotonicNs());
  if (!added) return added.error();
  spdlog::warn("rule {} added by an operator: {} {}: {}", added->id,
               enforce::RuleKindName(added->kind),
               added->kind == enforce::RuleKind::kSynThrottle
                   ? fmt::format(":{}", added->port)
                   : added->source.ToString(),
               added->reason);
  return Json{{"rule", RuleWithCounters((*e)->rules(), *added)}};
}

namespace {

// The {"id": N} of rules.del and rules.explain.
Result<uint64_t> RuleId(const Json& args) {
  Args a(args);
  if (auto ok = a.OnlyKnown({"id"}); !ok) return ok.error();
  if (!a.Has("id")) return Error{0, "'id' is required (see trafficctl rules list)"};
  return a.Unsigned("id", UINT64_MAX);
}

}  // namespace

Result<Json> DaemonHandler::RulesDel(const Json& args) {
  auto e = Enforcement();
  if (!e) return e.error();
  auto id = RuleId(args);
  if (!id) return id.error();
  auto deleted = (*e)->rules().Delete(*id);
  if (!deleted) return deleted.error();
  spdlog::warn("rule {} deleted by an operator", *id);
  return Json{{"rule", enforce::RuleToJson(*deleted)}};
}

Result<Json> DaemonHandler::RulesExplain(const Json& args) const {
  auto e = Enforcement();
  if (!e) return e.error();
  auto id = RuleId(args);
  if (!id) return id.error();
  const enforce::Rule* rule = (*e)->rules().Find(*id);
  if (rule == nullptr) {
    return Error{0, fmt::format("no rule with id {} (see trafficctl rules list)", *id)};
  }
  Json anomaly_json = nullptr;
  if (rule->anomaly_id != 0 && view_.anomalies != nullptr) {
    auto& engine = view_.anomalies->engine();
    // The latest record of that anomaly: active first, else the most recent one.
    for (const anomaly::Anomaly& an : engine.Active()) {
      if (an.id == rule->anomaly_id) anomaly_json = AnomalyToJson(an);
    }
    if (anomaly_json.is_null()) {
      for (const anomaly::Anomaly& an : engine.Recent(1000)) {
        if (an.id == rule->anomaly_id) anomaly_json = AnomalyToJson(an);
      }
    }
  }
  std::string explanation;
  switch (rule->origin) {
    case enforce::RuleOrigin::kDetector:
      explanation = fmt::format(
          "made by the {} detector's policy for anomaly {} (offence {} of this target: TTL "
          "backs off with repeats). Evidence: {}",
          rule->detector, rule->anomaly_id, rule->offence, rule->reason);
      break;
    case enforce::RuleOrigin::kOperator:
      explanation = fmt::format("added by an operator: {}", rule->reason);
      break;
    case enforce::RuleOrigin::kConfig:
      explanation = "listed in enforcement.allowlist in the config file";
      break;
  }
  if (rule->expires_unix_ns != 0) {
    const double left = static_cast<double>(rule->expires_unix_ns - RealtimeNs()) / kNsPerSecond;
    explanation += fmt::format("; expires in {:.0f}s", std::max(0.0, left));
  } else {
    explanation += "; never expires";
  }
  if (rule->dry_run || view_.config->enforcement.dry_run) {
    explanation += "; dry run: counts would-drop, drops nothing";
  }
  return Json{{"rule", RuleWithCounters((*e)->rules(), *rule)},
              {"anomaly", std::move(anomaly_json)},
              {"explanation", std::move(explanation)}};
}

Result<Json> DaemonHandler::ThresholdsGet() const {
  if (view_.anomalies == nullptr) {
    return Error{0, "the anomaly engine is off (anomaly.enabled: false): no thresholds"};
  }
  Json overrides = Json::array();
  for (const anomaly::ThresholdOverride& o : view_.anomalies->engine().thresholds()) {
    overrides.push_back(OverrideToJson(o));
  }
  Json parameters = Json::array();
  for (const anomaly::AdjustableParameter& p : anomaly::AdjustableParameters()) {
    parameters.push_back({{"detector", anomaly::DetectorName(p.detector)},
                          {"name", p.name},
                          {"min", p.min},
                          {"max", p.max},
                          {"help", p.help}});
  }
  return Json{{"overrides", std::move(overrides)}, {"parameters", std::move(parameters)}};
}

Result<Json> DaemonHandler::ThresholdsSet(const Json& args) {
  if (view_.anomalies == nullptr) {
    return Error{0, "the anomaly engine is off (anomaly.enabled: false): no thresholds"};
  }
  Args a(args);
  if (auto ok = a.OnlyKnown({"detector", "parameter", "value", "port", "route", "ttl_s",
                             "reason"});
      !ok) {
    return ok.error();
  }
  for (const char* required : {"detector", "parameter", "value"}) {
    if (!a.Has(required)) return Error{0, fmt::format("'{}' is required", required)};
  }
  auto detector_name = a.String("detector");
  if (!detector_name) return detector_name.error();
  auto detector = ParseDetector(*detector_name);
  if (!detector) return detector.error();
  anomaly::ThresholdOverride o;
  o.detector = *detector;
  auto parameter = a.String("parameter");
  if (!parameter) return parameter.error();
  o.parameter = *parameter;
  auto value = a.Number("value");
  if (!value) return value.error();
  o.value = *value;
  if (a.Has("port")) {
    auto port = a.Unsigned("port", 65535);
    if (!port) return port.error();
    o.port = static_cast<uint16_t>(*port);
  }
  if (a.Has("route")) {
    auto route = a.String("route");
    if (!route) return route.error();
    o.route = *route;
    if (!o.route.empty() && o.port == 0) {
      return Error{0, "'route' needs 'port' (routes are per port)"};
    }
  }
  if (a.Has("ttl_s")) {
    auto ttl = a.Number("ttl_s");
    if (!ttl) return ttl.error();
    if (*ttl <= 0 || *ttl > 30.0 * 86400) {
      return Error{0, "'ttl_s' must be in (0, 2592000] seconds (30 days); an override that "
                      "never expires is a config change"};
    }
    o.expires_ns = static_cast<uint64_t>(RealtimeNs()) + static_cast<uint64_t>(*ttl * 1e9);
  }
  if (a.Has("reason")) {
    auto reason = a.String("reason");
    if (!reason) return reason.error();
    o.reason = *reason;
  }
  if (auto error = view_.anomalies->engine().SetThreshold(o, MonotonicNs()); error) {
    return Error{0, *error};
  }
  spdlog::warn("threshold override by an operator: {} {} = {} on {}{}", *detector_name,
               o.parameter, o.value, anomaly::DescribeKey(o.port, o.route),
               o.expires_ns != 0 ? "" : " (no expiry)");
  return Json{{"override", OverrideToJson(o)}};
}

Result<Json> DaemonHandler::Anomalies(const Json& args) const {
  if (view_.anomalies == nullptr) {
    return Error{0, "the anomaly engine is off (anomaly.enabled: false)"};
  }
  Args a(args);
  if (auto ok = a.OnlyKnown({"limit"}); !ok) return ok.error();
  uint64_t limit = 20;
  if (a.Has("limit")) {
    auto l = a.Unsigned("limit", 1000);
    if (!l) return l.error();
    limit = *l;
  }
  auto& engine = view_.anomalies->engine();
  Json active = Json::array();
  for (const anomaly::Anomaly& an : engine.Active()) active.push_back(AnomalyToJson(an));
  Json recent = Json::array();
  for (const anomaly::Anomaly& an : engine.Recent(limit)) recent.push_back(AnomalyToJson(an));
  return Json{{"active", std::move(active)}, {"recent", std::move(recent)}};
}

Result<Json> DaemonHandler::Top() const {
  Json routes = Json::array();
  if (view_.live != nullptr) {
    for (const LiveRouteRow& r : view_.live->Top(MonotonicNs() / 1'000'000'000)) {
      routes.push_back({{"port", r.port},
                        {"route", r.route},
                        {"rps", r.rps},
                        {"errors_per_s", r.errors_per_s},
                        {"error_ratio", r.error_ratio},
                        {"p99_ms", r.p99_ms}});
    }
  }
  return Json{{"window_s", LiveRouteStats::kSeconds}, {"routes", std::move(routes)}};
}

}  // namespace ta::agent::control
