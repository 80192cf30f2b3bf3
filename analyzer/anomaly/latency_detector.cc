#include "analyzer/anomaly/latency_detector.h"

#include <algorithm>
#include <cmath>

#include "analyzer/anomaly/explain.h"

namespace ta::analyzer::anomaly {
namespace {

std::string Ms(double seconds) { return fmt::format("{:.1f} ms", seconds * 1e3); }

}  // namespace

LatencyDetector::LatencyDetector(const LatencyConfig& config) : config_(config) {}

LatencyDetector::KeyState& LatencyDetector::Key(uint16_t port, std::string_view route) {
  auto key = std::make_pair(port, std::string(route));
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::move(key), KeyState(config_)).first;
  return it->second;
}

void LatencyDetector::OnExchange(const ExchangeFacts& facts) {
  if (facts.exchange.response_end_ns <= facts.exchange.request_start_ns) return;
  Key(facts.port, facts.route).sketch->Add(facts.duration_s);
}

void LatencyDetector::CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) {
  last_max_score_ = 0.0;
  for (auto& [id, key] : keys_) {
    const auto& [port, route] = id;
    if (key.sketch->count() == 0) {
      if (key.last_finding) out.push_back(*key.last_finding);
      continue;
    }
    ++key.merged_windows;
    if (key.sketch->count() < config_.min_samples) {
      if (key.merged_windows >= config_.max_merge_windows) {
        counters_.skipped += key.sketch->count();
        key.sketch->Clear();
        key.merged_windows = 0;
        key.last_finding.reset();
      }
      if (key.last_finding) out.push_back(*key.last_finding);
      continue;
    }
    key.last_finding.reset();
    const uint64_t samples = key.sketch->count();
    const std::optional<double> p = key.sketch->Quantile(config_.quantile);
    key.sketch->Clear();
    const uint32_t merged = key.merged_windows;
    key.merged_windows = 0;
    if (!p || *p <= 0.0) continue;
    ++counters_.scored;
    // In log scale: latency degrades by factors, and a p99's noise grows with its size.
    const double log_p = std::log(*p);
    const double mean = key.baseline.mean();
    const double sigma = std::max(key.baseline.stddev(), config_.noise_floor);
    const double usual = std::exp(mean);
    const double z_threshold =
        ctx.Threshold(DetectorKind::kLatency, "z_threshold", port, route, config_.z_threshold);
    const bool warm = key.baseline.samples() >= config_.min_windows;
    const double z = warm ? (log_p - mean) / sigma : 0.0;
    bool fired = false;
    if (warm) {
      last_max_score_ = std::max(last_max_score_, z / z_threshold);
      if (z > z_threshold && *p >= config_.min_ratio * usual && *p >= config_.min_seconds) {
        fired = true;
        Finding f;
        f.port = port;
        f.route = route;
        f.severity = z >= 2 * z_threshold ? Severity::kCritical : Severity::kWarning;
        f.observed = *p;
        f.baseline = usual;
        f.score = z;
        f.threshold = z_threshold;
        // Not = "s": GCC 12 reports a false -Wrestrict on a one-character literal (PR 105329).
        f.unit = std::string("s");
        f.explanation = fmt::format(
            "latency on {}: p{:g} {} over the last {} requests ({:.0f} s), usually {} "
            "(p{:g} varies by {:.0f} % across windows; z {:.1f} > {:.1f})",
            DescribeKey(port, route), 100 * config_.quantile, Ms(*p), samples,
            static_cast<double>(merged) * static_cast<double>(ctx.end_ns - ctx.start_ns) / 1e9,
            Ms(usual), 100 * config_.quantile, 100 * (std::exp(key.baseline.stddev()) - 1), z,
            z_threshold);
        key.last_finding = f;
        out.push_back(std::move(f));
      }
    }
    if (!fired && !ctx.is_active(port, route, {})) key.baseline.Add(log_p, ctx.end_ns);
  }
}

double LatencyDetector::LearnedFraction() const {
  if (keys_.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& [id, key] : keys_) {
    sum += std::min(1.0, static_cast<double>(key.baseline.samples()) /
                             std::max<double>(config_.min_windows, 1));
  }
  return sum / static_cast<double>(keys_.size());
}

void LatencyDetector::Save(state::Writer& out) const {
  out.Tag("LATE");
  out.U32(static_cast<uint32_t>(keys_.size()));
  for (const auto& [id, key] : keys_) {
    out.U16(id.first);
    out.String(id.second);
    key.baseline.Save(out);
  }
}

bool LatencyDetector::Load(state::Reader& in) {
  if (!in.Tag("LATE")) return false;
  std::map<std::pair<uint16_t, std::string>, KeyState> keys;
  const uint32_t n = in.Count(8);
  for (uint32_t i = 0; i < n && in.ok(); ++i) {
    const uint16_t port = in.U16();
    std::string route = in.String();
    KeyState key(config_);
    if (!key.baseline.Load(in)) in.Fail("latency baseline refused");
    keys.emplace(std::make_pair(port, std::move(route)), std::move(key));
  }
  if (!in.ok()) return false;
  keys_ = std::move(keys);
  return true;
}

}  // namespace ta::analyzer::anomaly
