// The Prometheus web config file (agent/web_config.h): what parses, the exact error for every
// kind of bad file, and bcrypt password checks against literal hashes made with
//   /usr/bin/python3 -c 'import crypt; print(crypt.crypt("s3cret pw",
//                        crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'
#include "agent/web_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace ta::agent {
namespace {

// "s3cret pw" at cost 4 (fast), and "prometheus" at cost 10 (htpasswd -B's default).
constexpr const char* kHash = "$2b$04$qQ6qpItFzFf2UUaX865MB./5fMAGYES4KH8u.yQHpOHnqJ5.2rLbu";
constexpr const char* kHashCost10 = "$2b$10$itpl6SYEJe7Idlls476L/uiOI1yrcRedn1VVgu0n/zsyeFvNId3TC";

class WebConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/ta-web-config-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    ::chmod(dir_.c_str(), 0755);
    Write("server.crt", "certificate\n", 0644);
    Write("server.key", "key\n", 0600);
    Write("ca.crt", "ca\n", 0644);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string path() const { return dir_ + "/web.yml"; }
  Result<WebConfig> Parse(const std::string& yaml) const { return ParseWebConfig(yaml, path()); }
  std::string ErrorOf(const std::string& yaml) const {
    auto parsed = Parse(yaml);
    if (parsed.ok()) return "<parsed>";
    return parsed.error().message;
  }

  std::string dir_;
};

TEST_F(WebConfigTest, FullFileParsesAndRelativePathsFollowTheFile) {
  auto parsed = Parse(std::string("tls_server_config:\n"
                                  "  cert_file: server.crt\n"
                                  "  key_file: " +
                                  dir_ +
                                  "/server.key\n"
                                  "  client_auth_type: RequireAndVerifyClientCert\n"
                                  "  client_ca_file: ca.crt\n"
                                  "  min_version: TLS13\n"
                                  "basic_auth_users:\n"
                                  "  prometheus: ") +
                      kHash + "\n  grafana: '" + kHashCost10 + "'\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(parsed->path, path());
  ASSERT_TRUE(parsed->tls.has_value());
  EXPECT_EQ(parsed->tls->cert_file, dir_ + "/server.crt");
  EXPECT_EQ(parsed->tls->key_file, dir_ + "/server.key");
  EXPECT_EQ(parsed->tls->client_ca_file, dir_ + "/ca.crt");
  EXPECT_EQ(parsed->tls->client_auth, ClientAuthType::kRequireAndVerifyClientCert);
  EXPECT_EQ(parsed->tls->min_version, TlsMinVersion::kTls13);
  ASSERT_EQ(parsed->basic_auth_users.size(), 2u);
  EXPECT_EQ(parsed->basic_auth_users.at("prometheus"), kHash);
  EXPECT_EQ(parsed->basic_auth_users.at("grafana"), kHashCost10);
}

TEST_F(WebConfigTest, DefaultsAndEmptyFile) {
  auto empty = Parse("");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_FALSE(empty->tls.has_value());
  EXPECT_TRUE(empty->basic_auth_users.empty());

  auto tls = Parse("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
  ASSERT_TRUE(tls.ok()) << tls.error().message;
  EXPECT_EQ(tls->tls->client_auth, ClientAuthType::kNoClientCert);
  EXPECT_EQ(tls->tls->min_version, TlsMinVersion::kTls12);
  EXPECT_EQ(tls->tls->client_ca_file, "");
  EXPECT_TRUE(tls->basic_auth_users.empty());
}

TEST_F(WebConfigTest, UnknownAndUnsupportedKeys) {
  EXPECT_EQ(ErrorOf("http_server_config:\n  http2: false\n"),
            path() +
                ":1:1: unknown or unsupported key 'http_server_config' (supported keys: "
                "basic_auth_users, tls_server_config)");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                    "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n"),
            path() +
                ":4:3: unknown or unsupported key 'tls_server_config.cipher_suites' "
                "(supported keys: cert_file, key_file, client_auth_type, client_ca_file, "
                "min_version)");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                    "  cert_file: server.crt\n"),
            path() + ":4:3: duplicate key 'tls_server_config.cert_file' (first at line 2)");
  EXPECT_EQ(ErrorOf("[1, 2]: x\n"),
            path() + ":1:1: keys must be plain names, got a list at the top level");
}

