// trafficctl doctor: every decision of Evaluate() on literal facts, with exact texts and exit
// codes, and the parsers of what the gatherer reads (/proc/PID/status, /proc/PID/limits, the
// daemon's status answer, a web config file).
#include "agent/ctl/doctor.h"

#include <gtest/gtest.h>

#include <string>

namespace ta::agent::ctl::doctor {
namespace {

constexpr uint64_t Cap(int n) { return uint64_t{1} << n; }
// CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_PERFMON, CAP_BPF: what the hardened
// daemon keeps with TLS on.
constexpr uint64_t kKeptCaps = Cap(2) | Cap(12) | Cap(19) | Cap(38) | Cap(39);

ProcessFacts Proc(int64_t pid, uint32_t uid, uint64_t caps) {
  ProcessFacts p;
  p.pid = pid;
  p.uid = uid;
  p.cap_eff = caps;
  return p;
}

ProgramFact Prog(uint32_t id, std::string name, std::string attach, uint32_t priority = 0) {
  ProgramFact p;
  p.id = id;
  p.name = std::move(name);
  p.attach = std::move(attach);
  p.priority = priority;
  return p;
}

// A healthy node: every check ok (the clock synchronized, the daemon up with no loss).
Facts Healthy() {
  Facts f;
  f.config_path = "/etc/traffic-analyzer/traffic-analyzer.yaml";
  f.kernel_release = "6.8.0-45-generic";
  f.btf = true;
  f.ringbuf = 1;
  f.sched_cls = 1;
  f.xdp = 1;
  f.uprobe_pmu = true;
  f.tracefs = true;
  f.syscall_tracepoints = true;
  f.bpffs = true;
  f.self = Proc(900, 0, 0x1ffffffffff);
  f.socket_path = "/run/traffic-analyzer/control.sock";
  f.daemon_reachable = true;
  f.daemon.pid = 321;
  f.daemon.version = "0.7.0";
  f.daemon.uptime_s = 3725;
  f.daemon.events_per_second = 1520.5;
  f.daemon.lost_per_second = 0;
  f.daemon.lost_total = 0;
  f.daemon.connections_tracked = 1200;
  f.daemon.connections_max = 65536;
  f.daemon_process = Proc(321, 0, kKeptCaps);
  f.clock = {.read = true,
             .state = 0,
             .status = 0x2001,
             .maxerror_us = 8000,
             .esterror_us = 12,
             .freq = 12 * 65536 + 32768};
  f.metrics = {.address = "127.0.0.1:9100",
               .tls = false,
               .outcome = MetricsFacts::Outcome::kHttp,
               .http_status = 200,
               .error = ""};
  f.state_dir = {.path = "/var/lib/traffic-analyzer",
                 .stat_errno = 0,
                 .is_dir = true,
                 .mode = 0750,
                 .uid = 0,
                 .gid = 0};
  InterfaceFacts eth0;
  eth0.name = "eth0";
  eth0.exists = true;
  eth0.capture = true;
  eth0.tc_programs = {Prog(40, "ta_tc_ingress", "ingress", 0x5441),
                      Prog(41, "ta_tc_egress", "egress", 0x5441)};
  eth0.xdp_features = 0x1b;  // basic, redirect, xsk-zerocopy, hw-offload
  f.interfaces.push_back(eth0);
  return f;
}

const Check& Find(const Report& r, const std::string& name) {
  for (const Check& c : r.checks) {
    if (c.name == name) return c;
  }
  static const Check kMissing{"<missing>", Status::kSkip, "", "", ""};
  ADD_FAILURE() << "no check named " << name;
  return kMissing;
}

Check Evaluated(const Facts& f, const std::string& name) { return Find(Evaluate(f), name); }

void ExpectCheck(const Check& c, Status status, const std::string& summary,
                 const std::string& detail, const std::string& fix) {
  EXPECT_EQ(StatusName(c.status), StatusName(status)) << c.name;
  EXPECT_EQ(c.summary, summary) << c.name;
  EXPECT_EQ(c.detail, detail) << c.name;
  EXPECT_EQ(c.fix, fix) << c.name;
}

TEST(DoctorEvaluate, HealthyNodeHasEveryCheckOkInAStableOrder) {
  const Report r = Evaluate(Healthy());
  std::vector<std::string> names;
  for (const Check& c : r.checks) {
    names.push_back(c.name);
    EXPECT_EQ(c.status, Status::kOk) << c.name << ": " << c.summary;
    EXPECT_EQ(c.fix, "") << c.name;
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "config", "kernel", "btf", "ringbuf", "tc", "xdp:eth0", "uprobes", "tracepoints",
                "capabilities", "memlock", "bpffs", "tracefs", "foreign-programs:eth0", "clock",
                "ringbuf-pressure", "map-pressure", "metrics-endpoint", "state-dir", "daemon"}));
  EXPECT_EQ(VerdictOf(r), Verdict::kHealthy);
  EXPECT_EQ(ExitCode(VerdictOf(r)), 0);
}

