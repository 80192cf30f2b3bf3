// The anomaly engine with its flood, error-budget and latency detectors, on evenly spaced
// synthetic traffic whose windows have exact counts, so every expectation is exact.
#include "analyzer/anomaly/engine.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/analyzer/anomaly/anomaly_support.h"

namespace ta::analyzer::anomaly {
namespace {

using test_support::Client;
using test_support::Exchange;
using test_support::kEpoch;
using test_support::kSecond;
using test_support::Of;
using test_support::Only;
using test_support::RecordingSink;
using test_support::Drive;
using test_support::Traffic;

AnomalyEngineConfig OnlyFlood() {
  AnomalyEngineConfig config;
  config.error_budget.enabled = false;
  config.latency.enabled = false;
  config.exfiltration.enabled = false;
  config.slow_rate.enabled = false;
  config.bola.enabled = false;
  return config;
}

const Traffic kNormal{.rate = 20.0};                  // 100 requests per 5 s window
const Traffic kAttack{.rate = 40.0, .clients = 2, .client_subnet = 9};  // 3x with kNormal

TEST(AnomalyEngineFlood, ThreeTimesTheRateFiresInTheFirstWindowAndResolves) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  Drive(engine, {kNormal}, kEpoch, t0);
  EXPECT_TRUE(sink.records.empty());
  Drive(engine, {kNormal, kAttack}, t0, t0 + 60 * kSecond);
  Drive(engine, {kNormal}, t0 + 60 * kSecond, t0 + 120 * kSecond);

  // One anomaly: the route's. The port and node keys saw the same flood but are explained by it.
  ASSERT_EQ(sink.records.size(), 2u);
  const Anomaly& fired = sink.records[0];
  EXPECT_EQ(fired.id, 1u);
  EXPECT_EQ(fired.state, AnomalyState::kFiring);
  EXPECT_EQ(fired.detector, DetectorKind::kFlood);
  EXPECT_EQ(fired.port, 80);
  EXPECT_EQ(fired.route, "/api/items");
  EXPECT_EQ(fired.window_start_ns, t0);
  EXPECT_EQ(fired.window_end_ns, t0 + 5 * kSecond);
  EXPECT_EQ(fired.started_ns, t0 + 5 * kSecond);
  EXPECT_DOUBLE_EQ(fired.observed, 60.0);
  EXPECT_DOUBLE_EQ(fired.baseline, 20.0);
  // sigma = max(0 (a perfectly regular baseline), 0.2 x 20, sqrt(20 x 5) / 5) = 4.
  EXPECT_DOUBLE_EQ(fired.score, 10.0);
  EXPECT_EQ(fired.threshold, 3.0);
  EXPECT_EQ(fired.severity, Severity::kCritical);  // z >= 2 x threshold
  ASSERT_GE(fired.clients.size(), 2u);
  EXPECT_EQ(fired.clients[0].count, 100u);
  EXPECT_EQ(fired.clients[1].count, 100u);
  EXPECT_EQ(fired.clients[0].client.ToString().substr(0, 9), "198.18.9.");
  EXPECT_EQ(fired.explanation,
            "flood on :80 /api/items: 60.0 req/s over 5 s, expected 20.0 (sigma 4.0, z 10.0 > "
            "3.0); top sources " +
                fired.clients[0].client.ToString() + " (33 %), " +
                fired.clients[1].client.ToString() + " (33 %), " +
                fired.clients[2].client.ToString() + " (3 %)");

  // Frozen during the flood: afterwards the baseline is still 20 req/s, so six quiet windows
  // after the flood's last one ([t0+55 s, t0+60 s)) it resolves.
  const Anomaly& resolved = sink.records[1];
  EXPECT_EQ(resolved.id, 1u);
  EXPECT_EQ(resolved.state, AnomalyState::kResolved);
  EXPECT_EQ(resolved.window_start_ns, t0 + 85 * kSecond);
  EXPECT_EQ(resolved.started_ns, t0 + 5 * kSecond);
  EXPECT_TRUE(engine.Active().empty());
  EXPECT_EQ(engine.Recent(10).size(), 2u);
}

TEST(AnomalyEngineFlood, BelowTheThresholdStaysQuiet) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  Drive(engine, {kNormal}, kEpoch, t0);
  // 1.5x: z = 10 / 4 = 2.5 on the route, the port and the node alike. The score gauge shows how
  // close the first such window came (the level then starts to follow: 1.5x is not a flood).
  const Traffic more{.rate = 10.0, .clients = 2, .client_subnet = 9};
  Drive(engine, {kNormal, more}, t0, t0 + 7 * kSecond);
  EngineStatus status = engine.Status();
  EXPECT_EQ(status.keys, 1u);
  EXPECT_EQ(status.detectors[0].kind, DetectorKind::kFlood);
  EXPECT_DOUBLE_EQ(status.detectors[0].max_score, 2.5 / 3.0);
  Drive(engine, {kNormal, more}, t0 + 7 * kSecond, t0 + 60 * kSecond);
  EXPECT_TRUE(sink.records.empty());
  status = engine.Status();
  EXPECT_LT(status.detectors[0].max_score, 2.5 / 3.0);
}

