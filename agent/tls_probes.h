// TLS plaintext visibility: owns the ssl_uprobes BPF skeleton, finds the processes that map
// OpenSSL's libssl (a /proc scan, and again for every process that execs), attaches the
// SSL_read/SSL_write(_ex) uprobes once per library file, and hands each call's plaintext with
// its TCP 4-tuple to a callback. docs/tls.md has how the socket is found and the limits.
//
// Coverage() says, for every process that looks like a TLS user, whether its TLS is seen:
// libssl mapped and hooked, libssl whose hooking failed (and why), another TLS library
// (GnuTLS, NSS, ...) or TLS linked into the executable itself (static OpenSSL or BoringSSL, Go
// crypto/tls), which uprobes on a shared library cannot see. Nothing is missed silently.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/result.h"
#include "ta_abi.h"

struct ssl_uprobes;  // bpftool skeleton
struct bpf_link;
struct ring_buffer;

namespace ta::agent {

// One SSL_read/SSL_write call, valid only during the callback.
struct TlsRecordView {
  uint64_t ts_ns = 0;     // CLOCK_MONOTONIC when the call returned
  uint64_t start_ns = 0;  // when it was entered
  uint32_t pid = 0;       // thread
  uint32_t tgid = 0;      // process
  uint64_t ssl = 0;       // the SSL object's address: identifies the session within tgid
  bool is_write = false;  // SSL_write*: this process sent the bytes; else it received them
  bool is_ex = false;     // SSL_read_ex / SSL_write_ex
  uint8_t family = 0;     // TA_AF_INET / TA_AF_INET6; 0 when unmapped
  std::array<uint8_t, 16> local_addr{};
  std::array<uint8_t, 16> remote_addr{};
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t len = 0;  // bytes the call returned; data holds the first min(len, snaplen)
  std::span<const uint8_t> data;
  bool unmapped = false;  // no socket ever seen for this SSL object: addresses are zero
};

struct TlsCoverageEntry {
  int pid = 0;
  std::string comm;
  std::string library;  // the mapped library's path, or the executable's
  bool hooked = false;
  std::string reason;  // why not hooked, or what is missing when hooked
};

namespace tls {

// One line of /proc/PID/maps (proc(5)): "start-end perms offset major:minor inode   path".
struct MapsEntry {
  uint64_t start = 0;
  uint64_t end = 0;
  std::string perms;
  uint64_t offset = 0;
  uint32_t dev_major = 0;
  uint32_t dev_minor = 0;
  uint64_t inode = 0;
  std::string path;  // may contain spaces; " (deleted)" removed and reported in `deleted`
  bool deleted = false;
};

// nullopt for a line that does not have the six fields' shape.
std::optional<MapsEntry> ParseMapsLine(std::string_view line);

enum class TlsLibrary { kNone, kOpenSsl, kGnuTls, kNss, kWolfSsl, kMbedTls };
// Classifies a mapped file by its base name: libssl.so[.N...] is OpenSSL (or a BoringSSL or
// LibreSSL build with the same name, hooked the same way when it exports the symbols);
// libssl3.so is NSS's, not OpenSSL 3's.
TlsLibrary ClassifyLibrary(std::string_view path);
std::string_view LibraryName(TlsLibrary lib);

enum class StaticTls { kNone, kOpenSsl, kGoCryptoTls };
// Looks at the ELF file's .symtab and .dynsym: a *defined* SSL_write/SSL_read means OpenSSL (or
// BoringSSL) is linked into the file itself; crypto/tls.(*Conn).Write is Go's TLS. A stripped
// static binary has no symbols to find and reads as kNone (docs/tls.md).
StaticTls DetectStaticTls(const std::string& elf_path);
// Which of `wanted` the ELF file defines (in .symtab or .dynsym); empty for a non-ELF file.
std::set<std::string> DefinedSymbolsAmong(const std::string& elf_path,
                                          std::initializer_list<std::string_view> wanted);

// A libssl file as mapped by one process. dev+inode identify the file whatever path a process
// sees it under (containers); open_path is how this process's view of it can be opened from
// here: PROC/PID/root/PATH, or PROC/PID/map_files/START-END when it was deleted (upgraded on
// disk while mapped).
struct LibraryFile {
  uint64_t dev = 0;  // makedev(major, minor)
  uint64_t inode = 0;
  std::string path;
  std::string open_path;
  bool operator<(const LibraryFile& o) const {
    return std::pair(dev, inode) < std::pair(o.dev, o.inode);
  }
};

struct ProcessScan {
  int pid = 0;
  std::string comm;
  std::vector<LibraryFile> openssl;                           // one per file
  std::vector<std::pair<std::string, TlsLibrary>> other_tls;  // path, library
  std::string exe;
  StaticTls static_tls = StaticTls::kNone;
  bool interesting() const {
    return !openssl.empty() || !other_tls.empty() || static_tls != StaticTls::kNone;
  }
};

// Scans processes under proc_root (normally "/proc"). Executables are examined once per
// (dev, inode, mtime) and remembered in the cache.
class ProcScanner {
 public:
  explicit ProcScanner(std::string proc_root) : root_(std::move(proc_root)) {}
  std::vector<ProcessScan> ScanAll();
  // nullopt when the process is gone (or never was).
  std::optional<ProcessScan> ScanPid(int pid);
  const std::string& root() const { return root_; }

