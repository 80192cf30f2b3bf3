// Privileged: loads bpf/xdp_enforce.bpf.c through its loader (agent/enforce/xdp_enforcer.h) and
// drives the program with bpf_prog_test_run_opts() on fixture frames (tests/common/
// packet_builder.h), one test per verdict path of ta_abi.h's "XDP enforcement" order, IPv4 and
// IPv6. Every test ends by checking that each frame got exactly one verdict
// (PASSED + DROPPED == PACKETS).
//
// Time: bpf_ktime_get_ns() moves on while a test runs, so rate limits use intervals of an hour
// and more (nothing refills during a test) and the heartbeat timeout is an hour, except where
// staleness is the point.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/enforce/xdp_enforcer.h"
#include "tests/bpf/test_run.h"
#include "tests/common/packet_builder.h"
#include "tests/common/privileges.h"

namespace ta::testing {
namespace {

using agent::enforce::Cidr;
using agent::enforce::XdpEnforcer;
using agent::enforce::XdpEnforcerOptions;
using agent::enforce::XdpRuleEntry;
using agent::enforce::XdpStats;
using agent::enforce::XdpSynEntry;

constexpr int kPass = XDP_PASS;
constexpr int kDrop = XDP_DROP;
constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kHour = 3600 * kSecond;

uint64_t MonotonicNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * kSecond + static_cast<uint64_t>(t.tv_nsec);
}

// "198.18.0.0", 16 -> Cidr, without Cidr::Parse (the loader is tested on its own here).
Cidr Prefix(const std::string& addr, uint8_t len) {
  Cidr c;
  const bool v6 = addr.find(':') != std::string::npos;
  c.family = v6 ? TA_AF_INET6 : TA_AF_INET;
  c.prefix_len = len;
  EXPECT_EQ(inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), c.addr.data()), 1) << addr;
  return c;
}

struct RuleSpec {
  uint8_t action = TA_XDP_ACT_DROP;
  uint32_t slot = 0;
  uint16_t port = 0;
  uint64_t interval_ns = 0;
  uint64_t tolerance_ns = 0;
  uint64_t expires_ns = 0;
  bool dry_run = false;
  uint32_t rule_id = 0;  // default: slot + 100
};

FrameSpec Tcp(const std::string& src, uint16_t dport = 80, uint8_t flags = kAck,
              size_t payload = 0) {
  FrameSpec s;
  const bool v6 = src.find(':') != std::string::npos;
  s.l3 = v6 ? L3::kIpv6 : L3::kIpv4;
  s.src = src;
  s.dst = v6 ? "2001:db8:ffff::1" : "198.19.255.1";
  s.dport = dport;
  s.tcp_flags = flags;
  s.payload = PatternPayload(payload);
  return s;
}

FrameSpec Udp(const std::string& src, uint16_t dport = 80) {
  FrameSpec s = Tcp(src, dport);
  s.l4_proto = kProtoUdp;
  s.payload = PatternPayload(12);
  return s;
}

// First fragment (MF set, offset 0) of a TCP segment: the TCP header is there, but fragments
// are judged by source-wide rules only.
FrameSpec Fragment(const std::string& src, uint16_t dport = 80) {
  FrameSpec s = Tcp(src, dport, kAck, 64);
  if (s.l3 == L3::kIpv4) {
    s.ipv4_frag = 0x2000;
  } else {
    s.ipv6_ext = {{kExtFragment, 8, 0x0001}};
  }
  return s;
}

// The per-(rule, source) GCRA bucket map, found through the program's map ids (the loader does
// not expose it: only the program and the tests look inside).
int MapFdByName(int prog_fd, const std::string& name) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return -1;
  std::vector<uint32_t> ids(info.nr_map_ids);
  info = {};
  info.nr_map_ids = static_cast<uint32_t>(ids.size());
  info.map_ids = reinterpret_cast<uint64_t>(ids.data());
  len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return -1;
  for (uint32_t id : ids) {
    int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info mi{};
    uint32_t mlen = sizeof(mi);
    // Kernel object names hold 15 characters.
    if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 && name.substr(0, 15) == mi.name) return fd;
    close(fd);
  }
  return -1;
}

class XdpEnforceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TA_REQUIRE_ROOT();
    XdpEnforcerOptions o;
    o.max_rules = 64;
    o.max_tracked_sources = 1024;
    o.max_syn_ports = 8;
    o.heartbeat_timeout_ns = kHour;
    Load(o);
  }

  void TearDown() override {
    if (enf_ == nullptr) return;
    auto s = Stats();
    EXPECT_EQ(s[TA_XDP_STAT_PASSED] + s[TA_XDP_STAT_DROPPED], s[TA_XDP_STAT_PACKETS])
        << "every frame gets exactly one verdict";
  }

  void Load(const XdpEnforcerOptions& o, bool beat = true) {
    auto e = XdpEnforcer::Load(o);
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    enf_ = std::move(e.value());
    if (beat) {
      ASSERT_TRUE(enf_->Beat(MonotonicNs()).ok());
    }
  }

  void Put(const Cidr& source, const RuleSpec& r) {
    XdpRuleEntry e;
    e.source = source;
    e.allow = r.action == TA_XDP_ACT_ALLOW;
    e.value.action = r.action;
    e.value.slot = r.slot;
    e.value.rule_id = r.rule_id != 0 ? r.rule_id : r.slot + 100;
    e.value.port = r.port;
    e.value.interval_ns = r.interval_ns;
    e.value.tolerance_ns = r.tolerance_ns;
    e.value.expires_ns = r.expires_ns;
    e.value.flags = r.dry_run ? TA_XDP_RULE_DRY_RUN : 0;
    auto res = enf_->PutRule(e);
    ASSERT_TRUE(res.ok()) << res.error().ToString();
  }
  void Block(const std::string& addr, uint8_t len, uint32_t slot, uint16_t port = 0) {
    RuleSpec r;
    r.slot = slot;
    r.port = port;
    Put(Prefix(addr, len), r);
  }
  // A rate limit that never refills during a test: `burst` packets, then nothing for hours.
  void RateLimit(const std::string& addr, uint8_t len, uint32_t slot, uint64_t burst,
                 uint16_t port = 0) {
    RuleSpec r;
    r.action = TA_XDP_ACT_RATE_LIMIT;
    r.slot = slot;
    r.port = port;
    r.interval_ns = kHour;
    r.tolerance_ns = burst * kHour;
    Put(Prefix(addr, len), r);
  }
  void Syn(uint16_t port, uint32_t ppm, uint32_t slot, bool dry_run = false,
           uint64_t expires_ns = 0) {
    XdpSynEntry e;
    e.port = port;
    e.admit_ppm = ppm;
    e.slot = slot;
    e.dry_run = dry_run;
    e.expires_ns = expires_ns;
    auto res = enf_->PutSyn(e);
    ASSERT_TRUE(res.ok()) << res.error().ToString();
  }

  // One run of the program; the XDP action, or -errno if test_run itself failed.
  int Run(const Bytes& frame, uint32_t repeat = 1) {
    bpf_test_run_opts opts = TestRunOpts(frame, repeat);
    if (int err = bpf_prog_test_run_opts(enf_->prog_fd(), &opts); err != 0) return err;
    return static_cast<int>(opts.retval);
  }
  int Run(const FrameSpec& spec) { return Run(BuildFrame(spec)); }

  XdpStats Stats() {
    auto s = enf_->ReadStats();
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? *s : XdpStats{};
  }
  ta_xdp_rule_counters Counters(uint32_t slot) {
    auto c = enf_->ReadCounters(slot);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return c.ok() ? *c : ta_xdp_rule_counters{};
  }

  std::unique_ptr<XdpEnforcer> enf_;
};

