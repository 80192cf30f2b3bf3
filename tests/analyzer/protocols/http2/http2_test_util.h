// Test harness for Http2Connection: a context with its own config, stats, routes and a sink
// recording exchanges and gRPC calls, plus hand-built frames (HPACK through nghttp2's deflater).
#pragma once

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <ostream>
#include <string>
#include <vector>

#include "analyzer/protocols/http2/http2_connection.h"
#include "tests/analyzer/protocols/http2/nghttp2_peers.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {

inline bool operator==(const GrpcCall& a, const GrpcCall& b) {
  return a.flow == b.flow && a.service == b.service && a.method == b.method &&
         a.status == b.status && a.scheme == b.scheme && a.start_ns == b.start_ns &&
         a.end_ns == b.end_ns && a.request_messages == b.request_messages &&
         a.response_messages == b.response_messages;
}

inline void PrintTo(const GrpcCall& c, std::ostream* os) {
  *os << "{" << c.service << "/" << c.method << " status="
      << (c.status ? std::to_string(*c.status) : std::string("none")) << " " << c.scheme
      << " start=" << c.start_ns << " end=" << c.end_ns << " req_msgs=" << c.request_messages
      << " resp_msgs=" << c.response_messages << "}";
}

namespace testing {

class H2Recorder final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override { exchanges.push_back(e); }
  void OnGrpcCall(const GrpcCall& c) override { calls.push_back(c); }
  std::vector<HttpExchange> exchanges;
  std::vector<GrpcCall> calls;
};

struct H2Harness {
  explicit H2Harness(protocols::http2::StartMode mode, AnalyzerConfig cfg = {})
      : config(std::move(cfg)),
        routes(config.route_patterns, config.max_routes_per_port),
        ctx{config, stats, routes, sink},
        conn(TestFlow(), mode, ctx) {}

  void Data(Direction dir, std::string_view bytes, uint64_t ts) {
    conn.stream(dir).OnChunk(tcp::StreamChunk::Data(Bytes(bytes), ts, true));
  }
  void Gap(Direction dir, uint64_t length, uint64_t ts) {
    conn.stream(dir).OnChunk(tcp::StreamChunk::Gap(length, ts));
  }

  AnalyzerConfig config;
  AnalyzerStats stats;
  routes::RouteTemplater routes;
  H2Recorder sink;
  protocols::ConnectionContext ctx;
  protocols::http2::Http2Connection conn;
};

inline HttpExchange Expect2(std::string method, std::string route, uint16_t status,
                            uint64_t start_ns, uint64_t end_ns, std::optional<uint64_t> req_body,
                            std::optional<uint64_t> resp_body) {
  return Expect(std::move(method), std::move(route), status, start_ns, end_ns, req_body,
                resp_body, "2");
}

inline GrpcCall ExpectCall(std::string service, std::string method,
                           std::optional<uint32_t> status, uint64_t start_ns, uint64_t end_ns,
                           uint64_t req_msgs, uint64_t resp_msgs) {
  GrpcCall c;
  c.flow = TestFlow();
  c.service = std::move(service);
  c.method = std::move(method);
  c.status = status;
  c.scheme = "http";
  c.start_ns = start_ns;
  c.end_ns = end_ns;
  c.request_messages = req_msgs;
  c.response_messages = resp_msgs;
  return c;
}

// One frame: 9-byte header (RFC 9113 §4.1) and payload.
inline std::string Frame(uint8_t type, uint8_t flags, uint32_t stream_id,
                         const std::string& payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  std::string f = {static_cast<char>(n >> 16),         static_cast<char>((n >> 8) & 0xff),
                   static_cast<char>(n & 0xff),        static_cast<char>(type),
                   static_cast<char>(flags),           static_cast<char>(stream_id >> 24),
                   static_cast<char>((stream_id >> 16) & 0xff),
                   static_cast<char>((stream_id >> 8) & 0xff),
                   static_cast<char>(stream_id & 0xff)};
  return f + payload;
}

// An HPACK encoder (nghttp2's deflater) for hand-built header blocks.
class HpackEncoder {
 public:
  HpackEncoder() { nghttp2_hd_deflate_new(&deflater_, 4096); }
  ~HpackEncoder() { nghttp2_hd_deflate_del(deflater_); }
  HpackEncoder(const HpackEncoder&) = delete;
  HpackEncoder& operator=(const HpackEncoder&) = delete;

  std::string Encode(const HeaderList& headers) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [name, value] : headers) {
      nv.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                    const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                    name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(deflater_, nv.data(), nv.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(deflater_, reinterpret_cast<uint8_t*>(out.data()),
                                            out.size(), nv.data(), nv.size());
    out.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return out;
  }

 private:
  nghttp2_hd_deflater* deflater_ = nullptr;
};

inline std::string SettingsFrame() { return Frame(0x4, 0, 0, ""); }

}  // namespace testing
}  // namespace ta::analyzer
