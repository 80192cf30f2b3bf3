// The guarded /metrics endpoint (agent/metrics_server.h): real servers on 127.0.0.1 queried by
// curl, with certificates made by the openssl CLI at test time. No privileges needed.
#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "agent/metrics.h"
#include "tests/agent/exposition.h"

namespace ta::agent {
namespace {

// "s3cret pw" at bcrypt cost 4 (/usr/bin/python3 -c 'import crypt; print(crypt.crypt(
// "s3cret pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))').
constexpr const char* kHash = "$2b$04$qQ6qpItFzFf2UUaX865MB./5fMAGYES4KH8u.yQHpOHnqJ5.2rLbu";
const std::string kRefusedAddress =
    "traffic_analyzer_metrics_requests_refused_total{reason=\"address\"}";
const std::string kRefusedAuth = "traffic_analyzer_metrics_requests_refused_total{reason=\"auth\"}";

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

enforce::Cidr Cidr(const char* text) { return enforce::Cidr::Parse(text).value(); }

struct Command {
  int exit_code = -1;
  std::string output;  // stdout: for curl -D -, the response headers then the body
};

Command Shell(const std::string& command) {
  Command run;
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = ::fread(buf, 1, sizeof(buf), pipe)) > 0) run.output.append(buf, n);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// GET url with curl; `options` go before it (credentials, --cacert, ...).
Command Curl(const std::string& url, const std::string& options = "") {
  return Shell("curl -sS --max-time 20 -D - " + options + " '" + url + "'");
}

std::string StatusLine(const Command& run) { return run.output.substr(0, run.output.find("\r\n")); }

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/ta-metrics-server-XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
    port_ = FreePort();
    config_.listen = "127.0.0.1:" + std::to_string(port_);
    metrics_.OnTcpOpened(analyzer::FlowKey{}, 1, false);  // something to see in a scrape
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }

  // A self-signed certificate for 127.0.0.1 and its key (P-256: fast to make).
  void MakeServerCert() {
    ASSERT_EQ(Shell("cd " + dir_ +
                    " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                    "-nodes -keyout server.key -out server.crt -days 2 -subj /CN=127.0.0.1 "
                    "-addext subjectAltName=IP:127.0.0.1 && chmod 0600 server.key")
                  .exit_code,
              0)
        << "the openssl CLI is needed";
  }

  std::string Url(const char* scheme = "http") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_) + "/metrics";
  }
  std::string Refused(const std::string& series) const {
    return SeriesValue(metrics_.SerializeText(), series);
  }
  Result<std::unique_ptr<MetricsServer>> Start() {
    return MetricsServer::Start(config_, metrics_.registry());
  }
  void UseWebConfig(const std::string& yaml) {
    config_.web_config_file = Write("web.yml", yaml, 0640);
  }

  std::string dir_;
  uint16_t port_ = 0;
  MetricsConfig config_;
  Metrics metrics_;
};

