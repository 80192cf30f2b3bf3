// Anomaly records: what the anomaly engine decides, and the sink it reports them to.
//
// One anomaly is one (detector, port, route, subject) condition that holds over one or more
// consecutive windows. It is reported twice: when it starts firing (state kFiring) and when it
// has not held for AnomalyEngineConfig::resolve_after_windows windows (state kResolved, with
// the same id). Sinks turn the pair into an Alertmanager alert with endsAt, a syslog line each,
// a JSON line each, and the traffic_analyzer_anomalies_total counter (firing only).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ta::analyzer::anomaly {

enum class DetectorKind : uint8_t {
  kFlood = 0,        // request rate far above its baseline (Z-score)
  kErrorBudget = 1,  // 5xx ratio / SLO burn rate
  kLatency = 2,      // p99 far above its baseline
  kExfiltration = 3,  // random-looking (encrypted) bodies with a response-size jump
  kSlowRate = 4,     // slowloris, slow POST, slow read
  kBola = 5,         // object-ID enumeration by one client on one route
};
inline constexpr size_t kDetectorKinds = 6;
// "flood", "error_budget", "latency", "exfiltration", "slow_rate", "bola": the label values and
// the config section names.
std::string_view DetectorName(DetectorKind kind);

// Syslog-like ladder, mapped to RFC 5424 severities by the syslog sink: kWarning = ticket
// (investigate within hours), kCritical = page (act now).
enum class Severity : uint8_t { kWarning = 0, kCritical = 1 };
std::string_view SeverityName(Severity severity);  // "warning", "critical"

enum class AnomalyState : uint8_t { kFiring = 0, kResolved = 1 };
std::string_view StateName(AnomalyState state);  // "firing", "resolved"

// A client address as the anomaly names it: IPv4 in the first 4 bytes (family 2) or IPv6
// (family 10); ToString gives "198.18.0.1" or "2001:db8::1".
struct ClientAddress {
  std::array<uint8_t, 16> addr{};
  uint8_t family = 0;
  bool operator==(const ClientAddress&) const = default;
  std::string ToString() const;
};

struct ClientShare {
  ClientAddress client;
  uint64_t count = 0;  // requests (or connections, or objects) attributed in the window
};

struct Anomaly {
  uint64_t id = 0;  // unique per engine lifetime (persisted), same for firing and resolved
  DetectorKind detector = DetectorKind::kFlood;
  Severity severity = Severity::kWarning;
  AnomalyState state = AnomalyState::kFiring;
  uint16_t port = 0;  // server port; 0 = the whole node
  std::string route;  // templated route; "" = all routes of the port (or the node)
  // The one client the anomaly is about (exfiltration, slow-rate, BOLA); family 0 when it is
  // about a route, port or node as a whole (flood, errors, latency: see `clients` for sources).
  ClientAddress subject;
  // Top contributing clients, largest first (at most AnomalyEngineConfig::max_clients).
  std::vector<ClientShare> clients;
  double observed = 0.0;   // the value that fired (rate/s, ratio, seconds, bits/byte, count)
  double baseline = 0.0;   // what was expected (mean, SLO budget, ...)
  double score = 0.0;      // detector-specific (Z-score, burn rate, ...)
  double threshold = 0.0;  // the score threshold in force when it fired
  std::string unit;        // of observed/baseline: "req/s", "ratio", "s", "bytes", "objects", ...
  uint64_t window_start_ns = 0;  // wall-clock ns (Unix epoch) of the window that fired/resolved
  uint64_t window_end_ns = 0;
  uint64_t started_ns = 0;  // first firing window's end (wall clock); resolved keeps it
  std::string explanation;  // one line for a human, e.g. "GET /api/users/{id}: 412 req/s ..."
};

class AnomalySink {
 public:
  virtual ~AnomalySink() = default;
  virtual void OnAnomaly(const Anomaly& anomaly) = 0;
};

}  // namespace ta::analyzer::anomaly
