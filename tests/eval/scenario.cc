#include "tests/eval/scenario.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

namespace ta::eval {
namespace {

using analyzer::anomaly::AnomalyEngine;
using analyzer::anomaly::AnomalySink;
using analyzer::anomaly::AnomalyState;
using analyzer::anomaly::DetectorName;
using analyzer::anomaly::kDetectorKinds;

constexpr uint64_t At(uint64_t day, uint64_t hour, uint64_t minute, uint64_t second) {
  return day * kNsPerDay + hour * kNsPerHour + minute * kNsPerMinute + second * kNsPerSecond;
}

class CollectingSink final : public AnomalySink {
 public:
  explicit CollectingSink(std::vector<Anomaly>& out) : out_(out) {}
  void OnAnomaly(const Anomaly& anomaly) override { out_.push_back(anomaly); }

 private:
  std::vector<Anomaly>& out_;
};

bool Matches(const Label& label, const Anomaly& a) {
  if (a.detector != label.detector || a.port != label.port) return false;
  if (!label.route.empty() && a.route != label.route) return false;
  if (label.client) {
    const bool named = std::any_of(a.clients.begin(), a.clients.end(), [&](const auto& share) {
      return share.client == *label.client;
    });
    if (!named) return false;
  }
  return true;
}

std::string RouteKey(const Anomaly& a) {
  return ":" + std::to_string(a.port) + " " + (a.route.empty() ? std::string("*") : a.route);
}

std::string FormatWall(uint64_t wall_ns) {
  // Days since the simulated epoch (Monday 2026-01-05) and the time of day.
  const uint64_t since = wall_ns >= kEpochStartNs ? wall_ns - kEpochStartNs : 0;
  const uint64_t day = since / kNsPerDay;
  const uint64_t s = (since % kNsPerDay) / kNsPerSecond;
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "d%llu %02llu:%02llu:%02llu",
                static_cast<unsigned long long>(day), static_cast<unsigned long long>(s / 3600),
                static_cast<unsigned long long>(s / 60 % 60),
                static_cast<unsigned long long>(s % 60));
  return buffer;
}

}  // namespace

std::vector<RouteSpec> DefaultRoutes() {
  // Volumes are kept small enough that a simulated week runs through the engine in about a
  // minute of CPU: one busy ingest route (the flood target, no response body to sample), API
  // routes with JSON bodies, one gzip'd JSON route and a static asset route that is not sampled.
  std::vector<RouteSpec> routes(6);
  routes[0] = {.port = 80,
               .method = "POST",
               .route = "/api/events",
               .peak_rps = 17.2,
               .latency_median_s = 0.008,
               .latency_sigma = 0.4,
               .body = BodyKind::kNone,
               .content_type = "",
               .request_body_bytes = 400};
  routes[1] = {.port = 80,
               .method = "GET",
               .route = "/api/users/{id}",
               .peak_rps = 3,
               .latency_median_s = 0.015,
               .latency_sigma = 0.4,
               .body = BodyKind::kJson,
               .id_route = true,
               .not_found_ratio = 0.02};
  routes[2] = {.port = 80,
               .method = "GET",
               .route = "/static/app.js",
               .peak_rps = 2,
               .latency_median_s = 0.004,
               .latency_sigma = 0.3,
               .body = BodyKind::kNone,
               .content_type = "application/javascript"};
  routes[3] = {.port = 443,
               .method = "GET",
               .route = "/api/orders/{id}",
               .peak_rps = 3,
               .latency_median_s = 0.04,
               .latency_sigma = 0.5,
               .body = BodyKind::kJson,
               .id_route = true,
               .not_found_ratio = 0.01};
  routes[4] = {.port = 443,
               .method = "GET",
               .route = "/api/reports",
               .peak_rps = 1.5,
               .latency_median_s = 0.12,
               .latency_sigma = 0.6,
               .body = BodyKind::kGzipJson};
  routes[5] = {.port = 443,
               .method = "POST",
               .route = "/api/checkout",
               .peak_rps = 5,
               .latency_median_s = 0.08,
               .latency_sigma = 0.5,
               .body = BodyKind::kJson,
               .request_body_bytes = 600};
  return routes;
}

EvalPlan NormalPlan(uint64_t seed, uint64_t days) {
  EvalPlan plan;
  plan.name = "normal";
  plan.generator.seed = seed;
  plan.generator.duration_ns = days * kNsPerDay;
  plan.generator.routes = DefaultRoutes();
  return plan;
}

