// The daemon's enforcement loop: anomalies become XDP rules and the node keeps serving if the
// daemon dies (docs/enforcement.md).
//
// Once a second (Housekeeping): heartbeat into the XDP program, expired rules removed, per-rule
// counters and XDP statistics to /metrics. Once per anomaly window: the active anomalies go
// through the rule policy (analyzer/policy/rule_policy.h) and its decisions become rules; each
// SYN throttle the policy made is steered by its PID controller (analyzer/policy/
// syn_controller.h) from the port's measured error ratio or p99 (LiveRouteStats), and removed
// when the controller releases it.
//
// Operators' rules come through the control socket into the same RuleManager; the config's
// allowlist is installed as rules of origin "config" at start-up.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/enforce/rule_manager.h"
#include "agent/enforce/xdp_enforcer.h"
#include "agent/enforce/xdp_rule_table.h"
#include "agent/live_stats.h"
#include "agent/metrics.h"
#include "agent/result.h"
#include "analyzer/anomaly/anomaly.h"
#include "analyzer/policy/rule_policy.h"
#include "analyzer/policy/syn_controller.h"

namespace ta::agent::enforce {

struct HeartbeatStatus {
  uint64_t age_ns = 0;
  uint64_t timeout_ns = 0;
  bool fail_open = false;  // as the XDP program judges it right now
};

class EnforcementService {
 public:
  // Loads the XDP program, restores rules.json, installs the config allowlist, beats once, then
  // attaches to `interfaces` (enforcement.interfaces, or the capture interfaces). Errors are
  // fatal for the daemon: enforcement was asked for and cannot be given.
  static Result<std::unique_ptr<EnforcementService>> Start(
      const Config& config, const std::vector<std::string>& interfaces, Metrics& metrics);
  ~EnforcementService();

  // Once a second. `active` is the anomaly engine's Active() list (empty when it is off).
  void Housekeeping(uint64_t mono_ns, int64_t unix_ns,
                    const std::vector<analyzer::anomaly::Anomaly>& active,
                    const LiveRouteStats& live);
  // Detaches from every interface (clean shutdown: no daemon, no enforcement).
  void Stop();

  RuleManager& rules() { return *rules_; }
  const XdpEnforcer& xdp() const { return *xdp_; }
  bool dry_run() const { return config_.enforcement.dry_run; }
  HeartbeatStatus Heartbeat(uint64_t mono_ns) const;
  const analyzer::policy::PolicyStats& policy_stats() const { return policy_.stats(); }
  // The admit ratio a detector-made SYN throttle on `port` currently has (controller state).
  const analyzer::policy::SynController* Controller(uint16_t port) const;

 private:
  EnforcementService(const Config& config, std::unique_ptr<XdpEnforcer> xdp, Metrics& metrics);
  Result<void> InstallAllowlist(int64_t unix_ns, int64_t offset_ns);
  void OnWindow(uint64_t mono_ns, int64_t unix_ns, int64_t offset_ns,
                const std::vector<analyzer::anomaly::Anomaly>& active,
                const LiveRouteStats& live);
  void Apply(const analyzer::policy::RuleDecision& decision, uint64_t mono_ns, int64_t unix_ns,
             int64_t offset_ns, const LiveRouteStats& live);
  void SteerSynThrottles(uint64_t mono_ns, int64_t offset_ns, const LiveRouteStats& live);
  // What a SYN throttle's controller measures on `port`.
  analyzer::policy::SynMeasurement Measure(const LiveRouteStats& live, uint64_t mono_ns,
                                           uint16_t port) const;
  void Export(uint64_t mono_ns);

  const Config config_;
  Metrics& metrics_;
  std::unique_ptr<XdpEnforcer> xdp_;
  std::unique_ptr<XdpRuleTable> table_;
  std::unique_ptr<RuleManager> rules_;
  analyzer::policy::RulePolicy policy_;
  std::map<uint16_t, analyzer::policy::SynController> controllers_;  // by port
  uint64_t last_beat_ns_ = 0;
  int64_t last_window_ = -1;
  uint64_t next_export_ns_ = 0;
  bool stopped_ = false;
};

}  // namespace ta::agent::enforce
