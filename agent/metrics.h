// Everything the agent exports on /metrics, in one place. HTTP metrics follow the OpenTelemetry
// HTTP semantic conventions as Prometheus shows them (dots become underscores, the unit is a
// suffix); self-metrics are prefixed traffic_analyzer_. docs/metrics.md documents each family.
//
// Every family is declared once, in TA_METRIC_FAMILIES below, sorted by name (a static_assert in
// metrics.cc checks the order), and the Metrics class is built from that list.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "agent/result.h"
#include "analyzer/analyzer.h"
#include "analyzer/anomaly/anomaly.h"
#include "analyzer/anomaly/engine.h"
#include "analyzer/http_exchange.h"
#include "ta_abi.h"

namespace ta::agent {

// X(name, help) for each family, sorted by name. Label sets are fixed in metrics.cc and listed
// in docs/metrics.md.
#define TA_METRIC_FAMILIES(COUNTER, GAUGE, HISTOGRAM)                                             \
  HISTOGRAM(http_client_request_duration_seconds,                                                 \
            "Duration of HTTP client requests seen in a client process's TLS calls, first "       \
            "request byte written to last response byte read (OTel "                              \
            "http.client.request.duration).")                                                     \
  HISTOGRAM(http_server_request_body_size_bytes,                                                  \
            "Size of HTTP request bodies as transferred (OTel http.server.request.body.size).")   \
  HISTOGRAM(http_server_request_duration_seconds,                                                 \
            "Duration of HTTP server requests, first request byte to last response byte, "        \
            "from capture timestamps (OTel http.server.request.duration).")                       \
  HISTOGRAM(http_server_response_body_size_bytes,                                                 \
            "Size of HTTP response bodies as transferred (OTel http.server.response.body.size).") \
  HISTOGRAM(rpc_server_duration_seconds,                                                          \
            "Duration of gRPC calls, request HEADERS to the end of the response stream "          \
            "(OTel rpc.server.duration).")                                                        \
  HISTOGRAM(rpc_server_requests_per_rpc,                                                          \
            "gRPC messages the client sent per call (OTel rpc.server.requests_per_rpc).")         \
  HISTOGRAM(rpc_server_responses_per_rpc,                                                         \
            "gRPC messages the server sent per call (OTel rpc.server.responses_per_rpc).")        \
  COUNTER(tcp_bytes_total, "TCP payload bytes of ended connections, by direction.")             \
  GAUGE(tcp_connections_active, "TCP connections opened and not yet ended.")                    \
  COUNTER(tcp_connections_closed_total,                                                           \
          "TCP connections ended, by reason: fin, reset, expired (idle, close not seen), "        \
          "evicted (connection table full).")                                                     \
  COUNTER(tcp_connections_opened_total,                                                           \
          "TCP connections opened (SYN seen, or first payload of a connection joined mid-way).") \
  HISTOGRAM(tcp_handshake_rtt_seconds,                                                            \
            "Client SYN to the client's ACK of the SYN-ACK, as seen at the capture point.")       \
  COUNTER(tcp_retransmitted_segments_total,                                                       \
          "Segments of ended connections whose sequence range had been seen before, by "          \
          "direction.")                                                                           \
  COUNTER(tls_client_hellos_total,                                                                \
          "TLS ClientHellos seen on the tc path, by requested server name (SNI), highest "        \
          "offered version and first offered ALPN protocol.")                                     \
  COUNTER(traffic_analyzer_alerts_dropped_total,                                                  \
          "Anomaly records an alert sink never got because its queue was full (the sink is "      \
          "slow or down), by sink.")                                                              \
  COUNTER(traffic_analyzer_alerts_failed_total,                                                   \
          "Anomaly records an alert sink gave up on after its retries, by sink.")                 \
  COUNTER(traffic_analyzer_alerts_sent_total, "Anomaly records delivered, by sink.")              \
  GAUGE(traffic_analyzer_anomalies_active, "Anomalies currently firing, by detector.")            \
  COUNTER(traffic_analyzer_anomalies_total, "Anomalies fired, by detector and severity.")         \
  GAUGE(traffic_analyzer_anomaly_baseline_learned_ratio,                                          \
        "Warm-up of each detector's baselines, 0 to 1 (1 = every baseline has its history).")    \
  COUNTER(traffic_analyzer_anomaly_late_events_total,                                             \
          "Exchanges that reached the anomaly engine after their window closed: counted in the "  \
          "open window within the allowed lateness, not scored beyond it.")                       \
  GAUGE(traffic_analyzer_anomaly_score_ratio,                                                     \
        "Highest score / threshold of each detector in the last closed window (1 = at the "      \
        "threshold).")                                                                            \
  GAUGE(traffic_analyzer_build_info, "Always 1; the version label says which build is running.")  \
  COUNTER(traffic_analyzer_connections_evicted_total,                                             \
          "Connections the analyzer stopped tracking before they closed, by reason.")             \
  GAUGE(traffic_analyzer_connections_tracked, "Connections the analyzer currently tracks.")       \
  COUNTER(traffic_analyzer_events_lost_total,                                                     \
          "Events or messages lost, by stage: ringbuf = kernel events not delivered (ring "       \
          "buffer full); reassembly = reorder buffer overflows that gave up a hole; parser = "    \
          "times HTTP framing was lost and resynchronised.")                                      \
  COUNTER(traffic_analyzer_events_received_total, "Events the analyzer received, by kind.")       \
  COUNTER(traffic_analyzer_grpc_message_counts_inexact_total,                                     \
          "gRPC calls whose message framing was lost in a direction: their message counts are "   \
          "lower bounds.")                                                                        \
  COUNTER(traffic_analyzer_http2_goaway_frames_total, "HTTP/2 GOAWAY frames seen.")             \
  COUNTER(traffic_analyzer_http2_stream_resets_total, "HTTP/2 RST_STREAM frames seen.")          \
  COUNTER(traffic_analyzer_http2_undecodable_header_blocks_total,                                 \
          "HTTP/2 header blocks HPACK could not decode (joined mid-stream, or a block lost): "    \
          "their streams are not reported.")                                                      \
  COUNTER(traffic_analyzer_http_body_size_unknown_total,                                          \
          "Exchanges whose body size could not be determined, so it was not observed.")           \
  COUNTER(traffic_analyzer_http_route_overflows_total,                                            \
          "Requests reported with the overflow route because their port reached "                 \
          "routes.max_per_port distinct routes.")                                                 \
  COUNTER(traffic_analyzer_http_truncated_messages_total,                                         \
          "HTTP messages cut short by the end of their connection (close, eviction, expiry).")    \
  COUNTER(traffic_analyzer_http_unpaired_messages_total,                                          \
          "HTTP messages that could not be paired: requests without a response, responses "       \
          "without a request.")                                                                   \
  COUNTER(traffic_analyzer_kernel_conn_update_failures_total,                                     \
          "Kernel connection table inserts that failed.")                                         \
  COUNTER(traffic_analyzer_kernel_events_dropped_total,                                           \
          "Kernel events not submitted because the ring buffer was full, by kind.")               \
  COUNTER(traffic_analyzer_kernel_events_submitted_total,                                         \
          "Events the kernel submitted to the ring buffer, by kind.")                             \
  COUNTER(traffic_analyzer_kernel_packets_skipped_total,                                          \
          "Packets the kernel could not decode and skipped, by reason.")                          \
  COUNTER(traffic_analyzer_kernel_packets_total, "TCP packets seen on watched ports.")            \
  COUNTER(traffic_analyzer_kernel_payload_load_failures_total,                                    \
          "Payload events sent without payload because copying it from the packet failed.")       \
  COUNTER(traffic_analyzer_lost_bytes_total,                                                      \
          "Payload bytes lost, by stage: reassembly = sequence gaps never filled; parser = "      \
          "bytes skipped while resynchronising.")                                                 \
  COUNTER(traffic_analyzer_metrics_requests_refused_total,                                        \
          "Requests to /metrics refused, by reason: address (client outside metrics.allow, "      \
          "answered 403), auth (basic auth credentials missing or wrong, answered 401).")          \
  COUNTER(traffic_analyzer_parse_errors_total, "Protocol parse errors, by protocol.")             \
  COUNTER(traffic_analyzer_policy_decisions_total,                                                \
          "Rule policy outcomes per anomaly target, by result: made (a rule was asked for), "   \
          "held_back (over max_rules_per_minute; retried next window), already_ruled, settling "   \
          "(a flood's window right after its sources were ruled, not judged).")         \
  COUNTER(traffic_analyzer_protocol_detections_total,                                             \
          "Connections by the protocol detected from their bytes (an HTTP/1.1 connection that "   \
          "upgrades counts for both).")                                                           \
  COUNTER(traffic_analyzer_records_invalid_total,                                                 \
          "Ring buffer records the daemon could not decode (a kernel/daemon ABI mismatch).")      \
  COUNTER(traffic_analyzer_rule_bytes_total,                                                      \
          "Bytes (frame length at XDP) an enforcement rule matched, dropped or would have "     \
          "dropped (dry run), by rule id, kind, origin and outcome.")                           \
  COUNTER(traffic_analyzer_rule_changes_total,                                                    \
          "Enforcement rule table changes, by change: added, deleted, expired, rejected.")      \
  COUNTER(traffic_analyzer_rule_packets_total,                                                    \
          "Packets an enforcement rule matched, dropped or would have dropped (dry run), by "   \
          "rule id, kind, origin and outcome.")                                                 \
  GAUGE(traffic_analyzer_rules, "Enforcement rules in force, by kind and origin.")               \
  COUNTER(traffic_analyzer_state_snapshots_total,                                                 \
          "Anomaly state snapshots, by result: saved, save_failed, restored, set_aside (corrupt, " \
          "foreign or of another schema: moved away and reported).")                              \
  GAUGE(traffic_analyzer_syn_admit_ratio,                                                         \
        "Share of new connections (SYNs) the XDP SYN throttle admits on a port, 0..1.")         \
  COUNTER(traffic_analyzer_tls_client_hellos_unparsed_total,                                       \
          "TLS connections whose ClientHello could not be read, by reason: invalid (malformed) "  \
          "or incomplete (part of it not captured, or the connection ended inside it).")          \
  GAUGE(traffic_analyzer_tls_hooked,                                                              \
        "Processes that use TLS, by pid, command and library: 1 when the TLS uprobes see their "  \
        "plaintext, 0 when they cannot (the reason is in the daemon log and docs/tls.md).")       \
  COUNTER(traffic_analyzer_tls_kernel_calls_total,                                                \
          "SSL_read/SSL_write calls the uprobes saw, by outcome.")                                \
  COUNTER(traffic_analyzer_tls_sessions_total,                                                     \
          "TLS sessions (SSL objects) seen by the uprobes, by outcome: parsed, unparsed (their "  \
          "first bytes were not a request start), unmapped (parsed, socket unknown).")            \
  COUNTER(traffic_analyzer_uncaptured_bytes_total,                                                \
          "Payload bytes in the middle of segments longer than snaplen (between the captured "    \
          "head and tail): seen on the wire, deliberately not captured.")            \
  GAUGE(traffic_analyzer_xdp_attached,                                                            \
        "1 per interface the enforcement program is attached to, by interface and mode "        \
        "(native, generic).")                                                                   \
  COUNTER(traffic_analyzer_xdp_packets_total,                                                     \
          "Frames the XDP enforcement program judged, by result (bpf/ta_abi.h enum ta_xdp_stat)" \
          ": seen, passed, dropped, would_drop, fail_open, not_ip, malformed, fragment, ...")   \
  COUNTER(websocket_close_frames_total, "WebSocket close frames, by direction and close code.")  \
  COUNTER(websocket_messages_total,                                                               \
          "WebSocket messages (a fragmented data message counts once; control frames each), "     \
          "by direction and type.")                                                               \
  COUNTER(websocket_payload_bytes_total,                                                          \
          "WebSocket payload bytes as sent (compressed size under permessage-deflate), by "       \
          "direction and type.")                                                                  \
  HISTOGRAM(websocket_session_duration_seconds,                                                   \
            "WebSocket sessions, from the 101 response to the end of the connection.")

// The help text of a family in TA_METRIC_FAMILIES ("" for another name), for families that are
// registered on the registry by their own component (MetricsServer) rather than by Metrics.
std::string_view FamilyHelp(std::string_view name);

// The version exported in traffic_analyzer_build_info: the build's TA_VERSION definition, or
// "unknown" when the build does not set one.
std::string_view BuildVersion();

// Histogram bucket upper bounds. Durations: the OTel advice for http.server.request.duration.
// Body sizes: 0 (no body), then powers of 4 from 64 B to 64 MiB (OTel gives no advice).
inline const std::vector<double> kDurationBucketsSeconds = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
// SNI values exported per server port; further names are reported as "_OTHER", so a client
// cannot inflate metric cardinality (the same rule as routes.max_per_port).
inline constexpr size_t kMaxServerNamesPerPort = 256;
// Messages per gRPC call: 1 for unary, then powers of 4 for streams.
inline const std::vector<double> kMessagesPerRpcBuckets = {0, 1, 2, 4, 16, 64, 256, 1024, 4096};
// TCP handshake round trips: 50 µs (same host, veth) to 2.5 s (SYN retransmitted).
inline const std::vector<double> kHandshakeBucketsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5};
// WebSocket sessions last from seconds to days.
inline const std::vector<double> kSessionBucketsSeconds = {0.1, 1, 10, 60, 300, 1800, 3600,
                                                            21600, 86400};
