// The pure half of `trafficctl doctor`: Facts in, a Report out. Every status, text and fix is
// decided here so that tests/agent/doctor_test.cc can pin them with literal facts.
#include "agent/ctl/doctor.h"
#include "agent/ctl/format.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "agent/prereq.h"
#include "agent/privileges.h"
#include "agent/tc_hook.h"

namespace ta::agent::ctl::doctor {
namespace {

constexpr uint64_t Bit(int cap) { return CapBit(cap); }
bool Has(uint64_t caps, int cap) { return (caps & Bit(cap)) != 0; }

// The names of our programs as the kernel keeps them (the function names in bpf/*.bpf.c,
// at most BPF_OBJ_NAME_LEN - 1 = 15 characters).
constexpr const char* kOurXdpProgram = "ta_xdp_enforce";
bool IsOurTcProgram(const std::string& name) {
  return name == "ta_tc_ingress" || name == "ta_tc_egress";
}

// enum netdev_xdp_act (include/uapi/linux/netdev.h, 6.3).
constexpr uint64_t kXdpActBasic = 1;
constexpr std::array<const char*, 7> kXdpActNames = {
    "basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg"};

// timex.status bit and adjtimex() state (include/uapi/linux/timex.h).
constexpr int kStaUnsync = 0x0040;
constexpr int kTimeError = 5;

constexpr double kMapPressure = 0.9;  // "a map over 90 %": room for a burst before it is full

Check Make(std::string name, Status status, std::string summary, std::string detail = "",
           std::string fix = "") {
  return Check{std::move(name), status, std::move(summary), std::move(detail), std::move(fix)};
}

std::string Errno(int negative_errno) { return std::strerror(-negative_errno); }

const char* const kRunAsRoot = "run `sudo trafficctl doctor` (the probes need CAP_BPF)";

// ---- Kernel and BPF features. ----

Check KernelCheck(const Facts& f) {
  auto version = ParseKernelRelease(f.kernel_release);
  if (!version) {
    return Make("kernel", Status::kFail, version.error().message,
                "the daemon refuses to start on a release it cannot read",
                "report the `uname -r` output as a bug");
  }
  if (!version->AtLeast(5, 8)) {
    return Make(
        "kernel", Status::kFail,
        fmt::format("kernel {} lacks the BPF ring buffer (needs 5.8 or newer)", f.kernel_release),
        "the daemon refuses to start: every event reaches it through a BPF ring buffer",
        "upgrade the kernel to 5.8 or newer");
  }
  return Make("kernel", Status::kOk, fmt::format("kernel {} (5.8 or newer)", f.kernel_release));
}

Check BtfCheck(const Facts& f) {
  if (f.btf) return Make("btf", Status::kOk, "BTF at /sys/kernel/btf/vmlinux");
  return Make("btf", Status::kFail, "no BTF at /sys/kernel/btf/vmlinux",
              "the programs are CO-RE: libbpf relocates them against the kernel's BTF, and the "
              "daemon refuses to start without it",
              "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (all major distributions since "
              "2021)");
}

Check ProbeCheck(const std::string& name, ProbeResult probe, const std::string& what,
                 const std::string& needs) {
  if (probe == 1) return Make(name, Status::kOk, fmt::format("the kernel accepts {}", what));
  if (probe == 0) {
    return Make(name, Status::kFail, fmt::format("the kernel refused {}", what),
                "probed with libbpf: the version number alone does not say (distributions "
                "backport and disable features); the daemon refuses to start",
                fmt::format("use a kernel with {}", needs));
  }
  return Make(name, Status::kSkip, fmt::format("cannot probe {}: {}", what, Errno(probe)), "",
              kRunAsRoot);
}

std::string XdpFeatureNames(uint64_t features) {
  std::string out;
  for (size_t i = 0; i < kXdpActNames.size(); ++i) {
    if ((features & (uint64_t{1} << i)) != 0)
      out += (out.empty() ? "" : ", ") + std::string(kXdpActNames[i]);
  }
  return out.empty() ? "none" : out;
}

Check XdpCheck(const Facts& f, const InterfaceFacts& i) {
  const std::string name = "xdp:" + i.name;
  const auto& e = f.config.enforcement;
  if (!i.exists) {
    return Make(name, Status::kFail, fmt::format("interface {} does not exist", i.name),
                i.enforce ? "the daemon cannot attach capture or enforcement to it"
                          : "the daemon cannot attach capture to it",
                "list the interfaces with `ip -br link` and set `interfaces:` (and "
                "`enforcement.interfaces:`) in the config");
  }
  std::string native;
  bool native_known = i.xdp_features.has_value();
  bool native_ok = native_known && (*i.xdp_features & kXdpActBasic) != 0;
  if (!native_known) {
    native =
        "native: unknown (the driver's xdp-features need kernel 6.3+ and the netdev "
        "generic netlink family)";
  } else if (native_ok) {
    native = fmt::format("native: supported (driver xdp-features: {})",
                         XdpFeatureNames(*i.xdp_features));
  } else {
    native = "native: not supported by the driver (generic only)";
  }
  std::string attached;
  for (const auto& a : f.daemon.xdp) {
    if (a.ifname == i.name) {
      attached = fmt::format("; the daemon attached {} mode, program id {}", a.mode, a.prog_id);
    }
  }
  const std::string summary = "generic: always; " + native + attached;
  if (!i.enforce) {
    return Make(name, Status::kOk, summary, "enforcement is off on this interface: XDP unused");
  }
  if (f.xdp == 0) {
    return Make(name, Status::kFail, "the kernel refused an XDP program (probed with libbpf)",
                "enforcement.enabled is true: the daemon refuses to start",
                "use a kernel with CONFIG_BPF_SYSCALL and XDP, or set enforcement.enabled: false");
  }
  if (e.attach_mode == enforce::XdpAttachMode::kNative) {
    if (native_known && !native_ok) {
      return Make(name, Status::kFail, summary,
                  "enforcement.attach_mode is native, which this driver cannot do: the daemon "
                  "refuses to start",
                  "set enforcement.attach_mode: auto (falls back to generic) or generic");
    }
    if (!native_known) {
      return Make(name, Status::kWarn, summary,
                  "enforcement.attach_mode is native and the kernel cannot say whether the "
                  "driver supports it: the daemon fails at start if it does not",
                  "set enforcement.attach_mode: auto (native when the driver takes it, else "
                  "generic)");
    }
  }
  std::string detail;
  if (e.attach_mode == enforce::XdpAttachMode::kAuto && native_known && !native_ok) {
    detail =
        "attach_mode auto uses generic XDP here: it runs after the kernel has built the "
        "socket buffer, so drops cost more than native ones";
  }
  return Make(name, Status::kOk, summary, detail);
}

Check UprobesCheck(const Facts& f) {
  if (f.uprobe_pmu) {
    return Make("uprobes", Status::kOk,
                "uprobe PMU present (/sys/bus/event_source/devices/uprobe/type)");
  }
  if (!f.config.tls.enabled) {
    return Make("uprobes", Status::kOk, "no uprobe PMU; not needed (tls.enabled: false)");
  }
  return Make("uprobes", Status::kWarn,
              "no uprobe PMU (/sys/bus/event_source/devices/uprobe/type): TLS plaintext is not "
              "visible",
              "HTTPS on the watched ports is counted in tcp_* only; the daemon runs without TLS "
              "visibility",
              "use a kernel with CONFIG_UPROBE_EVENTS=y, or set tls.enabled: false");
}

Check TracepointsCheck(const Facts& f) {
  if (!f.tracefs) {
    return Make("tracepoints", Status::kSkip,
                "tracefs is not mounted on /sys/kernel/tracing (see tracefs)");
  }
  if (f.syscall_tracepoints) {
    return Make("tracepoints", Status::kOk,
                "syscall tracepoints present (/sys/kernel/tracing/events/syscalls)");
  }
  if (!f.config.tls.enabled) {
    return Make("tracepoints", Status::kOk,
                "no syscall tracepoints; not needed (tls.enabled: false)");
  }
  return Make("tracepoints", Status::kWarn,
              "no syscall tracepoints under /sys/kernel/tracing/events/syscalls",
              "the TLS probes use sys_enter_read/write to tie plaintext to its socket; without "
              "them the daemon runs without TLS visibility",
              "use a kernel with CONFIG_FTRACE_SYSCALLS=y, or set tls.enabled: false");
}

// ---- Privileges. ----

std::string Caps(uint64_t caps) { return CapabilityNames(caps); }

Check CapabilitiesCheck(const Facts& f) {
  const bool tls = f.config.tls.enabled;
  const uint64_t start = Bit(kCapBpf) | Bit(kCapPerfmon) | Bit(kCapNetAdmin);
  const uint64_t kept =
      Bit(kCapNetAdmin) |
      (tls ? Bit(kCapBpf) | Bit(kCapPerfmon) | Bit(kCapSysPtrace) | Bit(kCapDacReadSearch) : 0);
  const uint64_t relevant = start | kept | Bit(kCapSysAdmin);
  std::string self = fmt::format("this doctor has {}", Caps(f.self.cap_eff & relevant));
  if (!Has(f.self.cap_eff, kCapBpf) && !Has(f.self.cap_eff, kCapSysAdmin)) {
    self += " (without CAP_BPF the BPF feature probes are skipped)";
  }
  const std::string needs = fmt::format(
      "to start the daemon needs CAP_BPF, CAP_PERFMON (or CAP_SYS_ADMIN) and CAP_NET_ADMIN; "
      "after attaching it keeps CAP_NET_ADMIN (to detach at shutdown){}",
      tls ? " and, for TLS processes that start later, CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE "
            "(read their memory maps) and CAP_DAC_READ_SEARCH (open their libssl)"
          : "");
  if (!f.daemon_process) {
    return Make("capabilities", Status::kSkip,
                f.daemon_reachable ? "cannot read the daemon's /proc/PID/status"
                                   : "the daemon is not running",
                self + "; " + needs);
  }
  const ProcessFacts& d = *f.daemon_process;
  uint64_t have = d.cap_eff;
  if (Has(have, kCapSysAdmin)) have |= Bit(kCapBpf) | Bit(kCapPerfmon);
  const uint64_t missing = kept & ~have;
  const std::string summary =
      fmt::format("daemon (pid {}, uid {}) has {}", d.pid, d.uid, Caps(d.cap_eff & relevant));
  if (missing == 0) return Make("capabilities", Status::kOk, summary, needs + "; " + self);
  std::string effect;
  if (Has(missing, kCapNetAdmin)) {
    effect = "without CAP_NET_ADMIN it cannot remove its tc filters and XDP program at shutdown";
  }
  if ((missing & ~Bit(kCapNetAdmin)) != 0) {
    effect += fmt::format("{}without {} TLS processes that start after the daemon are not hooked",
                          effect.empty() ? "" : "; ", Caps(missing & ~Bit(kCapNetAdmin)));
  }
  return Make("capabilities", Status::kWarn, summary + "; missing " + Caps(missing),
              effect + "; " + needs,
              fmt::format("grant {} with AmbientCapabilities= and CapabilityBoundingSet= in the "
                          "unit (`systemctl edit traffic-analyzer`)",
                          Caps(missing)));
}

Check MemlockCheck(const Facts& f) {
  auto version = ParseKernelRelease(f.kernel_release);
  if (version && version->AtLeast(5, 11)) {
    return Make("memlock", Status::kOk,
                fmt::format("kernel {} charges BPF memory to the memory cgroup (5.11+): "
                            "RLIMIT_MEMLOCK does not matter",
                            f.kernel_release));
  }
  const ProcessFacts& p = f.daemon_process ? *f.daemon_process : f.self;
  const std::string whose = f.daemon_process ? "the daemon's" : "this shell's";
  if (p.memlock_unlimited) {
    return Make("memlock", Status::kOk, fmt::format("{} RLIMIT_MEMLOCK is unlimited", whose));
  }
  return Make("memlock", Status::kWarn,
              fmt::format("{} RLIMIT_MEMLOCK is {} KiB on kernel {}", whose,
                          p.memlock_soft.value_or(0) / 1024, f.kernel_release),
              "before 5.11 every BPF map is charged to RLIMIT_MEMLOCK: the ring buffer and the "
              "connection map fail to load beyond it",
              "set LimitMEMLOCK=infinity in the unit (`systemctl edit traffic-analyzer`)");
}

Check BpffsCheck(const Facts& f) {
  if (f.bpffs) return Make("bpffs", Status::kOk, "bpffs mounted on /sys/fs/bpf");
  return Make("bpffs", Status::kWarn, "bpffs is not mounted on /sys/fs/bpf",
              "the daemon mounts it at start when it can (CAP_SYS_ADMIN); in a container or "
              "under a read-only /sys it cannot",
              "mount -t bpf bpf /sys/fs/bpf (or a sys-fs-bpf.mount unit)");
}

Check TracefsCheck(const Facts& f) {
  if (f.tracefs) return Make("tracefs", Status::kOk, "tracefs mounted on /sys/kernel/tracing");
  if (!f.config.tls.enabled) {
    return Make("tracefs", Status::kOk,
                "tracefs is not mounted on /sys/kernel/tracing; not needed (tls.enabled: false)");
  }
  return Make("tracefs", Status::kWarn, "tracefs is not mounted on /sys/kernel/tracing",
              "the TLS probes attach to syscall tracepoints found there",
              "mount -t tracefs tracefs /sys/kernel/tracing");
}

// ---- Other programs on the watched interfaces. ----

std::string Describe(const ProgramFact& p, bool ours) {
  const std::string name = p.name.empty() ? "?" : p.name;
  if (p.priority == 0) {
    return fmt::format("xdp {} id {} {}{}", p.attach, p.id, name, ours ? " (ours)" : "");
  }
  return fmt::format("tc {} prio {} id {} {}{}", p.attach, p.priority, p.id, name,
                     ours ? " (ours)" : "");
}

Check ForeignProgramsCheck(const InterfaceFacts& i) {
  const std::string name = "foreign-programs:" + i.name;
  if (!i.exists)
    return Make(name, Status::kSkip, fmt::format("interface {} does not exist", i.name));
  std::vector<std::string> ours, foreign_xdp, foreign_tc, notes;
  for (const auto& p : i.xdp_programs) {
    const bool mine = p.name == kOurXdpProgram;
    (mine ? ours : foreign_xdp).push_back(Describe(p, mine));
  }
  for (const auto& p : i.tc_programs) {
    const bool mine = IsOurTcProgram(p.name);
    if (mine) {
      ours.push_back(Describe(p, true));
      continue;
    }
    foreign_tc.push_back(Describe(p, false));
    // Filters of one hook run in ascending priority; ours returns TC_ACT_UNSPEC so later ones
    // still run, but one that runs first and returns a verdict hides those packets from ours.
    if (p.priority < kTcPriority) {
      notes.push_back(fmt::format(
          "tc {} id {} runs before ours (prio {} < {}): packets it ends with a verdict (not "
          "TC_ACT_UNSPEC) are not seen by the daemon",
          p.attach, p.id, p.priority, kTcPriority));
    } else {
      notes.push_back(
          fmt::format("tc {} id {} runs after ours (prio {} > {}): ours passes every packet on "
                      "(TC_ACT_UNSPEC), so it sees them all",
                      p.attach, p.id, p.priority, kTcPriority));
    }
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  };
  std::string errors;
  if (!i.xdp_query_error.empty()) errors += "XDP: " + i.xdp_query_error;
  if (!i.tc_query_error.empty())
    errors += (errors.empty() ? "" : "; ") + ("tc: " + i.tc_query_error);
  if (!i.xdp_query_error.empty() && !i.tc_query_error.empty()) {
    return Make(name, Status::kSkip, "cannot list the programs: " + errors, "", kRunAsRoot);
  }
  std::string summary;
  std::vector<std::string> foreign = foreign_xdp;
  foreign.insert(foreign.end(), foreign_tc.begin(), foreign_tc.end());
  summary = foreign.empty() ? "no foreign programs" : "foreign: " + join(foreign);
  summary += ours.empty() ? "; none of ours attached" : "; ours: " + join(ours);
  std::string detail = join(notes);
  if (!errors.empty()) detail += (detail.empty() ? "" : "; ") + ("could not list " + errors);
  if (!foreign_xdp.empty() && i.enforce) {
    std::string ids;
    for (const auto& p : i.xdp_programs) {
      if (p.name == kOurXdpProgram) continue;
      ids += fmt::format("{}{} id {} ({})", ids.empty() ? "" : ", ", p.name.empty() ? "?" : p.name,
                         p.id, p.attach);
    }
    return Make(name, Status::kFail, summary,
                fmt::format("enforcement is enabled on {} and another XDP program holds it ({}): "
                            "the daemon refuses to start rather than replace it{}",
                            i.name, ids, detail.empty() ? "" : "; " + detail),
                fmt::format("if it is stale, detach it: `ip link set dev {} xdpgeneric off` "
                            "(xdpdrv off for native; or `xdp-loader unload {} --all`); else set "
                            "enforcement.interfaces to other interfaces or enforcement.enabled: "
                            "false",
                            i.name, i.name));
  }
  if (!foreign_xdp.empty()) {
    detail = "enforcement is off on this interface, so a foreign XDP program does not conflict" +
             (detail.empty() ? "" : "; " + detail);
  }
  return Make(name, Status::kOk, summary, detail);
}

Check ClockCheck(const Facts& f) {
  const ClockFacts& c = f.clock;
  if (!c.read) return Make("clock", Status::kSkip, "adjtimex() failed");
  const std::string figures =
      fmt::format("maxerror {} us, esterror {} us, frequency offset {:.3f} ppm", c.maxerror_us,
                  c.esterror_us, static_cast<double>(c.freq) / 65536.0);
  if ((c.status & kStaUnsync) != 0 || c.state == kTimeError) {
    return Make("clock", Status::kWarn, "the system clock is not synchronized (STA_UNSYNC)",
                "anomaly windows and the RFC 3339 timestamps in alerts drift against other "
                "nodes; " +
                    figures,
                "enable time synchronization: `systemctl enable --now chronyd` (or "
                "systemd-timesyncd)");
  }
  return Make("clock", Status::kOk, "synchronized; " + figures);
}

// ---- The running daemon. ----

Check DaemonCheck(const Facts& f) {
  if (f.daemon_reachable) {
    const DaemonStatus& d = f.daemon;
    return Make("daemon", Status::kOk,
                fmt::format("running: version {}{}, up {}, control socket {}", d.version,
                            d.pid ? fmt::format(", pid {}", *d.pid) : "", FormatUptime(d.uptime_s),
                            f.socket_path));
  }
  if (f.socket_denied) {
    return Make("daemon", Status::kWarn,
                fmt::format("running{} but its control socket {} refuses this user: {}",
                            f.daemon_process ? fmt::format(" (pid {})", f.daemon_process->pid) : "",
                            f.socket_path, f.daemon_error),
                "trafficctl cannot read rules, anomalies or status; the checks that need them "
                "are skipped",
                "run as root or as a member of control.group; `systemctl status "
                "traffic-analyzer`");
  }
  return Make("daemon", Status::kFail,
              fmt::format("not running: the control socket {} does not answer", f.socket_path),
              f.daemon_error,
              fmt::format("systemctl status traffic-analyzer; journalctl -u traffic-analyzer "
                          "-n 50 (control socket: {})",
                          f.socket_path));
}

Check RingbufPressureCheck(const Facts& f) {
  if (!f.daemon_reachable)
    return Make("ringbuf-pressure", Status::kSkip, "the daemon is not running");
  const DaemonStatus& d = f.daemon;
  if (!d.lost_per_second) {
    return Make("ringbuf-pressure", Status::kSkip, "the daemon reports no event rates");
  }
  const uint64_t total = d.lost_total.value_or(0);
  if (*d.lost_per_second > 0) {
    const Config& c = f.config;
    return Make(
        "ringbuf-pressure", Status::kWarn,
        fmt::format("{:.1f} events/s lost in the last interval ({} since start)",
                    *d.lost_per_second, total),
        "the ring buffer was full: the analyzer fell behind the kernel, and a lost "
        "segment ends the parsing of its connection",
        fmt::format("raise ringbuf_size (now {}; a power of two, e.g. {}), lower snaplen "
                    "(now {}), or watch fewer ports (ports: {} now)",
                    c.ringbuf_size, uint64_t{c.ringbuf_size} * 2, c.snaplen, c.ports.size()));
  }
  return Make("ringbuf-pressure", Status::kOk,
              fmt::format("no events lost in the last interval ({:.1f} events/s; {} lost since "
                          "start)",
                          d.events_per_second.value_or(0), total));
}

Check MapPressureCheck(const Facts& f) {
  if (!f.daemon_reachable) return Make("map-pressure", Status::kSkip, "the daemon is not running");
  const DaemonStatus& d = f.daemon;
  std::vector<std::string> parts, fixes, full;
  auto ratio = [](uint64_t used, uint64_t max) {
    return max == 0 ? 0.0 : static_cast<double>(used) / static_cast<double>(max);
  };
  if (d.connections_tracked) {
    const uint64_t max = d.connections_max.value_or(f.config.connections.max);
    const double r = ratio(*d.connections_tracked, max);
    parts.push_back(
        fmt::format("connections {}/{} ({:.0f}%)", *d.connections_tracked, max, 100 * r));
    if (r > kMapPressure) {
      full.push_back("connections");
      fixes.push_back(fmt::format("raise connections.max (now {})", max));
    }
  }
  if (d.enforcement_enabled && d.rules) {
    const uint64_t max = d.max_rules.value_or(f.config.enforcement.max_rules);
    const double r = ratio(*d.rules, max);
    parts.push_back(fmt::format("XDP rules {}/{} ({:.0f}%)", *d.rules, max, 100 * r));
    if (r > kMapPressure) {
      full.push_back("rules");
      fixes.push_back(fmt::format("raise enforcement.max_rules (now {})", max));
    }
  }
  if (parts.empty()) return Make("map-pressure", Status::kSkip, "the daemon reports no map use");
  std::string summary, fix;
  for (const auto& p : parts) summary += (summary.empty() ? "" : ", ") + p;
  if (full.empty()) return Make("map-pressure", Status::kOk, summary);
  for (const auto& x : fixes) fix += (fix.empty() ? "" : "; ") + x;
  return Make("map-pressure", Status::kWarn, summary,
              "over 90 % full: beyond it the oldest idle connections are evicted (their "
              "exchanges are lost) and new rules are refused",
              fix);
}

Check MetricsCheck(const Facts& f) {
  const MetricsFacts& m = f.metrics;
  const std::string url = fmt::format("{}://{}/metrics", m.tls ? "https" : "http", m.address);
  const std::string tls_note =
      m.tls ? "TLS certificate not verified: this is a reachability check" : "";
  if (m.outcome == MetricsFacts::Outcome::kNotTried) {
    return Make("metrics-endpoint", Status::kSkip,
                fmt::format("the daemon is not running: {} not tried", url));
  }
  if (m.outcome == MetricsFacts::Outcome::kHttp) {
    if (m.http_status == 200) {
      return Make("metrics-endpoint", Status::kOk, fmt::format("GET {}: 200", url), tls_note);
    }
    if (m.http_status == 401) {
      return Make("metrics-endpoint", Status::kOk,
                  fmt::format("GET {}: 401: basic auth is on and working (the doctor sends no "
                              "credentials)",
                              url),
                  tls_note);
    }
    if (m.http_status == 403) {
      return Make("metrics-endpoint", Status::kOk,
                  fmt::format("GET {}: 403: the client allowlist (metrics.allow) is working "
                              "and does not list this host",
                              url),
                  tls_note);
    }
    return Make("metrics-endpoint", Status::kWarn,
                fmt::format("GET {}: unexpected HTTP {}", url, m.http_status), tls_note,
                fmt::format("check what listens on {} (`ss -ltnp`) and metrics.listen", m.address));
  }
  if (m.outcome == MetricsFacts::Outcome::kTlsError) {
    return Make("metrics-endpoint", Status::kFail,
                fmt::format("TLS handshake with {} failed: {}", m.address, m.error),
                "metrics.web_config_file asks for TLS; " + tls_note,
                fmt::format("check tls_server_config (cert_file, key_file) in {}; try `openssl "
                            "s_client -connect {}`",
                            f.config.metrics.web_config_file, m.address));
  }
  const char* what = m.outcome == MetricsFacts::Outcome::kRefused   ? "connection refused"
                     : m.outcome == MetricsFacts::Outcome::kTimeout ? "timed out"
                                                                    : "failed";
  return Make("metrics-endpoint", Status::kFail,
              fmt::format("GET {}: {} while the daemon runs", url, what), m.error,
              fmt::format("compare metrics.listen ({}) with `ss -ltnp`; journalctl -u "
                          "traffic-analyzer",
                          m.address));
}

Check StateDirCheck(const Facts& f) {
  const StateDirFacts& s = f.state_dir;
  const std::string name = "state-dir";
  if (s.stat_errno == ENOENT) {
    if (!f.daemon_reachable) {
      return Make(
          name, Status::kOk,
          fmt::format("{} does not exist yet; the daemon creates it at start (mode 0750)", s.path));
    }
    return Make(name, Status::kWarn, fmt::format("{} does not exist", s.path),
                "the daemon created it at start and it was removed: baselines are not saved",
                fmt::format("mkdir -m 0750 {} and chown it to the daemon's user", s.path));
  }
  if (s.stat_errno != 0) {
    return Make(name, Status::kFail,
                fmt::format("cannot stat {}: {}", s.path, std::strerror(s.stat_errno)), "",
                kRunAsRoot);
  }
  if (!s.is_dir) {
    return Make(name, Status::kFail, fmt::format("{} is not a directory", s.path),
                "the daemon keeps anomaly baselines there and refuses to start",
                fmt::format("remove it or set state_dir to a directory"));
  }
  const std::string mode = fmt::format("{:04o}", s.mode);
  if ((s.mode & 0002) != 0) {
    return Make(name, Status::kFail, fmt::format("{} is world-writable (mode {})", s.path, mode),
                "any local user could plant baselines; the daemon refuses to start",
                fmt::format("chmod o-w {}", s.path));
  }
  std::string summary = fmt::format("{}: directory, mode {}, owner uid {}", s.path, mode, s.uid);
  if (!f.daemon_process) return Make(name, Status::kOk, summary);
  const ProcessFacts& d = *f.daemon_process;
  const bool writable = (s.uid == d.uid && (s.mode & 0200) != 0) || Has(d.cap_eff, kCapDacOverride);
  if (!writable) {
    return Make(name, Status::kFail,
                summary + fmt::format("; the daemon (uid {}) cannot write it", d.uid),
                "anomaly baselines are not saved and are relearned after every restart",
                fmt::format("chown {} {} && chmod 0750 {}", d.uid, s.path, s.path));
  }
  if (s.uid != d.uid) {
    return Make(name, Status::kWarn, summary + fmt::format("; the daemon runs as uid {}", d.uid),
                "it writes there only through CAP_DAC_OVERRIDE, which a hardened unit drops",
                fmt::format("chown {} {}", d.uid, s.path));
  }
  return Make(name, Status::kOk, summary + fmt::format(", writable by the daemon (uid {})", d.uid));
}

Check ConfigCheck(const Facts& f) {
  if (!f.config_error.empty()) {
    return Make("config", Status::kFail, fmt::format("cannot load {}", f.config_path),
                f.config_error + " (the other checks used the built-in defaults)",
                "correct the key the message names (docs/configuration.md), then `systemctl "
                "restart traffic-analyzer`");
  }
  if (f.config_path.empty()) {
    return Make(
        "config", Status::kOk,
        fmt::format("no config file ({} is absent): built-in defaults", kDefaultConfigPath));
  }
  return Make("config", Status::kOk, fmt::format("{} loads", f.config_path));
}

}  // namespace

std::string_view StatusName(Status status) {
  switch (status) {
    case Status::kOk:
      return "ok";
    case Status::kWarn:
      return "warn";
    case Status::kFail:
      return "fail";
    case Status::kSkip:
      return "skip";
  }
  return "?";
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHealthy:
      return "healthy";
    case Verdict::kDegraded:
      return "degraded";
    case Verdict::kBroken:
      return "broken";
  }
  return "?";
}

