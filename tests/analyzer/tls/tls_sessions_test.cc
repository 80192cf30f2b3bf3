// TLS plaintext sessions from the uprobes: roles, flows, scheme, and both ends on one node.
#include "analyzer/tls/tls_sessions.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {
namespace {

using testing::Bytes;

class Recording final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override { exchanges.push_back(e); }
  std::vector<HttpExchange> exchanges;
};

constexpr uint32_t kServerPid = 100;
constexpr uint32_t kClientPid = 200;

// One SSL call. The server's socket is 198.18.0.2:8443, the client's 198.18.0.1:40000.
TlsDataEvent Call(uint32_t tgid, uint64_t ssl, bool is_write, std::string_view bytes, uint64_t ts,
                  uint32_t len = 0) {
  TlsDataEvent ev;
  ev.tgid = tgid;
  ev.ssl = ssl;
  ev.is_write = is_write;
  ev.mapped = true;
  ev.family = 2;
  const std::array<uint8_t, 16> server{198, 18, 0, 2};
  const std::array<uint8_t, 16> client{198, 18, 0, 1};
  const bool server_side = tgid == kServerPid;
  ev.local_addr = server_side ? server : client;
  ev.remote_addr = server_side ? client : server;
  ev.local_port = server_side ? 8443 : 40000;
  ev.remote_port = server_side ? 40000 : 8443;
  ev.ts_ns = ts;
  ev.len = len != 0 ? len : static_cast<uint32_t>(bytes.size());
  ev.captured = Bytes(bytes);
  return ev;
}

const std::string kRequest = "GET /api/items/42 HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

TEST(TlsSessionsTest, ServerProcessReadingRequestsReportsServerExchangesOverHttps) {
  Recording sink;
  Analyzer analyzer({}, sink);
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 1000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 3000));
  ASSERT_EQ(sink.exchanges.size(), 1u);
  const HttpExchange& e = sink.exchanges[0];
  EXPECT_EQ(e.role, HttpRole::kServer);
  EXPECT_EQ(e.scheme, "https");
  EXPECT_EQ(e.route, "/api/items/{id}");
  EXPECT_EQ(e.status, 200);
  EXPECT_EQ(e.flow, testing::TestFlow(40000, 8443));
  EXPECT_EQ(e.request_start_ns, 1000u);
  EXPECT_EQ(e.response_end_ns, 3000u);
  EXPECT_EQ(e.response_body_bytes, 5u);
  EXPECT_EQ(analyzer.stats().tls_sessions, 1u);
}

TEST(TlsSessionsTest, ASlowRequestHeadOverTlsIsInTheCensus) {
  Recording sink;
  Analyzer analyzer({}, sink);
  // A slowloris over TLS: the server's SSL_read calls return a request head a piece at a time.
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, "GET /api/items/42 HTTP/1.1\r\n", 1000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, "Host: x\r\n", 9000));
  // A client process's own session is not the server's exchange: not in the census.
  analyzer.OnTlsData(Call(kClientPid, 0xb0, true, "GET /x HTTP/1.1\r\n", 2000));
  std::vector<ConnectionProgress> census;
  analyzer.Census(census);
  ASSERT_EQ(census.size(), 1u);
  EXPECT_EQ(census[0].flow, testing::TestFlow(40000, 8443));
  EXPECT_EQ(census[0].phase, ExchangePhase::kRequestHead);
  EXPECT_EQ(census[0].phase_start_ns, 1000u);
  EXPECT_EQ(census[0].last_byte_ns, 9000u);
  EXPECT_EQ(census[0].phase_bytes, 37u);
  // Completed and answered: nothing in progress.
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, "\r\n", 10000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 11000));
  census.clear();
  analyzer.Census(census);
  EXPECT_TRUE(census.empty());
}

TEST(TlsSessionsTest, BothEndsOnTheNodeAreCountedOnceInEachRole) {
  Recording sink;
  Analyzer analyzer({}, sink);
  analyzer.OnTlsData(Call(kClientPid, 0xc0, true, kRequest, 900));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 1000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 3000));
  analyzer.OnTlsData(Call(kClientPid, 0xc0, false, kResponse, 3100));
  ASSERT_EQ(sink.exchanges.size(), 2u);
  EXPECT_EQ(sink.exchanges[0].role, HttpRole::kServer);
  EXPECT_EQ(sink.exchanges[1].role, HttpRole::kClient);
  EXPECT_EQ(sink.exchanges[1].request_start_ns, 900u);
  EXPECT_EQ(sink.exchanges[1].response_end_ns, 3100u);
  EXPECT_EQ(sink.exchanges[0].flow, sink.exchanges[1].flow);  // the same TCP connection
}

TEST(TlsSessionsTest, BytesBeyondTheCaptureAreAGapOfKnownLength) {
  Recording sink;
  Analyzer analyzer({}, sink);
  const std::string body(5000, 'x');
  const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body;
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 1000));
  // SSL_write of the whole response; only the first 64 bytes were copied.
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, std::string_view(response).substr(0, 64), 2000,
                          static_cast<uint32_t>(response.size())));
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].response_body_bytes, 5000u);
  EXPECT_EQ(analyzer.stats().uncaptured_bytes, response.size() - 64);
}

