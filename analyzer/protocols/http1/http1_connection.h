// HTTP/1.x on one TCP connection: a StreamParser per direction and the pairing of requests with
// responses into HttpExchanges.
//
// Pairing (RFC 9112 §9.3.2): responses answer requests in order, so requests wait in a FIFO
// (bounded by max_pipelined_requests; the oldest beyond it counts as unanswered). A request joins
// the FIFO when its head is parsed, so a response that arrives before the request body ends (an
// early error, 100-continue) still pairs. Interim 1xx responses do not consume a request; 101
// Switching Protocols and a 2xx answer to CONNECT are reported and end HTTP/1.x parsing on the
// connection (later protocols take over there).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/http1/stream_parser.h"
#include "analyzer/routes/route_template.h"

namespace ta::analyzer::protocols::http1 {

using protocols::ConnectionContext;

// The connection leaves HTTP/1.x: a 101 Switching Protocols (RFC 9110 §15.2.2) or a 2xx answer
// to CONNECT. What the next protocol needs to know about the request that switched it.
struct ProtocolSwitch {
  UpgradeProtocol protocol = UpgradeProtocol::kNone;  // kNone: a CONNECT tunnel
  std::string method;                                 // OpenTelemetry form
  std::string target;                                 // request-target as sent (h2c: stream 1)
  std::string route;                                  // templated
  uint64_t request_start_ns = 0;
  std::optional<uint64_t> request_body_bytes;
  uint64_t switch_ns = 0;  // timestamp of the segment that ended the 101 / 2xx head
};

class SwitchObserver {
 public:
  virtual ~SwitchObserver() = default;
  // Called once, from inside the response stream's OnChunk; both parsers have stopped. Bytes of
  // the current chunks after the switch are in StreamParser::leftover().
  virtual void OnProtocolSwitch(const ProtocolSwitch& change) = 0;
};

class Http1Connection final : private MessageObserver {
 public:
  // `in_sync` false: joined mid-stream, both directions start in resync mode. `switches`, when
  // given, hears about upgrades (it must outlive the connection).
  Http1Connection(const FlowKey& flow, bool in_sync, ConnectionContext& ctx,
                  SwitchObserver* switches = nullptr);
  Http1Connection(const Http1Connection&) = delete;
  Http1Connection& operator=(const Http1Connection&) = delete;

  tcp::StreamConsumer& stream(Direction dir) { return parser(dir); }
  const StreamParser& parser(Direction dir) const {
    return dir == Direction::kClientToServer ? requests_ : responses_;
  }
  StreamParser& parser(Direction dir) {
    return dir == Direction::kClientToServer ? requests_ : responses_;
  }
  // The connection ended (close, eviction, expiry): report what can still be reported and count
  // requests left without a response as unanswered.
  void Close();

  size_t pending_requests() const { return pending_.size(); }
  bool upgraded() const { return upgraded_; }

  // Where the connection is inside an exchange (Analyzer::Census). False when it is between
  // exchanges (idle keep-alive), left HTTP/1.x, or lost framing in a direction that decides the
  // phase. Cheap: reads parser state, allocates nothing.
  bool Progress(ConnectionProgress* out) const;

 private:
  struct Request {
    uint64_t id = 0;
    std::string method;  // OpenTelemetry form (HEAD and CONNECT kept, so framing can use it)
    std::string route;
    std::string object_id;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;  // segment with the last byte; 0 while the body is still arriving
    std::optional<uint64_t> body_bytes;  // known up front for Content-Length, else at its end
    BodySample body;                     // filled when the body ends (or is lost)
    uint8_t version_minor = 1;
    UpgradeProtocol upgrade = UpgradeProtocol::kNone;
    std::string target;  // kept only for upgrade requests (h2c makes it HTTP/2 stream 1)
  };
  struct Response {
    std::optional<Request> request;  // empty: an orphan, counted and not reported
    uint16_t status = 0;
    UpgradeProtocol upgrade = UpgradeProtocol::kNone;
    bool tunnel = false;
    BodySample body;  // filled only when the body is lost (reported later); a 101's is empty
  };

  BodyFraming OnHead(Direction dir, const MessageHead& head, uint64_t start_ns) override;
  void OnMessageEnd(Direction dir, uint64_t body_bytes, uint64_t end_ns, BodySample& body) override;
  void OnBodyLost(Direction dir, BodySample& body) override;
  void OnResync(Direction dir, uint64_t last_ns) override;

  // The request whose body the request parser is reading (it may already be answered), or null.
  Request* CurrentRequest();
  // Reports `response` with its request; moves the request's and `response_body` samples into
  // the exchange.
  void Report(Response& response, std::optional<uint64_t> body_bytes, uint64_t end_ns,
              BodySample& response_body);

  // The connection leaves HTTP/1.x after `response`.
  void Switch(Response& response, uint64_t end_ns);

  const FlowKey flow_;
  ConnectionContext& ctx_;
  SwitchObserver* switches_;
  StreamParser requests_;
  StreamParser responses_;
  std::vector<Request> pending_;       // oldest first; usually 0 or 1 long
  std::optional<Response> in_flight_;  // final head parsed, body in progress
  std::optional<Response> lost_;       // body framing lost: reported at resync or close
  bool interim_ = false;               // the response being read is a 1xx
  uint64_t next_request_id_ = 0;
  bool upgraded_ = false;
};

}  // namespace ta::analyzer::protocols::http1