TEST(DoctorEvaluate, HealthySummaries) {
  const Report r = Evaluate(Healthy());
  EXPECT_EQ(Find(r, "config").summary, "/etc/traffic-analyzer/traffic-analyzer.yaml loads");
  EXPECT_EQ(Find(r, "kernel").summary, "kernel 6.8.0-45-generic (5.8 or newer)");
  EXPECT_EQ(Find(r, "xdp:eth0").summary,
            "generic: always; native: supported (driver xdp-features: basic, redirect, "
            "xsk-zerocopy, hw-offload)");
  EXPECT_EQ(Find(r, "xdp:eth0").detail, "enforcement is off on this interface: XDP unused");
  EXPECT_EQ(Find(r, "foreign-programs:eth0").summary,
            "no foreign programs; ours: tc ingress prio 21569 id 40 ta_tc_ingress (ours), "
            "tc egress prio 21569 id 41 ta_tc_egress (ours)");
  EXPECT_EQ(Find(r, "clock").summary,
            "synchronized; maxerror 8000 us, esterror 12 us, frequency offset 12.500 ppm");
  EXPECT_EQ(Find(r, "ringbuf-pressure").summary,
            "no events lost in the last interval (1520.5 events/s; 0 lost since start)");
  EXPECT_EQ(Find(r, "map-pressure").summary, "connections 1200/65536 (2%)");
  EXPECT_EQ(Find(r, "metrics-endpoint").summary, "GET http://127.0.0.1:9100/metrics: 200");
  EXPECT_EQ(Find(r, "state-dir").summary,
            "/var/lib/traffic-analyzer: directory, mode 0750, owner uid 0, writable by the "
            "daemon (uid 0)");
  EXPECT_EQ(Find(r, "daemon").summary,
            "running: version 0.7.0, pid 321, up 1h 2m, control socket "
            "/run/traffic-analyzer/control.sock");
  EXPECT_EQ(Find(r, "capabilities").summary,
            "daemon (pid 321, uid 0) has CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_SYS_PTRACE, "
            "CAP_PERFMON, CAP_BPF");
  EXPECT_EQ(Find(r, "memlock").summary,
            "kernel 6.8.0-45-generic charges BPF memory to the memory cgroup (5.11+): "
            "RLIMIT_MEMLOCK does not matter");
}

TEST(DoctorVerdict, WorstStatusDecidesAndSkipCountsAsOk) {
  Report r;
  r.checks = {{"a", Status::kOk, "", "", ""}, {"b", Status::kSkip, "", "", ""}};
  EXPECT_EQ(VerdictOf(r), Verdict::kHealthy);
  r.checks.push_back({"c", Status::kWarn, "", "", ""});
  EXPECT_EQ(VerdictOf(r), Verdict::kDegraded);
  EXPECT_EQ(ExitCode(VerdictOf(r)), 1);
  r.checks.push_back({"d", Status::kFail, "", "", ""});
  r.checks.push_back({"e", Status::kWarn, "", "", ""});
  EXPECT_EQ(VerdictOf(r), Verdict::kBroken);
  EXPECT_EQ(ExitCode(VerdictOf(r)), 2);
  EXPECT_EQ(VerdictOf(Report{}), Verdict::kHealthy);
  EXPECT_EQ(kExitCannotRun, 3);
}

TEST(DoctorRender, TextIndentsDetailAndFixUnderNonOkChecks) {
  Report r;
  r.checks = {{"kernel", Status::kOk, "kernel 6.8 (5.8 or newer)", "ignored when ok", ""},
              {"clock", Status::kWarn, "not synchronized", "drifts", "enable chrony"},
              {"daemon", Status::kFail, "not running", "", "systemctl status traffic-analyzer"},
              {"map-pressure", Status::kSkip, "the daemon is not running", "", ""}};
  EXPECT_EQ(RenderText(r),
            "ok    kernel        kernel 6.8 (5.8 or newer)\n"
            "WARN  clock         not synchronized\n"
            "                    drifts\n"
            "                    fix: enable chrony\n"
            "FAIL  daemon        not running\n"
            "                    fix: systemctl status traffic-analyzer\n"
            "skip  map-pressure  the daemon is not running\n"
            "broken: 4 checks, 1 ok, 1 warn, 1 fail, 1 skipped\n");
}

TEST(DoctorRender, JsonHasEveryKeyAlways) {
  Report r;
  r.checks = {{"clock", Status::kWarn, "not \"synchronized\"", "", "enable chrony"}};
  EXPECT_EQ(RenderJson(r),
            "{\n"
            "  \"status\": \"degraded\",\n"
            "  \"checks\": [\n"
            "    {\n"
            "      \"name\": \"clock\",\n"
            "      \"status\": \"warn\",\n"
            "      \"summary\": \"not \\\"synchronized\\\"\",\n"
            "      \"detail\": \"\",\n"
            "      \"fix\": \"enable chrony\"\n"
            "    }\n"
            "  ]\n"
            "}\n");
  EXPECT_EQ(RenderJson(Report{}), "{\n  \"status\": \"healthy\",\n  \"checks\": []\n}\n");
}

// ---- Kernel and features. ----

TEST(DoctorEvaluate, OldKernelFails) {
  Facts f = Healthy();
  f.kernel_release = "5.4.0-150-generic";
  ExpectCheck(Evaluated(f, "kernel"), Status::kFail,
              "kernel 5.4.0-150-generic lacks the BPF ring buffer (needs 5.8 or newer)",
              "the daemon refuses to start: every event reaches it through a BPF ring buffer",
              "upgrade the kernel to 5.8 or newer");
  EXPECT_EQ(ExitCode(VerdictOf(Evaluate(f))), 2);
  f.kernel_release = "5.8.0";
  EXPECT_EQ(Evaluated(f, "kernel").status, Status::kOk);
  f.kernel_release = "garbage";
  ExpectCheck(Evaluated(f, "kernel"), Status::kFail, "cannot parse kernel release 'garbage'",
              "the daemon refuses to start on a release it cannot read",
              "report the `uname -r` output as a bug");
}

