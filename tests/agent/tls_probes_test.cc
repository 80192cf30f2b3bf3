// Unit tests of the TLS loader's pure parts (agent/tls_probes.h, namespace tls): /proc/PID/maps
// lines, library names, ELF symbol checks for statically linked TLS, and the coverage report
// built from a fake /proc tree in a temporary directory. No BPF, no privileges.
#include "agent/tls_probes.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ta::agent::tls {
namespace {

namespace fs = std::filesystem;

TEST(ParseMapsLine, FileBackedMapping) {
  auto e = ParseMapsLine(
      "7f1c2a400000-7f1c2a45b000 r-xp 0001f000 fd:01 1311234                    "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->start, 0x7f1c2a400000u);
  EXPECT_EQ(e->end, 0x7f1c2a45b000u);
  EXPECT_EQ(e->perms, "r-xp");
  EXPECT_EQ(e->offset, 0x1f000u);
  EXPECT_EQ(e->dev_major, 0xfdu);
  EXPECT_EQ(e->dev_minor, 1u);
  EXPECT_EQ(e->inode, 1311234u);
  EXPECT_EQ(e->path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_FALSE(e->deleted);
}

TEST(ParseMapsLine, AnonymousAndPseudoMappings) {
  auto anon = ParseMapsLine("7ffd1000-7ffd2000 rw-p 00000000 00:00 0 ");
  ASSERT_TRUE(anon.has_value());
  EXPECT_EQ(anon->inode, 0u);
  EXPECT_EQ(anon->path, "");
  auto anon2 = ParseMapsLine("7ffd1000-7ffd2000 rw-p 00000000 00:00 0");
  ASSERT_TRUE(anon2.has_value());
  EXPECT_EQ(anon2->path, "");
  auto heap = ParseMapsLine("55d0c000-55d2d000 rw-p 00000000 00:00 0          [heap]");
  ASSERT_TRUE(heap.has_value());
  EXPECT_EQ(heap->path, "[heap]");
}

TEST(ParseMapsLine, DeletedFilesAndSpacesInPaths) {
  auto del = ParseMapsLine("7f00-7f10 r-xp 00000000 08:02 4242   /usr/lib/libssl.so.3 (deleted)");
  ASSERT_TRUE(del.has_value());
  EXPECT_TRUE(del->deleted);
  EXPECT_EQ(del->path, "/usr/lib/libssl.so.3");

  auto spaces = ParseMapsLine("7f00-7f10 r--p 00000000 08:02 77   /opt/my app/lib ssl/libssl.so.3");
  ASSERT_TRUE(spaces.has_value());
  EXPECT_EQ(spaces->path, "/opt/my app/lib ssl/libssl.so.3");
  EXPECT_FALSE(spaces->deleted);

  auto both = ParseMapsLine("7f00-7f10 r--p 00000000 08:02 77   /opt/a b/libssl.so.3 (deleted)");
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->path, "/opt/a b/libssl.so.3");
  EXPECT_TRUE(both->deleted);

  // "(deleted)" inside a name is part of the name.
  auto inner = ParseMapsLine("7f00-7f10 r--p 00000000 08:02 77   /x/(deleted)/libssl.so.3");
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->path, "/x/(deleted)/libssl.so.3");
  EXPECT_FALSE(inner->deleted);
}

TEST(ParseMapsLine, RejectsMalformedLines) {
  for (const char* line : {
           "", "garbage",
           "7f00 r--p 00000000 08:02 77 /lib",        // no range
           "7f00-zz r--p 00000000 08:02 77 /lib",     // bad hex
           "7f00-7f10 r--p 00000000 0802 77 /lib",    // device without colon
           "7f00-7f10 r--p 00000000 08:02 x77 /lib",  // bad inode
           "7f00-7f10 rp 00000000 08:02 77 /lib",     // perms not 4 chars
           "7f00-7f10 r--p 00000000 08:02",           // no inode
       }) {
    EXPECT_FALSE(ParseMapsLine(line).has_value()) << line;
  }
}

