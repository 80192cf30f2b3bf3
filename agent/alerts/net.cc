#include "agent/alerts/net.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <memory>

namespace ta::agent::alerts {
namespace {

int RemainingMillis(Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > 1'000'000 ? 1'000'000 : static_cast<int>(left);
}

// poll() for `events` until the deadline; EINTR restarts with the time left.
Result<void> WaitFor(int fd, short events, Clock::time_point deadline, const char* what) {
  while (true) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, RemainingMillis(deadline));
    if (n > 0) return {};
    if (n == 0) return Error{ETIMEDOUT, std::string("timed out ") + what};
    if (errno != EINTR) return ErrnoError(std::string("poll failed ") + what);
  }
}

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { ::freeaddrinfo(ai); }
};
using AddrInfoList = std::unique_ptr<addrinfo, AddrInfoDeleter>;

Result<AddrInfoList> Resolve(const HostPort& where, int socktype) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const std::string port = std::to_string(where.port);
  const int rc = ::getaddrinfo(where.host.c_str(), port.c_str(), &hints, &list);
  if (rc != 0) {
    return Error{0, "cannot resolve '" + where.host + "': " + ::gai_strerror(rc) +
                        "; check the host name or use an IP address"};
  }
  return AddrInfoList(list);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(std::exchange(other.fd_, -1));
  return *this;
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<HostPort> ParseHostPort(std::string_view text, uint16_t default_port) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Error{0, "'" + std::string(text) + "': missing ']' after the IPv6 address"};
    }
    out.host = std::string(text.substr(1, close - 1));
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Error{0, "'" + std::string(text) + "': expected ':PORT' after ']'"};
      }
      port = rest.substr(1);
    }
  } else if (text.find(':') != text.rfind(':')) {
    out.host = std::string(text);  // a bare IPv6 literal: no port
  } else {
    const size_t colon = text.find(':');
    out.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) port = text.substr(colon + 1);
  }
  if (out.host.empty()) return Error{0, "'" + std::string(text) + "': empty host"};
  if (port.empty()) {
    if (default_port == 0) {
      return Error{0, "'" + std::string(text) + "': a port is required (HOST:PORT)"};
    }
    out.port = default_port;
    return out;
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return Error{0, "'" + std::string(text) + "': port must be 1..65535"};
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

std::string ToString(const HostPort& where) {
  const bool v6 = where.host.find(':') != std::string::npos;
  return (v6 ? "[" + where.host + "]" : where.host) + ":" + std::to_string(where.port);
}

Result<UniqueFd> ConnectTcp(const HostPort& where, Clock::time_point deadline) {
  auto list = Resolve(where, SOCK_STREAM);
  if (!list.ok()) return list.error();
  Error last{0, "no address for " + ToString(where)};
  for (const addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd.valid()) {
      last = ErrnoError("socket() for " + ToString(where));
      continue;
    }
    // Non-blocking connect, then poll: connect(2) alone may block for minutes on a black hole.
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = ErrnoError("connecting to " + ToString(where));
        continue;
      }
      auto ready =
          WaitFor(fd.get(), POLLOUT, deadline, ("connecting to " + ToString(where)).c_str());
      if (!ready.ok()) {
        last = ready.error();
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = ErrnoError("connecting to " + ToString(where), err);
        continue;
      }
    }
    return fd;
  }
  return last;
}

Result<UniqueFd> ConnectUdp(const HostPort& where) {
  auto list = Resolve(where, SOCK_DGRAM);
  if (!list.ok()) return list.error();
  Error last{0, "no address for " + ToString(where)};
  for (const addrinfo* ai = list->get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd.valid() || ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last = ErrnoError("UDP socket to " + ToString(where));
      continue;
    }
    return fd;
  }
  return last;
}

Result<void> SendAll(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ErrnoError("send failed");
    auto ready = WaitFor(fd, POLLOUT, deadline, "sending");
    if (!ready.ok()) return ready.error();
  }
  return {};
}

Result<void> WaitReadable(int fd, Clock::time_point deadline) {
  return WaitFor(fd, POLLIN, deadline, "waiting for an answer");
}

}  // namespace ta::agent::alerts
