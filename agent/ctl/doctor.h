// `trafficctl doctor`: checks the node and the daemon and explains each finding with the fix.
//
// Two halves, so that every decision is testable without a kernel: Gather() collects facts
// (system calls, /proc, sysfs, netlink, the control socket, a GET of /metrics) into the plain
// struct Facts, and the pure Evaluate() turns Facts into a Report of checks with statuses and
// texts. Exit codes follow the Nagios plugin convention SREs already alert on: 0 healthy,
// 1 degraded (works, something is reduced), 2 broken (cannot run or is not running), 3 the
// doctor itself could not run (docs/control.md, "doctor").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "agent/result.h"

namespace ta::agent::ctl::doctor {

enum class Status { kOk, kWarn, kFail, kSkip };
std::string_view StatusName(Status status);  // "ok", "warn", "fail", "skip"

struct Check {
  std::string name;  // stable: "kernel", "xdp:eth0", ...
  Status status = Status::kOk;
  std::string summary;  // one line: what was found
  std::string detail;   // why it matters, the figures behind it ("" when nothing to add)
  std::string fix;      // a command or a config key ("" when ok)
};

struct Report {
  std::vector<Check> checks;
};

enum class Verdict { kHealthy, kDegraded, kBroken };
std::string_view VerdictName(Verdict verdict);  // "healthy", "degraded", "broken"
// The worst status decides: any fail -> broken, else any warn -> degraded; skip counts as ok.
Verdict VerdictOf(const Report& report);

inline constexpr int kExitHealthy = 0;
inline constexpr int kExitDegraded = 1;
inline constexpr int kExitBroken = 2;
inline constexpr int kExitCannotRun = 3;
int ExitCode(Verdict verdict);

// {"status": ..., "checks": [{"name", "status", "summary", "detail", "fix"}]}, keys always present.
std::string RenderJson(const Report& report);
// One line per check, the detail and fix indented under non-ok ones, then the verdict.
std::string RenderText(const Report& report);

// ---- Facts. -------------------------------------------------------------------------------

// A libbpf feature probe: 1 supported, 0 not, negative errno when the probe itself failed
// (typically -EPERM: the doctor runs without CAP_BPF).
using ProbeResult = int;

struct ProgramFact {
  uint32_t id = 0;
  std::string name;       // the kernel's name (at most 15 characters), "" if unreadable
  std::string attach;     // XDP: "generic", "native" or "offload"; tc: "ingress" or "egress"
  uint32_t priority = 0;  // tc filter priority (lower runs first); 0 for XDP
};

struct InterfaceFacts {
  std::string name;
  bool exists = false;
  bool capture = false;         // tc capture watches it
  bool enforce = false;         // XDP enforcement is configured on it
  std::string xdp_query_error;  // "" when the XDP programs were listed
  std::vector<ProgramFact> xdp_programs;
  std::string tc_query_error;  // "" when the tc filters were listed
  std::vector<ProgramFact> tc_programs;
  // NETDEV_A_DEV_XDP_FEATURES (enum netdev_xdp_act), nullopt when the kernel cannot say
  // (before 6.3, or the generic netlink "netdev" family is absent).
  std::optional<uint64_t> xdp_features;
};

// What the daemon says about itself on the control socket (`status`), as far as this version
// of trafficctl understands it; absent fields stay nullopt (a daemon of another version).
struct DaemonStatus {
  std::optional<int64_t> pid;
  std::string version;
  double uptime_s = 0;
  std::vector<std::string> capture_interfaces;
  std::optional<double> events_per_second;
  std::optional<double> lost_per_second;
  std::optional<uint64_t> lost_total;
  std::optional<uint64_t> connections_tracked;
  std::optional<uint64_t> connections_max;
  bool enforcement_enabled = false;
  std::optional<uint64_t> rules;
  std::optional<uint64_t> max_rules;
  struct XdpAttachment {
    std::string ifname;
    std::string mode;  // "native" or "generic"
    uint32_t prog_id = 0;
  };
  std::vector<XdpAttachment> xdp;
};

// A process's credentials, from /proc/PID/status (and /proc/PID/limits).
struct ProcessFacts {
  int64_t pid = 0;
  uint32_t uid = 0;  // effective
  uint64_t cap_eff = 0;
  std::optional<uint64_t> memlock_soft;  // bytes; nullopt = unlimited or unknown
  bool memlock_unlimited = false;
};

struct ClockFacts {
  bool read = false;  // adjtimex() answered
  int state = 0;      // its return value: TIME_OK .. TIME_ERROR (5)
  int status = 0;     // timex.status (STA_UNSYNC = 0x40)
  int64_t maxerror_us = 0;
  int64_t esterror_us = 0;
  int64_t freq = 0;  // timex.freq: ppm with a 16-bit fraction
};

struct MetricsFacts {
  std::string address;  // metrics.listen
  bool tls = false;     // the web config file has tls_server_config
  enum class Outcome { kNotTried, kHttp, kRefused, kTimeout, kTlsError, kError };
  Outcome outcome = Outcome::kNotTried;
  int http_status = 0;
  std::string error;
};

struct StateDirFacts {
  std::string path;
  int stat_errno = 0;  // 0 when stat() succeeded
  bool is_dir = false;
  uint32_t mode = 0;  // permission bits
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct Facts {
  // Configuration.
  std::string config_path;   // "" = built-in defaults (no file)
  std::string config_error;  // the parser's message, "" when it loaded
  Config config;             // the loaded config, or the defaults

  // Kernel.
  std::string kernel_release;
  bool btf = false;
  ProbeResult ringbuf = 0;
  ProbeResult sched_cls = 0;
  ProbeResult xdp = 0;
  bool uprobe_pmu = false;           // /sys/bus/event_source/devices/uprobe/type
  bool tracefs = false;              // tracefs mounted on /sys/kernel/tracing
  bool syscall_tracepoints = false;  // events/syscalls/sys_enter_read under tracefs
  bool bpffs = false;                // bpffs mounted on /sys/fs/bpf

  // The doctor's own credentials.
  ProcessFacts self;

  // The daemon.
  std::string socket_path;
  bool daemon_reachable = false;
  // The socket exists but this user may not connect to it (EACCES): the daemon runs, the
  // doctor cannot ask it anything.
  bool socket_denied = false;
  std::string daemon_error;  // why the control socket did not answer
  DaemonStatus daemon;
  // By the pid `status` reports; else, when the daemon runs but does not say (an older daemon,
  // or a socket this user may not use), the process named traffic-analyzer in /proc.
  std::optional<ProcessFacts> daemon_process;

  ClockFacts clock;
  MetricsFacts metrics;
  StateDirFacts state_dir;
  std::vector<InterfaceFacts> interfaces;  // the watched ones, capture then enforcement
};

// Every decision: statuses, texts and fixes. Pure.
Report Evaluate(const Facts& facts);

// ---- Parsers of what Gather reads (exposed for tests). ------------------------------------

// CapEff and the effective Uid of a /proc/PID/status text.
Result<ProcessFacts> ParseProcStatus(std::string_view text);
// The soft "Max locked memory" of a /proc/PID/limits text into `out`.
void ParseProcLimits(std::string_view text, ProcessFacts& out);
// The fields of a `status` answer (JSON text) this version understands.
Result<DaemonStatus> ParseDaemonStatus(std::string_view json_text);
// "CAP_BPF, CAP_NET_ADMIN" for the bits set in `caps` ("none" when none).
std::string CapabilityNames(uint64_t caps);
// Whether a web config file's text asks for TLS (has tls_server_config).
bool WebConfigWantsTls(std::string_view yaml_text);

// ---- Gathering (system calls; used by trafficctl). ----------------------------------------

struct Options {
  std::optional<std::string> config_path;  // --config; else the default file when it exists
  std::optional<std::string> socket_path;  // --socket; else control.socket of the config
};

inline constexpr const char* kDefaultConfigPath = "/etc/traffic-analyzer/traffic-analyzer.yaml";

// The facts of this node. Fails only when the doctor cannot run at all: an explicitly given
// config file that cannot be read (exit 3).
Result<Facts> Gather(const Options& options);

}  // namespace ta::agent::ctl::doctor
