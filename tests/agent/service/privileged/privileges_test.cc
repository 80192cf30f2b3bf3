// Dropping capabilities, in a forked child so the test process keeps its own.
#include "agent/privileges.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "tests/common/privileges.h"

namespace ta::agent {
namespace {

TEST(CapabilityNamesTest, NamesInOrder) {
  EXPECT_EQ(CapabilityNames(0), "none");
  EXPECT_EQ(CapabilityNames(CapBit(kCapBpf) | CapBit(kCapNetAdmin)), "CAP_NET_ADMIN,CAP_BPF");
  EXPECT_EQ(CapabilityNames(CapBit(40) | CapBit(45)), "CAP_CHECKPOINT_RESTORE,cap_45");
}

TEST(CapabilityNamesTest, ParsesProcStatusMasks) {
  EXPECT_EQ(ParseCapabilityMask("\t000001ffffffffff").value(), 0x1ffffffffffULL);
  EXPECT_EQ(ParseCapabilityMask("0000000000001000").value(), CapBit(kCapNetAdmin));
  EXPECT_FALSE(ParseCapabilityMask("").ok());
  EXPECT_EQ(ParseCapabilityMask("0000000000001000 ").value(), CapBit(kCapNetAdmin));
  EXPECT_FALSE(ParseCapabilityMask("00000000000000001").ok());  // 17 digits: not a mask
  EXPECT_EQ(ParseCapabilityMask("12zz").error().message,
            "'12zz' is not a capability mask (16 hex digits)");
}

TEST(RuntimeCapabilitiesTest, WhatTheLoopStillNeeds) {
  const KernelVersion k618{6, 18, 0}, k515{5, 15, 0};
  EXPECT_EQ(RuntimeCapabilities(false, k618), CapBit(kCapNetAdmin));
  EXPECT_EQ(RuntimeCapabilities(false, k515), CapBit(kCapNetAdmin) | CapBit(kCapBpf));
  EXPECT_EQ(RuntimeCapabilities(true, k618), CapBit(kCapNetAdmin) | CapBit(kCapBpf) |
                                                 CapBit(kCapPerfmon) | CapBit(kCapSysPtrace) |
                                                 CapBit(kCapDacReadSearch) | CapBit(kCapSysAdmin));
}

// Runs `body` in a forked child; the child's exit status is the number of failed checks.
int InChild(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

TEST(RetainOnlyTest, DropsEverySetButTheKeptOnes) {
  TA_REQUIRE_ROOT();
  const uint64_t keep = CapBit(kCapNetAdmin) | CapBit(kCapBpf);
  const int failures = InChild([keep] {
    auto after = RetainOnly(keep);
    if (!after) {
      std::fprintf(stderr, "RetainOnly: %s\n", after.error().ToString().c_str());
      return 50;
    }
    auto read = ReadOwnCapabilities();  // /proc says the same
    int bad = 0;
    bad += read->effective != keep;
    bad += read->permitted != keep;
    bad += read->inheritable != 0;
    bad += read->ambient != 0;
    bad += read->bounding != keep;
    bad += !read->no_new_privs;
    // A dropped capability is really gone: CAP_SYS_ADMIN cannot come back.
    bad += ::prctl(PR_CAPBSET_READ, kCapSysAdmin, 0, 0, 0) != 0;
    if (bad != 0) {
      std::fprintf(stderr, "eff %s prm %s bnd %s\n", CapabilityNames(read->effective).c_str(),
                   CapabilityNames(read->permitted).c_str(),
                   CapabilityNames(read->bounding).c_str());
    }
    return bad;
  });
  EXPECT_EQ(failures, 0);
}

TEST(RetainOnlyTest, KeepsOnlyWhatTheProcessHad) {
  TA_REQUIRE_ROOT();
  const int failures = InChild([] {
    // First down to NET_ADMIN, then ask for NET_ADMIN and BPF: BPF does not come back.
    if (!RetainOnly(CapBit(kCapNetAdmin))) return 50;
    auto after = RetainOnly(CapBit(kCapNetAdmin) | CapBit(kCapBpf));
    if (!after) return 51;
    return after->effective == CapBit(kCapNetAdmin) ? 0 : 1;
  });
  EXPECT_EQ(failures, 0);
}

TEST(RetainOnlyTest, RefusesWithWorkerThreadsRunning) {
  TA_REQUIRE_ROOT();
  const int failures = InChild([] {
    std::atomic<bool> stop{false};
    std::thread worker([&] {
      while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    auto after = RetainOnly(CapBit(kCapNetAdmin));
    stop = true;
    worker.join();
    if (after.ok()) return 1;
    return after.error().message ==
                   "cannot drop capabilities with 2 threads running: capabilities are per "
                   "thread, so the others would keep theirs (a bug: drop before starting workers)"
               ? 0
               : 2;
  });
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace ta::agent
