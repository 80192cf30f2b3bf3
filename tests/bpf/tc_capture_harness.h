// Test harness around the tc_capture skeleton, shared by the privileged tests and the
// benchmark: open, size the maps and set .rodata like the loader does, load, then run either
// program on a frame with bpf_prog_test_run_opts() and read back ring buffer records, per-CPU
// counters and conn map entries.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/bpf/test_run.h"
#include "tests/common/capture_scenarios.h"

#include "ta_abi.h"
#include "tc_capture.skel.h"

namespace ta::testing {

static_assert(sizeof(ta_payload_event) == 72);
static_assert(sizeof(ta_conn_event) == 144);
static_assert(sizeof(ta_conn_state) == 128);

// The size class the program reserves for a payload of cap bytes, head and tail together
// (bpf/tc_capture.bpf.c).
inline size_t PayloadClass(size_t cap) {
  for (size_t c : {size_t{0}, size_t{64}, size_t{256}, size_t{512}, size_t{1024}, size_t{2048}}) {
    if (cap <= c) return c;
  }
  return TA_MAX_SNAPLEN;
}

inline ta_flow_key ToBpfKey(const KeyView& k) {
  ta_flow_key out{};
  std::memcpy(out.client_addr, k.client_addr.data(), 16);
  std::memcpy(out.server_addr, k.server_addr.data(), 16);
  out.client_port = k.client_port;
  out.server_port = k.server_port;
  out.family = k.family;
  return out;
}

inline KeyView FromBpfKey(const ta_flow_key& k) {
  KeyView out;
  std::memcpy(out.client_addr.data(), k.client_addr, 16);
  std::memcpy(out.server_addr.data(), k.server_addr, 16);
  out.client_port = k.client_port;
  out.server_port = k.server_port;
  out.family = k.family;
  return out;
}

using KernelStats = std::array<uint64_t, TA_STAT_MAX>;

inline StatView ToStatView(const KernelStats& s) {
  return {.packets = s[TA_STAT_PACKETS],
          .payload_events = s[TA_STAT_PAYLOAD_EVENTS],
          .conn_events = s[TA_STAT_CONN_EVENTS],
          .malformed = s[TA_STAT_MALFORMED],
          .ipv6_ext_unsupported = s[TA_STAT_IPV6_EXT_UNSUPPORTED],
          .fragments = s[TA_STAT_FRAGMENTS]};
}

// One ring buffer record: the neutral view plus what only the kernel reports.
struct RingRecord {
  ta_event_header hdr{};
  EventView view;
  size_t size = 0;          // record size as reserved
  uint32_t conn_flags = 0;  // open/close: TA_CONN_F_*
  uint64_t first_seen_ns = 0;
  std::array<uint64_t, 2> conn_bytes{};  // open/close: the flow's counters in the record
  std::array<uint64_t, 2> conn_packets{};
  std::array<uint64_t, 3> handshake_ns{};  // open/established/close: syn, synack, ack
  uint16_t cap_len = 0;
  uint16_t tail_len = 0;
};

class TcHarness {
 public:
  static constexpr int kTcActUnspec = -1;
  // bpf_prog_test_run runs tc programs on the network namespace's loopback device.
  static constexpr uint32_t kTestRunIfindex = 1;

  struct Options {
    uint32_t snaplen = 1024;
    uint32_t snaplen_tail = 256;
    std::vector<uint16_t> ports = {80, 443, 8080, 8443};
    uint32_t ringbuf_size = 4u << 20;
    uint32_t max_connections = 65536;
  };

  static std::unique_ptr<TcHarness> Load(const Options& opts, std::string* err) {
    libbpf_set_print(PrintWarnings);
    std::unique_ptr<TcHarness> h(new TcHarness());
    h->skel_ = tc_capture__open();
    if (h->skel_ == nullptr) return Fail(err, "tc_capture__open", errno);
    h->skel_->rodata->snaplen = opts.snaplen;
    h->skel_->rodata->snaplen_tail = opts.snaplen_tail;
    if (int e = bpf_map__set_max_entries(h->skel_->maps.ta_events, opts.ringbuf_size); e != 0) {
      return Fail(err, "set ringbuf size", e);
    }
    if (int e = bpf_map__set_max_entries(h->skel_->maps.ta_conns, opts.max_connections); e != 0) {
      return Fail(err, "set conn table size", e);
    }
    if (int e = tc_capture__load(h->skel_); e != 0) return Fail(err, "tc_capture__load", e);
    h->SetPorts(opts.ports);
    h->ring_ = ring_buffer__new(bpf_map__fd(h->skel_->maps.ta_events), OnRecord, h.get(), nullptr);
    if (h->ring_ == nullptr) return Fail(err, "ring_buffer__new", errno);
    h->ncpu_ = libbpf_num_possible_cpus();
    return h;
  }

  ~TcHarness() {
    if (ring_ != nullptr) ring_buffer__free(ring_);
    if (skel_ != nullptr) tc_capture__destroy(skel_);
  }

  tc_capture* skel() { return skel_; }

  int ProgFd(TcPoint point) const {
    return bpf_program__fd(point == TcPoint::kIngress ? skel_->progs.ta_tc_ingress
                                                      : skel_->progs.ta_tc_egress);
  }

  void SetPorts(const std::vector<uint16_t>& ports) {
    ta_port_set set{};
    for (uint16_t p : ports) set.bits[p / 64] |= 1ull << (p % 64);
    uint32_t zero = 0;
    bpf_map__update_elem(skel_->maps.ta_ports, &zero, sizeof(zero), &set, sizeof(set), 0);
  }