TEST_F(WebConfigTest, WrongTypes) {
  EXPECT_EQ(ErrorOf("- tls_server_config\n"),
            path() +
                ":1:1: expected a map with tls_server_config and/or basic_auth_users at "
                "the top level, got a list");
  EXPECT_EQ(ErrorOf("tls_server_config: [server.crt]\n"),
            path() + ":1:20: 'tls_server_config' must be a map, got a list");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: {a: b}\n  key_file: server.key\n"),
            path() + ":2:14: 'tls_server_config.cert_file' must be a string, got a map");
  EXPECT_EQ(ErrorOf("basic_auth_users: [prometheus]\n"),
            path() +
                ":1:19: 'basic_auth_users' must be a map of user name to bcrypt hash, got "
                "a list");
  EXPECT_EQ(ErrorOf("basic_auth_users:\n  prometheus: [a]\n"),
            path() + ":2:15: 'basic_auth_users.prometheus' must be a bcrypt hash, got a list");
  EXPECT_EQ(ErrorOf("basic_auth_users:\n  [a]: x\n"),
            path() +
                ":2:3: user names under 'basic_auth_users' must be plain names, got a "
                "list");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                    "  min_version: [TLS12]\n"),
            path() + ":4:16: 'tls_server_config.min_version' must be a string, got a list");
}

TEST_F(WebConfigTest, EmptySectionsAreMistakes) {
  EXPECT_EQ(ErrorOf("tls_server_config:\n"),
            path() +
                ":1:1: 'tls_server_config' is empty; give cert_file and key_file, or "
                "remove the section to serve plain HTTP");
  EXPECT_EQ(ErrorOf("basic_auth_users:\n"),
            path() +
                ":1:1: 'basic_auth_users' is empty; list users as 'name: bcrypt hash', "
                "or remove the section to serve without authentication");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n"),
            path() +
                ":2:3: 'tls_server_config' needs both cert_file and key_file (PEM files: "
                "the server's certificate chain and its private key)");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n  key_file: ''\n"),
            path() + ":3:13: 'tls_server_config.key_file' is empty; give the path of a PEM file");
}

TEST_F(WebConfigTest, MissingFilesAreNamedWithWhereRelativePathsPoint) {
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n"),
            path() + ":2:14: 'tls_server_config.cert_file': cannot open " + dir_ +
                "/nope.crt: No such file or directory (relative paths are relative to " + dir_ +
                ")");
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n  key_file: /nonexistent/k\n"),
            path() +
                ":3:13: 'tls_server_config.key_file': cannot open /nonexistent/k: No such "
                "file or directory");
  ASSERT_EQ(::mkdir((dir_ + "/certs").c_str(), 0755), 0);
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: certs\n  key_file: server.key\n"),
            path() + ":2:14: 'tls_server_config.cert_file': " + dir_ +
                "/certs is not a regular file (relative paths are relative to " + dir_ + ")");
}

TEST_F(WebConfigTest, KeyReadableByEveryoneIsRefused) {
  ::chmod((dir_ + "/server.key").c_str(), 0644);
  EXPECT_EQ(ErrorOf("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"),
            path() + ":3:13: 'tls_server_config.key_file': " + dir_ +
                "/server.key is readable by everyone (mode 0644), so any local user could take "
                "the endpoint's private key; refusing it. Fix: chmod 0640 " +
                dir_ + "/server.key");
  // The certificate is public: 0644 is right for it.
  ::chmod((dir_ + "/server.key").c_str(), 0640);
  EXPECT_TRUE(Parse("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n").ok());
}

TEST_F(WebConfigTest, UnreadableKeyNamesTheDaemonsUser) {
  const std::string yaml = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
  ::chmod((dir_ + "/server.key").c_str(), 0);
  std::string message;
  uid_t uid = ::geteuid();
  if (uid != 0) {
    message = ErrorOf(yaml);
  } else {
    // root reads everything: parse as nobody (65534) in a child, which is what a daemon
    // running as its own user meets.
    uid = 65534;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
      const std::string text = ErrorOf(yaml);
      const ssize_t n = ::write(fds[1], text.data(), text.size());
      ::_exit(n == static_cast<ssize_t>(text.size()) ? 0 : 3);
    }
    ::close(fds[1]);
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) message.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  const std::string prefix = path() + ":3:13: 'tls_server_config.key_file': " + dir_ +
                             "/server.key is not readable by the daemon's user (uid " +
                             std::to_string(uid) + "); make it readable by that user, e.g. chgrp ";
  EXPECT_EQ(message.substr(0, prefix.size()), prefix) << message;
  EXPECT_NE(message.find(" && chmod 0640 " + dir_ + "/server.key"), std::string::npos) << message;
}