TEST(AnomalyEngineFlood, AQuietRouteBelowTheVolumeFloorNeverFires) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  // 1 req/s, then 8 req/s (z far above 3, but under min_rate 10 req/s at every level).
  Drive(engine, {Traffic{.port = 81, .rate = 1.0}}, kEpoch, t0);
  Drive(engine, {Traffic{.port = 81, .rate = 8.0}}, t0, t0 + 60 * kSecond);
  EXPECT_TRUE(sink.records.empty());
}

TEST(AnomalyEngineFlood, NoFindingBeforeWarmUp) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  // 59 windows of history (min_windows is 60), then a 10x flood.
  const uint64_t t0 = kEpoch + 295 * kSecond;
  Drive(engine, {kNormal}, kEpoch, t0);
  EXPECT_LT(engine.Status().detectors[0].learned_fraction, 0.5);
  Drive(engine, {kNormal, Traffic{.rate = 180.0, .client_subnet = 9}}, t0, t0 + 5 * kSecond);
  Drive(engine, {kNormal}, t0 + 5 * kSecond, t0 + 20 * kSecond);
  EXPECT_TRUE(sink.records.empty());
}

TEST(AnomalyEngineFlood, AWidenedThresholdSilencesUntilItExpires) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  Drive(engine, {kNormal}, kEpoch, t0);
  ThresholdOverride launch;
  launch.detector = DetectorKind::kFlood;
  launch.parameter = "z_threshold";
  launch.port = 80;
  launch.route = "/api/items";
  launch.value = 12.0;
  launch.expires_ns = t0 + 30 * kSecond;
  launch.reason = "launch";
  ASSERT_EQ(engine.SetThreshold(launch, t0), std::nullopt);
  Drive(engine, {kNormal, kAttack}, t0, t0 + 60 * kSecond);
  // z = 10 < 12 until the override expires at t0+30 s; the window ending there is the first
  // judged with 3.0 again.
  ASSERT_EQ(Of(sink.records, DetectorKind::kFlood).size(), 1u);
  EXPECT_EQ(sink.records[0].window_start_ns, t0 + 25 * kSecond);
  EXPECT_TRUE(engine.thresholds().empty());  // expired overrides are dropped
}

TEST(AnomalyEngineFlood, SnapshotCarriesTheBaselineAcrossARestart) {
  RecordingSink sink;
  const uint64_t t0 = kEpoch + 600 * kSecond;
  std::string snapshot;
  {
    AnomalyEngine engine(OnlyFlood(), sink);
    Drive(engine, {kNormal}, kEpoch, t0);
    snapshot = engine.Snapshot();
  }
  RecordingSink after;
  AnomalyEngine restarted(OnlyFlood(), after);
  ASSERT_EQ(restarted.Restore(snapshot), std::nullopt);
  // No new warm-up: the first flood window fires.
  Drive(restarted, {kNormal}, t0, t0 + 10 * kSecond);
  Drive(restarted, {kNormal, kAttack}, t0 + 10 * kSecond, t0 + 20 * kSecond);
  ASSERT_GE(after.records.size(), 1u);
  EXPECT_EQ(after.records[0].window_start_ns, t0 + 10 * kSecond);
  EXPECT_DOUBLE_EQ(after.records[0].baseline, 20.0);
}

