#include "agent/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/agent/exposition.h"

namespace ta::agent {
namespace {

// Names of all families in the exposition, from their "# TYPE" lines.
std::set<std::string> FamilyNames(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

analyzer::HttpExchange Exchange(std::string method, std::string route, uint16_t status,
                                uint64_t duration_ns, std::optional<uint64_t> request_body,
                                std::optional<uint64_t> response_body) {
  analyzer::HttpExchange e;
  e.flow.family = 2;
  e.flow.client_port = 40000;
  e.flow.server_port = 8080;
  e.method = std::move(method);
  e.route = std::move(route);
  e.status = status;
  e.protocol_version = "1.1";
  e.scheme = "http";
  e.request_start_ns = 1'000'000'000;
  e.response_end_ns = e.request_start_ns + duration_ns;
  e.request_body_bytes = request_body;
  e.response_body_bytes = response_body;
  return e;
}

const std::string kUsersLabels =
    "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/{id}\","
    "network_protocol_version=\"1.1\",server_port=\"8080\",url_scheme=\"http\"";

TEST(MetricsTest, FamiliesAreTheDocumentedOnes) {
  Metrics metrics;
  // A family without series is not exposed: give every record kind one.
  metrics.OnHttpExchange(Exchange("GET", "/", 200, 1'000'000, 0, 0));
  analyzer::FlowKey flow;
  flow.server_port = 8080;
  analyzer::HttpExchange client = Exchange("GET", "/", 200, 1'000'000, 0, 0);
  client.role = analyzer::HttpRole::kClient;
  client.scheme = "https";
  metrics.OnHttpExchange(client);
  analyzer::GrpcCall call;
  call.flow = flow;
  call.service = "demo.Echo";
  call.method = "Unary";
  call.status = 0;
  metrics.OnGrpcCall(call);
  analyzer::WebSocketMessage message;
  message.flow = flow;
  message.type = analyzer::WebSocketMessageType::kClose;
  message.close_code = 1000;
  metrics.OnWebSocketMessage(message);
  analyzer::WebSocketSession session;
  session.flow = flow;
  metrics.OnWebSocketSession(session);
  analyzer::TlsClientHello hello;
  hello.flow = flow;
  hello.server_name = "api.example.com";
  hello.alpn = {"h2", "http/1.1"};
  hello.version = "1.3";
  metrics.OnTlsClientHello(hello);
  metrics.UpdateTlsCoverage({{42, "nginx", "/usr/lib/x86_64-linux-gnu/libssl.so.3", true, ""}});
  metrics.OnTcpOpened(flow, 1, false);
  metrics.OnTcpEstablished({flow, 1, 2, 3});
  Metrics::EnforcementSnapshot enforcement;
  enforcement.rules.push_back({7, "drop", "detector", {}});
  enforcement.syn_admit.emplace_back(8080, 0.5);
  enforcement.attached.push_back({"eth0", "native"});
  metrics.UpdateEnforcement(enforcement);
  analyzer::TcpConnectionEnd end;
  end.flow = flow;
  metrics.OnTcpEnded(end);
#define TA_TEST_FAMILY_NAME(name, help) #name,
  const std::set<std::string> expected = {
      TA_METRIC_FAMILIES(TA_TEST_FAMILY_NAME, TA_TEST_FAMILY_NAME, TA_TEST_FAMILY_NAME)};
#undef TA_TEST_FAMILY_NAME
  EXPECT_EQ(FamilyNames(metrics.SerializeText()), expected);

  // docs/metrics.md documents every one of them.
  std::ifstream in(std::string(TA_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(in) << "docs/metrics.md missing";
  std::string docs((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::string& name : expected) {
    EXPECT_NE(docs.find("`" + name + "`"), std::string::npos) << name << " not in docs";
  }
}

TEST(MetricsTest, EnforcementSeriesFollowTheRules) {
  Metrics metrics;
  Metrics::EnforcementSnapshot snap;
  snap.xdp[TA_XDP_STAT_PACKETS] = 100;
  snap.xdp[TA_XDP_STAT_DROPPED] = 40;
  ta_xdp_rule_counters c{};
  c.matched_packets = 50;
  c.dropped_packets = 40;
  c.dropped_bytes = 4000;
  snap.rules.push_back({7, "drop", "detector", c});
  snap.rules.push_back({9, "allow", "config", {}});
  snap.rules_added = 2;
  snap.syn_admit.emplace_back(443, 0.25);
  snap.attached.push_back({"eth0", "generic"});
  metrics.UpdateEnforcement(snap);
  std::string text = metrics.SerializeText();
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_xdp_packets_total{result=\"seen\"}"), "100");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_xdp_packets_total{result=\"dropped\"}"), "40");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_xdp_packets_total{result=\"syn_denied\"}"), "0");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_rule_packets_total{kind=\"drop\",origin=\""
                              "detector\",outcome=\"dropped\",rule=\"7\"}"),
            "40");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_rule_bytes_total{kind=\"drop\",origin=\""
                              "detector\",outcome=\"dropped\",rule=\"7\"}"),
            "4000");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_rules{kind=\"allow\",origin=\"config\"}"), "1");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_rule_changes_total{change=\"added\"}"), "2");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_syn_admit_ratio{server_port=\"443\"}"), "0.25");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_xdp_attached{interface=\"eth0\",mode=\""
                              "generic\"}"),
            "1");

  // Counters grow by the difference; a rule that is gone leaves the exposition.
  snap.rules.erase(snap.rules.begin() + 1);
  snap.rules[0].counters.dropped_packets = 45;
  snap.syn_admit.clear();
  metrics.UpdateEnforcement(snap);
  text = metrics.SerializeText();
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_rule_packets_total{kind=\"drop\",origin=\""
                              "detector\",outcome=\"dropped\",rule=\"7\"}"),
            "45");
  EXPECT_EQ(text.find("rule=\"9\""), std::string::npos);
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_rules{kind=\"allow\",origin=\"config\"}"), "0");
  EXPECT_EQ(text.find("traffic_analyzer_syn_admit_ratio{"), std::string::npos);
}

