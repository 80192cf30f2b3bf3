#include "analyzer/policy/syn_controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ta::analyzer::policy {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kWindow = 5 * kSecond;
constexpr uint64_t kStart = 1'000 * kSecond;

// One window with `requests` requests of which `errors` failed.
SynMeasurement Errors(uint64_t requests, uint64_t errors) { return {requests, errors, 0.0}; }

// A service with capacity `capacity` new connections per window, offered `offered`: the
// admitted share above capacity fails, plus a small floor of errors at any load. The error
// ratio rises smoothly with load, as a saturating queue's does.
struct Plant {
  double offered = 30000;
  double capacity = 10000;
  SynMeasurement Measure(double admit) const {
    const double admitted = offered * admit;
    const double ratio = 0.01 * std::pow(admitted / capacity, 2.0);
    const auto requests = static_cast<uint64_t>(std::llround(admitted));
    const auto errors = static_cast<uint64_t>(std::llround(std::min(1.0, ratio) * admitted));
    return Errors(requests, errors);
  }
};

TEST(SynControllerTest, IdleControllerAdmitsEverything) {
  SynController c({});
  EXPECT_FALSE(c.engaged());
  EXPECT_EQ(c.Update(kStart, Errors(1000, 900)), 1.0);
  EXPECT_EQ(c.integral(), 0.0);
  EXPECT_FALSE(c.TakeReleased());
}

TEST(SynControllerTest, ProportionalStepMatchesTheControlLaw) {
  SynControllerConfig config;
  config.kp = 0.1;
  config.ki = 0.01;
  config.kd = 0.0;
  SynController c(config);
  c.Engage(kStart);
  // 2 % errors against a 1 % setpoint: e = 1, dt = 5 s, I = 5.
  EXPECT_DOUBLE_EQ(c.Update(kStart + kWindow, Errors(1000, 20)), 1.0 - (0.1 * 1 + 0.01 * 5));
  EXPECT_DOUBLE_EQ(c.integral(), 5.0);
}

TEST(SynControllerTest, DerivativeActsOnTheChangeOfTheError) {
  SynControllerConfig config;
  config.kp = 0.0;
  config.ki = 0.0;
  config.kd = 0.5;
  SynController c(config);
  c.Engage(kStart);
  // e: 0 -> 1 over 5 s: D = 0.2 -> admit 0.9; then e stays 1: D = 0 -> admit 1.
  EXPECT_DOUBLE_EQ(c.Update(kStart + kWindow, Errors(1000, 20)), 0.9);
  EXPECT_DOUBLE_EQ(c.Update(kStart + 2 * kWindow, Errors(1000, 20)), 1.0);
}

TEST(SynControllerTest, StepResponseConvergesToTheSetpoint) {
  // Gains for this plant: its error ratio rises with the square of the load, so around the
  // operating point a 1 % change of admit moves the normalised error by 6 %; kp x 6 well below
  // 1 keeps the proportional part from overshooting, and the integral (up to 50 x 0.02 = 1)
  // carries the steady state, where e = 0.
  SynControllerConfig config;
  config.kp = 0.02;
  config.ki = 0.02;
  config.integral_limit = 50;
  config.release_ns = 3600 * kSecond;  // not the subject here
  SynController c(config);
  Plant plant;
  uint64_t now = kStart;
  c.Engage(now);
  double admit = 1.0;
  double first_ratio = 0;
  double ratio = 0;
  for (int i = 0; i < 60; ++i) {
    const SynMeasurement m = plant.Measure(admit);
    ratio = static_cast<double>(m.errors) / static_cast<double>(m.requests);
    if (i == 0) first_ratio = ratio;
    if (i >= 30) {  // settled after 2.5 minutes, and stays so
      EXPECT_NEAR(ratio, 0.01, 0.0005) << "window " << i;
    }
    now += kWindow;
    admit = c.Update(now, m);
  }
  // Offered 3x capacity: 9 % errors unthrottled. The loop settles where the error ratio is the
  // setpoint, i.e. where the admitted load equals capacity: admit = 1/3.
  EXPECT_NEAR(first_ratio, 0.09, 1e-9);
  EXPECT_NEAR(admit, 1.0 / 3.0, 0.005);
  EXPECT_TRUE(c.engaged());
}

TEST(SynControllerTest, IntegralClampHoldsUnderSustainedOverload) {
  SynControllerConfig config;
  config.kp = 0.1;
  config.ki = 0.01;
  config.integral_limit = 5.0;
  config.min_admit = 0.0;
  SynController c(config);
  c.Engage(kStart);
  for (int i = 1; i <= 100; ++i) {
    // e = 1 every window: the output stays unsaturated (0.1 + 0.01 x 5 < 1), so only the clamp
    // stops the integral.
    c.Update(kStart + static_cast<uint64_t>(i) * kWindow, Errors(1000, 20));
    EXPECT_LE(c.integral(), 5.0);
  }
  EXPECT_DOUBLE_EQ(c.integral(), 5.0);
  EXPECT_DOUBLE_EQ(c.admit_ratio(), 1.0 - (0.1 + 0.05));
}