TEST(ClassifyLibrary, OpensslNamesOnly) {
  for (const char* p : {"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/lib64/libssl.so.1.1",
                        "libssl.so", "/usr/lib64/libssl.so.10", "/opt/x y/libssl.so.1.0.2"}) {
    EXPECT_EQ(ClassifyLibrary(p), TlsLibrary::kOpenSsl) << p;
  }
  for (const char* p : {"/usr/lib/libssl3-foo.so", "/usr/lib/libssl.so.3.bak", "libssl.so.",
                        "/usr/lib/libsslcommon.so", "/usr/lib/libssl.so-3", "/lib/libcrypto.so.3",
                        "/libssl.so.3/libc.so.6", "/usr/lib/libssl_x.so.3"}) {
    EXPECT_EQ(ClassifyLibrary(p), TlsLibrary::kNone) << p;
  }
  // NSS's SSL layer is libssl3.so: not OpenSSL 3.
  EXPECT_EQ(ClassifyLibrary("/usr/lib/x86_64-linux-gnu/libssl3.so"), TlsLibrary::kNss);
  EXPECT_EQ(ClassifyLibrary("/usr/lib/x86_64-linux-gnu/libnss3.so"), TlsLibrary::kNss);
  EXPECT_EQ(ClassifyLibrary("/usr/lib/x86_64-linux-gnu/libgnutls.so.30"), TlsLibrary::kGnuTls);
  EXPECT_EQ(ClassifyLibrary("/usr/lib/libwolfssl.so.35"), TlsLibrary::kWolfSsl);
  EXPECT_EQ(ClassifyLibrary("/usr/lib/libmbedtls.so.14"), TlsLibrary::kMbedTls);
}

// ---------------------------------------------------------------------------------------------
// A minimal ELF64 file: header, .strtab, .symtab, .shstrtab, section headers.

struct Sym {
  std::string name;
  bool defined;
};

