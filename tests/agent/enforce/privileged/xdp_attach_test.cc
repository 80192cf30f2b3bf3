// Privileged: attaches the XDP enforcement program (agent/enforce/xdp_enforcer.h) to veths in
// network namespaces the test creates, next to libxdp's tools (xdp-loader, xdp-filter), and
// sends real traffic through them.
//
// Topology, per test (namespace names carry the pid and a sequence number, so runs never meet):
//
//   ns B: vb0 198.18.10.2/24 --- ns A: va0 198.18.10.1/24
//                                      va1 198.18.11.1/24 --- ns C: vc0 198.18.11.2/24
//                                      lo (a device without driver XDP)
//
// The test thread enters ns A (setns), so the loader's netlink calls see A's interfaces; the
// commands it runs name their namespace explicitly. A (RAII) Topology object deletes the
// namespaces, and unloads xdp-filter first, whatever way the test ends.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "agent/enforce/xdp_enforcer.h"
#include "tests/common/privileges.h"

namespace ta::agent::enforce {
namespace {

constexpr char kXdpFilterObject[] = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_ip.o";

std::string Sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 512> buf{};
  while (fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  int status = pclose(p);
  if (rc != nullptr) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

uint64_t MonotonicNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

// Three namespaces and two veth pairs; the destructor undoes everything, also after a failed
// assertion halfway through the set-up.
class Topology {
 public:
  Topology() {
    static int seq = 0;
    prefix_ = "taxdp" + std::to_string(getpid()) + "_" + std::to_string(seq++);
  }
  ~Topology() {
    LeaveA();
    if (xdp_filter_loaded_) Sh(InA("xdp-filter unload --all"));
    for (const char* n : {"a", "b", "c"}) Sh("ip netns del " + prefix_ + n);
  }
  Topology(const Topology&) = delete;
  Topology& operator=(const Topology&) = delete;

  // Returns "" or what failed.
  std::string Create() {
    for (const char* n : {"a", "b", "c"}) {
      int rc = 0;
      std::string out = Sh("ip netns add " + prefix_ + n, &rc);
      if (rc != 0) return out;
    }
    const std::string steps[] = {
        "ip link add va0 netns " + ns("a") + " type veth peer name vb0 netns " + ns("b"),
        "ip link add va1 netns " + ns("a") + " type veth peer name vc0 netns " + ns("c"),
        "ip -n " + ns("a") + " addr add 198.18.10.1/24 dev va0",
        "ip -n " + ns("a") + " addr add 198.18.11.1/24 dev va1",
        "ip -n " + ns("b") + " addr add 198.18.10.2/24 dev vb0",
        "ip -n " + ns("c") + " addr add 198.18.11.2/24 dev vc0",
        "ip -n " + ns("a") + " link set va0 up",
        "ip -n " + ns("a") + " link set va1 up",
        "ip -n " + ns("b") + " link set vb0 up",
        "ip -n " + ns("c") + " link set vc0 up",
        "ip -n " + ns("a") + " link set lo up",
    };
    for (const std::string& s : steps) {
      int rc = 0;
      std::string out = Sh(s, &rc);
      if (rc != 0) return s + ": " + out;
    }
    return "";
  }

  // Moves the calling thread into ns A (the loader's netlink sockets and if_nametoindex follow).
  std::string EnterA() {
    orig_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = open(("/var/run/netns/" + ns("a")).c_str(), O_RDONLY | O_CLOEXEC);
    if (orig_ < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
      if (target >= 0) close(target);
      return "cannot enter " + ns("a");
    }
    close(target);
    return "";
  }
  void LeaveA() {
    if (orig_ >= 0) {
      setns(orig_, CLONE_NEWNET);
      close(orig_);
      orig_ = -1;
    }
  }

  std::string ns(const std::string& n) const { return prefix_ + n; }
  std::string InA(const std::string& cmd) const {
    // nsenter --net keeps our mount namespace, so libxdp finds /sys/fs/bpf (ip netns exec
    // remounts /sys and hides it).
    return "nsenter --net=/var/run/netns/" + ns("a") + " " + cmd;
  }
  // Sends `count` UDP datagrams from namespace `from` to addr:port (bash's /dev/udp: one
  // datagram per write, no ping or netcat needed on the machine).
  void SendUdp(const std::string& from, const std::string& addr, uint16_t port, int count) const {
    for (int i = 0; i < count; ++i) {
      Sh("ip netns exec " + ns(from) + " bash -c 'echo -n x > /dev/udp/" + addr + "/" +
         std::to_string(port) + "'");
    }
  }
  void set_xdp_filter_loaded() { xdp_filter_loaded_ = true; }

 private:
  std::string prefix_;
  int orig_ = -1;
  bool xdp_filter_loaded_ = false;
};

struct Attached {
  uint32_t drv = 0, skb = 0;
};

Attached Query(const std::string& ifname) {
  Attached out;
  LIBBPF_OPTS(bpf_xdp_query_opts, q);
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex != 0 && bpf_xdp_query(ifindex, 0, &q) == 0) {
    out.drv = q.drv_prog_id;
    out.skb = q.skb_prog_id;
  }
  return out;
}

std::string ProgName(uint32_t id) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return "";
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  std::string name = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.name : "";
  close(fd);
  return name;
}

// An XDP program "return XDP_PASS" under a name that is not ours.
int LoadForeign() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_PASS},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_XDP, "foreign_xdp", "GPL", insns, 2, nullptr);
}

