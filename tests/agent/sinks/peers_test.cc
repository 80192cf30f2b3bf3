// The sinks against the real receivers: a prometheus-alertmanager and an rsyslogd started by
// the test on 127.0.0.1 with temporary configs, free ports and state in a temporary directory.
// Without the binary the test is skipped (a failure when CI is set: CI installs both, see
// .ci/setup.sh). Every wait is a bounded poll; children are killed and temporary directories
// removed on every path.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/alerts/alertmanager.h"
#include "agent/alerts/dispatcher.h"
#include "agent/alerts/http_client.h"
#include "agent/alerts/syslog.h"
#include "tests/agent/sinks/http_test_server.h"
#include "tests/agent/sinks/test_records.h"

namespace ta::agent::alerts {
namespace {

using testing::BolaRecord;
using testing::FloodRecord;
using testing::HttpTestServer;

constexpr const char* kAlertmanager = "/usr/bin/prometheus-alertmanager";
constexpr const char* kRsyslogd = "/usr/sbin/rsyslogd";

#define TA_REQUIRE_BINARY(path)                                                             \
  do {                                                                                      \
    if (::access(path, X_OK) != 0) {                                                        \
      if (std::getenv("CI") != nullptr) {                                                   \
        FAIL() << path << " is missing and CI is set: install it (.ci/setup.sh lists it)";  \
      }                                                                                     \
      GTEST_SKIP() << path << " is not installed (apt-get install prometheus-alertmanager " \
                   << "rsyslog)";                                                           \
    }                                                                                       \
  } while (0)

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/ta-sink-peers-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

// A child process, killed (SIGTERM, then SIGKILL after 5 s) and reaped on destruction. Its
// stdout and stderr go to `log`, shown when a test fails.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& log) : log_(log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool Running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// A port free on 127.0.0.1 a moment ago (bind to 0, read it, close).
uint16_t FreePort(int type) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// Polls `done` every 50 ms for at most `timeout`.
bool PollUntil(const std::function<bool()>& done,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string Get(const std::string& url) {
  auto response = HttpRequest(ParseHttpUrl(url).value(), "GET", "", "", {});
  if (!response.ok() || response->status != 200) return "";
  return response->body;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(AlertmanagerPeer, FiringThenResolvedReachTheWebhook) {
  TA_REQUIRE_BINARY(kAlertmanager);
  TempDir dir;
  HttpTestServer webhook;
  const uint16_t port = FreePort(SOCK_STREAM);
  // Every alert its own group ('...'), notified at once, resolved at the next group interval.
  WriteFile(dir.path + "/alertmanager.yml",
            "route:\n"
            "  receiver: test\n"
            "  group_by: ['...']\n"
            "  group_wait: 0s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: test\n"
            "    webhook_configs:\n"
            "      - url: " +
                webhook.url() +
                "/hook\n"
                "        send_resolved: true\n");
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  Child alertmanager({kAlertmanager, "--config.file=" + dir.path + "/alertmanager.yml",
                      "--storage.path=" + dir.path + "/data",
                      "--web.listen-address=127.0.0.1:" + std::to_string(port),
                      "--cluster.listen-address=", "--log.level=warn"},
                     dir.path + "/alertmanager.log");
  ASSERT_TRUE(PollUntil([&] { return !Get(base + "/-/ready").empty() || !alertmanager.Running(); }))
      << alertmanager.Log();
  ASSERT_TRUE(alertmanager.Running()) << alertmanager.Log();

  AlertmanagerConfig config;
  config.urls = {base};
  config.instance = "node-1";
  auto sink = AlertmanagerSink::Create(config);
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  AlertDispatcher dispatcher;
  dispatcher.AddSink(std::move(sink.value()));
  dispatcher.Start();

  const std::string labels =
      R"j("labels":{"alertname":"TrafficAnalyzerAnomaly","client":"198.18.0.9",)j"
      R"j("detector":"bola","instance":"node-1","port":"8080","route":"/api/users/{id}",)j"
      R"j("severity":"critical"})j";
  dispatcher.OnAnomaly(BolaRecord());
  std::string alerts;
  ASSERT_TRUE(PollUntil([&] {
    alerts = Get(base + "/api/v2/alerts");
    return alerts.find(labels) != std::string::npos;
  })) << alerts
      << alertmanager.Log();
  EXPECT_EQ(Count(alerts, "\"fingerprint\""), 1u) << alerts;
  EXPECT_NE(
      alerts.find(
          R"j("summary":"GET /api/users/{id}: 198.18.0.9 requested 412.5 objects (usual 20)")j"),
      std::string::npos)
      << alerts;
  EXPECT_NE(alerts.find(R"j("state":"active")j"), std::string::npos) << alerts;

  auto hooks = webhook.WaitForRequests(1);
  ASSERT_EQ(hooks.size(), 1u) << alertmanager.Log();
  EXPECT_EQ(hooks[0].path, "/hook");
  EXPECT_NE(hooks[0].body.find(R"j("status":"firing")j"), std::string::npos) << hooks[0].body;
  // Webhook payloads carry labels in the same sorted form.
  EXPECT_NE(hooks[0].body.find(labels), std::string::npos) << hooks[0].body;

  auto resolved = BolaRecord();
  resolved.state = analyzer::anomaly::AnomalyState::kResolved;
  resolved.clients.clear();  // the sink must still resolve the alert with client="198.18.0.9"
  resolved.window_end_ns = testing::kWindowEnd + 30'000'000'000ULL;
  dispatcher.OnAnomaly(resolved);
  hooks = webhook.WaitForRequests(2);
  ASSERT_EQ(hooks.size(), 2u) << alertmanager.Log();
  EXPECT_NE(hooks[1].body.find(R"j("status":"resolved")j"), std::string::npos) << hooks[1].body;
  EXPECT_NE(hooks[1].body.find(labels), std::string::npos) << hooks[1].body;
  EXPECT_NE(hooks[1].body.find(R"j("endsAt":"2025-11-24T23:21:05.123Z")j"), std::string::npos)
      << hooks[1].body;
  // Resolved alerts leave the active list.
  EXPECT_TRUE(PollUntil([&] {
    return Get(base + "/api/v2/alerts") == "[]\n" || Get(base + "/api/v2/alerts") == "[]";
  })) << Get(base + "/api/v2/alerts");

  dispatcher.Stop();
  const auto stats = dispatcher.Stats();
  EXPECT_EQ(stats[0].sent, 2u);
  EXPECT_EQ(stats[0].failed, 0u);
  EXPECT_EQ(stats[0].dropped, 0u);
}

// True once /proc/net/{udp,tcp} shows 127.0.0.1:port bound (TCP: listening, state 0A).
bool Bound(const char* table, uint16_t port, bool listening) {
  char needle[32];
  std::snprintf(needle, sizeof(needle), "0100007F:%04X", port);
  std::ifstream in(table);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (local == needle && (!listening || state == "0A")) return true;
  }
  return false;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(RsyslogPeer, Rfc5424OverUdpAndOctetCountedTcp) {
  TA_REQUIRE_BINARY(kRsyslogd);
  TempDir dir;
  std::filesystem::create_directory(dir.path + "/work");
  const uint16_t udp_port = FreePort(SOCK_DGRAM);
  const uint16_t tcp_port = FreePort(SOCK_STREAM);
  const std::string out = dir.path + "/out.log";
  // One line per message: which input, then the fields rsyslog's RFC 5424 parser found.
  WriteFile(dir.path + "/rsyslog.conf",
            "global(workDirectory=\"" + dir.path +
                "/work\")\n"
                "module(load=\"imudp\")\n"
                "module(load=\"imtcp\")\n"
                "template(name=\"fields\" type=\"string\" string=\"%inputname%|%pri%|"
                "%protocol-version%|%timereported:::date-rfc3339%|%hostname%|%app-name%|%procid%|"
                "%msgid%|%structured-data%|%msg%\\n\")\n"
                "ruleset(name=\"test\") {\n"
                "  action(type=\"omfile\" file=\"" +
                out +
                "\" template=\"fields\")\n"
                "}\n"
                "input(type=\"imudp\" address=\"127.0.0.1\" port=\"" +
                std::to_string(udp_port) +
                "\" ruleset=\"test\")\n"
                "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"" +
                std::to_string(tcp_port) + "\" ruleset=\"test\")\n");
  Child rsyslogd({kRsyslogd, "-n", "-f", dir.path + "/rsyslog.conf", "-i", dir.path + "/pid"},
                 dir.path + "/rsyslogd.log");
  ASSERT_TRUE(PollUntil([&] {
    return !rsyslogd.Running() ||
           (Bound("/proc/net/udp", udp_port, false) && Bound("/proc/net/tcp", tcp_port, true));
  })) << rsyslogd.Log();
  ASSERT_TRUE(rsyslogd.Running()) << rsyslogd.Log();

  SyslogConfig config;
  config.hostname = "node-1";
  config.address = "127.0.0.1:" + std::to_string(udp_port);
  config.transport = SyslogTransport::kUdp;
  auto udp = SyslogSink::Create(config);
  ASSERT_TRUE(udp.ok()) << udp.error().message;
  config.address = "127.0.0.1:" + std::to_string(tcp_port);
  config.transport = SyslogTransport::kTcp;
  auto tcp = SyslogSink::Create(config);
  ASSERT_TRUE(tcp.ok()) << tcp.error().message;

  auto flood = FloodRecord();
  flood.route = "/weird \"quoted\" \\ ]route";
  ASSERT_TRUE((*udp)->Deliver(BolaRecord()).ok());
  ASSERT_TRUE(PollUntil([&] { return Lines(ReadFile(out)).size() >= 1; })) << rsyslogd.Log();
  ASSERT_TRUE((*tcp)->Deliver(flood).ok());
  ASSERT_TRUE(PollUntil([&] { return Lines(ReadFile(out)).size() >= 2; })) << rsyslogd.Log();

  const auto lines = Lines(ReadFile(out));
  ASSERT_EQ(lines.size(), 2u) << ReadFile(out);
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(lines[0],
            "imudp|130|1|2025-11-24T23:20:35.123Z|node-1|traffic-analyzer|" + pid +
                "|ANOMALY|[anomaly@32473 id=\"42\" state=\"firing\" detector=\"bola\" "
                "severity=\"critical\" port=\"8080\" route=\"/api/users/{id}\" "
                "client=\"198.18.0.9\" observed=\"412.5\" baseline=\"20\" score=\"19.625\"]|"
                "\xEF\xBB\xBFGET /api/users/{id}: 198.18.0.9 requested 412.5 objects (usual 20)");
  EXPECT_EQ(lines[1],
            "imtcp|132|1|2025-11-24T23:20:35.123Z|node-1|traffic-analyzer|" + pid +
                "|ANOMALY|[anomaly@32473 id=\"7\" state=\"firing\" detector=\"flood\" "
                "severity=\"warning\" port=\"0\" route=\"/weird \\\"quoted\\\" \\\\ \\]route\" "
                "client=\"198.18.0.1\" observed=\"1800\" baseline=\"100.25\" score=\"6.5\"]|"
                "\xEF\xBB\xBFnode: 1800 req/s (baseline 100.25 req/s)");
}

}  // namespace
}  // namespace ta::agent::alerts