EvalPlan StandardPlan(uint64_t seed, uint64_t days, bool widen_launch) {
  EvalPlan plan = NormalPlan(seed, days);
  plan.name = widen_launch ? "standard" : "standard, launch not widened";
  auto& attacks = plan.generator.attacks;
  // Start times are a few seconds off window boundaries, as a real attack's would be.
  attacks.push_back(
      {AttackKind::kLatency, "latency p99 x4", 0, At(1, 10, 0, 1), 15 * kNsPerMinute, 4.0});
  attacks.push_back(
      {AttackKind::kErrorBurst, "5xx burst 20%", 3, At(1, 11, 0, 3), 10 * kNsPerMinute, 0.20});
  attacks.push_back({AttackKind::kFlood, "flood 3x", 0, At(1, 14, 0, 2), 10 * kNsPerMinute, 3.0});
  attacks.push_back({AttackKind::kFlood, "flood 10x", 5, At(1, 16, 0, 2), 10 * kNsPerMinute, 10.0});
  attacks.push_back(
      {AttackKind::kSlowloris, "slowloris 50 conns", 1, At(2, 3, 0, 4), 10 * kNsPerMinute, 50});
  attacks.push_back(
      {AttackKind::kBolaWalk, "BOLA walk 2/s", 1, At(2, 9, 0, 3), 5 * kNsPerMinute, 2.0});
  attacks.push_back(
      {AttackKind::kDump, "dump 1 MiB/s", 4, At(2, 13, 0, 2), 10 * kNsPerMinute, 1024.0 * 1024.0});
  if (days >= 4) {
    LaunchSpec launch;
    launch.route_index = 0;
    launch.start_ns = At(3, 10, 0, 0);
    plan.generator.launch = launch;
    if (widen_launch) {
      ScheduledOverride o;
      o.at_ns = launch.start_ns - 15 * kNsPerMinute;
      o.value.detector = DetectorKind::kFlood;
      o.value.parameter = "z_threshold";
      o.value.port = plan.generator.routes[0].port;
      o.value.route = plan.generator.routes[0].route;
      o.value.value = 5.0;
      o.value.expires_ns = launch.end_ns() + 30 * kNsPerMinute;
      o.value.reason = "announced launch";
      plan.overrides.push_back(o);
    }
  }
  return plan;
}

RunResult RunPlan(const EvalPlan& plan) {
  RunResult result;
  CollectingSink sink(result.records);
  AnomalyEngine engine(plan.engine, sink);
  engine.SetWallClockOffset(0);  // event times are already wall clock
  TrafficGenerator generator(plan.generator);
  result.labels = generator.labels();

  std::vector<ScheduledOverride> overrides = plan.overrides;
  std::stable_sort(overrides.begin(), overrides.end(),
                   [](const auto& a, const auto& b) { return a.at_ns < b.at_ns; });
  const uint64_t start = plan.generator.start_ns;
  size_t next_override = 0;
  auto apply_overrides = [&](uint64_t now) {
    while (next_override < overrides.size() && start + overrides[next_override].at_ns <= now) {
      ThresholdOverride value = overrides[next_override].value;
      if (value.expires_ns != 0) value.expires_ns += start;
      if (auto error = engine.SetThreshold(value, now)) result.override_errors.push_back(*error);
      ++next_override;
    }
  };

  // Tick every simulated second, before the first event at or after that second.
  uint64_t next_tick = (start / kNsPerSecond + 1) * kNsPerSecond;
  auto tick_until = [&](uint64_t now) {
    while (next_tick <= now) {
      apply_overrides(next_tick);
      engine.Tick(next_tick);
      ++result.ticks;
      next_tick += kNsPerSecond;
    }
  };
  GeneratedEvent event;
  while (generator.Next(event)) {
    tick_until(event.time_ns);
    if (event.kind == GeneratedEvent::Kind::kExchange) {
      engine.OnHttpExchange(event.exchange);
    } else {
      engine.OnCensus(event.time_ns, event.census);
    }
    ++result.events;
  }
  // Close the last windows.
  tick_until(start + plan.generator.duration_ns + plan.engine.window_ns +
             plan.engine.allowed_lateness_ns);
  result.counts = generator.counts();
  result.status = engine.Status();
  return result;
}

