#include "agent/privileges.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <array>
#include <charconv>
#include <fstream>

namespace ta::agent {
namespace {

constexpr std::array<std::string_view, kCapLast + 1> kCapNames = {"CAP_CHOWN",
                                                                  "CAP_DAC_OVERRIDE",
                                                                  "CAP_DAC_READ_SEARCH",
                                                                  "CAP_FOWNER",
                                                                  "CAP_FSETID",
                                                                  "CAP_KILL",
                                                                  "CAP_SETGID",
                                                                  "CAP_SETUID",
                                                                  "CAP_SETPCAP",
                                                                  "CAP_LINUX_IMMUTABLE",
                                                                  "CAP_NET_BIND_SERVICE",
                                                                  "CAP_NET_BROADCAST",
                                                                  "CAP_NET_ADMIN",
                                                                  "CAP_NET_RAW",
                                                                  "CAP_IPC_LOCK",
                                                                  "CAP_IPC_OWNER",
                                                                  "CAP_SYS_MODULE",
                                                                  "CAP_SYS_RAWIO",
                                                                  "CAP_SYS_CHROOT",
                                                                  "CAP_SYS_PTRACE",
                                                                  "CAP_SYS_PACCT",
                                                                  "CAP_SYS_ADMIN",
                                                                  "CAP_SYS_BOOT",
                                                                  "CAP_SYS_NICE",
                                                                  "CAP_SYS_RESOURCE",
                                                                  "CAP_SYS_TIME",
                                                                  "CAP_SYS_TTY_CONFIG",
                                                                  "CAP_MKNOD",
                                                                  "CAP_LEASE",
                                                                  "CAP_AUDIT_WRITE",
                                                                  "CAP_AUDIT_CONTROL",
                                                                  "CAP_SETFCAP",
                                                                  "CAP_MAC_OVERRIDE",
                                                                  "CAP_MAC_ADMIN",
                                                                  "CAP_SYSLOG",
                                                                  "CAP_WAKE_ALARM",
                                                                  "CAP_BLOCK_SUSPEND",
                                                                  "CAP_AUDIT_READ",
                                                                  "CAP_PERFMON",
                                                                  "CAP_BPF",
                                                                  "CAP_CHECKPOINT_RESTORE"};

// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap), so bounding-set
// drops do not run past it (PR_CAPBSET_DROP fails with EINVAL there).
int KernelCapLast() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = kCapLast;
  if (!(in >> last) || last < 0 || last > 63) return kCapLast;
  return last;
}

Result<int> ThreadCount() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("Threads:")) {
      int n = 0;
      const std::string_view v = std::string_view(line).substr(8);
      const size_t start = v.find_first_not_of(" \t");
      if (start != std::string_view::npos) {
        std::from_chars(v.data() + start, v.data() + v.size(), n);
      }
      return n;
    }
  }
  return Error{EIO, "cannot read the thread count from /proc/self/status"};
}

}  // namespace

std::string CapabilityNames(uint64_t mask, std::string_view separator) {
  if (mask == 0) return "none";
  std::string out;
  for (int cap = 0; cap < 64; ++cap) {
    if ((mask & CapBit(cap)) == 0) continue;
    if (!out.empty()) out += separator;
    if (cap <= kCapLast) {
      out += kCapNames[static_cast<size_t>(cap)];
    } else {
      out += fmt::format("cap_{}", cap);
    }
  }
  return out;
}

Result<uint64_t> ParseCapabilityMask(std::string_view hex) {
  while (!hex.empty() && (hex.front() == ' ' || hex.front() == '\t')) hex.remove_prefix(1);
  while (!hex.empty() && (hex.back() == ' ' || hex.back() == '\t')) hex.remove_suffix(1);
  uint64_t mask = 0;
  auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), mask, 16);
  if (hex.empty() || hex.size() > 16 || ec != std::errc{} || ptr != hex.data() + hex.size()) {
    return Error{EINVAL, fmt::format("'{}' is not a capability mask (16 hex digits)", hex)};
  }
  return mask;
}

Result<CapabilitySets> ReadOwnCapabilities() {
  std::ifstream in("/proc/self/status");
  if (!in) return ErrnoError("cannot read /proc/self/status");
  CapabilitySets sets;
  std::string line;
  int found = 0;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key = std::string_view(line).substr(0, colon);
    const std::string_view value = std::string_view(line).substr(colon + 1);
    uint64_t* target = key == "CapEff"   ? &sets.effective
                       : key == "CapPrm" ? &sets.permitted
                       : key == "CapInh" ? &sets.inheritable
                       : key == "CapBnd" ? &sets.bounding
                       : key == "CapAmb" ? &sets.ambient
                                         : nullptr;
    if (target != nullptr) {
      auto mask = ParseCapabilityMask(value);
      if (!mask)
        return Error{EIO, "/proc/self/status " + std::string(key) + ": " + mask.error().message};
      *target = *mask;
      ++found;
    } else if (key == "NoNewPrivs") {
      sets.no_new_privs = value.find('1') != std::string_view::npos;
    }
  }
  if (found != 5) return Error{EIO, "/proc/self/status lacks the Cap* lines"};
  return sets;
}

uint64_t RuntimeCapabilities(bool tls_uprobes, const KernelVersion& kernel) {
  uint64_t keep = CapBit(kCapNetAdmin);
  if (tls_uprobes) {
    // Creating a uprobe perf event checks CAP_SYS_ADMIN on current kernels (measured on 6.18:
    // EACCES with CAP_PERFMON alone; docs/install.md), so TLS discovery of processes that start
    // later keeps it when the unit granted it (systemd/tls-uprobes.conf).
    keep |= CapBit(kCapBpf) | CapBit(kCapPerfmon) | CapBit(kCapSysPtrace) |
            CapBit(kCapDacReadSearch) | CapBit(kCapSysAdmin);
  }
  // Linux 6.5 moved the unprivileged-BPF check from every bpf() command to the commands that
  // create objects (commit "bpf: Move unprivileged checks into map_create() and
  // bpf_prog_load()"); before it, reading a map through an open fd needs CAP_BPF too.
  if (!kernel.AtLeast(6, 5)) keep |= CapBit(kCapBpf);
  return keep;
}

Result<CapabilitySets> RetainOnly(uint64_t keep) {
  auto threads = ThreadCount();
  if (!threads) return threads.error();
  if (*threads != 1) {
    return Error{EBUSY, fmt::format("cannot drop capabilities with {} threads running: "
                                    "capabilities are per thread, so the others would keep "
                                    "theirs (a bug: drop before starting workers)",
                                    *threads)};
  }
  auto before = ReadOwnCapabilities();
  if (!before) return before.error();
  keep &= before->permitted;

  // The bounding set first, while CAP_SETPCAP (if we have it) is still effective.
  if ((before->effective & CapBit(kCapSetpcap)) != 0) {
    const int last = KernelCapLast();
    for (int cap = 0; cap <= last; ++cap) {
      if ((keep & CapBit(cap)) != 0 || (before->bounding & CapBit(cap)) == 0) continue;
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
        return ErrnoError(
            fmt::format("cannot drop {} from the bounding set", CapabilityNames(CapBit(cap))));
      }
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return ErrnoError("cannot clear the ambient capability set");
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  for (size_t i = 0; i < 2; ++i) {
    const auto word = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = 0;
  }
  if (::syscall(SYS_capset, &header, data.data()) != 0) {
    return ErrnoError(fmt::format("cannot reduce capabilities to {}", CapabilityNames(keep)));
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return ErrnoError("cannot set no_new_privs");
  }
  return ReadOwnCapabilities();
}

}  // namespace ta::agent