inline const std::vector<double> kBodySizeBucketsBytes = {
    0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};

// Owns the registry. OnHttpExchange and the Update* methods may be called from any thread,
// concurrently with scrapes. Counters fed from snapshots take the latest monotonic snapshot and
// add the difference to the previous one; a snapshot lower than the previous one (the source
// restarted) counts from zero again.
class Metrics final : public analyzer::ExchangeSink {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // analyzer::ExchangeSink
  void OnHttpExchange(const analyzer::HttpExchange& exchange) override;
  void OnClientExchange(const analyzer::HttpExchange& exchange);
  void OnGrpcCall(const analyzer::GrpcCall& call) override;
  void OnWebSocketMessage(const analyzer::WebSocketMessage& message) override;
  void OnWebSocketSession(const analyzer::WebSocketSession& session) override;
  void OnTlsClientHello(const analyzer::TlsClientHello& hello) override;
  void OnTcpOpened(const analyzer::FlowKey& flow, uint64_t ts_ns, bool mid_stream) override;
  void OnTcpEstablished(const analyzer::ConnEstablishedEvent& ev) override;
  void OnTcpEnded(const analyzer::TcpConnectionEnd& end) override;

  void UpdateAnalyzerStats(const analyzer::AnalyzerStats& snapshot);
  // Summed per-CPU values of the `ta_stats` map, indexed by enum ta_stat (bpf/ta_abi.h).
  void UpdateKernelStats(const std::array<uint64_t, TA_STAT_MAX>& snapshot);
  // The TLS uprobes: per-CPU kernel counters (enum ta_tls_stat) and the coverage report.
  void UpdateTlsKernelStats(const std::array<uint64_t, TA_TLS_STAT_MAX>& snapshot);
  struct TlsCoverage {
    int pid;
    std::string comm;
    std::string library;
    bool hooked;
    std::string reason;  // why not hooked, or what is partial
  };
  void UpdateTlsCoverage(const std::vector<TlsCoverage>& entries);
  // Ring buffer records DeliverRecord() could not use (RecordDecodeStats, all reasons summed).
  void UpdateDecodeStats(uint64_t invalid_records);

