#include "agent/enforce/rule_manager.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/enforce/rule_json.h"

namespace ta::agent::enforce {
namespace {

// The prefix `text` must denote (tests only).
Cidr MustParse(std::string_view text) { return Cidr::Parse(text).value(); }

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kNow = 1'764'000'000 * kSecond;          // 2025-11-24T16:00:00Z
constexpr int64_t kWallMinusMono = kNow - 5000 * kSecond;  // the machine booted 5000 s ago

// Records every call; fails the next call of a kind on demand.
class FakeRuleTable final : public RuleTable {
 public:
  struct Call {
    std::string op;  // "install", "remove", "reset"
    uint64_t id = 0;
    uint32_t slot = 0;
    uint32_t bpf_rule_id = 0;
    uint64_t expires_mono_ns = 0;
    double admit_ratio = 0;
  };

  Result<void> Install(const Rule& rule, uint64_t expires_mono_ns) override {
    calls.push_back(
        {"install", rule.id, rule.slot, rule.bpf_rule_id, expires_mono_ns, rule.admit_ratio});
    if (fail_install) {
      fail_install = false;
      return Error{ENOSPC, "map ta_xdp_block_v4 is full"};
    }
    return {};
  }
  Result<void> Remove(const Rule& rule) override {
    calls.push_back({"remove", rule.id, rule.slot, rule.bpf_rule_id, 0, 0});
    if (fail_remove) {
      fail_remove = false;
      return Error{EPERM, "cannot delete from map ta_xdp_block_v4"};
    }
    return {};
  }
  Result<void> ResetSlot(uint32_t slot) override {
    calls.push_back({"reset", 0, slot, 0, 0, 0});
    if (fail_reset) {
      fail_reset = false;
      return Error{EIO, "cannot zero ta_xdp_rule_counters"};
    }
    return {};
  }
  Result<ta_xdp_rule_counters> Counters(uint32_t slot) const override {
    ta_xdp_rule_counters c{};
    c.matched_packets = slot + 100;
    return c;
  }

  std::vector<Call> calls;
  bool fail_install = false;
  bool fail_remove = false;
  bool fail_reset = false;
};

RuleRequest Drop(const std::string& source, std::string reason = "test") {
  RuleRequest r;
  r.kind = RuleKind::kDrop;
  r.source = MustParse(source);
  r.reason = std::move(reason);
  return r;
}

RuleRequest Syn(uint16_t port, double ratio) {
  RuleRequest r;
  r.kind = RuleKind::kSynThrottle;
  r.port = port;
  r.admit_ratio = ratio;
  r.origin = RuleOrigin::kDetector;
  r.ttl_ns = 600 * kSecond;
  r.detector = "error_budget";
  r.reason = "5xx burn";
  return r;
}

// A fresh state directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "rules-XXXXXX";
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  const std::string& path() const { return path_; }
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    DIR* d = ::opendir(path_.c_str());
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string Read(const std::string& name) const {
    std::ifstream in(path_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ + "/" + name) << text;
  }

 private:
  std::string path_;
};

TEST(RuleManagerTest, AddAssignsIdsSlotsAndTimes) {
  FakeRuleTable table;
  RuleManager m({}, table);
  RuleRequest r = Drop("198.18.0.0/15", "scanner");
  r.ttl_ns = 60 * kSecond;
  r.port = 443;
  auto a = m.Add(r, kNow, kWallMinusMono);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->id, 1u);
  EXPECT_EQ(a->slot, 0u);
  EXPECT_EQ(a->bpf_rule_id, 1u);
  EXPECT_EQ(a->created_unix_ns, kNow);
  EXPECT_EQ(a->expires_unix_ns, kNow + 60 * kSecond);
  EXPECT_EQ(a->port, 443);
  EXPECT_EQ(a->reason, "scanner");
  ASSERT_EQ(table.calls.size(), 1u);
  EXPECT_EQ(table.calls[0].op, "install");
  // Wall-clock expiry on CLOCK_MONOTONIC: 5000 s since boot + 60 s.
  EXPECT_EQ(table.calls[0].expires_mono_ns, uint64_t{5060} * kSecond);

