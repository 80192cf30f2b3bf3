#include "agent/control/control_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

namespace ta::agent::control {
namespace {

using Clock = std::chrono::steady_clock;

CallError Unreachable(std::string message) {
  return CallError{CallFailure::kUnreachable, std::move(message)};
}

int RemainingMs(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// What a reply line that is not {"ok": ...} means: most likely a daemon of another version.
CallError Garbage(std::string_view what) {
  return Unreachable("the daemon's answer is not understood (" + std::string(what) +
                     "): are trafficctl and traffic-analyzer the same version?");
}

}  // namespace

std::variant<std::unique_ptr<ControlClient>, CallError> ControlClient::Connect(
    const std::string& path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Unreachable(
        fmt::format("'{}' cannot be a control socket: a Unix socket path is 1 to "
                    "{} bytes",
                    path, sizeof(addr.sun_path) - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unreachable(std::string("cannot create a socket: ") + std::strerror(errno));
  // A non-blocking connect() on a Unix socket fails with EAGAIN while the daemon's backlog is
  // full (its event loop is busy or stuck); it is retried until the timeout.
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    close(fd);
    switch (err) {
      case ENOENT:
      case ECONNREFUSED:
        return Unreachable("traffic-analyzer is not running (no control socket at " + path +
                           "; start it with systemctl start traffic-analyzer, or pass --socket)");
      case EACCES:
      case EPERM:
        return Unreachable("permission denied on " + path +
                           ": run as root or as a member of the socket's group");
      case EAGAIN:
        return Unreachable(
            fmt::format("timed out after {} ms connecting to {}: the daemon "
                        "accepts no connection (is its event loop stuck? see "
                        "journalctl -u traffic-analyzer)",
                        timeout.count(), path));
      default:
        return Unreachable("cannot connect to " + path + ": " + std::strerror(err));
    }
  }
  return std::unique_ptr<ControlClient>(new ControlClient(fd, timeout));
}

ControlClient::ControlClient(int fd, std::chrono::milliseconds timeout)
    : fd_(fd), timeout_(timeout) {}

ControlClient::~ControlClient() { close(fd_); }

namespace {

// Writes all of `data` before `deadline`.
std::optional<CallError> WriteAll(int fd, std::string_view data, Clock::time_point deadline,
                                  std::chrono::milliseconds timeout) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Unreachable(std::string("cannot send the request: ") + std::strerror(errno) +
                         " (did the daemon stop?)");
    }
    pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
    const int remaining = RemainingMs(deadline);
    if (remaining == 0 || poll(&p, 1, remaining) == 0) {
      return Unreachable(
          fmt::format("timed out after {} ms sending the request: the daemon "
                      "does not read it (is its event loop stuck?)",
                      timeout.count()));
    }
  }
  return std::nullopt;
}

enum class ReadStatus { kLine, kClosed, kTimeout, kInterrupted, kError };

// Reads up to the next newline into `line` (without it). `deadline` nullopt waits forever;
// a signal (Ctrl-C, an alarm) returns kInterrupted.
ReadStatus ReadLine(int fd, std::string& buffer, std::string& line,
                    std::optional<Clock::time_point> deadline) {
  for (;;) {
    if (const size_t newline = buffer.find('\n'); newline != std::string::npos) {
      line.assign(buffer, 0, newline);
      buffer.erase(0, newline + 1);
      return ReadStatus::kLine;
    }
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    const int wait = deadline ? RemainingMs(*deadline) : -1;
    const int ready = poll(&p, 1, wait);
    if (ready < 0) return errno == EINTR ? ReadStatus::kInterrupted : ReadStatus::kError;
    if (ready == 0) return ReadStatus::kTimeout;
    char chunk[16 * 1024];
    const ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
    } else if (n == 0) {
      return ReadStatus::kClosed;
    } else if (errno == EINTR) {
      return ReadStatus::kInterrupted;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return ReadStatus::kError;
    }
  }
}

