// HTTP/2 and gRPC throughput through Http2Connection on one core (items_per_second = exchanges
// per second): frame reading, HPACK decoding through nghttp2's inflater, stream pairing, route
// templating and gRPC message counting. The byte streams are made once by libnghttp2's own
// client and server sessions and delivered as 1448-byte segments (an Ethernet MSS).
//
//   cmake --build build --target http2_bench && ./build/tests/bench/http2_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "analyzer/protocols/context.h"
#include "analyzer/protocols/http2/http2_connection.h"
#include "analyzer/routes/route_template.h"
#include "tests/analyzer/protocols/http2/nghttp2_peers.h"

namespace ta::analyzer {
namespace {

namespace h2 = protocols::http2;
constexpr size_t kMss = 1448;
constexpr int kExchanges = 1000;

class CountingSink final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override { benchmark::DoNotOptimize(e.status); }
  void OnGrpcCall(const GrpcCall& c) override { benchmark::DoNotOptimize(c.status); }
};

struct Trace {
  struct Piece {
    Direction dir;
    std::string bytes;
    uint64_t ts;
  };
  std::vector<Piece> pieces;
  uint64_t ts = 1000;
  void Add(Direction dir, const std::string& bytes) {
    for (size_t off = 0; off < bytes.size(); off += kMss) {
      pieces.push_back({dir, bytes.substr(off, kMss), ts});
      ts += 20'000;
    }
  }
};

// kExchanges GETs, 10 in flight at a time, with realistic request headers and 200-byte bodies.
Trace MakeGetTrace() {
  testing::Nghttp2Peers peers;
  Trace t;
  for (int batch = 0; batch < kExchanges / 10; ++batch) {
    std::vector<int32_t> ids;
    for (int i = 0; i < 10; ++i) {
      const std::string path = "/api/v1/users/" + std::to_string(batch * 10 + i) + "/orders";
      ids.push_back(peers.Request({{":method", "GET"}, {":scheme", "http"},
                                   {":authority", "api.example.com"}, {":path", path},
                                   {"user-agent", "bench/1.0"}, {"accept", "application/json"}}));
    }
    t.Add(Direction::kClientToServer, peers.FlushClient());
    for (int32_t id : ids) {
      peers.Respond(id, {{":status", "200"}, {"content-type", "application/json"}},
                    std::string(200, 'x'));
    }
    t.Add(Direction::kServerToClient, peers.FlushServer());
  }
  return t;
}

Trace MakeGrpcTrace() {
  testing::Nghttp2Peers peers;
  Trace t;
  for (int i = 0; i < kExchanges; ++i) {
    const int32_t id = peers.Request({{":method", "POST"}, {":scheme", "http"},
                                      {":authority", "grpc.example:50051"},
                                      {":path", "/helloworld.Greeter/SayHello"},
                                      {"content-type", "application/grpc"}, {"te", "trailers"}},
                                     testing::GrpcMessage(std::string(64, 'q')));
    t.Add(Direction::kClientToServer, peers.FlushClient());
    peers.Respond(id, {{":status", "200"}, {"content-type", "application/grpc"}},
                  testing::GrpcMessage(std::string(128, 'r')), {{"grpc-status", "0"}});
    t.Add(Direction::kServerToClient, peers.FlushServer());
  }
  return t;
}

void Replay(benchmark::State& state, const Trace& trace) {
  AnalyzerConfig config;
  CountingSink sink;
  FlowKey flow;
  flow.family = 2;
  flow.server_port = 8080;
  uint64_t bytes = 0;
  for (auto _ : state) {
    AnalyzerStats stats;
    routes::RouteTemplater routes(config.route_patterns, config.max_routes_per_port);
    protocols::ConnectionContext ctx{config, stats, routes, sink};
    h2::Http2Connection conn(flow, h2::StartMode::kPriorKnowledge, ctx);
    for (const Trace::Piece& p : trace.pieces) {
      conn.stream(p.dir).OnChunk(tcp::StreamChunk::Data(
          {reinterpret_cast<const uint8_t*>(p.bytes.data()), p.bytes.size()}, p.ts, true));
      bytes += p.bytes.size();
    }
    conn.Close();
    if (stats.exchanges != kExchanges) state.SkipWithError("wrong exchange count");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kExchanges);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  // Segments delivered per second: comparable with analyzer_bench's events/s.
  state.counters["events"] = benchmark::Counter(
      static_cast<double>(trace.pieces.size()) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate);
}

void BM_Http2Get(benchmark::State& state) {
  static const Trace trace = MakeGetTrace();
  Replay(state, trace);
}
BENCHMARK(BM_Http2Get);

void BM_GrpcUnary(benchmark::State& state) {
  static const Trace trace = MakeGrpcTrace();
  Replay(state, trace);
}
BENCHMARK(BM_GrpcUnary);

}  // namespace
}  // namespace ta::analyzer

BENCHMARK_MAIN();
