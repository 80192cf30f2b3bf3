// Slow-rate denial of service: one source holding many connections that move bytes too slowly
// to ever finish, so the server's connection slots (threads, workers) run out.
//
// Three variants, told apart by the phase the connection is stuck in (ConnectionProgress):
//  - slowloris (kRequestHead): the request head trickles in a few bytes at a time and never
//    ends (R. Hansen, "Slowloris HTTP DoS", 2009);
//  - slow POST (kRequestBody): a large Content-Length, then the body at a few bytes per second
//    (OWASP, "R-U-Dead-Yet", 2010);
//  - slow read (kResponse): the client reads the response slowly (small TCP window), so the
//    server's send never completes (S. Shekyan, "Slow Read DoS", 2012).
// kAwaitingResponse is the server being slow, not an attack, and is ignored (the latency
// detector covers it). A connection in kRequestHead with no byte of the head yet is
// indistinguishable from an idle keep-alive connection, so it is ignored too.
//
// A connection is slow when its phase is at least min_age_ns old (at the census time) and
// phase_bytes / age < max_bytes_per_second. A census is a snapshot, so for each window the
// detector uses the latest census taken inside it ([start, end)); a window without a census has
// no findings. Per (server port, client address), a finding (subject = client, route "",
// severity critical) when its slow connections (all three kinds together) reach
// max_slow_connections. There is no baseline: legitimate clients do not hold ten connections
// below 100 B/s for ten seconds.
//
// Bounds: at most kMaxPendingCensus snapshots wait for their window (the daemon takes one per
// window); beyond, the oldest is dropped and counted in overflow. counters(): scored =
// connections judged, skipped = connections ignored (awaiting the response, idle head, phase
// starting after the census).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "analyzer/anomaly/detector.h"

namespace ta::analyzer::anomaly {

class SlowRateDetector final : public Detector {
 public:
  static constexpr size_t kMaxPendingCensus = 16;

  explicit SlowRateDetector(const SlowRateConfig& config);

  DetectorKind kind() const override { return DetectorKind::kSlowRate; }
  void OnCensus(uint64_t wall_ns, std::span<const ConnectionProgress> census) override;
  void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) override;
  const DetectorCounters& counters() const override { return counters_; }
  // Nothing is learnt; Save writes a section tag so the snapshot layout stays explicit.
  void Save(state::Writer& out) const override;
  bool Load(state::Reader& in) override;

 private:
  // Index into the per-kind arrays: slowloris, slow POST, slow read.
  static constexpr size_t kSlowKinds = 3;

  struct SlowSource {
    uint16_t port = 0;
    ClientAddress client;
    std::array<uint32_t, kSlowKinds> connections{};
    std::array<double, kSlowKinds> rate_sum{};      // B/s, for the mean in the explanation
    std::array<uint64_t, kSlowKinds> min_age_ns{};  // the youngest slow phase of the kind
  };
  struct Snapshot {
    uint64_t wall_ns = 0;
    std::vector<SlowSource> sources;  // sorted by (port, client)
  };

  SlowRateConfig config_;
  std::deque<Snapshot> snapshots_;  // by wall_ns
  DetectorCounters counters_;
};

}  // namespace ta::analyzer::anomaly
