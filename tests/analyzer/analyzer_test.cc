// Connection lifecycle through the Analyzer: joining mid-stream, reordering at the analyzer
// level, idle expiry, eviction, and the counters each path moves; the census of HTTP/1.x
// connections inside an exchange; object ids and body samples of HTTP/2 streams.
#include "analyzer/analyzer.h"

#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "tests/analyzer/protocols/http2/http2_test_util.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {
namespace {

using testing::Expect;
using testing::kC2S;
using testing::kS2C;
using testing::Recorder;

constexpr std::string_view kGet = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

class AnalyzerTest : public ::testing::Test {
 protected:
  Analyzer& Make(AnalyzerConfig config = {}) {
    analyzer_ = std::make_unique<Analyzer>(std::move(config), sink_);
    return *analyzer_;
  }
  const AnalyzerStats& stats() const { return analyzer_->stats(); }

  Recorder sink_;
  std::unique_ptr<Analyzer> analyzer_;
};

TEST_F(AnalyzerTest, JoinsAConnectionMidStreamAtTheNextMessage) {
  Analyzer& a = Make();
  testing::Connection conn(a);  // no open event: the agent started while it was open
  const std::string tail = "dy of a response we joined in the middle of";
  conn.Send(kS2C, tail, 500);
  conn.Send(kC2S, "rest of a request body", 600);
  conn.Send(kC2S, kGet, 1000);
  conn.Send(kS2C, kOk, 2000);
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1000, 2000, 0, 2)}));
  EXPECT_EQ(stats().parser_discarded_bytes, tail.size() + 22);
  EXPECT_EQ(stats().parser_resyncs, 0u);  // never in sync, so nothing was lost
  EXPECT_EQ(stats().http1_parse_errors, 0u);
  EXPECT_EQ(stats().connections_tracked, 1u);
}

TEST_F(AnalyzerTest, MidStreamOpenStartsInResyncMode) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(100, /*mid_stream=*/true);
  conn.Send(kC2S, "ength: 3\r\n\r\nabc", 500);  // tail of a request
  conn.Send(kC2S, kGet, 1000);
  conn.Send(kS2C, kOk, 2000);
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1000, 2000, 0, 2)}));
  EXPECT_EQ(stats().parser_discarded_bytes, 15u);
}

TEST_F(AnalyzerTest, ResyncNeedsAMessageAtTheStartOfASegment) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(100, /*mid_stream=*/true);
  // A request line in the middle of a segment is not trusted (it may be body bytes).
  conn.Send(kC2S, "0}\r\n" + std::string(kGet), 1000);
  conn.Send(kS2C, kOk, 2000);
  conn.Send(kC2S, kGet, 3000);
  conn.Send(kS2C, kOk, 4000);
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 3000, 4000, 0, 2)}));
  EXPECT_EQ(stats().orphan_responses, 1u);
}

TEST_F(AnalyzerTest, ReordersAndDropsRetransmittedSegments) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, kGet, 1000);
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
  // The first segment seen in a direction sets its sequence origin; the rest come in any order.
  const uint32_t seq = conn.next_seq(kS2C);
  conn.SegmentAt(kS2C, seq, response.substr(0, 10), 2000);
  conn.SegmentAt(kS2C, seq + 35, response.substr(35), 2003);  // last segment early
  conn.SegmentAt(kS2C, seq + 10, response.substr(10, 15), 2001);
  conn.SegmentAt(kS2C, seq + 10, response.substr(10, 15), 2002);  // retransmission
  conn.SegmentAt(kS2C, seq, response.substr(0, 10), 2002);        // retransmission
  EXPECT_TRUE(sink_.exchanges.empty());
  conn.SegmentAt(kS2C, seq + 20, response.substr(20, 20), 2004);  // overlaps both neighbours
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1000, 2003, 0, 10)}));
  EXPECT_EQ(stats().reassembly_gap_bytes, 0u);
  EXPECT_EQ(stats().parser_resyncs, 0u);
}