TEST_F(MetricsServerTest, PlainHttpServesTheRegistry) {
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ((*server)->description(), "http://127.0.0.1:" + std::to_string(port_) +
                                          "/metrics (plain HTTP, no authentication, clients: any)");
  EXPECT_FALSE((*server)->open_to_everyone());
  const Command run = Curl(Url());
  ASSERT_EQ(run.exit_code, 0);
  EXPECT_EQ(StatusLine(run), "HTTP/1.1 200 OK");
  EXPECT_NE(run.output.find("tcp_connections_opened_total{server_port=\"0\"} 1\n"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find(kRefusedAddress + " 0\n"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(kRefusedAuth + " 0\n"), std::string::npos) << run.output;
}

TEST_F(MetricsServerTest, ClientOutsideTheAllowlistGets403AndIsCounted) {
  config_.allow = {Cidr("198.18.0.0/15")};
  auto guarded = Start();
  ASSERT_TRUE(guarded.ok()) << guarded.error().ToString();
  EXPECT_EQ((*guarded)->description(),
            "http://127.0.0.1:" + std::to_string(port_) +
                "/metrics (plain HTTP, no authentication, clients: 198.18.0.0/15)");
  const Command refused = Curl(Url());
  ASSERT_EQ(refused.exit_code, 0);
  EXPECT_EQ(StatusLine(refused), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(refused.output.substr(refused.output.find("\r\n\r\n") + 4),
            "403 Forbidden: 127.0.0.1 is not in metrics.allow\n");
  EXPECT_EQ(Refused(kRefusedAddress), "1");
  EXPECT_EQ(Refused(kRefusedAuth), "0");

  // A second server on the same registry that lets loopback in sees the refusal, and the first
  // still refuses: each server keeps its own list.
  MetricsConfig open = config_;
  const uint16_t second_port = FreePort();
  open.listen = "127.0.0.1:" + std::to_string(second_port);
  open.allow = {Cidr("127.0.0.0/8"), Cidr("2001:db8::/32")};
  auto allowed = MetricsServer::Start(open, metrics_.registry());
  ASSERT_TRUE(allowed.ok()) << allowed.error().ToString();
  const Command scrape = Curl("http://127.0.0.1:" + std::to_string(second_port) + "/metrics");
  EXPECT_EQ(StatusLine(scrape), "HTTP/1.1 200 OK");
  EXPECT_NE(scrape.output.find(kRefusedAddress + " 1\n"), std::string::npos) << scrape.output;
  EXPECT_EQ(StatusLine(Curl(Url())), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(Refused(kRefusedAddress), "2");
}

TEST(MetricsGateTest, AllowlistMatchesFamiliesAndMappedAddresses) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("refused").Register(registry);
  MetricsServer::Gate gate({Cidr("198.18.0.0/15"), Cidr("2001:db8::/32")}, {},
                           &family.Add({{"reason", "address"}}), &family.Add({{"reason", "auth"}}));
  EXPECT_TRUE(gate.AddressAllowed("198.18.0.10"));
  EXPECT_TRUE(gate.AddressAllowed("198.19.255.255"));
  EXPECT_FALSE(gate.AddressAllowed("198.20.0.1"));
  EXPECT_FALSE(gate.AddressAllowed("127.0.0.1"));
  // A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2).
  EXPECT_TRUE(gate.AddressAllowed("::ffff:198.18.0.10"));
  EXPECT_FALSE(gate.AddressAllowed("::ffff:10.0.0.1"));
  EXPECT_TRUE(gate.AddressAllowed("2001:db8::1"));
  EXPECT_FALSE(gate.AddressAllowed("2001:db9::1"));
  EXPECT_FALSE(gate.AddressAllowed("::1"));
  EXPECT_FALSE(gate.AddressAllowed(""));
  EXPECT_FALSE(gate.AddressAllowed("not an address"));
}

TEST(MetricsGateTest, AuthorizationHeaderParsing) {
  prometheus::Registry registry;
  auto& family = prometheus::BuildCounter().Name("refused").Register(registry);
  MetricsServer::Gate gate({}, {{"prometheus", kHash}}, &family.Add({{"reason", "address"}}),
                           &family.Add({{"reason", "auth"}}));
  // base64("prometheus:s3cret pw") = cHJvbWV0aGV1czpzM2NyZXQgcHc=
  EXPECT_TRUE(gate.Authorized("Basic cHJvbWV0aGV1czpzM2NyZXQgcHc="));
  EXPECT_TRUE(gate.Authorized("basic   cHJvbWV0aGV1czpzM2NyZXQgcHc= "));  // RFC 7235 2.1
  EXPECT_TRUE(gate.Authorized("BASIC cHJvbWV0aGV1czpzM2NyZXQgcHc="));     // cached path too
  EXPECT_FALSE(gate.Authorized(nullptr));
  EXPECT_FALSE(gate.Authorized(""));
  EXPECT_FALSE(gate.Authorized("Bearer cHJvbWV0aGV1czpzM2NyZXQgcHc="));
  EXPECT_FALSE(gate.Authorized("Basic"));
  EXPECT_FALSE(gate.Authorized("Basic cHJvbWV0aGV1czpzM2NyZXQgcHc"));    // padding missing
  EXPECT_FALSE(gate.Authorized("Basic cHJvbWV0aGV1czpzM2NyZXQgcHc=="));  // length not 4n
  EXPECT_FALSE(gate.Authorized("Basic cHJvbWV0aGV1czpzM2NyZXQgc*c="));   // not base64
  EXPECT_FALSE(gate.Authorized("Basic cHJvbWV0aGV1cw=="));               // "prometheus", no ':'
  EXPECT_FALSE(gate.Authorized("Basic cHJvbWV0aGV1czpzM2NyZXQgcHcg"));   // "...pw " (space)
  EXPECT_FALSE(gate.Authorized("Basic Z3JhZmFuYTpzM2NyZXQgcHc="));       // grafana: unknown
  // The cache keeps the right password, not a wrong one after it.
  EXPECT_FALSE(gate.Authorized("Basic cHJvbWV0aGV1czp4"));  // "prometheus:x"
  EXPECT_TRUE(gate.Authorized("Basic cHJvbWV0aGV1czpzM2NyZXQgcHc="));
}

TEST_F(MetricsServerTest, BasicAuth) {
  UseWebConfig(std::string("basic_auth_users:\n  prometheus: ") + kHash + "\n");
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ((*server)->description(),
            "http://127.0.0.1:" + std::to_string(port_) +
                "/metrics (plain HTTP, basic auth for 1 user, clients: any)");

  const Command none = Curl(Url());
  EXPECT_EQ(StatusLine(none), "HTTP/1.1 401 Unauthorized");
  EXPECT_NE(none.output.find("\r\nWWW-Authenticate: Basic realm=\"traffic-analyzer\", "
                             "charset=\"UTF-8\"\r\n"),
            std::string::npos)
      << none.output;
  EXPECT_EQ(none.output.substr(none.output.find("\r\n\r\n") + 4),
            "401 Unauthorized: give a user and password of basic_auth_users\n");
  EXPECT_EQ(StatusLine(Curl(Url(), "-u 'prometheus:wrong'")), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(StatusLine(Curl(Url(), "-u 'grafana:s3cret pw'")), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(Refused(kRefusedAuth), "3");

  const Command right = Curl(Url(), "-u 'prometheus:s3cret pw'");
  EXPECT_EQ(StatusLine(right), "HTTP/1.1 200 OK");
  EXPECT_NE(right.output.find(kRefusedAuth + " 3\n"), std::string::npos) << right.output;
  EXPECT_NE(right.output.find(kRefusedAddress + " 0\n"), std::string::npos) << right.output;
  EXPECT_EQ(StatusLine(Curl(Url(), "-u 'prometheus:s3cret pw'")), "HTTP/1.1 200 OK");
  EXPECT_EQ(Refused(kRefusedAuth), "3");
}

TEST_F(MetricsServerTest, AllowlistIsCheckedBeforeAuth) {
  config_.allow = {Cidr("198.18.0.0/15")};
  UseWebConfig(std::string("basic_auth_users:\n  prometheus: ") + kHash + "\n");
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ(StatusLine(Curl(Url(), "-u 'prometheus:s3cret pw'")), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(StatusLine(Curl(Url(), "-u 'prometheus:wrong'")), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(Refused(kRefusedAddress), "2");
  EXPECT_EQ(Refused(kRefusedAuth), "0");
}

TEST_F(MetricsServerTest, Tls) {
  MakeServerCert();
  UseWebConfig("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n");
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ((*server)->description(), "https://127.0.0.1:" + std::to_string(port_) +
                                          "/metrics (TLS, no authentication, clients: any)");

  const Command https = Curl(Url("https"), "--cacert " + dir_ + "/server.crt");
  ASSERT_EQ(https.exit_code, 0);
  EXPECT_EQ(StatusLine(https), "HTTP/1.1 200 OK");
  EXPECT_NE(https.output.find("tcp_connections_opened_total{server_port=\"0\"} 1\n"),
            std::string::npos);
  // Plain HTTP to the TLS port gets no HTTP answer; an unknown certificate is not trusted.
  const Command plain = Curl(Url("http"));
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_EQ(plain.output.find("HTTP/"), std::string::npos) << plain.output;
  EXPECT_EQ(Curl(Url("https")).exit_code, 60);  // CURLE_PEER_FAILED_VERIFICATION
  // TLS 1.0/1.1 are never offered (RFC 8996).
  EXPECT_NE(
      Curl(Url("https"), "--cacert " + dir_ + "/server.crt --tlsv1.0 --tls-max 1.1").exit_code, 0);
  EXPECT_EQ(StatusLine(Curl(Url("https"), "--cacert " + dir_ + "/server.crt --tls-max 1.2")),
            "HTTP/1.1 200 OK");
}

TEST_F(MetricsServerTest, TlsMinVersion13) {
  MakeServerCert();
  UseWebConfig(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
      "  min_version: TLS13\n");
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_NE(Curl(Url("https"), "--cacert " + dir_ + "/server.crt --tls-max 1.2").exit_code, 0);
  EXPECT_EQ(StatusLine(Curl(Url("https"), "--cacert " + dir_ + "/server.crt")), "HTTP/1.1 200 OK");
}

TEST_F(MetricsServerTest, TlsAndBasicAuthTogether) {
  MakeServerCert();
  UseWebConfig(std::string("tls_server_config:\n  cert_file: server.crt\n  key_file: "
                           "server.key\nbasic_auth_users:\n  prometheus: ") +
               kHash + "\n");
  config_.allow = {Cidr("127.0.0.1")};
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ((*server)->description(),
            "https://127.0.0.1:" + std::to_string(port_) +
                "/metrics (TLS, basic auth for 1 user, clients: 127.0.0.1/32)");
  const std::string ca = "--cacert " + dir_ + "/server.crt";
  EXPECT_EQ(StatusLine(Curl(Url("https"), ca)), "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(StatusLine(Curl(Url("https"), ca + " -u 'prometheus:nope'")),
            "HTTP/1.1 401 Unauthorized");
  const Command right = Curl(Url("https"), ca + " -u 'prometheus:s3cret pw'");
  EXPECT_EQ(StatusLine(right), "HTTP/1.1 200 OK");
  EXPECT_NE(right.output.find(kRefusedAuth + " 2\n"), std::string::npos) << right.output;
  EXPECT_EQ(Refused(kRefusedAddress), "0");
}

TEST_F(MetricsServerTest, ClientCertificatesRequired) {
  MakeServerCert();
  // A CA, and a client certificate it signs; a second, self-signed client it does not.
  ASSERT_EQ(Shell("cd " + dir_ +
                  " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                  "-nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-ca"
                  " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                  "-keyout client.key -out client.csr -subj /CN=prometheus"
                  " && openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key "
                  "-CAcreateserial -out client.crt -days 2"
                  " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                  "-nodes -keyout stranger.key -out stranger.crt -days 2 -subj /CN=stranger")
                .exit_code,
            0);
  UseWebConfig(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n");
  config_.listen = "0.0.0.0:" + std::to_string(port_);
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ((*server)->description(),
            "https://0.0.0.0:" + std::to_string(port_) +
                "/metrics (TLS, client certificates required, clients: any)");
  EXPECT_FALSE((*server)->open_to_everyone());  // client certificates are authentication
  const std::string ca = "--cacert " + dir_ + "/server.crt";
  EXPECT_EQ(StatusLine(Curl(Url("https"),
                            ca + " --cert " + dir_ + "/client.crt --key " + dir_ + "/client.key")),
            "HTTP/1.1 200 OK");
  const Command without = Curl(Url("https"), ca);
  EXPECT_NE(without.exit_code, 0);
  EXPECT_EQ(without.output.find("HTTP/"), std::string::npos) << without.output;
  const Command stranger =
      Curl(Url("https"), ca + " --cert " + dir_ + "/stranger.crt --key " + dir_ + "/stranger.key");
  EXPECT_NE(stranger.exit_code, 0);
  EXPECT_EQ(stranger.output.find("HTTP/"), std::string::npos) << stranger.output;
}

TEST_F(MetricsServerTest, TlsFilesThatOpenSslCannotUse) {
  MakeServerCert();
  const std::string web = dir_ + "/web.yml";
  // A certificate file that is not PEM.
  Write("garbage.crt", "not a certificate\n", 0644);
  UseWebConfig("tls_server_config:\n  cert_file: garbage.crt\n  key_file: server.key\n");
  auto garbage = Start();
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().message,
            web + ": tls_server_config.cert_file " + dir_ +
                "/garbage.crt: cannot load the certificate (OpenSSL: no start line); it must be "
                "PEM, the server's certificate first, then any intermediate certificates");

  // A key of another certificate.
  ASSERT_EQ(Shell("cd " + dir_ +
                  " && openssl genpkey -algorithm ec -pkeyopt "
                  "ec_paramgen_curve:prime256v1 -out other.key")
                .exit_code,
            0);
  ::chmod((dir_ + "/other.key").c_str(), 0600);
  UseWebConfig("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n");
  auto mismatch = Start();
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().message, web + ": tls_server_config.key_file " + dir_ +
                                          "/other.key is not the key of the certificate in " +
                                          dir_ + "/server.crt (OpenSSL: key values mismatch)");

  // An encrypted key: the daemon cannot ask for a passphrase, and never prompts.
  ASSERT_EQ(Shell("cd " + dir_ +
                  " && openssl pkey -in server.key -aes256 -passout pass:x "
                  "-out encrypted.key && chmod 0600 encrypted.key")
                .exit_code,
            0);
  UseWebConfig("tls_server_config:\n  cert_file: server.crt\n  key_file: encrypted.key\n");
  auto encrypted = Start();
  ASSERT_FALSE(encrypted.ok());
  const std::string prefix =
      web + ": tls_server_config.key_file " + dir_ + "/encrypted.key: cannot load the private key";
  EXPECT_EQ(encrypted.error().message.substr(0, prefix.size()), prefix);
  EXPECT_NE(encrypted.error().message.find("); it must be an unencrypted PEM key (the daemon "
                                           "cannot ask for a passphrase)"),
            std::string::npos)
      << encrypted.error().message;

  // A CA file without certificates.
  UseWebConfig(
      "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
      "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: garbage.crt\n");
  auto ca = Start();
  ASSERT_FALSE(ca.ok());
  const std::string ca_prefix = web + ": tls_server_config.client_ca_file " + dir_ +
                                "/garbage.crt: cannot load CA certificates (OpenSSL: ";
  EXPECT_EQ(ca.error().message.substr(0, ca_prefix.size()), ca_prefix) << ca.error().message;

  // Nothing was left listening by the failed starts.
  auto ok = MetricsServer::Start(MetricsConfig{config_.listen, {}, ""}, metrics_.registry());
  EXPECT_TRUE(ok.ok()) << ok.error().ToString();
}

TEST_F(MetricsServerTest, WebConfigErrorsReachTheCaller) {
  UseWebConfig("basic_auth_users:\n  prometheus: hunter2\n");
  auto server = Start();
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().message.substr(0, dir_.size() + 21), dir_ + "/web.yml:2:15: 'basic");
  EXPECT_EQ(server.error().message.find("hunter2"), std::string::npos);

  config_.web_config_file = dir_ + "/absent.yml";
  auto absent = Start();
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().ToString(), "cannot read web config file '" + dir_ +
                                           "/absent.yml' (metrics.web_config_file): No such "
                                           "file or directory");
}

TEST_F(MetricsServerTest, BusyPortKeepsTheExposerMessage) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port_);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  auto server = Start();
  ::close(fd);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.error().err, EADDRINUSE);
  EXPECT_EQ(server.error().ToString(),
            "cannot serve /metrics on " + config_.listen +
                " (metrics.listen); another process listens there (port 9100 is also "
                "node_exporter's default); stop it or set metrics.listen to a free port, e.g. "
                "127.0.0.1:" +
                std::to_string(port_ + 1) + ": Address already in use");
}

TEST(MetricsServerAddressTest, InvalidForeignOrIpv6AddressIsAnError) {
  // The texts StartExposer had (tests/agent/metrics_test.cc), kept by MetricsServer.
  Metrics metrics;
  auto invalid = MetricsServer::Start(MetricsConfig{"localhost:9100", {}, ""}, metrics.registry());
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().message,
            "cannot serve /metrics on localhost:9100 (metrics.listen): 'localhost' is not an "
            "IPv4 address (host names are not resolved); expected IP:PORT with an IP address, "
            "e.g. 127.0.0.1:9100, 0.0.0.0:9100 or [::1]:9100");
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is never assigned to a test host.
  auto foreign = MetricsServer::Start(MetricsConfig{"192.0.2.1:9100", {}, ""}, metrics.registry());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().err, EADDRNOTAVAIL);
  EXPECT_EQ(foreign.error().message,
            "cannot serve /metrics on 192.0.2.1:9100 (metrics.listen); the address is not "
            "assigned to any interface of this host; use 127.0.0.1, 0.0.0.0 or an address of "
            "this host");
  // Debian 12's civetweb is built without IPv6; a build with it serves.
  const std::string port = std::to_string(FreePort());
  auto v6 = MetricsServer::Start(MetricsConfig{"[::1]:" + port, {}, ""}, metrics.registry());
  if (!v6.ok()) {
    EXPECT_EQ(v6.error().message,
              "cannot serve /metrics on [::1]:" + port +
                  " (metrics.listen): the HTTP server library (civetweb, under prometheus-cpp) was "
                  "built without IPv6 support; use an IPv4 address such as 127.0.0.1:" +
                  port);
  } else {
    EXPECT_EQ((*v6)->description(),
              "http://[::1]:" + port + "/metrics (plain HTTP, no authentication, clients: any)");
  }
}

TEST_F(MetricsServerTest, OpenToEveryoneOnlyWithoutAnyProtection) {
  config_.listen = "0.0.0.0:" + std::to_string(port_);
  {
    auto server = Start();
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    EXPECT_TRUE((*server)->open_to_everyone());
    EXPECT_EQ((*server)->description(),
              "http://0.0.0.0:" + std::to_string(port_) +
                  "/metrics (plain HTTP, no authentication, clients: any)");
  }
  config_.allow = {Cidr("198.18.0.0/15")};
  {
    auto server = Start();
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    EXPECT_FALSE((*server)->open_to_everyone());
  }
  config_.allow.clear();
  UseWebConfig(std::string("basic_auth_users:\n  a: ") + kHash + "\n  b: " + kHash + "\n");
  {
    auto server = Start();
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    EXPECT_FALSE((*server)->open_to_everyone());
    EXPECT_EQ((*server)->description(),
              "http://0.0.0.0:" + std::to_string(port_) +
                  "/metrics (plain HTTP, basic auth for 2 users, clients: any)");
  }
}

}  // namespace
}  // namespace ta::agent
