#include "agent/control/control_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/alerts/text.h"

namespace ta::agent::control {
namespace {

// Bytes read from one client per Poll(): a client that pipelines a flood of requests cannot
// starve the event loop (the rest waits in its socket buffer for the next Poll()).
constexpr size_t kReadBudgetPerPoll = 256 * 1024;
constexpr size_t kReadChunk = 16 * 1024;
constexpr int kListenBacklog = 16;

// Serializes a reply. Strings the handler returns may carry bytes that are not UTF-8 (a rule's
// reason, a route seen on the wire): replacing them with U+FFFD keeps dump() from throwing.
std::string Line(const Json& value) {
  std::string out = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  out.push_back('\n');
  return out;
}

// Replies are written with "ok" first (Json sorts keys), so a human reading socat's output
// sees the verdict before the payload.
std::string OkLine(const Json& result) {
  std::string line = Line(result);
  line.insert(0, "{\"ok\":true,\"result\":");
  line.insert(line.size() - 1, "}");
  return line;
}

std::string ErrorLine(std::string_view message) {
  std::string line = Line(Json(message));
  line.insert(0, "{\"ok\":false,\"error\":");
  line.insert(line.size() - 1, "}");
  return line;
}

// An IPv4 or IPv6 address in network order; IPv4-mapped IPv6 addresses are folded to IPv4 so
// that a dual-stack listener's "::ffff:198.18.0.2" matches a "198.18.0.0/15" filter.
struct Address {
  int family = 0;
  std::array<uint8_t, 16> bytes{};
};

std::optional<Address> ParseAddress(const std::string& text) {
  Address a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    // RFC 4291 section 2.5.5.2: ::ffff:a.b.c.d.
    static constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(kMapped.begin(), kMapped.end(), a.bytes.begin())) {
      std::memmove(a.bytes.data(), a.bytes.data() + 12, 4);
      std::fill(a.bytes.begin() + 4, a.bytes.end(), uint8_t{0});
      a.family = AF_INET;
    }
    return a;
  }
  return std::nullopt;
}

struct Prefix {
  Address address;
  int length = 0;
};

// "198.18.0.0/15", "2001:db8::/32" or a bare address (a host prefix). Host bits beyond the
// prefix are ignored: this is a display filter, not an enforcement rule.
std::optional<Prefix> ParsePrefix(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = ParseAddress(std::string(text.substr(0, slash)));
  if (!address) return std::nullopt;
  const int max_length = address->family == AF_INET ? 32 : 128;
  int length = max_length;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    length = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      length = length * 10 + (c - '0');
    }
    // A mapped address folded to IPv4 keeps its IPv6 prefix length's meaning.
    if (address->family == AF_INET && text.find(':') != std::string_view::npos) {
      if (length < 96) return std::nullopt;
      length -= 96;
    }
    if (length > max_length) return std::nullopt;
  }
  return Prefix{*address, length};
}

bool PrefixContains(const Prefix& prefix, const Address& address) {
  if (prefix.address.family != address.family) return false;
  const auto full_bytes = static_cast<size_t>(prefix.length / 8);
  if (!std::equal(prefix.address.bytes.begin(),
                  prefix.address.bytes.begin() + static_cast<std::ptrdiff_t>(full_bytes),
                  address.bytes.begin())) {
    return false;
  }
  const int rest = prefix.length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (prefix.address.bytes[full_bytes] & mask) == (address.bytes[full_bytes] & mask);
}

// The address part of "198.18.0.2:41234", "[2001:db8::2]:41234", or a bare address.
std::string HostOf(const std::string& endpoint) {
  if (!endpoint.empty() && endpoint.front() == '[') {
    const size_t close = endpoint.find(']');
    return close == std::string::npos ? endpoint : endpoint.substr(1, close - 1);
  }
  const size_t colon = endpoint.find(':');
  if (colon != std::string::npos && endpoint.find(':', colon + 1) == std::string::npos) {
    return endpoint.substr(0, colon);
  }
  return endpoint;  // no port, or an unbracketed IPv6 address
}

bool IsStatusClass(std::string_view s) {
  return s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s[1] == 'x' && s[2] == 'x';
}

