// Start-up checks of every kernel prerequisite. Each failure names the missing piece and the
// fix; the daemon refuses to start on any of them rather than failing half-attached later.
#pragma once

#include <string>
#include <vector>

#include "agent/result.h"

namespace ta::agent {

struct KernelVersion {
  int major = 0, minor = 0, patch = 0;
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

// Parses a `uname -r` release string such as "6.18.44-fc-v669" or "5.10.0-28-amd64".
Result<KernelVersion> ParseKernelRelease(const std::string& release);

struct PrereqReport {
  KernelVersion kernel;
  std::string kernel_release;
  bool bpffs_mounted_by_us = false;
  std::vector<std::string> notes;  // informational lines for the start-up log
};

// Checks, in order: kernel version (>= 5.8, for the BPF ring buffer), BTF at
// /sys/kernel/btf/vmlinux (CO-RE relocation), capabilities (CAP_BPF + CAP_PERFMON +
// CAP_NET_ADMIN, or CAP_SYS_ADMIN), bpffs on /sys/fs/bpf (mounted when missing), and that the
// running kernel accepts a ring buffer map and sched_cls programs (probed, not assumed).
Result<PrereqReport> CheckPrerequisites();

// Mounts `fstype` on `path` when nothing of that type is mounted there. Returns true when it
// mounted. Used for bpffs here and for tracefs by later probes.
Result<bool> EnsureMounted(const std::string& path, const std::string& fstype, long magic);

}  // namespace ta::agent
