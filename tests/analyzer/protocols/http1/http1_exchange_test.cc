// HTTP/1.x through the whole Analyzer: literal byte strings in, exact exchanges and counters out.
// Every multi-message script is also replayed with each step cut into segments at seeded random
// points and must give the same exchanges.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {
namespace {

using testing::Expect;
using testing::kC2S;
using testing::kS2C;
using testing::Recorder;

// One step of a conversation: bytes one side sends at one time.
struct Step {
  Direction dir;
  std::string bytes;
  uint64_t ts;
};
using Script = std::vector<Step>;

struct RunResult {
  std::vector<HttpExchange> exchanges;
  AnalyzerStats stats;
};

// Cut points for step `index` of `size` bytes.
using Cutter = std::function<std::vector<size_t>(size_t index, size_t size)>;

RunResult RunScript(const Script& script, const AnalyzerConfig& config = {},
                    const Cutter& cutter = {}, std::optional<uint64_t> close_ts = std::nullopt) {
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  for (size_t i = 0; i < script.size(); ++i) {
    const Step& step = script[i];
    conn.SendSplit(step.dir, step.bytes,
                   cutter ? cutter(i, step.bytes.size()) : std::vector<size_t>{}, step.ts);
  }
  if (close_ts) conn.Close(*close_ts);
  return {sink.exchanges, analyzer.stats()};
}

// The script gives `expected` delivered whole and cut at random points (many seeds), without a
// single parse error or resync.
void ExpectForAnySplit(const Script& script, const std::vector<HttpExchange>& expected,
                       std::optional<uint64_t> close_ts = std::nullopt) {
  const RunResult whole = RunScript(script, {}, {}, close_ts);
  ASSERT_EQ(whole.exchanges, expected);
  for (uint32_t seed = 1; seed <= 150; ++seed) {
    std::mt19937 rng(seed);
    const RunResult split = RunScript(
        script, {}, [&](size_t, size_t size) { return testing::RandomCuts(rng, size, 10); },
        close_ts);
    ASSERT_EQ(split.exchanges, expected) << "seed " << seed;
    ASSERT_EQ(split.stats.http1_parse_errors, 0u) << "seed " << seed;
    ASSERT_EQ(split.stats.parser_resyncs, 0u) << "seed " << seed;
    ASSERT_EQ(split.stats.parser_discarded_bytes, 0u) << "seed " << seed;
  }
  // Byte by byte, the extreme split.
  const RunResult bytewise = RunScript(
      script, {},
      [](size_t, size_t size) {
        std::vector<size_t> all;
        for (size_t i = 1; i < size; ++i) all.push_back(i);
        return all;
      },
      close_ts);
  EXPECT_EQ(bytewise.exchanges, expected);
}

std::string Repeat(char c, size_t n) { return std::string(n, c); }

TEST(Http1ExchangeTest, KeepAliveConnectionWithSeveralExchanges) {
  const Script script = {
      {kC2S,
       "GET /users/42?expand=1 HTTP/1.1\r\nHost: svc\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n",
       1000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", 2000},
      {kC2S, "POST /users HTTP/1.1\r\nHost: svc\r\nContent-Length: 11\r\n\r\n{\"a\":12345}", 3000},
      {kS2C, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 4000},
      {kC2S, "DELETE /users/42 HTTP/1.1\r\nHost: svc\r\n\r\n", 5000},
      {kS2C, "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot found", 6000},
  };
  ExpectForAnySplit(script, {
                                Expect("GET", "/users/{id}", 200, 1000, 2000, 0, 5),
                                Expect("POST", "/users", 201, 3000, 4000, 11, 0),
                                Expect("DELETE", "/users/{id}", 404, 5000, 6000, 0, 9),
                            });
  const RunResult r = RunScript(script, {}, {}, 7000);
  EXPECT_EQ(r.stats.exchanges, 3u);
  EXPECT_EQ(r.stats.unanswered_requests, 0u);
  EXPECT_EQ(r.stats.orphan_responses, 0u);
  EXPECT_EQ(r.stats.http1_truncated_messages, 0u);
  EXPECT_EQ(r.stats.events_segment, 6u);
  EXPECT_EQ(r.stats.events_conn_open, 1u);
  EXPECT_EQ(r.stats.events_conn_close, 1u);
  EXPECT_EQ(r.stats.connections_tracked, 0u);
}

TEST(Http1ExchangeTest, ChunkedResponseWithTrailersKeepsFraming) {
  const Script script = {
      {kC2S, "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n", 1000},
      {kS2C,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
       "5\r\nhello\r\n"
       "10;ext=1\r\n0123456789abcdef\r\n",
       2000},
      {kS2C, "0\r\nX-Checksum: 42\r\n\r\n", 3000},
      {kC2S, "GET /after HTTP/1.1\r\nHost: a\r\n\r\n", 4000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5000},
  };
  ExpectForAnySplit(script, {
                                Expect("GET", "/stream", 200, 1000, 3000, 0, 21),
                                Expect("GET", "/after", 200, 4000, 5000, 0, 2),
                            });
}

TEST(Http1ExchangeTest, ChunkedRequestAfter100Continue) {
  const Script script = {
      {kC2S,
       "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       1000},
      {kS2C, "HTTP/1.1 100 Continue\r\n\r\n", 2000},
      {kC2S, "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n", 3000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 4000},
  };
  ExpectForAnySplit(script, {Expect("POST", "/upload", 200, 1000, 4000, 7, 2)});
}

TEST(Http1ExchangeTest, InterimResponsesDoNotConsumeTheRequest) {
  const Script script = {
      {kC2S, "GET /page HTTP/1.1\r\nHost: a\r\n\r\n", 1000},
      {kS2C, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", 2000},
      {kS2C, "HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
       3000},
  };
  ExpectForAnySplit(script, {Expect("GET", "/page", 200, 1000, 3000, 0, 3)});
}

TEST(Http1ExchangeTest, PipelinedRequestsPairInOrder) {
  const Script script = {
      {kC2S,
       "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
       "HEAD /b/123 HTTP/1.1\r\nHost: x\r\n\r\n"
       "PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
       "GET /d HTTP/1.1\r\nHost: x\r\n\r\n",
       1000},
      {kS2C,
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\naaa"
       "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"  // HEAD: no body despite the length
       "HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nerr\r\n0\r\n",
       2000},
      {kS2C, "\r\nHTTP/1.1 204 No Content\r\n\r\n", 3000},
  };
  ExpectForAnySplit(script, {
                                Expect("GET", "/a", 200, 1000, 2000, 0, 3),
                                Expect("HEAD", "/b/{id}", 200, 1000, 2000, 0, 0),
                                Expect("PUT", "/c", 500, 1000, 3000, 4, 3),
                                Expect("GET", "/d", 204, 1000, 3000, 0, 0),
                            });
}

TEST(Http1ExchangeTest, NoBodyFor204And304) {
  const Script script = {
      {kC2S, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", 1000},
      {kS2C, "HTTP/1.1 204 No Content\r\n\r\n", 2000},
      {kC2S, "GET /b HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\n\r\n", 3000},
      {kS2C, "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nContent-Length: 1000\r\n\r\n", 4000},
      {kC2S, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n", 5000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 6000},
  };
  ExpectForAnySplit(script, {
                                Expect("GET", "/a", 204, 1000, 2000, 0, 0),
                                Expect("GET", "/b", 304, 3000, 4000, 0, 0),
                                Expect("GET", "/c", 200, 5000, 6000, 0, 2),
                            });
}

TEST(Http1ExchangeTest, ResponseReadUntilCloseEndsAtItsLastSegment) {
  const Script script = {
      {kC2S, "GET /legacy HTTP/1.0\r\nHost: x\r\n\r\n", 1000},
      {kS2C, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", 2000},
      {kS2C, "part1", 3000},
      {kS2C, "part2", 4000},
  };
  ExpectForAnySplit(script, {Expect("GET", "/legacy", 200, 1000, 4000, 0, 10, "1.0")}, 9000);
  // Not reported before the connection closes.
  EXPECT_TRUE(RunScript(script).exchanges.empty());
}

TEST(Http1ExchangeTest, ConnectionCloseWithContentLength) {
  const Script script = {
      {kC2S, "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1000},
      {kS2C, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc", 2000},
  };
  ExpectForAnySplit(script, {Expect("GET", "/x", 200, 1000, 2000, 0, 3)}, 3000);
}

TEST(Http1ExchangeTest, SkipsEmptyLinesBetweenMessages) {
  // RFC 9112 §2.2: some clients send a CRLF after a POST body.
  const Script script = {
      {kC2S, "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\r\n", 1000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000},
      {kC2S, "\r\nGET /b HTTP/1.1\r\n\r\n", 3000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4000},
  };
  ExpectForAnySplit(script, {
                                Expect("POST", "/a", 200, 1000, 2000, 2, 0),
                                Expect("GET", "/b", 200, 3000, 4000, 0, 0),
                            });
}

TEST(Http1ExchangeTest, SwitchingProtocolsEndsHttpParsing) {
  const Script script = {
      {kC2S,
       "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
       1000},
      {kS2C,
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x05hello",
       2000},
      {kC2S, std::string("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11), 3000},
      {kS2C, "\x81\x02ok", 4000},
  };
  ExpectForAnySplit(script, {Expect("GET", "/chat", 101, 1000, 2000, 0, 0)}, 5000);
  const RunResult r = RunScript(script, {}, {}, 5000);
  EXPECT_EQ(r.stats.unanswered_requests, 0u);
  EXPECT_EQ(r.stats.http1_truncated_messages, 0u);
}

TEST(Http1ExchangeTest, ConnectTunnelsOnlyAfterA2xx) {
  const Script script = {
      {kC2S, "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n", 1000},
      {kS2C, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\nauth", 2000},
      {kC2S,
       "CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n"
       "Proxy-Authorization: Basic eDp5\r\n\r\n",
       3000},
      {kS2C, "HTTP/1.1 200 Connection Established\r\n\r\n", 4000},
      {kC2S, "\x16\x03\x01 binary tunnel bytes", 5000},
      {kS2C, "\x16\x03\x03 more binary", 6000},
  };
  ExpectForAnySplit(script,
                    {
                        Expect("CONNECT", "/", 407, 1000, 2000, 0, 4),
                        Expect("CONNECT", "/", 200, 3000, 4000, 0, 0),
                    },
                    7000);
}

TEST(Http1ExchangeTest, NonStandardMethodsBecomeOther) {
  const Script script = {
      {kC2S, "PROPFIND /dav HTTP/1.1\r\nHost: x\r\n\r\n", 1000},
      {kS2C, "HTTP/1.1 207 Multi-Status\r\nContent-Length: 0\r\n\r\n", 2000},
      {kC2S, "get /lower HTTP/1.1\r\nHost: x\r\n\r\n", 3000},  // methods are case-sensitive
      {kS2C, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n", 4000},
      {kC2S, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 5000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 6000},
  };
  ExpectForAnySplit(script, {
                                Expect("_OTHER", "/dav", 207, 1000, 2000, 0, 0),
                                Expect("_OTHER", "/lower", 405, 3000, 4000, 0, 0),
                                Expect("OPTIONS", "*", 200, 5000, 6000, 0, 0),
                            });
}

TEST(Http1ExchangeTest, ResponseToAnUnseenRequestIsAnOrphan) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1000);
  conn.Send(kC2S, "GET /a HTTP/1.1\r\n\r\n", 2000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 3000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 2000, 3000, 0, 2)}));
  EXPECT_EQ(analyzer.stats().orphan_responses, 1u);
  EXPECT_EQ(analyzer.stats().exchanges, 1u);
}

TEST(Http1ExchangeTest, RequestsWithoutResponseAreUnansweredAtClose) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n", 1000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
  conn.Close(3000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/a", 200, 1000, 2000, 0, 0)}));
  EXPECT_EQ(analyzer.stats().unanswered_requests, 2u);
}

TEST(Http1ExchangeTest, PipelineDepthIsBounded) {
  AnalyzerConfig config;
  config.max_pipelined_requests = 2;
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", 1000);
  // The oldest request was dropped, so the responses pair one off; the last is an orphan.
  conn.Send(kS2C,
            "HTTP/1.1 201 A\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 B\r\nContent-Length: 0\r\n\r\n"
            "HTTP/1.1 203 C\r\nContent-Length: 0\r\n\r\n",
            2000);
  EXPECT_EQ(sink.exchanges, (std::vector<HttpExchange>{
                                Expect("GET", "/{id}", 201, 1000, 2000, 0, 0),
                                Expect("GET", "/{id}", 202, 1000, 2000, 0, 0),
                            }));
  EXPECT_EQ(analyzer.stats().unanswered_requests, 1u);
  EXPECT_EQ(analyzer.stats().orphan_responses, 1u);
}

// Segments of `mss` bytes of which the agent captures the first `snaplen`, all at `ts`, `ts+1`...
void SendSegmented(testing::Connection& conn, Direction dir, std::string_view payload, size_t mss,
                   uint32_t snaplen, uint64_t ts) {
  for (size_t off = 0; off < payload.size(); off += mss, ++ts) {
    conn.Send(dir, payload.substr(off, mss), ts, snaplen);
  }
}

TEST(Http1ExchangeTest, SnaplenTruncationKeepsAContentLengthBody) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";  // 41 bytes
  SendSegmented(conn, kS2C, head + Repeat('x', 3000), 1448, 1024, 2000);       // 1448, 1448, 145
  conn.Send(kC2S, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 4000, 1024);
  EXPECT_EQ(sink.exchanges, (std::vector<HttpExchange>{
                                Expect("GET", "/big", 200, 1000, 2002, 0, 3000),
                                Expect("GET", "/next", 200, 3000, 4000, 0, 2),
                            }));
  const AnalyzerStats& s = analyzer.stats();
  EXPECT_EQ(s.uncaptured_bytes, 2u * (1448 - 1024));
  EXPECT_EQ(s.parser_resyncs, 0u);
  EXPECT_EQ(s.reassembly_gap_bytes, 0u);
}

TEST(Http1ExchangeTest, ResponseEndsInTheSegmentHoldingItsLastByteEvenWhenUncaptured) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /big HTTP/1.1\r\n\r\n", 1000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + Repeat('x', 100), 2000, 50);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/big", 200, 1000, 2000, 0, 100)}));
}

// A chunked response whose second chunk-size line lies beyond snaplen.
std::string ChunkedTwoKb() {
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"  // 47 bytes
         "3e8\r\n" +
         Repeat('a', 1000) + "\r\n" + "3e8\r\n" + Repeat('b', 1000) + "\r\n" +
         "0\r\n\r\n";  // 2066 bytes: segments of 1448 and 618
}

TEST(Http1ExchangeTest, SnaplenTruncatedChunkedBodyResyncsAtTheNextResponse) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /chunky HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
  SendSegmented(conn, kS2C, ChunkedTwoKb(), 1448, 1024, 2000);
  EXPECT_TRUE(sink.exchanges.empty());
  conn.Send(kC2S, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 4000, 1024);
  // The lost response is reported with its status, ending at the last segment before the resync.
  EXPECT_EQ(sink.exchanges, (std::vector<HttpExchange>{
                                Expect("GET", "/chunky", 200, 1000, 2001, 0, std::nullopt),
                                Expect("GET", "/next", 200, 3000, 4000, 0, 2),
                            }));
  const AnalyzerStats& s = analyzer.stats();
  EXPECT_EQ(s.uncaptured_bytes, 1448u - 1024u);
  EXPECT_EQ(s.parser_resyncs, 1u);
  EXPECT_EQ(s.parser_discarded_bytes, 618u);
  EXPECT_EQ(s.http1_parse_errors, 0u);
  EXPECT_EQ(s.unanswered_requests, 0u);
}

TEST(Http1ExchangeTest, LostChunkedBodyIsReportedAtClose) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /chunky HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
  SendSegmented(conn, kS2C, ChunkedTwoKb(), 1448, 1024, 2000);
  conn.Close(5000);
  EXPECT_EQ(
      sink.exchanges,
      (std::vector<HttpExchange>{Expect("GET", "/chunky", 200, 1000, 2001, 0, std::nullopt)}));
}

