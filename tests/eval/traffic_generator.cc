#include "tests/eval/traffic_generator.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <numbers>
#include <stdexcept>
#include <utility>

namespace ta::eval {
namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
// Responses slower than this are cut to it: the engine takes an exchange up to
// allowed_lateness (2 s) after its window closed, and the live analyzer has the same bound.
constexpr double kMaxLatencySeconds = 1.9;
constexpr uint64_t kObjectBase = 1000;
constexpr uint64_t kBolaFirstObject = 5000;
constexpr size_t kJsonPool = 48;
constexpr size_t kGzipPool = 48;

// SplitMix64 (Steele, Lea, Flood 2014): spreads one seed into independent stream seeds, so adding
// an attack stream does not change the normal traffic of the same seed.
uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

ClientAddress Ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  ClientAddress address;
  address.family = 2;
  address.addr[0] = a;
  address.addr[1] = b;
  address.addr[2] = c;
  address.addr[3] = d;
  return address;
}

constexpr const char* kWords[] = {
    "alpha",  "bravo",  "charlie", "delta",  "echo",    "foxtrot",  "golf",    "hotel",
    "india",  "juliet", "kilo",    "lima",   "mike",    "november", "oscar",   "papa",
    "quebec", "romeo",  "sierra",  "tango",  "uniform", "victor",   "whiskey", "xray",
    "yankee", "zulu",   "amber",   "basalt", "cobalt",  "dune",     "ember",   "fjord",
    "garnet", "harbor", "iris",    "jade",   "kelp",    "lagoon",   "marble",  "nectar",
    "onyx",   "pebble", "quartz",  "reef",   "slate",   "tundra",   "umber",   "violet"};
constexpr uint64_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);

}  // namespace

uint64_t Random::Below(uint64_t n) {
  // Reject the top (2^64 mod n) values so every residue is equally likely.
  const uint64_t limit =
      std::numeric_limits<uint64_t>::max() - (std::numeric_limits<uint64_t>::max() % n + 1) % n;
  uint64_t x = engine_();
  while (x > limit) x = engine_();
  return x % n;
}

double Random::Normal() {
  const double u1 = 1.0 - Uniform01();  // (0, 1]: log is finite
  const double u2 = Uniform01();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

std::string MakeJsonDocument(Random& random, size_t min_bytes) {
  // An API-like array of records: keys repeat, values vary (ids, words, numbers, dates), which
  // gives the 4.5-5.5 bits/byte of real JSON and the 4-8x gzip ratio.
  std::string out = "{\"items\":[";
  bool first = true;
  while (out.size() < min_bytes) {
    if (!first) out += ',';
    first = false;
    const uint64_t id = 100000 + random.Below(900000);
    out += "{\"id\":" + std::to_string(id);
    out += ",\"name\":\"" + std::string(kWords[random.Below(kWordCount)]) + " " +
           kWords[random.Below(kWordCount)] + "\"";
    out += ",\"email\":\"" + std::string(kWords[random.Below(kWordCount)]) +
           std::to_string(random.Below(100)) + "@example.com\"";
    out += ",\"created\":\"2026-01-" + std::to_string(10 + random.Below(18)) + "T" +
           std::to_string(10 + random.Below(14)) + ":" + std::to_string(10 + random.Below(50)) +
           ":" + std::to_string(10 + random.Below(50)) + "Z\"";
    out += ",\"score\":" + std::to_string(random.Below(10000)) + "." +
           std::to_string(random.Below(100));
    out += ",\"active\":";
    out += random.Chance(0.7) ? "true" : "false";
    out += ",\"tags\":[\"" + std::string(kWords[random.Below(kWordCount)]) + "\",\"" +
           kWords[random.Below(kWordCount)] + "\"]}";
  }
  out += "],\"next\":null}";
  return out;
}

std::string GzipCompress(const std::string& data) {
  z_stream zs{};
  // windowBits 15 + 16: a gzip wrapper (RFC 1952) around the deflate stream (RFC 1951), as a
  // server sends with Content-Encoding: gzip.
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  // zlib's API is not const-correct: deflate only reads next_in.
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  out.resize(zs.total_out);
  return out;
}

std::string GunzipForTest(const std::string& data) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return {};
  std::string out;
  std::string chunk(16384, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  for (;;) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk.data());
    zs.avail_out = static_cast<uInt>(chunk.size());
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.append(chunk.data(), chunk.size() - zs.avail_out);
    // A prefix of a stream ends with Z_BUF_ERROR (no progress possible): keep what was inflated.
    if (rc != Z_OK) break;
  }
  inflateEnd(&zs);
  return out;
}

