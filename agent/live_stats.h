// Live per-route request rates, error rates and latency percentiles over the last few seconds:
// what `trafficctl top` shows and what the SYN throttle's controller measures on a port. Fed by
// the daemon's exchange tee on the main thread; memory is bounded (max_routes, fixed buckets per
// route), routes beyond the bound are counted in one overflow row per port.
//
// Latency percentiles come from a fixed log-scale histogram per second (64 bins, x1.25 apart
// from 50 us, so a reported p99 is within 12.5 % of the true value), not from a DDSketch: a
// live view of thousands of routes cannot afford 16 KiB per route-second.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "analyzer/http_exchange.h"

namespace ta::agent {

struct LiveRouteRow {
  uint16_t port = 0;
  std::string route;
  double rps = 0;
  double errors_per_s = 0;
  double error_ratio = 0;
  double p99_ms = 0;  // 0 when no request in the window
};

struct LivePortWindow {
  uint64_t requests = 0;
  uint64_t errors = 0;
  double p99_seconds = 0;
};

class LiveRouteStats {
 public:
  static constexpr uint32_t kSeconds = 10;  // the window `top` shows
  static constexpr size_t kBins = 64;
  static constexpr const char* kOverflowRoute = "_OTHER";

  explicit LiveRouteStats(size_t max_routes = 2000) : max_routes_(max_routes) {}

  // An exchange that ended at `now_s` (any monotonic second count). 5xx counts as an error.
  void Add(uint64_t now_s, const analyzer::HttpExchange& exchange);
  void AddRequest(uint64_t now_s, uint16_t port, const std::string& route, bool error,
                  double latency_seconds);

  // Rows over the last `seconds` (<= kSeconds) complete-or-current seconds ending at now_s.
  std::vector<LiveRouteRow> Top(uint64_t now_s, uint32_t seconds = kSeconds) const;
  // One port over the last `seconds`, every route merged.
  LivePortWindow Port(uint64_t now_s, uint16_t port, uint32_t seconds) const;

  // Upper edge of histogram bin i, in seconds (exposed for tests).
  static double BinUpperSeconds(size_t i);

 private:
  struct Second {
    uint64_t stamp = UINT64_MAX;  // which second this slot holds
    uint32_t requests = 0;
    uint32_t errors = 0;
    std::array<uint32_t, kBins> bins{};
  };
  using Ring = std::array<Second, kSeconds>;
  static size_t BinOf(double seconds);
  static double P99(const std::array<uint64_t, kBins>& bins, uint64_t total);

  size_t max_routes_;
  std::map<std::pair<uint16_t, std::string>, Ring> routes_;
};

}  // namespace ta::agent