Verdict VerdictOf(const Report& report) {
  Verdict v = Verdict::kHealthy;
  for (const Check& c : report.checks) {
    if (c.status == Status::kFail) return Verdict::kBroken;
    if (c.status == Status::kWarn) v = Verdict::kDegraded;
  }
  return v;
}

int ExitCode(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHealthy:
      return kExitHealthy;
    case Verdict::kDegraded:
      return kExitDegraded;
    case Verdict::kBroken:
      return kExitBroken;
  }
  return kExitCannotRun;
}

Report Evaluate(const Facts& f) {
  Report r;
  auto add = [&](Check c) { r.checks.push_back(std::move(c)); };
  add(ConfigCheck(f));
  add(KernelCheck(f));
  add(BtfCheck(f));
  add(ProbeCheck("ringbuf", f.ringbuf, "a BPF ring buffer map",
                 "BPF ring buffer support (5.8+, CONFIG_BPF_SYSCALL)"));
  add(ProbeCheck("tc", f.sched_cls, "a tc (sched_cls) BPF program",
                 "CONFIG_NET_CLS_BPF and CONFIG_NET_SCH_INGRESS"));
  for (const auto& i : f.interfaces) add(XdpCheck(f, i));
  add(UprobesCheck(f));
  add(TracepointsCheck(f));
  add(CapabilitiesCheck(f));
  add(MemlockCheck(f));
  add(BpffsCheck(f));
  add(TracefsCheck(f));
  for (const auto& i : f.interfaces) add(ForeignProgramsCheck(i));
  add(ClockCheck(f));
  add(RingbufPressureCheck(f));
  add(MapPressureCheck(f));
  add(MetricsCheck(f));
  add(StateDirCheck(f));
  add(DaemonCheck(f));
  return r;
}

