// A deterministic generator of labelled HTTP traffic for evaluating the anomaly engine.
//
// It simulates days or weeks of a small service (a few routes on two ports) in event time and
// emits, in time order, what the analyzer would hand the anomaly engine: one HttpExchange per
// completed request (at its response end, like the analyzer) and one census of in-progress
// connections per window (Analyzer::Census). Normal traffic has a diurnal shape, a weekend dip,
// organic growth, a Zipf-ish client population, log-normal latencies, background 5xx, a few
// objects per client on ID routes and real JSON / gzip'd JSON body bytes. Attacks are injected
// at known times and each yields a Label naming the detector that should fire.
//
// Everything derives from one seed through std::mt19937_64, whose output the standard fixes,
// and this file's own distributions (std::*_distribution differ between standard libraries),
// so a seed gives the same stream everywhere.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/anomaly/anomaly.h"
#include "analyzer/http_exchange.h"

namespace ta::eval {

using analyzer::anomaly::ClientAddress;
using analyzer::anomaly::DetectorKind;

inline constexpr uint64_t kNsPerSecond = 1'000'000'000ULL;
inline constexpr uint64_t kNsPerMinute = 60 * kNsPerSecond;
inline constexpr uint64_t kNsPerHour = 60 * kNsPerMinute;
inline constexpr uint64_t kNsPerDay = 24 * kNsPerHour;
inline constexpr uint64_t kNsPerWeek = 7 * kNsPerDay;
// 2026-01-05T00:00:00Z, a Monday (Unix time 1767571200 s): the simulated epoch, so day 0 is a
// weekday and days 5 and 6 are the weekend.
inline constexpr uint64_t kEpochStartNs = 1'767'571'200ULL * kNsPerSecond;

// mt19937_64 plus distributions written here, so results do not depend on the standard library.
class Random {
 public:
  explicit Random(uint64_t seed) : engine_(seed) {}
  uint64_t Bits() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n) (n > 0), without modulo bias (rejection of the short tail).
  uint64_t Below(uint64_t n);
  bool Chance(double p) { return Uniform01() < p; }
  // Exponential with the given rate (mean 1 / rate).
  double Exponential(double rate) { return -std::log1p(-Uniform01()) / rate; }
  // Standard normal (Box-Muller, one value per call).
  double Normal();
  double LogNormal(double median, double sigma) { return median * std::exp(sigma * Normal()); }

 private:
  std::mt19937_64 engine_;
};

enum class BodyKind : uint8_t {
  kNone = 0,      // no response body sample
  kJson = 1,      // JSON text, >= 1 KiB
  kGzipJson = 2,  // gzip'd JSON (Content-Encoding: gzip), the compressed bytes as captured
  kRandom = 3,    // uniformly random bytes (encrypted / compressed archive)
};

struct RouteSpec {
  uint16_t port = 80;
  std::string method = "GET";
  std::string route;     // templated, as the analyzer reports it
  double peak_rps = 10;  // weekday daily peak at the start of the run
  double latency_median_s = 0.02;
  double latency_sigma = 0.5;  // of the log-normal
  BodyKind body = BodyKind::kJson;
  std::string content_type = "application/json";
  bool id_route = false;       // object_id is one of the client's objects
  double not_found_ratio = 0;  // share of 404 on an ID route
  uint64_t request_body_bytes = 0;
};

enum class AttackKind : uint8_t {
  kFlood = 0,       // magnitude: route rate multiplier (3 = the route at 3x its normal rate)
  kErrorBurst = 1,  // magnitude: 5xx share of the route's requests
  kLatency = 2,     // magnitude: latency multiplier on the route
  kSlowloris = 3,   // magnitude: connections from one source trickling request heads
  kBolaWalk = 4,    // magnitude: requests/s of one client walking sequential IDs
  kDump = 5,        // magnitude: random-looking response bytes/s to one client
};

struct AttackSpec {
  AttackKind kind = AttackKind::kFlood;
  std::string name;        // "flood 3x", shown in the table
  size_t route_index = 0;  // into GeneratorConfig::routes (slowloris: its port only)
  uint64_t start_ns = 0;   // offset from the run start
  uint64_t duration_ns = 0;
  double magnitude = 0;
};

