#include "analyzer/analyzer.h"

#include <array>
#include <list>
#include <unordered_map>
#include <utility>

#include "analyzer/protocols/http1/http1_connection.h"
#include "analyzer/routes/route_template.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer {
namespace {

// One tracked TCP connection: a reassembler per direction feeding the HTTP/1.x parsers.
struct Connection {
  Connection(const FlowKey& key, bool in_sync, uint64_t now_ns,
             protocols::ConnectionContext& ctx)
      : flow(key),
        last_active_ns(now_ns),
        streams{tcp::Reassembler(ctx.config, ctx.stats), tcp::Reassembler(ctx.config, ctx.stats)},
        http(key, in_sync, ctx) {}

  tcp::Reassembler& stream(Direction dir) { return streams[static_cast<size_t>(dir)]; }

  FlowKey flow;
  uint64_t last_active_ns;
  std::array<tcp::Reassembler, 2> streams;
  protocols::http1::Http1Connection http;
};

}  // namespace

struct Analyzer::Impl {
  Impl(AnalyzerConfig c, ExchangeSink& sink)
      : config(std::move(c)),
        routes(config.route_patterns, config.max_routes_per_port),
        ctx{config, stats, routes, sink} {}

  // Most recently active first, so both eviction and idle expiry take from the back. Activity
  // order is arrival order, which tracks event time closely enough for expiry.
  using Lru = std::list<Connection>;

  Connection& Create(const FlowKey& flow, bool in_sync, uint64_t ts_ns) {
    while (!lru.empty() && lru.size() >= config.max_connections) {
      ++stats.connections_evicted;
      Finish(std::prev(lru.end()));
    }
    lru.emplace_front(flow, in_sync, ts_ns, ctx);
    index.emplace(flow, lru.begin());
    stats.connections_tracked = lru.size();
    return lru.front();
  }

  Lru::iterator Find(const FlowKey& flow) {
    const auto it = index.find(flow);
    return it == index.end() ? lru.end() : it->second;
  }

  void Touch(Lru::iterator it, uint64_t ts_ns) {
    if (it != lru.begin()) lru.splice(lru.begin(), lru, it);
    if (ts_ns > it->last_active_ns) it->last_active_ns = ts_ns;
  }

  // The connection ends: deliver what reassembly still holds, finalise the parsers, forget it.
  void Finish(Lru::iterator it) {
    for (Direction dir : {Direction::kClientToServer, Direction::kServerToClient}) {
      it->stream(dir).Flush(it->http.stream(dir));
    }
    it->http.Close();
    index.erase(it->flow);
    lru.erase(it);
    stats.connections_tracked = lru.size();
  }

  AnalyzerConfig config;
  AnalyzerStats stats;
  routes::RouteTemplater routes;
  protocols::ConnectionContext ctx;
  Lru lru;
  std::unordered_map<FlowKey, Lru::iterator, FlowKeyHash> index;
};

Analyzer::Analyzer(AnalyzerConfig config, ExchangeSink& sink)
    : impl_(std::make_unique<Impl>(std::move(config), sink)) {}

Analyzer::~Analyzer() = default;

void Analyzer::OnConnOpen(const ConnOpenEvent& ev) {
  Impl& s = *impl_;
  ++s.stats.events_conn_open;
  // A new open on a tracked 4-tuple is a new connection (port reuse after a close we missed).
  if (const auto it = s.Find(ev.flow); it != s.lru.end()) s.Finish(it);
  s.Create(ev.flow, /*in_sync=*/!ev.mid_stream, ev.ts_ns);
}

void Analyzer::OnConnEstablished(const ConnEstablishedEvent& ev) {
  Impl& s = *impl_;
  ++s.stats.events_conn_established;
  s.ctx.sink.OnTcpEstablished(ev);
}

void Analyzer::OnSegment(const SegmentEvent& ev) {
  Impl& s = *impl_;
  ++s.stats.events_segment;
  auto it = s.Find(ev.flow);
  if (it == s.lru.end()) {
    // First sight of the connection carrying data: the agent started while it was open, so
    // parsing starts at the next message boundary.
    s.Create(ev.flow, /*in_sync=*/false, ev.ts_ns);
    it = s.lru.begin();
  } else {
    s.Touch(it, ev.ts_ns);
  }
  it->stream(ev.dir).AddSegment(ev.seq, ev.wire_len, ev.captured, ev.ts_ns,
                                it->http.stream(ev.dir));
}

void Analyzer::OnConnClose(const ConnCloseEvent& ev) {
  Impl& s = *impl_;
  ++s.stats.events_conn_close;
  if (const auto it = s.Find(ev.flow); it != s.lru.end()) s.Finish(it);
}

void Analyzer::AdvanceTime(uint64_t now_ns) {
  Impl& s = *impl_;
  while (!s.lru.empty()) {
    const auto oldest = std::prev(s.lru.end());
    if (now_ns < oldest->last_active_ns ||
        now_ns - oldest->last_active_ns < s.config.idle_timeout_ns) {
      break;
    }
    ++s.stats.connections_expired;
    s.Finish(oldest);
  }
  // Holes that waited too long are given up even on connections that have gone quiet.
  for (Connection& c : s.lru) {
    for (Direction dir : {Direction::kClientToServer, Direction::kServerToClient}) {
      if (c.stream(dir).buffered_segments() > 0)
        c.stream(dir).AdvanceTime(now_ns, c.http.stream(dir));
    }
  }
}

const AnalyzerStats& Analyzer::stats() const {
  // The route table keeps its own count; copy it in on read rather than on every request.
  impl_->stats.route_overflows = impl_->routes.overflowed();
  return impl_->stats;
}

}  // namespace ta::analyzer