// A UDP socket in ns A (opened while the thread is there) counting datagrams per source.
class UdpSink {
 public:
  explicit UdpSink(uint16_t port) : port_(port) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    timeval tv{0, 100'000};
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
      if (fd_ >= 0) close(fd_);
      fd_ = -1;
    }
  }
  ~UdpSink() {
    if (fd_ >= 0) close(fd_);
  }
  UdpSink(const UdpSink&) = delete;
  UdpSink& operator=(const UdpSink&) = delete;
  bool ok() const { return fd_ >= 0; }
  uint16_t port() const { return port_; }

  // Datagrams from `source` that arrive, waiting for up to `want` of them (at most 3 s: the
  // machine may be busy) or, when none is expected, for half a second in which none may come.
  int Received(const std::string& source, int want) {
    const auto deadline =
        std::chrono::steady_clock::now() +
        (want > 0 ? std::chrono::milliseconds(3000) : std::chrono::milliseconds(500));
    int n = 0;
    char buf[64];
    while (std::chrono::steady_clock::now() < deadline && (want == 0 || n < want)) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      ssize_t r = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (r < 0) continue;  // the 100 ms receive timeout: look at the deadline again
      char text[INET_ADDRSTRLEN] = "";
      inet_ntop(AF_INET, &from.sin_addr, text, sizeof(text));
      if (source == text) ++n;
    }
    return n;
  }
  // Forgets datagrams still queued (a late one must not count in the next phase).
  void Drain() {
    char buf[64];
    while (recv(fd_, buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
    }
  }

 private:
  int fd_ = -1;
  uint16_t port_;
};

XdpEnforcerOptions TestOptions() {
  XdpEnforcerOptions o;
  o.max_rules = 64;
  o.max_tracked_sources = 1024;
  o.heartbeat_timeout_ns = 3600'000'000'000u;  // the test beats once
  return o;
}

std::unique_ptr<XdpEnforcer> MustLoad() {
  auto e = XdpEnforcer::Load(TestOptions());
  EXPECT_TRUE(e.ok()) << e.error().ToString();
  if (!e.ok()) return nullptr;
  return std::move(e.value());
}

uint32_t OurId(const XdpEnforcer& e) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(e.prog_fd(), &info, &len) == 0 ? info.id : 0;
}

class XdpAttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TA_REQUIRE_ROOT();
    topo_ = std::make_unique<Topology>();
    ASSERT_EQ(topo_->Create(), "");
    ASSERT_EQ(topo_->EnterA(), "");
  }
  void TearDown() override { topo_.reset(); }

  std::unique_ptr<Topology> topo_;
};

TEST_F(XdpAttachTest, AutoOnVethIsNativeAndDetachRemovesIt) {
  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  auto r = e->Attach("va0", XdpAttachMode::kAuto);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  ASSERT_EQ(e->attachments().size(), 1u);
  const XdpAttachment& a = e->attachments()[0];
  EXPECT_EQ(a.ifname, "va0");
  EXPECT_EQ(a.ifindex, static_cast<int>(if_nametoindex("va0")));
  EXPECT_EQ(a.requested, XdpAttachMode::kAuto);
  EXPECT_TRUE(a.native);
  EXPECT_FALSE(a.replaced_leftover);
  EXPECT_EQ(a.prog_id, OurId(*e));
  EXPECT_EQ(Query("va0").drv, a.prog_id);
  EXPECT_EQ(Query("va0").skb, 0u);
  // Attaching twice to one interface is a configuration error, not a silent no-op.
  EXPECT_EQ(e->Attach("va0", XdpAttachMode::kAuto).error().err, EEXIST);
  e->DetachAll();
  EXPECT_TRUE(e->attachments().empty());
  EXPECT_EQ(Query("va0").drv, 0u);
}

TEST_F(XdpAttachTest, GenericIsReportedAsGeneric) {
  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  auto r = e->Attach("va0", XdpAttachMode::kGeneric);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(e->attachments()[0].native);
  EXPECT_EQ(Query("va0").skb, OurId(*e));
  EXPECT_EQ(Query("va0").drv, 0u);
  e.reset();  // the destructor detaches
  EXPECT_EQ(Query("va0").skb, 0u);
}

