#include "analyzer/anomaly/anomaly.h"

#include <arpa/inet.h>

namespace ta::analyzer::anomaly {

std::string_view DetectorName(DetectorKind kind) {
  switch (kind) {
    case DetectorKind::kFlood: return "flood";
    case DetectorKind::kErrorBudget: return "error_budget";
    case DetectorKind::kLatency: return "latency";
    case DetectorKind::kExfiltration: return "exfiltration";
    case DetectorKind::kSlowRate: return "slow_rate";
    case DetectorKind::kBola: return "bola";
  }
  return "unknown";
}

std::string_view SeverityName(Severity severity) {
  return severity == Severity::kCritical ? "critical" : "warning";
}

std::string_view StateName(AnomalyState state) {
  return state == AnomalyState::kResolved ? "resolved" : "firing";
}

std::string ClientAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  const int af = family == 10 ? AF_INET6 : AF_INET;
  if (family == 0 || inet_ntop(af, addr.data(), text, sizeof(text)) == nullptr) return "";
  return text;
}

}  // namespace ta::analyzer::anomaly
