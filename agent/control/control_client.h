// trafficctl's side of the control socket (docs/control.md).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <optional>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "agent/result.h"

namespace ta::agent::control {

using Json = nlohmann::json;

// Why a call failed, for trafficctl's exit code: the daemon refused the request (kRefused, exit
// 1) or it could not be reached at all (kUnreachable, exit 4: not running, permission denied,
// timed out, protocol garbage).
enum class CallFailure { kRefused, kUnreachable };

struct CallError {
  CallFailure failure = CallFailure::kUnreachable;
  std::string message;  // e.g. "cannot connect to /run/traffic-analyzer/control.sock: permission
                        // denied (run as root or as a member of the socket's group)"
};

class ControlClient {
 public:
  // Errors are CallFailure::kUnreachable with the fix in the message.
  static std::variant<std::unique_ptr<ControlClient>, CallError> Connect(
      const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~ControlClient();

  // One request, one answer: the "result" value, or the daemon's error.
  std::variant<Json, CallError> Call(std::string_view cmd, const Json& args);
  // A stream (observe): sends the request, then calls `on_event` with each line, an
  // {"event": ...} or a {"lost": N} object, until `on_event` returns false, the daemon closes,
  // or a signal interrupts the wait (Ctrl-C, --duration's timer). Returns the error that ended
  // it, if any.
  std::optional<CallError> Stream(std::string_view cmd, const Json& args,
                                  const std::function<bool(const Json&)>& on_event);

 private:
  explicit ControlClient(int fd, std::chrono::milliseconds timeout);
  int fd_;
  std::chrono::milliseconds timeout_;
  std::string buffer_;
};

}  // namespace ta::agent::control
