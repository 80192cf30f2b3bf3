#include "analyzer/anomaly/flood_detector.h"

#include <algorithm>
#include <cmath>

#include "analyzer/anomaly/explain.h"

namespace ta::analyzer::anomaly {
namespace {

constexpr double kMinSeason = 0.05;
constexpr double kMaxSeason = 20.0;

}  // namespace

void WindowLevel::Add(double value, double alpha) {
  if (windows++ == 0) {
    mean = value;
    variance = 0.0;
    return;
  }
  // Exponentially weighted mean and variance (T. Finch, "Incremental calculation of weighted
  // mean and variance", 2009, §5.1). Until 1/n drops below alpha the weight is 1/n: the plain
  // running mean of what was seen so far. Otherwise a 10-minute half-life would keep the first
  // (often partial) window as "the" baseline for most of the warm-up.
  alpha = std::max(alpha, 1.0 / static_cast<double>(windows));
  const double diff = value - mean;
  const double increment = alpha * diff;
  mean += increment;
  variance = (1.0 - alpha) * (variance + diff * increment);
}

FloodDetector::FloodDetector(const FloodConfig& config) : config_(config) {
  diurnal_options_.slot_ns = config.diurnal_slot_ns;
  diurnal_options_.min_history_ns = config.diurnal_min_history_ns;
  diurnal_options_.slot_half_life_ns = config.diurnal_slot_half_life_ns;
}

FloodDetector::KeyState& FloodDetector::Key(uint16_t port, std::string_view route) {
  auto key = std::make_pair(port, std::string(route));
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::move(key), KeyState(diurnal_options_)).first;
  return it->second;
}

void FloodDetector::OnExchange(const ExchangeFacts& facts) {
  ClientKey client{};
  std::copy(facts.client.addr.begin(), facts.client.addr.end(), client.begin());
  client[16] = facts.client.family;
  for (auto [port, route] : {std::pair<uint16_t, std::string_view>{facts.port, facts.route},
                             {facts.port, ""},
                             {0, ""}}) {
    KeyState& key = Key(port, route);
    ++key.count;
    if (!key.sources) key.sources = std::make_unique<Sources>(kSourcesPerKey);
    key.sources->Add(client);
  }
}

double FloodDetector::Season(const KeyState& key, uint64_t wall_ns) const {
  if (!key.diurnal.ready()) return 1.0;
  const auto expected = key.diurnal.Expected(wall_ns);
  if (!expected) return 1.0;
  double sum = 0.0;
  size_t learned = 0;
  for (size_t i = 0; i < key.diurnal.slot_count(); ++i) {
    const stats::Ewma& slot = key.diurnal.slot(i);
    if (slot.samples() == 0) continue;
    sum += slot.mean();
    ++learned;
  }
  if (learned == 0 || sum <= 0.0) return 1.0;
  const double daily_mean = sum / static_cast<double>(learned);
  return std::clamp(expected->mean / daily_mean, kMinSeason, kMaxSeason);
}

void FloodDetector::FeedDiurnal(KeyState& key, uint64_t window_start, double rate,
                                bool frozen) const {
  const uint64_t slot = window_start / diurnal_options_.slot_ns;
  if (slot != key.slot) {
    // A slot's value is its mean rate; a slot mostly frozen (or barely seen) teaches nothing.
    const uint64_t windows_per_slot = std::max<uint64_t>(1, diurnal_options_.slot_ns / window_ns_);
    if (key.slot != UINT64_MAX && key.slot_windows * 2 >= windows_per_slot) {
      key.diurnal.Add(key.slot_sum / key.slot_windows, key.slot * diurnal_options_.slot_ns);
    }
    key.slot = slot;
    key.slot_sum = 0.0;
    key.slot_windows = 0;
  }
  if (frozen) return;
  key.slot_sum += rate;
  ++key.slot_windows;
}