  // Anomalies: each firing record counts once; the status gauges come from the engine after
  // each tick.
  void CountAnomaly(const analyzer::anomaly::Anomaly& anomaly);
  void UpdateAnomalyStatus(const analyzer::anomaly::EngineStatus& status);
  struct AlertSinkCounts {
    std::string sink;
    uint64_t sent = 0;
    uint64_t failed = 0;
    uint64_t dropped = 0;
  };
  void UpdateAlertSinks(const std::vector<AlertSinkCounts>& sinks);
  // result: "saved", "save_failed", "restored", "set_aside".
  void CountSnapshot(std::string_view result);

  // Enforcement (agent/enforce/): the XDP program's counters, every rule's counters (series of
  // rules that are gone are removed), table and policy counts, SYN admit ratios, attachments.
  struct RuleSample {
    uint64_t id = 0;
    std::string kind;
    std::string origin;
    ta_xdp_rule_counters counters{};
  };
  struct AttachedSample {
    std::string ifname;
    std::string mode;
  };
  struct EnforcementSnapshot {
    std::array<uint64_t, TA_XDP_STAT_MAX> xdp{};
    std::vector<RuleSample> rules;
    uint64_t rules_added = 0, rules_deleted = 0, rules_expired = 0, rules_rejected = 0;
    uint64_t decisions = 0, held_back = 0, already_ruled = 0, settling = 0;
    std::vector<std::pair<uint16_t, double>> syn_admit;  // (port, ratio)
    std::vector<AttachedSample> attached;
  };
  void UpdateEnforcement(const EnforcementSnapshot& snapshot);
  // The label value of each enum ta_xdp_stat in traffic_analyzer_xdp_packets_total.
  static std::string_view XdpStatName(size_t stat);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The Prometheus text exposition format (0.0.4) of everything registered.
  std::string SerializeText() const;

