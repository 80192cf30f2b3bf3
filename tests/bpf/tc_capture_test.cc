// Privileged: loads the tc_capture skeleton and drives both programs with
// bpf_prog_test_run_opts() on fixture frames (tests/common/packet_builder.h). Every scenario in
// tests/common/capture_scenarios.h runs here and in the replay decoder's tests; this file adds
// what only the kernel side has: ring buffer records and their size classes, the conn map, the
// tc point and interface, reservation failures, and the verdict (always TC_ACT_UNSPEC).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/bpf/tc_capture_harness.h"
#include "tests/common/capture_scenarios.h"
#include "tests/common/privileges.h"

namespace ta::testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Every shared scenario, through the kernel.

class TcScenarioTest : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override { TA_REQUIRE_ROOT(); }
};

TEST_P(TcScenarioTest, EventsAndCountersMatch) {
  const Scenario& sc = GetParam();
  std::string err;
  TcHarness::Options opts;
  opts.snaplen = sc.snaplen;
  opts.ports = sc.ports;
  auto h = TcHarness::Load(opts, &err);
  ASSERT_NE(h, nullptr) << err;

  std::vector<EventView> got;
  for (size_t i = 0; i < sc.packets.size(); ++i) {
    const ScenarioPacket& p = sc.packets[i];
    ASSERT_EQ(h->Run(p.point, p.frame), TcHarness::kTcActUnspec) << "packet " << i;
    for (const RingRecord& r : h->Drain()) {
      // Where and on which device the record says it was seen.
      EXPECT_EQ(r.hdr.tc_point, static_cast<uint8_t>(p.point)) << "packet " << i;
      EXPECT_EQ(r.hdr.ifindex, TcHarness::kTestRunIfindex) << "packet " << i;
      EXPECT_NE(r.hdr.ts_ns, 0u);
      if (r.view.kind == EventKind::kPayload) {
        // The record is the smallest size class that holds cap_len.
        EXPECT_EQ(r.size, sizeof(ta_payload_event) + PayloadClass(r.cap_len)) << "packet " << i;
        EXPECT_EQ(r.hdr.dir, r.view.dir);
      } else {
        EXPECT_EQ(r.size, sizeof(ta_conn_event));
      }
      got.push_back(r.view);
    }
  }
  EXPECT_EQ(got, sc.expected);

  auto stats = h->Stats();
  EXPECT_EQ(ToStatView(stats), sc.stats);
  // Counters the replay decoder has no equivalent of: nothing lost.
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_PAYLOAD], 0u);
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_CONN], 0u);
  EXPECT_EQ(stats[TA_STAT_CONN_UPDATE_FAILED], 0u);
  EXPECT_EQ(stats[TA_STAT_PAYLOAD_LOAD_FAILED], 0u);
}

INSTANTIATE_TEST_SUITE_P(Capture, TcScenarioTest, ::testing::ValuesIn(CaptureScenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& param) {
                           return param.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// Kernel-only details.

class TcCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override { TA_REQUIRE_ROOT(); }

  std::unique_ptr<TcHarness> Load(TcHarness::Options opts = {}) {
    std::string err;
    auto h = TcHarness::Load(opts, &err);
    EXPECT_NE(h, nullptr) << err;
    return h;
  }
};

TEST_F(TcCaptureTest, RodataCarriesAbiVersionAndSnaplen) {
  TcHarness::Options opts;
  opts.snaplen = 300;
  auto h = Load(opts);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->skel()->rodata->abi_version, static_cast<uint32_t>(TA_ABI_VERSION));
  EXPECT_EQ(h->skel()->rodata->snaplen, 300u);
  // The loader (agent/tc_capture.cc) relies on these names.
  EXPECT_STREQ(bpf_program__name(h->skel()->progs.ta_tc_ingress), "ta_tc_ingress");
  EXPECT_STREQ(bpf_program__name(h->skel()->progs.ta_tc_egress), "ta_tc_egress");
  EXPECT_EQ(bpf_program__type(h->skel()->progs.ta_tc_ingress), BPF_PROG_TYPE_SCHED_CLS);
}