TEST(Http1ExchangeTest, ResponseResyncKeepsOnlyTheNewestPendingRequest) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /1 HTTP/1.1\r\n\r\n", 1000);
  // The response head is cut by snaplen: framing lost before the status was known.
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 2000, 10);
  conn.Send(kC2S, "GET /2 HTTP/1.1\r\n\r\n", 3000);
  conn.Send(kS2C, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 4000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/{id}", 404, 3000, 4000, 0, 0)}));
  const AnalyzerStats& s = analyzer.stats();
  EXPECT_EQ(s.unanswered_requests, 1u);
  EXPECT_EQ(s.parser_resyncs, 1u);
  EXPECT_EQ(s.parser_discarded_bytes, 10u);  // the captured part of the broken head
}

TEST(Http1ExchangeTest, LostRequestHeadMakesItsResponseAnOrphanAndResyncs) {
  AnalyzerConfig config;
  config.reorder_timeout_ns = 100;
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  const std::string lost = "GET /lost HTTP/1.1\r\nHost: x\r\nCookie: abc\r\n\r\n";
  conn.Send(kC2S, lost.substr(0, 20), 1000);
  conn.Skip(kC2S, 10);  // a segment lost before the capture point
  conn.Send(kC2S, lost.substr(30), 1001);
  analyzer.AdvanceTime(1200);  // the hole times out
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
  conn.Send(kC2S, "GET /found HTTP/1.1\r\n\r\n", 3000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/found", 200, 3000, 4000, 0, 0)}));
  const AnalyzerStats& s = analyzer.stats();
  EXPECT_EQ(s.reassembly_gap_bytes, 10u);
  EXPECT_EQ(s.orphan_responses, 1u);
  EXPECT_EQ(s.parser_resyncs, 1u);
  EXPECT_EQ(s.parser_discarded_bytes, lost.size() - 10);
}

TEST(Http1ExchangeTest, GapInsideAContentLengthBodyKeepsFraming) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "POST /up HTTP/1.1\r\nContent-Length: 30\r\n\r\n", 1000);
  conn.Send(kC2S, Repeat('a', 10), 1001);
  conn.Skip(kC2S, 10);
  conn.Send(kC2S, Repeat('c', 10), 1002);
  analyzer.AdvanceTime(1002 + AnalyzerConfig{}.reorder_timeout_ns);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3'000'000'000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("POST", "/up", 200, 1000, 3'000'000'000, 30, 0)}));
  EXPECT_EQ(analyzer.stats().reassembly_gap_bytes, 10u);
  EXPECT_EQ(analyzer.stats().parser_resyncs, 0u);
}