TEST(MetricsTest, FixedSeriesStartAtZero) {
  Metrics metrics;
  const std::string text = metrics.SerializeText();
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_build_info{version=\"" +
                                  std::string(BuildVersion()) + "\"}"),
            "1");
  for (const char* kind : {"conn_open", "conn_established", "conn_close", "payload", "tls_data"}) {
    EXPECT_EQ(SeriesValue(text, std::string("traffic_analyzer_events_received_total{kind=\"") +
                                    kind + "\"}"),
              "0");
  }
  for (const char* stage : {"ringbuf", "reassembly", "parser"}) {
    EXPECT_EQ(SeriesValue(
                  text, std::string("traffic_analyzer_events_lost_total{stage=\"") + stage + "\"}"),
              "0");
  }
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_parse_errors_total{protocol=\"http1\"}"), "0");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_connections_tracked"), "0");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_packets_total"), "0");
  // No HTTP series until an exchange is seen.
  EXPECT_EQ(text.find("http_server_request_duration_seconds_count"), std::string::npos);
}

TEST(MetricsTest, ExchangesGiveExactHistogramLines) {
  Metrics metrics;
  // 62.5 ms and 250 ms: exact in binary, and 0.25 sits on a bucket bound (bounds are inclusive).
  metrics.OnHttpExchange(Exchange("GET", "/users/{id}", 200, 62'500'000, 0, 150));
  metrics.OnHttpExchange(Exchange("GET", "/users/{id}", 200, 250'000'000, 0, std::nullopt));
  const std::string text = metrics.SerializeText();

  const std::string duration = "http_server_request_duration_seconds";
  EXPECT_EQ(SeriesValue(text, duration + "_count{" + kUsersLabels + "}"), "2");
  EXPECT_EQ(SeriesValue(text, duration + "_sum{" + kUsersLabels + "}"), "0.3125");
  const std::pair<const char*, const char*> buckets[] = {
      {"0.005", "0"}, {"0.01", "0"}, {"0.025", "0"}, {"0.05", "0"}, {"0.075", "1"},
      {"0.1", "1"},   {"0.25", "2"}, {"0.5", "2"},   {"0.75", "2"}, {"1", "2"},
      {"2.5", "2"},   {"5", "2"},    {"7.5", "2"},   {"10", "2"},   {"+Inf", "2"},
  };
  for (const auto& [le, count] : buckets) {
    EXPECT_EQ(SeriesValue(text, duration + "_bucket{" + kUsersLabels + ",le=\"" + le + "\"}"),
              count)
        << le;
  }
  // The exact line, labels in the exposition's (sorted) order.
  EXPECT_NE(text.find("\n" + duration + "_bucket{" + kUsersLabels + ",le=\"0.075\"} 1\n"),
            std::string::npos);

  const std::string request = "http_server_request_body_size_bytes";
  EXPECT_EQ(SeriesValue(text, request + "_count{" + kUsersLabels + "}"), "2");
  EXPECT_EQ(SeriesValue(text, request + "_sum{" + kUsersLabels + "}"), "0");
  EXPECT_EQ(SeriesValue(text, request + "_bucket{" + kUsersLabels + ",le=\"0\"}"), "2");

  // The unknown response size is not observed, but counted.
  const std::string response = "http_server_response_body_size_bytes";
  EXPECT_EQ(SeriesValue(text, response + "_count{" + kUsersLabels + "}"), "1");
  EXPECT_EQ(SeriesValue(text, response + "_sum{" + kUsersLabels + "}"), "150");
  EXPECT_EQ(SeriesValue(text, response + "_bucket{" + kUsersLabels + ",le=\"64\"}"), "0");
  EXPECT_EQ(SeriesValue(text, response + "_bucket{" + kUsersLabels + ",le=\"256\"}"), "1");
  EXPECT_EQ(SeriesValue(text, response + "_bucket{" + kUsersLabels + ",le=\"67108864\"}"), "1");
  EXPECT_EQ(
      SeriesValue(text, "traffic_analyzer_http_body_size_unknown_total{message=\"response\"}"),
      "1");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_http_body_size_unknown_total{message=\"request\"}"),
            "0");
}

