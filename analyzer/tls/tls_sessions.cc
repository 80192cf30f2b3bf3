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
  Key key{};
  HttpRole role = HttpRole::kServer;
  FlowKey flow;
  bool mapped = false;
  uint64_t last_ns = 0;
  std::unique_ptr<RoleSink> sink;
  std::unique_ptr<protocols::ConnectionContext> ctx;
  std::unique_ptr<protocols::Session> session;
};

TlsSessions::TlsSessions(protocols::ConnectionContext& ctx) : ctx_(ctx) {}

TlsSessions::~TlsSessions() = default;

TlsSessions::Entry* TlsSessions::Start(const Key& key, const TlsDataEvent& ev) {
  // The first call decides the role: whoever moves a request start is the client side.
  HttpRole role;
  if (LooksLikeRequestStart(ev.captured)) {
    role = ev.is_write ? HttpRole::kClient : HttpRole::kServer;
  } else {
    // Not the start of a request (the session began before the probes were attached, or it is
    // not HTTP): nothing to parse from here. Counted; the next session of the process starts
    // cleanly.
    ++ctx_.stats.tls_sessions_unparsed;
    return nullptr;
  }
  while (!lru_.empty() && lru_.size() >= ctx_.config.max_connections) {
    ++ctx_.stats.connections_evicted;
    Finish(std::prev(lru_.end()));
  }
  auto entry = std::make_unique<Entry>();
  entry->key = key;
  entry->role = role;
  entry->mapped = ev.mapped;
  if (ev.mapped) {
    const bool server = role == HttpRole::kServer;
    entry->flow.family = ev.family;
    entry->flow.server_addr = server ? ev.local_addr : ev.remote_addr;
    entry->flow.server_port = server ? ev.local_port : ev.remote_port;
    entry->flow.client_addr = server ? ev.remote_addr : ev.local_addr;
    entry->flow.client_port = server ? ev.remote_port : ev.local_port;
  } else {
    ++ctx_.stats.tls_sessions_unmapped;
  }
  entry->last_ns = ev.ts_ns;
  entry->sink = std::make_unique<RoleSink>(ctx_.sink, role);
  entry->ctx = std::make_unique<protocols::ConnectionContext>(
      protocols::ConnectionContext{ctx_.config, ctx_.stats, ctx_.routes, *entry->sink});
  entry->session = std::make_unique<protocols::Session>(entry->flow, /*in_sync=*/true, *entry->ctx);
  ++ctx_.stats.tls_sessions;
  lru_.push_front(std::move(entry));
  index_.emplace(key, lru_.begin());
  return lru_.front().get();
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
    const bool moved = ev.mapped && e.mapped &&
                       (ev.local_port != (e.role == HttpRole::kServer ? e.flow.server_port
                                                                      : e.flow.client_port) ||
                        ev.remote_port != (e.role == HttpRole::kServer ? e.flow.client_port
                                                                       : e.flow.server_port));
    if (moved) {
      Finish(it->second);
    } else {
      if (it->second != lru_.begin()) lru_.splice(lru_.begin(), lru_, it->second);
      entry = &e;
    }
  }
  if (!entry) entry = Start(key, ev);
  if (!entry) return;
  if (ev.ts_ns > entry->last_ns) entry->last_ns = ev.ts_ns;

  // Server: it reads requests and writes responses. Client: the other way round.
  const bool c2s = (entry->role == HttpRole::kServer) != ev.is_write;
  const Direction dir = c2s ? Direction::kClientToServer : Direction::kServerToClient;
  tcp::StreamConsumer& out = entry->session->stream(dir);
  out.OnChunk(tcp::StreamChunk::Data(ev.captured, ev.ts_ns, true));
  if (ev.len > ev.captured.size()) {
    const uint64_t gap = ev.len - ev.captured.size();
    ctx_.stats.uncaptured_bytes += gap;
    out.OnChunk(tcp::StreamChunk::Gap(gap, ev.ts_ns));
  }
}

void TlsSessions::Finish(Lru::iterator it) {
  Entry& e = **it;
  e.session->Close(e.last_ns);
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