// The verdict of the listed stats only; all others must be zero.
void ExpectStats(const XdpStats& s, std::vector<std::pair<int, uint64_t>> nonzero) {
  XdpStats want{};
  for (auto [i, v] : nonzero) want[static_cast<size_t>(i)] = v;
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(s[i], want[i]) << "ta_xdp_stats[" << i << "]";
}

bool SameCounters(const ta_xdp_rule_counters& a, const ta_xdp_rule_counters& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

ta_xdp_rule_counters Matched(uint64_t packets, uint64_t bytes, uint64_t dropped = 0,
                             uint64_t dropped_bytes = 0, uint64_t would = 0,
                             uint64_t would_bytes = 0) {
  return {packets, bytes, dropped, dropped_bytes, would, would_bytes};
}

#define EXPECT_COUNTERS(slot, expected)                                                           \
  do {                                                                                            \
    ta_xdp_rule_counters got_ = Counters(slot);                                                   \
    ta_xdp_rule_counters want_ = (expected);                                                      \
    EXPECT_TRUE(SameCounters(got_, want_))                                                        \
        << "slot " << (slot) << ": matched " << got_.matched_packets << "/" << got_.matched_bytes \
        << " dropped " << got_.dropped_packets << "/" << got_.dropped_bytes << " would_drop "     \
        << got_.would_drop_packets << "/" << got_.would_drop_bytes << "; want "                   \
        << want_.matched_packets << "/" << want_.matched_bytes << " " << want_.dropped_packets    \
        << "/" << want_.dropped_bytes << " " << want_.would_drop_packets << "/"                   \
        << want_.would_drop_bytes;                                                                \
  } while (0)

// ---------------------------------------------------------------------------------------------
// The object and the loader.

TEST_F(XdpEnforceTest, ProgramIsNamedAndTypedAsTheAttachCodeExpects) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(enf_->prog_fd(), &info, &len), 0);
  EXPECT_STREQ(info.name, TA_XDP_PROG_NAME);
  EXPECT_EQ(info.type, BPF_PROG_TYPE_XDP);
  // The verifier's work for the whole program (docs/enforcement-datapath.md): a regression
  // guard against an unrolled loop or a lost bound multiplying it, far above today's figure.
  EXPECT_GT(info.verified_insns, 0u);
  EXPECT_LT(info.verified_insns, 100000u);
  RecordProperty("verified_insns", static_cast<int>(info.verified_insns));
  std::printf("ta_xdp_enforce: %u instructions, %u verified\n", info.xlated_prog_len / 8,
              info.verified_insns);
}

TEST_F(XdpEnforceTest, LoaderRejectsBadEntriesAndSaysWhy) {
  XdpRuleEntry e;
  e.source = Prefix("198.18.0.0", 24);
  e.value.action = TA_XDP_ACT_DROP;
  e.value.slot = 64;  // == max_rules
  auto r = enf_->PutRule(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, EINVAL);
  EXPECT_NE(r.error().message.find("slot 64 out of range"), std::string::npos) << r.error().message;

  e.value.slot = 1;
  e.allow = true;  // DROP in the allowlist
  r = enf_->PutRule(e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("allowlist"), std::string::npos) << r.error().message;

  e.allow = false;
  e.value.action = TA_XDP_ACT_RATE_LIMIT;  // without an interval
  r = enf_->PutRule(e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("interval"), std::string::npos) << r.error().message;

  e.source.prefix_len = 33;
  e.value.action = TA_XDP_ACT_DROP;
  r = enf_->PutRule(e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("198.18.0.0/33"), std::string::npos) << r.error().message;

  auto d = enf_->DeleteRule(Prefix("198.18.9.0", 24), false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().err, ENOENT);
  EXPECT_NE(d.error().message.find("198.18.9.0/24"), std::string::npos) << d.error().message;

  XdpSynEntry s;
  s.port = 80;
  s.admit_ppm = TA_XDP_PPM + 1;
  EXPECT_EQ(enf_->PutSyn(s).error().err, EINVAL);
  EXPECT_EQ(enf_->DeleteSyn(81).error().err, ENOENT);
  EXPECT_EQ(enf_->ResetSlot(64).error().err, EINVAL);
}

TEST_F(XdpEnforceTest, FullTrieErrorNamesTheSetting) {
  XdpEnforcerOptions o;
  o.max_rules = 2;
  o.heartbeat_timeout_ns = kHour;
  Load(o);
  Block("198.18.1.0", 24, 0);
  Block("198.18.2.0", 24, 1);
  XdpRuleEntry e;
  e.source = Prefix("198.18.3.0", 24);
  e.value.slot = 1;
  auto r = enf_->PutRule(e);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("raise enforcement.max_rules"), std::string::npos)
      << r.error().ToString();
  // The v6 trie is separate and still has room; replacing an existing prefix needs none.
  Block("2001:db8::", 32, 0);
  Block("198.18.1.0", 24, 1);
}

TEST_F(XdpEnforceTest, HostBitsAreClearedSoDeleteFindsTheEntry) {
  Block("198.18.0.77", 24, 1);  // stored as 198.18.0.0/24
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kDrop);
  ASSERT_TRUE(enf_->DeleteRule(Prefix("198.18.0.0", 24), false).ok());
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
}

