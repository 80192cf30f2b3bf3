// Privileged tests need root and a BPF-capable kernel. Under CI (CI set in the environment) a
// missing privilege is a failure, never a skip: CI runs as root, so a skip there would hide a
// broken set-up. On a developer machine without root the test is skipped with the reason.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#define TA_REQUIRE_ROOT()                                                                  \
  do {                                                                                     \
    if (geteuid() != 0) {                                                                  \
      if (std::getenv("CI") != nullptr) {                                                  \
        FAIL() << "this test needs root (CAP_BPF, CAP_NET_ADMIN) and CI is set: run the "  \
                  "suite as root";                                                         \
      }                                                                                    \
      GTEST_SKIP() << "needs root (CAP_BPF, CAP_NET_ADMIN); run the suite with sudo";      \
    }                                                                                      \
  } while (0)
