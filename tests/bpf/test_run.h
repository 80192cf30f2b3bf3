// What the BPF tests and benchmarks share around bpf_prog_test_run_opts(): the options for one
// frame (LIBBPF_OPTS() is a C statement expression, so it is spelled out for C++), and the
// benchmarks' command line.
#pragma once

#include <bpf/bpf.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "tests/common/packet_builder.h"

namespace ta::testing {

inline bpf_test_run_opts TestRunOpts(const Bytes& frame, uint32_t repeat) {
  bpf_test_run_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.repeat = static_cast<int>(repeat);
  return opts;
}

// A benchmark's `[--repeat N]` (default 1e6) and its root check. Returns -1 to go on, or the
// exit code after printing why not.
inline int ParseBenchArgs(int argc, char** argv, const char* name, uint32_t* repeat) {
  *repeat = 1000000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      *repeat = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: %s [--repeat N]\n", argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "%s needs root (CAP_BPF, CAP_NET_ADMIN) to load and test-run BPF programs; "
                 "run it with sudo\n",
                 name);
    return 1;
  }
  return -1;
}

}  // namespace ta::testing