TEST_F(WebConfigTest, ClientAuthTypes) {
  const std::string head = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
  for (const char* unsupported :
       {"RequestClientCert", "RequireAnyClientCert", "VerifyClientCertIfGiven", "yes"}) {
    EXPECT_EQ(ErrorOf(head + "  client_auth_type: " + unsupported + "\n"),
              path() + ":4:21: 'tls_server_config.client_auth_type' is '" + unsupported +
                  "'; traffic-analyzer supports NoClientCert and RequireAndVerifyClientCert");
  }
  EXPECT_EQ(ErrorOf(head + "  client_auth_type: RequireAndVerifyClientCert\n"),
            path() +
                ":4:21: 'tls_server_config.client_auth_type' is "
                "RequireAndVerifyClientCert, which needs client_ca_file: the CA "
                "certificates (PEM) that sign the clients' certificates");
  EXPECT_EQ(ErrorOf(head + "  client_ca_file: ca.crt\n"),
            path() +
                ":4:19: 'tls_server_config.client_ca_file' is set but client_auth_type is "
                "NoClientCert, so no client certificate would be checked; set "
                "client_auth_type: RequireAndVerifyClientCert, or remove client_ca_file");
  EXPECT_EQ(ErrorOf(head + "  client_auth_type: RequireAndVerifyClientCert\n"
                           "  client_ca_file: missing-ca.crt\n"),
            path() + ":5:19: 'tls_server_config.client_ca_file': cannot open " + dir_ +
                "/missing-ca.crt: No such file or directory (relative paths are relative to " +
                dir_ + ")");
  EXPECT_TRUE(Parse(head + "  client_auth_type: NoClientCert\n").ok());
}

TEST_F(WebConfigTest, MinVersion) {
  const std::string head = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
  EXPECT_EQ(ErrorOf(head + "  min_version: TLS11\n"),
            path() +
                ":4:16: 'tls_server_config.min_version' is TLS11; TLS 1.0 and 1.1 are "
                "deprecated (RFC 8996) and never offered: use TLS12 or TLS13");
  EXPECT_EQ(ErrorOf(head + "  min_version: TLS10\n"),
            path() +
                ":4:16: 'tls_server_config.min_version' is TLS10; TLS 1.0 and 1.1 are "
                "deprecated (RFC 8996) and never offered: use TLS12 or TLS13");
  EXPECT_EQ(ErrorOf(head + "  min_version: '1.2'\n"),
            path() + ":4:16: 'tls_server_config.min_version' is '1.2'; expected TLS12 or TLS13");
  auto v12 = Parse(head + "  min_version: TLS12\n");
  ASSERT_TRUE(v12.ok());
  EXPECT_EQ(v12->tls->min_version, TlsMinVersion::kTls12);
}

TEST_F(WebConfigTest, UsersHoldBcryptHashesOnly) {
  // A plain password where the hash belongs is not repeated in the message.
  EXPECT_EQ(ErrorOf("basic_auth_users:\n  prometheus: hunter2\n"),
            path() +
                ":2:15: 'basic_auth_users.prometheus' is not a bcrypt hash ($2a$, $2b$ or "
                "$2y$, a cost, then 53 characters); the file holds hashes, never passwords: "
                "make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n' (apache2-utils), or "
                "python3 -c 'import bcrypt; print(bcrypt.hashpw(b\"PASSWORD\", "
                "bcrypt.gensalt()).decode())'");
  // SHA-512 crypt is a hash, but not bcrypt.
  EXPECT_NE(ErrorOf("basic_auth_users:\n  p: $6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iw"
                    "MuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.\n")
                .find("is not a bcrypt hash"),
            std::string::npos);
  EXPECT_EQ(ErrorOf(std::string("basic_auth_users:\n  'a:b': ") + kHash + "\n"),
            path() +
                ":2:3: user name 'a:b' under 'basic_auth_users' contains ':', which HTTP "
                "basic auth cannot carry (RFC 7617 section 2)");
  EXPECT_EQ(ErrorOf(std::string("basic_auth_users:\n  '': ") + kHash + "\n"),
            path() + ":2:3: 'basic_auth_users' has an empty user name");
  EXPECT_EQ(ErrorOf(std::string("basic_auth_users:\n  p: ") + kHash + "\n  p: " + kHash + "\n"),
            path() + ":3:3: duplicate user 'basic_auth_users.p' (first at line 2)");
}

TEST_F(WebConfigTest, InvalidYaml) {
  EXPECT_EQ(ErrorOf("tls_server_config: {cert_file: a\n"),
            path() + ":2:1: invalid YAML: end of map flow not found");
  EXPECT_EQ(ErrorOf("basic_auth_users: {}\n---\nbasic_auth_users: {}\n"),
            path() +
                ": found more than one YAML document ('---'); a web config file holds "
                "exactly one");
}

