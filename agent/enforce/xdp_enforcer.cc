#include "agent/enforce/xdp_enforcer.h"
#include "agent/bpf_names.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <optional>

#include "xdp_enforce.skel.h"

namespace ta::agent::enforce {
namespace {

static_assert(sizeof(ta_xdp_rule) == 40);
static_assert(offsetof(ta_xdp_rule, rule_id) == 24 && offsetof(ta_xdp_rule, port) == 32);
static_assert(sizeof(ta_xdp_bucket_key) == 24);
static_assert(sizeof(ta_xdp_syn_rule) == 32);
static_assert(sizeof(ta_xdp_config) == 32);
static_assert(sizeof(ta_xdp_rule_counters) == 48);
static_assert(sizeof(ta_xdp_lpm_v4_key) == 8 && sizeof(ta_xdp_lpm_v6_key) == 20);

constexpr uint8_t kAfInet = TA_AF_INET;
constexpr uint8_t kAfInet6 = TA_AF_INET6;

// "198.18.0.0/15" without Cidr::ToString (agent/enforce/cidr.cc belongs to the rule side; the
// loader only needs the text in its error messages).
std::string PrefixText(const Cidr& c) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (c.family == kAfInet || c.family == kAfInet6) {
    inet_ntop(c.family == kAfInet ? AF_INET : AF_INET6, c.addr.data(), buf, sizeof(buf));
  }
  return fmt::format("{}/{}", buf, c.prefix_len);
}

std::string_view ModeText(uint32_t attach_mode) {
  switch (attach_mode) {
    case XDP_ATTACHED_DRV:
      return "native (driver)";
    case XDP_ATTACHED_SKB:
      return "generic (skb)";
    case XDP_ATTACHED_HW:
      return "offloaded (hardware)";
    default:
      return "unknown";
  }
}

// The program attached to `ifindex` in one mode, as the kernel reports it.
struct XdpOccupant {
  uint32_t id = 0;
  uint32_t mode = XDP_ATTACHED_NONE;  // XDP_ATTACHED_DRV/SKB/HW
  std::string name;
};

// Every XDP program on the interface (a driver can hold one per mode).
Result<std::vector<XdpOccupant>> QueryXdp(int ifindex, const std::string& ifname) {
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (int err = bpf_xdp_query(ifindex, 0, &q); err != 0) {
    return ErrnoError(fmt::format("querying the XDP programs of {} failed", ifname), err);
  }
  std::vector<XdpOccupant> out;
  auto add = [&](uint32_t id, uint32_t mode) {
    if (id == 0) return;
    std::string name = BpfProgramName(id);
    out.push_back({id, mode, name.empty() ? "?" : name});
  };
  add(q.drv_prog_id, XDP_ATTACHED_DRV);
  add(q.skb_prog_id, XDP_ATTACHED_SKB);
  add(q.hw_prog_id, XDP_ATTACHED_HW);
  return out;
}

uint32_t ModeFlag(uint32_t attach_mode) {
  return attach_mode == XDP_ATTACHED_DRV ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

}  // namespace

std::string_view XdpAttachModeName(XdpAttachMode mode) {
  switch (mode) {
    case XdpAttachMode::kAuto:
      return "auto";
    case XdpAttachMode::kNative:
      return "native";
    case XdpAttachMode::kGeneric:
      return "generic";
  }
  return "?";
}

XdpEnforcer::XdpEnforcer(xdp_enforce* skel, const XdpEnforcerOptions& options)
    : skel_(skel), options_(options) {}

XdpEnforcer::~XdpEnforcer() {
  DetachAll();
  xdp_enforce__destroy(skel_);
}

Result<std::unique_ptr<XdpEnforcer>> XdpEnforcer::Load(const XdpEnforcerOptions& options) {
  if (options.max_rules == 0 || options.max_tracked_sources == 0 || options.max_syn_ports == 0) {
    return Error{EINVAL,
                 "enforcement.max_rules, max_tracked_sources and the SYN port table size must be "
                 "at least 1"};
  }
  if (!(options.new_sources_per_second > 0) || !std::isfinite(options.new_sources_per_second)) {
    return Error{EINVAL, fmt::format("enforcement.new_sources_per_second {} must be a positive "
                                     "number",
                                     options.new_sources_per_second)};
  }
  if (options.heartbeat_timeout_ns == 0) {
    return Error{EINVAL,
                 "enforcement.heartbeat_timeout_seconds must be above 0 (the XDP program fails "
                 "open once the daemon's heartbeat is older than this)"};
  }
  xdp_enforce* skel = xdp_enforce__open();
  if (skel == nullptr) return ErrnoError("opening the xdp_enforce BPF object failed");
  std::unique_ptr<XdpEnforcer> enforcer(new XdpEnforcer(skel, options));

  struct Size {
    bpf_map* map;
    uint32_t entries;
  };
  // Slots index both the per-rule counters and the newcomer budgets; the rule manager hands out
  // at most max_rules of them (SYN throttles included).
  const Size sizes[] = {
      {skel->maps.ta_xdp_allow_v4, options.max_rules},
      {skel->maps.ta_xdp_allow_v6, options.max_rules},
      {skel->maps.ta_xdp_block_v4, options.max_rules},
      {skel->maps.ta_xdp_block_v6, options.max_rules},
      {skel->maps.ta_xdp_buckets, options.max_tracked_sources},
      {skel->maps.ta_xdp_newcomers, options.max_rules},
      {skel->maps.ta_xdp_syn, options.max_syn_ports},
      {skel->maps.ta_xdp_rule_counters, options.max_rules},
  };
  for (const Size& s : sizes) {
    if (int err = bpf_map__set_max_entries(s.map, s.entries); err != 0) {
      return ErrnoError(
          fmt::format("sizing {} to {} entries failed", bpf_map__name(s.map), s.entries), err);
    }
  }
  if (int err = xdp_enforce__load(skel); err != 0) {
    return ErrnoError(
        "loading the xdp_enforce BPF program failed (the verifier log above says "
        "why; it needs Linux 5.18 for bpf_xdp_load_bytes, and CAP_BPF + "
        "CAP_NET_ADMIN, else EPERM)",
        err);
  }
  if (skel->rodata->abi_version != TA_ABI_VERSION) {
    return Error{EPROTO, fmt::format("xdp_enforce object ABI {} does not match the daemon's {}: "
                                     "the object and the daemon come from different builds",
                                     skel->rodata->abi_version, TA_ABI_VERSION)};
  }
  if (auto r = enforcer->WriteConfig(); !r) return r.error();
  return enforcer;
}

Result<void> XdpEnforcer::WriteConfig() {
  ta_xdp_config cfg{};
  cfg.heartbeat_timeout_ns = options_.heartbeat_timeout_ns;
  // 1e9 / rate, at least 1 ns; a rate so small that the interval overflows means "never".
  const double interval = std::ceil(1e9 / options_.new_sources_per_second);
  cfg.newcomer_interval_ns =
      interval >= 1.8e19 ? UINT64_MAX : std::max<uint64_t>(1, static_cast<uint64_t>(interval));
  const uint64_t burst = std::max<uint32_t>(1, options_.new_sources_burst);
  cfg.newcomer_tolerance_ns =
      cfg.newcomer_interval_ns > UINT64_MAX / burst ? UINT64_MAX : cfg.newcomer_interval_ns * burst;
  cfg.flags = options_.dry_run ? TA_XDP_CFG_DRY_RUN : 0;
  cfg.populated = populated_;
  uint32_t zero = 0;
  if (bpf_map__update_elem(skel_->maps.ta_xdp_config, &zero, sizeof(zero), &cfg, sizeof(cfg), 0) !=
      0) {
    return ErrnoError("writing ta_xdp_config failed");
  }
  return {};
}

int XdpEnforcer::prog_fd() const { return bpf_program__fd(skel_->progs.ta_xdp_enforce); }

Result<void> XdpEnforcer::Attach(const std::string& ifname, XdpAttachMode mode) {
  const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0) {
    return ErrnoError(
        fmt::format("enforcement interface '{}' not found (check "
                    "enforcement.interfaces against `ip link`)",
                    ifname));
  }
  for (const XdpAttachment& a : attachments_) {
    if (a.ifindex == ifindex) {
      return Error{EEXIST, fmt::format("XDP enforcement is already attached to {}", ifname)};
    }
  }
  auto present = QueryXdp(ifindex, ifname);
  if (!present) return present.error();

