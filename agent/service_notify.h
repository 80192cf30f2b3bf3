// The daemon's side of systemd's service notification protocol (sd_notify(3), "Type=notify"):
// READY=1 once the programs are attached and /metrics serves, STATUS= lines an operator sees in
// `systemctl status`, WATCHDOG=1 from the main loop (WatchdogSec=), STOPPING=1 at shutdown.
//
// Written against the documented wire protocol rather than libsystemd: one datagram per
// message on the AF_UNIX socket named by $NOTIFY_SOCKET ("/path" or "@abstract"). Outside
// systemd (no $NOTIFY_SOCKET) every call is a no-op, so tests and foreground runs need nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/result.h"

namespace ta::agent {

class ServiceNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID. A malformed value is an error
  // naming the variable (systemd never writes one; a wrapper script might).
  static Result<ServiceNotifier> FromEnvironment();
  // For tests: an explicit socket path ("" = disabled) and watchdog interval.
  ServiceNotifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog);

  bool enabled() const { return !socket_path_.empty(); }
  // The interval systemd expects a WATCHDOG=1 within, when the watchdog is on for this process.
  std::optional<std::chrono::microseconds> watchdog() const { return watchdog_; }

  Result<void> Ready(std::string_view status);
  Result<void> Status(std::string_view status);
  Result<void> Stopping(std::string_view status);
  // Sends WATCHDOG=1 when half the watchdog interval has passed since the last one (systemd's
  // advice), so the main loop can call it on every turn. Returns whether it sent.
  Result<bool> FeedWatchdog(std::chrono::steady_clock::time_point now);

  // Sends one raw message ("KEY=VALUE\n..."); a no-op when disabled.
  Result<void> Send(std::string_view message);

 private:
  std::string socket_path_;  // "" when not under systemd; leading '@' = abstract namespace
  std::optional<std::chrono::microseconds> watchdog_;
  std::chrono::steady_clock::time_point last_feed_{};
};

}  // namespace ta::agent
