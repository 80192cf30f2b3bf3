// The slow-rate detector on constructed connection census snapshots: slowloris, slow POST and
// slow read fire with exact counts in the window whose census shows them; idle keep-alive
// connections, a slow server and a single slow client do not.
#include "analyzer/anomaly/slow_rate_detector.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/anomaly/engine.h"
#include "analyzer/state/codec.h"
#include "tests/analyzer/anomaly/anomaly_support.h"

namespace ta::analyzer::anomaly {
namespace {

using test_support::Client;
using test_support::kEpoch;
using test_support::kSecond;

constexpr uint64_t kWindow = 5 * kSecond;
const ClientAddress kAttacker = Client(0, 7);

ConnectionProgress Conn(const ClientAddress& client, uint16_t client_port, uint16_t server_port,
                        ExchangePhase phase, uint64_t phase_start_ns, uint64_t phase_bytes,
                        std::optional<uint64_t> expected = std::nullopt) {
  ConnectionProgress c;
  c.flow.family = client.family;
  c.flow.client_addr = client.addr;
  c.flow.server_addr = {198, 18, 0, 1};
  c.flow.client_port = client_port;
  c.flow.server_port = server_port;
  c.phase = phase;
  c.phase_start_ns = phase_start_ns;
  c.last_byte_ns = phase_start_ns;
  c.phase_bytes = phase_bytes;
  c.expected_bytes = expected;
  return c;
}

// `n` connections from `client` in `phase`, all started at `start` with `bytes` so far.
void AddConns(std::vector<ConnectionProgress>& census, const ClientAddress& client, int n,
              uint16_t server_port, ExchangePhase phase, uint64_t start, uint64_t bytes,
              uint16_t first_client_port = 40000) {
  for (int i = 0; i < n; ++i) {
    census.push_back(Conn(client, static_cast<uint16_t>(first_client_port + i), server_port, phase,
                          start, bytes));
  }
}

using Harness = test_support::DetectorHarness;

TEST(SlowRateDetectorTest, SlowlorisFiresWithExactCountsAndExplanation) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  const uint64_t window = kEpoch + 100 * kSecond;
  const uint64_t census_at = window + 4 * kSecond;
  std::vector<ConnectionProgress> census;
  // 40 heads, 60 bytes each over 30 s: 2 B/s.
  AddConns(census, kAttacker, 40, 80, ExchangePhase::kRequestHead, census_at - 30 * kSecond, 60);
  detector.OnCensus(census_at, census);
  const std::vector<Finding> findings = h.Close(window);
  ASSERT_EQ(findings.size(), 1u);
  const Finding& f = findings[0];
  EXPECT_EQ(f.port, 80);
  EXPECT_EQ(f.route, "");
  EXPECT_EQ(f.subject, kAttacker);
  EXPECT_EQ(f.severity, Severity::kCritical);
  EXPECT_EQ(f.observed, 40.0);
  EXPECT_EQ(f.threshold, 10.0);
  EXPECT_EQ(f.unit, "connections");
  ASSERT_EQ(f.clients.size(), 1u);
  EXPECT_EQ(f.clients[0].count, 40u);
  EXPECT_EQ(f.explanation,
            "198.18.0.7 holds 40 connections sending request heads at 2 B/s for 30 s+ "
            "(slowloris) on :80");
  EXPECT_EQ(detector.counters().scored, 40u);
  EXPECT_EQ(detector.counters().skipped, 0u);
}

TEST(SlowRateDetectorTest, FiresInTheFirstWindowWhereTheConnectionsAreOldEnough) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  // 12 slow POSTs open at t0 + 1 s and send 5 bytes per second; one census per window, 4 s in.
  const uint64_t t0 = kEpoch;
  const uint64_t opened = t0 + kSecond;
  for (int w = 0; w < 6; ++w) {
    const uint64_t start = t0 + static_cast<uint64_t>(w) * kWindow;
    const uint64_t at = start + 4 * kSecond;
    const uint64_t age_s = (at - opened) / kSecond;  // 3, 8, 13, 18, 23, 28
    std::vector<ConnectionProgress> census;
    for (int i = 0; i < 12; ++i) {
      census.push_back(Conn(kAttacker, static_cast<uint16_t>(50000 + i), 8080,
                            ExchangePhase::kRequestBody, opened, 5 * age_s, 100000));
    }
    detector.OnCensus(at, census);
    const std::vector<Finding> findings = h.Close(start);
    if (age_s < 10) {
      EXPECT_TRUE(findings.empty()) << "window " << w;
      continue;
    }
    ASSERT_EQ(findings.size(), 1u) << "window " << w;
    EXPECT_EQ(findings[0].explanation,
              "198.18.0.7 holds 12 connections sending request bodies at 5 B/s for " +
                  std::to_string(age_s) + " s+ (slow POST) on :8080");
  }
}

