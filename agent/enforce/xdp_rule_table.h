// The rule manager's RuleTable on real XDP maps: turns a Rule into the map entries of
// bpf/ta_abi.h ("XDP enforcement") and writes them through an XdpEnforcer.
#pragma once

#include <cstdint>

#include "agent/enforce/rule.h"
#include "agent/enforce/rule_manager.h"
#include "agent/enforce/xdp_enforcer.h"
#include "bpf/ta_abi.h"

namespace ta::agent::enforce {

// The LPM trie value of a drop, rate_limit or allow rule. For rate_limit, GCRA (ITU-T I.371)
// with emission interval max(1, round(1e9 / rate)) ns and tolerance burst x interval
// (saturating): a source may run `burst` packets ahead of its rate.
struct ta_xdp_rule XdpRuleValue(const Rule& rule, uint64_t expires_mono_ns);
XdpRuleEntry XdpRuleEntryFor(const Rule& rule, uint64_t expires_mono_ns);
// A syn_throttle rule's entry: admit_ppm = round(admit_ratio x 1e6).
XdpSynEntry XdpSynEntryFor(const Rule& rule, uint64_t expires_mono_ns);

class XdpRuleTable final : public RuleTable {
 public:
  explicit XdpRuleTable(XdpEnforcer& enforcer) : enforcer_(enforcer) {}

  Result<void> Install(const Rule& rule, uint64_t expires_mono_ns) override;
  Result<void> Remove(const Rule& rule) override;
  Result<void> ResetSlot(uint32_t slot) override;
  Result<ta_xdp_rule_counters> Counters(uint32_t slot) const override;

 private:
  XdpEnforcer& enforcer_;
};

}  // namespace ta::agent::enforce
