#include "analyzer/tls/tls_sessions.h"

#include <utility>

#include "analyzer/protocols/detect.h"
#include "analyzer/protocols/http1/message_head.h"

namespace ta::analyzer::tls {
namespace {

// Forwards a TLS session's records with the role and scheme the tc path cannot know.
class RoleSink final : public ExchangeSink {
 public:
  RoleSink(ExchangeSink& inner, HttpRole role) : inner_(inner), role_(role) {}

  void OnHttpExchange(const HttpExchange& exchange) override {
    HttpExchange e = exchange;
    e.role = role_;
    e.scheme = "https";
    inner_.OnHttpExchange(e);
  }
  void OnGrpcCall(const GrpcCall& call) override {
    GrpcCall c = call;
    c.client_side = role_ == HttpRole::kClient;
    c.scheme = "https";
    inner_.OnGrpcCall(c);
  }
  void OnWebSocketMessage(const WebSocketMessage& m) override { inner_.OnWebSocketMessage(m); }
  void OnWebSocketSession(const WebSocketSession& s) override { inner_.OnWebSocketSession(s); }

 private:
  ExchangeSink& inner_;
  HttpRole role_;
};

bool LooksLikeRequestStart(std::span<const uint8_t> bytes) {
  const protocols::Protocol p = protocols::DetectClientStart(bytes);
  return p == protocols::Protocol::kHttp1 || p == protocols::Protocol::kHttp2;
}

}  // namespace

struct TlsSessions::Entry {
  struct Held {
    bool is_write;
    uint32_t len;
    uint64_t ts_ns;
    std::vector<uint8_t> captured;
  };
  Key key{};
  bool has_role = false;  // false: calls are held (no request start yet, or no socket yet)
  std::optional<HttpRole> pending_role;  // from the first request start
  bool given_up = false;  // held too much without a request start: not parsed
  std::vector<Held> held;
  size_t held_bytes = 0;
  HttpRole role = HttpRole::kServer;
  FlowKey flow;
  bool mapped = false;
  std::array<uint8_t, 16> local_addr{};
  std::array<uint8_t, 16> remote_addr{};
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint64_t last_ns = 0;
  std::unique_ptr<RoleSink> sink;
  std::unique_ptr<protocols::ConnectionContext> ctx;
  std::unique_ptr<protocols::Session> session;
};

TlsSessions::TlsSessions(protocols::ConnectionContext& ctx) : ctx_(ctx) {}

void TlsSessions::Census(std::vector<ConnectionProgress>& out) const {
  ConnectionProgress progress;
  for (const auto& e : lru_) {
    if (!e->has_role || e->role != HttpRole::kServer || !e->mapped || !e->session) continue;
    if (e->session->Progress(&progress)) out.push_back(progress);
  }
}

TlsSessions::~TlsSessions() = default;

TlsSessions::Entry* TlsSessions::Start(const Key& key, const TlsDataEvent& ev) {
  while (!lru_.empty() && lru_.size() >= ctx_.config.max_connections) {
    ++ctx_.stats.connections_evicted;
    Finish(std::prev(lru_.end()));
  }
  auto entry = std::make_unique<Entry>();
  entry->key = key;
  entry->last_ns = ev.ts_ns;
  lru_.push_front(std::move(entry));
  index_.emplace(key, lru_.begin());
  return lru_.front().get();
}

// The role is known: build the flow and the parser session.
void TlsSessions::Assign(Entry& e, HttpRole role) {
  e.has_role = true;
  e.role = role;
  if (e.mapped) {
    const bool server = role == HttpRole::kServer;
    e.flow.server_addr = server ? e.local_addr : e.remote_addr;
    e.flow.server_port = server ? e.local_port : e.remote_port;
    e.flow.client_addr = server ? e.remote_addr : e.local_addr;
    e.flow.client_port = server ? e.remote_port : e.local_port;
  } else {
    ++ctx_.stats.tls_sessions_unmapped;
  }
  e.sink = std::make_unique<RoleSink>(ctx_.sink, role);
  e.ctx = std::make_unique<protocols::ConnectionContext>(
      protocols::ConnectionContext{ctx_.config, ctx_.stats, ctx_.routes, *e.sink});
  e.session = std::make_unique<protocols::Session>(e.flow, /*in_sync=*/true, *e.ctx,
                                                   /*count_detection=*/false);
  ++ctx_.stats.tls_sessions;
}

void TlsSessions::Deliver(Entry& e, bool is_write, uint32_t len,
                          std::span<const uint8_t> captured, uint64_t ts_ns) {
  // Server: it reads requests and writes responses. Client: the other way round.
  const bool c2s = (e.role == HttpRole::kServer) != is_write;
  const Direction dir = c2s ? Direction::kClientToServer : Direction::kServerToClient;
  tcp::StreamConsumer& out = e.session->stream(dir);
  out.OnChunk(tcp::StreamChunk::Data(captured, ts_ns, true));
  if (len > captured.size()) {
    const uint64_t gap = len - captured.size();
    ctx_.stats.uncaptured_bytes += gap;
    out.OnChunk(tcp::StreamChunk::Gap(gap, ts_ns));
  }
}

void TlsSessions::OnData(const TlsDataEvent& ev) {
  if (ev.len == 0) return;
  ++ctx_.stats.events_tls_data;
  const Key key{ev.tgid, ev.ssl};
  Entry* entry = nullptr;
  if (auto it = index_.find(key); it != index_.end()) {
    Entry& e = **it->second;
    // An SSL object freed and another allocated at the same address: a new socket under the
    // same key ends the old session.
    // The kernel keeps a session's socket until SSL_free, so an unmapped call on a session
    // that had one means the SSL object was freed and its address reused by a new session
    // whose first calls are served from data buffered during the handshake.
    const bool moved =
        e.mapped && (!ev.mapped || ev.local_port != e.local_port || ev.remote_port != e.remote_port);
    // The allocator hands a freed SSL object's address to the next session, and that
    // session's first calls may be served from data buffered during the handshake, without a
    // syscall that would show its new socket (unmapped). An HTTP/2 connection preface arriving
    // in a session that already started is such a new session: the preface is sent once.
    const bool preface = !moved && !ev.is_write && e.has_role && e.role == HttpRole::kServer &&
                         protocols::DetectClientStart(ev.captured) == protocols::Protocol::kHttp2;
    if (moved || preface) {
      Finish(it->second);
    } else {
      if (it->second != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second);
      entry = &e;
    }
  }
  if (!entry) entry = Start(key, ev);
  if (ev.ts_ns > entry->last_ns) entry->last_ns = ev.ts_ns;
  // Remember the first socket seen: the call that decides the role may be unmapped.
  if (!entry->mapped && ev.mapped) {
    entry->mapped = true;
    entry->flow.family = ev.family;
    entry->local_addr = ev.local_addr;
    entry->remote_addr = ev.remote_addr;
    entry->local_port = ev.local_port;
    entry->remote_port = ev.remote_port;
  }
  if (entry->given_up) return;
  if (!entry->has_role) {
    // Whoever moves the first request start is the client side. Calls before it (an HTTP/2
    // server's SETTINGS, written before it reads the client's preface) are held and replayed.
    // Once the role is known the session still waits for a call that shows its socket (the
    // first calls of a session can be served from the handshake's buffer, unmapped), so its
    // flow carries the right addresses, up to the hold bounds.
    if (!entry->pending_role && LooksLikeRequestStart(ev.captured)) {
      entry->pending_role = ev.is_write ? HttpRole::kClient : HttpRole::kServer;
    }
    const bool full = entry->held.size() >= kMaxHeldCalls ||
                      entry->held_bytes + ev.captured.size() > kMaxHeldBytes;
    if (!entry->pending_role || (!entry->mapped && !full)) {
      if (full) {
        // No request start: the session began before the probes were attached, or it is
        // not HTTP. Counted, not parsed.
        ++ctx_.stats.tls_sessions_unparsed;
        entry->given_up = true;
        entry->held.clear();
        return;
      }
      entry->held_bytes += ev.captured.size();
      entry->held.push_back(
          {ev.is_write, ev.len, ev.ts_ns, {ev.captured.begin(), ev.captured.end()}});
      return;
    }
    Assign(*entry, *entry->pending_role);
    std::vector<Entry::Held> held = std::move(entry->held);
    entry->held.clear();
    for (const Entry::Held& h : held) Deliver(*entry, h.is_write, h.len, h.captured, h.ts_ns);
  }
  Deliver(*entry, ev.is_write, ev.len, ev.captured, ev.ts_ns);
}

void TlsSessions::Finish(Lru::iterator it) {
  Entry& e = **it;
  if (e.session) {
    e.session->Close(e.last_ns);
  } else if (!e.given_up && !e.held.empty()) {
    if (e.pending_role) {
      // A request was seen but never a socket: parse it unmapped rather than lose it.
      Assign(e, *e.pending_role);
      for (const Entry::Held& h : e.held) Deliver(e, h.is_write, h.len, h.captured, h.ts_ns);
      e.session->Close(e.last_ns);
    } else {
      ++ctx_.stats.tls_sessions_unparsed;  // ended before a request start was seen
    }
  }
  index_.erase(e.key);
  lru_.erase(it);
}

void TlsSessions::AdvanceTime(uint64_t now_ns) {
  while (!lru_.empty()) {
    const auto oldest = std::prev(lru_.end());
    const uint64_t last = (*oldest)->last_ns;
    if (now_ns < last || now_ns - last < ctx_.config.idle_timeout_ns) break;
    Finish(oldest);
  }
}

void TlsSessions::CloseAll() {
  while (!lru_.empty()) Finish(std::prev(lru_.end()));
}

}  // namespace ta::analyzer::tls
