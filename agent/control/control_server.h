// The daemon's control socket: a Unix stream socket (path from control.socket, mode 0660, group
// from control.group) speaking newline-delimited JSON, documented in docs/control.md. It is the
// only way to change rules or thresholds at runtime; file permissions decide who may connect
// (root and the socket's group).
//
// Everything runs on the daemon's main thread: Poll() is called from the event loop, never
// blocks, and hands each complete request line to the ControlHandler. A slow or stuck client
// costs bounded memory (per-client input and output limits) and is disconnected, never waited
// for.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/result.h"

namespace ta::agent::control {

using Json = nlohmann::json;

// One request: {"cmd": "rules.add", "args": {...}}. A handler returns the "result" value or an
// Error whose message goes back as {"ok": false, "error": message}.
class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  virtual Result<Json> Handle(std::string_view cmd, const Json& args) = 0;
};

// One HTTP-level request the analyzer completed, as `trafficctl observe` shows it.
struct ObservedRequest {
  int64_t ts_unix_ns = 0;
  std::string protocol;  // "http1", "http2", "grpc"
  std::string method;
  std::string route;     // templated route, e.g. "/users/{id}"
  std::string path;
  int status = 0;        // HTTP status (gRPC: the HTTP status; grpc_status separately)
  int grpc_status = -1;  // -1 when not gRPC
  std::string client;    // "198.18.0.2:41234"
  std::string server;    // "198.18.0.1:80"
  uint16_t port = 0;     // server port
  double latency_ms = 0;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
};

// Filters of an observe subscription, from the request's args; every given field must match.
//   route: exact templated route or a prefix ending in '*'; status: "5xx", "4xx", or "404";
//   client: an address or CIDR (matches the client's address); protocol: as above; port.
struct ObserveFilter {
  std::string route;
  std::string status;
  std::string client;
  std::string protocol;
  uint16_t port = 0;

  // Parses args; an error names the bad field and the accepted forms.
  static Result<ObserveFilter> FromJson(const Json& args);
  bool Matches(const ObservedRequest& request) const;
};

Json ToJson(const ObservedRequest& request);

struct ControlServerOptions {
  std::string path = "/run/traffic-analyzer/control.sock";
  std::string group;  // "" = keep the daemon's group
  uint32_t mode = 0660;
  size_t max_clients = 32;
  size_t max_request_bytes = 64 * 1024;
  size_t max_output_bytes = 1024 * 1024;  // per client; beyond it observe events are dropped
};

struct ControlServerStats {
  uint64_t requests = 0;
  uint64_t errors = 0;             // requests answered with ok=false (incl. malformed JSON)
  uint64_t clients_refused = 0;    // over max_clients
  uint64_t observe_dropped = 0;    // events not sent to a slow observer
};

class ControlServer {
 public:
  // Creates the socket's directory if missing (0750), removes a stale socket file (only if no
  // daemon answers on it: a second daemon is refused), binds, sets mode and group. Errors name
  // the path and the fix (e.g. "group 'traffic' does not exist: create it or set control.group").
  static Result<std::unique_ptr<ControlServer>> Listen(const ControlServerOptions& options);
  ~ControlServer();  // closes clients, unlinks the socket

  // Accepts, reads, answers, flushes. Never blocks.
  void Poll(ControlHandler& handler);
  // Observe: sends `request` to every subscriber whose filter matches. Cheap when none.
  bool HasObservers() const;
  void Publish(const ObservedRequest& request);

  const ControlServerStats& stats() const;
  const std::string& path() const;

 private:
  struct Impl;
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ta::agent::control