TEST(Http1ExchangeTest, LostChunkedRequestBodyStillPairsWithItsResponse) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  const std::string upload = "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
                             std::string("100\r\n") + Repeat('u', 256) + "\r\n" + "100\r\n" +
                             Repeat('v', 256) + "\r\n0\r\n\r\n";
  // The second chunk-size line lies beyond the 100 captured bytes.
  conn.Send(kC2S, upload, 1000, 100);
  conn.Send(kS2C, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 2000);
  conn.Send(kC2S, "GET /after HTTP/1.1\r\n\r\n", 3000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 4000);
  EXPECT_EQ(sink.exchanges, (std::vector<HttpExchange>{
                                Expect("POST", "/upload", 201, 1000, 2000, std::nullopt, 0),
                                Expect("GET", "/after", 200, 3000, 4000, 0, 0),
                            }));
  EXPECT_EQ(analyzer.stats().parser_resyncs, 1u);
  EXPECT_EQ(analyzer.stats().uncaptured_bytes, upload.size() - 100);
}

TEST(Http1ExchangeTest, GarbageBetweenMessagesIsSkippedUntilTheNextMessage) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /1 HTTP/1.1\r\n\r\n", 1000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 2000);
  const std::string tls_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  conn.Send(kC2S, tls_hello, 3000);
  conn.Send(kC2S, "GET /2 HTTP/1.1\r\n\r\n", 4000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 5000);
  EXPECT_EQ(sink.exchanges, (std::vector<HttpExchange>{
                                Expect("GET", "/{id}", 200, 1000, 2000, 0, 0),
                                Expect("GET", "/{id}", 200, 4000, 5000, 0, 0),
                            }));
  EXPECT_EQ(analyzer.stats().http1_parse_errors, 1u);
  EXPECT_EQ(analyzer.stats().parser_discarded_bytes, tls_hello.size());
}

