// AlertDispatcher: OnAnomaly never blocks on a sink, drops are counted exactly, failures are
// retried a bounded number of times, and Stop() flushes then abandons at its deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "agent/alerts/dispatcher.h"
#include "tests/agent/sinks/test_records.h"

namespace ta::agent::alerts {
namespace {

using testing::BolaRecord;

// Records every delivered id; optionally blocks each Deliver until Release(), or fails the
// first `fail_first` attempts.
class FakeSink final : public Sink {
 public:
  explicit FakeSink(std::string name) : name_(std::move(name)) {}
  std::string Name() const override { return name_; }

  Result<void> Deliver(const Anomaly& anomaly) override {
    std::unique_lock lock(mu_);
    ++attempts_;
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !block_ || cancelled_; });
    if (cancelled_) return Error{ECANCELED, "cancelled"};
    if (attempts_ <= fail_first_) return Error{0, "fake failure " + std::to_string(attempts_)};
    delivered_.push_back(anomaly.id);
    cv_.notify_all();
    return {};
  }
  void Cancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }

  void Block() {
    std::lock_guard lock(mu_);
    block_ = true;
  }
  void Release() {
    std::lock_guard lock(mu_);
    block_ = false;
    cv_.notify_all();
  }
  void FailFirst(uint64_t n) {
    std::lock_guard lock(mu_);
    fail_first_ = n;
  }
  // Bounded wait until `n` Deliver calls have started.
  bool WaitEntered(uint64_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return entered_ >= n; });
  }
  bool WaitDelivered(size_t n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return delivered_.size() >= n; });
  }
  uint64_t entered() {
    std::lock_guard lock(mu_);
    return entered_;
  }
  uint64_t attempts() {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  std::vector<uint64_t> delivered() {
    std::lock_guard lock(mu_);
    return delivered_;
  }

 private:
  const std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool block_ = false;
  bool cancelled_ = false;
  uint64_t fail_first_ = 0;
  uint64_t attempts_ = 0;
  uint64_t entered_ = 0;
  std::vector<uint64_t> delivered_;
};

Anomaly Record(uint64_t id) {
  Anomaly a = BolaRecord();
  a.id = id;
  return a;
}

std::vector<uint64_t> Ids(uint64_t first, uint64_t count) {
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

TEST(AlertDispatcher, BlockedSinkNeverBlocksOnAnomalyAndDropsExactly) {
  constexpr size_t kCapacity = 100;
  constexpr uint64_t kRecords = 5000;
  DispatcherConfig config;
  config.queue_capacity = kCapacity;
  AlertDispatcher dispatcher(config);
  auto owned = std::make_unique<FakeSink>("blocking");
  FakeSink* sink = owned.get();
  sink->Block();
  dispatcher.AddSink(std::move(owned));
  dispatcher.Start();

  dispatcher.OnAnomaly(Record(0));
  ASSERT_TRUE(sink->WaitEntered(1));  // record 0 is in flight, stuck in Deliver
  uint64_t returned_while_blocked = 0;
  for (uint64_t id = 1; id < kRecords; ++id) {
    dispatcher.OnAnomaly(Record(id));
    if (sink->entered() == 1 && sink->delivered().empty()) ++returned_while_blocked;
  }
  EXPECT_EQ(returned_while_blocked, kRecords - 1);
  auto stats = dispatcher.Stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].sink, "blocking");
  EXPECT_EQ(stats[0].queued, kCapacity);
  EXPECT_EQ(stats[0].dropped, kRecords - kCapacity - 1);  // 1 in flight
  EXPECT_EQ(stats[0].sent, 0u);

  sink->Release();
  dispatcher.Stop();
  stats = dispatcher.Stats();
  EXPECT_EQ(stats[0].sent, kCapacity + 1);
  EXPECT_EQ(stats[0].dropped, kRecords - kCapacity - 1);
  EXPECT_EQ(stats[0].failed, 0u);
  EXPECT_EQ(stats[0].abandoned, 0u);
  EXPECT_EQ(stats[0].queued, 0u);
  EXPECT_EQ(sink->delivered(), Ids(0, kCapacity + 1));  // oldest kept, in order
}

TEST(AlertDispatcher, BlockedSinkDoesNotStallTheOthers) {
  AlertDispatcher dispatcher;
  auto blocked_owned = std::make_unique<FakeSink>("blocked");
  auto free_owned = std::make_unique<FakeSink>("free");
  FakeSink* blocked = blocked_owned.get();
  FakeSink* free = free_owned.get();
  blocked->Block();
  dispatcher.AddSink(std::move(blocked_owned));
  dispatcher.AddSink(std::move(free_owned));
  dispatcher.Start();
  for (uint64_t id = 0; id < 50; ++id) dispatcher.OnAnomaly(Record(id));
  ASSERT_TRUE(free->WaitDelivered(50));
  ASSERT_TRUE(blocked->WaitEntered(1));  // its worker holds record 0, the rest wait
  EXPECT_EQ(free->delivered(), Ids(0, 50));
  EXPECT_TRUE(blocked->delivered().empty());
  const auto stats = dispatcher.Stats();
  EXPECT_EQ(stats[0].queued, 49u);
  EXPECT_EQ(stats[1].sent, 50u);
  blocked->Release();
  dispatcher.Stop();
  EXPECT_EQ(dispatcher.Stats()[0].sent, 50u);
}

