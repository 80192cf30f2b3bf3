// The anomaly engine's cost per exchange (analyzer/anomaly/engine.h), all six detectors on:
//  - BM_EngineExchange/bodies:0: exchanges without body samples on 20 routes of 2 ports from
//    500 clients (flood, error budget, latency, BOLA do their work; exfiltration has nothing to
//    score);
//  - BM_EngineExchange/bodies:1: every response carries a 4 KiB JSON sample (scored for entropy);
//  - BM_EngineExchange/bodies:2: every response carries a gzip'd JSON sample (inflated first).
// Windows close as simulated time passes (5 s windows, 1000 exchanges per second), so the
// figure includes window closes. items_per_second = exchanges per second on one core.
//
//   cmake --build build --target anomaly_engine_bench && ./build/tests/bench/anomaly_engine_bench
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/anomaly/engine.h"

namespace ta::analyzer::anomaly {
namespace {

class NullSink final : public AnomalySink {
 public:
  void OnAnomaly(const Anomaly& /*anomaly*/) override {}
};

std::string Json(size_t bytes) {
  std::string out = "[";
  for (int i = 0; out.size() < bytes; ++i) {
    out += "{\"id\":" + std::to_string(i) + ",\"name\":\"item " + std::to_string(i * 7) +
           "\",\"price\":" + std::to_string(i % 97) + ".5,\"tags\":[\"a\",\"b\"]},";
  }
  out.resize(bytes);
  return out;
}

std::string Gzip(const std::string& in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void BM_EngineExchange(benchmark::State& state) {
  const int bodies = static_cast<int>(state.range(0));
  NullSink sink;
  AnomalyEngine engine(AnomalyEngineConfig{}, sink);
  std::vector<HttpExchange> exchanges(4096);
  const std::string json = Json(4096);
  const std::string gzip = Gzip(Json(16384));
  for (size_t i = 0; i < exchanges.size(); ++i) {
    HttpExchange& e = exchanges[i];
    e.flow.family = 2;
    e.flow.client_addr = {198, 18, static_cast<uint8_t>(i % 2), static_cast<uint8_t>(i % 250)};
    e.flow.server_port = i % 3 == 0 ? 443 : 80;
    e.route = "/api/route" + std::to_string(i % 20) + (i % 4 == 0 ? "/{id}" : "");
    if (i % 4 == 0) e.object_id = std::to_string(i % 37);
    e.method = "GET";
    e.status = i % 500 == 0 ? 503 : 200;
    e.response_body_bytes = 4096;
    if (bodies == 1) {
      e.response_body.bytes = json;
      e.response_body.content_type = "application/json";
    } else if (bodies == 2) {
      e.response_body.bytes = gzip;
      e.response_body.content_type = "application/json";
      e.response_body.content_encoding = "gzip";
    }
  }
  uint64_t now = 1'767'571'200ULL * 1'000'000'000ULL;
  size_t i = 0;
  for (auto _ : state) {
    HttpExchange& e = exchanges[i & (exchanges.size() - 1)];
    now += 1'000'000;  // 1000 exchanges per simulated second
    e.request_start_ns = now - 5'000'000 - (i % 17) * 1'000'000;
    e.response_end_ns = now;
    engine.OnHttpExchange(e);
    if ((++i & 1023) == 0) engine.Tick(now);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_EngineExchange)->ArgName("bodies")->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace ta::analyzer::anomaly

BENCHMARK_MAIN();
