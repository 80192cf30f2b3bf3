// What the analyzer reports for each completed request/response pair, and the sink it reports
// to. The agent turns these into Prometheus metrics; tests collect them directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/events.h"
#include "analyzer/protocols/http2/grpc_call.h"
#include "analyzer/protocols/tls/tls_records.h"
#include "analyzer/protocols/websocket/websocket_records.h"
#include "analyzer/tcp/tcp_connection.h"

namespace ta::analyzer {

// Which side of the exchange the capture saw: the tc path and a TLS server process see the
// server side (http_server_* metrics); a TLS client process seen through its SSL_write of
// requests is the client side (http_client_request_duration_seconds).
enum class HttpRole : uint8_t { kServer, kClient };

// The first bytes of a message body as captured, for payload scoring (entropy). Chunked
// transfer coding is undone; Content-Encoding is not (the detector inflates gzip/deflate itself).
// Bounded by AnalyzerConfig::body_sample_bytes. When a capture gap (bytes beyond snaplen, a lost
// segment) falls inside the sampled range, the sample stops at the gap and `truncated_by_gap` is
// set: the bytes are always a contiguous prefix of the body.
struct BodySample {
  std::string bytes;
  bool truncated_by_gap = false;
  std::string content_encoding;  // header value, lower-cased, trimmed, bounded to 64 bytes
  std::string content_type;      // header value without parameters, lower-cased, bounded to 64
};

struct HttpExchange {
  FlowKey flow;
  HttpRole role = HttpRole::kServer;
  std::string method;            // "GET", ... ; non-standard methods become "_OTHER" (OTel)
  std::string route;             // templated, bounded cardinality (see routes/)
  uint16_t status = 0;           // final (non-1xx) status code
  std::string protocol_version;  // "1.0", "1.1", "2"
  std::string scheme;            // "http" (tc path) or "https" (TLS uprobes, later)
  uint64_t request_start_ns = 0;  // timestamp of the segment with the request's first byte
  uint64_t response_end_ns = 0;   // timestamp of the segment with the response's last byte
  // Body sizes as transferred (Content-Length, or the decoded sum of chunk sizes). Empty when
  // the framing could not be followed (e.g. chunk headers fell into an uncaptured gap).
  std::optional<uint64_t> request_body_bytes;
  std::optional<uint64_t> response_body_bytes;
  // The raw values of the path segments that the route templated ("{id}" or a pattern's
  // "{name}"), in order, joined by '/'; empty when none. Bounded to 128 bytes. The BOLA detector
  // counts distinct values per client and route.
  std::string object_id;
  BodySample request_body;
  BodySample response_body;

  double DurationSeconds() const {
    return response_end_ns > request_start_ns
               ? static_cast<double>(response_end_ns - request_start_ns) / 1e9
               : 0.0;
  }
};

// The method as OpenTelemetry's http.request.method reports it: the methods of RFC 9110 §9 and
// PATCH (RFC 5789) as they are (methods are case-sensitive), anything else "_OTHER", so a client
// cannot inflate metric cardinality.
inline std::string_view NormalizeMethod(std::string_view method) {
  static constexpr std::string_view kKnown[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view known : kKnown) {
    if (method == known) return known;
  }
  return "_OTHER";
}

// Everything the analyzer reports. Only HTTP exchanges are mandatory to take; a sink that does
// not care about the other records keeps the empty defaults.
class ExchangeSink {
 public:
  virtual ~ExchangeSink() = default;
  virtual void OnHttpExchange(const HttpExchange& exchange) = 0;
  virtual void OnGrpcCall(const GrpcCall& /*call*/) {}
  virtual void OnWebSocketMessage(const WebSocketMessage& /*message*/) {}
  virtual void OnWebSocketSession(const WebSocketSession& /*session*/) {}
  virtual void OnTlsClientHello(const TlsClientHello& /*hello*/) {}
  // TCP, for every watched connection: opened (SYN or first payload seen), handshake complete,
  // and ended (however it ended: every opened connection ends exactly once).
  virtual void OnTcpOpened(const FlowKey& /*flow*/, uint64_t /*ts_ns*/, bool /*mid_stream*/) {}
  virtual void OnTcpEstablished(const ConnEstablishedEvent& /*ev*/) {}
  virtual void OnTcpEnded(const TcpConnectionEnd& /*end*/) {}
};

}  // namespace ta::analyzer
