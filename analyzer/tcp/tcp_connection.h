// What the analyzer reports about every watched TCP connection, whatever it carries.
#pragma once

#include <array>
#include <cstdint>

#include "analyzer/events.h"

namespace ta::analyzer {

enum class TcpCloseReason : uint8_t {
  kFin,      // FIN seen from both sides
  kReset,    // RST seen
  kExpired,  // no event for idle_timeout_ns (the close was not seen)
  kEvicted,  // dropped at max_connections
};

constexpr const char* ToString(TcpCloseReason r) {
  switch (r) {
    case TcpCloseReason::kFin:
      return "fin";
    case TcpCloseReason::kReset:
      return "reset";
    case TcpCloseReason::kExpired:
      return "expired";
    case TcpCloseReason::kEvicted:
      return "evicted";
  }
  return "?";
}

struct TcpConnectionEnd {
  FlowKey flow;
  TcpCloseReason reason = TcpCloseReason::kFin;
  bool mid_stream = false;  // joined without seeing the SYN
  uint64_t open_ns = 0;     // first event of the connection
  uint64_t close_ns = 0;
  // Per Direction. From the kernel's close event for kFin/kReset; for kExpired/kEvicted, what
  // the analyzer itself counted from payload events (packets then count payload segments only).
  std::array<uint64_t, 2> bytes{};
  std::array<uint64_t, 2> packets{};
  std::array<uint64_t, 2> retransmits{};
};

}  // namespace ta::analyzer
