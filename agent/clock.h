// The daemon's clocks. Kernel timestamps (bpf_ktime_get_ns) are CLOCK_MONOTONIC; what operators
// read and what survives a restart (rule expiries, anomaly windows) is wall-clock time.
#pragma once

#include <cstdint>
#include <ctime>

namespace ta::agent {

inline int64_t ClockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<int64_t>(ts.tv_nsec);
}
inline uint64_t MonotonicNs() { return static_cast<uint64_t>(ClockNs(CLOCK_MONOTONIC)); }
inline int64_t RealtimeNs() { return ClockNs(CLOCK_REALTIME); }
// CLOCK_REALTIME - CLOCK_MONOTONIC: add to a monotonic time to get wall-clock time.
inline int64_t RealtimeMinusMonotonicNs() {
  return ClockNs(CLOCK_REALTIME) - ClockNs(CLOCK_MONOTONIC);
}

}  // namespace ta::agent