TEST_F(AnalyzerTest, FollowsSequenceNumbersAcrossTheWrap) {
  Analyzer& a = Make();
  testing::Connection conn(a, testing::TestFlow(), {0xFFFFFFF0u, 0xFFFFFFFFu});
  conn.Open(1);
  for (uint64_t i = 0; i < 3; ++i) {
    conn.SendSplit(kC2S, kGet, {5, 17}, 1000 + i * 10);
    conn.SendSplit(kS2C, kOk, {1, 30}, 1005 + i * 10);
  }
  EXPECT_EQ(sink_.exchanges, (std::vector<HttpExchange>{
                                 Expect("GET", "/a", 200, 1000, 1005, 0, 2),
                                 Expect("GET", "/a", 200, 1010, 1015, 0, 2),
                                 Expect("GET", "/a", 200, 1020, 1025, 0, 2),
                             }));
}

TEST_F(AnalyzerTest, ALostBodySegmentIsGivenUpAfterTheReorderTimeout) {
  AnalyzerConfig config;
  config.reorder_timeout_ns = 1000;
  Analyzer& a = Make(config);
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, kGet, 1000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789", 2000);
  conn.Skip(kS2C, 10);
  conn.Send(kS2C, "abcdefghij", 2100);
  a.AdvanceTime(3099);
  EXPECT_TRUE(sink_.exchanges.empty());
  a.AdvanceTime(3100);
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1000, 2100, 0, 30)}));
  EXPECT_EQ(stats().reassembly_gap_bytes, 10u);
}

TEST_F(AnalyzerTest, CloseFlushesHeldSegments) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, kGet, 1000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", 2000);
  conn.Skip(kS2C, 1);
  conn.Send(kS2C, "d", 2001);
  conn.Close(2002);
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1000, 2001, 0, 4)}));
  EXPECT_EQ(stats().reassembly_gap_bytes, 1u);
  EXPECT_EQ(stats().connections_tracked, 0u);
}

TEST_F(AnalyzerTest, ExpiresIdleConnections) {
  AnalyzerConfig config;
  config.idle_timeout_ns = 10'000;
  Analyzer& a = Make(config);
  testing::Connection quiet(a, testing::TestFlow(40001));
  testing::Connection busy(a, testing::TestFlow(40002));
  testing::Connection legacy(a, testing::TestFlow(40003));
  quiet.Open(1000);
  quiet.Send(kC2S, kGet, 1000);  // never answered
  legacy.Open(1000);
  legacy.Send(kC2S, "GET /old HTTP/1.0\r\n\r\n", 1500);
  legacy.Send(kS2C, "HTTP/1.0 200 OK\r\n\r\nbody", 1600);
  busy.Open(5000);
  a.AdvanceTime(10'999);
  EXPECT_EQ(stats().connections_tracked, 3u);
  a.AdvanceTime(11'600);
  EXPECT_EQ(stats().connections_expired, 2u);
  EXPECT_EQ(stats().connections_tracked, 1u);
  EXPECT_EQ(stats().unanswered_requests, 1u);
  // The read-until-close response ends where its stream went quiet.
  EXPECT_EQ(sink_.exchanges, (std::vector<HttpExchange>{Expect("GET", "/old", 200, 1500, 1600, 0, 4,
                                                               "1.0", testing::TestFlow(40003))}));
  a.AdvanceTime(15'000);
  EXPECT_EQ(stats().connections_tracked, 0u);
  EXPECT_EQ(stats().connections_expired, 3u);
}

TEST_F(AnalyzerTest, EvictsTheLeastRecentlyActiveConnection) {
  AnalyzerConfig config;
  config.max_connections = 2;
  Analyzer& a = Make(config);
  testing::Connection first(a, testing::TestFlow(40001));
  testing::Connection second(a, testing::TestFlow(40002));
  testing::Connection third(a, testing::TestFlow(40003));
  first.Open(1000);
  second.Open(1100);
  second.Send(kC2S, kGet, 1200);
  first.Send(kC2S, kGet, 1300);  // first is now the most recently active
  third.Open(1400);
  EXPECT_EQ(stats().connections_evicted, 1u);
  EXPECT_EQ(stats().connections_tracked, 2u);
  EXPECT_EQ(stats().unanswered_requests, 1u);  // second's request
  first.Send(kS2C, kOk, 1500);
  EXPECT_EQ(sink_.exchanges, (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1300, 1500, 0, 2,
                                                               "1.1", testing::TestFlow(40001))}));
  // second's late response starts a new, mid-stream connection: nothing to pair it with.
  second.Send(kS2C, kOk, 1600);
  EXPECT_EQ(stats().connections_evicted, 2u);
  EXPECT_EQ(stats().orphan_responses, 1u);
  EXPECT_EQ(sink_.exchanges.size(), 1u);
}

TEST_F(AnalyzerTest, ANewOpenOnATrackedFlowStartsAFreshConnection) {
  Analyzer& a = Make();
  testing::Connection old_conn(a, testing::TestFlow(), {100, 200});
  old_conn.Open(1000);
  old_conn.Send(kC2S, kGet, 1100);
  testing::Connection new_conn(a, testing::TestFlow(), {90000, 80000});  // port reused
  new_conn.Open(2000);
  new_conn.Send(kC2S, kGet, 2100);
  new_conn.Send(kS2C, kOk, 2200);
  EXPECT_EQ(sink_.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 2100, 2200, 0, 2)}));
  EXPECT_EQ(stats().unanswered_requests, 1u);
  EXPECT_EQ(stats().connections_tracked, 1u);
  EXPECT_EQ(stats().events_conn_open, 2u);
}

