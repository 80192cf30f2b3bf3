// Http2Connection on real HTTP/2 byte streams made by libnghttp2's own client and server
// sessions (and hand-built frames where a case needs exact control): exact exchanges, gRPC calls
// and counters; every script also delivered cut at seeded random points and byte by byte.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "analyzer/protocols/http2/http2_connection.h"
#include "tests/analyzer/protocols/http2/http2_test_util.h"

namespace ta::analyzer {
namespace {

using protocols::http2::StartMode;
using testing::Expect2;
using testing::ExpectCall;
using testing::Frame;
using testing::GrpcMessage;
using testing::H2Harness;
using testing::HeaderList;
using testing::kC2S;
using testing::kS2C;
using testing::Nghttp2Peers;

struct Step {
  Direction dir;
  std::string bytes;
  uint64_t ts;
};
using Script = std::vector<Step>;

struct RunResult {
  std::vector<HttpExchange> exchanges;
  std::vector<GrpcCall> calls;
  AnalyzerStats stats;
};

using Cutter = std::function<std::vector<size_t>(size_t size)>;

RunResult RunScript(const Script& script, StartMode mode = StartMode::kPriorKnowledge,
              const Cutter& cutter = {}, bool close = true) {
  H2Harness h(mode);
  for (const Step& step : script) {
    const std::vector<size_t> cuts = cutter ? cutter(step.bytes.size()) : std::vector<size_t>{};
    size_t start = 0;
    for (size_t cut : cuts) {
      h.Data(step.dir, std::string_view(step.bytes).substr(start, cut - start), step.ts);
      start = cut;
    }
    h.Data(step.dir, std::string_view(step.bytes).substr(start), step.ts);
  }
  if (close) h.conn.Close();
  return {h.sink.exchanges, h.sink.calls, h.stats};
}

void ExpectForAnySplit(const Script& script, const std::vector<HttpExchange>& exchanges,
                       const std::vector<GrpcCall>& calls = {},
                       StartMode mode = StartMode::kPriorKnowledge) {
  const RunResult whole = RunScript(script, mode);
  ASSERT_EQ(whole.exchanges, exchanges);
  ASSERT_EQ(whole.calls, calls);
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    std::mt19937 rng(seed);
    const RunResult split =
        RunScript(script, mode, [&](size_t size) { return testing::RandomCuts(rng, size, 12); });
    ASSERT_EQ(split.exchanges, exchanges) << "seed " << seed;
    ASSERT_EQ(split.calls, calls) << "seed " << seed;
    ASSERT_EQ(split.stats.http2.parse_errors, 0u) << "seed " << seed;
    ASSERT_EQ(split.stats.parser_resyncs, 0u) << "seed " << seed;
    ASSERT_EQ(split.stats.http2.undecodable_header_blocks, 0u) << "seed " << seed;
  }
  const RunResult bytewise = RunScript(script, mode, [](size_t size) {
    std::vector<size_t> all;
    for (size_t i = 1; i < size; ++i) all.push_back(i);
    return all;
  });
  EXPECT_EQ(bytewise.exchanges, exchanges);
  EXPECT_EQ(bytewise.calls, calls);
}

HeaderList Get(const std::string& path, const std::string& authority = "api.example") {
  return {{":method", "GET"}, {":scheme", "http"}, {":authority", authority}, {":path", path}};
}

HeaderList GrpcRequest(const std::string& path) {
  return {{":method", "POST"},
          {":scheme", "http"},
          {":authority", "grpc.example"},
          {":path", path},
          {"content-type", "application/grpc"},
          {"te", "trailers"}};
}

const HeaderList kGrpcResponse = {{":status", "200"}, {"content-type", "application/grpc"}};
const HeaderList kGrpcOk = {{"grpc-status", "0"}};

TEST(Http2ConnectionTest, ConcurrentStreamsInterleaved) {
  Nghttp2Peers peers;
  const int32_t a = peers.Request(Get("/a"));
  const int32_t b = peers.Request(Get("/users/42?x=1"));
  const int32_t c = peers.Request(Get("/c"));
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  script.push_back({kS2C, peers.FlushServer(), 1500});  // SETTINGS, SETTINGS ACK
  // Three bodies in 1000-byte DATA frames: nghttp2 interleaves the streams' frames.
  peers.Respond(b, {{":status", "404"}}, std::string(3000, 'b'), {}, 1000);
  peers.Respond(a, {{":status", "200"}, {"content-type", "text/plain"}}, std::string(2500, 'a'),
                {}, 1000);
  peers.Respond(c, {{":status", "204"}}, std::nullopt);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  script.push_back({kC2S, peers.FlushClient(), 2500});  // SETTINGS ACK, WINDOW_UPDATEs maybe
  // Completion order follows nghttp2's scheduling: compare in stream order.
  RunResult r = RunScript(script);
  std::vector<HttpExchange> got = r.exchanges;
  std::sort(got.begin(), got.end(), [](const auto& x, const auto& y) { return x.route < y.route; });
  EXPECT_EQ(got, (std::vector<HttpExchange>{Expect2("GET", "/a", 200, 1000, 2000, 0, 2500),
                                            Expect2("GET", "/c", 204, 1000, 2000, 0, 0),
                                            Expect2("GET", "/users/{id}", 404, 1000, 2000, 0,
                                                    3000)}));
  EXPECT_EQ(r.stats.exchanges, 3u);
  EXPECT_EQ(r.stats.http2.connections, 1u);
  EXPECT_EQ(r.stats.http2.parse_errors, 0u);
  EXPECT_EQ(r.stats.http2.unanswered_streams, 0u);
  ExpectForAnySplit(script, r.exchanges);
  // The DATA frames really interleave: the response stream is not three blocks in a row.
  const std::string& resp = script[2].bytes;
  EXPECT_NE(resp.find(std::string(500, 'a')), std::string::npos);
  EXPECT_LT(resp.find(std::string(100, 'a')), resp.rfind(std::string(100, 'b')));
  EXPECT_GT(resp.rfind(std::string(100, 'a')), resp.find(std::string(100, 'b')));
}

TEST(Http2ConnectionTest, PostWithBodyAndSecondExchange) {
  Nghttp2Peers peers;
  HeaderList post = {{":method", "POST"}, {":scheme", "http"}, {":authority", "svc"},
                     {":path", "/users"}, {"content-type", "application/json"}};
  const int32_t id = peers.Request(post, std::string("{\"a\":12345}"));
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  peers.Respond(id, {{":status", "201"}}, std::string("created"));
  script.push_back({kS2C, peers.FlushServer(), 2000});
  const int32_t id2 = peers.Request({{":method", "DELETE"}, {":scheme", "http"},
                                     {":authority", "svc"}, {":path", "/users/7"}});
  script.push_back({kC2S, peers.FlushClient(), 3000});
  peers.Respond(id2, {{":status", "500"}}, std::string("oops"));
  script.push_back({kS2C, peers.FlushServer(), 4000});
  ExpectForAnySplit(script, {Expect2("POST", "/users", 201, 1000, 2000, 11, 7),
                             Expect2("DELETE", "/users/{id}", 500, 3000, 4000, 0, 4)});
}

TEST(Http2ConnectionTest, GrpcUnaryOk) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(GrpcRequest("/helloworld.Greeter/SayHello"), GrpcMessage("hi"));
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  peers.Respond(id, kGrpcResponse, GrpcMessage("hello"), kGrpcOk);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  ExpectForAnySplit(
      script, {Expect2("POST", "/helloworld.Greeter/SayHello", 200, 1000, 2000, 7, 10)},
      {ExpectCall("helloworld.Greeter", "SayHello", 0, 1000, 2000, 1, 1)});
  EXPECT_EQ(RunScript(script).stats.http2.grpc_calls, 1u);
}

