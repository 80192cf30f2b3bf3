// ns per frame of the XDP enforcement program, measured in the kernel by
// bpf_prog_test_run_opts() with `repeat` (the kernel reports the mean time per run), next to
// an empty `return XDP_DROP` program (the floor test_run itself costs) and xdp-filter's own
// programs (xdp-tools' xdpfilt_{dny,alw}_ip.o, loaded with libbpf, no dispatcher) on the same
// frames.
// Prints a table; needs root. Not a test: timing never decides pass or fail.
//
//   sudo build/tests/bpf/xdp_enforce_bench [--repeat N]
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "agent/enforce/xdp_enforcer.h"
#include "tests/bpf/test_run.h"
#include "tests/common/packet_builder.h"

namespace ta::testing {
namespace {

using agent::enforce::Cidr;
using agent::enforce::XdpEnforcer;
using agent::enforce::XdpEnforcerOptions;
using agent::enforce::XdpRuleEntry;
using agent::enforce::XdpSynEntry;

constexpr int kRounds = 5;          // the median is reported
constexpr uint32_t kRules = 10000;  // 10k blocklist entries: 8k IPv4 (/32 and /24), 2k IPv6

uint64_t MonotonicNs() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<uint64_t>(t.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(t.tv_nsec);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Mean ns per run over `repeat` runs, median of kRounds; negative on failure. `expect` is the
// XDP action every run must return (a benchmark of the wrong path is worse than none).
double Time(int prog_fd, const Bytes& frame, uint32_t repeat, uint32_t expect, std::string* err) {
  std::vector<double> rounds;
  for (int r = 0; r < kRounds; ++r) {
    bpf_test_run_opts opts = TestRunOpts(frame, repeat);
    if (int e = bpf_prog_test_run_opts(prog_fd, &opts); e != 0) {
      *err = std::string("test_run failed: ") + std::strerror(-e);
      return -1;
    }
    if (opts.retval != expect) {
      *err = "returned " + std::to_string(opts.retval) + ", expected " + std::to_string(expect);
      return -1;
    }
    rounds.push_back(opts.duration);
  }
  return Median(rounds);
}

int LoadEmptyDrop() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, XDP_DROP},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_XDP, "ta_bench_drop", "GPL", insns, 2, nullptr);
}

FrameSpec Tcp(const std::string& src, uint8_t flags = kAck, size_t payload = 0) {
  FrameSpec s;
  const bool v6 = src.find(':') != std::string::npos;
  s.l3 = v6 ? L3::kIpv6 : L3::kIpv4;
  s.src = src;
  s.dst = v6 ? "2001:db8:ffff::1" : "198.19.255.1";
  s.dport = 80;
  s.tcp_flags = flags;
  s.payload = PatternPayload(payload);
  s.pad_to = 60;
  return s;
}

Cidr V4(uint32_t host_order, uint8_t len) {
  Cidr c;
  c.family = TA_AF_INET;
  c.prefix_len = len;
  const uint32_t n = htonl(host_order);
  std::memcpy(c.addr.data(), &n, 4);
  return c;
}

// 10k random rules that never cover 198.18.0.0/15 or 203.0.113.0/24 (the test frames'
// sources): /32 and /24 in 10.0.0.0/8 and 100.64.0.0/10, /64 and /128 in 2001:db8:1000::/36.
bool AddRandomRules(XdpEnforcer& e, uint32_t first_slot, std::string* err) {
  std::mt19937 rng(42);  // fixed seed: the same rules every run
  for (uint32_t i = 0; i < kRules; ++i) {
    XdpRuleEntry r;
    r.value.action = TA_XDP_ACT_DROP;
    r.value.slot = first_slot + i;
    r.value.rule_id = first_slot + i + 1;
    if (i < kRules * 8 / 10) {
      const uint32_t base = (i % 2) ? 0x0A000000u : 0x64400000u;
      const uint32_t span = (i % 2) ? 0x00FFFFFFu : 0x003FFFFFu;
      const uint32_t addr = base | (static_cast<uint32_t>(rng()) & span);
      r.source = (i % 3 == 0) ? V4(addr & 0xFFFFFF00u, 24) : V4(addr, 32);
    } else {
      r.source.family = TA_AF_INET6;
      r.source.addr = {0x20, 0x01, 0x0d, 0xb8, 0x10};
      for (size_t b = 5; b < 16; ++b) r.source.addr[b] = static_cast<uint8_t>(rng() & 0xFF);
      r.source.prefix_len = (i % 2) ? 128 : 64;
      if (r.source.prefix_len == 64) std::fill(r.source.addr.begin() + 8, r.source.addr.end(), 0);
    }
    if (auto res = e.PutRule(r); !res) {
      *err = res.error().ToString();
      return false;
    }
  }
  return true;
}

struct Row {
  std::string name;
  Bytes frame;
  uint32_t expect = XDP_PASS;
  double ns = -1;
  std::string note;
};

