#include "agent/tls_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <set>
#include <thread>

#include "ssl_uprobes.skel.h"

static_assert(sizeof(ta_tls_event) == 88, "ta_tls_event layout changed: update ta_abi.h users");
static_assert(offsetof(ta_tls_event, local_addr) == 40);
static_assert(offsetof(ta_tls_event, len) == 80);
static_assert(sizeof(ta_proc_event) == 40);

namespace ta::agent {
namespace tls {
namespace {

// Splits off the next space-separated token of `s` (leading spaces skipped).
std::string_view NextToken(std::string_view& s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string_view::npos) {
    s = {};
    return {};
  }
  s.remove_prefix(b);
  size_t e = s.find(' ');
  std::string_view tok = s.substr(0, e);
  s.remove_prefix(e == std::string_view::npos ? s.size() : e);
  return tok;
}

template <typename T>
bool ParseNumber(std::string_view s, int base, T& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view BaseName(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "NAME.so" followed by nothing or by ".N" version components (digits and dots): libssl.so,
// libssl.so.3, libssl.so.1.1, libssl.so.10 (RHEL). Not libssl3.so, not libssl.so-foo.
bool IsVersionedSo(std::string_view base, std::string_view stem) {
  if (base.substr(0, stem.size()) != stem) return false;
  std::string_view rest = base.substr(stem.size());
  if (rest.substr(0, 3) != ".so") return false;
  rest.remove_prefix(3);
  if (rest.empty()) return true;
  if (rest.front() != '.' || rest.back() == '.') return false;
  return std::all_of(rest.begin(), rest.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool ReadAt(int fd, void* buf, size_t len, uint64_t off) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = pread(fd, p, len, static_cast<off_t>(off));
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
  return true;
}

// Symbol tables above this size are not read (no real executable comes close).
constexpr uint64_t kMaxSymtabBytes = 512ull << 20;

}  // namespace

std::optional<MapsEntry> ParseMapsLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  MapsEntry e;
  std::string_view range = NextToken(line);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos || !ParseNumber(range.substr(0, dash), 16, e.start) ||
      !ParseNumber(range.substr(dash + 1), 16, e.end)) {
    return std::nullopt;
  }
  std::string_view perms = NextToken(line);
  if (perms.size() != 4) return std::nullopt;
  e.perms = std::string(perms);
  if (!ParseNumber(NextToken(line), 16, e.offset)) return std::nullopt;
  std::string_view dev = NextToken(line);
  size_t colon = dev.find(':');
  if (colon == std::string_view::npos || !ParseNumber(dev.substr(0, colon), 16, e.dev_major) ||
      !ParseNumber(dev.substr(colon + 1), 16, e.dev_minor)) {
    return std::nullopt;
  }
  if (!ParseNumber(NextToken(line), 10, e.inode)) return std::nullopt;
  // The path is the rest of the line after the padding; it may itself contain spaces.
  size_t b = line.find_first_not_of(' ');
  std::string_view path = b == std::string_view::npos ? std::string_view{} : line.substr(b);
  constexpr std::string_view kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
    path.remove_suffix(kDeleted.size());
    e.deleted = true;
  }
  e.path = std::string(path);
  return e;
}

TlsLibrary ClassifyLibrary(std::string_view path) {
  std::string_view base = BaseName(path);
  if (IsVersionedSo(base, "libssl")) return TlsLibrary::kOpenSsl;
  if (IsVersionedSo(base, "libgnutls")) return TlsLibrary::kGnuTls;
  // NSS ships its SSL layer as libssl3.so next to libnss3.so.
  if (IsVersionedSo(base, "libssl3") || IsVersionedSo(base, "libnss3")) return TlsLibrary::kNss;
  if (IsVersionedSo(base, "libwolfssl")) return TlsLibrary::kWolfSsl;
  if (IsVersionedSo(base, "libmbedtls")) return TlsLibrary::kMbedTls;
  return TlsLibrary::kNone;
}

std::string_view LibraryName(TlsLibrary lib) {
  switch (lib) {
    case TlsLibrary::kNone:
      return "none";
    case TlsLibrary::kOpenSsl:
      return "OpenSSL";
    case TlsLibrary::kGnuTls:
      return "GnuTLS";
    case TlsLibrary::kNss:
      return "NSS";
    case TlsLibrary::kWolfSsl:
      return "wolfSSL";
    case TlsLibrary::kMbedTls:
      return "Mbed TLS";
  }
  return "unknown";
}

std::set<std::string> DefinedSymbolsAmong(const std::string& elf_path,
                                          std::initializer_list<std::string_view> wanted) {
  std::set<std::string> found;
  int fd = open(elf_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return found;
  Elf64_Ehdr eh{};
  std::vector<Elf64_Shdr> sh;
  if (!ReadAt(fd, &eh, sizeof(eh), 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr) ||
      eh.e_shnum == 0) {
    close(fd);
    return found;
  }
  sh.resize(eh.e_shnum);
  if (!ReadAt(fd, sh.data(), sh.size() * sizeof(Elf64_Shdr), eh.e_shoff)) {
    close(fd);
    return found;
  }
  for (const Elf64_Shdr& s : sh) {
    if (found.size() == wanted.size()) break;
    if ((s.sh_type != SHT_SYMTAB && s.sh_type != SHT_DYNSYM) || s.sh_link >= sh.size() ||
        s.sh_size > kMaxSymtabBytes || sh[s.sh_link].sh_size > kMaxSymtabBytes) {
      continue;
    }
    const Elf64_Shdr& strs = sh[s.sh_link];
    std::vector<Elf64_Sym> syms(s.sh_size / sizeof(Elf64_Sym));
    std::vector<char> names(strs.sh_size + 1, '\0');
    if (!ReadAt(fd, syms.data(), syms.size() * sizeof(Elf64_Sym), s.sh_offset) ||
        !ReadAt(fd, names.data(), strs.sh_size, strs.sh_offset)) {
      continue;
    }
    for (const Elf64_Sym& sym : syms) {
      // Undefined entries are imports (a program that calls libssl's SSL_write has one).
      if (sym.st_shndx == SHN_UNDEF || sym.st_name >= strs.sh_size) continue;
      std::string_view name(names.data() + sym.st_name);
      if (std::find(wanted.begin(), wanted.end(), name) != wanted.end()) {
        found.emplace(name);
        if (found.size() == wanted.size()) break;
      }
    }
  }
  close(fd);
  return found;
}

StaticTls DetectStaticTls(const std::string& elf_path) {
  std::set<std::string> defined =
      DefinedSymbolsAmong(elf_path, {"SSL_write", "SSL_read", "crypto/tls.(*Conn).Write"});
  if (defined.count("SSL_write") != 0 || defined.count("SSL_read") != 0) {
    return StaticTls::kOpenSsl;
  }
  return defined.empty() ? StaticTls::kNone : StaticTls::kGoCryptoTls;
}

StaticTls ProcScanner::StaticTlsOf(const std::string& exe_path) {
  struct stat st {};
  if (stat(exe_path.c_str(), &st) != 0) return StaticTls::kNone;
  std::array<uint64_t, 4> key = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                                 static_cast<uint64_t>(st.st_mtim.tv_sec),
                                 static_cast<uint64_t>(st.st_size)};
  auto it = exe_cache_.find(key);
  if (it != exe_cache_.end()) return it->second;
  if (exe_cache_.size() > 4096) exe_cache_.clear();  // bound it; entries are cheap to redo
  StaticTls s = DetectStaticTls(exe_path);
  exe_cache_.emplace(key, s);
  return s;
}

std::optional<ProcessScan> ProcScanner::ScanPid(int pid) {
  const std::string dir = fmt::format("{}/{}", root_, pid);
  std::ifstream maps(dir + "/maps");
  if (!maps) return std::nullopt;
  ProcessScan scan;
  scan.pid = pid;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  std::set<std::string> seen_other;
  std::string line;
  while (std::getline(maps, line)) {
    std::optional<MapsEntry> e = ParseMapsLine(line);
    if (!e || e->inode == 0 || e->path.empty() || e->path.front() != '/') continue;
    TlsLibrary lib = ClassifyLibrary(e->path);
    if (lib == TlsLibrary::kNone) continue;
    if (lib != TlsLibrary::kOpenSsl) {
      if (seen_other.insert(e->path).second) scan.other_tls.emplace_back(e->path, lib);
      continue;
    }
    LibraryFile f;
    f.dev = makedev(e->dev_major, e->dev_minor);
    f.inode = e->inode;
    if (!seen.insert({f.dev, f.inode}).second) continue;
    f.path = e->path;
    // A deleted file has no path any more; map_files/ still opens the mapped inode.
    f.open_path = e->deleted ? fmt::format("{}/map_files/{:x}-{:x}", dir, e->start, e->end)
                             : dir + "/root" + e->path;
    scan.openssl.push_back(std::move(f));
  }
  if (maps.bad()) return std::nullopt;
  scan.comm = ReadFirstLine(dir + "/comm");
  char exe[4096];
  ssize_t n = readlink((dir + "/exe").c_str(), exe, sizeof(exe) - 1);
  if (n > 0) {
    scan.exe.assign(exe, static_cast<size_t>(n));
    scan.static_tls = StaticTlsOf(dir + "/exe");
  }
  return scan;
}

std::vector<ProcessScan> ProcScanner::ScanAll() {
  std::vector<ProcessScan> out;
  DIR* d = opendir(root_.c_str());
  if (d == nullptr) {
    spdlog::warn("tls: cannot list {}: {}", root_, std::strerror(errno));
    return out;
  }
  while (dirent* ent = readdir(d)) {
    int pid = 0;
    std::string_view name(ent->d_name);
    if (!ParseNumber(name, 10, pid) || pid <= 0) continue;
    if (std::optional<ProcessScan> s = ScanPid(pid)) out.push_back(std::move(*s));
  }
  closedir(d);
  std::sort(out.begin(), out.end(),
            [](const ProcessScan& a, const ProcessScan& b) { return a.pid < b.pid; });
  return out;
}

std::vector<TlsCoverageEntry> BuildCoverage(
    const std::map<int, ProcessScan>& processes,
    const std::function<std::optional<HookState>(const LibraryFile&)>& lookup) {
  std::vector<TlsCoverageEntry> out;
  for (const auto& [pid, p] : processes) {
    for (const LibraryFile& lib : p.openssl) {
      TlsCoverageEntry e{pid, p.comm, lib.path, false, ""};
      if (std::optional<HookState> st = lookup(lib)) {
        e.hooked = st->hooked;
        e.reason = st->note;
      } else {
        e.reason = "not attached yet (found since the last scan)";
      }
      out.push_back(std::move(e));
    }
    for (const auto& [path, lib] : p.other_tls) {
      out.push_back({pid, p.comm, path, false,
                     fmt::format("unsupported TLS library ({}): not hooked", LibraryName(lib))});
    }
    if (p.static_tls != StaticTls::kNone) {
      out.push_back({pid, p.comm, p.exe, false,
                     p.static_tls == StaticTls::kOpenSsl
                         ? "statically linked OpenSSL (or BoringSSL): not hooked"
                         : "Go crypto/tls: not hooked"});
    }
  }
  return out;
}

}  // namespace tls