TEST(SlowRateDetectorTest, ThresholdIsInclusiveAndPerPortAndClient) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  const uint64_t at = kEpoch + 4 * kSecond;
  const uint64_t old = at - 60 * kSecond;
  std::vector<ConnectionProgress> census;
  AddConns(census, Client(0, 1), 9, 80, ExchangePhase::kRequestHead, old, 10);          // 9: below
  AddConns(census, Client(0, 2), 10, 80, ExchangePhase::kRequestHead, old, 10);         // 10: fires
  AddConns(census, Client(0, 3), 6, 80, ExchangePhase::kRequestHead, old, 10);          // 6 + 6 on
  AddConns(census, Client(0, 3), 6, 443, ExchangePhase::kRequestHead, old, 10, 41000);  // 2 ports
  detector.OnCensus(at, census);
  const std::vector<Finding> findings = h.Close(kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].subject, Client(0, 2));
  EXPECT_EQ(findings[0].observed, 10.0);
}

TEST(SlowRateDetectorTest, IdleKeepAliveSlowServerAndFastClientsDoNotFire) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  const uint64_t at = kEpoch + 4 * kSecond;
  std::vector<ConnectionProgress> census;
  // 50 keep-alive connections between requests, reported (if at all) with no head byte yet.
  AddConns(census, kAttacker, 50, 80, ExchangePhase::kRequestHead, at - 120 * kSecond, 0);
  // 50 connections waiting 60 s for a slow backend: the server's problem, not an attack.
  AddConns(census, kAttacker, 50, 80, ExchangePhase::kAwaitingResponse, at - 60 * kSecond, 0,
           41000);
  // 50 keep-alive connections in the middle of a quick request.
  AddConns(census, kAttacker, 50, 80, ExchangePhase::kRequestHead, at - kSecond / 1000, 200, 42000);
  // 50 large downloads, old but fast: 1 MB in 20 s.
  AddConns(census, kAttacker, 50, 80, ExchangePhase::kResponse, at - 20 * kSecond, 1'000'000,
           43000);
  // 50 uploads at exactly 100 B/s (the limit is "below").
  AddConns(census, kAttacker, 50, 80, ExchangePhase::kRequestBody, at - 20 * kSecond, 2000, 44000);
  detector.OnCensus(at, census);
  EXPECT_TRUE(h.Close(kEpoch).empty());
  EXPECT_EQ(detector.counters().scored, 150u);
  EXPECT_EQ(detector.counters().skipped, 100u);
}

TEST(SlowRateDetectorTest, MixedKindsAreNamedEach) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  const uint64_t at = kEpoch + 4 * kSecond;
  std::vector<ConnectionProgress> census;
  AddConns(census, kAttacker, 6, 80, ExchangePhase::kRequestHead, at - 40 * kSecond, 40);
  census.push_back(Conn(kAttacker, 41000, 80, ExchangePhase::kResponse, at - 12 * kSecond, 600));
  census.push_back(
      Conn(kAttacker, 41001, 80, ExchangePhase::kResponse, at - 15 * kSecond - 1, 300));
  AddConns(census, kAttacker, 2, 80, ExchangePhase::kRequestBody, at - 25 * kSecond, 25, 42000);
  detector.OnCensus(at, census);
  const std::vector<Finding> findings = h.Close(kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  // Slow reads: 50 B/s and ~20 B/s, mean 35 B/s; the youngest is 12 s old.
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.7 holds 10 slow connections on :80: 6 sending request heads at 1 B/s for "
            "40 s+ (slowloris), 2 sending request bodies at 1 B/s for 25 s+ (slow POST), 2 "
            "reading responses at 35 B/s for 12 s+ (slow read)");
}

