#include "agent/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "agent/yaml_text.h"
#include "ta_abi.h"

namespace ta::agent {

static_assert(ConfigLimits::kMaxSnaplen == TA_MAX_SNAPLEN,
              "snaplen's upper bound is what the datapath supports");

namespace {

// Thrown inside the parser only and turned into an Error at ParseConfig's boundary: exceptions
// are acceptable at config load (STYLE.md), and they keep each check to one line.
struct ConfigError {
  std::string message;
};

constexpr std::array<std::pair<std::string_view, LogFormat>, 4> kLogFormats = {{
    {"auto", LogFormat::kAuto},
    {"text", LogFormat::kText},
    {"json", LogFormat::kJson},
    {"journal", LogFormat::kJournal},
}};

// spdlog's level names, in spdlog's order.
constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 7> kLogLevels = {{
    {"trace", spdlog::level::trace},
    {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},
    {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},
    {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
}};

std::string Join(std::initializer_list<std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string ChildPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return std::string(parent) + "." + std::string(key);
}

std::string IndexPath(std::string_view parent, size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

using yaml_text::Describe;
using yaml_text::IsAbsent;
using yaml_text::IsQuoted;

// Linux's dev_valid_name() (net/core/dev.c): 1..IFNAMSIZ-1 bytes, not "." or "..", no '/',
// ':' or whitespace.
std::optional<std::string> InterfaceNameProblem(std::string_view name) {
  constexpr size_t kIfNameMax = 15;  // IFNAMSIZ (16) minus the terminating NUL
  if (name.empty()) return "is empty";
  if (name.size() > kIfNameMax) return "is longer than 15 characters (IFNAMSIZ)";
  if (name == "." || name == "..") return "is not a valid interface name";
  for (char c : name) {
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
      return "contains '/', ':' or whitespace, which interface names cannot";
    }
  }
  return std::nullopt;
}

// A route pattern: an absolute path whose segments are literals or a whole-segment "{name}"
// placeholder (which matches exactly one segment). Query and fragment are never part of a route.
std::optional<std::string> RoutePatternProblem(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') return "must start with '/'";
  for (char c : pattern) {
    if (c == '?' || c == '#') return "must not contain '?' or '#' (routes are paths only)";
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return "must not contain whitespace";
  }
  size_t start = 1;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    std::string_view segment = pattern.substr(start, end - start);
    bool has_brace = segment.find_first_of("{}") != std::string_view::npos;
    if (has_brace) {
      bool placeholder =
          segment.size() >= 3 && segment.front() == '{' && segment.back() == '}' &&
          segment.substr(1, segment.size() - 2).find_first_of("{}") == std::string_view::npos;
      if (!placeholder) {
        return "has segment '" + std::string(segment) +
               "'; a placeholder must be a whole segment such as '{id}'";
      }
    }
    start = end + 1;
  }
  return std::nullopt;
}

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view source) : source_(source) {}

  Config Parse(const YAML::Node& root) {
    Config config;
    if (IsAbsent(root)) return config;  // an empty file: all defaults
    if (!root.IsMap()) {
      Fail(root, "expected a map of settings at the top level, got " + Describe(root));
    }
    CheckKeys(root, "",
              {"alerts", "anomaly", "connections", "control", "enforcement", "interfaces", "log",
               "metrics", "ports", "ringbuf_size", "routes", "snaplen", "snaplen_tail", "state_dir",
               "tls"});
    ParseInterfaces(root["interfaces"], config);
    ParsePorts(root["ports"], config);
    ParseUint(root["snaplen"], "snaplen", ConfigLimits::kMinSnaplen, ConfigLimits::kMaxSnaplen,
              config.snaplen);
    ParseSnaplenTail(root["snaplen_tail"], config);
    ParseRingbufSize(root["ringbuf_size"], config);
    ParseConnections(root["connections"], config);
    ParseRoutes(root["routes"], config);
    ParseMetrics(root["metrics"], config);
    ParseTls(root["tls"], config);
    ParseLog(root["log"], config);
    ParseStateDir(root["state_dir"], config);
    ParseAnomaly(root["anomaly"], config);
    ParseAlerts(root["alerts"], config);
    ParseEnforcement(root["enforcement"], config);
    ParseControl(root["control"], config);
    return config;
  }

  [[noreturn]] void Fail(const YAML::Node& at, const std::string& message) const {
    throw ConfigError{Locate(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark()) + message};
  }

  std::string Locate(const YAML::Mark& mark) const { return yaml_text::Locate(source_, mark); }

 private:
  // Every key of `map` must be one of `known`, and appear once.
  void CheckKeys(const YAML::Node& map, std::string_view path,
                 std::initializer_list<std::string_view> known) const {
    std::map<std::string, YAML::Mark> seen;
    for (const auto& entry : map) {
      const YAML::Node key = entry.first;
      if (!key.IsScalar()) {
        Fail(key, "keys must be plain names, got " + Describe(key) +
                      (path.empty() ? std::string(" at the top level")
                                    : " under '" + std::string(path) + "'"));
      }
      std::string full = ChildPath(path, key.Scalar());
      if (std::find(known.begin(), known.end(), key.Scalar()) == known.end()) {
        Fail(key, "unknown key '" + full + "' (known keys: " + Join(known) + ")");
      }
      auto [first, inserted] = seen.emplace(key.Scalar(), key.Mark());
      if (!inserted) {
        Fail(key, "duplicate key '" + full + "' (first at line " +
                      std::to_string(first->second.line + 1) + ")");
      }
    }
  }

  // A section (a map of settings); empty means all its defaults.
  bool Section(const YAML::Node& node, std::string_view path,
               std::initializer_list<std::string_view> known) const {
    if (IsAbsent(node)) return false;
    if (!node.IsMap())
      Fail(node, "'" + std::string(path) + "' must be a map, got " + Describe(node));
    CheckKeys(node, path, known);
    return true;
  }

