// The sinks' I/O against in-test peers on 127.0.0.1: the HTTP client, the Alertmanager sink
// against a fake Alertmanager, the JSON-lines file, and syslog over UDP and TCP.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "agent/alerts/alertmanager.h"
#include "agent/alerts/dispatcher.h"
#include "agent/alerts/http_client.h"
#include "agent/alerts/json_lines.h"
#include "agent/alerts/syslog.h"
#include "tests/agent/sinks/http_test_server.h"
#include "tests/agent/sinks/test_records.h"

namespace ta::agent::alerts {
namespace {

using testing::BolaRecord;
using testing::CannedResponse;
using testing::FloodRecord;
using testing::HttpTestServer;

TEST(HttpUrl, Parses) {
  auto url = ParseHttpUrl("http://127.0.0.1:9093/alertmanager");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->authority.host, "127.0.0.1");
  EXPECT_EQ(url->authority.port, 9093);
  EXPECT_EQ(url->path, "/alertmanager");
  url = ParseHttpUrl("http://[::1]:9093");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->authority.host, "::1");
  EXPECT_EQ(url->path, "/");
  url = ParseHttpUrl("http://am.example");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->authority.port, 80);
}

TEST(HttpUrl, RejectsWhatItCannotDo) {
  EXPECT_NE(ParseHttpUrl("https://am:9093").error().message.find("https is not supported"),
            std::string::npos);
  EXPECT_FALSE(ParseHttpUrl("ftp://am").ok());
  EXPECT_FALSE(ParseHttpUrl("http://user@am:9093").ok());
  EXPECT_FALSE(ParseHttpUrl("http://am:9093/?q=1").ok());
  EXPECT_FALSE(ParseHttpUrl("http://am:99999").ok());
  EXPECT_FALSE(ParseHttpUrl("http://[::1:9093").ok());
  EXPECT_FALSE(ParseHttpUrl("http://:9093").ok());
}

HttpUrl Url(const HttpTestServer& server, const std::string& path) {
  return ParseHttpUrl(server.url() + path).value();
}

TEST(HttpClient, PostsAndReadsContentLengthBody) {
  HttpTestServer server;
  server.SetResponse({200, "{\"ok\":true}", false});
  auto response = HttpPost(Url(server, "/api/v2/alerts"), "application/json", "[1]", {});
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "{\"ok\":true}");
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].path, "/api/v2/alerts");
  EXPECT_EQ(requests[0].body, "[1]");
}

TEST(HttpClient, ReadsResponsesSplitAtSeededRandomPoints) {
  HttpTestServer server;
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    const bool chunked = seed % 2 == 0;
    server.SetResponse({200, "body-" + std::to_string(seed) + "-0123456789", chunked, false, seed});
    auto response = HttpPost(Url(server, "/"), "text/plain", "x", {});
    ASSERT_TRUE(response.ok()) << "seed " << seed << ": " << response.error().message;
    EXPECT_EQ(response->body, "body-" + std::to_string(seed) + "-0123456789") << "seed " << seed;
  }
}

TEST(HttpClient, DecodesChunkedBodies) {
  HttpTestServer server;
  server.SetResponse({202, "hello chunked world", true});
  auto response = HttpPost(Url(server, "/"), "text/plain", "", {});
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->body, "hello chunked world");
}

TEST(HttpClient, NonSuccessIsAnErrorWithTheBody) {
  HttpTestServer server;
  server.SetResponse({400, "maxItems: too many alerts\n", false});
  auto response = HttpPost(Url(server, "/api/v2/alerts"), "application/json", "[]", {});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().message, "http://127.0.0.1:" + std::to_string(server.port()) +
                                          "/api/v2/alerts answered 400: maxItems: too many alerts");
}

TEST(HttpClient, ConnectionRefusedNamesTheAddress) {
  uint16_t port = 0;
  {
    HttpTestServer server;  // a port that was free a moment ago and is closed now
    port = server.port();
  }
  auto response = HttpPost(ParseHttpUrl("http://127.0.0.1:" + std::to_string(port)).value(),
                           "text/plain", "x", {});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().err, ECONNREFUSED);
  EXPECT_NE(response.error().message.find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

TEST(HttpClient, SilentPeerTimesOut) {
  HttpTestServer server;
  CannedResponse silent;
  silent.never_answer = true;
  server.SetResponse(silent);
  HttpTimeouts timeouts;
  timeouts.exchange = std::chrono::milliseconds(200);
  auto response = HttpPost(Url(server, "/"), "text/plain", "x", timeouts);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().err, ETIMEDOUT);
}

std::unique_ptr<AlertmanagerSink> MakeAlertmanager(const std::vector<std::string>& urls) {
  AlertmanagerConfig config;
  config.urls = urls;
  config.instance = "node-1";
  auto sink = AlertmanagerSink::Create(config, [] { return 1764026440000000000ULL; });
  EXPECT_TRUE(sink.ok()) << sink.error().message;
  return std::move(sink.value());
}

