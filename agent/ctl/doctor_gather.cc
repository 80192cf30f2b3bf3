// The I/O half of `trafficctl doctor`: reads the node into Facts. Nothing here attaches or
// changes anything: XDP support is read from the driver's advertised features, never probed by
// attaching (attaching native XDP can reset a NIC's queues on a production node).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include <fmt/format.h>

#include "agent/bpf_names.h"
#include "agent/control/control_client.h"
#include "agent/ctl/doctor.h"
#include "agent/interfaces.h"

namespace ta::agent::ctl::doctor {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;    // BPF_FS_MAGIC, include/uapi/linux/magic.h
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC, include/uapi/linux/magic.h

// The generic netlink "netdev" family (include/uapi/linux/netdev.h, 6.3; not in every libc's
// kernel headers, hence spelled out).
constexpr uint8_t kNetdevCmdDevGet = 1;
constexpr uint16_t kNetdevADevIfindex = 1;
constexpr uint16_t kNetdevADevXdpFeatures = 3;

constexpr uint32_t kClsactIngressParent = 0xFFFFFFF2;  // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)
constexpr uint32_t kClsactEgressParent = 0xFFFFFFF3;   // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)

constexpr int kTimeoutMs = 3000;

// NLA_ALIGN and NLA_HDRLEN (include/uapi/linux/netlink.h), without the int arithmetic of the
// macros.
constexpr size_t NlaAlign(size_t n) { return (n + 3) & ~size_t{3}; }
constexpr size_t kNlaHdrLen = NlaAlign(sizeof(nlattr));
constexpr size_t kNlmsgHdrLen = (sizeof(nlmsghdr) + 3) & ~size_t{3};

const char* Payload(const nlmsghdr* nh) { return reinterpret_cast<const char*>(nh) + kNlmsgHdrLen; }

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool MountedWithMagic(const char* path, long magic) {
  struct statfs st {};
  return statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

std::optional<ProcessFacts> ReadProcess(const std::string& pid) {
  auto status = ReadFile("/proc/" + pid + "/status");
  if (!status) return std::nullopt;
  auto parsed = ParseProcStatus(*status);
  if (!parsed) return std::nullopt;
  if (auto limits = ReadFile("/proc/" + pid + "/limits")) ParseProcLimits(*limits, *parsed);
  return *parsed;
}

// The daemon by its comm: TASK_COMM_LEN is 16, so "traffic-analyzer" shows as its first 15.
std::optional<ProcessFacts> FindDaemonProcess() {
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return std::nullopt;
  std::optional<ProcessFacts> found;
  const std::string self = std::to_string(getpid());
  while (dirent* e = readdir(dir)) {
    const std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self) {
      continue;
    }
    auto comm = ReadFile("/proc/" + pid + "/comm");
    if (comm && *comm == "traffic-analyze\n") {
      found = ReadProcess(pid);
      if (found) break;
    }
  }
  closedir(dir);
  return found;
}


// ---- Netlink. ----

class Netlink {
 public:
  static Result<Netlink> Open(int protocol) {
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) return ErrnoError("netlink socket");
    timeval tv{.tv_sec = kTimeoutMs / 1000, .tv_usec = 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return Netlink(fd);
  }
  Netlink(Netlink&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  Netlink& operator=(Netlink&&) = delete;
  ~Netlink() {
    if (fd_ >= 0) close(fd_);
  }

  // Sends `request` and calls `on_message` for each answer until NLMSG_DONE, or the single
  // answer of a non-dump request. A netlink error is returned as a negative errno.
  Result<void> Exchange(const std::vector<char>& request,
                        const std::function<void(const nlmsghdr*)>& on_message) {
    if (send(fd_, request.data(), request.size(), 0) < 0) return ErrnoError("netlink send");
    const auto* req = reinterpret_cast<const nlmsghdr*>(request.data());
    const bool dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    std::vector<char> buf(65536);
    for (;;) {
      const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("netlink recv");
      }
      auto len = static_cast<unsigned int>(n);
      for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, len);
           nh = NLMSG_NEXT(nh, len)) {
        if (nh->nlmsg_type == NLMSG_DONE) return {};
        if (nh->nlmsg_type == NLMSG_ERROR) {
          const auto* err = reinterpret_cast<const nlmsgerr*>(Payload(nh));
          if (err->error == 0) return {};  // an ACK
          return Error{-err->error, "netlink"};
        }
        on_message(nh);
        if (!dump) return {};
      }
    }
  }

 private:
  explicit Netlink(int fd) : fd_(fd) {}
  int fd_;
};

