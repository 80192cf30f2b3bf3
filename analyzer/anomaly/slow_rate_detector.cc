#include "analyzer/anomaly/slow_rate_detector.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "fmt/format.h"

namespace ta::analyzer::anomaly {
namespace {

constexpr const char* kActivity[] = {"sending request heads", "sending request bodies",
                                     "reading responses"};
constexpr const char* kAttackName[] = {"slowloris", "slow POST", "slow read"};

}  // namespace

SlowRateDetector::SlowRateDetector(const SlowRateConfig& config) : config_(config) {}

void SlowRateDetector::OnCensus(uint64_t wall_ns, std::span<const ConnectionProgress> census) {
  Snapshot snapshot;
  snapshot.wall_ns = wall_ns;
  using SourceKey = std::tuple<uint16_t, uint8_t, std::array<uint8_t, 16>>;
  std::map<SourceKey, SlowSource> sources;
  for (const ConnectionProgress& conn : census) {
    size_t kind = 0;
    switch (conn.phase) {
      case ExchangePhase::kRequestHead:
        kind = 0;
        break;
      case ExchangePhase::kRequestBody:
        kind = 1;
        break;
      case ExchangePhase::kResponse:
        kind = 2;
        break;
      case ExchangePhase::kAwaitingResponse:
        ++counters_.skipped;
        continue;
    }
    if ((conn.phase == ExchangePhase::kRequestHead && conn.phase_bytes == 0) ||
        conn.phase_start_ns > wall_ns) {
      ++counters_.skipped;
      continue;
    }
    ++counters_.scored;
    const uint64_t age_ns = wall_ns - conn.phase_start_ns;
    if (age_ns < config_.min_age_ns || age_ns == 0) continue;
    const double rate = static_cast<double>(conn.phase_bytes) * 1e9 / static_cast<double>(age_ns);
    if (rate >= config_.max_bytes_per_second) continue;

    ClientAddress client;
    client.addr = conn.flow.client_addr;
    client.family = conn.flow.family;
    const uint16_t port = conn.flow.server_port;
    SlowSource& source = sources[SourceKey{port, client.family, client.addr}];
    source.port = port;
    source.client = client;
    if (source.connections[kind] == 0 || age_ns < source.min_age_ns[kind]) {
      source.min_age_ns[kind] = age_ns;
    }
    ++source.connections[kind];
    source.rate_sum[kind] += rate;
  }
  snapshot.sources.reserve(sources.size());
  for (auto& [key, source] : sources) snapshot.sources.push_back(source);  // (port, client) order

  if (snapshots_.size() >= kMaxPendingCensus) {
    snapshots_.pop_front();
    ++counters_.overflow;
  }
  // Keep the deque ordered by time even if a census arrives out of order.
  auto pos = std::upper_bound(snapshots_.begin(), snapshots_.end(), wall_ns,
                              [](uint64_t t, const Snapshot& s) { return t < s.wall_ns; });
  snapshots_.insert(pos, std::move(snapshot));
}

void SlowRateDetector::CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) {
  const Snapshot* latest = nullptr;
  for (const Snapshot& snapshot : snapshots_) {
    if (snapshot.wall_ns >= ctx.end_ns) break;
    if (snapshot.wall_ns >= ctx.start_ns) latest = &snapshot;
  }
  if (latest != nullptr) {
    for (const SlowSource& source : latest->sources) {
      uint32_t total = 0;
      size_t kinds = 0;
      for (uint32_t n : source.connections) {
        total += n;
        if (n != 0) ++kinds;
      }
      const double threshold =
          ctx.Threshold(DetectorKind::kSlowRate, "max_slow_connections", source.port, "",
                        static_cast<double>(config_.max_slow_connections));
      if (total == 0 || static_cast<double>(total) < threshold) continue;

      Finding finding;
      finding.port = source.port;
      finding.subject = source.client;
      finding.severity = Severity::kCritical;
      finding.observed = total;
      finding.threshold = threshold;
      finding.score = total;
      finding.unit = "connections";
      finding.clients.push_back(ClientShare{source.client, total});

      // "40 connections sending request heads at 2 B/s for 30 s+ (slowloris)"
      auto describe = [&](size_t kind, bool with_noun) {
        const uint32_t n = source.connections[kind];
        return fmt::format("{}{} {} at {:.3g} B/s for {} s+ ({})", n,
                           with_noun ? (n == 1 ? " connection" : " connections") : "",
                           kActivity[kind], source.rate_sum[kind] / static_cast<double>(n),
                           source.min_age_ns[kind] / kNsPerSecond, kAttackName[kind]);
      };
      std::string explanation = source.client.ToString();
      if (kinds == 1) {
        const size_t kind =
            static_cast<size_t>(std::find_if(source.connections.begin(), source.connections.end(),
                                             [](uint32_t n) { return n != 0; }) -
                                source.connections.begin());
        explanation += " holds " + describe(kind, true) + " on :" + std::to_string(source.port);
      } else {
        explanation += " holds " + std::to_string(total) +
                       " slow connections on :" + std::to_string(source.port) + ":";
        const char* separator = " ";
        for (size_t kind = 0; kind < kSlowKinds; ++kind) {
          if (source.connections[kind] == 0) continue;
          explanation += separator + describe(kind, false);
          separator = ", ";
        }
      }
      finding.explanation = std::move(explanation);
      out.push_back(std::move(finding));
    }
  }
  // Snapshots of this and earlier windows are done with.
  while (!snapshots_.empty() && snapshots_.front().wall_ns < ctx.end_ns) snapshots_.pop_front();
}

void SlowRateDetector::Save(state::Writer& out) const { out.Tag("SLOW"); }

bool SlowRateDetector::Load(state::Reader& in) { return in.Tag("SLOW") && in.ok(); }

}  // namespace ta::analyzer::anomaly