 private:
  StaticTls StaticTlsOf(const std::string& exe_path);
  std::string root_;
  std::map<std::array<uint64_t, 4>, StaticTls> exe_cache_;
};

// What the loader knows about one library file.
struct HookState {
  bool hooked = false;
  std::string note;  // failure reason, or a partial hook ("SSL_read_ex/SSL_write_ex absent")
};

// The coverage report from scans and the hook state of each library file (lookup returns
// nullopt for a file never tried).
std::vector<TlsCoverageEntry> BuildCoverage(
    const std::map<int, ProcessScan>& processes,
    const std::function<std::optional<HookState>(const LibraryFile&)>& lookup);

}  // namespace tls

struct TlsProbesOptions {
  uint32_t snaplen = 1024;
  std::vector<uint16_t> ports;
  uint32_t ringbuf_size = 4u << 20;
  uint32_t max_sessions = 65536;  // ta_tls_socks entries
  std::string proc_root = "/proc";
  // After an exec: look at the new process when its dynamic loader is likely done, and once
  // more later for libraries it dlopen()s at start-up (Python's ssl module, for one).
  std::chrono::milliseconds exec_rescan_delays[2] = {std::chrono::milliseconds(100),
                                                     std::chrono::milliseconds(1500)};
};

using TlsKernelStats = std::array<uint64_t, TA_TLS_STAT_MAX>;

class TlsProbes {
 public:
  using RecordCallback = std::function<void(const TlsRecordView&)>;

  // Loads the BPF object, attaches the syscall and exec tracepoints and scans /proc once.
  static Result<std::unique_ptr<TlsProbes>> Open(uint32_t snaplen,
                                                 const std::vector<uint16_t>& ports,
                                                 RecordCallback on_record);
  static Result<std::unique_ptr<TlsProbes>> Open(const TlsProbesOptions& options,
                                                 RecordCallback on_record);
  ~TlsProbes();
  TlsProbes(const TlsProbes&) = delete;
  TlsProbes& operator=(const TlsProbes&) = delete;

  // Drains the ring buffer (waiting up to timeout_ms for the first record), calls on_record,
  // and rescans processes whose exec was seen once their delay is due. Returns the number of
  // records consumed, or a negative errno.
  int Poll(int timeout_ms);
  // Full /proc scan: hooks every libssl file not yet hooked, forgets exited processes and
  // detaches library files no process maps any more.
  void Rescan();
  std::vector<TlsCoverageEntry> Coverage() const;
  Result<TlsKernelStats> Stats() const;
  // Replaces the watched port set.
  Result<void> SetPorts(const std::vector<uint16_t>& ports);

  int ringbuf_fd() const;
  uint64_t exec_records() const { return exec_records_; }
  // Processes announced by their first hooked SSL call (TA_EV_PROC_TLS).
  uint64_t tls_process_records() const { return tls_process_records_; }
  size_t hooked_libraries() const;

 private:
  struct LibraryHook {
    tls::HookState state;
    std::vector<bpf_link*> links;
  };

  TlsProbes(ssl_uprobes* skel, const TlsProbesOptions& options, RecordCallback on_record);
  static int OnRingRecord(void* ctx, void* data, size_t size);
  int HandleRecord(const void* data, size_t size);
  void HookLibraries(const tls::ProcessScan& scan);
  void HookLibrary(const tls::LibraryFile& lib);
  void RescanPid(int pid);
  void RunDueRescans();
  static void DestroyLinks(LibraryHook& hook);
  static void DestroyInParallel(std::vector<bpf_link*>& links);

  ssl_uprobes* skel_;
  TlsProbesOptions options_;
  RecordCallback on_record_;
  ring_buffer* ring_ = nullptr;
  std::vector<bpf_link*> tracepoint_links_;
  tls::ProcScanner scanner_;
  std::map<std::pair<uint64_t, uint64_t>, LibraryHook> libraries_;  // (dev, inode)
  std::map<int, tls::ProcessScan> processes_;
  std::multimap<std::chrono::steady_clock::time_point, int> pending_rescans_;
  uint64_t exec_records_ = 0;
  uint64_t tls_process_records_ = 0;
};

}  // namespace ta::agent