TEST(Http2ConnectionTest, GrpcTrailersOnlyErrorAndOtherPath) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(GrpcRequest("/pkg.Users/Get"), GrpcMessage("id=1"));
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  HeaderList trailers_only = kGrpcResponse;
  trailers_only.push_back({"grpc-status", "5"});
  trailers_only.push_back({"grpc-message", "not found"});
  peers.Respond(id, trailers_only, std::nullopt);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  // Not a "/service/method" path: both names become _OTHER.
  const int32_t id2 = peers.Request(GrpcRequest("/not/a/grpc/path"), GrpcMessage(""));
  script.push_back({kC2S, peers.FlushClient(), 3000});
  peers.Respond(id2, kGrpcResponse, std::string(), {{"grpc-status", "12"}});
  script.push_back({kS2C, peers.FlushServer(), 4000});
  ExpectForAnySplit(script,
                    {Expect2("POST", "/pkg.Users/Get", 200, 1000, 2000, 9, 0),
                     Expect2("POST", "/not/a/grpc/path", 200, 3000, 4000, 5, 0)},
                    {ExpectCall("pkg.Users", "Get", 5, 1000, 2000, 1, 0),
                     ExpectCall("_OTHER", "_OTHER", 12, 3000, 4000, 1, 0)});
}

TEST(Http2ConnectionTest, GrpcServerStreamingMessagesSplitAcrossFrames) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(GrpcRequest("/feed.Feed/Watch"), GrpcMessage("topic"));
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  const std::string body = GrpcMessage("first") + GrpcMessage("") + GrpcMessage(std::string(40, 'x')) +
                           GrpcMessage("last one");
  // 7-byte DATA frames: prefixes and payloads split across frames, several per frame never.
  peers.Respond(id, kGrpcResponse, body, kGrpcOk, 7);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  ExpectForAnySplit(script, {Expect2("POST", "/feed.Feed/Watch", 200, 1000, 2000, 10, body.size())},
                    {ExpectCall("feed.Feed", "Watch", 0, 1000, 2000, 1, 4)});
}

