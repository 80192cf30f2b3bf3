// WebSocket parser throughput (analyzer/protocols/websocket/): messages per second on one core
// (items_per_second; every message here is one frame) and wire bytes per second. Each iteration
// runs one upgraded connection: WebSocketConnection built, the reassembled stream delivered as
// the reassembler would (data chunks, gaps for what was not captured), Close().
//
//   cmake --build build --target websocket_bench && ./build/tests/bench/websocket_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/websocket/websocket_connection.h"
#include "analyzer/routes/route_template.h"

namespace ta::analyzer {
namespace {

constexpr size_t kMss = 1448;  // Ethernet MTU 1500 minus IPv4 and TCP headers with options

class CountingSink final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& /*exchange*/) override {}
  void OnWebSocketMessage(const WebSocketMessage& m) override {
    ++messages;
    benchmark::DoNotOptimize(m.payload_bytes);
  }
  void OnWebSocketSession(const WebSocketSession& s) override {
    benchmark::DoNotOptimize(s.end_ns);
  }
  uint64_t messages = 0;
};

// One frame (RFC 6455 §5.2): FIN + opcode, the minimal length form, masked with a fixed key.
std::string Frame(uint8_t opcode, size_t len, bool masked) {
  std::string f(1, static_cast<char>(0x80 | opcode));
  const uint8_t mask_bit = masked ? 0x80 : 0x00;
  if (len < 126) {
    f += static_cast<char>(mask_bit | len);
  } else if (len <= 0xFFFF) {
    f += static_cast<char>(mask_bit | 126);
    f += static_cast<char>(len >> 8);
    f += static_cast<char>(len & 0xFF);
  } else {
    f += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((len >> shift) & 0xFF);
  }
  if (masked) f += "\x37\xfa\x21\x3d";
  f.append(len, 'x');
  return f;
}

// A direction's stream as chunks: `segment` bytes per TCP segment, the first `snaplen` of each
// captured (a data chunk), the rest a gap.
struct Stream {
  std::string bytes;
  struct Piece {
    size_t offset;
    size_t captured;
    size_t gap;
  };
  std::vector<Piece> pieces;

  Stream(std::string b, size_t segment, size_t snaplen) : bytes(std::move(b)) {
    for (size_t off = 0; off < bytes.size(); off += segment) {
      const size_t len = std::min(segment, bytes.size() - off);
      const size_t captured = std::min(len, snaplen);
      pieces.push_back({off, captured, len - captured});
    }
  }
};

void RunConnection(benchmark::State& state, const Stream& stream, Direction dir,
                   uint64_t messages_per_connection) {
  AnalyzerConfig config;
  AnalyzerStats stats;
  routes::RouteTemplater routes(config.route_patterns, config.max_routes_per_port);
  CountingSink sink;
  protocols::ConnectionContext ctx{config, stats, routes, sink};
  const auto* data = reinterpret_cast<const uint8_t*>(stream.bytes.data());
  for (auto _ : state) {
    protocols::websocket::WebSocketConnection conn(FlowKey{}, "/ws", 0, ctx);
    tcp::StreamConsumer& consumer = conn.stream(dir);
    uint64_t ts = 0;
    for (const Stream::Piece& p : stream.pieces) {
      consumer.OnChunk(tcp::StreamChunk::Data({data + p.offset, p.captured}, ++ts, true));
      if (p.gap != 0) consumer.OnChunk(tcp::StreamChunk::Gap(p.gap, ts));
    }
    conn.Close(ts);
  }
  const auto iterations = static_cast<uint64_t>(state.iterations());
  if (sink.messages != messages_per_connection * iterations || stats.websocket.parse_errors != 0) {
    state.SkipWithError("unexpected parse result");
  }
  state.SetItemsProcessed(static_cast<int64_t>(sink.messages));
  state.SetBytesProcessed(static_cast<int64_t>(stream.bytes.size() * iterations));
  // Segments delivered per second: comparable with analyzer_bench's events/s.
  state.counters["events"] = benchmark::Counter(
      static_cast<double>(stream.pieces.size() * iterations), benchmark::Counter::kIsRate);
}

// Chat-like traffic: 64-byte masked text messages from the client, packed into full segments.
void BM_SmallMaskedText(benchmark::State& state) {
  constexpr int kMessages = 1000;
  std::string bytes;
  for (int i = 0; i < kMessages; ++i) bytes += Frame(0x1, 64, true);
  const Stream stream(std::move(bytes), kMss, kMss);
  RunConnection(state, stream, Direction::kClientToServer, kMessages);
}
BENCHMARK(BM_SmallMaskedText);

// The same messages one per chunk (one message per segment: interactive traffic).
void BM_SmallMaskedTextOnePerSegment(benchmark::State& state) {
  constexpr int kMessages = 1000;
  const std::string frame = Frame(0x1, 64, true);
  std::string bytes;
  for (int i = 0; i < kMessages; ++i) bytes += frame;
  const Stream stream(std::move(bytes), frame.size(), frame.size());
  RunConnection(state, stream, Direction::kClientToServer, kMessages);
}
BENCHMARK(BM_SmallMaskedTextOnePerSegment);

// 64 KiB binary messages from the server, every byte captured (MSS-sized data chunks).
void BM_LargeBinaryCaptured(benchmark::State& state) {
  constexpr int kMessages = 16;
  std::string bytes;
  for (int i = 0; i < kMessages; ++i) bytes += Frame(0x2, 64 * 1024, false);
  const Stream stream(std::move(bytes), kMss, kMss);
  RunConnection(state, stream, Direction::kServerToClient, kMessages);
}
BENCHMARK(BM_LargeBinaryCaptured);

// 64 KiB binary messages in 64 KiB GSO super-segments captured to the default 1024-byte snaplen:
// mostly gap. Each frame starts a segment (the sender writes one message per send()), so every
// header is captured and framing survives the gaps.
void BM_LargeBinaryMostlyGap(benchmark::State& state) {
  constexpr int kMessages = 16;
  const std::string frame = Frame(0x2, 64 * 1024, false);
  std::string bytes;
  for (int i = 0; i < kMessages; ++i) bytes += frame;
  const Stream stream(std::move(bytes), frame.size(), 1024);
  RunConnection(state, stream, Direction::kServerToClient, kMessages);
}
BENCHMARK(BM_LargeBinaryMostlyGap);

}  // namespace
}  // namespace ta::analyzer

BENCHMARK_MAIN();