TEST(SlowRateDetectorTest, TheLatestCensusInsideTheWindowDecides) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  const uint64_t old = kEpoch - 60 * kSecond;
  std::vector<ConnectionProgress> slow;
  AddConns(slow, kAttacker, 20, 80, ExchangePhase::kRequestHead, old, 10);
  // Window 0: slow at 1 s, gone at 3 s (the attacker disconnected): nothing.
  detector.OnCensus(kEpoch + kSecond, slow);
  detector.OnCensus(kEpoch + 3 * kSecond, {});
  // Window 1's census arrives before window 0 closes; it must not count for window 0.
  detector.OnCensus(kEpoch + kWindow + kSecond, slow);
  EXPECT_TRUE(h.Close(kEpoch).empty());
  ASSERT_EQ(h.Close(kEpoch + kWindow).size(), 1u);
  // Window 2 has no census: no findings (a snapshot says nothing about later windows).
  EXPECT_TRUE(h.Close(kEpoch + 2 * kWindow).empty());
  // Out of order: the later snapshot of window 3 still wins.
  detector.OnCensus(kEpoch + 3 * kWindow + 4 * kSecond, {});
  detector.OnCensus(kEpoch + 3 * kWindow + kSecond, slow);
  EXPECT_TRUE(h.Close(kEpoch + 3 * kWindow).empty());
  EXPECT_EQ(detector.counters().overflow, 0u);
}

TEST(SlowRateDetectorTest, PendingSnapshotsAreBounded) {
  SlowRateDetector detector(SlowRateConfig{});
  for (size_t i = 0; i < SlowRateDetector::kMaxPendingCensus + 3; ++i) {
    detector.OnCensus(kEpoch + i, {});
  }
  EXPECT_EQ(detector.counters().overflow, 3u);
}

TEST(SlowRateDetectorTest, OverrideRaisesTheLimitForAPort) {
  SlowRateDetector detector(SlowRateConfig{});
  Harness h(detector);
  ThresholdOverride o;
  o.detector = DetectorKind::kSlowRate;
  o.parameter = "max_slow_connections";
  o.port = 80;
  o.value = 50;
  ASSERT_EQ(h.thresholds.Set(o, kEpoch), std::nullopt);
  const uint64_t at = kEpoch + kSecond;
  std::vector<ConnectionProgress> census;
  AddConns(census, kAttacker, 40, 80, ExchangePhase::kRequestHead, at - 30 * kSecond, 60);
  AddConns(census, kAttacker, 40, 81, ExchangePhase::kRequestHead, at - 30 * kSecond, 60);
  detector.OnCensus(at, census);
  const std::vector<Finding> findings = h.Close(kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].port, 81);
}

TEST(SlowRateDetectorTest, SaveAndLoadCarryOnlyATag) {
  SlowRateDetector detector(SlowRateConfig{});
  state::Writer writer;
  detector.Save(writer);
  EXPECT_EQ(writer.data(), "SLOW");
  state::Reader reader(writer.data());
  EXPECT_TRUE(detector.Load(reader));
  EXPECT_TRUE(reader.AtEnd());
  state::Reader wrong("BOLA");
  EXPECT_FALSE(detector.Load(wrong));
  state::Reader empty("");
  EXPECT_FALSE(detector.Load(empty));
}

// Through the engine: census times are converted to wall clock and the anomaly fires once, then
// resolves when the connections are gone.
TEST(SlowRateDetectorTest, EngineFiresAndResolves) {
  test_support::RecordingSink sink;
  AnomalyEngine engine(test_support::Only(DetectorKind::kSlowRate), sink);
  const uint64_t opened = kEpoch + 500'000'000;
  for (int s = 0; s < 120; ++s) {
    const uint64_t t = kEpoch + static_cast<uint64_t>(s) * kSecond + 2 * kSecond / 10;
    std::vector<ConnectionProgress> census;
    if (s < 60) {
      // 30 connections, one head byte every 4 s.
      AddConns(census, kAttacker, 30, 80, ExchangePhase::kRequestHead, opened,
               1 + (t - opened) / (4 * kSecond));
    }
    engine.OnCensus(t, census);
    engine.Tick(t + kSecond / 2);
  }
  ASSERT_EQ(sink.records.size(), 2u);
  const Anomaly& fired = sink.records[0];
  EXPECT_EQ(fired.detector, DetectorKind::kSlowRate);
  EXPECT_EQ(fired.state, AnomalyState::kFiring);
  // The first census with the heads at least 10 s old is at 11.2 s, in window [10 s, 15 s).
  EXPECT_EQ(fired.window_start_ns, kEpoch + 10 * kSecond);
  EXPECT_EQ(fired.observed, 30.0);
  EXPECT_EQ(sink.records[1].state, AnomalyState::kResolved);
  // Gone at 60 s; resolved after 6 quiet windows: the one closing at 90 s.
  EXPECT_EQ(sink.records[1].window_end_ns, kEpoch + 90 * kSecond);
}

}  // namespace
}  // namespace ta::analyzer::anomaly
