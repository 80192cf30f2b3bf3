// ns per packet of the tc capture program, measured in the kernel by bpf_prog_test_run_opts()
// with `repeat`: the program runs back to back on one skb and the kernel reports the mean time
// per run. Prints a table; needs root. Not a test: timing never decides pass or fail.
//
//   sudo build/tests/bpf/tc_capture_bench [--repeat N]
//
// Rows that emit ring buffer records run in batches small enough for the ring buffer to hold,
// drained between batches, so every run takes the submit path and none the "ring full" path
// (which has its own row).
#include <linux/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/bpf/tc_capture_harness.h"

namespace ta::testing {
namespace {

constexpr uint32_t kRingbufSize = 64u << 20;
constexpr int kRounds = 5;  // the median of these is reported

struct Row {
  std::string name;
  uint32_t snaplen = 1024;
  uint32_t snaplen_tail = 256;  // the default: a 1400 B payload is sent as 768 + 256 bytes
  Bytes frame;
  // Run once before timing (e.g. to create the connection the frame belongs to).
  std::vector<Bytes> setup;
  bool emits = false;      // each run submits a ring buffer record
  bool fill_ring = false;  // measure with the ring buffer full
};

// A sched_cls program that only returns TC_ACT_UNSPEC: the floor test_run itself costs.
int LoadEmptyProgram() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  return bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "ta_bench_empty", "GPL", insns, 2, nullptr);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double TimeEmpty(const Bytes& frame, uint32_t repeat) {
  int fd = LoadEmptyProgram();
  if (fd < 0) return -1;
  std::vector<double> rounds;
  for (int r = 0; r < kRounds; ++r) {
    bpf_test_run_opts opts = TestRunOpts(frame, repeat);
    if (bpf_prog_test_run_opts(fd, &opts) != 0) return -1;
    rounds.push_back(opts.duration);
  }
  close(fd);
  return Median(rounds);
}

// Returns mean ns per run (median of kRounds), or a negative value on failure.
double TimeRow(const Row& row, uint32_t repeat, std::string* err) {
  TcHarness::Options opts;
  opts.snaplen = row.snaplen;
  opts.snaplen_tail = row.snaplen_tail;
  opts.ringbuf_size = row.fill_ring ? 4096 : kRingbufSize;
  auto h = TcHarness::Load(opts, err);
  if (h == nullptr) return -1;
  for (const Bytes& f : row.setup) h->Run(TcPoint::kIngress, f);
  if (row.fill_ring) {
    // Fill the ring so every timed run fails its reservation.
    for (int i = 0; i < 64; ++i) h->Run(TcPoint::kIngress, row.frame);
  } else {
    h->Discard();
  }

  // One record is at most 72 + 4096 + 8 bytes; keep a batch well inside the ring buffer.
  const uint32_t record =
      static_cast<uint32_t>(sizeof(ta_payload_event)) + 8 +
      static_cast<uint32_t>(PayloadClass(std::min<size_t>(row.snaplen, row.frame.size())));
  const uint32_t batch = row.emits ? std::min(repeat, kRingbufSize / 2 / record) : repeat;

  std::vector<double> rounds;
  for (int r = 0; r < kRounds; ++r) {
    double total_ns = 0;
    uint32_t done = 0;
    while (done < repeat) {
      uint32_t n = std::min(batch, repeat - done);
      auto ns = h->RunRepeated(TcPoint::kIngress, row.frame, n);
      if (!ns) {
        *err = "bpf_prog_test_run_opts failed";
        return -1;
      }
      total_ns += static_cast<double>(*ns) * n;
      done += n;
      if (row.emits) h->Discard();
    }
    rounds.push_back(total_ns / repeat);
  }
  auto stats = h->Stats();
  if (row.emits && stats[TA_STAT_RINGBUF_DROP_PAYLOAD] != 0) {
    *err = "unexpected ring buffer drops: the batch is too large";
    return -1;
  }
  return Median(rounds);
}

Row MakeRow(std::string name, Bytes frame, bool emits = false) {
  Row r;
  r.name = std::move(name);
  r.frame = std::move(frame);
  r.emits = emits;
  return r;
}

std::vector<Row> Rows() {
  std::vector<Row> rows;
  Conversation web(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  Conversation other(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 9090);
  Conversation v6(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
  const Bytes p256 = PatternPayload(256), p1400 = PatternPayload(1400);

  FrameSpec arp;
  arp.l3 = L3::kArp;
  arp.pad_to = 60;
  rows.push_back(MakeRow("ARP (not IP)", BuildFrame(arp)));

  FrameSpec udp;
  udp.l4_proto = kProtoUdp;
  udp.dport = 53;
  udp.payload = PatternPayload(64);
  rows.push_back(MakeRow("UDP/IPv4 (not TCP)", BuildFrame(udp)));

  rows.push_back(MakeRow("TCP unwatched port, 1400 B", other.FromClient(kAck, p1400).frame));
  rows.push_back(MakeRow("watched pure ACK, unknown flow", web.FromClient(kAck).frame));

  Bytes syn = web.FromClient(kSyn).frame;
  Row ack = MakeRow("watched pure ACK, known flow", web.FromClient(kAck).frame);
  ack.setup = {syn};
  rows.push_back(ack);

  Row small =
      MakeRow("watched payload 256 B, snaplen 1024", web.FromClient(kAck, p256).frame, true);
  small.setup = {syn};
  rows.push_back(small);

  Row big =
      MakeRow("watched payload 1400 B, snaplen 1024", web.FromClient(kAck, p1400).frame, true);
  big.setup = {syn};
  rows.push_back(big);
  Row head_only = big;  // the cost of the second copy
  head_only.name = "watched payload 1400 B, snaplen_tail 0";
  head_only.snaplen_tail = 0;
  rows.push_back(head_only);

  v6.base().ipv6_ext = {{kExtHopByHop, 8}, {kExtDestOpts, 16}};
  Bytes syn6 = v6.FromClient(kSyn).frame;
  Row big6 =
      MakeRow("IPv6 + 2 ext hdrs, 1400 B, snaplen 1024", v6.FromClient(kAck, p1400).frame, true);
  big6.setup = {syn6};
  rows.push_back(big6);

  Row full = MakeRow("watched payload 1400 B, ring buffer full", big.frame);
  full.setup = {syn};
  full.fill_ring = true;
  rows.push_back(full);
  return rows;
}

}  // namespace
}  // namespace ta::testing

int main(int argc, char** argv) {
  using namespace ta::testing;
  uint32_t repeat = 0;
  if (int rc = ParseBenchArgs(argc, argv, "tc_capture_bench", &repeat); rc >= 0) return rc;

  auto rows = Rows();
  std::printf("tc_capture: ns per packet, bpf_prog_test_run repeat=%u, median of %d rounds\n\n",
              repeat, kRounds);
  std::printf("%-44s %7s %10s\n", "case", "frame B", "ns/packet");
  std::printf("%-44s %7zu %10.1f\n", "(empty program: test_run floor)", rows[0].frame.size(),
              TimeEmpty(rows[0].frame, repeat));
  int rc = 0;
  for (const Row& row : rows) {
    std::string err;
    double ns = TimeRow(row, repeat, &err);
    if (ns < 0) {
      std::printf("%-44s %7zu %10s  (%s)\n", row.name.c_str(), row.frame.size(), "error",
                  err.c_str());
      rc = 1;
      continue;
    }
    std::printf("%-44s %7zu %10.1f\n", row.name.c_str(), row.frame.size(), ns);
  }
  return rc;
}
