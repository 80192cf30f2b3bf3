#include "agent/alerts/json_lines.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "agent/alerts/text.h"

namespace ta::agent::alerts {
namespace {

using analyzer::anomaly::DetectorName;
using analyzer::anomaly::SeverityName;
using analyzer::anomaly::StateName;

Result<UniqueFd> OpenForAppend(const std::string& path) {
  // O_APPEND: every write lands at the end even if another writer or a copytruncate rotation
  // moved it; 0640 so the log group (adm) can read anomalies but others cannot.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
  if (!fd.valid()) {
    return ErrnoError("cannot open the anomaly log " + path +
                      " for appending (alerts.jsonl.path); check that its directory exists and "
                      "is writable by the agent");
  }
  return fd;
}

void AppendField(std::string& out, std::string_view name) {
  if (out.size() > 1) out.push_back(',');
  AppendJsonString(out, name);
  out.push_back(':');
}

}  // namespace

std::string FormatJsonLine(const Anomaly& a) {
  std::string out = "{";
  AppendField(out, "time");
  AppendJsonString(out, FormatRfc3339Millis(a.window_end_ns));
  AppendField(out, "id");
  out += std::to_string(a.id);
  AppendField(out, "state");
  AppendJsonString(out, StateName(a.state));
  AppendField(out, "detector");
  AppendJsonString(out, DetectorName(a.detector));
  AppendField(out, "severity");
  AppendJsonString(out, SeverityName(a.severity));
  AppendField(out, "port");
  out += std::to_string(a.port);
  AppendField(out, "route");
  AppendJsonString(out, a.route);
  AppendField(out, "clients");
  out.push_back('[');
  for (size_t i = 0; i < a.clients.size(); ++i) {
    if (i > 0) out.push_back(',');
    out += "{\"address\":";
    AppendJsonString(out, a.clients[i].client.ToString());
    out += ",\"count\":" + std::to_string(a.clients[i].count) + "}";
  }
  out.push_back(']');
  AppendField(out, "observed");
  AppendJsonNumber(out, a.observed);
  AppendField(out, "baseline");
  AppendJsonNumber(out, a.baseline);
  AppendField(out, "score");
  AppendJsonNumber(out, a.score);
  AppendField(out, "threshold");
  AppendJsonNumber(out, a.threshold);
  AppendField(out, "unit");
  AppendJsonString(out, a.unit);
  AppendField(out, "window_start");
  AppendJsonString(out, FormatRfc3339Millis(a.window_start_ns));
  AppendField(out, "window_end");
  AppendJsonString(out, FormatRfc3339Millis(a.window_end_ns));
  AppendField(out, "started");
  AppendJsonString(out, FormatRfc3339Millis(a.started_ns));
  AppendField(out, "explanation");
  AppendJsonString(out, a.explanation);
  out.push_back('}');
  return out;
}

Result<std::unique_ptr<JsonLinesSink>> JsonLinesSink::Open(const JsonLinesConfig& config) {
  auto fd = OpenForAppend(config.path);
  if (!fd.ok()) return fd.error();
  return std::unique_ptr<JsonLinesSink>(new JsonLinesSink(config.path, std::move(fd.value())));
}

Result<void> JsonLinesSink::Deliver(const Anomaly& anomaly) {
  const std::string line = FormatJsonLine(anomaly) + "\n";
  std::lock_guard lock(mu_);
  // One write(2) per line: with O_APPEND a regular-file write is atomic with respect to other
  // appenders, so a reader never sees two lines interleaved. A short write (disk full) is an
  // error; the partial line is ended with a newline (a reader skips it as malformed) and the
  // retry appends the whole line again.
  const ssize_t n = ::write(fd_.get(), line.data(), line.size());
  if (n < 0) return ErrnoError("writing to the anomaly log " + path_);
  if (static_cast<size_t>(n) != line.size()) {
    // End the partial line so the retry's full line stays a line of its own.
    [[maybe_unused]] const ssize_t ignored = ::write(fd_.get(), "\n", 1);
    return Error{ENOSPC, "short write to the anomaly log " + path_ + " (" + std::to_string(n) +
                             " of " + std::to_string(line.size()) + " bytes)"};
  }
  return {};
}

Result<void> JsonLinesSink::Reopen() {
  auto fd = OpenForAppend(path_);
  if (!fd.ok()) return fd.error();
  std::lock_guard lock(mu_);
  fd_ = std::move(fd.value());
  return {};
}

}  // namespace ta::agent::alerts