TEST_F(XdpAttachTest, NativeWithoutDriverSupportFailsAndAutoFallsBackToGeneric) {
  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  auto r = e->Attach("lo", XdpAttachMode::kNative);  // loopback: no driver XDP
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lo"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("generic"), std::string::npos) << r.error().message;
  EXPECT_EQ(Query("lo").drv + Query("lo").skb, 0u);
  r = e->Attach("lo", XdpAttachMode::kAuto);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_FALSE(e->attachments()[0].native);
  EXPECT_EQ(Query("lo").skb, OurId(*e));
}

TEST_F(XdpAttachTest, UnknownInterfaceSaysSo) {
  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  auto r = e->Attach("nosuch0", XdpAttachMode::kAuto);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'nosuch0' not found"), std::string::npos) << r.error().message;
}

TEST_F(XdpAttachTest, RefusesAnotherProgramAndLeavesItAttached) {
  int rc = 0;
  std::string out =
      Sh(topo_->InA(std::string("xdp-loader load -m skb va0 ") + kXdpFilterObject), &rc);
  ASSERT_EQ(rc, 0) << out;
  const uint32_t theirs = Query("va0").skb;
  ASSERT_NE(theirs, 0u);
  const std::string name = ProgName(theirs);
  ASSERT_FALSE(name.empty());

  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  for (XdpAttachMode mode :
       {XdpAttachMode::kAuto, XdpAttachMode::kNative, XdpAttachMode::kGeneric}) {
    auto r = e->Attach("va0", mode);
    ASSERT_FALSE(r.ok()) << XdpAttachModeName(mode);
    EXPECT_EQ(r.error().err, EBUSY);
    const std::string& m = r.error().message;
    EXPECT_NE(m.find("id " + std::to_string(theirs)), std::string::npos) << m;
    EXPECT_NE(m.find("'" + name + "'"), std::string::npos) << m;
    EXPECT_NE(m.find("generic (skb) mode"), std::string::npos) << m;
    EXPECT_NE(m.find("xdp-loader unload va0 --all"), std::string::npos) << m;
  }
  EXPECT_TRUE(e->attachments().empty());
  e.reset();
  EXPECT_EQ(Query("va0").skb, theirs);  // untouched
  EXPECT_EQ(Query("va0").drv, 0u);
  out = Sh(topo_->InA("xdp-loader unload va0 --all"), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(Query("va0").skb, 0u);
}

// A daemon killed with SIGKILL leaves its program attached (netlink attachment, not a link); the
// next daemon recognises it by name and replaces it atomically.
void LeftoverCase(XdpAttachMode child_mode, XdpAttachMode parent_mode, bool expect_native) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    auto e = XdpEnforcer::Load(TestOptions());
    char ok = (e.ok() && (*e)->Attach("va0", child_mode).ok()) ? 'y' : 'n';
    if (write(fds[1], &ok, 1) != 1) _exit(1);
    for (;;) pause();
  }
  close(fds[1]);
  char ok = 0;
  ASSERT_EQ(read(fds[0], &ok, 1), 1);
  close(fds[0]);
  Attached before = Query("va0");
  kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(ok, 'y') << "the child could not attach";
  ASSERT_TRUE(WIFSIGNALED(status));

  // Still attached after the owner died.
  const uint32_t leftover = before.drv != 0 ? before.drv : before.skb;
  ASSERT_NE(leftover, 0u);
  Attached dead = Query("va0");
  EXPECT_EQ(dead.drv + dead.skb, leftover);
  EXPECT_EQ(ProgName(leftover), TA_XDP_PROG_NAME);

  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  auto r = e->Attach("va0", parent_mode);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  const XdpAttachment& a = e->attachments()[0];
  EXPECT_TRUE(a.replaced_leftover);
  EXPECT_EQ(a.native, expect_native);
  EXPECT_NE(a.prog_id, leftover);
  Attached now = Query("va0");
  EXPECT_EQ(expect_native ? now.drv : now.skb, OurId(*e));
  EXPECT_EQ(expect_native ? now.skb : now.drv, 0u);
  e->DetachAll();
  now = Query("va0");
  EXPECT_EQ(now.drv + now.skb, 0u);
}

TEST_F(XdpAttachTest, ReplacesOwnLeftoverAtomically) {
  LeftoverCase(XdpAttachMode::kAuto, XdpAttachMode::kAuto, /*expect_native=*/true);
}

TEST_F(XdpAttachTest, ReplacesOwnGenericLeftoverWhenNativeIsAsked) {
  LeftoverCase(XdpAttachMode::kGeneric, XdpAttachMode::kNative, /*expect_native=*/true);
}

