// Small text formats trafficctl's commands share.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace ta::agent::ctl {

// "3d 4h", "2h 5m", "7m 12s", "40s": the two largest units.
inline std::string FormatUptime(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  if (s >= 86400) return fmt::format("{}d {}h", s / 86400, s % 86400 / 3600);
  if (s >= 3600) return fmt::format("{}h {}m", s / 3600, s % 3600 / 60);
  if (s >= 60) return fmt::format("{}m {}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

}  // namespace ta::agent::ctl
