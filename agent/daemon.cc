#include "agent/daemon.h"

#include <bpf/libbpf.h>
#include <signal.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <atomic>
#include <chrono>
#include <ctime>

#include "agent/anomaly_service.h"
#include "agent/bpf_events.h"
#include "agent/clock.h"
#include "agent/control/control_server.h"
#include "agent/control/daemon_handler.h"
#include "agent/enforce/enforcement_service.h"
#include "agent/interfaces.h"
#include "agent/live_stats.h"
#include "agent/logging.h"
#include "agent/metrics.h"
#include "agent/metrics_server.h"
#include "agent/prereq.h"
#include "agent/privileges.h"
#include "agent/service_notify.h"
#include "agent/tc_capture.h"
#include "agent/tls_probes.h"
#include "analyzer/analyzer.h"

namespace ta::agent {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reopen{false};

void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reopen.store(true); }

// No SA_RESTART: a signal interrupts epoll_wait inside ring_buffer__poll with EINTR, so
// shutdown does not wait for the poll timeout.
void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // SIGHUP (logrotate's postrotate): reopen the anomaly log file.
  sa.sa_handler = OnHangup;
  sigaction(SIGHUP, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

// Everything the ring buffer callback needs.
struct PollContext {
  analyzer::Analyzer* analyzer;
  RecordDecodeStats decode_stats;
};

int OnRecord(void* ctx, void* data, size_t size) {
  auto* pc = static_cast<PollContext*>(ctx);
  DeliverRecord({static_cast<const uint8_t*>(data), size}, *pc->analyzer, pc->decode_stats);
  return 0;
}

// Logs kernel-side losses at most once per interval, with the count since the last message.
class DropReporter {
 public:
  void Report(const KernelStats& stats, std::chrono::steady_clock::time_point now) {
    uint64_t dropped = stats[TA_STAT_RINGBUF_DROP_PAYLOAD] + stats[TA_STAT_RINGBUF_DROP_CONN];
    uint64_t conn_failed = stats[TA_STAT_CONN_UPDATE_FAILED];
    if (now - last_ < kInterval) return;
    if (dropped > reported_dropped_) {
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - last_).count();
      LogEvent(spdlog::level::warn, "ring_buffer_full",
               {{"dropped", dropped - reported_dropped_}, {"interval_seconds", int64_t{seconds}}},
               "ring buffer full: {} events dropped in the last {}s; the analyzer fell behind "
               "the kernel. Raise ringbuf_size, lower snaplen, or watch fewer ports",
               dropped - reported_dropped_, seconds);
    }
    if (conn_failed > reported_conn_failed_) {
      LogEvent(
          spdlog::level::warn, "map_update_failed",
          {{"map", std::string("ta_conns")}, {"failures", conn_failed - reported_conn_failed_}},
          "map update failed: ta_conns, {} times (CAP_BPF missing or map full); raise "
          "connections.max",
          conn_failed - reported_conn_failed_);
    }
    reported_dropped_ = dropped;
    reported_conn_failed_ = conn_failed;
    last_ = now;
  }

 private:
  static constexpr std::chrono::seconds kInterval{10};
  std::chrono::steady_clock::time_point last_{};
  uint64_t reported_dropped_ = 0;
  uint64_t reported_conn_failed_ = 0;
};

// "198.18.0.2:41234" or "[2001:db8::2]:41234".
std::string Endpoint(uint8_t family, const std::array<uint8_t, 16>& addr, uint16_t port) {
  const std::string host = analyzer::anomaly::ClientAddress{addr, family}.ToString();
  return family == TA_AF_INET6 ? fmt::format("[{}]:{}", host, port)
                               : fmt::format("{}:{}", host, port);
}

// The analyzer reports to the metrics; HTTP exchanges also go to the anomaly engine, the live
// route table (`trafficctl top`, the SYN throttle's measurements) and, when someone runs
// `trafficctl observe`, to the control socket.
class ExchangeTee final : public analyzer::ExchangeSink {
 public:
  ExchangeTee(Metrics& metrics, LiveRouteStats& live) : metrics_(metrics), live_(live) {}
  void SetAnomalies(AnomalyService* anomalies) { anomalies_ = anomalies; }
  void SetControl(control::ControlServer* control) { control_ = control; }