TEST(AlertDispatcher, FailingSinkGivesUpAfterMaxAttempts) {
  DispatcherConfig config;
  config.max_attempts = 3;
  config.initial_backoff = std::chrono::milliseconds(1);
  config.max_backoff = std::chrono::milliseconds(2);
  AlertDispatcher dispatcher(config);
  auto owned = std::make_unique<FakeSink>("failing");
  FakeSink* sink = owned.get();
  sink->FailFirst(UINT64_MAX);
  dispatcher.AddSink(std::move(owned));
  dispatcher.Start();
  for (uint64_t id = 0; id < 7; ++id) dispatcher.OnAnomaly(Record(id));
  dispatcher.Stop();  // flushes: every record has had its attempts
  const auto stats = dispatcher.Stats();
  EXPECT_EQ(stats[0].failed, 7u);
  EXPECT_EQ(stats[0].sent, 0u);
  EXPECT_EQ(stats[0].abandoned, 0u);
  EXPECT_EQ(sink->attempts(), 21u);
  EXPECT_EQ(stats[0].last_error, "fake failure 21");
}

TEST(AlertDispatcher, RetrySucceedsWithinTheAttempts) {
  DispatcherConfig config;
  config.initial_backoff = std::chrono::milliseconds(1);
  AlertDispatcher dispatcher(config);
  auto owned = std::make_unique<FakeSink>("flaky");
  FakeSink* sink = owned.get();
  sink->FailFirst(2);
  dispatcher.AddSink(std::move(owned));
  dispatcher.Start();
  dispatcher.OnAnomaly(Record(9));
  dispatcher.Stop();
  const auto stats = dispatcher.Stats();
  EXPECT_EQ(stats[0].sent, 1u);
  EXPECT_EQ(stats[0].failed, 0u);
  EXPECT_EQ(sink->attempts(), 3u);
  EXPECT_EQ(sink->delivered(), std::vector<uint64_t>{9});
}

TEST(AlertDispatcher, StopFlushesEverythingQueued) {
  AlertDispatcher dispatcher;
  auto owned = std::make_unique<FakeSink>("fast");
  FakeSink* sink = owned.get();
  dispatcher.AddSink(std::move(owned));
  dispatcher.Start();
  for (uint64_t id = 0; id < 300; ++id) dispatcher.OnAnomaly(Record(id));
  dispatcher.Stop();
  EXPECT_EQ(sink->delivered(), Ids(0, 300));
  EXPECT_EQ(dispatcher.Stats()[0].sent, 300u);
  // After Stop a record is counted, not queued.
  dispatcher.OnAnomaly(Record(300));
  EXPECT_EQ(dispatcher.Stats()[0].dropped, 1u);
}

TEST(AlertDispatcher, StopDeadlineCancelsAndCountsAbandoned) {
  DispatcherConfig config;
  config.stop_deadline = std::chrono::milliseconds(50);
  AlertDispatcher dispatcher(config);
  auto owned = std::make_unique<FakeSink>("stuck");
  FakeSink* sink = owned.get();
  sink->Block();  // never released: only Cancel() frees it
  dispatcher.AddSink(std::move(owned));
  dispatcher.Start();
  dispatcher.OnAnomaly(Record(0));
  ASSERT_TRUE(sink->WaitEntered(1));
  for (uint64_t id = 1; id <= 5; ++id) dispatcher.OnAnomaly(Record(id));
  dispatcher.Stop();
  const auto stats = dispatcher.Stats();
  EXPECT_EQ(stats[0].abandoned, 6u);  // the one in flight and the five queued
  EXPECT_EQ(stats[0].sent, 0u);
  EXPECT_EQ(stats[0].failed, 0u);
  EXPECT_EQ(stats[0].queued, 0u);
  EXPECT_EQ(sink->attempts(), 1u);
}

TEST(AlertDispatcher, NeverStartedCountsQueuedAsAbandoned) {
  AlertDispatcher dispatcher;
  dispatcher.AddSink(std::make_unique<FakeSink>("idle"));
  dispatcher.OnAnomaly(Record(1));
  dispatcher.OnAnomaly(Record(2));
  EXPECT_EQ(dispatcher.Stats()[0].queued, 2u);
  dispatcher.Stop();
  EXPECT_EQ(dispatcher.Stats()[0].abandoned, 2u);
  EXPECT_EQ(dispatcher.Stats()[0].queued, 0u);
}

}  // namespace
}  // namespace ta::agent::alerts