TEST_F(AnalyzerTest, IgnoresClosesOfUnknownConnections) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Close(1000);
  EXPECT_EQ(stats().events_conn_close, 1u);
  EXPECT_EQ(stats().connections_tracked, 0u);
}

TEST_F(AnalyzerTest, CountsRouteOverflows) {
  AnalyzerConfig config;
  config.max_routes_per_port = 1;
  Analyzer& a = Make(config);
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1000);
  conn.Send(kS2C, std::string(kOk) + std::string(kOk), 2000);
  EXPECT_EQ(sink_.exchanges, (std::vector<HttpExchange>{
                                 Expect("GET", "/a", 200, 1000, 2000, 0, 2),
                                 Expect("GET", "/{overflow}", 200, 1000, 2000, 0, 2),
                             }));
  EXPECT_EQ(stats().route_overflows, 1u);
}

// --- Census: where each HTTP/1.x connection is inside its exchange (slow-rate detection). ---

constexpr uint64_t kSecond = 1'000'000'000;

ConnectionProgress Progress(ExchangePhase phase, uint64_t start_ns, uint64_t last_ns,
                            uint64_t bytes, std::optional<uint64_t> expected = std::nullopt,
                            FlowKey flow = testing::TestFlow()) {
  ConnectionProgress p;
  p.flow = flow;
  p.phase = phase;
  p.phase_start_ns = start_ns;
  p.last_byte_ns = last_ns;
  p.phase_bytes = bytes;
  p.expected_bytes = expected;
  return p;
}

}  // namespace

bool operator==(const ConnectionProgress& a, const ConnectionProgress& b) {
  return a.flow == b.flow && a.phase == b.phase && a.phase_start_ns == b.phase_start_ns &&
         a.last_byte_ns == b.last_byte_ns && a.phase_bytes == b.phase_bytes &&
         a.expected_bytes == b.expected_bytes;
}

void PrintTo(const ConnectionProgress& p, std::ostream* os) {
  *os << "{" << p.flow.ToString() << " phase=" << static_cast<int>(p.phase)
      << " start=" << p.phase_start_ns << " last=" << p.last_byte_ns << " bytes=" << p.phase_bytes
      << " expected=" << (p.expected_bytes ? std::to_string(*p.expected_bytes) : "none") << "}";
}

namespace {

std::vector<ConnectionProgress> CensusOf(const Analyzer& a) {
  std::vector<ConnectionProgress> out;
  a.Census(out);
  return out;
}

TEST_F(AnalyzerTest, CensusFollowsASlowlorisHead) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(1);
  EXPECT_TRUE(CensusOf(a).empty());  // open, nothing sent: idle
  // A head sent three bytes a second that never ends (no empty line).
  const std::string head = "GET / HTTP/1.1\r\nHost: x\r\nX-a: 1\r\nX-b: 2\r\nX-c: 3\r\n";
  size_t sent = 0;
  for (size_t i = 0; sent < head.size(); ++i) {
    const std::string piece = head.substr(sent, 3);
    const uint64_t ts = (i + 1) * kSecond;
    conn.Send(kC2S, piece, ts);
    sent += piece.size();
    if (sent < 5) {
      // "GET" alone could still be another protocol: held until "GET /" decides.
      EXPECT_TRUE(CensusOf(a).empty()) << sent;
      continue;
    }
    EXPECT_EQ(
        CensusOf(a),
        (std::vector<ConnectionProgress>{Progress(ExchangePhase::kRequestHead, kSecond, ts, sent)}))
        << sent;
  }
  EXPECT_TRUE(sink_.exchanges.empty());
  EXPECT_EQ(stats().http1_parse_errors, 0u);
  conn.Close(100 * kSecond);
  EXPECT_TRUE(CensusOf(a).empty());
  EXPECT_EQ(stats().http1_truncated_messages, 1u);
}

