// The daemon's log: spdlog, written in one of three shapes (log.format):
// - text: "2026-11-25T04:50:00.123+0000 warn ring buffer full: ..." on stderr;
// - json: one object per line on stderr, {"ts","level","msg"} plus the line's fields;
// - journal: journald's native protocol (MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the fields
//   as TA_* journal fields), so `journalctl -u traffic-analyzer TA_EVENT=ring_buffer_full`
//   finds every ring buffer overrun. `auto` picks journal when stderr is the journal stream
//   systemd gave us ($JOURNAL_STREAM), text otherwise.
// The messages themselves are the same in every shape, so a grep for "ring buffer full" or
// "map update failed:" works on any of them.
//
// Fields: a line may carry structured fields, set with LogEvent() (or a LogFields scope) on the
// logging thread. Sinks are synchronous, so the fields are read on the same thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "agent/config.h"

namespace ta::agent {

struct LogField {
  std::string key;  // lower_snake_case; journald gets TA_<KEY> upper-cased
  std::variant<std::string, int64_t, uint64_t, double> value;
};

// Fields attached to every line logged on this thread while the scope lives (nestable).
class LogFields {
 public:
  LogFields(std::initializer_list<LogField> fields);
  ~LogFields();
  LogFields(const LogFields&) = delete;
  LogFields& operator=(const LogFields&) = delete;

 private:
  size_t previous_size_;
};

// The fields in effect on this thread.
const std::vector<LogField>& CurrentLogFields();

// Logs `fmt` with an event name (TA_EVENT / "event") and extra fields.
template <typename... Args>
void LogEvent(spdlog::level::level_enum level, std::string_view event,
              std::initializer_list<LogField> fields, spdlog::format_string_t<Args...> fmt,
              Args&&... args) {
  LogFields event_scope{{LogField{"event", std::string(event)}}};
  LogFields scope(fields);
  spdlog::log(level, fmt, std::forward<Args>(args)...);
}

// One JSON object per line: {"ts":"...Z","level":"warn","msg":"...",<fields>}.
class JsonLinesSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JsonLinesSink(FILE* out) : out_(out) {}
  // The line for one message, without the newline (for tests).
  static std::string Format(const spdlog::details::log_msg& msg,
                            const std::vector<LogField>& fields);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  FILE* out_;
};

// journald's native protocol over its datagram socket. A message the socket refuses (journald
// gone, a message too large for one datagram) is written as a text line on stderr instead,
// which journald still collects from the stream, so nothing is lost.
class JournalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JournalSink(std::string socket_path = "/run/systemd/journal/socket",
                       std::string identifier = "traffic-analyzer");
  ~JournalSink() override;
  // The datagram for one message (for tests).
  static std::string Encode(const spdlog::details::log_msg& msg,
                            const std::vector<LogField>& fields, std::string_view identifier);
  uint64_t fallbacks() const { return fallbacks_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  std::string socket_path_;
  std::string identifier_;
  int fd_ = -1;
  uint64_t fallbacks_ = 0;
};

// Whether stderr is the journal stream systemd connected ($JOURNAL_STREAM = "DEV:INODE" of
// stderr), as sd_journal_stream_fd(3) documents for `auto`.
bool StderrIsJournal();

// Resolves kAuto and installs the default logger "traffic-analyzer" with the level.
LogFormat SetupLogging(LogFormat format, spdlog::level::level_enum level);

}  // namespace ta::agent