  auto b = m.Add(Drop("2001:db8::/32"), kNow, kWallMinusMono);  // never expires
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->id, 2u);
  EXPECT_EQ(b->slot, 1u);
  EXPECT_EQ(b->bpf_rule_id, 2u);
  EXPECT_EQ(b->expires_unix_ns, 0);
  EXPECT_EQ(table.calls[1].expires_mono_ns, 0u);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.stats().added, 2u);
  ASSERT_NE(m.Find(2), nullptr);
  EXPECT_EQ(m.Find(2)->source.ToString(), "2001:db8::/32");
  EXPECT_EQ(m.Find(3), nullptr);
  const std::vector<Rule> list = m.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, 1u);
  EXPECT_EQ(list[1].id, 2u);
}

TEST(RuleManagerTest, KindSpecificFieldsAreKeptOnlyWhereTheyMeanSomething) {
  FakeRuleTable table;
  RuleManager m({}, table);
  RuleRequest limit = Drop("198.18.0.1");
  limit.kind = RuleKind::kRateLimit;
  limit.rate_per_second = 100;
  limit.burst = 50;
  limit.admit_ratio = 0.5;
  auto a = m.Add(limit, kNow, kWallMinusMono);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->rate_per_second, 100);
  EXPECT_EQ(a->burst, 50u);
  EXPECT_EQ(a->admit_ratio, 1.0);
  RuleRequest drop = Drop("198.18.0.2");
  drop.rate_per_second = 100;
  drop.burst = 50;
  auto b = m.Add(drop, kNow, kWallMinusMono);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->rate_per_second, 0);
  EXPECT_EQ(b->burst, 0u);
}

struct ValidationCase {
  std::string name;
  RuleRequest request;
  std::string message;
};

TEST(RuleManagerTest, EveryValidationErrorSaysWhatToDo) {
  std::vector<ValidationCase> cases;
  {
    RuleRequest r = Drop("198.18.0.1");
    r.source.reset();
    cases.push_back({"drop without source", r,
                     "a drop rule needs a source (an address or CIDR such as 198.18.0.0/15)"});
    r.kind = RuleKind::kRateLimit;
    cases.push_back({"rate_limit without source", r,
                     "a rate_limit rule needs a source (an address or CIDR such as "
                     "198.18.0.0/15)"});
    r.kind = RuleKind::kAllow;
    cases.push_back({"allow without source", r,
                     "an allow rule needs a source (an address or CIDR such as 198.18.0.0/15)"});
  }
  {
    RuleRequest r = Syn(0, 0.5);
    cases.push_back({"syn without port", r,
                     "a syn_throttle rule needs a port (the service port whose SYNs are "
                     "throttled)"});
    r = Syn(80, 0.5);
    r.source = MustParse("198.18.0.1");
    cases.push_back({"syn with source", r,
                     "a syn_throttle rule applies to a port as a whole and takes no source; use "
                     "rate_limit or drop for one source"});
  }
  {
    RuleRequest r = Drop("198.18.0.1");
    r.kind = RuleKind::kAllow;
    r.port = 80;
    cases.push_back({"allow with port", r,
                     "an allow rule passes every packet of its source and takes no port"});
  }
  {
    RuleRequest r = Drop("198.18.0.1");
    r.kind = RuleKind::kRateLimit;
    r.burst = 10;
    r.rate_per_second = 0;
    cases.push_back(
        {"rate 0", r, "rate_limit rate must be in (0, 1000000] packets per second, got 0"});
    r.rate_per_second = 1000000.5;
    cases.push_back({"rate above max", r,
                     "rate_limit rate must be in (0, 1000000] packets per second, got "
                     "1000000.5"});
    r.rate_per_second = -1;
    cases.push_back(
        {"rate negative", r, "rate_limit rate must be in (0, 1000000] packets per second, got -1"});
    r.rate_per_second = 10;
    r.burst = 0;
    cases.push_back({"burst 0", r, "rate_limit burst must be in 1..1000 packets, got 0"});
    r.burst = 1001;
    cases.push_back(
        {"burst above max", r, "rate_limit burst must be in 1..1000 packets, got 1001"});
  }
  {
    RuleRequest r = Syn(80, 1.5);
    cases.push_back({"ratio above 1", r, "admit_ratio must be in [0, 1], got 1.5"});
    r.admit_ratio = -0.1;
    cases.push_back({"ratio negative", r, "admit_ratio must be in [0, 1], got -0.1"});
  }
  {
    RuleRequest r = Drop("198.18.0.1");
    r.origin = RuleOrigin::kDetector;
    r.ttl_ns = 0;
    cases.push_back({"detector without ttl", r,
                     "a detector rule needs a ttl above 0 (detector rules always expire)"});
    r = Drop("198.18.0.1", "");
    cases.push_back({"operator without reason", r,
                     "an operator rule needs a reason (--reason): say why, for whoever finds the "
                     "rule later"});
  }
  RuleManagerConfig config;
  config.max_rate_per_second = 1e6;
  config.max_burst = 1000;
  for (const ValidationCase& c : cases) {
    FakeRuleTable table;
    RuleManager m(config, table);
    auto added = m.Add(c.request, kNow, kWallMinusMono);
    ASSERT_FALSE(added.ok()) << c.name;
    EXPECT_EQ(added.error().message, c.message) << c.name;
    EXPECT_TRUE(table.calls.empty()) << c.name;  // refused before the kernel
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(m.stats().rejected, 1u);
  }
}