TEST(Http1ExchangeTest, InvalidHeadCountsAParseErrorAndResyncs) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  const std::string bad = "POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx";
  conn.Send(kC2S, bad, 1000);
  conn.Send(kC2S, "GET /b HTTP/1.1\r\n\r\n", 2000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/b", 200, 2000, 3000, 0, 0)}));
  const AnalyzerStats& s = analyzer.stats();
  EXPECT_EQ(s.http1_parse_errors, 1u);
  EXPECT_EQ(s.parser_resyncs, 1u);
  EXPECT_EQ(s.parser_discarded_bytes, bad.size());
}

TEST(Http1ExchangeTest, OversizedHeadIsInvalid) {
  AnalyzerConfig config;
  config.max_header_bytes = 64;
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  const std::string big = "GET /a HTTP/1.1\r\nCookie: " + Repeat('c', 60) + "\r\n\r\n";
  conn.SendSplit(kC2S, big, {30, 60}, 1000);  // crosses the limit in the middle of the head
  conn.Send(kC2S, "GET /b HTTP/1.1\r\n\r\n", 2000);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3000);
  EXPECT_EQ(sink.exchanges,
            (std::vector<HttpExchange>{Expect("GET", "/b", 200, 2000, 3000, 0, 0)}));
  EXPECT_EQ(analyzer.stats().http1_parse_errors, 1u);
  EXPECT_EQ(analyzer.stats().parser_discarded_bytes, big.size());
}

