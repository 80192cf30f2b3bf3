#include "agent/enforce/xdp_rule_table.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ta::agent::enforce {

struct ta_xdp_rule XdpRuleValue(const Rule& rule, uint64_t expires_mono_ns) {
  struct ta_xdp_rule value {};
  value.expires_ns = expires_mono_ns;
  if (rule.kind == RuleKind::kRateLimit && rule.rate_per_second > 0) {
    // The manager bounds rate to (0, 1e9], so the interval is 1 ns .. 1e9 s; the guard keeps a
    // tiny rate from overflowing the conversion anyway.
    const double interval = std::round(1e9 / rule.rate_per_second);
    value.interval_ns = interval >= 1.8e19 ? std::numeric_limits<uint64_t>::max()
                                           : std::max<uint64_t>(1, static_cast<uint64_t>(interval));
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    value.tolerance_ns = rule.burst != 0 && value.interval_ns > max / rule.burst
                             ? max
                             : value.interval_ns * rule.burst;
  }
  value.rule_id = rule.bpf_rule_id;
  value.slot = rule.slot;
  value.port = rule.port;
  switch (rule.kind) {
    case RuleKind::kRateLimit:
      value.action = TA_XDP_ACT_RATE_LIMIT;
      break;
    case RuleKind::kAllow:
      value.action = TA_XDP_ACT_ALLOW;
      break;
    case RuleKind::kDrop:
    case RuleKind::kSynThrottle:
      value.action = TA_XDP_ACT_DROP;
      break;
  }
  value.flags = rule.dry_run ? TA_XDP_RULE_DRY_RUN : 0;
  return value;
}

XdpRuleEntry XdpRuleEntryFor(const Rule& rule, uint64_t expires_mono_ns) {
  XdpRuleEntry entry;
  entry.source = rule.source;
  entry.allow = rule.kind == RuleKind::kAllow;
  entry.value = XdpRuleValue(rule, expires_mono_ns);
  return entry;
}

XdpSynEntry XdpSynEntryFor(const Rule& rule, uint64_t expires_mono_ns) {
  XdpSynEntry entry;
  entry.port = rule.port;
  const double ratio = std::clamp(rule.admit_ratio, 0.0, 1.0);
  entry.admit_ppm = static_cast<uint32_t>(std::lround(ratio * TA_XDP_PPM));
  entry.slot = rule.slot;
  entry.dry_run = rule.dry_run;
  entry.expires_ns = expires_mono_ns;
  return entry;
}

Result<void> XdpRuleTable::Install(const Rule& rule, uint64_t expires_mono_ns) {
  if (rule.kind == RuleKind::kSynThrottle) {
    return enforcer_.PutSyn(XdpSynEntryFor(rule, expires_mono_ns));
  }
  return enforcer_.PutRule(XdpRuleEntryFor(rule, expires_mono_ns));
}

Result<void> XdpRuleTable::Remove(const Rule& rule) {
  if (rule.kind == RuleKind::kSynThrottle) return enforcer_.DeleteSyn(rule.port);
  return enforcer_.DeleteRule(rule.source, rule.kind == RuleKind::kAllow);
}

Result<void> XdpRuleTable::ResetSlot(uint32_t slot) { return enforcer_.ResetSlot(slot); }

Result<ta_xdp_rule_counters> XdpRuleTable::Counters(uint32_t slot) const {
  return enforcer_.ReadCounters(slot);
}

}  // namespace ta::agent::enforce