TEST(AnomalyEngineFlood, TruncatedOrForeignSnapshotIsRefusedAndStateKept) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  Drive(engine, {kNormal}, kEpoch, t0);
  const std::string snapshot = engine.Snapshot();
  for (size_t cut : {size_t{0}, size_t{3}, size_t{8}, snapshot.size() / 2, snapshot.size() - 1}) {
    SCOPED_TRACE(cut);
    EXPECT_TRUE(engine.Restore(snapshot.substr(0, cut)).has_value());
  }
  EXPECT_EQ(engine.Restore("traffic-analyzer: {}\n"), "not an anomaly engine snapshot");
  std::string trailing = snapshot + "x";
  EXPECT_EQ(engine.Restore(trailing), "trailing bytes after the last detector");
  // The learned state survived the refusals.
  Drive(engine, {kNormal, kAttack}, t0, t0 + 5 * kSecond);
  Drive(engine, {kNormal}, t0 + 5 * kSecond, t0 + 10 * kSecond);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].window_start_ns, t0);
}

TEST(AnomalyEngine, LateEventsCountForwardWithinTheBoundAndAreDroppedBeyondIt) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const auto client = Client(1, 1);
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 1 * kSecond));
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 12 * kSecond));  // window 2
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 9 * kSecond));   // 1 s late
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 2 * kSecond));   // 8 s late
  // A timestamp an hour ahead of every event and tick is bogus: counted, not scored, and it
  // does not drag the windows forward.
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 3600 * kSecond));
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 13 * kSecond));
  EngineStatus status = engine.Status();
  EXPECT_EQ(status.exchanges, 4u);
  EXPECT_EQ(status.late_events, 2u);
  EXPECT_EQ(status.future_events, 1u);
  EXPECT_EQ(status.windows_closed, 2u);  // [0,5) and [5,10)
  // Ticks move the clock: after a quiet minute an event is not "in the future".
  engine.Tick(kEpoch + 100 * kSecond);
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 150 * kSecond));
  status = engine.Status();
  EXPECT_EQ(status.exchanges, 5u);
  EXPECT_EQ(status.future_events, 1u);
  EXPECT_EQ(status.windows_closed, 30u);  // up to [145,150)
}

TEST(AnomalyEngine, AWallClockStepRestartsTheWindowsAtTheNewTime) {
  RecordingSink sink;
  AnomalyEngine engine(OnlyFlood(), sink);
  const auto client = Client(1, 1);
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 1 * kSecond));
  // The wall clock steps back an hour: later events (same monotonic clock) are not late.
  engine.SetWallClockOffset(-3600 * static_cast<int64_t>(kSecond));
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 2 * kSecond));
  engine.OnHttpExchange(Exchange(client, 80, "/a", 200, kEpoch + 7 * kSecond));
  EngineStatus status = engine.Status();
  EXPECT_EQ(status.clock_steps, 1u);
  EXPECT_EQ(status.late_events, 0u);
  EXPECT_EQ(status.exchanges, 3u);
  EXPECT_EQ(status.windows_closed, 2u);  // the one open at the step, then [-3600 s + 0, +5)
  // A small adjustment (within the allowed lateness) is not a step.
  engine.SetWallClockOffset(-3600 * static_cast<int64_t>(kSecond) + 1'000'000);
  EXPECT_EQ(engine.Status().clock_steps, 1u);
}


TEST(AnomalyEngineErrorBudget, FiveXxBurstTripsTheCircuitRuleAndBurnsTheBudget) {
  RecordingSink sink;
  AnomalyEngine engine(Only(DetectorKind::kErrorBudget), sink);
  // Six hours of history: every Workbook condition applies once its tracker has seen the
  // condition's short window (a 10-minute-old tracker has no 6 h or 3 d to speak of).
  const uint64_t t0 = kEpoch + 6 * 3600 * kSecond;
  Drive(engine, {kNormal}, kEpoch, t0);
  // 20 % 5xx for 10 minutes.
  const Traffic errors{.rate = 4.0, .status = 503, .client_subnet = 2};
  const Traffic ok{.rate = 16.0};
  Drive(engine, {errors, ok}, t0, t0 + 600 * kSecond);
  Drive(engine, {kNormal}, t0 + 600 * kSecond, t0 + 23400 * kSecond);

  const auto records = Of(sink.records, DetectorKind::kErrorBudget);
  ASSERT_EQ(records.size(), 2u);
  const Anomaly& fired = records[0];
  EXPECT_EQ(fired.port, 80);
  EXPECT_EQ(fired.route, "/api/items");
  // The rolling 5 minutes hold 60 windows of 100 requests; the 4th burst window brings the 5xx
  // to 80 of 6000 = 1.33 % > 1 % (the 3rd: exactly 1 %, not above).
  EXPECT_EQ(fired.window_start_ns, t0 + 15 * kSecond);
  EXPECT_EQ(fired.severity, Severity::kCritical);
  EXPECT_DOUBLE_EQ(fired.observed, 80.0 / 6000.0);
  EXPECT_EQ(fired.explanation.rfind("errors on :80 /api/items: 80 of 6000 requests were 5xx in "
                                    "the last 5 min; circuit rule: 5xx ratio 1.33 % > 1.00 % over "
                                    "5 min",
                                    0),
            0u)
      << fired.explanation;
  // It holds while a Workbook condition holds: the ticket (3d and 6h burn > 1) lasts until the
  // burst leaves the 6 h window, i.e. about 6 h after the burst (t0 + 600 s + 6 h, less the
  // burst seconds whose 5xx no longer exceed the budget).
  EXPECT_EQ(records[1].state, AnomalyState::kResolved);
  EXPECT_EQ(records[1].id, fired.id);
  EXPECT_GT(records[1].window_start_ns, t0 + 21600 * kSecond);
  EXPECT_LT(records[1].window_start_ns, t0 + 22800 * kSecond);
}

