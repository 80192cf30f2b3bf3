#include "agent/state_store.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "analyzer/state/snapshot_file.h"

namespace ta::agent {
namespace {

constexpr uint32_t kSchema = 5;
// 2026-11-24T23:30:00Z.
constexpr std::time_t kNow = 1795563000;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta-state-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ::chmod(dir_.c_str(), 0700);
  }
  void TearDown() override {
    ::chmod(dir_.c_str(), 0700);
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }

  StateStore Store(uint32_t schema = kSchema) {
    StateStore store(dir_, "anomaly.state", schema);
    store.SetClockForTest([] { return kNow; });
    return store;
  }
  std::string Path(const std::string& name = "anomaly.state") const { return dir_ + "/" + name; }

  // Names in the directory, sorted.
  std::set<std::string> Entries() const {
    std::set<std::string> names;
    DIR* d = ::opendir(dir_.c_str());
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.insert(n);
    }
    ::closedir(d);
    return names;
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static void Write(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }

  std::string dir_;
};

TEST_F(StateStoreTest, FirstStartHasNothing) {
  StateStore store = Store();
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_FALSE(loaded->has_value());
  EXPECT_EQ(store.path(), Path());
  EXPECT_TRUE(Entries().empty());
}

TEST_F(StateStoreTest, RoundTripAndReplace) {
  StateStore store = Store();
  const std::string payload("baselines\0with zero bytes", 25);
  ASSERT_TRUE(store.Save(payload).ok());
  EXPECT_EQ(Entries(), std::set<std::string>{"anomaly.state"});
  EXPECT_EQ(Read(Path()), analyzer::state::EncodeSnapshot(payload, kSchema));
  struct stat st {};
  ASSERT_EQ(::stat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto loaded = Store().Load();  // a new process, same directory
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, payload);

  ASSERT_TRUE(store.Save("second").ok());
  ASSERT_TRUE(store.Save("").ok());
  loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->value(), "");
  EXPECT_EQ(Entries(), std::set<std::string>{"anomaly.state"});
}

TEST_F(StateStoreTest, MissingDirectoryIsCreatedPrivate) {
  const std::string sub = dir_ + "/state";
  StateStore store(sub, "anomaly.state", kSchema);
  ASSERT_TRUE(store.Save("x").ok());
  struct stat st {};
  ASSERT_EQ(::stat(sub.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u);
  auto loaded = StateStore(sub, "anomaly.state", kSchema).Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->value(), "x");
}

TEST_F(StateStoreTest, CorruptFileIsSetAsideWithExactMessage) {
  StateStore store = Store();
  ASSERT_TRUE(store.Save("abc").ok());
  std::string bytes = Read(Path());
  bytes.back() = 'd';  // payload "abd"
  Write(Path(), bytes);

  auto loaded = store.Load();
  ASSERT_FALSE(loaded.ok());
  char computed[16];
  std::snprintf(computed, sizeof(computed), "0x%08x", analyzer::state::Crc32c("abd"));
  EXPECT_EQ(loaded.error().err, 0);
  EXPECT_EQ(loaded.error().ToString(),
            "state file " + Path() +
                " is unusable: payload checksum mismatch (CRC-32C stored 0x364b3fb7, computed " +
                computed + "); set aside as " + Path() +
                ".corrupt-20261124T233000Z, starting with empty state");
  EXPECT_EQ(Entries(), std::set<std::string>{"anomaly.state.corrupt-20261124T233000Z"});
  EXPECT_EQ(Read(Path("anomaly.state.corrupt-20261124T233000Z")), bytes);  // kept as it was

  // Next start: nothing to load, and saving works again.
  loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
  ASSERT_TRUE(store.Save("fresh").ok());
  EXPECT_EQ(store.Load()->value(), "fresh");
}

TEST_F(StateStoreTest, SecondCorruptionInTheSameSecondKeepsTheFirst) {
  StateStore store = Store();
  Write(Path(), "garbage one");
  EXPECT_FALSE(store.Load().ok());
  Write(Path(), "garbage two");
  auto loaded = store.Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "state file " + Path() +
                " is unusable: not a traffic-analyzer snapshot (it does not start with "
                "\"TASNAPv1\"); set aside as " +
                Path() + ".corrupt-20261124T233000Z-1, starting with empty state");
  EXPECT_EQ(Read(Path("anomaly.state.corrupt-20261124T233000Z")), "garbage one");
  EXPECT_EQ(Read(Path("anomaly.state.corrupt-20261124T233000Z-1")), "garbage two");
}

TEST_F(StateStoreTest, ForeignFileIsSetAside) {
  const std::string yaml = "interfaces: [eth0]\nstate_dir: /var/lib/traffic-analyzer\n";
  Write(Path(), yaml);
  auto loaded = Store().Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "state file " + Path() +
                " is unusable: not a traffic-analyzer snapshot (it does not start with "
                "\"TASNAPv1\"); set aside as " +
                Path() + ".corrupt-20261124T233000Z, starting with empty state");
  EXPECT_EQ(Read(Path("anomaly.state.corrupt-20261124T233000Z")), yaml);
}

TEST_F(StateStoreTest, WrongSchemaIsSetAside) {
  ASSERT_TRUE(Store(4).Save("old layout").ok());
  auto loaded = Store(5).Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "state file " + Path() +
                " is unusable: snapshot schema version 4, this build reads version 5; set aside "
                "as " +
                Path() + ".corrupt-20261124T233000Z, starting with empty state");
}