TEST(AlertmanagerSink, ResolvedKeepsTheFiringLabels) {
  HttpTestServer server;
  auto sink = MakeAlertmanager({server.url() + "/"});
  auto firing = BolaRecord();
  ASSERT_TRUE(sink->Deliver(firing).ok());
  EXPECT_EQ(sink->Stats().active, 1u);
  // The engine's resolved record names the clients of the resolving window (none here); the
  // alert must still carry client="198.18.0.9" to resolve the alert that fired.
  auto resolved = firing;
  resolved.state = analyzer::anomaly::AnomalyState::kResolved;
  resolved.clients.clear();
  resolved.window_end_ns = 1764026475000000000ULL;  // 23:21:15
  ASSERT_TRUE(sink->Deliver(resolved).ok());
  EXPECT_EQ(sink->Stats().active, 0u);
  const auto requests = server.Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/api/v2/alerts");
  const std::string labels =
      R"j({"labels":{"alertname":"TrafficAnalyzerAnomaly","client":"198.18.0.9",)j"
      R"j("detector":"bola","instance":"node-1","port":"8080","route":"/api/users/{id}",)j"
      R"j("severity":"critical"})j";
  EXPECT_EQ(requests[0].body.substr(0, labels.size() + 1), "[" + labels);
  EXPECT_EQ(requests[1].body.substr(0, labels.size() + 1), "[" + labels);
  EXPECT_NE(requests[0].body.find(R"j("endsAt":"2025-11-24T23:24:40.000Z")j"), std::string::npos);
  EXPECT_NE(requests[1].body.find(R"j("endsAt":"2025-11-24T23:21:15.000Z")j"), std::string::npos);
}

TEST(AlertmanagerSink, OneAcceptingAlertmanagerOfTwoIsEnough) {
  HttpTestServer good;
  HttpTestServer bad;
  bad.SetResponse({500, "boom", false});
  auto sink = MakeAlertmanager({bad.url(), good.url()});
  ASSERT_TRUE(sink->Deliver(FloodRecord()).ok());
  EXPECT_EQ(sink->Stats().endpoint_failures, 1u);
  EXPECT_EQ(good.Requests().size(), 1u);
  EXPECT_EQ(bad.Requests().size(), 1u);
  good.SetResponse({503, "down", false});
  auto failed = sink->Deliver(FloodRecord());
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("answered 500: boom"), std::string::npos);
  EXPECT_NE(failed.error().message.find("answered 503: down"), std::string::npos);
  EXPECT_EQ(sink->Stats().endpoint_failures, 3u);
}

TEST(AlertmanagerSink, ReSendsActiveAlertsEveryInterval) {
  HttpTestServer server;
  AlertmanagerConfig config;
  config.urls = {server.url()};
  config.instance = "node-1";
  config.resend_interval = std::chrono::seconds(1);
  auto sink = AlertmanagerSink::Create(config, [] { return 1764026440000000000ULL; });
  ASSERT_TRUE(sink.ok());
  AlertmanagerSink* raw = sink->get();
  AlertDispatcher dispatcher;
  dispatcher.AddSink(std::move(sink.value()));
  dispatcher.Start();
  dispatcher.OnAnomaly(BolaRecord());
  // The first POST is the record; the next ones are re-sends of the same alert with endsAt =
  // now + 4 s. Bounded wait: 3 requests within 20 s (expected after ~2 s).
  const auto requests = server.WaitForRequests(3);
  ASSERT_GE(requests.size(), 3u);
  EXPECT_NE(requests[2].body.find(R"j("endsAt":"2025-11-24T23:20:44.000Z")j"), std::string::npos)
      << requests[2].body;
  EXPECT_EQ(requests[2].body.substr(0, 60), requests[0].body.substr(0, 60));
  dispatcher.Stop();
  EXPECT_GE(raw->Stats().resends, 2u);
  EXPECT_EQ(raw->Stats().resend_failures, 0u);
}

TEST(AlertmanagerSink, RejectsBadConfig) {
  AlertmanagerConfig config;
  EXPECT_NE(AlertmanagerSink::Create(config).error().message.find("urls is empty"),
            std::string::npos);
  config.urls = {"https://am:9093"};
  EXPECT_NE(AlertmanagerSink::Create(config).error().message.find("alerts.alertmanager.urls"),
            std::string::npos);
}