// ---------------------------------------------------------------------------------------------

namespace {

// The functions hooked in every libssl: name, entry program, return program, required.
struct HookedFunction {
  const char* name;
  bpf_program* entry;
  bpf_program* exit;
  bool required;
};

Result<void> WritePorts(ssl_uprobes* skel, const std::vector<uint16_t>& ports) {
  ta_port_set set{};
  for (uint16_t port : ports) set.bits[port / 64] |= 1ull << (port % 64);
  uint32_t zero = 0;
  if (bpf_map__update_elem(skel->maps.ta_tls_ports, &zero, sizeof(zero), &set, sizeof(set), 0) !=
      0) {
    return ErrnoError("map update failed: ta_tls_ports");
  }
  return {};
}

}  // namespace

TlsProbes::TlsProbes(ssl_uprobes* skel, const TlsProbesOptions& options, RecordCallback on_record)
    : skel_(skel),
      options_(options),
      on_record_(std::move(on_record)),
      scanner_(options.proc_root) {}

Result<std::unique_ptr<TlsProbes>> TlsProbes::Open(uint32_t snaplen,
                                                   const std::vector<uint16_t>& ports,
                                                   RecordCallback on_record) {
  TlsProbesOptions o;
  o.snaplen = snaplen;
  o.ports = ports;
  return Open(o, std::move(on_record));
}