TEST_F(XdpEnforceTest, LoadRejectsNonsenseOptions) {
  XdpEnforcerOptions o;
  o.max_rules = 0;
  EXPECT_EQ(XdpEnforcer::Load(o).error().err, EINVAL);
  o = {};
  o.new_sources_per_second = 0;
  EXPECT_EQ(XdpEnforcer::Load(o).error().err, EINVAL);
  o = {};
  o.heartbeat_timeout_ns = 0;
  EXPECT_EQ(XdpEnforcer::Load(o).error().err, EINVAL);
}

// ---------------------------------------------------------------------------------------------
// 6. No rule: everything passes.

TEST_F(XdpEnforceTest, NoRulePassesV4AndV6) {
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("2001:db8::1")), kPass);
  EXPECT_EQ(Run(Udp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.1", 80, kSyn)), kPass);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 4}, {TA_XDP_STAT_PASSED, 4}});
}

// ---------------------------------------------------------------------------------------------
// 4. Blocklist: DROP.

TEST_F(XdpEnforceTest, BlockDropsTheSourceOnlyV4AndV6) {
  Block("198.18.0.1", 32, 1);
  Block("2001:db8::1", 128, 2);
  const Bytes v4 = BuildFrame(Tcp("198.18.0.1", 80, kAck, 100));
  const Bytes v6 = BuildFrame(Tcp("2001:db8::1", 80, kAck, 100));
  EXPECT_EQ(Run(v4), kDrop);
  EXPECT_EQ(Run(v6), kDrop);
  EXPECT_EQ(Run(Tcp("198.18.0.2")), kPass);
  EXPECT_EQ(Run(Tcp("2001:db8::2")), kPass);
  EXPECT_COUNTERS(1u, Matched(1, v4.size(), 1, v4.size()));
  EXPECT_COUNTERS(2u, Matched(1, v6.size(), 1, v6.size()));
  ExpectStats(Stats(),
              {{TA_XDP_STAT_PACKETS, 4}, {TA_XDP_STAT_PASSED, 2}, {TA_XDP_STAT_DROPPED, 2}});
}

TEST_F(XdpEnforceTest, ExpiredBlockIsIgnoredV4AndV6) {
  const uint64_t now = MonotonicNs();
  RuleSpec past;
  past.slot = 1;
  // Expiries are judged on the coarse clock (one scheduler tick behind at most): a second ago
  // is expired on any kernel.
  past.expires_ns = now - kSecond;
  Put(Prefix("198.18.0.0", 24), past);
  past.slot = 2;
  Put(Prefix("2001:db8::", 64), past);
  RuleSpec future;
  future.slot = 3;
  future.expires_ns = now + kHour;
  Put(Prefix("198.18.1.0", 24), future);

  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("2001:db8::1")), kPass);
  EXPECT_EQ(Run(Tcp("198.18.1.1")), kDrop);
  EXPECT_COUNTERS(1u, Matched(0, 0));
  EXPECT_COUNTERS(2u, Matched(0, 0));
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 3},
                        {TA_XDP_STAT_PASSED, 2},
                        {TA_XDP_STAT_DROPPED, 1},
                        {TA_XDP_STAT_EXPIRED, 2}});
}

// ---------------------------------------------------------------------------------------------
// 3. Allowlist over blocklist.

TEST_F(XdpEnforceTest, AllowlistWinsOverBlocklistV4AndV6) {
  Block("198.18.0.0", 24, 1);
  Block("2001:db8::", 32, 2);
  RuleSpec allow;
  allow.action = TA_XDP_ACT_ALLOW;
  allow.slot = 3;
  Put(Prefix("198.18.0.7", 32), allow);
  allow.slot = 4;
  Put(Prefix("2001:db8::7", 128), allow);

  const Bytes a4 = BuildFrame(Tcp("198.18.0.7")), a6 = BuildFrame(Tcp("2001:db8::7"));
  EXPECT_EQ(Run(a4), kPass);
  EXPECT_EQ(Run(a6), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.8")), kDrop);
  EXPECT_EQ(Run(Tcp("2001:db8::8")), kDrop);
  EXPECT_COUNTERS(3u, Matched(1, a4.size()));
  EXPECT_COUNTERS(4u, Matched(1, a6.size()));
  EXPECT_EQ(Counters(1).dropped_packets, 1u);
  EXPECT_EQ(Counters(2).dropped_packets, 1u);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 4},
                        {TA_XDP_STAT_PASSED, 2},
                        {TA_XDP_STAT_DROPPED, 2},
                        {TA_XDP_STAT_ALLOWLISTED, 2}});
}

TEST_F(XdpEnforceTest, ExpiredAllowEntryLetsTheBlocklistDecide) {
  Block("198.18.0.0", 24, 1);
  RuleSpec allow;
  allow.action = TA_XDP_ACT_ALLOW;
  allow.slot = 3;
  allow.expires_ns = MonotonicNs() - kSecond;
  Put(Prefix("198.18.0.7", 32), allow);
  EXPECT_EQ(Run(Tcp("198.18.0.7")), kDrop);
  EXPECT_COUNTERS(3u, Matched(0, 0));
  ExpectStats(Stats(),
              {{TA_XDP_STAT_PACKETS, 1}, {TA_XDP_STAT_DROPPED, 1}, {TA_XDP_STAT_EXPIRED, 1}});
}

// ---------------------------------------------------------------------------------------------
// Longest prefix: the most specific rule decides, whatever its action.

// The loader tells the program which tables hold entries (ta_xdp_config.populated) so empty
// ones are not looked up: removing one of two entries must keep the other judged, removing the
// last and adding again must bring the table back, per table and per family.
TEST_F(XdpEnforceTest, TablesStayJudgedAcrossAddsAndDeletes) {
  Block("198.18.0.0", 24, 1);
  Block("198.18.1.0", 24, 2);
  ASSERT_TRUE(enf_->DeleteRule(Prefix("198.18.0.0", 24), false).ok());
  EXPECT_EQ(Run(Tcp("198.18.1.9")), kDrop);  // the other entry of the trie
  EXPECT_EQ(Run(Tcp("198.18.0.9")), kPass);
  ASSERT_TRUE(enf_->DeleteRule(Prefix("198.18.1.0", 24), false).ok());
  EXPECT_EQ(Run(Tcp("198.18.1.9")), kPass);  // the trie is empty
  Block("198.18.2.0", 24, 3);
  EXPECT_EQ(Run(Tcp("198.18.2.9")), kDrop);  // and judged again once it is not
  Block("2001:db8::", 32, 4);
  EXPECT_EQ(Run(Tcp("2001:db8::9")), kDrop);  // the IPv6 trie has its own bit
  ASSERT_TRUE(enf_->DeleteRule(Prefix("2001:db8::", 32), false).ok());
  EXPECT_EQ(Run(Tcp("198.18.2.9")), kDrop);  // emptying IPv6 leaves IPv4 alone
  Syn(80, 0, 5);
  Syn(81, 0, 6);
  ASSERT_TRUE(enf_->DeleteSyn(80).ok());
  EXPECT_EQ(Run(Tcp("198.18.7.9", 81, kSyn)), kDrop);  // the other throttled port
  ASSERT_TRUE(enf_->DeleteSyn(81).ok());
  EXPECT_EQ(Run(Tcp("198.18.7.9", 81, kSyn)), kPass);
  Syn(82, 0, 7);
  EXPECT_EQ(Run(Tcp("198.18.7.9", 82, kSyn)), kDrop);
}