  void OnHttpExchange(const analyzer::HttpExchange& e) override {
    metrics_.OnHttpExchange(e);
    if (anomalies_ != nullptr) anomalies_->OnHttpExchange(e);
    live_.Add(MonotonicNs() / 1'000'000'000, e);
    Flush();
    if (control_ != nullptr && control_->HasObservers() && e.role == analyzer::HttpRole::kServer) {
      pending_ = Observed(e);
      // An HTTP/2 exchange may be a gRPC call, reported right after it: wait for it.
      if (e.protocol_version != "2") Flush();
    }
  }
  void OnGrpcCall(const analyzer::GrpcCall& c) override {
    metrics_.OnGrpcCall(c);
    if (pending_ && !c.client_side) {
      pending_->protocol = "grpc";
      pending_->grpc_status = c.status ? static_cast<int>(*c.status) : -1;
    }
    Flush();
  }
  void OnWebSocketMessage(const analyzer::WebSocketMessage& m) override {
    metrics_.OnWebSocketMessage(m);
  }
  void OnWebSocketSession(const analyzer::WebSocketSession& s) override {
    metrics_.OnWebSocketSession(s);
  }
  void OnTlsClientHello(const analyzer::TlsClientHello& h) override {
    metrics_.OnTlsClientHello(h);
  }
  void OnTcpOpened(const analyzer::FlowKey& f, uint64_t ts, bool mid) override {
    metrics_.OnTcpOpened(f, ts, mid);
  }
  void OnTcpEstablished(const analyzer::ConnEstablishedEvent& ev) override {
    metrics_.OnTcpEstablished(ev);
  }
  void OnTcpEnded(const analyzer::TcpConnectionEnd& end) override { metrics_.OnTcpEnded(end); }

  // Publishes the exchange held back for a possible gRPC call (after each poll batch).
  void Flush() {
    if (!pending_) return;
    if (control_ != nullptr) control_->Publish(*pending_);
    pending_.reset();
  }

 private:
  static control::ObservedRequest Observed(const analyzer::HttpExchange& e) {
    control::ObservedRequest r;
    r.ts_unix_ns = RealtimeNs();
    r.protocol = e.protocol_version == "2" ? "http2" : "http1";
    r.method = e.method;
    r.route = e.route;
    r.status = e.status;
    r.client = Endpoint(e.flow.family, e.flow.client_addr, e.flow.client_port);
    r.server = Endpoint(e.flow.family, e.flow.server_addr, e.flow.server_port);
    r.port = e.flow.server_port;
    r.latency_ms = e.DurationSeconds() * 1e3;
    r.request_bytes = e.request_body_bytes.value_or(0);
    r.response_bytes = e.response_body_bytes.value_or(0);
    return r;
  }

  Metrics& metrics_;
  LiveRouteStats& live_;
  AnomalyService* anomalies_ = nullptr;
  control::ControlServer* control_ = nullptr;
  std::optional<control::ObservedRequest> pending_;
};

// Ring buffer event and loss rates between two housekeeping passes.
class RateMeter {
 public:
  void Update(const KernelStats& ks, std::chrono::steady_clock::time_point now) {
    const uint64_t events = ks[TA_STAT_PAYLOAD_EVENTS] + ks[TA_STAT_CONN_EVENTS];
    const uint64_t lost = ks[TA_STAT_RINGBUF_DROP_PAYLOAD] + ks[TA_STAT_RINGBUF_DROP_CONN];
    if (last_ != std::chrono::steady_clock::time_point{}) {
      const double dt = std::chrono::duration<double>(now - last_).count();
      if (dt > 0) {
        rates_.per_second = static_cast<double>(events - std::min(events, events_)) / dt;
        rates_.lost_per_second = static_cast<double>(lost - std::min(lost, lost_)) / dt;
      }
    }
    rates_.lost_total = lost;
    events_ = events;
    lost_ = lost;
    last_ = now;
  }
  const control::EventRates& rates() const { return rates_; }

