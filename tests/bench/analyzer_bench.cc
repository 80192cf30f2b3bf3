// Analyzer throughput on HTTP/1.1 traffic as the agent delivers it: events per second on one core
// (items_per_second). Each iteration replays one keep-alive connection (open, segments, close)
// through the full Analyzer: reassembly, parsing, pairing, route templating.
//
//   cmake --build build --target analyzer_bench && ./build/tests/bench/analyzer_bench
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"

namespace ta::analyzer {
namespace {

constexpr size_t kMss = 1448;        // Ethernet MTU 1500 minus IPv4 and TCP headers with options
constexpr uint32_t kSnaplen = 1024;  // the agent's default capture length
constexpr int kExchangesPerConnection = 100;

class CountingSink final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override {
    ++count;
    benchmark::DoNotOptimize(e.status);
  }
  uint64_t count = 0;
};

// A connection's events, built once and replayed. Payloads live in `storage` so the spans in
// the segment events stay valid.
struct Trace {
  FlowKey flow;
  std::vector<std::string> storage;
  struct Segment {
    Direction dir;
    uint32_t seq;
    uint32_t wire_len;
    uint64_t ts;
    size_t payload;  // index in storage
  };
  std::vector<Segment> segments;
  std::array<uint32_t, 2> next_seq{1'000'000, 3'000'000'000u};
  uint64_t ts = 1'000'000;

  // Sends `bytes` as MSS-sized segments, capturing `kSnaplen` of each.
  void Send(Direction dir, const std::string& bytes) {
    for (size_t off = 0; off < bytes.size(); off += kMss) {
      const std::string piece = bytes.substr(off, kMss);
      storage.push_back(piece.substr(0, kSnaplen));
      uint32_t& seq = next_seq[static_cast<size_t>(dir)];
      segments.push_back({dir, seq, static_cast<uint32_t>(piece.size()), ts, storage.size() - 1});
      seq += static_cast<uint32_t>(piece.size());
      ts += 20'000;
    }
  }
  size_t events() const { return segments.size() + 2; }  // plus open and close
};

Trace MakeTrace(const std::string& requests, const std::string& responses, int rounds) {
  Trace t;
  t.flow.family = 2;
  t.flow.client_addr = {198, 18, 0, 1};
  t.flow.server_addr = {198, 18, 0, 2};
  t.flow.client_port = 40000;
  t.flow.server_port = 8080;
  for (int i = 0; i < rounds; ++i) {
    t.Send(Direction::kClientToServer, requests);
    t.Send(Direction::kServerToClient, responses);
  }
  return t;
}

std::string Request(int id) {
  return "GET /api/v1/users/" + std::to_string(id) +
         "/orders?limit=20 HTTP/1.1\r\n"
         "Host: api.example.com\r\n"
         "User-Agent: curl/8.4.0\r\n"
         "Accept: application/json\r\n"
         "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0\r\n"
         "\r\n";
}

std::string SizedResponse(size_t body) {
  return "HTTP/1.1 200 OK\r\n"
         "Content-Type: application/json\r\n"
         "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
         "Server: nginx/1.22.1\r\n"
         "Content-Length: " +
         std::to_string(body) + "\r\n\r\n" + std::string(body, 'x');
}

std::string ChunkedResponse(int chunks, size_t chunk) {
  std::string r =
      "HTTP/1.1 200 OK\r\n"
      "Content-Type: application/json\r\n"
      "Server: nginx/1.22.1\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", chunk);
  for (int i = 0; i < chunks; ++i) r += size + std::string(chunk, 'y') + "\r\n";
  return r + "0\r\n\r\n";
}

void Replay(benchmark::State& state, const Trace& trace, uint64_t expected_exchanges) {
  CountingSink sink;
  Analyzer analyzer(AnalyzerConfig{}, sink);
  for (auto _ : state) {
    analyzer.OnConnOpen(ConnOpenEvent{trace.flow, trace.ts, false});
    for (const Trace::Segment& s : trace.segments) {
      SegmentEvent ev;
      ev.flow = trace.flow;
      ev.dir = s.dir;
      ev.seq = s.seq;
      ev.wire_len = s.wire_len;
      ev.ts_ns = s.ts;
      const std::string& payload = trace.storage[s.payload];
      ev.captured = {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
      analyzer.OnSegment(ev);
    }
    ConnCloseEvent close;
    close.flow = trace.flow;
    close.ts_ns = trace.ts;
    analyzer.OnConnClose(close);
  }
  const auto iterations = static_cast<uint64_t>(state.iterations());
  state.SetItemsProcessed(static_cast<int64_t>(iterations * trace.events()));
  state.counters["exchanges_per_second"] =
      benchmark::Counter(static_cast<double>(sink.count), benchmark::Counter::kIsRate);
  if (sink.count != expected_exchanges * iterations || analyzer.stats().http1_parse_errors != 0 ||
      analyzer.stats().parser_resyncs != 0) {
    state.SkipWithError("the analyzer did not see the expected exchanges");
  }
}

// GET with a few headers, 200 with a 2 KB Content-Length body (two segments, the first cut at
// snaplen), one exchange at a time.
void BM_KeepAliveContentLength(benchmark::State& state) {
  const Trace trace = MakeTrace(Request(12345), SizedResponse(2000), kExchangesPerConnection);
  Replay(state, trace, kExchangesPerConnection);
}
BENCHMARK(BM_KeepAliveContentLength);

// Four pipelined requests per round trip and four small responses back to back, each batch in
// one segment that fits the snaplen.
void BM_Pipelined(benchmark::State& state) {
  std::string requests, responses;
  for (int i = 0; i < 4; ++i) {
    requests += Request(1000 + i);
    responses += SizedResponse(64);
  }
  const Trace trace = MakeTrace(requests, responses, kExchangesPerConnection / 4);
  Replay(state, trace, kExchangesPerConnection);
}
BENCHMARK(BM_Pipelined);

// Chunked responses: three 200-byte chunks in one segment.
void BM_KeepAliveChunked(benchmark::State& state) {
  const Trace trace = MakeTrace(Request(12345), ChunkedResponse(3, 200), kExchangesPerConnection);
  Replay(state, trace, kExchangesPerConnection);
}
BENCHMARK(BM_KeepAliveChunked);

}  // namespace
}  // namespace ta::analyzer

BENCHMARK_MAIN();
