#include "agent/live_stats.h"

#include <gtest/gtest.h>

namespace ta::agent {
namespace {

TEST(LiveRouteStatsTest, RatesErrorsAndP99OverTheWindow) {
  LiveRouteStats live;
  // 10 s x 100 requests on :80 /a, 5 % of them 5xx; latencies 1 ms except every 100th at
  // 100 ms (1 %: the p99 is still in the 1 ms bin, the p99.x would not be).
  for (uint64_t s = 100; s < 110; ++s) {
    for (int i = 0; i < 100; ++i) {
      live.AddRequest(s, 80, "/a", i % 20 == 0, i == 99 ? 0.1 : 0.001);
    }
  }
  live.AddRequest(109, 443, "/b", false, 0.5);
  auto rows = live.Top(109);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].route, "/a");
  EXPECT_DOUBLE_EQ(rows[0].rps, 100.0);
  EXPECT_DOUBLE_EQ(rows[0].errors_per_s, 5.0);
  EXPECT_DOUBLE_EQ(rows[0].error_ratio, 0.05);
  // 1 ms lands in the bin whose upper edge is the first >= 1 ms: within 25 % above it.
  EXPECT_GE(rows[0].p99_ms, 1.0);
  EXPECT_LT(rows[0].p99_ms, 1.25);
  EXPECT_EQ(rows[1].port, 443);
  EXPECT_DOUBLE_EQ(rows[1].rps, 0.1);
  EXPECT_GE(rows[1].p99_ms, 500.0);
  EXPECT_LT(rows[1].p99_ms, 625.0);
}

TEST(LiveRouteStatsTest, OldSecondsLeaveTheWindow) {
  LiveRouteStats live;
  live.AddRequest(100, 80, "/a", true, 0.01);
  EXPECT_EQ(live.Top(109).size(), 1u);
  EXPECT_TRUE(live.Top(110).empty());  // second 100 is 10 s old: out of a 10 s window
  // A slot reused by a later second starts from zero.
  live.AddRequest(110, 80, "/a", false, 0.01);
  auto rows = live.Top(110);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].errors_per_s, 0.0);
}

TEST(LiveRouteStatsTest, PortWindowMergesRoutes) {
  LiveRouteStats live;
  for (int i = 0; i < 30; ++i) live.AddRequest(50, 80, "/a", i < 3, 0.002);
  for (int i = 0; i < 70; ++i) live.AddRequest(51, 80, "/b", false, 0.002);
  live.AddRequest(51, 81, "/a", true, 9.0);  // another port: not merged
  LivePortWindow w = live.Port(51, 80, 5);
  EXPECT_EQ(w.requests, 100u);
  EXPECT_EQ(w.errors, 3u);
  EXPECT_GE(w.p99_seconds, 0.002);
  EXPECT_LT(w.p99_seconds, 0.0025);
  EXPECT_EQ(live.Port(51, 80, 1).requests, 70u);
  EXPECT_EQ(live.Port(51, 82, 5).requests, 0u);
  EXPECT_EQ(live.Port(51, 82, 5).p99_seconds, 0.0);
}

TEST(LiveRouteStatsTest, RoutesBeyondTheBoundShareOneRow) {
  LiveRouteStats live(2);
  live.AddRequest(1, 80, "/a", false, 0.001);
  live.AddRequest(1, 80, "/b", false, 0.001);
  live.AddRequest(1, 80, "/c", false, 0.001);
  live.AddRequest(1, 80, "/d", false, 0.001);
  auto rows = live.Top(1);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].route, LiveRouteStats::kOverflowRoute);
  EXPECT_DOUBLE_EQ(rows[0].rps, 0.2);
}

TEST(LiveRouteStatsTest, LatencyBinsCoverMicrosecondsToMinutes) {
  EXPECT_DOUBLE_EQ(LiveRouteStats::BinUpperSeconds(0), 50e-6);
  EXPECT_GT(LiveRouteStats::BinUpperSeconds(LiveRouteStats::kBins - 1), 60.0);
  LiveRouteStats live;
  live.AddRequest(1, 80, "/a", false, -1.0);  // a clock oddity lands in the first bin
  live.AddRequest(1, 80, "/a", false, 1e9);   // and an absurd one in the last
  EXPECT_EQ(live.Port(1, 80, 1).requests, 2u);
}

}  // namespace
}  // namespace ta::agent
