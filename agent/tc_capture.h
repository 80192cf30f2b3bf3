// Owns the tc_capture BPF skeleton: open, size the maps and set .rodata from config, load,
// fill the port set, attach to interfaces, and tear everything down in reverse order.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/result.h"
#include "agent/tc_hook.h"
#include "ta_abi.h"

struct tc_capture;  // bpftool skeleton

namespace ta::agent {

struct CaptureOptions {
  std::vector<uint16_t> ports;
  uint32_t snaplen = 1024;
  uint32_t snaplen_tail = 256;  // < snaplen, 0 disables (Config::snaplen_tail)
  uint32_t ringbuf_size = 8u << 20;
  uint32_t max_connections = 65536;
};

using KernelStats = std::array<uint64_t, TA_STAT_MAX>;

class TcCapture {
 public:
  static Result<std::unique_ptr<TcCapture>> Load(const CaptureOptions& options);
  ~TcCapture();
  TcCapture(const TcCapture&) = delete;
  TcCapture& operator=(const TcCapture&) = delete;

  // Attaches to tc ingress and egress of `ifname`. Attachments are released (in reverse order)
  // by DetachAll() or the destructor.
  Result<void> Attach(const std::string& ifname);
  void DetachAll();
  const std::vector<std::unique_ptr<TcAttachment>>& attachments() const { return attachments_; }

  int ringbuf_fd() const;
  // Per-CPU counters summed over CPUs, indexed by enum ta_stat.
  Result<KernelStats> ReadStats() const;

 private:
  explicit TcCapture(tc_capture* skel) : skel_(skel) {}

  tc_capture* skel_;
  std::vector<std::unique_ptr<TcAttachment>> attachments_;
};

// Routes libbpf's own log through spdlog: warnings always, debug output when `verbose`.
void InstallLibbpfLogger(bool verbose);

}  // namespace ta::agent