bool IsStatusCode(std::string_view s) {
  return s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
         s[2] <= '9';
}

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// mkdir -p with mode 0750 for each directory it creates (existing ones are left as they are:
// /run belongs to the system).
Result<void> MakeDirectories(const std::string& dir) {
  if (dir.empty() || dir == "/") return {};
  struct stat st {};
  if (stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return Error{0, dir +
                          " exists and is not a directory: set control.socket to a path in a "
                          "directory"};
    }
    return {};
  }
  if (auto parent = MakeDirectories(ParentOf(dir)); !parent.ok()) return parent;
  if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create the control socket's directory " + dir);
  }
  // mkdir's mode is filtered by the umask; the directory's mode is part of the access policy.
  if (chmod(dir.c_str(), 0750) != 0) return ErrnoError("cannot chmod 0750 " + dir);
  return {};
}

Result<sockaddr_un> UnixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return Error{0, fmt::format("control socket path '{}' is {} bytes; a Unix socket path must "
                                "be 1 to {} bytes: set control.socket to a shorter path",
                                path, path.size(), sizeof(addr.sun_path) - 1)};
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Whether a daemon answers on the socket at `path` (connect() succeeds, or its backlog is full).
bool SomeoneListens(const sockaddr_un& addr) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  const int rc = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const bool live = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  close(fd);
  return live;
}

}  // namespace

Result<ObserveFilter> ObserveFilter::FromJson(const Json& args) {
  ObserveFilter filter;
  if (args.is_null()) return filter;
  if (!args.is_object()) {
    return Error{
        0, std::string("observe: args must be an object of filters, got ") + args.type_name()};
  }
  auto string_field = [](const std::string& key, const Json& value) -> Result<std::string> {
    if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
      return Error{0, "observe filter '" + key + "' must be a non-empty string"};
    }
    return value.get<std::string>();
  };
  for (const auto& [key, value] : args.items()) {
    if (key == "route") {
      auto route = string_field(key, value);
      if (!route.ok()) return route.error();
      filter.route = std::move(*route);
    } else if (key == "status") {
      std::string status;
      if (value.is_number_integer()) {
        status = std::to_string(value.get<int64_t>());
      } else if (value.is_string()) {
        status = value.get<std::string>();
      }
      if (!IsStatusClass(status) && !IsStatusCode(status)) {
        return Error{0,
                     "observe filter 'status' must be a class (2xx, 3xx, 4xx, 5xx) or a "
                     "3-digit code like 404, got " +
                         value.dump(-1, ' ', false, Json::error_handler_t::replace)};
      }
      filter.status = std::move(status);
    } else if (key == "client") {
      auto client = string_field(key, value);
      if (!client.ok()) return client.error();
      if (!ParsePrefix(*client)) {
        return Error{0,
                     "observe filter 'client' must be an IP address or a CIDR like "
                     "198.18.0.0/15 or 2001:db8::/32, got '" +
                         *client + "'"};
      }
      filter.client = std::move(*client);
    } else if (key == "protocol") {
      auto protocol = string_field(key, value);
      if (!protocol.ok()) return protocol.error();
      if (*protocol != "http1" && *protocol != "http2" && *protocol != "grpc") {
        return Error{
            0, "observe filter 'protocol' must be http1, http2 or grpc, got '" + *protocol + "'"};
      }
      filter.protocol = std::move(*protocol);
    } else if (key == "port") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 65535) {
        return Error{0, "observe filter 'port' must be an integer from 1 to 65535, got " +
                            value.dump(-1, ' ', false, Json::error_handler_t::replace)};
      }
      filter.port = static_cast<uint16_t>(value.get<int64_t>());
    } else {
      return Error{
          0, "unknown observe filter '" + key + "' (known: route, status, client, protocol, port)"};
    }
  }
  return filter;
}

bool ObserveFilter::Matches(const ObservedRequest& request) const {
  if (port != 0 && request.port != port) return false;
  if (!protocol.empty() && request.protocol != protocol) return false;
  if (!route.empty()) {
    if (route.back() == '*') {
      const std::string_view prefix(route.data(), route.size() - 1);
      if (std::string_view(request.route).substr(0, prefix.size()) != prefix) return false;
    } else if (request.route != route) {
      return false;
    }
  }
  if (!status.empty()) {
    if (IsStatusClass(status)) {
      if (request.status / 100 != status[0] - '0') return false;
    } else if (std::to_string(request.status) != status) {
      return false;
    }
  }
  if (!client.empty()) {
    // Parsed per call: FromJson validated it, and inet_pton costs less than the JSON this
    // request is about to become.
    auto prefix = ParsePrefix(client);
    auto address = ParseAddress(HostOf(request.client));
    if (!prefix || !address || !PrefixContains(*prefix, *address)) return false;
  }
  return true;
}