 private:
  // The three histograms of one label set, looked up once per distinct label set.
  struct ExchangeSeries {
    prometheus::Histogram* duration;
    prometheus::Histogram* request_body;
    prometheus::Histogram* response_body;
  };

  // The gRPC histograms of one (service, method, status, port).
  struct GrpcSeries {
    prometheus::Histogram* duration;
    prometheus::Histogram* requests;
    prometheus::Histogram* responses;
  };
  // The TCP series of one server port, created on its first connection.
  struct TcpSeries {
    prometheus::Counter* opened;
    prometheus::Gauge* active;
    prometheus::Histogram* handshake;
    std::array<prometheus::Counter*, 4> closed;  // by analyzer::TcpCloseReason
    std::array<prometheus::Counter*, 2> bytes;   // by Direction
    std::array<prometheus::Counter*, 2> retransmits;
  };
  struct WebSocketSeries {
    prometheus::Counter* messages;
    prometheus::Counter* bytes;
  };

  TcpSeries& Tcp(uint16_t port);  // needs tcp_mu_

  std::shared_ptr<prometheus::Registry> registry_;

#define TA_METRICS_MEMBER_COUNTER(name, help) prometheus::Family<prometheus::Counter>& name##_;
#define TA_METRICS_MEMBER_GAUGE(name, help) prometheus::Family<prometheus::Gauge>& name##_;
#define TA_METRICS_MEMBER_HISTOGRAM(name, help) prometheus::Family<prometheus::Histogram>& name##_;
  TA_METRIC_FAMILIES(TA_METRICS_MEMBER_COUNTER, TA_METRICS_MEMBER_GAUGE,
                     TA_METRICS_MEMBER_HISTOGRAM)
#undef TA_METRICS_MEMBER_COUNTER
#undef TA_METRICS_MEMBER_GAUGE
#undef TA_METRICS_MEMBER_HISTOGRAM