void PutAttr(std::vector<char>& msg, uint16_t type, const void* data, size_t size) {
  const size_t at = msg.size();
  msg.resize(at + NlaAlign(kNlaHdrLen + size));
  nlattr attr{static_cast<uint16_t>(kNlaHdrLen + size), type};
  std::memcpy(msg.data() + at, &attr, sizeof(attr));
  std::memcpy(msg.data() + at + kNlaHdrLen, data, size);
  reinterpret_cast<nlmsghdr*>(msg.data())->nlmsg_len = static_cast<uint32_t>(msg.size());
}

template <typename Header>
std::vector<char> NewMessage(uint16_t type, uint16_t flags, const Header& header) {
  std::vector<char> msg(kNlmsgHdrLen + ((sizeof(Header) + 3) & ~size_t{3}));
  nlmsghdr nh{};
  nh.nlmsg_len = static_cast<uint32_t>(msg.size());
  nh.nlmsg_type = type;
  nh.nlmsg_flags = flags;
  nh.nlmsg_seq = 1;
  std::memcpy(msg.data(), &nh, sizeof(nh));
  std::memcpy(msg.data() + kNlmsgHdrLen, &header, sizeof(header));
  return msg;
}

// Calls `on_attr(type, payload, size)` for each attribute in [data, data + size).
void ForEachAttr(const char* data, size_t size,
                 const std::function<void(uint16_t, const char*, size_t)>& on_attr) {
  size_t pos = 0;
  while (pos + kNlaHdrLen <= size) {
    nlattr attr{};
    std::memcpy(&attr, data + pos, sizeof(attr));
    if (attr.nla_len < kNlaHdrLen || pos + attr.nla_len > size) return;
    on_attr(static_cast<uint16_t>(attr.nla_type & NLA_TYPE_MASK), data + pos + kNlaHdrLen,
            attr.nla_len - kNlaHdrLen);
    pos += NlaAlign(attr.nla_len);
  }
}

template <typename Header>
void ForEachMessageAttr(const nlmsghdr* nh,
                        const std::function<void(uint16_t, const char*, size_t)>& on_attr) {
  const size_t offset = kNlmsgHdrLen + ((sizeof(Header) + 3) & ~size_t{3});
  if (nh->nlmsg_len < offset) return;
  ForEachAttr(reinterpret_cast<const char*>(nh) + offset, nh->nlmsg_len - offset, on_attr);
}

// NETDEV_A_DEV_XDP_FEATURES of `ifindex`, nullopt when the kernel cannot say.
std::optional<uint64_t> XdpFeatures(int ifindex) {
  auto nl = Netlink::Open(NETLINK_GENERIC);
  if (!nl) return std::nullopt;
  genlmsghdr genl{};
  genl.cmd = CTRL_CMD_GETFAMILY;
  genl.version = 1;
  auto request = NewMessage(GENL_ID_CTRL, NLM_F_REQUEST, genl);
  PutAttr(request, CTRL_ATTR_FAMILY_NAME, "netdev", sizeof("netdev"));
  uint16_t family = 0;
  auto resolved = nl->Exchange(request, [&](const nlmsghdr* nh) {
    ForEachMessageAttr<genlmsghdr>(nh, [&](uint16_t type, const char* p, size_t n) {
      if (type == CTRL_ATTR_FAMILY_ID && n >= sizeof(uint16_t)) std::memcpy(&family, p, 2);
    });
  });
  if (!resolved || family == 0) return std::nullopt;  // ENOENT: no netdev family (< 6.3)
  genl.cmd = kNetdevCmdDevGet;
  request = NewMessage(family, NLM_F_REQUEST, genl);
  const auto index = static_cast<uint32_t>(ifindex);
  PutAttr(request, kNetdevADevIfindex, &index, sizeof(index));
  std::optional<uint64_t> features;
  auto got = nl->Exchange(request, [&](const nlmsghdr* nh) {
    ForEachMessageAttr<genlmsghdr>(nh, [&](uint16_t type, const char* p, size_t n) {
      if (type == kNetdevADevXdpFeatures && n >= sizeof(uint64_t)) {
        uint64_t v = 0;
        std::memcpy(&v, p, sizeof(v));
        features = v;
      }
    });
  });
  if (!got) return std::nullopt;
  return features;
}