void Print(const Row& r) {
  if (r.ns < 0) {
    std::printf("%-52s %7zu %10s  (%s)\n", r.name.c_str(), r.frame.size(), "n/a", r.note.c_str());
  } else {
    std::printf("%-52s %7zu %10.1f\n", r.name.c_str(), r.frame.size(), r.ns);
  }
}

std::unique_ptr<XdpEnforcer> LoadOurs(std::string* err, bool beat = true) {
  XdpEnforcerOptions o;
  o.max_rules = 16384;
  o.heartbeat_timeout_ns = 3600'000'000'000u;
  auto e = XdpEnforcer::Load(o);
  if (!e) {
    *err = e.error().ToString();
    return nullptr;
  }
  if (beat && !(*e)->Beat(MonotonicNs())) {
    *err = "heartbeat write failed";
    return nullptr;
  }
  return std::move(e.value());
}

// xdp-filter's program, opened with plain libbpf: no libxdp dispatcher (test_run calls the
// program directly) and no pinning (its maps would otherwise land in /sys/fs/bpf).
struct XdpFilter {
  bpf_object* obj = nullptr;
  int prog_fd = -1;
  int ipv4_fd = -1;
  ~XdpFilter() {
    if (obj != nullptr) bpf_object__close(obj);
  }
};

std::unique_ptr<XdpFilter> LoadXdpFilter(const char* object, std::string* err) {
  auto f = std::make_unique<XdpFilter>();
  f->obj = bpf_object__open_file(object, nullptr);
  if (f->obj == nullptr) {
    *err = std::string("cannot open ") + object + ": " + std::strerror(errno);
    return nullptr;
  }
  bpf_map* m;
  bpf_object__for_each_map(m, f->obj) bpf_map__set_pin_path(m, nullptr);
  if (int e = bpf_object__load(f->obj); e != 0) {
    *err = std::string("libbpf could not load it: ") + std::strerror(-e);
    return nullptr;
  }
  bpf_program* p = bpf_object__next_program(f->obj, nullptr);
  if (p == nullptr) {
    *err = "no program in the object";
    return nullptr;
  }
  f->prog_fd = bpf_program__fd(p);
  bpf_map* v4 = bpf_object__find_map_by_name(f->obj, "filter_ipv4");
  if (v4 == nullptr) {
    *err = "no filter_ipv4 map";
    return nullptr;
  }
  f->ipv4_fd = bpf_map__fd(v4);
  return f;
}

}  // namespace
}  // namespace ta::testing