TEST(Http2ConnectionTest, GrpcClientStreamingMessagesSplitAcrossFrames) {
  Nghttp2Peers peers;
  std::string body;
  for (int i = 0; i < 5; ++i) body += GrpcMessage("chunk-" + std::to_string(i));
  const int32_t id = peers.Request(GrpcRequest("/up.Upload/Send"), body, 3);
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  peers.Respond(id, kGrpcResponse, GrpcMessage("done"), kGrpcOk);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  ExpectForAnySplit(script, {Expect2("POST", "/up.Upload/Send", 200, 1000, 2000, body.size(), 9)},
                    {ExpectCall("up.Upload", "Send", 0, 1000, 2000, 5, 1)});
}

TEST(Http2ConnectionTest, RstStreamWithAndWithoutResponse) {
  testing::HpackEncoder client;
  testing::HpackEncoder server;
  // Encoded one statement at a time: the HPACK state depends on the order.
  std::string c2s = std::string(protocols::http2::kClientPreface) + testing::SettingsFrame();
  c2s += Frame(0x1, 0x5, 1, client.Encode(Get("/a")));
  c2s += Frame(0x1, 0x5, 3, client.Encode(Get("/b")));
  const std::string rst("\0\0\0\x08", 4);  // CANCEL
  const std::string s2c1 = testing::SettingsFrame() +
                           Frame(0x1, 0x4, 1, server.Encode({{":status", "200"}})) +
                           Frame(0x0, 0x0, 1, "partial");
  const std::string s2c2 = Frame(0x3, 0, 1, rst) + Frame(0x3, 0, 3, rst);
  const Script script = {{kC2S, c2s, 1000}, {kS2C, s2c1, 2000}, {kS2C, s2c2, 3000}};
  ExpectForAnySplit(script, {Expect2("GET", "/a", 200, 1000, 3000, 0, std::nullopt)});
  const RunResult r = RunScript(script);
  EXPECT_EQ(r.stats.http2.streams_reset, 2u);
  EXPECT_EQ(r.stats.http2.unanswered_streams, 1u);
  EXPECT_EQ(r.stats.exchanges, 1u);
}

TEST(Http2ConnectionTest, PingSettingsWindowUpdateGoAway) {
  Nghttp2Peers peers;
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 8192},
                                       {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 50}};
  nghttp2_submit_settings(peers.server(), NGHTTP2_FLAG_NONE, settings, 2);
  const int32_t id = peers.Request(Get("/ping"));
  nghttp2_submit_ping(peers.client(), NGHTTP2_FLAG_NONE, nullptr);
  nghttp2_submit_window_update(peers.client(), NGHTTP2_FLAG_NONE, 0, 100000);
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  script.push_back({kS2C, peers.FlushServer(), 1500});  // SETTINGS x2, ACKs, PING ACK
  script.push_back({kC2S, peers.FlushClient(), 1600});  // SETTINGS ACK
  peers.Respond(id, {{":status", "200"}}, std::string("pong"));
  nghttp2_submit_goaway(peers.server(), NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, nullptr, 0);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  ExpectForAnySplit(script, {Expect2("GET", "/ping", 200, 1000, 2000, 0, 4)});
  const RunResult r = RunScript(script);
  EXPECT_EQ(r.stats.http2.goaways, 1u);
  EXPECT_EQ(r.stats.http2.parse_errors, 0u);
  EXPECT_EQ(r.stats.http2.streams_reset, 0u);
}