TEST(Http1ExchangeTest, TruncatedStreamsNeverCrashAndAreCounted) {
  const std::string request = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabcdefg";
  const size_t request_head = request.size() - 5;
  const size_t response_head = response.size() - 7;
  for (size_t n = 0; n <= request.size(); ++n) {
    Recorder sink;
    Analyzer analyzer({}, sink);
    testing::Connection conn(analyzer);
    conn.Open(1);
    if (n > 0) conn.Send(kC2S, std::string_view(request).substr(0, n), 1000);
    conn.Close(2000);
    const AnalyzerStats& s = analyzer.stats();
    EXPECT_TRUE(sink.exchanges.empty());
    // "POST " and shorter prefixes cannot be told from another protocol (protocols/detect.h):
    // such a connection is unknown, not a truncated HTTP message.
    const bool recognisable = n > std::string_view("POST ").size();
    EXPECT_EQ(s.detected_http1, recognisable ? 1u : 0u) << n;
    EXPECT_EQ(s.detected_unknown, n > 0 && !recognisable ? 1u : 0u) << n;
    EXPECT_EQ(s.http1_truncated_messages, (recognisable && n < request.size()) ? 1u : 0u) << n;
    EXPECT_EQ(s.unanswered_requests, n >= request_head ? 1u : 0u) << n;
  }
  for (size_t n = 0; n <= response.size(); ++n) {
    Recorder sink;
    Analyzer analyzer({}, sink);
    testing::Connection conn(analyzer);
    conn.Open(1);
    conn.Send(kC2S, request, 1000);
    if (n > 0) conn.Send(kS2C, std::string_view(response).substr(0, n), 2000);
    conn.Close(3000);
    const AnalyzerStats& s = analyzer.stats();
    std::vector<HttpExchange> expected;
    if (n >= response_head) {
      const std::optional<uint64_t> body =
          n == response.size() ? std::optional<uint64_t>(7) : std::nullopt;
      expected.push_back(Expect("POST", "/p", 200, 1000, 2000, 5, body));
    }
    EXPECT_EQ(sink.exchanges, expected) << n;
    EXPECT_EQ(s.http1_truncated_messages, (n > 0 && n < response.size()) ? 1u : 0u) << n;
    EXPECT_EQ(s.unanswered_requests, n < response_head ? 1u : 0u) << n;
  }
}