// The BPF filters on a clsact hook (RTM_GETTFILTER dump).
Result<std::vector<ProgramFact>> TcFilters(int ifindex, uint32_t parent, const char* point) {
  auto nl = Netlink::Open(NETLINK_ROUTE);
  if (!nl) return nl.error();
  tcmsg tc{};
  tc.tcm_family = AF_UNSPEC;
  tc.tcm_ifindex = ifindex;
  tc.tcm_parent = parent;
  const auto request = NewMessage(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, tc);
  std::vector<ProgramFact> out;
  auto done = nl->Exchange(request, [&](const nlmsghdr* nh) {
    if (nh->nlmsg_type != RTM_NEWTFILTER) return;
    tcmsg t{};
    std::memcpy(&t, Payload(nh), sizeof(t));
    if (t.tcm_handle == 0) return;  // a chain head, not a filter
    bool bpf = false;
    ProgramFact p;
    p.attach = point;
    p.priority = TC_H_MAJ(t.tcm_info) >> 16;  // tcm_info = TC_H_MAKE(prio << 16, protocol)
    ForEachMessageAttr<tcmsg>(nh, [&](uint16_t type, const char* data, size_t n) {
      if (type == TCA_KIND) bpf = std::string(data, strnlen(data, n)) == "bpf";
      if (type == TCA_OPTIONS) {
        ForEachAttr(data, n, [&](uint16_t sub, const char* d, size_t m) {
          if (sub == TCA_BPF_ID && m >= sizeof(uint32_t)) std::memcpy(&p.id, d, sizeof(p.id));
          if (sub == TCA_BPF_NAME && p.name.empty()) p.name = std::string(d, strnlen(d, m));
        });
      }
    });
    if (!bpf) return;
    if (p.id != 0) {
      if (std::string name = BpfProgramName(p.id); !name.empty()) p.name = name;
    }
    out.push_back(std::move(p));
  });
  if (!done) {
    // No clsact qdisc on the interface: no filters.
    if (done.error().err == ENOENT || done.error().err == EINVAL) return out;
    return Error{done.error().err,
                 fmt::format("RTM_GETTFILTER {}: {}", point, std::strerror(done.error().err))};
  }
  return out;
}

InterfaceFacts ReadInterface(const std::string& name, bool capture, bool enforce) {
  InterfaceFacts i;
  i.name = name;
  i.capture = capture;
  i.enforce = enforce;
  const int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (ifindex == 0) return i;
  i.exists = true;
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  if (int err = bpf_xdp_query(ifindex, 0, &q); err != 0) {
    i.xdp_query_error = std::strerror(-err);
  } else {
    for (auto [id, mode] : {std::pair{q.drv_prog_id, "native"}, std::pair{q.skb_prog_id, "generic"},
                            std::pair{q.hw_prog_id, "offload"}}) {
      if (id != 0) i.xdp_programs.push_back({id, BpfProgramName(id), mode, 0});
    }
  }
  for (auto [parent, point] :
       {std::pair{kClsactIngressParent, "ingress"}, std::pair{kClsactEgressParent, "egress"}}) {
    auto filters = TcFilters(ifindex, parent, point);
    if (!filters) {
      i.tc_query_error += (i.tc_query_error.empty() ? "" : "; ") + filters.error().message;
      continue;
    }
    for (auto& p : *filters) i.tc_programs.push_back(std::move(p));
  }
  i.xdp_features = XdpFeatures(ifindex);
  return i;
}

// ---- GET /metrics, plain or over TLS. ----