TEST_F(TcCaptureTest, ConnStateFollowsHandshakeAndIsDeletedOnClose) {
  auto h = Load();
  ASSERT_NE(h, nullptr);
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  const Bytes req = PayloadOf("GET / HTTP/1.1\r\n\r\n");
  ta_flow_key key = ToBpfKey(c.key());

  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kSyn).frame), TcHarness::kTcActUnspec);
  auto open = h->Drain();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].hdr.kind, TA_EV_CONN_OPEN);
  EXPECT_EQ(open[0].hdr.dir, TA_DIR_CLIENT_TO_SERVER);
  EXPECT_EQ(open[0].conn_flags, TA_CONN_F_SYN_SEEN);
  EXPECT_EQ(open[0].conn_packets, (std::array<uint64_t, 2>{1, 0}));  // the SYN itself

  auto st = h->Conn(key);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->flags, TA_CONN_F_SYN_SEEN);
  EXPECT_EQ(st->client_isn, 1000u);
  EXPECT_NE(st->syn_ns, 0u);
  EXPECT_EQ(st->synack_ns, 0u);
  EXPECT_EQ(st->first_seen_ns, st->syn_ns);
  EXPECT_EQ(open[0].first_seen_ns, st->syn_ns);
  EXPECT_EQ(open[0].hdr.ts_ns, st->syn_ns);

  ASSERT_EQ(h->Run(TcPoint::kEgress, c.FromServer(kSyn | kAck).frame), TcHarness::kTcActUnspec);
  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kAck).frame), TcHarness::kTcActUnspec);
  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kPsh | kAck, req).frame),
            TcHarness::kTcActUnspec);
  EXPECT_EQ(h->Drain().size(), 1u);  // the payload

  st = h->Conn(key);
  ASSERT_TRUE(st.has_value());
  EXPECT_GE(st->synack_ns, st->syn_ns);
  EXPECT_GE(st->last_seen_ns, st->synack_ns);
  EXPECT_EQ(st->bytes[0], req.size());
  EXPECT_EQ(st->bytes[1], 0u);
  EXPECT_EQ(st->packets[0], 3u);
  EXPECT_EQ(st->packets[1], 1u);

  ASSERT_EQ(h->Run(TcPoint::kEgress, c.FromServer(kFin | kAck).frame), TcHarness::kTcActUnspec);
  st = h->Conn(key);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->flags, TA_CONN_F_SYN_SEEN | TA_CONN_F_FIN_S2C);
  EXPECT_TRUE(h->Drain().empty());

  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kFin | kAck).frame), TcHarness::kTcActUnspec);
  auto close = h->Drain();
  ASSERT_EQ(close.size(), 1u);
  EXPECT_EQ(close[0].hdr.kind, TA_EV_CONN_CLOSE);
  EXPECT_EQ(close[0].hdr.dir, TA_DIR_CLIENT_TO_SERVER);
  EXPECT_EQ(close[0].conn_flags, TA_CONN_F_SYN_SEEN | TA_CONN_F_FIN_C2S | TA_CONN_F_FIN_S2C);
  EXPECT_EQ(close[0].first_seen_ns, open[0].first_seen_ns);
  EXPECT_EQ(close[0].view.packets, (std::array<uint64_t, 2>{4, 2}));
  EXPECT_FALSE(h->Conn(key).has_value());
}

TEST_F(TcCaptureTest, MidStreamOpenAndResetCloseFlags) {
  auto h = Load();
  ASSERT_NE(h, nullptr);
  Conversation c(L3::kIpv6, "2001:db8::10", 50000, "2001:db8::20", 443);
  const Bytes resp = PatternPayload(700);
  ta_flow_key key = ToBpfKey(c.key());

  ASSERT_EQ(h->Run(TcPoint::kEgress, c.FromServer(kAck, resp).frame), TcHarness::kTcActUnspec);
  auto recs = h->Drain();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].hdr.kind, TA_EV_CONN_OPEN);
  EXPECT_EQ(recs[0].hdr.dir, TA_DIR_SERVER_TO_CLIENT);
  EXPECT_EQ(recs[0].conn_flags, TA_CONN_F_MID_STREAM);
  EXPECT_EQ(recs[0].conn_bytes, (std::array<uint64_t, 2>{0, resp.size()}));
  EXPECT_EQ(recs[1].hdr.kind, TA_EV_PAYLOAD);
  EXPECT_EQ(recs[1].cap_len, resp.size());
  EXPECT_EQ(recs[1].size, sizeof(ta_payload_event) + 1024);
  auto st = h->Conn(key);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->syn_ns, 0u);
  EXPECT_EQ(st->flags, TA_CONN_F_MID_STREAM);

  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kRst).frame), TcHarness::kTcActUnspec);
  recs = h->Drain();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].hdr.kind, TA_EV_CONN_CLOSE);
  EXPECT_EQ(recs[0].hdr.tc_point, TA_TC_INGRESS);
  EXPECT_EQ(recs[0].conn_flags, TA_CONN_F_MID_STREAM | TA_CONN_F_RESET);
  EXPECT_FALSE(h->Conn(key).has_value());
}

