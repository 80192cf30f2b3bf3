// trafficctl's reading of the daemon's /metrics: parsing samples, and a real fetch from the
// daemon's own exposer on loopback.
#include <gtest/gtest.h>

#include "agent/ctl/exposition.h"
#include "agent/metrics.h"
#include "agent/metrics_server.h"

namespace ta::agent::ctl {
namespace {

TEST(CtlExpositionTest, ParsesTheNamedFamilyWithEscapedLabels) {
  const std::string text =
      "# HELP traffic_analyzer_tls_hooked x\n"
      "# TYPE traffic_analyzer_tls_hooked gauge\n"
      "traffic_analyzer_tls_hooked{comm=\"ngi\\\"nx\",library=\"/a b\\\\c\",pid=\"7\","
      "reason=\"\"} 1\n"
      "traffic_analyzer_tls_hooked_other 5\n"
      "traffic_analyzer_tls_hooked{comm=\"x\",library=\"\",pid=\"9\",reason=\"static\"} 0\n";
  auto samples = ParseSamples(text, "traffic_analyzer_tls_hooked");
  ASSERT_TRUE(samples.ok()) << samples.error().message;
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ((*samples)[0].labels.at("comm"), "ngi\"nx");
  EXPECT_EQ((*samples)[0].labels.at("library"), "/a b\\c");
  EXPECT_EQ((*samples)[0].value, 1);
  EXPECT_EQ((*samples)[1].labels.at("reason"), "static");
  EXPECT_EQ((*samples)[1].value, 0);
}

TEST(CtlExpositionTest, AMalformedSampleIsAnErrorNamingTheLine) {
  auto samples = ParseSamples("a 1\nfamily{x=\"1} 2\n", "family");
  ASSERT_FALSE(samples.ok());
  EXPECT_EQ(samples.error().message, "line 2 of /metrics is not a valid sample: family{x=\"1} 2");
}

TEST(CtlExpositionTest, FetchesFromTheDaemonsExposer) {
  Metrics metrics;
  metrics.UpdateTlsCoverage({{42, "nginx", "/usr/lib/libssl.so.3", true, ""},
                             {43, "app", "/usr/bin/app", false, "statically linked OpenSSL"}});
  // An ephemeral port: bind to 0 is not possible through the exposer, so probe a few.
  std::unique_ptr<MetricsServer> exposer;
  std::string address;
  for (int port = 39411; port < 39431 && !exposer; ++port) {
    address = "127.0.0.1:" + std::to_string(port);
    MetricsConfig config;
    config.listen = address;
    if (auto e = MetricsServer::Start(config, metrics.registry()); e.ok()) exposer = std::move(*e);
  }
  ASSERT_TRUE(exposer) << "no free loopback port";
  auto body = FetchMetrics(address);
  ASSERT_TRUE(body.ok()) << body.error().message;
  auto samples = ParseSamples(*body, "traffic_analyzer_tls_hooked");
  ASSERT_TRUE(samples.ok());
  ASSERT_EQ(samples->size(), 2u);
  EXPECT_EQ(samples->at(0).labels.at("comm"), "app");
  EXPECT_EQ(samples->at(0).labels.at("reason"), "statically linked OpenSSL");
  EXPECT_EQ(samples->at(1).value, 1);
}

TEST(CtlExpositionTest, AnUnreachableDaemonSaysWhatToCheck) {
  auto body = FetchMetrics("127.0.0.1:1");
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().message.find("is traffic-analyzer running"), std::string::npos)
      << body.error().message;
}

}  // namespace
}  // namespace ta::agent::ctl
