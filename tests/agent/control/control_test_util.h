// Shared by the control socket tests: a temporary directory, a fake handler, a raw client that
// drives a server's Poll() from the test thread, and a server running on its own thread (for
// ControlClient and trafficctl, which block).
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/control/control_server.h"

namespace ta::agent::control::testing {

// mkdtemp, searchable by everyone (the EACCES test connects as another user); removed with its
// contents.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/ta-control-XXXXXX";
    const char* made = mkdtemp(name);
    if (made == nullptr) std::abort();
    path_ = made;
    chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Answers from a table (cmd -> result or error); anything else echoes {"cmd", "args"}. Records
// every call. Thread-safe: trafficctl's tests run the server on another thread.
class FakeHandler : public ControlHandler {
 public:
  Result<Json> Handle(std::string_view cmd, const Json& args) override {
    std::lock_guard lock(mu_);
    calls_.emplace_back(std::string(cmd), args);
    if (cmd == "boom") throw std::runtime_error("handler bug");
    if (auto it = errors_.find(std::string(cmd)); it != errors_.end()) {
      return Error{0, it->second};
    }
    if (auto it = results_.find(std::string(cmd)); it != results_.end()) return it->second;
    return Json{{"cmd", cmd}, {"args", args}};
  }

  void SetResult(const std::string& cmd, Json result) {
    std::lock_guard lock(mu_);
    results_[cmd] = std::move(result);
  }
  void SetError(const std::string& cmd, std::string message) {
    std::lock_guard lock(mu_);
    errors_[cmd] = std::move(message);
  }
  std::vector<std::pair<std::string, Json>> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  void ClearCalls() {
    std::lock_guard lock(mu_);
    calls_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, Json> results_;
  std::map<std::string, std::string> errors_;
  std::vector<std::pair<std::string, Json>> calls_;
};

inline int ConnectUnix(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A client socket whose server is polled by the test itself: every wait polls the server, so
// nothing depends on timing (the bound only ends a test that would otherwise hang).
class RawClient {
 public:
  RawClient(ControlServer& server, ControlHandler& handler)
      : server_(server), handler_(handler), fd_(ConnectUnix(server.path())) {
    EXPECT_GE(fd_, 0) << "connect " << server.path() << ": " << std::strerror(errno);
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // The next line (without its newline), polling the server meanwhile; nullopt when the
  // connection ends first.
  std::optional<std::string> ReadLine() {
    for (int i = 0; i < 5000; ++i) {
      if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      if (closed_) return std::nullopt;
      server_.Poll(handler_);
      char chunk[65536];
      const ssize_t n = recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n > 0) {
        buffer_.append(chunk, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        closed_ = true;  // EOF, or ECONNRESET after unread input
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ADD_FAILURE() << "no line from the server";
    return std::nullopt;
  }

  // Whether the server closes the connection (after any lines, which are discarded).
  bool ServerCloses() {
    while (ReadLine()) {
    }
    return closed_;
  }

  // Whether nothing more arrives within a few polls (no data was buffered for us).
  bool NothingPending() {
    for (int i = 0; i < 5; ++i) server_.Poll(handler_);
    char c;
    return buffer_.empty() && recv(fd_, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 && errno == EAGAIN;
  }

  int fd() const { return fd_; }

 private:
  ControlServer& server_;
  ControlHandler& handler_;
  int fd_;
  std::string buffer_;
  bool closed_ = false;
};

// A server polled on its own thread every millisecond, as the daemon's loop would; events given
// to PublishOnceObserved() are published as soon as someone subscribes.
class ServerThread {
 public:
  ServerThread(std::unique_ptr<ControlServer> server, ControlHandler& handler)
      : server_(std::move(server)), handler_(handler), thread_([this] { Loop(); }) {}
  ~ServerThread() {
    stop_ = true;
    thread_.join();
  }

  void PublishOnceObserved(std::vector<ObservedRequest> events) {
    std::lock_guard lock(mu_);
    pending_ = std::move(events);
  }
  bool HasObservers() {
    std::lock_guard lock(mu_);
    return server_->HasObservers();
  }
  ControlServerStats stats() {
    std::lock_guard lock(mu_);
    return server_->stats();
  }
  const std::string& path() const { return server_->path(); }

 private:
  void Loop() {
    while (!stop_) {
      {
        std::lock_guard lock(mu_);
        server_->Poll(handler_);
        if (!pending_.empty() && server_->HasObservers()) {
          for (const auto& e : pending_) server_->Publish(e);
          pending_.clear();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  std::mutex mu_;
  std::unique_ptr<ControlServer> server_;
  ControlHandler& handler_;
  std::vector<ObservedRequest> pending_;
  std::atomic<bool> stop_ = false;
  std::thread thread_;
};

inline std::unique_ptr<ControlServer> MustListen(const ControlServerOptions& options) {
  auto server = ControlServer::Listen(options);
  EXPECT_TRUE(server.ok()) << (server.ok() ? "" : server.error().ToString());
  if (!server.ok()) return nullptr;
  return std::move(*server);
}

inline ObservedRequest SampleRequest() {
  ObservedRequest r;
  r.ts_unix_ns = 1795564801123456789;  // 2026-11-25T00:00:01.123Z
  r.protocol = "http1";
  r.method = "GET";
  r.route = "/users/{id}";
  r.path = "/users/42";
  r.status = 200;
  r.client = "198.18.0.2:4312";
  r.server = "198.18.0.1:80";
  r.port = 80;
  r.latency_ms = 3.125;
  r.request_bytes = 120;
  r.response_bytes = 2048;
  return r;
}

}  // namespace ta::agent::control::testing