TEST(RuleManagerTest, OneRulePerPrefixAndList) {
  FakeRuleTable table;
  RuleManager m({}, table);
  ASSERT_TRUE(m.Add(Drop("198.18.0.0/15", "scanner"), kNow, kWallMinusMono).ok());
  // Same prefix, same list (drop and rate_limit share the blocklist), another port: refused.
  RuleRequest again = Drop("198.18.0.0/15");
  again.kind = RuleKind::kRateLimit;
  again.rate_per_second = 10;
  again.burst = 1;
  again.port = 80;
  auto refused = m.Add(again, kNow, kWallMinusMono);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "198.18.0.0/15 already has drop rule 1 (scanner); the blocklist keeps one rule per "
            "prefix: delete rule 1 first");
  // A narrower prefix is another entry (longest prefix wins in the kernel).
  EXPECT_TRUE(m.Add(Drop("198.18.0.0/16"), kNow, kWallMinusMono).ok());
  // The allowlist is another list.
  RuleRequest allow = Drop("198.18.0.0/15", "health checks");
  allow.kind = RuleKind::kAllow;
  auto allowed = m.Add(allow, kNow, kWallMinusMono);
  ASSERT_TRUE(allowed.ok());
  auto second_allow = m.Add(allow, kNow, kWallMinusMono);
  ASSERT_FALSE(second_allow.ok());
  EXPECT_EQ(second_allow.error().message,
            "198.18.0.0/15 already has allow rule 3 (health checks); the allowlist keeps one "
            "rule per prefix: delete rule 3 first");
  // One SYN throttle per port.
  ASSERT_TRUE(m.Add(Syn(80, 0.5), kNow, kWallMinusMono).ok());
  auto syn_again = m.Add(Syn(80, 0.2), kNow, kWallMinusMono);
  ASSERT_FALSE(syn_again.ok());
  EXPECT_EQ(syn_again.error().message, "port 80 already has syn_throttle rule 4; delete it first");
  EXPECT_TRUE(m.Add(Syn(443, 0.2), kNow, kWallMinusMono).ok());

  const Rule* block = m.FindBySource(MustParse("198.18.0.0/15"), false);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->id, 1u);
  const Rule* allow_rule = m.FindBySource(MustParse("198.18.0.0/15"), true);
  ASSERT_NE(allow_rule, nullptr);
  EXPECT_EQ(allow_rule->id, 3u);
  EXPECT_EQ(m.FindBySource(MustParse("198.18.0.1"), false), nullptr);
  EXPECT_EQ(m.FindBySource(MustParse("198.18.0.0/16"), true), nullptr);
  ASSERT_NE(m.FindSynThrottle(443), nullptr);
  EXPECT_EQ(m.FindSynThrottle(443)->id, 5u);
  EXPECT_EQ(m.FindSynThrottle(8080), nullptr);
}

