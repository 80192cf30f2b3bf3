// Privileged: loads ssl_uprobes through agent/tls_probes (uprobes on this machine's libssl,
// syscall and exec tracepoints) and runs real TLS over TCP on 127.0.0.1 with OpenSSL, in this
// process and in helper processes (tests/bpf/tls_peer.cc). Asserts the exact plaintext, byte
// counts, operation and 4-tuple of every call, the per-session socket cache, the port filter,
// memory-BIO sessions reported as unmapped, coverage of processes started after the probes
// (exec record, rescan) and of statically linked OpenSSL (reported, not hooked).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/tc_capture.h"  // InstallLibbpfLogger
#include "agent/tls_probes.h"
#include "tests/bpf/tls_loopback.h"
#include "tests/common/privileges.h"

namespace ta::testing {
namespace {

using agent::TlsCoverageEntry;
using agent::TlsProbes;
using agent::TlsRecordView;

// A record copied out of the callback.
struct Captured {
  uint32_t tgid = 0;
  uint64_t ssl = 0;
  bool is_write = false;
  bool is_ex = false;
  bool unmapped = false;
  uint8_t family = 0;
  std::array<uint8_t, 16> local_addr{};
  std::array<uint8_t, 16> remote_addr{};
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t len = 0;
  std::string data;
};

class SslProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TA_REQUIRE_ROOT();
    agent::InstallLibbpfLogger(false);
  }

  void OpenProbes(uint32_t snaplen, std::vector<uint16_t> ports) {
    agent::TlsProbesOptions o;
    o.snaplen = snaplen;
    o.ports = std::move(ports);
    auto p = TlsProbes::Open(o, [this](const TlsRecordView& v) {
      Captured c;
      c.tgid = v.tgid;
      c.ssl = v.ssl;
      c.is_write = v.is_write;
      c.is_ex = v.is_ex;
      c.unmapped = v.unmapped;
      c.family = v.family;
      c.local_addr = v.local_addr;
      c.remote_addr = v.remote_addr;
      c.local_port = v.local_port;
      c.remote_port = v.remote_port;
      c.len = v.len;
      c.data.assign(reinterpret_cast<const char*>(v.data.data()), v.data.size());
      records_.push_back(std::move(c));
    });
    ASSERT_TRUE(p.ok()) << p.error().ToString();
    probes_ = std::move(p.value());
  }

  // Records of one SSL object of this process, in order. The records are in the ring buffer
  // before the SSL call returns (the return probe wrote them), so draining suffices.
  std::vector<Captured> For(const SSL* ssl, uint32_t tgid = static_cast<uint32_t>(getpid())) {
    while (probes_->Poll(0) > 0) {
    }
    std::vector<Captured> out;
    for (const Captured& c : records_) {
      if (c.tgid == tgid && c.ssl == reinterpret_cast<uint64_t>(ssl)) out.push_back(c);
    }
    return out;
  }

  // Polls until pred() holds or 10 s pass (a deadline against hangs, not a timing assertion).
  bool PollUntil(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      probes_->Poll(50);
    }
    return true;
  }

  static void ExpectTuple(const Captured& c, int fd) {
    Endpoint local = SockName(fd, false);
    Endpoint remote = SockName(fd, true);
    EXPECT_FALSE(c.unmapped);
    EXPECT_EQ(c.family, local.family);
    EXPECT_EQ(c.local_addr, local.addr);
    EXPECT_EQ(c.local_port, local.port);
    EXPECT_EQ(c.remote_addr, remote.addr);
    EXPECT_EQ(c.remote_port, remote.port);
  }

  TlsContexts ctx_;
  std::vector<Captured> records_;
  std::unique_ptr<TlsProbes> probes_;
};

constexpr std::string_view kRequest = "GET /hello HTTP/1.1\r\nHost: example.test\r\n\r\n";
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";

