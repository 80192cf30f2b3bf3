// Helpers for anomaly engine tests: exchanges from a few parameters, a recording sink, and a
// driver that emits evenly spaced traffic through an engine and ticks it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "analyzer/anomaly/anomaly.h"
#include "analyzer/anomaly/detector.h"
#include "analyzer/anomaly/engine.h"
#include "analyzer/http_exchange.h"

namespace ta::analyzer::anomaly::test_support {

inline constexpr uint64_t kSecond = 1'000'000'000ULL;
// 2026-01-05T00:00:00Z, a Monday: tests run on wall-clock-like times.
inline constexpr uint64_t kEpoch = 1'767'571'200ULL * kSecond;

inline ClientAddress Client(uint8_t a, uint8_t b) {
  ClientAddress c;
  c.family = 2;
  c.addr[0] = 198;
  c.addr[1] = 18;
  c.addr[2] = a;
  c.addr[3] = b;
  return c;
}

inline HttpExchange Exchange(const ClientAddress& client, uint16_t port, std::string route,
                             uint16_t status, uint64_t end_ns, uint64_t duration_ns = 1'000'000) {
  HttpExchange e;
  e.flow.family = client.family;
  e.flow.client_addr = client.addr;
  e.flow.server_addr = {198, 18, 0, 1};
  e.flow.client_port = 40000;
  e.flow.server_port = port;
  e.method = "GET";
  e.route = std::move(route);
  e.status = status;
  e.protocol_version = "1.1";
  e.scheme = "http";
  e.request_start_ns = end_ns - duration_ns;
  e.response_end_ns = end_ns;
  return e;
}

class RecordingSink : public AnomalySink {
 public:
  void OnAnomaly(const Anomaly& anomaly) override { records.push_back(anomaly); }
  std::vector<Anomaly> records;
};

// Emits `rate` requests per second, evenly spaced, on (port, route) from `clients` clients
// (round robin, 198.18.1.x), between [from, to), ticking the engine every second.
struct Traffic {
  uint16_t port = 80;
  std::string route = "/api/items";
  double rate = 20.0;
  uint16_t status = 200;
  uint64_t duration_ns = 1'000'000;
  uint8_t clients = 10;
  uint8_t client_subnet = 1;
};

inline void Drive(AnomalyEngine& engine, const std::vector<Traffic>& traffic, uint64_t from,
                uint64_t to) {
  // Times are computed from the start and an index (not accumulated in a double: at epoch
  // nanoseconds a double's step is 256 ns and the spacing would drift).
  std::vector<uint64_t> sent(traffic.size(), 0);
  for (uint64_t second = from; second < to; second += kSecond) {
    for (size_t i = 0; i < traffic.size(); ++i) {
      const Traffic& t = traffic[i];
      if (t.rate <= 0) continue;
      const double gap = 1e9 / t.rate;
      for (;;) {
        const uint64_t ts = from + static_cast<uint64_t>(static_cast<double>(sent[i]) * gap);
        if (ts >= second + kSecond) break;
        const auto client =
            Client(t.client_subnet, static_cast<uint8_t>(1 + sent[i] % t.clients));
        engine.OnHttpExchange(Exchange(client, t.port, t.route, t.status, ts, t.duration_ns));
        ++sent[i];
      }
    }
    engine.Tick(second + kSecond);
  }
}

// An engine config with only `kind` enabled.
inline AnomalyEngineConfig Only(DetectorKind kind) {
  AnomalyEngineConfig config;
  config.flood.enabled = kind == DetectorKind::kFlood;
  config.error_budget.enabled = kind == DetectorKind::kErrorBudget;
  config.latency.enabled = kind == DetectorKind::kLatency;
  config.exfiltration.enabled = kind == DetectorKind::kExfiltration;
  config.slow_rate.enabled = kind == DetectorKind::kSlowRate;
  config.bola.enabled = kind == DetectorKind::kBola;
  return config;
}

// Drives one detector the way the engine does: facts per exchange, a WindowContext per window,
// and an `active` set standing in for the engine's firing anomalies (Activate).
class DetectorHarness {
 public:
  explicit DetectorHarness(Detector& detector) : detector_(detector) {}

  void Feed(const HttpExchange& e) {
    ClientAddress client;
    client.addr = e.flow.client_addr;
    client.family = e.flow.family;
    detector_.OnExchange(ExchangeFacts{e, e.flow.server_port, e.route, client, e.response_end_ns,
                                       e.DurationSeconds(), static_cast<uint16_t>(e.status / 100)});
  }

  // Closes the engine window that starts at `start`.
  std::vector<Finding> Close(uint64_t start) {
    WindowContext ctx{start, start + config.window_ns, config, thresholds,
                      [this](uint16_t port, std::string_view route, const ClientAddress& c) {
                        return std::find(active.begin(), active.end(),
                                         std::make_tuple(port, std::string(route), c)) !=
                               active.end();
                      }};
    std::vector<Finding> out;
    detector_.CloseWindow(ctx, out);
    return out;
  }

  void Activate(const Finding& f) { active.emplace_back(f.port, f.route, f.subject); }

  AnomalyEngineConfig config;
  ThresholdTable thresholds;
  std::vector<std::tuple<uint16_t, std::string, ClientAddress>> active;

 private:
  Detector& detector_;
};

inline std::vector<Anomaly> Of(const std::vector<Anomaly>& records, DetectorKind kind) {
  std::vector<Anomaly> out;
  for (const Anomaly& a : records) {
    if (a.detector == kind) out.push_back(a);
  }
  return out;
}

}  // namespace ta::analyzer::anomaly::test_support
