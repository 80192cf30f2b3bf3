#include "agent/alerts/dispatcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace ta::agent::alerts {

struct AlertDispatcher::Lane {
  explicit Lane(std::unique_ptr<Sink> s, size_t capacity) : sink(std::move(s)), ring(capacity) {
    stats.sink = sink->Name();
  }

  std::unique_ptr<Sink> sink;
  mutable std::mutex mu;
  std::condition_variable wake;      // the worker waits here: a record, stop, abort
  std::condition_variable finished;  // Stop() waits here for the worker to drain
  // Fixed ring of shared records: pushing is a pointer copy, never an allocation.
  std::vector<std::shared_ptr<const Anomaly>> ring;
  size_t head = 0;
  size_t size = 0;
  bool stopping = false;  // flush what is queued, then exit
  bool aborting = false;  // Stop's deadline passed: no more attempts
  bool done = false;
  SinkStats stats;
  std::thread worker;
};

namespace {
enum class Outcome { kSent, kFailed, kAbandoned };
}  // namespace

AlertDispatcher::AlertDispatcher(DispatcherConfig config) : config_(config) {
  config_.queue_capacity = std::max<size_t>(config_.queue_capacity, 1);
  config_.max_attempts = std::max<uint32_t>(config_.max_attempts, 1);
}

AlertDispatcher::~AlertDispatcher() { Stop(); }

void AlertDispatcher::AddSink(std::unique_ptr<Sink> sink) {
  if (started_) return;  // programming error; the daemon adds every sink before Start()
  lanes_.push_back(std::make_unique<Lane>(std::move(sink), config_.queue_capacity));
}

void AlertDispatcher::Start() {
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& lane : lanes_) {
    Lane* l = lane.get();
    l->worker = std::thread([this, l] { Work(*l); });
  }
}

void AlertDispatcher::OnAnomaly(const Anomaly& anomaly) {
  if (lanes_.empty()) return;
  // One copy shared by every sink; the workers only read it.
  auto record = std::make_shared<const Anomaly>(anomaly);
  for (auto& lane : lanes_) {
    bool pushed = false;
    {
      std::lock_guard lock(lane->mu);
      if (lane->stopping || lane->size == lane->ring.size()) {
        ++lane->stats.dropped;
      } else {
        lane->ring[(lane->head + lane->size) % lane->ring.size()] = record;
        ++lane->size;
        pushed = true;
      }
    }
    if (pushed) lane->wake.notify_one();
  }
}

void AlertDispatcher::Work(Lane& lane) {
  const auto interval = lane.sink->MaintenanceInterval();
  auto next_maintenance = std::chrono::steady_clock::now() + interval;
  std::unique_lock lock(lane.mu);
  while (true) {
    if (lane.aborting) break;
    // Due maintenance runs between records too, so a busy queue cannot starve the re-sends
    // that keep Alertmanager alerts from expiring.
    if (interval.count() > 0 && !lane.stopping &&
        std::chrono::steady_clock::now() >= next_maintenance) {
      lock.unlock();
      lane.sink->Maintain();
      lock.lock();
      next_maintenance = std::chrono::steady_clock::now() + interval;
      continue;
    }
    if (lane.size == 0) {
      if (lane.stopping) break;
      const auto ready = [&] { return lane.size > 0 || lane.stopping || lane.aborting; };
      if (interval.count() <= 0) {
        lane.wake.wait(lock, ready);
      } else {
        lane.wake.wait_until(lock, next_maintenance, ready);
      }
      continue;
    }
    std::shared_ptr<const Anomaly> record = std::move(lane.ring[lane.head]);
    lane.head = (lane.head + 1) % lane.ring.size();
    --lane.size;
    lock.unlock();
    const bool sent = DeliverWithRetry(lane, *record);
    lock.lock();
    if (sent) {
      ++lane.stats.sent;
    } else if (lane.aborting) {
      ++lane.stats.abandoned;
    } else {
      ++lane.stats.failed;
    }
  }
  // Aborted: whatever is still queued will never be tried.
  lane.stats.abandoned += lane.size;
  for (; lane.size > 0; --lane.size) {
    lane.ring[lane.head].reset();
    lane.head = (lane.head + 1) % lane.ring.size();
  }
  lane.done = true;
  lock.unlock();
  lane.finished.notify_all();
}

bool AlertDispatcher::DeliverWithRetry(Lane& lane, const Anomaly& anomaly) {
  auto backoff = config_.initial_backoff;
  for (uint32_t attempt = 1;; ++attempt) {
    auto result = lane.sink->Deliver(anomaly);
    if (result.ok()) return true;
    std::unique_lock lock(lane.mu);
    lane.stats.last_error = result.error().ToString();
    if (attempt >= config_.max_attempts || lane.aborting) {
      spdlog::warn("alert sink {}: gave up on anomaly {} after {} attempt(s): {}", lane.stats.sink,
                   anomaly.id, attempt, lane.stats.last_error);
      return false;
    }
    // Bounded exponential backoff; Stop's abort cuts the wait short.
    if (lane.wake.wait_for(lock, backoff, [&] { return lane.aborting; })) return false;
    backoff = std::min(backoff * 2, config_.max_backoff);
  }
}

void AlertDispatcher::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& lane : lanes_) {
    {
      std::lock_guard lock(lane->mu);
      lane->stopping = true;
      if (!started_) {  // never started: nothing will deliver what was queued
        lane->stats.abandoned += lane->size;
        lane->size = 0;
      }
    }
    lane->wake.notify_all();
  }
  if (!started_) return;
  const auto deadline = std::chrono::steady_clock::now() + config_.stop_deadline;
  bool all_done = true;
  for (auto& lane : lanes_) {
    std::unique_lock lock(lane->mu);
    all_done &= lane->finished.wait_until(lock, deadline, [&] { return lane->done; });
  }
  if (!all_done) {
    for (auto& lane : lanes_) {
      {
        std::lock_guard lock(lane->mu);
        if (lane->done) continue;
        lane->aborting = true;
      }
      lane->wake.notify_all();
      lane->sink->Cancel();
    }
  }
  for (auto& lane : lanes_) {
    if (lane->worker.joinable()) lane->worker.join();
  }
}

std::vector<SinkStats> AlertDispatcher::Stats() const {
  std::vector<SinkStats> out;
  out.reserve(lanes_.size());
  for (const auto& lane : lanes_) {
    std::lock_guard lock(lane->mu);
    out.push_back(lane->stats);
    out.back().queued = lane->size;
  }
  return out;
}

}  // namespace ta::agent::alerts
