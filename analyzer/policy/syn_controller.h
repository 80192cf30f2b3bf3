// SYN admission throttle controller: a PID loop in the daemon that sets the share of new
// connections (SYNs) the XDP program admits on one service port, so that the service's error
// ratio or p99 latency, as the analyzer measures it, comes back to a setpoint. Pure: measurements
// and time in, admit ratio out.
//
// Control law (once per analyzer window, `Update`):
//   e   = (measured - setpoint) / setpoint        normalised overload, > 0 when over
//   I   = clamp(I + e * dt, -integral_limit, +integral_limit), not integrated further in the
//         direction of a saturated output (anti-windup)
//   D   = (e - e_prev) / dt
//   admit = clamp(1 - (kp * e + ki * I + kd * D), min_admit, 1)
// Against flapping:
//   - hold: once engaged, the throttle stays at least `hold_ns`, however good the signal looks;
//   - release: it disengages only after the measurement stayed at or below the setpoint for a
//     whole `release_ns`, and the admit ratio then returns to 1 (the rule is removed);
//   - a window with too few requests to measure (< min_requests) keeps the last ratio.
#pragma once

#include <cstdint>
#include <optional>

namespace ta::analyzer::policy {

enum class SynSignal : uint8_t { kErrorRatio, kP99Latency };

struct SynControllerConfig {
  SynSignal signal = SynSignal::kErrorRatio;
  double setpoint = 0.01;  // error ratio (0..1) or p99 in seconds
  // The error is normalised by the setpoint (9 % errors against 1 % is e = 8), so gains are
  // small: these settle a 3x overload on a steep plant within minutes without swinging
  // (tests/analyzer/policy/syn_controller_test.cc); ki x integral_limit = 1 lets the integral
  // alone span the whole admit range.
  double kp = 0.02;
  double ki = 0.02;
  double kd = 0.0;
  double integral_limit = 50.0;  // |I| bound, in (normalised error x seconds)
  double min_admit = 0.05;      // never admit less than this share
  uint64_t hold_ns = 30ULL * 1'000'000'000;
  uint64_t release_ns = 60ULL * 1'000'000'000;
  uint64_t min_requests = 20;   // per window, for a measurement to count
};

// One window's measurement on the port.
struct SynMeasurement {
  uint64_t requests = 0;
  uint64_t errors = 0;       // 5xx (and gRPC failures)
  double p99_seconds = 0.0;  // 0 when unknown
};

class SynController {
 public:
  explicit SynController(SynControllerConfig config);

  // The policy decided to throttle (again): engages if idle, extends the hold otherwise.
  void Engage(uint64_t now_ns);
  // Feeds one window; returns the new admit ratio in [min_admit, 1].
  double Update(uint64_t now_ns, const SynMeasurement& measurement);

  bool engaged() const { return engaged_; }
  // True once, after Update() decided to release (engaged() is then false).
  bool TakeReleased();
  double admit_ratio() const { return admit_; }
  double integral() const { return integral_; }

 private:
  SynControllerConfig config_;
  bool engaged_ = false;
  bool released_ = false;
  uint64_t engaged_at_ns_ = 0;
  uint64_t last_update_ns_ = 0;
  std::optional<uint64_t> below_since_ns_;
  double integral_ = 0.0;
  double last_error_ = 0.0;
  double admit_ = 1.0;
};

}  // namespace ta::analyzer::policy
