// Fixed anomaly records for the sink tests.
#pragma once

#include <string>

#include "analyzer/anomaly/anomaly.h"

namespace ta::agent::alerts::testing {

using analyzer::anomaly::Anomaly;
using analyzer::anomaly::AnomalyState;
using analyzer::anomaly::ClientAddress;
using analyzer::anomaly::ClientShare;
using analyzer::anomaly::DetectorKind;
using analyzer::anomaly::Severity;

inline ClientAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  ClientAddress out;
  out.family = 2;
  out.addr[0] = a, out.addr[1] = b, out.addr[2] = c, out.addr[3] = d;
  return out;
}

inline ClientAddress DocumentationV6() {  // 2001:db8::1
  ClientAddress out;
  out.family = 10;
  out.addr[0] = 0x20, out.addr[1] = 0x01, out.addr[2] = 0x0d, out.addr[3] = 0xb8;
  out.addr[15] = 1;
  return out;
}

// 2025-11-24T23:20:30Z .. 23:20:35.123Z
inline constexpr uint64_t kWindowStart = 1764026430000000000ULL;
inline constexpr uint64_t kWindowEnd = 1764026435123456789ULL;

// A BOLA finding: one client enumerating objects on one route (a single-subject detector).
inline Anomaly BolaRecord() {
  Anomaly a;
  a.id = 42;
  a.detector = DetectorKind::kBola;
  a.severity = Severity::kCritical;
  a.state = AnomalyState::kFiring;
  a.port = 8080;
  a.route = "/api/users/{id}";
  a.subject = V4(198, 18, 0, 9);
  a.clients = {ClientShare{V4(198, 18, 0, 9), 120}, ClientShare{DocumentationV6(), 3}};
  a.observed = 412.5;
  a.baseline = 20;
  a.score = 19.625;
  a.threshold = 3;
  a.unit = "objects";
  a.window_start_ns = kWindowStart;
  a.window_end_ns = kWindowEnd;
  a.started_ns = kWindowEnd;
  a.explanation = "GET /api/users/{id}: 198.18.0.9 requested 412.5 objects (usual 20)";
  return a;
}

// A node-wide flood (port 0, no route): many clients, no subject.
inline Anomaly FloodRecord() {
  Anomaly a;
  a.id = 7;
  a.detector = DetectorKind::kFlood;
  a.severity = Severity::kWarning;
  a.port = 0;
  a.clients = {ClientShare{V4(198, 18, 0, 1), 900}, ClientShare{V4(198, 18, 0, 2), 850}};
  a.observed = 1800;
  a.baseline = 100.25;
  a.score = 6.5;
  a.threshold = 3;
  a.unit = "req/s";
  a.window_start_ns = kWindowStart;
  a.window_end_ns = kWindowEnd;
  a.started_ns = kWindowStart;
  a.explanation = "node: 1800 req/s (baseline 100.25 req/s)";
  return a;
}

}  // namespace ta::agent::alerts::testing
