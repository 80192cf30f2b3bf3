#include "analyzer/anomaly/engine.h"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "analyzer/anomaly/bola_detector.h"
#include "analyzer/anomaly/detector.h"
#include "analyzer/anomaly/error_budget_detector.h"
#include "analyzer/anomaly/exfiltration_detector.h"
#include "analyzer/anomaly/flood_detector.h"
#include "analyzer/anomaly/latency_detector.h"
#include "analyzer/anomaly/slow_rate_detector.h"
#include "analyzer/state/codec.h"

namespace ta::analyzer::anomaly {
namespace {

// Bumped whenever the snapshot layout of the engine or of any detector changes: an older
// snapshot is then refused (and set aside by the agent) instead of being misread.
constexpr uint32_t kSnapshotSchema = 1;
constexpr size_t kRecentRecords = 256;
constexpr std::string_view kOtherRoute = "{other}";  // routes beyond max_keys

ClientAddress ClientOf(const FlowKey& flow) {
  ClientAddress client;
  client.addr = flow.client_addr;
  client.family = flow.family;
  return client;
}

// (detector, port, route, subject): one anomaly.
using ActiveKey = std::tuple<uint8_t, uint16_t, std::string, std::array<uint8_t, 16>, uint8_t>;

ActiveKey KeyOf(DetectorKind kind, uint16_t port, std::string_view route,
                const ClientAddress& subject) {
  return {static_cast<uint8_t>(kind), port, std::string(route), subject.addr, subject.family};
}

std::vector<std::unique_ptr<Detector>> MakeDetectors(const AnomalyEngineConfig& config) {
  std::vector<std::unique_ptr<Detector>> detectors;
  detectors.push_back(std::make_unique<FloodDetector>(config.flood));
  detectors.push_back(std::make_unique<ErrorBudgetDetector>(config.error_budget));
  detectors.push_back(std::make_unique<LatencyDetector>(config.latency));
  detectors.push_back(std::make_unique<ExfiltrationDetector>(config.exfiltration));
  detectors.push_back(std::make_unique<SlowRateDetector>(config.slow_rate));
  detectors.push_back(std::make_unique<BolaDetector>(config.bola));
  return detectors;
}

bool Enabled(const AnomalyEngineConfig& config, DetectorKind kind) {
  switch (kind) {
    case DetectorKind::kFlood: return config.flood.enabled;
    case DetectorKind::kErrorBudget: return config.error_budget.enabled;
    case DetectorKind::kLatency: return config.latency.enabled;
    case DetectorKind::kExfiltration: return config.exfiltration.enabled;
    case DetectorKind::kSlowRate: return config.slow_rate.enabled;
    case DetectorKind::kBola: return config.bola.enabled;
  }
  return false;
}

}  // namespace

struct AnomalyEngine::Impl {
  struct ActiveAnomaly {
    Anomaly record;
    uint32_t quiet_windows = 0;
  };

  Impl(const AnomalyEngineConfig& c, AnomalySink& s) : config(c), sink(s) {
    if (config.window_ns == 0) config.window_ns = AnomalyEngineConfig{}.window_ns;
    detectors = MakeDetectors(config);
  }

  uint64_t ToWall(uint64_t ts_ns) const {
    const int64_t wall = static_cast<int64_t>(ts_ns) + offset_ns;
    return wall < 0 ? 0 : static_cast<uint64_t>(wall);
  }

  uint64_t WindowStartOf(uint64_t wall_ns) const {
    return wall_ns - wall_ns % config.window_ns;
  }

  // Places an event at wall time `wall`: opens the first window, closes windows the event has
  // moved past, and returns false when the event is too old to be scored.
  bool Place(uint64_t& wall) {
    if (!started) {
      started = true;
      open_start = WindowStartOf(wall);
      newest = wall;
    }
    if (wall > newest + config.max_future_ns) {
      // Far ahead of every event and tick so far: a bogus timestamp, not the clock (clock
      // steps come through SetWallClockOffset). Counted and not scored: accepting it would
      // close every window up to it and make all real events late.
      ++status.future_events;
      return false;
    }
    newest = std::max(newest, wall);
    if (wall < open_start) {
      // Late (another CPU's event, a slow ring buffer consumer): within the allowed lateness it
      // counts in the open window, so rates lose nothing; beyond it, it is not scored.
      ++status.late_events;
      if (open_start - wall > config.allowed_lateness_ns) return false;
      wall = open_start;
    }
    CloseUntil(wall);
    return true;
  }