TEST_F(AnalyzerTest, CensusFollowsASlowPostBody) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n", kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{
                             Progress(ExchangePhase::kRequestBody, kSecond, kSecond, 0, 10000)}));
  for (uint64_t i = 1; i <= 10; ++i) conn.Send(kC2S, std::string(10, 'p'), (i + 1) * kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{Progress(
                             ExchangePhase::kRequestBody, kSecond, 11 * kSecond, 100, 10000)}));
  // A chunked body counts decoded bytes (declared chunk sizes less what is still owed).
  testing::Connection chunked(a, testing::TestFlow(40001));
  chunked.Open(1);
  chunked.Send(kC2S, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n", kSecond);
  chunked.Send(kC2S, std::string(30, 'q'), 2 * kSecond);
  EXPECT_EQ(CensusOf(a),
            (std::vector<ConnectionProgress>{
                Progress(ExchangePhase::kRequestBody, kSecond, 2 * kSecond, 30, std::nullopt,
                         testing::TestFlow(40001)),
                Progress(ExchangePhase::kRequestBody, kSecond, 11 * kSecond, 100, 10000)}));
}

TEST_F(AnalyzerTest, CensusShowsACompleteRequestAwaitingItsResponse) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, "POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", 3 * kSecond);
  conn.Send(kC2S, "cd", 5 * kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{Progress(ExchangePhase::kAwaitingResponse,
                                                                   5 * kSecond, 5 * kSecond, 0)}));
  // Still awaiting later: the phase started when the request ended.
  a.AdvanceTime(60 * kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{Progress(ExchangePhase::kAwaitingResponse,
                                                                   5 * kSecond, 5 * kSecond, 0)}));
}

TEST_F(AnalyzerTest, CensusFollowsAPartialResponse) {
  Analyzer& a = Make();
  testing::Connection conn(a);
  conn.Open(1);
  conn.Send(kC2S, kGet, kSecond);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n";
  conn.Send(kS2C, head.substr(0, 20), 2 * kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{
                             Progress(ExchangePhase::kResponse, 2 * kSecond, 2 * kSecond, 20)}));
  conn.Send(kS2C, head.substr(20) + std::string(500, 'r'), 3 * kSecond);
  conn.Send(kS2C, std::string(500, 'r'), 4 * kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{Progress(
                             ExchangePhase::kResponse, 2 * kSecond, 4 * kSecond, 1000, 2000)}));
  conn.Send(kS2C, std::string(1000, 'r'), 5 * kSecond);
  EXPECT_TRUE(CensusOf(a).empty());  // complete: idle keep-alive
  ASSERT_EQ(sink_.exchanges.size(), 1u);
}

