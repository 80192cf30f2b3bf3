#include "agent/tc_capture.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "tc_capture.skel.h"

namespace ta::agent {
namespace {

bool g_libbpf_verbose = false;

int LibbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !g_libbpf_verbose) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  std::string_view msg(buf, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  // bpf_tc_query on a hook without our filter is how we probe for a stale one; the kernel's
  // "not found" is the expected answer there, not a warning.
  if (msg.find("Cannot find specified filter chain") != std::string_view::npos) {
    level = LIBBPF_DEBUG;
    if (!g_libbpf_verbose) return 0;
  }
  switch (level) {
    case LIBBPF_WARN: spdlog::warn("libbpf: {}", msg); break;
    case LIBBPF_INFO: spdlog::info("libbpf: {}", msg); break;
    case LIBBPF_DEBUG: spdlog::debug("libbpf: {}", msg); break;
  }
  return 0;
}

}  // namespace

void InstallLibbpfLogger(bool verbose) {
  g_libbpf_verbose = verbose;
  libbpf_set_print(LibbpfPrint);
}

Result<std::unique_ptr<TcCapture>> TcCapture::Load(const CaptureOptions& options) {
  if (options.snaplen == 0 || options.snaplen > TA_MAX_SNAPLEN) {
    return Error{EINVAL, fmt::format("snaplen {} out of range 1..{}", options.snaplen,
                                     TA_MAX_SNAPLEN)};
  }
  if (options.snaplen_tail >= options.snaplen) {
    return Error{EINVAL, fmt::format("snaplen_tail {} must be below snaplen {} (0 disables it)",
                                     options.snaplen_tail, options.snaplen)};
  }
  tc_capture* skel = tc_capture__open();
  if (skel == nullptr) return ErrnoError("opening the tc_capture BPF object failed");
  std::unique_ptr<TcCapture> capture(new TcCapture(skel));

  skel->rodata->snaplen = options.snaplen;
  skel->rodata->snaplen_tail = options.snaplen_tail;
  if (int err = bpf_map__set_max_entries(skel->maps.ta_events, options.ringbuf_size); err != 0) {
    return ErrnoError(fmt::format("ring buffer size {} rejected (must be a power of two and a "
                                  "multiple of the page size)",
                                  options.ringbuf_size),
                      err);
  }
  if (int err = bpf_map__set_max_entries(skel->maps.ta_conns, options.max_connections); err != 0) {
    return ErrnoError("setting the connection table size failed", err);
  }
  if (int err = tc_capture__load(skel); err != 0) {
    return ErrnoError("loading the tc_capture BPF programs failed (the verifier log above says "
                      "why; with CAP_BPF missing this is EPERM)",
                      err);
  }
  if (skel->rodata->abi_version != TA_ABI_VERSION) {
    return Error{EPROTO, fmt::format("BPF object ABI {} does not match the daemon's {}: the "
                                     "object and the daemon come from different builds",
                                     skel->rodata->abi_version, TA_ABI_VERSION)};
  }

  ta_port_set ports{};
  for (uint16_t port : options.ports) ports.bits[port / 64] |= 1ull << (port % 64);
  uint32_t zero = 0;
  if (bpf_map__update_elem(skel->maps.ta_ports, &zero, sizeof(zero), &ports, sizeof(ports), 0) !=
      0) {
    return ErrnoError("map update failed: ta_ports (CAP_BPF missing or map full)");
  }
  return capture;
}

Result<void> TcCapture::Attach(const std::string& ifname) {
  auto prog = [](bpf_program* p) {
    return TcProgram{bpf_program__fd(p), bpf_program__name(p)};
  };
  auto att = TcAttachment::Attach(ifname, prog(skel_->progs.ta_tc_ingress),
                                  prog(skel_->progs.ta_tc_egress));
  if (!att) return att.error();
  attachments_.push_back(std::move(att.value()));
  return {};
}

void TcCapture::DetachAll() {
  while (!attachments_.empty()) attachments_.pop_back();  // reverse order of attach
}

int TcCapture::ringbuf_fd() const { return bpf_map__fd(skel_->maps.ta_events); }

Result<KernelStats> TcCapture::ReadStats() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoError("libbpf_num_possible_cpus", ncpu);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  KernelStats out{};
  for (uint32_t i = 0; i < TA_STAT_MAX; ++i) {
    if (bpf_map__lookup_elem(skel_->maps.ta_stats, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0) {
      return ErrnoError(fmt::format("reading ta_stats[{}] failed", i));
    }
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

TcCapture::~TcCapture() {
  DetachAll();
  tc_capture__destroy(skel_);
}

}  // namespace ta::agent