  // Closes every window that ends at or before `wall` (the window holding `wall` stays open).
  void CloseUntil(uint64_t wall) {
    while (wall >= open_start + config.window_ns) {
      // After a long silence (a suspended host, a replay with gaps) closing every empty window
      // would take long and teach nothing: close one, then jump.
      const uint64_t windows_behind = (wall - open_start) / config.window_ns;
      if (windows_behind > kMaxCatchUpWindows) {
        CloseWindow();
        status.windows_skipped += windows_behind - 1;
        open_start = WindowStartOf(wall);
        break;
      }
      CloseWindow();
    }
  }

  void CloseWindow() {
    const uint64_t start = open_start;
    const uint64_t end = start + config.window_ns;
    open_start = end;
    ++status.windows_closed;
    thresholds.Expire(end);
    for (size_t i = 0; i < detectors.size(); ++i) {
      Detector& detector = *detectors[i];
      const DetectorKind kind = detector.kind();
      if (!Enabled(config, kind)) continue;
      WindowContext ctx{start, end, config, thresholds,
                        [this, kind](uint16_t port, std::string_view route,
                                     const ClientAddress& subject) {
                          return active.contains(KeyOf(kind, port, route, subject));
                        }};
      findings.clear();
      detector.CloseWindow(ctx, findings);
      std::set<ActiveKey> seen;
      for (Finding& f : findings) {
        ActiveKey key = KeyOf(kind, f.port, f.route, f.subject);
        seen.insert(key);
        auto it = active.find(key);
        if (it == active.end()) {
          Anomaly record = ToRecord(kind, f, start, end);
          record.id = next_id++;
          record.started_ns = end;
          ++fired[i];
          Emit(record);
          active.emplace(std::move(key), ActiveAnomaly{std::move(record), 0});
        } else {
          // Still holding: keep the id and start, refresh the figures (sinks are not told
          // again; the Alertmanager sink re-sends its active set by itself).
          Anomaly refreshed = ToRecord(kind, f, start, end);
          refreshed.id = it->second.record.id;
          refreshed.started_ns = it->second.record.started_ns;
          refreshed.severity = std::max(refreshed.severity, it->second.record.severity);
          it->second.record = std::move(refreshed);
          it->second.quiet_windows = 0;
        }
      }
      for (auto it = active.begin(); it != active.end();) {
        if (std::get<0>(it->first) != static_cast<uint8_t>(kind) || seen.contains(it->first)) {
          ++it;
          continue;
        }
        if (++it->second.quiet_windows < config.resolve_after_windows) {
          ++it;
          continue;
        }
        Anomaly resolved = it->second.record;
        resolved.state = AnomalyState::kResolved;
        resolved.window_start_ns = start;
        resolved.window_end_ns = end;
        Emit(resolved);
        it = active.erase(it);
      }
    }
  }

  Anomaly ToRecord(DetectorKind kind, const Finding& f, uint64_t start, uint64_t end) const {
    Anomaly a;
    a.detector = kind;
    a.severity = f.severity;
    a.state = AnomalyState::kFiring;
    a.port = f.port;
    a.route = f.route;
    a.subject = f.subject;
    a.clients = f.clients;
    if (a.clients.size() > config.max_clients) a.clients.resize(config.max_clients);
    if (a.clients.empty() && f.subject.family != 0) a.clients.push_back({f.subject, 0});
    a.observed = f.observed;
    a.baseline = f.baseline;
    a.score = f.score;
    a.threshold = f.threshold;
    a.unit = f.unit;
    a.window_start_ns = start;
    a.window_end_ns = end;
    a.explanation = f.explanation;
    return a;
  }

  void Emit(const Anomaly& record) {
    recent.push_back(record);
    if (recent.size() > kRecentRecords) recent.pop_front();
    sink.OnAnomaly(record);
  }

  // The route a new key gets: itself while under max_keys, then kOtherRoute.
  std::string_view FoldRoute(uint16_t port, const std::string& route) {
    auto key = std::make_pair(port, route);
    if (keys.contains(key)) return route;
    if (keys.size() >= config.max_keys) {
      ++status.keys_overflowed;
      return kOtherRoute;
    }
    keys.insert(std::move(key));
    return route;
  }

  static constexpr uint64_t kMaxCatchUpWindows = 24 * 720;  // one day of 5 s windows

