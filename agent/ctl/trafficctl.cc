// trafficctl: the operator's CLI. Until the daemon's control socket exists (rules, thresholds,
// live views), it reads what the daemon exports on /metrics.
//
//   trafficctl tls [--config FILE] [--metrics HOST:PORT] [--json]
//       processes that use TLS and whether the OpenSSL uprobes see their plaintext.
//       Exit status: 0 every process is covered, 3 some are not, 2 the daemon cannot be
//       reached, 1 usage or other errors.
//   trafficctl anomalies [--config FILE] [--metrics HOST:PORT] [--json]
//       per detector: warm-up (share of baselines learned), anomalies firing now, fired since
//       start, and how close the last window came to the threshold. Exit status: 0 nothing
//       firing, 3 something firing, 2 the daemon cannot be reached, 1 usage or other errors.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "agent/alerts/text.h"
#include "agent/config.h"
#include "agent/ctl/exposition.h"

namespace {

constexpr const char* kUsage =
    "usage: trafficctl tls|anomalies [--config FILE] [--metrics HOST:PORT] [--json]\n"
    "\n"
    "  tls        processes that use TLS and whether their plaintext is seen (the daemon's\n"
    "             traffic_analyzer_tls_hooked metric); exit 0 all covered, 3 some not, 2 daemon\n"
    "             unreachable\n"
    "  anomalies  per detector: warm-up (baselines learned), firing now, fired, last score /\n"
    "             threshold; exit 0 nothing firing, 3 something firing, 2 daemon unreachable.\n"
    "             The anomalies themselves, with explanations, are in the alert sinks\n"
    "             (docs/alerts.md)\n"
    "\n"
    "The daemon is found at metrics.listen of --config (default\n"
    "/etc/traffic-analyzer/traffic-analyzer.yaml if it exists, else 127.0.0.1:9100).\n";

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

// Sums samples of `family` by their `detector` label.
ta::Result<std::map<std::string, double>> ByDetector(const std::string& body,
                                                            std::string_view family) {
  auto samples = ta::agent::ctl::ParseSamples(body, family);
  if (!samples.ok()) return samples.error();
  std::map<std::string, double> out;
  for (const auto& s : *samples) {
    auto it = s.labels.find("detector");
    if (it == s.labels.end()) {
      return ta::Error{0, std::string(family) +
                                     " has no 'detector' label: is the daemon the same version "
                                     "as trafficctl?"};
    }
    out[it->second] += s.value;
  }
  return out;
}

int Anomalies(const std::string& address, bool json) {
  auto body = ta::agent::ctl::FetchMetrics(address);
  if (!body.ok()) {
    std::cerr << "trafficctl: " << body.error().message << "\n";
    return 2;
  }
  std::map<std::string, std::map<std::string, double>> columns;
  for (const char* family :
       {"traffic_analyzer_anomaly_baseline_learned_ratio", "traffic_analyzer_anomalies_active",
        "traffic_analyzer_anomalies_total", "traffic_analyzer_anomaly_score_ratio"}) {
    auto values = ByDetector(*body, family);
    if (!values.ok()) {
      std::cerr << "trafficctl: " << values.error().message << "\n";
      return 1;
    }
    columns[family] = std::move(*values);
  }
  const auto& learned = columns["traffic_analyzer_anomaly_baseline_learned_ratio"];
  if (learned.empty()) {
    std::cerr << "trafficctl: the daemon exports no anomaly metrics: is anomaly.enabled false, "
                 "or is it an older version?\n";
    return 1;
  }
  double firing = 0;
  if (json) std::cout << "[";
  else
    std::cout << fmt::format("{:<14} {:>8} {:>7} {:>7} {:>13}\n", "DETECTOR", "LEARNED",
                             "FIRING", "FIRED", "SCORE/THRESH");
  bool first = true;
  for (const auto& [detector, ratio] : learned) {
    const double active = columns["traffic_analyzer_anomalies_active"][detector];
    const double fired = columns["traffic_analyzer_anomalies_total"][detector];
    const double score = columns["traffic_analyzer_anomaly_score_ratio"][detector];
    firing += active;
    if (json) {
      std::cout << (first ? "" : ",\n ") << "{\"detector\": " << JsonString(detector)
                << fmt::format(", \"learned\": {:.4f}, \"firing\": {:.0f}, \"fired\": {:.0f}, "
                               "\"score_ratio\": {:.4f}}}",
                               ratio, active, fired, score);
    } else {
      std::cout << fmt::format("{:<14} {:>7.0f}% {:>7.0f} {:>7.0f} {:>13.2f}\n", detector,
                               100 * ratio, active, fired, score);
    }
    first = false;
  }
  if (json) std::cout << "]\n";
  return firing > 0 ? 3 : 0;
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
  if (command != "tls" && command != "anomalies") {
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
  return command == "tls" ? Tls(address, json) : Anomalies(address, json);
}
