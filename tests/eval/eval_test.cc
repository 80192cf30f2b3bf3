// The evaluation harness as a test: the generator's own properties, determinism of a full run,
// and issue 5's targets on the standard plan shortened to one simulated week.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tests/eval/scenario.h"
#include "tests/eval/traffic_generator.h"

namespace ta::eval {
namespace {

using analyzer::ExchangePhase;
using analyzer::anomaly::AnomalyState;

// Plug-in Shannon entropy with the Miller-Madow correction, written here independently of
// analyzer/stats/entropy.h so the test does not grade the generator with the code under test.
double BitsPerByte(const std::string& bytes) {
  std::array<uint64_t, 256> counts{};
  for (char c : bytes) ++counts[static_cast<uint8_t>(c)];
  const double n = static_cast<double>(bytes.size());
  double h = 0;
  double bins = 0;
  for (uint64_t count : counts) {
    if (count == 0) continue;
    const double p = static_cast<double>(count) / n;
    h -= p * std::log2(p);
    bins += 1;
  }
  return h + (bins - 1) / (2.0 * n * std::log(2.0));
}

// A short plan with one of each body kind: normal traffic and a dump from minute 10.
GeneratorConfig ShortConfig(uint64_t seed) {
  GeneratorConfig config;
  config.seed = seed;
  config.duration_ns = 20 * kNsPerMinute;
  config.routes = DefaultRoutes();
  config.attacks.push_back(
      {AttackKind::kDump, "dump", 4, 10 * kNsPerMinute, 2 * kNsPerMinute, 1024.0 * 1024.0});
  config.attacks.push_back(
      {AttackKind::kSlowloris, "slowloris", 1, 5 * kNsPerMinute, 5 * kNsPerMinute, 50});
  config.attacks.push_back(
      {AttackKind::kBolaWalk, "bola", 1, 12 * kNsPerMinute, kNsPerMinute, 2.0});
  return config;
}

TEST(TrafficGenerator, HourlyCountsFollowTheIntendedRate) {
  GeneratorConfig config;
  config.seed = 7;
  config.duration_ns = kNsPerDay;
  config.routes = DefaultRoutes();
  TrafficGenerator generator(config);
  const size_t routes = config.routes.size();
  std::vector<std::array<uint64_t, 24>> counts(routes, std::array<uint64_t, 24>{});
  GeneratedEvent event;
  while (generator.Next(event)) {
    if (event.kind != GeneratedEvent::Kind::kExchange) continue;
    const auto& x = event.exchange;
    const auto route =
        static_cast<size_t>(std::find_if(config.routes.begin(), config.routes.end(),
                                         [&](const RouteSpec& r) { return r.route == x.route; }) -
                            config.routes.begin());
    ASSERT_LT(route, routes);
    ++counts[route][(x.request_start_ns - config.start_ns) / kNsPerHour];
  }
  for (size_t r = 0; r < routes; ++r) {
    for (uint64_t h = 0; h < 24; ++h) {
      // The intended count: the rate integrated over the hour (midpoint rule, 1 s steps).
      double expected = 0;
      for (uint64_t s = 0; s < 3600; ++s) {
        expected += generator.NormalRate(
            r, config.start_ns + h * kNsPerHour + s * kNsPerSecond + kNsPerSecond / 2);
      }
      // Poisson: 4.5 sigma (a false alarm about once in 150 000 hours; fixed seed anyway).
      EXPECT_NEAR(static_cast<double>(counts[r][h]), expected, 4.5 * std::sqrt(expected) + 1)
          << config.routes[r].route << " hour " << h;
    }
  }
  // The diurnal shape: the 03:00 hour is about 20 % of the 15:00 hour.
  const double night = generator.NormalRate(0, config.start_ns + 3 * kNsPerHour);
  const double peak = generator.NormalRate(0, config.start_ns + 15 * kNsPerHour);
  EXPECT_NEAR(night / peak, 0.2, 0.01);
  // Weekend (Saturday = day 5) at 60 % of Monday, growth +30 % per week.
  EXPECT_NEAR(generator.NormalRate(0, config.start_ns + 5 * kNsPerDay + 15 * kNsPerHour) /
                  (peak * std::pow(1.3, 5.0 / 7.0)),
              0.6, 1e-9);
  EXPECT_NEAR(generator.NormalRate(0, config.start_ns + kNsPerWeek + 15 * kNsPerHour) / peak, 1.3,
              1e-9);
}

TEST(TrafficGenerator, EventsAreOrderedAndAddressesInTheBenchmarkRange) {
  TrafficGenerator generator(ShortConfig(3));
  GeneratedEvent event;
  uint64_t last = 0;
  uint64_t censuses = 0;
  uint64_t exchanges = 0;
  while (generator.Next(event)) {
    ASSERT_GE(event.time_ns, last);
    last = event.time_ns;
    if (event.kind == GeneratedEvent::Kind::kCensus) {
      EXPECT_EQ(event.time_ns % (5 * kNsPerSecond), 0u);
      ++censuses;
      continue;
    }
    ++exchanges;
    const auto& flow = event.exchange.flow;
    // RFC 2544 benchmarking range 198.18.0.0/15.
    ASSERT_EQ(flow.family, 2);
    ASSERT_EQ(flow.client_addr[0], 198);
    ASSERT_TRUE(flow.client_addr[1] == 18 || flow.client_addr[1] == 19);
    ASSERT_EQ(flow.server_addr[0], 198);
    ASSERT_TRUE(flow.server_addr[1] == 18 || flow.server_addr[1] == 19);
    ASSERT_TRUE(flow.server_port == 80 || flow.server_port == 443);
    ASSERT_EQ(event.time_ns, event.exchange.response_end_ns);
    ASSERT_GE(event.exchange.response_end_ns, event.exchange.request_start_ns);
  }
  // One per 5 s window boundary strictly inside the 20 minutes.
  EXPECT_EQ(censuses, 20u * 60 / 5 - 1);
  EXPECT_EQ(generator.counts().exchanges, exchanges);
  EXPECT_GT(exchanges, 5000u);  // 00:00-00:20, near the night trough
}

TEST(TrafficGenerator, LabelsAreOrderedAndDescribeTheAttacks) {
  const EvalPlan plan = StandardPlan(1, 7, true);
  TrafficGenerator generator(plan.generator);
  const std::vector<Label>& labels = generator.labels();
  ASSERT_EQ(labels.size(), 7u);
  for (size_t i = 0; i < labels.size(); ++i) {
    EXPECT_LT(labels[i].start_ns, labels[i].end_ns);
    // After the warm-up day, inside the run.
    EXPECT_GE(labels[i].start_ns, plan.generator.start_ns + kNsPerDay);
    EXPECT_LE(labels[i].end_ns, plan.generator.start_ns + plan.generator.duration_ns);
    if (i > 0) {
      EXPECT_LT(labels[i - 1].end_ns, labels[i].start_ns);
    }
  }
  std::map<DetectorKind, size_t> per_detector;
  for (const Label& l : labels) ++per_detector[l.detector];
  EXPECT_EQ(per_detector[DetectorKind::kFlood], 2u);
  EXPECT_EQ(per_detector[DetectorKind::kErrorBudget], 1u);
  EXPECT_EQ(per_detector[DetectorKind::kLatency], 1u);
  EXPECT_EQ(per_detector[DetectorKind::kSlowRate], 1u);
  EXPECT_EQ(per_detector[DetectorKind::kBola], 1u);
  EXPECT_EQ(per_detector[DetectorKind::kExfiltration], 1u);
  const auto flood3 = std::find_if(labels.begin(), labels.end(),
                                   [](const Label& l) { return l.name == "flood 3x"; });
  ASSERT_NE(flood3, labels.end());
  EXPECT_EQ(flood3->port, 80);
  EXPECT_EQ(flood3->route, "/api/events");
  EXPECT_FALSE(flood3->client.has_value());
  // The flood's route carries >= 50 req/s once the flood is on (3x its normal rate).
  EXPECT_GE(3.0 * generator.NormalRate(0, flood3->start_ns), 50.0);
  for (const Label& l : labels) {
    if (l.detector == DetectorKind::kBola || l.detector == DetectorKind::kSlowRate ||
        l.detector == DetectorKind::kExfiltration) {
      EXPECT_TRUE(l.client.has_value()) << l.name;
    }
  }
}

TEST(TrafficGenerator, BodiesHaveTheIntendedEntropyClass) {
  TrafficGenerator generator(ShortConfig(5));
  GeneratedEvent event;
  size_t json = 0;
  size_t gzip = 0;
  size_t random = 0;
  while (generator.Next(event)) {
    if (event.kind != GeneratedEvent::Kind::kExchange) continue;
    const auto& body = event.exchange.response_body;
    if (body.bytes.empty()) continue;
    ASSERT_LE(body.bytes.size(), 4096u);
    if (body.content_encoding == "gzip") {
      if (++gzip > 500) continue;
      // Compressed bytes look random-ish; inflated they are JSON again.
      ASSERT_GE(body.bytes.size(), 1024u);
      EXPECT_GT(BitsPerByte(body.bytes), 7.0);
      const std::string inflated = GunzipForTest(body.bytes);
      ASSERT_GE(inflated.size(), 4096u);
      EXPECT_EQ(inflated.substr(0, 10), "{\"items\":[");
      EXPECT_LT(BitsPerByte(inflated), 6.0);
    } else if (body.content_type == "application/json") {
      if (++json > 500) continue;
      ASSERT_GE(body.bytes.size(), 1024u);
      EXPECT_EQ(body.bytes.substr(0, 10), "{\"items\":[");
      EXPECT_LT(BitsPerByte(body.bytes), 6.0);
    } else {
      ++random;
      EXPECT_EQ(body.content_type, "application/octet-stream");
      EXPECT_EQ(body.bytes.size(), 4096u);
      EXPECT_GT(BitsPerByte(body.bytes), 7.95);
      EXPECT_GE(event.exchange.response_body_bytes.value_or(0), 512u * 1024);
    }
  }
  EXPECT_GT(json, 100u);
  EXPECT_GT(gzip, 100u);
  EXPECT_GT(random, 10u);
}

TEST(TrafficGenerator, SlowlorisAndLegitSlowConnectionsInTheCensus) {
  const GeneratorConfig config = ShortConfig(9);
  TrafficGenerator generator(config);
  const Label& loris = generator.labels()[0];
  ASSERT_EQ(loris.detector, DetectorKind::kSlowRate);
  GeneratedEvent event;
  size_t max_attack = 0;
  size_t max_legit_per_client = 0;
  while (generator.Next(event)) {
    if (event.kind != GeneratedEvent::Kind::kCensus) continue;
    std::map<std::array<uint8_t, 16>, size_t> slow_per_client;
    size_t attack = 0;
    for (const auto& c : event.census) {
      if (c.flow.client_addr == loris.client->addr) {
        ++attack;
        EXPECT_EQ(c.phase, ExchangePhase::kRequestHead);
        EXPECT_LT(c.phase_bytes, 100u);
        continue;
      }
      if (c.phase == ExchangePhase::kRequestBody) ++slow_per_client[c.flow.client_addr];
    }
    for (const auto& [client, n] : slow_per_client) {
      max_legit_per_client = std::max(max_legit_per_client, n);
    }
    if (event.time_ns < loris.start_ns || event.time_ns >= loris.end_ns) {
      EXPECT_EQ(attack, 0u);
    } else if (event.time_ns >= loris.start_ns + 10 * kNsPerSecond) {
      EXPECT_EQ(attack, 50u);
    }
    max_attack = std::max(max_attack, attack);
  }
  EXPECT_EQ(max_attack, 50u);
  EXPECT_GE(max_legit_per_client, 1u);
  EXPECT_LE(max_legit_per_client, config.max_slow_per_client);
}

TEST(TrafficGenerator, SameSeedSameStreamOtherSeedDifferent) {
  auto digest = [](uint64_t seed) {
    TrafficGenerator generator(ShortConfig(seed));
    GeneratedEvent event;
    uint64_t h = 1469598103934665603ULL;  // FNV-1a over the fields that matter
    auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ULL; };
    while (generator.Next(event)) {
      mix(event.time_ns);
      if (event.kind == GeneratedEvent::Kind::kCensus) {
        mix(event.census.size());
        continue;
      }
      const auto& x = event.exchange;
      mix(x.request_start_ns);
      mix(x.status);
      mix(x.flow.client_addr[2] * 256u + x.flow.client_addr[3]);
      mix(std::hash<std::string>{}(x.route + x.object_id + x.response_body.bytes));
    }
    return h;
  };
  EXPECT_EQ(digest(11), digest(11));
  EXPECT_NE(digest(11), digest(12));
}

// Two engine runs of one seed report the same anomalies, field for field.
TEST(EvalHarness, RunsAreDeterministic) {
  EvalPlan plan = NormalPlan(21, 1);
  plan.generator.duration_ns = 3 * kNsPerHour;
  plan.generator.attacks.push_back(
      {AttackKind::kFlood, "flood", 0, 2 * kNsPerHour + 2 * kNsPerSecond, 5 * kNsPerMinute, 10});
  plan.generator.attacks.push_back(
      {AttackKind::kBolaWalk, "bola", 1, 2 * kNsPerHour + 20 * kNsPerMinute, 3 * kNsPerMinute, 2});
  const RunResult a = RunPlan(plan);
  const RunResult b = RunPlan(plan);
  ASSERT_EQ(a.records.size(), b.records.size());
  EXPECT_GE(a.records.size(), 2u);  // the 10x flood and the walk fire (and resolve)
  for (size_t i = 0; i < a.records.size(); ++i) {
    const auto& x = a.records[i];
    const auto& y = b.records[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.detector, y.detector);
    EXPECT_EQ(x.state, y.state);
    EXPECT_EQ(x.port, y.port);
    EXPECT_EQ(x.route, y.route);
    EXPECT_EQ(x.started_ns, y.started_ns);
    EXPECT_EQ(x.window_start_ns, y.window_start_ns);
    EXPECT_EQ(x.observed, y.observed);
    EXPECT_EQ(x.score, y.score);
    EXPECT_EQ(x.explanation, y.explanation);
    ASSERT_EQ(x.clients.size(), y.clients.size());
    for (size_t c = 0; c < x.clients.size(); ++c) {
      EXPECT_EQ(x.clients[c].client, y.clients[c].client);
      EXPECT_EQ(x.clients[c].count, y.clients[c].count);
    }
  }
  EXPECT_EQ(a.events, b.events);
}

// Issue 5's targets on one simulated week (Monday to Sunday): day 0 warm-up, attacks on days
// 1-2, the announced launch (widened through SetThreshold) on day 3, normal traffic and the
// weekend after.
TEST(EvalHarness, StandardPlanMeetsTheTargets) {
  const EvalPlan plan = StandardPlan(1, 7, /*widen_launch=*/true);
  const RunResult result = RunPlan(plan);
  const Score score = ScorePlan(plan, result);
  std::printf("%s", FormatScore(score).c_str());
  EXPECT_TRUE(result.override_errors.empty());
  EXPECT_EQ(result.status.late_events, 0u);

  for (const LabelOutcome& o : score.labels) {
    EXPECT_TRUE(o.detected) << o.label.name << " not detected";
    if (o.label.name == "flood 3x") {
      EXPECT_LE(o.delay_ns, 10 * kNsPerSecond) << "flood 3x detected too late";
    }
  }
  for (const DetectorScore& d : score.detectors) {
    EXPECT_EQ(d.recall, 1.0) << DetectorName(d.detector);
    EXPECT_LE(d.max_fp_per_route_week, 1.0)
        << DetectorName(d.detector) << " false positives on " << d.worst_route;
  }
  EXPECT_EQ(score.exfiltration_fps, 0u);
}

}  // namespace
}  // namespace ta::eval