struct TrafficGenerator::Impl {
  enum class StreamType : uint8_t { kRoute, kFlood, kBola, kDump, kSlowLegit };

  // One Poisson arrival process, non-homogeneous by thinning (Lewis & Shedler 1979): candidates
  // at max_rate, each kept with probability rate(t) / max_rate.
  struct Stream {
    StreamType type = StreamType::kRoute;
    size_t route = 0;
    size_t attack = 0;
    double begin_s = 0;  // relative to the run start
    double end_s = 0;
    double max_rate = 0;
    double t_s = 0;         // last candidate
    uint64_t next_ns = 0;   // next accepted arrival (wall), kNever when exhausted
    uint64_t sequence = 0;  // BOLA walk position
    Random random{0};
  };

  struct PendingExchange {
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
    uint64_t order = 0;  // tie-break: arrival order
    uint64_t object = 0;
    uint64_t body_bytes = 0;
    uint32_t client = 0;  // index into addresses
    uint16_t client_port = 0;
    uint16_t status = 200;
    uint16_t body_index = 0;
    uint8_t route = 0;
    BodyKind body = BodyKind::kNone;
    bool has_object = false;
    bool attack = false;
  };

  struct SlowConnection {
    uint64_t open_ns = 0;
    uint64_t close_ns = 0;
    uint32_t client = 0;
    uint16_t client_port = 0;
    uint16_t server_port = 80;
    double bytes_per_second = 0;
    uint64_t expected_bytes = 0;
    analyzer::ExchangePhase phase = analyzer::ExchangePhase::kRequestBody;
  };

  GeneratorConfig config;
  std::vector<ClientAddress> addresses;  // normal clients first, then attackers
  std::vector<double> zipf_cdf;
  std::vector<std::string> json_pool;
  std::vector<std::string> gzip_pool;
  std::vector<Stream> streams;
  std::vector<PendingExchange> pending;  // min-heap on (end_ns, order)
  std::vector<SlowConnection> slow;      // legit slow uploads and slowloris connections
  std::vector<Label> labels;
  std::vector<uint32_t> attack_client;  // per attack: the single client (BOLA, dump, slowloris)
  uint32_t flood_first_source = 0;
  std::vector<uint32_t> slow_per_client;
  Random body_random{0};
  uint64_t next_census_ns = 0;
  uint64_t end_ns = 0;
  uint64_t order = 0;
  double log_growth_per_s = 0;
  GeneratorCounts counts;
  ClientAddress server = Ipv4(198, 19, 0, 10);

