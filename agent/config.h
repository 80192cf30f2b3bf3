// The daemon's configuration: a YAML file (config/traffic-analyzer.yaml, documented key by key in
// docs/configuration.md) parsed strictly. An unknown key, a value of the wrong type or out of
// range is an error that names the full key path and the line, so a typo never silently falls
// back to a default. Every key is optional; an absent key, or one given with no value, keeps
// the default shown here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

#include "agent/alerts/alertmanager.h"
#include "agent/alerts/dispatcher.h"
#include "agent/alerts/json_lines.h"
#include "agent/alerts/syslog.h"
#include "agent/enforce/cidr.h"
#include "agent/enforce/xdp_enforcer.h"
#include "agent/result.h"
#include "analyzer/analyzer.h"
#include "analyzer/anomaly/config.h"
#include "analyzer/policy/rule_policy.h"
#include "analyzer/policy/syn_controller.h"

namespace ta::agent {

// Bounds of each setting, shared by the parser, its error messages and the tests.
struct ConfigLimits {
  static constexpr size_t kMaxPorts = 64;
  static constexpr uint32_t kMinSnaplen = 64;
  static constexpr uint32_t kMaxSnaplen = 4096;  // TA_MAX_SNAPLEN (bpf/ta_abi.h), asserted in .cc
  static constexpr uint32_t kMinRingbufSize = 64 * 1024;
  static constexpr uint32_t kMaxRingbufSize = 1024 * 1024 * 1024;
  static constexpr uint32_t kMinConnections = 1024;
  static constexpr uint32_t kMaxConnections = 4 * 1024 * 1024;
  static constexpr uint32_t kMinIdleTimeoutSeconds = 10;
  static constexpr uint32_t kMaxIdleTimeoutSeconds = 86400;
  static constexpr uint32_t kMinRoutesPerPort = 10;
  static constexpr uint32_t kMaxRoutesPerPort = 100000;
  static constexpr uint32_t kMinRules = 16;
  static constexpr uint32_t kMaxRules = 1024 * 1024;
  static constexpr uint32_t kMinTrackedSources = 1024;
  static constexpr uint32_t kMaxTrackedSources = 16 * 1024 * 1024;
  static constexpr uint32_t kMaxHeartbeatTimeoutSeconds = 300;
  // sun_path of struct sockaddr_un is 108 bytes on Linux, one of them the terminating NUL.
  static constexpr size_t kMaxSocketPathBytes = 107;
};

struct ConnectionsConfig {
  uint32_t max = 65536;                 // size of the kernel LRU map and the analyzer's table
  uint32_t idle_timeout_seconds = 300;  // analyzer drops a connection quiet for this long
};

struct RoutesConfig {
  uint32_t max_per_port = 1000;  // distinct routes per port before the overflow route
  std::vector<analyzer::RoutePatternConfig> patterns;  // port 0 = any watched port
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9100";  // validated by ParseListenAddress
  // Clients that may poll /metrics; empty lets every client that can reach `listen` in (the
  // default listen address is loopback). Others get 403 and are counted.
  std::vector<enforce::Cidr> allow;
  // A Prometheus-style web config file (tls_server_config, basic_auth_users); "" = plain HTTP
  // without authentication. Read and checked at start-up (agent/web_config.h).
  std::string web_config_file;
};

struct TlsConfig {
  // OpenSSL uprobes (docs/tls.md). Each hooked SSL call traps into the kernel, and the syscall
  // tracepoints they need add a little to every read/write on the node: an operator who does
  // not want that turns it off and keeps the tc path.
  bool enabled = true;
};

// The anomaly engine (docs/detection.md); every threshold of every detector is a key under
// `anomaly.<detector>`, with the defaults of analyzer/anomaly/config.h.
struct AnomalyConfig {
  bool enabled = true;
  // How often learned baselines are written to state_dir (and at shutdown).
  uint32_t save_interval_seconds = 300;
  analyzer::anomaly::AnomalyEngineConfig engine;
};

// Where anomaly records go besides /metrics (docs/alerts.md). Each sink is off unless enabled.
struct AlertsConfig {
  alerts::DispatcherConfig dispatcher;  // alerts.queue_size, alerts.max_attempts
  alerts::JsonLinesConfig json_log;
  alerts::AlertmanagerConfig alertmanager;
  alerts::SyslogConfig syslog;
};

// XDP enforcement (docs/enforcement.md): rules from the detectors' policy, from operators
// through the control socket, and the static allowlist below, applied at XDP on ingress.
struct EnforcementConfig {
  bool enabled = false;                 // attach the XDP program at all
  bool dry_run = false;                 // every rule only counts "would drop"
  std::vector<std::string> interfaces;  // empty: the capture interfaces
  enforce::XdpAttachMode attach_mode = enforce::XdpAttachMode::kAuto;
  // The daemon beats every second; the XDP program passes everything (fails open) once the
  // last beat is older than this. 5 s rides out a stall of a few seconds (a snapshot write, a
  // slow sink) and still lifts a dead daemon's rules within 5 s.
  uint32_t heartbeat_timeout_seconds = 5;
  uint32_t max_rules = 16384;            // each LPM trie's entries and the counter slots
  uint32_t max_tracked_sources = 65536;  // rate-limit buckets (LRU)
  double new_sources_per_second = 1000;  // per rate-limit rule, see bpf/ta_abi.h newcomers
  uint32_t new_sources_burst = 1000;
  std::vector<enforce::Cidr> allowlist;  // always pass (monitoring, LB health checks)
  // Which anomalies act and how. The default acts on floods only (drop for 600 s); an
  // `actions` map in the file replaces the whole set ({} = detection only).
  analyzer::policy::PolicyConfig policy = DefaultPolicy();
  analyzer::policy::SynControllerConfig syn_throttle;