TEST(RuleManagerTest, FullTable) {
  FakeRuleTable table;
  RuleManagerConfig config;
  config.max_rules = 2;
  RuleManager m(config, table);
  ASSERT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
  ASSERT_TRUE(m.Add(Syn(80, 1), kNow, kWallMinusMono).ok());
  auto full = m.Add(Drop("198.18.0.2"), kNow, kWallMinusMono);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().message,
            "rule table full (2 rules): raise enforcement.max_rules or delete rules");
  EXPECT_EQ(table.calls.size(), 2u);
  ASSERT_TRUE(m.Delete(1).ok());
  EXPECT_TRUE(m.Add(Drop("198.18.0.2"), kNow, kWallMinusMono).ok());
}

TEST(RuleManagerTest, NothingHalfChangedWhenTheKernelRefuses) {
  TempDir dir;
  FakeRuleTable table;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  RuleManager m(config, table);
  ASSERT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
  const std::string before = dir.Read("rules.json");
  table.fail_install = true;
  auto refused = m.Add(Drop("198.18.0.2"), kNow, kWallMinusMono);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "the kernel refused rule 2 (drop): map ta_xdp_block_v4 is full");
  EXPECT_EQ(refused.error().err, ENOSPC);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.FindBySource(MustParse("198.18.0.2"), false), nullptr);
  EXPECT_EQ(dir.Read("rules.json"), before);
  EXPECT_EQ(m.stats().rejected, 1u);
  EXPECT_EQ(m.stats().added, 1u);
  // The failed attempt used neither the id nor the slot nor the kernel rule id... (the id may
  // not be reused anyway, but a refused request does not burn one).
  auto next = m.Add(Drop("198.18.0.2"), kNow, kWallMinusMono);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 2u);
  EXPECT_EQ(next->slot, 1u);
  EXPECT_EQ(next->bpf_rule_id, 2u);

  // A removal the kernel refuses keeps the rule.
  table.fail_remove = true;
  auto del = m.Delete(1);
  ASSERT_FALSE(del.ok());
  EXPECT_EQ(del.error().message,
            "cannot remove rule 1 from the kernel: cannot delete from map ta_xdp_block_v4");
  EXPECT_NE(m.Find(1), nullptr);
  EXPECT_EQ(m.stats().deleted, 0u);

  // A slot that cannot be reset is not reused for the new rule, and nothing changes.
  ASSERT_TRUE(m.Delete(1).ok());
  table.fail_reset = true;
  auto no_slot = m.Add(Drop("198.18.0.3"), kNow, kWallMinusMono);
  ASSERT_FALSE(no_slot.ok());
  EXPECT_EQ(no_slot.error().message,
            "cannot reset counters slot 0: cannot zero ta_xdp_rule_counters");
  EXPECT_EQ(m.size(), 1u);
  auto retry = m.Add(Drop("198.18.0.3"), kNow, kWallMinusMono);
  ASSERT_TRUE(retry.ok());
  EXPECT_EQ(retry->slot, 0u);
  EXPECT_EQ(retry->id, 3u);
}

TEST(RuleManagerTest, DeleteAndSlotReuse) {
  FakeRuleTable table;
  RuleManager m({}, table);
  ASSERT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
  ASSERT_TRUE(m.Add(Drop("198.18.0.2"), kNow, kWallMinusMono).ok());
  auto removed = m.Delete(1);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->id, 1u);
  EXPECT_EQ(removed->slot, 0u);
  EXPECT_EQ(table.calls.back().op, "remove");
  EXPECT_EQ(m.stats().deleted, 1u);
  auto unknown = m.Delete(1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message,
            "no rule with id 1 (`trafficctl rules list` shows the rules and their ids)");
  // The next rule takes slot 0 again, after its counters were zeroed; the id and the kernel
  // rule id are new (a bucket keyed by the old rule id must not carry over).
  table.calls.clear();
  auto c = m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id, 3u);
  EXPECT_EQ(c->slot, 0u);
  EXPECT_EQ(c->bpf_rule_id, 3u);
  ASSERT_EQ(table.calls.size(), 2u);
  EXPECT_EQ(table.calls[0].op, "reset");
  EXPECT_EQ(table.calls[0].slot, 0u);
  EXPECT_EQ(table.calls[1].op, "install");
  // A never-used slot is not reset.
  table.calls.clear();
  ASSERT_TRUE(m.Add(Drop("198.18.0.3"), kNow, kWallMinusMono).ok());
  ASSERT_EQ(table.calls.size(), 1u);
  EXPECT_EQ(table.calls[0].op, "install");
  EXPECT_EQ(table.calls[0].slot, 2u);
}