TEST(SynControllerTest, AntiWindupStopsIntegratingAtTheFloor) {
  SynControllerConfig config;
  config.kp = 1.0;
  config.ki = 0.2;
  config.integral_limit = 5.0;
  config.min_admit = 0.05;
  SynController c(config);
  c.Engage(kStart);
  uint64_t now = kStart;
  // Far over the setpoint for 10 minutes: the output is pinned at min_admit from the first
  // window, so the integral must not grow (it would then hold the throttle shut long after
  // the overload ends).
  for (int i = 0; i < 120; ++i) {
    now += kWindow;
    EXPECT_DOUBLE_EQ(c.Update(now, Errors(1000, 500)), 0.05);
  }
  EXPECT_DOUBLE_EQ(c.integral(), 0.0);
  // The overload ends: the first window below the setpoint opens the throttle right away.
  now += kWindow;
  EXPECT_DOUBLE_EQ(c.Update(now, Errors(1000, 0)), 1.0);
}

TEST(SynControllerTest, MinAdmitIsAFloor) {
  SynControllerConfig config;
  config.min_admit = 0.25;
  SynController c(config);
  c.Engage(kStart);
  EXPECT_DOUBLE_EQ(c.Update(kStart + kWindow, Errors(1000, 1000)), 0.25);
  EXPECT_DOUBLE_EQ(c.Update(kStart + 2 * kWindow, Errors(1000, 1000)), 0.25);
}

TEST(SynControllerTest, LowVolumeWindowsKeepTheRatio) {
  SynControllerConfig config;
  config.min_requests = 20;
  config.kp = 1.0;
  config.ki = 0.05;
  SynController c(config);
  c.Engage(kStart);
  const double throttled = c.Update(kStart + kWindow, Errors(1000, 15));  // e = 0.5
  EXPECT_DOUBLE_EQ(throttled, 1.0 - (0.5 + 0.05 * 2.5));
  const double integral = c.integral();
  // 19 requests, all failing: too few to measure.
  EXPECT_DOUBLE_EQ(c.Update(kStart + 2 * kWindow, Errors(19, 19)), throttled);
  EXPECT_DOUBLE_EQ(c.integral(), integral);
  // And none at all.
  EXPECT_DOUBLE_EQ(c.Update(kStart + 3 * kWindow, Errors(0, 0)), throttled);
}

TEST(SynControllerTest, P99SignalWithoutALatencyKeepsTheRatio) {
  SynControllerConfig config;
  config.signal = SynSignal::kP99Latency;
  config.setpoint = 0.2;  // 200 ms
  config.kp = 1.0;
  config.ki = 0.05;
  SynController c(config);
  c.Engage(kStart);
  // p99 0.3 s: e = 0.5.
  const double throttled = c.Update(kStart + kWindow, {1000, 0, 0.3});
  EXPECT_DOUBLE_EQ(throttled, 1.0 - (0.5 + 0.05 * 2.5));
  EXPECT_DOUBLE_EQ(c.Update(kStart + 2 * kWindow, {1000, 0, 0.0}), throttled);
}

TEST(SynControllerTest, HoldPreventsEarlyRelease) {
  SynControllerConfig config;
  config.hold_ns = 30 * kSecond;
  config.release_ns = 10 * kSecond;
  SynController c(config);
  c.Engage(kStart);
  uint64_t now = kStart;
  // Quiet from the first window on: release_ns is met after 10 s, but the hold lasts 30 s.
  for (int i = 1; i < 6; ++i) {
    now = kStart + static_cast<uint64_t>(i) * kWindow;
    c.Update(now, Errors(1000, 0));
    EXPECT_TRUE(c.engaged()) << "window " << i;
    EXPECT_FALSE(c.TakeReleased());
  }
  now = kStart + 6 * kWindow;  // 30 s after Engage
  EXPECT_DOUBLE_EQ(c.Update(now, Errors(1000, 0)), 1.0);
  EXPECT_FALSE(c.engaged());
  EXPECT_TRUE(c.TakeReleased());
  EXPECT_FALSE(c.TakeReleased());  // once
}

TEST(SynControllerTest, EngageAgainExtendsTheHold) {
  SynControllerConfig config;
  config.hold_ns = 30 * kSecond;
  config.release_ns = 10 * kSecond;
  SynController c(config);
  c.Engage(kStart);
  c.Engage(kStart + 20 * kSecond);
  for (int i = 1; i <= 9; ++i)
    c.Update(kStart + static_cast<uint64_t>(i) * kWindow, Errors(1000, 0));
  EXPECT_TRUE(c.engaged());  // 45 s: 25 s after the second Engage
  c.Update(kStart + 10 * kWindow, Errors(1000, 0));
  EXPECT_FALSE(c.engaged());
}