TEST(DoctorEvaluate, MissingBtfFails) {
  Facts f = Healthy();
  f.btf = false;
  ExpectCheck(Evaluated(f, "btf"), Status::kFail, "no BTF at /sys/kernel/btf/vmlinux",
              "the programs are CO-RE: libbpf relocates them against the kernel's BTF, and the "
              "daemon refuses to start without it",
              "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (all major distributions since "
              "2021)");
}

TEST(DoctorEvaluate, ProbesRefusedFailAndUnprobedSkip) {
  Facts f = Healthy();
  f.ringbuf = 0;
  f.sched_cls = -1;  // -EPERM: no CAP_BPF
  ExpectCheck(Evaluated(f, "ringbuf"), Status::kFail, "the kernel refused a BPF ring buffer map",
              "probed with libbpf: the version number alone does not say (distributions "
              "backport and disable features); the daemon refuses to start",
              "use a kernel with BPF ring buffer support (5.8+, CONFIG_BPF_SYSCALL)");
  ExpectCheck(Evaluated(f, "tc"), Status::kSkip,
              "cannot probe a tc (sched_cls) BPF program: Operation not permitted", "",
              "run `sudo trafficctl doctor` (the probes need CAP_BPF)");
}

TEST(DoctorEvaluate, UprobesTracepointsTracefsBpffs) {
  Facts f = Healthy();
  f.uprobe_pmu = false;
  f.syscall_tracepoints = false;
  f.bpffs = false;
  ExpectCheck(Evaluated(f, "uprobes"), Status::kWarn,
              "no uprobe PMU (/sys/bus/event_source/devices/uprobe/type): TLS plaintext is not "
              "visible",
              "HTTPS on the watched ports is counted in tcp_* only; the daemon runs without TLS "
              "visibility",
              "use a kernel with CONFIG_UPROBE_EVENTS=y, or set tls.enabled: false");
  ExpectCheck(Evaluated(f, "tracepoints"), Status::kWarn,
              "no syscall tracepoints under /sys/kernel/tracing/events/syscalls",
              "the TLS probes use sys_enter_read/write to tie plaintext to its socket; without "
              "them the daemon runs without TLS visibility",
              "use a kernel with CONFIG_FTRACE_SYSCALLS=y, or set tls.enabled: false");
  ExpectCheck(Evaluated(f, "bpffs"), Status::kWarn, "bpffs is not mounted on /sys/fs/bpf",
              "the daemon mounts it at start when it can (CAP_SYS_ADMIN); in a container or "
              "under a read-only /sys it cannot",
              "mount -t bpf bpf /sys/fs/bpf (or a sys-fs-bpf.mount unit)");
  f.tracefs = false;
  ExpectCheck(Evaluated(f, "tracefs"), Status::kWarn,
              "tracefs is not mounted on /sys/kernel/tracing",
              "the TLS probes attach to syscall tracepoints found there",
              "mount -t tracefs tracefs /sys/kernel/tracing");
  ExpectCheck(Evaluated(f, "tracepoints"), Status::kSkip,
              "tracefs is not mounted on /sys/kernel/tracing (see tracefs)", "", "");
  // With TLS visibility off none of them is needed.
  f.config.tls.enabled = false;
  ExpectCheck(Evaluated(f, "uprobes"), Status::kOk,
              "no uprobe PMU; not needed (tls.enabled: false)", "", "");
  ExpectCheck(Evaluated(f, "tracefs"), Status::kOk,
              "tracefs is not mounted on /sys/kernel/tracing; not needed (tls.enabled: false)", "",
              "");
}

// ---- XDP per interface. ----

Facts Enforcing(enforce::XdpAttachMode mode, std::optional<uint64_t> features) {
  Facts f = Healthy();
  f.config.enforcement.enabled = true;
  f.config.enforcement.attach_mode = mode;
  f.interfaces[0].enforce = true;
  f.interfaces[0].xdp_features = features;
  return f;
}

TEST(DoctorEvaluate, NativeModeOnADriverWithoutNativeXdpFails) {
  const Facts f = Enforcing(enforce::XdpAttachMode::kNative, 0);
  ExpectCheck(Evaluated(f, "xdp:eth0"), Status::kFail,
              "generic: always; native: not supported by the driver (generic only)",
              "enforcement.attach_mode is native, which this driver cannot do: the daemon "
              "refuses to start",
              "set enforcement.attach_mode: auto (falls back to generic) or generic");
}

TEST(DoctorEvaluate, NativeModeWithUnknownDriverFeaturesWarns) {
  const Facts f = Enforcing(enforce::XdpAttachMode::kNative, std::nullopt);
  ExpectCheck(Evaluated(f, "xdp:eth0"), Status::kWarn,
              "generic: always; native: unknown (the driver's xdp-features need kernel 6.3+ "
              "and the netdev generic netlink family)",
              "enforcement.attach_mode is native and the kernel cannot say whether the driver "
              "supports it: the daemon fails at start if it does not",
              "set enforcement.attach_mode: auto (native when the driver takes it, else "
              "generic)");
}

TEST(DoctorEvaluate, UnknownFeaturesAreOkUnlessNativeIsDemanded) {
  Facts f = Enforcing(enforce::XdpAttachMode::kAuto, std::nullopt);
  EXPECT_EQ(Evaluated(f, "xdp:eth0").status, Status::kOk);
  f.config.enforcement.enabled = false;
  f.interfaces[0].enforce = false;
  f.config.enforcement.attach_mode = enforce::XdpAttachMode::kNative;
  EXPECT_EQ(Evaluated(f, "xdp:eth0").status, Status::kOk);
}

