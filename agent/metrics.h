// Everything the agent exports on /metrics, in one place. HTTP metrics follow the OpenTelemetry
// HTTP semantic conventions as Prometheus shows them (dots become underscores, the unit is a
// suffix); self-metrics are prefixed traffic_analyzer_. docs/metrics.md documents each family.
//
// Every family is declared once, in TA_METRIC_FAMILIES below, sorted by name (a static_assert in
// metrics.cc checks the order), and the Metrics class is built from that list.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "agent/result.h"
#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "ta_abi.h"

namespace ta::agent {

// X(name, help) for each family, sorted by name. Label sets are fixed in metrics.cc and listed
// in docs/metrics.md.
#define TA_METRIC_FAMILIES(COUNTER, GAUGE, HISTOGRAM)                                             \
  HISTOGRAM(http_server_request_body_size_bytes,                                                  \
            "Size of HTTP request bodies as transferred (OTel http.server.request.body.size).")   \
  HISTOGRAM(http_server_request_duration_seconds,                                                 \
            "Duration of HTTP server requests, first request byte to last response byte, "        \
            "from capture timestamps (OTel http.server.request.duration).")                       \
  HISTOGRAM(http_server_response_body_size_bytes,                                                 \
            "Size of HTTP response bodies as transferred (OTel http.server.response.body.size).") \
  GAUGE(traffic_analyzer_build_info, "Always 1; the version label says which build is running.")  \
  COUNTER(traffic_analyzer_connections_evicted_total,                                             \
          "Connections the analyzer stopped tracking before they closed, by reason.")             \
  GAUGE(traffic_analyzer_connections_tracked, "Connections the analyzer currently tracks.")       \
  COUNTER(traffic_analyzer_events_lost_total,                                                     \
          "Events or messages lost, by stage: ringbuf = kernel events not delivered (ring "       \
          "buffer full); reassembly = reorder buffer overflows that gave up a hole; parser = "    \
          "times HTTP framing was lost and resynchronised.")                                      \
  COUNTER(traffic_analyzer_events_received_total, "Events the analyzer received, by kind.")       \
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
  COUNTER(traffic_analyzer_parse_errors_total, "Protocol parse errors, by protocol.")             \
  COUNTER(traffic_analyzer_records_invalid_total,                                                 \
          "Ring buffer records the daemon could not decode (a kernel/daemon ABI mismatch).")      \
  COUNTER(traffic_analyzer_uncaptured_bytes_total,                                                \
          "Payload bytes beyond snaplen: seen on the wire, deliberately not captured.")

// The version exported in traffic_analyzer_build_info: the build's TA_VERSION definition, or
// "unknown" when the build does not set one.
std::string_view BuildVersion();

// Histogram bucket upper bounds. Durations: the OTel advice for http.server.request.duration.
// Body sizes: 0 (no body), then powers of 4 from 64 B to 64 MiB (OTel gives no advice).
inline const std::vector<double> kDurationBucketsSeconds = {
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
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

  void UpdateAnalyzerStats(const analyzer::AnalyzerStats& snapshot);
  // Summed per-CPU values of the `ta_stats` map, indexed by enum ta_stat (bpf/ta_abi.h).
  void UpdateKernelStats(const std::array<uint64_t, TA_STAT_MAX>& snapshot);
  // Ring buffer records DeliverRecord() could not use (RecordDecodeStats, all reasons summed).
  void UpdateDecodeStats(uint64_t invalid_records);

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
    SnapshotCounter conn_open, conn_close, payload;
    SnapshotCounter lost_reassembly, lost_parser;
    SnapshotCounter gap_bytes, parser_discarded_bytes, uncaptured_bytes;
    SnapshotCounter unanswered_requests, orphan_responses;
    SnapshotCounter http1_parse_errors, http1_truncated_messages, route_overflows;
    SnapshotCounter evicted_table_full, evicted_idle_timeout;
    prometheus::Gauge* connections_tracked = nullptr;
  };
  struct KernelSeries {
    std::array<SnapshotCounter, TA_STAT_MAX> by_stat;
    // events_lost_total{stage="ringbuf"}: the sum of both ring buffer drop counters.
    SnapshotCounter lost_ringbuf;
  };

  std::mutex snapshot_mu_;  // guards the SnapshotCounter::last values
  AnalyzerSeries analyzer_;
  KernelSeries kernel_;
  SnapshotCounter invalid_records_;
  prometheus::Counter* request_body_unknown_ = nullptr;
  prometheus::Counter* response_body_unknown_ = nullptr;

  std::mutex exchange_mu_;  // guards exchange_series_
  std::unordered_map<std::string, ExchangeSeries> exchange_series_;
};

// Serves `registry` over HTTP at /metrics on `listen` (metrics.listen) with prometheus::Exposer
// (civetweb). Fails, never throws, when the address is invalid, in use, not local or not
// permitted; the error names the address and what to do. Destroying the exposer stops serving.
Result<std::unique_ptr<prometheus::Exposer>> StartExposer(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry);

}  // namespace ta::agent
