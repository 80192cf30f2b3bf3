// trafficctl: the operator's CLI. Every command but `tls` talks to the daemon's control socket
// (newline-delimited JSON, docs/control.md); `tls` reads the daemon's /metrics.
//
// Exit status, for scripts: 0 ok; 1 the daemon refused the request (bad input, unknown id);
// 2 usage error; 3 `anomalies` while one is firing, `tls` while a process is not covered;
// 4 the daemon cannot be reached (not running, permission denied, timed out). `doctor` follows
// the Nagios plugin convention instead: 0 healthy, 1 degraded, 2 broken, 3 it could not run.
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "agent/alerts/text.h"
#include "agent/config.h"
#include "agent/control/control_client.h"
#include "agent/ctl/doctor.h"
#include "agent/ctl/exposition.h"
#include "agent/ctl/format.h"

namespace {

using Json = nlohmann::json;
using ta::agent::control::CallError;
using ta::agent::control::CallFailure;
using ta::agent::control::ControlClient;

constexpr int kExitOk = 0;
constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitFiring = 3;
constexpr int kExitUnreachable = 4;

constexpr const char* kDefaultSocket = "/run/traffic-analyzer/control.sock";
constexpr size_t kReasonWidth = 40;  // REASON column of `rules list`

constexpr const char* kUsage =
    "usage: trafficctl [--socket PATH] [--config FILE] [--json] COMMAND [ARGS]\n"
    "\n"
    "On the daemon's control socket (docs/control.md):\n"
    "  status                      version, kernel features, capture, enforcement, TLS,\n"
    "                              anomaly engine and event rates\n"
    "  rules list                  enforcement rules and their counters\n"
    "  rules add KIND [CIDR] [--port N] [--rate R] [--burst B] [--admit RATIO]\n"
    "            [--ttl DURATION] [--dry-run] --reason TEXT\n"
    "                              KIND is drop, rate-limit, allow (each needs a CIDR) or\n"
    "                              syn-throttle (no CIDR, needs --port)\n"
    "  rules del ID                remove a rule\n"
    "  rules explain ID            a rule, its counters and why it exists\n"
    "  thresholds get              detector parameters: overrides in force and their bounds\n"
    "  thresholds set DETECTOR PARAMETER VALUE [--port N] [--route R] [--ttl DURATION]\n"
    "                 [--reason TEXT]\n"
    "                              override a detector parameter, e.g.\n"
    "                              thresholds set flood z_threshold 5.0 --ttl 2h --reason launch\n"
    "  anomalies [--limit N]       anomalies firing now, then recent ones, with explanations\n"
    "  observe [--route R] [--status S] [--client C] [--protocol P] [--port N] [--count N]\n"
    "          [--duration DURATION]\n"
    "                              requests as they complete, until Ctrl-C; R is a route or\n"
    "                              a prefix ending in '*', S 5xx or 404, C an address or CIDR,\n"
    "                              P http1, http2 or grpc\n"
    "  top [--interval S] [--iterations N]\n"
    "                              the busiest routes, refreshed every S seconds (default 2)\n"
    "\n"
    "On the daemon's /metrics:\n"
    "  tls [--metrics HOST:PORT]   processes that use TLS and whether the uprobes see their\n"
    "                              plaintext (address: metrics.listen of --config, default\n"
    "                              /etc/traffic-analyzer/traffic-analyzer.yaml, else\n"
    "                              127.0.0.1:9100)\n"
    "\n"
    "On the node:\n"
    "  doctor                      checks the kernel, BPF features, interfaces, privileges,\n"
    "                              clock, the daemon, its maps and /metrics; each finding\n"
    "                              with its fix (--json: one object). Exit status 0 healthy,\n"
    "                              1 degraded, 2 broken, 3 the doctor could not run\n"
    "\n"
    "Options:\n"
    "  --socket PATH   the control socket (default: control.socket of --config, else\n"
    "                  /run/traffic-analyzer/control.sock)\n"
    "  --config FILE   the daemon's configuration file\n"
    "  --json          the daemon's answer as JSON (observe, top: one JSON object per line)\n"
    "DURATION is a number with a unit: 30s, 10m, 2h, 1d, or a sum like 1h30m.\n"
    "\n"
    "Exit status: 0 ok, 1 the daemon refused the request, 2 usage error, 3 an anomaly is\n"
    "firing (anomalies) or a TLS process is not covered (tls), 4 the daemon is unreachable.\n";

// A wrong command line: exits 2 with the message and the usage (3 for doctor).
struct UsageError {
  std::string message;
};

// Set when the command is `doctor`, whose usage errors exit 3 (Nagios "unknown").
bool g_doctor = false;

// ---- Stopping streams: Ctrl-C, SIGTERM and --duration's timer end observe and top cleanly. --

volatile sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked poll() must return EINTR
  for (int signal : {SIGINT, SIGTERM, SIGALRM}) sigaction(signal, &action, nullptr);
}

// ---- Command-line values. ----------------------------------------------------------------

std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  // strtod also takes "0x1p3" and "inf"; a threshold is written in decimal.
  if (text.find_first_not_of("+-0123456789.eE") != std::string::npos) return std::nullopt;
  return value;
}

std::variant<int64_t, UsageError> ParseInteger(const std::string& option, const std::string& text,
                                               int64_t min, int64_t max) {
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  if (digits && text.size() <= 18) {
    const int64_t value = std::stoll(text);
    if (value >= min && value <= max) return value;
  }
  return UsageError{
      fmt::format("{} must be an integer from {} to {}, got '{}'", option, min, max, text)};
}

