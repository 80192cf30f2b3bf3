// ta-eval: runs the evaluation plans through the real anomaly engine and prints the detection
// table of docs/detection.md.
//
//   ta-eval [--seed N] [--weeks N | --days N] [--no-launch-comparison]
//
// The standard plan (warm-up day, attacks on days 1-2, the announced launch on day 3 with the
// flood threshold widened, normal traffic for the rest) runs for the requested length; then,
// unless disabled, the same seed runs 4 days with the launch NOT widened, to show what the
// widening buys. Throughput (events/s, wall clock of this process) is printed last: it is a
// property of the machine, not a result.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "tests/eval/scenario.h"

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: ta-eval [--seed N] [--weeks N | --days N] [--no-launch-comparison]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 1;
  uint64_t days = 14;
  bool launch_comparison = true;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::optional<uint64_t> {
      if (i + 1 >= argc) return std::nullopt;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0') return std::nullopt;
      return static_cast<uint64_t>(v);
    };
    std::optional<uint64_t> v;
    if (arg == "--seed") {
      if (!(v = value())) return Usage();
      seed = *v;
    } else if (arg == "--weeks") {
      if (!(v = value()) || *v == 0) return Usage();
      days = *v * 7;
    } else if (arg == "--days") {
      if (!(v = value()) || *v < 4) return Usage();
      days = *v;
    } else if (arg == "--no-launch-comparison") {
      launch_comparison = false;
    } else {
      return Usage();
    }
  }

  const auto started = std::chrono::steady_clock::now();
  const ta::eval::EvalPlan plan = ta::eval::StandardPlan(seed, days, /*widen_launch=*/true);
  const ta::eval::RunResult result = ta::eval::RunPlan(plan);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const ta::eval::Score score = ta::eval::ScorePlan(plan, result);
  std::printf("ta-eval --seed %llu --days %llu\n\n%s", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(days), ta::eval::FormatScore(score).c_str());
  for (const std::string& error : result.override_errors) {
    std::printf("threshold override refused: %s\n", error.c_str());
  }

  if (launch_comparison) {
    const ta::eval::EvalPlan unwidened = ta::eval::StandardPlan(seed, 4, /*widen_launch=*/false);
    const ta::eval::Score s = ta::eval::ScorePlan(unwidened, ta::eval::RunPlan(unwidened));
    std::printf(
        "\nsame seed, 4 days, launch NOT widened: %zu flood alert(s) on the launch route "
        "during the launch\n",
        s.launch_flood_alerts);
    const ta::eval::RouteSpec& launch_route =
        unwidened.generator.routes[unwidened.generator.launch->route_index];
    for (const auto& fp : s.false_positives) {
      if (fp.during == "launch" && fp.anomaly.detector == ta::eval::DetectorKind::kFlood &&
          fp.anomaly.port == launch_route.port && fp.anomaly.route == launch_route.route) {
        std::printf("  %s\n", fp.anomaly.explanation.c_str());
      }
    }
  }

  std::printf("\nengine: %llu exchanges accepted, %llu late, %llu windows closed\n",
              static_cast<unsigned long long>(result.status.exchanges),
              static_cast<unsigned long long>(result.status.late_events),
              static_cast<unsigned long long>(result.status.windows_closed));
  std::printf(
      "throughput: %llu events (%llu exchanges, %llu censuses) in %.1f s = %.0f events/s "
      "(generator + engine, one core)\n",
      static_cast<unsigned long long>(result.events),
      static_cast<unsigned long long>(result.counts.exchanges),
      static_cast<unsigned long long>(result.counts.censuses), seconds,
      static_cast<double>(result.events) / seconds);
  return 0;
}