TEST(DoctorEvaluate, AutoModeOnGenericOnlyDriverSaysSoAndNamesTheAttachment) {
  Facts f = Enforcing(enforce::XdpAttachMode::kAuto, 0);
  f.daemon.xdp = {{"eth0", "generic", 77}};
  ExpectCheck(Evaluated(f, "xdp:eth0"), Status::kOk,
              "generic: always; native: not supported by the driver (generic only); the daemon "
              "attached generic mode, program id 77",
              "attach_mode auto uses generic XDP here: it runs after the kernel has built the "
              "socket buffer, so drops cost more than native ones",
              "");
}

TEST(DoctorEvaluate, XdpProgramTypeRefusedFailsOnlyWithEnforcement) {
  Facts f = Enforcing(enforce::XdpAttachMode::kAuto, 1);
  f.xdp = 0;
  ExpectCheck(Evaluated(f, "xdp:eth0"), Status::kFail,
              "the kernel refused an XDP program (probed with libbpf)",
              "enforcement.enabled is true: the daemon refuses to start",
              "use a kernel with CONFIG_BPF_SYSCALL and XDP, or set enforcement.enabled: false");
  f.interfaces[0].enforce = false;
  EXPECT_EQ(Evaluated(f, "xdp:eth0").status, Status::kOk);
}

TEST(DoctorEvaluate, MissingInterfaceFailsAndSkipsItsProgramList) {
  Facts f = Healthy();
  f.interfaces[0] = InterfaceFacts{};
  f.interfaces[0].name = "eth9";
  f.interfaces[0].capture = true;
  ExpectCheck(Evaluated(f, "xdp:eth9"), Status::kFail, "interface eth9 does not exist",
              "the daemon cannot attach capture to it",
              "list the interfaces with `ip -br link` and set `interfaces:` (and "
              "`enforcement.interfaces:`) in the config");
  ExpectCheck(Evaluated(f, "foreign-programs:eth9"), Status::kSkip, "interface eth9 does not exist",
              "", "");
}

// ---- Other programs. ----

TEST(DoctorEvaluate, ForeignXdpWithEnforcementFailsWithItsId) {
  Facts f = Enforcing(enforce::XdpAttachMode::kAuto, 1);
  f.interfaces[0].xdp_programs = {Prog(91, "xdp_pass", "generic")};
  ExpectCheck(Evaluated(f, "foreign-programs:eth0"), Status::kFail,
              "foreign: xdp generic id 91 xdp_pass; ours: tc ingress prio 21569 id 40 "
              "ta_tc_ingress (ours), tc egress prio 21569 id 41 ta_tc_egress (ours)",
              "enforcement is enabled on eth0 and another XDP program holds it (xdp_pass id 91 "
              "(generic)): the daemon refuses to start rather than replace it",
              "if it is stale, detach it: `ip link set dev eth0 xdpgeneric off` (xdpdrv off for "
              "native; or `xdp-loader unload eth0 --all`); else set enforcement.interfaces to "
              "other interfaces or enforcement.enabled: false");
}

TEST(DoctorEvaluate, ForeignXdpWithoutEnforcementIsOkWithANote) {
  Facts f = Healthy();
  f.interfaces[0].tc_programs.clear();
  f.interfaces[0].xdp_programs = {Prog(5, "", "native")};
  ExpectCheck(Evaluated(f, "foreign-programs:eth0"), Status::kOk,
              "foreign: xdp native id 5 ?; none of ours attached",
              "enforcement is off on this interface, so a foreign XDP program does not conflict",
              "");
}

TEST(DoctorEvaluate, OurXdpProgramIsOurs) {
  Facts f = Enforcing(enforce::XdpAttachMode::kAuto, 1);
  f.interfaces[0].tc_programs.clear();
  f.interfaces[0].xdp_programs = {Prog(12, "ta_xdp_enforce", "native")};
  ExpectCheck(Evaluated(f, "foreign-programs:eth0"), Status::kOk,
              "no foreign programs; ours: xdp native id 12 ta_xdp_enforce (ours)", "", "");
}

TEST(DoctorEvaluate, ForeignTcProgramsCoexistAndTheOrderIsExplained) {
  Facts f = Healthy();
  f.interfaces[0].tc_programs.push_back(Prog(50, "cil_from_netdev", "ingress", 1));
  f.interfaces[0].tc_programs.push_back(Prog(51, "fw", "egress", 49152));
  ExpectCheck(Evaluated(f, "foreign-programs:eth0"), Status::kOk,
              "foreign: tc ingress prio 1 id 50 cil_from_netdev, tc egress prio 49152 id 51 fw; "
              "ours: tc ingress prio 21569 id 40 ta_tc_ingress (ours), tc egress prio 21569 id "
              "41 ta_tc_egress (ours)",
              "tc ingress id 50 runs before ours (prio 1 < 21569): packets it ends with a "
              "verdict (not TC_ACT_UNSPEC) are not seen by the daemon, tc egress id 51 runs "
              "after ours (prio 49152 > 21569): ours passes every packet on (TC_ACT_UNSPEC), so "
              "it sees them all",
              "");
}