TEST_F(XdpEnforceTest, LongestPrefixWinsV4AndV6) {
  Block("198.18.0.0", 16, 1);
  RateLimit("198.18.5.0", 24, 2, 100);
  Block("2001:db8::", 32, 3);
  RateLimit("2001:db8:1::", 48, 4, 100);

  EXPECT_EQ(Run(Tcp("198.18.5.7")), kPass);     // the /24 rate limit, conforming
  EXPECT_EQ(Run(Tcp("198.18.6.7")), kDrop);     // only the /16 holds it
  EXPECT_EQ(Run(Tcp("2001:db8:1::7")), kPass);  // the /48
  EXPECT_EQ(Run(Tcp("2001:db8:2::7")), kDrop);  // the /32
  EXPECT_EQ(Counters(1).matched_packets, 1u);
  EXPECT_EQ(Counters(2).matched_packets, 1u);
  EXPECT_EQ(Counters(3).matched_packets, 1u);
  EXPECT_EQ(Counters(4).matched_packets, 1u);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 4},
                        {TA_XDP_STAT_PASSED, 2},
                        {TA_XDP_STAT_DROPPED, 2},
                        {TA_XDP_STAT_BUCKET_NEW, 2}});
}

// ---------------------------------------------------------------------------------------------
// Port-scoped and source-wide rules.

TEST_F(XdpEnforceTest, PortScopedRuleTakesOnlyTcpToItsPort) {
  Block("198.18.0.1", 32, 1, 80);
  Block("2001:db8::1", 128, 2, 80);
  for (const std::string src : {"198.18.0.1", "2001:db8::1"}) {
    SCOPED_TRACE(src);
    EXPECT_EQ(Run(Tcp(src, 80)), kDrop);
    EXPECT_EQ(Run(Tcp(src, 443)), kPass);
    EXPECT_EQ(Run(Udp(src, 80)), kPass);
    EXPECT_EQ(Run(Fragment(src, 80)), kPass);  // no L4 header to judge: source-wide only
  }
  EXPECT_EQ(Counters(1).matched_packets, 1u);
  EXPECT_EQ(Counters(2).matched_packets, 1u);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 8},
                        {TA_XDP_STAT_PASSED, 6},
                        {TA_XDP_STAT_DROPPED, 2},
                        {TA_XDP_STAT_FRAGMENTS, 2}});
}

TEST_F(XdpEnforceTest, SourceWideRuleDropsEveryProtocolAndFragment) {
  Block("198.18.0.1", 32, 1);
  Block("2001:db8::1", 128, 2);
  std::vector<FrameSpec> v4 = {Tcp("198.18.0.1", 443), Udp("198.18.0.1", 53),
                               Fragment("198.18.0.1")};
  FrameSpec icmp = Tcp("198.18.0.1");
  icmp.l4_proto = kProtoIcmp;
  v4.push_back(icmp);
  FrameSpec later = Fragment("198.18.0.1");  // a non-first fragment: no TCP header at all
  later.ipv4_frag = 185;
  v4.push_back(later);
  std::vector<FrameSpec> v6 = {Tcp("2001:db8::1", 443), Udp("2001:db8::1", 53),
                               Fragment("2001:db8::1")};
  FrameSpec esp = Tcp("2001:db8::1");  // an extension chain the parser does not walk
  esp.ipv6_ext = {{kExtEsp, 8}};
  v6.push_back(esp);

  uint64_t b4 = 0, b6 = 0;
  for (const FrameSpec& s : v4) {
    Bytes f = BuildFrame(s);
    b4 += f.size();
    EXPECT_EQ(Run(f), kDrop);
  }
  for (const FrameSpec& s : v6) {
    Bytes f = BuildFrame(s);
    b6 += f.size();
    EXPECT_EQ(Run(f), kDrop);
  }
  EXPECT_COUNTERS(1u, Matched(5, b4, 5, b4));
  EXPECT_COUNTERS(2u, Matched(4, b6, 4, b6));
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 9},
                        {TA_XDP_STAT_DROPPED, 9},
                        {TA_XDP_STAT_FRAGMENTS, 3},
                        {TA_XDP_STAT_IPV6_EXT_UNSUPPORTED, 1}});
}

TEST_F(XdpEnforceTest, UnsupportedExtensionChainEscapesPortRulesOnly) {
  Block("2001:db8::1", 128, 1, 80);
  FrameSpec esp = Tcp("2001:db8::1");
  esp.ipv6_ext = {{kExtEsp, 8}};
  EXPECT_EQ(Run(esp), kPass);
  EXPECT_EQ(Counters(1).matched_packets, 0u);
  ExpectStats(
      Stats(),
      {{TA_XDP_STAT_PACKETS, 1}, {TA_XDP_STAT_PASSED, 1}, {TA_XDP_STAT_IPV6_EXT_UNSUPPORTED, 1}});
}

// ---------------------------------------------------------------------------------------------
// RATE_LIMIT: GCRA per (rule, source). `burst` packets conform back to back from a full bucket,
// then one per interval (an hour here: none during the test).

