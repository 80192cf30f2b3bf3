// The BOLA detector on constructed exchanges: an enumeration fires exactly when its 60 s window
// is judged, and stays until the next verdict; an admin reading many objects, weak evidence and
// exchanges without object IDs do not fire.
#include "analyzer/anomaly/bola_detector.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "analyzer/anomaly/engine.h"
#include "analyzer/state/codec.h"
#include "fmt/format.h"
#include "tests/analyzer/anomaly/anomaly_support.h"

namespace ta::analyzer::anomaly {
namespace {

using test_support::Client;
using test_support::kEpoch;
using test_support::kSecond;

constexpr uint64_t kWindow = 5 * kSecond;
constexpr uint64_t kBolaWindow = 60 * kSecond;
static_assert(kEpoch % kBolaWindow == 0, "kEpoch starts a BOLA window");
const ClientAddress kAttacker = Client(0, 5);

HttpExchange Get(const ClientAddress& client, const std::string& route, std::string object_id,
                 uint16_t status, uint64_t end_ns) {
  HttpExchange e = test_support::Exchange(client, 80, route, status, end_ns);
  e.object_id = std::move(object_id);
  return e;
}

// The engine's harness, plus BOLA's long windows.
class Harness : public test_support::DetectorHarness {
 public:
  using DetectorHarness::DetectorHarness;

  // Feeds the exchanges in [start, start + 5 s) and closes that engine window.
  std::vector<Finding> FeedAndClose(const std::vector<HttpExchange>& all, uint64_t start) {
    for (const HttpExchange& e : all) {
      if (e.response_end_ns >= start && e.response_end_ns < start + kWindow) Feed(e);
    }
    return Close(start);
  }

  // Runs the engine windows of one BOLA window starting at `start`; returns the findings of the
  // last (the one that judges it) and expects none before.
  std::vector<Finding> RunBolaWindow(const std::vector<HttpExchange>& all, uint64_t start) {
    for (uint64_t t = start; t + kWindow < start + kBolaWindow; t += kWindow) {
      EXPECT_TRUE(FeedAndClose(all, t).empty()) << (t - start) / kSecond;
    }
    return FeedAndClose(all, start + kBolaWindow - kWindow);
  }
};

// 120 IDs in four runs of 30 consecutive numbers (116 adjacent to one already requested), one
// every 0.5 s; the first 77 are refused.
std::vector<HttpExchange> Enumeration(uint64_t start, const ClientAddress& client) {
  std::vector<HttpExchange> out;
  for (uint64_t i = 0; i < 120; ++i) {
    const uint64_t id = 1000 * (1 + i / 30) + i % 30;
    const uint16_t status = i < 77 ? (i % 2 == 0 ? 403 : 404) : 200;
    out.push_back(
        Get(client, "/api/orders/{id}", std::to_string(id), status, start + i * kSecond / 2));
  }
  return out;
}

TEST(BolaDetectorTest, EnumerationFiresWhenItsWindowIsJudgedAndHoldsUntilTheNextVerdict) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  const std::vector<HttpExchange> attack = Enumeration(kEpoch, kAttacker);
  const std::vector<Finding> findings = h.RunBolaWindow(attack, kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  const Finding& f = findings[0];
  EXPECT_EQ(f.port, 80);
  EXPECT_EQ(f.route, "/api/orders/{id}");
  EXPECT_EQ(f.subject, kAttacker);
  EXPECT_EQ(f.severity, Severity::kCritical);
  EXPECT_EQ(f.observed, 120.0);
  EXPECT_EQ(f.threshold, 50.0);
  EXPECT_EQ(f.unit, "objects");
  ASSERT_EQ(f.clients.size(), 1u);
  EXPECT_EQ(f.clients[0].count, 120u);
  EXPECT_EQ(f.explanation,
            "198.18.0.5 requested 120 distinct objects on GET /api/orders/{id} in 60 s, 64 % "
            "answered 403/404, 97 % sequential IDs");
  EXPECT_EQ(detector.counters().scored, 120u);

  // The verdict is repeated at every engine window of the next BOLA window (no traffic), and
  // gone once that window has been judged (empty).
  for (uint64_t t = kEpoch + kBolaWindow; t < kEpoch + 2 * kBolaWindow - kWindow; t += kWindow) {
    const std::vector<Finding> again = h.Close(t);
    ASSERT_EQ(again.size(), 1u) << (t - kEpoch) / kSecond;
    EXPECT_EQ(again[0].explanation, f.explanation);
  }
  EXPECT_TRUE(h.Close(kEpoch + 2 * kBolaWindow - kWindow).empty());
  EXPECT_TRUE(h.Close(kEpoch + 2 * kBolaWindow).empty());
}

TEST(BolaDetectorTest, AnAdminReadingManyObjectsDoesNotFire) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  std::mt19937_64 rng(11);
  std::vector<HttpExchange> reads;
  for (uint64_t i = 0; i < 200; ++i) {
    reads.push_back(Get(Client(1, 1), "/api/orders/{id}", std::to_string(1 + rng() % 1'000'000'000),
                        200, kEpoch + i * 250'000'000));
  }
  EXPECT_TRUE(h.RunBolaWindow(reads, kEpoch).empty());
  EXPECT_EQ(detector.counters().scored, 200u);
  EXPECT_EQ(detector.counters().overflow, 0u);
}

TEST(BolaDetectorTest, RefusedNonNumericIdsFire) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  std::mt19937_64 rng(12);
  std::vector<HttpExchange> probes;
  for (uint64_t i = 0; i < 60; ++i) {
    probes.push_back(Get(kAttacker, "/api/files/{id}", fmt::format("f{:015x}", rng() >> 4),
                         i % 2 == 0 ? 404 : 200, kEpoch + i * kSecond));
  }
  const std::vector<Finding> findings = h.RunBolaWindow(probes, kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.5 requested 60 distinct objects on GET /api/files/{id} in 60 s, 50 % "
            "answered 403/404, IDs not numeric");
}

TEST(BolaDetectorTest, DistinctThresholdIsInclusive) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  std::vector<HttpExchange> all;
  for (uint64_t i = 0; i < 49; ++i) {
    all.push_back(Get(Client(0, 1), "/o/{id}", std::to_string(i), 404, kEpoch + i * kSecond));
  }
  for (uint64_t i = 0; i < 50; ++i) {
    all.push_back(Get(Client(0, 2), "/o/{id}", std::to_string(i), 404, kEpoch + i * kSecond));
  }
  const std::vector<Finding> findings = h.RunBolaWindow(all, kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].subject, Client(0, 2));
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.2 requested 50 distinct objects on GET /o/{id} in 60 s, 100 % answered "
            "403/404, 98 % sequential IDs");
}

