#include "agent/interfaces.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

namespace ta::agent {

Result<std::string> DefaultRouteInterface(const std::string& proc_root) {
  std::string best;
  uint64_t best_metric = std::numeric_limits<uint64_t>::max();
  // /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ... (hex, host order)
  if (std::ifstream v4(proc_root + "/net/route"); v4) {
    std::string line;
    std::getline(v4, line);  // header
    while (std::getline(v4, line)) {
      std::istringstream in(line);
      std::string iface, dest, gw, flags, refcnt, use, mask;
      uint64_t metric = 0;
      if (!(in >> iface >> dest >> gw >> flags >> refcnt >> use >> metric >> mask)) continue;
      if (dest == "00000000" && mask == "00000000" && metric < best_metric) {
        best = iface;
        best_metric = metric;
      }
    }
  }
  if (!best.empty()) return best;
  // /proc/net/ipv6_route: dest dest_len src src_len next_hop metric refcnt use flags iface
  if (std::ifstream v6(proc_root + "/net/ipv6_route"); v6) {
    std::string line;
    while (std::getline(v6, line)) {
      std::istringstream in(line);
      std::string dest, dest_len, src, src_len, next_hop, metric_hex, refcnt, use, flags, iface;
      if (!(in >> dest >> dest_len >> src >> src_len >> next_hop >> metric_hex >> refcnt >> use >>
            flags >> iface)) {
        continue;
      }
      uint64_t metric = std::stoull(metric_hex, nullptr, 16);
      if (dest == std::string(32, '0') && dest_len == "00" && iface != "lo" &&
          metric < best_metric) {
        best = iface;
        best_metric = metric;
      }
    }
  }
  if (best.empty()) {
    return Error{ENOENT, "no default route found to pick an interface from; set `interfaces` in "
                         "the config to the interfaces that carry API traffic"};
  }
  return best;
}

}  // namespace ta::agent
