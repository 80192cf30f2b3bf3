#include "analyzer/anomaly/thresholds.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace ta::analyzer::anomaly {
namespace {

ThresholdOverride Override(uint16_t port, std::string route, double value, uint64_t expires) {
  ThresholdOverride o;
  o.detector = DetectorKind::kFlood;
  o.parameter = "z_threshold";
  o.port = port;
  o.route = std::move(route);
  o.value = value;
  o.expires_ns = expires;
  return o;
}

TEST(ThresholdTable, MostSpecificUnexpiredOverrideWins) {
  ThresholdTable table;
  ASSERT_EQ(table.Set(Override(0, "", 4.0, 0), 10), std::nullopt);
  ASSERT_EQ(table.Set(Override(80, "", 5.0, 1000), 10), std::nullopt);
  ASSERT_EQ(table.Set(Override(80, "/launch", 6.0, 500), 10), std::nullopt);
  const auto get = [&](uint16_t port, std::string_view route, uint64_t now) {
    return table.Get(DetectorKind::kFlood, "z_threshold", port, route, now, 3.0);
  };
  EXPECT_EQ(get(80, "/launch", 100), 6.0);
  EXPECT_EQ(get(80, "/other", 100), 5.0);
  EXPECT_EQ(get(443, "/launch", 100), 4.0);
  EXPECT_EQ(get(80, "/launch", 500), 5.0);  // the route override expired at 500
  EXPECT_EQ(get(80, "/launch", 1000), 4.0);
  EXPECT_EQ(table.Get(DetectorKind::kLatency, "z_threshold", 80, "/launch", 100, 3.0), 3.0);
  EXPECT_EQ(table.Expire(1000), 2u);
  ASSERT_EQ(table.overrides().size(), 1u);
  EXPECT_TRUE(table.Clear(DetectorKind::kFlood, "z_threshold", 0, ""));
  EXPECT_FALSE(table.Clear(DetectorKind::kFlood, "z_threshold", 0, ""));
  EXPECT_EQ(get(80, "/launch", 100), 3.0);
}

TEST(ThresholdTable, SetReplacesTheSameTarget) {
  ThresholdTable table;
  ASSERT_EQ(table.Set(Override(80, "/a", 5.0, 0), 0), std::nullopt);
  ASSERT_EQ(table.Set(Override(80, "/a", 7.0, 0), 0), std::nullopt);
  ASSERT_EQ(table.overrides().size(), 1u);
  EXPECT_EQ(table.Get(DetectorKind::kFlood, "z_threshold", 80, "/a", 0, 3.0), 7.0);
}

TEST(ThresholdTable, BadInputIsRefusedWithAReasonAndChangesNothing) {
  ThresholdTable table;
  ThresholdOverride unknown = Override(80, "", 5.0, 0);
  unknown.parameter = "zscore";
  EXPECT_EQ(table.Set(unknown, 0),
            "unknown parameter 'zscore' for detector flood; adjustable: z_threshold, min_rate");
  EXPECT_EQ(table.Set(Override(80, "", 0.5, 0), 0),
            "flood.z_threshold = 0.5 is out of range; use a value in [1, 100]");
  ThresholdOverride nan = Override(80, "", std::nan(""), 0);
  EXPECT_TRUE(table.Set(nan, 0).has_value());
  EXPECT_EQ(table.Set(Override(0, "/a", 5.0, 0), 0),
            "route '/a' given without a port; a route override needs its port");
  EXPECT_EQ(table.Set(Override(80, "", 5.0, 100), 100),
            "the expiry of flood.z_threshold is already in the past; give a future time");
  EXPECT_TRUE(table.overrides().empty());
}

TEST(ThresholdTable, EveryAdjustableParameterHasASaneRange) {
  for (const AdjustableParameter& p : AdjustableParameters()) {
    SCOPED_TRACE(std::string(DetectorName(p.detector)) + "." + std::string(p.name));
    EXPECT_LT(p.min, p.max);
    EXPECT_FALSE(p.help.empty());
  }
}

}  // namespace
}  // namespace ta::analyzer::anomaly