TEST(Http2ConnectionTest, PaddedFramesCountOnlyData) {
  Nghttp2Peers peers({.padding = 37});
  const int32_t id = peers.Request({{":method", "PUT"}, {":scheme", "http"},
                                    {":authority", "svc"}, {":path", "/blob"}},
                                   std::string(100, 'p'), 30);
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  peers.Respond(id, {{":status", "200"}}, std::string(50, 'r'), {}, 20);
  script.push_back({kS2C, peers.FlushServer(), 2000});
  // The padding is really there: far more bytes than data.
  ASSERT_GT(script[1].bytes.size(), 50u + 3 * 37);
  ExpectForAnySplit(script, {Expect2("PUT", "/blob", 200, 1000, 2000, 100, 50)});
}

TEST(Http2ConnectionTest, HeaderBlockWithContinuationFrames) {
  Nghttp2Peers peers;
  std::mt19937 rng(7);
  std::string big;
  for (int i = 0; i < 40000; ++i) big.push_back(static_cast<char>('!' + rng() % 90));
  HeaderList h = Get("/big");
  h.push_back({"x-big", big});
  const int32_t id = peers.Request(h);
  Script script = {{kC2S, peers.FlushClient(), 1000}};
  peers.Respond(id, {{":status", "200"}, {"x-big", big}}, std::string("ok"));
  script.push_back({kS2C, peers.FlushServer(), 2000});
  // CONTINUATION frames (type 9) follow a HEADERS in both directions.
  ASSERT_NE(script[0].bytes.find(std::string("\x09\x04\x00\x00\x00\x01", 6)), std::string::npos);
  ExpectForAnySplit(script, {Expect2("GET", "/big", 200, 1000, 2000, 0, 2)});

  // Over max_header_bytes: skipped, counted, never reported.
  H2Harness small(StartMode::kPriorKnowledge, [] {
    AnalyzerConfig c;
    c.max_header_bytes = 1000;
    return c;
  }());
  small.Data(kC2S, script[0].bytes, 1000);
  small.Data(kS2C, script[1].bytes, 2000);
  small.conn.Close();
  EXPECT_TRUE(small.sink.exchanges.empty());
  EXPECT_EQ(small.stats.http2.undecodable_header_blocks, 2u);
  EXPECT_EQ(small.stats.http2.parse_errors, 0u);
  EXPECT_EQ(small.stats.http2.unanswered_streams, 0u);
}

TEST(Http2ConnectionTest, H2cUpgrade) {
  Nghttp2Peers peers;
  uint8_t payload[64];
  const ssize_t n = nghttp2_pack_settings_payload(payload, sizeof payload, nullptr, 0);
  ASSERT_GE(n, 0);
  ASSERT_EQ(nghttp2_session_upgrade2(peers.client(), payload, static_cast<size_t>(n), 0, nullptr), 0);
  ASSERT_EQ(nghttp2_session_upgrade2(peers.server(), payload, static_cast<size_t>(n), 0, nullptr), 0);
  Script script = {{kC2S, peers.FlushClient(), 1000}};  // preface + SETTINGS
  ASSERT_TRUE(script[0].bytes.starts_with(protocols::http2::kClientPreface));
  peers.Respond(1, {{":status", "200"}}, std::string("upgraded body"));
  script.push_back({kS2C, peers.FlushServer(), 2000});
  const int32_t id = peers.Request(Get("/next"));
  script.push_back({kC2S, peers.FlushClient(), 3000});
  peers.Respond(id, {{":status", "200"}}, std::string("x"));
  script.push_back({kS2C, peers.FlushServer(), 4000});

  for (uint32_t seed = 0; seed <= 50; ++seed) {
    std::mt19937 rng(seed);
    H2Harness h(StartMode::kUpgraded);
    h.conn.AdoptUpgradeRequest("GET", "/upgrade?x=1", 500, 0);
    for (const Step& step : script) {
      size_t start = 0;
      for (size_t cut : seed == 0 ? std::vector<size_t>{} : testing::RandomCuts(rng, step.bytes.size(), 8)) {
        h.Data(step.dir, std::string_view(step.bytes).substr(start, cut - start), step.ts);
        start = cut;
      }
      h.Data(step.dir, std::string_view(step.bytes).substr(start), step.ts);
    }
    h.conn.Close();
    ASSERT_EQ(h.sink.exchanges, (std::vector<HttpExchange>{
                                    Expect2("GET", "/upgrade", 200, 500, 2000, 0, 13),
                                    Expect2("GET", "/next", 200, 3000, 4000, 0, 1)}))
        << "seed " << seed;
    ASSERT_EQ(h.stats.http2.parse_errors, 0u);
  }
}

