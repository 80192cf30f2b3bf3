// Privileged: loads the tc_capture skeleton and drives both programs with
// bpf_prog_test_run_opts() on fixture frames (tests/common/packet_builder.h). Every scenario in
// tests/common/capture_scenarios.h runs here and in the replay decoder's tests; this file adds
// what only the kernel side has: ring buffer records and their size classes, the conn map, the
// tc point and interface, reservation failures, and the verdict (always TC_ACT_UNSPEC).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <map>
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

uint64_t MonotonicNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

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
  opts.snaplen_tail = sc.snaplen_tail;
  opts.ports = sc.ports;
  auto h = TcHarness::Load(opts, &err);
  ASSERT_NE(h, nullptr) << err;

  std::vector<EventView> got;
  std::vector<RingRecord> established;
  // Each packet's run lies within a window of CLOCK_MONOTONIC, the clock of
  // bpf_ktime_get_ns(): the handshake timestamps map to the packets they were taken on.
  std::vector<std::array<uint64_t, 2>> windows;
  for (size_t i = 0; i < sc.packets.size(); ++i) {
    const ScenarioPacket& p = sc.packets[i];
    const uint64_t before = MonotonicNs();
    ASSERT_EQ(h->Run(p.point, p.frame), TcHarness::kTcActUnspec) << "packet " << i;
    windows.push_back({before, MonotonicNs()});
    for (RingRecord& r : h->Drain()) {
      // Where and on which device the record says it was seen.
      EXPECT_EQ(r.hdr.tc_point, static_cast<uint8_t>(p.point)) << "packet " << i;
      EXPECT_EQ(r.hdr.ifindex, TcHarness::kTestRunIfindex) << "packet " << i;
      EXPECT_NE(r.hdr.ts_ns, 0u);
      if (r.view.kind == EventKind::kPayload) {
        // The record is the smallest size class that holds head and tail.
        EXPECT_EQ(r.size, sizeof(ta_payload_event) + PayloadClass(r.cap_len + r.tail_len))
            << "packet " << i;
        EXPECT_EQ(r.hdr.dir, r.view.dir);
      } else {
        EXPECT_EQ(r.size, sizeof(ta_conn_event));
      }
      if (r.view.kind == EventKind::kEstablished) {
        // The event is the ACK's: its own time and direction.
        EXPECT_EQ(r.hdr.ts_ns, r.handshake_ns[2]);
        EXPECT_EQ(r.hdr.dir, TA_DIR_CLIENT_TO_SERVER);
        EXPECT_EQ(r.conn_flags & TA_CONN_F_SYN_SEEN, TA_CONN_F_SYN_SEEN);
        for (size_t j = 0; j < 3; ++j) {
          r.view.handshake[j] = PacketIndexAt(windows, r.handshake_ns[j]);
        }
        established.push_back(r);
      }
      got.push_back(r.view);
    }
  }
  EXPECT_EQ(got, sc.expected);
  for (const RingRecord& r : established) {
    EXPECT_LT(r.handshake_ns[0], r.handshake_ns[1]);
    EXPECT_LT(r.handshake_ns[1], r.handshake_ns[2]);
  }

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
  opts.snaplen_tail = 100;
  auto h = Load(opts);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->skel()->rodata->abi_version, static_cast<uint32_t>(TA_ABI_VERSION));
  EXPECT_EQ(h->skel()->rodata->snaplen, 300u);
  EXPECT_EQ(h->skel()->rodata->snaplen_tail, 100u);
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
  auto recs = h->Drain();  // the handshake, then the payload
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].hdr.kind, TA_EV_CONN_ESTABLISHED);
  EXPECT_EQ(recs[0].hdr.tc_point, TA_TC_INGRESS);
  EXPECT_EQ(recs[0].conn_packets, (std::array<uint64_t, 2>{2, 1}));  // SYN, ACK; SYN-ACK
  EXPECT_EQ(recs[1].hdr.kind, TA_EV_PAYLOAD);

  st = h->Conn(key);
  ASSERT_TRUE(st.has_value());
  EXPECT_GT(st->synack_ns, st->syn_ns);
  EXPECT_GT(st->ack_ns, st->synack_ns);
  EXPECT_EQ(recs[0].handshake_ns, (std::array<uint64_t, 3>{st->syn_ns, st->synack_ns, st->ack_ns}));
  EXPECT_EQ(recs[0].hdr.ts_ns, st->ack_ns);
  EXPECT_GT(st->last_seen_ns, st->ack_ns);
  // Sequence tracking: SYN [1000, 1001) then the request; the SYN-ACK [5000, 5001).
  EXPECT_EQ(st->seq[0].seen, 1u);
  EXPECT_EQ(st->seq[0].end, 1001u + req.size());
  EXPECT_EQ(st->seq[0].hole_start, st->seq[0].hole_end);
  EXPECT_EQ(st->seq[1].end, 5001u);
  EXPECT_EQ(st->retransmits[0] + st->retransmits[1], 0u);
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

