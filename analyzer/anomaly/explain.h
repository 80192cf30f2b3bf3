// Pieces of the one-line explanations that anomaly records carry, shared by the detectors so
// every explanation names keys, sources and sizes the same way.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "analyzer/anomaly/anomaly.h"
#include "fmt/format.h"

namespace ta::analyzer::anomaly {

// ":80 /api/users/{id}", ":80 (all routes)", or "the node (all ports)".
std::string DescribeKey(uint16_t port, std::string_view route);
// "; top sources 198.18.1.7 (35 %), 198.18.1.9 (20 %), 198.18.2.1 (5 %)" (up to three), or ""
// when there are none. Shares are of `total`.
std::string DescribeSources(std::span<const ClientShare> clients, uint64_t total);
// "5m", "1h", "6h", "3d" (as the SRE Workbook writes windows); other values in minutes.
std::string DescribeMinutes(uint32_t minutes);
// "3.1 MiB", "260 KiB", "812 B".
std::string DescribeBytes(double bytes);

}  // namespace ta::analyzer::anomaly