TEST(RuleManagerTest, ExpireRemovesDueRules) {
  FakeRuleTable table;
  RuleManager m({}, table);
  RuleRequest a = Drop("198.18.0.1");
  a.ttl_ns = 10 * kSecond;
  RuleRequest b = Drop("198.18.0.2");
  b.ttl_ns = 20 * kSecond;
  ASSERT_TRUE(m.Add(a, kNow, kWallMinusMono).ok());
  ASSERT_TRUE(m.Add(b, kNow, kWallMinusMono).ok());
  ASSERT_TRUE(m.Add(Drop("198.18.0.3"), kNow, kWallMinusMono).ok());  // forever
  EXPECT_TRUE(m.Expire(kNow + 10 * kSecond - 1).empty());
  auto expired = m.Expire(kNow + 10 * kSecond);  // expires_unix_ns <= now
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].id, 1u);
  EXPECT_EQ(m.size(), 2u);
  // A removal the kernel refuses is retried at the next Expire.
  table.fail_remove = true;
  EXPECT_TRUE(m.Expire(kNow + 100 * kSecond).empty());
  EXPECT_NE(m.Find(2), nullptr);
  auto later = m.Expire(kNow + 101 * kSecond);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].id, 2u);
  EXPECT_EQ(m.stats().expired, 2u);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_TRUE(m.Expire(kNow + 1000000 * kSecond).empty());
}

TEST(RuleManagerTest, SetAdmitRatioReinstallsInPlace) {
  FakeRuleTable table;
  RuleManager m({}, table);
  auto syn = m.Add(Syn(80, 1.0), kNow, kWallMinusMono);
  ASSERT_TRUE(syn.ok());
  ASSERT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
  table.calls.clear();
  ASSERT_TRUE(m.SetAdmitRatio(1, 0.25, kWallMinusMono).ok());
  ASSERT_EQ(table.calls.size(), 1u);
  EXPECT_EQ(table.calls[0].op, "install");
  EXPECT_EQ(table.calls[0].slot, syn->slot);
  EXPECT_EQ(table.calls[0].bpf_rule_id, syn->bpf_rule_id);
  EXPECT_EQ(table.calls[0].admit_ratio, 0.25);
  EXPECT_EQ(table.calls[0].expires_mono_ns, uint64_t{5600} * kSecond);  // expiry kept
  EXPECT_EQ(m.Find(1)->admit_ratio, 0.25);
  EXPECT_EQ(m.Find(1)->expires_unix_ns, syn->expires_unix_ns);

  auto not_syn = m.SetAdmitRatio(2, 0.5, kWallMinusMono);
  ASSERT_FALSE(not_syn.ok());
  EXPECT_EQ(not_syn.error().message,
            "rule 2 is a drop rule; only syn_throttle rules have an admit ratio");
  auto bad = m.SetAdmitRatio(1, 1.01, kWallMinusMono);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "admit_ratio must be in [0, 1], got 1.01");
  auto unknown = m.SetAdmitRatio(9, 0.5, kWallMinusMono);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no rule with id 9");
  table.fail_install = true;
  auto refused = m.SetAdmitRatio(1, 0.5, kWallMinusMono);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message,
            "the kernel refused the new admit ratio of rule 1: map ta_xdp_block_v4 is full");
  EXPECT_EQ(m.Find(1)->admit_ratio, 0.25);
}

TEST(RuleManagerTest, CountersBySlot) {
  FakeRuleTable table;
  RuleManager m({}, table);
  ASSERT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
  ASSERT_TRUE(m.Add(Drop("198.18.0.2"), kNow, kWallMinusMono).ok());
  auto c = m.Counters(2);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->matched_packets, 101u);  // slot 1
  EXPECT_FALSE(m.Counters(3).ok());
}

