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

}  // namespace

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

  auto received = [this](const char* kind) {
    return SnapshotCounter{&traffic_analyzer_events_received_total_.Add({{"kind", kind}})};
  };
  analyzer_.conn_open = received("conn_open");
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
}

#undef TA_METRICS_INIT_COUNTER
#undef TA_METRICS_INIT_GAUGE
#undef TA_METRICS_INIT_HISTOGRAM

void Metrics::OnHttpExchange(const analyzer::HttpExchange& exchange) {
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

void Metrics::UpdateAnalyzerStats(const analyzer::AnalyzerStats& s) {
  std::lock_guard lock(snapshot_mu_);
  analyzer_.conn_open.Update(s.events_conn_open);
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
}

void Metrics::UpdateKernelStats(const std::array<uint64_t, TA_STAT_MAX>& snapshot) {
  std::lock_guard lock(snapshot_mu_);
  for (size_t i = 0; i < snapshot.size(); ++i) kernel_.by_stat[i].Update(snapshot[i]);
  kernel_.lost_ringbuf.Update(snapshot[TA_STAT_RINGBUF_DROP_PAYLOAD] +
                              snapshot[TA_STAT_RINGBUF_DROP_CONN]);
}

void Metrics::UpdateDecodeStats(uint64_t invalid_records) {
  std::lock_guard lock(snapshot_mu_);
  invalid_records_.Update(invalid_records);
}

std::string Metrics::SerializeText() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

namespace {

// Binds (and releases) a socket on the address first, so a failure has an errno to explain it:
// civetweb only reports "possible problem binding to port". SO_REUSEADDR as civetweb sets it,
// so a port in TIME_WAIT is not mistaken for one in use.
int ProbeBind(const ListenAddress& address) {
  int fd = ::socket(address.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (address.ipv6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(address.port);
    ::inet_pton(AF_INET6, address.host.c_str(), &sa.sin6_addr);
    rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(address.port);
    ::inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr);
    rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  }
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace

Result<std::unique_ptr<prometheus::Exposer>> StartExposer(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry) {
  const std::string what = "cannot serve /metrics on " + listen + " (metrics.listen)";
  auto address = ParseListenAddress(listen);
  if (!address.ok()) return Error{0, what + ": " + address.error().message};

  if (int err = ProbeBind(*address); err != 0) {
    std::string fix;
    switch (err) {
      case EADDRINUSE:
        fix =
            "another process listens there (port 9100 is also node_exporter's default); stop "
            "it or set metrics.listen to a free port, e.g. " +
            std::string(address->ipv6 ? "[" + address->host + "]" : address->host) + ":" +
            std::to_string(address->port == 65535 ? 65534 : address->port + 1);
        break;
      case EADDRNOTAVAIL:
        fix =
            "the address is not assigned to any interface of this host; use 127.0.0.1, "
            "0.0.0.0 or an address of this host";
        break;
      case EACCES:
        fix = "ports below 1024 need CAP_NET_BIND_SERVICE; use a port of 1024 or above";
        break;
      case EAFNOSUPPORT:
        fix = "IPv6 is disabled on this host; use an IPv4 address such as 127.0.0.1:9100";
        break;
      default:
        fix = "check the address in metrics.listen";
        break;
    }
    return Error{err, what + "; " + fix};
  }

  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& e) {
    if (address->ipv6) {
      // The kernel accepted the address (ProbeBind), so the HTTP server library is what
      // refuses: Debian's civetweb is built without IPv6 (mg_check_feature(8) == 0).
      return Error{0, what +
                          ": the HTTP server library (civetweb, under prometheus-cpp) was "
                          "built without IPv6 support; use an IPv4 address such as "
                          "127.0.0.1:" +
                          std::to_string(address->port)};
    }
    return Error{0, what + ": " + e.what() +
                        "; another process may have taken the port, "
                        "retry or choose another port"};
  }
  exposer->RegisterCollectable(registry, "/metrics");
  return exposer;
}

}  // namespace ta::agent