Json ToJson(const ObservedRequest& request) {
  Json out = {
      {"ts", alerts::FormatRfc3339Millis(
                 static_cast<uint64_t>(std::max<int64_t>(0, request.ts_unix_ns)))},
      {"protocol", request.protocol},
      {"method", request.method},
      {"route", request.route},
      {"path", request.path},
      {"status", request.status},
  };
  if (request.grpc_status != -1) out["grpc_status"] = request.grpc_status;
  out["client"] = request.client;
  out["server"] = request.server;
  out["port"] = request.port;
  out["latency_ms"] = request.latency_ms;
  out["request_bytes"] = request.request_bytes;
  out["response_bytes"] = request.response_bytes;
  return out;
}

struct ControlServer::Impl {
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    size_t out_sent = 0;       // bytes at the front of `out` already written
    bool read_closed = false;  // the peer shut down its side, or we stopped reading
    bool broken = false;       // a write failed or the peer hung up: close now
    std::optional<ObserveFilter> observe;
    uint64_t lost = 0;  // events dropped since the last {"lost": N} sent

    size_t Pending() const { return out.size() - out_sent; }
  };

  ControlServerOptions options;
  int listen_fd = -1;
  dev_t dev = 0;  // the bound socket file, so the destructor unlinks only its own
  ino_t ino = 0;
  ControlServerStats stats;
  std::vector<Client> clients;
  size_t observers = 0;
  std::vector<pollfd> pollfds;

  ~Impl() {
    for (auto& c : clients) close(c.fd);
    if (listen_fd >= 0) close(listen_fd);
    struct stat st {};
    if (lstat(options.path.c_str(), &st) == 0 && st.st_dev == dev && st.st_ino == ino) {
      unlink(options.path.c_str());
    }
  }

  void Accept() {
    for (;;) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          spdlog::warn("control socket {}: accept: {}", options.path, std::strerror(errno));
        }
        return;
      }
      if (clients.size() >= options.max_clients) {
        ++stats.clients_refused;
        const std::string line = ErrorLine(
            fmt::format("too many control connections ({} open): close an idle trafficctl (e.g. an "
                        "observe or top) and retry",
                        clients.size()));
        // Best effort: a fresh socket's buffer always has room for one line.
        [[maybe_unused]] ssize_t n =
            send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        continue;
      }
      clients.emplace_back().fd = fd;
    }
  }

  void Fail(Client& c, std::string_view message) {
    ++stats.errors;
    c.out += ErrorLine(message);
  }

  void HandleLine(Client& c, std::string_view line, ControlHandler& handler) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // typed <Enter>
    ++stats.requests;
    Json request;
    try {
      request = Json::parse(line.begin(), line.end());
    } catch (const Json::exception& e) {
      // what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
      std::string_view what = e.what();
      if (const size_t id_end = what.find("] "); id_end != std::string_view::npos) {
        what.remove_prefix(id_end + 2);
      }
      Fail(c, "malformed request: not JSON (" + std::string(what) +
                  "); send one JSON object per line, e.g. {\"cmd\": \"status\"}");
      return;
    }
    if (!request.is_object()) {
      Fail(c, std::string("malformed request: expected an object {\"cmd\": ..., \"args\": "
                          "{...}}, got ") +
                  request.type_name());
      return;
    }
    for (const auto& [key, value] : request.items()) {
      if (key != "cmd" && key != "args") {
        Fail(c, "malformed request: unknown key '" + key + "' (known: cmd, args)");
        return;
      }
    }
    auto cmd = request.find("cmd");
    if (cmd == request.end()) {
      Fail(c, "malformed request: no \"cmd\" (the command's name, e.g. {\"cmd\": \"status\"})");
      return;
    }
    if (!cmd->is_string()) {
      Fail(c, std::string("malformed request: \"cmd\" must be a string, got ") + cmd->type_name());
      return;
    }
    Json args = Json::object();
    if (auto a = request.find("args"); a != request.end()) {
      if (!a->is_object()) {
        Fail(c,
             std::string("malformed request: \"args\" must be an object, got ") + a->type_name());
        return;
      }
      args = *a;
    }
    const auto& name = cmd->get_ref<const std::string&>();
    if (name == "observe") {
      auto filter = ObserveFilter::FromJson(args);
      if (!filter.ok()) {
        Fail(c, filter.error().message);
        return;
      }
      if (!c.observe) ++observers;
      c.observe = std::move(*filter);
      c.out += OkLine(Json{{"subscribed", true}});
      return;
    }
    // The handler is the daemon's code: a throw from it (nlohmann's type errors on a field of
    // the wrong type, say) becomes this request's error, never an exception out of Poll().
    try {
      Result<Json> result = handler.Handle(name, args);
      if (!result.ok()) {
        Fail(c, result.error().ToString());
        return;
      }
      c.out += OkLine(*result);
    } catch (const std::exception& e) {
      Fail(c, "internal error in '" + name + "': " + e.what());
    }
  }

  // Handles every complete line in c.in while the client's output is under its bound (beyond
  // it, requests wait unread: a client that never reads cannot make us buffer unboundedly).
  void HandleInput(Client& c, ControlHandler& handler) {
    size_t start = 0;
    while (c.Pending() < options.max_output_bytes) {
      const size_t newline = c.in.find('\n', start);
      const size_t end = newline == std::string::npos ? c.in.size() : newline;
      if (end - start > options.max_request_bytes) {
        Fail(c, fmt::format("request longer than {} bytes without a newline: closing the "
                            "connection (send one JSON object per line)",
                            options.max_request_bytes));
        c.in.clear();
        c.read_closed = true;
        if (c.observe) {  // the connection closes once this error is written
          c.observe.reset();
          --observers;
        }
        return;
      }
      if (newline == std::string::npos) {
        // At end of input, an unterminated last request still counts (printf '...' | socat).
        if (c.read_closed && start < c.in.size()) {
          HandleLine(c, std::string_view(c.in).substr(start), handler);
          start = c.in.size();
        }
        break;
      }
      HandleLine(c, std::string_view(c.in).substr(start, newline - start), handler);
      start = newline + 1;
    }
    c.in.erase(0, start);
  }

  void Read(Client& c) {
    size_t budget = kReadBudgetPerPoll;
    char chunk[kReadChunk];
    while (budget > 0 && c.in.size() <= options.max_request_bytes) {
      const ssize_t n = recv(c.fd, chunk, sizeof(chunk), MSG_DONTWAIT);
      if (n > 0) {
        c.in.append(chunk, static_cast<size_t>(n));
        budget -= std::min(budget, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        c.read_closed = true;
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        c.broken = true;
      }
      return;
    }
  }

  void Flush(Client& c) {
    for (int round = 0; round < 2; ++round) {
      while (c.Pending() > 0) {
        const ssize_t n =
            send(c.fd, c.out.data() + c.out_sent, c.Pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          c.out_sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) c.broken = true;
          break;
        }
      }
      if (c.Pending() == 0) {
        c.out.clear();
        c.out_sent = 0;
      } else if (c.out_sent > c.out.size() / 2) {
        c.out.erase(0, c.out_sent);
        c.out_sent = 0;
      }
      // Drained: tell a subscriber what it missed before anything else reaches it.
      if (c.broken || c.Pending() > 0 || c.lost == 0) return;
      c.out = Line(Json{{"lost", c.lost}});
      c.lost = 0;
    }
  }

  void Poll(ControlHandler& handler) {
    pollfds.clear();
    pollfds.push_back(pollfd{.fd = listen_fd, .events = POLLIN, .revents = 0});
    for (const auto& c : clients) {
      short events = 0;
      if (!c.read_closed && c.Pending() < options.max_output_bytes) events |= POLLIN;
      if (c.Pending() > 0) events |= POLLOUT;
      pollfds.push_back(pollfd{.fd = c.fd, .events = events, .revents = 0});
    }
    const int ready = poll(pollfds.data(), pollfds.size(), 0);
    if (ready < 0) return;  // EINTR: the next Poll() sees the same state
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& c = clients[i];
      const short revents = pollfds[i + 1].revents;
      if (revents & POLLIN) Read(c);
      // POLLHUP: the peer closed its socket, so nothing more can reach it. A half-close (it
      // shut down its write side, like `socat` at the end of its input) only ends the input:
      // its requests are still answered, and an observer keeps receiving.
      if (revents & (POLLHUP | POLLERR | POLLNVAL)) c.broken = true;
      if (!c.broken) HandleInput(c, handler);
      if (!c.broken && (c.Pending() > 0 || c.lost > 0)) Flush(c);
    }
    // Clients appended by Accept() below are polled from the next call on.
    std::erase_if(clients, [this](Client& c) {
      const bool done =
          c.broken || (c.read_closed && c.in.empty() && c.Pending() == 0 && !c.observe);
      if (done) {
        if (c.observe) --observers;
        close(c.fd);
      }
      return done;
    });
    if (pollfds[0].revents & POLLIN) Accept();
  }

  void Publish(const ObservedRequest& request) {
    std::string line;
    for (auto& c : clients) {
      if (!c.observe || c.broken || !c.observe->Matches(request)) continue;
      if (line.empty()) line = Line(Json{{"event", ToJson(request)}});
      const std::string lost = c.lost > 0 ? Line(Json{{"lost", c.lost}}) : std::string();
      if (c.Pending() + lost.size() + line.size() > options.max_output_bytes) {
        ++c.lost;
        ++stats.observe_dropped;
        continue;
      }
      c.out += lost;
      c.out += line;
      c.lost = 0;
    }
  }
};