TEST_F(XdpEnforceTest, RateLimitBurstIsExactPerSourceV4AndV6) {
  RateLimit("198.18.0.0", 24, 1, 5);
  RateLimit("2001:db8::", 64, 2, 5);
  const Bytes a = BuildFrame(Tcp("198.18.0.1")), b = BuildFrame(Tcp("198.18.0.2"));
  const Bytes c = BuildFrame(Tcp("2001:db8::1"));
  std::vector<int> got_a, got_b, got_c;
  for (int i = 0; i < 6; ++i) got_a.push_back(Run(a));
  for (int i = 0; i < 7; ++i) got_b.push_back(Run(b));  // its own bucket
  for (int i = 0; i < 6; ++i) got_c.push_back(Run(c));
  EXPECT_EQ(got_a, (std::vector<int>{kPass, kPass, kPass, kPass, kPass, kDrop}));
  EXPECT_EQ(got_b, (std::vector<int>{kPass, kPass, kPass, kPass, kPass, kDrop, kDrop}));
  EXPECT_EQ(got_c, (std::vector<int>{kPass, kPass, kPass, kPass, kPass, kDrop}));
  EXPECT_COUNTERS(1u, Matched(13, 6 * a.size() + 7 * b.size(), 3, a.size() + 2 * b.size()));
  EXPECT_COUNTERS(2u, Matched(6, 6 * c.size(), 1, c.size()));
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 19},
                        {TA_XDP_STAT_PASSED, 15},
                        {TA_XDP_STAT_DROPPED, 4},
                        {TA_XDP_STAT_BUCKET_NEW, 3}});
}

TEST_F(XdpEnforceTest, RateLimitWithBurstZeroStillLetsOnePacketPerInterval) {
  RateLimit("198.18.0.0", 24, 1, 0);
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kDrop);
}

TEST_F(XdpEnforceTest, RateLimitOnAPortLeavesOtherPortsAlone) {
  RateLimit("198.18.0.0", 24, 1, 1, 443);
  EXPECT_EQ(Run(Tcp("198.18.0.1", 443)), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.1", 443)), kDrop);
  EXPECT_EQ(Run(Tcp("198.18.0.1", 80)), kPass);
  EXPECT_EQ(Run(Udp("198.18.0.1", 443)), kPass);
  EXPECT_EQ(Counters(1).matched_packets, 2u);
}

TEST_F(XdpEnforceTest, TinyIntervalsRefillAndHugeOnesSaturate) {
  // interval 1 ns: every run is at least a nanosecond after the previous one, so it always
  // conforms; interval and tolerance near 2^64 must not wrap into "conforming forever".
  RuleSpec fast;
  fast.action = TA_XDP_ACT_RATE_LIMIT;
  fast.slot = 1;
  fast.interval_ns = 1;
  fast.tolerance_ns = 1;
  Put(Prefix("198.18.0.0", 24), fast);
  RuleSpec huge;
  huge.action = TA_XDP_ACT_RATE_LIMIT;
  huge.slot = 2;
  huge.interval_ns = UINT64_MAX;
  huge.tolerance_ns = UINT64_MAX;
  Put(Prefix("198.18.1.0", 24), huge);
  EXPECT_EQ(Run(BuildFrame(Tcp("198.18.0.1")), 1000), kPass);
  EXPECT_EQ(Counters(1).dropped_packets, 0u);
  EXPECT_EQ(Run(Tcp("198.18.1.1")), kPass);  // tat saturates at 2^64 - 1
  EXPECT_EQ(Run(Tcp("198.18.1.1")), kDrop);
  EXPECT_EQ(Run(Tcp("198.18.1.1")), kDrop);
}

// Newcomers: within the budget a new source starts with a full bucket, beyond it with an empty
// one (first packet dropped; a retransmission one interval later conforms).
TEST_F(XdpEnforceTest, NewcomerBudgetExhaustedGivesEmptyBucket) {
  XdpEnforcerOptions o;
  o.max_rules = 64;
  o.heartbeat_timeout_ns = kHour;
  o.new_sources_per_second = 1e-6;  // one new source per ~11.6 days
  o.new_sources_burst = 2;
  Load(o);
  RateLimit("198.18.0.0", 16, 1, 3);
  RateLimit("2001:db8::", 32, 2, 3);

  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.2")), kPass);
  const uint64_t before = MonotonicNs();
  EXPECT_EQ(Run(Tcp("198.18.0.3")), kDrop);  // third newcomer: empty bucket
  const uint64_t after = MonotonicNs();
  EXPECT_EQ(Run(Tcp("198.18.0.3")), kDrop);  // nothing refilled
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);  // known sources keep their buckets
  // The v6 rule has its own budget.
  EXPECT_EQ(Run(Tcp("2001:db8::1")), kPass);

  // The empty bucket is "tolerance ahead" of the packet's time.
  int buckets = MapFdByName(enf_->prog_fd(), "ta_xdp_buckets");
  ASSERT_GE(buckets, 0);
  ta_xdp_bucket_key key{};
  key.rule_id = 101;
  key.family = TA_AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "198.18.0.3", key.addr), 1);
  uint64_t tat = 0;
  ASSERT_EQ(bpf_map_lookup_elem(buckets, &key, &tat), 0);
  EXPECT_GE(tat, before + 3 * kHour);
  EXPECT_LE(tat, after + 3 * kHour);
  // One interval later (moved back by one interval instead of waiting an hour), the client's
  // retransmission conforms, and the next does not.
  tat -= kHour;
  ASSERT_EQ(bpf_map_update_elem(buckets, &key, &tat, BPF_EXIST), 0);
  close(buckets);
  EXPECT_EQ(Run(Tcp("198.18.0.3")), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.3")), kDrop);

  // ResetSlot refills the rule's budget: the next newcomer starts full again.
  ASSERT_TRUE(enf_->ResetSlot(1).ok());
  EXPECT_COUNTERS(1u, Matched(0, 0));
  EXPECT_EQ(Run(Tcp("198.18.0.4")), kPass);
  auto s = Stats();
  EXPECT_EQ(s[TA_XDP_STAT_BUCKET_NEW], 4u);  // .1, .2, 2001:db8::1, .4
  EXPECT_EQ(s[TA_XDP_STAT_BUCKET_NEW_EMPTY], 1u);
  EXPECT_EQ(s[TA_XDP_STAT_BUCKET_INSERT_FAILED], 0u);
  EXPECT_EQ(s[TA_XDP_STAT_CAS_CONTENDED], 0u);
}

// ---------------------------------------------------------------------------------------------
// 5. SYN admission throttle: error diffusion, exactly floor(n * ppm / 1e6) of n SYNs.

struct SynCase {
  uint32_t ppm;
  int syns;
  std::vector<int> verdicts;
};

class XdpSynTest : public XdpEnforceTest, public ::testing::WithParamInterface<SynCase> {};

