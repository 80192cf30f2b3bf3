#pragma once

#include <string>

#include "agent/result.h"

namespace ta::agent {

// Name of the interface that carries the IPv4 default route (lowest metric), else the IPv6 one,
// read from /proc/net/route and /proc/net/ipv6_route. `proc_root` is for tests.
Result<std::string> DefaultRouteInterface(const std::string& proc_root = "/proc");

}  // namespace ta::agent