TEST(SynControllerTest, ReleaseOnlyAfterAWholeReleaseWindowBelowTheSetpoint) {
  SynControllerConfig config;
  config.hold_ns = 0;
  config.release_ns = 60 * kSecond;
  SynController c(config);
  c.Engage(kStart);
  uint64_t now = kStart;
  auto step = [&](uint64_t errors) {
    now += kWindow;
    return c.Update(now, Errors(1000, errors));
  };
  step(50);  // over
  // 11 quiet windows = 55 s below: not yet.
  for (int i = 0; i < 11; ++i) {
    step(0);
    EXPECT_TRUE(c.engaged()) << i;
  }
  // One window over the setpoint starts the count again.
  step(11);
  for (int i = 0; i < 11; ++i) step(10);  // exactly at the setpoint counts as below
  EXPECT_TRUE(c.engaged());
  EXPECT_DOUBLE_EQ(step(10), 1.0);  // the 12th: 60 s
  EXPECT_FALSE(c.engaged());
  EXPECT_TRUE(c.TakeReleased());
  EXPECT_DOUBLE_EQ(c.integral(), 0.0);
}

TEST(SynControllerTest, LowVolumeWindowsNeitherStartNorBreakTheQuietStretch) {
  SynControllerConfig config;
  config.hold_ns = 0;
  config.release_ns = 20 * kSecond;
  SynController c(config);
  c.Engage(kStart);
  c.Update(kStart + kWindow, Errors(1000, 0));      // below since kStart
  c.Update(kStart + 2 * kWindow, Errors(5, 5));     // too few: ignored
  c.Update(kStart + 3 * kWindow, Errors(1000, 0));  // 15 s
  EXPECT_TRUE(c.engaged());
  c.Update(kStart + 4 * kWindow, Errors(5, 5));  // 20 s below (by the measured windows' ends)
  EXPECT_FALSE(c.engaged());
}

TEST(SynControllerTest, NoFlappingAroundTheSetpoint) {
  SynControllerConfig config;
  config.hold_ns = 30 * kSecond;
  config.release_ns = 60 * kSecond;
  SynController c(config);
  c.Engage(kStart);
  uint64_t now = kStart;
  // Half a percent either side of the setpoint, alternating every window, for an hour: never
  // 60 s below in a row, so never released; the ratio stays inside (min_admit, 1].
  for (int i = 0; i < 720; ++i) {
    now += kWindow;
    const double admit = c.Update(now, Errors(1000, i % 2 == 0 ? 15 : 5));
    ASSERT_TRUE(c.engaged()) << "released at window " << i;
    EXPECT_GE(admit, 0.05);
    EXPECT_LE(admit, 1.0);
  }
  EXPECT_FALSE(c.TakeReleased());
}

TEST(SynControllerTest, RepeatedTimestampsDoNotDivideByZero) {
  SynControllerConfig config;
  config.kp = 1.0;
  SynController c(config);
  c.Engage(kStart);
  const double a = c.Update(kStart, Errors(1000, 15));  // dt = 0: P only
  EXPECT_DOUBLE_EQ(a, 0.5);
  EXPECT_DOUBLE_EQ(c.integral(), 0.0);
  EXPECT_TRUE(std::isfinite(c.Update(kStart - kSecond, Errors(1000, 15))));
}

}  // namespace
}  // namespace ta::analyzer::policy

namespace ta::analyzer::policy {
namespace {

TEST(SynControllerTest, ASaturatingStepIntegratesUpToTheFloorExactly) {
  SynControllerConfig config;  // kp 0.02, ki 0.02, integral_limit 50, min_admit 0.05
  SynController c(config);
  c.Engage(1'000 * 1'000'000'000ULL);
  // 30 % errors against 1 %: e = 29, pd = 0.58. A full step (29 x 5 s) would overshoot the
  // floor; the integral stops where the output reaches it: (1 - 0.05 - 0.58) / 0.02 = 18.5.
  SynMeasurement overload{.requests = 1000, .errors = 300, .p99_seconds = 0};
  EXPECT_NEAR(c.Update(1'005 * 1'000'000'000ULL, overload), 0.05, 1e-12);
  EXPECT_DOUBLE_EQ(c.integral(), 18.5);
  // More of the same: pinned at the floor, the integral does not grow.
  EXPECT_NEAR(c.Update(1'010 * 1'000'000'000ULL, overload), 0.05, 1e-12);
  EXPECT_DOUBLE_EQ(c.integral(), 18.5);
  // Healthy: e = -1, the integral unwinds by 5 and the throttle opens at once.
  SynMeasurement healthy{.requests = 1000, .errors = 0, .p99_seconds = 0};
  EXPECT_DOUBLE_EQ(c.Update(1'015 * 1'000'000'000ULL, healthy), 1.0 - (-0.02 + 0.02 * 13.5));
}

}  // namespace
}  // namespace ta::analyzer::policy
