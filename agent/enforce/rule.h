// An enforcement rule as the daemon keeps it: what it does (the XDP entry), why it exists, who
// made it and until when. Persisted in state_dir/rules.json (agent/enforce/rule_manager.h) and
// shown by `trafficctl rules list|explain`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/enforce/cidr.h"
#include "agent/result.h"

namespace ta::agent::enforce {

enum class RuleKind : uint8_t { kDrop, kRateLimit, kSynThrottle, kAllow };
std::string_view RuleKindName(RuleKind kind);  // "drop", "rate_limit", "syn_throttle", "allow"
Result<RuleKind> ParseRuleKind(std::string_view text);

enum class RuleOrigin : uint8_t { kDetector, kOperator, kConfig };
std::string_view RuleOriginName(RuleOrigin origin);  // "detector", "operator", "config"
Result<RuleOrigin> ParseRuleOrigin(std::string_view text);

struct Rule {
  uint64_t id = 0;  // shown to operators; never reused (persisted counter)
  RuleKind kind = RuleKind::kDrop;
  Cidr source;        // unused for kSynThrottle
  uint16_t port = 0;  // 0 = every port (drop, rate_limit); required for syn_throttle
  double rate_per_second = 0;  // kRateLimit
  uint32_t burst = 0;          // kRateLimit
  double admit_ratio = 1.0;    // kSynThrottle: share of SYNs admitted, 0..1 (PID-steered)
  bool dry_run = false;        // count "would drop" only
  int64_t created_unix_ns = 0;
  int64_t expires_unix_ns = 0;  // wall clock; 0 = never
  RuleOrigin origin = RuleOrigin::kOperator;
  // Why (detector rules): the anomaly, its detector and the evidence (its explanation). For an
  // operator's rule, `reason` is the --reason text (required).
  uint64_t anomaly_id = 0;
  std::string detector;
  std::string reason;
  uint32_t offence = 1;

  // Kernel-side identity, assigned by the manager (not persisted: reassigned at restore).
  uint32_t slot = 0;
  uint32_t bpf_rule_id = 0;
};

// What an operator (or the policy) asks for; the manager fills ids, times and slots.
struct RuleRequest {
  RuleKind kind = RuleKind::kDrop;
  std::optional<Cidr> source;  // required unless kSynThrottle
  uint16_t port = 0;
  double rate_per_second = 0;
  uint32_t burst = 0;
  double admit_ratio = 1.0;
  bool dry_run = false;
  uint64_t ttl_ns = 0;  // 0 = never expires (operator rules only; detector rules always expire)
  RuleOrigin origin = RuleOrigin::kOperator;
  uint64_t anomaly_id = 0;
  std::string detector;
  std::string reason;
  uint32_t offence = 1;
};

}  // namespace ta::agent::enforce
