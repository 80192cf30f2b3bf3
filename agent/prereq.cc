#include "agent/prereq.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <fmt/format.h>

namespace ta::agent {
namespace {

constexpr long kBpfFsMagic = 0xcafe4a11;  // BPF_FS_MAGIC, include/uapi/linux/magic.h

// CAP_BPF and CAP_PERFMON are 39 and 38 (Linux 5.8); older libc headers may lack the names.
constexpr int kCapNetAdmin = 12;
constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

bool HasCap(const __user_cap_data_struct (&data)[2], int cap) {
  return (data[cap / 32].effective & (1u << (cap % 32))) != 0;
}

Result<void> CheckCapabilities() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return ErrnoError("capget failed");
  const bool sys_admin = HasCap(data, kCapSysAdmin);
  std::string missing;
  for (auto [cap, name] : {std::pair{kCapBpf, "CAP_BPF"}, std::pair{kCapPerfmon, "CAP_PERFMON"},
                           std::pair{kCapNetAdmin, "CAP_NET_ADMIN"}}) {
    // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON (pre-5.8 semantics), not NET_ADMIN.
    if (HasCap(data, cap) || (sys_admin && cap != kCapNetAdmin)) continue;
    missing += missing.empty() ? name : fmt::format(", {}", name);
  }
  if (!missing.empty()) {
    return Error{EPERM, fmt::format("missing capabilities: {}. Run as root, or grant them with "
                                    "AmbientCapabilities= in the systemd unit (see "
                                    "systemd/traffic-analyzer.service)",
                                    missing)};
  }
  return {};
}

}  // namespace

Result<KernelVersion> ParseKernelRelease(const std::string& release) {
  KernelVersion v;
  if (std::sscanf(release.c_str(), "%d.%d.%d", &v.major, &v.minor, &v.patch) < 2) {
    return Error{EINVAL, fmt::format("cannot parse kernel release '{}'", release)};
  }
  return v;
}

Result<bool> EnsureMounted(const std::string& path, const std::string& fstype, long magic) {
  struct statfs st {};
  if (statfs(path.c_str(), &st) == 0 && static_cast<long>(st.f_type) == magic) return false;
  if (mount(fstype.c_str(), path.c_str(), fstype.c_str(), 0, nullptr) != 0) {
    return ErrnoError(fmt::format("{} is not mounted on {} and mounting it failed; mount it "
                                  "with `mount -t {} {} {}`",
                                  fstype, path, fstype, fstype, path));
  }
  return true;
}

Result<PrereqReport> CheckPrerequisites() {
  PrereqReport report;
  struct utsname uts {};
  uname(&uts);
  report.kernel_release = uts.release;
  auto version = ParseKernelRelease(uts.release);
  if (!version) return version.error();
  report.kernel = *version;
  if (!report.kernel.AtLeast(5, 8)) {
    return Error{ENOTSUP, fmt::format("kernel {} lacks the BPF ring buffer (needs 5.8 or newer); "
                                      "upgrade the kernel",
                                      uts.release)};
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    return ErrnoError(fmt::format("kernel {} exposes no BTF at /sys/kernel/btf/vmlinux, which "
                                  "CO-RE programs need; use a kernel built with "
                                  "CONFIG_DEBUG_INFO_BTF=y (all major distributions since 2021)",
                                  uts.release));
  }
  if (auto caps = CheckCapabilities(); !caps) return caps.error();
  auto mounted = EnsureMounted("/sys/fs/bpf", "bpf", kBpfFsMagic);
  if (!mounted) return mounted.error();
  report.bpffs_mounted_by_us = *mounted;
  if (*mounted) report.notes.push_back("mounted bpffs on /sys/fs/bpf");

  // Probe what the version number only suggests: distribution kernels backport and disable.
  if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) != 1) {
    return Error{ENOTSUP, fmt::format("kernel {} refused a BPF ring buffer map (probe failed); "
                                      "it needs CONFIG_BPF_SYSCALL and 5.8+ ring buffer support",
                                      uts.release)};
  }
  if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SCHED_CLS, nullptr) != 1) {
    return Error{ENOTSUP, fmt::format("kernel {} refused a tc (sched_cls) BPF program; it needs "
                                      "CONFIG_NET_CLS_BPF and CONFIG_NET_SCH_INGRESS",
                                      uts.release)};
  }
  return report;
}

}  // namespace ta::agent
