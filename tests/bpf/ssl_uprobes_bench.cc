// Cost of the TLS probes (root needed). Prints a table; timing never decides pass or fail.
//   - ns per SSL_write + SSL_read of 100 bytes over TLS on 127.0.0.1, without probes, with
//     probes on an unwatched port (entry/return probes, fd lookup, filter) and with the port
//     watched (plus the record and the copy); the per-call cost is half the difference.
//   - ns per write(2) of 1 byte to /dev/null by a thread outside any SSL call: what every
//     process on the machine pays for the syscall tracepoints.
//   - Open() and Rescan() wall time.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "agent/tc_capture.h"
#include "agent/tls_probes.h"
#include "tests/bpf/tls_loopback.h"

namespace {

using Clock = std::chrono::steady_clock;

double NsSince(Clock::time_point t0, int n) {
  return static_cast<double>(
             std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count()) /
         n;
}

double SslLoop(ta::testing::TlsTcpPair& pair, int n, ta::agent::TlsProbes* probes) {
  char msg[100];
  char buf[256];
  for (size_t i = 0; i < sizeof(msg); ++i) msg[i] = static_cast<char>('a' + i % 26);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (SSL_write(pair.client.get(), msg, sizeof(msg)) != 100) std::abort();
    if (SSL_read(pair.server.get(), buf, sizeof(buf)) != 100) std::abort();
    if (probes != nullptr && i % 1000 == 999) probes->Poll(0);  // keep the ring from filling
  }
  return NsSince(t0, n);
}

double WriteLoop(int n) {
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  char c = 0;
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (write(fd, &c, 1) != 1) std::abort();
  }
  double ns = NsSince(t0, n);
  close(fd);
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::stoi(argv[1]) : 100000;
  ta::agent::InstallLibbpfLogger(false);
  ta::testing::TlsContexts ctx;
  ta::testing::Listener listener;
  ta::testing::TlsTcpPair pair(ctx, listener);
  uint64_t records = 0;

  SslLoop(pair, n / 10, nullptr);  // warm up
  const double base = SslLoop(pair, n, nullptr);
  const double write_base = WriteLoop(n * 10);

  auto t0 = Clock::now();
  auto probes =
      ta::agent::TlsProbes::Open(100, {1}, [&](const ta::agent::TlsRecordView&) { ++records; });
  const double open_ms = NsSince(t0, 1) / 1e6;
  if (!probes.ok()) {
    std::fprintf(stderr, "%s\n", probes.error().ToString().c_str());
    return 1;
  }
  t0 = Clock::now();
  probes.value()->Rescan();
  const double rescan_ms = NsSince(t0, 1) / 1e6;

  const double write_probed = WriteLoop(n * 10);
  const double unwatched = SslLoop(pair, n, probes.value().get());
  if (!probes.value()->SetPorts({listener.port}).ok()) return 1;
  const double watched = SslLoop(pair, n, probes.value().get());
  while (probes.value()->Poll(0) > 0) {
  }

  t0 = Clock::now();
  probes.value().reset();
  const double close_ms = NsSince(t0, 1) / 1e6;

  std::printf("%-58s %10s\n", "case", "ns");
  std::printf("%-58s %10.0f\n", "SSL_write+SSL_read 100 B, no probes", base);
  std::printf("%-58s %10.0f\n", "SSL_write+SSL_read 100 B, probes, port not watched", unwatched);
  std::printf("%-58s %10.0f\n", "SSL_write+SSL_read 100 B, probes, port watched", watched);
  std::printf("%-58s %10.0f\n", "  => per SSL call, unwatched", (unwatched - base) / 2);
  std::printf("%-58s %10.0f\n", "  => per SSL call, watched (record + 100 B copy)",
              (watched - base) / 2);
  std::printf("%-58s %10.0f\n", "write(2) 1 B to /dev/null, no probes", write_base);
  std::printf("%-58s %10.0f\n", "write(2) 1 B to /dev/null, probes (outside SSL calls)",
              write_probed);
  std::printf("%-58s %10.1f\n", "TlsProbes::Open (load, attach, first scan), ms", open_ms);
  std::printf("%-58s %10.1f\n", "TlsProbes::Rescan, ms", rescan_ms);
  std::printf("%-58s %10.1f\n", "TlsProbes destructor (detach everything), ms", close_ms);
  std::printf("records consumed: %llu (expected %d)\n", static_cast<unsigned long long>(records),
              2 * n);
  return 0;
}