  static analyzer::policy::PolicyConfig DefaultPolicy() {
    analyzer::policy::PolicyConfig p;
    p.actions = {{analyzer::anomaly::DetectorKind::kFlood, analyzer::policy::RuleAction::kDrop,
                  600ULL * 1'000'000'000}};
    return p;
  }
};

// The control socket (trafficctl's way in).
struct ControlConfig {
  std::string socket = "/run/traffic-analyzer/control.sock";  // absolute path
  std::string group;  // group owning the socket; "" = the daemon's own group
};

// How log lines are written (agent/logging.h).
enum class LogFormat {
  kAuto,     // journal when stderr is connected to journald (JOURNAL_STREAM), text otherwise
  kText,     // one human line per message on stderr
  kJson,     // one JSON object per line on stderr
  kJournal,  // journald's native protocol, with structured fields
};

struct LogConfig {
  spdlog::level::level_enum level = spdlog::level::info;
  LogFormat format = LogFormat::kAuto;
};

struct Config {
  std::vector<std::string> interfaces;  // empty: the daemon uses the default route's interface
  std::vector<uint16_t> ports = {80, 443, 8080, 8443};
  uint32_t snaplen = 1024;  // payload bytes captured per segment
  // Of a segment longer than snaplen, how many of the snaplen bytes are its last ones (the
  // rest are its first); below snaplen, 0 captures the head only.
  uint32_t snaplen_tail = 256;
  uint32_t ringbuf_size = 8388608;  // bytes; a power of two (a BPF ring buffer requirement)
  ConnectionsConfig connections;
  RoutesConfig routes;
  MetricsConfig metrics;
  TlsConfig tls;
  LogConfig log;
  // Where the daemon keeps state that must survive a restart (anomaly baselines). Created at
  // start-up if missing (mode 0750); refused if world-writable.
  std::string state_dir = "/var/lib/traffic-analyzer";
  AnomalyConfig anomaly;
  AlertsConfig alerts;
  EnforcementConfig enforcement;
  ControlConfig control;

  // The analyzer's share of the settings; the bounds not exposed here keep their defaults.
  analyzer::AnalyzerConfig ToAnalyzerConfig() const;
};

// Refuses a config file that any local user could change: writable by everyone, or in a
// directory writable by everyone that is not sticky. The error names the mode and the fix.
Result<void> CheckConfigFileSafe(int fd, const std::string& path);

// Reads and parses the file at `path` (after CheckConfigFileSafe). Error messages start with the path ("PATH:LINE:COLUMN: ").
Result<Config> LoadConfig(const std::string& path);

// Parses YAML text. Error messages start with "config:LINE:COLUMN: ", e.g.
// "config:3:3: unknown key 'metrics.lisen' (known keys: listen)".
Result<Config> ParseConfig(std::string_view yaml_text);

// metrics.listen, split. The host is an IP literal (names are not resolved at startup); an IPv6
// address is written in brackets: "[::1]:9100".
struct ListenAddress {
  std::string host;  // "127.0.0.1" or "::1" (without brackets)
  uint16_t port = 0;
  bool ipv6 = false;
};

// Parses "IPv4:port" or "[IPv6]:port" with port 1..65535. The error message says which form is
// expected; it does not name a config key (callers add that).
Result<ListenAddress> ParseListenAddress(std::string_view text);

}  // namespace ta::agent