TEST(MetricsTest, EachLabelValueMakesItsOwnSeries) {
  Metrics metrics;
  metrics.OnHttpExchange(Exchange("GET", "/users/{id}", 200, 1'000'000, 0, 10));
  metrics.OnHttpExchange(Exchange("GET", "/users/{id}", 404, 1'000'000, 0, 10));
  metrics.OnHttpExchange(Exchange("_OTHER", "/users/{id}", 200, 1'000'000, 0, 10));
  auto other_port = Exchange("GET", "/users/{id}", 200, 1'000'000, 0, 10);
  other_port.flow.server_port = 80;
  metrics.OnHttpExchange(other_port);
  auto http10 = Exchange("GET", "/users/{id}", 200, 1'000'000, 0, 10);
  http10.protocol_version = "1.0";
  metrics.OnHttpExchange(http10);
  auto https = Exchange("GET", "/", 500, 1'000'000, 0, 10);
  https.scheme = "https";
  metrics.OnHttpExchange(https);
  const std::string text = metrics.SerializeText();

  const std::string count = "http_server_request_duration_seconds_count";
  EXPECT_EQ(SeriesValue(text, count + "{" + kUsersLabels + "}"), "1");
  for (const char* labels : {
           "http_request_method=\"GET\",http_response_status_code=\"404\",http_route=\"/users/"
           "{id}\",network_protocol_version=\"1.1\",server_port=\"8080\",url_scheme=\"http\"",
           "http_request_method=\"_OTHER\",http_response_status_code=\"200\",http_route=\"/users/"
           "{id}\",network_protocol_version=\"1.1\",server_port=\"8080\",url_scheme=\"http\"",
           "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/"
           "{id}\",network_protocol_version=\"1.1\",server_port=\"80\",url_scheme=\"http\"",
           "http_request_method=\"GET\",http_response_status_code=\"200\",http_route=\"/users/"
           "{id}\",network_protocol_version=\"1.0\",server_port=\"8080\",url_scheme=\"http\"",
           "http_request_method=\"GET\",http_response_status_code=\"500\",http_route=\"/\","
           "network_protocol_version=\"1.1\",server_port=\"8080\",url_scheme=\"https\"",
       }) {
    EXPECT_EQ(SeriesValue(text, count + "{" + labels + "}"), "1") << labels;
  }
}

