// Privileged (loads the XDP program, attaches nothing): the daemon's enforcement loop on
// simulated time. Anomalies and live per-port measurements go in, rules come out of the real
// RuleManager into the real maps: the two-window rule, a flood's top sources, and a SYN throttle
// steered by its PID controller until it is released.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/config.h"
#include "agent/enforce/enforcement_service.h"
#include "agent/live_stats.h"
#include "agent/metrics.h"
#include "tests/common/privileges.h"

namespace ta::agent::enforce {
namespace {

namespace anomaly = analyzer::anomaly;
constexpr uint64_t kSec = 1'000'000'000;
constexpr int64_t kUnix0 = 1'800'000'000LL * 1'000'000'000;  // aligned to 5 s windows
constexpr uint64_t kMono0 = 1000 * kSec;

class EnforcementServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TA_REQUIRE_ROOT();
    char tmpl[] = "/tmp/ta_enforce_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.state_dir = dir_;
    config_.enforcement.enabled = true;
    config_.enforcement.max_rules = 64;
    config_.enforcement.max_tracked_sources = 1024;
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<EnforcementService> Start() {
    auto started = EnforcementService::Start(config_, {}, metrics_);
    EXPECT_TRUE(started.ok()) << (started.ok() ? "" : started.error().ToString());
    return started.ok() ? std::move(*started) : nullptr;
  }

  // One second of simulated time: `requests` to :port, `errors` of them 5xx, then housekeeping.
  void Second(EnforcementService& s, const std::vector<anomaly::Anomaly>& active, uint16_t port,
              int requests, int errors) {
    now_s_ += 1;
    for (int i = 0; i < requests; ++i) {
      live_.AddRequest(kMono0 / kSec + now_s_, port, "/api", i < errors, 0.01);
    }
    s.Housekeeping(kMono0 + now_s_ * kSec, kUnix0 + static_cast<int64_t>(now_s_ * kSec), active,
                   live_);
  }

