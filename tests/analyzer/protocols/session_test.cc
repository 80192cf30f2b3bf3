// Protocol detection and the per-connection session: which parser a connection gets, upgrades
// from HTTP/1.1 to WebSocket and h2c, and the TCP records every connection produces.
#include "analyzer/protocols/session.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "analyzer/protocols/detect.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {
namespace {

using protocols::DetectClientStart;
using protocols::Protocol;
using testing::Bytes;
using testing::Connection;
using testing::kC2S;
using testing::kS2C;
using testing::TestFlow;

// Records everything the analyzer reports.
class FullRecorder final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override { exchanges.push_back(e); }
  void OnGrpcCall(const GrpcCall& c) override { calls.push_back(c); }
  void OnWebSocketMessage(const WebSocketMessage& m) override { messages.push_back(m); }
  void OnWebSocketSession(const WebSocketSession& s) override { sessions.push_back(s); }
  void OnTlsClientHello(const TlsClientHello& h) override { hellos.push_back(h); }
  void OnTcpOpened(const FlowKey& flow, uint64_t ts, bool mid_stream) override {
    opened.push_back({flow, ts, mid_stream});
  }
  void OnTcpEstablished(const ConnEstablishedEvent& ev) override { established.push_back(ev); }
  void OnTcpEnded(const TcpConnectionEnd& end) override { ended.push_back(end); }

  struct Opened {
    FlowKey flow;
    uint64_t ts;
    bool mid_stream;
  };
  std::vector<HttpExchange> exchanges;
  std::vector<GrpcCall> calls;
  std::vector<WebSocketMessage> messages;
  std::vector<WebSocketSession> sessions;
  std::vector<TlsClientHello> hellos;
  std::vector<Opened> opened;
  std::vector<ConnEstablishedEvent> established;
  std::vector<TcpConnectionEnd> ended;
};

std::string Hex(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// A 9-byte HTTP/2 frame header (RFC 9113 §4.1) and its payload.
std::string Frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  const auto n = static_cast<uint32_t>(payload.size());
  f.push_back(static_cast<char>(n >> 16));
  f.push_back(static_cast<char>(n >> 8));
  f.push_back(static_cast<char>(n));
  f.push_back(static_cast<char>(type));
  f.push_back(static_cast<char>(flags));
  for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>(stream >> shift));
  f += payload;
  return f;
}

Protocol Detect(std::string_view s) { return DetectClientStart(Bytes(s)); }

