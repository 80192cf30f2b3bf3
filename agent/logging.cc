#include "agent/logging.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "agent/alerts/text.h"

namespace ta::agent {
namespace {

thread_local std::vector<LogField> t_fields;

constexpr std::string_view kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v";

uint64_t UnixNs(const spdlog::details::log_msg& msg) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(msg.time.time_since_epoch()).count());
}

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// syslog(3) priorities, as journald's PRIORITY= field wants them.
int SyslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;  // LOG_DEBUG
    case spdlog::level::info:
      return 6;  // LOG_INFO
    case spdlog::level::warn:
      return 4;  // LOG_WARNING
    case spdlog::level::err:
      return 3;  // LOG_ERR
    default:
      return 2;  // LOG_CRIT
  }
}

std::string ValueText(const LogField& f) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, double>) {
          return alerts::FormatNumber(v);
        } else {
          return std::to_string(v);
        }
      },
      f.value);
}

// journald field names: A-Z, 0-9 and '_', not starting with '_' (reserved for trusted fields)
// or a digit, at most 64 bytes.
std::string JournalKey(std::string_view key) {
  std::string out = "TA_";
  for (char c : key) {
    const auto u = static_cast<unsigned char>(c);
    out += std::isalnum(u) != 0 ? static_cast<char>(std::toupper(u)) : '_';
    if (out.size() == 64) break;
  }
  return out;
}

void AppendJournalField(std::string& out, std::string_view key, std::string_view value) {
  if (value.find('\n') == std::string_view::npos) {
    out.append(key).append("=").append(value).append("\n");
    return;
  }
  // A value with a newline: the name, a newline, the length as 64-bit little endian, the
  // value, a newline (systemd's "Native Journal Protocol").
  out.append(key).append("\n");
  uint64_t len = value.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  out.append(value).append("\n");
}

}  // namespace

LogFields::LogFields(std::initializer_list<LogField> fields) : previous_size_(t_fields.size()) {
  t_fields.insert(t_fields.end(), fields.begin(), fields.end());
}

LogFields::~LogFields() { t_fields.resize(previous_size_); }

const std::vector<LogField>& CurrentLogFields() { return t_fields; }

std::string JsonLinesSink::Format(const spdlog::details::log_msg& msg,
                                  const std::vector<LogField>& fields) {
  nlohmann::ordered_json j;
  j["ts"] = alerts::FormatRfc3339Millis(UnixNs(msg));
  j["level"] = LevelName(msg.level);
  j["msg"] = std::string(msg.payload.data(), msg.payload.size());
  for (const LogField& f : fields) {
    if (f.key == "ts" || f.key == "level" || f.key == "msg") continue;  // never overwritten
    std::visit([&](const auto& v) { j[f.key] = v; }, f.value);
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void JsonLinesSink::sink_it_(const spdlog::details::log_msg& msg) {
  std::string line = Format(msg, CurrentLogFields());
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out_);
}

void JsonLinesSink::flush_() { std::fflush(out_); }

JournalSink::JournalSink(std::string socket_path, std::string identifier)
    : socket_path_(std::move(socket_path)), identifier_(std::move(identifier)) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

JournalSink::~JournalSink() {
  if (fd_ >= 0) ::close(fd_);
}

std::string JournalSink::Encode(const spdlog::details::log_msg& msg,
                                const std::vector<LogField>& fields, std::string_view identifier) {
  std::string out;
  AppendJournalField(out, "MESSAGE", std::string_view(msg.payload.data(), msg.payload.size()));
  AppendJournalField(out, "PRIORITY", std::to_string(SyslogPriority(msg.level)));
  AppendJournalField(out, "SYSLOG_IDENTIFIER", identifier);
  for (const LogField& f : fields) AppendJournalField(out, JournalKey(f.key), ValueText(f));
  return out;
}

void JournalSink::sink_it_(const spdlog::details::log_msg& msg) {
  const std::string datagram = Encode(msg, CurrentLogFields(), identifier_);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof(addr.sun_path) - 1);
  if (fd_ >= 0 && ::sendto(fd_, datagram.data(), datagram.size(), MSG_NOSIGNAL,
                           reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) >= 0) {
    return;
  }
  ++fallbacks_;
  spdlog::memory_buf_t text;
  spdlog::pattern_formatter(std::string(kTextPattern), spdlog::pattern_time_type::local, "")
      .format(msg, text);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fputc('\n', stderr);
}

bool StderrIsJournal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

LogFormat SetupLogging(LogFormat format, spdlog::level::level_enum level) {
  if (format == LogFormat::kAuto)
    format = StderrIsJournal() ? LogFormat::kJournal : LogFormat::kText;
  spdlog::sink_ptr sink;
  switch (format) {
    case LogFormat::kJson:
      sink = std::make_shared<JsonLinesSink>(stderr);
      break;
    case LogFormat::kJournal:
      sink = std::make_shared<JournalSink>();
      break;
    default: {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      sink->set_pattern(std::string(kTextPattern));
    }
  }
  auto logger = std::make_shared<spdlog::logger>("traffic-analyzer", std::move(sink));
  logger->set_level(level);
  // Warnings and worse reach the file at once; info lines are flushed by the stream.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return format;
}

}  // namespace ta::agent
