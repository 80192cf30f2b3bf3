// One fuzz target, written once, built two ways:
//
//   #include "tests/fuzz/fuzz_target.h"
//   TA_FUZZ_TARGET(http1_chunked) {
//     ... use `data` (const uint8_t*) and `size` (size_t) ...
//   }
//
// in tests/fuzz/http1_chunked_fuzz.cc, at global scope (not inside a namespace: the libFuzzer
// entry point has C linkage). With TA_LIBFUZZER defined (the clang TA_FUZZ build) the body becomes
// LLVMFuzzerTestOneInput; otherwise it is registered by name, and fuzz_regressions replays
// tests/fuzz/regressions/<name>/ and tests/fuzz/corpus/<name>/ through it. The name must match
// the file name and the directory names. A body returns early only on inputs too short to mean
// anything; everything it finds wrong it reports with TA_FUZZ_CHECK (abort), never by throwing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#if defined(TA_LIBFUZZER)

#define TA_FUZZ_TARGET(name)                                                     \
  static void TaFuzzBody_##name(const uint8_t* data, size_t size);              \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {     \
    TaFuzzBody_##name(data, size);                                               \
    return 0;                                                                    \
  }                                                                              \
  static void TaFuzzBody_##name(const uint8_t* data, size_t size)

#else

namespace ta::fuzz {

using FuzzBody = void (*)(const uint8_t* data, size_t size);

// Adds a target to the registry fuzz_regressions.cc replays; aborts on a duplicate name.
bool RegisterTarget(const char* name, FuzzBody body);

}  // namespace ta::fuzz

#define TA_FUZZ_TARGET(name)                                                         \
  static void TaFuzzBody_##name(const uint8_t* data, size_t size);                  \
  [[maybe_unused]] static const bool kTaFuzzRegistered_##name =                      \
      ::ta::fuzz::RegisterTarget(#name, &TaFuzzBody_##name);                         \
  static void TaFuzzBody_##name(const uint8_t* data, size_t size)

#endif

// A property the target checks (beyond "does not crash"): a violation is reported like a crash,
// so libFuzzer keeps the input and fuzz_regressions fails on it.
#define TA_FUZZ_CHECK(cond)                                                             \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)