TEST_F(TcCaptureTest, WatchedPortsCanChangeWhileLoaded) {
  TcHarness::Options opts;
  opts.ports = {80};
  auto h = Load(opts);
  ASSERT_NE(h, nullptr);
  Conversation a(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  Conversation b(L3::kIpv4, "198.18.0.1", 40001, "198.18.0.2", 80);
  ASSERT_EQ(h->Run(TcPoint::kIngress, a.FromClient(kSyn).frame), TcHarness::kTcActUnspec);
  EXPECT_EQ(h->Drain().size(), 1u);
  h->SetPorts({8080});
  ASSERT_EQ(h->Run(TcPoint::kIngress, b.FromClient(kSyn).frame), TcHarness::kTcActUnspec);
  EXPECT_TRUE(h->Drain().empty());
  EXPECT_EQ(h->Stats()[TA_STAT_PACKETS], 1u);
}

// The ring buffer holds 4096 bytes. Each record takes round_up(size + 8, 8) bytes, and the
// kernel refuses a reservation that would put the producer more than 4095 bytes ahead of the
// consumer (kernel/bpf/ringbuf.c, __bpf_ringbuf_reserve): an open record takes 104 + 8 = 112,
// a payload record of the 64-byte class 72 + 64 + 8 = 144. With nothing consumed, the first
// packet (open + payload) uses 256, and 26 more payload records fit (256 + 26 * 144 = 4000);
// every later record fails and is counted, and the close record at the end fails too.
TEST_F(TcCaptureTest, FullRingBufferCountsEveryDrop) {
  TcHarness::Options opts;
  opts.ringbuf_size = 4096;
  auto h = Load(opts);
  ASSERT_NE(h, nullptr);
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  constexpr int kPackets = 40;
  for (int i = 0; i < kPackets; ++i) {
    ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kAck, PayloadOf("0123456789")).frame),
              TcHarness::kTcActUnspec);
  }
  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kFin | kAck).frame), TcHarness::kTcActUnspec);
  ASSERT_EQ(h->Run(TcPoint::kEgress, c.FromServer(kFin | kAck).frame), TcHarness::kTcActUnspec);

  auto stats = h->Stats();
  EXPECT_EQ(stats[TA_STAT_PACKETS], kPackets + 2u);
  EXPECT_EQ(stats[TA_STAT_PAYLOAD_EVENTS], 27u);
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_PAYLOAD], kPackets - 27u);
  EXPECT_EQ(stats[TA_STAT_CONN_EVENTS], 1u);
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_CONN], 1u);

  auto recs = h->Drain();
  ASSERT_EQ(recs.size(), 28u);
  EXPECT_EQ(recs.front().hdr.kind, TA_EV_CONN_OPEN);
  // The records that made it are the first ones, in order, with consecutive sequence numbers.
  for (size_t i = 1; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].hdr.kind, TA_EV_PAYLOAD);
    EXPECT_EQ(recs[i].view.seq, 1000u + 10u * (i - 1));
  }
  // The state was still kept: the close was decided (entry gone) even though its record was
  // dropped, so the agent's loss counter is the only trace, as it should be.
  EXPECT_FALSE(h->Conn(ToBpfKey(c.key())).has_value());

  // Once drained there is room again.
  Conversation d(L3::kIpv4, "198.18.0.1", 40001, "198.18.0.2", 80);
  ASSERT_EQ(h->Run(TcPoint::kIngress, d.FromClient(kSyn).frame), TcHarness::kTcActUnspec);
  EXPECT_EQ(h->Drain().size(), 1u);
  EXPECT_EQ(h->Stats()[TA_STAT_RINGBUF_DROP_CONN], 1u);
}