int main(int argc, char** argv) {
  using namespace ta::testing;
  uint32_t repeat = 0;
  if (int rc = ParseBenchArgs(argc, argv, "xdp_enforce_bench", &repeat); rc >= 0) return rc;
  libbpf_set_print(nullptr);

  const Bytes ack4 = BuildFrame(Tcp("198.18.0.1"));
  const Bytes ack6 = BuildFrame(Tcp("2001:db8::1"));
  const Bytes blocked4 = BuildFrame(Tcp("203.0.113.7"));
  const Bytes syn4 = BuildFrame(Tcp("198.18.0.1", kSyn));
  std::vector<Row> rows;
  std::string err;
  int rc = 0;

  // The floor.
  {
    Row r{"empty program (return XDP_DROP): test_run floor", ack4, XDP_DROP, -1, ""};
    int fd = LoadEmptyDrop();
    if (fd < 0) {
      r.note = "bpf_prog_load failed";
    } else {
      r.ns = Time(fd, r.frame, repeat, r.expect, &r.note);
      close(fd);
    }
    rows.push_back(r);
  }

  // Ours.
  const auto t0 = std::chrono::steady_clock::now();
  auto ours = LoadOurs(&err);
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (ours == nullptr) {
    std::fprintf(stderr, "loading xdp_enforce failed: %s\n", err.c_str());
    return 1;
  }
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  bpf_obj_get_info_by_fd(ours->prog_fd(), &info, &len);

  auto run = [&](const std::string& name, const Bytes& frame, uint32_t expect, int fd) {
    Row r{name, frame, expect, -1, ""};
    r.ns = Time(fd, frame, repeat, expect, &r.note);
    if (r.ns < 0) rc = 1;
    rows.push_back(r);
  };
  {
    auto stale = LoadOurs(&err, /*beat=*/false);
    if (stale != nullptr)
      run("ta_xdp_enforce: heartbeat stale (fail open)", ack4, XDP_PASS, stale->prog_fd());
  }
  run("ta_xdp_enforce: 0 rules, TCP/IPv4", ack4, XDP_PASS, ours->prog_fd());
  run("ta_xdp_enforce: 0 rules, TCP/IPv6", ack6, XDP_PASS, ours->prog_fd());
  {
    XdpSynEntry s;
    s.port = 80;
    s.admit_ppm = 500000;
    s.slot = 16383;
    if (!ours->PutSyn(s)) rc = 1;
  }
  if (!AddRandomRules(*ours, 0, &err)) {
    std::fprintf(stderr, "adding %u rules failed: %s\n", kRules, err.c_str());
    return 1;
  }
  {
    XdpRuleEntry block;
    block.source = V4(0xCB007100u, 24);  // 203.0.113.0/24
    block.value.action = TA_XDP_ACT_DROP;
    block.value.slot = kRules;
    block.value.rule_id = kRules + 1;
    if (!ours->PutRule(block)) rc = 1;
    XdpRuleEntry limit;
    limit.source = V4(0xC6120100u, 24);  // 198.18.1.0/24: 1 ns interval, always conforms
    limit.value.action = TA_XDP_ACT_RATE_LIMIT;
    limit.value.interval_ns = 1;
    limit.value.tolerance_ns = 1000;
    limit.value.slot = kRules + 1;
    limit.value.rule_id = kRules + 2;
    if (!ours->PutRule(limit)) rc = 1;
  }
  run("ta_xdp_enforce: 10k rules, no match, TCP/IPv4", ack4, XDP_PASS, ours->prog_fd());
  run("ta_xdp_enforce: 10k rules, no match, TCP/IPv6", ack6, XDP_PASS, ours->prog_fd());
  run("ta_xdp_enforce: 10k rules, matches a DROP /24", blocked4, XDP_DROP, ours->prog_fd());
  run("ta_xdp_enforce: 10k rules, RATE_LIMIT conform (CAS)", BuildFrame(Tcp("198.18.1.9")),
      XDP_PASS, ours->prog_fd());
  // SYN throttle at 50%: the runs alternate between admit and deny, so there is no single
  // action to check; the mean covers both halves.
  {
    Row r{"ta_xdp_enforce: 10k rules, SYN throttle 50% (CAS)", syn4, XDP_PASS, -1, ""};
    std::vector<double> rounds;
    for (int i = 0; i < kRounds; ++i) {
      bpf_test_run_opts opts = TestRunOpts(syn4, repeat);
      if (bpf_prog_test_run_opts(ours->prog_fd(), &opts) != 0) break;
      rounds.push_back(opts.duration);
    }
    if (rounds.size() == kRounds)
      r.ns = Median(rounds);
    else
      r.note = "test_run failed";
    rows.push_back(r);
  }

  // xdp-filter, both flavours of its IPv4 program: "dny" is the default-deny policy (its map
  // lists the sources to let through; a miss drops), "alw" the default-allow policy (the map
  // lists sources to drop, like our blocklist).
  struct Flavour {
    const char* object;
    const char* name;
    uint32_t miss, hit;
  };
  const Flavour flavours[] = {
      {"/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_dny_ip.o", "xdp-filter dny_ip", XDP_DROP, XDP_PASS},
      {"/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_ip.o", "xdp-filter alw_ip", XDP_PASS, XDP_DROP},
  };
  for (const Flavour& fl : flavours) {
    auto filter = LoadXdpFilter(fl.object, &err);
    if (filter == nullptr) {
      rows.push_back(Row{fl.name, ack4, XDP_PASS, -1, err});
      continue;
    }
    const std::string name = fl.name;
    run(name + ": 0 entries, miss", ack4, fl.miss, filter->prog_fd);
    // Its IPv4 map is a per-CPU hash of exact addresses; the value's low bits are mode flags
    // (bit 0: match the source), one copy per CPU.
    std::mt19937 rng(42);
    const std::vector<uint64_t> mode_per_cpu(static_cast<size_t>(libbpf_num_possible_cpus()), 1);
    const uint64_t* mode = mode_per_cpu.data();
    for (uint32_t i = 0; i < kRules - 1; ++i) {
      const uint32_t addr = htonl(0x0A000000u | (static_cast<uint32_t>(rng()) & 0x00FFFFFFu));
      bpf_map_update_elem(filter->ipv4_fd, &addr, mode, BPF_ANY);
    }
    const uint32_t listed = htonl(0xCB007107u);  // 203.0.113.7
    bpf_map_update_elem(filter->ipv4_fd, &listed, mode, BPF_ANY);
    run(name + ": 10k entries, miss", ack4, fl.miss, filter->prog_fd);
    run(name + ": 10k entries, source listed (hit)", blocked4, fl.hit, filter->prog_fd);
  }

  std::printf("xdp_enforce: ns per frame, bpf_prog_test_run repeat=%u, median of %d rounds\n",
              repeat, kRounds);
  std::printf("ta_xdp_enforce: %u BPF instructions, %u verified, load %.1f ms\n\n",
              info.xlated_prog_len / 8, info.verified_insns, load_ms);
  std::printf("%-52s %7s %10s\n", "case", "frame B", "ns/frame");
  for (const Row& r : rows) Print(r);
  return rc;
}