 private:
  control::EventRates rates_;
  uint64_t events_ = 0;
  uint64_t lost_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace

int RunDaemon(const Config& config) {
  InstallLibbpfLogger(config.log.level <= spdlog::level::debug);
  InstallSignalHandlers();
  auto notifier = ServiceNotifier::FromEnvironment();
  if (!notifier) {
    spdlog::critical("cannot start: {}", notifier.error().ToString());
    return 1;
  }

  auto prereq = CheckPrerequisites();
  if (!prereq) {
    spdlog::critical("cannot start: {}", prereq.error().ToString());
    return 1;
  }
  for (const auto& note : prereq->notes) spdlog::info("{}", note);
  spdlog::info("kernel {}: ring buffer, BTF and tc BPF available", prereq->kernel_release);

  std::vector<std::string> interfaces = config.interfaces;
  if (interfaces.empty()) {
    auto def = DefaultRouteInterface();
    if (!def) {
      spdlog::critical("cannot start: {}", def.error().ToString());
      return 1;
    }
    interfaces.push_back(*def);
    spdlog::info("interfaces not set: watching {}, the default route's interface", *def);
  }

  auto capture = TcCapture::Load({.ports = config.ports,
                                  .snaplen = config.snaplen,
                                  .snaplen_tail = config.snaplen_tail,
                                  .ringbuf_size = config.ringbuf_size,
                                  .max_connections = config.connections.max});
  if (!capture) {
    spdlog::critical("cannot start: {}", capture.error().ToString());
    return 1;
  }

  const uint64_t started_ns = MonotonicNs();
  Metrics metrics;
  LiveRouteStats live;
  ExchangeTee tee(metrics, live);
  analyzer::Analyzer analyzer(config.ToAnalyzerConfig(), tee);
  PollContext poll_ctx{&analyzer, {}};
  ring_buffer* rb = ring_buffer__new((*capture)->ringbuf_fd(), OnRecord, &poll_ctx, nullptr);
  if (rb == nullptr) {
    spdlog::critical("cannot start: creating the ring buffer reader failed: {}",
                     std::strerror(errno));
    return 1;
  }
  std::unique_ptr<ring_buffer, decltype(&ring_buffer__free)> rb_owner(rb, ring_buffer__free);

  for (const auto& ifname : interfaces) {
    if (auto r = (*capture)->Attach(ifname); !r) {
      spdlog::critical("cannot start: {}", r.error().ToString());
      return 1;  // capture's destructor detaches what was attached
    }
    spdlog::info(
        "attached tc ingress+egress on {}{}", ifname,
        (*capture)->attachments().back()->created_qdisc() ? " (created clsact qdisc)" : "");
  }

  // TLS plaintext through the OpenSSL uprobes. Not fatal: without them the node keeps its tc
  // metrics, and the reason is logged (and shown by traffic_analyzer_tls_hooked being absent).
  auto on_tls = [&analyzer](const TlsRecordView& r) {
    analyzer::TlsDataEvent ev;
    ev.tgid = r.tgid;
    ev.ssl = r.ssl;
    ev.is_write = r.is_write;
    ev.mapped = !r.unmapped;
    ev.family = r.family;
    ev.local_addr = r.local_addr;
    ev.remote_addr = r.remote_addr;
    ev.local_port = r.local_port;
    ev.remote_port = r.remote_port;
    ev.ts_ns = r.ts_ns;
    ev.len = r.len;
    ev.captured = r.data;
    analyzer.OnTlsData(ev);
  };
  TlsProbesOptions tls_options;
  tls_options.snaplen = config.snaplen;
  tls_options.ports = config.ports;
  tls_options.ringbuf_size = config.ringbuf_size;
  std::unique_ptr<TlsProbes> tls;
  if (!config.tls.enabled) {
    spdlog::info("TLS uprobes off (tls.enabled: false): HTTPS is counted in tcp_* only");
  } else if (auto opened = TlsProbes::Open(tls_options, on_tls); opened) {
    tls = std::move(*opened);
    spdlog::info("TLS uprobes: {} libssl file(s) hooked", tls->hooked_libraries());
  } else {
    spdlog::warn("TLS visibility off (HTTPS on watched ports is counted in tcp_* only): {}",
                 opened.error().ToString());
  }

  // XDP enforcement (docs/enforcement.md). Asked for and impossible (a foreign XDP program on
  // the interface, no XDP support) is fatal: an operator who enabled it must not believe the
  // node is protected when it is not.
  std::unique_ptr<enforce::EnforcementService> enforcement;
  if (config.enforcement.enabled) {
    const std::vector<std::string>& xdp_interfaces =
        config.enforcement.interfaces.empty() ? interfaces : config.enforcement.interfaces;
    auto started = enforce::EnforcementService::Start(config, xdp_interfaces, metrics);
    if (!started) {
      spdlog::critical("cannot start: {}", started.error().ToString());
      return 1;
    }
    enforcement = std::move(*started);
  } else {
    spdlog::info(
        "enforcement off (enforcement.enabled: false): anomalies are reported, no "
        "XDP rules are made");
  }

  // The control socket: trafficctl's way in, and the only way to change rules at runtime.
  auto control = control::ControlServer::Listen(
      {.path = config.control.socket, .group = config.control.group});
  if (!control) {
    spdlog::critical("cannot start: {}", control.error().ToString());
    return 1;
  }
  tee.SetControl(control->get());

  // Everything privileged is done: keep only what the running loop still needs. Before any
  // worker thread exists (the anomaly sinks, the metrics server), which inherit the reduced
  // sets: capabilities are per thread.
  uint64_t keep = RuntimeCapabilities(tls != nullptr, prereq->kernel);
  // /metrics binds after the drop (its server threads must start with the reduced sets): a
  // port below 1024 needs CAP_NET_BIND_SERVICE for that.
  if (auto listen = ParseListenAddress(config.metrics.listen); listen && listen->port < 1024) {
    keep |= CapBit(kCapNetBindService);
  }
  if (auto caps = RetainOnly(keep); caps) {
    LogEvent(spdlog::level::info, "capabilities_dropped",
             {{"effective", CapabilityNames(caps->effective)}},
             "capabilities after start-up: {} (the rest dropped, no_new_privs set)",
             CapabilityNames(caps->effective));
  } else {
    spdlog::warn(
        "could not drop capabilities after start-up: {}; the daemon keeps the ones it "
        "started with",
        caps.error().ToString());
  }

  std::unique_ptr<AnomalyService> anomalies;
  if (config.anomaly.enabled) {
    auto started = AnomalyService::Start(config, metrics);
    if (!started) {
      spdlog::critical("cannot start: {}", started.error().ToString());
      return 1;
    }
    anomalies = std::move(*started);
    tee.SetAnomalies(anomalies.get());
  } else {
    spdlog::info("anomaly engine off (anomaly.enabled: false)");
  }
  RateMeter rates;
  control::DaemonView view;
  view.config = &config;
  view.kernel_release = prereq->kernel_release;
  view.features = {{"ringbuf", true},
                   {"btf", true},
                   {"tc", true},
                   {"uprobes", tls != nullptr},
                   {"xdp", enforcement != nullptr}};
  view.capture_interfaces = interfaces;
  view.started_mono_ns = started_ns;
  view.anomalies = anomalies.get();
  view.enforcement = enforcement.get();
  view.tls = tls.get();
  view.live = &live;
  view.rates = &rates.rates();
  view.analyzer = &analyzer;
  control::DaemonHandler handler(std::move(view));
  spdlog::info("control socket on {} (trafficctl)", (*control)->path());

  // /metrics goes up only once capture is live, so a scrape that answers reflects traffic.
  auto metrics_server = MetricsServer::Start(config.metrics, metrics.registry());
  if (!metrics_server) {
    spdlog::critical("cannot start: {}", metrics_server.error().ToString());
    return 1;
  }
  LogEvent(spdlog::level::info, "ready",
           {{"interfaces", fmt::format("{}", fmt::join(interfaces, ","))}},
           "watching ports {} on {}; metrics on {}", config.ports, fmt::join(interfaces, ","),
           (*metrics_server)->description());
  auto notify = [&](const Result<void>& sent) {
    if (!sent) spdlog::warn("{}", sent.error().ToString());
  };
  notify(notifier->Ready(fmt::format("watching ports {} on {}", fmt::join(config.ports, ","),
                                     fmt::join(interfaces, ","))));
  if (notifier->watchdog()) {
    spdlog::info("systemd watchdog on: fed every {} ms from the main loop",
                 notifier->watchdog()->count() / 2000);
  }

  DropReporter drops;
  auto next_housekeeping = std::chrono::steady_clock::now();
  // New processes are found on exec; a full rescan also catches what an exec record missed
  // (a lost record, a library dlopen()ed late).
  constexpr auto kTlsRescanInterval = std::chrono::seconds(30);
  auto next_tls_rescan = next_housekeeping + kTlsRescanInterval;
  auto next_status = next_housekeeping;
  int exit_code = 0;
  auto housekeeping = [&] {
    const uint64_t now_ns = MonotonicNs();
    analyzer.AdvanceTime(now_ns);
    if (anomalies) anomalies->Housekeeping(now_ns, analyzer);
    if (enforcement) {
      enforcement->Housekeeping(
          now_ns, RealtimeNs(),
          anomalies ? anomalies->engine().Active() : std::vector<analyzer::anomaly::Anomaly>{},
          live);
    }
    metrics.UpdateAnalyzerStats(analyzer.stats());
    metrics.UpdateDecodeStats(poll_ctx.decode_stats.truncated + poll_ctx.decode_stats.unknown_kind);
    if (auto ks = (*capture)->ReadStats(); ks) {
      metrics.UpdateKernelStats(*ks);
      drops.Report(*ks, std::chrono::steady_clock::now());
      rates.Update(*ks, std::chrono::steady_clock::now());
    } else {
      spdlog::warn("{}", ks.error().ToString());
    }
    if (tls) {
      if (auto ts = tls->Stats(); ts) metrics.UpdateTlsKernelStats(*ts);
      std::vector<Metrics::TlsCoverage> coverage;
      for (const TlsCoverageEntry& e : tls->Coverage()) {
        coverage.push_back({e.pid, e.comm, e.library, e.hooked, e.reason});
      }
      metrics.UpdateTlsCoverage(coverage);
    }
  };
  while (!g_stop.load()) {
    int n = ring_buffer__poll(rb, tls ? 50 : 100 /* ms */);
    if (n < 0 && n != -EINTR) {
      spdlog::error("ring buffer poll failed: {}; shutting down", std::strerror(-n));
      exit_code = 2;
      break;
    }
    if (tls) {
      if (int t = tls->Poll(0); t < 0 && t != -EINTR) {
        spdlog::error("TLS ring buffer poll failed: {}; shutting down", std::strerror(-t));
        exit_code = 2;
        break;
      }
    }
    auto now = std::chrono::steady_clock::now();
    if (tls && now >= next_tls_rescan) {
      tls->Rescan();
      next_tls_rescan = now + kTlsRescanInterval;
    }
    tee.Flush();
    (*control)->Poll(handler);
    if (g_reopen.exchange(false) && anomalies) anomalies->ReopenLogs();
    if (now >= next_housekeeping) {
      housekeeping();
      next_housekeeping = now + std::chrono::seconds(1);
      if (notifier->enabled() && now >= next_status) {
        const control::EventRates& r = rates.rates();
        notify(notifier->Status(
            fmt::format("{:.0f} events/s, {} lost in total", r.per_second, r.lost_total)));
        next_status = now + std::chrono::seconds(10);
      }
    }
    // Fed from the loop itself, so a loop stuck anywhere stops feeding it and systemd
    // restarts the daemon (WatchdogSec=).
    if (auto fed = notifier->FeedWatchdog(now); !fed) spdlog::warn("{}", fed.error().ToString());
  }

  spdlog::info("shutting down: detaching from {}", fmt::join(interfaces, ","));
  notify(notifier->Stopping("detaching"));
  (*capture)->DetachAll();
  // Whatever the kernel submitted before the detach is still analysed and counted.
  ring_buffer__consume(rb);
  if (tls) tls->Poll(0);
  housekeeping();
  // A clean stop removes enforcement with the daemon (a killed daemon's program stays attached
  // and fails open on its stale heartbeat instead).
  if (enforcement) enforcement->Stop();
  if (anomalies) anomalies->Stop();
  return exit_code;
}

}  // namespace ta::agent