Score ScorePlan(const EvalPlan& plan, const RunResult& result) {
  Score score;
  score.plan = plan.name;
  score.weeks = static_cast<double>(plan.generator.duration_ns) / static_cast<double>(kNsPerWeek);
  score.has_launch = plan.generator.launch.has_value();
  score.launch_widened = !plan.overrides.empty();
  for (const Label& label : result.labels) score.labels.push_back({label, false, 0});

  uint64_t launch_start = 0;
  uint64_t launch_end = 0;
  std::string launch_route;
  uint16_t launch_port = 0;
  if (score.has_launch) {
    const LaunchSpec& l = *plan.generator.launch;
    launch_start = plan.generator.start_ns + l.start_ns;
    launch_end = plan.generator.start_ns + l.end_ns();
    launch_route = plan.generator.routes[l.route_index].route;
    launch_port = plan.generator.routes[l.route_index].port;
  }

  std::vector<DetectorScore> detectors(kDetectorKinds);
  for (size_t k = 0; k < kDetectorKinds; ++k) {
    detectors[k].detector = static_cast<DetectorKind>(k);
  }
  std::vector<std::map<std::string, size_t>> fp_by_route(kDetectorKinds);
  std::map<std::string, size_t> fp_by_route_all;

  for (const Anomaly& a : result.records) {
    if (a.state != AnomalyState::kFiring) continue;
    const auto k = static_cast<size_t>(a.detector);
    bool matched = false;
    for (LabelOutcome& outcome : score.labels) {
      const Label& label = outcome.label;
      if (!Matches(label, a)) continue;
      if (a.started_ns < label.start_ns || a.started_ns > label.end_ns + plan.grace_ns) continue;
      matched = true;
      const uint64_t delay = a.started_ns - label.start_ns;
      if (!outcome.detected || delay < outcome.delay_ns) outcome.delay_ns = delay;
      outcome.detected = true;
    }
    if (matched) {
      ++detectors[k].true_positives;
      continue;
    }
    ++detectors[k].false_positives;
    ++fp_by_route[k][RouteKey(a)];
    ++fp_by_route_all[RouteKey(a)];
    ++score.fp_by_route[RouteKey(a)][k];
    FalsePositive fp{a, ""};
    for (const LabelOutcome& outcome : score.labels) {
      if (a.started_ns >= outcome.label.start_ns &&
          a.started_ns <= outcome.label.end_ns + plan.grace_ns) {
        fp.during = outcome.label.name;
      }
    }
    const bool in_launch = score.has_launch && a.started_ns >= launch_start &&
                           a.started_ns <= launch_end + plan.grace_ns;
    if (in_launch) fp.during = "launch";
    if (a.detector == DetectorKind::kExfiltration) ++score.exfiltration_fps;
    if (in_launch && a.detector == DetectorKind::kFlood && a.port == launch_port &&
        a.route == launch_route) {
      ++score.launch_flood_alerts;
    }
    score.false_positives.push_back(std::move(fp));
  }

  for (size_t k = 0; k < kDetectorKinds; ++k) {
    DetectorScore& d = detectors[k];
    std::vector<double> delays;
    for (const LabelOutcome& outcome : score.labels) {
      if (outcome.label.detector != d.detector) continue;
      ++d.labels;
      if (!outcome.detected) continue;
      ++d.detected;
      delays.push_back(static_cast<double>(outcome.delay_ns) / 1e9);
    }
    if (!delays.empty()) {
      std::sort(delays.begin(), delays.end());
      d.max_delay_s = delays.back();
      const size_t n = delays.size();
      d.median_delay_s = n % 2 == 1 ? delays[n / 2] : (delays[n / 2 - 1] + delays[n / 2]) / 2;
    }
    const size_t fired = d.true_positives + d.false_positives;
    d.precision =
        fired == 0 ? 1.0 : static_cast<double>(d.true_positives) / static_cast<double>(fired);
    d.recall =
        d.labels == 0 ? 1.0 : static_cast<double>(d.detected) / static_cast<double>(d.labels);
    for (const auto& [route, count] : fp_by_route[k]) {
      const double per_week = static_cast<double>(count) / score.weeks;
      if (per_week > d.max_fp_per_route_week) {
        d.max_fp_per_route_week = per_week;
        d.worst_route = route;
      }
    }
  }
  for (const auto& [route, count] : fp_by_route_all) {
    const double per_week = static_cast<double>(count) / score.weeks;
    if (per_week > score.max_fp_per_route_week_all) {
      score.max_fp_per_route_week_all = per_week;
      score.worst_route_all = route;
    }
  }
  score.detectors = std::move(detectors);
  return score;
}

