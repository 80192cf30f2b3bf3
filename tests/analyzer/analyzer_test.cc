// Connection lifecycle through the Analyzer: joining mid-stream, reordering at the analyzer
// level, idle expiry, eviction, and the counters each path moves.
#include "analyzer/analyzer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

}  // namespace
}  // namespace ta::analyzer