TEST(DoctorEvaluate, ProgramListsThatCannotBeReadSkip) {
  Facts f = Healthy();
  f.interfaces[0].xdp_query_error = "Operation not permitted";
  f.interfaces[0].tc_query_error = "RTM_GETTFILTER ingress: Operation not permitted";
  ExpectCheck(Evaluated(f, "foreign-programs:eth0"), Status::kSkip,
              "cannot list the programs: XDP: Operation not permitted; tc: RTM_GETTFILTER "
              "ingress: Operation not permitted",
              "", "run `sudo trafficctl doctor` (the probes need CAP_BPF)");
}

// ---- Privileges. ----

TEST(DoctorEvaluate, DaemonMissingKeptCapabilitiesWarns) {
  Facts f = Healthy();
  f.daemon_process->cap_eff = Cap(38) | Cap(39);  // PERFMON, BPF
  const Check c = Evaluated(f, "capabilities");
  EXPECT_EQ(c.status, Status::kWarn);
  EXPECT_EQ(c.summary,
            "daemon (pid 321, uid 0) has CAP_PERFMON, CAP_BPF; missing CAP_DAC_READ_SEARCH, "
            "CAP_NET_ADMIN, CAP_SYS_PTRACE");
  EXPECT_EQ(c.fix,
            "grant CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_SYS_PTRACE with AmbientCapabilities= "
            "and CapabilityBoundingSet= in the unit (`systemctl edit traffic-analyzer`)");
  EXPECT_TRUE(c.detail.starts_with(
      "without CAP_NET_ADMIN it cannot remove its tc filters and XDP program at shutdown; "
      "without CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE TLS processes that start after the daemon "
      "are not hooked; to start the daemon needs CAP_BPF, CAP_PERFMON (or CAP_SYS_ADMIN) and "
      "CAP_NET_ADMIN"))
      << c.detail;
}

TEST(DoctorEvaluate, WithoutTlsOnlyNetAdminIsKeptAndSysAdminStandsInForBpf) {
  Facts f = Healthy();
  f.config.tls.enabled = false;
  f.daemon_process->cap_eff = Cap(12);
  EXPECT_EQ(Evaluated(f, "capabilities").status, Status::kOk);
  f.config.tls.enabled = true;
  f.daemon_process->cap_eff = Cap(12) | Cap(21) | Cap(19) | Cap(2);
  EXPECT_EQ(Evaluated(f, "capabilities").status, Status::kOk);
}

TEST(DoctorEvaluate, CapabilitiesSkipWithoutTheDaemonAndSayWhatTheDoctorHas) {
  Facts f = Healthy();
  f.daemon_reachable = false;
  f.daemon_process.reset();
  f.self.cap_eff = 0;
  const Check c = Evaluated(f, "capabilities");
  EXPECT_EQ(c.status, Status::kSkip);
  EXPECT_EQ(c.summary, "the daemon is not running");
  EXPECT_TRUE(
      c.detail.starts_with("this doctor has none (without CAP_BPF the BPF feature "
                           "probes are skipped); to start the daemon needs"))
      << c.detail;
}

TEST(DoctorEvaluate, MemlockMattersOnlyBefore511) {
  Facts f = Healthy();
  f.kernel_release = "5.10.0-28-amd64";
  f.daemon_process->memlock_soft = 8388608;
  ExpectCheck(Evaluated(f, "memlock"), Status::kWarn,
              "the daemon's RLIMIT_MEMLOCK is 8192 KiB on kernel 5.10.0-28-amd64",
              "before 5.11 every BPF map is charged to RLIMIT_MEMLOCK: the ring buffer and the "
              "connection map fail to load beyond it",
              "set LimitMEMLOCK=infinity in the unit (`systemctl edit traffic-analyzer`)");
  f.daemon_process->memlock_unlimited = true;
  ExpectCheck(Evaluated(f, "memlock"), Status::kOk, "the daemon's RLIMIT_MEMLOCK is unlimited", "",
              "");
  f.daemon_process.reset();
  f.self.memlock_unlimited = true;
  ExpectCheck(Evaluated(f, "memlock"), Status::kOk, "this shell's RLIMIT_MEMLOCK is unlimited", "",
              "");
}

// ---- Clock. ----

TEST(DoctorEvaluate, UnsynchronizedClockWarns) {
  Facts f = Healthy();
  f.clock = {.read = true,
             .state = 5,
             .status = 0x41,
             .maxerror_us = 16000000,
             .esterror_us = 16000000,
             .freq = -3 * 65536};
  ExpectCheck(Evaluated(f, "clock"), Status::kWarn,
              "the system clock is not synchronized (STA_UNSYNC)",
              "anomaly windows and the RFC 3339 timestamps in alerts drift against other nodes; "
              "maxerror 16000000 us, esterror 16000000 us, frequency offset -3.000 ppm",
              "enable time synchronization: `systemctl enable --now chronyd` (or "
              "systemd-timesyncd)");
  f.clock.status = 0x01;  // TIME_ERROR alone is enough
  EXPECT_EQ(Evaluated(f, "clock").status, Status::kWarn);
  f.clock.read = false;
  ExpectCheck(Evaluated(f, "clock"), Status::kSkip, "adjtimex() failed", "", "");
}

// ---- Pressure. ----

