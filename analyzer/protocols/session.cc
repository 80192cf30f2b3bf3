#include "analyzer/protocols/session.h"

#include <algorithm>
#include <utility>

#include "analyzer/protocols/http2/http2_connection.h"
#include "analyzer/protocols/tls/client_hello.h"
#include "analyzer/protocols/websocket/websocket_connection.h"

namespace ta::analyzer::protocols {

Session::Session(const FlowKey& flow, bool in_sync, ConnectionContext& ctx, bool count_detection)
    : flow_(flow),
      ctx_(ctx),
      inputs_{Input(*this, Direction::kClientToServer), Input(*this, Direction::kServerToClient)},
      in_sync_(in_sync),
      count_detection_(count_detection) {}

Session::~Session() = default;

void Session::OnChunk(Direction dir, const tcp::StreamChunk& chunk) {
  switch (protocol_) {
    case Protocol::kUndetermined:
      if (in_sync_) {
        DetectInSync(dir, chunk);
      } else {
        DetectMidStream(dir, chunk);
      }
      return;
    case Protocol::kHttp1:
    case Protocol::kHttp2:
    case Protocol::kWebSocket:
      Forward(dir, chunk);
      return;
    case Protocol::kTls:
      if (dir == Direction::kClientToServer && !tls_hello_done_) OnTlsClientBytes(chunk);
      return;
    case Protocol::kUnknown:
      return;  // TCP metrics only; these bytes are not ours to parse
  }
}

void Session::OnTlsClientBytes(const tcp::StreamChunk& chunk) {
  if (chunk.kind != tcp::StreamChunk::Kind::kData) {
    // Part of the hello was not captured (beyond snaplen, or lost): it cannot be parsed.
    ++ctx_.stats.tls_client_hello_incomplete;
    tls_hello_done_ = true;
    tls_hello_.clear();
    return;
  }
  tls_hello_.insert(tls_hello_.end(), chunk.data.begin(), chunk.data.end());
  tls::ClientHello hello;
  switch (tls::ParseClientHello(tls_hello_, &hello)) {
    case ParseState::kNeedsMoreData:
      return;
    case ParseState::kDone: {
      TlsClientHello record;
      record.flow = flow_;
      record.ts_ns = chunk.ts_ns;
      record.server_name = std::move(hello.server_name);
      record.server_name_invalid = hello.server_name_invalid;
      record.alpn = std::move(hello.alpn);
      record.version = std::string(tls::VersionName(tls::OfferedVersion(hello)));
      ++ctx_.stats.tls_client_hellos;
      ctx_.sink.OnTlsClientHello(record);
      break;
    }
    default:
      ++ctx_.stats.tls_client_hello_invalid;
      break;
  }
  tls_hello_done_ = true;
  tls_hello_.clear();
  tls_hello_.shrink_to_fit();
}

void Session::DetectInSync(Direction dir, const tcp::StreamChunk& chunk) {
  const bool data = chunk.kind == tcp::StreamChunk::Kind::kData;
  if (dir == Direction::kClientToServer && !data) {
    // The client's first bytes were lost: we can no longer read its first flight, so look for
    // a message start as if joined mid-way (HTTP/1 resynchronises there; HTTP/2's HPACK state
    // is unknown, which kMidStream handles).
    held_.clear();
    client_prefix_.clear();
    in_sync_ = false;
    return;
  }
  if (dir == Direction::kServerToClient && client_prefix_.empty()) {
    if (!data) return;  // nothing to classify yet
    // The server spoke first. An HTTP/1 response here answers a request we missed (lost
    // before the capture point or in a full ring buffer): HTTP/1, with an orphan response.
    if (held_.empty() && protocols::DetectMidStream(dir, chunk.data) == Protocol::kHttp1) {
      Start(Protocol::kHttp1, true);
      Forward(dir, chunk);
      return;
    }
    // Otherwise hold it until the client's first flight decides: an HTTP/2 server may send
    // its SETTINGS before the client's preface arrives (RFC 9113 §3.4; grpc servers do), and
    // server-first protocols (SMTP, SSH, databases) are recognised by the client's answer.
    if (held_server_bytes_ == 0) server_sent_frames_ = http2::LooksLikeHttp2Frames(chunk.data);
    held_server_bytes_ += chunk.data.size();
    if (held_server_bytes_ > kMaxHeldServerBytes) {
      held_.clear();
      Start(Protocol::kUnknown, true);
      return;
    }
  }
  held_.push_back({dir, chunk.kind, {chunk.data.begin(), chunk.data.end()}, chunk.gap_len,
                   chunk.ts_ns, chunk.starts_at_segment_start});
  if (dir == Direction::kClientToServer) {
    const size_t take = std::min(kDetectBytes - client_prefix_.size(), chunk.data.size());
    client_prefix_.insert(client_prefix_.end(), chunk.data.begin(),
                          chunk.data.begin() + static_cast<std::ptrdiff_t>(take));
  }
  Protocol detected = DetectClientStart(client_prefix_);
  if (detected == Protocol::kUndetermined) return;
  if (held_server_bytes_ > 0 && (detected != Protocol::kHttp2 || !server_sent_frames_)) {
    // Only HTTP/2 lets the server speak first, and then with frames; HTTP/1 or TLS after a
    // server's banner is something else that happens to look like them.
    detected = Protocol::kUnknown;
  }
  Start(detected, true);
  std::vector<Held> held = std::move(held_);
  held_.clear();
  client_prefix_.clear();
  client_prefix_.shrink_to_fit();
  for (const Held& h : held) {
    if (protocol_ == Protocol::kUnknown) break;
    const tcp::StreamChunk replay =
        h.kind == tcp::StreamChunk::Kind::kData
            ? tcp::StreamChunk::Data(h.data, h.ts_ns, h.segment_start)
            : tcp::StreamChunk::Gap(h.gap_len, h.ts_ns);
    OnChunk(h.dir, replay);
  }
}

void Session::DetectMidStream(Direction dir, const tcp::StreamChunk& chunk) {
  if (chunk.kind != tcp::StreamChunk::Kind::kData) return;
  if (!chunk.starts_at_segment_start) {
    Discard(chunk);
    return;
  }
  const Protocol detected = protocols::DetectMidStream(dir, chunk.data);
  if (detected == Protocol::kUndetermined) {
    Discard(chunk);
    if (++mid_stream_tries_ >= kMaxMidStreamTries) Start(Protocol::kUnknown, false);
    return;
  }
  Start(detected, false);
  if (protocol_ == Protocol::kHttp2) aligned_[static_cast<size_t>(dir)] = true;
  Forward(dir, chunk);
}

void Session::CountDetection(uint64_t AnalyzerStats::*counter) {
  if (count_detection_) ++(ctx_.stats.*counter);
}

void Session::Start(Protocol protocol, bool in_sync) {
  protocol_ = protocol;
  switch (protocol) {
    case Protocol::kHttp1:
      CountDetection(&AnalyzerStats::detected_http1);
      http1_ = std::make_unique<http1::Http1Connection>(flow_, in_sync, ctx_,
                                                      static_cast<http1::SwitchObserver*>(this));
      break;
    case Protocol::kHttp2:
      CountDetection(&AnalyzerStats::detected_http2);
      http2_ = std::make_unique<http2::Http2Connection>(
          flow_, in_sync ? http2::StartMode::kPriorKnowledge : http2::StartMode::kMidStream,
          ctx_);
      aligned_ = {in_sync, in_sync};
      break;
    case Protocol::kTls:
      CountDetection(&AnalyzerStats::detected_tls);
      tls_hello_done_ = !in_sync;  // joined mid-way: the hello went by before we came
      break;
    case Protocol::kUnknown:
      CountDetection(&AnalyzerStats::detected_unknown);
      break;
    case Protocol::kWebSocket:  // only through an upgrade (CompleteSwitch)
    case Protocol::kUndetermined:
      break;
  }
}

void Session::Forward(Direction dir, const tcp::StreamChunk& chunk) {
  const auto d = static_cast<size_t>(dir);
  switch (protocol_) {
    case Protocol::kHttp1:
      http1_->stream(dir).OnChunk(chunk);
      if (switch_) CompleteSwitch(dir, chunk.ts_ns);
      return;
    case Protocol::kHttp2:
      if (!aligned_[d]) {
        if (chunk.kind != tcp::StreamChunk::Kind::kData || !chunk.starts_at_segment_start ||
            !http2::LooksLikeHttp2Frames(chunk.data)) {
          Discard(chunk);
          return;
        }
        aligned_[d] = true;
      }
      http2_->stream(dir).OnChunk(chunk);
      return;
    case Protocol::kWebSocket:
      websocket_->stream(dir).OnChunk(chunk);
      return;
    default:
      return;
  }
}

void Session::OnProtocolSwitch(const http1::ProtocolSwitch& change) {
  // Called from inside the HTTP/1 parser: only note it; CompleteSwitch runs once the parser has
  // returned, so it can be destroyed.
  switch_ = change;
}

void Session::CompleteSwitch(Direction dir, uint64_t ts_ns) {
  const http1::ProtocolSwitch change = std::move(*switch_);
  switch_.reset();
  // The rest of the chunk that completed the switch is the new protocol's first bytes. It lives
  // in the chunk the caller still holds, so copy the view before the parser goes away.
  const std::string_view rest = http1_->parser(dir).leftover();
  const std::vector<uint8_t> leftover(rest.begin(), rest.end());
  http1_->Close();  // requests left unanswered before the switch are counted there
  http1_.reset();

  switch (change.protocol) {
    case http1::UpgradeProtocol::kWebSocket:
      CountDetection(&AnalyzerStats::detected_websocket);
      protocol_ = Protocol::kWebSocket;
      websocket_ = std::make_unique<websocket::WebSocketConnection>(flow_, change.route,
                                                                    change.switch_ns, ctx_);
      break;
    case http1::UpgradeProtocol::kH2c:
      CountDetection(&AnalyzerStats::detected_http2);
      protocol_ = Protocol::kHttp2;
      http2_ = std::make_unique<http2::Http2Connection>(flow_, http2::StartMode::kUpgraded, ctx_);
      http2_->AdoptUpgradeRequest(change.method, change.target, change.request_start_ns,
                                  change.request_body_bytes);
      aligned_ = {true, true};
      break;
    default:
      // CONNECT tunnels and upgrades to protocols we do not parse: TCP metrics only.
      protocol_ = Protocol::kUnknown;
      return;
  }
  if (!leftover.empty()) Forward(dir, tcp::StreamChunk::Data(leftover, ts_ns, false));
}

void Session::Discard(const tcp::StreamChunk& chunk) {
  if (chunk.kind == tcp::StreamChunk::Kind::kData) ctx_.stats.parser_discarded_bytes += chunk.data.size();
}

void Session::Close(uint64_t end_ns) {
  if (protocol_ == Protocol::kTls && !tls_hello_done_ && !tls_hello_.empty()) {
    ++ctx_.stats.tls_client_hello_incomplete;  // the connection ended inside the hello
  }
  if (protocol_ == Protocol::kUndetermined && (!held_.empty() || !in_sync_)) {
    // Bytes arrived but never enough to decide (or no message start was found mid-stream).
    if (!held_.empty() || mid_stream_tries_ > 0) CountDetection(&AnalyzerStats::detected_unknown);
  }
  held_.clear();
  if (http1_) http1_->Close();
  if (http2_) http2_->Close();
  if (websocket_) websocket_->Close(end_ns);
}

}  // namespace ta::analyzer::protocols
