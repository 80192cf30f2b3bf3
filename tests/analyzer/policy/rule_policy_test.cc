#include "analyzer/policy/rule_policy.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/analyzer/anomaly/anomaly_support.h"

namespace ta::analyzer::policy {
namespace {

using anomaly::Anomaly;
using anomaly::AnomalyState;
using anomaly::DetectorKind;
using anomaly::test_support::Client;
using anomaly::test_support::kEpoch;
using anomaly::test_support::kSecond;

constexpr uint64_t kWindow = 5 * kSecond;
constexpr uint64_t kTtl = 600 * kSecond;

PolicyConfig Config() {
  PolicyConfig c;
  c.actions = {{DetectorKind::kFlood, RuleAction::kDrop, kTtl},
               {DetectorKind::kBola, RuleAction::kRateLimit, kTtl, 5.0, 10},
               {DetectorKind::kErrorBudget, RuleAction::kSynThrottle, kTtl}};
  return c;
}

Anomaly Flood(uint64_t id) {
  Anomaly a;
  a.id = id;
  a.detector = DetectorKind::kFlood;
  a.port = 80;
  a.route = "/api/items";
  // 1000 requests: two sources above 10 %, one at exactly 10 %, one below.
  a.clients = {{Client(9, 1), 500}, {Client(9, 2), 300}, {Client(9, 3), 100}, {Client(1, 1), 99}};
  a.explanation = "flood on :80 /api/items: ...";
  return a;
}

Anomaly Bola(uint64_t id, uint8_t host) {
  Anomaly a;
  a.id = id;
  a.detector = DetectorKind::kBola;
  a.port = 80;
  a.route = "/api/users/{id}";
  a.subject = Client(7, host);
  a.clients = {{a.subject, 120}};
  a.explanation = "enumeration";
  return a;
}

TEST(RulePolicyTest, TwoConsecutiveWindowsBeforeActingThenTheTopSources) {
  RulePolicy policy(Config());
  EXPECT_TRUE(policy.OnWindow(kEpoch, {Flood(1)}).empty());  // one window: not yet
  const auto rules = policy.OnWindow(kEpoch + kWindow, {Flood(1)});
  ASSERT_EQ(rules.size(), 3u);  // the sources with >= 10 % of the requests
  EXPECT_EQ(rules[0].source, Client(9, 1));
  EXPECT_EQ(rules[1].source, Client(9, 2));
  EXPECT_EQ(rules[2].source, Client(9, 3));
  for (const RuleDecision& r : rules) {
    EXPECT_EQ(r.action, RuleAction::kDrop);
    EXPECT_EQ(r.port, 80);
    EXPECT_EQ(r.anomaly_id, 1u);
    EXPECT_EQ(r.offence, 1u);
    EXPECT_EQ(r.origin, "detector");
    EXPECT_EQ(r.reason, "anomaly 1 (flood): flood on :80 /api/items: ...");
    // 600 s +- 10 %.
    EXPECT_GE(r.expires_ns, kEpoch + kWindow + 540 * kSecond);
    EXPECT_LE(r.expires_ns, kEpoch + kWindow + 660 * kSecond);
  }
  // Jittered: rules made together do not expire in one instant.
  EXPECT_NE(rules[0].expires_ns, rules[1].expires_ns);
  // The window right after is not judged: it still holds the flood from before the rules.
  EXPECT_TRUE(policy.OnWindow(kEpoch + 2 * kWindow, {Flood(1)}).empty());
  EXPECT_EQ(policy.stats().settling, 1u);
  EXPECT_EQ(policy.stats().already_ruled, 0u);
  // Still active after that: no second rule for the same targets.
  EXPECT_TRUE(policy.OnWindow(kEpoch + 3 * kWindow, {Flood(1)}).empty());
  EXPECT_EQ(policy.stats().already_ruled, 3u);
}

// The demo's case: the flooder is ruled; the next window holds the flood's last moment and then
// only the paced client, whose share is inflated. It must not be ruled; a second flooder that
// still floods two windows later is.
TEST(RulePolicyTest, TheWindowAfterARuleDoesNotBlockTheInnocent) {
  RulePolicy policy(Config());
  Anomaly flood = Flood(1);
  flood.clients = {{Client(9, 1), 600}, {Client(1, 7), 20}};
  policy.OnWindow(kEpoch, {flood});
  auto rules = policy.OnWindow(kEpoch + kWindow, {flood});
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].source, Client(9, 1));
  flood.clients = {{Client(9, 1), 90}, {Client(1, 7), 20}};  // 18 %: would be a target
  EXPECT_TRUE(policy.OnWindow(kEpoch + 2 * kWindow, {flood}).empty());
  flood.clients = {{Client(9, 2), 500}, {Client(1, 7), 20}};  // a new flooder takes over
  rules = policy.OnWindow(kEpoch + 3 * kWindow, {flood});
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].source, Client(9, 2));
  // A resolved anomaly forgets it was ruled.
  EXPECT_TRUE(policy.OnWindow(kEpoch + 4 * kWindow, {}).empty());
}

