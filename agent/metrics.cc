#include "agent/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <iterator>
#include <string_view>

#include <prometheus/text_serializer.h>

#include "agent/config.h"
#include "agent/metrics_server.h"

namespace ta::agent {

namespace {

#define TA_METRICS_NAME(name, help) #name,
constexpr std::string_view kFamilyNames[] = {
    TA_METRIC_FAMILIES(TA_METRICS_NAME, TA_METRICS_NAME, TA_METRICS_NAME)};
#undef TA_METRICS_NAME
static_assert(std::is_sorted(std::begin(kFamilyNames), std::end(kFamilyNames)),
              "keep TA_METRIC_FAMILIES sorted by name");

// Label names of the HTTP metrics: the OTel attribute names with dots as underscores.
constexpr std::string_view kMethodLabel = "http_request_method";
constexpr std::string_view kRouteLabel = "http_route";
constexpr std::string_view kStatusLabel = "http_response_status_code";
constexpr std::string_view kPortLabel = "server_port";
constexpr std::string_view kSchemeLabel = "url_scheme";
constexpr std::string_view kVersionLabel = "network_protocol_version";

// Direction label values of the TCP and WebSocket metrics.
constexpr const char* DirectionName(analyzer::Direction dir) {
  return dir == analyzer::Direction::kClientToServer ? "client_to_server" : "server_to_client";
}
constexpr analyzer::Direction kDirections[] = {analyzer::Direction::kClientToServer,
                                               analyzer::Direction::kServerToClient};
constexpr analyzer::TcpCloseReason kCloseReasons[] = {
    analyzer::TcpCloseReason::kFin, analyzer::TcpCloseReason::kReset,
    analyzer::TcpCloseReason::kExpired, analyzer::TcpCloseReason::kEvicted};

double Seconds(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / 1e9 : 0.0;
}

}  // namespace

std::string_view FamilyHelp(std::string_view name) {
#define TA_METRICS_HELP(family, help) \
  if (name == #family) return help;
  TA_METRIC_FAMILIES(TA_METRICS_HELP, TA_METRICS_HELP, TA_METRICS_HELP)
#undef TA_METRICS_HELP
  return {};
}

std::string_view BuildVersion() {
#ifdef TA_VERSION
  return TA_VERSION;
#else
  return "unknown";
#endif
}

void Metrics::SnapshotCounter::Update(uint64_t now) {
  // A snapshot below the previous one means the source restarted (the BPF object was reloaded,
  // or a new analyzer took over): everything it reports now is new.
  uint64_t delta = now >= last ? now - last : now;
  if (delta != 0) counter->Increment(static_cast<double>(delta));
  last = now;
}

#define TA_METRICS_INIT_COUNTER(name, help) \
  , name##_(prometheus::BuildCounter().Name(#name).Help(help).Register(*registry_))
#define TA_METRICS_INIT_GAUGE(name, help) \
  , name##_(prometheus::BuildGauge().Name(#name).Help(help).Register(*registry_))
#define TA_METRICS_INIT_HISTOGRAM(name, help) \
  , name##_(prometheus::BuildHistogram().Name(#name).Help(help).Register(*registry_))

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()) TA_METRIC_FAMILIES(
          TA_METRICS_INIT_COUNTER, TA_METRICS_INIT_GAUGE, TA_METRICS_INIT_HISTOGRAM) {
  traffic_analyzer_build_info_.Add({{"version", std::string(BuildVersion())}}).Set(1);

  for (size_t i = 0; i < analyzer::anomaly::kDetectorKinds; ++i) {
    const std::string detector(
        analyzer::anomaly::DetectorName(static_cast<analyzer::anomaly::DetectorKind>(i)));
    AnomalySeries& series = anomaly_[i];
    for (auto severity : {analyzer::anomaly::Severity::kWarning,
                          analyzer::anomaly::Severity::kCritical}) {
      series.fired[static_cast<size_t>(severity)] = &traffic_analyzer_anomalies_total_.Add(
          {{"detector", detector},
           {"severity", std::string(analyzer::anomaly::SeverityName(severity))}});
    }
    series.active = &traffic_analyzer_anomalies_active_.Add({{"detector", detector}});
    series.learned =
        &traffic_analyzer_anomaly_baseline_learned_ratio_.Add({{"detector", detector}});
    series.score = &traffic_analyzer_anomaly_score_ratio_.Add({{"detector", detector}});
  }
  anomaly_late_ = SnapshotCounter{&traffic_analyzer_anomaly_late_events_total_.Add({})};
  // The sinks the agent has (agent/alerts/), exported from the start whether enabled or not.
  for (const char* sink : {"jsonl", "alertmanager", "syslog"}) {
    alert_sinks_.emplace(sink, AlertSeries(sink));
  }
  // Counted by MetricsServer (agent/metrics_server.cc) on this registry; exported at 0 from
  // the start so an alert on its rate has a series before the first refusal.
  for (const char* reason : {"address", "auth"}) {
    traffic_analyzer_metrics_requests_refused_total_.Add({{"reason", reason}});
  }
  for (const char* result : {"saved", "save_failed", "restored", "set_aside"}) {
    traffic_analyzer_state_snapshots_total_.Add({{"result", result}});
  }
  for (size_t i = 0; i < TA_XDP_STAT_MAX; ++i) {
    xdp_stats_[i] = SnapshotCounter{
        &traffic_analyzer_xdp_packets_total_.Add({{"result", std::string(XdpStatName(i))}})};
  }
  {
    size_t i = 0;
    for (const char* change : {"added", "deleted", "expired", "rejected"}) {
      rule_changes_[i++] =
          SnapshotCounter{&traffic_analyzer_rule_changes_total_.Add({{"change", change}})};
    }
    i = 0;
    for (const char* result : {"made", "held_back", "already_ruled", "settling"}) {
      policy_results_[i++] =
          SnapshotCounter{&traffic_analyzer_policy_decisions_total_.Add({{"result", result}})};
    }
    for (const char* kind : {"drop", "rate_limit", "syn_throttle", "allow"}) {
      for (const char* origin : {"detector", "operator", "config"}) {
        rules_in_force_[{kind, origin}] =
            &traffic_analyzer_rules_.Add({{"kind", kind}, {"origin", origin}});
      }
    }
  }

  auto received = [this](const char* kind) {
    return SnapshotCounter{&traffic_analyzer_events_received_total_.Add({{"kind", kind}})};
  };
  analyzer_.conn_open = received("conn_open");
  analyzer_.conn_established = received("conn_established");
  analyzer_.conn_close = received("conn_close");
  analyzer_.payload = received("payload");

  auto lost = [this](const char* stage) {
    return SnapshotCounter{&traffic_analyzer_events_lost_total_.Add({{"stage", stage}})};
  };
  kernel_.lost_ringbuf = lost("ringbuf");
  analyzer_.lost_reassembly = lost("reassembly");
  analyzer_.lost_parser = lost("parser");

  analyzer_.gap_bytes =
      SnapshotCounter{&traffic_analyzer_lost_bytes_total_.Add({{"stage", "reassembly"}})};
  analyzer_.parser_discarded_bytes =
      SnapshotCounter{&traffic_analyzer_lost_bytes_total_.Add({{"stage", "parser"}})};
  analyzer_.uncaptured_bytes = SnapshotCounter{&traffic_analyzer_uncaptured_bytes_total_.Add({})};
  analyzer_.unanswered_requests = SnapshotCounter{
      &traffic_analyzer_http_unpaired_messages_total_.Add({{"message", "request"}})};
  analyzer_.orphan_responses = SnapshotCounter{
      &traffic_analyzer_http_unpaired_messages_total_.Add({{"message", "response"}})};
  analyzer_.http1_parse_errors =
      SnapshotCounter{&traffic_analyzer_parse_errors_total_.Add({{"protocol", "http1"}})};
  analyzer_.http1_truncated_messages = SnapshotCounter{
      &traffic_analyzer_http_truncated_messages_total_.Add({{"protocol", "http1"}})};
  analyzer_.route_overflows =
      SnapshotCounter{&traffic_analyzer_http_route_overflows_total_.Add({})};
  analyzer_.evicted_table_full =
      SnapshotCounter{&traffic_analyzer_connections_evicted_total_.Add({{"reason", "table_full"}})};
  analyzer_.evicted_idle_timeout = SnapshotCounter{
      &traffic_analyzer_connections_evicted_total_.Add({{"reason", "idle_timeout"}})};
  analyzer_.connections_tracked = &traffic_analyzer_connections_tracked_.Add({});

  auto detected = [this](const char* protocol) {
    return SnapshotCounter{
        &traffic_analyzer_protocol_detections_total_.Add({{"protocol", protocol}})};
  };
  analyzer_.detected_http1 = detected("http1");
  analyzer_.detected_http2 = detected("http2");
  analyzer_.detected_tls = detected("tls");
  analyzer_.detected_websocket = detected("websocket");
  analyzer_.detected_unknown = detected("unknown");
  analyzer_.http2_parse_errors =
      SnapshotCounter{&traffic_analyzer_parse_errors_total_.Add({{"protocol", "http2"}})};
  analyzer_.websocket_parse_errors =
      SnapshotCounter{&traffic_analyzer_parse_errors_total_.Add({{"protocol", "websocket"}})};
  // Several analyzer totals feed one series: each SnapshotCounter adds its own increments.
  analyzer_.websocket_framing_lost =
      SnapshotCounter{&traffic_analyzer_events_lost_total_.Add({{"stage", "parser"}})};
  analyzer_.websocket_truncated = SnapshotCounter{
      &traffic_analyzer_http_truncated_messages_total_.Add({{"protocol", "websocket"}})};
  analyzer_.http2_malformed =
      SnapshotCounter{&traffic_analyzer_parse_errors_total_.Add({{"protocol", "http2"}})};
  analyzer_.grpc_counts_lost =
      SnapshotCounter{&traffic_analyzer_grpc_message_counts_inexact_total_.Add({})};
  analyzer_.tls_hello_invalid = SnapshotCounter{
      &traffic_analyzer_tls_client_hellos_unparsed_total_.Add({{"reason", "invalid"}})};
  analyzer_.tls_hello_incomplete = SnapshotCounter{
      &traffic_analyzer_tls_client_hellos_unparsed_total_.Add({{"reason", "incomplete"}})};
  analyzer_.tls_data = received("tls_data");
  auto tls_sessions = [this](const char* outcome) {
    return SnapshotCounter{&traffic_analyzer_tls_sessions_total_.Add({{"outcome", outcome}})};
  };
  analyzer_.tls_parsed = tls_sessions("parsed");
  analyzer_.tls_unparsed = tls_sessions("unparsed");
  analyzer_.tls_unmapped = tls_sessions("unmapped");
  analyzer_.http2_undecodable =
      SnapshotCounter{&traffic_analyzer_http2_undecodable_header_blocks_total_.Add({})};
  analyzer_.http2_resets = SnapshotCounter{&traffic_analyzer_http2_stream_resets_total_.Add({})};
  analyzer_.http2_goaways = SnapshotCounter{&traffic_analyzer_http2_goaway_frames_total_.Add({})};
  analyzer_.http2_unanswered = SnapshotCounter{
      &traffic_analyzer_http_unpaired_messages_total_.Add({{"message", "request"}})};

  request_body_unknown_ =
      &traffic_analyzer_http_body_size_unknown_total_.Add({{"message", "request"}});
  response_body_unknown_ =
      &traffic_analyzer_http_body_size_unknown_total_.Add({{"message", "response"}});

  // Every kernel counter has a series. The switch has no default, so a new enum ta_stat value
  // fails the build (-Wswitch) until it is mapped here and documented in docs/metrics.md.
  for (int i = 0; i < TA_STAT_MAX; ++i) {
    prometheus::Counter* counter = nullptr;
    switch (static_cast<ta_stat>(i)) {
      case TA_STAT_PACKETS:
        counter = &traffic_analyzer_kernel_packets_total_.Add({});
        break;
      case TA_STAT_PAYLOAD_EVENTS:
        counter = &traffic_analyzer_kernel_events_submitted_total_.Add({{"kind", "payload"}});
        break;
      case TA_STAT_CONN_EVENTS:
        counter = &traffic_analyzer_kernel_events_submitted_total_.Add({{"kind", "conn"}});
        break;
      case TA_STAT_RINGBUF_DROP_PAYLOAD:
        counter = &traffic_analyzer_kernel_events_dropped_total_.Add({{"kind", "payload"}});
        break;
      case TA_STAT_RINGBUF_DROP_CONN:
        counter = &traffic_analyzer_kernel_events_dropped_total_.Add({{"kind", "conn"}});
        break;
      case TA_STAT_CONN_UPDATE_FAILED:
        counter = &traffic_analyzer_kernel_conn_update_failures_total_.Add({});
        break;
      case TA_STAT_MALFORMED:
        counter = &traffic_analyzer_kernel_packets_skipped_total_.Add({{"reason", "malformed"}});
        break;
      case TA_STAT_IPV6_EXT_UNSUPPORTED:
        counter = &traffic_analyzer_kernel_packets_skipped_total_.Add(
            {{"reason", "ipv6_ext_unsupported"}});
        break;
      case TA_STAT_FRAGMENTS:
        counter = &traffic_analyzer_kernel_packets_skipped_total_.Add({{"reason", "fragment"}});
        break;
      case TA_STAT_PAYLOAD_LOAD_FAILED:
        counter = &traffic_analyzer_kernel_payload_load_failures_total_.Add({});
        break;
      case TA_STAT_MAX:
        break;
    }
    kernel_.by_stat[static_cast<size_t>(i)] = SnapshotCounter{counter};
  }

  invalid_records_ = SnapshotCounter{&traffic_analyzer_records_invalid_total_.Add({})};

  // Every TLS kernel counter has a series; the switch fails the build for a new value.
  for (int i = 0; i < TA_TLS_STAT_MAX; ++i) {
    prometheus::Counter* counter = nullptr;
    auto outcome = [this](const char* name) {
      return &traffic_analyzer_tls_kernel_calls_total_.Add({{"outcome", name}});
    };
    switch (static_cast<ta_tls_stat>(i)) {
      case TA_TLS_STAT_RECORDS:
        counter = outcome("recorded");
        break;
      case TA_TLS_STAT_RINGBUF_DROP:
        counter = outcome("ringbuf_full");
        break;
      case TA_TLS_STAT_READ_FAILED:
        counter = outcome("read_failed");
        break;
      case TA_TLS_STAT_UNMAPPED:
        counter = outcome("unmapped");
        break;
      case TA_TLS_STAT_CALLS_LOST:
        counter = outcome("state_table_full");
        break;
      case TA_TLS_STAT_EXEC_DROP:
        counter = &traffic_analyzer_kernel_events_dropped_total_.Add({{"kind", "exec"}});
        break;
      case TA_TLS_STAT_MAX:
        break;
    }
    tls_kernel_[static_cast<size_t>(i)] = SnapshotCounter{counter};
  }
  tls_lost_ringbuf_ =
      SnapshotCounter{&traffic_analyzer_events_lost_total_.Add({{"stage", "ringbuf"}})};
}

#undef TA_METRICS_INIT_COUNTER
#undef TA_METRICS_INIT_GAUGE
#undef TA_METRICS_INIT_HISTOGRAM

void Metrics::OnHttpExchange(const analyzer::HttpExchange& exchange) {
  if (exchange.role == analyzer::HttpRole::kClient) {
    OnClientExchange(exchange);
    return;
  }
  const std::string status = std::to_string(exchange.status);
  const std::string port = std::to_string(exchange.flow.server_port);
  // Label values joined by a byte that cannot occur in any of them (methods, routes and
  // versions are printable ASCII after parsing).
  std::string key;
  key.reserve(exchange.method.size() + exchange.route.size() + exchange.scheme.size() +
              exchange.protocol_version.size() + status.size() + port.size() + 6);
  for (const std::string* part : {&exchange.method, &exchange.route, &status, &port,
                                  &exchange.scheme, &exchange.protocol_version}) {
    key += *part;
    key += '\x1f';
  }

  ExchangeSeries series;
  {
    std::lock_guard lock(exchange_mu_);
    auto it = exchange_series_.find(key);
    if (it == exchange_series_.end()) {
      const prometheus::Labels labels = {
          {std::string(kMethodLabel), exchange.method},
          {std::string(kRouteLabel), exchange.route},
          {std::string(kStatusLabel), status},
          {std::string(kPortLabel), port},
          {std::string(kSchemeLabel), exchange.scheme},
          {std::string(kVersionLabel), exchange.protocol_version},
      };
      ExchangeSeries created{
          &http_server_request_duration_seconds_.Add(labels, kDurationBucketsSeconds),
          &http_server_request_body_size_bytes_.Add(labels, kBodySizeBucketsBytes),
          &http_server_response_body_size_bytes_.Add(labels, kBodySizeBucketsBytes)};
      it = exchange_series_.emplace(std::move(key), created).first;
    }
    series = it->second;
  }

  // Histograms lock themselves; the series map only ever grows, so the pointers stay valid.
  series.duration->Observe(exchange.DurationSeconds());
  if (exchange.request_body_bytes) {
    series.request_body->Observe(static_cast<double>(*exchange.request_body_bytes));
  } else {
    request_body_unknown_->Increment();
  }
  if (exchange.response_body_bytes) {
    series.response_body->Observe(static_cast<double>(*exchange.response_body_bytes));
  } else {
    response_body_unknown_->Increment();
  }
}

// OTel http.client.request.duration: the server is named by address and port (a client has no
// route; url.template is opt-in). The address is the peer's IP as text.
void Metrics::OnClientExchange(const analyzer::HttpExchange& exchange) {
  char address[INET6_ADDRSTRLEN] = "";
  ::inet_ntop(exchange.flow.family == 10 ? AF_INET6 : AF_INET, exchange.flow.server_addr.data(),
              address, sizeof(address));
  const std::string status = std::to_string(exchange.status);
  const std::string port = std::to_string(exchange.flow.server_port);
  std::string key = exchange.method + '\x1f' + status + '\x1f' + address + '\x1f' + port +
                    '\x1f' + exchange.scheme + '\x1f' + exchange.protocol_version;
  prometheus::Histogram* histogram;
  {
    std::lock_guard lock(client_mu_);
    auto it = client_series_.find(key);
    if (it == client_series_.end()) {
      const prometheus::Labels labels = {{std::string(kMethodLabel), exchange.method},
                                         {std::string(kStatusLabel), status},
                                         {"server_address", address},
                                         {std::string(kPortLabel), port},
                                         {std::string(kSchemeLabel), exchange.scheme},
                                         {std::string(kVersionLabel), exchange.protocol_version}};
      it = client_series_
               .emplace(std::move(key), &http_client_request_duration_seconds_.Add(
                                            labels, kDurationBucketsSeconds))
               .first;
    }
    histogram = it->second;
  }
  histogram->Observe(exchange.DurationSeconds());
}

void Metrics::OnGrpcCall(const analyzer::GrpcCall& call) {
  // Calls seen from the calling process are HTTP client exchanges already; rpc_server_* is the
  // server's view only.
  if (call.client_side) return;
  const std::string status = call.status ? std::to_string(*call.status) : "unknown";
  const std::string port = std::to_string(call.flow.server_port);
  std::string key = call.service + '\x1f' + call.method + '\x1f' + status + '\x1f' + port;
  GrpcSeries series;
  {
    std::lock_guard lock(grpc_mu_);
    auto it = grpc_series_.find(key);
    if (it == grpc_series_.end()) {
      const prometheus::Labels call_labels = {{"rpc_system", "grpc"},
                                              {"rpc_service", call.service},
                                              {"rpc_method", call.method},
                                              {"rpc_grpc_status_code", status},
                                              {std::string(kPortLabel), port}};
      // Message counts do not depend on the status (OTel gives them no status attribute).
      const prometheus::Labels message_labels = {{"rpc_system", "grpc"},
                                                 {"rpc_service", call.service},
                                                 {"rpc_method", call.method},
                                                 {std::string(kPortLabel), port}};
      GrpcSeries created{
          &rpc_server_duration_seconds_.Add(call_labels, kDurationBucketsSeconds),
          &rpc_server_requests_per_rpc_.Add(message_labels, kMessagesPerRpcBuckets),
          &rpc_server_responses_per_rpc_.Add(message_labels, kMessagesPerRpcBuckets)};
      it = grpc_series_.emplace(std::move(key), created).first;
    }
    series = it->second;
  }
  series.duration->Observe(call.DurationSeconds());
  series.requests->Observe(static_cast<double>(call.request_messages));
  series.responses->Observe(static_cast<double>(call.response_messages));
}

void Metrics::OnWebSocketMessage(const analyzer::WebSocketMessage& message) {
  const uint32_t key = static_cast<uint32_t>(message.flow.server_port) << 8 |
                       static_cast<uint32_t>(message.dir) << 4 |
                       static_cast<uint32_t>(message.type);
  WebSocketSeries series;
  {
    std::lock_guard lock(websocket_mu_);
    auto it = websocket_series_.find(key);
    if (it == websocket_series_.end()) {
      const prometheus::Labels labels = {
          {std::string(kPortLabel), std::to_string(message.flow.server_port)},
          {"direction", DirectionName(message.dir)},
          {"type", analyzer::ToString(message.type)}};
      WebSocketSeries created{&websocket_messages_total_.Add(labels),
                              &websocket_payload_bytes_total_.Add(labels)};
      it = websocket_series_.emplace(key, created).first;
    }
    series = it->second;
  }
  series.messages->Increment();
  series.bytes->Increment(static_cast<double>(message.payload_bytes));
  if (message.type == analyzer::WebSocketMessageType::kClose) {
    // Close frames are few: look the series up each time rather than caching per code.
    websocket_close_frames_total_
        .Add({{std::string(kPortLabel), std::to_string(message.flow.server_port)},
              {"direction", DirectionName(message.dir)},
              {"code", message.close_code ? std::to_string(*message.close_code) : "none"}})
        .Increment();
  }
}

void Metrics::OnWebSocketSession(const analyzer::WebSocketSession& session) {
  websocket_session_duration_seconds_
      .Add({{std::string(kPortLabel), std::to_string(session.flow.server_port)},
            {"close_code", session.close_code ? std::to_string(*session.close_code) : "none"}},
           kSessionBucketsSeconds)
      .Observe(session.DurationSeconds());
}

void Metrics::OnTlsClientHello(const analyzer::TlsClientHello& hello) {
  std::string name = hello.server_name_invalid ? "_INVALID"
                     : hello.server_name.empty() ? "none"
                                                 : hello.server_name;
  {
    std::lock_guard lock(tls_mu_);
    auto& names = tls_server_names_[hello.flow.server_port];
    if (!names.contains(name)) {
      if (names.size() >= kMaxServerNamesPerPort) {
        name = "_OTHER";
      } else {
        names.insert(name);
      }
    }
  }
  tls_client_hellos_total_
      .Add({{std::string(kPortLabel), std::to_string(hello.flow.server_port)},
            {"tls_server_name", name},
            {"tls_protocol_version", hello.version},
            {"tls_alpn", hello.alpn.empty() ? "none" : hello.alpn.front()}})
      .Increment();
}

Metrics::TcpSeries& Metrics::Tcp(uint16_t port) {
  auto it = tcp_series_.find(port);
  if (it != tcp_series_.end()) return it->second;
  const std::string p = std::to_string(port);
  const prometheus::Labels labels = {{std::string(kPortLabel), p}};
  TcpSeries created{&tcp_connections_opened_total_.Add(labels),
                    &tcp_connections_active_.Add(labels),
                    &tcp_handshake_rtt_seconds_.Add(labels, kHandshakeBucketsSeconds),
                    {},
                    {},
                    {}};
  for (analyzer::TcpCloseReason reason : kCloseReasons) {
    created.closed[static_cast<size_t>(reason)] = &tcp_connections_closed_total_.Add(
        {{std::string(kPortLabel), p}, {"reason", analyzer::ToString(reason)}});
  }
  for (analyzer::Direction dir : kDirections) {
    const prometheus::Labels by_dir = {{std::string(kPortLabel), p},
                                       {"direction", DirectionName(dir)}};
    created.bytes[static_cast<size_t>(dir)] = &tcp_bytes_total_.Add(by_dir);
    created.retransmits[static_cast<size_t>(dir)] = &tcp_retransmitted_segments_total_.Add(by_dir);
  }
  return tcp_series_.emplace(port, created).first->second;
}

void Metrics::OnTcpOpened(const analyzer::FlowKey& flow, uint64_t /*ts_ns*/,
                          bool /*mid_stream*/) {
  std::lock_guard lock(tcp_mu_);
  TcpSeries& series = Tcp(flow.server_port);
  series.opened->Increment();
  series.active->Increment();
}

void Metrics::OnTcpEstablished(const analyzer::ConnEstablishedEvent& ev) {
  std::lock_guard lock(tcp_mu_);
  Tcp(ev.flow.server_port).handshake->Observe(Seconds(ev.syn_ns, ev.ack_ns));
}

void Metrics::OnTcpEnded(const analyzer::TcpConnectionEnd& end) {
  std::lock_guard lock(tcp_mu_);
  TcpSeries& series = Tcp(end.flow.server_port);
  series.active->Decrement();
  series.closed[static_cast<size_t>(end.reason)]->Increment();
  for (analyzer::Direction dir : kDirections) {
    const auto d = static_cast<size_t>(dir);
    series.bytes[d]->Increment(static_cast<double>(end.bytes[d]));
    series.retransmits[d]->Increment(static_cast<double>(end.retransmits[d]));
  }
}

void Metrics::UpdateAnalyzerStats(const analyzer::AnalyzerStats& s) {
  std::lock_guard lock(snapshot_mu_);
  analyzer_.conn_open.Update(s.events_conn_open);
  analyzer_.conn_established.Update(s.events_conn_established);
  analyzer_.conn_close.Update(s.events_conn_close);
  analyzer_.payload.Update(s.events_segment);
  analyzer_.lost_reassembly.Update(s.reassembly_overflow_segments);
  analyzer_.lost_parser.Update(s.parser_resyncs);
  analyzer_.gap_bytes.Update(s.reassembly_gap_bytes);
  analyzer_.parser_discarded_bytes.Update(s.parser_discarded_bytes);
  analyzer_.uncaptured_bytes.Update(s.uncaptured_bytes);
  analyzer_.unanswered_requests.Update(s.unanswered_requests);
  analyzer_.orphan_responses.Update(s.orphan_responses);
  analyzer_.http1_parse_errors.Update(s.http1_parse_errors);
  analyzer_.http1_truncated_messages.Update(s.http1_truncated_messages);
  analyzer_.route_overflows.Update(s.route_overflows);
  analyzer_.evicted_table_full.Update(s.connections_evicted);
  analyzer_.evicted_idle_timeout.Update(s.connections_expired);
  analyzer_.connections_tracked->Set(static_cast<double>(s.connections_tracked));
  analyzer_.detected_http1.Update(s.detected_http1);
  analyzer_.detected_http2.Update(s.detected_http2);
  analyzer_.detected_tls.Update(s.detected_tls);
  analyzer_.detected_websocket.Update(s.detected_websocket);
  analyzer_.detected_unknown.Update(s.detected_unknown);
  analyzer_.http2_parse_errors.Update(s.http2.parse_errors);
  analyzer_.http2_undecodable.Update(s.http2.undecodable_header_blocks);
  analyzer_.http2_resets.Update(s.http2.streams_reset);
  analyzer_.http2_goaways.Update(s.http2.goaways);
  analyzer_.http2_unanswered.Update(s.http2.unanswered_streams);
  analyzer_.websocket_parse_errors.Update(s.websocket.parse_errors);
  analyzer_.websocket_framing_lost.Update(s.websocket.framing_lost);
  analyzer_.websocket_truncated.Update(s.websocket.truncated_messages);
  analyzer_.http2_malformed.Update(s.http2.malformed_messages);
  analyzer_.grpc_counts_lost.Update(s.http2.grpc_message_counts_lost);
  analyzer_.tls_hello_invalid.Update(s.tls_client_hello_invalid);
  analyzer_.tls_data.Update(s.events_tls_data);
  analyzer_.tls_parsed.Update(s.tls_sessions);
  analyzer_.tls_unparsed.Update(s.tls_sessions_unparsed);
  analyzer_.tls_unmapped.Update(s.tls_sessions_unmapped);
  analyzer_.tls_hello_incomplete.Update(s.tls_client_hello_incomplete);
}

void Metrics::UpdateKernelStats(const std::array<uint64_t, TA_STAT_MAX>& snapshot) {
  std::lock_guard lock(snapshot_mu_);
  for (size_t i = 0; i < snapshot.size(); ++i) kernel_.by_stat[i].Update(snapshot[i]);
  kernel_.lost_ringbuf.Update(snapshot[TA_STAT_RINGBUF_DROP_PAYLOAD] +
                              snapshot[TA_STAT_RINGBUF_DROP_CONN]);
}

void Metrics::UpdateTlsKernelStats(const std::array<uint64_t, TA_TLS_STAT_MAX>& snapshot) {
  std::lock_guard lock(snapshot_mu_);
  for (size_t i = 0; i < snapshot.size(); ++i) tls_kernel_[i].Update(snapshot[i]);
  tls_lost_ringbuf_.Update(snapshot[TA_TLS_STAT_RINGBUF_DROP] + snapshot[TA_TLS_STAT_EXEC_DROP]);
}

void Metrics::UpdateTlsCoverage(const std::vector<TlsCoverage>& entries) {
  std::lock_guard lock(coverage_mu_);
  std::map<std::string, prometheus::Gauge*> next;
  for (const TlsCoverage& e : entries) {
    const std::string pid = std::to_string(e.pid);
    std::string key = pid + '\x1f' + e.comm + '\x1f' + e.library + '\x1f' + e.reason;
    prometheus::Gauge* gauge;
    if (auto it = coverage_.find(key); it != coverage_.end()) {
      gauge = it->second;
      coverage_.erase(it);
    } else {
      gauge = &traffic_analyzer_tls_hooked_.Add(
          {{"pid", pid}, {"comm", e.comm}, {"library", e.library}, {"reason", e.reason}});
    }
    gauge->Set(e.hooked ? 1 : 0);
    next.emplace(std::move(key), gauge);
  }
  // Processes that are gone leave the exposition.
  for (auto& [key, gauge] : coverage_) traffic_analyzer_tls_hooked_.Remove(gauge);
  coverage_ = std::move(next);
}

void Metrics::CountAnomaly(const analyzer::anomaly::Anomaly& anomaly) {
  if (anomaly.state != analyzer::anomaly::AnomalyState::kFiring) return;
  const auto detector = static_cast<size_t>(anomaly.detector);
  if (detector >= anomaly_.size()) return;
  anomaly_[detector].fired[static_cast<size_t>(anomaly.severity)]->Increment();
}

void Metrics::UpdateAnomalyStatus(const analyzer::anomaly::EngineStatus& status) {
  for (const analyzer::anomaly::DetectorStatus& d : status.detectors) {
    const auto i = static_cast<size_t>(d.kind);
    if (i >= anomaly_.size()) continue;
    anomaly_[i].active->Set(static_cast<double>(d.active));
    anomaly_[i].learned->Set(d.enabled ? d.learned_fraction : 0.0);
    anomaly_[i].score->Set(d.max_score);
  }
  std::lock_guard lock(snapshot_mu_);
  anomaly_late_.Update(status.late_events);
}

void Metrics::UpdateAlertSinks(const std::vector<AlertSinkCounts>& sinks) {
  std::lock_guard lock(alert_mu_);
  for (const AlertSinkCounts& s : sinks) {
    auto it = alert_sinks_.find(s.sink);
    if (it == alert_sinks_.end()) it = alert_sinks_.emplace(s.sink, AlertSeries(s.sink)).first;
    it->second[0].Update(s.sent);
    it->second[1].Update(s.failed);
    it->second[2].Update(s.dropped);
  }
}

std::array<Metrics::SnapshotCounter, 3> Metrics::AlertSeries(const std::string& sink) {
  const prometheus::Labels labels{{"sink", sink}};
  return {SnapshotCounter{&traffic_analyzer_alerts_sent_total_.Add(labels)},
          SnapshotCounter{&traffic_analyzer_alerts_failed_total_.Add(labels)},
          SnapshotCounter{&traffic_analyzer_alerts_dropped_total_.Add(labels)}};
}

void Metrics::CountSnapshot(std::string_view result) {
  traffic_analyzer_state_snapshots_total_.Add({{"result", std::string(result)}}).Increment();
}

std::string_view Metrics::XdpStatName(size_t stat) {
  static constexpr std::string_view kNames[] = {
      "seen",          "passed",     "dropped",          "would_drop",
      "fail_open",     "not_ip",     "malformed",        "fragment",
      "ipv6_ext_unsupported", "allowlisted", "expired_rule", "bucket_new_source",
      "bucket_new_source_empty", "bucket_insert_failed", "cas_contended", "syn_admitted",
      "syn_denied"};
  static_assert(std::size(kNames) == TA_XDP_STAT_MAX, "one name per enum ta_xdp_stat");
  return stat < std::size(kNames) ? kNames[stat] : "unknown";
}

void Metrics::UpdateEnforcement(const EnforcementSnapshot& snap) {
  std::lock_guard lock(enforcement_mu_);
  for (size_t i = 0; i < TA_XDP_STAT_MAX; ++i) xdp_stats_[i].Update(snap.xdp[i]);
  rule_changes_[0].Update(snap.rules_added);
  rule_changes_[1].Update(snap.rules_deleted);
  rule_changes_[2].Update(snap.rules_expired);
  rule_changes_[3].Update(snap.rules_rejected);
  policy_results_[0].Update(snap.decisions);
  policy_results_[1].Update(snap.held_back);
  policy_results_[2].Update(snap.already_ruled);
  policy_results_[3].Update(snap.settling);

  std::map<std::pair<std::string, std::string>, double> in_force;
  std::map<uint64_t, RuleSeries> next;
  for (const RuleSample& r : snap.rules) {
    in_force[{r.kind, r.origin}] += 1;
    RuleSeries series;
    if (auto it = rule_series_.find(r.id); it != rule_series_.end()) {
      series = it->second;
      rule_series_.erase(it);
    } else {
      size_t i = 0;
      for (const char* outcome : {"matched", "dropped", "would_drop"}) {
        const prometheus::Labels labels{{"rule", std::to_string(r.id)},
                                        {"kind", r.kind},
                                        {"origin", r.origin},
                                        {"outcome", outcome}};
        series.packets[i] = SnapshotCounter{&traffic_analyzer_rule_packets_total_.Add(labels)};
        series.bytes[i] = SnapshotCounter{&traffic_analyzer_rule_bytes_total_.Add(labels)};
        ++i;
      }
    }
    const ta_xdp_rule_counters& c = r.counters;
    series.packets[0].Update(c.matched_packets);
    series.packets[1].Update(c.dropped_packets);
    series.packets[2].Update(c.would_drop_packets);
    series.bytes[0].Update(c.matched_bytes);
    series.bytes[1].Update(c.dropped_bytes);
    series.bytes[2].Update(c.would_drop_bytes);
    next.emplace(r.id, series);
  }
  // Rules that are gone leave the exposition (their totals stay in Prometheus's history).
  for (auto& [id, series] : rule_series_) {
    for (size_t i = 0; i < 3; ++i) {
      traffic_analyzer_rule_packets_total_.Remove(series.packets[i].counter);
      traffic_analyzer_rule_bytes_total_.Remove(series.bytes[i].counter);
    }
  }
  rule_series_ = std::move(next);
  for (auto& [key, gauge] : rules_in_force_) {
    auto it = in_force.find(key);
    gauge->Set(it == in_force.end() ? 0.0 : it->second);
  }

  std::map<uint16_t, prometheus::Gauge*> syn;
  for (const auto& [port, ratio] : snap.syn_admit) {
    prometheus::Gauge* gauge;
    if (auto it = syn_admit_.find(port); it != syn_admit_.end()) {
      gauge = it->second;
      syn_admit_.erase(it);
    } else {
      gauge = &traffic_analyzer_syn_admit_ratio_.Add({{"server_port", std::to_string(port)}});
    }
    gauge->Set(ratio);
    syn.emplace(port, gauge);
  }
  for (auto& [port, gauge] : syn_admit_) traffic_analyzer_syn_admit_ratio_.Remove(gauge);
  syn_admit_ = std::move(syn);

  std::map<std::string, prometheus::Gauge*> attached;
  for (const AttachedSample& a : snap.attached) {
    const std::string key = a.ifname + "\n" + a.mode;
    prometheus::Gauge* gauge;
    if (auto it = xdp_attached_.find(key); it != xdp_attached_.end()) {
      gauge = it->second;
      xdp_attached_.erase(it);
    } else {
      gauge = &traffic_analyzer_xdp_attached_.Add({{"interface", a.ifname}, {"mode", a.mode}});
    }
    gauge->Set(1);
    attached.emplace(key, gauge);
  }
  for (auto& [key, gauge] : xdp_attached_) traffic_analyzer_xdp_attached_.Remove(gauge);
  xdp_attached_ = std::move(attached);
}

void Metrics::UpdateDecodeStats(uint64_t invalid_records) {
  std::lock_guard lock(snapshot_mu_);
  invalid_records_.Update(invalid_records);
}

std::string Metrics::SerializeText() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace ta::agent