  // An integer scalar (decimal, or hexadecimal with 0x) in [min, max].
  uint64_t Integer(const YAML::Node& node, const std::string& path, uint64_t min,
                   uint64_t max) const {
    if (!node.IsScalar() || IsQuoted(node)) {
      Fail(node, "'" + path + "' must be an integer, got " + Describe(node));
    }
    const std::string& text = node.Scalar();
    std::string_view digits = text;
    bool negative = false;
    if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
      negative = digits.front() == '-';
      digits.remove_prefix(1);
    }
    int base = 10;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      base = 16;
      digits.remove_prefix(2);
    }
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    bool all_digits = !digits.empty() && end == digits.data() + digits.size();
    if (!all_digits || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      Fail(node, "'" + path + "' must be an integer, got " + Describe(node));
    }
    if (ec == std::errc::result_out_of_range || (negative && value != 0) || value < min ||
        value > max) {
      Fail(node, "'" + path + "' is " + text + ", out of range " + std::to_string(min) + ".." +
                     std::to_string(max));
    }
    return value;
  }

  template <typename T>
  void ParseUint(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max,
                 T& out) const {
    if (IsAbsent(node)) return;
    out = static_cast<T>(Integer(node, path, min, max));
  }

  std::string String(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) Fail(node, "'" + path + "' must be a string, got " + Describe(node));
    return node.Scalar();
  }

  void RequireList(const YAML::Node& node, const std::string& path) const {
    if (!node.IsSequence()) Fail(node, "'" + path + "' must be a list, got " + Describe(node));
  }

  // After snaplen: the tail is a share of it. The default tail is below every valid snaplen
  // but the smallest ones, so an explicit small snaplen without snaplen_tail gets no tail
  // rather than an error about a key the file does not mention.
  void ParseSnaplenTail(const YAML::Node& node, Config& config) const {
    if (IsAbsent(node)) {
      if (config.snaplen_tail >= config.snaplen) config.snaplen_tail = 0;
      return;
    }
    config.snaplen_tail =
        static_cast<uint32_t>(Integer(node, "snaplen_tail", 0, ConfigLimits::kMaxSnaplen - 1));
    if (config.snaplen_tail >= config.snaplen) {
      Fail(node, "'snaplen_tail' is " + std::to_string(config.snaplen_tail) +
                     ", not below 'snaplen' (" + std::to_string(config.snaplen) +
                     "): the tail is part of the snaplen bytes; lower snaplen_tail, raise "
                     "snaplen, or set snaplen_tail: 0 to capture the head only");
    }
  }

  void ParseInterfaces(const YAML::Node& node, Config& config) const {
    if (IsAbsent(node)) return;
    RequireList(node, "interfaces");
    for (size_t i = 0; i < node.size(); ++i) {
      std::string path = IndexPath("interfaces", i);
      std::string name = String(node[i], path);
      if (auto problem = InterfaceNameProblem(name)) {
        Fail(node[i], "'" + path + "' ('" + name + "') " + *problem);
      }
      if (std::find(config.interfaces.begin(), config.interfaces.end(), name) !=
          config.interfaces.end()) {
        Fail(node[i], "'interfaces' lists '" + name + "' twice");
      }
      config.interfaces.push_back(std::move(name));
    }
  }

  void ParsePorts(const YAML::Node& node, Config& config) const {
    if (IsAbsent(node)) return;
    RequireList(node, "ports");
    if (node.size() == 0) Fail(node, "'ports' is empty; list at least one port to watch");
    if (node.size() > ConfigLimits::kMaxPorts) {
      Fail(node, "'ports' has " + std::to_string(node.size()) + " entries; at most " +
                     std::to_string(ConfigLimits::kMaxPorts) + " are allowed");
    }
    config.ports.clear();
    for (size_t i = 0; i < node.size(); ++i) {
      auto port = static_cast<uint16_t>(Integer(node[i], IndexPath("ports", i), 1, 65535));
      auto previous = std::find(config.ports.begin(), config.ports.end(), port);
      if (previous != config.ports.end()) {
        Fail(node[i], "'ports' lists " + std::to_string(port) + " twice (ports[" +
                          std::to_string(previous - config.ports.begin()) + "] and ports[" +
                          std::to_string(i) + "])");
      }
      config.ports.push_back(port);
    }
  }

  void ParseRingbufSize(const YAML::Node& node, Config& config) const {
    if (IsAbsent(node)) return;
    uint64_t size =
        Integer(node, "ringbuf_size", ConfigLimits::kMinRingbufSize, ConfigLimits::kMaxRingbufSize);
    // The kernel requires a BPF ring buffer's size to be a power of two and a multiple of the
    // page size (kernel/bpf/ringbuf.c, ringbuf_map_alloc); 64 KiB and up covers both.
    if (!std::has_single_bit(size)) {
      Fail(node, "'ringbuf_size' is " + node.Scalar() + ", must be a power of two (e.g. " +
                     std::to_string(std::bit_ceil(size)) + ")");
    }
    config.ringbuf_size = static_cast<uint32_t>(size);
  }

  void ParseConnections(const YAML::Node& node, Config& config) const {
    if (!Section(node, "connections", {"idle_timeout_seconds", "max"})) return;
    ParseUint(node["max"], "connections.max", ConfigLimits::kMinConnections,
              ConfigLimits::kMaxConnections, config.connections.max);
    ParseUint(node["idle_timeout_seconds"], "connections.idle_timeout_seconds",
              ConfigLimits::kMinIdleTimeoutSeconds, ConfigLimits::kMaxIdleTimeoutSeconds,
              config.connections.idle_timeout_seconds);
  }

  void ParseRoutes(const YAML::Node& node, Config& config) const {
    if (!Section(node, "routes", {"max_per_port", "patterns"})) return;
    ParseUint(node["max_per_port"], "routes.max_per_port", ConfigLimits::kMinRoutesPerPort,
              ConfigLimits::kMaxRoutesPerPort, config.routes.max_per_port);
    const YAML::Node patterns = node["patterns"];
    if (IsAbsent(patterns)) return;
    RequireList(patterns, "routes.patterns");
    for (size_t i = 0; i < patterns.size(); ++i) {
      config.routes.patterns.push_back(ParsePattern(patterns[i], i, config));
    }
  }

  analyzer::RoutePatternConfig ParsePattern(const YAML::Node& node, size_t index,
                                            const Config& config) const {
    std::string path = IndexPath("routes.patterns", index);
    analyzer::RoutePatternConfig out;
    if (!node.IsMap() && !node.IsScalar()) {
      Fail(node, "'" + path + "' must be a string such as \"/api/users/{id}\" or a map " +
                     "{port: 8080, pattern: \"/v1/items/{id}\"}, got " + Describe(node));
    }
    // Never assign one YAML::Node to another: yaml-cpp's operator= rewrites the node itself.
    const YAML::Node pattern_node = node.IsMap() ? node["pattern"] : node;
    const std::string pattern_path = node.IsMap() ? path + ".pattern" : path;
    if (node.IsMap()) {
      CheckKeys(node, path, {"pattern", "port"});
      if (IsAbsent(pattern_node)) {
        Fail(node, "'" + path + "' has no 'pattern'; write {port: 8080, pattern: \"/v1/{id}\"}");
      }
      const YAML::Node port = node["port"];
      if (!IsAbsent(port)) {
        out.port = static_cast<uint16_t>(Integer(port, path + ".port", 1, 65535));
        if (std::find(config.ports.begin(), config.ports.end(), out.port) == config.ports.end()) {
          Fail(port, "'" + path + ".port' is " + std::to_string(out.port) +
                         ", which is not in 'ports'; the pattern would never match");
        }
      }
    }
    out.pattern = String(pattern_node, pattern_path);
    if (auto problem = RoutePatternProblem(out.pattern)) {
      Fail(pattern_node, "'" + pattern_path + "' ('" + out.pattern + "') " + *problem);
    }
    for (const auto& earlier : config.routes.patterns) {
      if (earlier.port == out.port && earlier.pattern == out.pattern) {
        Fail(node, "'" + path + "' repeats pattern '" + out.pattern + "'");
      }
    }
    return out;
  }

  void ParseMetrics(const YAML::Node& node, Config& config) const {
    if (!Section(node, "metrics", {"allow", "listen", "web_config_file"})) return;
    if (const YAML::Node listen = node["listen"]; !IsAbsent(listen)) {
      std::string text = String(listen, "metrics.listen");
      auto parsed = ParseListenAddress(text);
      if (!parsed.ok()) {
        Fail(listen, "'metrics.listen' is '" + text + "': " + parsed.error().message);
      }
      config.metrics.listen = std::move(text);
    }
    if (const YAML::Node list = node["allow"]; !IsAbsent(list)) {
      config.metrics.allow = CidrList(list, "metrics.allow");
    }
    if (const YAML::Node file = node["web_config_file"]; !IsAbsent(file)) {
      std::string path = String(file, "metrics.web_config_file");
      if (!path.empty() && path.front() != '/') {
        Fail(file, "'metrics.web_config_file' is '" + path +
                       "'; give an absolute path such as /etc/traffic-analyzer/web.yaml");
      }
      config.metrics.web_config_file = std::move(path);
    }
  }

  // A list of distinct CIDRs ("198.18.0.0/15", a bare address for one host).
  std::vector<enforce::Cidr> CidrList(const YAML::Node& list, const std::string& key) const {
    RequireList(list, key);
    std::vector<enforce::Cidr> out;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string path = IndexPath(key, i);
      const std::string text = String(list[i], path);
      auto cidr = enforce::Cidr::Parse(text);
      if (!cidr.ok()) Fail(list[i], "'" + path + "' is " + cidr.error().message);
      auto previous = std::find(out.begin(), out.end(), *cidr);
      if (previous != out.end()) {
        Fail(list[i], "'" + key + "' lists " + cidr->ToString() + " twice (" +
                          IndexPath(key, static_cast<size_t>(previous - out.begin())) + " and " +
                          path + ")");
      }
      out.push_back(*cidr);
    }
    return out;
  }

  void ParseTls(const YAML::Node& node, Config& config) const {
    if (!Section(node, "tls", {"enabled"})) return;
    ParseBool(node["enabled"], "tls.enabled", config.tls.enabled);
  }

  void ParseBool(const YAML::Node& node, const std::string& path, bool& out) const {
    if (IsAbsent(node)) return;
    const std::string text = String(node, path);
    if (text == "true") {
      out = true;
    } else if (text == "false") {
      out = false;
    } else {
      Fail(node, "'" + path + "' is '" + text + "', expected true or false");
    }
  }

  // A decimal number in [min, max] (no NaN or infinity).
  void ParseNumber(const YAML::Node& node, const std::string& path, double min, double max,
                   double& out) const {
    if (IsAbsent(node)) return;
    if (!node.IsScalar() || IsQuoted(node)) {
      Fail(node, "'" + path + "' must be a number, got " + Describe(node));
    }
    const std::string& text = node.Scalar();
    double value = 0.0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
        !std::isfinite(value)) {
      Fail(node, "'" + path + "' must be a number, got " + Describe(node));
    }
    if (value < min || value > max) {
      Fail(node, "'" + path + "' is " + text + ", out of range " + FormatNumber(min) + ".." +
                     FormatNumber(max));
    }
    out = value;
  }

  // A duration in whole seconds, stored in nanoseconds.
  void ParseSeconds(const YAML::Node& node, const std::string& path, uint64_t min_s, uint64_t max_s,
                    uint64_t& out_ns) const {
    if (IsAbsent(node)) return;
    out_ns = Integer(node, path, min_s, max_s) * 1'000'000'000ULL;
  }

  static std::string FormatNumber(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  }

  // Milliseconds in [min, max] into a std::chrono::milliseconds.
  void ParseMillis(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max,
                   std::chrono::milliseconds& out) const {
    if (IsAbsent(node)) return;
    out = std::chrono::milliseconds(Integer(node, path, min, max));
  }

  // alerts: the keys and limits documented in docs/alerts.md.
  void ParseAlerts(const YAML::Node& node, Config& config) const {
    if (!Section(node, "alerts",
                 {"alertmanager", "initial_backoff_ms", "jsonl", "max_attempts", "max_backoff_ms",
                  "queue_capacity", "stop_deadline_ms", "syslog"})) {
      return;
    }
    AlertsConfig& a = config.alerts;
    auto& d = a.dispatcher;
    ParseUint(node["queue_capacity"], "alerts.queue_capacity", 1, 1'000'000, d.queue_capacity);
    ParseUint(node["max_attempts"], "alerts.max_attempts", 1, 10, d.max_attempts);
    ParseMillis(node["initial_backoff_ms"], "alerts.initial_backoff_ms", 1, 60000,
                d.initial_backoff);
    ParseMillis(node["max_backoff_ms"], "alerts.max_backoff_ms", 1, 60000, d.max_backoff);
    if (d.max_backoff < d.initial_backoff) {
      Fail(node, "'alerts.max_backoff_ms' (" + std::to_string(d.max_backoff.count()) +
                     ") is below 'alerts.initial_backoff_ms' (" +
                     std::to_string(d.initial_backoff.count()) + "); raise it");
    }
    ParseMillis(node["stop_deadline_ms"], "alerts.stop_deadline_ms", 0, 60000, d.stop_deadline);

    if (const YAML::Node n = node["jsonl"]; Section(n, "alerts.jsonl", {"enabled", "path"})) {
      ParseBool(n["enabled"], "alerts.jsonl.enabled", a.json_log.enabled);
      if (const YAML::Node path = n["path"]; !IsAbsent(path)) {
        a.json_log.path = String(path, "alerts.jsonl.path");
        if (a.json_log.path.empty() || a.json_log.path.front() != '/') {
          Fail(path, "'alerts.jsonl.path' is '" + a.json_log.path +
                         "'; give an absolute file path such as "
                         "/var/log/traffic-analyzer/anomalies.jsonl");
        }
      }
    }
    if (const YAML::Node n = node["alertmanager"];
        Section(n, "alerts.alertmanager",
                {"connect_timeout_ms", "enabled", "generator_url", "instance", "max_active",
                 "resend_interval_seconds", "timeout_ms", "urls"})) {
      auto& am = a.alertmanager;
      ParseBool(n["enabled"], "alerts.alertmanager.enabled", am.enabled);
      if (const YAML::Node urls = n["urls"]; !IsAbsent(urls)) {
        RequireList(urls, "alerts.alertmanager.urls");
        for (size_t i = 0; i < urls.size(); ++i) {
          const std::string path = IndexPath("alerts.alertmanager.urls", i);
          std::string url = String(urls[i], path);
          if (auto parsed = alerts::ParseHttpUrl(url); !parsed) {
            Fail(urls[i], "'" + path + "' is '" + url + "': " + parsed.error().message);
          }
          am.urls.push_back(std::move(url));
        }
      }
      uint64_t resend = static_cast<uint64_t>(am.resend_interval.count());
      ParseUint(n["resend_interval_seconds"], "alerts.alertmanager.resend_interval_seconds", 1,
                3600, resend);
      am.resend_interval = std::chrono::seconds(resend);
      if (const YAML::Node v = n["instance"]; !IsAbsent(v)) {
        am.instance = String(v, "alerts.alertmanager.instance");
      }
      if (const YAML::Node v = n["generator_url"]; !IsAbsent(v)) {
        am.generator_url = String(v, "alerts.alertmanager.generator_url");
      }
      ParseMillis(n["connect_timeout_ms"], "alerts.alertmanager.connect_timeout_ms", 100, 60000,
                  am.timeouts.connect);
      ParseMillis(n["timeout_ms"], "alerts.alertmanager.timeout_ms", 100, 60000,
                  am.timeouts.exchange);
      ParseUint(n["max_active"], "alerts.alertmanager.max_active", 1, 1'000'000, am.max_active);
      if (am.enabled && am.urls.empty()) {
        Fail(n,
             "'alerts.alertmanager' is enabled but 'urls' is empty; list at least one, e.g. "
             "urls: [\"http://127.0.0.1:9093\"]");
      }
    }
    if (const YAML::Node n = node["syslog"];
        Section(n, "alerts.syslog",
                {"address", "enabled", "facility", "hostname", "max_message_bytes", "timeout_ms",
                 "transport"})) {
      auto& sl = a.syslog;
      ParseBool(n["enabled"], "alerts.syslog.enabled", sl.enabled);
      if (const YAML::Node v = n["address"]; !IsAbsent(v)) {
        sl.address = String(v, "alerts.syslog.address");
        if (auto parsed = alerts::ParseHostPort(sl.address); !parsed) {
          Fail(v, "'alerts.syslog.address' is '" + sl.address + "': " + parsed.error().message);
        }
      }
      if (const YAML::Node v = n["transport"]; !IsAbsent(v)) {
        const std::string t = String(v, "alerts.syslog.transport");
        if (t == "udp") {
          sl.transport = alerts::SyslogTransport::kUdp;
        } else if (t == "tcp") {
          sl.transport = alerts::SyslogTransport::kTcp;
        } else {
          Fail(v, "'alerts.syslog.transport' is '" + t + "', expected udp or tcp");
        }
      }
      if (const YAML::Node v = n["facility"]; !IsAbsent(v)) {
        const std::string f = String(v, "alerts.syslog.facility");
        auto parsed = alerts::ParseSyslogFacility(f);
        if (!parsed) Fail(v, "'alerts.syslog.facility' is '" + f + "': " + parsed.error().message);
        sl.facility = *parsed;
      }
      ParseUint(n["max_message_bytes"], "alerts.syslog.max_message_bytes", 480, 65507,
                sl.max_message_bytes);
      if (const YAML::Node v = n["hostname"]; !IsAbsent(v)) {
        sl.hostname = String(v, "alerts.syslog.hostname");
      }
      ParseMillis(n["timeout_ms"], "alerts.syslog.timeout_ms", 100, 60000, sl.timeout);
    }
  }

  void ParseStateDir(const YAML::Node& node, Config& config) const {
    if (IsAbsent(node)) return;
    std::string dir = String(node, "state_dir");
    if (dir.empty() || dir.front() != '/') {
      Fail(node, "'state_dir' is '" + dir +
                     "'; give an absolute directory path such as "
                     "/var/lib/traffic-analyzer");
    }
    config.state_dir = std::move(dir);
  }

  void ParseAnomaly(const YAML::Node& node, Config& config) const {
    if (!Section(
            node, "anomaly",
            {"bola", "enabled", "error_budget", "exfiltration", "flood", "latency", "max_keys",
             "resolve_after_windows", "save_interval_seconds", "slow_rate", "window_seconds"})) {
      return;
    }
    AnomalyConfig& a = config.anomaly;
    auto& e = a.engine;
    ParseBool(node["enabled"], "anomaly.enabled", a.enabled);
    ParseUint(node["save_interval_seconds"], "anomaly.save_interval_seconds", 10, 86400,
              a.save_interval_seconds);
    ParseSeconds(node["window_seconds"], "anomaly.window_seconds", 1, 300, e.window_ns);
    ParseUint(node["resolve_after_windows"], "anomaly.resolve_after_windows", 1, 1000,
              e.resolve_after_windows);
    ParseUint(node["max_keys"], "anomaly.max_keys", 10, 100000, e.max_keys);

    if (const YAML::Node n = node["flood"];
        Section(n, "anomaly.flood",
                {"diurnal_min_history_hours", "enabled", "half_life_seconds", "min_rate",
                 "min_windows", "noise_floor", "z_threshold"})) {
      auto& f = e.flood;
      ParseBool(n["enabled"], "anomaly.flood.enabled", f.enabled);
      ParseNumber(n["z_threshold"], "anomaly.flood.z_threshold", 1, 100, f.z_threshold);
      ParseNumber(n["min_rate"], "anomaly.flood.min_rate", 0, 1e9, f.min_rate);
      ParseNumber(n["noise_floor"], "anomaly.flood.noise_floor", 0, 10, f.noise_floor);
      ParseSeconds(n["half_life_seconds"], "anomaly.flood.half_life_seconds", 10, 7 * 86400,
                   f.half_life_ns);
      ParseUint(n["min_windows"], "anomaly.flood.min_windows", 1, 100000, f.min_windows);
      uint64_t hours = f.diurnal_min_history_ns / 3'600'000'000'000ULL;
      ParseUint(n["diurnal_min_history_hours"], "anomaly.flood.diurnal_min_history_hours", 24,
                24 * 28, hours);
      f.diurnal_min_history_ns = hours * 3'600'000'000'000ULL;
    }
    if (const YAML::Node n = node["error_budget"];
        Section(n, "anomaly.error_budget",
                {"enabled", "max_ratio", "min_errors", "min_requests", "slo", "window_minutes"})) {
      auto& b = e.error_budget;
      ParseBool(n["enabled"], "anomaly.error_budget.enabled", b.enabled);
      ParseNumber(n["max_ratio"], "anomaly.error_budget.max_ratio", 0.0001, 1, b.max_ratio);
      ParseUint(n["window_minutes"], "anomaly.error_budget.window_minutes", 1, 60,
                b.window_minutes);
      ParseUint(n["min_requests"], "anomaly.error_budget.min_requests", 1, 1'000'000'000,
                b.min_requests);
      ParseUint(n["min_errors"], "anomaly.error_budget.min_errors", 1, 1'000'000'000, b.min_errors);
      ParseNumber(n["slo"], "anomaly.error_budget.slo", 0.5, 0.99999, b.burn.slo);
    }
    if (const YAML::Node n = node["latency"];
        Section(n, "anomaly.latency",
                {"enabled", "half_life_seconds", "min_ratio", "min_samples", "min_seconds",
                 "min_windows", "quantile", "z_threshold"})) {
      auto& l = e.latency;
      ParseBool(n["enabled"], "anomaly.latency.enabled", l.enabled);
      ParseNumber(n["quantile"], "anomaly.latency.quantile", 0.5, 0.9999, l.quantile);
      ParseNumber(n["z_threshold"], "anomaly.latency.z_threshold", 1, 100, l.z_threshold);
      ParseNumber(n["min_ratio"], "anomaly.latency.min_ratio", 1, 1000, l.min_ratio);
      ParseNumber(n["min_seconds"], "anomaly.latency.min_seconds", 0, 3600, l.min_seconds);
      ParseUint(n["min_samples"], "anomaly.latency.min_samples", 10, 1'000'000, l.min_samples);
      ParseUint(n["min_windows"], "anomaly.latency.min_windows", 1, 100000, l.min_windows);
      ParseSeconds(n["half_life_seconds"], "anomaly.latency.half_life_seconds", 10, 7 * 86400,
                   l.half_life_ns);
    }
    if (const YAML::Node n = node["exfiltration"];
        Section(n, "anomaly.exfiltration",
                {"enabled", "entropy_bits", "min_bytes", "min_sample_bytes", "size_jump"})) {
      auto& x = e.exfiltration;
      ParseBool(n["enabled"], "anomaly.exfiltration.enabled", x.enabled);
      ParseNumber(n["entropy_bits"], "anomaly.exfiltration.entropy_bits", 6, 8, x.entropy_bits);
      ParseUint(n["min_sample_bytes"], "anomaly.exfiltration.min_sample_bytes", 1024, 65536,
                x.min_sample_bytes);
      ParseNumber(n["size_jump"], "anomaly.exfiltration.size_jump", 1, 1000, x.size_jump);
      ParseUint(n["min_bytes"], "anomaly.exfiltration.min_bytes", 1024, uint64_t{1} << 40,
                x.min_bytes);
    }
    if (const YAML::Node n = node["slow_rate"];
        Section(n, "anomaly.slow_rate",
                {"enabled", "max_bytes_per_second", "max_slow_connections", "min_age_seconds"})) {
      auto& r = e.slow_rate;
      ParseBool(n["enabled"], "anomaly.slow_rate.enabled", r.enabled);
      ParseSeconds(n["min_age_seconds"], "anomaly.slow_rate.min_age_seconds", 1, 3600,
                   r.min_age_ns);
      ParseNumber(n["max_bytes_per_second"], "anomaly.slow_rate.max_bytes_per_second", 0, 1e9,
                  r.max_bytes_per_second);
      ParseUint(n["max_slow_connections"], "anomaly.slow_rate.max_slow_connections", 1, 1'000'000,
                r.max_slow_connections);
    }
    if (const YAML::Node n = node["bola"];
        Section(n, "anomaly.bola",
                {"enabled", "max_distinct_objects", "min_denied_ratio", "min_sequential_ratio",
                 "window_seconds"})) {
      auto& b = e.bola;
      ParseBool(n["enabled"], "anomaly.bola.enabled", b.enabled);
      ParseUint(n["max_distinct_objects"], "anomaly.bola.max_distinct_objects", 2, 10'000'000,
                b.max_distinct_objects);
      ParseSeconds(n["window_seconds"], "anomaly.bola.window_seconds", 5, 3600, b.window_ns);
      ParseNumber(n["min_denied_ratio"], "anomaly.bola.min_denied_ratio", 0, 1, b.min_denied_ratio);
      ParseNumber(n["min_sequential_ratio"], "anomaly.bola.min_sequential_ratio", 0, 1,
                  b.min_sequential_ratio);
    }
  }

  // One of `names` (in the order the error lists them).
  template <typename T, size_t N>
  T Choice(const YAML::Node& node, const std::string& path,
           const std::array<std::pair<std::string_view, T>, N>& names) const {
    const std::string text = String(node, path);
    std::string list;
    for (size_t i = 0; i < N; ++i) {
      if (names[i].first == text) return names[i].second;
      if (i != 0) list += i + 1 == N ? " or " : ", ";
      list += names[i].first;
    }
    Fail(node, "'" + path + "' is '" + text + "', expected " + list);
  }

  // enforcement: docs/configuration.md#enforcement.
  void ParseEnforcement(const YAML::Node& node, Config& config) const {
    if (!Section(node, "enforcement",
                 {"allowlist", "attach_mode", "dry_run", "enabled", "heartbeat_timeout_seconds",
                  "interfaces", "max_rules", "max_tracked_sources", "new_sources_burst",
                  "new_sources_per_second", "policy", "syn_throttle"})) {
      return;
    }
    EnforcementConfig& e = config.enforcement;
    ParseBool(node["enabled"], "enforcement.enabled", e.enabled);
    ParseBool(node["dry_run"], "enforcement.dry_run", e.dry_run);
    if (const YAML::Node list = node["interfaces"]; !IsAbsent(list)) {
      RequireList(list, "enforcement.interfaces");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string path = IndexPath("enforcement.interfaces", i);
        std::string name = String(list[i], path);
        if (auto problem = InterfaceNameProblem(name)) {
          Fail(list[i], "'" + path + "' ('" + name + "') " + *problem);
        }
        if (std::find(e.interfaces.begin(), e.interfaces.end(), name) != e.interfaces.end()) {
          Fail(list[i], "'enforcement.interfaces' lists '" + name + "' twice");
        }
        e.interfaces.push_back(std::move(name));
      }
    }
    if (const YAML::Node v = node["attach_mode"]; !IsAbsent(v)) {
      constexpr std::array<std::pair<std::string_view, enforce::XdpAttachMode>, 3> kModes = {{
          {"auto", enforce::XdpAttachMode::kAuto},
          {"native", enforce::XdpAttachMode::kNative},
          {"generic", enforce::XdpAttachMode::kGeneric},
      }};
      e.attach_mode = Choice(v, "enforcement.attach_mode", kModes);
    }
    ParseUint(node["heartbeat_timeout_seconds"], "enforcement.heartbeat_timeout_seconds", 1,
              ConfigLimits::kMaxHeartbeatTimeoutSeconds, e.heartbeat_timeout_seconds);
    ParseUint(node["max_rules"], "enforcement.max_rules", ConfigLimits::kMinRules,
              ConfigLimits::kMaxRules, e.max_rules);
    ParseUint(node["max_tracked_sources"], "enforcement.max_tracked_sources",
              ConfigLimits::kMinTrackedSources, ConfigLimits::kMaxTrackedSources,
              e.max_tracked_sources);
    // Newcomer GCRA interval 1e9 / rate must be at least 1 ns.
    ParseNumber(node["new_sources_per_second"], "enforcement.new_sources_per_second", 0.001, 1e9,
                e.new_sources_per_second);
    ParseUint(node["new_sources_burst"], "enforcement.new_sources_burst", 1, 1'000'000,
              e.new_sources_burst);
    if (const YAML::Node list = node["allowlist"]; !IsAbsent(list)) {
      e.allowlist = CidrList(list, "enforcement.allowlist");
    }
    ParsePolicy(node["policy"], e.policy);
    ParseSynThrottle(node["syn_throttle"], e.syn_throttle);
  }

  void ParsePolicy(const YAML::Node& node, analyzer::policy::PolicyConfig& p) const {
    if (!Section(
            node, "enforcement.policy",
            {"actions", "backoff", "consecutive_windows", "max_rules_per_minute", "max_sources",
             "max_ttl_seconds", "min_source_share", "offence_memory_seconds", "ttl_jitter"})) {
      return;
    }
    constexpr uint64_t kMaxDaysSeconds = 30 * 86400;
    ParseUint(node["consecutive_windows"], "enforcement.policy.consecutive_windows", 1, 100,
              p.consecutive_windows);
    ParseNumber(node["min_source_share"], "enforcement.policy.min_source_share", 0, 1,
                p.min_source_share);
    ParseUint(node["max_sources"], "enforcement.policy.max_sources", 1, 1000, p.max_sources);
    ParseNumber(node["backoff"], "enforcement.policy.backoff", 1, 100, p.backoff);
    ParseSeconds(node["max_ttl_seconds"], "enforcement.policy.max_ttl_seconds", 1, kMaxDaysSeconds,
                 p.max_ttl_ns);
    ParseNumber(node["ttl_jitter"], "enforcement.policy.ttl_jitter", 0, 0.5, p.ttl_jitter);
    ParseSeconds(node["offence_memory_seconds"], "enforcement.policy.offence_memory_seconds", 1,
                 kMaxDaysSeconds, p.offence_memory_ns);
    ParseUint(node["max_rules_per_minute"], "enforcement.policy.max_rules_per_minute", 1, 100000,
              p.max_rules_per_minute);

    const YAML::Node actions = node["actions"];
    if (IsAbsent(actions)) return;
    if (!actions.IsMap()) {
      Fail(actions,
           "'enforcement.policy.actions' must be a map of detector to action, e.g. "
           "{flood: {action: drop, ttl_seconds: 600}}, got " +
               Describe(actions));
    }
    CheckKeys(actions, "enforcement.policy.actions",
              {"bola", "error_budget", "exfiltration", "flood", "latency", "slow_rate"});
    p.actions.clear();  // the file's map replaces the default set
    for (size_t k = 0; k < analyzer::anomaly::kDetectorKinds; ++k) {
      const auto kind = static_cast<analyzer::anomaly::DetectorKind>(k);
      const std::string name(analyzer::anomaly::DetectorName(kind));
      const std::string path = "enforcement.policy.actions." + name;
      const YAML::Node a = actions[name];
      if (!actions[name].IsDefined()) continue;
      if (IsAbsent(a) || !a.IsMap()) {
        Fail(a, "'" + path + "' must be a map such as {action: drop, ttl_seconds: 600}, got " +
                    Describe(a));
      }
      CheckKeys(a, path, {"action", "burst", "rate", "ttl_seconds"});
      analyzer::policy::DetectorAction out;
      out.detector = kind;
      if (IsAbsent(a["action"])) {
        Fail(a, "'" + path + "' has no 'action'; give one of drop, rate_limit, syn_throttle");
      }
      constexpr std::array<std::pair<std::string_view, analyzer::policy::RuleAction>, 3> kActions =
          {{
              {"drop", analyzer::policy::RuleAction::kDrop},
              {"rate_limit", analyzer::policy::RuleAction::kRateLimit},
              {"syn_throttle", analyzer::policy::RuleAction::kSynThrottle},
          }};
      out.action = Choice(a["action"], path + ".action", kActions);
      ParseSeconds(a["ttl_seconds"], path + ".ttl_seconds", 1, kMaxDaysSeconds, out.ttl_ns);
      for (const char* key : {"rate", "burst"}) {
        if (!IsAbsent(a[key]) && out.action != analyzer::policy::RuleAction::kRateLimit) {
          Fail(a[key], "'" + path + "." + key +
                           "' applies to action rate_limit only (this "
                           "action is " +
                           std::string(analyzer::policy::RuleActionName(out.action)) + ")");
        }
      }
      // The rule manager's bounds (agent/enforce/rule_manager.h): GCRA interval >= 1 ns.
      ParseNumber(a["rate"], path + ".rate", 0.001, 1e9, out.rate_per_second);
      ParseUint(a["burst"], path + ".burst", 1, 1'000'000, out.burst);
      p.actions.push_back(out);
    }
  }

  void ParseSynThrottle(const YAML::Node& node, analyzer::policy::SynControllerConfig& c) const {
    if (!Section(node, "enforcement.syn_throttle",
                 {"hold_seconds", "integral_limit", "kd", "ki", "kp", "min_admit", "min_requests",
                  "release_seconds", "setpoint", "signal"})) {
      return;
    }
    if (const YAML::Node v = node["signal"]; !IsAbsent(v)) {
      constexpr std::array<std::pair<std::string_view, analyzer::policy::SynSignal>, 2> kSignals = {
          {
              {"error_ratio", analyzer::policy::SynSignal::kErrorRatio},
              {"p99", analyzer::policy::SynSignal::kP99Latency},
          }};
      c.signal = Choice(v, "enforcement.syn_throttle.signal", kSignals);
    }
    const YAML::Node setpoint = node["setpoint"];
    ParseNumber(setpoint, "enforcement.syn_throttle.setpoint", 0.0001, 60, c.setpoint);
    if (c.signal == analyzer::policy::SynSignal::kErrorRatio && c.setpoint > 1) {
      Fail(setpoint, "'enforcement.syn_throttle.setpoint' is " + setpoint.Scalar() +
                         ", above 1: with signal error_ratio it is a share of requests (0.01 = "
                         "1 %); for a latency in seconds set signal: p99");
    }
    ParseNumber(node["kp"], "enforcement.syn_throttle.kp", 0, 100, c.kp);
    ParseNumber(node["ki"], "enforcement.syn_throttle.ki", 0, 100, c.ki);
    ParseNumber(node["kd"], "enforcement.syn_throttle.kd", 0, 100, c.kd);
    ParseNumber(node["integral_limit"], "enforcement.syn_throttle.integral_limit", 0, 1000,
                c.integral_limit);
    ParseNumber(node["min_admit"], "enforcement.syn_throttle.min_admit", 0, 1, c.min_admit);
    ParseSeconds(node["hold_seconds"], "enforcement.syn_throttle.hold_seconds", 0, 3600, c.hold_ns);
    ParseSeconds(node["release_seconds"], "enforcement.syn_throttle.release_seconds", 1, 86400,
                 c.release_ns);
    ParseUint(node["min_requests"], "enforcement.syn_throttle.min_requests", 1, 1'000'000'000,
              c.min_requests);
  }

  void ParseControl(const YAML::Node& node, Config& config) const {
    if (!Section(node, "control", {"group", "socket"})) return;
    if (const YAML::Node v = node["socket"]; !IsAbsent(v)) {
      std::string path = String(v, "control.socket");
      if (path.empty() || path.front() != '/') {
        Fail(v, "'control.socket' is '" + path +
                    "'; give an absolute path such as /run/traffic-analyzer/control.sock");
      }
      if (path.size() > ConfigLimits::kMaxSocketPathBytes) {
        Fail(v, "'control.socket' is " + std::to_string(path.size()) +
                    " bytes long; a unix socket path has at most " +
                    std::to_string(ConfigLimits::kMaxSocketPathBytes) +
                    " (sun_path); choose a shorter one");
      }
      config.control.socket = std::move(path);
    }
    if (const YAML::Node v = node["group"]; !IsAbsent(v)) {
      std::string group = String(v, "control.group");
      // getgrnam(3) looks the name up when the socket is created; here only what can never be
      // a group name (useradd's rules: no ':', ',', whitespace or '/').
      if (group.find_first_of(":,/ \t\n\r") != std::string::npos) {
        Fail(v, "'control.group' is '" + group +
                    "', not a group name (no ':', ',', '/' or whitespace)");
      }
      config.control.group = std::move(group);
    }
  }

  void ParseLog(const YAML::Node& node, Config& config) const {
    if (!Section(node, "log", {"format", "level"})) return;
    if (const YAML::Node level = node["level"]; !IsAbsent(level)) {
      std::string text = String(level, "log.level");
      auto found = std::find_if(kLogLevels.begin(), kLogLevels.end(),
                                [&](const auto& entry) { return entry.first == text; });
      if (found == kLogLevels.end()) {
        Fail(level, "'log.level' is '" + text +
                        "', expected one of trace, debug, info, warn, error, critical, off");
      }
      config.log.level = found->second;
    }
    if (const YAML::Node format = node["format"]; !IsAbsent(format)) {
      std::string text = String(format, "log.format");
      auto found = std::find_if(kLogFormats.begin(), kLogFormats.end(),
                                [&](const auto& entry) { return entry.first == text; });
      if (found == kLogFormats.end()) {
        Fail(format, "'log.format' is '" + text + "', expected one of auto, text, json, journal");
      }
      config.log.format = found->second;
    }
  }

  std::string_view source_;
};

