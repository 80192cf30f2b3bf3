#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CivetServer.h>
#include <civetweb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <utility>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <spdlog/spdlog.h>

#include "agent/metrics.h"

namespace ta::agent {

namespace {

constexpr const char* kRefusedFamily = "traffic_analyzer_metrics_requests_refused_total";
// RFC 7617 section 2: the realm names the protection space; charset says credentials are UTF-8
// (section 2.1).
constexpr const char* kChallenge = "Basic realm=\"traffic-analyzer\", charset=\"UTF-8\"";

// --- civetweb callbacks ---------------------------------------------------------------------
// civetweb hands its callbacks only the mg_context (or the CivetServer that prometheus-cpp
// made, as user data), never a pointer of ours. So each server's Gate is found by its
// mg_context, recorded in init_context, which civetweb calls in the starting thread before any
// worker runs. Starts are serialised so init_context knows which server is starting.

struct StartState {
  MetricsServer::Gate* gate = nullptr;
  SSL_CTX* ssl_ctx = nullptr;
  const mg_context* context = nullptr;
  std::vector<std::string> log;  // civetweb's messages while starting, for the error
};

std::mutex g_start_mu;                         // one Start at a time
std::atomic<StartState*> g_starting{nullptr};  // set while a Start constructs its Exposer
std::shared_mutex g_gates_mu;
std::map<const mg_context*, MetricsServer::Gate*>& Gates() {  // guarded by g_gates_mu
  static auto* gates = new std::map<const mg_context*, MetricsServer::Gate*>();
  return *gates;
}

void InitContext(const mg_context* context) {
  StartState* state = g_starting.load();
  if (state == nullptr) return;
  state->context = context;
  std::unique_lock lock(g_gates_mu);
  Gates()[context] = state->gate;
}

// civetweb asks for the SSL_CTX at start and again when it frees the context: returning 1
// both times means "use this one" and "do not free it" (civetweb.c free_context); the server
// owns it.
int ExternalSslCtx(void** ssl_ctx, void* /*user_data*/) {
  if (StartState* state = g_starting.load(); state != nullptr && state->ssl_ctx != nullptr) {
    *ssl_ctx = state->ssl_ctx;
  }
  return 1;
}

int LogMessage(const mg_connection* /*conn*/, const char* message) {
  if (StartState* state = g_starting.load(); state != nullptr) state->log.emplace_back(message);
  // Failed handshakes (a plain HTTP client on the TLS port, a client without a certificate)
  // land here: worth seeing when debugging a scrape, not at every probe.
  spdlog::debug("metrics server (civetweb): {}", message);
  return 1;
}

void Send(mg_connection* conn, int status, const char* reason, const std::string& extra_headers,
          const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
            "%zu\r\nCache-Control: no-store\r\nConnection: close\r\n%s\r\n",
            status, reason, body.size(), extra_headers.c_str());
  mg_write(conn, body.data(), body.size());
}

int BeginRequest(mg_connection* conn) {
  MetricsServer::Gate* gate = nullptr;
  {
    std::shared_lock lock(g_gates_mu);
    auto it = Gates().find(mg_get_context(conn));
    if (it != Gates().end()) gate = it->second;
  }
  if (gate == nullptr) {  // only while the server stops: fail closed
    Send(conn, 503, "Service Unavailable", "", "the metrics server is stopping\n");
    return 503;
  }
  return gate->Check(conn);
}

// --- helpers ---------------------------------------------------------------------------------

// RFC 4648 section 4 base64 with padding, strictly: no whitespace, no missing padding.
std::optional<std::string> DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    int v[4];
    size_t padding = 0;
    for (size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++padding;
        continue;
      }
      if (padding != 0) return std::nullopt;  // data after '='
      v[j] = value(c);
      if (v[j] < 0) return std::nullopt;
    }
    const unsigned bits = (static_cast<unsigned>(v[0]) << 18) |
                          (static_cast<unsigned>(v[1]) << 12) | (static_cast<unsigned>(v[2]) << 6) |
                          static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((bits >> 16) & 0xFF));
    if (padding < 2) out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (padding < 1) out.push_back(static_cast<char>(bits & 0xFF));
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool IsLoopback(const ListenAddress& address) {
  if (!address.ipv6) return address.host.rfind("127.", 0) == 0;
  in6_addr a{};
  if (::inet_pton(AF_INET6, address.host.c_str(), &a) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
  return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
}

// The reason of the oldest error OpenSSL queued (the cause; later ones are its consequences,
// such as "PEM lib"), e.g. "no start line"; the queue is cleared.
std::string OpenSslError() {
  const unsigned long e = ERR_peek_error();
  ERR_clear_error();
  if (e == 0) return "no reason given";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

// Encrypted private keys are refused instead of OpenSSL asking for a passphrase on the
// daemon's terminal.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

Result<std::shared_ptr<void>> MakeSslContext(const WebConfig& web) {
  const WebTlsConfig& tls = *web.tls;
  const std::string where = web.path + ": ";
  ERR_clear_error();
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    return Error{0, where + "cannot create a TLS context (OpenSSL: " + OpenSslError() + ")"};
  }
  std::shared_ptr<void> ctx(raw, [](void* p) { SSL_CTX_free(static_cast<SSL_CTX*>(p)); });
  // RFC 8996: TLS 1.0 and 1.1 are deprecated; min_version raises the floor to 1.3 if asked.
  SSL_CTX_set_min_proto_version(
      raw, tls.min_version == TlsMinVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(
      raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_default_passwd_cb(raw, NoPassphrase);
  if (SSL_CTX_use_certificate_chain_file(raw, tls.cert_file.c_str()) != 1) {
    return Error{0, where + "tls_server_config.cert_file " + tls.cert_file +
                        ": cannot load the certificate (OpenSSL: " + OpenSslError() +
                        "); it must be PEM, the server's certificate first, then any "
                        "intermediate certificates"};
  }
  // SSL_CTX_use_PrivateKey_file checks the key against the certificate loaded above, and so
  // does SSL_CTX_check_private_key for key types the first check skips.
  const bool key_loaded =
      SSL_CTX_use_PrivateKey_file(raw, tls.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  if (!key_loaded || SSL_CTX_check_private_key(raw) != 1) {
    const std::string reason = OpenSslError();
    if (!key_loaded && reason != "key values mismatch") {
      return Error{0, where + "tls_server_config.key_file " + tls.key_file +
                          ": cannot load the private key (OpenSSL: " + reason +
                          "); it must be an unencrypted PEM key (the daemon cannot ask for a "
                          "passphrase)"};
    }
    return Error{0, where + "tls_server_config.key_file " + tls.key_file +
                        " is not the key of the certificate in " + tls.cert_file +
                        " (OpenSSL: " + reason + ")"};
  }
  if (tls.client_auth == ClientAuthType::kRequireAndVerifyClientCert) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr ||
        SSL_CTX_load_verify_locations(raw, tls.client_ca_file.c_str(), nullptr) != 1) {
      if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
      return Error{0, where + "tls_server_config.client_ca_file " + tls.client_ca_file +
                          ": cannot load CA certificates (OpenSSL: " + OpenSslError() +
                          "); it must hold one or more PEM certificates"};
    }
    SSL_CTX_set_client_CA_list(raw, names);  // takes ownership
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Needed for session resumption once peers are verified (SSL_CTX_set_session_id_context(3)).
    static constexpr unsigned char kSessionContext[] = "traffic-analyzer/metrics";
    SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof(kSessionContext) - 1);
  }
  return ctx;
}

// Code the daemon loads must be as safe as the daemon's binary: the file and its directory owned
// by root (or the daemon's user) and writable by no one else. This also keeps a build tree's
// shim directory, compiled in as a fallback for tests, from being used when not so.
bool TrustedFile(const std::string& file) {
  const size_t slash = file.find_last_of('/');
  for (const std::string& path : {file, file.substr(0, slash == 0 ? 1 : slash)}) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    if ((st.st_uid != 0 && st.st_uid != ::geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      spdlog::debug("not loading {}: {} is writable by others than root", file, path);
      return false;
    }
  }
  return true;
}

// civetweb loads OpenSSL at run time by the names "libssl.so" and "libcrypto.so" and, as Debian 12
// builds it, wants SSL_get_peer_certificate, which OpenSSL 3 no longer exports: the two shims of
// agent/civetweb_tls_shim.c answer to those names. Loaded once, RTLD_GLOBAL, never unloaded.
// Without them (a build run from elsewhere) civetweb's own loading is tried and must work.
Result<void> PrepareCivetwebTls(const std::string& what) {
  constexpr unsigned kFeatureTls = 2;  // mg_check_feature(2): built with TLS support
  if (mg_check_feature(kFeatureTls) == 0) {
    return Error{0, what +
                        ": the HTTP server library (civetweb, under prometheus-cpp) was "
                        "built without TLS support; serve plain HTTP on 127.0.0.1 behind a "
                        "TLS proxy instead"};
  }
  static std::mutex mu;
  static bool shims_loaded = false;
  std::lock_guard lock(mu);
  if (shims_loaded) return {};
#ifdef TA_TLS_SHIM_DIRS
  const std::string dirs = TA_TLS_SHIM_DIRS;
#else
  const std::string dirs;
#endif
  size_t loaded = 0;
  for (const char* shim : {"libta-civetweb-libcrypto.so", "libta-civetweb-libssl.so"}) {
    for (size_t start = 0; start < dirs.size();) {
      size_t end = dirs.find(':', start);
      if (end == std::string::npos) end = dirs.size();
      const std::string file = dirs.substr(start, end - start) + "/" + shim;
      start = end + 1;
      if (!TrustedFile(file)) continue;
      if (::dlopen(file.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) {
        ++loaded;
        break;
      }
      spdlog::debug("cannot load {}: {}", file, ::dlerror());
    }
  }
  if (loaded == 2) {
    shims_loaded = true;
    return {};
  }
  void* ssl = ::dlopen("libssl.so", RTLD_LAZY);
  void* crypto = ::dlopen("libcrypto.so", RTLD_LAZY);
  const bool usable =
      ssl != nullptr && crypto != nullptr && ::dlsym(ssl, "SSL_get_peer_certificate") != nullptr;
  if (ssl != nullptr) ::dlclose(ssl);
  if (crypto != nullptr) ::dlclose(crypto);
  if (usable) return {};
  return Error{0, what +
                      ": civetweb cannot use this host's OpenSSL (it loads 'libssl.so' and "
                      "'libcrypto.so' and needs SSL_get_peer_certificate, which OpenSSL 3 "
                      "dropped), and traffic-analyzer's compatibility libraries "
                      "(libta-civetweb-libssl.so, libta-civetweb-libcrypto.so) are not in " +
                      (dirs.empty() ? std::string("this build") : dirs) +
                      "; reinstall traffic-analyzer"};
}

// Binds (and releases) a socket on the address, so a failure has an errno to explain it:
// civetweb only reports "possible problem binding to port". SO_REUSEADDR as civetweb sets it,
// so a port in TIME_WAIT is not mistaken for one in use.
int ProbeBind(const ListenAddress& address) {
  int fd = ::socket(address.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc;
  if (address.ipv6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(address.port);
    ::inet_pton(AF_INET6, address.host.c_str(), &sa.sin6_addr);
    rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(address.port);
    ::inet_pton(AF_INET, address.host.c_str(), &sa.sin_addr);
    rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  }
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

std::string HostText(const ListenAddress& address) {
  return address.ipv6 ? "[" + address.host + "]" : address.host;
}

std::string Plural(size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

int MetricsServer::Gate::Check(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  if (!allow_.empty() && !AddressAllowed(request->remote_addr)) {
    refused_address_->Increment();
    Send(conn, 403, "Forbidden", "",
         std::string("403 Forbidden: ") + request->remote_addr + " is not in metrics.allow\n");
    return 403;
  }
  if (!users_.empty() && !Authorized(mg_get_header(conn, "Authorization"))) {
    refused_auth_->Increment();
    Send(conn, 401, "Unauthorized", std::string("WWW-Authenticate: ") + kChallenge + "\r\n",
         "401 Unauthorized: give a user and password of basic_auth_users\n");
    return 401;
  }
  return 0;
}

bool MetricsServer::Gate::AddressAllowed(const char* remote_addr) const {
  std::array<uint8_t, 16> address{};
  uint8_t family;
  if (::inet_pton(AF_INET, remote_addr, address.data()) == 1) {
    family = AF_INET;
  } else if (in6_addr a6{}; ::inet_pton(AF_INET6, remote_addr, &a6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      family = AF_INET;
      std::memcpy(address.data(), &a6.s6_addr[12], 4);
    } else {
      family = AF_INET6;
      std::memcpy(address.data(), a6.s6_addr, 16);
    }
  } else {
    return false;  // not an address: never in the list
  }
  for (const enforce::Cidr& cidr : allow_) {
    if (cidr.Contains(family, address)) return true;
  }
  return false;
}

bool MetricsServer::Gate::Authorized(const char* authorization) {
  if (authorization == nullptr) return false;
  // RFC 7235 section 2.1: credentials = auth-scheme 1*SP token68; the scheme is
  // case-insensitive.
  std::string_view header(authorization);
  const size_t space = header.find(' ');
  if (space == std::string_view::npos || !EqualsIgnoreCase(header.substr(0, space), "basic")) {
    return false;
  }
  std::string_view token = header.substr(space);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  const std::optional<std::string> decoded = DecodeBase64(token);
  if (!decoded) return false;
  // RFC 7617 section 2: user-pass = user-id ":" password; the user-id has no colon.
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return false;
  const std::string_view user = std::string_view(*decoded).substr(0, colon);
  const std::string_view password = std::string_view(*decoded).substr(colon + 1);

  const auto it = users_.find(user);
  if (it == users_.end()) {
    // An unknown user costs the same bcrypt as a known one, so response times do not tell
    // which user names exist.
    (void)PasswordMatches(users_.begin()->second, password);
    return false;
  }
  Digest digest{};
  unsigned int length = 0;
  if (EVP_Digest(password.data(), password.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
          1 ||
      length != digest.size()) {
    return PasswordMatches(it->second, password);
  }
  {
    std::lock_guard lock(verified_mu_);
    if (auto v = verified_.find(user);
        v != verified_.end() &&
        CRYPTO_memcmp(v->second.data(), digest.data(), digest.size()) == 0) {
      return true;
    }
  }
  if (!PasswordMatches(it->second, password)) return false;
  std::lock_guard lock(verified_mu_);
  verified_.insert_or_assign(std::string(user), digest);
  return true;
}

Result<ListenAddress> CheckListenAddress(const std::string& listen) {
  const std::string what = "cannot serve /metrics on " + listen + " (metrics.listen)";
  auto address = ParseListenAddress(listen);
  if (!address.ok()) return Error{0, what + ": " + address.error().message};

  if (int err = ProbeBind(*address); err != 0) {
    std::string fix;
    switch (err) {
      case EADDRINUSE:
        fix =
            "another process listens there (port 9100 is also node_exporter's default); stop "
            "it or set metrics.listen to a free port, e.g. " +
            HostText(*address) + ":" +
            std::to_string(address->port == 65535 ? 65534 : address->port + 1);
        break;
      case EADDRNOTAVAIL:
        fix =
            "the address is not assigned to any interface of this host; use 127.0.0.1, "
            "0.0.0.0 or an address of this host";
        break;
      case EACCES:
        fix = "ports below 1024 need CAP_NET_BIND_SERVICE; use a port of 1024 or above";
        break;
      case EAFNOSUPPORT:
        fix = "IPv6 is disabled on this host; use an IPv4 address such as 127.0.0.1:9100";
        break;
      default:
        fix = "check the address in metrics.listen";
        break;
    }
    return Error{err, what + "; " + fix};
  }
  return address;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsConfig& config, std::shared_ptr<prometheus::Registry> registry) {
  const std::string what = "cannot serve /metrics on " + config.listen + " (metrics.listen)";
  auto address = CheckListenAddress(config.listen);
  if (!address.ok()) return address.error();

  WebConfig web;
  if (!config.web_config_file.empty()) {
    auto loaded = LoadWebConfig(config.web_config_file);
    if (!loaded.ok()) return loaded.error();
    web = std::move(*loaded);
  }

  std::unique_ptr<MetricsServer> server(new MetricsServer());
  if (web.tls) {
    if (auto tls_ok = PrepareCivetwebTls(what); !tls_ok.ok()) return tls_ok.error();
    auto ctx = MakeSslContext(web);
    if (!ctx.ok()) return ctx.error();
    server->ssl_ctx_ = std::move(*ctx);
  }

  auto& refused = prometheus::BuildCounter()
                      .Name(kRefusedFamily)
                      .Help(std::string(FamilyHelp(kRefusedFamily)))
                      .Register(*registry);
  const size_t user_count = web.basic_auth_users.size();
  server->gate_ = std::make_unique<Gate>(config.allow, std::move(web.basic_auth_users),
                                         &refused.Add({{"reason", "address"}}),
                                         &refused.Add({{"reason", "auth"}}));

  CivetCallbacks callbacks;
  callbacks.begin_request = BeginRequest;
  callbacks.init_context = InitContext;
  callbacks.log_message = LogMessage;
  if (web.tls) callbacks.external_ssl_ctx = ExternalSslCtx;
  // civetweb's listening_ports: "HOST:PORT", with an "s" suffix for TLS.
  std::vector<std::string> options = {
      "listening_ports",
      HostText(*address) + ":" + std::to_string(address->port) + (web.tls ? "s" : ""),
      "num_threads", "2"};
  {
    std::lock_guard start_lock(g_start_mu);
    StartState state;
    state.gate = server->gate_.get();
    state.ssl_ctx = static_cast<SSL_CTX*>(server->ssl_ctx_.get());
    g_starting.store(&state);
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(options, &callbacks);
    } catch (const std::exception& e) {
      g_starting.store(nullptr);
      if (state.context != nullptr) {
        std::unique_lock lock(g_gates_mu);
        Gates().erase(state.context);
      }
      if (address->ipv6) {
        // The kernel accepted the address (ProbeBind), so the HTTP server library is what
        // refuses: Debian's civetweb is built without IPv6 (mg_check_feature(8) == 0).
        return Error{0, what +
                            ": the HTTP server library (civetweb, under prometheus-cpp) was "
                            "built without IPv6 support; use an IPv4 address such as "
                            "127.0.0.1:" +
                            std::to_string(address->port)};
      }
      std::string log;
      for (const std::string& line : state.log) log += (log.empty() ? "" : "; ") + line;
      if (web.tls) {
        return Error{0, what + ": setting up TLS failed" +
                            (log.empty() ? std::string() : " (civetweb: " + log + ")") +
                            "; check tls_server_config in " + web.path};
      }
      return Error{0, what + ": " + e.what() +
                          (log.empty() ? std::string() : " (civetweb: " + log + ")") +
                          "; another process may have taken the port, retry or choose another "
                          "port"};
    }
    g_starting.store(nullptr);
    server->context_ = state.context;
  }
  server->exposer_->RegisterCollectable(registry, "/metrics");

  // "https://127.0.0.1:9100/metrics (TLS, basic auth for 1 user, clients: 198.18.0.10/32)"
  const bool client_certs =
      web.tls && web.tls->client_auth == ClientAuthType::kRequireAndVerifyClientCert;
  std::string protections = !web.tls       ? "plain HTTP"
                            : client_certs ? "TLS, client certificates required"
                                           : "TLS";
  if (user_count != 0) {
    protections += ", basic auth for " + Plural(user_count, "user");
  } else if (!client_certs) {
    protections += ", no authentication";
  }
  protections += ", clients: ";
  if (config.allow.empty()) {
    protections += "any";
  } else {
    for (size_t i = 0; i < config.allow.size(); ++i) {
      protections += (i == 0 ? "" : ", ") + config.allow[i].ToString();
    }
  }
  server->description_ = std::string(web.tls ? "https" : "http") + "://" + HostText(*address) +
                         ":" + std::to_string(address->port) + "/metrics (" + protections + ")";
  server->open_to_everyone_ =
      !IsLoopback(*address) && config.allow.empty() && user_count == 0 && !client_certs;
  spdlog::info("metrics on {}", server->description_);
  if (server->open_to_everyone_) {
    spdlog::warn(
        "metrics on {} can be read by every host that reaches this address: set metrics.allow, "
        "or basic_auth_users or client certificates in metrics.web_config_file (docs/metrics.md, "
        "\"Securing the endpoint\")",
        config.listen);
  }
  return server;
}

MetricsServer::~MetricsServer() {
  // Stop civetweb's threads first: until then they may look up the gate.
  exposer_.reset();
  if (context_ != nullptr) {
    std::unique_lock lock(g_gates_mu);
    Gates().erase(context_);
  }
}

}  // namespace ta::agent