// "30s", "10m", "2h", "1d", "1h30m", "0.5s", "500ms": seconds.
std::variant<double, UsageError> ParseDuration(const std::string& option, const std::string& text) {
  double total = 0;
  size_t i = 0;
  const UsageError error{option + " must be a duration like 30s, 10m, 2h or 1d, got '" + text +
                         "'"};
  if (text.empty()) return error;
  while (i < text.size()) {
    const size_t start = i;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) {
      ++i;
    }
    if (i == start || i == text.size()) return error;  // no number, or no unit
    auto number = ParseNumber(text.substr(start, i - start));
    if (!number) return error;
    if (text.compare(i, 2, "ms") == 0) {
      total += *number / 1000;
      i += 2;
      continue;
    }
    switch (text[i++]) {
      case 's':
        total += *number;
        break;
      case 'm':
        total += *number * 60;
        break;
      case 'h':
        total += *number * 3600;
        break;
      case 'd':
        total += *number * 86400;
        break;
      default:
        return error;
    }
  }
  if (total <= 0) return UsageError{option + " must be longer than zero, got '" + text + "'"};
  return total;
}

// A whole number of seconds is sent as an integer (the contract's ttl_s is a number either way).
Json Seconds(double seconds) {
  if (seconds == std::floor(seconds) && seconds < 9e15) return static_cast<int64_t>(seconds);
  return seconds;
}

// The words and options after the command's name, checked against what the command accepts.
struct CommandArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::set<std::string> flags;

  bool has(const std::string& option) const { return values.contains(option); }
};

std::variant<CommandArgs, UsageError> ParseCommandArgs(std::span<const std::string> tokens,
                                                       const std::string& command,
                                                       const std::set<std::string>& value_options,
                                                       const std::set<std::string>& flag_options) {
  CommandArgs out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string token = tokens[i];
    // A negative number is a value (thresholds set ... -1), not an option.
    if (token.size() < 2 || token[0] != '-' || ParseNumber(token)) {
      out.positional.push_back(token);
      continue;
    }
    std::optional<std::string> inline_value;
    if (const size_t eq = token.find('='); eq != std::string::npos) {
      inline_value = token.substr(eq + 1);
      token.resize(eq);
    }
    if (flag_options.contains(token) && !inline_value) {
      out.flags.insert(token);
    } else if (value_options.contains(token)) {
      if (inline_value) {
        out.values[token] = *inline_value;
      } else if (i + 1 < tokens.size()) {
        out.values[token] = tokens[++i];
      } else {
        return UsageError{token + " needs a value"};
      }
    } else {
      std::string known;
      for (const auto& o : value_options) known += (known.empty() ? "" : ", ") + o;
      for (const auto& o : flag_options) known += (known.empty() ? "" : ", ") + o;
      return UsageError{"unknown option '" + tokens[i] + "' for '" + command + "'" +
                        (known.empty() ? " (it takes none)" : " (it takes " + known + ")")};
    }
  }
  return out;
}

// ---- Reading the daemon's answers. Every accessor tolerates a missing or mistyped field (a
// daemon of another version) by showing a placeholder rather than failing. ----------------------

std::string Text(const Json& j, const std::string& key, const std::string& absent = "-") {
  if (!j.is_object()) return absent;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absent;
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, Json::error_handler_t::replace);
}

double Number(const Json& j, const std::string& key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

int64_t Integer(const Json& j, const std::string& key) {
  if (!j.is_object()) return 0;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}

bool Bool(const Json& j, const std::string& key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

const Json& Field(const Json& j, const std::string& key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

const Json& Array(const Json& j, const std::string& key) {
  static const Json kEmpty = Json::array();
  const Json& value = Field(j, key);
  return value.is_array() ? value : kEmpty;
}

// 7.9, 950, 0.0125: as many digits as the value has, up to 6 significant.
std::string Num(double value) { return fmt::format("{:.6g}", value); }

std::string Port(const Json& j, const std::string& key = "port") {
  const int64_t port = Integer(j, key);
  return port == 0 ? "any" : std::to_string(port);
}

// Columns padded to their widest cell; the last one is not padded (no trailing blanks).
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows,
                const std::set<size_t>& right_aligned = {}) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const bool last = c + 1 == row.size();
      if (right_aligned.contains(c)) {
        line += fmt::format("{:>{}}", row[c], width[c]);
      } else {
        line += last ? row[c] : fmt::format("{:<{}}", row[c], width[c]);
      }
      if (!last) line += "  ";
    }
    std::cout << line << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

std::string Truncate(const std::string& text, size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 3) + "...";
}

// ---- The connection. ------------------------------------------------------------------------

int Report(const CallError& error) {
  std::cerr << "trafficctl: " << error.message << "\n";
  return error.failure == CallFailure::kRefused ? kExitRefused : kExitUnreachable;
}

struct Context {
  std::string socket;
  bool json = false;

  // One request on a fresh connection: the result, or the exit code after reporting why not.
  std::variant<Json, int> Call(const std::string& cmd, const Json& args) const {
    auto client = ControlClient::Connect(socket);
    if (auto* error = std::get_if<CallError>(&client)) return Report(*error);
    auto reply = std::get<std::unique_ptr<ControlClient>>(client)->Call(cmd, args);
    if (auto* error = std::get_if<CallError>(&reply)) return Report(*error);
    return std::get<Json>(std::move(reply));
  }
};

void PrintJson(const Json& value) {
  std::cout << value.dump(2, ' ', false, Json::error_handler_t::replace) << "\n";
}

// ---- status. -----------------------------------------------------------------------------