TEST(Http1ExchangeTest, GarbageNeverCrashesAndIsCounted) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<size_t> len(1, 3000);
    std::string garbage(len(rng), '\0');
    for (char& c : garbage) c = static_cast<char>(byte(rng));
    garbage[0] = 'x';  // not CR or LF, which are skipped before a head rather than rejected

    Recorder sink;
    Analyzer analyzer({}, sink);
    testing::Connection conn(analyzer);
    conn.Open(1);
    // An HTTP/1 connection (garbage as its first bytes would make it an unknown protocol,
    // protocols/detect.h), then garbage in one direction.
    conn.Send(kC2S, "GET /first HTTP/1.1\r\n\r\n", 500);
    conn.Send(kS2C, "HTTP/1.1 204 No Content\r\n\r\n", 600);
    const Direction dir = seed % 2 ? kC2S : kS2C;
    conn.SendSplit(dir, garbage, testing::RandomCuts(rng, garbage.size(), 20), 1000);
    // Valid traffic afterwards is picked up again at the next message start.
    conn.Send(kC2S, "GET /ok HTTP/1.1\r\n\r\n", 2000);
    conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3000);
    conn.Close(4000);
    const AnalyzerStats& s = analyzer.stats();
    ASSERT_EQ(s.http1_parse_errors, 1u) << "seed " << seed;
    ASSERT_EQ(s.parser_resyncs, 1u) << "seed " << seed;
    ASSERT_EQ(s.exchanges, sink.exchanges.size());
    if (dir == kC2S) {
      ASSERT_EQ(sink.exchanges,
                (std::vector<HttpExchange>{Expect("GET", "/first", 204, 500, 600, 0, 0),
                                           Expect("GET", "/ok", 200, 2000, 3000, 0, 0)}))
          << "seed " << seed;
    }
  }
}

