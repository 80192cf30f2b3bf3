// trafficctl: the operator's CLI. Until the daemon's control socket exists (rules, thresholds,
// live views), it reads what the daemon exports on /metrics.
//
//   trafficctl tls [--config FILE] [--metrics HOST:PORT] [--json]
//       processes that use TLS and whether the OpenSSL uprobes see their plaintext.
//       Exit status: 0 every process is covered, 3 some are not, 2 the daemon cannot be
//       reached, 1 usage or other errors.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "agent/config.h"
#include "agent/ctl/exposition.h"

namespace {

constexpr const char* kUsage =
    "usage: trafficctl tls [--config FILE] [--metrics HOST:PORT] [--json]\n"
    "\n"
    "  tls   processes that use TLS and whether their plaintext is seen (the daemon's\n"
    "        traffic_analyzer_tls_hooked metric); exit 0 all covered, 3 some not, 2 daemon\n"
    "        unreachable\n"
    "\n"
    "The daemon is found at metrics.listen of --config (default\n"
    "/etc/traffic-analyzer/traffic-analyzer.yaml if it exists, else 127.0.0.1:9100).\n";

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

int Tls(const std::string& address, bool json) {
  auto body = ta::agent::ctl::FetchMetrics(address);
  if (!body.ok()) {
    std::cerr << "trafficctl: " << body.error().message << "\n";
    return 2;
  }
  auto samples = ta::agent::ctl::ParseSamples(*body, "traffic_analyzer_tls_hooked");
  if (!samples.ok()) {
    std::cerr << "trafficctl: " << samples.error().message << "\n";
    return 1;
  }
  std::vector<ta::agent::ctl::Sample> rows = std::move(*samples);
  auto pid = [](const ta::agent::ctl::Sample& s) { return std::atoi(s.labels.at("pid").c_str()); };
  for (const auto& s : rows) {
    for (const char* key : {"pid", "comm", "library", "reason"}) {
      if (!s.labels.contains(key)) {
        std::cerr << "trafficctl: traffic_analyzer_tls_hooked has no '" << key
                  << "' label: is the daemon the same version as trafficctl?\n";
        return 1;
      }
    }
  }
  std::sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) { return pid(a) < pid(b); });
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
  return all_covered ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  std::span<char*> args(argv, static_cast<size_t>(argc));
  std::string command;
  std::optional<std::string> config_path;
  std::optional<std::string> metrics;
  bool json = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string a = args[i];
    if ((a == "--config" || a == "--metrics") && i + 1 < args.size()) {
      (a == "--config" ? config_path : metrics) = args[++i];
    } else if (a == "--json") {
      json = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (command.empty() && a[0] != '-') {
      command = a;
    } else {
      std::cerr << "trafficctl: unexpected argument '" << a << "'\n" << kUsage;
      return 1;
    }
  }
  if (command != "tls") {
    std::cerr << (command.empty() ? std::string("trafficctl: a command is needed\n")
                                  : "trafficctl: unknown command '" + command + "'\n")
              << kUsage;
    return 1;
  }
  std::string address = "127.0.0.1:9100";
  constexpr const char* kDefaultConfig = "/etc/traffic-analyzer/traffic-analyzer.yaml";
  if (!config_path) {
    if (std::FILE* f = std::fopen(kDefaultConfig, "r")) {
      std::fclose(f);
      config_path = kDefaultConfig;
    }
  }
  if (config_path) {
    auto config = ta::agent::LoadConfig(*config_path);
    if (!config.ok()) {
      std::cerr << "trafficctl: " << config.error().message << "\n";
      return 1;
    }
    address = config->metrics.listen;
  }
  if (metrics) address = *metrics;
  return Tls(address, json);
}