std::string RenderJson(const Report& report) {
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  for (const Check& c : report.checks) {
    checks.push_back({{"name", c.name},
                      {"status", StatusName(c.status)},
                      {"summary", c.summary},
                      {"detail", c.detail},
                      {"fix", c.fix}});
  }
  nlohmann::ordered_json out{{"status", VerdictName(VerdictOf(report))},
                             {"checks", std::move(checks)}};
  return out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

std::string RenderText(const Report& report) {
  size_t width = 0;
  for (const Check& c : report.checks) width = std::max(width, c.name.size());
  std::string out;
  std::array<size_t, 4> counts{};
  for (const Check& c : report.checks) {
    ++counts[static_cast<size_t>(c.status)];
    const char* tag = c.status == Status::kOk     ? "ok  "
                      : c.status == Status::kWarn ? "WARN"
                      : c.status == Status::kFail ? "FAIL"
                                                  : "skip";
    out += fmt::format("{}  {:<{}}  {}\n", tag, c.name, width, c.summary);
    if (c.status == Status::kOk) continue;
    const std::string indent(width + 8, ' ');
    if (!c.detail.empty()) out += indent + c.detail + "\n";
    if (!c.fix.empty()) out += indent + "fix: " + c.fix + "\n";
  }
  out += fmt::format("{}: {} checks, {} ok, {} warn, {} fail, {} skipped\n",
                     VerdictName(VerdictOf(report)), report.checks.size(), counts[0], counts[1],
                     counts[2], counts[3]);
  return out;
}

// ---- Parsers. ----

std::string CapabilityNames(uint64_t caps) { return agent::CapabilityNames(caps, ", "); }

Result<ProcessFacts> ParseProcStatus(std::string_view text) {
  ProcessFacts p;
  bool cap = false, uid = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    if (line.starts_with("CapEff:")) {
      const std::string_view hex = std::string_view(line).substr(7);
      if (hex.find_first_not_of(" \t") == std::string_view::npos) {
        return Error{EINVAL, "CapEff: has no value"};
      }
      auto mask = ParseCapabilityMask(hex);
      if (!mask) return Error{EINVAL, "CapEff: " + mask.error().message};
      p.cap_eff = *mask;
      cap = true;
    } else if (line.starts_with("Uid:")) {
      // Real, effective, saved, filesystem (proc(5)).
      unsigned long real = 0, effective = 0;
      if (std::sscanf(line.c_str() + 4, "%lu %lu", &real, &effective) != 2) {
        return Error{EINVAL, fmt::format("cannot read '{}'", line)};
      }
      p.uid = static_cast<uint32_t>(effective);
      uid = true;
    } else if (line.starts_with("Pid:")) {
      p.pid = std::atoll(line.c_str() + 4);
    }
  }
  if (!cap) return Error{EINVAL, "no CapEff: line (is /proc mounted with hidepid?)"};
  if (!uid) return Error{EINVAL, "no Uid: line"};
  return p;
}