TEST(Http1ExchangeTest, RandomMixturesOfValidAndBrokenTrafficNeverCrash) {
  const std::vector<std::string> pieces = {
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n\r\n",
      "HTTP/1.0 200 OK\r\n\r\nuntil close",
      "\r\n",
      "garbage\x00\xff",
      "Content-Length: 99999999\r\n",
      "fffffff\r\n",
  };
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
    std::uniform_int_distribution<int> coin(0, 9);
    AnalyzerConfig config;
    config.max_reorder_segments = 4;
    config.max_pipelined_requests = 3;
    config.reorder_timeout_ns = 50;
    Recorder sink;
    Analyzer analyzer(config, sink);
    testing::Connection conn(analyzer);
    if (coin(rng) < 5) conn.Open(1, coin(rng) < 3);
    uint64_t ts = 10;
    for (int i = 0; i < 40; ++i, ts += 7) {
      const Direction dir = coin(rng) < 5 ? kC2S : kS2C;
      const std::string& piece = pieces[pick(rng)];
      const int action = coin(rng);
      if (action == 0) {
        conn.Skip(dir, piece.size());  // lost
      } else if (action == 1) {
        conn.SegmentAt(dir, conn.next_seq(dir) - 5, piece, ts);  // overlapping retransmission
      } else if (action == 2) {
        conn.SegmentAt(dir, conn.next_seq(dir) + 20, piece, ts);  // from the future
      } else {
        conn.Send(dir, piece, ts, action == 3 ? 7 : UINT32_MAX);
      }
      if (coin(rng) == 0) analyzer.AdvanceTime(ts);
    }
    if (coin(rng) < 5) conn.Close(ts);
    analyzer.AdvanceTime(ts + AnalyzerConfig{}.idle_timeout_ns);
    const AnalyzerStats& s = analyzer.stats();
    ASSERT_EQ(s.exchanges, sink.exchanges.size()) << "seed " << seed;
    ASSERT_EQ(s.connections_tracked, 0u) << "seed " << seed;
  }
}

}  // namespace
}  // namespace ta::analyzer
