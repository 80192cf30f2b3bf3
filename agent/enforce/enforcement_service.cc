#include "agent/enforce/enforcement_service.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/clock.h"

namespace ta::agent::enforce {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;
// Per-rule counters are read one map lookup per rule; every 5 s keeps 10k rules at 2k lookups/s.
constexpr uint64_t kExportIntervalNs = 5 * kNsPerSecond;

RuleKind KindOf(analyzer::policy::RuleAction action) {
  switch (action) {
    case analyzer::policy::RuleAction::kDrop:
      return RuleKind::kDrop;
    case analyzer::policy::RuleAction::kRateLimit:
      return RuleKind::kRateLimit;
    case analyzer::policy::RuleAction::kSynThrottle:
      return RuleKind::kSynThrottle;
  }
  return RuleKind::kDrop;
}

}  // namespace

Result<std::unique_ptr<EnforcementService>> EnforcementService::Start(
    const Config& config, const std::vector<std::string>& interfaces, Metrics& metrics) {
  const EnforcementConfig& ec = config.enforcement;
  XdpEnforcerOptions options;
  options.max_rules = ec.max_rules;
  options.max_tracked_sources = ec.max_tracked_sources;
  options.new_sources_per_second = ec.new_sources_per_second;
  options.new_sources_burst = ec.new_sources_burst;
  options.heartbeat_timeout_ns = uint64_t{ec.heartbeat_timeout_seconds} * kNsPerSecond;
  options.dry_run = ec.dry_run;
  auto xdp = XdpEnforcer::Load(options);
  if (!xdp) return xdp.error();
  std::unique_ptr<EnforcementService> service(
      new EnforcementService(config, std::move(*xdp), metrics));

  const int64_t offset = RealtimeMinusMonotonicNs();
  const int64_t now_unix = RealtimeNs();
  auto restored = service->rules_->Restore(now_unix, offset);
  if (!restored) return restored.error();
  if (!restored->note.empty()) spdlog::warn("{}", restored->note);
  spdlog::info("enforcement: {} rule(s) restored from {}/rules.json ({} expired while down)",
               restored->restored, config.state_dir, restored->expired);
  if (auto allowed = service->InstallAllowlist(now_unix, offset); !allowed) {
    return allowed.error();
  }
  // The program judges nothing until it has a fresh heartbeat: beat before attaching.
  const uint64_t now_mono = MonotonicNs();
  if (auto beat = service->xdp_->Beat(now_mono); !beat) return beat.error();
  service->last_beat_ns_ = now_mono;
  for (const std::string& ifname : interfaces) {
    if (auto attached = service->xdp_->Attach(ifname, ec.attach_mode); !attached) {
      return attached.error();  // the destructor detaches what was attached
    }
    const XdpAttachment& a = service->xdp_->attachments().back();
    spdlog::info("enforcement: XDP attached on {} ({} mode{}, program id {}){}", ifname,
                 a.native ? "native" : "generic",
                 ec.attach_mode == XdpAttachMode::kAuto ? ", auto" : "", a.prog_id,
                 a.replaced_leftover ? "; replaced the program a previous daemon left" : "");
  }
  if (ec.dry_run) {
    spdlog::warn("enforcement: dry run (enforcement.dry_run): rules count would-drop, nothing "
                 "is dropped");
  }
  service->Export(now_mono);
  return service;
}