TEST_F(SslProbesTest, PlaintextOpAndFourTupleOfEachCall) {
  Listener listener;
  OpenProbes(1024, {listener.port});
  TlsTcpPair pair(ctx_, listener);

  ASSERT_EQ(SSL_write(pair.client.get(), kRequest.data(), static_cast<int>(kRequest.size())),
            static_cast<int>(kRequest.size()));
  char buf[4096];
  ASSERT_EQ(SSL_read(pair.server.get(), buf, sizeof(buf)), static_cast<int>(kRequest.size()));
  size_t written = 0;
  ASSERT_EQ(SSL_write_ex(pair.server.get(), kResponse.data(), kResponse.size(), &written), 1);
  ASSERT_EQ(written, kResponse.size());
  size_t got = 0;
  ASSERT_EQ(SSL_read_ex(pair.client.get(), buf, sizeof(buf), &got), 1);
  ASSERT_EQ(got, kResponse.size());

  std::vector<Captured> client = For(pair.client.get());
  std::vector<Captured> server = For(pair.server.get());
  ASSERT_EQ(client.size(), 2u);
  ASSERT_EQ(server.size(), 2u);

  EXPECT_TRUE(client[0].is_write);
  EXPECT_FALSE(client[0].is_ex);
  EXPECT_EQ(client[0].len, kRequest.size());
  EXPECT_EQ(client[0].data, kRequest);
  ExpectTuple(client[0], pair.client_fd);
  EXPECT_EQ(client[0].remote_port, listener.port);

  EXPECT_FALSE(server[0].is_write);
  EXPECT_FALSE(server[0].is_ex);
  EXPECT_EQ(server[0].len, kRequest.size());
  EXPECT_EQ(server[0].data, kRequest);
  ExpectTuple(server[0], pair.server_fd);
  EXPECT_EQ(server[0].local_port, listener.port);

  EXPECT_TRUE(server[1].is_write);
  EXPECT_TRUE(server[1].is_ex);
  EXPECT_EQ(server[1].len, kResponse.size());
  EXPECT_EQ(server[1].data, kResponse);
  ExpectTuple(server[1], pair.server_fd);

  EXPECT_FALSE(client[1].is_write);
  EXPECT_TRUE(client[1].is_ex);
  EXPECT_EQ(client[1].len, kResponse.size());
  EXPECT_EQ(client[1].data, kResponse);
  ExpectTuple(client[1], pair.client_fd);
}

TEST_F(SslProbesTest, SnaplenKeepsTheFirstBytesAndTheFullLength) {
  Listener listener;
  OpenProbes(100, {listener.port});
  TlsTcpPair pair(ctx_, listener);
  std::string big(3000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);

  ASSERT_EQ(SSL_write(pair.client.get(), big.data(), static_cast<int>(big.size())), 3000);
  std::string in(4096, '\0');
  ASSERT_EQ(SSL_read(pair.server.get(), in.data(), static_cast<int>(in.size())), 3000);

  for (const SSL* ssl : {pair.client.get(), pair.server.get()}) {
    std::vector<Captured> r = For(ssl);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].len, 3000u);
    EXPECT_EQ(r[0].data, big.substr(0, 100));
  }
}

// IPv6 on ::1, and a dual-stack listener whose accepted sockets are AF_INET6 with IPv4-mapped
// addresses: those are IPv4 connections on the wire and reported as such (tc_capture keys them
// the same way).
TEST_F(SslProbesTest, Ipv6AndIpv4MappedSockets) {
  for (bool dual : {false, true}) {
    SCOPED_TRACE(dual ? "dual-stack" : "::1");
    records_.clear();
    Listener listener(AF_INET6, dual);
    OpenProbes(1024, {listener.port});
    TlsTcpPair pair(ctx_, listener);
    ASSERT_EQ(SSL_write(pair.client.get(), kRequest.data(), static_cast<int>(kRequest.size())),
              static_cast<int>(kRequest.size()));
    char buf[4096];
    ASSERT_EQ(SSL_read(pair.server.get(), buf, sizeof(buf)), static_cast<int>(kRequest.size()));
    std::vector<Captured> c = For(pair.client.get());
    std::vector<Captured> s = For(pair.server.get());
    ASSERT_EQ(c.size(), 1u);
    ASSERT_EQ(s.size(), 1u);
    ExpectTuple(c[0], pair.client_fd);
    ExpectTuple(s[0], pair.server_fd);
    EXPECT_EQ(s[0].family, dual ? TA_AF_INET : TA_AF_INET6);
    EXPECT_EQ(s[0].data, kRequest);
    probes_.reset();
  }
}

