#include "analyzer/policy/syn_controller.h"

#include <algorithm>
#include <utility>

namespace ta::analyzer::policy {

SynController::SynController(SynControllerConfig config) : config_(std::move(config)) {}

void SynController::Engage(uint64_t now_ns) {
  if (!engaged_) {
    engaged_ = true;
    integral_ = 0.0;
    last_error_ = 0.0;
    admit_ = 1.0;
    last_update_ns_ = now_ns;
  }
  // Engaging again means the anomaly still holds: the hold starts over, and a quiet stretch
  // measured so far does not count towards release.
  engaged_at_ns_ = now_ns;
  below_since_ns_.reset();
}

bool SynController::TakeReleased() { return std::exchange(released_, false); }

double SynController::Update(uint64_t now_ns, const SynMeasurement& m) {
  if (!engaged_) return admit_;
  // The window this measurement covers began at the previous update.
  const uint64_t window_start = last_update_ns_;
  const double dt =
      now_ns > last_update_ns_ ? static_cast<double>(now_ns - last_update_ns_) / 1e9 : 0.0;
  if (now_ns > last_update_ns_) last_update_ns_ = now_ns;

  const bool measurable = m.requests >= config_.min_requests && m.requests > 0 &&
                          (config_.signal == SynSignal::kErrorRatio || m.p99_seconds > 0.0);
  if (measurable) {
    const double measured = config_.signal == SynSignal::kErrorRatio
                                ? static_cast<double>(m.errors) / static_cast<double>(m.requests)
                                : m.p99_seconds;
    const double e = (measured - config_.setpoint) / config_.setpoint;
    const double derivative = dt > 0.0 ? (e - last_error_) / dt : 0.0;
    const double pd = config_.kp * e + config_.kd * derivative;
    // Anti-windup: the integral moves toward saturation only as far as the output can follow
    // (to exactly min_admit, or exactly 1) and never beyond (an output pinned at min_admit
    // does not need more "throttle harder", one pinned at 1 no more "admit more"), so the loop
    // comes back as soon as the measurement crosses the setpoint instead of first unwinding a
    // debt it could not act on. A step that would saturate still integrates up to the edge:
    // under a sustained overload the throttle closes down to min_admit, not just to what the
    // proportional term alone gives.
    double candidate =
        std::clamp(integral_ + e * dt, -config_.integral_limit, config_.integral_limit);
    if (config_.ki > 0.0) {
      const double at_floor = (1.0 - config_.min_admit - pd) / config_.ki;  // admit == min
      const double at_ceiling = -pd / config_.ki;                           // admit == 1
      if (e > 0.0 && candidate > at_floor) candidate = std::max(integral_, at_floor);
      if (e < 0.0 && candidate < at_ceiling) candidate = std::min(integral_, at_ceiling);
    }
    integral_ = candidate;
    admit_ = std::clamp(1.0 - (pd + config_.ki * integral_), config_.min_admit, 1.0);
    last_error_ = e;

    if (measured <= config_.setpoint) {
      if (!below_since_ns_) below_since_ns_ = window_start;
    } else {
      below_since_ns_.reset();
    }
  }
  // A window too small to measure keeps the ratio and neither starts nor breaks the quiet
  // stretch that release waits for.
  const bool held = now_ns - std::min(now_ns, engaged_at_ns_) < config_.hold_ns;
  if (!held && below_since_ns_ &&
      now_ns - std::min(now_ns, *below_since_ns_) >= config_.release_ns) {
    engaged_ = false;
    released_ = true;
    below_since_ns_.reset();
    integral_ = 0.0;
    last_error_ = 0.0;
    admit_ = 1.0;
  }
  return admit_;
}

}  // namespace ta::analyzer::policy
