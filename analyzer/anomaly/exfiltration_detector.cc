#include "analyzer/anomaly/exfiltration_detector.h"

#include <algorithm>
#include <span>
#include <tuple>
#include <utility>

#include "analyzer/anomaly/explain.h"
#include "analyzer/stats/entropy.h"
#include "analyzer/stats/hyperloglog.h"

namespace ta::analyzer::anomaly {
namespace {

uint64_t HashClient(const ClientAddress& client) {
  return stats::HashBytes(std::span<const uint8_t>(client.addr.data(), client.addr.size()),
                          client.family);
}

// Random-looking bytes and bodies of one (port, route, client) in the closing window.
struct ClientWindow {
  uint32_t pair = 0;
  uint64_t random_bodies = 0;
  uint64_t random_request_bytes = 0;
  uint64_t random_response_bytes = 0;
  double entropy_bytes = 0.0;  // sum of entropy x bytes over random bodies (byte-weighted mean)

  uint64_t random_bytes() const { return random_request_bytes + random_response_bytes; }
};

}  // namespace

size_t ExfiltrationDetector::PairKeyHash::operator()(const PairKey& key) const {
  return static_cast<size_t>(
      stats::Mix64(stats::HashBytes(key.route, key.port) ^ HashClient(key.client)));
}

size_t ExfiltrationDetector::RouteKeyHash::operator()(const RouteKey& key) const {
  return static_cast<size_t>(stats::HashBytes(key.route, key.port));
}

ExfiltrationDetector::ExfiltrationDetector(const ExfiltrationConfig& config)
    : config_(config), decoder_(kMaxDecodedBytes) {}

float ExfiltrationDetector::ScoreBody(const BodySample& body) {
  if (body.bytes.empty()) return -1.0F;
  uint64_t* skip = nullptr;
  if (IsOpaqueMediaType(body.content_type)) {
    skip = &skips_.opaque_media_type;
  } else {
    const DecodedContent decoded = decoder_.Decode(body.content_encoding, body.bytes);
    if (decoded.status == ContentDecodeStatus::kUnsupported) {
      skip = &skips_.unsupported_encoding;
    } else if (decoded.status == ContentDecodeStatus::kError) {
      skip = &skips_.decode_error;
    } else if (decoded.bytes.size() < config_.min_sample_bytes) {
      skip = &skips_.too_small;
    } else {
      stats::ByteEntropy entropy;
      entropy.Add(decoded.bytes);
      ++counters_.scored;
      return static_cast<float>(entropy.EntropyCorrected());
    }
  }
  ++*skip;
  ++counters_.skipped;
  return -1.0F;
}

uint32_t ExfiltrationDetector::PairId(const ExchangeFacts& facts) {
  PairKey key{facts.port, std::string(facts.route), facts.client};
  const auto [it, inserted] = pair_ids_.try_emplace(key, static_cast<uint32_t>(pairs_.size()));
  if (inserted) pairs_.push_back(Pair{std::move(key), facts.exchange.method});
  return it->second;
}

void ExfiltrationDetector::OnExchange(const ExchangeFacts& facts) {
  if (pending_.size() >= kMaxPendingExchanges) {
    ++counters_.overflow;
    return;
  }
  const HttpExchange& exchange = facts.exchange;
  Pending pending;
  pending.wall_ns = facts.wall_ns;
  pending.request_entropy = ScoreBody(exchange.request_body);
  if (pending.request_entropy >= 0.0F) {
    pending.request_bytes =
        exchange.request_body_bytes.value_or(exchange.request_body.bytes.size());
  }
  pending.response_entropy = ScoreBody(exchange.response_body);
  if (pending.response_entropy >= 0.0F) {
    pending.response_bytes =
        exchange.response_body_bytes.value_or(exchange.response_body.bytes.size());
  }
  pending.pair = PairId(facts);
  pending_.push_back(pending);
}

void ExfiltrationDetector::CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) {
  // Exchanges of later windows stay; the rest belong to [start, end) (or are late).
  const auto due_begin =
      std::stable_partition(pending_.begin(), pending_.end(),
                            [&](const Pending& pending) { return pending.wall_ns >= ctx.end_ns; });

  // Group the due exchanges by route, then by client (one ClientWindow per pair).
  struct RouteWindow {
    RouteKey key;
    double entropy_threshold = 0.0;
    std::vector<ClientWindow> clients;
  };
  std::vector<RouteWindow> routes;
  std::unordered_map<RouteKey, size_t, RouteKeyHash> route_index;
  std::unordered_map<uint32_t, std::pair<size_t, size_t>> slot_of_pair;  // -> (route, client)
  for (auto it = due_begin; it != pending_.end(); ++it) {
    const Pending& pending = *it;
    if (pending.wall_ns < ctx.start_ns) {
      ++skips_.late;
      ++counters_.skipped;
      continue;
    }
    auto [slot, fresh_pair] = slot_of_pair.try_emplace(pending.pair);
    if (fresh_pair) {
      const Pair& pair = pairs_[pending.pair];
      RouteKey route_key{pair.key.port, pair.key.route};
      auto [index, fresh_route] = route_index.try_emplace(route_key, routes.size());
      if (fresh_route) {
        const double threshold = ctx.Threshold(DetectorKind::kExfiltration, "entropy_bits",
                                               pair.key.port, pair.key.route, config_.entropy_bits);
        routes.push_back(RouteWindow{std::move(route_key), threshold, {}});
      }
      std::vector<ClientWindow>& clients = routes[index->second].clients;
      clients.push_back(ClientWindow{.pair = pending.pair});
      slot->second = {index->second, clients.size() - 1};
    }
    RouteWindow& route = routes[slot->second.first];
    ClientWindow& window = route.clients[slot->second.second];
    const double threshold = route.entropy_threshold;
    if (pending.request_entropy >= 0.0F && pending.request_entropy > threshold) {
      ++window.random_bodies;
      window.random_request_bytes += pending.request_bytes;
      window.entropy_bytes +=
          static_cast<double>(pending.request_entropy) * static_cast<double>(pending.request_bytes);
    }
    if (pending.response_entropy >= 0.0F && pending.response_entropy > threshold) {
      ++window.random_bodies;
      window.random_response_bytes += pending.response_bytes;
      window.entropy_bytes += static_cast<double>(pending.response_entropy) *
                              static_cast<double>(pending.response_bytes);
    }
  }
  pending_.erase(due_begin, pending_.end());

  const double window_s = static_cast<double>(ctx.end_ns - ctx.start_ns) / 1e9;
  // Deterministic order of findings: by port, route, then client address.
  std::sort(routes.begin(), routes.end(), [](const RouteWindow& a, const RouteWindow& b) {
    return std::tie(a.key.port, a.key.route) < std::tie(b.key.port, b.key.route);
  });
  for (RouteWindow& route : routes) {
    const RouteKey& route_key = route.key;
    std::vector<ClientWindow>& clients = route.clients;
    stats::Ewma* baseline = nullptr;
    if (auto found = baselines_.find(route_key); found != baselines_.end()) {
      baseline = &found->second;
    } else if (baselines_.size() < kMaxRoutes) {
      baseline = &baselines_.emplace(route_key, stats::Ewma(config_.half_life_ns)).first->second;
    } else {
      ++counters_.overflow;  // judged against min_bytes alone, never learnt
    }
    const double expected = baseline != nullptr ? baseline->mean() : 0.0;
    const double size_jump = ctx.Threshold(DetectorKind::kExfiltration, "size_jump", route_key.port,
                                           route_key.route, config_.size_jump);
    const double byte_threshold =
        std::max(static_cast<double>(config_.min_bytes), size_jump * expected);

    std::sort(clients.begin(), clients.end(), [&](const ClientWindow& a, const ClientWindow& b) {
      const ClientAddress& ca = pairs_[a.pair].key.client;
      const ClientAddress& cb = pairs_[b.pair].key.client;
      return std::tie(ca.family, ca.addr) < std::tie(cb.family, cb.addr);
    });
    for (const ClientWindow& window : clients) {
      const double observed = static_cast<double>(window.random_bytes());
      if (window.random_bytes() == 0 || observed < byte_threshold) continue;
      const Pair& pair = pairs_[window.pair];
      Finding finding;
      finding.port = route_key.port;
      finding.route = route_key.route;
      finding.subject = pair.key.client;
      finding.severity = Severity::kCritical;
      finding.observed = observed;
      finding.baseline = expected;
      finding.threshold = size_jump;
      finding.score = byte_threshold > 0.0 ? size_jump * observed / byte_threshold : 0.0;
      finding.unit = "bytes";
      finding.clients.push_back(ClientShare{pair.key.client, window.random_bodies});

      // "198.18.0.9 pulled 3.1 MiB of random-looking (7.97 bits/byte) responses from
      //  GET /api/export in 5 s, 12x the route's usual 260 KiB per client"
      std::string_view verb = "moved";
      std::string_view what = "request and response bodies on";
      if (window.random_request_bytes == 0) {
        verb = "pulled";
        what = "responses from";
      } else if (window.random_response_bytes == 0) {
        verb = "pushed";
        what = "requests to";
      }
      std::string explanation =
          fmt::format("{} {} {} of random-looking ({:.2f} bits/byte) {} {} in {:g} s",
                      pair.key.client.ToString(), verb, DescribeBytes(observed),
                      window.entropy_bytes / observed, what,
                      route_key.route.empty() ? DescribeKey(route_key.port, route_key.route)
                                              : pair.method + " " + route_key.route,
                      window_s);
      if (expected >= 1.0) {
        const double jump = observed / expected;
        explanation +=
            fmt::format(", {}x the route's usual {} per client",
                        jump >= 10.0 ? fmt::format("{:.0f}", jump) : fmt::format("{:.1f}", jump),
                        DescribeBytes(expected));
      } else {
        explanation += ", where clients of the route usually move none";
      }
      finding.explanation = std::move(explanation);
      out.push_back(std::move(finding));
    }

    // Learn after judging, so the window is compared with the past only. A client that fires
    // now or is already firing is frozen out: an exfiltration never teaches the baseline that
    // it is normal, even when the attacker is the route's only client.
    if (baseline == nullptr) continue;
    for (const ClientWindow& window : clients) {
      const ClientAddress& client = pairs_[window.pair].key.client;
      if (static_cast<double>(window.random_bytes()) >= byte_threshold &&
          window.random_bytes() != 0) {
        continue;
      }
      if (ctx.is_active && ctx.is_active(route_key.port, route_key.route, client)) continue;
      baseline->Add(static_cast<double>(window.random_bytes()), ctx.end_ns);
    }
  }

  // Keep only the pairs later windows still refer to, renumbered.
  std::vector<Pair> kept;
  std::unordered_map<uint32_t, uint32_t> renumber;
  pair_ids_.clear();
  for (Pending& pending : pending_) {
    auto [it, inserted] = renumber.try_emplace(pending.pair, static_cast<uint32_t>(kept.size()));
    if (inserted) {
      kept.push_back(std::move(pairs_[pending.pair]));
      pair_ids_.emplace(kept.back().key, it->second);
    }
    pending.pair = it->second;
  }
  pairs_ = std::move(kept);
}