std::string FormatScore(const Score& score, size_t max_listed_false_positives) {
  std::string out;
  char line[512];
  auto add = [&](const char* text) { out += text; };
  std::snprintf(line, sizeof(line), "plan: %s, %.2f simulated weeks\n", score.plan.c_str(),
                score.weeks);
  add(line);
  add("detector      labels  recall  delay max  delay med  TP  FP  precision  "
      "FP/route/week (worst route)\n");
  for (const DetectorScore& d : score.detectors) {
    char max_delay[16] = "-";
    char median_delay[16] = "-";
    if (d.max_delay_s) std::snprintf(max_delay, sizeof(max_delay), "%.1f s", *d.max_delay_s);
    if (d.median_delay_s) {
      std::snprintf(median_delay, sizeof(median_delay), "%.1f s", *d.median_delay_s);
    }
    std::snprintf(line, sizeof(line), "%-12s  %6zu  %6.2f  %9s  %9s  %2zu  %2zu  %9.2f  %5.2f %s\n",
                  std::string(DetectorName(d.detector)).c_str(), d.labels, d.recall, max_delay,
                  median_delay, d.true_positives, d.false_positives, d.precision,
                  d.max_fp_per_route_week, d.worst_route.empty() ? "" : d.worst_route.c_str());
    add(line);
  }
  add("\nlabel                 detector      where                 detected  delay\n");
  for (const LabelOutcome& o : score.labels) {
    std::string where = ":" + std::to_string(o.label.port) + " " +
                        (o.label.route.empty() ? std::string("*") : o.label.route);
    char delay[16] = "-";
    if (o.detected) {
      std::snprintf(delay, sizeof(delay), "%.1f s", static_cast<double>(o.delay_ns) / 1e9);
    }
    std::snprintf(line, sizeof(line), "%-20s  %-12s  %-20s  %-8s  %s\n", o.label.name.c_str(),
                  std::string(DetectorName(o.label.detector)).c_str(), where.c_str(),
                  o.detected ? "yes" : "NO", delay);
    add(line);
  }
  std::snprintf(line, sizeof(line),
                "\nall detectors: worst route %.2f false positives per simulated week (%s)\n",
                score.max_fp_per_route_week_all,
                score.worst_route_all.empty() ? "none" : score.worst_route_all.c_str());
  add(line);
  std::snprintf(line, sizeof(line), "exfiltration alerts on gzip/JSON traffic: %zu\n",
                score.exfiltration_fps);
  add(line);
  if (score.has_launch) {
    std::snprintf(line, sizeof(line),
                  "flood alerts on the launch route during the announced 5x launch: %zu "
                  "(z_threshold %s)\n",
                  score.launch_flood_alerts,
                  score.launch_widened ? "widened to 5.0 via SetThreshold" : "not widened");
    add(line);
  }
  if (!score.fp_by_route.empty()) {
    add("\nfalse positives by route  flood  error_budget  latency  exfiltration  slow_rate  "
        "bola\n");
  }
  for (const auto& [route, counts] : score.fp_by_route) {
    std::snprintf(line, sizeof(line), "%-24s %6zu %13zu %8zu %13zu %10zu %5zu\n", route.c_str(),
                  counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
    add(line);
  }
  if (!score.false_positives.empty()) {
    std::snprintf(line, sizeof(line), "\nfalse positives (%zu, first %zu):\n",
                  score.false_positives.size(),
                  std::min(score.false_positives.size(), max_listed_false_positives));
    add(line);
  }
  for (size_t i = 0; i < score.false_positives.size() && i < max_listed_false_positives; ++i) {
    const FalsePositive& fp = score.false_positives[i];
    std::snprintf(
        line, sizeof(line), "  %s  %-12s %-22s ", FormatWall(fp.anomaly.started_ns).c_str(),
        std::string(DetectorName(fp.anomaly.detector)).c_str(), RouteKey(fp.anomaly).c_str());
    out += line;
    out += fp.anomaly.explanation;
    if (!fp.during.empty()) out += "  [during " + fp.during + "]";
    out += "\n";
  }
  return out;
}

}  // namespace ta::eval