// Frame offsets in a stream of frames (after an optional preface).
std::vector<size_t> FrameStarts(const std::string& bytes, size_t from = 0) {
  std::vector<size_t> starts;
  for (size_t off = from; off + 9 <= bytes.size();) {
    starts.push_back(off);
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + off);
    off += 9 + ((size_t{p[0]} << 16) | (size_t{p[1]} << 8) | p[2]);
  }
  return starts;
}

TEST(Http2ConnectionTest, GapInsideDataKeepsBodyAndGrpcFraming) {
  Nghttp2Peers peers;
  const int32_t id = peers.Request(GrpcRequest("/feed.Feed/Watch"), GrpcMessage("t"));
  const std::string c2s = peers.FlushClient();
  const std::string msgs = GrpcMessage(std::string(1000, 'a')) + GrpcMessage(std::string(900, 'b'));
  peers.Respond(id, kGrpcResponse, msgs, kGrpcOk);
  const std::string s2c = peers.FlushServer();
  // Find the DATA frame (type 0) and cut a 600-byte hole inside the first message's body.
  size_t data = 0;
  for (size_t off : FrameStarts(s2c)) {
    if (s2c[off + 3] == 0 && data == 0) data = off;
  }
  ASSERT_NE(data, 0u);
  const size_t hole = data + 9 + 100;
  H2Harness h(StartMode::kPriorKnowledge);
  h.Data(kC2S, c2s, 1000);
  h.Data(kS2C, s2c.substr(0, hole), 2000);
  h.Gap(kS2C, 600, 2000);
  h.Data(kS2C, s2c.substr(hole + 600), 3000);
  h.conn.Close();
  EXPECT_EQ(h.sink.exchanges, (std::vector<HttpExchange>{Expect2(
                                  "POST", "/feed.Feed/Watch", 200, 1000, 3000, 6, msgs.size())}));
  EXPECT_EQ(h.sink.calls, (std::vector<GrpcCall>{
                              ExpectCall("feed.Feed", "Watch", 0, 1000, 3000, 1, 2)}));
  EXPECT_EQ(h.stats.parser_resyncs, 0u);
  EXPECT_EQ(h.stats.http2.grpc_message_counts_lost, 0u);

  // A hole over the second message's prefix: counted as lost, the count is a lower bound.
  H2Harness h2(StartMode::kPriorKnowledge);
  h2.Data(kC2S, c2s, 1000);
  const size_t prefix = data + 9 + 1005 - 10;
  h2.Data(kS2C, s2c.substr(0, prefix), 2000);
  h2.Gap(kS2C, 20, 2000);
  h2.Data(kS2C, s2c.substr(prefix + 20), 3000);
  EXPECT_EQ(h2.sink.calls, (std::vector<GrpcCall>{
                               ExpectCall("feed.Feed", "Watch", 0, 1000, 3000, 1, 1)}));
  EXPECT_EQ(h2.stats.http2.grpc_message_counts_lost, 1u);
  EXPECT_EQ(h2.sink.exchanges.size(), 1u);
}

