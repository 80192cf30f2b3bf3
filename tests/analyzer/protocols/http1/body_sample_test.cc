// Body samples, object ids and media fields of HTTP/1.x exchanges (HttpExchange::request_body,
// response_body, object_id) through the whole Analyzer: literal byte strings in, exact samples
// out, the same for every seeded random split; gaps (snaplen, lost segments) end a sample.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/protocols/http1/body_sampler.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {

void PrintTo(const BodySample& s, std::ostream* os) {
  *os << "{bytes=\"" << s.bytes << "\" (" << s.bytes.size() << ") gap=" << s.truncated_by_gap
      << " type=\"" << s.content_type << "\" encoding=\"" << s.content_encoding << "\"}";
}

namespace {

using protocols::http1::NormalizeContentEncoding;
using protocols::http1::NormalizeContentType;
using testing::kC2S;
using testing::kS2C;
using testing::Recorder;

struct Step {
  Direction dir;
  std::string bytes;
  uint64_t ts;
};
using Script = std::vector<Step>;

// What a test checks of one exchange's sample.
struct Sample {
  std::string bytes;
  bool truncated_by_gap = false;
  std::string content_type;
  std::string content_encoding;
};

bool operator==(const Sample& a, const BodySample& b) {
  return a.bytes == b.bytes && a.truncated_by_gap == b.truncated_by_gap &&
         a.content_type == b.content_type && a.content_encoding == b.content_encoding;
}

// Runs `script` with each step cut at the given points; closes the connection at `close_ts`.
std::vector<HttpExchange> Run(const Script& script, const AnalyzerConfig& config, std::mt19937* rng,
                              std::optional<uint64_t> close_ts) {
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  for (const Step& step : script) {
    const std::vector<size_t> cuts =
        rng != nullptr ? testing::RandomCuts(*rng, step.bytes.size(), 12) : std::vector<size_t>{};
    conn.SendSplit(step.dir, step.bytes, cuts, step.ts);
  }
  if (close_ts) conn.Close(*close_ts);
  EXPECT_EQ(analyzer.stats().parser_resyncs, 0u);
  return sink.exchanges;
}

// The exchanges of `script` carry exactly these request and response samples, whole and for 100
// seeded random splits.
void ExpectSamples(const Script& script, const std::vector<std::pair<Sample, Sample>>& expected,
                   const AnalyzerConfig& config = {},
                   std::optional<uint64_t> close_ts = std::nullopt) {
  for (uint32_t seed = 0; seed <= 100; ++seed) {
    std::mt19937 rng(seed);
    const std::vector<HttpExchange> got = Run(script, config, seed == 0 ? nullptr : &rng, close_ts);
    ASSERT_EQ(got.size(), expected.size()) << "seed " << seed;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(expected[i].first, got[i].request_body) << "exchange " << i << " seed " << seed;
      EXPECT_EQ(expected[i].second, got[i].response_body) << "exchange " << i << " seed " << seed;
    }
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(BodySampleTest, ContentLengthBodiesAreSampledWithTheirMediaFields) {
  const Script script = {
      {kC2S,
       "POST /users HTTP/1.1\r\nHost: svc\r\nContent-Type: Application/JSON; charset=UTF-8\r\n"
       "Content-Length: 11\r\n\r\n{\"a\":12345}",
       1000},
      {kS2C,
       "HTTP/1.1 201 Created\r\nContent-Encoding:  GZIP \r\ncontent-type:text/plain\r\n"
       "Content-Length: 5\r\n\r\nhello",
       2000},
      {kC2S, "GET /users/7 HTTP/1.1\r\nHost: svc\r\n\r\n", 3000},
      {kS2C, "HTTP/1.1 204 No Content\r\nContent-Type: text/html\r\n\r\n", 4000},
  };
  ExpectSamples(script, {{{"{\"a\":12345}", false, "application/json", ""},
                          {"hello", false, "text/plain", "gzip"}},
                         {{}, {"", false, "text/html", ""}}});
}

TEST(BodySampleTest, ChunkFramingIsRemoved) {
  const Script script = {
      {kC2S,
       "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
       "Transfer-Encoding: chunked\r\n\r\n",
       1000},
      {kS2C, "HTTP/1.1 100 Continue\r\n\r\n", 2000},
      {kC2S, "4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\n", 3000},
      {kS2C,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
       "5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 1\r\n\r\n",
       4000},
  };
  ExpectSamples(script, {{{"abcdefg", false, "", ""}, {"hello0123456789abcdef", false, "", ""}}});
}

TEST(BodySampleTest, ReadUntilCloseBody) {
  const Script script = {
      {kC2S, "GET /legacy HTTP/1.0\r\n\r\n", 1000},
      {kS2C, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\npart1", 2000},
      {kS2C, "part2", 3000},
  };
  ExpectSamples(script, {{{}, {"part1part2", false, "text/plain", ""}}}, {}, 9000);
}

TEST(BodySampleTest, SamplesAreBoundedByTheConfig) {
  AnalyzerConfig config;
  config.body_sample_bytes = 8;
  const Script script = {
      {kC2S, "PUT /f HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789", 1000},
      {kS2C,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n0\r\n\r\n",
       2000},
      {kC2S, "PUT /g HTTP/1.1\r\nContent-Length: 8\r\n\r\nABCDEFGH", 3000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nxyz", 4000},
  };
  ExpectSamples(script,
                {{{"01234567", false, "", ""}, {"abcdefgh", false, "", ""}},
                 {{"ABCDEFGH", false, "", ""}, {"xyz", false, "", ""}}},
                config);
}

TEST(BodySampleTest, ZeroSampleBytesCopiesNothing) {
  AnalyzerConfig config;
  config.body_sample_bytes = 0;
  const Script script = {
      {kC2S, "POST /u HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
       1000},
      {kS2C, "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nok", 2000},
  };
  ExpectSamples(script, {{{}, {}}}, config);
}

TEST(BodySampleTest, MediaFieldsAreNormalisedAndBounded) {
  EXPECT_EQ(NormalizeContentType("text/html"), "text/html");
  EXPECT_EQ(NormalizeContentType(" Text/HTML ; charset=utf-8"), "text/html");
  EXPECT_EQ(NormalizeContentType("multipart/form-data;boundary=x"), "multipart/form-data");
  EXPECT_EQ(NormalizeContentType("\tapplication/octet-stream\t"), "application/octet-stream");
  EXPECT_EQ(NormalizeContentType(";charset=utf-8"), "");
  EXPECT_EQ(NormalizeContentType(""), "");
  EXPECT_EQ(NormalizeContentType("application/" + std::string(100, 'X')),
            "application/" + std::string(64 - 12, 'x'));
  EXPECT_EQ(NormalizeContentEncoding(" GZip, BR "), "gzip, br");
  EXPECT_EQ(NormalizeContentEncoding(std::string(65, 'A')), std::string(64, 'a'));
}

TEST(BodySampleTest, SnaplenEndsTheSampleAtTheFirstUncapturedByte) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n", 1000);
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";  // 41 bytes
  std::string body;
  for (int i = 0; i < 300; ++i) body += "0123456789";
  const std::string response = head + body;
  for (size_t off = 0, ts = 2000; off < response.size(); off += 1448, ++ts) {
    conn.Send(kS2C, std::string_view(response).substr(off, 1448), ts, 1024);
  }
  ASSERT_EQ(sink.exchanges.size(), 1u);
  const BodySample& got = sink.exchanges[0].response_body;
  EXPECT_EQ(got.bytes, body.substr(0, 1024 - 41));
  EXPECT_TRUE(got.truncated_by_gap);
  EXPECT_EQ(sink.exchanges[0].response_body_bytes, 3000u);
}

TEST(BodySampleTest, AGapBeyondTheSampledRangeDoesNotTruncate) {
  AnalyzerConfig config;
  config.body_sample_bytes = 100;
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "GET /big HTTP/1.1\r\n\r\n", 1000);
  const std::string response =
      "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + std::string(2000, 'z');
  conn.Send(kS2C, response, 2000, 1024);
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].response_body.bytes, std::string(100, 'z'));
  EXPECT_FALSE(sink.exchanges[0].response_body.truncated_by_gap);
}