TEST(RuleManagerTest, PersistsEveryChangeAndRestoresRemainingTtl) {
  TempDir dir;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  {
    FakeRuleTable table;
    RuleManager m(config, table);
    RuleRequest a = Drop("198.18.0.0/15", "scanner");
    a.ttl_ns = 600 * kSecond;
    a.origin = RuleOrigin::kDetector;
    a.anomaly_id = 42;
    a.detector = "flood";
    a.offence = 2;
    ASSERT_TRUE(m.Add(a, kNow, kWallMinusMono).ok());
    RuleRequest b = Drop("2001:db8::/32");
    b.ttl_ns = 60 * kSecond;  // will expire while the daemon is down
    ASSERT_TRUE(m.Add(b, kNow, kWallMinusMono).ok());
    RuleRequest c = Drop("198.18.5.5");
    c.kind = RuleKind::kRateLimit;
    c.rate_per_second = 12.5;
    c.burst = 7;
    c.dry_run = true;
    ASSERT_TRUE(m.Add(c, kNow, kWallMinusMono).ok());
    ASSERT_TRUE(m.Add(Syn(8080, 0.3), kNow, kWallMinusMono).ok());
    ASSERT_TRUE(m.Add(Drop("198.18.9.9"), kNow, kWallMinusMono).ok());
    ASSERT_TRUE(m.Delete(5).ok());  // the highest id is gone: next_id must still be 6
    EXPECT_EQ(m.stats().persist_failed, 0u);
  }
  EXPECT_EQ(dir.Files(), std::vector<std::string>{"rules.json"});
  const auto file = nlohmann::json::parse(dir.Read("rules.json"));
  EXPECT_EQ(file["version"], 1);
  EXPECT_EQ(file["next_id"], 6);
  ASSERT_EQ(file["rules"].size(), 4u);
  EXPECT_EQ(file["rules"][0]["source"], "198.18.0.0/15");
  EXPECT_EQ(file["rules"][0]["origin"], "detector");

  // Restart 100 s later, after a reboot (another monotonic offset).
  const int64_t later = kNow + 100 * kSecond;
  const int64_t wall_minus_mono = later - 30 * kSecond;  // booted 30 s ago
  FakeRuleTable table;
  RuleManager m(config, table);
  auto report = m.Restore(later, wall_minus_mono);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->restored, 3u);
  EXPECT_EQ(report->expired, 1u);
  EXPECT_EQ(report->note, "");
  ASSERT_EQ(m.size(), 3u);
  const Rule* a = m.Find(1);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->expires_unix_ns, kNow + 600 * kSecond);
  EXPECT_EQ(a->anomaly_id, 42u);
  EXPECT_EQ(a->detector, "flood");
  EXPECT_EQ(a->offence, 2u);
  EXPECT_EQ(a->origin, RuleOrigin::kDetector);
  EXPECT_EQ(a->reason, "scanner");
  EXPECT_EQ(m.Find(2), nullptr);
  const Rule* c = m.Find(3);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->kind, RuleKind::kRateLimit);
  EXPECT_EQ(c->rate_per_second, 12.5);
  EXPECT_EQ(c->burst, 7u);
  EXPECT_TRUE(c->dry_run);
  EXPECT_EQ(m.Find(4)->admit_ratio, 0.3);
  // The kernel got the remaining 500 s on the new monotonic clock: 30 s + 500 s.
  ASSERT_EQ(table.calls.size(), 3u);
  EXPECT_EQ(table.calls[0].id, 1u);
  EXPECT_EQ(table.calls[0].expires_mono_ns, uint64_t{530} * kSecond);
  // Slots and kernel rule ids are handed out afresh.
  EXPECT_EQ(table.calls[0].slot, 0u);
  EXPECT_EQ(table.calls[1].slot, 1u);
  EXPECT_EQ(table.calls[2].slot, 2u);
  EXPECT_EQ(table.calls[2].bpf_rule_id, 3u);
  // The expired rule is gone from the file too.
  EXPECT_EQ(nlohmann::json::parse(dir.Read("rules.json"))["rules"].size(), 3u);
  // Ids are never reused, not even the deleted highest one.
  auto next = m.Add(Drop("198.18.7.7"), later, wall_minus_mono);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 6u);
  EXPECT_EQ(next->slot, 3u);
}