TEST(MetricsTest, AnalyzerStatsAddDeltasBetweenSnapshots) {
  Metrics metrics;
  analyzer::AnalyzerStats s;
  s.events_conn_open = 3;
  s.events_conn_close = 2;
  s.events_segment = 40;
  s.reassembly_gap_bytes = 1000;
  s.reassembly_overflow_segments = 4;
  s.uncaptured_bytes = 5000;
  s.parser_resyncs = 2;
  s.parser_discarded_bytes = 300;
  s.unanswered_requests = 6;
  s.orphan_responses = 7;
  s.http1_parse_errors = 8;
  s.http1_truncated_messages = 12;
  s.route_overflows = 13;
  s.connections_evicted = 9;
  s.connections_expired = 10;
  s.connections_tracked = 11;
  metrics.UpdateAnalyzerStats(s);
  metrics.UpdateAnalyzerStats(s);  // the same snapshot again adds nothing
  s.events_segment = 45;
  s.parser_resyncs = 3;
  s.connections_tracked = 1;
  metrics.UpdateAnalyzerStats(s);
  const std::string text = metrics.SerializeText();

  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_received_total{kind=\"conn_open\"}"), "3");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_received_total{kind=\"conn_close\"}"), "2");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_received_total{kind=\"payload\"}"), "45");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_lost_total{stage=\"reassembly\"}"), "4");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_lost_total{stage=\"parser\"}"), "3");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_lost_total{stage=\"ringbuf\"}"), "0");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_lost_bytes_total{stage=\"reassembly\"}"), "1000");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_lost_bytes_total{stage=\"parser\"}"), "300");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_uncaptured_bytes_total"), "5000");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_http_unpaired_messages_total{message=\"request\"}"),
            "6");
  EXPECT_EQ(
      SeriesValue(text, "traffic_analyzer_http_unpaired_messages_total{message=\"response\"}"),
      "7");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_parse_errors_total{protocol=\"http1\"}"), "8");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_connections_evicted_total{reason=\"table_full\"}"),
            "9");
  EXPECT_EQ(
      SeriesValue(text, "traffic_analyzer_connections_evicted_total{reason=\"idle_timeout\"}"),
      "10");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_connections_tracked"), "1");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_http_truncated_messages_total{protocol=\"http1\"}"),
            "12");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_http_route_overflows_total"), "13");
}

TEST(MetricsTest, SnapshotBelowThePreviousCountsAsRestart) {
  Metrics metrics;
  analyzer::AnalyzerStats s;
  s.events_segment = 100;
  metrics.UpdateAnalyzerStats(s);
  s.events_segment = 5;  // a new source started from zero and has seen 5 since
  metrics.UpdateAnalyzerStats(s);
  s.events_segment = 7;
  metrics.UpdateAnalyzerStats(s);
  EXPECT_EQ(SeriesValue(metrics.SerializeText(),
                        "traffic_analyzer_events_received_total{kind=\"payload\"}"),
            "107");
}

TEST(MetricsTest, KernelStatsMapEveryCounter) {
  Metrics metrics;
  std::array<uint64_t, TA_STAT_MAX> k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = 100 + i;  // distinct, to catch a mix-up
  metrics.UpdateKernelStats(k);
  k[TA_STAT_RINGBUF_DROP_PAYLOAD] += 10;
  metrics.UpdateKernelStats(k);
  const std::string text = metrics.SerializeText();

  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_packets_total"), "100");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_events_submitted_total{kind=\"payload\"}"),
            "101");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_events_submitted_total{kind=\"conn\"}"),
            "102");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_events_dropped_total{kind=\"payload\"}"),
            "113");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_events_dropped_total{kind=\"conn\"}"),
            "104");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_conn_update_failures_total"), "105");
  EXPECT_EQ(
      SeriesValue(text, "traffic_analyzer_kernel_packets_skipped_total{reason=\"malformed\"}"),
      "106");
  EXPECT_EQ(SeriesValue(text,
                        "traffic_analyzer_kernel_packets_skipped_total{reason=\"ipv6_ext_"
                        "unsupported\"}"),
            "107");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_packets_skipped_total{reason=\"fragment\"}"),
            "108");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_kernel_payload_load_failures_total"), "109");
  // Ring buffer loss is both kinds of failed reservation together.
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_lost_total{stage=\"ringbuf\"}"), "217");
}

TEST(MetricsTest, DecodeStats) {
  Metrics metrics;
  EXPECT_EQ(SeriesValue(metrics.SerializeText(), "traffic_analyzer_records_invalid_total"), "0");
  metrics.UpdateDecodeStats(2);
  metrics.UpdateDecodeStats(3);
  EXPECT_EQ(SeriesValue(metrics.SerializeText(), "traffic_analyzer_records_invalid_total"), "3");
}

TEST(MetricsTest, ConcurrentExchangesAreAllCounted) {
  Metrics metrics;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.OnHttpExchange(Exchange("GET", i % 2 ? "/a" : "/b", static_cast<uint16_t>(200 + t),
                                        1'000'000, 0, std::nullopt));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const std::string text = metrics.SerializeText();
  EXPECT_EQ(
      SeriesValue(text, "traffic_analyzer_http_body_size_unknown_total{message=\"response\"}"),
      std::to_string(kThreads * kPerThread));
  EXPECT_EQ(SeriesValue(text,
                        "http_server_request_duration_seconds_count{http_request_method=\"GET\","
                        "http_response_status_code=\"203\",http_route=\"/a\",network_protocol_"
                        "version=\"1.1\",server_port=\"8080\",url_scheme=\"http\"}"),
            std::to_string(kPerThread / 2));
}

}  // namespace
}  // namespace ta::agent