Result<std::unique_ptr<TlsProbes>> TlsProbes::Open(const TlsProbesOptions& options,
                                                   RecordCallback on_record) {
  if (options.snaplen == 0 || options.snaplen > TA_MAX_SNAPLEN) {
    return Error{EINVAL,
                 fmt::format("TLS snaplen {} out of range 1..{}", options.snaplen, TA_MAX_SNAPLEN)};
  }
  ssl_uprobes* skel = ssl_uprobes__open();
  if (skel == nullptr) return ErrnoError("opening the ssl_uprobes BPF object failed");
  std::unique_ptr<TlsProbes> p(new TlsProbes(skel, options, std::move(on_record)));

  skel->rodata->snaplen = options.snaplen;
  if (int err = bpf_map__set_max_entries(skel->maps.ta_tls_events, options.ringbuf_size);
      err != 0) {
    return ErrnoError(fmt::format("TLS ring buffer size {} rejected (must be a power of two "
                                  "and a multiple of the page size)",
                                  options.ringbuf_size),
                      err);
  }
  if (int err = bpf_map__set_max_entries(skel->maps.ta_tls_socks, options.max_sessions); err != 0) {
    return ErrnoError("setting the TLS session table size failed", err);
  }
  if (int err = ssl_uprobes__load(skel); err != 0) {
    return ErrnoError(
        "loading the ssl_uprobes BPF programs failed (the verifier log above "
        "says why; without CAP_BPF and CAP_PERFMON this is EPERM)",
        err);
  }
  if (skel->rodata->abi_version != TA_ABI_VERSION) {
    return Error{EPROTO, fmt::format("ssl_uprobes ABI {} does not match the daemon's {}",
                                     skel->rodata->abi_version, TA_ABI_VERSION)};
  }
  if (Result<void> r = WritePorts(skel, options.ports); !r) return r.error();

  // The tracepoints; the uprobes are attached per library file by Rescan().
  for (bpf_program* prog :
       {skel->progs.ta_sys_read, skel->progs.ta_sys_write, skel->progs.ta_sys_recvfrom,
        skel->progs.ta_sys_sendto, skel->progs.ta_sys_recvmsg, skel->progs.ta_sys_sendmsg,
        skel->progs.ta_sys_readv, skel->progs.ta_sys_writev, skel->progs.ta_proc_exec}) {
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      return ErrnoError(
          fmt::format("attaching tracepoint program {} failed (is tracefs "
                      "mounted? the kernel needs CONFIG_FTRACE_SYSCALLS)",
                      bpf_program__name(prog)));
    }
    p->tracepoint_links_.push_back(link);
  }
  p->ring_ = ring_buffer__new(bpf_map__fd(skel->maps.ta_tls_events), &TlsProbes::OnRingRecord,
                              p.get(), nullptr);
  if (p->ring_ == nullptr) return ErrnoError("creating the TLS ring buffer reader failed");
  p->Rescan();
  return p;
}