TEST_F(TcCaptureTest, VerdictIsUnspecForEveryKindOfFrame) {
  auto h = Load();
  ASSERT_NE(h, nullptr);
  // Shortest frame test_run accepts: a bare Ethernet header announcing a VLAN tag that is not
  // there (test_run itself refuses an IPv4 ethertype without a whole IPv4 header).
  FrameSpec ip;
  ip.vlans = {{0x8100, 1}};
  Bytes bare = BuildFrame(ip);
  bare.resize(14);
  EXPECT_EQ(h->Run(TcPoint::kIngress, bare), TcHarness::kTcActUnspec);
  EXPECT_EQ(h->Run(TcPoint::kEgress, bare), TcHarness::kTcActUnspec);
  EXPECT_EQ(h->Stats()[TA_STAT_MALFORMED], 2u);
  for (const Scenario& sc : CaptureScenarios()) {
    for (const ScenarioPacket& p : sc.packets) {
      EXPECT_EQ(h->Run(TcPoint::kIngress, p.frame), TcHarness::kTcActUnspec) << sc.name;
      EXPECT_EQ(h->Run(TcPoint::kEgress, p.frame), TcHarness::kTcActUnspec) << sc.name;
    }
    h->Drain();
  }
}

// ---------------------------------------------------------------------------------------------
// On a real interface. bpf_prog_test_run only builds linear skbs; here the programs are attached
// to a veth pair the test creates (198.19.254.0/30, one end in a network namespace of its own)
// and a real TCP connection sends more than fits in one segment, so the programs see GSO skbs
// whose payload lives in page fragments, on both hooks.

int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

class VethPair {
 public:
  VethPair() {
    const std::string id = std::to_string(getpid() % 100000);
    ns_ = "ta-bpft-" + id;
    host_ = "tabh" + id;
    peer_ = "tabp" + id;
    Sh("ip netns del " + ns_);
    Sh("ip link del " + host_);
    ok_ = Sh("ip netns add " + ns_) == 0 &&
          Sh("ip link add " + host_ + " type veth peer name " + peer_) == 0 &&
          Sh("ip link set " + peer_ + " netns " + ns_) == 0 &&
          Sh("ip addr add 198.19.254.1/30 dev " + host_) == 0 &&
          Sh("ip link set " + host_ + " up") == 0 &&
          Sh("ip -n " + ns_ + " addr add 198.19.254.2/30 dev " + peer_) == 0 &&
          Sh("ip -n " + ns_ + " link set " + peer_ + " up") == 0 &&
          Sh("ip -n " + ns_ + " link set lo up") == 0;
  }
  ~VethPair() {
    Sh("ip link del " + host_);
    Sh("ip netns del " + ns_);
  }
  bool ok() const { return ok_; }
  const std::string& host() const { return host_; }
  std::string netns_path() const { return "/var/run/netns/" + ns_; }

 private:
  std::string ns_, host_, peer_;
  bool ok_ = false;
};