TEST_F(AnalyzerTest, CensusLeavesOutIdleAndNonHttp1Connections) {
  Analyzer& a = Make();
  testing::Connection idle(a, testing::TestFlow(40001));
  idle.Open(1);
  idle.Send(kC2S, kGet, kSecond);
  idle.Send(kS2C, kOk, 2 * kSecond);
  testing::Connection h2(a, testing::TestFlow(40002));
  h2.Open(1);
  h2.Send(kC2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", kSecond);
  testing::Connection waiting(a, testing::TestFlow(40003));
  waiting.Open(1);
  waiting.Send(kC2S, kGet, 3 * kSecond);
  EXPECT_EQ(CensusOf(a), (std::vector<ConnectionProgress>{
                             Progress(ExchangePhase::kAwaitingResponse, 3 * kSecond, 3 * kSecond, 0,
                                      std::nullopt, testing::TestFlow(40003))}));
  ASSERT_EQ(sink_.exchanges.size(), 1u);
  // Appends: the caller's vector keeps what it held.
  std::vector<ConnectionProgress> out(1);
  a.Census(out);
  EXPECT_EQ(out.size(), 2u);
}

// --- HTTP/2 fills the same fields: object id, body samples from DATA, media fields from HPACK.

TEST(Http2SampleTest, StreamsCarryObjectIdsAndBodySamples) {
  AnalyzerConfig config;
  config.body_sample_bytes = 1500;
  testing::Nghttp2Peers peers;
  const testing::HeaderList put = {{":method", "PUT"},
                                   {":scheme", "http"},
                                   {":authority", "svc"},
                                   {":path", "/users/12/docs/34?v=1"},
                                   {"content-type", "Text/Plain; charset=utf-8"},
                                   {"content-encoding", "GZIP"}};
  std::string body;
  for (int i = 0; i < 200; ++i) body += "0123456789";  // 2000 bytes in 700-byte DATA frames
  const int32_t id = peers.Request(put, body, 700);
  const std::string client = peers.FlushClient();
  const std::string settings = peers.FlushServer();  // SETTINGS, SETTINGS ACK
  peers.Respond(id, {{":status", "200"}, {"content-type", "application/json"}},
                std::string("{\"ok\":true}"));
  const std::string server = peers.FlushServer();
  // Whole, then cut at seeded random points.
  for (uint32_t seed = 0; seed <= 50; ++seed) {
    std::mt19937 rng(seed);
    testing::H2Harness h(protocols::http2::StartMode::kPriorKnowledge, config);
    const auto send = [&](Direction dir, const std::string& bytes, uint64_t ts) {
      size_t start = 0;
      const std::vector<size_t> cuts =
          seed == 0 ? std::vector<size_t>{} : testing::RandomCuts(rng, bytes.size(), 10);
      for (size_t cut : cuts) {
        h.Data(dir, std::string_view(bytes).substr(start, cut - start), ts);
        start = cut;
      }
      h.Data(dir, std::string_view(bytes).substr(start), ts);
    };
    send(kC2S, client, 1000);
    send(kS2C, settings, 1500);
    send(kS2C, server, 2000);
    ASSERT_EQ(h.sink.exchanges.size(), 1u) << seed;
    const HttpExchange& e = h.sink.exchanges[0];
    EXPECT_EQ(e.route, "/users/{id}/docs/{id}");
    EXPECT_EQ(e.object_id, "12/34");
    EXPECT_EQ(e.request_body.bytes, body.substr(0, 1500)) << seed;
    EXPECT_FALSE(e.request_body.truncated_by_gap);
    EXPECT_EQ(e.request_body.content_type, "text/plain");
    EXPECT_EQ(e.request_body.content_encoding, "gzip");
    EXPECT_EQ(e.response_body.bytes, "{\"ok\":true}") << seed;
    EXPECT_EQ(e.response_body.content_type, "application/json");
    EXPECT_EQ(e.response_body.content_encoding, "");
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(Http2SampleTest, AGapInsideDataEndsTheSample) {
  testing::H2Harness h(protocols::http2::StartMode::kPriorKnowledge);
  testing::Nghttp2Peers peers;
  const int32_t id = peers.Request(
      {{":method", "GET"}, {":scheme", "http"}, {":authority", "svc"}, {":path", "/f"}});
  h.Data(kC2S, peers.FlushClient(), 1000);
  h.Data(kS2C, peers.FlushServer(), 1500);
  peers.Respond(id, {{":status", "200"}}, std::string(1000, 'a') + std::string(1000, 'b'), {},
                16384);
  const std::string out = peers.FlushServer();
  // HEADERS, then one DATA frame: 9-byte header and 2000 bytes. Lose 500 bytes of its payload.
  const size_t data_payload = out.size() - 2000;
  h.Data(kS2C, std::string_view(out).substr(0, data_payload + 600), 2000);
  h.Gap(kS2C, 500, 2001);
  h.Data(kS2C, std::string_view(out).substr(data_payload + 1100), 2002);
  ASSERT_EQ(h.sink.exchanges.size(), 1u);
  EXPECT_EQ(h.sink.exchanges[0].response_body_bytes, 2000u);
  EXPECT_EQ(h.sink.exchanges[0].response_body.bytes, std::string(600, 'a'));
  EXPECT_TRUE(h.sink.exchanges[0].response_body.truncated_by_gap);
}

}  // namespace
}  // namespace ta::analyzer