TlsProbes::~TlsProbes() {
  if (ring_ != nullptr) ring_buffer__free(ring_);
  std::vector<bpf_link*> all;
  for (auto& [key, hook] : libraries_) {
    all.insert(all.end(), hook.links.begin(), hook.links.end());
    hook.links.clear();
  }
  all.insert(all.end(), tracepoint_links_.begin(), tracepoint_links_.end());
  tracepoint_links_.clear();
  DestroyInParallel(all);
  ssl_uprobes__destroy(skel_);
}

// Closing a uprobe or tracepoint perf link waits for RCU grace periods in the kernel, ~100-200
// ms each on a busy machine: eighteen of them one after the other took 1.8 s here. Closed on
// one thread each, the waits partly overlap (1.2 s; the kernel serializes uprobe unregistration
// behind one lock, so not further).
void TlsProbes::DestroyInParallel(std::vector<bpf_link*>& links) {
  std::vector<std::thread> threads;
  threads.reserve(links.size());
  for (bpf_link* link : links) threads.emplace_back([link] { bpf_link__destroy(link); });
  for (std::thread& t : threads) t.join();
  links.clear();
}

void TlsProbes::DestroyLinks(LibraryHook& hook) { DestroyInParallel(hook.links); }

int TlsProbes::ringbuf_fd() const { return bpf_map__fd(skel_->maps.ta_tls_events); }

