// The daemon's answers on the control socket (docs/control.md): status, rules, thresholds,
// anomalies and the live route table. Runs on the main thread like everything it reads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/config.h"
#include "agent/control/control_server.h"
#include "agent/live_stats.h"

namespace ta::analyzer {
class Analyzer;
}

namespace ta::agent {
class AnomalyService;
class TlsProbes;
namespace enforce {
class EnforcementService;
}
}  // namespace ta::agent

namespace ta::agent::control {

// Ring buffer event and loss rates over the last housekeeping interval.
struct EventRates {
  double per_second = 0;
  double lost_per_second = 0;
  uint64_t lost_total = 0;
};

// What the handler reads; pointers to absent parts are null (TLS off, anomaly engine off,
// enforcement off).
struct DaemonView {
  const Config* config = nullptr;
  std::string kernel_release;
  std::vector<std::pair<std::string, bool>> features;  // probed at start-up
  std::vector<std::string> capture_interfaces;
  uint64_t started_mono_ns = 0;
  AnomalyService* anomalies = nullptr;
  enforce::EnforcementService* enforcement = nullptr;
  const TlsProbes* tls = nullptr;
  const LiveRouteStats* live = nullptr;
  const EventRates* rates = nullptr;
  // Connections tracked against connections.max in `status` (trafficctl doctor's map-pressure
  // check); null leaves them out.
  const analyzer::Analyzer* analyzer = nullptr;
};

class DaemonHandler final : public ControlHandler {
 public:
  explicit DaemonHandler(DaemonView view) : view_(std::move(view)) {}
  Result<Json> Handle(std::string_view cmd, const Json& args) override;

 private:
  Result<Json> Status() const;
  Result<Json> RulesList() const;
  Result<Json> RulesAdd(const Json& args);
  Result<Json> RulesDel(const Json& args);
  Result<Json> RulesExplain(const Json& args) const;
  Result<Json> ThresholdsGet() const;
  Result<Json> ThresholdsSet(const Json& args);
  Result<Json> Anomalies(const Json& args) const;
  Result<Json> Top() const;
  Result<enforce::EnforcementService*> Enforcement() const;

  DaemonView view_;
};

}  // namespace ta::agent::control