// Reads served from OpenSSL's record buffer make no syscall; the per-session cache still
// names their connection. Without it every read after the first would be unmapped.
TEST_F(SslProbesTest, ReadsServedFromOpensslsBufferKeepTheirConnection) {
  Listener listener;
  OpenProbes(1024, {listener.port});
  TlsTcpPair pair(ctx_, listener);
  std::string msg(100, 'x');
  for (size_t i = 0; i < msg.size(); ++i) msg[i] = static_cast<char>('0' + i % 10);
  ASSERT_EQ(SSL_write(pair.server.get(), msg.data(), 100), 100);
  std::string got;
  char buf[10];
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(SSL_read(pair.client.get(), buf, sizeof(buf)), 10);
    got.append(buf, 10);
  }
  ASSERT_EQ(got, msg);
  EXPECT_EQ(SSL_pending(pair.client.get()), 0);

  std::vector<Captured> r = For(pair.client.get());
  ASSERT_EQ(r.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    EXPECT_FALSE(r[static_cast<size_t>(i)].is_write);
    EXPECT_EQ(r[static_cast<size_t>(i)].data, msg.substr(static_cast<size_t>(i) * 10, 10));
    ExpectTuple(r[static_cast<size_t>(i)], pair.client_fd);
  }
}

TEST_F(SslProbesTest, ConnectionsOnUnwatchedPortsAreNotReported) {
  Listener listener;
  Listener other;  // a port nobody talks to
  OpenProbes(1024, {other.port});
  TlsTcpPair pair(ctx_, listener);
  ASSERT_EQ(SSL_write(pair.client.get(), kRequest.data(), static_cast<int>(kRequest.size())),
            static_cast<int>(kRequest.size()));
  char buf[4096];
  ASSERT_EQ(SSL_read(pair.server.get(), buf, sizeof(buf)), static_cast<int>(kRequest.size()));
  EXPECT_TRUE(For(pair.client.get()).empty());
  EXPECT_TRUE(For(pair.server.get()).empty());

  // Watching the port at run time makes the same session visible.
  ASSERT_TRUE(probes_->SetPorts({listener.port}).ok());
  ASSERT_EQ(SSL_write(pair.client.get(), "more", 4), 4);
  ASSERT_EQ(SSL_read(pair.server.get(), buf, sizeof(buf)), 4);
  std::vector<Captured> r = For(pair.server.get());
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].data, "more");
  ExpectTuple(r[0], pair.server_fd);
}