void ParseProcLimits(std::string_view text, ProcessFacts& out) {
  constexpr std::string_view kKey = "Max locked memory";
  const size_t at = text.find(kKey);
  if (at == std::string_view::npos) return;
  size_t end = text.find('\n', at);
  if (end == std::string_view::npos) end = text.size();
  const std::string rest(text.substr(at + kKey.size(), end - at - kKey.size()));
  char soft[32] = {};
  if (std::sscanf(rest.c_str(), "%31s", soft) != 1) return;
  if (std::string(soft) == "unlimited") {
    out.memlock_unlimited = true;
    out.memlock_soft.reset();
    return;
  }
  const std::string s(soft);
  if (s.find_first_not_of("0123456789") != std::string::npos) return;
  out.memlock_unlimited = false;
  out.memlock_soft = std::strtoull(s.c_str(), nullptr, 10);
}

Result<DaemonStatus> ParseDaemonStatus(std::string_view json_text) {
  const auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Error{EINVAL, "the status answer is not a JSON object"};
  DaemonStatus d;
  auto number = [](const nlohmann::json& o, const char* key) -> std::optional<double> {
    if (!o.is_object()) return std::nullopt;
    auto it = o.find(key);
    if (it == o.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  auto count = [&](const nlohmann::json& o, const char* key) -> std::optional<uint64_t> {
    auto v = number(o, key);
    if (!v || *v < 0) return std::nullopt;
    return static_cast<uint64_t>(*v);
  };
  auto object = [](const nlohmann::json& o, const char* key) -> const nlohmann::json& {
    static const nlohmann::json kNull;
    if (!o.is_object()) return kNull;
    auto it = o.find(key);
    return it == o.end() ? kNull : *it;
  };
  if (auto pid = number(j, "pid")) d.pid = static_cast<int64_t>(*pid);
  if (const auto& v = object(j, "version"); v.is_string()) d.version = v.get<std::string>();
  d.uptime_s = number(j, "uptime_s").value_or(0);
  if (const auto& ifs = object(object(j, "capture"), "interfaces"); ifs.is_array()) {
    for (const auto& i : ifs) {
      if (i.is_string()) d.capture_interfaces.push_back(i.get<std::string>());
    }
  }
  const auto& events = object(j, "events");
  d.events_per_second = number(events, "per_second");
  d.lost_per_second = number(events, "lost_per_second");
  d.lost_total = count(events, "lost_total");
  const auto& conns = object(j, "connections");
  d.connections_tracked = count(conns, "tracked");
  d.connections_max = count(conns, "max");
  const auto& e = object(j, "enforcement");
  if (const auto& en = object(e, "enabled"); en.is_boolean())
    d.enforcement_enabled = en.get<bool>();
  d.rules = count(e, "rules");
  d.max_rules = count(e, "max_rules");
  if (const auto& ifs = object(e, "interfaces"); ifs.is_array()) {
    for (const auto& a : ifs) {
      DaemonStatus::XdpAttachment x;
      if (const auto& n = object(a, "name"); n.is_string()) x.ifname = n.get<std::string>();
      if (const auto& m = object(a, "mode"); m.is_string()) x.mode = m.get<std::string>();
      x.prog_id = static_cast<uint32_t>(count(a, "prog_id").value_or(0));
      d.xdp.push_back(std::move(x));
    }
  }
  return d;
}

bool WebConfigWantsTls(std::string_view yaml_text) {
  try {
    const YAML::Node root = YAML::Load(std::string(yaml_text));
    return root.IsMap() && root["tls_server_config"] && root["tls_server_config"].IsMap();
  } catch (const YAML::Exception&) {
    return false;  // the daemon refuses such a file; the endpoint check then finds it down
  }
}

}  // namespace ta::agent::ctl::doctor