  AnomalyEngineConfig config;
  AnomalySink& sink;
  int64_t offset_ns = 0;
  std::vector<std::unique_ptr<Detector>> detectors;
  ThresholdTable thresholds;
  bool started = false;
  uint64_t open_start = 0;  // wall ns of the open window's start
  uint64_t newest = 0;      // newest wall time seen
  std::set<std::pair<uint16_t, std::string>> keys;
  std::map<ActiveKey, ActiveAnomaly> active;
  std::deque<Anomaly> recent;
  std::vector<Finding> findings;
  std::array<uint64_t, kDetectorKinds> fired{};
  uint64_t next_id = 1;
  struct {
    uint64_t exchanges = 0;
    uint64_t late_events = 0;
    uint64_t future_events = 0;
    uint64_t clock_steps = 0;
    uint64_t windows_closed = 0;
    uint64_t windows_skipped = 0;
    uint64_t keys_overflowed = 0;
  } status;
};

AnomalyEngine::AnomalyEngine(const AnomalyEngineConfig& config, AnomalySink& sink)
    : impl_(std::make_unique<Impl>(config, sink)) {}

AnomalyEngine::~AnomalyEngine() = default;

void AnomalyEngine::SetWallClockOffset(int64_t offset_ns) {
  Impl& m = *impl_;
  const int64_t step = offset_ns - m.offset_ns;
  m.offset_ns = offset_ns;
  const uint64_t magnitude = step < 0 ? static_cast<uint64_t>(-step) : static_cast<uint64_t>(step);
  if (!m.started || magnitude <= m.config.allowed_lateness_ns) return;
  // The wall clock was stepped (NTP, an operator): close the open window as it is and start
  // windows again at the new time, rather than treating every later event as late (backwards)
  // or closing hours of empty windows (forwards). Baselines keep their history.
  ++m.status.clock_steps;
  m.CloseWindow();
  const int64_t newest = static_cast<int64_t>(m.newest) + step;
  m.newest = newest < 0 ? 0 : static_cast<uint64_t>(newest);
  m.open_start = m.WindowStartOf(m.newest);
}

void AnomalyEngine::OnHttpExchange(const HttpExchange& exchange) {
  Impl& m = *impl_;
  // Windows follow completion time: an exchange is known when its response ends, so placing it
  // there keeps arrival order (a 30 s request would otherwise always be "late").
  const uint64_t ts = exchange.response_end_ns != 0 ? exchange.response_end_ns
                                                    : exchange.request_start_ns;
  uint64_t wall = m.ToWall(ts);
  if (!m.Place(wall)) return;
  ++m.status.exchanges;
  const uint16_t port = exchange.flow.server_port;
  ExchangeFacts facts{exchange,
                      port,
                      m.FoldRoute(port, exchange.route),
                      ClientOf(exchange.flow),
                      wall,
                      exchange.DurationSeconds(),
                      static_cast<uint16_t>(exchange.status / 100 <= 5 ? exchange.status / 100
                                                                       : 0)};
  for (auto& detector : m.detectors) {
    if (Enabled(m.config, detector->kind())) detector->OnExchange(facts);
  }
}

void AnomalyEngine::OnCensus(uint64_t now_ns, std::span<const ConnectionProgress> census) {
  Impl& m = *impl_;
  uint64_t wall = m.ToWall(now_ns);
  if (!m.Place(wall)) return;
  // Phase times are on the event clock like now_ns; detectors see wall clock.
  std::vector<ConnectionProgress> converted(census.begin(), census.end());
  for (ConnectionProgress& c : converted) {
    c.phase_start_ns = m.ToWall(c.phase_start_ns);
    c.last_byte_ns = m.ToWall(c.last_byte_ns);
  }
  for (auto& detector : m.detectors) {
    if (Enabled(m.config, detector->kind())) detector->OnCensus(wall, converted);
  }
}

void AnomalyEngine::Tick(uint64_t now_ns) {
  Impl& m = *impl_;
  if (!m.started) return;
  const uint64_t wall = m.ToWall(now_ns);
  // Ticks are the clock: an event is "in the future" only relative to them and to events.
  m.newest = std::max(m.newest, wall);
  // The window holding `wall - allowed_lateness` stays open for stragglers.
  if (wall < m.config.allowed_lateness_ns) return;
  m.CloseUntil(wall - m.config.allowed_lateness_ns);
}

std::optional<std::string> AnomalyEngine::SetThreshold(const ThresholdOverride& value,
                                                       uint64_t now_ns) {
  return impl_->thresholds.Set(value, impl_->ToWall(now_ns));
}

bool AnomalyEngine::ClearThreshold(DetectorKind detector, std::string_view parameter,
                                   uint16_t port, std::string_view route) {
  return impl_->thresholds.Clear(detector, parameter, port, route);
}

const std::vector<ThresholdOverride>& AnomalyEngine::thresholds() const {
  return impl_->thresholds.overrides();
}

std::vector<Anomaly> AnomalyEngine::Active() const {
  std::vector<Anomaly> out;
  out.reserve(impl_->active.size());
  for (const auto& [key, a] : impl_->active) out.push_back(a.record);
  std::sort(out.begin(), out.end(), [](const Anomaly& a, const Anomaly& b) { return a.id < b.id; });
  return out;
}

std::vector<Anomaly> AnomalyEngine::Recent(size_t max) const {
  const auto& recent = impl_->recent;
  const size_t n = std::min(max, recent.size());
  return {recent.end() - static_cast<std::ptrdiff_t>(n), recent.end()};
}

EngineStatus AnomalyEngine::Status() const {
  const Impl& m = *impl_;
  EngineStatus s;
  s.exchanges = m.status.exchanges;
  s.late_events = m.status.late_events;
  s.future_events = m.status.future_events;
  s.clock_steps = m.status.clock_steps;
  s.windows_closed = m.status.windows_closed;
  s.keys = m.keys.size();
  s.keys_overflowed = m.status.keys_overflowed;
  double learned = 0.0;
  size_t enabled = 0;
  for (size_t i = 0; i < m.detectors.size(); ++i) {
    const Detector& d = *m.detectors[i];
    DetectorStatus ds;
    ds.kind = d.kind();
    ds.enabled = Enabled(m.config, d.kind());
    ds.learned_fraction = d.LearnedFraction();
    ds.fired = m.fired[i];
    for (const auto& [key, a] : m.active) {
      if (std::get<0>(key) == static_cast<uint8_t>(d.kind())) ++ds.active;
    }
    ds.max_score = d.LastMaxScore();
    ds.scored = d.counters().scored;
    ds.skipped = d.counters().skipped;
    ds.overflow = d.counters().overflow;
    if (ds.enabled) {
      learned += ds.learned_fraction;
      ++enabled;
    }
    s.detectors.push_back(ds);
  }
  s.learned_fraction = enabled == 0 ? 1.0 : learned / static_cast<double>(enabled);
  return s;
}

std::string AnomalyEngine::Snapshot() const {
  const Impl& m = *impl_;
  state::Writer out;
  out.Tag("TAEN");
  out.U32(kSnapshotSchema);
  out.U64(m.next_id);
  out.U32(static_cast<uint32_t>(m.thresholds.overrides().size()));
  for (const ThresholdOverride& o : m.thresholds.overrides()) {
    out.U8(static_cast<uint8_t>(o.detector));
    out.String(o.parameter);
    out.U16(o.port);
    out.String(o.route);
    out.F64(o.value);
    out.U64(o.expires_ns);
    out.String(o.reason);
  }
  out.U32(static_cast<uint32_t>(m.detectors.size()));
  for (const auto& detector : m.detectors) {
    out.U8(static_cast<uint8_t>(detector->kind()));
    state::Writer section;
    detector->Save(section);
    out.String(section.data());
  }
  return out.Take();
}

std::optional<std::string> AnomalyEngine::Restore(std::string_view snapshot) {
  Impl& m = *impl_;
  state::Reader in(snapshot);
  if (!in.Tag("TAEN")) return "not an anomaly engine snapshot";
  if (const uint32_t schema = in.U32(); schema != kSnapshotSchema) {
    return "snapshot schema " + std::to_string(schema) + ", this build reads " +
           std::to_string(kSnapshotSchema);
  }
  const uint64_t next_id = in.U64();
  ThresholdTable thresholds;
  const uint32_t overrides = in.Count(16);
  for (uint32_t i = 0; i < overrides && in.ok(); ++i) {
    ThresholdOverride o;
    const uint8_t kind = in.U8();
    if (kind >= kDetectorKinds) in.Fail("threshold override of an unknown detector");
    o.detector = static_cast<DetectorKind>(kind);
    o.parameter = in.String(64);
    o.port = in.U16();
    o.route = in.String();
    o.value = in.F64();
    o.expires_ns = in.U64();
    o.reason = in.String();
    // Expired overrides are dropped at the next window; pass 0 so Set only validates.
    if (in.ok()) {
      if (auto error = thresholds.Set(o, 0)) in.Fail("threshold override: " + *error);
    }
  }
  auto detectors = MakeDetectors(m.config);
  const uint32_t sections = in.Count(5);
  if (in.ok() && sections != detectors.size()) {
    in.Fail("snapshot has " + std::to_string(sections) + " detectors, this build has " +
            std::to_string(detectors.size()));
  }
  for (auto& detector : detectors) {
    if (!in.ok()) break;
    if (in.U8() != static_cast<uint8_t>(detector->kind())) {
      in.Fail("detector sections out of order");
      break;
    }
    const std::string section = in.String(size_t{1} << 30);
    state::Reader sub(section);
    if (!detector->Load(sub) || !sub.ok()) {
      in.Fail(std::string(DetectorName(detector->kind())) +
              " state: " + (sub.ok() ? "refused" : sub.error()));
    }
  }
  if (in.ok() && !in.AtEnd()) in.Fail("trailing bytes after the last detector");
  if (!in.ok()) return in.error();
  m.next_id = std::max(m.next_id, next_id);
  m.thresholds = std::move(thresholds);
  m.detectors = std::move(detectors);
  return std::nullopt;
}

}  // namespace ta::analyzer::anomaly
