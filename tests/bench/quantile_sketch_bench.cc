// QuantileSketch throughput (analyzer/stats/quantile_sketch.h): Add per second on lognormal
// latencies (items_per_second), Quantile per second on a sketch of one million values, and Merge
// of two such sketches.
//
//   cmake --build build --target quantile_sketch_bench && ./build/tests/bench/quantile_sketch_bench
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstddef>
#include <random>
#include <vector>

#include "analyzer/stats/quantile_sketch.h"

namespace ta::analyzer::stats {
namespace {

std::vector<double> Latencies(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(std::log(0.05), 1.0);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

void BM_QuantileSketchAdd(benchmark::State& state) {
  const std::vector<double> values = Latencies(1 << 16, 1);
  QuantileSketch sketch(0.01);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sketch.Add(values[i]));
    i = (i + 1) & (values.size() - 1);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_QuantileSketchAdd);

void BM_QuantileSketchQuantile(benchmark::State& state) {
  QuantileSketch sketch(0.01);
  for (double x : Latencies(1'000'000, 2)) sketch.Add(x);
  const double qs[] = {0.5, 0.9, 0.99, 0.999};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(sketch.Quantile(qs[i]));
    i = (i + 1) & 3;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["buckets"] = static_cast<double>(sketch.bucket_count());
}
BENCHMARK(BM_QuantileSketchQuantile);

void BM_QuantileSketchMerge(benchmark::State& state) {
  QuantileSketch a(0.01);
  QuantileSketch b(0.01);
  for (double x : Latencies(1'000'000, 3)) a.Add(x);
  for (double x : Latencies(1'000'000, 4)) b.Add(x);
  for (auto _ : state) {
    QuantileSketch target = a;
    benchmark::DoNotOptimize(target.Merge(b));
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_QuantileSketchMerge);

}  // namespace
}  // namespace ta::analyzer::stats

BENCHMARK_MAIN();