// An announced launch: the route ramps to `factor` x its normal rate over ramp_ns, holds for
// hold_ns, and ramps back down over ramp_ns.
struct LaunchSpec {
  size_t route_index = 0;
  uint64_t start_ns = 0;  // offset from the run start
  uint64_t ramp_ns = 30 * kNsPerMinute;
  uint64_t hold_ns = 6 * kNsPerHour;
  double factor = 5.0;
  uint64_t end_ns() const { return start_ns + 2 * ramp_ns + hold_ns; }
};

struct GeneratorConfig {
  uint64_t seed = 1;
  uint64_t start_ns = kEpochStartNs;
  uint64_t duration_ns = 7 * kNsPerDay;
  std::vector<RouteSpec> routes;
  std::vector<AttackSpec> attacks;
  std::optional<LaunchSpec> launch;
  double weekly_growth = 1.30;  // organic growth, compounded continuously
  double night_trough = 0.20;   // diurnal minimum as a share of the peak (03:00; peak 15:00)
  double weekend_factor = 0.6;  // Saturday and Sunday volume vs a weekday
  double background_5xx = 0.0005;
  size_t clients = 500;        // normal client population
  double zipf_exponent = 0.9;  // client popularity ~ 1 / rank^s
  size_t flood_sources = 300;  // distinct attacker addresses of a flood
  // Slow but legitimate uploads (mobile clients): arrivals per second and at most this many
  // concurrent per client, so no source ever reaches the slow-rate threshold.
  double slow_client_rate = 1.0 / 60;
  size_t slow_clients = 40;
  size_t max_slow_per_client = 2;
  uint64_t census_interval_ns = 5 * kNsPerSecond;  // one census per anomaly window
  uint32_t body_sample_bytes = 4096;               // AnalyzerConfig::body_sample_bytes
};

// What the harness expects the engine to report for an injected attack.
struct Label {
  std::string name;
  DetectorKind detector = DetectorKind::kFlood;
  uint16_t port = 0;
  std::string route;  // "" = the label does not constrain the route
  std::optional<ClientAddress> client;
  uint64_t start_ns = 0;  // wall clock (Unix ns)
  uint64_t end_ns = 0;
};

struct GeneratedEvent {
  enum class Kind : uint8_t { kExchange, kCensus };
  Kind kind = Kind::kExchange;
  uint64_t time_ns = 0;             // emission time: the response end, or the census time
  analyzer::HttpExchange exchange;  // kExchange
  std::vector<analyzer::ConnectionProgress> census;  // kCensus
};

struct GeneratorCounts {
  uint64_t exchanges = 0;
  uint64_t attack_exchanges = 0;
  uint64_t censuses = 0;
  uint64_t census_entries = 0;
};

class TrafficGenerator {
 public:
  explicit TrafficGenerator(GeneratorConfig config);
  ~TrafficGenerator();
  TrafficGenerator(const TrafficGenerator&) = delete;
  TrafficGenerator& operator=(const TrafficGenerator&) = delete;

  // The next event in emission order (ties: stable). `event` is reused storage: its strings and
  // vectors keep their capacity. Returns false once the run's end is reached.
  bool Next(GeneratedEvent& event);

  // Labels of the configured attacks, ordered by start.
  const std::vector<Label>& labels() const;
  const GeneratorCounts& counts() const;
  const GeneratorConfig& config() const;
  // The intended normal (non-attack) request rate of a route at wall time t, req/s: what the
  // Poisson arrivals are thinned to.
  double NormalRate(size_t route_index, uint64_t wall_ns) const;
  // Addresses, for tests and reports.
  ClientAddress NormalClient(size_t index) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Helpers the generator uses and its tests check.
std::string MakeJsonDocument(Random& random, size_t min_bytes);
std::string GzipCompress(const std::string& data);
std::string GunzipForTest(const std::string& data);  // inflate a gzip stream (whole or prefix)

}  // namespace ta::eval