size_t TlsProbes::hooked_libraries() const {
  return static_cast<size_t>(std::count_if(libraries_.begin(), libraries_.end(),
                                           [](const auto& kv) { return kv.second.state.hooked; }));
}

Result<void> TlsProbes::SetPorts(const std::vector<uint16_t>& ports) {
  return WritePorts(skel_, ports);
}

void TlsProbes::HookLibrary(const tls::LibraryFile& lib) {
  auto key = std::pair(lib.dev, lib.inode);
  if (libraries_.count(key) != 0) return;
  LibraryHook& hook = libraries_[key];
  const HookedFunction funcs[] = {
      {"SSL_read", skel_->progs.ta_ssl_read_enter, skel_->progs.ta_ssl_read_exit, true},
      {"SSL_write", skel_->progs.ta_ssl_write_enter, skel_->progs.ta_ssl_write_exit, true},
      {"SSL_read_ex", skel_->progs.ta_ssl_read_ex_enter, skel_->progs.ta_ssl_read_exit, false},
      {"SSL_write_ex", skel_->progs.ta_ssl_write_ex_enter, skel_->progs.ta_ssl_write_exit, false},
      {"SSL_free", skel_->progs.ta_ssl_free_enter, nullptr, false},
  };
  // Which functions the file exports, checked first so that an old libssl's absent _ex
  // functions are a note here rather than libbpf warnings.
  const std::set<std::string> exported = tls::DefinedSymbolsAmong(
      lib.open_path, {"SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex", "SSL_free"});
  std::vector<std::string> missing;
  for (const HookedFunction& f : funcs) {
    if (exported.count(f.name) == 0) {
      if (f.required) {
        DestroyLinks(hook);
        hook.state = {false, fmt::format("{} does not export {}: not OpenSSL's libssl, or not "
                                         "readable",
                                         lib.path, f.name)};
        spdlog::warn("tls: {}", hook.state.note);
        return;
      }
      missing.emplace_back(f.name);
      continue;
    }
    bool ok = true;
    // The return probe first: an entry probe without its return probe would leave a call
    // state behind (harmless, LRU) but nothing to report it.
    for (bpf_program* prog : {f.exit, f.entry}) {
      if (prog == nullptr || !ok) continue;
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = prog == f.exit, .func_name = f.name);
      // pid -1: every process that maps this file, now or later (the uprobe lives on the
      // inode, not in a process).
      bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1, lib.open_path.c_str(), 0, &opts);
      if (link == nullptr) {
        int err = errno;
        ok = false;
        if (f.required) {
          DestroyLinks(hook);
          hook.state = {false, fmt::format("attaching to {} in {} failed: {}", f.name, lib.path,
                                           std::strerror(err))};
          spdlog::warn("tls: {}", hook.state.note);
          return;
        }
        missing.emplace_back(f.name);
        continue;
      }
      hook.links.push_back(link);
    }
  }
  hook.state.hooked = true;
  if (!missing.empty()) {
    std::string names;
    for (const std::string& m : missing) names += (names.empty() ? "" : ", ") + m;
    hook.state.note = fmt::format("{} not hooked (absent before OpenSSL 1.1.1)", names);
  }
  spdlog::info("tls: hooked {} (dev {}:{} inode {}){}{}", lib.path, major(lib.dev), minor(lib.dev),
               lib.inode, hook.state.note.empty() ? "" : ": ", hook.state.note);
}

void TlsProbes::HookLibraries(const tls::ProcessScan& scan) {
  for (const tls::LibraryFile& lib : scan.openssl) HookLibrary(lib);
}

void TlsProbes::Rescan() {
  std::vector<tls::ProcessScan> scans = scanner_.ScanAll();
  processes_.clear();
  std::set<std::pair<uint64_t, uint64_t>> mapped;
  for (tls::ProcessScan& s : scans) {
    if (!s.interesting()) continue;
    HookLibraries(s);
    for (const tls::LibraryFile& lib : s.openssl) mapped.insert({lib.dev, lib.inode});
    int pid = s.pid;
    processes_[pid] = std::move(s);
  }
  // A library file no process maps any more (upgraded and every user restarted): its
  // uprobes would only pin the old inode. A failed attach is forgotten too, to retry.
  for (auto it = libraries_.begin(); it != libraries_.end();) {
    if (mapped.count(it->first) == 0) {
      DestroyLinks(it->second);
      it = libraries_.erase(it);
    } else {
      ++it;
    }
  }
}