void WriteElf(const fs::path& path, const std::vector<Sym>& syms, int elf_class = ELFCLASS64) {
  std::string strtab(1, '\0');
  std::vector<Elf64_Sym> table(1);  // entry 0 is the null symbol
  for (const Sym& s : syms) {
    Elf64_Sym e{};
    e.st_name = static_cast<Elf64_Word>(strtab.size());
    e.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
    e.st_shndx = s.defined ? 1 : SHN_UNDEF;
    strtab += s.name;
    strtab += '\0';
    table.push_back(e);
  }
  const std::string shstrtab = std::string("\0.strtab\0.symtab\0.shstrtab\0", 27);
  std::string out(sizeof(Elf64_Ehdr), '\0');
  const size_t strtab_off = out.size();
  out += strtab;
  const size_t symtab_off = out.size();
  out.append(reinterpret_cast<const char*>(table.data()), table.size() * sizeof(Elf64_Sym));
  const size_t shstr_off = out.size();
  out += shstrtab;
  const size_t sh_off = out.size();
  Elf64_Shdr sh[4] = {};
  sh[1].sh_name = 1;
  sh[1].sh_type = SHT_STRTAB;
  sh[1].sh_offset = strtab_off;
  sh[1].sh_size = strtab.size();
  sh[2].sh_name = 9;
  sh[2].sh_type = SHT_SYMTAB;
  sh[2].sh_offset = symtab_off;
  sh[2].sh_size = table.size() * sizeof(Elf64_Sym);
  sh[2].sh_link = 1;
  sh[2].sh_entsize = sizeof(Elf64_Sym);
  sh[3].sh_name = 17;
  sh[3].sh_type = SHT_STRTAB;
  sh[3].sh_offset = shstr_off;
  sh[3].sh_size = shstrtab.size();
  out.append(reinterpret_cast<const char*>(sh), sizeof(sh));
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = static_cast<unsigned char>(elf_class);
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_shoff = sh_off;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 4;
  eh.e_shstrndx = 3;
  std::memcpy(out.data(), &eh, sizeof(eh));
  std::ofstream(path, std::ios::binary) << out;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ta_tls_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

using DetectStaticTlsTest = TempDir;

TEST_F(DetectStaticTlsTest, DefinedOpensslSymbols) {
  WriteElf(dir_ / "a", {{"main", true}, {"SSL_write", true}});
  EXPECT_EQ(DetectStaticTls(dir_ / "a"), StaticTls::kOpenSsl);
  WriteElf(dir_ / "b", {{"SSL_read", true}});
  EXPECT_EQ(DetectStaticTls(dir_ / "b"), StaticTls::kOpenSsl);
}

TEST_F(DetectStaticTlsTest, ImportsAreNotStaticLinking) {
  // A program using the shared libssl imports SSL_write: an undefined symbol.
  WriteElf(dir_ / "a", {{"main", true}, {"SSL_write", false}, {"SSL_read", false}});
  EXPECT_EQ(DetectStaticTls(dir_ / "a"), StaticTls::kNone);
  // Similar names are not the function.
  WriteElf(dir_ / "b", {{"SSL_write_ex2", true}, {"my_SSL_write", true}});
  EXPECT_EQ(DetectStaticTls(dir_ / "b"), StaticTls::kNone);
}

TEST_F(DetectStaticTlsTest, DefinedSymbolsAmong) {
  WriteElf(dir_ / "lib", {{"SSL_read", true},
                          {"SSL_write", true},
                          {"SSL_free", true},
                          {"SSL_read_ex", false},
                          {"BIO_new", true}});
  EXPECT_EQ(DefinedSymbolsAmong(
                dir_ / "lib", {"SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex", "SSL_free"}),
            (std::set<std::string>{"SSL_free", "SSL_read", "SSL_write"}));
  EXPECT_TRUE(DefinedSymbolsAmong(dir_ / "missing", {"SSL_read"}).empty());
}

TEST_F(DetectStaticTlsTest, GoCryptoTls) {
  WriteElf(dir_ / "a", {{"main.main", true}, {"crypto/tls.(*Conn).Write", true}});
  EXPECT_EQ(DetectStaticTls(dir_ / "a"), StaticTls::kGoCryptoTls);
}

TEST_F(DetectStaticTlsTest, GarbageAndOtherFilesAreNone) {
  std::ofstream(dir_ / "text") << "#!/bin/sh\necho SSL_write\n";
  EXPECT_EQ(DetectStaticTls(dir_ / "text"), StaticTls::kNone);
  EXPECT_EQ(DetectStaticTls(dir_ / "missing"), StaticTls::kNone);
  WriteElf(dir_ / "elf32", {{"SSL_write", true}}, ELFCLASS32);
  EXPECT_EQ(DetectStaticTls(dir_ / "elf32"), StaticTls::kNone);
  // Truncated in the middle of the section headers.
  WriteElf(dir_ / "full", {{"SSL_write", true}});
  const auto size = fs::file_size(dir_ / "full");
  fs::copy_file(dir_ / "full", dir_ / "cut");
  fs::resize_file(dir_ / "cut", size - 100);
  EXPECT_EQ(DetectStaticTls(dir_ / "cut"), StaticTls::kNone);
  // Symbol name offsets beyond the string table are skipped, not read.
  std::string bytes;
  {
    std::ifstream in(dir_ / "full", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof(eh));
  Elf64_Shdr symtab;
  std::memcpy(&symtab, bytes.data() + eh.e_shoff + 2 * sizeof(Elf64_Shdr), sizeof(symtab));
  Elf64_Sym sym;
  const size_t sym_at = symtab.sh_offset + sizeof(Elf64_Sym);
  std::memcpy(&sym, bytes.data() + sym_at, sizeof(sym));
  sym.st_name = 0xffffff;
  std::memcpy(bytes.data() + sym_at, &sym, sizeof(sym));
  std::ofstream(dir_ / "badname", std::ios::binary) << bytes;
  EXPECT_EQ(DetectStaticTls(dir_ / "badname"), StaticTls::kNone);
}

// ---------------------------------------------------------------------------------------------
// A fake /proc.

class FakeProcTest : public TempDir {
 protected:
  void AddProcess(int pid, const std::string& comm, const std::vector<std::string>& maps,
                  const fs::path& exe = {}) {
    fs::path p = dir_ / "proc" / std::to_string(pid);
    fs::create_directories(p);
    std::ofstream(p / "comm") << comm << "\n";
    std::ofstream m(p / "maps");
    for (const std::string& line : maps) m << line << "\n";
    if (!exe.empty()) fs::create_symlink(exe, p / "exe");
  }
  std::string Root() const { return (dir_ / "proc").string(); }
};

constexpr char kSslMap1[] =
    "7f0000000000-7f0000020000 r--p 00000000 fd:01 1001  /usr/lib/x86_64-linux-gnu/libssl.so.3";
constexpr char kSslMap2[] =
    "7f0000020000-7f0000080000 r-xp 00020000 fd:01 1001  /usr/lib/x86_64-linux-gnu/libssl.so.3";
constexpr char kCryptoMap[] =
    "7f0000100000-7f0000200000 r-xp 00000000 fd:01 1002  /usr/lib/x86_64-linux-gnu/libcrypto.so.3";

TEST_F(FakeProcTest, ClassifiesProcessesAndBuildsCoverage) {
  WriteElf(dir_ / "plain", {{"main", true}, {"SSL_write", false}});
  WriteElf(dir_ / "static", {{"main", true}, {"SSL_write", true}, {"SSL_read", true}});
  WriteElf(dir_ / "gobin", {{"crypto/tls.(*Conn).Write", true}});
  AddProcess(100, "nginx",
             {kSslMap1, kSslMap2, kCryptoMap, "7ffd1000-7ffd2000 rw-p 00000000 00:00 0 [stack]"},
             dir_ / "plain");
  AddProcess(200, "wget", {"7f00-7f10 r-xp 00000000 fd:01 2001  /usr/lib/libgnutls.so.30"});
  AddProcess(300, "static-srv", {kCryptoMap}, dir_ / "static");
  AddProcess(400, "old-nginx",
             {"7f1000-7f2000 r-xp 00000000 fd:01 999  /usr/lib/x86_64-linux-gnu/libssl.so.3 "
              "(deleted)"},
             dir_ / "plain");
  AddProcess(500, "bash", {kCryptoMap, "garbage line"}, dir_ / "plain");
  AddProcess(600, "container", {"7f00-7f10 r-xp 00000000 00:2a 1001  /lib/libssl.so.3"});
  AddProcess(700, "goapp", {}, dir_ / "gobin");
  fs::create_directories(dir_ / "proc" / "self");
  fs::create_directories(dir_ / "proc" / "sys");

  ProcScanner scanner(Root());
  std::vector<ProcessScan> scans = scanner.ScanAll();
  ASSERT_EQ(scans.size(), 7u);  // numeric directories only
  std::map<int, ProcessScan> interesting;
  for (ProcessScan& s : scans) {
    if (s.interesting()) interesting[s.pid] = s;
  }
  ASSERT_EQ(interesting.size(), 6u);  // all but bash
  EXPECT_EQ(interesting.count(500), 0u);

  const ProcessScan& nginx = interesting[100];
  EXPECT_EQ(nginx.comm, "nginx");
  ASSERT_EQ(nginx.openssl.size(), 1u);  // two mappings, one file
  EXPECT_EQ(nginx.openssl[0].dev, makedev(0xfd, 1));
  EXPECT_EQ(nginx.openssl[0].inode, 1001u);
  EXPECT_EQ(nginx.openssl[0].open_path, Root() + "/100/root/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(nginx.static_tls, StaticTls::kNone);

  const ProcessScan& old = interesting[400];
  ASSERT_EQ(old.openssl.size(), 1u);
  EXPECT_EQ(old.openssl[0].path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(old.openssl[0].open_path, Root() + "/400/map_files/7f1000-7f2000");

  // The same inode on another device is another file.
  EXPECT_EQ(interesting[600].openssl[0].dev, makedev(0, 0x2a));

  // Coverage: 1001 on fd:01 hooked; 999 failed; the container's file not tried yet.
  auto lookup = [](const LibraryFile& f) -> std::optional<HookState> {
    if (f.dev == makedev(0xfd, 1) && f.inode == 1001) return HookState{true, ""};
    if (f.inode == 999) return HookState{false, "attaching to SSL_read in x failed: No such file"};
    return std::nullopt;
  };
  std::vector<TlsCoverageEntry> cov = BuildCoverage(interesting, lookup);
  ASSERT_EQ(cov.size(), 6u);
  auto expect = [&](size_t i, int pid, const std::string& comm, const std::string& lib, bool hooked,
                    const std::string& reason) {
    SCOPED_TRACE(i);
    EXPECT_EQ(cov[i].pid, pid);
    EXPECT_EQ(cov[i].comm, comm);
    EXPECT_EQ(cov[i].library, lib);
    EXPECT_EQ(cov[i].hooked, hooked);
    EXPECT_EQ(cov[i].reason, reason);
  };
  expect(0, 100, "nginx", "/usr/lib/x86_64-linux-gnu/libssl.so.3", true, "");
  expect(1, 200, "wget", "/usr/lib/libgnutls.so.30", false,
         "unsupported TLS library (GnuTLS): not hooked");
  expect(2, 300, "static-srv", (dir_ / "static").string(), false,
         "statically linked OpenSSL (or BoringSSL): not hooked");
  expect(3, 400, "old-nginx", "/usr/lib/x86_64-linux-gnu/libssl.so.3", false,
         "attaching to SSL_read in x failed: No such file");
  expect(4, 600, "container", "/lib/libssl.so.3", false,
         "not attached yet (found since the last scan)");
  expect(5, 700, "goapp", (dir_ / "gobin").string(), false, "Go crypto/tls: not hooked");
}

TEST_F(FakeProcTest, ExitedProcessesDisappear) {
  AddProcess(100, "curl", {kSslMap1});
  AddProcess(101, "curl", {kSslMap1});
  ProcScanner scanner(Root());
  EXPECT_EQ(scanner.ScanAll().size(), 2u);
  ASSERT_TRUE(scanner.ScanPid(101).has_value());
  fs::remove_all(dir_ / "proc" / "101");
  std::vector<ProcessScan> after = scanner.ScanAll();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].pid, 100);
  EXPECT_FALSE(scanner.ScanPid(101).has_value());
  EXPECT_FALSE(scanner.ScanPid(99999).has_value());
}

TEST_F(FakeProcTest, MissingProcRootIsEmpty) {
  ProcScanner scanner((dir_ / "nope").string());
  EXPECT_TRUE(scanner.ScanAll().empty());
}

}  // namespace
}  // namespace ta::agent::tls
