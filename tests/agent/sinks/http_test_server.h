// A small HTTP/1.1 server on 127.0.0.1 for the sink tests: it records each request (method,
// path, body) and answers with a canned response (status, body, optionally chunked). Used as
// a fake Alertmanager in the unit tests and as the webhook receiver of the real one.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace ta::agent::alerts::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string body;
};

struct CannedResponse {
  int status = 200;
  std::string body;
  bool chunked = false;
  bool never_answer = false;  // read the request, then hold the connection silently
  // Non-zero: the response is written in pieces cut at points drawn from this seed, each its
  // own send() (TCP_NODELAY, a short pause between), so the client must reassemble.
  uint32_t split_seed = 0;
};

class HttpTestServer {
 public:
  HttpTestServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ::bind(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
    ::listen(fd_, 64);
    socklen_t len = sizeof(sa);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~HttpTestServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void SetResponse(CannedResponse response) {
    std::lock_guard lock(mu_);
    response_ = std::move(response);
  }

  // Waits (bounded) until at least `n` requests have arrived; returns all recorded so far.
  std::vector<RecordedRequest> WaitForRequests(
      size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
    return requests_;
  }

  std::vector<RecordedRequest> Requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      Handle(conn);
      ::close(conn);
    }
  }

  // Reads one request (head + Content-Length body), records it, answers.
  void Handle(int conn) {
    std::string data;
    char buf[4096];
    size_t need = std::string::npos;
    size_t head_end = std::string::npos;
    while (!stop_) {
      if (head_end != std::string::npos && data.size() >= need) break;
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(conn, buf, sizeof(buf), 0);
      if (n <= 0) return;
      data.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos &&
          (head_end = data.find("\r\n\r\n")) != std::string::npos) {
        size_t length = 0;
        const size_t cl = data.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) length = std::stoul(data.substr(cl + 16));
        need = head_end + 4 + length;
      }
    }
    if (stop_) return;
    RecordedRequest request;
    request.method = data.substr(0, data.find(' '));
    const size_t path_start = data.find(' ') + 1;
    request.path = data.substr(path_start, data.find(' ', path_start) - path_start);
    request.body = data.substr(head_end + 4, need - head_end - 4);
    CannedResponse response;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(std::move(request));
      response = response_;
    }
    cv_.notify_all();
    if (response.never_answer) {
      while (!stop_) {
        pollfd p{conn, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0 && ::recv(conn, buf, sizeof(buf), 0) <= 0) return;
      }
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " Whatever\r\n";
    if (response.chunked) {
      out += "Transfer-Encoding: chunked\r\n\r\n";
      // Two chunks and a trailer, so the decoder's loop is exercised.
      const std::string a = response.body.substr(0, response.body.size() / 2);
      const std::string b = response.body.substr(a.size());
      char size[32];
      std::snprintf(size, sizeof(size), "%zx;ext=1\r\n", a.size());
      out += size + a + "\r\n";
      std::snprintf(size, sizeof(size), "%zX\r\n", b.size());
      out += size + b + "\r\n0\r\nX-Trailer: 1\r\n\r\n";
    } else {
      out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n" + response.body;
    }
    if (response.split_seed == 0) {
      ::send(conn, out.data(), out.size(), MSG_NOSIGNAL);
      return;
    }
    const int one = 1;
    ::setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::mt19937 rng(response.split_seed);
    size_t pos = 0;
    while (pos < out.size()) {
      const size_t piece = std::uniform_int_distribution<size_t>(1, 12)(rng);
      const size_t n = std::min(piece, out.size() - pos);
      ::send(conn, out.data() + pos, n, MSG_NOSIGNAL);
      pos += n;
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  CannedResponse response_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

}  // namespace ta::agent::alerts::testing