void SetTimeouts(int fd) {
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool WriteAll(int fd, const Bytes& b) {
  size_t off = 0;
  while (off < b.size()) {
    ssize_t n = write(fd, b.data() + off, b.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

Bytes ReadToEof(int fd) {
  Bytes out;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

TEST_F(TcCaptureTest, GsoSegmentsOnVethAreCapturedWhole) {
  VethPair veth;
  ASSERT_TRUE(veth.ok()) << "could not create the veth pair / network namespace (ip, netns)";
  auto h = Load();  // snaplen 1024, port 8080 watched
  ASSERT_NE(h, nullptr);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host().c_str()));
  ASSERT_GT(ifindex, 0);

  bpf_tc_hook hook;
  std::memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
  ASSERT_EQ(bpf_tc_hook_create(&hook), 0);
  for (auto [point, prog] : {std::pair{BPF_TC_INGRESS, h->skel()->progs.ta_tc_ingress},
                             std::pair{BPF_TC_EGRESS, h->skel()->progs.ta_tc_egress}}) {
    bpf_tc_hook at = hook;
    at.attach_point = point;
    bpf_tc_opts opts;
    std::memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.prog_fd = bpf_program__fd(prog);
    ASSERT_EQ(bpf_tc_attach(&at, &opts), 0);
  }

  // Client on the host sends a request larger than any segment; the server, in the namespace,
  // answers once the request is complete and closes. Both directions cross the host's veth end.
  const Bytes request = PatternPayload(200000, 1), response = PatternPayload(100000, 2);
  std::promise<bool> listening;
  auto ready = listening.get_future();
  Bytes received;
  std::thread server([&] {
    int nsfd = open(veth.netns_path().c_str(), O_RDONLY | O_CLOEXEC);
    const bool entered = nsfd >= 0 && setns(nsfd, CLONE_NEWNET) == 0;
    if (nsfd >= 0) close(nsfd);
    if (!entered) {
      listening.set_value(false);
      return;
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(8080);
    inet_pton(AF_INET, "198.19.254.2", &a.sin_addr);
    if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 1) != 0) {
      close(ls);
      listening.set_value(false);
      return;
    }
    SetTimeouts(ls);  // accept() gives up too if the client never comes
    listening.set_value(true);
    int c = accept(ls, nullptr, nullptr);
    close(ls);
    if (c < 0) return;
    SetTimeouts(c);
    received = ReadToEof(c);
    WriteAll(c, response);
    close(c);
  });
  if (!ready.get()) {
    server.join();
    FAIL() << "server could not enter the namespace or listen";
  }

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  SetTimeouts(fd);
  sockaddr_in srv{};
  srv.sin_family = AF_INET;
  srv.sin_port = htons(8080);
  inet_pton(AF_INET, "198.19.254.2", &srv.sin_addr);
  bool connected = connect(fd, reinterpret_cast<sockaddr*>(&srv), sizeof(srv)) == 0;
  if (connected) {
    WriteAll(fd, request);
    shutdown(fd, SHUT_WR);
  }
  Bytes answer = connected ? ReadToEof(fd) : Bytes{};
  close(fd);
  server.join();
  ASSERT_TRUE(connected);
  ASSERT_EQ(received, request);
  ASSERT_EQ(answer, response);

  // Rebuild each direction's byte stream from the records: every captured byte must be the
  // stream's byte at (seq - first seq), and the lengths must add up exactly.
  auto recs = h->Drain();
  ASSERT_GE(recs.size(), 4u);
  EXPECT_EQ(recs.front().hdr.kind, TA_EV_CONN_OPEN);
  EXPECT_EQ(recs.front().conn_flags, TA_CONN_F_SYN_SEEN);
  EXPECT_EQ(recs.front().hdr.tc_point, TA_TC_EGRESS);  // the client's SYN leaves the host
  EXPECT_EQ(recs.back().hdr.kind, TA_EV_CONN_CLOSE);
  EXPECT_EQ(recs.back().conn_bytes, (std::array<uint64_t, 2>{request.size(), response.size()}));
  EXPECT_EQ(recs.back().conn_flags & (TA_CONN_F_FIN_C2S | TA_CONN_F_FIN_S2C),
            TA_CONN_F_FIN_C2S | TA_CONN_F_FIN_S2C);

  std::array<uint64_t, 2> total{};
  std::array<std::optional<uint32_t>, 2> first_seq;
  uint32_t largest = 0;
  for (const RingRecord& r : recs) {
    EXPECT_EQ(r.hdr.ifindex, static_cast<uint32_t>(ifindex));
    if (r.view.kind != EventKind::kPayload) continue;
    const size_t d = r.hdr.dir & 1u;
    EXPECT_EQ(r.hdr.tc_point, d == TA_DIR_CLIENT_TO_SERVER ? TA_TC_EGRESS : TA_TC_INGRESS);
    const Bytes& stream = d == TA_DIR_CLIENT_TO_SERVER ? request : response;
    if (!first_seq[d]) first_seq[d] = r.view.seq;
    const uint32_t at = r.view.seq - *first_seq[d];
    EXPECT_EQ(r.cap_len, std::min<uint32_t>(r.view.payload_len, 1024));
    ASSERT_LE(at + r.view.captured.size(), stream.size());
    EXPECT_TRUE(std::equal(r.view.captured.begin(), r.view.captured.end(), stream.begin() + at))
        << "captured bytes differ from the stream at offset " << at;
    total[d] += r.view.payload_len;
    largest = std::max(largest, r.view.payload_len);
  }
  EXPECT_EQ(total[0], request.size());
  EXPECT_EQ(total[1], response.size());
  // veth does TSO/GRO: segments well above one MSS reached tc in one skb.
  EXPECT_GT(largest, 1500u * 2);
  RecordProperty("largest_segment", static_cast<int>(largest));
  RecordProperty("records", static_cast<int>(recs.size()));
  auto stats = h->Stats();
  EXPECT_EQ(stats[TA_STAT_PAYLOAD_LOAD_FAILED], 0u);
  EXPECT_EQ(stats[TA_STAT_MALFORMED], 0u);
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_PAYLOAD], 0u);
}

}  // namespace
}  // namespace ta::testing
