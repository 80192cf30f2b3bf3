// Replays every checked-in fuzz input through its target in the normal build: one gtest per
// target (FuzzRegressions.<name>) over tests/fuzz/regressions/<name>/ (inputs that once crashed)
// and tests/fuzz/corpus/<name>/ (the seeds), plus the empty input. A crash, a sanitizer report or
// a failed TA_FUZZ_CHECK aborts the process, which fails the test; the input being replayed is
// named on stderr first.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

#if defined(TA_FUZZ_SANITIZED)
#include <sanitizer/common_interface_defs.h>
#endif

namespace ta::fuzz {
namespace {

namespace fs = std::filesystem;

std::map<std::string, FuzzBody>& Registry() {
  static std::map<std::string, FuzzBody> registry;
  return registry;
}

// The input being replayed, for the crash report.
std::string g_current_input;

void NameCurrentInput() {
  if (g_current_input.empty()) return;
  // Async-signal-safe: called from a signal handler too.
  constexpr char kPrefix[] = "\nfuzz_regressions: crashed on input ";
  (void)!write(STDERR_FILENO, kPrefix, sizeof(kPrefix) - 1);
  (void)!write(STDERR_FILENO, g_current_input.data(), g_current_input.size());
  (void)!write(STDERR_FILENO, "\n", 1);
}

// abort() (TA_FUZZ_CHECK, assert) and, without the sanitizers, the fatal signals: name the input,
// then die of the same signal.
void OnFatalSignal(int sig) {
  NameCurrentInput();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void InstallCrashReporting() {
  std::signal(SIGABRT, &OnFatalSignal);
#if defined(TA_FUZZ_SANITIZED)
  // The sanitizers report SEGV and friends themselves, then call this.
  __sanitizer_set_death_callback(&NameCurrentInput);
#else
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, &OnFatalSignal);
#endif
}

std::vector<fs::path> InputsIn(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void Replay(const std::string& label, FuzzBody body, const std::vector<uint8_t>& bytes) {
  g_current_input = label;
  // An exact-size heap copy, as libFuzzer passes it, so an overread is caught.
  std::vector<uint8_t> copy(bytes);
  body(copy.empty() ? nullptr : copy.data(), copy.size());
  g_current_input.clear();
}

class ReplayTest : public ::testing::Test {
 public:
  ReplayTest(std::string name, FuzzBody body) : name_(std::move(name)), body_(body) {}

  void TestBody() override {
    const fs::path root(TA_FUZZ_DIR);
    size_t regressions = 0;
    size_t seeds = 0;
    Replay(name_ + " (empty input)", body_, {});
    for (const fs::path& file : InputsIn(root / "regressions" / name_)) {
      Replay(file.string(), body_, ReadFile(file));
      ++regressions;
    }
    for (const fs::path& file : InputsIn(root / "corpus" / name_)) {
      Replay(file.string(), body_, ReadFile(file));
      ++seeds;
    }
    RecordProperty("regressions", static_cast<int>(regressions));
    RecordProperty("corpus", static_cast<int>(seeds));
    std::printf("%s: replayed %zu regression(s), %zu corpus input(s) and the empty input\n",
                name_.c_str(), regressions, seeds);
  }

 private:
  std::string name_;
  FuzzBody body_;
};

// A directory under regressions/ or corpus/ that names no target would never be replayed.
TEST(FuzzRegressions, EveryInputDirectoryHasATarget) {
  const fs::path root(TA_FUZZ_DIR);
  for (const char* kind : {"regressions", "corpus"}) {
    if (!fs::is_directory(root / kind)) continue;
    for (const fs::directory_entry& entry : fs::directory_iterator(root / kind)) {
      if (!entry.is_directory()) continue;
      const std::string name = entry.path().filename().string();
      EXPECT_TRUE(Registry().contains(name))
          << entry.path() << " has no target: expected TA_FUZZ_TARGET(" << name << ") in "
          << (root / (name + "_fuzz.cc"));
    }
  }
}

}  // namespace

bool RegisterTarget(const char* name, FuzzBody body) {
  if (!Registry().emplace(name, body).second) {
    std::fprintf(stderr, "fuzz_regressions: two targets named %s\n", name);
    std::abort();
  }
  return true;
}

}  // namespace ta::fuzz

#if defined(TA_FUZZ_SANITIZED)
// An input that makes a parser allocate without bound must fail its test, not take the machine's
// memory: the same 2 GiB that libFuzzer's -rss_limit_mb gives each target in CI.
extern "C" const char* __asan_default_options() { return "hard_rss_limit_mb=2048"; }
#endif

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ta::fuzz::InstallCrashReporting();
#if !defined(TA_FUZZ_SANITIZED)
  // Without ASan, bound the address space instead (std::bad_alloc, then abort).
  const rlimit limit{rlim_t{4} << 30, rlim_t{4} << 30};
  setrlimit(RLIMIT_AS, &limit);
#endif
  for (const auto& [name, body] : ta::fuzz::Registry()) {
    ::testing::RegisterTest("FuzzRegressions", name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [name = name, body = body]() -> ::testing::Test* {
                              return new ta::fuzz::ReplayTest(name, body);
                            });
  }
  return RUN_ALL_TESTS();
}