// Whether the line of `mark` begins with a tab: yaml-cpp reports tab indentation as an
// unhelpful "illegal map value".
bool StartsWithTab(std::string_view text, const YAML::Mark& mark) {
  if (mark.is_null()) return false;
  size_t start = 0;
  for (int line = 0; line < mark.line && start != std::string_view::npos; ++line) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  return start < text.size() && text[start] == '\t';
}

// Walks the YAML event stream without building nodes, only to see where documents start.
class DocumentStarts final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark.pos); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<int> starts;
};

// How many YAML documents `text` holds, counting to two at most. Not YAML::LoadAll: yaml-cpp
// 0.7 (Debian 12) loops forever on some malformed input, e.g. a lone ',' (jbeder/yaml-cpp#1040,
// found by tests/fuzz/config_fuzz.cc), allocating an empty document each time. The parser shows
// it as a document starting where the previous one started: no progress, so invalid input.
Result<int> CountDocuments(const std::string& text, std::string_view source) {
  std::istringstream in(text);
  YAML::Parser yaml(in);
  DocumentStarts handler;
  while (handler.starts.size() < 2 && yaml.HandleNextDocument(handler)) {
    const size_t n = handler.starts.size();
    if (n >= 2 && handler.starts[n - 1] == handler.starts[n - 2]) {
      return Error{0, std::string(source) + ": invalid YAML: the parser cannot get past offset " +
                          std::to_string(handler.starts.back()) +
                          " (a stray ',' or other flow indicator outside [] or {}?)"};
    }
  }
  return static_cast<int>(handler.starts.size());
}