TEST_F(XdpAttachTest, ReplacesOwnLeftoverInItsModeUnderAuto) {
  LeftoverCase(XdpAttachMode::kGeneric, XdpAttachMode::kAuto, /*expect_native=*/false);
}

TEST_F(XdpAttachTest, DetachAllLeavesAProgramThatReplacedOursAlone) {
  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Attach("va0", XdpAttachMode::kAuto).ok());
  // An operator swaps ours for theirs behind the daemon's back.
  int foreign = LoadForeign();
  ASSERT_GE(foreign, 0);
  const int ifindex = static_cast<int>(if_nametoindex("va0"));
  LIBBPF_OPTS(bpf_xdp_attach_opts, ro, .old_prog_fd = e->prog_fd());
  ASSERT_EQ(bpf_xdp_attach(ifindex, foreign, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &ro), 0);
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(foreign, &info, &len), 0);

  e->DetachAll();
  EXPECT_EQ(Query("va0").drv, info.id);
  e.reset();
  EXPECT_EQ(Query("va0").drv, info.id);
  EXPECT_EQ(bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr), 0);
  close(foreign);
}

// Our program on va0 and xdp-filter on va1 at the same time: no conflict, and real traffic
// (UDP datagrams from B and C to A) shows each program doing its own job.
TEST_F(XdpAttachTest, CoexistsWithXdpFilterOnAnotherInterface) {
  auto e = MustLoad();
  ASSERT_NE(e, nullptr);
  ASSERT_TRUE(e->Attach("va0", XdpAttachMode::kAuto).ok());
  ASSERT_TRUE(e->Beat(MonotonicNs()).ok());
  int rc = 0;
  topo_->set_xdp_filter_loaded();
  std::string out = Sh(topo_->InA("xdp-filter load -m skb -f ipv4 va1"), &rc);
  ASSERT_EQ(rc, 0) << out;
  const uint32_t ours = OurId(*e);
  const uint32_t filter = Query("va1").skb;
  EXPECT_EQ(Query("va0").drv, ours);
  ASSERT_NE(filter, 0u);
  EXPECT_EQ(ProgName(filter).rfind("xdpfilt_", 0), 0u) << ProgName(filter);

  UdpSink sink(9999);
  ASSERT_TRUE(sink.ok());
  // Three datagrams; how many arrived (waiting for three when `want` is 3).
  auto deliver = [&](const std::string& from, const std::string& src, const std::string& dst,
                     int want) {
    sink.Drain();
    topo_->SendUdp(from, dst, sink.port(), 3);
    return sink.Received(src, want);
  };
  EXPECT_EQ(deliver("b", "198.18.10.2", "198.18.10.1", 3), 3);
  EXPECT_EQ(deliver("c", "198.18.11.2", "198.18.11.1", 3), 3);

  // Our rule drops B on va0; C, behind xdp-filter, is unaffected.
  XdpRuleEntry block;
  block.source.family = TA_AF_INET;
  block.source.addr = {198, 18, 10, 2};
  block.source.prefix_len = 32;
  block.value.action = TA_XDP_ACT_DROP;
  block.value.slot = 1;
  block.value.rule_id = 1;
  ASSERT_TRUE(e->PutRule(block).ok());
  EXPECT_EQ(deliver("b", "198.18.10.2", "198.18.10.1", 0), 0);
  auto c = e->ReadCounters(1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->dropped_packets, 3u);  // exactly the three datagrams
  EXPECT_EQ(deliver("c", "198.18.11.2", "198.18.11.1", 3), 3);

  // xdp-filter drops C on va1; B is blocked by us only while our rule exists.
  out = Sh(topo_->InA("xdp-filter ip -m src 198.18.11.2"), &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(deliver("c", "198.18.11.2", "198.18.11.1", 0), 0);
  ASSERT_TRUE(e->DeleteRule(block.source, false).ok());
  EXPECT_EQ(deliver("b", "198.18.10.2", "198.18.10.1", 3), 3);
  EXPECT_EQ(deliver("c", "198.18.11.2", "198.18.11.1", 0), 0);
  EXPECT_EQ(e->ReadCounters(1)->dropped_packets, 3u);
  auto stats = e->ReadStats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ((*stats)[TA_XDP_STAT_DROPPED], 3u);
  EXPECT_EQ((*stats)[TA_XDP_STAT_FAIL_OPEN], 0u);

  // Both programs are still where they were; detaching ours leaves xdp-filter's.
  EXPECT_EQ(Query("va0").drv, ours);
  EXPECT_EQ(Query("va1").skb, filter);
  e->DetachAll();
  EXPECT_EQ(Query("va0").drv, 0u);
  EXPECT_EQ(Query("va1").skb, filter);
  out = Sh(topo_->InA("xdp-filter unload va1"), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(Query("va1").skb, 0u);
}

}  // namespace
}  // namespace ta::agent::enforce
