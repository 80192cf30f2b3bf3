#include "analyzer/analyzer.h"

#include <array>
#include <list>
#include <unordered_map>
#include <utility>

#include "analyzer/protocols/context.h"
#include "analyzer/protocols/session.h"
#include "analyzer/routes/route_template.h"
#include "analyzer/tcp/reassembler.h"
#include "analyzer/tls/tls_sessions.h"

namespace ta::analyzer {
namespace {

// One tracked TCP connection: a reassembler per direction feeding the protocol session.
struct Connection {
  Connection(const FlowKey& key, bool in_sync, uint64_t now_ns,
             protocols::ConnectionContext& ctx)
      : flow(key),
        open_ns(now_ns),
        last_active_ns(now_ns),
        mid_stream(!in_sync),
        streams{tcp::Reassembler(ctx.config, ctx.stats), tcp::Reassembler(ctx.config, ctx.stats)},
        session(key, in_sync, ctx) {}

  tcp::Reassembler& stream(Direction dir) { return streams[static_cast<size_t>(dir)]; }

  FlowKey flow;
  uint64_t open_ns;
  uint64_t last_active_ns;
  bool mid_stream;
  // What the analyzer itself saw, for connections that end without a kernel close event.
  std::array<uint64_t, 2> bytes{};
  std::array<uint64_t, 2> segments{};
  std::array<tcp::Reassembler, 2> streams;
  protocols::Session session;
};

}  // namespace

struct Analyzer::Impl {
  Impl(AnalyzerConfig c, ExchangeSink& sink)
      : config(std::move(c)),
        routes(config.route_patterns, config.max_routes_per_port),
        ctx{config, stats, routes, sink},
        tls(ctx) {}

  // Most recently active first, so both eviction and idle expiry take from the back. Activity
  // order is arrival order, which tracks event time closely enough for expiry.
  using Lru = std::list<Connection>;

  Connection& Create(const FlowKey& flow, bool in_sync, uint64_t ts_ns) {
    while (!lru.empty() && lru.size() >= config.max_connections) {
      ++stats.connections_evicted;
      FinishUnseen(std::prev(lru.end()), TcpCloseReason::kEvicted);
    }
    lru.emplace_front(flow, in_sync, ts_ns, ctx);
    index.emplace(flow, lru.begin());
    stats.connections_tracked = lru.size();
    ctx.sink.OnTcpOpened(flow, ts_ns, !in_sync);
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

  // The connection ends: deliver what reassembly still holds, finalise the parsers, report the
  // TCP connection's end, forget it. `end` carries the reason and, for a kernel close, its
  // counters.
  void Finish(Lru::iterator it, TcpConnectionEnd end) {
    for (Direction dir : {Direction::kClientToServer, Direction::kServerToClient}) {
      it->stream(dir).Flush(it->session.stream(dir));
    }
    it->session.Close(it->last_active_ns);
    end.flow = it->flow;
    end.mid_stream = it->mid_stream;
    end.open_ns = it->open_ns;
    ctx.sink.OnTcpEnded(end);
    index.erase(it->flow);
    lru.erase(it);
    stats.connections_tracked = lru.size();
  }

  // Ends a connection whose close the capture never showed (expiry, eviction, a reused
  // 4-tuple): what the analyzer counted itself stands in for the kernel's totals.
  void FinishUnseen(Lru::iterator it, TcpCloseReason reason) {
    TcpConnectionEnd end;
    end.reason = reason;
    end.close_ns = it->last_active_ns;
    end.bytes = it->bytes;
    end.packets = it->segments;
    Finish(it, end);
  }

  AnalyzerConfig config;
  AnalyzerStats stats;
  routes::RouteTemplater routes;
  protocols::ConnectionContext ctx;
  Lru lru;
  std::unordered_map<FlowKey, Lru::iterator, FlowKeyHash> index;
  tls::TlsSessions tls;
};

Analyzer::Analyzer(AnalyzerConfig config, ExchangeSink& sink)
    : impl_(std::make_unique<Impl>(std::move(config), sink)) {}

Analyzer::~Analyzer() = default;

void Analyzer::OnConnOpen(const ConnOpenEvent& ev) {
  Impl& s = *impl_;
  ++s.stats.events_conn_open;
  // A new open on a tracked 4-tuple is a new connection (port reuse after a close we missed).
  if (const auto it = s.Find(ev.flow); it != s.lru.end()) {
    s.FinishUnseen(it, TcpCloseReason::kExpired);
  }
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
  const auto d = static_cast<size_t>(ev.dir);
  it->bytes[d] += ev.wire_len;
  ++it->segments[d];
  it->stream(ev.dir).AddSegment(ev.seq, ev.wire_len, ev.captured, ev.ts_ns,
                                it->session.stream(ev.dir), ev.tail);
}

void Analyzer::OnConnClose(const ConnCloseEvent& ev) {
  Impl& s = *impl_;
  ++s.stats.events_conn_close;
  const auto it = s.Find(ev.flow);
  // A close for a connection we do not track: its open was never delivered (lost in a full ring
  // buffer) or we already ended it (eviction, expiry). Either way it was reported once or never.
  if (it == s.lru.end()) return;
  if (ev.ts_ns > it->last_active_ns) it->last_active_ns = ev.ts_ns;
  TcpConnectionEnd end;
  end.reason = ev.reset ? TcpCloseReason::kReset : TcpCloseReason::kFin;
  end.close_ns = ev.ts_ns;
  end.bytes = ev.bytes;
  end.packets = ev.packets;
  end.retransmits = ev.retransmits;
  s.Finish(it, end);
}

void Analyzer::OnTlsData(const TlsDataEvent& ev) { impl_->tls.OnData(ev); }

void Analyzer::AdvanceTime(uint64_t now_ns) {
  Impl& s = *impl_;
  s.tls.AdvanceTime(now_ns);
  while (!s.lru.empty()) {
    const auto oldest = std::prev(s.lru.end());
    if (now_ns < oldest->last_active_ns ||
        now_ns - oldest->last_active_ns < s.config.idle_timeout_ns) {
      break;
    }
    ++s.stats.connections_expired;
    s.FinishUnseen(oldest, TcpCloseReason::kExpired);
  }
  // Holes that waited too long are given up even on connections that have gone quiet.
  for (Connection& c : s.lru) {
    for (Direction dir : {Direction::kClientToServer, Direction::kServerToClient}) {
      if (c.stream(dir).buffered_segments() > 0)
        c.stream(dir).AdvanceTime(now_ns, c.session.stream(dir));
    }
  }
}

void Analyzer::Census(std::vector<ConnectionProgress>& out) const {
  ConnectionProgress progress;
  for (const Connection& c : impl_->lru) {
    if (c.session.Progress(&progress)) out.push_back(progress);
  }
  impl_->tls.Census(out);
}

const AnalyzerStats& Analyzer::stats() const {
  // The route table keeps its own count; copy it in on read rather than on every request.
  impl_->stats.route_overflows = impl_->routes.overflowed();
  return impl_->stats;
}

}  // namespace ta::analyzer
