// Rule policy (issue 6 groundwork): which anomalies become enforcement rules, against whom, for
// how long. Pure and deterministic like the rest of the analyzer: anomalies and time in,
// decisions out; the agent's rule manager turns decisions into XDP map entries.
//
// Rules (all in PolicyConfig):
//  - Only detectors with a configured action may act; each has its action (drop, rate limit,
//    SYN throttle) and base TTL.
//  - An anomaly must be active in `consecutive_windows` consecutive windows before it acts (one
//    window of evidence is not enough to cut anyone off).
//  - Targets: the anomaly's subject (one client: exfiltration, slow-rate, BOLA); for a flood,
//    its top sources holding at least `min_source_share` of the window's requests (at most
//    `max_sources`); for a SYN throttle, the port itself (no source).
//  - TTL = base x backoff^(offences - 1), capped at max_ttl, then jittered by +-ttl_jitter with
//    a hash of (target, offence) so rules made together do not all expire in one instant and
//    the same inputs always give the same TTL. Offences are counted per target and forgotten
//    after offence_memory.
//  - At most max_rules_per_minute new rules in any 60 s; decisions beyond are held back (counted)
//    and come again at the next window while the anomaly still holds: nothing is lost, the
//    rate of change is bounded.
//  - A target with an unexpired rule of the same action and port gets no second one.
//  - The window right after a flood's sources were ruled is not judged for more sources: it
//    still holds the flood's last moments before the rule took effect, and with the flooder
//    cut off for the rest of it, a legitimate client's share of that window is inflated
//    (found by the demo: a 20 req/s client reached 18 % and was blocked). From the window
//    after, the flood's remaining sources (if any) are judged again.
// Every decision says why it exists (anomaly id, detector, explanation) and who made it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "analyzer/anomaly/anomaly.h"

namespace ta::analyzer::policy {

enum class RuleAction : uint8_t { kDrop = 0, kRateLimit = 1, kSynThrottle = 2 };
std::string_view RuleActionName(RuleAction action);  // "drop", "rate_limit", "syn_throttle"

struct DetectorAction {
  anomaly::DetectorKind detector = anomaly::DetectorKind::kFlood;
  RuleAction action = RuleAction::kDrop;
  uint64_t ttl_ns = 600ULL * 1'000'000'000;
  // kRateLimit: token bucket per source (nginx limit_req rate=... burst=...).
  double rate_per_second = 100.0;
  uint32_t burst = 50;
};

struct PolicyConfig {
  std::vector<DetectorAction> actions;  // empty: detection only, nothing acts
  uint32_t consecutive_windows = 2;
  double min_source_share = 0.1;
  size_t max_sources = 5;
  double backoff = 2.0;
  uint64_t max_ttl_ns = 24ULL * 3600 * 1'000'000'000;
  double ttl_jitter = 0.1;
  uint64_t offence_memory_ns = 24ULL * 3600 * 1'000'000'000;
  uint32_t max_rules_per_minute = 20;
};

struct RuleDecision {
  RuleAction action = RuleAction::kDrop;
  anomaly::ClientAddress source;  // family 0: the whole port (SYN throttle)
  uint16_t port = 0;              // 0: every port
  uint64_t created_ns = 0;
  uint64_t expires_ns = 0;
  double rate_per_second = 0.0;
  uint32_t burst = 0;
  uint32_t offence = 1;  // 1 = first time this target is acted on within offence_memory
  // Why: the anomaly, its detector and explanation; who: "detector" (an operator's rules come
  // through the control socket, not through here).
  uint64_t anomaly_id = 0;
  anomaly::DetectorKind detector = anomaly::DetectorKind::kFlood;
  std::string reason;
  std::string origin = "detector";
};

struct PolicyStats {
  uint64_t decisions = 0;
  uint64_t held_back = 0;       // over max_rules_per_minute: tried again next window
  uint64_t already_ruled = 0;   // target had an unexpired rule of that action and port
  uint64_t not_configured = 0;  // anomalies of detectors without an action
  uint64_t settling = 0;        // flood windows skipped right after their sources were ruled
};

class RulePolicy {
 public:
  explicit RulePolicy(PolicyConfig config);

  // Called once per closed anomaly window with the anomalies active then (engine Active()).
  std::vector<RuleDecision> OnWindow(uint64_t now_ns, const std::vector<anomaly::Anomaly>& active);

  const PolicyStats& stats() const { return stats_; }

 private:
  // (action, source address, source family, port)
  using Target = std::tuple<uint8_t, std::array<uint8_t, 16>, uint8_t, uint16_t>;

  const DetectorAction* ActionFor(anomaly::DetectorKind kind) const;
  uint64_t Ttl(const DetectorAction& action, const Target& target, uint32_t offence) const;

  PolicyConfig config_;
  std::map<uint64_t, uint32_t> streak_;               // anomaly id -> consecutive windows
  std::map<Target, uint64_t> ruled_until_;            // unexpired rules by target
  std::map<Target, std::vector<uint64_t>> offences_;  // times acted on, within memory
  std::vector<uint64_t> recent_rules_;                // creation times within the last minute
  std::map<uint64_t, uint64_t> ruled_at_;             // flood anomaly id -> when it was ruled
  PolicyStats stats_;
};

}  // namespace ta::analyzer::policy
