// Runtime threshold overrides: an operator widens a detector's threshold for a route, a port or
// the whole node, for a while ("flood z_threshold 5.0 on :443 /api/launch for 2 h during the
// launch"), through the control socket (issue 6) or the evaluation harness. Overrides expire by
// themselves so a forgotten one does not silence a detector for ever.
//
// Lookup precedence for (detector, parameter, port, route) at wall time `now`: an unexpired
// override on exactly (port, route), then on (port, all routes), then on the whole node
// (port 0), then the configured default the detector passes in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/anomaly/anomaly.h"

namespace ta::analyzer::anomaly {

struct ThresholdOverride {
  DetectorKind detector = DetectorKind::kFlood;
  std::string parameter;  // e.g. "z_threshold"; see AdjustableParameter
  uint16_t port = 0;      // 0 = every port
  std::string route;      // "" = every route of the port
  double value = 0.0;
  uint64_t expires_ns = 0;  // wall clock; 0 = never
  std::string reason;       // free text for `trafficctl thresholds get`
};

// A parameter that may be overridden at runtime, with its accepted range.
struct AdjustableParameter {
  DetectorKind detector;
  std::string_view name;
  double min;
  double max;
  std::string_view help;
};

// Every adjustable parameter (the list is fixed at build time).
std::span<const AdjustableParameter> AdjustableParameters();

class ThresholdTable {
 public:
  // Adds or replaces the override on the same (detector, parameter, port, route). Returns an
  // error that names what is wrong (unknown parameter with the valid names, value out of range,
  // expiry already past) and changes nothing on error.
  std::optional<std::string> Set(const ThresholdOverride& override_value, uint64_t now_ns);
  // Removes the override on exactly (detector, parameter, port, route); false when none.
  bool Clear(DetectorKind detector, std::string_view parameter, uint16_t port,
             std::string_view route);

  // The value in force (see precedence above); `fallback` is the configured default.
  double Get(DetectorKind detector, std::string_view parameter, uint16_t port,
             std::string_view route, uint64_t now_ns, double fallback) const;

  // Drops expired overrides; returns how many.
  size_t Expire(uint64_t now_ns);
  const std::vector<ThresholdOverride>& overrides() const { return overrides_; }

 private:
  std::vector<ThresholdOverride> overrides_;
};

}  // namespace ta::analyzer::anomaly