  // A counter fed from a monotonic snapshot, with the last value seen.
  struct SnapshotCounter {
    prometheus::Counter* counter = nullptr;
    uint64_t last = 0;
    void Update(uint64_t now);
  };

  // Series with fixed labels, created up front so every one is exported (as 0) from the start.
  struct AnalyzerSeries {
    SnapshotCounter conn_open, conn_established, conn_close, payload;
    SnapshotCounter lost_reassembly, lost_parser;
    SnapshotCounter gap_bytes, parser_discarded_bytes, uncaptured_bytes;
    SnapshotCounter unanswered_requests, orphan_responses;
    SnapshotCounter http1_parse_errors, http1_truncated_messages, route_overflows;
    SnapshotCounter evicted_table_full, evicted_idle_timeout;
    SnapshotCounter detected_http1, detected_http2, detected_tls, detected_websocket,
        detected_unknown;
    SnapshotCounter http2_parse_errors, http2_undecodable, http2_resets, http2_goaways,
        http2_unanswered;
    SnapshotCounter websocket_parse_errors, websocket_framing_lost, websocket_truncated;
    SnapshotCounter http2_malformed, grpc_counts_lost;
    SnapshotCounter tls_hello_invalid, tls_hello_incomplete;
    SnapshotCounter tls_data, tls_parsed, tls_unparsed, tls_unmapped;
    prometheus::Gauge* connections_tracked = nullptr;
  };
  struct KernelSeries {
    std::array<SnapshotCounter, TA_STAT_MAX> by_stat;
    // events_lost_total{stage="ringbuf"}: the sum of both ring buffer drop counters.
    SnapshotCounter lost_ringbuf;
  };