void ProbeMetrics(MetricsFacts& m) {
  auto address = ParseListenAddress(m.address);
  if (!address) {
    m.outcome = MetricsFacts::Outcome::kError;
    m.error = address.error().message;
    return;
  }
  // A wildcard listener is reached on loopback.
  std::string host = address->host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  sockaddr_storage ss{};
  socklen_t ss_len = 0;
  if (address->ipv6) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(address->port);
    inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr);
    ss_len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(address->port);
    inet_pton(AF_INET, host.c_str(), &a4->sin_addr);
    ss_len = sizeof(sockaddr_in);
  }
  const int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    m.outcome = MetricsFacts::Outcome::kError;
    m.error = std::strerror(errno);
    return;
  }
  auto fail = [&](MetricsFacts::Outcome outcome, std::string error) {
    m.outcome = outcome;
    m.error = std::move(error);
  };
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), ss_len);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, kTimeoutMs) != 1) {
      fail(MetricsFacts::Outcome::kTimeout, fmt::format("no answer within {} ms", kTimeoutMs));
      close(fd);
      return;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err == 0 ? 0 : -1;
    errno = err;
  }
  if (rc != 0) {
    fail(errno == ECONNREFUSED ? MetricsFacts::Outcome::kRefused : MetricsFacts::Outcome::kError,
         std::strerror(errno));
    close(fd);
    return;
  }
  // Blocking from here, bounded by socket timeouts.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{.tv_sec = kTimeoutMs / 1000, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  const std::string request = fmt::format(
      "GET /metrics HTTP/1.1\r\nHost: {}\r\nUser-Agent: trafficctl-doctor\r\nConnection: "
      "close\r\n\r\n",
      m.address);
  std::string answer;
  std::array<char, 512> buf{};
  if (m.tls) {
    // Reachability only: the certificate is not verified (SSL_VERIFY_NONE), the doctor has no
    // business knowing the CA Prometheus is given.
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
    if (ssl == nullptr) {
      fail(MetricsFacts::Outcome::kTlsError, "cannot create an OpenSSL context");
    } else {
      SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
      SSL_set_fd(ssl, fd);
      if (SSL_connect(ssl) != 1) {
        const unsigned long e = ERR_get_error();
        char text[256] = "the server closed the connection during the handshake";
        if (e != 0) ERR_error_string_n(e, text, sizeof(text));
        fail(MetricsFacts::Outcome::kTlsError, text);
      } else {
        SSL_write(ssl, request.data(), static_cast<int>(request.size()));
        while (answer.find("\r\n") == std::string::npos && answer.size() < 4096) {
          const int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
          if (n <= 0) break;
          answer.append(buf.data(), static_cast<size_t>(n));
        }
      }
    }
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
    if (m.outcome == MetricsFacts::Outcome::kTlsError) {
      close(fd);
      return;
    }
  } else {
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
      fail(MetricsFacts::Outcome::kError, std::strerror(errno));
      close(fd);
      return;
    }
    while (answer.find("\r\n") == std::string::npos && answer.size() < 4096) {
      const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          fail(MetricsFacts::Outcome::kTimeout,
               fmt::format("no HTTP answer within {} ms", kTimeoutMs));
          close(fd);
          return;
        }
        break;
      }
      answer.append(buf.data(), static_cast<size_t>(n));
    }
  }
  close(fd);
  int status = 0;
  if (std::sscanf(answer.c_str(), "HTTP/%*d.%*d %d", &status) != 1) {
    fail(MetricsFacts::Outcome::kError,
         answer.empty() ? "the connection closed without an answer" : "not an HTTP answer");
    return;
  }
  m.outcome = MetricsFacts::Outcome::kHttp;
  m.http_status = status;
}