TEST(DoctorEvaluate, RingBufferLossInTheLastIntervalWarnsWithTheKeys) {
  Facts f = Healthy();
  f.daemon.lost_per_second = 12.25;
  f.daemon.lost_total = 4410;
  ExpectCheck(Evaluated(f, "ringbuf-pressure"), Status::kWarn,
              "12.2 events/s lost in the last interval (4410 since start)",
              "the ring buffer was full: the analyzer fell behind the kernel, and a lost segment "
              "ends the parsing of its connection",
              "raise ringbuf_size (now 8388608; a power of two, e.g. 16777216), lower snaplen "
              "(now 1024), or watch fewer ports (ports: 4 now)");
  f.daemon.lost_per_second = 0;
  ExpectCheck(Evaluated(f, "ringbuf-pressure"), Status::kOk,
              "no events lost in the last interval (1520.5 events/s; 4410 lost since start)", "",
              "");
  f.daemon.lost_per_second.reset();
  ExpectCheck(Evaluated(f, "ringbuf-pressure"), Status::kSkip, "the daemon reports no event rates",
              "", "");
}

TEST(DoctorEvaluate, MapsOverNinetyPercentWarnWithTheKeyToRaise) {
  Facts f = Healthy();
  f.daemon.connections_tracked = 59000;  // 90.03 %
  f.daemon.enforcement_enabled = true;
  f.daemon.rules = 16000;
  f.daemon.max_rules = 16384;
  ExpectCheck(Evaluated(f, "map-pressure"), Status::kWarn,
              "connections 59000/65536 (90%), XDP rules 16000/16384 (98%)",
              "over 90 % full: beyond it the oldest idle connections are evicted (their "
              "exchanges are lost) and new rules are refused",
              "raise connections.max (now 65536); raise enforcement.max_rules (now 16384)");
  f.daemon.connections_tracked = 58982;  // 89.999 %
  f.daemon.rules = 10;
  ExpectCheck(Evaluated(f, "map-pressure"), Status::kOk,
              "connections 58982/65536 (90%), XDP rules 10/16384 (0%)", "", "");
  f.daemon.connections_tracked.reset();
  f.daemon.enforcement_enabled = false;
  ExpectCheck(Evaluated(f, "map-pressure"), Status::kSkip, "the daemon reports no map use", "", "");
}

TEST(DoctorEvaluate, PressureChecksSkipWithoutTheDaemon) {
  Facts f = Healthy();
  f.daemon_reachable = false;
  EXPECT_EQ(Evaluated(f, "ringbuf-pressure").summary, "the daemon is not running");
  EXPECT_EQ(Evaluated(f, "map-pressure").status, Status::kSkip);
}

// ---- /metrics. ----

TEST(DoctorEvaluate, MetricsAuthAndAllowlistAnswersAreOkWithANote) {
  Facts f = Healthy();
  f.metrics.tls = true;
  f.metrics.http_status = 401;
  ExpectCheck(Evaluated(f, "metrics-endpoint"), Status::kOk,
              "GET https://127.0.0.1:9100/metrics: 401: basic auth is on and working (the "
              "doctor sends no credentials)",
              "TLS certificate not verified: this is a reachability check", "");
  f.metrics.tls = false;
  f.metrics.http_status = 403;
  ExpectCheck(Evaluated(f, "metrics-endpoint"), Status::kOk,
              "GET http://127.0.0.1:9100/metrics: 403: the client allowlist (metrics.allow) is "
              "working and does not list this host",
              "", "");
  f.metrics.http_status = 500;
  ExpectCheck(Evaluated(f, "metrics-endpoint"), Status::kWarn,
              "GET http://127.0.0.1:9100/metrics: unexpected HTTP 500", "",
              "check what listens on 127.0.0.1:9100 (`ss -ltnp`) and metrics.listen");
}

TEST(DoctorEvaluate, MetricsRefusedOrTlsFailureWhileTheDaemonRunsFails) {
  Facts f = Healthy();
  f.metrics.outcome = MetricsFacts::Outcome::kRefused;
  f.metrics.error = "Connection refused";
  ExpectCheck(Evaluated(f, "metrics-endpoint"), Status::kFail,
              "GET http://127.0.0.1:9100/metrics: connection refused while the daemon runs",
              "Connection refused",
              "compare metrics.listen (127.0.0.1:9100) with `ss -ltnp`; journalctl -u "
              "traffic-analyzer");
  f.metrics.outcome = MetricsFacts::Outcome::kTimeout;
  EXPECT_EQ(Evaluated(f, "metrics-endpoint").summary,
            "GET http://127.0.0.1:9100/metrics: timed out while the daemon runs");
  f.metrics.tls = true;
  f.config.metrics.web_config_file = "/etc/traffic-analyzer/web.yml";
  f.metrics.outcome = MetricsFacts::Outcome::kTlsError;
  f.metrics.error = "error:0A00010B:SSL routines::wrong version number";
  ExpectCheck(Evaluated(f, "metrics-endpoint"), Status::kFail,
              "TLS handshake with 127.0.0.1:9100 failed: error:0A00010B:SSL routines::wrong "
              "version number",
              "metrics.web_config_file asks for TLS; TLS certificate not verified: this is a "
              "reachability check",
              "check tls_server_config (cert_file, key_file) in /etc/traffic-analyzer/web.yml; "
              "try `openssl s_client -connect 127.0.0.1:9100`");
  f.metrics.outcome = MetricsFacts::Outcome::kNotTried;
  ExpectCheck(Evaluated(f, "metrics-endpoint"), Status::kSkip,
              "the daemon is not running: https://127.0.0.1:9100/metrics not tried", "", "");
}

// ---- State dir. ----