int Status(const Context& ctx) {
  auto reply = ctx.Call("status", Json::object());
  if (auto* code = std::get_if<int>(&reply)) return *code;
  const Json& s = std::get<Json>(reply);
  if (ctx.json) {
    PrintJson(s);
    return kExitOk;
  }
  auto join = [](const Json& values) {
    std::string out;
    for (const auto& v : values) {
      out += (out.empty() ? "" : ", ") +
             (v.is_string() ? v.get<std::string>()
                            : v.dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    return out.empty() ? std::string("none") : out;
  };
  constexpr const char* kIndent = "             ";
  std::cout << "traffic-analyzer " << Text(s, "version") << ", up "
            << ta::agent::ctl::FormatUptime(Number(s, "uptime_s")) << "\n";

  const Json& kernel = Field(s, "kernel");
  std::string present, missing;
  if (const Json& features = Field(kernel, "features"); features.is_object()) {
    for (const auto& [name, on] : features.items()) {
      std::string& list = on.is_boolean() && on.get<bool>() ? present : missing;
      list += (list.empty() ? "" : ", ") + name;
    }
  }
  std::cout << fmt::format("{:<13}{}; features: {}", "kernel", Text(kernel, "release"),
                           present.empty() ? "none" : present)
            << (missing.empty() ? "" : "; missing: " + missing) << "\n";

  const Json& capture = Field(s, "capture");
  std::cout << fmt::format("{:<13}interfaces {}; ports {}\n", "capture",
                           join(Array(capture, "interfaces")), join(Array(capture, "ports")));

  const Json& enforcement = Field(s, "enforcement");
  if (!Bool(enforcement, "enabled")) {
    std::cout << fmt::format("{:<13}disabled\n", "enforcement");
  } else {
    std::cout << fmt::format("{:<13}enabled{}; {} rules\n", "enforcement",
                             Bool(enforcement, "dry_run") ? " (dry run: counts, never drops)" : "",
                             Integer(enforcement, "rules"));
    for (const auto& i : Array(enforcement, "interfaces")) {
      std::cout << kIndent
                << fmt::format(
                       "{} XDP {}, prog {}{}\n", Text(i, "name"), Text(i, "mode"),
                       Integer(i, "prog_id"),
                       Bool(i, "replaced_leftover") ? " (replaced a leftover program)" : "");
    }
    const Json& heartbeat = Field(enforcement, "heartbeat");
    std::cout << kIndent
              << fmt::format("heartbeat {} ms old, timeout {} ms, then {}\n",
                             Num(Number(heartbeat, "age_ms")), Num(Number(heartbeat, "timeout_ms")),
                             Bool(heartbeat, "fail_open") ? "fail open (XDP passes everything)"
                                                          : "fail closed (rules stay)");
    std::string stats;
    if (const Json& counters = Field(enforcement, "stats"); counters.is_object()) {
      for (const auto& [name, value] : counters.items()) {
        stats += (stats.empty() ? "" : ", ") + name + " " +
                 (value.is_number() ? Num(value.get<double>()) : value.dump());
      }
    }
    if (!stats.empty()) std::cout << kIndent << stats << "\n";
  }

  const Json& tls = Field(s, "tls");
  std::cout << fmt::format("{:<13}", "tls")
            << (Bool(tls, "enabled")
                    ? fmt::format("enabled, {} libraries hooked", Integer(tls, "hooked_libraries"))
                    : "disabled")
            << "\n";
  const Json& anomaly = Field(s, "anomaly");
  std::cout << fmt::format("{:<13}", "anomaly")
            << (Bool(anomaly, "enabled") ? fmt::format("enabled, baselines {:.0f}% learned",
                                                       100 * Number(anomaly, "learned_ratio"))
                                         : "disabled")
            << "\n";
  const Json& events = Field(s, "events");
  std::cout << fmt::format("{:<13}{}/s, lost {}/s, {} lost since start\n", "events",
                           Num(Number(events, "per_second")),
                           Num(Number(events, "lost_per_second")), Integer(events, "lost_total"));
  return kExitOk;
}

// ---- rules. ------------------------------------------------------------------------------

// "drop 198.18.5.0/24, port 80", "rate_limit 198.18.5.0/24, port any, 100/s burst 200",
// "syn_throttle port 443, admit 0.25".
std::string RuleSummary(const Json& rule) {
  const std::string kind = Text(rule, "kind");
  std::string out = kind;
  if (kind == "syn_throttle") {
    return out + " port " + Port(rule) + ", admit " + Num(Number(rule, "admit_ratio"));
  }
  out += " " + Text(rule, "source") + ", port " + Port(rule);
  if (kind == "rate_limit") {
    out += ", " + Num(Number(rule, "rate")) + "/s burst " + std::to_string(Integer(rule, "burst"));
  }
  return out;
}

std::string RuleBlock(const Json& rule) {
  std::string out = fmt::format("rule {}: {}{}\n", Integer(rule, "id"), RuleSummary(rule),
                                Bool(rule, "dry_run") ? " (dry run)" : "");
  std::string origin = Text(rule, "origin");
  if (origin == "detector") {
    origin += fmt::format(" {}, anomaly #{}, offence {}", Text(rule, "detector"),
                          Integer(rule, "anomaly_id"), Integer(rule, "offence"));
  }
  out += fmt::format("  origin    {}\n", origin);
  out += fmt::format("  created   {}\n", Text(rule, "created"));
  out += fmt::format("  expires   {}\n", Text(rule, "expires", "never"));
  out += fmt::format("  reason    {}\n", Text(rule, "reason", ""));
  const Json& c = Field(rule, "counters");
  out += fmt::format(
      "  counters  matched {} packets ({} bytes), dropped {} ({} bytes), would drop {} "
      "({} bytes)\n",
      Integer(c, "matched_packets"), Integer(c, "matched_bytes"), Integer(c, "dropped_packets"),
      Integer(c, "dropped_bytes"), Integer(c, "would_drop_packets"),
      Integer(c, "would_drop_bytes"));
  return out;
}

int RulesList(const Context& ctx) {
  auto reply = ctx.Call("rules.list", Json::object());
  if (auto* code = std::get_if<int>(&reply)) return *code;
  const Json& result = std::get<Json>(reply);
  if (ctx.json) {
    PrintJson(result);
    return kExitOk;
  }
  const Json& rules = Array(result, "rules");
  if (rules.empty()) {
    std::cout << "no rules\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rules) {
    const Json& c = Field(r, "counters");
    // A dry-run rule drops nothing; what it would have dropped is the figure that matters.
    const std::string dropped =
        Bool(r, "dry_run") ? std::to_string(Integer(c, "would_drop_packets")) + " (dry run)"
                           : std::to_string(Integer(c, "dropped_packets"));
    rows.push_back({std::to_string(Integer(r, "id")), Text(r, "kind"), Text(r, "source"), Port(r),
                    Text(r, "expires", "never"), Text(r, "origin"), dropped,
                    Truncate(Text(r, "reason", ""), kReasonWidth)});
  }
  PrintTable({"ID", "KIND", "SOURCE", "PORT", "EXPIRES", "ORIGIN", "DROPPED", "REASON"}, rows,
             {0, 6});
  return kExitOk;
}

std::variant<Json, UsageError> RulesAddArgs(std::span<const std::string> tokens) {
  auto parsed = ParseCommandArgs(tokens, "rules add",
                                 {"--port", "--rate", "--burst", "--admit", "--ttl", "--reason"},
                                 {"--dry-run"});
  if (auto* error = std::get_if<UsageError>(&parsed)) return *error;
  const CommandArgs& a = std::get<CommandArgs>(parsed);
  if (a.positional.empty()) {
    return UsageError{"rules add needs a kind: drop, rate-limit, syn-throttle or allow"};
  }
  static const std::map<std::string, std::string> kKinds = {
      {"drop", "drop"},   {"rate-limit", "rate_limit"},     {"rate_limit", "rate_limit"},
      {"allow", "allow"}, {"syn-throttle", "syn_throttle"}, {"syn_throttle", "syn_throttle"}};
  auto kind = kKinds.find(a.positional[0]);
  if (kind == kKinds.end()) {
    return UsageError{"unknown rule kind '" + a.positional[0] +
                      "' (drop, rate-limit, syn-throttle or allow)"};
  }
  Json args = {{"kind", kind->second}};
  const bool syn = kind->second == "syn_throttle";
  if (syn && a.positional.size() > 1) {
    return UsageError{"a syn-throttle rule applies to a port, not to a source: drop '" +
                      a.positional[1] + "' and give --port"};
  }
  if (!syn && a.positional.size() < 2) {
    return UsageError{"rules add " + a.positional[0] +
                      " needs a source address or CIDR, e.g. 198.18.5.0/24"};
  }
  if (a.positional.size() > 2) {
    return UsageError{"unexpected argument '" + a.positional[2] + "'"};
  }
  if (!syn) args["source"] = a.positional[1];  // the daemon checks it and says what is wrong
  if (a.has("--port")) {
    auto port = ParseInteger("--port", a.values.at("--port"), 1, 65535);
    if (auto* error = std::get_if<UsageError>(&port)) return *error;
    args["port"] = std::get<int64_t>(port);
  } else if (syn) {
    return UsageError{"a syn-throttle rule needs --port (the port whose SYNs it throttles)"};
  }
  const bool rate_limit = kind->second == "rate_limit";
  if ((a.has("--rate") || a.has("--burst")) && !rate_limit) {
    return UsageError{"--rate and --burst apply to rate-limit rules only"};
  }
  if (a.has("--admit") && !syn) {
    return UsageError{"--admit applies to syn-throttle rules only"};
  }
  if (a.has("--rate")) {
    auto rate = ParseNumber(a.values.at("--rate"));
    if (!rate || *rate <= 0) {
      return UsageError{"--rate must be a number of packets per second above 0, got '" +
                        a.values.at("--rate") + "'"};
    }
    args["rate"] = *rate;
  } else if (rate_limit) {
    return UsageError{"a rate-limit rule needs --rate (packets per second)"};
  }
  if (a.has("--burst")) {
    auto burst = ParseInteger("--burst", a.values.at("--burst"), 1, 4294967295);
    if (auto* error = std::get_if<UsageError>(&burst)) return *error;
    args["burst"] = std::get<int64_t>(burst);
  }
  if (a.has("--admit")) {
    auto admit = ParseNumber(a.values.at("--admit"));
    if (!admit || *admit < 0 || *admit > 1) {
      return UsageError{"--admit must be the share of SYNs admitted, from 0 to 1, got '" +
                        a.values.at("--admit") + "'"};
    }
    args["admit_ratio"] = *admit;
  }
  if (a.has("--ttl")) {
    auto ttl = ParseDuration("--ttl", a.values.at("--ttl"));
    if (auto* error = std::get_if<UsageError>(&ttl)) return *error;
    args["ttl_s"] = Seconds(std::get<double>(ttl));
  }
  if (a.flags.contains("--dry-run")) args["dry_run"] = true;
  if (!a.has("--reason") || a.values.at("--reason").empty()) {
    return UsageError{
        "rules add needs --reason TEXT: it is shown in rules list and the audit "
        "log"};
  }
  args["reason"] = a.values.at("--reason");
  return args;
}

std::variant<int64_t, UsageError> RuleId(std::span<const std::string> tokens,
                                         const std::string& command) {
  auto parsed = ParseCommandArgs(tokens, command, {}, {});
  if (auto* error = std::get_if<UsageError>(&parsed)) return *error;
  const auto& positional = std::get<CommandArgs>(parsed).positional;
  if (positional.size() != 1) return UsageError{command + " needs exactly one rule ID"};
  return ParseInteger("the rule ID", positional[0], 1, int64_t{1} << 53);
}

int Rules(const Context& ctx, std::span<const std::string> tokens) {
  if (tokens.empty()) throw UsageError{"rules needs a subcommand: list, add, del or explain"};
  const std::string& sub = tokens[0];
  const auto rest = tokens.subspan(1);
  if (sub == "list") {
    auto parsed = ParseCommandArgs(rest, "rules list", {}, {});
    if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
    if (!std::get<CommandArgs>(parsed).positional.empty()) {
      throw UsageError{"rules list takes no arguments"};
    }
    return RulesList(ctx);
  }
  if (sub == "add") {
    auto args = RulesAddArgs(rest);
    if (auto* error = std::get_if<UsageError>(&args)) throw *error;
    auto reply = ctx.Call("rules.add", std::get<Json>(args));
    if (auto* code = std::get_if<int>(&reply)) return *code;
    const Json& result = std::get<Json>(reply);
    if (ctx.json) {
      PrintJson(result);
    } else {
      std::cout << "added " << RuleBlock(Field(result, "rule"));
    }
    return kExitOk;
  }
  if (sub == "del" || sub == "explain") {
    auto id = RuleId(rest, "rules " + sub);
    if (auto* error = std::get_if<UsageError>(&id)) throw *error;
    auto reply = ctx.Call("rules." + sub, Json{{"id", std::get<int64_t>(id)}});
    if (auto* code = std::get_if<int>(&reply)) return *code;
    const Json& result = std::get<Json>(reply);
    if (ctx.json) {
      PrintJson(result);
      return kExitOk;
    }
    const Json& rule = Field(result, "rule");
    if (sub == "del") {
      std::cout << fmt::format("deleted rule {}: {}\n", Integer(rule, "id"), RuleSummary(rule));
      return kExitOk;
    }
    std::cout << RuleBlock(rule);
    if (const Json& anomaly = Field(result, "anomaly"); anomaly.is_object()) {
      std::cout << fmt::format("  anomaly   #{} {} ({}, {}), started {}\n", Integer(anomaly, "id"),
                               Text(anomaly, "detector"), Text(anomaly, "severity"),
                               Text(anomaly, "state"), Text(anomaly, "started"));
    }
    std::cout << "\n" << Text(result, "explanation", "") << "\n";
    return kExitOk;
  }
  throw UsageError{"unknown rules subcommand '" + sub + "' (list, add, del, explain)"};
}

// ---- thresholds. -------------------------------------------------------------------------

std::vector<std::string> OverrideRow(const Json& o) {
  return {Text(o, "detector"),
          Text(o, "parameter"),
          Port(o),
          Text(o, "route", "any"),
          Field(o, "value").is_number() ? Num(Number(o, "value")) : Text(o, "value"),
          Text(o, "expires", "never"),
          Text(o, "reason", "")};
}

int Thresholds(const Context& ctx, std::span<const std::string> tokens) {
  if (tokens.empty()) throw UsageError{"thresholds needs a subcommand: get or set"};
  const std::string& sub = tokens[0];
  const auto rest = tokens.subspan(1);
  if (sub == "get") {
    auto parsed = ParseCommandArgs(rest, "thresholds get", {}, {});
    if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
    if (!std::get<CommandArgs>(parsed).positional.empty()) {
      throw UsageError{"thresholds get takes no arguments"};
    }
    auto reply = ctx.Call("thresholds.get", Json::object());
    if (auto* code = std::get_if<int>(&reply)) return *code;
    const Json& result = std::get<Json>(reply);
    if (ctx.json) {
      PrintJson(result);
      return kExitOk;
    }
    const Json& overrides = Array(result, "overrides");
    if (overrides.empty()) {
      std::cout << "no overrides: every detector runs on its configured thresholds\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& o : overrides) rows.push_back(OverrideRow(o));
      PrintTable({"DETECTOR", "PARAMETER", "PORT", "ROUTE", "VALUE", "EXPIRES", "REASON"}, rows);
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : Array(result, "parameters")) {
      rows.push_back({Text(p, "detector"), Text(p, "name"), Num(Number(p, "min")),
                      Num(Number(p, "max")), Text(p, "help", "")});
    }
    if (!rows.empty()) {
      std::cout << "\nparameters that can be set:\n";
      PrintTable({"DETECTOR", "PARAMETER", "MIN", "MAX", "HELP"}, rows);
    }
    return kExitOk;
  }
  if (sub == "set") {
    auto parsed =
        ParseCommandArgs(rest, "thresholds set", {"--port", "--route", "--ttl", "--reason"}, {});
    if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
    const CommandArgs& a = std::get<CommandArgs>(parsed);
    if (a.positional.size() != 3) {
      throw UsageError{
          "thresholds set needs DETECTOR PARAMETER VALUE, e.g. "
          "thresholds set flood z_threshold 5.0 --ttl 2h --reason launch"};
    }
    auto value = ParseNumber(a.positional[2]);
    if (!value) throw UsageError{"VALUE must be a number, got '" + a.positional[2] + "'"};
    Json args = {{"detector", a.positional[0]}, {"parameter", a.positional[1]}, {"value", *value}};
    if (a.has("--port")) {
      auto port = ParseInteger("--port", a.values.at("--port"), 1, 65535);
      if (auto* error = std::get_if<UsageError>(&port)) throw *error;
      args["port"] = std::get<int64_t>(port);
    }
    if (a.has("--route")) args["route"] = a.values.at("--route");
    if (a.has("--ttl")) {
      auto ttl = ParseDuration("--ttl", a.values.at("--ttl"));
      if (auto* error = std::get_if<UsageError>(&ttl)) throw *error;
      args["ttl_s"] = Seconds(std::get<double>(ttl));
    }
    if (a.has("--reason")) args["reason"] = a.values.at("--reason");
    auto reply = ctx.Call("thresholds.set", args);
    if (auto* code = std::get_if<int>(&reply)) return *code;
    const Json& result = std::get<Json>(reply);
    if (ctx.json) {
      PrintJson(result);
      return kExitOk;
    }
    const Json& o = Field(result, "override");
    const auto row = OverrideRow(o);
    std::cout << fmt::format("{}.{} = {} on port {}, route {}, until {}{}\n", row[0], row[1],
                             row[4], row[2], row[3], row[5],
                             row[6].empty() ? "" : " (" + row[6] + ")");
    return kExitOk;
  }
  throw UsageError{"unknown thresholds subcommand '" + sub + "' (get, set)"};
}

// ---- anomalies. --------------------------------------------------------------------------

void PrintAnomaly(const Json& a) {
  std::string where;
  if (Integer(a, "port") != 0) where += " on :" + std::to_string(Integer(a, "port"));
  if (const std::string route = Text(a, "route", ""); !route.empty()) where += " " + route;
  if (const std::string subject = Text(a, "subject", ""); !subject.empty()) {
    where += " from " + subject;
  }
  const std::string unit = Text(a, "unit", "");
  const std::string u = unit.empty() ? "" : " " + unit;
  std::cout << fmt::format("#{} {} {} {} since {}{}\n", Integer(a, "id"), Text(a, "detector"),
                           Text(a, "severity"), Text(a, "state"), Text(a, "started"), where);
  std::cout << fmt::format("    observed {}{}, baseline {}{}, score {} (threshold {})\n",
                           Num(Number(a, "observed")), u, Num(Number(a, "baseline")), u,
                           Num(Number(a, "score")), Num(Number(a, "threshold")));
  std::cout << "    " << Text(a, "explanation", "") << "\n";
}

int Anomalies(const Context& ctx, std::span<const std::string> tokens) {
  auto parsed = ParseCommandArgs(tokens, "anomalies", {"--limit"}, {});
  if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
  const CommandArgs& a = std::get<CommandArgs>(parsed);
  if (!a.positional.empty()) throw UsageError{"unexpected argument '" + a.positional[0] + "'"};
  int64_t limit = 20;  // recent anomalies shown; the daemon keeps a bounded history anyway
  if (a.has("--limit")) {
    auto l = ParseInteger("--limit", a.values.at("--limit"), 1, 10000);
    if (auto* error = std::get_if<UsageError>(&l)) throw *error;
    limit = std::get<int64_t>(l);
  }
  auto reply = ctx.Call("anomalies", Json{{"limit", limit}});
  if (auto* code = std::get_if<int>(&reply)) return *code;
  const Json& result = std::get<Json>(reply);
  const Json& active = Array(result, "active");
  const Json& recent = Array(result, "recent");
  if (ctx.json) {
    PrintJson(result);
  } else {
    if (active.empty()) {
      std::cout << "no anomaly is firing\n";
    } else {
      std::cout << fmt::format("FIRING ({})\n", active.size());
      for (const auto& anomaly : active) PrintAnomaly(anomaly);
    }
    if (recent.empty()) {
      std::cout << "no recent anomalies\n";
    } else {
      std::cout << fmt::format("RECENT ({})\n", recent.size());
      for (const auto& anomaly : recent) PrintAnomaly(anomaly);
    }
  }
  return active.empty() ? kExitOk : kExitFiring;
}

// ---- observe. ----------------------------------------------------------------------------

// "12:00:01.123 198.18.0.2:4312 -> :80 GET /users/{id} 200 3.1ms http1", after hubble observe.
std::string ObservedLine(const Json& e) {
  std::string ts = Text(e, "ts");
  if (const size_t t = ts.find('T'); t != std::string::npos) {
    ts = ts.substr(t + 1);
    if (!ts.empty() && ts.back() == 'Z') ts.pop_back();
  }
  std::string route = Text(e, "route", "");
  if (route.empty()) route = Text(e, "path");
  std::string status = std::to_string(Integer(e, "status"));
  if (Field(e, "grpc_status").is_number()) {
    status += " grpc-status " + std::to_string(Integer(e, "grpc_status"));
  }
  return fmt::format("{} {} -> :{} {} {} {} {:.1f}ms {}", ts, Text(e, "client"), Integer(e, "port"),
                     Text(e, "method"), route, status, Number(e, "latency_ms"),
                     Text(e, "protocol"));
}

int Observe(const Context& ctx, std::span<const std::string> tokens) {
  auto parsed = ParseCommandArgs(
      tokens, "observe",
      {"--route", "--status", "--client", "--protocol", "--port", "--count", "--duration"}, {});
  if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
  const CommandArgs& a = std::get<CommandArgs>(parsed);
  if (!a.positional.empty()) throw UsageError{"unexpected argument '" + a.positional[0] + "'"};
  Json args = Json::object();
  // Route, status, client and protocol are checked by the daemon, whose message names the
  // accepted forms.
  for (const char* key : {"route", "status", "client", "protocol"}) {
    if (a.has(std::string("--") + key)) args[key] = a.values.at(std::string("--") + key);
  }
  if (a.has("--port")) {
    auto port = ParseInteger("--port", a.values.at("--port"), 1, 65535);
    if (auto* error = std::get_if<UsageError>(&port)) throw *error;
    args["port"] = std::get<int64_t>(port);
  }
  int64_t max_events = 0;
  if (a.has("--count")) {
    auto count = ParseInteger("--count", a.values.at("--count"), 1, int64_t{1} << 53);
    if (auto* error = std::get_if<UsageError>(&count)) throw *error;
    max_events = std::get<int64_t>(count);
  }
  std::optional<double> duration;
  if (a.has("--duration")) {
    auto d = ParseDuration("--duration", a.values.at("--duration"));
    if (auto* error = std::get_if<UsageError>(&d)) throw *error;
    duration = std::get<double>(d);
  }

  auto connected = ControlClient::Connect(ctx.socket);
  if (auto* error = std::get_if<CallError>(&connected)) return Report(*error);
  auto& client = std::get<std::unique_ptr<ControlClient>>(connected);
  InstallStopHandlers();
  if (duration) {
    itimerval timer{};
    const double whole = std::floor(*duration);
    timer.it_value.tv_sec = static_cast<time_t>(whole);
    timer.it_value.tv_usec = static_cast<suseconds_t>((*duration - whole) * 1e6);
    setitimer(ITIMER_REAL, &timer, nullptr);
  }
  int64_t seen = 0;
  auto error = client->Stream("observe", args, [&](const Json& message) {
    if (const Json& lost = Field(message, "lost"); !lost.is_null()) {
      std::cerr << "trafficctl: the daemon dropped " << Integer(message, "lost")
                << " requests this terminal was too slow to take\n";
      return g_stop == 0;
    }
    const Json& event = Field(message, "event");
    if (ctx.json) {
      std::cout << event.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    } else {
      std::cout << ObservedLine(event) << "\n";
    }
    std::cout.flush();
    ++seen;
    return g_stop == 0 && (max_events == 0 || seen < max_events);
  });
  if (error) return Report(*error);
  return kExitOk;
}

// ---- top. --------------------------------------------------------------------------------

// Sleeps `seconds` unless a stop signal comes first.
void SleepUnlessStopped(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (g_stop == 0) {
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{.tv_sec = static_cast<time_t>(ns / 1000000000),
                .tv_nsec = static_cast<long>(ns % 1000000000)};
    nanosleep(&ts, nullptr);  // EINTR on a signal: the loop checks g_stop
  }
}

void PrintTop(const Json& result) {
  std::vector<Json> routes(Array(result, "routes").begin(), Array(result, "routes").end());
  std::stable_sort(routes.begin(), routes.end(), [](const Json& x, const Json& y) {
    return Number(x, "rps") > Number(y, "rps");
  });
  const std::string window = Num(Number(result, "window_s"));
  if (routes.empty()) {
    std::cout << "no requests on the watched ports in the last " << window << " s\n";
    return;
  }
  std::cout << fmt::format("busiest routes over the last {} s\n", window);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : routes) {
    rows.push_back({std::to_string(Integer(r, "port")), Text(r, "route"),
                    fmt::format("{:.1f}", Number(r, "rps")),
                    fmt::format("{:.1f}", Number(r, "errors_per_s")),
                    fmt::format("{:.1f}%", 100 * Number(r, "error_ratio")),
                    fmt::format("{:.1f}ms", Number(r, "p99_ms"))});
  }
  PrintTable({"PORT", "ROUTE", "RPS", "ERR/S", "ERR%", "P99"}, rows, {0, 2, 3, 4, 5});
}

int Top(const Context& ctx, std::span<const std::string> tokens) {
  auto parsed = ParseCommandArgs(tokens, "top", {"--interval", "--iterations"}, {});
  if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
  const CommandArgs& a = std::get<CommandArgs>(parsed);
  if (!a.positional.empty()) throw UsageError{"unexpected argument '" + a.positional[0] + "'"};
  double interval = 2;
  if (a.has("--interval")) {
    const std::string& text = a.values.at("--interval");
    auto plain = ParseNumber(text);
    if (plain && *plain > 0) {
      interval = *plain;
    } else {
      auto d = ParseDuration("--interval", text);
      if (auto* error = std::get_if<UsageError>(&d)) throw *error;
      interval = std::get<double>(d);
    }
  }
  int64_t iterations = 0;
  if (a.has("--iterations")) {
    auto n = ParseInteger("--iterations", a.values.at("--iterations"), 1, int64_t{1} << 53);
    if (auto* error = std::get_if<UsageError>(&n)) throw *error;
    iterations = std::get<int64_t>(n);
  }
  auto connected = ControlClient::Connect(ctx.socket);
  if (auto* error = std::get_if<CallError>(&connected)) return Report(*error);
  auto& client = std::get<std::unique_ptr<ControlClient>>(connected);
  InstallStopHandlers();
  const bool tty = isatty(STDOUT_FILENO) == 1;
  for (int64_t i = 0; g_stop == 0 && (iterations == 0 || i < iterations); ++i) {
    if (i > 0) SleepUnlessStopped(interval);
    if (g_stop != 0) break;
    auto reply = client->Call("top", Json::object());
    if (auto* error = std::get_if<CallError>(&reply)) {
      if (g_stop != 0) break;  // Ctrl-C while waiting for the answer
      return Report(*error);
    }
    const Json& result = std::get<Json>(reply);
    if (ctx.json) {
      std::cout << result.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
    } else {
      // ANSI "cursor home, erase display" (ECMA-48 CUP and ED) only on a terminal: a pipe or a
      // file gets the tables one after the other.
      if (tty) {
        std::cout << "\033[H\033[2J";
      } else if (i > 0) {
        std::cout << "\n";
      }
      PrintTop(result);
    }
    std::cout.flush();
  }
  return kExitOk;
}

// ---- tls (on /metrics). ------------------------------------------------------------------

// A JSON string literal, with the alert sinks' escaping (invalid UTF-8 becomes U+FFFD).
std::string JsonString(const std::string& s) {
  std::string out;
  ta::agent::alerts::AppendJsonString(out, s);
  return out;
}

int Tls(const std::string& address, bool json) {
  auto body = ta::agent::ctl::FetchMetrics(address);
  if (!body.ok()) {
    std::cerr << "trafficctl: " << body.error().message << "\n";
    return kExitUnreachable;
  }
  auto samples = ta::agent::ctl::ParseSamples(*body, "traffic_analyzer_tls_hooked");
  if (!samples.ok()) {
    std::cerr << "trafficctl: " << samples.error().message << "\n";
    return kExitRefused;
  }
  std::vector<ta::agent::ctl::Sample> rows = std::move(*samples);
  auto pid = [](const ta::agent::ctl::Sample& s) { return std::atoi(s.labels.at("pid").c_str()); };
  for (const auto& s : rows) {
    for (const char* key : {"pid", "comm", "library", "reason"}) {
      if (!s.labels.contains(key)) {
        std::cerr << "trafficctl: traffic_analyzer_tls_hooked has no '" << key
                  << "' label: is the daemon the same version as trafficctl?\n";
        return kExitRefused;
      }
    }
  }
  std::sort(rows.begin(), rows.end(),
            [&](const auto& a, const auto& b) { return pid(a) < pid(b); });
  const bool all_covered =
      std::all_of(rows.begin(), rows.end(), [](const auto& s) { return s.value == 1; });
  if (json) {
    std::cout << "[";
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& l = rows[i].labels;
      std::cout << (i ? ",\n " : "") << "{\"pid\": " << pid(rows[i])
                << ", \"comm\": " << JsonString(l.at("comm"))
                << ", \"library\": " << JsonString(l.at("library"))
                << ", \"hooked\": " << (rows[i].value == 1 ? "true" : "false")
                << ", \"reason\": " << JsonString(l.at("reason")) << "}";
    }
    std::cout << "]\n";
  } else if (rows.empty()) {
    std::cout << "no process on this node maps a TLS library the daemon knows of "
                 "(or TLS visibility is off: tls.enabled, or see the daemon's log)\n";
  } else {
    std::cout << fmt::format("{:>7}  {:<16} {:<7} {}\n", "PID", "COMMAND", "HOOKED",
                             "LIBRARY / REASON");
    for (const auto& s : rows) {
      const auto& l = s.labels;
      const std::string& reason = l.at("reason");
      std::cout << fmt::format("{:>7}  {:<16} {:<7} {}{}\n", pid(s), l.at("comm"),
                               s.value == 1 ? "yes" : "NO", l.at("library"),
                               reason.empty() ? "" : "  (" + reason + ")");
    }
  }
  return all_covered ? kExitOk : kExitFiring;
}

