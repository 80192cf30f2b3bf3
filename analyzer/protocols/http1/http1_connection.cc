#include "analyzer/protocols/http1/http1_connection.h"

#include <utility>

namespace ta::analyzer::protocols::http1 {

Http1Connection::Http1Connection(const FlowKey& flow, bool in_sync, ConnectionContext& ctx,
                                 SwitchObserver* switches)
    : flow_(flow),
      ctx_(ctx),
      switches_(switches),
      requests_(Direction::kClientToServer, in_sync, ctx.config, ctx.stats, *this),
      responses_(Direction::kServerToClient, in_sync, ctx.config, ctx.stats, *this) {}

void Http1Connection::Close() {
  requests_.OnClose();
  responses_.OnClose();  // may complete a read-until-close response, or lose a truncated one
  if (lost_) {
    Report(*lost_, std::nullopt, responses_.last_ts(), lost_->body);
    lost_.reset();
  }
  ctx_.stats.unanswered_requests += pending_.size();
  pending_.clear();
}

BodyFraming Http1Connection::OnHead(Direction dir, const MessageHead& head, uint64_t start_ns) {
  if (dir == Direction::kClientToServer) {
    if (!pending_.empty() && pending_.size() >= ctx_.config.max_pipelined_requests) {
      ++ctx_.stats.unanswered_requests;
      pending_.erase(pending_.begin());
    }
    // Built in place: a Request is large (strings, a body sample), so it is moved only once,
    // into the response that answers it.
    Request& request = pending_.emplace_back();
    request.id = ++next_request_id_;
    request.method = NormalizeMethod(head.method);
    request.route = ctx_.routes.Route(flow_.server_port, head.target, &request.object_id);
    request.start_ns = start_ns;
    request.version_minor = head.version_minor;
    request.upgrade = head.upgrade;
    if (head.upgrade != UpgradeProtocol::kNone) request.target = head.target;
    const BodyFraming framing = RequestBodyFraming(head);
    if (framing == BodyFraming::kContentLength) request.body_bytes = head.content_length;
    if (framing == BodyFraming::kNone) request.body_bytes = 0;
    return framing;
  }

  // 1xx other than 101 are interim (RFC 9110 §15.2): the final response still follows.
  interim_ = head.status < 200 && head.status != 101;
  if (interim_) return BodyFraming::kNone;

  // Not in_flight_.emplace(): clang 14 rejects it (it judges Response not default-constructible
  // from the member declaration, before Response's default member initializers are seen).
  in_flight_ = Response{};
  Response& response = *in_flight_;
  response.status = head.status;
  response.upgrade = head.upgrade;
  if (pending_.empty()) {
    ++ctx_.stats.orphan_responses;
  } else {
    response.request = std::move(pending_.front());
    pending_.erase(pending_.begin());
  }
  const BodyFraming framing =
      ResponseBodyFraming(head, response.request ? response.request->method : "");
  response.tunnel = framing == BodyFraming::kTunnel;
  return framing;
}

void Http1Connection::OnMessageEnd(Direction dir, uint64_t body_bytes, uint64_t end_ns,
                                   BodySample& body) {
  if (dir == Direction::kClientToServer) {
    if (Request* request = CurrentRequest()) {
      request->body_bytes = body_bytes;
      request->body = std::move(body);
      request->end_ns = end_ns;
    }
    return;
  }
  if (interim_) {
    interim_ = false;
    return;
  }
  if (!in_flight_) return;
  if (in_flight_->tunnel) {
    Response response = std::move(*in_flight_);
    in_flight_.reset();
    Switch(response, end_ns);
    return;
  }
  Report(*in_flight_, body_bytes, end_ns, body);
  in_flight_.reset();
}

void Http1Connection::Switch(Response& response, uint64_t end_ns) {
  upgraded_ = true;
  requests_.Stop();
  responses_.Stop();
  ProtocolSwitch change;
  if (response.status == 101) {
    // The server names the protocol it switches to (RFC 9110 §7.8); fall back to the request's.
    change.protocol = response.upgrade;
    if (change.protocol == UpgradeProtocol::kNone && response.request)
      change.protocol = response.request->upgrade;
    if (change.protocol == UpgradeProtocol::kNone) change.protocol = UpgradeProtocol::kOther;
  }
  // With h2c the request's real response arrives as HTTP/2 on stream 1 (RFC 7540 §3.2): the 101
  // is not its answer, so the exchange is reported by HTTP/2. Everything else (WebSocket's
  // handshake, a CONNECT) is an HTTP/1.1 exchange in its own right.
  if (change.protocol != UpgradeProtocol::kH2c || !response.request) Report(response, 0, end_ns, response.body);
  if (!switches_) return;
  if (response.request) {
    change.method = response.request->method;
    change.target = response.request->target;
    change.route = response.request->route;
    change.request_start_ns = response.request->start_ns;
    change.request_body_bytes = response.request->body_bytes;
  }
  change.switch_ns = end_ns;
  switches_->OnProtocolSwitch(change);
}

void Http1Connection::OnBodyLost(Direction dir, BodySample& body) {
  if (dir == Direction::kClientToServer) {
    if (Request* request = CurrentRequest()) {
      request->body_bytes.reset();
      request->body = std::move(body);
    }
    return;
  }
  if (in_flight_) {
    in_flight_->body = std::move(body);
    lost_ = std::move(in_flight_);
    in_flight_.reset();
  }
}

void Http1Connection::OnResync(Direction dir, uint64_t last_ns) {
  if (dir == Direction::kClientToServer) return;
  // The response whose body we lost ended somewhere in the bytes just skipped: report it with
  // its status, ending at the last segment before this new response.
  if (lost_) {
    Report(*lost_, std::nullopt, last_ns, lost_->body);
    lost_.reset();
  }
  // Heuristic: we cannot tell how many responses went by in the bytes we skipped. Without
  // pipelining (nearly all clients) the response we resynchronised on answers the most recent
  // request, so keep only that one; the older ones count as unanswered. Pipelined streams that
  // lose framing may mis-pair until the FIFO drains.
  if (pending_.size() > 1) {
    ctx_.stats.unanswered_requests += pending_.size() - 1;
    pending_.erase(pending_.begin(), pending_.end() - 1);
  }
}

Http1Connection::Request* Http1Connection::CurrentRequest() {
  // Requests are read in order, so the one being read is the newest: at the back of the FIFO,
  // or already paired with the response being read.
  const uint64_t id = next_request_id_;
  if (!pending_.empty() && pending_.back().id == id) return &pending_.back();
  if (in_flight_ && in_flight_->request && in_flight_->request->id == id) {
    return &*in_flight_->request;
  }
  return nullptr;
}

void Http1Connection::Report(Response& response, std::optional<uint64_t> body_bytes,
                             uint64_t end_ns, BodySample& response_body) {
  if (!response.request) return;  // orphan, counted when its head arrived
  Request& request = *response.request;
  HttpExchange exchange;
  exchange.flow = flow_;
  exchange.method = request.method;
  exchange.route = request.route;
  exchange.status = response.status;
  // The version the client spoke (OTel network.protocol.version of a server request). A minor
  // version above 1 is processed as 1.1 (RFC 9112 §2.3), so "HTTP/1.9" is reported as "1.1".
  const int minor = request.version_minor > 1 ? 1 : request.version_minor;
  exchange.protocol_version = {'1', '.', static_cast<char>('0' + minor)};
  exchange.scheme = "http";
  exchange.request_start_ns = request.start_ns;
  exchange.response_end_ns = end_ns;
  exchange.request_body_bytes = request.body_bytes;
  exchange.response_body_bytes = body_bytes;
  exchange.object_id = std::move(request.object_id);
  exchange.request_body = std::move(request.body);
  exchange.response_body = std::move(response_body);
  ++ctx_.stats.exchanges;
  ctx_.sink.OnHttpExchange(exchange);
}

bool Http1Connection::Progress(ConnectionProgress* out) const {
  if (upgraded_) return false;
  using Stage = MessageProgress::Stage;
  const MessageProgress response = responses_.progress();
  const MessageProgress request = requests_.progress();
  // The earliest unfinished part of the exchange decides: a response under way answers a
  // request that is complete (or, when the server answers early, one it gave up waiting for).
  // A response's phase runs from its first byte; phase_bytes are its head bytes while the head
  // is incomplete, then its body bytes (comparable with the Content-Length in expected_bytes).
  const MessageProgress* from = nullptr;
  uint64_t start_ns = 0;
  if (response.stage == Stage::kHead || response.stage == Stage::kBody) {
    from = &response;
    start_ns = response.message_start_ns;
    out->phase = ExchangePhase::kResponse;
  } else if (request.stage == Stage::kBody) {
    from = &request;
    start_ns = request.start_ns;  // the segment that completed the head
    out->phase = ExchangePhase::kRequestBody;
  } else if (request.stage == Stage::kHead) {
    from = &request;
    start_ns = request.start_ns;
    out->phase = ExchangePhase::kRequestHead;
  }
  out->flow = flow_;
  if (from != nullptr) {
    out->phase_start_ns = start_ns;
    out->last_byte_ns = from->last_ns;
    out->phase_bytes = from->bytes;
    out->expected_bytes = from->expected;
    return true;
  }
  // Requests complete and unanswered. Only when the response side is known to be between
  // messages: after lost response framing, a response may be under way unseen.
  if (pending_.empty() || request.stage != Stage::kIdle || response.stage != Stage::kIdle) {
    return false;
  }
  out->phase = ExchangePhase::kAwaitingResponse;
  out->phase_start_ns = pending_.front().end_ns;
  out->last_byte_ns = request.last_ns;
  out->phase_bytes = 0;
  out->expected_bytes.reset();
  return true;
}

}  // namespace ta::analyzer::protocols::http1
