// Restoring anomaly state from a file an attacker or a disk error may have written
// (analyzer/state/snapshot_file.h, AnomalyEngine::Restore): the container is checked, then the
// payload - whether or not the checksum matched - is restored into a fresh engine.
//
// Properties checked besides "does not crash" (and no runaway allocation: every count is bounded
// by what is left of the input):
//  - a refused Restore leaves the engine working: it still takes an exchange and a tick;
//  - an accepted Restore snapshots again and that snapshot restores.
#include <cstdint>
#include <string>
#include <string_view>

#include "analyzer/anomaly/engine.h"
#include "analyzer/state/snapshot_file.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

class NullSink final : public ta::analyzer::anomaly::AnomalySink {
 public:
  void OnAnomaly(const ta::analyzer::anomaly::Anomaly& /*anomaly*/) override {}
};

}  // namespace

TA_FUZZ_TARGET(anomaly_snapshot) {
  using ta::analyzer::anomaly::AnomalyEngine;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // A whole state file restores its payload; anything else is tried as a payload itself.
  const auto decoded = ta::analyzer::state::DecodeSnapshot(input, 1);
  if (decoded.ok()) input = decoded.payload();
  NullSink sink;
  AnomalyEngine engine({}, sink);
  const bool restored = !engine.Restore(input).has_value();
  ta::analyzer::HttpExchange exchange;
  exchange.flow.family = 2;
  exchange.flow.server_port = 80;
  exchange.route = "/a";
  exchange.status = 200;
  exchange.request_start_ns = 1'000'000'000;
  exchange.response_end_ns = 1'001'000'000;
  engine.OnHttpExchange(exchange);
  engine.Tick(20'000'000'000);
  if (restored) {
    AnomalyEngine again({}, sink);
    if (again.Restore(engine.Snapshot()).has_value()) __builtin_trap();
  }
}
