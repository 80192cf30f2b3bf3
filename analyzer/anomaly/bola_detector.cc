#include "analyzer/anomaly/bola_detector.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>
#include <tuple>
#include <utility>

#include "analyzer/anomaly/explain.h"

namespace ta::analyzer::anomaly {
namespace {

// Decimal digits that fit in a uint64_t with room for +1 (18 digits < 2^63).
constexpr size_t kMaxNumericDigits = 18;

// The key of a numeric object ID: the hash of everything before its last value plus the value,
// so that the neighbours of "12/34" ("12/33", "12/35") are simply key - 1 and key + 1 (a hash
// collision between prefixes is as unlikely as any 64-bit collision).
std::optional<uint64_t> NumericKey(std::string_view object_id) {
  const size_t slash = object_id.rfind('/');
  const std::string_view prefix =
      slash == std::string_view::npos ? std::string_view() : object_id.substr(0, slash + 1);
  const std::string_view value =
      slash == std::string_view::npos ? object_id : object_id.substr(slash + 1);
  if (value.empty() || value.size() > kMaxNumericDigits) return std::nullopt;
  uint64_t number = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    number = number * 10 + static_cast<uint64_t>(c - '0');
  }
  return stats::HashBytes(prefix, 0x626f6c61 /* "bola" */) + number;
}

}  // namespace

size_t BolaDetector::PairKeyHash::operator()(const PairKey& key) const {
  const uint64_t client = stats::HashBytes(
      std::span<const uint8_t>(key.client.addr.data(), key.client.addr.size()), key.client.family);
  return static_cast<size_t>(stats::Mix64(stats::HashBytes(key.route, key.port) ^ client));
}

BolaDetector::BolaDetector(const BolaConfig& config)
    : config_(config), window_ns_(std::max<uint64_t>(config.window_ns, 1)) {}

void BolaDetector::OnExchange(const ExchangeFacts& facts) {
  const std::string& object_id = facts.exchange.object_id;
  if (object_id.empty()) return;
  const uint64_t start = facts.wall_ns - facts.wall_ns % window_ns_;
  if (start + window_ns_ <= last_close_end_ns_) {
    ++counters_.skipped;  // its BOLA window was already judged
    return;
  }
  Window& window = windows_[start];
  PairKey key{facts.port, std::string(facts.route), facts.client};
  auto it = window.pairs.find(key);
  if (it == window.pairs.end()) {
    if (window.pairs.size() >= config_.max_tracked_clients) {
      ++counters_.overflow;
      return;
    }
    it = window.pairs.emplace(std::move(key), PairState{}).first;
    it->second.method = facts.exchange.method;
  }
  PairState& pair = it->second;
  ++counters_.scored;
  ++pair.exchanges;
  pair.distinct.AddBytes(object_id);
  if (facts.exchange.status == 403 || facts.exchange.status == 404) ++pair.denied;
  if (const std::optional<uint64_t> numeric = NumericKey(object_id)) {
    if (!pair.numeric_ids.contains(*numeric)) {
      ++pair.numeric_new;
      if (pair.numeric_ids.contains(*numeric - 1) || pair.numeric_ids.contains(*numeric + 1)) {
        ++pair.sequential;
      }
      if (pair.numeric_ids.size() < kMaxNumericIdsPerClient &&
          window.numeric_ids < kMaxNumericIdsPerWindow) {
        pair.numeric_ids.insert(*numeric);
        ++window.numeric_ids;
      } else {
        ++counters_.overflow;
      }
    }
  }
}

void BolaDetector::Judge(uint64_t window_start_ns, Window& window, const WindowContext& ctx) {
  verdict_.clear();
  judged_end_ns_ = window_start_ns + window_ns_;
  std::vector<std::pair<const PairKey*, const PairState*>> pairs;
  pairs.reserve(window.pairs.size());
  for (const auto& [key, state] : window.pairs) pairs.emplace_back(&key, &state);
  // Deterministic order of findings: by port, route, client.
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first->port, a.first->route, a.first->client.family, a.first->client.addr) <
           std::tie(b.first->port, b.first->route, b.first->client.family, b.first->client.addr);
  });
  for (const auto& [key, state] : pairs) {
    const double distinct = std::round(state->distinct.Estimate());
    const double threshold =
        ctx.Threshold(DetectorKind::kBola, "max_distinct_objects", key->port, key->route,
                      static_cast<double>(config_.max_distinct_objects));
    if (distinct < threshold) continue;
    const double denied_ratio =
        static_cast<double>(state->denied) / static_cast<double>(state->exchanges);
    const double sequential_ratio =
        state->numeric_new == 0
            ? 0.0
            : static_cast<double>(state->sequential) / static_cast<double>(state->numeric_new);
    if (denied_ratio < config_.min_denied_ratio &&
        sequential_ratio < config_.min_sequential_ratio) {
      continue;
    }
    Finding finding;
    finding.port = key->port;
    finding.route = key->route;
    finding.subject = key->client;
    finding.severity = Severity::kCritical;
    finding.observed = distinct;
    finding.threshold = threshold;
    finding.score = distinct;
    finding.unit = "objects";
    finding.clients.push_back(ClientShare{key->client, static_cast<uint64_t>(distinct)});
    // "198.18.0.5 requested 120 distinct objects on GET /api/orders/{id} in 60 s, 64 % answered
    //  403/404, 97 % sequential IDs"
    std::string explanation = fmt::format(
        "{} requested {} distinct objects on {} in {:g} s, {:.0f} % answered 403/404, ",
        key->client.ToString(), static_cast<uint64_t>(distinct),
        key->route.empty() ? DescribeKey(key->port, key->route) : state->method + " " + key->route,
        static_cast<double>(window_ns_) / 1e9, denied_ratio * 100.0);
    explanation += state->numeric_new == 0
                       ? std::string("IDs not numeric")
                       : fmt::format("{:.0f} % sequential IDs", sequential_ratio * 100.0);
    finding.explanation = std::move(explanation);
    verdict_.push_back(std::move(finding));
  }
}

void BolaDetector::CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) {
  last_close_end_ns_ = std::max(last_close_end_ns_, ctx.end_ns);
  while (!windows_.empty() && windows_.begin()->first + window_ns_ <= ctx.end_ns) {
    auto node = windows_.extract(windows_.begin());
    Judge(node.key(), node.mapped(), ctx);
  }
  // The verdict holds until the next BOLA window ends (judged above if it had exchanges).
  if (!verdict_.empty() && ctx.end_ns >= judged_end_ns_ + window_ns_) verdict_.clear();
  out.insert(out.end(), verdict_.begin(), verdict_.end());
}

void BolaDetector::Save(state::Writer& out) const { out.Tag("BOLA"); }

bool BolaDetector::Load(state::Reader& in) { return in.Tag("BOLA") && in.ok(); }

}  // namespace ta::analyzer::anomaly
