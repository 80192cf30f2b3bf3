#include "analyzer/anomaly/explain.h"

#include <algorithm>

namespace ta::analyzer::anomaly {

std::string DescribeKey(uint16_t port, std::string_view route) {
  if (port == 0) return "the node (all ports)";
  if (route.empty()) return fmt::format(":{} (all routes)", port);
  return fmt::format(":{} {}", port, route);
}

std::string DescribeSources(std::span<const ClientShare> clients, uint64_t total) {
  std::string out;
  const size_t n = std::min<size_t>(clients.size(), 3);
  for (size_t i = 0; i < n; ++i) {
    out += i == 0 ? "; top sources " : ", ";
    const double share = total == 0 ? 0.0
                                    : 100.0 * static_cast<double>(clients[i].count) /
                                          static_cast<double>(total);
    out += fmt::format("{} ({:.0f} %)", clients[i].client.ToString(), share);
  }
  return out;
}

std::string DescribeMinutes(uint32_t minutes) {
  if (minutes != 0 && minutes % (24 * 60) == 0) return fmt::format("{}d", minutes / (24 * 60));
  if (minutes != 0 && minutes % 60 == 0) return fmt::format("{}h", minutes / 60);
  return fmt::format("{}m", minutes);
}

std::string DescribeBytes(double bytes) {
  if (bytes >= 1024.0 * 1024.0) return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
  if (bytes >= 1024.0) return fmt::format("{:.0f} KiB", bytes / 1024.0);
  return fmt::format("{:.0f} B", bytes);
}

}  // namespace ta::analyzer::anomaly
