#include "analyzer/policy/rule_policy.h"

#include <algorithm>
#include <cmath>

#include "analyzer/stats/hyperloglog.h"
#include "fmt/format.h"

namespace ta::analyzer::policy {
namespace {

constexpr uint64_t kMinuteNs = 60ULL * 1'000'000'000;

}  // namespace

std::string_view RuleActionName(RuleAction action) {
  switch (action) {
    case RuleAction::kDrop: return "drop";
    case RuleAction::kRateLimit: return "rate_limit";
    case RuleAction::kSynThrottle: return "syn_throttle";
  }
  return "unknown";
}

RulePolicy::RulePolicy(PolicyConfig config) : config_(std::move(config)) {}

const DetectorAction* RulePolicy::ActionFor(anomaly::DetectorKind kind) const {
  for (const DetectorAction& a : config_.actions) {
    if (a.detector == kind) return &a;
  }
  return nullptr;
}

uint64_t RulePolicy::Ttl(const DetectorAction& action, const Target& target,
                         uint32_t offence) const {
  const double base = static_cast<double>(action.ttl_ns) *
                      std::pow(config_.backoff, static_cast<double>(offence - 1));
  const double capped = std::min(base, static_cast<double>(config_.max_ttl_ns));
  // Deterministic jitter in [-ttl_jitter, +ttl_jitter] from the target and the offence.
  const auto& [kind, addr, family, port] = target;
  uint64_t h = stats::HashBytes(std::span<const uint8_t>(addr.data(), addr.size()),
                                uint64_t{kind} << 32 | uint64_t{family} << 16 | port);
  h = stats::Mix64(h ^ offence);
  const double unit = static_cast<double>(h >> 11) / static_cast<double>(uint64_t{1} << 53);
  const double jitter = (2.0 * unit - 1.0) * config_.ttl_jitter;
  return static_cast<uint64_t>(std::max(1.0, capped * (1.0 + jitter)));
}

std::vector<RuleDecision> RulePolicy::OnWindow(uint64_t now_ns,
                                               const std::vector<anomaly::Anomaly>& active) {
  std::vector<RuleDecision> out;
  // Streaks: anomalies missing from this window start again from zero.
  std::map<uint64_t, uint32_t> streak;
  for (const anomaly::Anomaly& a : active) {
    if (a.state != anomaly::AnomalyState::kFiring) continue;
    auto it = streak_.find(a.id);
    streak[a.id] = (it == streak_.end() ? 0 : it->second) + 1;
  }
  streak_ = std::move(streak);
  std::erase_if(ruled_at_, [&](const auto& e) { return !streak_.contains(e.first); });
  // Forget expired rules, old offences and rule creations older than a minute.
  std::erase_if(ruled_until_, [&](const auto& e) { return e.second <= now_ns; });
  for (auto it = offences_.begin(); it != offences_.end();) {
    std::erase_if(it->second,
                  [&](uint64_t t) { return t + config_.offence_memory_ns <= now_ns; });
    it = it->second.empty() ? offences_.erase(it) : std::next(it);
  }
  std::erase_if(recent_rules_, [&](uint64_t t) { return t + kMinuteNs <= now_ns; });

  for (const anomaly::Anomaly& a : active) {
    if (a.state != anomaly::AnomalyState::kFiring) continue;
    const DetectorAction* action = ActionFor(a.detector);
    if (action == nullptr) {
      ++stats_.not_configured;
      continue;
    }
    if (streak_[a.id] < config_.consecutive_windows) continue;
    // Whom to act on.
    std::vector<anomaly::ClientAddress> sources;
    if (action->action == RuleAction::kSynThrottle) {
      sources.push_back({});  // the port as a whole
    } else if (a.subject.family != 0) {
      sources.push_back(a.subject);
    } else {
      // The first window after this anomaly's sources were ruled is skipped (see the header).
      if (auto ruled = ruled_at_.find(a.id); ruled != ruled_at_.end() && ruled->second != now_ns) {
        ruled_at_.erase(ruled);
        ++stats_.settling;
        continue;
      }
      uint64_t total = 0;
      for (const auto& c : a.clients) total += c.count;
      for (const auto& c : a.clients) {
        if (sources.size() >= config_.max_sources || total == 0) break;
        if (static_cast<double>(c.count) >=
            config_.min_source_share * static_cast<double>(total)) {
          sources.push_back(c.client);
        }
      }
    }
    for (const anomaly::ClientAddress& source : sources) {
      const Target target{static_cast<uint8_t>(action->action), source.addr, source.family,
                          a.port};
      if (ruled_until_.contains(target)) {
        ++stats_.already_ruled;
        continue;
      }
      if (recent_rules_.size() >= config_.max_rules_per_minute) {
        ++stats_.held_back;
        continue;
      }
      auto& times = offences_[target];
      times.push_back(now_ns);
      RuleDecision d;
      d.action = action->action;
      d.source = source;
      d.port = a.port;
      d.created_ns = now_ns;
      d.offence = static_cast<uint32_t>(times.size());
      d.expires_ns = now_ns + Ttl(*action, target, d.offence);
      if (d.action == RuleAction::kRateLimit) {
        d.rate_per_second = action->rate_per_second;
        d.burst = action->burst;
      }
      d.anomaly_id = a.id;
      d.detector = a.detector;
      d.reason = fmt::format("anomaly {} ({}): {}", a.id, anomaly::DetectorName(a.detector),
                             a.explanation);
      ruled_until_[target] = d.expires_ns;
      if (source.family != 0 && a.subject.family == 0) ruled_at_[a.id] = now_ns;
      recent_rules_.push_back(now_ns);
      ++stats_.decisions;
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace ta::analyzer::policy