Result<Config> ParseFrom(std::string_view yaml_text, std::string_view source) {
  ConfigParser parser(source);
  try {
    const std::string text(yaml_text);
    Result<int> documents = CountDocuments(text, source);
    if (!documents.ok()) return documents.error();
    if (*documents > 1) {
      return Error{0, std::string(source) +
                          ": found more than one YAML document ('---'); a config file holds "
                          "exactly one"};
    }
    return parser.Parse(*documents == 0 ? YAML::Node() : YAML::Load(text));
  } catch (const std::bad_alloc&) {
    return Error{ENOMEM, std::string(source) +
                             ": out of memory while parsing; is this a config "
                             "file?"};
  } catch (const ConfigError& e) {
    return Error{0, e.message};
  } catch (const YAML::Exception& e) {
    std::string message = parser.Locate(e.mark) + "invalid YAML: " + e.msg;
    if (StartsWithTab(yaml_text, e.mark)) message += " (indent with spaces; YAML forbids tabs)";
    return Error{0, message};
  }
}

}  // namespace

analyzer::AnalyzerConfig Config::ToAnalyzerConfig() const {
  analyzer::AnalyzerConfig out;
  out.route_patterns = routes.patterns;
  out.max_routes_per_port = routes.max_per_port;
  out.idle_timeout_ns = uint64_t{connections.idle_timeout_seconds} * 1'000'000'000;
  out.max_connections = connections.max;
  return out;
}

