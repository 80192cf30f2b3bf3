#include "agent/prereq.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/interfaces.h"

namespace ta::agent {
namespace {

TEST(KernelRelease, ParsesDistributionStrings) {
  auto v = ParseKernelRelease("6.18.44-fc-v669");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major, 6);
  EXPECT_EQ(v->minor, 18);
  EXPECT_EQ(v->patch, 44);
  EXPECT_TRUE(v->AtLeast(5, 8));

  auto old = ParseKernelRelease("5.4.0-150-generic");
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->AtLeast(5, 8));
  EXPECT_TRUE(old->AtLeast(5, 4));

  auto two = ParseKernelRelease("6.1");
  ASSERT_TRUE(two.ok());
  EXPECT_TRUE(two->AtLeast(6, 1));
}

TEST(KernelRelease, RejectsGarbage) {
  auto v = ParseKernelRelease("linux");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().message, "cannot parse kernel release 'linux'");
}

class DefaultRoute : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("ta-proc-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(root_ / "net");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(root_ / "net" / name) << text;
  }
  std::filesystem::path root_;
};

constexpr const char* kRouteHeader =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

TEST_F(DefaultRoute, PicksLowestMetricIpv4Default) {
  Write("route", std::string(kRouteHeader) +
                     "eth1\t00000000\t0100A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
                     "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
                     "eth2\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
  auto r = DefaultRouteInterface(root_.string());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, "eth0");
}

TEST_F(DefaultRoute, FallsBackToIpv6) {
  Write("route", kRouteHeader);
  Write("ipv6_route",
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ens5\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n");
  auto r = DefaultRouteInterface(root_.string());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(*r, "ens5");
}

TEST_F(DefaultRoute, NoDefaultRouteNamesTheFix) {
  Write("route", kRouteHeader);
  auto r = DefaultRouteInterface(root_.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("set `interfaces` in the config"), std::string::npos);
}

}  // namespace
}  // namespace ta::agent