// A session over memory BIOs never touches a socket: its calls are reported as unmapped
// (whatever the port filter) and counted.
TEST_F(SslProbesTest, SessionsWithoutASocketAreReportedUnmapped) {
  OpenProbes(1024, {1});
  TlsMemoryPair pair(ctx_);
  auto before = probes_->Stats();
  ASSERT_TRUE(before.ok()) << before.error().ToString();

  ASSERT_EQ(SSL_write(pair.client.get(), "ping", 4), 4);
  pair.Pump();
  char buf[64];
  ASSERT_EQ(SSL_read(pair.server.get(), buf, sizeof(buf)), 4);

  std::vector<Captured> c = For(pair.client.get());
  std::vector<Captured> s = For(pair.server.get());
  ASSERT_EQ(c.size(), 1u);
  ASSERT_EQ(s.size(), 1u);
  for (const Captured& r : {c[0], s[0]}) {
    EXPECT_TRUE(r.unmapped);
    EXPECT_EQ(r.family, 0);
    EXPECT_EQ(r.local_port, 0);
    EXPECT_EQ(r.remote_port, 0);
    EXPECT_EQ(r.data, "ping");
    EXPECT_EQ(r.len, 4u);
  }
  EXPECT_TRUE(c[0].is_write);
  EXPECT_FALSE(s[0].is_write);
  auto after = probes_->Stats();
  ASSERT_TRUE(after.ok());
  // Other processes on the machine may add to the counters; ours are two of them.
  EXPECT_GE(after.value()[TA_TLS_STAT_UNMAPPED] - before.value()[TA_TLS_STAT_UNMAPPED], 2u);
  EXPECT_GE(after.value()[TA_TLS_STAT_RECORDS] - before.value()[TA_TLS_STAT_RECORDS], 2u);
}

bool IsThisLibssl(const TlsCoverageEntry& e) {
  std::string_view lib = e.library;
  return lib.substr(lib.rfind('/') + 1).rfind("libssl.so", 0) == 0;
}

TEST_F(SslProbesTest, CoverageListsThisProcessAsHooked) {
  OpenProbes(1024, {1});
  bool found = false;
  for (const TlsCoverageEntry& e : probes_->Coverage()) {
    if (e.pid != getpid()) continue;
    EXPECT_TRUE(IsThisLibssl(e)) << e.library;
    EXPECT_TRUE(e.hooked) << e.reason;
    EXPECT_EQ(e.reason, "");  // OpenSSL 3 has all five functions
    found = true;
  }
  EXPECT_TRUE(found);
  EXPECT_GE(probes_->hooked_libraries(), 1u);
}