TEST(RuleManagerTest, RestoreWithoutFileOrStateDir) {
  TempDir dir;
  FakeRuleTable table;
  RuleManagerConfig config;
  config.state_dir = dir.path() + "/state";  // created on demand
  RuleManager m(config, table);
  auto report = m.Restore(kNow, kWallMinusMono);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->restored, 0u);
  EXPECT_EQ(report->note, "");
  struct stat st {};
  ASSERT_EQ(::stat(config.state_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);

  RuleManager no_persistence({}, table);
  auto none = no_persistence.Restore(kNow, kWallMinusMono);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->restored, 0u);
}

TEST(RuleManagerTest, WorldWritableStateDirIsRefused) {
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0777), 0);
  FakeRuleTable table;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  RuleManager m(config, table);
  auto report = m.Restore(kNow, kWallMinusMono);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.error().message,
            "state directory " + dir.path() +
                " is writable by everyone (mode 0777), so anyone could plant state there "
                "(baselines, rules); make it writable by the daemon only (chmod 0700 " +
                dir.path() + ") or choose another state_dir");
  // Adding still works (the rule is in force); only persisting fails, and is counted.
  EXPECT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
  EXPECT_EQ(m.stats().persist_failed, 1u);
}

TEST(RuleManagerTest, CorruptFileIsSetAside) {
  auto rule_text = [](uint64_t id) {
    Rule r;
    r.id = id;
    r.source = MustParse("198.18.0.1");
    r.reason = "r";
    return RuleToJson(r).dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"version\":1,\"next_id\":3,\"rules\":[", "not valid JSON"},
      {"[]", "expected an object with exactly version, next_id and rules"},
      {"{\"version\":2,\"next_id\":3,\"rules\":[]}", "version 2, expected 1"},
      {"{\"version\":1,\"next_id\":0,\"rules\":[]}", "next_id is not a positive integer"},
      {"{\"version\":1,\"next_id\":3,\"rules\":{}}", "rules is not a list"},
      {"{\"version\":1,\"next_id\":3,\"rules\":[{\"id\":1}]}",
       "rules[0]: rule is missing field 'kind'"},
      {"{\"version\":1,\"next_id\":3,\"rules\":[" + rule_text(3) + "]}",
       "rules[0] has id 3, not below next_id 3"},
      {"{\"version\":1,\"next_id\":3,\"rules\":[" + rule_text(2) + "," + rule_text(2) + "]}",
       "rules[1] repeats id 2"},
  };
  for (const auto& [text, reason] : cases) {
    TempDir dir;
    dir.Write("rules.json", text);
    FakeRuleTable table;
    RuleManagerConfig config;
    config.state_dir = dir.path();
    RuleManager m(config, table);
    auto report = m.Restore(kNow, kWallMinusMono);
    ASSERT_TRUE(report.ok()) << text;
    EXPECT_EQ(report->restored, 0u);
    const std::vector<std::string> files = dir.Files();
    ASSERT_EQ(files.size(), 1u) << text;
    EXPECT_EQ(files[0].rfind("rules.json.corrupt-", 0), 0u) << files[0];
    EXPECT_EQ(dir.Read(files[0]), text);
    EXPECT_EQ(report->note, "state file " + dir.path() + "/rules.json is unusable: " + reason +
                                "; set aside as " + dir.path() + "/" + files[0] +
                                ", starting with empty state");
    EXPECT_TRUE(table.calls.empty());
    // The daemon carries on: a new rule is written to a fresh rules.json.
    ASSERT_TRUE(m.Add(Drop("198.18.0.1"), kNow, kWallMinusMono).ok());
    EXPECT_EQ(dir.Files().size(), 2u);
  }
}