// The reply to one request: result, or the daemon's refusal.
std::variant<Json, CallError> ParseReply(const std::string& line) {
  Json reply = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded()) return Garbage("not JSON");
  if (!reply.is_object()) return Garbage("not an object");
  auto ok = reply.find("ok");
  if (ok == reply.end() || !ok->is_boolean()) return Garbage("no \"ok\"");
  if (!ok->get<bool>()) {
    auto error = reply.find("error");
    return CallError{CallFailure::kRefused, error != reply.end() && error->is_string()
                                                ? error->get<std::string>()
                                                : "the daemon refused the request"};
  }
  auto result = reply.find("result");
  return result == reply.end() ? Json() : *result;
}

// One request and its answer; `interrupted` tells a signal apart from other failures.
std::variant<Json, CallError> Exchange(int fd, std::string& buffer,
                                       std::chrono::milliseconds timeout, std::string_view cmd,
                                       const Json& args, bool& interrupted) {
  interrupted = false;
  const auto deadline = Clock::now() + timeout;
  const Json request = {{"cmd", cmd}, {"args", args}};
  const std::string line = request.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  if (auto error = WriteAll(fd, line, deadline, timeout)) return *error;
  std::string reply;
  switch (ReadLine(fd, buffer, reply, deadline)) {
    case ReadStatus::kLine:
      return ParseReply(reply);
    case ReadStatus::kClosed:
      return Unreachable(
          "the daemon closed the connection without answering (did it stop? "
          "see journalctl -u traffic-analyzer)");
    case ReadStatus::kTimeout:
      return Unreachable(
          fmt::format("no answer from the daemon within {} ms (is its event "
                      "loop stuck? see journalctl -u traffic-analyzer)",
                      timeout.count()));
    case ReadStatus::kInterrupted:
      interrupted = true;
      return Unreachable("interrupted while waiting for the daemon's answer");
    case ReadStatus::kError:
      break;
  }
  return Unreachable(std::string("cannot read the daemon's answer: ") + std::strerror(errno));
}

}  // namespace

std::variant<Json, CallError> ControlClient::Call(std::string_view cmd, const Json& args) {
  bool interrupted = false;
  return Exchange(fd_, buffer_, timeout_, cmd, args, interrupted);
}

// `on_event` receives each line after the subscription's acknowledgement as it is: an
// {"event": {...}} object, or {"lost": N} when the daemon dropped events this client was too
// slow to take. A signal (SIGINT, or the SIGALRM of trafficctl's --duration) ends the stream
// without an error: the caller installs the handler, so it decided to stop.
std::optional<CallError> ControlClient::Stream(std::string_view cmd, const Json& args,
                                               const std::function<bool(const Json&)>& on_event) {
  bool interrupted = false;
  auto first = Exchange(fd_, buffer_, timeout_, cmd, args, interrupted);
  if (auto* error = std::get_if<CallError>(&first)) {
    if (interrupted) return std::nullopt;  // stopped before the subscription was confirmed
    return *error;
  }
  std::string line;
  for (;;) {
    switch (ReadLine(fd_, buffer_, line, std::nullopt)) {
      case ReadStatus::kLine:
        break;
      case ReadStatus::kInterrupted:
        return std::nullopt;
      case ReadStatus::kClosed:
        return Unreachable(
            "the daemon closed the stream (did it stop or restart? see "
            "journalctl -u traffic-analyzer)");
      case ReadStatus::kTimeout:
      case ReadStatus::kError:
        return Unreachable(std::string("cannot read the stream: ") + std::strerror(errno));
    }
    Json message = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (message.is_discarded() || !message.is_object() ||
        (!message.contains("event") && !message.contains("lost"))) {
      return Garbage("a stream line that is neither {\"event\": ...} nor {\"lost\": N}");
    }
    if (!on_event(message)) return std::nullopt;
  }
}

}  // namespace ta::agent::control