int TlsCommand(std::span<const std::string> tokens, std::optional<std::string> config_path,
               bool json) {
  auto parsed = ParseCommandArgs(tokens, "tls", {"--metrics"}, {});
  if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
  const CommandArgs& a = std::get<CommandArgs>(parsed);
  if (!a.positional.empty()) throw UsageError{"unexpected argument '" + a.positional[0] + "'"};
  std::string address = "127.0.0.1:9100";
  constexpr const char* kDefaultConfig = "/etc/traffic-analyzer/traffic-analyzer.yaml";
  if (!config_path && !a.has("--metrics")) {
    if (std::FILE* f = std::fopen(kDefaultConfig, "r")) {
      std::fclose(f);
      config_path = kDefaultConfig;
    }
  }
  if (a.has("--metrics")) {
    address = a.values.at("--metrics");
  } else if (config_path) {
    auto config = ta::agent::LoadConfig(*config_path);
    if (!config.ok()) throw UsageError{config.error().message};
    address = config->metrics.listen;
  }
  return Tls(address, json);
}

// ---- doctor. -----------------------------------------------------------------------------

int Doctor(std::span<const std::string> tokens, const std::optional<std::string>& config_path,
           const std::optional<std::string>& socket, bool json) {
  namespace doctor = ta::agent::ctl::doctor;
  auto parsed = ParseCommandArgs(tokens, "doctor", {}, {});
  if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
  const CommandArgs& a = std::get<CommandArgs>(parsed);
  if (!a.positional.empty()) throw UsageError{"unexpected argument '" + a.positional[0] + "'"};
  auto facts = doctor::Gather({.config_path = config_path, .socket_path = socket});
  if (!facts) {
    std::cerr << "trafficctl doctor: " << facts.error().ToString() << "\n";
    return doctor::kExitCannotRun;
  }
  const doctor::Report report = doctor::Evaluate(*facts);
  std::cout << (json ? doctor::RenderJson(report) : doctor::RenderText(report));
  return doctor::ExitCode(doctor::VerdictOf(report));
}

