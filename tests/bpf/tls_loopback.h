// TLS over real TCP sockets on 127.0.0.1 or ::1 (and over memory BIOs) with OpenSSL's libssl,
// for the ssl_uprobes tests and their helper program tls_peer. The certificate is made in memory
// (EC P-256, self-signed, CN=test), so no files or openssl CLI are needed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace ta::testing {

inline std::string SslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    out += buf;
    out += "; ";
  }
  return out;
}

inline void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string(what) + ": " + SslErrors());
}

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;

// A server context with a fresh self-signed certificate and a client context that does not
// verify it (the tests are about the plaintext, not about trust).
struct TlsContexts {
  CtxPtr server;
  CtxPtr client;

  TlsContexts() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    Check(key != nullptr, "EVP_EC_gen");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    const unsigned char cn[] = "test";
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0);
    X509_set_issuer_name(cert, name);
    Check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");
    server.reset(SSL_CTX_new(TLS_server_method()));
    client.reset(SSL_CTX_new(TLS_client_method()));
    Check(server && client, "SSL_CTX_new");
    Check(SSL_CTX_use_certificate(server.get(), cert) == 1, "use_certificate");
    Check(SSL_CTX_use_PrivateKey(server.get(), key) == 1, "use_PrivateKey");
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

// A listening socket with a kernel-chosen port: on 127.0.0.1 (AF_INET), on ::1 (AF_INET6), or
// dual-stack on :: (AF_INET6 with IPV6_V6ONLY off: IPv4 clients arrive as ::ffff:a.b.c.d).
struct Listener {
  int fd = -1;
  int family = AF_INET;
  bool dual_stack = false;
  uint16_t port = 0;

  explicit Listener(int fam = AF_INET, bool dual = false) : family(fam), dual_stack(dual) {
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Check(fd >= 0, "socket");
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(*a);
    } else {
      int v6only = dual ? 0 : 1;
      Check(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) == 0, "IPV6_V6ONLY");
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = dual ? in6addr_any : in6addr_loopback;
      len = sizeof(*a);
    }
    Check(bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0, "bind");
    Check(listen(fd, 8) == 0, "listen");
    len = sizeof(ss);
    Check(getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0, "getsockname");
    port = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                             : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  ~Listener() {
    if (fd >= 0) close(fd);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Where a client connects: ::1 for an IPv6-only listener, 127.0.0.1 otherwise.
  int client_family() const { return family == AF_INET6 && !dual_stack ? AF_INET6 : AF_INET; }
};

// An address as the probes report it: IPv4 in the first 4 bytes (network order), IPv6 in all
// 16; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it maps.
struct Endpoint {
  int family = 0;
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;  // host order
};

inline Endpoint SockName(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  Check(rc == 0, "getsockname/getpeername");
  Endpoint e;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    e.family = AF_INET;
    std::memcpy(e.addr.data(), &a->sin_addr, 4);
    e.port = ntohs(a->sin_port);
    return e;
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  e.port = ntohs(a->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    e.family = AF_INET;
    std::memcpy(e.addr.data(), a->sin6_addr.s6_addr + 12, 4);
  } else {
    e.family = AF_INET6;
    std::memcpy(e.addr.data(), a->sin6_addr.s6_addr, 16);
  }
  return e;
}

// One TLS connection over TCP on 127.0.0.1, both ends in this process, handshake done.
struct TlsTcpPair {
  int client_fd = -1;
  int server_fd = -1;
  SslPtr client;
  SslPtr server;

  TlsTcpPair(TlsContexts& ctx, Listener& listener) {
    const int fam = listener.client_family();
    client_fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Check(client_fd >= 0, "socket");
    sockaddr_storage ss{};
    socklen_t len;
    if (fam == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a->sin_port = htons(listener.port);
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      a->sin6_port = htons(listener.port);
      len = sizeof(*a);
    }
    Check(connect(client_fd, reinterpret_cast<sockaddr*>(&ss), len) == 0, "connect");
    server_fd = accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
    Check(server_fd >= 0, "accept");
    client.reset(SSL_new(ctx.client.get()));
    server.reset(SSL_new(ctx.server.get()));
    Check(client && server, "SSL_new");
    SSL_set_fd(client.get(), client_fd);
    SSL_set_fd(server.get(), server_fd);
    int server_rc = 0;
    std::thread t([&] { server_rc = SSL_accept(server.get()); });
    int client_rc = SSL_connect(client.get());
    t.join();
    Check(client_rc == 1 && server_rc == 1, "TLS handshake");
  }
  ~TlsTcpPair() {
    client.reset();
    server.reset();
    if (client_fd >= 0) close(client_fd);
    if (server_fd >= 0) close(server_fd);
  }
  TlsTcpPair(const TlsTcpPair&) = delete;
  TlsTcpPair& operator=(const TlsTcpPair&) = delete;
};

// One TLS connection whose records travel through memory BIOs this code pumps by hand: no
// socket, no syscall, so the probes can never learn a 4-tuple for it.
struct TlsMemoryPair {
  SslPtr client;
  SslPtr server;
  BIO* client_out = nullptr;  // owned by the SSL objects
  BIO* client_in = nullptr;
  BIO* server_out = nullptr;
  BIO* server_in = nullptr;

  explicit TlsMemoryPair(TlsContexts& ctx) {
    client.reset(SSL_new(ctx.client.get()));
    server.reset(SSL_new(ctx.server.get()));
    client_in = BIO_new(BIO_s_mem());
    client_out = BIO_new(BIO_s_mem());
    server_in = BIO_new(BIO_s_mem());
    server_out = BIO_new(BIO_s_mem());
    SSL_set_bio(client.get(), client_in, client_out);
    SSL_set_bio(server.get(), server_in, server_out);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());
    for (int i = 0; i < 20; ++i) {
      int c = SSL_do_handshake(client.get());
      Pump();
      int s = SSL_do_handshake(server.get());
      Pump();
      if (c == 1 && s == 1) return;
    }
    Check(false, "memory BIO handshake");
  }
  // Moves what each side wrote to the other side's input.
  void Pump() {
    Move(client_out, server_in);
    Move(server_out, client_in);
  }

 private:
  static void Move(BIO* from, BIO* to) {
    char buf[4096];
    int n;
    while ((n = BIO_read(from, buf, sizeof(buf))) > 0) BIO_write(to, buf, n);
  }
};

}  // namespace ta::testing
