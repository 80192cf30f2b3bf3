// Least privilege after start-up. The daemon needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (and,
// for TLS discovery in other users' processes, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) to load
// and attach; once attached it keeps only what the running loop still uses and drops the rest
// from every set (effective, permitted, inheritable, ambient and, when it may, bounding), then
// sets no_new_privs. See docs/install.md for the capability table.
//
// Capabilities are per thread in Linux: RetainOnly() refuses to run in a multi-threaded
// process, so the daemon calls it before starting any worker thread (they inherit the reduced
// sets).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/prereq.h"
#include "agent/result.h"

namespace ta::agent {

// Capability numbers (linux/capability.h; CAP_PERFMON and CAP_BPF are 5.8+ and may be missing
// from older headers).
inline constexpr int kCapChown = 0;
inline constexpr int kCapDacOverride = 1;
inline constexpr int kCapDacReadSearch = 2;
inline constexpr int kCapSetpcap = 8;
inline constexpr int kCapNetBindService = 10;
inline constexpr int kCapNetAdmin = 12;
inline constexpr int kCapSysPtrace = 19;
inline constexpr int kCapSysAdmin = 21;
inline constexpr int kCapSysResource = 24;
inline constexpr int kCapPerfmon = 38;
inline constexpr int kCapBpf = 39;
inline constexpr int kCapLast = 40;  // CAP_CHECKPOINT_RESTORE, the highest known in 6.x

constexpr uint64_t CapBit(int cap) { return uint64_t{1} << cap; }

// "CAP_NET_ADMIN,CAP_BPF" in capability order; "none" for 0; unknown bits as "cap_N".
std::string CapabilityNames(uint64_t mask, std::string_view separator = ",");
// A CapEff:/CapPrm:/CapBnd: value from /proc/PID/status ("0000000000003000").
Result<uint64_t> ParseCapabilityMask(std::string_view hex);

struct CapabilitySets {
  uint64_t effective = 0, permitted = 0, inheritable = 0, bounding = 0, ambient = 0;
  bool no_new_privs = false;
};
// The calling process's sets, from /proc/self/status.
Result<CapabilitySets> ReadOwnCapabilities();

// What the running daemon still needs after everything is attached:
// - CAP_NET_ADMIN: detaching the tc filters (and the clsact qdisc it made) and the XDP program
//   at shutdown goes through rtnetlink;
// - with TLS uprobes on: CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (uprobe perf events) to attach
//   uprobes to processes that start later, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH to read
//   their /proc/PID/maps and open their libssl through /proc/PID/root;
// - CAP_BPF on kernels before 6.5, where every bpf() command (map lookups and updates on fds
//   already open included) needs it when unprivileged BPF is disabled.
uint64_t RuntimeCapabilities(bool tls_uprobes, const KernelVersion& kernel);

// Keeps `keep` (intersected with what the process has) and drops every other capability from
// all five sets; sets PR_SET_NO_NEW_PRIVS. Returns the sets afterwards.
Result<CapabilitySets> RetainOnly(uint64_t keep);

}  // namespace ta::agent