TEST(BodySampleTest, ALostSegmentEndsTheSampleButNotTheBody) {
  AnalyzerConfig config;
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S, "POST /up HTTP/1.1\r\nContent-Length: 30\r\n\r\n", 1000);
  conn.Send(kC2S, "aaaaaaaaaa", 1001);
  conn.Skip(kC2S, 10);
  conn.Send(kC2S, "cccccccccc", 1002);
  analyzer.AdvanceTime(1002 + config.reorder_timeout_ns);
  conn.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 3'000'000'000);
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].request_body.bytes, "aaaaaaaaaa");
  EXPECT_TRUE(sink.exchanges[0].request_body.truncated_by_gap);
  EXPECT_EQ(sink.exchanges[0].request_body_bytes, 30u);
}

TEST(BodySampleTest, ALostChunkedBodyKeepsItsPrefix) {
  Recorder sink;
  Analyzer analyzer({}, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  const std::string head = "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";  // 53
  const std::string upload = head + "100\r\n" + std::string(256, 'u') + "\r\n100\r\n" +
                             std::string(256, 'v') + "\r\n0\r\n\r\n";
  conn.Send(kC2S, upload, 1000, 100);  // the second chunk-size line is beyond the capture
  conn.Send(kS2C, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 2000);
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].request_body_bytes, std::nullopt);
  EXPECT_EQ(sink.exchanges[0].request_body.bytes, std::string(100 - head.size() - 5, 'u'));
  EXPECT_TRUE(sink.exchanges[0].request_body.truncated_by_gap);
}

