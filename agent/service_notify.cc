#include "agent/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace ta::agent {
namespace {

// A STATUS= value is one line: a newline would start another (unintended) assignment.
std::string OneLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

Result<uint64_t> ParseUnsigned(const char* name, const char* text) {
  uint64_t value = 0;
  const char* end = text + std::strlen(text);
  auto [ptr, ec] = std::from_chars(text, end, value);
  if (ec != std::errc{} || ptr != end || text == end) {
    return Error{EINVAL, fmt::format("environment variable {} is '{}', not a number; it is set "
                                     "by systemd (WatchdogSec=): unset it when running by hand",
                                     name, text)};
  }
  return value;
}

}  // namespace

Result<ServiceNotifier> ServiceNotifier::FromEnvironment() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  std::string path = socket != nullptr ? socket : "";
  if (!path.empty() && path.front() != '/' && path.front() != '@') {
    return Error{EINVAL, fmt::format("environment variable NOTIFY_SOCKET is '{}'; expected an "
                                     "absolute socket path or @abstract name (it is set by "
                                     "systemd for Type=notify units)",
                                     path)};
  }
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return Error{ENAMETOOLONG, fmt::format("NOTIFY_SOCKET '{}' is longer than a socket path "
                                           "can be",
                                           path)};
  }
  std::optional<std::chrono::microseconds> watchdog;
  if (const char* usec = std::getenv("WATCHDOG_USEC"); usec != nullptr && *usec != '\0') {
    auto value = ParseUnsigned("WATCHDOG_USEC", usec);
    if (!value) return value.error();
    bool for_us = true;
    // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the
    // environment must not feed its parent's watchdog.
    if (const char* pid = std::getenv("WATCHDOG_PID"); pid != nullptr && *pid != '\0') {
      auto parsed = ParseUnsigned("WATCHDOG_PID", pid);
      if (!parsed) return parsed.error();
      for_us = *parsed == static_cast<uint64_t>(::getpid());
    }
    if (for_us && *value > 0) watchdog = std::chrono::microseconds(*value);
  }
  return ServiceNotifier(std::move(path), watchdog);
}

ServiceNotifier::ServiceNotifier(std::string socket_path,
                                 std::optional<std::chrono::microseconds> watchdog)
    : socket_path_(std::move(socket_path)), watchdog_(watchdog) {}

Result<void> ServiceNotifier::Send(std::string_view message) {
  if (!enabled()) return {};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  const auto addr_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("cannot create the systemd notification socket");
  const ssize_t sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                                reinterpret_cast<const sockaddr*>(&addr), addr_len);
  const int err = errno;
  ::close(fd);
  if (sent < 0) {
    return ErrnoError(fmt::format("cannot notify systemd on NOTIFY_SOCKET {}", socket_path_), err);
  }
  return {};
}

Result<void> ServiceNotifier::Ready(std::string_view status) {
  return Send(fmt::format("READY=1\nSTATUS={}\nMAINPID={}", OneLine(status), ::getpid()));
}

Result<void> ServiceNotifier::Status(std::string_view status) {
  return Send("STATUS=" + OneLine(status));
}

Result<void> ServiceNotifier::Stopping(std::string_view status) {
  return Send("STOPPING=1\nSTATUS=" + OneLine(status));
}

Result<bool> ServiceNotifier::FeedWatchdog(std::chrono::steady_clock::time_point now) {
  if (!enabled() || !watchdog_) return false;
  if (last_feed_ != std::chrono::steady_clock::time_point{} && now - last_feed_ < *watchdog_ / 2) {
    return false;
  }
  if (auto sent = Send("WATCHDOG=1"); !sent) return sent.error();
  last_feed_ = now;
  return true;
}

}  // namespace ta::agent