// A helper process: stdin/stdout pipes, killed and reaped on every exit path.
class Child {
 public:
  explicit Child(const std::string& path, const std::string& arg = "") {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      if (arg.empty()) {
        execl(path.c_str(), path.c_str(), static_cast<char*>(nullptr));
      } else {
        execl(path.c_str(), path.c_str(), arg.c_str(), static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = fdopen(out[0], "r");
  }
  ~Child() {
    CloseStdin();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (from_ != nullptr) fclose(from_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int pid() const { return pid_; }
  std::string ReadLine() {
    char buf[256];
    if (from_ == nullptr || fgets(buf, sizeof(buf), from_) == nullptr) return "";
    std::string s(buf);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  void Send(std::string_view line) {
    std::string s = std::string(line) + "\n";
    if (write(to_, s.data(), s.size()) != static_cast<ssize_t>(s.size())) CloseStdin();
  }
  void CloseStdin() {
    if (to_ >= 0) close(to_);
    to_ = -1;
  }
  // Closes stdin and waits for a clean exit.
  int Finish() {
    CloseStdin();
    int status = 0;
    if (waitpid(pid_, &status, 0) != pid_) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  int pid_ = -1;
  int to_ = -1;
  FILE* from_ = nullptr;
};

std::vector<Captured> OfProcess(const std::vector<Captured>& all, int pid) {
  std::vector<Captured> out;
  for (const Captured& c : all) {
    if (c.tgid == static_cast<uint32_t>(pid)) out.push_back(c);
  }
  return out;
}

TEST_F(SslProbesTest, ProcessStartedAfterTheProbesIsCoveredAndForgottenWhenItExits) {
  OpenProbes(1024, {1});
  const uint64_t execs_before = probes_->exec_records();
  Child child(TA_TLS_PEER);
  ASSERT_GT(child.pid(), 0);
  std::string port_line = child.ReadLine();
  ASSERT_EQ(port_line.rfind("port ", 0), 0u) << port_line;
  const auto port = static_cast<uint16_t>(std::stoi(port_line.substr(5)));
  ASSERT_TRUE(probes_->SetPorts({port}).ok());

  // The exec record arrives, and the rescan it schedules lists the child as hooked.
  auto child_hooked = [&] {
    for (const TlsCoverageEntry& e : probes_->Coverage()) {
      if (e.pid == child.pid() && IsThisLibssl(e) && e.hooked) return true;
    }
    return false;
  };
  ASSERT_TRUE(PollUntil(child_hooked));
  EXPECT_GT(probes_->exec_records(), execs_before);

  child.Send("go");
  std::string done = child.ReadLine();
  ASSERT_EQ(done.rfind("done ", 0), 0u) << done;
  const auto client_port = static_cast<uint16_t>(std::stoi(done.substr(5)));
  ASSERT_TRUE(PollUntil([&] { return OfProcess(records_, child.pid()).size() >= 4; }));
  std::vector<Captured> r = OfProcess(records_, child.pid());
  ASSERT_EQ(r.size(), 4u);
  // Client write, server read, server write, client read.
  EXPECT_EQ(r[0].data, "GET /peer HTTP/1.1\r\nHost: peer\r\n\r\n");
  EXPECT_TRUE(r[0].is_write);
  EXPECT_EQ(r[0].local_port, client_port);
  EXPECT_EQ(r[0].remote_port, port);
  EXPECT_EQ(r[1].data, r[0].data);
  EXPECT_FALSE(r[1].is_write);
  EXPECT_EQ(r[1].local_port, port);
  EXPECT_EQ(r[1].remote_port, client_port);
  EXPECT_EQ(r[2].data, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_TRUE(r[2].is_write);
  EXPECT_EQ(r[3].data, r[2].data);
  EXPECT_FALSE(r[3].is_write);
  const std::array<uint8_t, 16> loopback = {127, 0, 0, 1};
  for (const Captured& c : r) {
    EXPECT_FALSE(c.unmapped);
    EXPECT_EQ(c.family, TA_AF_INET);
    EXPECT_EQ(c.local_addr, loopback);
    EXPECT_EQ(c.remote_addr, loopback);
  }

  const int pid = child.pid();
  ASSERT_EQ(child.Finish(), 0);
  probes_->Rescan();
  for (const TlsCoverageEntry& e : probes_->Coverage()) EXPECT_NE(e.pid, pid) << e.library;
  // This process still maps the library, so it stays hooked.
  EXPECT_GE(probes_->hooked_libraries(), 1u);
}

// A process forked without exec (a pre-forked server worker) is never announced by an exec
// record; its first hooked SSL call announces it, so coverage lists it without a full rescan.
TEST_F(SslProbesTest, ForkedProcessIsAnnouncedByItsFirstSslCall) {
  Listener listener;
  OpenProbes(1024, {listener.port});
  int hold[2];
  ASSERT_EQ(pipe2(hold, O_CLOEXEC), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(hold[1]);
    int rc = 0;
    try {
      TlsTcpPair pair(ctx_, listener);
      char buf[64];
      if (SSL_write(pair.client.get(), "forked", 6) != 6 ||
          SSL_read(pair.server.get(), buf, sizeof(buf)) != 6) {
        rc = 1;
      }
    } catch (...) {
      rc = 2;
    }
    char c;
    while (read(hold[0], &c, 1) > 0) {
    }
    _exit(rc);
  }
  close(hold[0]);
  struct Reaper {
    pid_t pid;
    int fd;
    ~Reaper() {
      if (fd >= 0) close(fd);
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid, hold[1]};

  auto listed = [&] {
    for (const TlsCoverageEntry& e : probes_->Coverage()) {
      if (e.pid == pid && IsThisLibssl(e) && e.hooked) return true;
    }
    return false;
  };
  ASSERT_TRUE(PollUntil(listed));
  EXPECT_GE(probes_->tls_process_records(), 1u);
  ASSERT_TRUE(PollUntil([&] { return OfProcess(records_, pid).size() >= 2; }));
  std::vector<Captured> r = OfProcess(records_, pid);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].is_write);
  EXPECT_EQ(r[0].data, "forked");
  EXPECT_FALSE(r[1].is_write);
  EXPECT_EQ(r[1].data, "forked");
  EXPECT_EQ(r[1].local_port, listener.port);

  close(reaper.fd);
  reaper.fd = -1;
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  reaper.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// Library files that lack functions: OpenSSL 1.1.0 has no SSL_read_ex/SSL_write_ex (hooked,
// with a note); a libssl without SSL_write is not hooked, and coverage says why.
TEST_F(SslProbesTest, LibrariesMissingFunctionsAreReported) {
  OpenProbes(1024, {1});
  Child old(TA_TLS_PEER, TA_FAKE_LIBSSL_110);
  Child broken(TA_TLS_PEER, TA_FAKE_LIBSSL_BROKEN);
  ASSERT_EQ(old.ReadLine().rfind("port ", 0), 0u);
  ASSERT_EQ(broken.ReadLine().rfind("port ", 0), 0u);
  probes_->Rescan();

  std::map<std::string, TlsCoverageEntry> fakes;  // by library path
  for (const TlsCoverageEntry& e : probes_->Coverage()) {
    if (e.pid == old.pid() || e.pid == broken.pid()) {
      if (e.library.find("/fake") != std::string::npos) fakes[e.library] = e;
    }
  }
  ASSERT_EQ(fakes.size(), 2u);
  for (const auto& [lib, e] : fakes) {
    SCOPED_TRACE(lib);
    if (lib.find("fake110") != std::string::npos) {
      EXPECT_EQ(e.pid, old.pid());
      EXPECT_TRUE(e.hooked);
      EXPECT_EQ(e.reason, "SSL_read_ex, SSL_write_ex not hooked (absent before OpenSSL 1.1.1)");
    } else {
      EXPECT_EQ(e.pid, broken.pid());
      EXPECT_FALSE(e.hooked);
      EXPECT_EQ(e.reason, std::string(TA_FAKE_LIBSSL_BROKEN) +
                              " does not export SSL_write: not OpenSSL's libssl, or not readable");
    }
  }
  EXPECT_EQ(old.Finish(), 0);
  EXPECT_EQ(broken.Finish(), 0);
}

TEST_F(SslProbesTest, StaticallyLinkedOpensslIsReportedNotCovered) {
  OpenProbes(1024, {1});
  Child child(TA_TLS_PEER_STATIC);
  ASSERT_GT(child.pid(), 0);
  std::string port_line = child.ReadLine();
  ASSERT_EQ(port_line.rfind("port ", 0), 0u) << port_line;
  const auto port = static_cast<uint16_t>(std::stoi(port_line.substr(5)));
  ASSERT_TRUE(probes_->SetPorts({port}).ok());
  probes_->Rescan();

  std::vector<TlsCoverageEntry> mine;
  for (const TlsCoverageEntry& e : probes_->Coverage()) {
    if (e.pid == child.pid()) mine.push_back(e);
  }
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_FALSE(mine[0].hooked);
  EXPECT_EQ(mine[0].library, TA_TLS_PEER_STATIC);
  EXPECT_EQ(mine[0].reason, "statically linked OpenSSL (or BoringSSL): not hooked");

  // And indeed nothing of its TLS is seen.
  child.Send("go");
  std::string done = child.ReadLine();
  ASSERT_EQ(done.rfind("done ", 0), 0u) << done;
  while (probes_->Poll(0) > 0) {
  }
  EXPECT_TRUE(OfProcess(records_, child.pid()).empty());
  ASSERT_EQ(child.Finish(), 0);
}

}  // namespace
}  // namespace ta::testing