  const int fd = prog_fd();
  XdpAttachment att;
  att.ifname = ifname;
  att.ifindex = ifindex;
  att.requested = mode;

  // Someone else's program: refuse, naming it. Ours (a daemon killed before it could detach):
  // remember it for an atomic replacement below.
  std::optional<XdpOccupant> leftover;
  for (const XdpOccupant& p : *present) {
    if (p.name == TA_XDP_PROG_NAME && p.mode != XDP_ATTACHED_HW && !leftover) {
      leftover = p;
      continue;
    }
    return Error{EBUSY,
                 fmt::format("{} already has an XDP program attached: id {} '{}' in {} mode. "
                             "traffic-analyzer does not share an interface with another XDP "
                             "program (it does not join a libxdp dispatcher): remove it (`ip "
                             "link set dev {} xdp off`, or `xdp-loader unload {} --all` if "
                             "libxdp loaded it) or leave {} out of enforcement.interfaces",
                             ifname, p.id, p.name, ModeText(p.mode), ifname, ifname, ifname)};
  }

  auto try_attach = [&](uint32_t mode_flag) -> int {
    return bpf_xdp_attach(ifindex, fd, mode_flag | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
  };

  if (leftover) {
    const bool leftover_native = leftover->mode == XDP_ATTACHED_DRV;
    const bool same_mode =
        mode == XdpAttachMode::kAuto || (mode == XdpAttachMode::kNative) == leftover_native;
    int old_fd = bpf_prog_get_fd_by_id(leftover->id);
    if (old_fd < 0) {
      return ErrnoError(
          fmt::format("{}: cannot open our leftover XDP program id {}", ifname, leftover->id));
    }
    LIBBPF_OPTS(bpf_xdp_attach_opts, ro, .old_prog_fd = old_fd);
    int err = 0;
    if (same_mode) {
      // Atomic: the interface is never without a program, and if someone swapped the
      // leftover for theirs meanwhile the kernel refuses (EEXIST) instead of clobbering it.
      err = bpf_xdp_attach(ifindex, fd, ModeFlag(leftover->mode) | XDP_FLAGS_REPLACE, &ro);
      att.native = leftover_native;
    } else {
      // Another mode was asked for: the kernel allows one of native/generic at a time, so
      // remove the leftover (still only if it is the one we saw), then attach as asked.
      err = bpf_xdp_detach(ifindex, ModeFlag(leftover->mode) | XDP_FLAGS_REPLACE, &ro);
      if (err == 0) {
        const bool native = mode == XdpAttachMode::kNative;
        err = try_attach(native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
        att.native = native;
      }
    }
    close(old_fd);
    if (err != 0) {
      return ErrnoError(fmt::format("replacing our leftover XDP program (id {}, left by a "
                                    "daemon that died) on {} failed; remove it with `ip link "
                                    "set dev {} xdp off` and restart",
                                    leftover->id, ifname, ifname),
                        err);
    }
    att.replaced_leftover = true;
    spdlog::info("xdp: replaced our leftover program id {} on {} ({} mode)", leftover->id, ifname,
                 att.native ? "native" : "generic");
  } else if (mode == XdpAttachMode::kNative) {
    if (int err = try_attach(XDP_FLAGS_DRV_MODE); err != 0) {
      return ErrnoError(fmt::format("attaching XDP in native (driver) mode on {} failed: the "
                                    "driver may not support XDP; use enforcement.attach_mode: "
                                    "generic (or auto)",
                                    ifname),
                        err);
    }
    att.native = true;
  } else if (mode == XdpAttachMode::kGeneric) {
    if (int err = try_attach(XDP_FLAGS_SKB_MODE); err != 0) {
      return ErrnoError(fmt::format("attaching XDP in generic (skb) mode on {} failed", ifname),
                        err);
    }
  } else {
    int err = try_attach(XDP_FLAGS_DRV_MODE);
    att.native = err == 0;
    // EBUSY/EEXIST: someone attached between our query and now; do not try to go around them.
    if (err != 0 && err != -EBUSY && err != -EEXIST) {
      spdlog::info("xdp: native mode unavailable on {} ({}); using generic mode", ifname,
                   std::strerror(-err));
      err = try_attach(XDP_FLAGS_SKB_MODE);
    }
    if (err != 0) {
      return ErrnoError(
          fmt::format("attaching XDP on {} failed in native and generic mode", ifname), err);
    }
  }

  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) att.prog_id = info.id;
  attachments_.push_back(att);
  return {};
}

void XdpEnforcer::DetachAll() {
  const int fd = prog_fd();
  while (!attachments_.empty()) {
    const XdpAttachment a = attachments_.back();
    attachments_.pop_back();
    // XDP_FLAGS_REPLACE with our fd as the expected program: the kernel detaches only if the
    // program there is still ours, so an operator's replacement is never removed.
    LIBBPF_OPTS(bpf_xdp_attach_opts, opts, .old_prog_fd = fd);
    const uint32_t flags = (a.native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE) | XDP_FLAGS_REPLACE;
    int err = bpf_xdp_detach(a.ifindex, flags, &opts);
    if (err == -EEXIST) {
      spdlog::warn("xdp: {} no longer runs our program (someone replaced it); left as it is",
                   a.ifname);
    } else if (err != 0 && err != -ENODEV) {
      spdlog::warn("xdp: detaching from {} failed: {}", a.ifname, std::strerror(-err));
    }
  }
}

Result<void> XdpEnforcer::Beat(uint64_t now_ns) {
  uint32_t zero = 0;
  if (bpf_map__update_elem(skel_->maps.ta_xdp_heartbeat, &zero, sizeof(zero), &now_ns,
                           sizeof(now_ns), 0) != 0) {
    return ErrnoError("writing the XDP heartbeat failed (the program fails open until it works)");
  }
  return {};
}

Result<void> XdpEnforcer::SetDryRun(bool dry_run) {
  const bool before = options_.dry_run;
  options_.dry_run = dry_run;
  auto r = WriteConfig();
  if (!r) options_.dry_run = before;
  return r;
}

namespace {

// The trie and key for a prefix; host bits beyond the prefix are cleared so that the kernel's
// entry is exactly the prefix (Cidr promises this already; the mask keeps a caller's slip from
// creating an entry that Delete with the canonical prefix would not find).
struct LpmKey {
  bool is_v6 = false;
  ta_xdp_lpm_v4_key v4{};
  ta_xdp_lpm_v6_key v6{};
  const void* data() const { return is_v6 ? static_cast<const void*>(&v6) : &v4; }
  size_t size() const { return is_v6 ? sizeof(v6) : sizeof(v4); }
};

Result<LpmKey> MakeLpmKey(const Cidr& c) {
  LpmKey k;
  const size_t bytes = c.family == kAfInet ? 4 : c.family == kAfInet6 ? 16 : 0;
  if (bytes == 0) {
    return Error{EAFNOSUPPORT, fmt::format("rule source has address family {}, expected IPv4 (2) "
                                           "or IPv6 (10)",
                                           c.family)};
  }
  if (c.prefix_len > bytes * 8) {
    return Error{EINVAL,
                 fmt::format("rule source {}: prefix length above {}", PrefixText(c), bytes * 8)};
  }
  std::array<uint8_t, 16> a = c.addr;
  for (size_t i = 0; i < 16; ++i) {
    const size_t first_bit = i * 8;
    if (first_bit >= c.prefix_len || i >= bytes) {
      a[i] = 0;
    } else if (first_bit + 8 > c.prefix_len) {
      a[i] = static_cast<uint8_t>(a[i] & (0xFF00u >> (c.prefix_len - first_bit)));
    }
  }
  if (bytes == 4) {
    k.v4.prefixlen = c.prefix_len;
    std::memcpy(k.v4.addr, a.data(), 4);
  } else {
    k.v6.prefixlen = c.prefix_len;
    std::memcpy(k.v6.addr, a.data(), 16);
    k.is_v6 = true;
  }
  return k;
}

}  // namespace

bpf_map* XdpEnforcer::TrieFor(const Cidr& c, bool allow) const {
  if (c.family == kAfInet6)
    return allow ? skel_->maps.ta_xdp_allow_v6 : skel_->maps.ta_xdp_block_v6;
  return allow ? skel_->maps.ta_xdp_allow_v4 : skel_->maps.ta_xdp_block_v4;
}

uint32_t XdpEnforcer::BitFor(const Cidr& c, bool allow) const {
  if (c.family == kAfInet6) return allow ? TA_XDP_HAS_ALLOW_V6 : TA_XDP_HAS_BLOCK_V6;
  return allow ? TA_XDP_HAS_ALLOW_V4 : TA_XDP_HAS_BLOCK_V4;
}

void XdpEnforcer::Track(uint32_t bit, std::set<Cidr>& entries, const Cidr& prefix, bool present) {
  if (present) {
    entries.insert(prefix);
  } else {
    entries.erase(prefix);
  }
  const uint32_t populated = entries.empty() ? populated_ & ~bit : populated_ | bit;
  if (populated == populated_) return;
  populated_ = populated;
  // The map changed first, the bit follows: a frame in between is judged as if the change
  // had not happened yet (an added rule acts a few microseconds later, a removed one is
  // simply not found).
  if (auto r = WriteConfig(); !r) {
    // The entry is in the map but the program may skip its table until the next change; say
    // so rather than pretend (a config write failing is as unlikely as the map write failing).
    spdlog::error("enforcement: {}: rules in {} may be ignored until the next rule change",
                  r.error().ToString(), bit == TA_XDP_HAS_SYN ? "ta_xdp_syn" : "a trie");
  }
}

namespace {

size_t TrieIndex(uint32_t bit) {
  switch (bit) {
    case TA_XDP_HAS_ALLOW_V4:
      return 0;
    case TA_XDP_HAS_ALLOW_V6:
      return 1;
    case TA_XDP_HAS_BLOCK_V4:
      return 2;
    default:
      return 3;
  }
}

Cidr PortKey(uint16_t port) {
  Cidr c;
  c.addr[0] = static_cast<uint8_t>(port >> 8);
  c.addr[1] = static_cast<uint8_t>(port & 0xff);
  return c;
}

}  // namespace

Result<void> XdpEnforcer::PutRule(const XdpRuleEntry& entry) {
  auto key = MakeLpmKey(entry.source);
  if (!key) return key.error();
  const ta_xdp_rule& v = entry.value;
  if (v.slot >= options_.max_rules) {
    return Error{EINVAL, fmt::format("rule {}: slot {} out of range (max_rules {})",
                                     PrefixText(entry.source), v.slot, options_.max_rules)};
  }
  if (entry.allow != (v.action == TA_XDP_ACT_ALLOW)) {
    return Error{EINVAL, fmt::format("rule {}: action {} does not belong in the {}",
                                     PrefixText(entry.source), v.action,
                                     entry.allow ? "allowlist" : "blocklist")};
  }
  if (v.action > TA_XDP_ACT_ALLOW) {
    return Error{EINVAL,
                 fmt::format("rule {}: unknown action {}", PrefixText(entry.source), v.action)};
  }
  if (v.action == TA_XDP_ACT_RATE_LIMIT && v.interval_ns == 0) {
    return Error{EINVAL, fmt::format("rule {}: a rate limit needs an interval of at least 1 ns",
                                     PrefixText(entry.source))};
  }
  bpf_map* map = TrieFor(entry.source, entry.allow);
  if (bpf_map__update_elem(map, key->data(), key->size(), &v, sizeof(v), 0) != 0) {
    const int err = errno;
    if (err == ENOSPC || err == E2BIG) {
      return ErrnoError(
          fmt::format("map update failed: {} is full ({} entries): cannot add {}; raise "
                      "enforcement.max_rules",
                      bpf_map__name(map), options_.max_rules, PrefixText(entry.source)),
          err);
    }
    return ErrnoError(
        fmt::format("map update failed: adding {} to {} (CAP_BPF missing or map full)",
                    PrefixText(entry.source), bpf_map__name(map)),
        err);
  }
  const uint32_t bit = BitFor(entry.source, entry.allow);
  Track(bit, prefixes_[TrieIndex(bit)], entry.source, true);
  return {};
}

Result<void> XdpEnforcer::DeleteRule(const Cidr& source, bool allow) {
  auto key = MakeLpmKey(source);
  if (!key) return key.error();
  bpf_map* map = TrieFor(source, allow);
  if (bpf_map__delete_elem(map, key->data(), key->size(), 0) != 0) {
    return ErrnoError(
        fmt::format("removing {} from {} failed", PrefixText(source), bpf_map__name(map)));
  }
  const uint32_t bit = BitFor(source, allow);
  Track(bit, prefixes_[TrieIndex(bit)], source, false);
  return {};
}

Result<void> XdpEnforcer::PutSyn(const XdpSynEntry& entry) {
  if (entry.admit_ppm > TA_XDP_PPM) {
    return Error{EINVAL, fmt::format("SYN throttle on port {}: admit_ppm {} above {}", entry.port,
                                     entry.admit_ppm, TA_XDP_PPM)};
  }
  if (entry.slot >= options_.max_rules) {
    return Error{EINVAL, fmt::format("SYN throttle on port {}: slot {} out of range (max_rules "
                                     "{})",
                                     entry.port, entry.slot, options_.max_rules)};
  }
  const uint32_t port = entry.port;
  ta_xdp_syn_rule v{};
  // Keep the diffusion credit: a ratio change from the controller must not reset the phase
  // (which would admit or deny a run of SYNs at every change). A SYN counted between this read
  // and the write below is forgotten, at most one admission's worth.
  if (bpf_map__lookup_elem(skel_->maps.ta_xdp_syn, &port, sizeof(port), &v, sizeof(v), 0) != 0) {
    v = {};
  }
  v.admit_ppm = entry.admit_ppm;
  v.slot = entry.slot;
  v.flags = entry.dry_run ? TA_XDP_RULE_DRY_RUN : 0;
  v.expires_ns = entry.expires_ns;
  if (bpf_map__update_elem(skel_->maps.ta_xdp_syn, &port, sizeof(port), &v, sizeof(v), 0) != 0) {
    const int err = errno;
    if (err == E2BIG || err == ENOSPC) {
      return ErrnoError(fmt::format("map update failed: ta_xdp_syn is full (at most {} ports are "
                                    "throttled at "
                                    "once): cannot throttle port {}; delete a SYN throttle first",
                                    options_.max_syn_ports, entry.port),
                        err);
    }
    return ErrnoError(fmt::format("map update failed: adding the SYN throttle on port {} to "
                                  "ta_xdp_syn (CAP_BPF missing or map full)",
                                  entry.port),
                      err);
  }
  Track(TA_XDP_HAS_SYN, syn_ports_, PortKey(entry.port), true);
  return {};
}

Result<void> XdpEnforcer::DeleteSyn(uint16_t port) {
  const uint32_t key = port;
  if (bpf_map__delete_elem(skel_->maps.ta_xdp_syn, &key, sizeof(key), 0) != 0) {
    return ErrnoError(fmt::format("removing the SYN throttle on port {} failed", port));
  }
  Track(TA_XDP_HAS_SYN, syn_ports_, PortKey(port), false);
  return {};
}

Result<void> XdpEnforcer::ResetSlot(uint32_t slot) {
  if (slot >= options_.max_rules) {
    return Error{EINVAL,
                 fmt::format("slot {} out of range (max_rules {})", slot, options_.max_rules)};
  }
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoError("libbpf_num_possible_cpus", ncpu);
  std::vector<ta_xdp_rule_counters> zeros(static_cast<size_t>(ncpu));
  if (bpf_map__update_elem(skel_->maps.ta_xdp_rule_counters, &slot, sizeof(slot), zeros.data(),
                           zeros.size() * sizeof(ta_xdp_rule_counters), 0) != 0) {
    return ErrnoError(fmt::format("zeroing ta_xdp_rule_counters[{}] failed", slot));
  }
  const uint64_t empty = 0;  // a tat in the past: the full newcomer budget
  if (bpf_map__update_elem(skel_->maps.ta_xdp_newcomers, &slot, sizeof(slot), &empty, sizeof(empty),
                           0) != 0) {
    return ErrnoError(fmt::format("resetting ta_xdp_newcomers[{}] failed", slot));
  }
  return {};
}

Result<ta_xdp_rule_counters> XdpEnforcer::ReadCounters(uint32_t slot) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoError("libbpf_num_possible_cpus", ncpu);
  std::vector<ta_xdp_rule_counters> per_cpu(static_cast<size_t>(ncpu));
  if (bpf_map__lookup_elem(skel_->maps.ta_xdp_rule_counters, &slot, sizeof(slot), per_cpu.data(),
                           per_cpu.size() * sizeof(ta_xdp_rule_counters), 0) != 0) {
    return ErrnoError(fmt::format("reading ta_xdp_rule_counters[{}] failed (max_rules {})", slot,
                                  options_.max_rules));
  }
  ta_xdp_rule_counters sum{};
  for (const ta_xdp_rule_counters& c : per_cpu) {
    sum.matched_packets += c.matched_packets;
    sum.matched_bytes += c.matched_bytes;
    sum.dropped_packets += c.dropped_packets;
    sum.dropped_bytes += c.dropped_bytes;
    sum.would_drop_packets += c.would_drop_packets;
    sum.would_drop_bytes += c.would_drop_bytes;
  }
  return sum;
}

Result<XdpStats> XdpEnforcer::ReadStats() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoError("libbpf_num_possible_cpus", ncpu);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  XdpStats out{};
  for (uint32_t i = 0; i < TA_XDP_STAT_MAX; ++i) {
    if (bpf_map__lookup_elem(skel_->maps.ta_xdp_stats, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0) {
      return ErrnoError(fmt::format("reading ta_xdp_stats[{}] failed", i));
    }
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

}  // namespace ta::agent::enforce