TEST_F(WebConfigTest, LoadRefusesAFileAnyoneCanChange) {
  const std::string file =
      Write("web.yml", std::string("basic_auth_users:\n  p: ") + kHash + "\n", 0644);
  auto loaded = LoadWebConfig(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->basic_auth_users.size(), 1u);

  ::chmod(file.c_str(), 0666);
  auto writable = LoadWebConfig(file);
  ASSERT_FALSE(writable.ok());
  EXPECT_EQ(writable.error().err, EPERM);
  EXPECT_EQ(writable.error().message,
            "web config file '" + file +
                "' is writable by everyone (mode 0666), so any local "
                "user could add a /metrics user or swap its certificate; refusing it. Fix: chmod "
                "o-w " +
                file);

  auto missing = LoadWebConfig(dir_ + "/absent.yml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().ToString(), "cannot read web config file '" + dir_ +
                                            "/absent.yml' (metrics.web_config_file): No such "
                                            "file or directory");
}

TEST(BcryptTest, RecognisesTheModularCryptFormat) {
  EXPECT_TRUE(IsBcryptHash(kHash));
  EXPECT_TRUE(IsBcryptHash(kHashCost10));
  std::string h = kHash;
  for (char variant : {'a', 'y'}) {
    h[2] = variant;
    EXPECT_TRUE(IsBcryptHash(h)) << h;
  }
  h[2] = 'x';  // $2x$ is the buggy-implementation marker: not accepted
  EXPECT_FALSE(IsBcryptHash(h));
  EXPECT_FALSE(IsBcryptHash(""));
  EXPECT_FALSE(IsBcryptHash(std::string(kHash).substr(0, 59)));
  EXPECT_FALSE(IsBcryptHash(std::string(kHash) + "x"));
  std::string cost = kHash;
  cost[4] = '0';
  cost[5] = '3';  // below bcrypt's minimum cost of 4
  EXPECT_FALSE(IsBcryptHash(cost));
  cost[4] = '3';
  cost[5] = '2';  // above 31
  EXPECT_FALSE(IsBcryptHash(cost));
  std::string alphabet = kHash;
  alphabet[20] = '+';  // bcrypt's base64 uses '.' and '/', not '+'
  EXPECT_FALSE(IsBcryptHash(alphabet));
}

TEST(BcryptTest, PasswordMatchesOnlyTheRightPassword) {
  EXPECT_TRUE(PasswordMatches(kHash, "s3cret pw"));
  EXPECT_FALSE(PasswordMatches(kHash, "s3cret pw "));
  EXPECT_FALSE(PasswordMatches(kHash, "s3cret"));
  EXPECT_FALSE(PasswordMatches(kHash, ""));
  EXPECT_FALSE(PasswordMatches(kHash, std::string("s3cret pw\0x", 11)));
  EXPECT_TRUE(PasswordMatches(kHashCost10, "prometheus"));
  EXPECT_FALSE(PasswordMatches(kHashCost10, "Prometheus"));
  // $2y$ (PHP, htpasswd) and $2a$ hash ASCII passwords exactly as $2b$ does.
  std::string y = kHash;
  y[2] = 'y';
  EXPECT_TRUE(PasswordMatches(y, "s3cret pw"));
  EXPECT_FALSE(PasswordMatches("not a hash", "s3cret pw"));
}

TEST(BcryptTest, HashMadeAtTestTimeByPython) {
  // An independent implementation's output (Python's crypt module over the system libcrypt):
  // whatever salt it picks, the right password matches and a wrong one does not.
  FILE* pipe = ::popen(
      "/usr/bin/python3 -W ignore -c 'import crypt; print(crypt.crypt("
      "\"pa:ss w\\u00f6rd\", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'",
      "r");
  ASSERT_NE(pipe, nullptr);
  char buf[128] = {};
  const bool read = ::fgets(buf, sizeof(buf), pipe) != nullptr;
  ASSERT_EQ(::pclose(pipe), 0);
  ASSERT_TRUE(read);
  std::string hash(buf);
  while (!hash.empty() && hash.back() == '\n') hash.pop_back();
  ASSERT_TRUE(IsBcryptHash(hash)) << hash;
  EXPECT_TRUE(PasswordMatches(hash, "pa:ss w\xc3\xb6rd"));
  EXPECT_FALSE(PasswordMatches(hash, "pa:ss word"));
}

}  // namespace
}  // namespace ta::agent
