// Helpers for analyzer tests: a recording sink, a driver that turns byte strings into the
// SegmentEvents an agent would deliver, and seeded random splitting.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/events.h"
#include "analyzer/http_exchange.h"

namespace ta::analyzer {

inline bool operator==(const HttpExchange& a, const HttpExchange& b) {
  return a.flow == b.flow && a.method == b.method && a.route == b.route && a.status == b.status &&
         a.protocol_version == b.protocol_version && a.scheme == b.scheme &&
         a.request_start_ns == b.request_start_ns && a.response_end_ns == b.response_end_ns &&
         a.request_body_bytes == b.request_body_bytes &&
         a.response_body_bytes == b.response_body_bytes;
}

inline void PrintTo(const HttpExchange& e, std::ostream* os) {
  auto opt = [](const std::optional<uint64_t>& v) {
    return v ? std::to_string(*v) : std::string("none");
  };
  *os << "{" << e.method << " " << e.route << " -> " << e.status << " HTTP/" << e.protocol_version
      << " " << e.scheme << " start=" << e.request_start_ns << " end=" << e.response_end_ns
      << " req_body=" << opt(e.request_body_bytes) << " resp_body=" << opt(e.response_body_bytes)
      << " " << e.flow.ToString() << "}";
}

namespace testing {

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

inline FlowKey TestFlow(uint16_t client_port = 40000, uint16_t server_port = 80) {
  FlowKey k;
  k.family = 2;
  k.client_addr = {198, 18, 0, 1};
  k.server_addr = {198, 18, 0, 2};
  k.client_port = client_port;
  k.server_port = server_port;
  return k;
}

class Recorder final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override { exchanges.push_back(e); }
  std::vector<HttpExchange> exchanges;
};

// The exchange the tests expect for TestFlow(), with the fields that vary.
inline HttpExchange Expect(std::string method, std::string route, uint16_t status,
                           uint64_t start_ns, uint64_t end_ns, std::optional<uint64_t> req_body,
                           std::optional<uint64_t> resp_body, std::string version = "1.1",
                           FlowKey flow = TestFlow()) {
  HttpExchange e;
  e.flow = flow;
  e.method = std::move(method);
  e.route = std::move(route);
  e.status = status;
  e.protocol_version = std::move(version);
  e.scheme = "http";
  e.request_start_ns = start_ns;
  e.response_end_ns = end_ns;
  e.request_body_bytes = req_body;
  e.response_body_bytes = resp_body;
  return e;
}

inline std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// One connection's traffic as the agent would deliver it. Each direction keeps its next
// sequence number; Send() emits segments and advances it.
class Connection {
 public:
  explicit Connection(EventConsumer& consumer, FlowKey flow = TestFlow(),
                      std::array<uint32_t, 2> isn = {1000, 700000})
      : consumer_(consumer), flow_(flow), seq_(isn) {}

  void Open(uint64_t ts, bool mid_stream = false) {
    consumer_.OnConnOpen(ConnOpenEvent{flow_, ts, mid_stream});
  }
  void Close(uint64_t ts) {
    ConnCloseEvent ev;
    ev.flow = flow_;
    ev.ts_ns = ts;
    consumer_.OnConnClose(ev);
  }

  // One segment at an explicit sequence number (does not move next_seq). `wire_len` 0 means the
  // payload's size; `snaplen` truncates what is captured.
  void SegmentAt(Direction dir, uint32_t seq, std::string_view payload, uint64_t ts,
                 uint32_t snaplen = UINT32_MAX, uint32_t wire_len = 0) {
    SegmentEvent ev;
    ev.flow = flow_;
    ev.dir = dir;
    ev.seq = seq;
    ev.wire_len = wire_len != 0 ? wire_len : static_cast<uint32_t>(payload.size());
    ev.ts_ns = ts;
    ev.captured = Bytes(payload.substr(0, std::min<size_t>(payload.size(), snaplen)));
    consumer_.OnSegment(ev);
  }

  // Sends `payload` as one segment in sequence.
  void Send(Direction dir, std::string_view payload, uint64_t ts, uint32_t snaplen = UINT32_MAX) {
    SegmentAt(dir, next_seq(dir), payload, ts, snaplen);
    Skip(dir, payload.size());
  }
  // Sends `payload` as several segments, cut at the sorted offsets in `cuts`.
  void SendSplit(Direction dir, std::string_view payload, const std::vector<size_t>& cuts,
                 uint64_t ts, uint32_t snaplen = UINT32_MAX) {
    size_t start = 0;
    for (size_t cut : cuts) {
      if (cut <= start || cut >= payload.size()) continue;
      Send(dir, payload.substr(start, cut - start), ts, snaplen);
      start = cut;
    }
    Send(dir, payload.substr(start), ts, snaplen);
  }
  // Advances the sequence without sending: bytes lost before the capture point.
  void Skip(Direction dir, size_t n) { seq_[Index(dir)] += static_cast<uint32_t>(n); }
  uint32_t next_seq(Direction dir) const { return seq_[Index(dir)]; }
  const FlowKey& flow() const { return flow_; }

 private:
  static size_t Index(Direction dir) { return static_cast<size_t>(dir); }

  EventConsumer& consumer_;
  FlowKey flow_;
  std::array<uint32_t, 2> seq_;
};

// Up to `max_cuts` distinct sorted cut points strictly inside [0, size).
inline std::vector<size_t> RandomCuts(std::mt19937& rng, size_t size, size_t max_cuts) {
  std::vector<size_t> cuts;
  if (size < 2) return cuts;
  std::uniform_int_distribution<size_t> count(0, max_cuts);
  std::uniform_int_distribution<size_t> point(1, size - 1);
  for (size_t n = count(rng); n > 0; --n) cuts.push_back(point(rng));
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

}  // namespace testing
}  // namespace ta::analyzer
