// Loads bpf/xdp_enforce.bpf.c, attaches it at XDP on the enforcement interfaces, and is the only
// writer of its maps (rules, SYN throttles, configuration, heartbeat). See the verdict order in
// bpf/ta_abi.h ("XDP enforcement").
//
// Attaching (docs/enforcement.md#attach):
//  - kNative tries the driver hook only, kGeneric the skb hook only, kAuto native then generic;
//    the mode obtained is reported per interface.
//  - The attachment is a netlink XDP attachment, not a bpf_link: it outlives the process on
//    purpose, so a daemon killed with SIGKILL leaves the program attached and failing open
//    (heartbeat stale) instead of leaving the interface unprotected or blocking by stale rules.
//  - An interface with an XDP program already attached is refused with an error naming the
//    program (its id, name and mode), unless that program is ours (named TA_XDP_PROG_NAME),
//    left by a daemon that died: it is then replaced atomically (XDP_FLAGS_REPLACE). We never
//    clobber another program, and we do not join a libxdp dispatcher: xdp-filter or any other
//    XDP user on the same interface is a configuration conflict the operator must resolve.
//  - DetachAll() removes the program only where it is still the one we attached.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/enforce/cidr.h"
#include "agent/result.h"
#include "bpf/ta_abi.h"

struct xdp_enforce;  // bpftool skeleton (xdp_enforce.skel.h, named after the object)
struct bpf_map;

namespace ta::agent::enforce {

enum class XdpAttachMode { kAuto, kNative, kGeneric };
std::string_view XdpAttachModeName(XdpAttachMode mode);  // "auto", "native", "generic"

struct XdpEnforcerOptions {
  uint32_t max_rules = 16384;             // entries of each LPM trie; slots = max_rules
  uint32_t max_tracked_sources = 65536;   // ta_xdp_buckets LRU entries
  uint32_t max_syn_ports = 64;            // ta_xdp_syn entries
  double new_sources_per_second = 1000;   // per rate-limit rule, see ta_xdp_newcomers
  uint32_t new_sources_burst = 1000;
  uint64_t heartbeat_timeout_ns = 5'000'000'000;
  bool dry_run = false;                   // TA_XDP_CFG_DRY_RUN
};

struct XdpAttachment {
  std::string ifname;
  int ifindex = 0;
  XdpAttachMode requested = XdpAttachMode::kAuto;
  bool native = false;          // the mode obtained: driver (native) or skb (generic)
  uint32_t prog_id = 0;
  bool replaced_leftover = false;  // replaced our own program left by a dead daemon
};

// One blocklist or allowlist entry as the maps hold it.
struct XdpRuleEntry {
  Cidr source;
  bool allow = false;  // allowlist (ta_xdp_allow_*) or blocklist (ta_xdp_block_*)
  struct ta_xdp_rule value {};
};

struct XdpSynEntry {
  uint16_t port = 0;
  uint32_t admit_ppm = TA_XDP_PPM;
  uint32_t slot = 0;
  bool dry_run = false;
  uint64_t expires_ns = 0;  // CLOCK_MONOTONIC, 0 = never
};

using XdpStats = std::array<uint64_t, TA_XDP_STAT_MAX>;

class XdpEnforcer {
 public:
  // Loads the object with map sizes from `options` and writes ta_xdp_config. Nothing attached.
  static Result<std::unique_ptr<XdpEnforcer>> Load(const XdpEnforcerOptions& options);
  ~XdpEnforcer();  // DetachAll()
  XdpEnforcer(const XdpEnforcer&) = delete;
  XdpEnforcer& operator=(const XdpEnforcer&) = delete;

  // See the header comment. Errors name the interface and what to do.
  Result<void> Attach(const std::string& ifname, XdpAttachMode mode);
  void DetachAll();
  const std::vector<XdpAttachment>& attachments() const { return attachments_; }

  // Writes `now_ns` (CLOCK_MONOTONIC) into ta_xdp_heartbeat.
  Result<void> Beat(uint64_t now_ns);
  Result<void> SetDryRun(bool dry_run);

  // Blocklist/allowlist entries. Put replaces an entry with the same prefix; Delete of an
  // absent entry is an error (ENOENT). Errors say which map and why (a full trie: "raise
  // enforcement.max_rules").
  Result<void> PutRule(const XdpRuleEntry& entry);
  Result<void> DeleteRule(const Cidr& source, bool allow);
  Result<void> PutSyn(const XdpSynEntry& entry);  // keeps the credit of an existing entry
  Result<void> DeleteSyn(uint16_t port);
  // Zeroes a slot's per-CPU counters and its newcomer budget before the slot is reused.
  Result<void> ResetSlot(uint32_t slot);
  // A slot's counters summed over CPUs.
  Result<ta_xdp_rule_counters> ReadCounters(uint32_t slot) const;
  Result<XdpStats> ReadStats() const;

  int prog_fd() const;  // for bpf_prog_test_run_opts in tests and benchmarks
  const XdpEnforcerOptions& options() const { return options_; }

 private:
  XdpEnforcer(xdp_enforce* skel, const XdpEnforcerOptions& options);
  Result<void> WriteConfig();  // ta_xdp_config from options_ and populated_
  bpf_map* TrieFor(const Cidr& source, bool allow) const;
  // After a successful put or delete: records which tables hold entries and rewrites
  // ta_xdp_config.populated when a table became empty or non-empty.
  void Track(uint32_t bit, std::set<Cidr>& entries, const Cidr& prefix, bool present);
  uint32_t BitFor(const Cidr& source, bool allow) const;

  xdp_enforce* skel_;
  XdpEnforcerOptions options_;
  std::vector<XdpAttachment> attachments_;
  // The prefixes in each trie (indexed like the TA_XDP_HAS_* bits) and the throttled ports:
  // an LPM trie cannot be asked whether it holds an exact prefix, so the loader keeps count.
  std::array<std::set<Cidr>, 4> prefixes_;
  std::set<Cidr> syn_ports_;  // the port in addr[0..1], family 0
  uint32_t populated_ = 0;
};

}  // namespace ta::agent::enforce
