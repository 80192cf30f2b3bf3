#include "agent/alerts/syslog.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>

#include "agent/alerts/text.h"

namespace ta::agent::alerts {
namespace {

using analyzer::anomaly::AnomalyState;
using analyzer::anomaly::DetectorName;
using analyzer::anomaly::Severity;
using analyzer::anomaly::SeverityName;
using analyzer::anomaly::StateName;

// RFC 5424 §6.2.1 facility codes by name; 12..15 have no conventional syslog.conf names.
constexpr std::array<std::pair<std::string_view, uint8_t>, 20> kFacilities = {{
    {"kern", 0},      {"user", 1},    {"mail", 2},    {"daemon", 3},  {"auth", 4},
    {"syslog", 5},    {"lpr", 6},     {"news", 7},    {"uucp", 8},    {"cron", 9},
    {"authpriv", 10}, {"ftp", 11},    {"local0", 16}, {"local1", 17}, {"local2", 18},
    {"local3", 19},   {"local4", 20}, {"local5", 21}, {"local6", 22}, {"local7", 23},
}};

// RFC 5424 §6.2.1 severities.
constexpr uint8_t kSeverityCritical = 2;
constexpr uint8_t kSeverityWarning = 4;
constexpr uint8_t kSeverityNotice = 5;

// The SD-ID: a private one (name@PEN, RFC 5424 §7.2.2). 32473 is the example Private
// Enterprise Number reserved for documentation (RFC 5612); a registered PEN replaces it.
constexpr std::string_view kSdId = "anomaly@32473";
constexpr std::string_view kAppName = "traffic-analyzer";  // APP-NAME, at most 48 characters
constexpr std::string_view kMsgId = "ANOMALY";             // MSGID, at most 32 characters
constexpr std::string_view kBom = "\xEF\xBB\xBF";          // MSG is UTF-8 (§6.4)

// HOSTNAME is PRINTUSASCII (33..126), 1..255 characters (§6.2.4); "-" is the NILVALUE.
std::string HeaderHostname(std::string_view name) {
  if (name.empty()) return "-";
  std::string out(name.substr(0, 255));
  for (char& c : out) {
    if (c < 33 || c > 126) c = '_';
  }
  return out;
}

// SD-PARAM value (§6.3.3): UTF-8 with '"', '\' and ']' escaped by a backslash.
void AppendParam(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(' ');
  out += name;
  out += "=\"";
  for (const char c : RepairUtf8(value)) {
    if (c == '"' || c == '\\' || c == ']') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string LocalHostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

}  // namespace

Result<uint8_t> ParseSyslogFacility(std::string_view name) {
  std::string valid;
  for (const auto& [facility, code] : kFacilities) {
    if (facility == name) return code;
    valid += valid.empty() ? "" : ", ";
    valid += facility;
  }
  return Error{0, "unknown syslog facility '" + std::string(name) + "'; use one of " + valid};
}

std::string FormatSyslogMessage(const Anomaly& a, const SyslogOrigin& origin) {
  uint8_t severity = a.severity == Severity::kCritical ? kSeverityCritical : kSeverityWarning;
  if (a.state == AnomalyState::kResolved) severity = kSeverityNotice;
  std::string out = "<" + std::to_string(origin.facility * 8 + severity) + ">1 ";
  out += FormatRfc3339Millis(a.window_end_ns);
  out += " " + HeaderHostname(origin.hostname);
  out += " ";
  out += kAppName;
  out += " " + std::to_string(origin.procid) + " ";
  out += kMsgId;
  out += " [";
  out += kSdId;
  AppendParam(out, "id", std::to_string(a.id));
  AppendParam(out, "state", StateName(a.state));
  AppendParam(out, "detector", DetectorName(a.detector));
  AppendParam(out, "severity", SeverityName(a.severity));
  AppendParam(out, "port", std::to_string(a.port));
  AppendParam(out, "route", a.route);
  // The top contributor; for a single-client detector, the client.
  if (!a.clients.empty()) AppendParam(out, "client", a.clients.front().client.ToString());
  AppendParam(out, "observed", FormatNumber(a.observed));
  AppendParam(out, "baseline", FormatNumber(a.baseline));
  AppendParam(out, "score", FormatNumber(a.score));
  out += "] ";
  out += kBom;
  std::string msg = RepairUtf8(a.explanation);
  for (char& c : msg) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  }
  out += msg;
  return out;
}

std::string_view TruncateUtf8(std::string_view message, size_t max_bytes) {
  if (message.size() <= max_bytes) return message;
  size_t cut = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut sequence.
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return message.substr(0, cut);
}

Result<std::unique_ptr<SyslogSink>> SyslogSink::Create(const SyslogConfig& config) {
  auto where = ParseHostPort(config.address);
  if (!where.ok()) return Error{0, "alerts.syslog.address " + where.error().message};
  SyslogOrigin origin;
  origin.facility = config.facility;
  origin.hostname = config.hostname.empty() ? LocalHostname() : config.hostname;
  origin.procid = static_cast<uint32_t>(::getpid());
  return std::unique_ptr<SyslogSink>(
      new SyslogSink(config, std::move(where.value()), std::move(origin)));
}

Result<void> SyslogSink::Deliver(const Anomaly& anomaly) {
  const std::string message = FormatSyslogMessage(anomaly, origin_);
  return config_.transport == SyslogTransport::kUdp ? SendUdp(message) : SendTcp(message);
}

Result<void> SyslogSink::SendUdp(std::string_view message) {
  // RFC 5426 §3.1: one message per datagram, never split; too long is truncated (§3.2).
  const std::string_view datagram = TruncateUtf8(message, config_.max_message_bytes);
  if (datagram.size() != message.size()) {
    std::lock_guard lock(stats_mu_);
    ++stats_.truncated;
  }
  if (!fd_.valid()) {
    auto fd = ConnectUdp(where_);
    if (!fd.ok()) return fd.error();
    fd_ = std::move(fd.value());
  }
  if (::send(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    // Often the ICMP "port unreachable" of an earlier datagram (ECONNREFUSED): nobody listens.
    return ErrnoError("syslog datagram to " + ToString(where_));
  }
  return {};
}

Result<void> SyslogSink::SendTcp(std::string_view message) {
  const auto deadline = Clock::now() + config_.timeout;
  if (fd_.valid()) {
    // A receiver that restarted closed our connection; the first send would still "succeed"
    // into the socket buffer and the message would be lost. A zero-byte read shows the close.
    char byte = 0;
    const ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) fd_.Reset();
  }
  if (!fd_.valid()) {
    auto fd = ConnectTcp(where_, deadline);
    if (!fd.ok()) return Error{fd.error().err, "syslog over TCP: " + fd.error().message};
    fd_ = std::move(fd.value());
    std::lock_guard lock(stats_mu_);
    ++stats_.connects;
  }
  // Octet counting (RFC 6587 §3.4.1): MSG-LEN SP SYSLOG-MSG, so a message may hold any byte.
  const std::string frame = std::to_string(message.size()) + " " + std::string(message);
  if (auto sent = SendAll(fd_.get(), frame, deadline); !sent.ok()) {
    fd_.Reset();  // the next attempt reconnects
    return Error{sent.error().err,
                 "syslog over TCP to " + ToString(where_) + ": " + sent.error().message};
  }
  return {};
}

SyslogStats SyslogSink::Stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

}  // namespace ta::agent::alerts
