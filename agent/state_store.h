// StateStore: one snapshot file in the daemon's state directory (e.g.
// /var/lib/traffic-analyzer/anomaly.state), written atomically and read back on start.
//
// Why each step:
//  - Save writes a temporary file in the same directory (`.<name>.tmp-XXXXXX`, mkstemp, mode
//    0600), fsyncs it, renames it over `<name>` and fsyncs the directory. rename(2) within one
//    file system replaces the name atomically (POSIX.1-2017 rename()), so a crash or power loss
//    leaves either the old snapshot or the new one, never a torn mix; the file fsync makes the
//    data durable before the name points at it, the directory fsync makes the rename itself
//    durable (fsync(2): "also an explicit fsync() on a file descriptor for the directory is
//    needed"). A failed Save removes its temporary file and leaves the previous snapshot intact.
//  - The container (analyzer/state/snapshot_file.h) carries magic, schema version and CRC-32C,
//    so Load tells a foreign file, another schema version, a truncated file and flipped bits
//    apart. Such a file is never deleted and never makes the daemon fail: it is renamed to
//    `<name>.corrupt-<UTC yyyymmddThhmmssZ>` (kept for inspection, a numeric suffix if that name
//    is taken) and Load returns an error value naming the file, the reason and the new name; the
//    caller logs it and starts with empty state.
//  - Leftover temporary files from a crash during Save are removed by Load (the daemon owns its
//    state directory; one daemon per directory).
//  - A state directory that is not a directory, or is writable by everyone, is refused: anyone
//    could plant a snapshot there (the baselines decide what counts as an attack). A missing
//    directory is created (one level, mode 0750 whatever the umask, as docs/configuration.md
//    `state_dir` says), as systemd's StateDirectory= would.
//
// Not thread-safe: one owner (the engine's persistence timer and shutdown path, in one thread).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "agent/result.h"

namespace ta::agent {

class StateStore {
 public:
  // Snapshots larger than this are treated as corrupt (no state of ours comes close; it bounds
  // what a planted or damaged file can make the daemon read into memory).
  static constexpr uint64_t kMaxSnapshotBytes = uint64_t{256} << 20;

  // How the payload sits in the file: inside the snapshot container (magic, schema, CRC-32C:
  // binary baselines), or as it is (kPlain: a text format that checks itself, e.g. rules.json,
  // which operators read). Both are written and read back with the same atomic steps.
  enum class Framing { kSnapshotContainer, kPlain };

  // `name` is a plain file name (no '/', not starting with '.'); `schema_version` is the
  // payload's schema, written into every snapshot and required on Load (kSnapshotContainer).
  StateStore(std::string dir, std::string name, uint32_t schema_version,
             Framing framing = Framing::kSnapshotContainer);

  // Atomically replaces the snapshot with `payload` (see above). Errors carry errno and say
  // which file, e.g. "cannot write state to /var/lib/traffic-analyzer/anomaly.state: No space
  // left on device".
  Result<void> Save(std::string_view payload);

  // nullopt when there is no snapshot (first start); the payload when the snapshot is valid; an
  // error when the directory is unusable, the file cannot be read, or the file is corrupt,
  // foreign or of another schema (then it has been set aside, see SetAside).
  Result<std::optional<std::string>> Load();

  // Renames the snapshot to `<name>.corrupt-<UTC time>` and returns the error that says so:
  // "state file <path> is unusable: <reason>; set aside as <new path>, starting with empty
  // state". For callers whose own decoding of a valid container fails (e.g. a value out of
  // range); Load uses it for container errors. If the rename fails, the error says that too.
  Error SetAside(std::string_view reason);

  // Creates the state directory if missing and refuses an unusable one (see above); Save and
  // Load do it themselves. For callers that must tell "directory unusable" (fatal) apart from
  // "file set aside" (a note) before loading.
  Result<void> PrepareDir() const;

  const std::string& path() const { return path_; }
  // Temporary files of interrupted Saves removed by the last Load.
  size_t removed_temporaries() const { return removed_temporaries_; }

  // Tests: the wall clock used for the set-aside suffix (seconds since the epoch).
  void SetClockForTest(std::function<std::time_t()> now) { now_ = std::move(now); }

 private:
  Result<void> CheckName() const;
  void RemoveTemporaries();

  std::string dir_;
  std::string name_;
  std::string path_;
  uint32_t schema_version_;
  Framing framing_;
  size_t removed_temporaries_ = 0;
  std::function<std::time_t()> now_;
};

}  // namespace ta::agent
