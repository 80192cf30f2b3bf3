// Syslog sink: RFC 5424 messages over UDP (RFC 5426) or TCP with octet-counting framing
// (RFC 6587 §3.4.1), e.g. to the node's rsyslog or straight to a SIEM collector.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "agent/alerts/net.h"
#include "agent/alerts/sink.h"
#include "agent/result.h"

namespace ta::agent::alerts {

enum class SyslogTransport : uint8_t { kUdp, kTcp };

struct SyslogConfig {
  bool enabled = false;
  std::string address = "127.0.0.1:514";  // HOST:PORT or [IPV6]:PORT; names are resolved
  SyslogTransport transport = SyslogTransport::kUdp;  // "udp" | "tcp"
  uint8_t facility = 16;  // RFC 5424 §6.2.1 code; "local0" = 16 (ParseSyslogFacility)
  // UDP only: a longer message is cut to this many bytes (at a UTF-8 boundary) and counted.
  // RFC 5426 §3.2: receivers must take 480 bytes and should take 2048; 480..65507.
  size_t max_message_bytes = 2048;
  std::string hostname;                     // HOSTNAME field; "" = gethostname()
  std::chrono::milliseconds timeout{2000};  // TCP connect and send
};

// "kern", "user", ... "local7" (the RFC 5424 §6.2.1 table, with the names syslog.conf uses) to
// the facility code; an unknown name is an error listing the valid ones.
Result<uint8_t> ParseSyslogFacility(std::string_view name);

// The RFC 5424 §6 fields the sink fills from its host rather than from the record.
struct SyslogOrigin {
  uint8_t facility = 16;
  std::string hostname;  // printable US-ASCII; others become '_'; "" -> "-"
  uint32_t procid = 0;
};

// One RFC 5424 message (no framing, no trailing newline):
//   <PRI>1 TIMESTAMP HOSTNAME traffic-analyzer PROCID ANOMALY [anomaly@32473 ...] BOM MSG
// PRI = facility * 8 + severity: critical -> 2 (crit), warning -> 4 (warning), resolved ->
// 5 (notice). TIMESTAMP is the record's window_end. MSG is the explanation as UTF-8 (bad bytes
// -> U+FFFD, control characters -> space, so a message stays one line).
std::string FormatSyslogMessage(const Anomaly& anomaly, const SyslogOrigin& origin);

// `message` cut to at most `max_bytes` without splitting a UTF-8 sequence.
std::string_view TruncateUtf8(std::string_view message, size_t max_bytes);

struct SyslogStats {
  uint64_t truncated = 0;  // UDP messages cut to max_message_bytes
  uint64_t connects = 0;   // TCP connections opened (the first, then reconnects)
};

class SyslogSink final : public Sink {
 public:
  static Result<std::unique_ptr<SyslogSink>> Create(const SyslogConfig& config);

  std::string Name() const override { return "syslog"; }
  Result<void> Deliver(const Anomaly& anomaly) override;
  SyslogStats Stats() const;

 private:
  SyslogSink(SyslogConfig config, HostPort where, SyslogOrigin origin)
      : config_(std::move(config)), where_(std::move(where)), origin_(std::move(origin)) {}
  Result<void> SendUdp(std::string_view message);
  Result<void> SendTcp(std::string_view message);

  const SyslogConfig config_;
  const HostPort where_;
  const SyslogOrigin origin_;
  UniqueFd fd_;  // worker thread only; opened on first use, reopened after an error
  mutable std::mutex stats_mu_;
  SyslogStats stats_;
};

}  // namespace ta::agent::alerts
