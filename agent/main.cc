// traffic-analyzer: the per-node daemon, and its offline replay mode.
//
//   traffic-analyzer [--config FILE]                 run the daemon (foreground)
//   traffic-analyzer replay FILE [--config FILE]     analyse a pcap/pcapng, print the metrics
//   traffic-analyzer check-config [--config FILE]    validate a config file and exit
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <span>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/logging.h"
#include "agent/replay.h"

namespace {

constexpr const char* kUsage =
    "usage: traffic-analyzer [--config FILE]\n"
    "       traffic-analyzer replay CAPTURE.pcap[ng] [--config FILE]\n"
    "       traffic-analyzer check-config [--config FILE]\n"
    "       traffic-analyzer --version\n"
    "\n"
    "Without --config the built-in defaults apply (see config/traffic-analyzer.yaml).\n";

struct Args {
  std::string command = "run";
  std::string capture;  // replay
  std::optional<std::string> config_path;
};

std::optional<Args> ParseArgs(std::span<char*> argv) {
  Args args;
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (a == "--config" || a == "-c") {
      if (i + 1 >= argv.size()) {
        std::fprintf(stderr, "traffic-analyzer: %s needs a file name\n", a.c_str());
        return std::nullopt;
      }
      args.config_path = argv[++i];
    } else if (a.starts_with("--config=")) {
      args.config_path = a.substr(std::strlen("--config="));
    } else if (i == 1 && (a == "replay" || a == "check-config" || a == "run")) {
      args.command = a;
    } else if (args.command == "replay" && args.capture.empty() && !a.starts_with("-")) {
      args.capture = a;
    } else {
      std::fprintf(stderr, "traffic-analyzer: unexpected argument '%s'\n%s", a.c_str(), kUsage);
      return std::nullopt;
    }
  }
  if (args.command == "replay" && args.capture.empty()) {
    std::fprintf(stderr, "traffic-analyzer: replay needs a capture file\n%s", kUsage);
    return std::nullopt;
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  std::span<char*> argv_span(argv, static_cast<size_t>(argc));
  for (size_t i = 1; i < argv_span.size(); ++i) {
    std::string a = argv_span[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("traffic-analyzer %s\n", TA_VERSION);
      return 0;
    }
  }
  auto args = ParseArgs(argv_span);
  if (!args) return 64;  // EX_USAGE

  auto logger = spdlog::stderr_logger_mt("traffic-analyzer");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::set_default_logger(logger);

  ta::agent::Config config;
  if (args->config_path) {
    auto loaded = ta::agent::LoadConfig(*args->config_path);
    if (!loaded) {
      spdlog::critical("{}", loaded.error().ToString());
      return 78;  // EX_CONFIG
    }
    config = std::move(loaded.value());
  }
  ta::agent::SetupLogging(config.log.format, config.log.level);

  if (args->command == "check-config") {
    std::printf("%s: ok\n", args->config_path.value_or("(built-in defaults)").c_str());
    return 0;
  }
  if (args->command == "replay") {
    return ta::agent::RunReplay(config, args->capture, std::cout, std::cerr);
  }
  return ta::agent::RunDaemon(config);
}