TEST_P(XdpSynTest, AdmitsExactlyTheRatioV4AndV6) {
  const SynCase& c = GetParam();
  Syn(80, c.ppm, 5);
  std::vector<int> got;
  uint64_t bytes = 0, dropped_bytes = 0;
  for (int i = 0; i < c.syns; ++i) {
    // Alternate families and sources: the credit is per port, not per source.
    Bytes f = BuildFrame(Tcp(i % 2 ? "2001:db8::9" : "198.18.0.9", 80, kSyn));
    got.push_back(Run(f));
    bytes += f.size();
    if (got.back() == kDrop) dropped_bytes += f.size();
  }
  EXPECT_EQ(got, c.verdicts);
  const auto admitted = static_cast<uint64_t>(std::count(got.begin(), got.end(), kPass));
  EXPECT_EQ(admitted, static_cast<uint64_t>(c.syns) * c.ppm / TA_XDP_PPM);
  // Neither the handshake's other segments nor other ports are throttled.
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kSyn | kAck)), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kAck)), kPass);
  EXPECT_EQ(Run(Tcp("2001:db8::9", 80, kAck | kPsh, 10)), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.9", 81, kSyn)), kPass);
  const uint64_t denied = static_cast<uint64_t>(c.syns) - admitted;
  EXPECT_COUNTERS(5u, Matched(static_cast<uint64_t>(c.syns), bytes, denied, dropped_bytes));
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, static_cast<uint64_t>(c.syns) + 4},
                        {TA_XDP_STAT_PASSED, admitted + 4},
                        {TA_XDP_STAT_DROPPED, denied},
                        {TA_XDP_STAT_SYN_ADMITTED, admitted},
                        {TA_XDP_STAT_SYN_DENIED, denied}});
}

INSTANTIATE_TEST_SUITE_P(
    Ratios, XdpSynTest,
    ::testing::Values(
        SynCase{0, 4, {kDrop, kDrop, kDrop, kDrop}},
        SynCase{TA_XDP_PPM, 4, {kPass, kPass, kPass, kPass}},
        SynCase{500000, 10, {kDrop, kPass, kDrop, kPass, kDrop, kPass, kDrop, kPass, kDrop, kPass}},
        // floor(9 * 0.333333) = 2: the third SYN is 1 ppm short of an admission
        SynCase{333333, 9, {kDrop, kDrop, kDrop, kPass, kDrop, kDrop, kPass, kDrop, kDrop}}),
    [](const ::testing::TestParamInfo<SynCase>& p) { return "ppm" + std::to_string(p.param.ppm); });

TEST_F(XdpEnforceTest, SynThrottleKeepsItsCreditAcrossRatioUpdates) {
  Syn(80, 500000, 5);
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kSyn)), kDrop);  // credit 500000
  Syn(80, 500000, 5);                                  // the controller rewrites the entry
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kSyn)), kPass);  // credit reached 1e6
  ASSERT_TRUE(enf_->DeleteSyn(80).ok());
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kSyn)), kPass);
}

TEST_F(XdpEnforceTest, ExpiredSynThrottleIsIgnored) {
  Syn(80, 0, 5, false, MonotonicNs() - kSecond);
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kSyn)), kPass);
  EXPECT_COUNTERS(5u, Matched(0, 0));
  ExpectStats(Stats(),
              {{TA_XDP_STAT_PACKETS, 1}, {TA_XDP_STAT_PASSED, 1}, {TA_XDP_STAT_EXPIRED, 1}});
}

TEST_F(XdpEnforceTest, BlocklistDecidesBeforeTheSynThrottle) {
  RateLimit("198.18.0.0", 24, 1, 10);
  Syn(80, 0, 5);
  // A conforming rate-limited source has its verdict from step 4.
  EXPECT_EQ(Run(Tcp("198.18.0.9", 80, kSyn)), kPass);
  EXPECT_EQ(Run(Tcp("198.18.1.9", 80, kSyn)), kDrop);  // not in the blocklist: throttled
  EXPECT_EQ(Counters(5).matched_packets, 1u);
}

// Two CPUs hammer one shared word at once (test_run runs the program on the calling CPU).
// A CPU that loses the compare-and-swap four times in a row judges its packet as exceeding
// without touching the word, so the totals stay exact whatever the interleaving.
void RunOnCpus(int prog_fd, const Bytes& frame, uint32_t repeat_per_cpu) {
  auto worker = [&](int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<size_t>(cpu % std::max(1, libbpf_num_possible_cpus())), &set);
    sched_setaffinity(0, sizeof(set), &set);  // best effort: one CPU still runs everything
    for (uint32_t done = 0; done < repeat_per_cpu; done += 100) {
      bpf_test_run_opts opts = TestRunOpts(frame, 100);
      EXPECT_EQ(bpf_prog_test_run_opts(prog_fd, &opts), 0);
    }
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
}

TEST_F(XdpEnforceTest, SynCreditIsExactUnderConcurrency) {
  Syn(80, 250000, 5);
  RunOnCpus(enf_->prog_fd(), BuildFrame(Tcp("198.18.0.9", 80, kSyn)), 5000);
  auto s = Stats();
  const uint64_t n = 10000, contended = s[TA_XDP_STAT_CAS_CONTENDED];
  EXPECT_EQ(s[TA_XDP_STAT_SYN_ADMITTED] + s[TA_XDP_STAT_SYN_DENIED], n);
  EXPECT_EQ(s[TA_XDP_STAT_SYN_ADMITTED], (n - contended) * 250000 / TA_XDP_PPM);
  EXPECT_EQ(Counters(5).dropped_packets, s[TA_XDP_STAT_SYN_DENIED]);
  RecordProperty("cas_contended", static_cast<int>(contended));
}

TEST_F(XdpEnforceTest, BucketAdmitsExactlyItsBurstUnderConcurrency) {
  RateLimit("198.18.0.0", 24, 1, 1000);
  RunOnCpus(enf_->prog_fd(), BuildFrame(Tcp("198.18.0.9")), 5000);
  auto s = Stats();
  EXPECT_EQ(s[TA_XDP_STAT_PASSED], 1000u);
  EXPECT_EQ(s[TA_XDP_STAT_DROPPED], 9000u);
  EXPECT_EQ(s[TA_XDP_STAT_BUCKET_NEW], 1u);  // both CPUs raced to create it: one bucket
  EXPECT_EQ(Counters(1).matched_packets, 10000u);
  EXPECT_EQ(Counters(1).dropped_packets, 9000u);
}

// ---------------------------------------------------------------------------------------------
// 1. Heartbeat: a dead daemon's rules are not enforced.