TEST(RuleManagerTest, TruncatedOrDamagedFilesAreSetAsideNeverHalfRestored) {
  TempDir dir;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  {
    FakeRuleTable table;
    RuleManager m(config, table);
    ASSERT_TRUE(m.Add(Drop("198.18.0.1", "one"), kNow, kWallMinusMono).ok());
    ASSERT_TRUE(m.Add(Syn(80, 0.5), kNow, kWallMinusMono).ok());
    ASSERT_TRUE(m.Add(Drop("2001:db8::/48", "three"), kNow, kWallMinusMono).ok());
  }
  const std::string good = dir.Read("rules.json");
  ASSERT_EQ(good.back(), '\n');
  std::mt19937 rng(20261125);
  auto restore = [&](const std::string& text) {
    for (const std::string& f : dir.Files()) ::unlink((dir.path() + "/" + f).c_str());
    dir.Write("rules.json", text);
    FakeRuleTable table;
    RuleManager m(config, table);
    auto report = m.Restore(kNow, kWallMinusMono);
    EXPECT_TRUE(report.ok());
    // All or nothing: never a part of the rules in the kernel.
    if (report->restored == 0) {
      EXPECT_NE(report->note.find("; set aside as "), std::string::npos) << text;
      EXPECT_TRUE(table.calls.empty());
    } else {
      EXPECT_EQ(report->restored, 3u) << text;
      EXPECT_EQ(table.calls.size(), 3u);
    }
    return report->restored;
  };
  // Every cut point: only dropping the final newline keeps the file whole.
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_EQ(restore(good.substr(0, cut)), cut == good.size() - 1 ? 3u : 0u) << cut;
  }
  // Seeded byte damage: a damaged file is either refused as a whole or, where the damage still
  // makes a valid file (a digit of a time changed), restored as a whole.
  for (int i = 0; i < 300; ++i) {
    std::string damaged = good;
    const size_t at = std::uniform_int_distribution<size_t>(0, good.size() - 1)(rng);
    damaged[at] = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    restore(damaged);
  }
}

TEST(RuleManagerTest, ConfigRulesAreNotPersisted) {
  TempDir dir;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  {
    FakeRuleTable table;
    RuleManager m(config, table);
    RuleRequest allow = Drop("198.18.0.0/24", "");
    allow.kind = RuleKind::kAllow;
    allow.origin = RuleOrigin::kConfig;  // enforcement.allowlist: no reason, no TTL needed
    ASSERT_TRUE(m.Add(allow, kNow, kWallMinusMono).ok());
    ASSERT_TRUE(m.Add(Drop("198.18.1.1"), kNow, kWallMinusMono).ok());
  }
  const auto file = nlohmann::json::parse(dir.Read("rules.json"));
  ASSERT_EQ(file["rules"].size(), 1u);
  EXPECT_EQ(file["rules"][0]["id"], 2);
  EXPECT_EQ(file["next_id"], 3);
  FakeRuleTable table;
  RuleManager m(config, table);
  auto report = m.Restore(kNow, kWallMinusMono);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->restored, 1u);
  // The daemon re-adds the allowlist after Restore: no clash, and a new id.
  RuleRequest allow = Drop("198.18.0.0/24", "");
  allow.kind = RuleKind::kAllow;
  allow.origin = RuleOrigin::kConfig;
  auto again = m.Add(allow, kNow, kWallMinusMono);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, 3u);
}

TEST(RuleManagerTest, RestoreSkipsRulesThatNoLongerFitAndSaysSo) {
  TempDir dir;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  {
    FakeRuleTable table;
    RuleManager m(config, table);
    for (const char* source : {"198.18.0.1", "198.18.0.2", "198.18.0.3"}) {
      ASSERT_TRUE(m.Add(Drop(source), kNow, kWallMinusMono).ok());
    }
  }
  config.max_rules = 2;  // lowered in the config between runs
  FakeRuleTable table;
  table.fail_install = false;
  RuleManager m(config, table);
  auto report = m.Restore(kNow, kWallMinusMono);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->restored, 2u);
  EXPECT_EQ(report->note, "1 rule(s) of " + dir.path() +
                              "/rules.json not restored: rule 3: rule table full (2 rules): raise "
                              "enforcement.max_rules or delete rules");
  EXPECT_EQ(nlohmann::json::parse(dir.Read("rules.json"))["rules"].size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(dir.Read("rules.json"))["next_id"], 4);
}

TEST(RuleManagerTest, LeftoverTemporariesAreRemoved) {
  TempDir dir;
  dir.Write(".rules.json.tmp-abcdef", "{");
  FakeRuleTable table;
  RuleManagerConfig config;
  config.state_dir = dir.path();
  RuleManager m(config, table);
  ASSERT_TRUE(m.Restore(kNow, kWallMinusMono).ok());
  EXPECT_TRUE(dir.Files().empty());
}

}  // namespace
}  // namespace ta::agent::enforce