int QuietLibbpf(libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

Result<Facts> Gather(const Options& options) {
  Facts f;
  // Config: an explicit path that cannot be read stops the doctor (exit 3); a file that reads
  // but does not parse is a finding.
  if (options.config_path) {
    if (access(options.config_path->c_str(), R_OK) != 0) {
      return ErrnoError(fmt::format("cannot read --config {}", *options.config_path));
    }
    f.config_path = *options.config_path;
  } else if (access(kDefaultConfigPath, F_OK) == 0) {
    f.config_path = kDefaultConfigPath;
  }
  if (!f.config_path.empty()) {
    auto config = LoadConfig(f.config_path);
    if (config) {
      f.config = std::move(*config);
    } else {
      f.config_error = config.error().ToString();
    }
  }
  f.socket_path = options.socket_path.value_or(f.config.control.socket);

  // Kernel and BPF features; libbpf's own complaints about refused probes are not for users.
  libbpf_set_print(QuietLibbpf);
  utsname uts{};
  uname(&uts);
  f.kernel_release = uts.release;
  f.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
  f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  f.sched_cls = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, nullptr);
  f.xdp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr);
  f.uprobe_pmu = access("/sys/bus/event_source/devices/uprobe/type", R_OK) == 0;
  f.tracefs = MountedWithMagic("/sys/kernel/tracing", kTracefsMagic);
  f.syscall_tracepoints = access("/sys/kernel/tracing/events/syscalls/sys_enter_read", F_OK) == 0;
  f.bpffs = MountedWithMagic("/sys/fs/bpf", kBpfFsMagic);
  if (auto self = ReadProcess("self")) f.self = *self;

  // The daemon.
  auto client = control::ControlClient::Connect(f.socket_path, std::chrono::seconds(3));
  if (auto* error = std::get_if<control::CallError>(&client)) {
    f.daemon_error = error->message;
  } else {
    auto reply = std::get<std::unique_ptr<control::ControlClient>>(client)->Call(
        "status", nlohmann::json::object());
    if (auto* call_error = std::get_if<control::CallError>(&reply)) {
      f.daemon_error = call_error->message;
    } else if (auto status = ParseDaemonStatus(std::get<nlohmann::json>(reply).dump()); status) {
      f.daemon_reachable = true;
      f.daemon = std::move(*status);
    } else {
      f.daemon_error = status.error().message;
    }
  }
  if (!f.daemon_reachable) {
    struct stat sock {};
    f.socket_denied = stat(f.socket_path.c_str(), &sock) == 0 && S_ISSOCK(sock.st_mode) &&
                      access(f.socket_path.c_str(), W_OK) != 0 && errno == EACCES;
  }
  // Another daemon of the same name (a test's, another namespace's) is not this one: /proc is
  // searched only when this daemon runs and does not say its pid.
  if (f.daemon.pid) f.daemon_process = ReadProcess(std::to_string(*f.daemon.pid));
  if (!f.daemon_process && (f.daemon_reachable || f.socket_denied)) {
    f.daemon_process = FindDaemonProcess();
  }

  timex tx{};
  const int state = adjtimex(&tx);
  if (state >= 0) {
    f.clock = {.read = true,
               .state = state,
               .status = tx.status,
               .maxerror_us = tx.maxerror,
               .esterror_us = tx.esterror,
               .freq = tx.freq};
  }

  f.metrics.address = f.config.metrics.listen;
  if (!f.config.metrics.web_config_file.empty()) {
    if (auto text = ReadFile(f.config.metrics.web_config_file)) {
      f.metrics.tls = WebConfigWantsTls(*text);
    }
  }
  if (f.daemon_reachable || f.socket_denied) ProbeMetrics(f.metrics);

  f.state_dir.path = f.config.state_dir;
  struct stat st {};
  if (stat(f.state_dir.path.c_str(), &st) != 0) {
    f.state_dir.stat_errno = errno;
  } else {
    f.state_dir.is_dir = S_ISDIR(st.st_mode);
    f.state_dir.mode = st.st_mode & 07777;
    f.state_dir.uid = st.st_uid;
    f.state_dir.gid = st.st_gid;
  }

  // The watched interfaces: what the daemon says it captures on, else the config's, else the
  // default route's (as the daemon picks it); enforcement's list defaults to capture's.
  std::vector<std::string> capture = f.config.interfaces;
  if (capture.empty() && f.daemon_reachable) capture = f.daemon.capture_interfaces;
  if (capture.empty()) {
    if (auto def = DefaultRouteInterface()) capture.push_back(*def);
  }
  std::vector<std::string> enforce;
  if (f.config.enforcement.enabled) {
    enforce = f.config.enforcement.interfaces.empty() ? capture : f.config.enforcement.interfaces;
  }
  std::vector<std::string> all = capture;
  for (const auto& e : enforce) {
    if (std::find(all.begin(), all.end(), e) == all.end()) all.push_back(e);
  }
  for (const auto& name : all) {
    const bool c = std::find(capture.begin(), capture.end(), name) != capture.end();
    const bool e = std::find(enforce.begin(), enforce.end(), name) != enforce.end();
    f.interfaces.push_back(ReadInterface(name, c, e));
  }
  return f;
}

}  // namespace ta::agent::ctl::doctor
