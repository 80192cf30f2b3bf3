#include "agent/config.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>

namespace ta::agent {
namespace {

// The error message of parsing `yaml`, or "<ok>" when it parses.
std::string ErrorOf(std::string_view yaml) {
  auto config = ParseConfig(yaml);
  if (config.ok()) return "<ok>";
  return config.error().message;
}

Config Parse(std::string_view yaml) {
  auto config = ParseConfig(yaml);
  EXPECT_TRUE(config.ok()) << config.error().message;
  return config.ok() ? config.value() : Config{};
}

constexpr uint64_t kNs = 1'000'000'000ULL;

void ExpectEnforcementDefaults(const Config& c) {
  const EnforcementConfig& e = c.enforcement;
  EXPECT_FALSE(e.enabled);
  EXPECT_FALSE(e.dry_run);
  EXPECT_TRUE(e.interfaces.empty());
  EXPECT_EQ(e.attach_mode, enforce::XdpAttachMode::kAuto);
  EXPECT_EQ(e.heartbeat_timeout_seconds, 5u);
  EXPECT_EQ(e.max_rules, 16384u);
  EXPECT_EQ(e.max_tracked_sources, 65536u);
  EXPECT_EQ(e.new_sources_per_second, 1000.0);
  EXPECT_EQ(e.new_sources_burst, 1000u);
  EXPECT_TRUE(e.allowlist.empty());
  const analyzer::policy::PolicyConfig& p = e.policy;
  EXPECT_EQ(p.consecutive_windows, 2u);
  EXPECT_EQ(p.min_source_share, 0.1);
  EXPECT_EQ(p.max_sources, 5u);
  EXPECT_EQ(p.backoff, 2.0);
  EXPECT_EQ(p.max_ttl_ns, 86400 * kNs);
  EXPECT_EQ(p.ttl_jitter, 0.1);
  EXPECT_EQ(p.offence_memory_ns, 86400 * kNs);
  EXPECT_EQ(p.max_rules_per_minute, 20u);
  ASSERT_EQ(p.actions.size(), 1u);
  EXPECT_EQ(p.actions[0].detector, analyzer::anomaly::DetectorKind::kFlood);
  EXPECT_EQ(p.actions[0].action, analyzer::policy::RuleAction::kDrop);
  EXPECT_EQ(p.actions[0].ttl_ns, 600 * kNs);
  const analyzer::policy::SynControllerConfig& s = e.syn_throttle;
  EXPECT_EQ(s.signal, analyzer::policy::SynSignal::kErrorRatio);
  EXPECT_EQ(s.setpoint, 0.01);
  EXPECT_EQ(s.kp, 0.02);
  EXPECT_EQ(s.ki, 0.02);
  EXPECT_EQ(s.kd, 0.0);
  EXPECT_EQ(s.integral_limit, 50.0);
  EXPECT_EQ(s.min_admit, 0.05);
  EXPECT_EQ(s.hold_ns, 30 * kNs);
  EXPECT_EQ(s.release_ns, 60 * kNs);
  EXPECT_EQ(s.min_requests, 20u);
  EXPECT_EQ(c.control.socket, "/run/traffic-analyzer/control.sock");
  EXPECT_EQ(c.control.group, "");
}

void ExpectDefaults(const Config& c) {
  EXPECT_TRUE(c.interfaces.empty());
  EXPECT_EQ(c.ports, (std::vector<uint16_t>{80, 443, 8080, 8443}));
  EXPECT_EQ(c.snaplen, 1024u);
  EXPECT_EQ(c.snaplen_tail, 256u);
  EXPECT_EQ(c.ringbuf_size, 8388608u);
  EXPECT_EQ(c.connections.max, 65536u);
  EXPECT_EQ(c.connections.idle_timeout_seconds, 300u);
  EXPECT_EQ(c.routes.max_per_port, 1000u);
  EXPECT_TRUE(c.routes.patterns.empty());
  EXPECT_EQ(c.metrics.listen, "127.0.0.1:9100");
  EXPECT_EQ(c.log.level, spdlog::level::info);
  ExpectEnforcementDefaults(c);
}

TEST(ConfigTest, EmptyTextGivesDefaults) {
  ExpectDefaults(Parse(""));
  ExpectDefaults(Parse("# nothing but a comment\n"));
  ExpectDefaults(Parse("---\n"));
}

TEST(ConfigTest, ShippedFileHasEveryKeyAtItsDefault) {
  auto config = LoadConfig(TA_SHIPPED_CONFIG);
  ASSERT_TRUE(config.ok()) << config.error().ToString();
  ExpectDefaults(*config);
  // Every key is present in the shipped file (the docs promise it).
  std::ifstream in(TA_SHIPPED_CONFIG);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* key :
       {"\ninterfaces:", "\nports:", "\nsnaplen:", "\nsnaplen_tail:", "\nringbuf_size:",
        "\nconnections:", "\n  max:", "\n  idle_timeout_seconds:", "\nroutes:", "\n  max_per_port:",
        "\n  patterns:", "\nmetrics:", "\n  listen:", "\n  allow:", "\n  web_config_file:", "\nlog:",
        "\n  level:", "\n  format:"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
  const std::vector<std::string> enforcement_keys = {
      "\nenforcement:", "\n  enabled:", "\n  dry_run:", "\n  interfaces:", "\n  attach_mode:",
      "\n  heartbeat_timeout_seconds:", "\n  max_rules:", "\n  max_tracked_sources:",
      "\n  new_sources_per_second:", "\n  new_sources_burst:", "\n  allowlist:", "\n  policy:",
      "\n    consecutive_windows:", "\n    min_source_share:", "\n    max_sources:",
      "\n    backoff:", "\n    max_ttl_seconds:", "\n    ttl_jitter:",
      "\n    offence_memory_seconds:", "\n    max_rules_per_minute:", "\n    actions:",
      "\n      flood: {action: drop, ttl_seconds: 600}", "\n  syn_throttle:", "\n    signal:",
      "\n    setpoint:", "\n    kp:", "\n    ki:", "\n    kd:", "\n    integral_limit:",
      "\n    min_admit:", "\n    hold_seconds:", "\n    release_seconds:", "\n    min_requests:",
      "\ncontrol:", "\n  socket:", "\n  group:"};
  for (const std::string& key : enforcement_keys) {
    EXPECT_NE(text.find(key), std::string::npos) << key;
  }
}

TEST(ConfigTest, KeyWithNoValueKeepsDefault) {
  ExpectDefaults(
      Parse("interfaces:\nports:\nsnaplen:\nringbuf_size: ~\nconnections:\n"
            "routes:\n  patterns:\nmetrics:\n  listen:\nlog:\n"));
}

TEST(ConfigTest, EveryKeySet) {
  Config c = Parse(R"(
interfaces: [eth0, "ens5"]
ports: [80, 8081]
snaplen: 2048
ringbuf_size: 0x100000
connections:
  max: 2048
  idle_timeout_seconds: 60
routes:
  max_per_port: 50
  patterns:
    - "/api/users/{id}"
    - {port: 8081, pattern: "/v1/items/{item}/parts"}
    - pattern: /health
metrics:
  listen: "[::1]:9464"
log:
  level: debug
)");
  EXPECT_EQ(c.interfaces, (std::vector<std::string>{"eth0", "ens5"}));
  EXPECT_EQ(c.ports, (std::vector<uint16_t>{80, 8081}));
  EXPECT_EQ(c.snaplen, 2048u);
  EXPECT_EQ(c.ringbuf_size, 1048576u);
  EXPECT_EQ(c.connections.max, 2048u);
  EXPECT_EQ(c.connections.idle_timeout_seconds, 60u);
  EXPECT_EQ(c.routes.max_per_port, 50u);
  ASSERT_EQ(c.routes.patterns.size(), 3u);
  EXPECT_EQ(c.routes.patterns[0].port, 0);
  EXPECT_EQ(c.routes.patterns[0].pattern, "/api/users/{id}");
  EXPECT_EQ(c.routes.patterns[1].port, 8081);
  EXPECT_EQ(c.routes.patterns[1].pattern, "/v1/items/{item}/parts");
  EXPECT_EQ(c.routes.patterns[2].port, 0);
  EXPECT_EQ(c.routes.patterns[2].pattern, "/health");
  EXPECT_EQ(c.metrics.listen, "[::1]:9464");
  EXPECT_EQ(c.log.level, spdlog::level::debug);

  analyzer::AnalyzerConfig a = c.ToAnalyzerConfig();
  EXPECT_EQ(a.max_connections, 2048u);
  EXPECT_EQ(a.idle_timeout_ns, 60'000'000'000ull);
  EXPECT_EQ(a.max_routes_per_port, 50u);
  ASSERT_EQ(a.route_patterns.size(), 3u);
  EXPECT_EQ(a.route_patterns[1].port, 8081);
  EXPECT_EQ(a.route_patterns[1].pattern, "/v1/items/{item}/parts");
}

TEST(ConfigTest, LogLevels) {
  const std::pair<const char*, spdlog::level::level_enum> cases[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off},
  };
  for (const auto& [name, level] : cases) {
    EXPECT_EQ(Parse(std::string("log:\n  level: ") + name).log.level, level) << name;
  }
  EXPECT_EQ(ErrorOf("log:\n  level: verbose"),
            "config:2:10: 'log.level' is 'verbose', expected one of trace, debug, info, warn, "
            "error, critical, off");
}

TEST(ConfigTest, UnknownKeysNameTheFullPath) {
  EXPECT_EQ(ErrorOf("snaplenn: 100"),
            "config:1:1: unknown key 'snaplenn' (known keys: alerts, anomaly, connections, "
            "control, enforcement, interfaces, log, metrics, ports, ringbuf_size, routes, "
            "snaplen, snaplen_tail, state_dir, tls)");
  EXPECT_EQ(ErrorOf("metrics:\n  lisen: 127.0.0.1:9100"),
            "config:2:3: unknown key 'metrics.lisen' (known keys: allow, listen, web_config_file)");
  EXPECT_EQ(ErrorOf("connections:\n  max: 2048\n  idle_timeout: 5"),
            "config:3:3: unknown key 'connections.idle_timeout' (known keys: "
            "idle_timeout_seconds, max)");
  EXPECT_EQ(ErrorOf("routes:\n  patterns:\n    - {port: 80, patern: /x}"),
            "config:3:18: unknown key 'routes.patterns[0].patern' (known keys: pattern, port)");
  EXPECT_EQ(ErrorOf("log:\n  levle: info"),
            "config:2:3: unknown key 'log.levle' (known keys: format, level)");
}

TEST(ConfigTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(ErrorOf("snaplen: 100\nports: [80]\nsnaplen: 200"),
            "config:3:1: duplicate key 'snaplen' (first at line 1)");
  EXPECT_EQ(ErrorOf("log:\n  level: info\n  level: warn"),
            "config:3:3: duplicate key 'log.level' (first at line 2)");
}

TEST(ConfigTest, WrongTypesNameKeyAndExpectedType) {
  EXPECT_EQ(ErrorOf("snaplen: abc"), "config:1:10: 'snaplen' must be an integer, got 'abc'");
  EXPECT_EQ(ErrorOf("snaplen: \"1024\""),
            "config:1:10: 'snaplen' must be an integer, got the string \"1024\"");
  EXPECT_EQ(ErrorOf("snaplen: 1.5e3"), "config:1:10: 'snaplen' must be an integer, got '1.5e3'");
  EXPECT_EQ(ErrorOf("snaplen: [1]"), "config:1:10: 'snaplen' must be an integer, got a list");
  EXPECT_EQ(ErrorOf("ports: 80"), "config:1:8: 'ports' must be a list, got '80'");
  EXPECT_EQ(ErrorOf("ports: [80, http]"), "config:1:13: 'ports[1]' must be an integer, got 'http'");
  EXPECT_EQ(ErrorOf("interfaces: eth0"), "config:1:13: 'interfaces' must be a list, got 'eth0'");
  EXPECT_EQ(ErrorOf("interfaces: [[eth0]]"),
            "config:1:14: 'interfaces[0]' must be a string, got a list");
  EXPECT_EQ(ErrorOf("metrics: 9100"), "config:1:10: 'metrics' must be a map, got '9100'");
  EXPECT_EQ(ErrorOf("connections: [1]"), "config:1:14: 'connections' must be a map, got a list");
  EXPECT_EQ(ErrorOf("connections:\n  max: {a: 1}"),
            "config:2:8: 'connections.max' must be an integer, got a map");
  EXPECT_EQ(ErrorOf("log:\n  level: [info]"),
            "config:2:10: 'log.level' must be a string, got a list");
  EXPECT_EQ(ErrorOf("routes:\n  max_per_port: true"),
            "config:2:17: 'routes.max_per_port' must be an integer, got 'true'");
  EXPECT_EQ(ErrorOf("routes:\n  patterns: /api"),
            "config:2:13: 'routes.patterns' must be a list, got '/api'");
  EXPECT_EQ(ErrorOf("- snaplen: 100"),
            "config:1:1: expected a map of settings at the top level, got a list");
}

TEST(ConfigTest, SnaplenTailIsAShareOfSnaplen) {
  Config c = Parse("snaplen: 2048\nsnaplen_tail: 512");
  EXPECT_EQ(c.snaplen, 2048u);
  EXPECT_EQ(c.snaplen_tail, 512u);
  EXPECT_EQ(Parse("snaplen_tail: 0").snaplen_tail, 0u);
  EXPECT_EQ(Parse("snaplen_tail: 1023").snaplen_tail, 1023u);  // one head byte is left
  EXPECT_EQ(Parse("snaplen_tail: 0x80").snaplen_tail, 128u);
  EXPECT_EQ(Parse("snaplen_tail: ~").snaplen_tail, 256u);
  // Order in the file does not matter: the tail is checked against the final snaplen.
  EXPECT_EQ(Parse("snaplen_tail: 3000\nsnaplen: 4096").snaplen_tail, 3000u);
  // A small snaplen without snaplen_tail: the default tail would not fit, so there is none.
  EXPECT_EQ(Parse("snaplen: 256").snaplen_tail, 0u);
  EXPECT_EQ(Parse("snaplen: 257").snaplen_tail, 256u);

  EXPECT_EQ(ErrorOf("snaplen_tail: 1024"),
            "config:1:15: 'snaplen_tail' is 1024, not below 'snaplen' (1024): the tail is part "
            "of the snaplen bytes; lower snaplen_tail, raise snaplen, or set snaplen_tail: 0 to "
            "capture the head only");
  EXPECT_EQ(ErrorOf("snaplen: 128\nsnaplen_tail: 200"),
            "config:2:15: 'snaplen_tail' is 200, not below 'snaplen' (128): the tail is part "
            "of the snaplen bytes; lower snaplen_tail, raise snaplen, or set snaplen_tail: 0 to "
            "capture the head only");
  EXPECT_EQ(ErrorOf("snaplen_tail: 4096"),
            "config:1:15: 'snaplen_tail' is 4096, out of range 0..4095");
  EXPECT_EQ(ErrorOf("snaplen_tail: -1"), "config:1:15: 'snaplen_tail' is -1, out of range 0..4095");
  EXPECT_EQ(ErrorOf("snaplen_tail: abc"),
            "config:1:15: 'snaplen_tail' must be an integer, got 'abc'");
  EXPECT_EQ(ErrorOf("snaplen_tail: 25.6"),
            "config:1:15: 'snaplen_tail' must be an integer, got '25.6'");
  EXPECT_EQ(ErrorOf("snaplen_tail: \"256\""),
            "config:1:15: 'snaplen_tail' must be an integer, got the string \"256\"");
  EXPECT_EQ(ErrorOf("snaplen_tail: [256]"),
            "config:1:15: 'snaplen_tail' must be an integer, got a list");
}

TEST(ConfigTest, RangesAreEnforced) {
  EXPECT_EQ(ErrorOf("snaplen: 63"), "config:1:10: 'snaplen' is 63, out of range 64..4096");
  EXPECT_EQ(ErrorOf("snaplen: 4097"), "config:1:10: 'snaplen' is 4097, out of range 64..4096");
  EXPECT_EQ(ErrorOf("snaplen: -1"), "config:1:10: 'snaplen' is -1, out of range 64..4096");
  EXPECT_EQ(ErrorOf("snaplen: 99999999999999999999999"),
            "config:1:10: 'snaplen' is 99999999999999999999999, out of range 64..4096");
  EXPECT_EQ(Parse("snaplen: 64").snaplen, 64u);
  EXPECT_EQ(Parse("snaplen: 4096").snaplen, 4096u);

  EXPECT_EQ(ErrorOf("ringbuf_size: 32768"),
            "config:1:15: 'ringbuf_size' is 32768, out of range 65536..1073741824");
  EXPECT_EQ(ErrorOf("ringbuf_size: 2147483648"),
            "config:1:15: 'ringbuf_size' is 2147483648, out of range 65536..1073741824");
  EXPECT_EQ(ErrorOf("ringbuf_size: 1000000"),
            "config:1:15: 'ringbuf_size' is 1000000, must be a power of two (e.g. 1048576)");
  EXPECT_EQ(Parse("ringbuf_size: 65536").ringbuf_size, 65536u);
  EXPECT_EQ(Parse("ringbuf_size: 1073741824").ringbuf_size, 1073741824u);

  EXPECT_EQ(ErrorOf("connections:\n  max: 1023"),
            "config:2:8: 'connections.max' is 1023, out of range 1024..4194304");
  EXPECT_EQ(ErrorOf("connections:\n  max: 4194305"),
            "config:2:8: 'connections.max' is 4194305, out of range 1024..4194304");
  EXPECT_EQ(ErrorOf("connections:\n  idle_timeout_seconds: 9"),
            "config:2:25: 'connections.idle_timeout_seconds' is 9, out of range 10..86400");
  EXPECT_EQ(ErrorOf("connections:\n  idle_timeout_seconds: 86401"),
            "config:2:25: 'connections.idle_timeout_seconds' is 86401, out of range 10..86400");
  EXPECT_EQ(ErrorOf("routes:\n  max_per_port: 9"),
            "config:2:17: 'routes.max_per_port' is 9, out of range 10..100000");
  EXPECT_EQ(ErrorOf("routes:\n  max_per_port: 100001"),
            "config:2:17: 'routes.max_per_port' is 100001, out of range 10..100000");
}

TEST(ConfigTest, Ports) {
  EXPECT_EQ(ErrorOf("ports: [0]"), "config:1:9: 'ports[0]' is 0, out of range 1..65535");
  EXPECT_EQ(ErrorOf("ports: [80, 65536]"),
            "config:1:13: 'ports[1]' is 65536, out of range 1..65535");
  EXPECT_EQ(ErrorOf("ports: [80, 443, 80]"),
            "config:1:18: 'ports' lists 80 twice (ports[0] and ports[2])");
  EXPECT_EQ(ErrorOf("ports: []"), "config:1:8: 'ports' is empty; list at least one port to watch");
  std::string many = "ports: [";
  for (int p = 1; p <= 65; ++p) many += std::to_string(p) + (p < 65 ? ", " : "]");
  EXPECT_EQ(ErrorOf(many), "config:1:8: 'ports' has 65 entries; at most 64 are allowed");
  many = "ports: [";
  for (int p = 1; p <= 64; ++p) many += std::to_string(p) + (p < 64 ? ", " : "]");
  EXPECT_EQ(Parse(many).ports.size(), 64u);
  EXPECT_EQ(Parse("ports:\n  - 65535\n  - 1").ports, (std::vector<uint16_t>{65535, 1}));
}

TEST(ConfigTest, Interfaces) {
  EXPECT_EQ(ErrorOf("interfaces: [eth0, eth0]"), "config:1:20: 'interfaces' lists 'eth0' twice");
  EXPECT_EQ(ErrorOf("interfaces: [\"\"]"), "config:1:14: 'interfaces[0]' ('') is empty");
  EXPECT_EQ(ErrorOf("interfaces: [averyveryverylongname]"),
            "config:1:14: 'interfaces[0]' ('averyveryverylongname') is longer than 15 characters "
            "(IFNAMSIZ)");
  EXPECT_EQ(ErrorOf("interfaces: [\"eth0:1\"]"),
            "config:1:14: 'interfaces[0]' ('eth0:1') contains '/', ':' or whitespace, which "
            "interface names cannot");
}

TEST(ConfigTest, RoutePatterns) {
  EXPECT_EQ(ErrorOf("routes:\n  patterns: [api/users]"),
            "config:2:14: 'routes.patterns[0]' ('api/users') must start with '/'");
  EXPECT_EQ(ErrorOf("routes:\n  patterns:\n    - {port: 80, pattern: users}"),
            "config:3:27: 'routes.patterns[0].pattern' ('users') must start with '/'");
  EXPECT_EQ(ErrorOf("routes:\n  patterns:\n    - {port: 80}"),
            "config:3:7: 'routes.patterns[0]' has no 'pattern'; write {port: 8080, pattern: "
            "\"/v1/{id}\"}");
  EXPECT_EQ(ErrorOf("routes:\n  patterns:\n    - {port: 9000, pattern: /x}"),
            "config:3:14: 'routes.patterns[0].port' is 9000, which is not in 'ports'; the "
            "pattern would never match");
  EXPECT_EQ(ErrorOf("routes:\n  patterns:\n    - {port: 0, pattern: /x}"),
            "config:3:14: 'routes.patterns[0].port' is 0, out of range 1..65535");
  EXPECT_EQ(ErrorOf("routes:\n  patterns:\n    - [/x]"),
            "config:3:7: 'routes.patterns[0]' must be a string such as \"/api/users/{id}\" or a "
            "map {port: 8080, pattern: \"/v1/items/{id}\"}, got a list");
  EXPECT_EQ(ErrorOf("routes:\n  patterns: [\"/users/{id\"]"),
            "config:2:14: 'routes.patterns[0]' ('/users/{id') has segment '{id'; a placeholder "
            "must be a whole segment such as '{id}'");
  EXPECT_EQ(ErrorOf("routes:\n  patterns: [\"/users/id-{id}\"]"),
            "config:2:14: 'routes.patterns[0]' ('/users/id-{id}') has segment 'id-{id}'; a "
            "placeholder must be a whole segment such as '{id}'");
  EXPECT_EQ(ErrorOf("routes:\n  patterns: [\"/search?q={q}\"]"),
            "config:2:14: 'routes.patterns[0]' ('/search?q={q}') must not contain '?' or '#' "
            "(routes are paths only)");
  EXPECT_EQ(ErrorOf("routes:\n  patterns: [\"/a/{id}\", \"/a/{id}\"]"),
            "config:2:25: 'routes.patterns[1]' repeats pattern '/a/{id}'");
  // The same pattern on another port is a different pattern.
  EXPECT_EQ(Parse("routes:\n  patterns: [\"/a/{id}\", {port: 80, pattern: \"/a/{id}\"}]")
                .routes.patterns.size(),
            2u);
  EXPECT_EQ(Parse("routes:\n  patterns: [/]").routes.patterns[0].pattern, "/");
}

TEST(ConfigTest, ListenAddress) {
  EXPECT_EQ(Parse("metrics:\n  listen: 0.0.0.0:9464").metrics.listen, "0.0.0.0:9464");
  EXPECT_EQ(Parse("metrics:\n  listen: \"[::]:9100\"").metrics.listen, "[::]:9100");
  EXPECT_EQ(ErrorOf("metrics:\n  listen: localhost:9100"),
            "config:2:11: 'metrics.listen' is 'localhost:9100': 'localhost' is not an IPv4 "
            "address (host names are not resolved); expected IP:PORT with an IP address, e.g. "
            "127.0.0.1:9100, 0.0.0.0:9100 or [::1]:9100");
  EXPECT_EQ(ErrorOf("metrics:\n  listen: 9100"),
            "config:2:11: 'metrics.listen' is '9100': expected IP:PORT with an IP address, e.g. "
            "127.0.0.1:9100, 0.0.0.0:9100 or [::1]:9100");
  EXPECT_EQ(ErrorOf("metrics:\n  listen: \"::1:9100\""),
            "config:2:11: 'metrics.listen' is '::1:9100': an IPv6 address must be written in "
            "brackets; expected IP:PORT with an IP address, e.g. 127.0.0.1:9100, 0.0.0.0:9100 "
            "or [::1]:9100");
  EXPECT_EQ(ErrorOf("metrics:\n  listen: 127.0.0.1:0"),
            "config:2:11: 'metrics.listen' is '127.0.0.1:0': port '0' is not in 1..65535; "
            "expected IP:PORT with an IP address, e.g. 127.0.0.1:9100, 0.0.0.0:9100 or "
            "[::1]:9100");

  auto v6 = ParseListenAddress("[fe80::1]:80");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "fe80::1");
  EXPECT_EQ(v6->port, 80);
  EXPECT_TRUE(v6->ipv6);
  auto v4 = ParseListenAddress("10.1.2.3:65535");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, 65535);
  EXPECT_FALSE(v4->ipv6);
  for (const char* bad : {"", ":9100", "127.0.0.1:", "127.0.0.1:99999", "[::1]9100", "[::1",
                          "[127.0.0.1]:80", "999.1.1.1:80", "127.0.0.1:80x"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST(ConfigTest, BadYamlSyntaxNamesTheLine) {
  EXPECT_EQ(ErrorOf("ports: [80, 443\nsnaplen: 100\n"),
            "config:2:8: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(ErrorOf("snaplen: 100\n  ports: [80]\n"),
            "config:2:8: invalid YAML: illegal map value");
  EXPECT_EQ(ErrorOf("metrics:\n\tlisten: x\n"),
            "config:2:8: invalid YAML: illegal map value (indent with spaces; YAML forbids tabs)");
  EXPECT_EQ(ErrorOf("snaplen: 100\n---\nsnaplen: 200\n"),
            "config: found more than one YAML document ('---'); a config file holds exactly one");
  // yaml-cpp 0.7's LoadAll never returns on this (found by tests/fuzz/config_fuzz.cc).
  EXPECT_EQ(ErrorOf(","),
            "config: invalid YAML: the parser cannot get past offset 0 (a stray ',' or other "
            "flow indicator outside [] or {}?)");
}

TEST(ConfigTest, TlsCanBeTurnedOff) {
  auto on = ParseConfig("ports: [443]\n");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->tls.enabled);
  auto off = ParseConfig("tls:\n  enabled: false\n");
  ASSERT_TRUE(off.ok()) << off.error().message;
  EXPECT_FALSE(off->tls.enabled);
  EXPECT_EQ(ErrorOf("tls:\n  enabled: maybe\n"),
            "config:2:12: 'tls.enabled' is 'maybe', expected true or false");
  EXPECT_EQ(ErrorOf("tls:\n  enable: false\n"),
            "config:2:3: unknown key 'tls.enable' (known keys: enabled)");
}

TEST(ConfigTest, LoadConfigReportsPathAndErrno) {
  auto missing = LoadConfig("/nonexistent/traffic-analyzer.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().err, ENOENT);
  EXPECT_EQ(missing.error().ToString(),
            "cannot read config file '/nonexistent/traffic-analyzer.yaml': No such file or "
            "directory");

  char path[] = "/tmp/ta-config-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text = "ports: [80]\nmetrics:\n  lisen: x\n";
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ::close(fd);
  auto bad = LoadConfig(path);
  ::unlink(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            std::string(path) + ":3:3: unknown key 'metrics.lisen' (known keys: allow, listen, web_config_file)");
}

TEST(ConfigTest, MetricsAllowlistAndWebConfig) {
  const Config defaults = Parse("");
  EXPECT_TRUE(defaults.metrics.allow.empty());
  EXPECT_EQ(defaults.metrics.web_config_file, "");
  const Config c = Parse(
      "metrics:\n  allow: [198.18.0.10, \"10.0.0.0/8\", \"::1\"]\n"
      "  web_config_file: /etc/traffic-analyzer/web.yaml\n");
  ASSERT_EQ(c.metrics.allow.size(), 3u);
  EXPECT_EQ(c.metrics.allow[0].ToString(), "198.18.0.10/32");
  EXPECT_EQ(c.metrics.allow[1].ToString(), "10.0.0.0/8");
  EXPECT_EQ(c.metrics.allow[2].ToString(), "::1/128");
  EXPECT_EQ(c.metrics.web_config_file, "/etc/traffic-analyzer/web.yaml");
  EXPECT_EQ(ErrorOf("metrics: {allow: [10.1.2.3/8]}"),
            "config:1:19: 'metrics.allow[0]' is '10.1.2.3/8': host bits are set (did you mean "
            "10.0.0.0/8, or 10.1.2.3/32?)");
  EXPECT_EQ(ErrorOf("metrics: {allow: [::1, \"::1/128\"]}"),
            "config:1:24: 'metrics.allow' lists ::1/128 twice (metrics.allow[0] and "
            "metrics.allow[1])");
  EXPECT_EQ(ErrorOf("metrics: {allow: 10.0.0.0/8}"),
            "config:1:18: 'metrics.allow' must be a list, got '10.0.0.0/8'");
  EXPECT_EQ(ErrorOf("metrics: {web_config_file: web.yaml}"),
            "config:1:28: 'metrics.web_config_file' is 'web.yaml'; give an absolute path such as "
            "/etc/traffic-analyzer/web.yaml");
}

TEST(ConfigTest, LogFormats) {
  EXPECT_EQ(Parse("").log.format, LogFormat::kAuto);
  EXPECT_EQ(Parse("log: {format: text}").log.format, LogFormat::kText);
  EXPECT_EQ(Parse("log: {format: json}").log.format, LogFormat::kJson);
  EXPECT_EQ(Parse("log: {format: journal}").log.format, LogFormat::kJournal);
  EXPECT_EQ(ErrorOf("log: {format: xml}"),
            "config:1:15: 'log.format' is 'xml', expected one of auto, text, json, journal");
}

// A config file any local user could change is refused, with the mode and the fix.
TEST(ConfigTest, WorldWritableConfigIsRefused) {
  char dir[] = "/tmp/ta-config-perm-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/config.yaml";
  {
    std::ofstream out(path);
    out << "ports: [80]\n";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0666), 0);
  auto loaded = LoadConfig(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "config file '" + path +
                "' is writable by everyone (mode 0666), so any local user could change what the "
                "daemon watches and blocks; refusing it. Fix: chmod o-w " + path);
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(LoadConfig(path).ok());
  // The directory: world-writable without the sticky bit lets anyone replace the file.
  ASSERT_EQ(::chmod(dir, 0777), 0);
  loaded = LoadConfig(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "config file '" + path + "' is in " + dir +
                ", a directory writable by everyone (mode 0777), so any local user could replace "
                "it; refusing it. Fix: chmod o-w " + dir +
                ", or move the file to /etc/traffic-analyzer/");
  ASSERT_EQ(::chmod(dir, 01777), 0);  // sticky, like /tmp: others cannot replace our file
  EXPECT_TRUE(LoadConfig(path).ok());
  ::unlink(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace ta::agent

namespace ta::agent {
namespace {

TEST(ConfigAnomalyTest, DefaultsAreTheEngineDefaults) {
  const Config c = Parse("");
  EXPECT_EQ(c.state_dir, "/var/lib/traffic-analyzer");
  EXPECT_TRUE(c.anomaly.enabled);
  EXPECT_EQ(c.anomaly.save_interval_seconds, 300u);
  const analyzer::anomaly::AnomalyEngineConfig defaults;
  EXPECT_EQ(c.anomaly.engine.window_ns, defaults.window_ns);
  EXPECT_EQ(c.anomaly.engine.flood.z_threshold, defaults.flood.z_threshold);
  EXPECT_EQ(c.anomaly.engine.error_budget.burn.slo, defaults.error_budget.burn.slo);
  EXPECT_EQ(c.anomaly.engine.bola.window_ns, defaults.bola.window_ns);
}

TEST(ConfigAnomalyTest, EverySectionParses) {
  const Config c = Parse(R"(
state_dir: /srv/ta
anomaly:
  enabled: true
  window_seconds: 10
  resolve_after_windows: 3
  max_keys: 500
  save_interval_seconds: 60
  flood: {z_threshold: 4.5, min_rate: 25, noise_floor: 0.3, half_life_seconds: 1200,
          min_windows: 30, diurnal_min_history_hours: 48}
  error_budget: {enabled: false, max_ratio: 0.02, window_minutes: 10, min_requests: 50,
                 min_errors: 5, slo: 0.995}
  latency: {quantile: 0.95, z_threshold: 4, min_ratio: 2, min_seconds: 0.01, min_samples: 100,
            min_windows: 10, half_life_seconds: 600}
  exfiltration: {entropy_bits: 7.8, min_sample_bytes: 2048, size_jump: 8, min_bytes: 1048576}
  slow_rate: {min_age_seconds: 20, max_bytes_per_second: 50, max_slow_connections: 20}
  bola: {max_distinct_objects: 100, window_seconds: 120, min_denied_ratio: 0.5,
         min_sequential_ratio: 0.8}
)");
  constexpr uint64_t kS = 1'000'000'000ULL;
  const auto& e = c.anomaly.engine;
  EXPECT_EQ(c.state_dir, "/srv/ta");
  EXPECT_EQ(c.anomaly.save_interval_seconds, 60u);
  EXPECT_EQ(e.window_ns, 10 * kS);
  EXPECT_EQ(e.resolve_after_windows, 3u);
  EXPECT_EQ(e.max_keys, 500u);
  EXPECT_EQ(e.flood.z_threshold, 4.5);
  EXPECT_EQ(e.flood.min_rate, 25.0);
  EXPECT_EQ(e.flood.noise_floor, 0.3);
  EXPECT_EQ(e.flood.half_life_ns, 1200 * kS);
  EXPECT_EQ(e.flood.min_windows, 30u);
  EXPECT_EQ(e.flood.diurnal_min_history_ns, 48 * 3600 * kS);
  EXPECT_FALSE(e.error_budget.enabled);
  EXPECT_EQ(e.error_budget.max_ratio, 0.02);
  EXPECT_EQ(e.error_budget.window_minutes, 10u);
  EXPECT_EQ(e.error_budget.min_requests, 50u);
  EXPECT_EQ(e.error_budget.min_errors, 5u);
  EXPECT_EQ(e.error_budget.burn.slo, 0.995);
  EXPECT_EQ(e.latency.quantile, 0.95);
  EXPECT_EQ(e.latency.z_threshold, 4.0);
  EXPECT_EQ(e.latency.min_ratio, 2.0);
  EXPECT_EQ(e.latency.min_seconds, 0.01);
  EXPECT_EQ(e.latency.min_samples, 100u);
  EXPECT_EQ(e.latency.min_windows, 10u);
  EXPECT_EQ(e.latency.half_life_ns, 600 * kS);
  EXPECT_EQ(e.exfiltration.entropy_bits, 7.8);
  EXPECT_EQ(e.exfiltration.min_sample_bytes, 2048u);
  EXPECT_EQ(e.exfiltration.size_jump, 8.0);
  EXPECT_EQ(e.exfiltration.min_bytes, 1048576u);
  EXPECT_EQ(e.slow_rate.min_age_ns, 20 * kS);
  EXPECT_EQ(e.slow_rate.max_bytes_per_second, 50.0);
  EXPECT_EQ(e.slow_rate.max_slow_connections, 20u);
  EXPECT_EQ(e.bola.max_distinct_objects, 100u);
  EXPECT_EQ(e.bola.window_ns, 120 * kS);
  EXPECT_EQ(e.bola.min_denied_ratio, 0.5);
  EXPECT_EQ(e.bola.min_sequential_ratio, 0.8);
}

TEST(ConfigAnomalyTest, ErrorsNameTheKey) {
  EXPECT_EQ(ErrorOf("anomaly:\n  flood:\n    z_threshold: 0.5"),
            "config:3:18: 'anomaly.flood.z_threshold' is 0.5, out of range 1..100");
  EXPECT_EQ(ErrorOf("anomaly:\n  flood:\n    z_threshold: \"3\""),
            "config:3:18: 'anomaly.flood.z_threshold' must be a number, got the string \"3\"");
  EXPECT_EQ(ErrorOf("anomaly:\n  flood:\n    z_threshold: .nan"),
            "config:3:18: 'anomaly.flood.z_threshold' must be a number, got '.nan'");
  EXPECT_EQ(ErrorOf("anomaly:\n  flood:\n    zscore: 3"),
            "config:3:5: unknown key 'anomaly.flood.zscore' (known keys: "
            "diurnal_min_history_hours, enabled, half_life_seconds, min_rate, min_windows, "
            "noise_floor, z_threshold)");
  EXPECT_EQ(ErrorOf("anomaly:\n  bola:\n    enabled: yes"),
            "config:3:14: 'anomaly.bola.enabled' is 'yes', expected true or false");
  EXPECT_EQ(ErrorOf("anomaly:\n  error_budget:\n    slo: 1"),
            "config:3:10: 'anomaly.error_budget.slo' is 1, out of range 0.5..0.99999");
  EXPECT_EQ(ErrorOf("anomaly:\n  window_seconds: 0"),
            "config:2:19: 'anomaly.window_seconds' is 0, out of range 1..300");
  EXPECT_EQ(ErrorOf("state_dir: var/lib/ta"),
            "config:1:12: 'state_dir' is 'var/lib/ta'; give an absolute directory path such as "
            "/var/lib/traffic-analyzer");
}

}  // namespace
}  // namespace ta::agent

namespace ta::agent {
namespace {

TEST(ConfigAlertsTest, SinksAreOffByDefaultAndParse) {
  const Config defaults = Parse("");
  EXPECT_FALSE(defaults.alerts.json_log.enabled);
  EXPECT_FALSE(defaults.alerts.alertmanager.enabled);
  EXPECT_FALSE(defaults.alerts.syslog.enabled);
  EXPECT_EQ(defaults.alerts.dispatcher.queue_capacity, 1024u);

  const Config c = Parse(R"(
alerts:
  queue_capacity: 64
  max_attempts: 5
  initial_backoff_ms: 50
  max_backoff_ms: 400
  stop_deadline_ms: 1000
  jsonl: {enabled: true, path: /var/log/ta/a.jsonl}
  alertmanager:
    enabled: true
    urls: ["http://127.0.0.1:9093", "http://[::1]:9094/am"]
    resend_interval_seconds: 30
    instance: node-7
    generator_url: http://grafana/d/ta
    connect_timeout_ms: 500
    timeout_ms: 3000
    max_active: 100
  syslog: {enabled: true, address: "127.0.0.1:6514", transport: tcp, facility: auth,
           max_message_bytes: 1024, hostname: node-7, timeout_ms: 700}
)");
  const AlertsConfig& a = c.alerts;
  EXPECT_EQ(a.dispatcher.queue_capacity, 64u);
  EXPECT_EQ(a.dispatcher.max_attempts, 5u);
  EXPECT_EQ(a.dispatcher.initial_backoff.count(), 50);
  EXPECT_EQ(a.dispatcher.max_backoff.count(), 400);
  EXPECT_EQ(a.dispatcher.stop_deadline.count(), 1000);
  EXPECT_TRUE(a.json_log.enabled);
  EXPECT_EQ(a.json_log.path, "/var/log/ta/a.jsonl");
  EXPECT_TRUE(a.alertmanager.enabled);
  EXPECT_EQ(a.alertmanager.urls,
            (std::vector<std::string>{"http://127.0.0.1:9093", "http://[::1]:9094/am"}));
  EXPECT_EQ(a.alertmanager.resend_interval.count(), 30);
  EXPECT_EQ(a.alertmanager.instance, "node-7");
  EXPECT_EQ(a.alertmanager.generator_url, "http://grafana/d/ta");
  EXPECT_EQ(a.alertmanager.timeouts.connect.count(), 500);
  EXPECT_EQ(a.alertmanager.timeouts.exchange.count(), 3000);
  EXPECT_EQ(a.alertmanager.max_active, 100u);
  EXPECT_TRUE(a.syslog.enabled);
  EXPECT_EQ(a.syslog.address, "127.0.0.1:6514");
  EXPECT_EQ(a.syslog.transport, alerts::SyslogTransport::kTcp);
  EXPECT_EQ(a.syslog.facility, 4);  // auth (RFC 5424 table 1)
  EXPECT_EQ(a.syslog.max_message_bytes, 1024u);
  EXPECT_EQ(a.syslog.hostname, "node-7");
  EXPECT_EQ(a.syslog.timeout.count(), 700);
}

TEST(ConfigAlertsTest, ErrorsNameTheKey) {
  EXPECT_EQ(ErrorOf("alerts:\n  alertmanager: {enabled: true}"),
            "config:2:17: 'alerts.alertmanager' is enabled but 'urls' is empty; list at least "
            "one, e.g. urls: [\"http://127.0.0.1:9093\"]");
  EXPECT_EQ(ErrorOf("alerts:\n  syslog: {transport: quic}"),
            "config:2:23: 'alerts.syslog.transport' is 'quic', expected udp or tcp");
  EXPECT_EQ(ErrorOf("alerts:\n  jsonl: {path: anomalies.jsonl}"),
            "config:2:17: 'alerts.jsonl.path' is 'anomalies.jsonl'; give an absolute file path "
            "such as /var/log/traffic-analyzer/anomalies.jsonl");
  EXPECT_EQ(ErrorOf("alerts:\n  max_backoff_ms: 10"),
            "config:2:3: 'alerts.max_backoff_ms' (10) is below 'alerts.initial_backoff_ms' "
            "(100); raise it");
  EXPECT_NE(ErrorOf("alerts:\n  alertmanager: {urls: [\"https://am:9093\"]}")
                .find("config:2:25: 'alerts.alertmanager.urls[0]' is 'https://am:9093': "),
            std::string::npos);
  EXPECT_NE(ErrorOf("alerts:\n  syslog: {facility: local9}")
                .find("config:2:22: 'alerts.syslog.facility' is 'local9': "),
            std::string::npos);
}

}  // namespace
}  // namespace ta::agent

namespace ta::agent {
namespace {

using analyzer::anomaly::DetectorKind;
using analyzer::policy::RuleAction;
using analyzer::policy::SynSignal;

TEST(ConfigEnforcementTest, EmptySectionsKeepDefaults) {
  ExpectEnforcementDefaults(
      Parse("enforcement:\n  policy:\n  syn_throttle:\n  allowlist:\ncontrol:\n"));
}

TEST(ConfigEnforcementTest, EveryKeySet) {
  const Config c = Parse(R"(
interfaces: [eth0]
enforcement:
  enabled: true
  dry_run: true
  interfaces: [eth1, "bond0"]
  attach_mode: generic
  heartbeat_timeout_seconds: 10
  max_rules: 1024
  max_tracked_sources: 4096
  new_sources_per_second: 2.5
  new_sources_burst: 20
  allowlist: ["198.18.0.0/24", 2001:db8::1, "::ffff:198.18.1.1"]
  policy:
    consecutive_windows: 3
    min_source_share: 0.25
    max_sources: 2
    backoff: 3
    max_ttl_seconds: 3600
    ttl_jitter: 0
    offence_memory_seconds: 7200
    max_rules_per_minute: 5
    actions:
      bola: {action: rate_limit, ttl_seconds: 120, rate: 5.5, burst: 10}
      error_budget: {action: syn_throttle}
      flood:
        action: drop
        ttl_seconds: 900
  syn_throttle:
    signal: p99
    setpoint: 0.25
    kp: 0.5
    ki: 0.1
    kd: 0.05
    integral_limit: 20
    min_admit: 0.1
    hold_seconds: 0
    release_seconds: 120
    min_requests: 100
control:
  socket: /run/ta/ctl.sock
  group: ta-operators
)");
  const EnforcementConfig& e = c.enforcement;
  EXPECT_TRUE(e.enabled);
  EXPECT_TRUE(e.dry_run);
  EXPECT_EQ(e.interfaces, (std::vector<std::string>{"eth1", "bond0"}));
  EXPECT_EQ(e.attach_mode, enforce::XdpAttachMode::kGeneric);
  EXPECT_EQ(e.heartbeat_timeout_seconds, 10u);
  EXPECT_EQ(e.max_rules, 1024u);
  EXPECT_EQ(e.max_tracked_sources, 4096u);
  EXPECT_EQ(e.new_sources_per_second, 2.5);
  EXPECT_EQ(e.new_sources_burst, 20u);
  ASSERT_EQ(e.allowlist.size(), 3u);
  EXPECT_EQ(e.allowlist[0].ToString(), "198.18.0.0/24");
  EXPECT_EQ(e.allowlist[1].ToString(), "2001:db8::1/128");
  EXPECT_EQ(e.allowlist[2].ToString(), "::ffff:198.18.1.1/128");
  EXPECT_EQ(e.allowlist[2].family, 10);
  const auto& p = e.policy;
  EXPECT_EQ(p.consecutive_windows, 3u);
  EXPECT_EQ(p.min_source_share, 0.25);
  EXPECT_EQ(p.max_sources, 2u);
  EXPECT_EQ(p.backoff, 3.0);
  EXPECT_EQ(p.max_ttl_ns, 3600 * kNs);
  EXPECT_EQ(p.ttl_jitter, 0.0);
  EXPECT_EQ(p.offence_memory_ns, 7200 * kNs);
  EXPECT_EQ(p.max_rules_per_minute, 5u);
  // In DetectorKind order, whatever the file's order.
  ASSERT_EQ(p.actions.size(), 3u);
  EXPECT_EQ(p.actions[0].detector, DetectorKind::kFlood);
  EXPECT_EQ(p.actions[0].action, RuleAction::kDrop);
  EXPECT_EQ(p.actions[0].ttl_ns, 900 * kNs);
  EXPECT_EQ(p.actions[1].detector, DetectorKind::kErrorBudget);
  EXPECT_EQ(p.actions[1].action, RuleAction::kSynThrottle);
  EXPECT_EQ(p.actions[1].ttl_ns, 600 * kNs);
  EXPECT_EQ(p.actions[2].detector, DetectorKind::kBola);
  EXPECT_EQ(p.actions[2].action, RuleAction::kRateLimit);
  EXPECT_EQ(p.actions[2].ttl_ns, 120 * kNs);
  EXPECT_EQ(p.actions[2].rate_per_second, 5.5);
  EXPECT_EQ(p.actions[2].burst, 10u);
  const auto& s = e.syn_throttle;
  EXPECT_EQ(s.signal, SynSignal::kP99Latency);
  EXPECT_EQ(s.setpoint, 0.25);
  EXPECT_EQ(s.kp, 0.5);
  EXPECT_EQ(s.ki, 0.1);
  EXPECT_EQ(s.kd, 0.05);
  EXPECT_EQ(s.integral_limit, 20.0);
  EXPECT_EQ(s.min_admit, 0.1);
  EXPECT_EQ(s.hold_ns, 0u);
  EXPECT_EQ(s.release_ns, 120 * kNs);
  EXPECT_EQ(s.min_requests, 100u);
  EXPECT_EQ(c.control.socket, "/run/ta/ctl.sock");
  EXPECT_EQ(c.control.group, "ta-operators");
}

TEST(ConfigEnforcementTest, AnEmptyActionsMapMeansDetectionOnly) {
  EXPECT_TRUE(
      Parse("enforcement:\n  policy:\n    actions: {}\n").enforcement.policy.actions.empty());
  // A key with no value keeps the default set.
  EXPECT_EQ(Parse("enforcement:\n  policy:\n    actions:\n").enforcement.policy.actions.size(), 1u);
}

TEST(ConfigEnforcementTest, AttachModesAndSignals) {
  EXPECT_EQ(Parse("enforcement: {attach_mode: native}").enforcement.attach_mode,
            enforce::XdpAttachMode::kNative);
  EXPECT_EQ(Parse("enforcement: {attach_mode: auto}").enforcement.attach_mode,
            enforce::XdpAttachMode::kAuto);
  EXPECT_EQ(
      Parse("enforcement: {syn_throttle: {signal: error_ratio}}").enforcement.syn_throttle.signal,
      SynSignal::kErrorRatio);
  // A p99 setpoint in seconds may exceed 1.
  EXPECT_EQ(Parse("enforcement: {syn_throttle: {signal: p99, setpoint: 2.5}}")
                .enforcement.syn_throttle.setpoint,
            2.5);
}

TEST(ConfigEnforcementTest, ErrorsNameTheKey) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"enforcement: {enabled: 1}",
       "config:1:24: 'enforcement.enabled' is '1', expected true or false"},
      {"enforcement: {dry_run: on}",
       "config:1:24: 'enforcement.dry_run' is 'on', expected true or false"},
      {"enforcement: {attach_mode: offload}",
       "config:1:28: 'enforcement.attach_mode' is 'offload', expected auto, native or generic"},
      {"enforcement: {interfaces: eth0}",
       "config:1:27: 'enforcement.interfaces' must be a list, got 'eth0'"},
      {"enforcement: {interfaces: [eth0, eth0]}",
       "config:1:34: 'enforcement.interfaces' lists 'eth0' twice"},
      {"enforcement: {interfaces: [\"a/b\"]}",
       "config:1:28: 'enforcement.interfaces[0]' ('a/b') contains '/', ':' or whitespace, which "
       "interface names cannot"},
      {"enforcement: {heartbeat_timeout_seconds: 0}",
       "config:1:42: 'enforcement.heartbeat_timeout_seconds' is 0, out of range 1..300"},
      {"enforcement: {heartbeat_timeout_seconds: 301}",
       "config:1:42: 'enforcement.heartbeat_timeout_seconds' is 301, out of range 1..300"},
      {"enforcement: {max_rules: 8}",
       "config:1:26: 'enforcement.max_rules' is 8, out of range 16..1048576"},
      {"enforcement: {max_rules: 1048577}",
       "config:1:26: 'enforcement.max_rules' is 1048577, out of range 16..1048576"},
      {"enforcement: {max_tracked_sources: 10}",
       "config:1:36: 'enforcement.max_tracked_sources' is 10, out of range 1024..16777216"},
      {"enforcement: {new_sources_per_second: 0}",
       "config:1:39: 'enforcement.new_sources_per_second' is 0, out of range 0.001..1e+09"},
      {"enforcement: {new_sources_burst: 0}",
       "config:1:34: 'enforcement.new_sources_burst' is 0, out of range 1..1000000"},
      {"enforcement: {allowlist: 10.0.0.0/8}",
       "config:1:26: 'enforcement.allowlist' must be a list, got '10.0.0.0/8'"},
      {"enforcement: {allowlist: [198.18.0.1, 10.1.2.3/8]}",
       "config:1:39: 'enforcement.allowlist[1]' is '10.1.2.3/8': host bits are set (did you mean "
       "10.0.0.0/8, or 10.1.2.3/32?)"},
      {"enforcement: {allowlist: [example.com]}",
       "config:1:27: 'enforcement.allowlist[0]' is 'example.com': not an address; expected an "
       "IPv4 or IPv6 address with an optional /prefix, e.g. 198.18.0.0/15, 198.18.0.1, "
       "2001:db8::/32"},
      {"enforcement: {allowlist: [198.18.0.0/15, 198.18.0.0/15]}",
       "config:1:42: 'enforcement.allowlist' lists 198.18.0.0/15 twice "
       "(enforcement.allowlist[0] and enforcement.allowlist[1])"},
      {"enforcement: {allowlist: [[1]]}",
       "config:1:27: 'enforcement.allowlist[0]' must be a string, got a list"},
      {"enforcement: {policy: 3}", "config:1:23: 'enforcement.policy' must be a map, got '3'"},
      {"enforcement: {policy: {windows: 3}}",
       "config:1:24: unknown key 'enforcement.policy.windows' (known keys: actions, backoff, "
       "consecutive_windows, max_rules_per_minute, max_sources, max_ttl_seconds, "
       "min_source_share, offence_memory_seconds, ttl_jitter)"},
      {"enforcement: {policy: {consecutive_windows: 0}}",
       "config:1:45: 'enforcement.policy.consecutive_windows' is 0, out of range 1..100"},
      {"enforcement: {policy: {min_source_share: 1.5}}",
       "config:1:42: 'enforcement.policy.min_source_share' is 1.5, out of range 0..1"},
      {"enforcement: {policy: {max_sources: 0}}",
       "config:1:37: 'enforcement.policy.max_sources' is 0, out of range 1..1000"},
      {"enforcement: {policy: {backoff: 0.5}}",
       "config:1:33: 'enforcement.policy.backoff' is 0.5, out of range 1..100"},
      {"enforcement: {policy: {max_ttl_seconds: 0}}",
       "config:1:41: 'enforcement.policy.max_ttl_seconds' is 0, out of range 1..2592000"},
      {"enforcement: {policy: {ttl_jitter: 0.6}}",
       "config:1:36: 'enforcement.policy.ttl_jitter' is 0.6, out of range 0..0.5"},
      {"enforcement: {policy: {offence_memory_seconds: 2592001}}",
       "config:1:48: 'enforcement.policy.offence_memory_seconds' is 2592001, out of range "
       "1..2592000"},
      {"enforcement: {policy: {max_rules_per_minute: 0}}",
       "config:1:46: 'enforcement.policy.max_rules_per_minute' is 0, out of range 1..100000"},
      {"enforcement: {policy: {actions: [flood]}}",
       "config:1:33: 'enforcement.policy.actions' must be a map of detector to action, e.g. "
       "{flood: {action: drop, ttl_seconds: 600}}, got a list"},
      {"enforcement: {policy: {actions: {ddos: {action: drop}}}}",
       "config:1:34: unknown key 'enforcement.policy.actions.ddos' (known keys: bola, "
       "error_budget, exfiltration, flood, latency, slow_rate)"},
      {"enforcement: {policy: {actions: {flood: drop}}}",
       "config:1:41: 'enforcement.policy.actions.flood' must be a map such as {action: drop, "
       "ttl_seconds: 600}, got 'drop'"},
      {"enforcement: {policy: {actions: {flood: }}}",
       "config:1:41: 'enforcement.policy.actions.flood' must be a map such as {action: drop, "
       "ttl_seconds: 600}, got an empty value"},
      {"enforcement: {policy: {actions: {flood: {ttl_seconds: 60}}}}",
       "config:1:41: 'enforcement.policy.actions.flood' has no 'action'; give one of drop, "
       "rate_limit, syn_throttle"},
      {"enforcement: {policy: {actions: {flood: {action: block}}}}",
       "config:1:50: 'enforcement.policy.actions.flood.action' is 'block', expected drop, "
       "rate_limit or syn_throttle"},
      {"enforcement: {policy: {actions: {flood: {action: drop, ttl: 60}}}}",
       "config:1:56: unknown key 'enforcement.policy.actions.flood.ttl' (known keys: action, "
       "burst, rate, ttl_seconds)"},
      {"enforcement: {policy: {actions: {flood: {action: drop, ttl_seconds: 0}}}}",
       "config:1:69: 'enforcement.policy.actions.flood.ttl_seconds' is 0, out of range "
       "1..2592000"},
      {"enforcement: {policy: {actions: {flood: {action: drop, rate: 10}}}}",
       "config:1:62: 'enforcement.policy.actions.flood.rate' applies to action rate_limit only "
       "(this action is drop)"},
      {"enforcement: {policy: {actions: {bola: {action: syn_throttle, burst: 10}}}}",
       "config:1:70: 'enforcement.policy.actions.bola.burst' applies to action rate_limit only "
       "(this action is syn_throttle)"},
      {"enforcement: {policy: {actions: {bola: {action: rate_limit, rate: 0}}}}",
       "config:1:67: 'enforcement.policy.actions.bola.rate' is 0, out of range 0.001..1e+09"},
      {"enforcement: {policy: {actions: {bola: {action: rate_limit, burst: 0}}}}",
       "config:1:68: 'enforcement.policy.actions.bola.burst' is 0, out of range 1..1000000"},
      {"enforcement: {syn_throttle: {signal: p95}}",
       "config:1:38: 'enforcement.syn_throttle.signal' is 'p95', expected error_ratio or p99"},
      {"enforcement: {syn_throttle: {setpoint: 5}}",
       "config:1:40: 'enforcement.syn_throttle.setpoint' is 5, above 1: with signal error_ratio "
       "it is a share of requests (0.01 = 1 %); for a latency in seconds set signal: p99"},
      {"enforcement: {syn_throttle: {setpoint: 0}}",
       "config:1:40: 'enforcement.syn_throttle.setpoint' is 0, out of range 0.0001..60"},
      {"enforcement: {syn_throttle: {signal: p99, setpoint: 61}}",
       "config:1:53: 'enforcement.syn_throttle.setpoint' is 61, out of range 0.0001..60"},
      {"enforcement: {syn_throttle: {kp: -1}}",
       "config:1:34: 'enforcement.syn_throttle.kp' is -1, out of range 0..100"},
      {"enforcement: {syn_throttle: {ki: 101}}",
       "config:1:34: 'enforcement.syn_throttle.ki' is 101, out of range 0..100"},
      {"enforcement: {syn_throttle: {kd: x}}",
       "config:1:34: 'enforcement.syn_throttle.kd' must be a number, got 'x'"},
      {"enforcement: {syn_throttle: {integral_limit: 1001}}",
       "config:1:46: 'enforcement.syn_throttle.integral_limit' is 1001, out of range 0..1000"},
      {"enforcement: {syn_throttle: {min_admit: 1.1}}",
       "config:1:41: 'enforcement.syn_throttle.min_admit' is 1.1, out of range 0..1"},
      {"enforcement: {syn_throttle: {hold_seconds: 3601}}",
       "config:1:44: 'enforcement.syn_throttle.hold_seconds' is 3601, out of range 0..3600"},
      {"enforcement: {syn_throttle: {release_seconds: 0}}",
       "config:1:47: 'enforcement.syn_throttle.release_seconds' is 0, out of range 1..86400"},
      {"enforcement: {syn_throttle: {min_requests: 0}}",
       "config:1:44: 'enforcement.syn_throttle.min_requests' is 0, out of range 1..1000000000"},
      {"enforcement: {syn_throttle: {gain: 1}}",
       "config:1:30: unknown key 'enforcement.syn_throttle.gain' (known keys: hold_seconds, "
       "integral_limit, kd, ki, kp, min_admit, min_requests, release_seconds, setpoint, "
       "signal)"},
      {"enforcement: {xdp: true}",
       "config:1:15: unknown key 'enforcement.xdp' (known keys: allowlist, attach_mode, dry_run, "
       "enabled, heartbeat_timeout_seconds, interfaces, max_rules, max_tracked_sources, "
       "new_sources_burst, new_sources_per_second, policy, syn_throttle)"},
      {"control: {socket: control.sock}",
       "config:1:19: 'control.socket' is 'control.sock'; give an absolute path such as "
       "/run/traffic-analyzer/control.sock"},
      {"control: {socket: /" + std::string(107, 'a') + "}",
       "config:1:19: 'control.socket' is 108 bytes long; a unix socket path has at most 107 "
       "(sun_path); choose a shorter one"},
      {"control: {group: \"ops team\"}",
       "config:1:18: 'control.group' is 'ops team', not a group name (no ':', ',', '/' or "
       "whitespace)"},
      {"control: {group: [a]}", "config:1:18: 'control.group' must be a string, got a list"},
      {"control: {path: /x}",
       "config:1:11: unknown key 'control.path' (known keys: group, socket)"},
      {"control: 1", "config:1:10: 'control' must be a map, got '1'"},
  };
  for (const auto& [yaml, message] : cases) EXPECT_EQ(ErrorOf(yaml), message) << yaml;
  // The longest socket path that fits is accepted.
  EXPECT_EQ(ErrorOf("control: {socket: /" + std::string(106, 'a') + "}"), "<ok>");
}

}  // namespace
}  // namespace ta::agent
