// Reading the Prometheus text exposition format (0.0.4) that the daemon serves on /metrics:
// what trafficctl uses until the control socket exists.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "agent/result.h"

namespace ta::agent::ctl {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Every sample of the families whose name is `name` (exactly). Comment and other lines are
// skipped; a malformed sample line of that family is an error naming the line.
Result<std::vector<Sample>> ParseSamples(std::string_view text, std::string_view name);

// GET http://ADDRESS/metrics (IPv4 "host:port") with a timeout; the body, or an error that says
// how to reach the daemon.
Result<std::string> FetchMetrics(const std::string& address, int timeout_ms = 3000);

}  // namespace ta::agent::ctl