Result<Config> ParseConfig(std::string_view yaml_text) { return ParseFrom(yaml_text, "config"); }

Result<void> CheckConfigFileSafe(int fd, const std::string& path) {
  auto mode_text = [](mode_t mode) { return fmt::format("{:04o}", mode & 07777); };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoError("cannot read config file '" + path + "'");
  if ((st.st_mode & S_IWOTH) != 0) {
    return Error{EPERM, "config file '" + path + "' is writable by everyone (mode " +
                            mode_text(st.st_mode) +
                            "), so any local user could change what the daemon watches and "
                            "blocks; refusing it. Fix: chmod o-w " +
                            path};
  }
  // A world-writable directory lets anyone replace the file, unless it is sticky (/tmp).
  const size_t slash = path.find_last_of('/');
  const std::string dir =
      slash == std::string::npos ? "." : path.substr(0, std::max<size_t>(slash, 1));
  if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return Error{EPERM, "config file '" + path + "' is in " + dir +
                            ", a directory writable by everyone (mode " + mode_text(st.st_mode) +
                            "), so any local user could replace it; refusing it. Fix: chmod o-w " +
                            dir + ", or move the file to /etc/traffic-analyzer/"};
  }
  return {};
}

Result<Config> LoadConfig(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot read config file '" + path + "'");
  if (auto safe = CheckConfigFileSafe(fd, path); !safe) {
    ::close(fd);
    return safe.error();
  }
  std::string text;
  std::array<char, 4096> buf;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return ErrnoError("cannot read config file '" + path + "'", err);
    }
    if (n == 0) break;
    text.append(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return ParseFrom(text, path);
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  constexpr std::string_view kExpected =
      "expected IP:PORT with an IP address, e.g. 127.0.0.1:9100, 0.0.0.0:9100 or [::1]:9100";
  ListenAddress out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return Error{0, std::string(kExpected)};
    }
    out.host = std::string(text.substr(1, close - 1));
    out.ipv6 = true;
    port_text = text.substr(close + 2);
    in6_addr addr6;
    if (::inet_pton(AF_INET6, out.host.c_str(), &addr6) != 1) {
      return Error{0, "'" + out.host + "' is not an IPv6 address; " + std::string(kExpected)};
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return Error{0, std::string(kExpected)};
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return Error{0, "an IPv6 address must be written in brackets; " + std::string(kExpected)};
    }
    in_addr addr4;
    if (::inet_pton(AF_INET, out.host.c_str(), &addr4) != 1) {
      return Error{0, "'" + out.host + "' is not an IPv4 address (host names are not resolved); " +
                          std::string(kExpected)};
    }
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port < 1 || port > 65535) {
    return Error{
        0, "port '" + std::string(port_text) + "' is not in 1..65535; " + std::string(kExpected)};
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

}  // namespace ta::agent