TEST(Http2ConnectionTest, GapInHeadersLosesFramingUntilASegmentStartsWithFrames) {
  Nghttp2Peers peers;
  Script s;
  const int32_t a = peers.Request(Get("/first", "one.example"));
  s.push_back({kC2S, peers.FlushClient(), 1000});
  peers.Respond(a, {{":status", "200"}}, std::string("1"));
  s.push_back({kS2C, peers.FlushServer(), 2000});
  const int32_t b = peers.Request(Get("/second", "two.example"));
  s.push_back({kC2S, peers.FlushClient(), 3000});  // index 2: delivered with a hole
  peers.Respond(b, {{":status", "200"}}, std::string("22"));
  s.push_back({kS2C, peers.FlushServer(), 4000});
  // Only new names and values: decodes with the empty table the decoder restarted with.
  const int32_t c = peers.Request({{":method", "GET"}, {":scheme", "http"},
                                   {":authority", "three.example"}, {":path", "/third"}});
  s.push_back({kC2S, peers.FlushClient(), 5000});
  peers.Respond(c, {{":status", "200"}}, std::string("333"));
  s.push_back({kS2C, peers.FlushServer(), 6000});
  // Refers to one.example, inserted before the hole: undecodable, not reported.
  const int32_t d = peers.Request(Get("/fourth", "one.example"));
  s.push_back({kC2S, peers.FlushClient(), 7000});
  peers.Respond(d, {{":status", "200"}}, std::string("4444"));
  s.push_back({kS2C, peers.FlushServer(), 8000});

  H2Harness h(StartMode::kPriorKnowledge);
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 2) {
      // Cut inside the HEADERS frame (after a SETTINGS ACK): its header and 3 block bytes.
      size_t headers = 0;
      for (size_t off : FrameStarts(s[i].bytes)) {
        if (s[i].bytes[off + 3] == 0x1) headers = off;
      }
      const size_t cut = headers + 12;
      h.Data(kC2S, s[i].bytes.substr(0, cut), s[i].ts);
      h.Gap(kC2S, s[i].bytes.size() - cut, s[i].ts);
      continue;
    }
    h.Data(s[i].dir, s[i].bytes, s[i].ts);
  }
  h.conn.Close();
  EXPECT_EQ(h.sink.exchanges, (std::vector<HttpExchange>{
                                  Expect2("GET", "/first", 200, 1000, 2000, 0, 1),
                                  Expect2("GET", "/third", 200, 5000, 6000, 0, 3)}));
  EXPECT_EQ(h.stats.parser_resyncs, 1u);
  EXPECT_EQ(h.stats.http2.parse_errors, 0u);
  EXPECT_EQ(h.stats.http2.undecodable_header_blocks, 2u);  // the cut block, then /fourth's
  EXPECT_EQ(h.stats.orphan_responses, 0u);
  EXPECT_EQ(h.stats.http2.unanswered_streams, 0u);
  EXPECT_EQ(h.stats.parser_discarded_bytes, 3u);
}

TEST(Http2ConnectionTest, MidStreamJoinNeverMislabels) {
  Nghttp2Peers peers;
  Script before;
  Script after;
  HeaderList custom = Get("/api/items", "shop.example");
  custom.push_back({"x-tenant", "acme"});
  for (int i = 0; i < 2; ++i) {
    const int32_t id = peers.Request(custom);
    before.push_back({kC2S, peers.FlushClient(), 1000u + static_cast<uint64_t>(i)});
    peers.Respond(id, {{":status", "200"}, {"x-shard", "eu-1"}}, std::string("items"));
    before.push_back({kS2C, peers.FlushServer(), 2000u + static_cast<uint64_t>(i)});
  }
  // Joined here. The same request again: its block refers to dynamic entries we never saw.
  const int32_t s3 = peers.Request(custom);
  after.push_back({kC2S, peers.FlushClient(), 3000});
  peers.Respond(s3, {{":status", "200"}, {"x-shard", "eu-1"}}, std::string("items"));
  after.push_back({kS2C, peers.FlushServer(), 4000});
  // Only static entries and literals: decodes.
  const int32_t s4 = peers.Request({{":method", "POST"}, {":scheme", "http"},
                                    {":authority", "other.example"}, {":path", "/api/orders"}},
                                   std::string("{}"));
  after.push_back({kC2S, peers.FlushClient(), 5000});
  peers.Respond(s4, {{":status", "201"}}, std::string("made"));
  after.push_back({kS2C, peers.FlushServer(), 6000});
  // The same again: now its entries were inserted after the join, so it decodes too.
  const int32_t s5 = peers.Request({{":method", "POST"}, {":scheme", "http"},
                                    {":authority", "other.example"}, {":path", "/api/orders"}},
                                   std::string("{}"));
  after.push_back({kC2S, peers.FlushClient(), 7000});
  peers.Respond(s5, {{":status", "201"}}, std::string("made"));
  after.push_back({kS2C, peers.FlushServer(), 8000});

  const std::vector<HttpExchange> expected = {
      Expect2("POST", "/api/orders", 201, 5000, 6000, 2, 4),
      Expect2("POST", "/api/orders", 201, 7000, 8000, 2, 4)};
  const RunResult r = RunScript(after, StartMode::kMidStream);
  EXPECT_EQ(r.exchanges, expected);
  // Stream 5's request block (":authority shop.example", "x-tenant acme" by index) and its
  // response block ("x-shard eu-1" by index) fail; nothing else.
  EXPECT_EQ(r.stats.http2.undecodable_header_blocks, 2u);
  EXPECT_EQ(r.stats.http2.parse_errors, 0u);
  EXPECT_EQ(r.stats.http2.unanswered_streams, 0u);
  EXPECT_EQ(r.stats.orphan_responses, 0u);
  // Split anywhere but inside the first frame header of each step: a joined connection
  // resynchronises only at a segment holding at least one whole frame header.
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    std::mt19937 rng(seed);
    const RunResult split = RunScript(after, StartMode::kMidStream, [&](size_t size) {
      std::vector<size_t> cuts = testing::RandomCuts(rng, size, 12);
      std::erase_if(cuts, [](size_t cut) { return cut < 9; });
      return cuts;
    });
    ASSERT_EQ(split.exchanges, expected) << "seed " << seed;
    ASSERT_EQ(split.stats.http2.undecodable_header_blocks, 2u) << "seed " << seed;
    ASSERT_EQ(split.stats.http2.parse_errors, 0u) << "seed " << seed;
  }
}