// A temporary directory removed on every path.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/ta-sinks-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(JsonLinesSink, AppendsLinesAndReopensAfterRotation) {
  TempDir dir;
  const std::string path = dir.path + "/anomalies.jsonl";
  auto sink = JsonLinesSink::Open({true, path});
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_TRUE((*sink)->Deliver(BolaRecord()).ok());
  ASSERT_TRUE((*sink)->Deliver(FloodRecord()).ok());
  EXPECT_EQ(ReadFile(path),
            FormatJsonLine(BolaRecord()) + "\n" + FormatJsonLine(FloodRecord()) + "\n");
  // logrotate renames, then the agent reopens: new lines go to a new file at the path.
  std::filesystem::rename(path, path + ".1");
  ASSERT_TRUE((*sink)->Deliver(FloodRecord()).ok());  // still the renamed file
  ASSERT_TRUE((*sink)->Reopen().ok());
  ASSERT_TRUE((*sink)->Deliver(BolaRecord()).ok());
  EXPECT_EQ(ReadFile(path + ".1"), FormatJsonLine(BolaRecord()) + "\n" +
                                       FormatJsonLine(FloodRecord()) + "\n" +
                                       FormatJsonLine(FloodRecord()) + "\n");
  EXPECT_EQ(ReadFile(path), FormatJsonLine(BolaRecord()) + "\n");
}

TEST(JsonLinesSink, OpenErrorNamesThePath) {
  auto sink = JsonLinesSink::Open({true, "/nonexistent-dir-ta/anomalies.jsonl"});
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.error().err, ENOENT);
  EXPECT_NE(sink.error().message.find("/nonexistent-dir-ta/anomalies.jsonl"), std::string::npos);
}

// A UDP socket on 127.0.0.1 playing the syslog receiver.
struct UdpReceiver {
  UdpReceiver() {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
    socklen_t len = sizeof(sa);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
  }
  ~UdpReceiver() { ::close(fd); }
  std::string Receive() {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return "<timeout>";
    char buf[70000];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    return n < 0 ? "<error>" : std::string(buf, static_cast<size_t>(n));
  }
  int fd = -1;
  uint16_t port = 0;
};

std::unique_ptr<SyslogSink> MakeSyslog(SyslogTransport transport, uint16_t port,
                                       size_t max_bytes = 2048) {
  SyslogConfig config;
  config.address = "127.0.0.1:" + std::to_string(port);
  config.transport = transport;
  config.hostname = "node-1";
  config.max_message_bytes = max_bytes;
  auto sink = SyslogSink::Create(config);
  EXPECT_TRUE(sink.ok()) << sink.error().message;
  return std::move(sink.value());
}

SyslogOrigin OwnOrigin() { return {16, "node-1", static_cast<uint32_t>(::getpid())}; }

TEST(SyslogSink, UdpOneMessagePerDatagramTruncated) {
  UdpReceiver receiver;
  auto sink = MakeSyslog(SyslogTransport::kUdp, receiver.port, 100);
  ASSERT_TRUE(sink->Deliver(BolaRecord()).ok());
  const std::string full = FormatSyslogMessage(BolaRecord(), OwnOrigin());
  EXPECT_EQ(receiver.Receive(), full.substr(0, 100));
  EXPECT_EQ(sink->Stats().truncated, 1u);
  auto wide = MakeSyslog(SyslogTransport::kUdp, receiver.port);
  ASSERT_TRUE(wide->Deliver(FloodRecord()).ok());
  EXPECT_EQ(receiver.Receive(), FormatSyslogMessage(FloodRecord(), OwnOrigin()));
  EXPECT_EQ(wide->Stats().truncated, 0u);
}

// Reads octet-counted frames from one accepted connection.
std::string ReadAll(int fd, size_t n) {
  std::string out;
  char buf[4096];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    const ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
    if (got <= 0) break;
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

TEST(SyslogSink, TcpOctetCountingAndReconnect) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof(sa);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len);
  auto sink = MakeSyslog(SyslogTransport::kTcp, ntohs(sa.sin_port));

  const std::string m1 = FormatSyslogMessage(BolaRecord(), OwnOrigin());
  const std::string m2 = FormatSyslogMessage(FloodRecord(), OwnOrigin());
  const std::string f1 = std::to_string(m1.size()) + " " + m1;
  const std::string f2 = std::to_string(m2.size()) + " " + m2;
  ASSERT_TRUE(sink->Deliver(BolaRecord()).ok());
  ASSERT_TRUE(sink->Deliver(FloodRecord()).ok());
  int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  EXPECT_EQ(ReadAll(conn, f1.size() + f2.size()), f1 + f2);
  // The receiver restarts: our connection is closed; the next message goes on a new one.
  ::close(conn);
  ASSERT_TRUE(sink->Deliver(FloodRecord()).ok());
  conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  EXPECT_EQ(ReadAll(conn, f2.size()), f2);
  EXPECT_EQ(sink->Stats().connects, 2u);
  ::close(conn);
  ::close(listener);
}

}  // namespace
}  // namespace ta::agent::alerts