// The exactly-once claim (ta_handshakes in bpf/tc_capture.bpf.c), driven by hand: while another
// CPU holds the flow's claim, an ACK reports nothing and leaves ack_ns alone; once the claim is
// gone the next ACK reports. A full claim table loses the event and counts it.
TEST_F(TcCaptureTest, HandshakeClaimDecidesWhoReports) {
  auto h = Load();
  ASSERT_NE(h, nullptr);
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  ta_flow_key key = ToBpfKey(c.key());
  ASSERT_EQ(h->Run(TcPoint::kIngress, c.FromClient(kSyn).frame), TcHarness::kTcActUnspec);
  ASSERT_EQ(h->Run(TcPoint::kEgress, c.FromServer(kSyn | kAck).frame), TcHarness::kTcActUnspec);
  h->Drain();

  uint32_t one = 1;
  bpf_map* claims = h->skel()->maps.ta_handshakes;
  ASSERT_EQ(bpf_map__update_elem(claims, &key, sizeof(key), &one, sizeof(one), BPF_NOEXIST), 0);
  const Bytes ack = c.FromClient(kAck).frame;
  ASSERT_EQ(h->Run(TcPoint::kIngress, ack), TcHarness::kTcActUnspec);
  EXPECT_TRUE(h->Drain().empty());
  ASSERT_TRUE(h->Conn(key).has_value());
  EXPECT_EQ(h->Conn(key)->ack_ns, 0u);
  EXPECT_EQ(h->Stats()[TA_STAT_CONN_UPDATE_FAILED], 0u);  // contention is not a failure

  ASSERT_EQ(bpf_map__delete_elem(claims, &key, sizeof(key), 0), 0);
  ASSERT_EQ(h->Run(TcPoint::kIngress, ack), TcHarness::kTcActUnspec);
  auto recs = h->Drain();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].hdr.kind, TA_EV_CONN_ESTABLISHED);
  EXPECT_EQ(recs[0].handshake_ns[2], h->Conn(key)->ack_ns);
  // The winner removed its claim.
  uint32_t v = 0;
  EXPECT_NE(bpf_map__lookup_elem(claims, &key, sizeof(key), &v, sizeof(v), 0), 0);

  // Fill the claim table with other flows' claims: the next handshake cannot claim.
  const uint32_t cap = bpf_map__max_entries(claims);
  for (uint32_t i = 0; i < cap; ++i) {
    ta_flow_key other = key;
    other.client_port = static_cast<uint16_t>(1 + i);
    ASSERT_EQ(bpf_map__update_elem(claims, &other, sizeof(other), &one, sizeof(one), 0), 0) << i;
  }
  Conversation d(L3::kIpv4, "198.18.0.1", 50000, "198.18.0.2", 80);
  ASSERT_EQ(h->Run(TcPoint::kIngress, d.FromClient(kSyn).frame), TcHarness::kTcActUnspec);
  ASSERT_EQ(h->Run(TcPoint::kEgress, d.FromServer(kSyn | kAck).frame), TcHarness::kTcActUnspec);
  ASSERT_EQ(h->Run(TcPoint::kIngress, d.FromClient(kAck).frame), TcHarness::kTcActUnspec);
  recs = h->Drain();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].hdr.kind, TA_EV_CONN_OPEN);
  EXPECT_EQ(h->Stats()[TA_STAT_CONN_UPDATE_FAILED], 1u);
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
// consumer (kernel/bpf/ringbuf.c, __bpf_ringbuf_reserve): an open record takes 144 + 8 = 152,
// a payload record of the 64-byte class 72 + 64 + 8 = 144. With nothing consumed, the first
// packet (open + payload) uses 296, and 26 more payload records fit (296 + 26 * 144 = 4040);
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
  // One pair at a time on the host, across processes: ctest -j runs these tests in parallel
  // processes, and two pairs would both put 198.19.254.1/30 on a host interface, so one
  // test's connections would be routed into the other's namespace and time out. The lock is
  // an flock on a file in /tmp, released when the pair is gone (or the process dies).
  VethPair() : lock_fd_(open("/tmp/ta-bpft-veth.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (lock_fd_ >= 0) flock(lock_fd_, LOCK_EX);
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
    if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
  }
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;
  bool ok() const { return ok_; }
  const std::string& host() const { return host_; }
  std::string netns_path() const { return "/var/run/netns/" + ns_; }

 private:
  int lock_fd_;
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

// Attaches both programs to the clsact hooks of `ifindex`; the veth goes away with the hooks.
::testing::AssertionResult AttachBoth(TcHarness& h, int ifindex) {
  bpf_tc_hook hook;
  std::memset(&hook, 0, sizeof(hook));
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
  if (bpf_tc_hook_create(&hook) != 0) return ::testing::AssertionFailure() << "clsact";
  for (auto [point, prog] : {std::pair{BPF_TC_INGRESS, h.skel()->progs.ta_tc_ingress},
                             std::pair{BPF_TC_EGRESS, h.skel()->progs.ta_tc_egress}}) {
    bpf_tc_hook at = hook;
    at.attach_point = point;
    bpf_tc_opts opts;
    std::memset(&opts, 0, sizeof(opts));
    opts.sz = sizeof(opts);
    opts.prog_fd = bpf_program__fd(prog);
    if (bpf_tc_attach(&at, &opts) != 0) return ::testing::AssertionFailure() << "attach";
  }
  return ::testing::AssertionSuccess();
}

uint32_t TotalRetrans(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return UINT32_MAX;
  return info.tcpi_total_retrans;
}

// Real handshakes through the kernel's TCP: every connection yields exactly one established
// event, between its open and its close, taken at egress (the client's ACK leaves the host),
// with the SYN, SYN-ACK and ACK times in order. Retransmission counts agree with what the
// sockets themselves report (normally none on a veth).
TEST_F(TcCaptureTest, RealHandshakesAreEstablishedExactlyOnce) {
  VethPair veth;
  ASSERT_TRUE(veth.ok()) << "could not create the veth pair / network namespace (ip, netns)";
  auto h = Load();
  ASSERT_NE(h, nullptr);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host().c_str()));
  ASSERT_GT(ifindex, 0);
  ASSERT_TRUE(AttachBoth(*h, ifindex));

  constexpr int kConnections = 8;
  const Bytes request = PayloadOf("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
  const Bytes response = PatternPayload(3000, 4);
  std::promise<bool> listening;
  auto ready = listening.get_future();
  std::vector<uint32_t> server_retrans;
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
    if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        listen(ls, kConnections) != 0) {
      close(ls);
      listening.set_value(false);
      return;
    }
    SetTimeouts(ls);
    listening.set_value(true);
    for (int i = 0; i < kConnections; ++i) {
      int c = accept(ls, nullptr, nullptr);
      if (c < 0) break;
      SetTimeouts(c);
      ReadToEof(c);
      WriteAll(c, response);
      shutdown(c, SHUT_WR);
      server_retrans.push_back(TotalRetrans(c));
      close(c);
    }
    close(ls);
  });
  if (!ready.get()) {
    server.join();
    FAIL() << "server could not enter the namespace or listen";
  }

  std::map<uint16_t, uint32_t> client_retrans;  // by client port
  for (int i = 0; i < kConnections; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SetTimeouts(fd);
    sockaddr_in srv{};
    srv.sin_family = AF_INET;
    srv.sin_port = htons(8080);
    inet_pton(AF_INET, "198.19.254.2", &srv.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&srv), sizeof(srv)) == 0) {
      sockaddr_in self{};
      socklen_t len = sizeof(self);
      getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);
      WriteAll(fd, request);
      shutdown(fd, SHUT_WR);
      Bytes answer = ReadToEof(fd);
      EXPECT_EQ(answer.size(), response.size());
      client_retrans[ntohs(self.sin_port)] = TotalRetrans(fd);
    }
    close(fd);
  }
  server.join();
  ASSERT_EQ(client_retrans.size(), static_cast<size_t>(kConnections));
  ASSERT_EQ(server_retrans.size(), static_cast<size_t>(kConnections));
  uint32_t server_total = 0;
  for (uint32_t r : server_retrans) server_total += r;

  // The last FIN may still be on its way through the stack: wait (bounded) for every close.
  std::vector<RingRecord> recs;
  auto closes = [&] {
    return std::count_if(recs.begin(), recs.end(),
                         [](const RingRecord& r) { return r.hdr.kind == TA_EV_CONN_CLOSE; });
  };
  for (int tries = 0; tries < 500 && closes() < kConnections; ++tries) {
    for (RingRecord& r : h->Drain()) recs.push_back(std::move(r));
    if (closes() < kConnections) usleep(10000);
  }

  struct PerFlow {
    int opens = 0, established = 0, closes = 0;
    std::vector<uint8_t> order;  // kinds in arrival order, payload records left out
    std::array<uint64_t, 3> handshake{};
    std::array<uint64_t, 3> close_handshake{};
    std::array<uint64_t, 2> retransmits{};
    uint8_t established_point = 0xFF;
  };
  std::map<uint16_t, PerFlow> flows;
  for (const RingRecord& r : recs) {
    PerFlow& f = flows[r.view.key.client_port];
    switch (r.hdr.kind) {
      case TA_EV_CONN_OPEN:
        ++f.opens;
        break;
      case TA_EV_CONN_ESTABLISHED:
        ++f.established;
        f.handshake = r.handshake_ns;
        f.established_point = r.hdr.tc_point;
        break;
      case TA_EV_CONN_CLOSE:
        ++f.closes;
        f.close_handshake = r.handshake_ns;
        f.retransmits = r.view.retransmits;
        break;
      default:
        continue;
    }
    f.order.push_back(r.hdr.kind);
  }
  ASSERT_EQ(flows.size(), static_cast<size_t>(kConnections));
  uint64_t s2c_total = 0;
  for (const auto& [port, f] : flows) {
    ASSERT_TRUE(client_retrans.count(port)) << "unknown client port " << port;
    EXPECT_EQ(f.order,
              (std::vector<uint8_t>{TA_EV_CONN_OPEN, TA_EV_CONN_ESTABLISHED, TA_EV_CONN_CLOSE}))
        << "port " << port;
    EXPECT_EQ(f.established_point, TA_TC_EGRESS);
    EXPECT_NE(f.handshake[0], 0u);
    EXPECT_LT(f.handshake[0], f.handshake[1]);
    EXPECT_LT(f.handshake[1], f.handshake[2]);
    EXPECT_EQ(f.close_handshake, f.handshake);  // the close carries the same times
    // Every client segment leaves through the host's egress hook, so each one the client
    // sent again is seen twice; without any, none may be counted.
    if (client_retrans[port] == 0) {
      EXPECT_EQ(f.retransmits[0], 0u) << "port " << port;
    } else {
      EXPECT_GT(f.retransmits[0], 0u) << "port " << port;
    }
    s2c_total += f.retransmits[1];
  }
  if (server_total == 0) {
    EXPECT_EQ(s2c_total, 0u);
  }
  uint32_t client_total = 0;
  for (const auto& [port, r] : client_retrans) client_total += r;
  RecordProperty("client_retransmits", static_cast<int>(client_total));
  RecordProperty("server_retransmits", static_cast<int>(server_total));
  auto stats = h->Stats();
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_CONN], 0u);
  EXPECT_EQ(stats[TA_STAT_CONN_UPDATE_FAILED], 0u);
}