TEST(DoctorEvaluate, StateDirFindings) {
  Facts f = Healthy();
  f.state_dir.mode = 0777;
  ExpectCheck(Evaluated(f, "state-dir"), Status::kFail,
              "/var/lib/traffic-analyzer is world-writable (mode 0777)",
              "any local user could plant baselines; the daemon refuses to start",
              "chmod o-w /var/lib/traffic-analyzer");
  f.state_dir.mode = 0550;  // owner without write, daemon without CAP_DAC_OVERRIDE
  ExpectCheck(Evaluated(f, "state-dir"), Status::kFail,
              "/var/lib/traffic-analyzer: directory, mode 0550, owner uid 0; the daemon (uid 0) "
              "cannot write it",
              "anomaly baselines are not saved and are relearned after every restart",
              "chown 0 /var/lib/traffic-analyzer && chmod 0750 /var/lib/traffic-analyzer");
  f.state_dir.mode = 0750;
  f.state_dir.uid = 998;
  f.daemon_process->cap_eff |= Cap(1);  // CAP_DAC_OVERRIDE
  ExpectCheck(Evaluated(f, "state-dir"), Status::kWarn,
              "/var/lib/traffic-analyzer: directory, mode 0750, owner uid 998; the daemon runs "
              "as uid 0",
              "it writes there only through CAP_DAC_OVERRIDE, which a hardened unit drops",
              "chown 0 /var/lib/traffic-analyzer");
  f.state_dir.is_dir = false;
  ExpectCheck(Evaluated(f, "state-dir"), Status::kFail,
              "/var/lib/traffic-analyzer is not a directory",
              "the daemon keeps anomaly baselines there and refuses to start",
              "remove it or set state_dir to a directory");
  f.state_dir.stat_errno = ENOENT;
  ExpectCheck(Evaluated(f, "state-dir"), Status::kWarn, "/var/lib/traffic-analyzer does not exist",
              "the daemon created it at start and it was removed: baselines are not saved",
              "mkdir -m 0750 /var/lib/traffic-analyzer and chown it to the daemon's user");
  f.daemon_reachable = false;
  ExpectCheck(Evaluated(f, "state-dir"), Status::kOk,
              "/var/lib/traffic-analyzer does not exist yet; the daemon creates it at start "
              "(mode 0750)",
              "", "");
}

// ---- Config and daemon. ----

TEST(DoctorEvaluate, ConfigThatDoesNotLoadFails) {
  Facts f = Healthy();
  f.config_path = "/etc/ta.yaml";
  f.config_error = "/etc/ta.yaml:3:3: unknown key 'metrics.lisen' (known keys: listen)";
  ExpectCheck(Evaluated(f, "config"), Status::kFail, "cannot load /etc/ta.yaml",
              "/etc/ta.yaml:3:3: unknown key 'metrics.lisen' (known keys: listen) (the other "
              "checks used the built-in defaults)",
              "correct the key the message names (docs/configuration.md), then `systemctl "
              "restart traffic-analyzer`");
  f.config_path = "";
  f.config_error = "";
  ExpectCheck(Evaluated(f, "config"), Status::kOk,
              "no config file (/etc/traffic-analyzer/traffic-analyzer.yaml is absent): "
              "built-in defaults",
              "", "");
}

TEST(DoctorEvaluate, UnreachableDaemonFailsWithTheFixAndTheSocket) {
  Facts f = Healthy();
  f.daemon_reachable = false;
  f.daemon = {};
  f.daemon_process.reset();
  f.daemon_error = "traffic-analyzer is not running (no control socket at /tmp/x.sock)";
  f.socket_path = "/tmp/x.sock";
  f.metrics.outcome = MetricsFacts::Outcome::kNotTried;
  ExpectCheck(Evaluated(f, "daemon"), Status::kFail,
              "not running: the control socket /tmp/x.sock does not answer",
              "traffic-analyzer is not running (no control socket at /tmp/x.sock)",
              "systemctl status traffic-analyzer; journalctl -u traffic-analyzer -n 50 (control "
              "socket: /tmp/x.sock)");
  EXPECT_EQ(ExitCode(VerdictOf(Evaluate(f))), 2);
}

TEST(DoctorEvaluate, SocketThatRefusesThisUserIsDegradedNotBroken) {
  Facts f = Healthy();
  f.daemon_reachable = false;
  f.socket_denied = true;
  f.daemon_error = "permission denied";
  ExpectCheck(Evaluated(f, "daemon"), Status::kWarn,
              "running (pid 321) but its control socket /run/traffic-analyzer/control.sock "
              "refuses this user: permission denied",
              "trafficctl cannot read rules, anomalies or status; the checks that need them are "
              "skipped",
              "run as root or as a member of control.group; `systemctl status "
              "traffic-analyzer`");
  EXPECT_EQ(ExitCode(VerdictOf(Evaluate(f))), 1);
}

// ---- Parsers. ----

TEST(DoctorParse, ProcStatus) {
  const auto p = ParseProcStatus(
      "Name:\ttraffic-analyze\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t321\nPid:\t321\n"
      "Uid:\t998\t997\t997\t997\nGid:\t998\t998\t998\t998\nCapInh:\t0000000000000000\n"
      "CapPrm:\t000000c000081004\nCapEff:\t000000c000081004\nCapBnd:\t000001ffffffffff\n");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->pid, 321);
  EXPECT_EQ(p->uid, 997u);  // the effective one
  EXPECT_EQ(p->cap_eff, 0xc000081004u);
  EXPECT_EQ(CapabilityNames(p->cap_eff),
            "CAP_DAC_READ_SEARCH, CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_PERFMON, CAP_BPF");
}