TEST_F(XdpEnforceTest, NeverWrittenHeartbeatFailsOpen) {
  XdpEnforcerOptions o;
  o.heartbeat_timeout_ns = kSecond;
  Load(o, /*beat=*/false);
  Block("198.18.0.1", 32, 1);
  Block("2001:db8::1", 128, 2);
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("2001:db8::1")), kPass);
  EXPECT_COUNTERS(1u, Matched(0, 0));
  ExpectStats(Stats(),
              {{TA_XDP_STAT_PACKETS, 2}, {TA_XDP_STAT_PASSED, 2}, {TA_XDP_STAT_FAIL_OPEN, 2}});
}

TEST_F(XdpEnforceTest, StaleHeartbeatFailsOpenAndAFreshOneEnforces) {
  XdpEnforcerOptions o;
  o.heartbeat_timeout_ns = kSecond;
  Load(o, /*beat=*/false);
  Block("198.18.0.1", 32, 1);
  Block("2001:db8::1", 128, 2);
  ASSERT_TRUE(enf_->Beat(MonotonicNs() - 2 * kSecond).ok());
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kPass);
  EXPECT_EQ(Run(Tcp("2001:db8::1")), kPass);
  ASSERT_TRUE(enf_->Beat(MonotonicNs()).ok());
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kDrop);
  EXPECT_EQ(Run(Tcp("2001:db8::1")), kDrop);
  // A beat ahead of the program's clock (written on another CPU a moment ago) is fresh.
  ASSERT_TRUE(enf_->Beat(MonotonicNs() + kHour).ok());
  EXPECT_EQ(Run(Tcp("198.18.0.1")), kDrop);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 5},
                        {TA_XDP_STAT_PASSED, 2},
                        {TA_XDP_STAT_DROPPED, 3},
                        {TA_XDP_STAT_FAIL_OPEN, 2}});
}

// ---------------------------------------------------------------------------------------------
// Dry run: global and per rule.

TEST_F(XdpEnforceTest, GlobalDryRunCountsWouldDropAndPasses) {
  Block("198.18.0.1", 32, 1);
  RateLimit("2001:db8::", 64, 2, 1);
  Syn(80, 0, 3);
  ASSERT_TRUE(enf_->SetDryRun(true).ok());
  const Bytes v4 = BuildFrame(Tcp("198.18.0.1"));
  const Bytes v6 = BuildFrame(Tcp("2001:db8::1"));
  const Bytes syn = BuildFrame(Tcp("198.18.0.2", 80, kSyn));
  EXPECT_EQ(Run(v4), kPass);
  EXPECT_EQ(Run(v6), kPass);  // conforms
  EXPECT_EQ(Run(v6), kPass);  // exceeds: would drop
  EXPECT_EQ(Run(syn), kPass);
  EXPECT_COUNTERS(1u, Matched(1, v4.size(), 0, 0, 1, v4.size()));
  EXPECT_COUNTERS(2u, Matched(2, 2 * v6.size(), 0, 0, 1, v6.size()));
  EXPECT_COUNTERS(3u, Matched(1, syn.size(), 0, 0, 1, syn.size()));
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 4},
                        {TA_XDP_STAT_PASSED, 4},
                        {TA_XDP_STAT_WOULD_DROP, 3},
                        {TA_XDP_STAT_BUCKET_NEW, 1},
                        {TA_XDP_STAT_SYN_DENIED, 1}});
  ASSERT_TRUE(enf_->SetDryRun(false).ok());
  EXPECT_EQ(Run(v4), kDrop);
}

TEST_F(XdpEnforceTest, PerRuleDryRunLeavesOtherRulesEnforcing) {
  RuleSpec dry;
  dry.slot = 1;
  dry.dry_run = true;
  Put(Prefix("198.18.0.1", 32), dry);
  dry.slot = 2;
  Put(Prefix("2001:db8::1", 128), dry);
  Block("198.18.0.2", 32, 3);
  Syn(443, 0, 4, /*dry_run=*/true);
  const Bytes v4 = BuildFrame(Tcp("198.18.0.1")), v6 = BuildFrame(Tcp("2001:db8::1"));
  EXPECT_EQ(Run(v4), kPass);
  EXPECT_EQ(Run(v6), kPass);
  EXPECT_EQ(Run(Tcp("198.18.0.2")), kDrop);
  EXPECT_EQ(Run(Tcp("198.18.0.3", 443, kSyn)), kPass);
  EXPECT_COUNTERS(1u, Matched(1, v4.size(), 0, 0, 1, v4.size()));
  EXPECT_COUNTERS(2u, Matched(1, v6.size(), 0, 0, 1, v6.size()));
  EXPECT_EQ(Counters(3).dropped_packets, 1u);
  EXPECT_EQ(Counters(4).would_drop_packets, 1u);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 4},
                        {TA_XDP_STAT_PASSED, 3},
                        {TA_XDP_STAT_DROPPED, 1},
                        {TA_XDP_STAT_WOULD_DROP, 3},
                        {TA_XDP_STAT_SYN_DENIED, 1}});
}

// ---------------------------------------------------------------------------------------------
// 2. Frames the program does not judge. Each comes from a source blocked outright, so a PASS
// shows the frame was not judged.

struct MalformedCase {
  std::string name;
  Bytes frame;
};

std::vector<MalformedCase> MalformedCases() {
  std::vector<MalformedCase> out;
  auto add = [&](std::string name, FrameSpec s) {
    out.push_back({std::move(name), BuildFrame(s)});
  };
  FrameSpec s = Tcp("198.18.0.1");
  s.vlans = {{0x8100, 5}};
  s.truncate_to = 16;  // Ethernet + half a VLAN tag
  add("TruncatedVlanTag", s);
  s = Tcp("198.18.0.1");
  s.truncate_to = 14;  // an Ethernet header announcing IPv4, nothing after it
  add("EthernetOnly", s);
  s = Tcp("198.18.0.1");
  s.truncate_to = 14 + 12;
  add("TruncatedIpv4", s);
  s = Tcp("2001:db8::1");
  s.truncate_to = 14 + 30;
  add("TruncatedIpv6", s);
  s = Tcp("198.18.0.1");
  s.ipv4_ihl_field = 4;
  add("Ipv4IhlBelowFive", s);
  s = Tcp("198.18.0.1");
  s.ip_version_field = 6;
  add("Ipv4WrongVersion", s);
  s = Tcp("198.18.0.1");
  s.ip_len_field = 400;
  add("Ipv4TotalLengthBeyondFrame", s);
  s = Tcp("2001:db8::1");
  s.ip_len_field = 400;
  add("Ipv6PayloadLengthBeyondFrame", s);
  s = Tcp("198.18.0.1");
  s.ip_len_field = 20 + 12;  // the datagram ends inside the TCP header
  add("TruncatedTcpV4", s);
  s = Tcp("2001:db8::1");
  s.truncate_to = 14 + 40 + 10;
  s.ip_len_field = 10;
  add("TruncatedTcpV6", s);
  s = Tcp("198.18.0.1");
  s.tcp_doff_field = 3;
  add("TcpDataOffsetBelowFive", s);
  s = Tcp("2001:db8::1");
  s.ipv6_ext = {{kExtHopByHop, 16}};
  s.ip_len_field = 8;  // the datagram ends inside the extension header
  add("TruncatedIpv6Extension", s);
  return out;
}