  std::string dir_;
  Config config_;
  Metrics metrics_;
  LiveRouteStats live_;
  uint64_t now_s_ = 0;
};

anomaly::Anomaly Flood(uint64_t id, uint16_t port, std::vector<uint8_t> top_hosts) {
  anomaly::Anomaly a;
  a.id = id;
  a.detector = anomaly::DetectorKind::kFlood;
  a.port = port;
  a.route = "/api";
  a.explanation = "flood on :" + std::to_string(port) + " /api";
  for (uint8_t host : top_hosts) {
    anomaly::ClientShare share;
    share.client.family = 2;
    share.client.addr = {198, 18, 0, host};
    share.count = 1000;
    a.clients.push_back(share);
  }
  return a;
}

TEST_F(EnforcementServiceTest, AFloodActsOnTheSecondConsecutiveWindow) {
  auto s = Start();
  ASSERT_NE(s, nullptr);
  const std::vector<anomaly::Anomaly> active = {Flood(7, 80, {9, 10})};
  Second(*s, {}, 80, 0, 0);  // first call: the window clock starts
  for (int i = 0; i < 5; ++i) Second(*s, active, 80, 0, 0);  // window 1 closes: one detection
  EXPECT_EQ(s->rules().size(), 0u);
  for (int i = 0; i < 5; ++i) Second(*s, active, 80, 0, 0);  // window 2: it acts
  ASSERT_EQ(s->rules().size(), 2u);
  for (const Rule& r : s->rules().List()) {
    EXPECT_EQ(r.kind, RuleKind::kDrop);
    EXPECT_EQ(r.origin, RuleOrigin::kDetector);
    EXPECT_EQ(r.anomaly_id, 7u);
    EXPECT_EQ(r.detector, "flood");
    EXPECT_TRUE(r.source.is_host());
    // The default flood action: drop for 600 s, jittered by at most 10 %.
    const int64_t ttl = r.expires_unix_ns - r.created_unix_ns;
    EXPECT_GE(ttl, static_cast<int64_t>(540 * kSec));
    EXPECT_LE(ttl, static_cast<int64_t>(660 * kSec));
  }
  // The rules expire with simulated time, and the table says so.
  now_s_ += 700;
  Second(*s, {}, 80, 0, 0);
  EXPECT_EQ(s->rules().size(), 0u);
  EXPECT_EQ(s->rules().stats().expired, 2u);
}

TEST_F(EnforcementServiceTest, ASynThrottleIsSteeredThenReleased) {
  config_.enforcement.policy.actions = {
      {anomaly::DetectorKind::kErrorBudget, analyzer::policy::RuleAction::kSynThrottle,
       3600 * kSec}};
  config_.enforcement.syn_throttle.hold_ns = 30 * kSec;
  config_.enforcement.syn_throttle.release_ns = 60 * kSec;
  auto s = Start();
  ASSERT_NE(s, nullptr);
  anomaly::Anomaly errors;
  errors.id = 11;
  errors.detector = anomaly::DetectorKind::kErrorBudget;
  errors.port = 8080;
  errors.explanation = "5xx burst on :8080";
  const std::vector<anomaly::Anomaly> active = {errors};

  // 100 req/s with 30 % errors against a 1 % setpoint.
  Second(*s, {}, 8080, 100, 30);
  for (int i = 0; i < 10; ++i) Second(*s, active, 8080, 100, 30);
  const Rule* rule = s->rules().FindSynThrottle(8080);
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(rule->origin, RuleOrigin::kDetector);
  EXPECT_EQ(rule->anomaly_id, 11u);
  const double first = rule->admit_ratio;
  EXPECT_LT(first, 1.0);
  EXPECT_GE(first, config_.enforcement.syn_throttle.min_admit);
  ASSERT_NE(s->Controller(8080), nullptr);

  // Still overloaded: the integral closes it further, never below min_admit.
  for (int i = 0; i < 20; ++i) Second(*s, active, 8080, 100, 30);
  rule = s->rules().FindSynThrottle(8080);
  ASSERT_NE(rule, nullptr);
  EXPECT_LT(rule->admit_ratio, first);
  EXPECT_GE(rule->admit_ratio, config_.enforcement.syn_throttle.min_admit);

  // Healthy from now on and the anomaly is gone: the throttle opens, holds, and is released
  // only after a whole release window at or below the setpoint.
  for (int i = 0; i < 30; ++i) Second(*s, {}, 8080, 100, 0);
  ASSERT_NE(s->rules().FindSynThrottle(8080), nullptr) << "released before the release window";
  for (int i = 0; i < 45; ++i) Second(*s, {}, 8080, 100, 0);
  EXPECT_EQ(s->rules().FindSynThrottle(8080), nullptr);
  EXPECT_EQ(s->Controller(8080), nullptr);
  EXPECT_EQ(s->rules().stats().deleted, 1u);
}

TEST_F(EnforcementServiceTest, RulesSurviveARestartAndTheAllowlistFollowsTheConfig) {
  config_.enforcement.allowlist = {Cidr::Parse("198.18.5.0/24").value(), Cidr::Parse("2001:db8::1").value()};
  uint64_t kept_id = 0;
  {
    auto s = Start();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->rules().size(), 2u);  // the allowlist
    RuleRequest req;
    req.kind = RuleKind::kRateLimit;
    req.source = Cidr::Parse("198.18.9.0/24").value();
    req.rate_per_second = 100;
    req.burst = 50;
    req.ttl_ns = 3600 * kSec;
    req.reason = "scraper";
    // Real time: a restart restores against the real wall clock.
    auto added = s->rules().Add(req, RealtimeNs(), RealtimeMinusMonotonicNs());
    ASSERT_TRUE(added.ok()) << added.error().ToString();
    kept_id = added->id;
  }
  config_.enforcement.allowlist = {Cidr::Parse("198.18.6.0/24").value()};
  auto s = Start();
  ASSERT_NE(s, nullptr);
  std::vector<std::string> sources;
  for (const Rule& r : s->rules().List()) sources.push_back(r.source.ToString());
  EXPECT_EQ(sources.size(), 2u);
  const Rule* kept = s->rules().Find(kept_id);
  ASSERT_NE(kept, nullptr);
  EXPECT_EQ(kept->source.ToString(), "198.18.9.0/24");
  EXPECT_NE(s->rules().FindBySource(Cidr::Parse("198.18.6.0/24").value(), true), nullptr);
  EXPECT_EQ(s->rules().FindBySource(Cidr::Parse("198.18.5.0/24").value(), true), nullptr);
}

}  // namespace
}  // namespace ta::agent::enforce