void TlsProbes::RescanPid(int pid) {
  std::optional<tls::ProcessScan> s = scanner_.ScanPid(pid);
  if (!s || !s->interesting()) {
    processes_.erase(pid);
    return;
  }
  HookLibraries(*s);
  processes_[pid] = std::move(*s);
}

void TlsProbes::RunDueRescans() {
  const auto now = std::chrono::steady_clock::now();
  while (!pending_rescans_.empty() && pending_rescans_.begin()->first <= now) {
    int pid = pending_rescans_.begin()->second;
    pending_rescans_.erase(pending_rescans_.begin());
    RescanPid(pid);
  }
}

std::vector<TlsCoverageEntry> TlsProbes::Coverage() const {
  return tls::BuildCoverage(processes_, [this](const tls::LibraryFile& lib) {
    auto it = libraries_.find({lib.dev, lib.inode});
    return it == libraries_.end() ? std::nullopt : std::optional(it->second.state);
  });
}

int TlsProbes::OnRingRecord(void* ctx, void* data, size_t size) {
  return static_cast<TlsProbes*>(ctx)->HandleRecord(data, size);
}

int TlsProbes::HandleRecord(const void* data, size_t size) {
  if (size < sizeof(ta_event_header)) return 0;
  ta_event_header hdr;
  std::memcpy(&hdr, data, sizeof(hdr));
  const auto* bytes = static_cast<const uint8_t*>(data);
  if ((hdr.kind == TA_EV_PROC_EXEC || hdr.kind == TA_EV_PROC_TLS) &&
      size >= sizeof(ta_proc_event)) {
    ta_proc_event e;
    std::memcpy(&e, data, sizeof(e));
    const auto now = std::chrono::steady_clock::now();
    if (hdr.kind == TA_EV_PROC_TLS) {
      // Mid-call: its libraries are mapped now, and some hooked one is among them.
      ++tls_process_records_;
      pending_rescans_.emplace(now, static_cast<int>(e.tgid));
      return 0;
    }
    ++exec_records_;
    for (auto delay : options_.exec_rescan_delays) {
      pending_rescans_.emplace(now + delay, static_cast<int>(e.tgid));
    }
    return 0;
  }
  if (hdr.kind != TA_EV_TLS_DATA || size < sizeof(ta_tls_event)) return 0;
  ta_tls_event e;
  std::memcpy(&e, data, sizeof(e));
  if (e.cap_len > size - sizeof(ta_tls_event)) return 0;
  TlsRecordView v;
  v.ts_ns = e.hdr.ts_ns;
  v.start_ns = e.start_ns;
  v.pid = e.pid;
  v.tgid = e.tgid;
  v.ssl = e.ssl;
  v.is_write = e.op == TA_TLS_OP_WRITE;
  v.is_ex = (e.flags & TA_TLS_F_EX) != 0;
  v.family = e.family;
  std::memcpy(v.local_addr.data(), e.local_addr, 16);
  std::memcpy(v.remote_addr.data(), e.remote_addr, 16);
  v.local_port = e.local_port;
  v.remote_port = e.remote_port;
  v.len = e.len;
  v.data = std::span<const uint8_t>(bytes + sizeof(ta_tls_event), e.cap_len);
  v.unmapped = (e.flags & TA_TLS_F_UNMAPPED) != 0;
  if (on_record_) on_record_(v);
  return 0;
}

int TlsProbes::Poll(int timeout_ms) {
  int n = ring_buffer__poll(ring_, timeout_ms);
  RunDueRescans();
  return n;
}

Result<TlsKernelStats> TlsProbes::Stats() const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return ErrnoError("libbpf_num_possible_cpus", ncpu);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  TlsKernelStats out{};
  for (uint32_t i = 0; i < TA_TLS_STAT_MAX; ++i) {
    if (bpf_map__lookup_elem(skel_->maps.ta_tls_stats, &i, sizeof(i), per_cpu.data(),
                             per_cpu.size() * sizeof(uint64_t), 0) != 0) {
      return ErrnoError(fmt::format("reading ta_tls_stats[{}] failed", i));
    }
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return out;
}

}  // namespace ta::agent