class XdpMalformedTest : public XdpEnforceTest,
                         public ::testing::WithParamInterface<MalformedCase> {};

TEST_P(XdpMalformedTest, PassesUnjudgedAndCounts) {
  Block("198.18.0.1", 32, 1);
  Block("2001:db8::1", 128, 2);
  EXPECT_EQ(Run(GetParam().frame), kPass);
  EXPECT_COUNTERS(1u, Matched(0, 0));
  EXPECT_COUNTERS(2u, Matched(0, 0));
  ExpectStats(Stats(),
              {{TA_XDP_STAT_PACKETS, 1}, {TA_XDP_STAT_PASSED, 1}, {TA_XDP_STAT_MALFORMED, 1}});
}

INSTANTIATE_TEST_SUITE_P(Frames, XdpMalformedTest, ::testing::ValuesIn(MalformedCases()),
                         [](const ::testing::TestParamInfo<MalformedCase>& p) {
                           return p.param.name;
                         });

TEST_F(XdpEnforceTest, FrameShorterThanEthernetNeverReachesTheProgram) {
  // test_run refuses frames below ETH_HLEN (as drivers never deliver them): nothing to judge.
  Bytes runt(13, 0);
  EXPECT_EQ(Run(runt), -EINVAL);
  ExpectStats(Stats(), {});
}

TEST_F(XdpEnforceTest, NonIpPassesUnjudged) {
  Block("198.18.0.0", 15, 1);
  FrameSpec arp;
  arp.l3 = L3::kArp;
  arp.pad_to = 60;
  EXPECT_EQ(Run(arp), kPass);
  FrameSpec triple = Tcp("198.18.0.1");  // a third tag leaves a TPID as the ethertype
  triple.vlans = {{0x88A8, 1}, {0x8100, 2}, {0x8100, 3}};
  EXPECT_EQ(Run(triple), kPass);
  EXPECT_COUNTERS(1u, Matched(0, 0));
  ExpectStats(Stats(),
              {{TA_XDP_STAT_PACKETS, 2}, {TA_XDP_STAT_PASSED, 2}, {TA_XDP_STAT_NOT_IP, 2}});
}

TEST_F(XdpEnforceTest, VlanTaggedFramesAreJudgedV4AndV6) {
  Block("198.18.0.1", 32, 1, 80);
  Block("2001:db8::1", 128, 2, 80);
  for (const std::string src : {"198.18.0.1", "2001:db8::1"}) {
    SCOPED_TRACE(src);
    FrameSpec single = Tcp(src);
    single.vlans = {{0x8100, 10}};
    EXPECT_EQ(Run(single), kDrop);
    FrameSpec qinq = Tcp(src);
    qinq.vlans = {{0x88A8, 100}, {0x8100, 10}};
    EXPECT_EQ(Run(qinq), kDrop);
    FrameSpec dot1q_twice = Tcp(src, 443);
    dot1q_twice.vlans = {{0x8100, 100}, {0x8100, 10}};
    EXPECT_EQ(Run(dot1q_twice), kPass);  // the port is read through both tags
  }
  EXPECT_EQ(Counters(1).dropped_packets, 2u);
  EXPECT_EQ(Counters(2).dropped_packets, 2u);
}

TEST_F(XdpEnforceTest, Ipv6ExtensionHeadersBeforeTcpAreWalked) {
  Block("2001:db8::1", 128, 1, 80);
  Syn(443, 0, 2);
  FrameSpec s = Tcp("2001:db8::1", 80);
  s.ipv6_ext = {{kExtHopByHop, 8}, {kExtDestOpts, 16}};
  EXPECT_EQ(Run(s), kDrop);
  s.dport = 8080;
  EXPECT_EQ(Run(s), kPass);
  FrameSpec syn = Tcp("2001:db8::2", 443, kSyn);
  syn.ipv6_ext = {{kExtHopByHop, 8}, {kExtDestOpts, 8}};
  EXPECT_EQ(Run(syn), kDrop);
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 3},
                        {TA_XDP_STAT_PASSED, 1},
                        {TA_XDP_STAT_DROPPED, 2},
                        {TA_XDP_STAT_SYN_DENIED, 1}});
}

// ---------------------------------------------------------------------------------------------
// Per-rule counters are per-CPU and summed by the loader: exact over many runs.

TEST_F(XdpEnforceTest, RuleCountersAreExactOverRepeatedRuns) {
  Block("198.18.0.0", 24, 7);
  RuleSpec allow;
  allow.action = TA_XDP_ACT_ALLOW;
  allow.slot = 8;
  Put(Prefix("2001:db8::", 64), allow);
  const Bytes small = BuildFrame(Tcp("198.18.0.1", 80, kAck, 0));
  const Bytes big = BuildFrame(Tcp("198.18.0.2", 80, kAck, 1400));
  const Bytes v6 = BuildFrame(Tcp("2001:db8::5", 80, kAck, 333));
  EXPECT_EQ(Run(small, 1000), kDrop);
  EXPECT_EQ(Run(big, 250), kDrop);
  EXPECT_EQ(Run(v6, 500), kPass);
  const uint64_t bytes = 1000 * small.size() + 250 * big.size();
  EXPECT_COUNTERS(7u, Matched(1250, bytes, 1250, bytes));
  EXPECT_COUNTERS(8u, Matched(500, 500 * v6.size()));
  ExpectStats(Stats(), {{TA_XDP_STAT_PACKETS, 1750},
                        {TA_XDP_STAT_PASSED, 500},
                        {TA_XDP_STAT_DROPPED, 1250},
                        {TA_XDP_STAT_ALLOWLISTED, 500}});
  ASSERT_TRUE(enf_->ResetSlot(7).ok());
  EXPECT_COUNTERS(7u, Matched(0, 0));
}

}  // namespace
}  // namespace ta::testing
