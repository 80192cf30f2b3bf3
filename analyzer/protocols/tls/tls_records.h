// What the analyzer reports about TLS connections seen on the tc path: the client's offer from
// its ClientHello (the rest of the connection is encrypted there).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/events.h"

namespace ta::analyzer {

struct TlsClientHello {
  FlowKey flow;
  uint64_t ts_ns = 0;          // segment that completed the ClientHello
  std::string server_name;     // SNI, lower-cased; empty when absent or not recordable
  bool server_name_invalid = false;
  std::vector<std::string> alpn;  // offered, in the client's order
  std::string version;            // "1.3", "1.2", ... the highest version offered
};

}  // namespace ta::analyzer