TEST(AnomalyEngineErrorBudget, BackgroundErrorsAndAQuietFailingPortStayQuiet) {
  RecordingSink sink;
  AnomalyEngine engine(Only(DetectorKind::kErrorBudget), sink);
  // 0.05 % 5xx: half the 0.1 % budget. And a port whose every request fails, at 0.2 req/s: 60
  // requests per 5 minutes, under the volume floor of 100.
  const Traffic ok{.rate = 19.99};
  const Traffic errors{.rate = 0.01, .status = 500, .client_subnet = 2};
  const Traffic quiet_failing{.port = 81, .route = "/quiet", .rate = 0.2, .status = 500};
  Drive(engine, {ok, errors, quiet_failing}, kEpoch, kEpoch + 3600 * kSecond);
  EXPECT_TRUE(Of(sink.records, DetectorKind::kErrorBudget).empty());
}

TEST(AnomalyEngineLatency, FourfoldP99FiresInTheFirstDegradedWindow) {
  RecordingSink sink;
  AnomalyEngine engine(Only(DetectorKind::kLatency), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  Drive(engine, {Traffic{.duration_ns = 10'000'000}}, kEpoch, t0);
  Drive(engine, {Traffic{.duration_ns = 40'000'000}}, t0, t0 + 60 * kSecond);
  Drive(engine, {Traffic{.duration_ns = 10'000'000}}, t0 + 60 * kSecond, t0 + 120 * kSecond);
  const auto records = Of(sink.records, DetectorKind::kLatency);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].route, "/api/items");
  // 100 requests per window and min_samples 200: a p99 every second window; the first with
  // the degraded window's requests ends at t0 + 10 s.
  EXPECT_EQ(records[0].window_start_ns, t0 + 5 * kSecond);
  EXPECT_NEAR(records[0].observed, 0.040, 0.040 * 0.01);  // DDSketch: 1 % relative error
  EXPECT_NEAR(records[0].baseline, 0.010, 0.010 * 0.01);
  EXPECT_EQ(records[0].unit, "s");
  // The verdict stands while the next p99 gathers: the first normal p99 ends at t0 + 70 s,
  // then six quiet windows.
  EXPECT_EQ(records[1].state, AnomalyState::kResolved);
  EXPECT_EQ(records[1].window_start_ns, t0 + 90 * kSecond);
}

TEST(AnomalyEngineLatency, SmallSlowdownsAndFastRoutesStayQuiet) {
  RecordingSink sink;
  AnomalyEngine engine(Only(DetectorKind::kLatency), sink);
  const uint64_t t0 = kEpoch + 600 * kSecond;
  // 1 ms -> 3 ms is 3x but under min_seconds (5 ms); 20 ms -> 36 ms is under min_ratio 2.
  const auto fast = [](uint64_t ns) { return Traffic{.duration_ns = ns}; };
  const auto b = [](uint64_t ns) { return Traffic{.route = "/b", .duration_ns = ns}; };
  Drive(engine, {fast(1'000'000), b(20'000'000)}, kEpoch, t0);
  Drive(engine, {fast(3'000'000), b(36'000'000)}, t0, t0 + 120 * kSecond);
  EXPECT_TRUE(sink.records.empty());
}

}  // namespace
}  // namespace ta::analyzer::anomaly