// control.socket of the configuration file. Only that key is read: trafficctl need not agree
// with the daemon on every other setting to find it.
std::string SocketFromConfig(const std::string& path) {
  try {
    const YAML::Node root = YAML::LoadFile(path);
    const YAML::Node socket = root["control"]["socket"];
    if (!socket || socket.IsNull()) return kDefaultSocket;
    if (!socket.IsScalar()) throw UsageError{path + ": control.socket must be a path"};
    return socket.as<std::string>();
  } catch (const YAML::Exception& e) {
    throw UsageError{"cannot read --config " + path + ": " + e.what()};
  }
}

int Run(std::span<char*> argv) {
  std::vector<std::string> tokens;
  std::optional<std::string> socket, config_path;
  bool json = false;
  for (size_t i = 1; i < argv.size(); ++i) {
    if (std::string_view(argv[i]) == "doctor") g_doctor = true;
  }
  // Global options may come anywhere; everything else is the command and its arguments.
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string a = argv[i];
    std::optional<std::string> inline_value;
    if (a.starts_with("--socket=") || a.starts_with("--config=")) {
      inline_value = a.substr(a.find('=') + 1);
      a.resize(a.find('='));
    }
    if (a == "--socket" || a == "--config") {
      if (!inline_value && i + 1 >= argv.size()) throw UsageError{a + " needs a value"};
      (a == "--socket" ? socket : config_path) = inline_value ? *inline_value : argv[++i];
    } else if (a == "--json") {
      json = true;
    } else if (a == "-h" || a == "--help" || a == "help") {
      std::cout << kUsage;
      return kExitOk;
    } else {
      tokens.push_back(a);
    }
  }
  if (tokens.empty()) throw UsageError{"a command is needed"};
  const std::string command = tokens[0];
  const std::span<const std::string> rest = std::span<const std::string>(tokens).subspan(1);
  if (command == "tls") return TlsCommand(rest, config_path, json);
  if (command == "doctor") return Doctor(rest, config_path, socket, json);

  Context ctx;
  ctx.json = json;
  ctx.socket = socket ? *socket : config_path ? SocketFromConfig(*config_path) : kDefaultSocket;
  if (command == "status") {
    auto parsed = ParseCommandArgs(rest, "status", {}, {});
    if (auto* error = std::get_if<UsageError>(&parsed)) throw *error;
    if (!std::get<CommandArgs>(parsed).positional.empty()) {
      throw UsageError{"status takes no arguments"};
    }
    return Status(ctx);
  }
  if (command == "rules") return Rules(ctx, rest);
  if (command == "thresholds") return Thresholds(ctx, rest);
  if (command == "anomalies") return Anomalies(ctx, rest);
  if (command == "observe") return Observe(ctx, rest);
  if (command == "top") return Top(ctx, rest);
  throw UsageError{"unknown command '" + command + "'"};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(std::span<char*>(argv, static_cast<size_t>(argc)));
  } catch (const UsageError& e) {
    std::cerr << "trafficctl: " << e.message << "\n\n" << kUsage;
    return g_doctor ? ta::agent::ctl::doctor::kExitCannotRun : kExitUsage;
  } catch (const nlohmann::json::exception& e) {
    // Only an answer of an unexpected shape gets here (the accessors above tolerate most).
    std::cerr << "trafficctl: the daemon's answer is not understood (" << e.what()
              << "): are trafficctl and traffic-analyzer the same version?\n";
    return kExitUnreachable;
  }
}
