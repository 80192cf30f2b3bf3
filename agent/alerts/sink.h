// One alert destination (a JSON-lines file, Alertmanager, syslog) as the dispatcher drives it.
// A sink runs on its own worker thread (agent/alerts/dispatcher.h): it may block on I/O, but
// only for as long as its own timeouts allow.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/result.h"
#include "analyzer/anomaly/anomaly.h"

namespace ta::agent::alerts {

using analyzer::anomaly::Anomaly;

class Sink {
 public:
  virtual ~Sink() = default;

  // Short and stable: the `sink` label of the delivery counters ("jsonl", "alertmanager",
  // "syslog").
  virtual std::string Name() const = 0;

  // Delivers one record. An error is retried by the dispatcher with backoff; the message says
  // what failed ("http://am:9093/api/v2/alerts answered 400: ...").
  virtual Result<void> Deliver(const Anomaly& anomaly) = 0;

  // Periodic work on the worker thread while its queue is idle (Alertmanager re-sends active
  // alerts). 0 = the sink has none.
  virtual std::chrono::milliseconds MaintenanceInterval() const {
    return std::chrono::milliseconds(0);
  }
  virtual void Maintain() {}

  // Called from another thread when Stop()'s deadline has passed: make a Deliver blocked in
  // I/O return soon (e.g. shutdown() its socket). Must be thread-safe; default: nothing, the
  // sink's own timeouts bound the wait.
  virtual void Cancel() {}
};

}  // namespace ta::agent::alerts