TEST(TlsSessionsTest, Http2OverTlsIsParsedFromThePreface) {
  Recording sink;
  Analyzer analyzer({}, sink);
  auto frame = [](uint8_t type, uint8_t flags, uint32_t stream, std::string payload) {
    std::string f = {0, 0, static_cast<char>(payload.size()), static_cast<char>(type),
                     static_cast<char>(flags)};
    for (int shift : {24, 16, 8, 0}) f.push_back(static_cast<char>(stream >> shift));
    return f + payload;
  };
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  // HEADERS: :method GET, :path /, :scheme https (RFC 7541 static indices 2, 4, 7).
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false,
                          preface + frame(4, 0, 0, "") + frame(1, 5, 1, "\x82\x84\x87"), 1000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, frame(4, 0, 0, "") + frame(1, 5, 1, "\x88"),
                          2000));
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].protocol_version, "2");
  EXPECT_EQ(sink.exchanges[0].scheme, "https");
}

// nginx frees each connection's SSL object and gets the same address for the next; the new
// session's first read can come from the handshake's buffer, without a socket (unmapped).
TEST(TlsSessionsTest, AnHttp2PrefaceInAStartedSessionStartsANewOne) {
  Recording sink;
  Analyzer analyzer({}, sink);
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string settings(9, '\0');  // an empty SETTINGS frame: length 0, type 4
  std::string s = settings;
  s[3] = 4;
  const std::string headers = std::string("\x00\x00\x03\x01\x05\x00\x00\x00\x01", 9) + "\x82\x84\x87";
  const std::string status = std::string("\x00\x00\x01\x01\x05\x00\x00\x00\x01", 9) + "\x88";
  const std::string first = preface + s + headers;
  for (uint64_t i = 0; i < 2; ++i) {
    TlsDataEvent request = Call(kServerPid, 0xa0, false, first, 1000 + i * 1000);
    if (i == 1) request.mapped = false;  // served from the handshake's buffer: a new session
    analyzer.OnTlsData(request);
    analyzer.OnTlsData(Call(kServerPid, 0xa0, true, s + status, 1500 + i * 1000));
  }
  ASSERT_EQ(sink.exchanges.size(), 2u);
  EXPECT_EQ(analyzer.stats().tls_sessions, 2u);
  EXPECT_EQ(analyzer.stats().http2.parse_errors, 0u);
}

// A session already open when the probes attached: what comes before the first request start
// is held, then replayed once the request gives the role (the response is an orphan).
TEST(TlsSessionsTest, SessionsJoinedMidWayStartAtTheFirstRequest) {
  Recording sink;
  Analyzer analyzer({}, sink);
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 1000));  // a response first
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 2000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 3000));
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].request_start_ns, 2000u);
  EXPECT_EQ(analyzer.stats().orphan_responses, 1u);
  EXPECT_EQ(analyzer.stats().tls_sessions, 1u);
}

TEST(TlsSessionsTest, SessionsThatNeverStartARequestAreCountedNotParsed) {
  Recording sink;
  Analyzer analyzer({}, sink);
  for (uint64_t i = 0; i <= tls::TlsSessions::kMaxHeldCalls; ++i) {
    analyzer.OnTlsData(Call(kServerPid, 0xa0, i % 2 == 0, "\x01\x02 binary", 1000 + i));
  }
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 5000));  // too late: given up
  EXPECT_TRUE(sink.exchanges.empty());
  EXPECT_EQ(analyzer.stats().tls_sessions_unparsed, 1u);
  EXPECT_EQ(analyzer.stats().tls_sessions, 0u);
}

// nginx: a new session's request is read from the handshake's buffer (no socket yet); its
// response goes out through the socket. The exchange carries the socket's addresses.
TEST(TlsSessionsTest, ASessionWaitsForItsSocketBeforeReporting) {
  Recording sink;
  Analyzer analyzer({}, sink);
  TlsDataEvent request = Call(kServerPid, 0xa0, false, kRequest, 1000);
  request.mapped = false;
  request.local_port = request.remote_port = 0;
  analyzer.OnTlsData(request);
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 2000));
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(sink.exchanges[0].flow, testing::TestFlow(40000, 8443));
  EXPECT_EQ(sink.exchanges[0].request_start_ns, 1000u);
  EXPECT_EQ(analyzer.stats().tls_sessions_unmapped, 0u);
}

TEST(TlsSessionsTest, IdleSessionsExpire) {
  AnalyzerConfig config;
  config.idle_timeout_ns = 1000;
  Recording sink;
  Analyzer analyzer(config, sink);
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 1000));
  analyzer.AdvanceTime(5000);
  // The same SSL address now starts over: a new session.
  analyzer.OnTlsData(Call(kServerPid, 0xa0, false, kRequest, 6000));
  analyzer.OnTlsData(Call(kServerPid, 0xa0, true, kResponse, 7000));
  ASSERT_EQ(sink.exchanges.size(), 1u);
  EXPECT_EQ(analyzer.stats().tls_sessions, 2u);
  EXPECT_EQ(analyzer.stats().unanswered_requests, 1u);  // the first, expired unanswered
}

}  // namespace
}  // namespace ta::analyzer
