// The whole analyzer (analyzer/analyzer.h) driven by an input-chosen event stream: TCP
// reassembly, the HTTP/1.x stream parsers, request/response pairing, route templating,
// connection eviction and expiry, on two connections, both directions.
//
// Input: a 2-byte configuration, then records until the input ends (a short last record reads
// its missing bytes as zero). Integers are little-endian.
//   config byte 0: bits 0-1 max_header_bytes {64, 512, 4096, 65536}
//                  bits 2-3 max_reorder_segments {1, 2, 4, 64}
//                  bits 4-5 max_pipelined_requests {1, 2, 8, 128}
//                  bit 6    max_connections 1 (else 64): the second connection evicts the first
//                  bit 7    initial sequence numbers just below 2^32 (wrap-around)
//   config byte 1: bits 0-1 reorder_timeout {1 ms, 10 ms, 1 s, 1 s}
//                  bits 2-3 idle_timeout {10 ms, 1 s, 300 s, 300 s}
//                  bits 4-5 max_reorder_bytes {64, 1024, 256 KiB, 256 KiB}
//                  bits 6-7 max_routes_per_port {1, 2, 1000, 1000}
//   record: op byte; bits 0-2 kind, bit 3 connection (0: :80, 1: :8080 over IPv6), then
//     kind 0-3 segment: bit 4 direction (set: server to client), bits 5-6 sequence mode
//              (0 next in order, 1 skip `arg` bytes first: a loss, 2 `arg` bytes back: a
//              retransmission or overlap, 3 seq = arg), bit 7 wire_len = captured + `extra`
//              (snaplen truncation). Then u16 len, u32 arg, u16 extra, u16 dt, len payload bytes.
//     kind 4 open:        bit 4 mid_stream. Then u16 dt.
//     kind 5 close:       bit 4 reset. Then u16 dt.
//     kind 6 advance time: u32 microseconds.
//     kind 7 established: no operands.
//   dt: microseconds the clock moves forward; with bit 15 set, (dt & 0x7fff) backwards (events
//   from different CPUs arrive slightly out of order).
// At the end both connections close and the clock jumps past every timeout.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "analyzer/analyzer.h"
#include "analyzer/events.h"
#include "analyzer/http_exchange.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::Direction;
using ta::analyzer::FlowKey;

constexpr uint64_t kMs = 1000 * 1000;

FlowKey MakeFlow(size_t index) {
  FlowKey k;
  if (index == 0) {
    k.family = 2;
    k.client_addr = {198, 18, 0, 1};
    k.server_addr = {198, 18, 0, 2};
    k.client_port = 40000;
    k.server_port = 80;
  } else {
    k.family = 10;
    k.client_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    k.server_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    k.client_port = 40001;
    k.server_port = 8080;
  }
  return k;
}

// Records what the analyzer reports and checks what must hold for any input.
class CheckingSink final : public ta::analyzer::ExchangeSink {
 public:
  explicit CheckingSink(std::array<FlowKey, 2> flows) : flows_(flows) {}

  void OnHttpExchange(const ta::analyzer::HttpExchange& e) override {
    TA_FUZZ_CHECK(e.flow == flows_[0] || e.flow == flows_[1]);
    TA_FUZZ_CHECK(ta::analyzer::NormalizeMethod(e.method) == e.method);
    TA_FUZZ_CHECK(!e.route.empty());
    // "1.<digit>" (the request's HTTP/1.x minor version, any digit) or "2" (h2c, prior knowledge).
    const std::string& v = e.protocol_version;
    TA_FUZZ_CHECK(v == "2" || (v.size() == 3 && v[0] == '1' && v[1] == '.' && v[2] >= '0' &&
                               v[2] <= '9'));
    ++exchanges;
  }
  void OnTcpOpened(const FlowKey& flow, uint64_t /*ts_ns*/, bool /*mid_stream*/) override {
    Track(flow).opened++;
    // A connection is opened again only after it ended.
    TA_FUZZ_CHECK(Track(flow).opened == Track(flow).ended + 1);
  }
  void OnTcpEnded(const ta::analyzer::TcpConnectionEnd& end) override {
    Track(end.flow).ended++;
    TA_FUZZ_CHECK(Track(end.flow).ended == Track(end.flow).opened);
  }

  // Every opened connection ended exactly once.
  void CheckAllEnded() const {
    for (const auto& [flow, count] : lifetimes_) TA_FUZZ_CHECK(count.opened == count.ended);
  }

  uint64_t exchanges = 0;

 private:
  struct Lifetime {
    uint64_t opened = 0;
    uint64_t ended = 0;
  };
  Lifetime& Track(const FlowKey& flow) {
    TA_FUZZ_CHECK(flow == flows_[0] || flow == flows_[1]);
    return lifetimes_[flow == flows_[0] ? 0 : 1];
  }

  std::array<FlowKey, 2> flows_;
  std::map<int, Lifetime> lifetimes_;
};