// 100 distinct IDs, 20 % refused; `pairs` pairs of neighbours (id, id + 1) far apart, the rest
// isolated: the sequential share is pairs / 100.
std::vector<HttpExchange> WeakEvidence(uint64_t pairs) {
  std::vector<HttpExchange> out;
  for (uint64_t i = 0; i < 100; ++i) {
    const uint64_t id = i < 2 * pairs ? 1000 * (i / 2) + i % 2 : 1000 * i + 500;
    out.push_back(Get(Client(0, 3), "/o/{id}", std::to_string(id), i % 5 == 0 ? 403 : 200,
                      kEpoch + i * kSecond / 2));
  }
  return out;
}

TEST(BolaDetectorTest, WeakEvidenceDoesNotFireAndTheSequentialRatioIsInclusive) {
  {
    BolaDetector detector(BolaConfig{});
    Harness h(detector);
    EXPECT_TRUE(h.RunBolaWindow(WeakEvidence(40), kEpoch).empty());
  }
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  const std::vector<Finding> findings = h.RunBolaWindow(WeakEvidence(50), kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.3 requested 100 distinct objects on GET /o/{id} in 60 s, 20 % answered "
            "403/404, 50 % sequential IDs");
}

TEST(BolaDetectorTest, RepeatsAndOtherPrefixesAreNotSequential) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  std::vector<HttpExchange> all;
  // One object fetched 100 times: one distinct, not sequential.
  for (uint64_t i = 0; i < 100; ++i) {
    all.push_back(Get(Client(0, 1), "/o/{id}", "42", 404, kEpoch + i * kSecond / 2));
  }
  // Orders of two users, interleaved with step 2 inside each user: neighbours only across
  // users, which is not sequential.
  for (uint64_t i = 0; i < 60; ++i) {
    const std::string user = i % 2 == 0 ? "7/" : "8/";
    all.push_back(Get(Client(0, 2), "/u/{id}/orders/{id}", user + std::to_string(10 + i), 200,
                      kEpoch + i * kSecond / 2));
  }
  // One user's orders in sequence: sequential (59 of 60).
  for (uint64_t i = 0; i < 60; ++i) {
    all.push_back(Get(Client(0, 3), "/u/{id}/orders/{id}", "7/" + std::to_string(1 + i), 200,
                      kEpoch + i * kSecond / 2));
  }
  const std::vector<Finding> findings = h.RunBolaWindow(all, kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.3 requested 60 distinct objects on GET /u/{id}/orders/{id} in 60 s, 0 % "
            "answered 403/404, 98 % sequential IDs");
}