  std::array<SnapshotCounter, TA_TLS_STAT_MAX> tls_kernel_;
  SnapshotCounter tls_lost_ringbuf_;
  std::mutex coverage_mu_;  // guards coverage_
  std::map<std::string, prometheus::Gauge*> coverage_;  // by pid, comm, library
  std::mutex snapshot_mu_;  // guards the SnapshotCounter::last values
  AnalyzerSeries analyzer_;
  KernelSeries kernel_;
  SnapshotCounter invalid_records_;
  struct AnomalySeries {
    std::array<prometheus::Counter*, 2> fired{};  // by Severity
    prometheus::Gauge* active = nullptr;
    prometheus::Gauge* learned = nullptr;
    prometheus::Gauge* score = nullptr;
  };
  std::array<AnomalySeries, analyzer::anomaly::kDetectorKinds> anomaly_;
  SnapshotCounter anomaly_late_;
  std::array<SnapshotCounter, 3> AlertSeries(const std::string& sink);
  std::mutex alert_mu_;  // guards alert_sinks_
  std::map<std::string, std::array<SnapshotCounter, 3>> alert_sinks_;  // sent, failed, dropped
  std::mutex enforcement_mu_;  // guards the enforcement series below
  std::array<SnapshotCounter, TA_XDP_STAT_MAX> xdp_stats_;
  std::array<SnapshotCounter, 4> rule_changes_;  // added, deleted, expired, rejected
  std::array<SnapshotCounter, 4> policy_results_;  // made, held_back, already_ruled, settling
  struct RuleSeries {
    std::array<SnapshotCounter, 3> packets;  // matched, dropped, would_drop
    std::array<SnapshotCounter, 3> bytes;
  };
  std::map<uint64_t, RuleSeries> rule_series_;
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> rules_in_force_;
  std::map<uint16_t, prometheus::Gauge*> syn_admit_;
  std::map<std::string, prometheus::Gauge*> xdp_attached_;
  prometheus::Counter* request_body_unknown_ = nullptr;
  prometheus::Counter* response_body_unknown_ = nullptr;

  std::mutex client_mu_;  // guards client_series_
  std::unordered_map<std::string, prometheus::Histogram*> client_series_;
  std::mutex exchange_mu_;  // guards exchange_series_
  std::unordered_map<std::string, ExchangeSeries> exchange_series_;
  std::mutex grpc_mu_;  // guards grpc_series_
  std::unordered_map<std::string, GrpcSeries> grpc_series_;
  std::mutex tcp_mu_;  // guards tcp_series_
  std::unordered_map<uint16_t, TcpSeries> tcp_series_;
  std::mutex tls_mu_;  // guards tls_server_names_
  // Distinct SNI values per server port, up to kMaxServerNamesPerPort.
  std::unordered_map<uint16_t, std::unordered_set<std::string>> tls_server_names_;
  std::mutex websocket_mu_;  // guards websocket_series_
  // Keyed by port << 8 | direction << 4 | type.
  std::unordered_map<uint32_t, WebSocketSeries> websocket_series_;
};

}  // namespace ta::agent