ta::analyzer::AnalyzerConfig MakeConfig(uint8_t b0, uint8_t b1) {
  static constexpr uint32_t kHeaderBytes[] = {64, 512, 4096, 64 * 1024};
  static constexpr uint32_t kReorderSegments[] = {1, 2, 4, 64};
  static constexpr uint32_t kPipelined[] = {1, 2, 8, 128};
  static constexpr uint64_t kReorderTimeout[] = {1 * kMs, 10 * kMs, 1000 * kMs, 1000 * kMs};
  static constexpr uint64_t kIdleTimeout[] = {10 * kMs, 1000 * kMs, 300'000 * kMs, 300'000 * kMs};
  static constexpr uint32_t kReorderBytes[] = {64, 1024, 256 * 1024, 256 * 1024};
  static constexpr uint32_t kRoutes[] = {1, 2, 1000, 1000};
  ta::analyzer::AnalyzerConfig c;
  c.route_patterns = {{80, "/api/users/{id}"}, {0, "/items/{item}/parts/{part}"}};
  c.max_header_bytes = kHeaderBytes[b0 & 3];
  c.max_reorder_segments = kReorderSegments[(b0 >> 2) & 3];
  c.max_pipelined_requests = kPipelined[(b0 >> 4) & 3];
  c.max_connections = (b0 & 0x40) != 0 ? 1 : 64;
  c.reorder_timeout_ns = kReorderTimeout[b1 & 3];
  c.idle_timeout_ns = kIdleTimeout[(b1 >> 2) & 3];
  c.max_reorder_bytes = kReorderBytes[(b1 >> 4) & 3];
  c.max_routes_per_port = kRoutes[(b1 >> 6) & 3];
  return c;
}

uint64_t MoveClock(uint64_t now, uint16_t dt) {
  const uint64_t us = dt & 0x7fffu;
  if ((dt & 0x8000u) == 0) return now + us * 1000;
  return now > us * 1000 ? now - us * 1000 : 0;
}

}  // namespace

TA_FUZZ_TARGET(http1_stream) {
  ta::fuzz::FuzzInput in(data, size);
  const uint8_t b0 = in.TakeByte();
  const uint8_t b1 = in.TakeByte();
  const std::array<FlowKey, 2> flows = {MakeFlow(0), MakeFlow(1)};
  CheckingSink sink(flows);
  ta::analyzer::Analyzer analyzer(MakeConfig(b0, b1), sink);

  // Next sequence number per connection and direction.
  const uint32_t isn = (b0 & 0x80) != 0 ? 0xffffff00u : 1000u;
  std::array<std::array<uint32_t, 2>, 2> next_seq = {{{isn, isn + 5000}, {isn + 77, isn}}};
  uint64_t now = 1'000'000'000;

  while (!in.empty()) {
    const uint8_t op = in.TakeByte();
    const size_t conn = (op >> 3) & 1;
    const FlowKey& flow = flows[conn];
    const bool bit4 = (op & 0x10) != 0;
    switch (op & 7) {
      case 0:
      case 1:
      case 2:
      case 3: {
        const uint16_t len = in.Take<uint16_t>();
        const uint32_t arg = in.Take<uint32_t>();
        const uint16_t extra = in.Take<uint16_t>();
        now = MoveClock(now, in.Take<uint16_t>());
        const ta::fuzz::ExactBytes payload(in.TakeBytes(len));
        const Direction dir = bit4 ? Direction::kServerToClient : Direction::kClientToServer;
        uint32_t& next = next_seq[conn][static_cast<size_t>(dir)];
        ta::analyzer::SegmentEvent ev;
        ev.flow = flow;
        ev.dir = dir;
        ev.ts_ns = now;
        ev.tcp_flags = 0x18;  // PSH|ACK
        ev.captured = payload.span();
        ev.wire_len = static_cast<uint32_t>(payload.span().size()) +
                      ((op & 0x80) != 0 ? extra : 0u);
        switch ((op >> 5) & 3) {
          case 0:
            ev.seq = next;
            break;
          case 1:
            ev.seq = next + (arg & 0xffff);
            break;
          case 2:
            ev.seq = next - (arg & 0xffff);
            break;
          default:
            ev.seq = arg;
            break;
        }
        // The sender's next byte moves forward only (serial arithmetic, RFC 1982).
        const uint32_t end = ev.seq + ev.wire_len;
        if (static_cast<int32_t>(end - next) > 0 || ((op >> 5) & 3) == 3) next = end;
        analyzer.OnSegment(ev);
        break;
      }
      case 4: {
        now = MoveClock(now, in.Take<uint16_t>());
        analyzer.OnConnOpen(ta::analyzer::ConnOpenEvent{flow, now, bit4});
        break;
      }
      case 5: {
        now = MoveClock(now, in.Take<uint16_t>());
        ta::analyzer::ConnCloseEvent ev;
        ev.flow = flow;
        ev.ts_ns = now;
        ev.reset = bit4;
        analyzer.OnConnClose(ev);
        break;
      }
      case 6:
        now += uint64_t{in.Take<uint32_t>()} * 1000;
        analyzer.AdvanceTime(now);
        break;
      default: {
        ta::analyzer::ConnEstablishedEvent ev;
        ev.flow = flow;
        ev.syn_ns = now > 2000 ? now - 2000 : 0;
        ev.synack_ns = now > 1000 ? now - 1000 : 0;
        ev.ack_ns = now;
        analyzer.OnConnEstablished(ev);
        break;
      }
    }
  }

  for (const FlowKey& flow : flows) {
    ta::analyzer::ConnCloseEvent ev;
    ev.flow = flow;
    ev.ts_ns = now;
    analyzer.OnConnClose(ev);
  }
  analyzer.AdvanceTime(now + 3'600'000 * kMs);
  const ta::analyzer::AnalyzerStats& stats = analyzer.stats();
  TA_FUZZ_CHECK(stats.connections_tracked == 0);
  TA_FUZZ_CHECK(stats.exchanges == sink.exchanges);
  sink.CheckAllEnded();
}
