#include "analyzer/anomaly/error_budget_detector.h"

#include <algorithm>
#include <cmath>

#include "analyzer/anomaly/explain.h"

namespace ta::analyzer::anomaly {

ErrorBudgetDetector::ErrorBudgetDetector(const ErrorBudgetConfig& config) : config_(config) {}

ErrorBudgetDetector::KeyState* ErrorBudgetDetector::Key(uint16_t port, std::string_view route) {
  auto key = std::make_pair(port, std::string(route));
  if (auto it = keys_.find(key); it != keys_.end()) return &it->second;
  if (!route.empty()) {
    if (route_keys_ >= config_.max_tracked_routes) {
      ++counters_.overflow;
      return nullptr;
    }
    ++route_keys_;
  }
  return &keys_.emplace(std::move(key), KeyState(config_.burn)).first->second;
}

void ErrorBudgetDetector::Record(KeyState& key, uint64_t wall_ns, bool bad) {
  if (key.first_ns == 0 || wall_ns < key.first_ns) key.first_ns = wall_ns;
  key.tracker->Add(wall_ns, bad ? 0 : 1, bad ? 1 : 0);
  ++(bad ? key.window.bad : key.window.good);
}

stats::BurnRateAlerts ErrorBudgetDetector::EvaluateBurn(const KeyState& key,
                                                        uint64_t now_ns) const {
  const stats::BurnRateConfig& b = config_.burn;
  const uint64_t history_minutes = (now_ns - std::min(key.first_ns, now_ns)) / stats::kNsPerMinute;
  // A condition holds when both windows burn faster than its rate, the tracker has history as
  // long as the short window, and the short window holds min_errors 5xx (a burn rate of two
  // errors on a quiet route is chance, not a budget spent).
  const auto holds = [&](uint32_t long_min, uint32_t short_min, double rate) {
    if (history_minutes < short_min) return false;
    if (key.tracker->WindowCounts(short_min).bad < config_.min_errors) return false;
    return key.tracker->BurnRate(long_min) > rate && key.tracker->BurnRate(short_min) > rate;
  };
  stats::BurnRateAlerts a;
  a.page_fast = holds(b.fast_long_minutes, b.fast_short_minutes, b.fast_burn);
  a.page_slow = holds(b.slow_long_minutes, b.slow_short_minutes, b.slow_burn);
  a.ticket = holds(b.ticket_long_minutes, b.ticket_short_minutes, b.ticket_burn);
  return a;
}

void ErrorBudgetDetector::OnExchange(const ExchangeFacts& facts) {
  if (facts.status_class == 0) return;  // no final status: neither good nor bad
  const bool bad = facts.status_class == 5;
  Record(*Key(facts.port, ""), facts.wall_ns, bad);
  if (KeyState* route = Key(facts.port, facts.route)) Record(*route, facts.wall_ns, bad);
}

void ErrorBudgetDetector::CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) {
  const size_t first_finding = out.size();
  const uint64_t window_ns = std::max<uint64_t>(ctx.end_ns - ctx.start_ns, 1);
  const size_t ring = std::max<size_t>(
      1, static_cast<size_t>(uint64_t{config_.window_minutes} * 60'000'000'000ULL / window_ns));
  last_max_score_ = 0.0;
  const double budget = 1.0 - config_.burn.slo;
  // Not `auto& [id, key]`: clang 14 cannot capture a structured binding in the lambdas below.
  for (auto& entry : keys_) {
    const uint16_t port = entry.first.first;
    const std::string& route = entry.first.second;
    KeyState& key = entry.second;
    // Roll the per-window ring of the seed rule.
    if (key.rolling.size() != ring) {
      key.rolling.assign(ring, {});
      key.next = 0;
      key.rolling_sum = {};
    }
    Counts& slot = key.rolling[key.next];
    key.rolling_sum.good += key.window.good - slot.good;
    key.rolling_sum.bad += key.window.bad - slot.bad;
    slot = key.window;
    key.next = (key.next + 1) % ring;
    key.window = {};
    // The tracker's minutes must advance even without traffic, or a burst would stay "recent".
    key.tracker->Add(ctx.end_ns - 1, 0, 0);

    const uint64_t requests = key.rolling_sum.good + key.rolling_sum.bad;
    const uint64_t errors = key.rolling_sum.bad;
    if (requests < config_.min_requests) {
      ++counters_.skipped;
      continue;
    }
    ++counters_.scored;
    const double ratio = static_cast<double>(errors) / static_cast<double>(requests);
    const double max_ratio =
        ctx.Threshold(DetectorKind::kErrorBudget, "max_ratio", port, route, config_.max_ratio);
    // Burn rates move by the minute (the tracker's buckets): evaluated once per minute.
    const uint64_t minute = ctx.end_ns / stats::kNsPerMinute;
    if (minute != key.evaluated_minute) {
      key.evaluated_minute = minute;
      key.burn = EvaluateBurn(key, ctx.end_ns);
    }
    const stats::BurnRateAlerts& burn = key.burn;
    const bool circuit = ratio > max_ratio && errors >= config_.min_errors;
    last_max_score_ = std::max(last_max_score_, ratio / max_ratio);
    if (!circuit && !burn.page() && !burn.ticket) continue;

    Finding f;
    f.port = port;
    f.route = route;
    f.severity = circuit || burn.page() ? Severity::kCritical : Severity::kWarning;
    f.observed = ratio;
    f.unit = "ratio";
    std::string rules;
    auto add_rule = [&](std::string_view text) {
      rules += rules.empty() ? "" : "; ";
      rules += text;
    };
    if (circuit) {
      f.baseline = max_ratio;
      f.score = ratio / max_ratio;
      f.threshold = 1.0;
      add_rule(fmt::format("circuit rule: 5xx ratio {:.2f} % > {:.2f} % over {} min",
                           100 * ratio, 100 * max_ratio, config_.window_minutes));
    }
    const auto burn_rule = [&](bool holds, uint32_t long_min, uint32_t short_min,
                               double threshold, std::string_view what) {
      if (!holds) return;
      const double long_burn = key.tracker->BurnRate(long_min);
      const double short_burn = key.tracker->BurnRate(short_min);
      if (f.threshold == 0.0 || long_burn / threshold > f.score / f.threshold) {
        f.baseline = budget;
        f.score = long_burn;
        f.threshold = threshold;
      }
      add_rule(fmt::format("{}: burn rate {:.1f} over {} and {:.1f} over {} (> {:.1f}, SLO "
                           "{:.3g} %)",
                           what, long_burn, DescribeMinutes(long_min), short_burn,
                           DescribeMinutes(short_min), threshold, 100 * config_.burn.slo));
    };
    burn_rule(burn.page_fast, config_.burn.fast_long_minutes, config_.burn.fast_short_minutes,
              config_.burn.fast_burn, "page");
    burn_rule(burn.page_slow, config_.burn.slow_long_minutes, config_.burn.slow_short_minutes,
              config_.burn.slow_burn, "page");
    burn_rule(burn.ticket, config_.burn.ticket_long_minutes, config_.burn.ticket_short_minutes,
              config_.burn.ticket_burn, "ticket");
    f.explanation = fmt::format("errors on {}: {} of {} requests were 5xx in the last {} min; {}",
                                DescribeKey(port, route), errors, requests,
                                config_.window_minutes, rules);
    out.push_back(std::move(f));
  }
  DropExplainedAggregates(out, first_finding);
}

void ErrorBudgetDetector::Save(state::Writer& out) const {
  out.Tag("ERRB");
  out.U32(static_cast<uint32_t>(keys_.size()));
  for (const auto& [id, key] : keys_) {
    out.U16(id.first);
    out.String(id.second);
    out.U64(key.first_ns);
    key.tracker->Save(out);
  }
}

bool ErrorBudgetDetector::Load(state::Reader& in) {
  if (!in.Tag("ERRB")) return false;
  std::map<std::pair<uint16_t, std::string>, KeyState> keys;
  size_t route_keys = 0;
  const uint32_t n = in.Count(8);
  for (uint32_t i = 0; i < n && in.ok(); ++i) {
    const uint16_t port = in.U16();
    std::string route = in.String();
    KeyState key(config_.burn);
    key.first_ns = in.U64();
    if (!key.tracker->Load(in)) in.Fail("burn-rate tracker refused");
    if (!route.empty() && ++route_keys > config_.max_tracked_routes) {
      continue;  // the configured bound shrank: keep the first ones
    }
    keys.emplace(std::make_pair(port, std::move(route)), std::move(key));
  }
  if (!in.ok()) return false;
  keys_ = std::move(keys);
  route_keys_ = std::min(route_keys, config_.max_tracked_routes);
  return true;
}

}  // namespace ta::analyzer::anomaly