void FloodDetector::CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) {
  const size_t first_finding = out.size();
  window_ns_ = ctx.end_ns - ctx.start_ns;
  const double window_s = static_cast<double>(window_ns_) / 1e9;
  alpha_ = 1.0 - std::exp2(-static_cast<double>(window_ns_) /
                           static_cast<double>(std::max<uint64_t>(config_.half_life_ns, 1)));
  last_max_score_ = 0.0;
  std::vector<uint16_t> silenced_ports;  // a route over the configured threshold, not the override
  // An announced change (a route's threshold widened above the configured one, e.g. for a
  // launch) also widens the aggregates that carry that route's traffic: its port and the node.
  std::map<uint16_t, double> widened_ports;
  double widened_node = 0.0;
  for (const auto& [id, key] : keys_) {
    if (id.second.empty()) continue;
    const double z = ctx.Threshold(DetectorKind::kFlood, "z_threshold", id.first, id.second,
                                   config_.z_threshold);
    if (z <= config_.z_threshold) continue;
    widened_ports[id.first] = std::max(widened_ports[id.first], z);
    widened_node = std::max(widened_node, z);
  }
  for (auto& [id, key] : keys_) {
    const auto& [port, route] = id;
    const double rate = static_cast<double>(key.count) / window_s;
    const bool was_active = ctx.is_active(port, route, {});
    if (key.diurnal.ready() && !key.seasonal) {
      // The diurnal baseline just became ready: from now on the level is deseasonalised.
      key.level.Scale(1.0 / Season(key, ctx.start_ns));
      key.seasonal = true;
    }
    const double season = key.seasonal ? Season(key, ctx.start_ns) : 1.0;
    const double expected = key.level.mean * season;
    const double sigma = std::max({std::sqrt(key.level.variance) * season,
                                   config_.noise_floor * expected,
                                   std::sqrt(std::max(expected, 0.0) * window_s) / window_s});
    double z_threshold =
        ctx.Threshold(DetectorKind::kFlood, "z_threshold", port, route, config_.z_threshold);
    if (route.empty()) {
      if (port == 0) {
        z_threshold = std::max(z_threshold, widened_node);
      } else if (auto w = widened_ports.find(port); w != widened_ports.end()) {
        z_threshold = std::max(z_threshold, w->second);
      }
    }
    // Announced windows do not teach the time-of-day baseline: tomorrow at this hour the
    // launch is not expected again.
    const bool announced = z_threshold > config_.z_threshold;
    const double min_rate =
        ctx.Threshold(DetectorKind::kFlood, "min_rate", port, route, config_.min_rate);
    bool fired = false;
    if (key.level.windows < config_.min_windows) {
      ++counters_.skipped;
    } else {
      ++counters_.scored;
      const double z = sigma > 0.0 ? (rate - expected) / sigma : 0.0;
      // Counting noise, judged exactly enough for small counts: Anscombe's transform makes a
      // Poisson count's standard deviation 1 (F. J. Anscombe, Biometrika 35, 1948).
      const double count_z = 2.0 * (std::sqrt(static_cast<double>(key.count) + 0.375) -
                                    std::sqrt(std::max(expected, 0.0) * window_s + 0.375));
      const bool significant = count_z > config_.poisson_z;
      if (rate >= min_rate) last_max_score_ = std::max(last_max_score_, z / z_threshold);
      if (!route.empty() && rate >= min_rate && significant && z > config_.z_threshold &&
          z <= z_threshold) {
        silenced_ports.push_back(port);
      }
      if (rate >= min_rate && significant && z > z_threshold) {
        fired = true;
        Finding f;
        f.port = port;
        f.route = route;
        f.severity = z >= 2 * z_threshold ? Severity::kCritical : Severity::kWarning;
        f.observed = rate;
        f.baseline = expected;
        f.score = z;
        f.threshold = z_threshold;
        f.unit = "req/s";
        if (key.sources) {
          for (const auto& hitter : key.sources->Top(kSourcesPerKey)) {
            ClientShare share;
            std::copy(hitter.key.begin(), hitter.key.begin() + 16, share.client.addr.begin());
            share.client.family = hitter.key[16];
            share.count = hitter.count;
            f.clients.push_back(share);
          }
        }
        f.explanation = fmt::format(
            "flood on {}: {:.1f} req/s over {:.0f} s, expected {:.1f} (sigma {:.1f}, z {:.1f} > "
            "{:.1f}){}",
            DescribeKey(port, route), rate, window_s, expected, sigma, z, z_threshold,
            DescribeSources(f.clients, key.count));
        out.push_back(std::move(f));
      }
    }
    // Frozen while its own flood is active (or fires now): the attack is not learned.
    const bool frozen = fired || was_active;
    if (!frozen) key.level.Add(season > 0.0 ? rate / season : rate, alpha_);
    FeedDiurnal(key, ctx.start_ns, rate, frozen || announced);
    key.count = 0;
    if (key.sources) key.sources = std::make_unique<Sources>(kSourcesPerKey);
  }
  DropExplainedAggregates(out, first_finding, std::move(silenced_ports));
}

double FloodDetector::LearnedFraction() const {
  if (keys_.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& [id, key] : keys_) {
    const double level = std::min(1.0, static_cast<double>(key.level.windows) /
                                           std::max<double>(config_.min_windows, 1));
    sum += 0.5 * level + 0.5 * (key.diurnal.ready() ? 1.0 : key.diurnal.learned_fraction());
  }
  return sum / static_cast<double>(keys_.size());
}

void FloodDetector::Save(state::Writer& out) const {
  out.Tag("FLOD");
  out.U32(static_cast<uint32_t>(keys_.size()));
  for (const auto& [id, key] : keys_) {
    out.U16(id.first);
    out.String(id.second);
    out.F64(key.level.mean);
    out.F64(key.level.variance);
    out.U64(key.level.windows);
    out.Bool(key.seasonal);
    key.diurnal.Save(out);
  }
}

bool FloodDetector::Load(state::Reader& in) {
  if (!in.Tag("FLOD")) return false;
  std::map<std::pair<uint16_t, std::string>, KeyState> keys;
  const uint32_t n = in.Count(16);
  for (uint32_t i = 0; i < n && in.ok(); ++i) {
    const uint16_t port = in.U16();
    std::string route = in.String();
    KeyState key(diurnal_options_);
    key.level.mean = in.F64();
    key.level.variance = in.F64();
    key.level.windows = in.U64();
    key.seasonal = in.Bool();
    if (!std::isfinite(key.level.mean) || !std::isfinite(key.level.variance) ||
        key.level.variance < 0.0) {
      in.Fail("flood level is not a finite mean and variance");
    }
    if (!key.diurnal.Load(in)) in.Fail("flood diurnal baseline refused");
    keys.emplace(std::make_pair(port, std::move(route)), std::move(key));
  }
  if (!in.ok()) return false;
  keys_ = std::move(keys);
  return true;
}

}  // namespace ta::analyzer::anomaly
