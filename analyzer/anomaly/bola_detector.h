// BOLA (Broken Object Level Authorization, OWASP API Security Top 10 2023, API1): one client
// walking through object IDs on one route ("/api/orders/{id}") to find objects it may read.
//
// A client that touches many distinct objects is not an attacker by itself (an admin tool, a
// sync job). What turns many objects into enumeration is evidence that the client does not know
// which objects exist or are its own: the server refuses a large share (403/404), or the IDs
// are consecutive numbers (id +- 1 of one already requested), the signature of a loop over an
// integer key. So a finding needs both:
//     distinct objects >= max_distinct_objects
//     AND (403/404 share >= min_denied_ratio OR sequential share >= min_sequential_ratio).
//
// Counted per (port, route, client) in fixed windows of window_ns aligned to multiples of
// window_ns in wall time (independent of the engine's shorter windows). A BOLA window is judged
// when the first engine window ending at or after its end closes. Its findings are then
// repeated at every engine window close until the next BOLA window is judged: the verdict is
// about the whole BOLA window, and without the repetition the engine would resolve an ongoing
// enumeration between two verdicts (resolve_after_windows engine windows are shorter than one
// BOLA window by default).
//
//  - distinct: HyperLogLog of object_id (exact below kExactObjects, then 2^kHllPrecision
//    registers, 3.3 % standard error);
//  - denied share: 403 and 404 answers / exchanges;
//  - sequential share: among the numeric IDs new to the client on the route, those adjacent to
//    one it already requested. An object_id is numeric when its last '/'-separated value is
//    decimal digits (at most 18); "12/34" is compared with "12/33" and "12/35" (same prefix).
//    At most kMaxNumericIdsPerClient IDs per (route, client) and kMaxNumericIdsPerWindow per
//    window are remembered; beyond, counted in overflow (later IDs are still checked).
// Exchanges without an object_id are ignored (not counted). At most max_tracked_clients
// (route, client) pairs per window; exchanges of further pairs are counted in overflow. Worst
// case per BOLA window: about 2 KiB per pair (exact hashes, then registers) plus ~40 bytes per
// remembered numeric ID, i.e. ~20 MiB + ~10 MiB at the default 10000 pairs; usually one or two
// windows are open.
// Nothing is learnt (no baseline), so Save/Load carry only a section tag.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzer/anomaly/detector.h"
#include "analyzer/stats/hyperloglog.h"

namespace ta::analyzer::anomaly {

class BolaDetector final : public Detector {
 public:
  static constexpr uint8_t kHllPrecision = 10;
  static constexpr size_t kExactObjects = 128;
  static constexpr size_t kMaxNumericIdsPerClient = 4096;
  static constexpr size_t kMaxNumericIdsPerWindow = size_t{1} << 18;

  explicit BolaDetector(const BolaConfig& config);

  DetectorKind kind() const override { return DetectorKind::kBola; }
  void OnExchange(const ExchangeFacts& facts) override;
  void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) override;
  const DetectorCounters& counters() const override { return counters_; }
  void Save(state::Writer& out) const override;
  bool Load(state::Reader& in) override;

 private:
  struct PairKey {
    uint16_t port = 0;
    std::string route;
    ClientAddress client;
    bool operator==(const PairKey&) const = default;
  };
  struct PairKeyHash {
    size_t operator()(const PairKey& key) const;
  };
  struct PairState {
    std::string method;  // of the first exchange, for the explanation
    stats::HyperLogLog distinct{kHllPrecision, kExactObjects};
    uint64_t exchanges = 0;
    uint64_t denied = 0;                       // 403 or 404
    uint64_t numeric_new = 0;                  // numeric IDs not requested before in the window
    uint64_t sequential = 0;                   // of those, adjacent to one already requested
    std::unordered_set<uint64_t> numeric_ids;  // prefix hash + value (see the .cc)
  };
  struct Window {
    std::unordered_map<PairKey, PairState, PairKeyHash> pairs;
    size_t numeric_ids = 0;
  };

  void Judge(uint64_t window_start_ns, Window& window, const WindowContext& ctx);

  BolaConfig config_;
  uint64_t window_ns_;
  std::map<uint64_t, Window> windows_;  // by start
  uint64_t judged_end_ns_ = 0;          // end of the latest judged BOLA window
  uint64_t last_close_end_ns_ = 0;      // end of the latest engine window closed
  std::vector<Finding> verdict_;        // its findings, repeated until the next verdict
  DetectorCounters counters_;
};

}  // namespace ta::analyzer::anomaly
