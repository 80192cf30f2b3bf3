// What the analyzer reports for each completed gRPC call (an HTTP/2 stream whose request has
// content-type application/grpc*). The agent turns it into rpc_server_* metrics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "analyzer/events.h"

namespace ta::analyzer {

struct GrpcCall {
  FlowKey flow;
  bool client_side = false;  // seen from the calling process (TLS uprobes on a client)
  // From :path "/package.Service/Method". A path that is not of that form, or one whose port's
  // route table overflowed (routes.max_per_port), reports "_OTHER" for both, so a client cannot
  // inflate metric cardinality.
  std::string service;
  std::string method;
  // grpc-status from the trailers (or from a trailers-only response). Empty when the call ended
  // without one: stream reset, connection closed early, or a header block we could not decode.
  std::optional<uint32_t> status;
  std::string scheme;     // "http" (tc path) or "https" (TLS uprobes)
  uint64_t start_ns = 0;  // segment holding the request HEADERS
  uint64_t end_ns = 0;    // segment holding the frame that ended the stream
  // Length-prefixed gRPC messages (gRPC over HTTP/2 spec) seen in each direction.
  uint64_t request_messages = 0;
  uint64_t response_messages = 0;

  double DurationSeconds() const {
    return end_ns > start_ns ? static_cast<double>(end_ns - start_ns) / 1e9 : 0.0;
  }
};

}  // namespace ta::analyzer
