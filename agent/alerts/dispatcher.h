// Fans anomaly records out to the alert sinks without ever blocking analysis.
//
// OnAnomaly runs on the analysis thread: it makes one shared copy of the record and pushes a
// pointer into each sink's bounded queue (a fixed ring, so O(1) per sink and no I/O). A full
// queue drops the record for that sink only, and counts it. One worker thread per sink drains
// its queue and retries a failed delivery with bounded exponential backoff, so a dead
// Alertmanager delays Alertmanager alerts and nothing else. Stop() lets the workers flush until
// a deadline, then abandons what is left (counted) and joins.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/alerts/sink.h"
#include "analyzer/anomaly/anomaly.h"

namespace ta::agent::alerts {

struct DispatcherConfig {
  size_t queue_capacity = 1024;  // records per sink queue; 1..1'000'000
  uint32_t max_attempts = 3;     // deliveries tried per record (1 = no retry); 1..10
  // Wait before the 2nd attempt; doubled before each later one, capped at max_backoff.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{1000};
  std::chrono::milliseconds stop_deadline{2000};  // Stop(): flush at most this long
};

// One sink's delivery counters. sent + failed + dropped + abandoned + queued (+ 1 while a
// record is in flight) = records offered to the sink.
struct SinkStats {
  std::string sink;
  uint64_t sent = 0;       // delivered
  uint64_t failed = 0;     // gave up after max_attempts
  uint64_t dropped = 0;    // queue full (or offered after Stop)
  uint64_t abandoned = 0;  // still queued or being retried when Stop's deadline passed
  uint64_t queued = 0;     // waiting in the queue now (gauge)
  std::string last_error;  // of the latest failed attempt, "" if none yet
};

class AlertDispatcher final : public analyzer::anomaly::AnomalySink {
 public:
  explicit AlertDispatcher(DispatcherConfig config = {});
  ~AlertDispatcher() override;  // Stop()
  AlertDispatcher(const AlertDispatcher&) = delete;
  AlertDispatcher& operator=(const AlertDispatcher&) = delete;

  // Before Start() only.
  void AddSink(std::unique_ptr<Sink> sink);
  // Starts one worker per sink.
  void Start();
  // Analysis thread: copies the record into every sink's queue; never blocks on a sink.
  void OnAnomaly(const Anomaly& anomaly) override;
  // Flushes for at most config.stop_deadline, then cancels and joins. Idempotent.
  void Stop();

  // Thread-safe snapshot, in AddSink order.
  std::vector<SinkStats> Stats() const;

 private:
  struct Lane;  // one sink, its queue, its worker, its counters
  void Work(Lane& lane);
  bool DeliverWithRetry(Lane& lane, const Anomaly& anomaly);

  DispatcherConfig config_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace ta::agent::alerts