  explicit Impl(GeneratorConfig c) : config(std::move(c)) {
    end_ns = config.start_ns + config.duration_ns;
    log_growth_per_s = std::log(config.weekly_growth) / (7.0 * 86400.0);
    Random setup(SplitMix(config.seed));
    body_random = Random(SplitMix(config.seed ^ 0xb0d1e5ULL));

    for (size_t i = 0; i < config.clients; ++i) {
      addresses.push_back(
          Ipv4(198, 18, static_cast<uint8_t>(i / 250), static_cast<uint8_t>(i % 250 + 1)));
    }
    double sum = 0;
    for (size_t i = 0; i < config.clients; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), config.zipf_exponent);
      zipf_cdf.push_back(sum);
    }
    for (double& v : zipf_cdf) v /= sum;
    flood_first_source = static_cast<uint32_t>(addresses.size());
    for (size_t i = 0; i < config.flood_sources; ++i) {
      addresses.push_back(
          Ipv4(198, 19, static_cast<uint8_t>(64 + i / 250), static_cast<uint8_t>(i % 250 + 1)));
    }
    slow_per_client.assign(config.clients, 0);

    for (size_t i = 0; i < kJsonPool; ++i) {
      json_pool.push_back(MakeJsonDocument(setup, 1100 + setup.Below(2000)));
    }
    for (size_t i = 0; i < kGzipPool; ++i) {
      gzip_pool.push_back(GzipCompress(MakeJsonDocument(setup, 4000 + setup.Below(8000))));
    }

    const double duration_s = static_cast<double>(config.duration_ns) / 1e9;
    for (size_t r = 0; r < config.routes.size(); ++r) {
      Stream s;
      s.type = StreamType::kRoute;
      s.route = r;
      s.begin_s = 0;
      s.end_s = duration_s;
      s.max_rate = MaxNormalRate(r, s.end_s);
      streams.push_back(s);
    }
    {
      Stream s;
      s.type = StreamType::kSlowLegit;
      s.end_s = duration_s;
      s.max_rate = config.slow_client_rate;
      if (s.max_rate > 0) streams.push_back(s);
    }
    std::vector<size_t> by_start(config.attacks.size());
    for (size_t a = 0; a < by_start.size(); ++a) by_start[a] = a;
    std::stable_sort(by_start.begin(), by_start.end(), [&](size_t x, size_t y) {
      return config.attacks[x].start_ns < config.attacks[y].start_ns;
    });
    attack_client.assign(config.attacks.size(), 0);
    for (size_t a : by_start) AddAttack(a);

    for (size_t i = 0; i < streams.size(); ++i) {
      streams[i].random = Random(SplitMix(config.seed * 1000003ULL + i + 1));
      streams[i].t_s = streams[i].begin_s;
      Advance(streams[i]);
    }
    next_census_ns = (config.start_ns / config.census_interval_ns + 1) * config.census_interval_ns;
  }

  uint64_t Wall(double relative_s) const {
    return config.start_ns + static_cast<uint64_t>(std::llround(relative_s * 1e9));
  }

  double LaunchFactor(size_t route, uint64_t wall_ns) const {
    if (!config.launch || config.launch->route_index != route) return 1.0;
    const LaunchSpec& l = *config.launch;
    const uint64_t start = config.start_ns + l.start_ns;
    if (wall_ns < start || wall_ns >= config.start_ns + l.end_ns()) return 1.0;
    const double since = static_cast<double>(wall_ns - start);
    const double ramp = static_cast<double>(l.ramp_ns);
    const double hold_end = ramp + static_cast<double>(l.hold_ns);
    double share = 1.0;
    if (since < ramp) {
      share = since / ramp;
    } else if (since >= hold_end) {
      share = 1.0 - (since - hold_end) / ramp;
    }
    return 1.0 + (l.factor - 1.0) * share;
  }

  double DayFactor(uint64_t day_index) const {
    // Unix day 0 was a Thursday: (day + 3) % 7 is 0 on Mondays.
    const uint64_t weekday = (day_index + 3) % 7;
    return weekday >= 5 ? config.weekend_factor : 1.0;
  }

  double NormalRate(size_t route, uint64_t wall_ns) const {
    const RouteSpec& spec = config.routes[route];
    const uint64_t day = wall_ns / kNsPerDay;
    const double hour = static_cast<double>(wall_ns % kNsPerDay) / static_cast<double>(kNsPerHour);
    // Smooth diurnal curve: trough at 03:00, peak at 15:00.
    const double wave = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * (hour - 3.0) / 24.0);
    const double diurnal = config.night_trough + (1.0 - config.night_trough) * wave;
    // Weekday/weekend level, blended over the night's first three hours so the step is smooth.
    double day_factor = DayFactor(day);
    if (hour < 3.0) {
      const double previous = DayFactor(day - 1);
      day_factor = previous + (day_factor - previous) * hour / 3.0;
    }
    const double since_start =
        wall_ns > config.start_ns ? static_cast<double>(wall_ns - config.start_ns) / 1e9 : 0.0;
    const double growth = std::exp(log_growth_per_s * since_start);
    return spec.peak_rps * diurnal * day_factor * growth * LaunchFactor(route, wall_ns);
  }

  double MaxNormalRate(size_t route, double until_s) const {
    double launch = 1.0;
    if (config.launch && config.launch->route_index == route) launch = config.launch->factor;
    return config.routes[route].peak_rps * std::exp(log_growth_per_s * until_s) * launch * 1.0001;
  }

  double StreamRate(const Stream& s, double t_s) const {
    switch (s.type) {
      case StreamType::kRoute:
        return NormalRate(s.route, Wall(t_s));
      case StreamType::kFlood:
        return (config.attacks[s.attack].magnitude - 1.0) * NormalRate(s.route, Wall(t_s));
      case StreamType::kBola:
        return config.attacks[s.attack].magnitude;
      case StreamType::kDump:
        return 1.0;
      case StreamType::kSlowLegit:
        return config.slow_client_rate;
    }
    return 0.0;
  }

  void Advance(Stream& s) {
    for (;;) {
      s.t_s += s.random.Exponential(s.max_rate);
      if (s.t_s >= s.end_s) {
        s.next_ns = kNever;
        return;
      }
      if (s.random.Uniform01() * s.max_rate < StreamRate(s, s.t_s)) {
        s.next_ns = Wall(s.t_s);
        return;
      }
    }
  }

  void AddAttack(size_t a) {
    const AttackSpec& spec = config.attacks[a];
    const RouteSpec& route = config.routes[spec.route_index];
    Label label;
    label.name = spec.name;
    label.port = route.port;
    label.route = route.route;
    label.start_ns = config.start_ns + spec.start_ns;
    label.end_ns = label.start_ns + spec.duration_ns;
    Stream s;
    s.route = spec.route_index;
    s.attack = a;
    s.begin_s = static_cast<double>(spec.start_ns) / 1e9;
    s.end_s = static_cast<double>(spec.start_ns + spec.duration_ns) / 1e9;
    switch (spec.kind) {
      case AttackKind::kFlood:
        label.detector = DetectorKind::kFlood;
        s.type = StreamType::kFlood;
        s.max_rate = (spec.magnitude - 1.0) * MaxNormalRate(spec.route_index, s.end_s);
        streams.push_back(s);
        break;
      case AttackKind::kErrorBurst:
        label.detector = DetectorKind::kErrorBudget;
        break;
      case AttackKind::kLatency:
        label.detector = DetectorKind::kLatency;
        break;
      case AttackKind::kSlowloris: {
        label.detector = DetectorKind::kSlowRate;
        label.route = "";  // connections that never finish a request head have no route
        const uint32_t client = static_cast<uint32_t>(addresses.size());
        addresses.push_back(Ipv4(198, 19, 201, static_cast<uint8_t>(9 + a)));
        attack_client[a] = client;
        label.client = addresses[client];
        // The connections open over the first 10 s and hold until the attack ends.
        const auto connections = static_cast<size_t>(spec.magnitude);
        for (size_t i = 0; i < connections; ++i) {
          SlowConnection c;
          c.open_ns = label.start_ns + i * (10 * kNsPerSecond) / std::max<size_t>(connections, 1);
          c.close_ns = label.end_ns;
          c.client = client;
          c.client_port = static_cast<uint16_t>(40000 + i);
          c.server_port = route.port;
          c.bytes_per_second = 0.1;  // one header line byte every 10 s
          c.phase = analyzer::ExchangePhase::kRequestHead;
          slow.push_back(c);
        }
        break;
      }
      case AttackKind::kBolaWalk: {
        label.detector = DetectorKind::kBola;
        const uint32_t client = static_cast<uint32_t>(addresses.size());
        addresses.push_back(Ipv4(198, 19, 200, static_cast<uint8_t>(7 + a)));
        attack_client[a] = client;
        label.client = addresses[client];
        s.type = StreamType::kBola;
        s.max_rate = spec.magnitude;
        s.sequence = kBolaFirstObject;
        streams.push_back(s);
        break;
      }
      case AttackKind::kDump: {
        label.detector = DetectorKind::kExfiltration;
        // An insider: a normal client's address (rank 37) that also keeps its usual traffic.
        const uint32_t client = static_cast<uint32_t>(std::min<size_t>(37, config.clients - 1));
        attack_client[a] = client;
        label.client = addresses[client];
        s.type = StreamType::kDump;
        s.max_rate = 1.0;
        streams.push_back(s);
        break;
      }
    }
    labels.push_back(std::move(label));
  }

  uint32_t ZipfClient(Random& random) const {
    const double u = random.Uniform01();
    const auto it = std::upper_bound(zipf_cdf.begin(), zipf_cdf.end(), u);
    return static_cast<uint32_t>(
        std::min<size_t>(static_cast<size_t>(it - zipf_cdf.begin()), zipf_cdf.size() - 1));
  }

  // The attack of `kind` active on `route` at wall time t, if any.
  const AttackSpec* ActiveAttack(AttackKind kind, size_t route, uint64_t wall_ns) const {
    for (const AttackSpec& a : config.attacks) {
      if (a.kind != kind || a.route_index != route) continue;
      const uint64_t start = config.start_ns + a.start_ns;
      if (wall_ns >= start && wall_ns < start + a.duration_ns) return &a;
    }
    return nullptr;
  }

  void Draw(Stream& s) {
    const uint64_t start = s.next_ns;
    Random& random = s.random;
    if (s.type == StreamType::kSlowLegit) {
      SlowConnection c;
      c.client = static_cast<uint32_t>(config.clients - 1 - random.Below(config.slow_clients));
      c.open_ns = start;
      const double life_s = 20.0 * std::exp(random.Uniform01() * std::log(15.0));  // 20..300 s
      c.close_ns = start + static_cast<uint64_t>(life_s * 1e9);
      c.client_port = static_cast<uint16_t>(32768 + random.Below(28000));
      c.bytes_per_second = 20.0 + 60.0 * random.Uniform01();
      c.expected_bytes = static_cast<uint64_t>(c.bytes_per_second * life_s) + 1;
      c.phase = analyzer::ExchangePhase::kRequestBody;
      if (slow_per_client[c.client] < config.max_slow_per_client) {
        ++slow_per_client[c.client];
        slow.push_back(c);
      }
      Advance(s);
      return;
    }
    const RouteSpec& route = config.routes[s.route];
    PendingExchange p;
    p.start_ns = start;
    p.order = order++;
    p.route = static_cast<uint8_t>(s.route);
    p.client_port = static_cast<uint16_t>(32768 + random.Below(28000));
    p.body = route.body;
    p.attack = s.type != StreamType::kRoute;
    switch (s.type) {
      case StreamType::kRoute:
        p.client = ZipfClient(random);
        break;
      case StreamType::kFlood:
        p.client = flood_first_source + static_cast<uint32_t>(random.Below(config.flood_sources));
        break;
      case StreamType::kBola:
      case StreamType::kDump:
        p.client = attack_client[s.attack];
        break;
      case StreamType::kSlowLegit:
        break;
    }
    double latency = random.LogNormal(route.latency_median_s, route.latency_sigma);
    if (const AttackSpec* a = ActiveAttack(AttackKind::kLatency, s.route, start)) {
      latency *= a->magnitude;
    }
    latency = std::min(latency, kMaxLatencySeconds);
    p.end_ns = start + static_cast<uint64_t>(latency * 1e9);

    p.status = 200;
    if (route.id_route) {
      p.has_object = true;
      // A few objects per client (2..6), mostly found.
      p.object = kObjectBase + uint64_t{p.client} * 8 + random.Below(2 + p.client % 5);
      if (random.Chance(route.not_found_ratio)) p.status = 404;
    }
    if (s.type == StreamType::kBola) {
      p.has_object = true;
      p.object = s.sequence++;
      p.status = random.Chance(0.9) ? 404 : 200;
    }
    // Drawn whether or not a burst is on, so a burst does not shift the rest of the stream.
    const double burst_draw = random.Uniform01();
    if (const AttackSpec* a = ActiveAttack(AttackKind::kErrorBurst, s.route, start)) {
      if (burst_draw < a->magnitude) p.status = 503;
    }
    if (random.Chance(config.background_5xx)) p.status = 500;

    switch (p.body) {
      case BodyKind::kJson:
        p.body_index = static_cast<uint16_t>(random.Below(json_pool.size()));
        p.body_bytes = json_pool[p.body_index].size();
        break;
      case BodyKind::kGzipJson:
        p.body_index = static_cast<uint16_t>(random.Below(gzip_pool.size()));
        p.body_bytes = gzip_pool[p.body_index].size();
        break;
      case BodyKind::kNone:
      case BodyKind::kRandom:
        break;
    }
    if (s.type == StreamType::kDump) {
      p.body = BodyKind::kRandom;
      p.body_bytes =
          static_cast<uint64_t>(config.attacks[s.attack].magnitude * (0.5 + random.Uniform01()));
    }
    if (p.status >= 400 && p.body != BodyKind::kRandom) {
      p.body = BodyKind::kNone;  // error pages: a small body, not sampled here
      p.body_bytes = 120;
    }
    pending.push_back(p);
    std::push_heap(pending.begin(), pending.end(), Later);
    Advance(s);
  }

  static bool Later(const PendingExchange& a, const PendingExchange& b) {
    return std::tie(a.end_ns, a.order) > std::tie(b.end_ns, b.order);
  }

  analyzer::FlowKey Flow(uint32_t client, uint16_t client_port, uint16_t server_port) const {
    analyzer::FlowKey flow;
    flow.family = 2;
    flow.client_addr = addresses[client].addr;
    flow.server_addr = server.addr;
    flow.client_port = client_port;
    flow.server_port = server_port;
    return flow;
  }

  void Materialize(const PendingExchange& p, analyzer::HttpExchange& x) {
    const RouteSpec& route = config.routes[p.route];
    x.flow = Flow(p.client, p.client_port, route.port);
    x.role = analyzer::HttpRole::kServer;
    x.method = route.method;
    x.route = route.route;
    x.status = p.status;
    x.protocol_version = "1.1";
    x.scheme = route.port == 443 ? "https" : "http";
    x.request_start_ns = p.start_ns;
    x.response_end_ns = p.end_ns;
    x.request_body_bytes = route.request_body_bytes;
    x.response_body_bytes = p.body_bytes;
    if (p.has_object) {
      x.object_id = std::to_string(p.object);
    } else {
      x.object_id.clear();
    }
    x.request_body.bytes.clear();
    x.request_body.content_type.clear();
    x.request_body.content_encoding.clear();
    x.request_body.truncated_by_gap = false;
    analyzer::BodySample& body = x.response_body;
    body.truncated_by_gap = false;
    body.content_encoding.clear();
    body.content_type = route.content_type;
    const size_t sample = config.body_sample_bytes;
    switch (p.body) {
      case BodyKind::kNone:
        body.bytes.clear();
        if (p.status >= 400) body.content_type = "text/html";
        break;
      case BodyKind::kJson: {
        const std::string& doc = json_pool[p.body_index];
        body.bytes.assign(doc, 0, std::min(sample, doc.size()));
        break;
      }
      case BodyKind::kGzipJson: {
        const std::string& doc = gzip_pool[p.body_index];
        body.bytes.assign(doc, 0, std::min(sample, doc.size()));
        body.content_encoding = "gzip";
        break;
      }
      case BodyKind::kRandom: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(sample, p.body_bytes));
        body.bytes.resize(n);
        for (size_t i = 0; i < n; i += 8) {
          uint64_t bits = body_random.Bits();
          for (size_t j = i; j < std::min(n, i + 8); ++j) {
            body.bytes[j] = static_cast<char>(bits & 0xff);
            bits >>= 8;
          }
        }
        body.content_type = "application/octet-stream";
        break;
      }
    }
  }

  void FillCensus(uint64_t now, std::vector<analyzer::ConnectionProgress>& out) {
    out.clear();
    // In-flight exchanges: request sent, no response yet.
    for (const PendingExchange& p : pending) {
      if (p.start_ns >= now) continue;
      analyzer::ConnectionProgress c;
      c.flow = Flow(p.client, p.client_port, config.routes[p.route].port);
      c.phase = analyzer::ExchangePhase::kAwaitingResponse;
      c.phase_start_ns = p.start_ns;
      c.last_byte_ns = p.start_ns;
      out.push_back(c);
    }
    // Slow connections: drop the finished ones, report the rest.
    size_t kept = 0;
    for (size_t i = 0; i < slow.size(); ++i) {
      const SlowConnection& s = slow[i];
      if (s.close_ns <= now) {
        if (s.phase == analyzer::ExchangePhase::kRequestBody && s.client < slow_per_client.size()) {
          --slow_per_client[s.client];
        }
        continue;
      }
      slow[kept++] = s;
      if (s.open_ns >= now) continue;
      analyzer::ConnectionProgress c;
      c.flow = Flow(s.client, s.client_port, s.server_port);
      c.phase = s.phase;
      c.phase_start_ns = s.open_ns;
      const double age_s = static_cast<double>(now - s.open_ns) / 1e9;
      if (s.phase == analyzer::ExchangePhase::kRequestHead) {
        // "GET / HTTP/1.1\r\n" at once, then one byte of a header line every 10 s.
        const uint64_t trickles = (now - s.open_ns) / (10 * kNsPerSecond);
        c.phase_bytes = 16 + trickles;
        c.last_byte_ns = s.open_ns + trickles * 10 * kNsPerSecond;
      } else {
        c.phase_bytes = static_cast<uint64_t>(s.bytes_per_second * age_s);
        c.last_byte_ns = now - kNsPerSecond / 4;
        c.expected_bytes = s.expected_bytes;
      }
      out.push_back(c);
    }
    slow.resize(kept);
  }

  bool Next(GeneratedEvent& event) {
    for (;;) {
      const uint64_t top = pending.empty() ? kNever : pending.front().end_ns;
      const uint64_t emit = std::min(top, next_census_ns);
      size_t first = streams.size();
      uint64_t first_ns = kNever;
      for (size_t i = 0; i < streams.size(); ++i) {
        if (streams[i].next_ns < first_ns) {
          first_ns = streams[i].next_ns;
          first = i;
        }
      }
      if (first < streams.size() && first_ns <= emit) {
        Draw(streams[first]);
        continue;
      }
      if (emit >= end_ns) return false;
      if (top <= next_census_ns) {
        std::pop_heap(pending.begin(), pending.end(), Later);
        const PendingExchange p = pending.back();
        pending.pop_back();
        event.kind = GeneratedEvent::Kind::kExchange;
        event.time_ns = p.end_ns;
        Materialize(p, event.exchange);
        ++counts.exchanges;
        if (p.attack) ++counts.attack_exchanges;
        return true;
      }
      event.kind = GeneratedEvent::Kind::kCensus;
      event.time_ns = next_census_ns;
      FillCensus(next_census_ns, event.census);
      next_census_ns += config.census_interval_ns;
      ++counts.censuses;
      counts.census_entries += event.census.size();
      return true;
    }
  }
};

TrafficGenerator::TrafficGenerator(GeneratorConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}
TrafficGenerator::~TrafficGenerator() = default;
bool TrafficGenerator::Next(GeneratedEvent& event) { return impl_->Next(event); }
const std::vector<Label>& TrafficGenerator::labels() const { return impl_->labels; }
const GeneratorCounts& TrafficGenerator::counts() const { return impl_->counts; }
const GeneratorConfig& TrafficGenerator::config() const { return impl_->config; }
double TrafficGenerator::NormalRate(size_t route_index, uint64_t wall_ns) const {
  return impl_->NormalRate(route_index, wall_ns);
}
ClientAddress TrafficGenerator::NormalClient(size_t index) const {
  return impl_->addresses.at(index);
}

}  // namespace ta::eval
