// The few socket operations the alert sinks need, with deadlines: a sink's worker thread may
// block on the network, but never longer than its configured timeouts, so Stop() can join it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "agent/result.h"

namespace ta::agent::alerts {

// Owns one file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// "host:port", "[v6]:port" or "v6-literal" forms are split here; host may be an IPv4 or IPv6
// literal or a name for getaddrinfo.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// Parses "HOST:PORT" / "[IPV6]:PORT"; without a port, `default_port` (0 = a port is required).
Result<HostPort> ParseHostPort(std::string_view text, uint16_t default_port = 0);

using Clock = std::chrono::steady_clock;

// Resolves `where` (getaddrinfo, IPv4 and IPv6) and connects a TCP socket to the first address
// that answers before `deadline`. Errors name the address and the errno.
Result<UniqueFd> ConnectTcp(const HostPort& where, Clock::time_point deadline);

// Resolves `where` and returns a UDP socket connect()ed to it (so send() reports ICMP errors
// such as "connection refused" on the next call).
Result<UniqueFd> ConnectUdp(const HostPort& where);

// Writes all of `data` to a stream socket before `deadline` (poll + send, MSG_NOSIGNAL).
Result<void> SendAll(int fd, std::string_view data, Clock::time_point deadline);

// Waits until `fd` is readable or `deadline` passes; false with errno ETIMEDOUT on timeout.
Result<void> WaitReadable(int fd, Clock::time_point deadline);

// "host:port" for messages; IPv6 literals in brackets.
std::string ToString(const HostPort& where);

}  // namespace ta::agent::alerts
