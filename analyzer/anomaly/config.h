// Anomaly engine configuration: windows, baselines and every detector's thresholds, with the
// documented defaults (docs/configuration.md, section "anomaly"). Durations are nanoseconds.
#pragma once

#include <cstddef>
#include <cstdint>

#include "analyzer/stats/burn_rate.h"

namespace ta::analyzer::anomaly {

inline constexpr uint64_t kNsPerSecond = 1'000'000'000ULL;

struct FloodConfig {
  bool enabled = true;
  // Fires when (rate - expected) / sigma > z_threshold. Runtime-adjustable ("z_threshold").
  double z_threshold = 3.0;
  // Absolute volume floor: a window below this rate (req/s) never fires, so a quiet route does
  // not alert on a burst of a few requests.
  double min_rate = 10.0;
  // sigma is at least noise_floor * expected (and at least the Poisson sigma of the count), so
  // a very regular baseline does not turn ordinary jitter into huge Z-scores.
  double noise_floor = 0.2;
  // The window's count must also be this many standard deviations above a Poisson count with
  // the expected mean, in the variance-stabilised (Anscombe) scale. A Z-score of 3 on a
  // 5 s window would fire on chance about once a day per key at low rates, where counting
  // noise dominates; 5 Poisson sigmas is about one chance window per key per year.
  double poisson_z = 5.0;
  // Half-life of the level baseline (EWMA of the rate, deseasonalised once the diurnal
  // baseline is ready). Short enough to follow a launch that ramps over tens of minutes, long
  // enough that a step flood stands out for many windows (and the baseline freezes while the
  // flood is active).
  uint64_t half_life_ns = 10ULL * 60 * kNsPerSecond;
  // Windows of history before a key may fire (warm-up); 60 windows of 5 s = 5 minutes.
  uint32_t min_windows = 60;
  // Diurnal baseline: 288 slots of 5 minutes, used once 24 h of history exist.
  uint64_t diurnal_slot_ns = 5ULL * 60 * kNsPerSecond;
  uint64_t diurnal_min_history_ns = 24ULL * 3600 * kNsPerSecond;
  uint64_t diurnal_slot_half_life_ns = 7ULL * 24 * 3600 * kNsPerSecond;
};

struct ErrorBudgetConfig {
  bool enabled = true;
  // The seed rule: 5xx ratio > max_ratio over a rolling `window_minutes` -> critical (circuit).
  double max_ratio = 0.01;  // runtime-adjustable ("max_ratio")
  uint32_t window_minutes = 5;
  // Volume floors: every rule needs min_requests in the rolling window; the seed rule also needs
  // min_errors 5xx in it.
  uint64_t min_requests = 100;
  uint64_t min_errors = 10;
  // Multiwindow multi-burn-rate alerting (SRE Workbook ch. 5); burn.slo is the SLO.
  stats::BurnRateConfig burn;
  // Burn-rate trackers are per port and per (port, route) from a route's first request; at most
  // this many routes (~70 KB each; further routes are seen through their port's tracker).
  size_t max_tracked_routes = 256;
};

struct LatencyConfig {
  bool enabled = true;
  double quantile = 0.99;
  double z_threshold = 3.0;  // runtime-adjustable ("z_threshold")
  // The window's p99 must also be at least min_ratio x the baseline p99 and at least min_seconds:
  // a 2 ms route going to 3 ms is not an incident.
  double min_ratio = 2.0;
  double min_seconds = 0.005;
  // p99s are compared in log scale (latency is multiplicative); the standard deviation of
  // ln(p99) across windows is at least noise_floor (0.1 = about 10 %).
  double noise_floor = 0.1;
  // A p99 needs samples (the p99 of 50 samples is their maximum): windows are merged until
  // they hold min_samples (or max_merge_windows, then the samples are dropped as too few).
  uint64_t min_samples = 200;
  uint32_t max_merge_windows = 12;
  uint64_t half_life_ns = 30ULL * 60 * kNsPerSecond;
  uint32_t min_windows = 20;  // p99 samples of history before a key may fire
  double relative_accuracy = 0.01;  // of the DDSketch
};

struct ExfiltrationConfig {
  bool enabled = true;
  // Bits per byte (Miller-Madow corrected) above which a body looks encrypted/random.
  double entropy_bits = 7.5;  // runtime-adjustable ("entropy_bits")
  // Bodies with fewer decoded sample bytes are not scored (too few to tell).
  uint32_t min_sample_bytes = 1024;
  // Fires when one client's random-looking body bytes on a route in one window are at least
  // size_jump x that route's usual bytes per client per window, and at least min_bytes.
  double size_jump = 4.0;  // runtime-adjustable ("size_jump")
  uint64_t min_bytes = 256 * 1024;
  uint64_t half_life_ns = 60ULL * 60 * kNsPerSecond;
};

struct SlowRateConfig {
  bool enabled = true;
  // A connection is "slow" in a phase (request head, request body, response) once the phase is
  // older than min_age_ns and its byte rate is below max_bytes_per_second.
  uint64_t min_age_ns = 10ULL * kNsPerSecond;
  double max_bytes_per_second = 100.0;
  // Fires when one source holds at least this many slow connections (runtime-adjustable,
  // "max_slow_connections").
  uint32_t max_slow_connections = 10;
};

struct BolaConfig {
  bool enabled = true;
  // Distinct object IDs one client requests on one route template within window_ns.
  uint32_t max_distinct_objects = 50;  // runtime-adjustable ("max_distinct_objects")
  uint64_t window_ns = 60ULL * kNsPerSecond;
  // Evidence that turns many objects into enumeration (either suffices): share of 403/404
  // answers, or share of numeric IDs adjacent (+-1) to one already requested.
  double min_denied_ratio = 0.3;
  double min_sequential_ratio = 0.5;
  size_t max_tracked_clients = 10000;  // (route, client) pairs per window; beyond: counted
};

struct AnomalyEngineConfig {
  uint64_t window_ns = 5ULL * kNsPerSecond;
  // An event may arrive this late (event time behind the newest window's end) and still count
  // in its window: Tick closes a window only once now >= end + allowed_lateness. Older events
  // are counted in late_events and not scored; events more than max_future_ns ahead of the
  // newest event or tick are counted in future_events and not scored.
  uint64_t allowed_lateness_ns = 2ULL * kNsPerSecond;
  uint64_t max_future_ns = 60ULL * kNsPerSecond;
  // A firing anomaly resolves after this many consecutive windows without its condition.
  uint32_t resolve_after_windows = 6;
  // (port, route) keys with baselines; beyond it new routes share their port's key (counted).
  size_t max_keys = 1000;
  size_t max_clients = 5;  // clients named in an anomaly
  FloodConfig flood;
  ErrorBudgetConfig error_budget;
  LatencyConfig latency;
  ExfiltrationConfig exfiltration;
  SlowRateConfig slow_rate;
  BolaConfig bola;
};

}  // namespace ta::analyzer::anomaly