TEST_F(TcCaptureTest, GsoSegmentsOnVethAreCapturedHeadAndTail) {
  VethPair veth;
  ASSERT_TRUE(veth.ok()) << "could not create the veth pair / network namespace (ip, netns)";
  auto h = Load();  // snaplen 1024, port 8080 watched
  ASSERT_NE(h, nullptr);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host().c_str()));
  ASSERT_GT(ifindex, 0);

  ASSERT_TRUE(AttachBoth(*h, ifindex));

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
  size_t tails = 0;
  for (const RingRecord& r : recs) {
    EXPECT_EQ(r.hdr.ifindex, static_cast<uint32_t>(ifindex));
    if (r.view.kind != EventKind::kPayload) continue;
    const size_t d = r.hdr.dir & 1u;
    EXPECT_EQ(r.hdr.tc_point, d == TA_DIR_CLIENT_TO_SERVER ? TA_TC_EGRESS : TA_TC_INGRESS);
    const Bytes& stream = d == TA_DIR_CLIENT_TO_SERVER ? request : response;
    if (!first_seq[d]) first_seq[d] = r.view.seq;
    const uint32_t at = r.view.seq - *first_seq[d];
    // Up to 1024 bytes whole; a longer (GSO) segment as its first 768 and last 256 bytes,
    // the tail loaded from the skb's fragments.
    const bool split = r.view.payload_len > 1024;
    EXPECT_EQ(r.cap_len, split ? 768u : r.view.payload_len);
    EXPECT_EQ(r.tail_len, split ? 256u : 0u);
    ASSERT_LE(at + r.view.payload_len, stream.size());
    EXPECT_TRUE(std::equal(r.view.captured.begin(), r.view.captured.end(), stream.begin() + at))
        << "captured bytes differ from the stream at offset " << at;
    const size_t tail_at = at + r.view.payload_len - r.view.tail.size();
    EXPECT_TRUE(std::equal(r.view.tail.begin(), r.view.tail.end(),
                           stream.begin() + static_cast<std::ptrdiff_t>(tail_at)))
        << "tail bytes differ from the stream at offset " << tail_at;
    if (split) ++tails;
    total[d] += r.view.payload_len;
    largest = std::max(largest, r.view.payload_len);
  }
  EXPECT_EQ(total[0], request.size());
  EXPECT_EQ(total[1], response.size());
  // veth does TSO/GRO: segments well above one MSS reached tc in one skb.
  EXPECT_GT(largest, 1500u * 2);
  EXPECT_GT(tails, 0u);
  RecordProperty("largest_segment", static_cast<int>(largest));
  RecordProperty("records", static_cast<int>(recs.size()));
  auto stats = h->Stats();
  EXPECT_EQ(stats[TA_STAT_PAYLOAD_LOAD_FAILED], 0u);
  EXPECT_EQ(stats[TA_STAT_MALFORMED], 0u);
  EXPECT_EQ(stats[TA_STAT_RINGBUF_DROP_PAYLOAD], 0u);
}

}  // namespace
}  // namespace ta::testing