TEST(RulePolicyTest, AnInterruptedStreakStartsAgain) {
  RulePolicy policy(Config());
  EXPECT_TRUE(policy.OnWindow(kEpoch, {Bola(4, 1)}).empty());
  EXPECT_TRUE(policy.OnWindow(kEpoch + kWindow, {}).empty());
  EXPECT_TRUE(policy.OnWindow(kEpoch + 2 * kWindow, {Bola(4, 1)}).empty());
  const auto rules = policy.OnWindow(kEpoch + 3 * kWindow, {Bola(4, 1)});
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].action, RuleAction::kRateLimit);
  EXPECT_EQ(rules[0].source, Client(7, 1));
  EXPECT_EQ(rules[0].rate_per_second, 5.0);
  EXPECT_EQ(rules[0].burst, 10u);
}

TEST(RulePolicyTest, RepeatOffendersGetLongerRulesAndTheSameInputsTheSameTtl) {
  RulePolicy policy(Config());
  RulePolicy twin(Config());
  uint64_t now = kEpoch;
  std::vector<uint64_t> ttls;
  for (uint64_t id = 1; id <= 4; ++id) {
    policy.OnWindow(now, {Bola(id, 1)});
    twin.OnWindow(now, {Bola(id, 1)});
    now += kWindow;
    const auto rules = policy.OnWindow(now, {Bola(id, 1)});
    const auto same = twin.OnWindow(now, {Bola(id, 1)});
    ASSERT_EQ(rules.size(), 1u) << id;
    ASSERT_EQ(same.size(), 1u);
    EXPECT_EQ(rules[0].expires_ns, same[0].expires_ns);  // deterministic jitter
    EXPECT_EQ(rules[0].offence, id);
    ttls.push_back(rules[0].expires_ns - now);
    now = rules[0].expires_ns;  // the rule expires; the client comes back
  }
  // 600 s, 1200 s, 2400 s, 4800 s, each +- 10 %.
  for (size_t i = 0; i < ttls.size(); ++i) {
    const double base = 600.0 * static_cast<double>(1u << i) * 1e9;
    EXPECT_GE(static_cast<double>(ttls[i]), base * 0.9) << i;
    EXPECT_LE(static_cast<double>(ttls[i]), base * 1.1) << i;
  }
}

TEST(RulePolicyTest, NewRulesPerMinuteAreCappedAndHeldBackNotLost) {
  PolicyConfig config = Config();
  config.max_rules_per_minute = 3;
  RulePolicy policy(config);
  std::vector<Anomaly> many;
  for (uint8_t host = 1; host <= 5; ++host) many.push_back(Bola(host, host));
  policy.OnWindow(kEpoch, many);
  EXPECT_EQ(policy.OnWindow(kEpoch + kWindow, many).size(), 3u);
  EXPECT_EQ(policy.stats().held_back, 2u);
  EXPECT_TRUE(policy.OnWindow(kEpoch + 2 * kWindow, many).empty());  // same minute
  // A minute after the first three, the two held back get their rules.
  EXPECT_EQ(policy.OnWindow(kEpoch + kWindow + 60 * kSecond, many).size(), 2u);
}

TEST(RulePolicyTest, OnlyConfiguredDetectorsActAndSynThrottleTargetsThePort) {
  RulePolicy policy(Config());
  Anomaly latency;
  latency.id = 9;
  latency.detector = DetectorKind::kLatency;
  latency.port = 443;
  Anomaly errors;
  errors.id = 10;
  errors.detector = DetectorKind::kErrorBudget;
  errors.port = 443;
  errors.route = "/api/checkout";
  policy.OnWindow(kEpoch, {latency, errors});
  const auto rules = policy.OnWindow(kEpoch + kWindow, {latency, errors});
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].action, RuleAction::kSynThrottle);
  EXPECT_EQ(rules[0].port, 443);
  EXPECT_EQ(rules[0].source.family, 0);
  EXPECT_EQ(policy.stats().not_configured, 2u);
  // No actions configured: detection only.
  RulePolicy quiet(PolicyConfig{});
  quiet.OnWindow(kEpoch, {Flood(1)});
  EXPECT_TRUE(quiet.OnWindow(kEpoch + kWindow, {Flood(1)}).empty());
}

TEST(RulePolicyTest, ResolvedRecordsDoNotAct) {
  RulePolicy policy(Config());
  Anomaly resolved = Flood(1);
  resolved.state = AnomalyState::kResolved;
  policy.OnWindow(kEpoch, {resolved});
  EXPECT_TRUE(policy.OnWindow(kEpoch + kWindow, {resolved}).empty());
}

}  // namespace
}  // namespace ta::analyzer::policy