TEST(DetectClientStart, RecognisesEachProtocolFromItsFirstBytes) {
  EXPECT_EQ(Detect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Protocol::kHttp2);
  EXPECT_EQ(Detect("GET / HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(Detect("OPTIONS * HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(Detect("GET http://example/ HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(Detect("CONNECT example:443 HTTP/1.1\r\n"), Protocol::kHttp1);
  EXPECT_EQ(Detect(Hex({0x16, 0x03, 0x01, 0x00, 0xc8, 0x01})), Protocol::kTls);
  EXPECT_EQ(Detect("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), Protocol::kUnknown);
  EXPECT_EQ(Detect(Hex({0x00, 0x00, 0x00, 0x10, 0xff})), Protocol::kUnknown);
  EXPECT_EQ(Detect("GET foo HTTP/1.1\r\n"), Protocol::kUnknown);
}

TEST(DetectClientStart, WaitsWhileThePrefixIsAmbiguous) {
  EXPECT_EQ(Detect(""), Protocol::kUndetermined);
  EXPECT_EQ(Detect("PRI * HTTP/2"), Protocol::kUndetermined);  // preface or a PRI request
  EXPECT_EQ(Detect("GE"), Protocol::kUndetermined);
  EXPECT_EQ(Detect("GET "), Protocol::kUndetermined);
  EXPECT_EQ(Detect("GET htt"), Protocol::kUndetermined);
  EXPECT_EQ(Detect(Hex({0x16, 0x03})), Protocol::kUndetermined);
  EXPECT_EQ(Detect(std::string(protocols::kDetectBytes, 'A')), Protocol::kUnknown);
}

TEST(DetectMidStream, FindsMessageStartsInEitherDirection) {
  using protocols::DetectMidStream;
  EXPECT_EQ(DetectMidStream(kS2C, Bytes("HTTP/1.1 200 OK\r\n")), Protocol::kHttp1);
  EXPECT_EQ(DetectMidStream(kC2S, Bytes("POST /a HTTP/1.1\r\n")), Protocol::kHttp1);
  EXPECT_EQ(DetectMidStream(kC2S, Bytes("HTTP/1.1 200 OK\r\n")), Protocol::kUndetermined);
  const std::string app_data = Hex({0x17, 0x03, 0x03, 0x00, 0x40}) + std::string(64, 'x');
  EXPECT_EQ(DetectMidStream(kS2C, Bytes(app_data)), Protocol::kTls);
  EXPECT_EQ(DetectMidStream(kC2S, Bytes("some body bytes of a message")), Protocol::kUndetermined);
}

class SessionTest : public ::testing::Test {
 protected:
  AnalyzerConfig config_;
  FullRecorder sink_;
  Analyzer analyzer_{config_, sink_};
  Connection conn_{analyzer_};
};

TEST_F(SessionTest, HttpRequestHeldWhileUndecidedIsReplayedToTheParser) {
  conn_.Open(1);
  conn_.Send(kC2S, "G", 10);
  conn_.Send(kC2S, "ET /a HT", 11);
  conn_.Send(kC2S, "TP/1.1\r\nHost: x\r\n\r\n", 12);
  conn_.Send(kS2C, "HTTP/1.1 204 No Content\r\n\r\n", 20);
  ASSERT_EQ(sink_.exchanges.size(), 1u);
  EXPECT_EQ(sink_.exchanges[0].route, "/a");
  EXPECT_EQ(sink_.exchanges[0].status, 204);
  EXPECT_EQ(sink_.exchanges[0].request_start_ns, 10u);
  EXPECT_EQ(analyzer_.stats().detected_http1, 1u);
}

TEST_F(SessionTest, VersionIsTheRequestsAndHigherMinorsAreReportedAs11) {
  conn_.Open(1);
  conn_.Send(kC2S, "GET /a HTTP/1.0\r\n\r\n", 10);
  conn_.Send(kS2C, "HTTP/1.1 204 No Content\r\n\r\n", 20);
  conn_.Send(kC2S, "GET /b HTTP/1.9\r\n\r\n", 30);
  conn_.Send(kS2C, "HTTP/1.1 204 No Content\r\n\r\n", 40);
  ASSERT_EQ(sink_.exchanges.size(), 2u);
  EXPECT_EQ(sink_.exchanges[0].protocol_version, "1.0");
  EXPECT_EQ(sink_.exchanges[1].protocol_version, "1.1");
}

TEST_F(SessionTest, ServerSpeakingFirstIsUnknownAndNotParsed) {
  conn_.Open(1);
  conn_.Send(kS2C, "220 mail.example ESMTP\r\n", 5);
  conn_.Send(kC2S, "GET / HTTP/1.1\r\n\r\n", 6);
  conn_.Send(kS2C, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 7);
  conn_.Close(8);
  EXPECT_TRUE(sink_.exchanges.empty());
  EXPECT_EQ(analyzer_.stats().detected_unknown, 1u);
  EXPECT_EQ(analyzer_.stats().http1_parse_errors, 0u);
}

// RFC 9113 §3.4: the server's connection preface (a SETTINGS frame) may come first; grpc
// servers send it as soon as they accept.
TEST_F(SessionTest, Http2ServerSettingsBeforeTheClientPrefaceAreHeldAndReplayed) {
  conn_.Open(1);
  conn_.Send(kS2C, Frame(0x4, 0, 0, Hex({0x00, 0x03, 0x00, 0x00, 0x00, 0x64})), 5);
  conn_.Send(kC2S,
             "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(0x4, 0, 0, "") +
                 Frame(0x1, 0x5, 1, Hex({0x82, 0x84, 0x86})),
             10);
  conn_.Send(kS2C, Frame(0x4, 0x1, 0, "") + Frame(0x1, 0x5, 1, Hex({0x88})), 20);
  conn_.Close(30);
  ASSERT_EQ(sink_.exchanges.size(), 1u);
  EXPECT_EQ(sink_.exchanges[0].status, 200);
  EXPECT_EQ(sink_.exchanges[0].protocol_version, "2");
  EXPECT_EQ(analyzer_.stats().detected_http2, 1u);
  EXPECT_EQ(analyzer_.stats().detected_unknown, 0u);
  EXPECT_EQ(analyzer_.stats().http2.parse_errors, 0u);
}

TEST_F(SessionTest, ServerFirstBeyondTheHoldBoundIsUnknown) {
  conn_.Open(1);
  conn_.Send(kS2C, std::string(protocols::Session::kMaxHeldServerBytes + 1, 'x'), 5);
  conn_.Send(kC2S, "GET / HTTP/1.1\r\n\r\n", 6);
  conn_.Close(8);
  EXPECT_EQ(analyzer_.stats().detected_unknown, 1u);
  EXPECT_EQ(analyzer_.stats().detected_http1, 0u);
}

// A minimal TLS 1.3 ClientHello (RFC 8446 §4.1.2) with server_name (RFC 6066 §3), ALPN
// (RFC 7301) and supported_versions, in one handshake record.
std::string ClientHelloRecord(std::string_view sni) {
  auto u16 = [](size_t v) { return Hex({static_cast<int>(v >> 8), static_cast<int>(v & 0xff)}); };
  const std::string host = u16(sni.size() + 3) + Hex({0}) + u16(sni.size()) + std::string(sni);
  const std::string alpn_list = Hex({2, 'h', '2', 8}) + "http/1.1";
  const std::string extensions = Hex({0x00, 0x00}) + u16(host.size()) + host +  // server_name
                                 Hex({0x00, 0x10}) + u16(alpn_list.size() + 2) +
                                 u16(alpn_list.size()) + alpn_list +        // ALPN
                                 Hex({0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04});  // TLS 1.3
  const std::string body = Hex({0x03, 0x03}) + std::string(32, '\x11') + Hex({0}) +
                           Hex({0x00, 0x02, 0x13, 0x01}) + Hex({0x01, 0x00}) +
                           u16(extensions.size()) + extensions;
  const std::string handshake = Hex({0x01, 0, static_cast<int>(body.size() >> 8),
                                     static_cast<int>(body.size() & 0xff)}) +
                                body;
  return Hex({0x16, 0x03, 0x01}) + u16(handshake.size()) + handshake;
}

TEST_F(SessionTest, TlsClientHelloIsReadForSniAlpnAndVersion) {
  conn_.Open(1);
  const std::string hello = ClientHelloRecord("API.example.com");
  conn_.Send(kC2S, hello.substr(0, 7), 10);  // split: the session holds, then the parser waits
  conn_.Send(kC2S, hello.substr(7), 11);
  conn_.Send(kS2C, Hex({0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00}), 12);
  conn_.Send(kC2S, Hex({0x17, 0x03, 0x03, 0x00, 0x01, 0x00}), 13);
  conn_.Close(14);
  ASSERT_EQ(sink_.hellos.size(), 1u);
  EXPECT_EQ(sink_.hellos[0].server_name, "api.example.com");
  EXPECT_EQ(sink_.hellos[0].alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(sink_.hellos[0].version, "1.3");
  EXPECT_EQ(sink_.hellos[0].ts_ns, 11u);
  EXPECT_EQ(analyzer_.stats().tls_client_hellos, 1u);
  EXPECT_EQ(analyzer_.stats().tls_client_hello_invalid, 0u);
  EXPECT_TRUE(sink_.exchanges.empty());
}

TEST_F(SessionTest, TlsClientHelloCutByTheCaptureIsCountedIncomplete) {
  conn_.Open(1);
  const std::string hello = ClientHelloRecord("api.example.com");
  conn_.Send(kC2S, hello, 10, /*snaplen=*/20);  // the rest of the hello is a gap
  conn_.Close(14);
  EXPECT_TRUE(sink_.hellos.empty());
  EXPECT_EQ(analyzer_.stats().tls_client_hello_incomplete, 1u);
  EXPECT_EQ(analyzer_.stats().detected_tls, 1u);
}

TEST_F(SessionTest, TlsIsCountedAndNeverParsedAsHttp) {
  conn_.Open(1);
  conn_.Send(kC2S, Hex({0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00}), 2);
  conn_.Send(kS2C, Hex({0x16, 0x03, 0x03, 0x00, 0x02, 0x02, 0x00}), 3);
  conn_.Send(kC2S, Hex({0x17, 0x03, 0x03, 0x00, 0x03, 'G', 'E', 'T'}), 4);
  conn_.Close(5);
  EXPECT_TRUE(sink_.exchanges.empty());
  const AnalyzerStats& s = analyzer_.stats();
  EXPECT_EQ(s.detected_tls, 1u);
  EXPECT_EQ(s.detected_http1 + s.detected_unknown + s.http1_parse_errors, 0u);
  EXPECT_EQ(s.parser_discarded_bytes, 0u);
}

// RFC 6455 §4: the handshake, then frames. The server's first frame shares the 101's segment.
TEST_F(SessionTest, WebSocketUpgradeHandsTheRestOfTheSegmentToTheFrameParser) {
  conn_.Open(1);
  conn_.Send(kC2S,
             "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             10);
  conn_.Send(kS2C,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" +
                 Hex({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}),
             20);
  // RFC 6455 §5.7: a masked "Hello" from the client, then a close with 1000 each way.
  conn_.Send(kC2S, Hex({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), 30);
  conn_.Send(kC2S, Hex({0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8}), 40);
  conn_.Send(kS2C, Hex({0x88, 0x02, 0x03, 0xe8}), 41);
  conn_.Close(50);

  ASSERT_EQ(sink_.exchanges.size(), 1u);
  EXPECT_EQ(sink_.exchanges[0].status, 101);
  EXPECT_EQ(sink_.exchanges[0].protocol_version, "1.1");
  ASSERT_EQ(sink_.messages.size(), 4u);
  EXPECT_EQ(sink_.messages[0].dir, kS2C);
  EXPECT_EQ(sink_.messages[0].type, WebSocketMessageType::kText);
  EXPECT_EQ(sink_.messages[0].payload_bytes, 5u);
  EXPECT_EQ(sink_.messages[1].dir, kC2S);
  EXPECT_EQ(sink_.messages[1].payload_bytes, 5u);
  EXPECT_EQ(sink_.messages[2].type, WebSocketMessageType::kClose);
  EXPECT_EQ(sink_.messages[2].close_code, 1000);
  ASSERT_EQ(sink_.sessions.size(), 1u);
  EXPECT_EQ(sink_.sessions[0].route, "/chat");
  EXPECT_EQ(sink_.sessions[0].start_ns, 20u);
  EXPECT_EQ(sink_.sessions[0].end_ns, 50u);
  EXPECT_EQ(sink_.sessions[0].close_code, 1000);
  EXPECT_EQ(sink_.sessions[0].close_initiator, kC2S);
  EXPECT_TRUE(sink_.sessions[0].clean_close);
  const AnalyzerStats& s = analyzer_.stats();
  EXPECT_EQ(s.detected_http1, 1u);
  EXPECT_EQ(s.detected_websocket, 1u);
  EXPECT_EQ(s.websocket.parse_errors + s.http1_parse_errors + s.parser_discarded_bytes, 0u);
}

// RFC 7540 §3.2: the request that asked for h2c is stream 1; its answer comes as HTTP/2.
TEST_F(SessionTest, H2cUpgradeReportsTheUpgradedRequestOnceWithItsHttp2Answer) {
  conn_.Open(1);
  conn_.Send(kC2S,
             "GET /h2 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
             "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
             10);
  // 101, then the server's SETTINGS and stream 1's response: HEADERS ":status: 200" (HPACK
  // static index 8, RFC 7541 Appendix A) and a 5-byte DATA ending the stream.
  conn_.Send(kS2C,
             "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n" +
                 Frame(0x4, 0, 0, ""),
             20);
  conn_.Send(kC2S, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(0x4, 0, 0, ""), 21);
  conn_.Send(kS2C, Frame(0x1, 0x4, 1, Hex({0x88})) + Frame(0x0, 0x1, 1, "hello"), 30);
  conn_.Close(40);

  ASSERT_EQ(sink_.exchanges.size(), 1u);
  const HttpExchange& e = sink_.exchanges[0];
  EXPECT_EQ(e.method, "GET");
  EXPECT_EQ(e.route, "/h2");
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.protocol_version, "2");
  EXPECT_EQ(e.request_start_ns, 10u);
  EXPECT_EQ(e.response_end_ns, 30u);
  EXPECT_EQ(e.response_body_bytes, 5u);
  const AnalyzerStats& s = analyzer_.stats();
  EXPECT_EQ(s.detected_http1, 1u);
  EXPECT_EQ(s.detected_http2, 1u);
  EXPECT_EQ(s.http2.parse_errors + s.unanswered_requests, 0u);
}

TEST_F(SessionTest, PriorKnowledgeHttp2IsDetectedFromThePreface) {
  conn_.Open(1);
  // HEADERS for GET / http (static indices 2, 4, 6) with END_STREAM | END_HEADERS.
  conn_.Send(kC2S,
             "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Frame(0x4, 0, 0, "") +
                 Frame(0x1, 0x5, 1, Hex({0x82, 0x84, 0x86})),
             10);
  conn_.Send(kS2C, Frame(0x4, 0, 0, "") + Frame(0x1, 0x5, 1, Hex({0x8d})), 20);  // :status 404
  conn_.Close(30);
  ASSERT_EQ(sink_.exchanges.size(), 1u);
  EXPECT_EQ(sink_.exchanges[0].status, 404);
  EXPECT_EQ(sink_.exchanges[0].route, "/");
  EXPECT_EQ(sink_.exchanges[0].protocol_version, "2");
  EXPECT_EQ(analyzer_.stats().detected_http2, 1u);
  EXPECT_EQ(analyzer_.stats().detected_http1, 0u);
}

TEST_F(SessionTest, EveryOpenedConnectionEndsExactlyOnceWithItsReason) {
  config_.idle_timeout_ns = 100;
  FullRecorder sink;
  Analyzer analyzer(config_, sink);
  Connection a(analyzer, TestFlow(40001));
  Connection b(analyzer, TestFlow(40002));
  Connection c(analyzer, TestFlow(40003));
  a.Open(1);
  analyzer.OnConnEstablished({a.flow(), 1, 2, 3});
  a.Send(kC2S, "GET / HTTP/1.1\r\n\r\n", 4);
  ConnCloseEvent close;
  close.flow = a.flow();
  close.ts_ns = 9;
  close.bytes = {18, 0};
  close.packets = {4, 3};
  close.retransmits = {1, 0};
  analyzer.OnConnClose(close);

  b.Open(10);
  close = {};
  close.flow = b.flow();
  close.ts_ns = 11;
  close.reset = true;
  analyzer.OnConnClose(close);

  c.Send(kC2S, "xyz", 20);  // joined mid-way, then goes quiet
  analyzer.AdvanceTime(500);
  analyzer.OnConnClose(close);  // b again: already ended, ignored

  ASSERT_EQ(sink.opened.size(), 3u);
  EXPECT_FALSE(sink.opened[0].mid_stream);
  EXPECT_TRUE(sink.opened[2].mid_stream);
  ASSERT_EQ(sink.established.size(), 1u);
  EXPECT_EQ(sink.established[0].ack_ns, 3u);
  ASSERT_EQ(sink.ended.size(), 3u);
  EXPECT_EQ(sink.ended[0].reason, TcpCloseReason::kFin);
  EXPECT_EQ(sink.ended[0].bytes[0], 18u);
  EXPECT_EQ(sink.ended[0].retransmits[0], 1u);
  EXPECT_EQ(sink.ended[0].open_ns, 1u);
  EXPECT_EQ(sink.ended[1].reason, TcpCloseReason::kReset);
  EXPECT_EQ(sink.ended[2].reason, TcpCloseReason::kExpired);
  EXPECT_EQ(sink.ended[2].bytes[0], 3u);
  EXPECT_EQ(sink.ended[2].packets[0], 1u);
  EXPECT_TRUE(sink.ended[2].mid_stream);
}

}  // namespace
}  // namespace ta::analyzer
