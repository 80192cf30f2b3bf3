// The daemon's rule table: the one place rules are added, expired, deleted, persisted and
// pushed into the XDP maps. Operators (through the control socket), the detector policy
// (analyzer/policy/rule_policy.h) and the static allowlist of the config all come through here.
//
// Guarantees:
//  - Validation first, then the kernel, then the table: a request that fails (bad CIDR, a prefix
//    that already has a rule, a full table, a map update the kernel refused) changes nothing,
//    and the error says what to do. A delete of an unknown id is an error naming the id.
//  - Every change is written to state_dir/rules.json (atomic: tmp, fsync, rename, dir fsync).
//    Restore() re-installs the unexpired rules with their remaining TTL after a restart; a
//    corrupt file is set aside as rules.json.corrupt-<UTC> and reported, never fatal.
//  - Expire() removes rules whose time has come (once a second from the daemon); the XDP
//    program also ignores expired entries by itself, so a late Expire() never extends a rule.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/enforce/rule.h"
#include "agent/result.h"
#include "bpf/ta_abi.h"

namespace ta::agent::enforce {

// What the manager needs of the XDP side; XdpEnforcer implements it through XdpRuleTable
// (agent/enforce/xdp_rule_table.h), tests with a fake that can be told to fail.
class RuleTable {
 public:
  virtual ~RuleTable() = default;
  // `expires_mono_ns` is the rule's expiry on CLOCK_MONOTONIC (0 = never).
  virtual Result<void> Install(const Rule& rule, uint64_t expires_mono_ns) = 0;
  virtual Result<void> Remove(const Rule& rule) = 0;
  virtual Result<void> ResetSlot(uint32_t slot) = 0;
  virtual Result<ta_xdp_rule_counters> Counters(uint32_t slot) const = 0;
};

struct RuleManagerConfig {
  std::string state_dir;   // rules.json lives here; empty: not persisted (tests)
  uint32_t max_rules = 16384;
  double max_rate_per_second = 1e9;  // rate_limit bounds (GCRA interval >= 1 ns)
  uint32_t max_burst = 1'000'000;
};

struct RuleManagerStats {
  uint64_t added = 0;
  uint64_t deleted = 0;
  uint64_t expired = 0;
  uint64_t rejected = 0;         // requests refused (validation, full, kernel)
  uint64_t persist_failed = 0;   // rules.json could not be written (logged)
};

class RuleManager {
 public:
  // `wall_minus_mono_ns`: CLOCK_REALTIME - CLOCK_MONOTONIC, to convert expiries for the kernel.
  RuleManager(RuleManagerConfig config, RuleTable& table);

  // Re-installs rules.json's unexpired rules. Returns how many were restored; the error case is
  // only for an unusable state_dir (a corrupt file is set aside, reported in `note`).
  struct RestoreReport {
    size_t restored = 0;
    size_t expired = 0;  // skipped: their time passed while the daemon was down
    std::string note;    // e.g. "rules.json was corrupt (...): set aside as ..."
  };
  Result<RestoreReport> Restore(int64_t now_unix_ns, int64_t wall_minus_mono_ns);

  Result<Rule> Add(const RuleRequest& request, int64_t now_unix_ns, int64_t wall_minus_mono_ns);
  Result<Rule> Delete(uint64_t id);
  // A SYN throttle's admit ratio (from the PID controller); keeps its counters and expiry.
  Result<void> SetAdmitRatio(uint64_t id, double admit_ratio, int64_t wall_minus_mono_ns);
  // Removes every rule with expires_unix_ns <= now. Returns the removed rules.
  std::vector<Rule> Expire(int64_t now_unix_ns);

  const Rule* Find(uint64_t id) const;
  // A rule whose source prefix equals `source` (the kernel keeps one entry per prefix).
  const Rule* FindBySource(const Cidr& source, bool allow) const;
  const Rule* FindSynThrottle(uint16_t port) const;
  std::vector<Rule> List() const;  // by id
  Result<ta_xdp_rule_counters> Counters(uint64_t id) const;

  size_t size() const { return rules_.size(); }
  const RuleManagerStats& stats() const { return stats_; }

 private:
  // The request checks, in the order the header comment lists them; nothing is changed.
  Result<void> Validate(const RuleRequest& request) const;
  // A free slot (a reused one is reset first) or a new one.
  Result<uint32_t> TakeSlot();
  void ReturnSlot(uint32_t slot);
  // Slot, bpf_rule_id, kernel, table, in that order; on failure nothing is changed.
  Result<Rule> Install(Rule rule, int64_t wall_minus_mono_ns);
  std::string Serialize() const;
  Result<void> Persist();
  void PersistOrLog();  // counts and logs a failed Persist

  RuleManagerConfig config_;
  RuleTable& table_;
  std::map<uint64_t, Rule> rules_;
  uint64_t next_id_ = 1;
  uint32_t next_bpf_rule_id_ = 1;
  std::vector<uint32_t> free_slots_;
  uint32_t next_slot_ = 0;
  RuleManagerStats stats_;
};

}  // namespace ta::agent::enforce
