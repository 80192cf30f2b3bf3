#include "agent/state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

#include "analyzer/state/snapshot_file.h"

namespace ta::agent {
namespace {

namespace snapshot = ta::analyzer::state;

constexpr std::string_view kTmpMarker = ".tmp-";

// Closes a descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports close(2)'s error (on NFS a delayed write error shows up here).
  int Close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string UtcStamp(std::time_t t) {
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

StateStore::StateStore(std::string dir, std::string name, uint32_t schema_version,
                       Framing framing)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      path_(dir_ + "/" + name_),
      schema_version_(schema_version),
      framing_(framing),
      now_([] { return std::time(nullptr); }) {}

Result<void> StateStore::CheckName() const {
  if (name_.empty() || name_.find('/') != std::string::npos || name_[0] == '.') {
    return Error{0, "state file name \"" + name_ +
                        "\" must be a plain file name (no '/', not starting with '.')"};
  }
  return {};
}

Result<void> StateStore::PrepareDir() const {
  if (auto ok = CheckName(); !ok) return ok;
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoError("cannot use state directory " + dir_);
    if (::mkdir(dir_.c_str(), 0750) == 0) {
      ::chmod(dir_.c_str(), 0750);  // the umask must not make it narrower (or wider)
    } else if (errno != EEXIST) {
      return ErrnoError("cannot create state directory " + dir_);
    }
    if (::stat(dir_.c_str(), &st) != 0) return ErrnoError("cannot use state directory " + dir_);
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error{ENOTDIR, "state directory " + dir_ + " is not a directory"};
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return Error{0, "state directory " + dir_ + " is writable by everyone (mode " + mode +
                        "), so anyone could plant state there (baselines, rules); make it writable by the "
                        "daemon only (chmod 0700 " +
                        dir_ + ") or choose another state_dir"};
  }
  return {};
}

Result<void> StateStore::Save(std::string_view payload) {
  if (auto ok = PrepareDir(); !ok) return ok;
  const std::string image = framing_ == Framing::kPlain
                                ? std::string(payload)
                                : snapshot::EncodeSnapshot(payload, schema_version_);
  std::string tmp = dir_ + "/." + name_ + std::string(kTmpMarker) + "XXXXXX";
  // mkstemp creates the file O_EXCL with mode 0600 (POSIX.1-2008).
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("cannot write state to " + path_);
  auto fail = [&](int err) {
    ::unlink(tmp.c_str());
    return ErrnoError("cannot write state to " + path_, err);
  };
  if (!WriteAll(fd.get(), image)) return fail(errno);
  if (::fsync(fd.get()) != 0) return fail(errno);
  if (fd.Close() != 0) return fail(errno);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return fail(errno);
  Fd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) {
    // The snapshot is complete under its name; only the rename's durability is in doubt.
    return ErrnoError("wrote " + path_ + " but cannot sync state directory " + dir_);
  }
  return {};
}

void StateStore::RemoveTemporaries() {
  removed_temporaries_ = 0;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return;
  const std::string prefix = "." + name_ + std::string(kTmpMarker);
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view entry(e->d_name);
    if (entry.size() == prefix.size() + 6 && entry.substr(0, prefix.size()) == prefix) {
      stale.emplace_back(entry);
    }
  }
  ::closedir(d);
  for (const std::string& s : stale) {
    if (::unlink((dir_ + "/" + s).c_str()) == 0) ++removed_temporaries_;
  }
}

Error StateStore::SetAside(std::string_view reason) {
  const std::string base = path_ + ".corrupt-" + UtcStamp(now_());
  std::string target = base;
  // Never overwrite an earlier set-aside file (two in the same second): link(2) fails with
  // EEXIST instead of replacing, then the old name is removed.
  for (int i = 1;; ++i) {
    if (::link(path_.c_str(), target.c_str()) == 0) break;
    const int err = errno;
    if (err == EEXIST && i < 100) {
      target = base + "-" + std::to_string(i);
      continue;
    }
    // No hard links (some file systems) or no room for names: a plain rename is still better
    // than deleting, as long as the target does not exist.
    struct stat st {};
    if (err != EEXIST && ::lstat(target.c_str(), &st) != 0 &&
        ::rename(path_.c_str(), target.c_str()) == 0) {
      return Error{0, "state file " + path_ + " is unusable: " + std::string(reason) +
                          "; set aside as " + target + ", starting with empty state"};
    }
    return Error{err, "state file " + path_ + " is unusable: " + std::string(reason) +
                          "; starting with empty state, but could not set it aside as " + target +
                          " (move or delete it by hand)"};
  }
  ::unlink(path_.c_str());
  return Error{0, "state file " + path_ + " is unusable: " + std::string(reason) +
                      "; set aside as " + target + ", starting with empty state"};
}

Result<std::optional<std::string>> StateStore::Load() {
  if (auto ok = PrepareDir(); !ok) return ok.error();
  RemoveTemporaries();
  Fd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) return SetAside("a symbolic link, not a snapshot file");
    return ErrnoError("cannot read state from " + path_);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot read state from " + path_);
  if (!S_ISREG(st.st_mode)) return SetAside("not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxSnapshotBytes) {
    return SetAside(std::to_string(st.st_size) + " bytes, more than the " +
                    std::to_string(kMaxSnapshotBytes) + " a snapshot may have");
  }
  std::string file;
  file.resize(static_cast<size_t>(st.st_size));
  size_t have = 0;
  for (;;) {
    if (have == file.size()) file.resize(file.size() + 4096);  // the file may have grown
    const ssize_t n = ::read(fd.get(), file.data() + have, file.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read state from " + path_);
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
    if (have > kMaxSnapshotBytes) return SetAside("larger than a snapshot may be");
  }
  file.resize(have);
  if (framing_ == Framing::kPlain) return std::optional<std::string>(std::move(file));
  snapshot::DecodedSnapshot decoded = snapshot::DecodeSnapshot(file, schema_version_);
  if (!decoded.ok()) {
    fd.Close();
    return SetAside(decoded.error().message);
  }
  return std::optional<std::string>(std::move(decoded.payload()));
}

}  // namespace ta::agent