TEST_F(StateStoreTest, TruncatedAndEmptyFilesAreSetAside) {
  ASSERT_TRUE(Store().Save("0123456789").ok());
  const std::string full = Read(Path());
  Write(Path(), full.substr(0, full.size() - 4));
  auto loaded = Store().Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find(
                "is unusable: truncated: header says 10 payload bytes, file has 6; set aside"),
            std::string::npos)
      << loaded.error().message;

  Write(Path(), "");
  StateStore later = Store();
  later.SetClockForTest([] { return kNow + 61; });
  loaded = later.Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "state file " + Path() +
                " is unusable: truncated: 0 bytes, shorter than the 24-byte snapshot header; set "
                "aside as " +
                Path() + ".corrupt-20261124T233101Z, starting with empty state");
}

TEST_F(StateStoreTest, SymlinkIsSetAsideNotFollowed) {
  Write(Path("target"), analyzer::state::EncodeSnapshot("planted", kSchema));
  ASSERT_EQ(::symlink(Path("target").c_str(), Path().c_str()), 0);
  auto loaded = Store().Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().message,
            "state file " + Path() +
                " is unusable: a symbolic link, not a snapshot file; set aside as " + Path() +
                ".corrupt-20261124T233000Z, starting with empty state");
  EXPECT_EQ(Entries(), (std::set<std::string>{"anomaly.state.corrupt-20261124T233000Z", "target"}));
}

TEST_F(StateStoreTest, LeftoverTemporaryFilesAreRemoved) {
  ASSERT_TRUE(Store().Save("kept").ok());
  Write(Path(".anomaly.state.tmp-a1B2c3"), "half a snapshot");
  Write(Path(".anomaly.state.tmp-zzzzzz"), "");
  Write(Path(".other.state.tmp-a1B2c3"), "another store's");
  Write(Path(".anomaly.state.tmp-short"), "not ours (mkstemp uses six characters)");
  StateStore store = Store();
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->value(), "kept");
  EXPECT_EQ(store.removed_temporaries(), 2u);
  EXPECT_EQ(Entries(), (std::set<std::string>{".anomaly.state.tmp-short", ".other.state.tmp-a1B2c3",
                                              "anomaly.state"}));
}

TEST_F(StateStoreTest, DirectoryUnderARegularFileFails) {
  Write(Path("file"), "x");
  const std::string bad = dir_ + "/file/state";
  StateStore store(bad, "anomaly.state", kSchema);
  const auto saved = store.Save("payload");
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().err, ENOTDIR);
  EXPECT_EQ(saved.error().ToString(), "cannot use state directory " + bad + ": Not a directory");
  const auto loaded = store.Load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.error().ToString(), "cannot use state directory " + bad + ": Not a directory");
}

TEST_F(StateStoreTest, RegularFileAsDirectoryIsRefused) {
  Write(Path("file"), "x");
  StateStore store(Path("file"), "anomaly.state", kSchema);
  const auto saved = store.Save("payload");
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().message, "state directory " + Path("file") + " is not a directory");
  EXPECT_FALSE(store.Load().ok());
  EXPECT_EQ(Read(Path("file")), "x");
}

TEST_F(StateStoreTest, WorldWritableDirectoryIsRefused) {
  ASSERT_EQ(::chmod(dir_.c_str(), 01777), 0);
  StateStore store = Store();
  const auto saved = store.Save("payload");
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().ToString(),
            "state directory " + dir_ +
                " is writable by everyone (mode 1777), so anyone could plant state there "
                "(baselines, rules); make it writable by the daemon only (chmod 0700 " +
                dir_ + ") or choose another state_dir");
  EXPECT_FALSE(store.Load().ok());
  EXPECT_TRUE(Entries().empty());
}

TEST_F(StateStoreTest, BadNameIsRefused) {
  StateStore store(dir_, "../escape", kSchema);
  const auto saved = store.Save("x");
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().message,
            "state file name \"../escape\" must be a plain file name (no '/', not starting with "
            "'.')");
  EXPECT_FALSE(StateStore(dir_, ".hidden", kSchema).Load().ok());
  EXPECT_FALSE(StateStore(dir_, "", kSchema).Load().ok());
}

// A write that fails half-way (here the file size limit, EFBIG: as real as ENOSPC for the code
// path) leaves the previous snapshot intact and no temporary file behind.
TEST_F(StateStoreTest, FailedWriteKeepsThePreviousSnapshot) {
  StateStore store = Store();
  ASSERT_TRUE(store.Save("previous").ok());
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const auto saved = store.Save(std::string(1000, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().err, EFBIG);
  EXPECT_EQ(saved.error().ToString(), "cannot write state to " + Path() + ": File too large");
  EXPECT_EQ(Entries(), std::set<std::string>{"anomaly.state"});
  EXPECT_EQ(store.Load()->value(), "previous");
}

TEST_F(StateStoreTest, NotARegularFileIsSetAside) {
  ASSERT_EQ(::mkdir(Path().c_str(), 0700), 0);
  auto loaded = Store().Load();
  ASSERT_FALSE(loaded.ok());
  // open(O_RDONLY) of a directory succeeds; fstat tells.
  EXPECT_EQ(loaded.error().message, "state file " + Path() +
                                        " is unusable: not a regular file; set aside as " + Path() +
                                        ".corrupt-20261124T233000Z, starting with empty state");
}

}  // namespace
}  // namespace ta::agent