TEST(BodySampleTest, PipelinedMessagesKeepTheirOwnSamples) {
  const Script script = {
      {kC2S,
       "PUT /a/1 HTTP/1.1\r\nContent-Length: 3\r\n\r\none"
       "PUT /a/2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
       "GET /a/3 HTTP/1.1\r\n\r\n",
       1000},
      {kS2C,
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
       "HTTP/1.1 200 OK\r\nContent-Type: x/y\r\nContent-Length: 1\r\n\r\nB"
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC",
       2000},
  };
  ExpectSamples(script, {{{"one", false, "", ""}, {"A", false, "", ""}},
                         {{"two", false, "", ""}, {"B", false, "x/y", ""}},
                         {{}, {"C", false, "", ""}}});
}

// Object ids through the HTTP/1 path: set wherever the route is.
TEST(BodySampleTest, ExchangesCarryTheirObjectIds) {
  AnalyzerConfig config;
  config.route_patterns = {{0, "/t/{tenant}/doc/{doc}"}};
  Recorder sink;
  Analyzer analyzer(config, sink);
  testing::Connection conn(analyzer);
  conn.Open(1);
  conn.Send(kC2S,
            "GET /users/12/orders/34?x=1 HTTP/1.1\r\n\r\n"
            "GET /t/acme/doc/readme HTTP/1.1\r\n\r\n"
            "GET /users/me HTTP/1.1\r\n\r\n",
            1000);
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  conn.Send(kS2C, ok + ok + ok, 2000);
  ASSERT_EQ(sink.exchanges.size(), 3u);
  EXPECT_EQ(sink.exchanges[0].route, "/users/{id}/orders/{id}");
  EXPECT_EQ(sink.exchanges[0].object_id, "12/34");
  EXPECT_EQ(sink.exchanges[1].route, "/t/{tenant}/doc/{doc}");
  EXPECT_EQ(sink.exchanges[1].object_id, "acme/readme");
  EXPECT_EQ(sink.exchanges[2].route, "/users/me");
  EXPECT_EQ(sink.exchanges[2].object_id, "");
}

}  // namespace
}  // namespace ta::analyzer