EnforcementService::EnforcementService(const Config& config, std::unique_ptr<XdpEnforcer> xdp,
                                       Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      xdp_(std::move(xdp)),
      table_(std::make_unique<XdpRuleTable>(*xdp_)),
      rules_(std::make_unique<RuleManager>(
          RuleManagerConfig{.state_dir = config.state_dir,
                            .max_rules = config.enforcement.max_rules},
          *table_)),
      policy_(config.enforcement.policy) {}

EnforcementService::~EnforcementService() { Stop(); }

void EnforcementService::Stop() {
  if (stopped_) return;
  stopped_ = true;
  xdp_->DetachAll();
}

Result<void> EnforcementService::InstallAllowlist(int64_t unix_ns, int64_t offset_ns) {
  // The config is the truth for origin "config": drop restored entries it no longer lists,
  // add what it lists and the table lacks.
  for (const Rule& r : rules_->List()) {
    if (r.origin != RuleOrigin::kConfig) continue;
    const auto& list = config_.enforcement.allowlist;
    if (std::find(list.begin(), list.end(), r.source) == list.end()) {
      if (auto d = rules_->Delete(r.id); !d) return d.error();
    }
  }
  for (const Cidr& cidr : config_.enforcement.allowlist) {
    if (const Rule* existing = rules_->FindBySource(cidr, /*allow=*/true); existing != nullptr) {
      continue;
    }
    RuleRequest req;
    req.kind = RuleKind::kAllow;
    req.source = cidr;
    req.origin = RuleOrigin::kConfig;
    req.reason = "enforcement.allowlist";
    if (auto added = rules_->Add(req, unix_ns, offset_ns); !added) {
      return Error{0, fmt::format("enforcement.allowlist: {}: {}", cidr.ToString(),
                                  added.error().ToString())};
    }
  }
  return {};
}

HeartbeatStatus EnforcementService::Heartbeat(uint64_t mono_ns) const {
  HeartbeatStatus s;
  s.timeout_ns = xdp_->options().heartbeat_timeout_ns;
  s.age_ns = mono_ns > last_beat_ns_ ? mono_ns - last_beat_ns_ : 0;
  s.fail_open = last_beat_ns_ == 0 || s.age_ns > s.timeout_ns;
  return s;
}

const analyzer::policy::SynController* EnforcementService::Controller(uint16_t port) const {
  auto it = controllers_.find(port);
  return it == controllers_.end() ? nullptr : &it->second;
}

void EnforcementService::Housekeeping(uint64_t mono_ns, int64_t unix_ns,
                                      const std::vector<analyzer::anomaly::Anomaly>& active,
                                      const LiveRouteStats& live) {
  if (stopped_) return;
  if (auto beat = xdp_->Beat(mono_ns); beat) {
    last_beat_ns_ = mono_ns;
  } else {
    spdlog::error("enforcement: heartbeat not written ({}); the XDP program fails open after "
                  "{}s",
                  beat.error().ToString(), config_.enforcement.heartbeat_timeout_seconds);
  }
  for (const Rule& r : rules_->Expire(unix_ns)) {
    spdlog::info("rule {} expired: {} {}{}", r.id, RuleKindName(r.kind),
                 r.kind == RuleKind::kSynThrottle ? fmt::format(":{}", r.port)
                                                  : r.source.ToString(),
                 r.anomaly_id != 0 ? fmt::format(" (anomaly {})", r.anomaly_id) : "");
    if (r.kind == RuleKind::kSynThrottle && r.origin == RuleOrigin::kDetector) {
      controllers_.erase(r.port);
    }
  }
  const int64_t offset = unix_ns - static_cast<int64_t>(mono_ns);
  const auto window_ns = static_cast<int64_t>(config_.anomaly.engine.window_ns);
  const int64_t window = window_ns > 0 ? unix_ns / window_ns : 0;
  if (window != last_window_) {
    if (last_window_ >= 0) OnWindow(mono_ns, unix_ns, offset, active, live);
    last_window_ = window;
  }
  if (mono_ns >= next_export_ns_) Export(mono_ns);
}

void EnforcementService::OnWindow(uint64_t mono_ns, int64_t unix_ns, int64_t offset_ns,
                                  const std::vector<analyzer::anomaly::Anomaly>& active,
                                  const LiveRouteStats& live) {
  // The policy's clock is wall time, like the anomalies it reads (and like the TTLs it sets).
  for (const auto& decision : policy_.OnWindow(static_cast<uint64_t>(unix_ns), active)) {
    Apply(decision, mono_ns, unix_ns, offset_ns, live);
  }
  SteerSynThrottles(mono_ns, offset_ns, live);
}

void EnforcementService::Apply(const analyzer::policy::RuleDecision& d, uint64_t mono_ns,
                               int64_t unix_ns, int64_t offset_ns, const LiveRouteStats& live) {
  RuleRequest req;
  req.kind = KindOf(d.action);
  if (req.kind != RuleKind::kSynThrottle) {
    req.source = Cidr::Host(d.source.family, d.source.addr);
  }
  req.port = d.port;
  req.rate_per_second = d.rate_per_second;
  req.burst = d.burst;
  req.ttl_ns = d.expires_ns > d.created_ns ? d.expires_ns - d.created_ns : 1;
  req.origin = RuleOrigin::kDetector;
  req.anomaly_id = d.anomaly_id;
  req.detector = std::string(analyzer::anomaly::DetectorName(d.detector));
  req.reason = d.reason;
  req.offence = d.offence;
  if (req.kind == RuleKind::kSynThrottle) {
    analyzer::policy::SynController& controller =
        controllers_.try_emplace(d.port, config_.enforcement.syn_throttle).first->second;
    controller.Engage(static_cast<uint64_t>(unix_ns));
    if (rules_->FindSynThrottle(d.port) != nullptr) return;  // already throttled: held longer
    req.admit_ratio =
        controller.Update(static_cast<uint64_t>(unix_ns), Measure(live, mono_ns, d.port));
  }
  auto added = rules_->Add(req, unix_ns, offset_ns);
  if (!added) {
    spdlog::warn("policy decision not applied (anomaly {}): {}", d.anomaly_id,
                 added.error().ToString());
    if (req.kind == RuleKind::kSynThrottle && rules_->FindSynThrottle(d.port) == nullptr) {
      controllers_.erase(d.port);
    }
    return;
  }
  spdlog::warn("rule {} added: {} {} {}for {}s (offence {}): {}", added->id,
               RuleKindName(added->kind),
               added->kind == RuleKind::kSynThrottle ? fmt::format(":{}", added->port)
                                                     : added->source.ToString(),
               added->dry_run || config_.enforcement.dry_run ? "(dry run) " : "",
               (added->expires_unix_ns - added->created_unix_ns) / 1'000'000'000,
               added->offence, added->reason);
}

analyzer::policy::SynMeasurement EnforcementService::Measure(const LiveRouteStats& live,
                                                             uint64_t mono_ns,
                                                             uint16_t port) const {
  // The port over the last anomaly window (the controller's step), in whole seconds.
  const auto seconds = static_cast<uint32_t>(
      std::max<uint64_t>(1, config_.anomaly.engine.window_ns / kNsPerSecond));
  const LivePortWindow w = live.Port(mono_ns / kNsPerSecond, port, seconds);
  return {.requests = w.requests, .errors = w.errors, .p99_seconds = w.p99_seconds};
}

void EnforcementService::SteerSynThrottles(uint64_t mono_ns, int64_t offset_ns,
                                           const LiveRouteStats& live) {
  const int64_t unix_ns = static_cast<int64_t>(mono_ns) + offset_ns;
  for (auto it = controllers_.begin(); it != controllers_.end();) {
    const uint16_t port = it->first;
    const Rule* rule = rules_->FindSynThrottle(port);
    if (rule == nullptr || rule->origin != RuleOrigin::kDetector) {
      it = controllers_.erase(it);  // deleted by an operator, or expired
      continue;
    }
    const double ratio =
        it->second.Update(static_cast<uint64_t>(unix_ns), Measure(live, mono_ns, port));
    const uint64_t id = rule->id;
    if (it->second.TakeReleased()) {
      spdlog::info("rule {} released: SYN throttle on :{} no longer needed (the port's signal "
                   "stayed at or below its setpoint for the release window)",
                   id, port);
      if (auto d = rules_->Delete(id); !d) spdlog::warn("{}", d.error().ToString());
      it = controllers_.erase(it);
      continue;
    }
    if (auto set = rules_->SetAdmitRatio(id, ratio, offset_ns); !set) {
      spdlog::warn("SYN throttle on :{}: {}", port, set.error().ToString());
    }
    ++it;
  }
}

void EnforcementService::Export(uint64_t mono_ns) {
  next_export_ns_ = mono_ns + kExportIntervalNs;
  Metrics::EnforcementSnapshot snap;
  if (auto stats = xdp_->ReadStats(); stats) {
    snap.xdp = *stats;
  } else {
    spdlog::warn("enforcement: {}", stats.error().ToString());
  }
  for (const Rule& r : rules_->List()) {
    Metrics::RuleSample sample;
    sample.id = r.id;
    sample.kind = std::string(RuleKindName(r.kind));
    sample.origin = std::string(RuleOriginName(r.origin));
    if (auto c = rules_->Counters(r.id); c) sample.counters = *c;
    snap.rules.push_back(std::move(sample));
    if (r.kind == RuleKind::kSynThrottle) snap.syn_admit.emplace_back(r.port, r.admit_ratio);
  }
  const RuleManagerStats& rs = rules_->stats();
  snap.rules_added = rs.added;
  snap.rules_deleted = rs.deleted;
  snap.rules_expired = rs.expired;
  snap.rules_rejected = rs.rejected;
  const auto& ps = policy_.stats();
  snap.decisions = ps.decisions;
  snap.held_back = ps.held_back;
  snap.already_ruled = ps.already_ruled;
  snap.settling = ps.settling;
  for (const XdpAttachment& a : xdp_->attachments()) {
    snap.attached.push_back({a.ifname, a.native ? "native" : "generic"});
  }
  metrics_.UpdateEnforcement(snap);
}

}  // namespace ta::agent::enforce