Result<std::unique_ptr<ControlServer>> ControlServer::Listen(const ControlServerOptions& options) {
  const std::string& path = options.path;
  auto addr = UnixAddress(path);
  if (!addr.ok()) return addr.error();
  // The group first: a typo in control.group fails before anything is created.
  std::optional<gid_t> gid;
  if (!options.group.empty()) {
    std::array<char, 4096> buffer{};
    group entry{};
    group* found = nullptr;
    const int rc = getgrnam_r(options.group.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      if (rc != 0) return ErrnoError("cannot look up group '" + options.group + "'", rc);
      return Error{0, "group '" + options.group +
                          "' (control.group) does not exist: create it "
                          "(groupadd " +
                          options.group + ") or set control.group to another group"};
    }
    gid = found->gr_gid;
  }
  if (auto dir = MakeDirectories(ParentOf(path)); !dir.ok()) return dir.error();

  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Error{0, path +
                          " exists and is not a socket: move it away, or set control.socket "
                          "to another path"};
    }
    if (SomeoneListens(*addr)) {
      return Error{0, "another traffic-analyzer is listening on " + path +
                          ": stop it first (systemctl stop traffic-analyzer), or give this one "
                          "another control.socket"};
    }
    // Left by a daemon that did not shut down cleanly.
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("cannot remove the stale control socket " + path);
    }
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl->listen_fd < 0) return ErrnoError("cannot create the control socket");
  if (bind(impl->listen_fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    return ErrnoError("cannot bind the control socket " + path);
  }
  if (lstat(path.c_str(), &st) == 0) {
    impl->dev = st.st_dev;
    impl->ino = st.st_ino;
  }
  // Mode and group are set before listen(): until then no client can connect, so there is no
  // window in which the socket is open to more than the configured group.
  if (chmod(path.c_str(), static_cast<mode_t>(options.mode)) != 0) {
    return ErrnoError(fmt::format("cannot chmod {:04o} the control socket {}", options.mode, path));
  }
  if (gid && chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    return ErrnoError("cannot give the control socket " + path + " to group '" + options.group +
                      "'");
  }
  if (listen(impl->listen_fd, kListenBacklog) != 0) {
    return ErrnoError("cannot listen on the control socket " + path);
  }
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ControlServer::~ControlServer() = default;

void ControlServer::Poll(ControlHandler& handler) { impl_->Poll(handler); }
bool ControlServer::HasObservers() const { return impl_->observers > 0; }
void ControlServer::Publish(const ObservedRequest& request) {
  if (impl_->observers > 0) impl_->Publish(request);
}
const ControlServerStats& ControlServer::stats() const { return impl_->stats; }
const std::string& ControlServer::path() const { return impl_->options.path; }

}  // namespace ta::agent::control