TEST(BolaDetectorTest, ExchangesWithoutObjectIdsAreIgnored) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  std::vector<HttpExchange> all;
  for (uint64_t i = 0; i < 300; ++i) {
    all.push_back(Get(kAttacker, "/api/search", "", 404, kEpoch + i * kSecond / 10));
  }
  EXPECT_TRUE(h.RunBolaWindow(all, kEpoch).empty());
  EXPECT_EQ(detector.counters().scored, 0u);
  EXPECT_EQ(detector.counters().skipped, 0u);
}

TEST(BolaDetectorTest, TrackedPairsAndNumericIdsAreBoundedAndCounted) {
  BolaConfig config;
  config.max_tracked_clients = 3;
  BolaDetector detector(config);
  Harness h(detector);
  for (uint8_t c = 1; c <= 5; ++c) {
    for (uint64_t i = 0; i < 10; ++i) {
      h.Feed(Get(Client(0, c), "/o/{id}", std::to_string(i), 200, kEpoch + i));
    }
  }
  EXPECT_EQ(detector.counters().scored, 30u);
  EXPECT_EQ(detector.counters().overflow, 20u);

  BolaDetector many(BolaConfig{});
  Harness h2(many);
  for (uint64_t i = 0; i < BolaDetector::kMaxNumericIdsPerClient + 4; ++i) {
    h2.Feed(Get(kAttacker, "/o/{id}", std::to_string(2 * i), 404, kEpoch + i));
  }
  EXPECT_EQ(many.counters().overflow, 4u);
  const std::vector<Finding> findings = h2.RunBolaWindow({}, kEpoch);
  ASSERT_EQ(findings.size(), 1u);  // distinct is an estimate beyond the exact mode
  EXPECT_NEAR(findings[0].observed, 4100.0, 4100.0 * 0.1);
}

TEST(BolaDetectorTest, LateExchangesAreCountedNotScored) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  EXPECT_TRUE(h.RunBolaWindow({}, kEpoch).empty());
  h.Feed(Get(kAttacker, "/o/{id}", "1", 404, kEpoch + kBolaWindow - 1));
  EXPECT_EQ(detector.counters().skipped, 1u);
  EXPECT_EQ(detector.counters().scored, 0u);
}

TEST(BolaDetectorTest, OverrideRaisesTheDistinctLimitForARoute) {
  BolaDetector detector(BolaConfig{});
  Harness h(detector);
  ThresholdOverride o;
  o.detector = DetectorKind::kBola;
  o.parameter = "max_distinct_objects";
  o.port = 80;
  o.route = "/api/orders/{id}";
  o.value = 200;
  ASSERT_EQ(h.thresholds.Set(o, kEpoch), std::nullopt);
  std::vector<HttpExchange> all = Enumeration(kEpoch, kAttacker);
  for (HttpExchange& e : Enumeration(kEpoch, kAttacker)) {
    e.route = "/api/invoices/{id}";
    all.push_back(e);
  }
  const std::vector<Finding> findings = h.RunBolaWindow(all, kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].route, "/api/invoices/{id}");
}

TEST(BolaDetectorTest, SaveAndLoadCarryOnlyATag) {
  BolaDetector detector(BolaConfig{});
  state::Writer writer;
  detector.Save(writer);
  EXPECT_EQ(writer.data(), "BOLA");
  state::Reader reader(writer.data());
  EXPECT_TRUE(detector.Load(reader));
  EXPECT_TRUE(reader.AtEnd());
  state::Reader wrong("EXFL");
  EXPECT_FALSE(detector.Load(wrong));
}

// Through the engine: one firing record when the BOLA window closes, resolved six quiet engine
// windows after the verdict expires.
TEST(BolaDetectorTest, EngineFiresOnceAndResolves) {
  test_support::RecordingSink sink;
  AnomalyEngine engine(test_support::Only(DetectorKind::kBola), sink);
  const std::vector<HttpExchange> attack = Enumeration(kEpoch, kAttacker);
  size_t next = 0;
  for (uint64_t s = 0; s < 200; ++s) {
    const uint64_t t = kEpoch + s * kSecond;
    while (next < attack.size() && attack[next].response_end_ns < t + kSecond) {
      engine.OnHttpExchange(attack[next++]);
    }
    engine.Tick(t + kSecond);
  }
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].detector, DetectorKind::kBola);
  EXPECT_EQ(sink.records[0].state, AnomalyState::kFiring);
  EXPECT_EQ(sink.records[0].window_end_ns, kEpoch + kBolaWindow);
  EXPECT_EQ(sink.records[1].state, AnomalyState::kResolved);
  EXPECT_EQ(sink.records[1].window_end_ns, kEpoch + 2 * kBolaWindow + 5 * kWindow);
}

}  // namespace
}  // namespace ta::analyzer::anomaly