TEST(Http2ConnectionTest, CloseReportsAnsweredStreamsAndCountsTheRest) {
  testing::HpackEncoder client;
  testing::HpackEncoder server;
  std::string c2s = std::string(protocols::http2::kClientPreface) + testing::SettingsFrame();
  c2s += Frame(0x1, 0x5, 1, client.Encode(Get("/slow")));
  c2s += Frame(0x1, 0x5, 3, client.Encode(GrpcRequest("/a.B/C")));
  c2s += Frame(0x1, 0x5, 5, client.Encode(Get("/never")));
  std::string s2c = testing::SettingsFrame();
  s2c += Frame(0x1, 0x4, 1, server.Encode({{":status", "200"}}));
  s2c += Frame(0x0, 0x0, 1, "abc");
  s2c += Frame(0x1, 0x4, 3, server.Encode(kGrpcResponse));
  s2c += Frame(0x0, 0x0, 3, GrpcMessage("x"));
  const Script script = {{kC2S, c2s, 1000}, {kS2C, s2c, 2000}};
  ExpectForAnySplit(script,
                    {Expect2("GET", "/slow", 200, 1000, 2000, 0, std::nullopt),
                     Expect2("POST", "/a.B/C", 200, 1000, 2000, 0, std::nullopt)},
                    {ExpectCall("a.B", "C", std::nullopt, 1000, 2000, 0, 1)});
  EXPECT_EQ(RunScript(script).stats.http2.unanswered_streams, 1u);
  EXPECT_TRUE(RunScript(script, StartMode::kPriorKnowledge, {}, false).exchanges.empty());
}

TEST(Http2ConnectionTest, GarbageAndHttp1AreParseErrors) {
  H2Harness h(StartMode::kPriorKnowledge);
  h.Data(kC2S, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1000);
  std::mt19937 rng(3);
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise.push_back(static_cast<char>(rng() & 0xff));
  h.Data(kS2C, noise, 2000);
  h.Data(kS2C, noise, 3000);
  h.conn.Close();
  EXPECT_TRUE(h.sink.exchanges.empty());
  EXPECT_EQ(h.stats.http2.parse_errors, 2u);
  EXPECT_EQ(h.stats.parser_resyncs, 2u);
  // Everything from the violation on: the whole request (the preface's first byte is wrong),
  // the noise after its first 9 bytes (read as a frame header, then rejected), the second noise.
  EXPECT_EQ(h.stats.parser_discarded_bytes, 27u + (4096u - 9) + 4096u);

  // Random bytes in every mode and split never report anything or crash.
  for (uint32_t seed = 0; seed < 200; ++seed) {
    std::mt19937 r(seed);
    std::string bytes;
    for (size_t i = 0, n = r() % 300; i < n; ++i) bytes.push_back(static_cast<char>(r() & 0xff));
    for (StartMode mode : {StartMode::kPriorKnowledge, StartMode::kUpgraded, StartMode::kMidStream}) {
      H2Harness g(mode);
      g.Data(kC2S, std::string(protocols::http2::kClientPreface) + bytes, 1);
      g.Data(kS2C, bytes, 2);
      g.conn.Close();
      EXPECT_TRUE(g.sink.exchanges.empty());
    }
  }
}


}  // namespace
}  // namespace ta::analyzer
