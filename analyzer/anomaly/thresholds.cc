#include "analyzer/anomaly/thresholds.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace ta::analyzer::anomaly {
namespace {

constexpr AdjustableParameter kParameters[] = {
    {DetectorKind::kFlood, "z_threshold", 1.0, 100.0,
     "Z-score of the window's request rate above which a flood fires"},
    {DetectorKind::kFlood, "min_rate", 0.0, 1e9, "request rate (req/s) below which nothing fires"},
    {DetectorKind::kErrorBudget, "max_ratio", 0.0001, 1.0,
     "5xx ratio over the rolling window above which the circuit rule fires"},
    {DetectorKind::kLatency, "z_threshold", 1.0, 100.0,
     "Z-score of the window's p99 above which latency degradation fires"},
    {DetectorKind::kExfiltration, "entropy_bits", 6.0, 8.0,
     "bits per byte above which a decoded body counts as random-looking"},
    {DetectorKind::kExfiltration, "size_jump", 1.0, 1000.0,
     "multiple of the route's usual bytes per client that random bodies must reach"},
    {DetectorKind::kSlowRate, "max_slow_connections", 1.0, 1e6,
     "slow connections one source may hold before slow-rate fires"},
    {DetectorKind::kBola, "max_distinct_objects", 2.0, 1e7,
     "distinct object IDs per client and route per BOLA window before BOLA may fire"},
};

bool SameTarget(const ThresholdOverride& o, DetectorKind detector, std::string_view parameter,
                uint16_t port, std::string_view route) {
  return o.detector == detector && o.parameter == parameter && o.port == port && o.route == route;
}

}  // namespace

std::span<const AdjustableParameter> AdjustableParameters() { return kParameters; }

std::optional<std::string> ThresholdTable::Set(const ThresholdOverride& value, uint64_t now_ns) {
  const AdjustableParameter* known = nullptr;
  std::string valid;
  for (const AdjustableParameter& p : kParameters) {
    if (p.detector != value.detector) continue;
    if (p.name == value.parameter) known = &p;
    valid += valid.empty() ? "" : ", ";
    valid += p.name;
  }
  if (known == nullptr) {
    return fmt::format("unknown parameter '{}' for detector {}; adjustable: {}", value.parameter,
                       DetectorName(value.detector), valid.empty() ? "none" : valid);
  }
  if (!std::isfinite(value.value) || value.value < known->min || value.value > known->max) {
    return fmt::format("{}.{} = {} is out of range; use a value in [{}, {}]",
                       DetectorName(value.detector), value.parameter, value.value, known->min,
                       known->max);
  }
  if (value.port == 0 && !value.route.empty()) {
    return fmt::format("route '{}' given without a port; a route override needs its port",
                       value.route);
  }
  if (value.expires_ns != 0 && value.expires_ns <= now_ns) {
    return fmt::format("the expiry of {}.{} is already in the past; give a future time",
                       DetectorName(value.detector), value.parameter);
  }
  for (ThresholdOverride& existing : overrides_) {
    if (SameTarget(existing, value.detector, value.parameter, value.port, value.route)) {
      existing = value;
      return std::nullopt;
    }
  }
  overrides_.push_back(value);
  return std::nullopt;
}

bool ThresholdTable::Clear(DetectorKind detector, std::string_view parameter, uint16_t port,
                           std::string_view route) {
  const auto it = std::find_if(overrides_.begin(), overrides_.end(), [&](const auto& o) {
    return SameTarget(o, detector, parameter, port, route);
  });
  if (it == overrides_.end()) return false;
  overrides_.erase(it);
  return true;
}

double ThresholdTable::Get(DetectorKind detector, std::string_view parameter, uint16_t port,
                           std::string_view route, uint64_t now_ns, double fallback) const {
  // Most specific wins: (port, route), then (port, all routes), then the node.
  int best_rank = -1;
  double best = fallback;
  for (const ThresholdOverride& o : overrides_) {
    if (o.detector != detector || o.parameter != parameter) continue;
    if (o.expires_ns != 0 && o.expires_ns <= now_ns) continue;
    int rank = -1;
    if (o.port == 0) {
      rank = 0;
    } else if (o.port == port && o.route.empty()) {
      rank = 1;
    } else if (o.port == port && o.route == route) {
      rank = 2;
    }
    if (rank > best_rank) {
      best_rank = rank;
      best = o.value;
    }
  }
  return best;
}

size_t ThresholdTable::Expire(uint64_t now_ns) {
  const auto before = overrides_.size();
  std::erase_if(overrides_,
                [&](const auto& o) { return o.expires_ns != 0 && o.expires_ns <= now_ns; });
  return before - overrides_.size();
}

}  // namespace ta::analyzer::anomaly
