// The analyzer: events in, HTTP exchanges and loss accounting out. Pure: no kernel, socket or
// clock of its own; single-threaded (the caller serialises all calls). Every line of it runs in
// unit tests and in `traffic-analyzer replay`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/events.h"
#include "analyzer/http_exchange.h"
#include "analyzer/protocols/http2/http2_stats.h"
#include "analyzer/protocols/websocket/websocket_stats.h"

namespace ta::analyzer {

struct RoutePatternConfig {
  uint16_t port = 0;    // 0 = any port
  std::string pattern;  // e.g. "/api/users/{id}/orders"; segments in braces match one segment
};

struct AnalyzerConfig {
  // Route templating (see routes/route_template.h).
  std::vector<RoutePatternConfig> route_patterns;
  uint32_t max_routes_per_port = 1000;  // further distinct routes map to kOverflowRoute
  // TCP reassembly bounds, per connection direction.
  uint32_t max_reorder_bytes = 256 * 1024;  // out-of-order bytes held before declaring a gap
  uint32_t max_reorder_segments = 64;
  // A hole in sequence space older than this (event time) is declared a gap, so a segment lost
  // before the capture point (or dropped at a full ring buffer) never wedges a quiet connection.
  uint64_t reorder_timeout_ns = 1'000'000'000;
  // HTTP/1.1 parser bounds.
  uint32_t max_header_bytes = 64 * 1024;  // a request/response head larger than this is invalid
  uint32_t max_pipelined_requests = 128;  // unanswered requests kept per connection
  // A connection with no event for this long is dropped from the analyzer's tables.
  uint64_t idle_timeout_ns = 300ull * 1000 * 1000 * 1000;
  uint32_t max_connections = 65536;  // tracked connections; beyond it, the oldest idle is evicted
  // Bytes of each body kept in HttpExchange::{request,response}_body (0 = none).
  uint32_t body_sample_bytes = 4096;
};

// Monotonic counters. The agent exports them as traffic_analyzer_* metrics.
struct AnalyzerStats {
  uint64_t events_conn_open = 0;
  uint64_t events_conn_close = 0;
  uint64_t events_segment = 0;
  // Loss by stage (exported as traffic_analyzer_events_lost_total{stage=...}).
  uint64_t reassembly_gap_bytes = 0;          // bytes never seen (lost or out of window)
  // Out-of-order segments that overflowed the reorder buffer: each forced the oldest hole(s) to
  // be given up early (their bytes count in reassembly_gap_bytes) instead of dropping data.
  uint64_t reassembly_overflow_segments = 0;
  uint64_t uncaptured_bytes = 0;              // bytes beyond snaplen (expected, not an error)
  uint64_t parser_resyncs = 0;                // times a parser lost framing and resynchronised
  uint64_t parser_discarded_bytes = 0;        // bytes skipped while resynchronising
  uint64_t unanswered_requests = 0;           // requests dropped without a response
  uint64_t orphan_responses = 0;              // responses with no request to pair with
  // Parse errors by protocol (exported as traffic_analyzer_parse_errors_total{protocol=...}).
  uint64_t http1_parse_errors = 0;
  // HTTP/1.x messages cut short by the end of the connection (close, eviction, expiry).
  uint64_t http1_truncated_messages = 0;
  // Requests whose route became the overflow route (max_routes_per_port reached).
  uint64_t route_overflows = 0;
  uint64_t connections_evicted = 0;  // evicted at max_connections
  uint64_t connections_expired = 0;  // dropped after idle_timeout_ns
  uint64_t connections_tracked = 0;  // gauge: currently tracked
  uint64_t exchanges = 0;            // HTTP exchanges reported
  uint64_t events_conn_established = 0;
  // Connections by the protocol detected from their first bytes (protocols/detect.h).
  uint64_t detected_http1 = 0;
  uint64_t detected_http2 = 0;     // prior knowledge or h2c upgrade
  uint64_t detected_tls = 0;       // TLS records: not parsed on the tc path
  uint64_t detected_websocket = 0;  // HTTP/1.1 upgraded to WebSocket (101)
  uint64_t detected_unknown = 0;    // anything else: TCP metrics only
  // TLS ClientHellos on the tc path: parsed and reported, rejected as malformed, or not
  // parseable because part of them was not captured (a gap in the client's first flight).
  uint64_t tls_client_hellos = 0;
  uint64_t tls_client_hello_invalid = 0;
  uint64_t tls_client_hello_incomplete = 0;
  // TLS plaintext from the uprobes (tls/tls_sessions.h).
  uint64_t events_tls_data = 0;
  uint64_t tls_sessions = 0;           // sessions parsed (a role was found)
  uint64_t tls_sessions_unparsed = 0;  // first bytes were not a request start: not parsed
  uint64_t tls_sessions_unmapped = 0;  // parsed, but the socket's addresses are unknown
  protocols::http2::Http2Stats http2;
  protocols::websocket::WebSocketStats websocket;
};

// Where an HTTP/1.x connection is in its current exchange, for the slow-rate detector
// (slowloris sends a request head a few bytes at a time; slow POST trickles a body; slow read
// takes a response at a trickle). Reported by Analyzer::Census for every tracked HTTP/1.x
// connection that is not idle.
enum class ExchangePhase : uint8_t {
  kRequestHead = 0,       // some bytes of a request head, head not complete
  kRequestBody = 1,       // head complete, body incomplete
  kAwaitingResponse = 2,  // request complete, no response byte yet
  kResponse = 3,          // response started, not complete
};

struct ConnectionProgress {
  FlowKey flow;
  ExchangePhase phase = ExchangePhase::kRequestHead;
  uint64_t phase_start_ns = 0;  // time of the first byte of this phase
  uint64_t last_byte_ns = 0;    // time of the latest byte in this phase's direction
  uint64_t phase_bytes = 0;     // bytes of this phase so far (head or body bytes)
  std::optional<uint64_t> expected_bytes;  // body length when known (Content-Length)
};

class Analyzer final : public EventConsumer {
 public:
  Analyzer(AnalyzerConfig config, ExchangeSink& sink);
  ~Analyzer();
  Analyzer(const Analyzer&) = delete;
  Analyzer& operator=(const Analyzer&) = delete;

  void OnConnOpen(const ConnOpenEvent& ev) override;
  void OnConnEstablished(const ConnEstablishedEvent& ev) override;
  void OnSegment(const SegmentEvent& ev) override;
  void OnConnClose(const ConnCloseEvent& ev) override;
  void OnTlsData(const TlsDataEvent& ev) override;
  // Advances the analyzer's notion of time (same clock as the events): expires idle
  // connections. Callers invoke it periodically; time never comes from a clock of our own.
  void AdvanceTime(uint64_t now_ns);

  const AnalyzerStats& stats() const;

  // Appends the progress of every tracked HTTP/1.x connection that is inside an exchange.
  // Cost is linear in tracked connections; the daemon calls it once per anomaly window.
  void Census(std::vector<ConnectionProgress>& out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ta::analyzer