double ExfiltrationDetector::LearnedFraction() const {
  if (baselines_.empty()) return 0.0;
  size_t learned = 0;
  for (const auto& [key, ewma] : baselines_) {
    if (ewma.samples() >= stats::Ewma::kDefaultMinSamples) ++learned;
  }
  return static_cast<double>(learned) / static_cast<double>(baselines_.size());
}

std::optional<double> ExfiltrationDetector::Baseline(uint16_t port, std::string_view route) const {
  auto it = baselines_.find(RouteKey{port, std::string(route)});
  if (it == baselines_.end() || it->second.samples() == 0) return std::nullopt;
  return it->second.mean();
}

uint64_t ExfiltrationDetector::BaselineSamples(uint16_t port, std::string_view route) const {
  auto it = baselines_.find(RouteKey{port, std::string(route)});
  return it == baselines_.end() ? 0 : it->second.samples();
}

void ExfiltrationDetector::Save(state::Writer& out) const {
  out.Tag("EXFL");
  // Sorted, so the same state always gives the same bytes.
  std::vector<const std::pair<const RouteKey, stats::Ewma>*> entries;
  entries.reserve(baselines_.size());
  for (const auto& entry : baselines_) entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) {
    return std::tie(a->first.port, a->first.route) < std::tie(b->first.port, b->first.route);
  });
  out.U32(static_cast<uint32_t>(entries.size()));
  for (const auto* entry : entries) {
    out.U16(entry->first.port);
    out.String(entry->first.route);
    entry->second.Save(out);
  }
}

bool ExfiltrationDetector::Load(state::Reader& in) {
  if (!in.Tag("EXFL")) return false;
  // Each entry is at least a port and a route length.
  const uint32_t count = in.Count(2 + 4);
  if (count > kMaxRoutes) {
    in.Fail("exfiltration: more route baselines than kMaxRoutes");
    return false;
  }
  std::unordered_map<RouteKey, stats::Ewma, RouteKeyHash> loaded;
  for (uint32_t i = 0; i < count && in.ok(); ++i) {
    RouteKey key;
    key.port = in.U16();
    key.route = in.String();
    stats::Ewma ewma(config_.half_life_ns);
    if (!ewma.Load(in)) return false;
    if (!loaded.emplace(std::move(key), std::move(ewma)).second) {
      in.Fail("exfiltration: duplicate route baseline");
      return false;
    }
  }
  if (!in.ok()) return false;
  baselines_ = std::move(loaded);
  return true;
}

}  // namespace ta::analyzer::anomaly