TEST(DoctorParse, ProcStatusRefusesGarbage) {
  EXPECT_EQ(ParseProcStatus("Uid:\t0\t0\t0\t0\n").error().message,
            "no CapEff: line (is /proc mounted with hidepid?)");
  EXPECT_EQ(ParseProcStatus("CapEff:\t00000zz\nUid:\t0\t0\t0\t0\n").error().message,
            "CapEff: '00000zz' is not a capability mask (16 hex digits)");
  EXPECT_EQ(ParseProcStatus("CapEff:\t00000000000000001\nUid:\t0\t0\n").error().message,
            "CapEff: '00000000000000001' is not a capability mask (16 hex digits)");
  EXPECT_EQ(ParseProcStatus("CapEff:\t0\nUid:\tx\n").error().message, "cannot read 'Uid:\tx'");
  EXPECT_EQ(ParseProcStatus("CapEff:\t0\n").error().message, "no Uid: line");
  EXPECT_EQ(ParseProcStatus("CapEff:  \nUid:\t0\t0\n").error().message, "CapEff: has no value");
  EXPECT_FALSE(ParseProcStatus("").ok());
}

TEST(DoctorParse, ProcLimits) {
  const std::string header =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              unlimited            unlimited            seconds   \n";
  ProcessFacts p;
  ParseProcLimits(header +
                      "Max locked memory         8388608              8388608      "
                      "        bytes     \n",
                  p);
  EXPECT_FALSE(p.memlock_unlimited);
  EXPECT_EQ(p.memlock_soft, 8388608u);
  ParseProcLimits(header +
                      "Max locked memory         unlimited            unlimited    "
                      "        bytes     \n",
                  p);
  EXPECT_TRUE(p.memlock_unlimited);
  EXPECT_EQ(p.memlock_soft, std::nullopt);
  ProcessFacts untouched;
  ParseProcLimits(header, untouched);
  ParseProcLimits("Max locked memory  12ab  x\n", untouched);
  EXPECT_FALSE(untouched.memlock_unlimited);
  EXPECT_EQ(untouched.memlock_soft, std::nullopt);
}

TEST(DoctorParse, DaemonStatus) {
  const auto d = ParseDaemonStatus(R"({
    "version": "0.7.0", "pid": 4242, "uptime_s": 61.5,
    "kernel": {"release": "6.8.0", "features": {"ringbuf": true}},
    "capture": {"interfaces": ["eth0", "eth1"], "ports": [80]},
    "connections": {"tracked": 17, "max": 65536},
    "enforcement": {"enabled": true, "dry_run": false, "rules": 3, "max_rules": 16384,
                    "interfaces": [{"name": "eth0", "mode": "generic", "prog_id": 88,
                                    "replaced_leftover": false}]},
    "events": {"per_second": 10.5, "lost_per_second": 0.5, "lost_total": 9}})");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->pid, 4242);
  EXPECT_EQ(d->version, "0.7.0");
  EXPECT_DOUBLE_EQ(d->uptime_s, 61.5);
  EXPECT_EQ(d->capture_interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(d->connections_tracked, 17u);
  EXPECT_EQ(d->connections_max, 65536u);
  EXPECT_TRUE(d->enforcement_enabled);
  EXPECT_EQ(d->rules, 3u);
  EXPECT_EQ(d->max_rules, 16384u);
  ASSERT_EQ(d->xdp.size(), 1u);
  EXPECT_EQ(d->xdp[0].ifname, "eth0");
  EXPECT_EQ(d->xdp[0].mode, "generic");
  EXPECT_EQ(d->xdp[0].prog_id, 88u);
  EXPECT_EQ(d->events_per_second, 10.5);
  EXPECT_EQ(d->lost_per_second, 0.5);
  EXPECT_EQ(d->lost_total, 9u);
}

TEST(DoctorParse, DaemonStatusOfAnOlderDaemonLeavesFieldsAbsent) {
  const auto d = ParseDaemonStatus(
      R"({"version": "0.6.0", "uptime_s": "soon", "enforcement": {"enabled": "yes", "rules": -1},
          "events": [1, 2]})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pid, std::nullopt);
  EXPECT_EQ(d->uptime_s, 0);
  EXPECT_FALSE(d->enforcement_enabled);
  EXPECT_EQ(d->rules, std::nullopt);
  EXPECT_EQ(d->lost_per_second, std::nullopt);
  EXPECT_EQ(d->connections_tracked, std::nullopt);
  EXPECT_EQ(ParseDaemonStatus("[1]").error().message, "the status answer is not a JSON object");
  EXPECT_EQ(ParseDaemonStatus("{\"version\":").error().message,
            "the status answer is not a JSON object");
}

TEST(DoctorParse, CapabilityNames) {
  EXPECT_EQ(CapabilityNames(0), "none");
  EXPECT_EQ(CapabilityNames(Cap(0) | Cap(40)), "CAP_CHOWN, CAP_CHECKPOINT_RESTORE");
  EXPECT_EQ(CapabilityNames(Cap(45)), "cap_45");
}

TEST(DoctorParse, WebConfigWantsTls) {
  EXPECT_TRUE(WebConfigWantsTls("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"));
  EXPECT_FALSE(WebConfigWantsTls("basic_auth_users:\n  prometheus: $2y$10$abc\n"));
  EXPECT_FALSE(WebConfigWantsTls("tls_server_config:\n"));
  EXPECT_FALSE(WebConfigWantsTls(""));
  EXPECT_FALSE(WebConfigWantsTls("{{{"));
}

}  // namespace
}  // namespace ta::agent::ctl::doctor