  // Runs the program once on `frame`; returns its verdict, or INT32_MIN if test_run failed.
  int Run(TcPoint point, const Bytes& frame) {
    bpf_test_run_opts opts = TestRunOpts(frame, 1);
    if (bpf_prog_test_run_opts(ProgFd(point), &opts) != 0) return INT32_MIN;
    return static_cast<int>(opts.retval);
  }

  // Runs `repeat` times in the kernel; returns the mean ns per run (test_run's own clock).
  std::optional<uint32_t> RunRepeated(TcPoint point, const Bytes& frame, uint32_t repeat) {
    bpf_test_run_opts opts = TestRunOpts(frame, repeat);
    if (bpf_prog_test_run_opts(ProgFd(point), &opts) != 0) return std::nullopt;
    return opts.duration;
  }

  std::vector<RingRecord> Drain() {
    records_.clear();
    ring_buffer__consume(ring_);
    return std::move(records_);
  }

  // Number of records consumed and thrown away (benchmark).
  int Discard() {
    discard_ = true;
    int n = ring_buffer__consume(ring_);
    discard_ = false;
    return n;
  }

  KernelStats Stats() const {
    KernelStats out{};
    std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu_));
    for (uint32_t i = 0; i < TA_STAT_MAX; ++i) {
      if (bpf_map__lookup_elem(skel_->maps.ta_stats, &i, sizeof(i), per_cpu.data(),
                               per_cpu.size() * sizeof(uint64_t), 0) != 0) {
        continue;
      }
      for (uint64_t v : per_cpu) out[i] += v;
    }
    return out;
  }

  void ResetStats() {
    std::vector<uint64_t> zeros(static_cast<size_t>(ncpu_), 0);
    for (uint32_t i = 0; i < TA_STAT_MAX; ++i) {
      bpf_map__update_elem(skel_->maps.ta_stats, &i, sizeof(i), zeros.data(),
                           zeros.size() * sizeof(uint64_t), 0);
    }
  }

  std::optional<ta_conn_state> Conn(const ta_flow_key& key) const {
    ta_conn_state st{};
    if (bpf_map__lookup_elem(skel_->maps.ta_conns, &key, sizeof(key), &st, sizeof(st), 0) != 0) {
      return std::nullopt;
    }
    return st;
  }

 private:
  TcHarness() = default;


  static std::unique_ptr<TcHarness> Fail(std::string* err, const char* what, int e) {
    if (err != nullptr) *err = std::string(what) + ": " + std::strerror(e < 0 ? -e : e);
    return nullptr;
  }

  static int PrintWarnings(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    return std::vfprintf(stderr, fmt, args);
  }

  static int OnRecord(void* ctx, void* data, size_t size) {
    auto* self = static_cast<TcHarness*>(ctx);
    if (self->discard_) return 0;
    RingRecord r;
    r.size = size;
    if (size < sizeof(ta_event_header)) return 0;
    std::memcpy(&r.hdr, data, sizeof(r.hdr));
    r.view.kind = static_cast<EventKind>(r.hdr.kind);
    if (r.hdr.kind == TA_EV_PAYLOAD && size >= sizeof(ta_payload_event)) {
      ta_payload_event ev;
      std::memcpy(&ev, data, sizeof(ev));
      const auto* bytes = static_cast<const uint8_t*>(data) + sizeof(ev);
      r.view.key = FromBpfKey(ev.key);
      r.view.dir = r.hdr.dir;
      r.view.seq = ev.seq;
      r.view.payload_len = ev.payload_len;
      r.view.tcp_flags = ev.tcp_flags;
      r.cap_len = ev.cap_len;
      r.tail_len = ev.tail_len;
      size_t cap = std::min<size_t>(ev.cap_len, size - sizeof(ev));
      r.view.captured.assign(bytes, bytes + cap);
      size_t tail = std::min<size_t>(ev.tail_len, size - sizeof(ev) - cap);
      r.view.tail.assign(bytes + cap, bytes + cap + tail);
    } else if (size >= sizeof(ta_conn_event)) {
      ta_conn_event ev;
      std::memcpy(&ev, data, sizeof(ev));
      r.view.key = FromBpfKey(ev.key);
      r.view.mid_stream = r.hdr.kind == TA_EV_CONN_OPEN && (ev.flags & TA_CONN_F_MID_STREAM);
      if (r.hdr.kind == TA_EV_CONN_CLOSE) {
        r.view.reset = (ev.flags & TA_CONN_F_RESET) != 0;
        r.view.bytes = {ev.bytes[0], ev.bytes[1]};
        r.view.packets = {ev.packets[0], ev.packets[1]};
        r.view.retransmits = {ev.retransmits[0], ev.retransmits[1]};
      }
      // An established record's view.handshake is left for the caller, who knows which
      // packet ran when (PacketIndexAt).
      r.handshake_ns = {ev.syn_ns, ev.synack_ns, ev.ack_ns};
      r.conn_flags = ev.flags;
      r.first_seen_ns = ev.first_seen_ns;
      r.conn_bytes = {ev.bytes[0], ev.bytes[1]};
      r.conn_packets = {ev.packets[0], ev.packets[1]};
    }
    self->records_.push_back(std::move(r));
    return 0;
  }

  tc_capture* skel_ = nullptr;
  ring_buffer* ring_ = nullptr;
  int ncpu_ = 1;
  bool discard_ = false;
  std::vector<RingRecord> records_;
};

}  // namespace ta::testing
