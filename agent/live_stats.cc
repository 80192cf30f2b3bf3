#include "agent/live_stats.h"

#include <algorithm>
#include <tuple>
#include <cmath>

namespace ta::agent {
namespace {

constexpr double kFirstUpperSeconds = 50e-6;
constexpr double kGrowth = 1.25;

}  // namespace

double LiveRouteStats::BinUpperSeconds(size_t i) {
  return kFirstUpperSeconds * std::pow(kGrowth, static_cast<double>(i));
}

size_t LiveRouteStats::BinOf(double seconds) {
  if (!(seconds > kFirstUpperSeconds)) return 0;  // also NaN and negatives
  double idx = std::ceil(std::log(seconds / kFirstUpperSeconds) / std::log(kGrowth));
  if (idx >= static_cast<double>(kBins - 1)) return kBins - 1;
  return static_cast<size_t>(idx);
}

void LiveRouteStats::Add(uint64_t now_s, const analyzer::HttpExchange& exchange) {
  if (exchange.role != analyzer::HttpRole::kServer) return;
  AddRequest(now_s, exchange.flow.server_port, exchange.route, exchange.status >= 500,
             exchange.DurationSeconds());
}

void LiveRouteStats::AddRequest(uint64_t now_s, uint16_t port, const std::string& route,
                                bool error, double latency_seconds) {
  auto key = std::make_pair(port, route);
  auto it = routes_.find(key);
  if (it == routes_.end()) {
    if (routes_.size() >= max_routes_) key.second = kOverflowRoute;
    it = routes_.try_emplace(std::move(key)).first;
  }
  Second& s = it->second[now_s % kSeconds];
  if (s.stamp != now_s) s = Second{.stamp = now_s};
  ++s.requests;
  if (error) ++s.errors;
  ++s.bins[BinOf(latency_seconds)];
}

double LiveRouteStats::P99(const std::array<uint64_t, kBins>& bins, uint64_t total) {
  if (total == 0) return 0;
  // The bin holding the request of rank ceil(0.99 * total): its upper edge bounds the p99.
  const auto rank = static_cast<uint64_t>(std::ceil(0.99 * static_cast<double>(total)));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBins; ++i) {
    seen += bins[i];
    if (seen >= rank) return BinUpperSeconds(i);
  }
  return BinUpperSeconds(kBins - 1);
}

std::vector<LiveRouteRow> LiveRouteStats::Top(uint64_t now_s, uint32_t seconds) const {
  seconds = std::clamp<uint32_t>(seconds, 1, kSeconds);
  std::vector<LiveRouteRow> rows;
  for (const auto& [key, ring] : routes_) {
    uint64_t requests = 0, errors = 0;
    std::array<uint64_t, kBins> bins{};
    for (const Second& s : ring) {
      if (s.stamp == UINT64_MAX || s.stamp > now_s || now_s - s.stamp >= seconds) continue;
      requests += s.requests;
      errors += s.errors;
      for (size_t i = 0; i < kBins; ++i) bins[i] += s.bins[i];
    }
    if (requests == 0) continue;
    const double span = static_cast<double>(seconds);
    rows.push_back({.port = key.first,
                    .route = key.second,
                    .rps = static_cast<double>(requests) / span,
                    .errors_per_s = static_cast<double>(errors) / span,
                    .error_ratio = static_cast<double>(errors) / static_cast<double>(requests),
                    .p99_ms = P99(bins, requests) * 1e3});
  }
  std::sort(rows.begin(), rows.end(), [](const LiveRouteRow& a, const LiveRouteRow& b) {
    if (a.rps != b.rps) return a.rps > b.rps;
    return std::tie(a.port, a.route) < std::tie(b.port, b.route);
  });
  return rows;
}

LivePortWindow LiveRouteStats::Port(uint64_t now_s, uint16_t port, uint32_t seconds) const {
  seconds = std::clamp<uint32_t>(seconds, 1, kSeconds);
  LivePortWindow w;
  std::array<uint64_t, kBins> bins{};
  for (auto it = routes_.lower_bound({port, std::string()});
       it != routes_.end() && it->first.first == port; ++it) {
    for (const Second& s : it->second) {
      if (s.stamp == UINT64_MAX || s.stamp > now_s || now_s - s.stamp >= seconds) continue;
      w.requests += s.requests;
      w.errors += s.errors;
      for (size_t i = 0; i < kBins; ++i) bins[i] += s.bins[i];
    }
  }
  w.p99_seconds = P99(bins, w.requests);
  return w;
}

}  // namespace ta::agent
