// JSON-lines sink: one JSON object per anomaly record, appended to a file (docs/alerts.md shows
// a line). Log shippers (Vector, Fluent Bit, Promtail) tail the file; logrotate renames it and
// asks the agent to Reopen().
#pragma once

#include <mutex>
#include <string>

#include "agent/alerts/net.h"
#include "agent/alerts/sink.h"
#include "agent/result.h"

namespace ta::agent::alerts {

struct JsonLinesConfig {
  bool enabled = false;
  std::string path = "/var/log/traffic-analyzer/anomalies.jsonl";  // absolute; required
};

// The line for one record, without the trailing newline. Field order is fixed: time, id,
// state, detector, severity, port, route, clients, observed, baseline, score, threshold, unit,
// window_start, window_end, started, explanation. time is the record's window_end (when the
// anomaly fired or resolved, in event time).
std::string FormatJsonLine(const Anomaly& anomaly);

class JsonLinesSink final : public Sink {
 public:
  // Opens (creates, mode 0640) the file for appending; an error names the path and the errno.
  static Result<std::unique_ptr<JsonLinesSink>> Open(const JsonLinesConfig& config);

  std::string Name() const override { return "jsonl"; }
  Result<void> Deliver(const Anomaly& anomaly) override;

  // Closes and reopens the path (logrotate's postrotate, or SIGHUP). Thread-safe; on failure
  // the old descriptor is kept so no line is lost.
  Result<void> Reopen();

 private:
  explicit JsonLinesSink(std::string path, UniqueFd fd)
      : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  std::mutex mu_;  // Deliver (worker thread) against Reopen (signal handling thread)
  UniqueFd fd_;
};

}  // namespace ta::agent::alerts
