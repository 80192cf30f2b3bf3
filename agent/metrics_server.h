// The /metrics endpoint: prometheus-cpp's Exposer (civetweb underneath) with the protections of
// metrics.allow and metrics.web_config_file (agent/web_config.h):
//
//  - a client allowlist: a peer outside every metrics.allow prefix gets 403 (an IPv4-mapped
//    IPv6 peer counts as its IPv4 address);
//  - HTTP basic auth (RFC 7617) against bcrypt hashes: missing or wrong credentials get 401 with
//    a WWW-Authenticate challenge;
//  - TLS from separate PEM certificate and key files, optionally requiring client certificates
//    signed by a given CA, TLS 1.2 or 1.3 only.
//
// Refusals are counted in traffic_analyzer_metrics_requests_refused_total{reason="address"|
// "auth"} on the registry. The allowlist is checked first, so a client outside it never gets to
// try passwords. docs/metrics.md "Securing the endpoint" is the operator's view.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include "agent/config.h"
#include "agent/enforce/cidr.h"
#include "agent/result.h"
#include "agent/web_config.h"

struct mg_connection;
struct mg_context;

namespace ta::agent {

// Parses metrics.listen and binds the address once (and lets it go), so that a busy port, an
// address of another host or a privileged port is an error with its errno and the fix rather
// than civetweb's "possible problem binding to port". Messages start with "cannot serve
// /metrics on LISTEN (metrics.listen)".
Result<ListenAddress> CheckListenAddress(const std::string& listen);

class MetricsServer {
 public:
  // Reads metrics.web_config_file (if set), builds the TLS context from it, and starts serving
  // `registry` on metrics.listen. Every failure is an Error saying what and how to fix it; the
  // daemon refuses to start on one rather than serve unprotected. Logs what is protected, and
  // warns when a non-loopback address is served with neither an allowlist nor authentication.
  static Result<std::unique_ptr<MetricsServer>> Start(
      const MetricsConfig& config, std::shared_ptr<prometheus::Registry> registry);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // What the start-up log line says, e.g. "https://127.0.0.1:9100/metrics (TLS, basic auth for
  // 1 user, clients: 198.18.0.10/32)".
  const std::string& description() const { return description_; }
  // True when the endpoint is reachable from other hosts by anyone (the start-up warning).
  bool open_to_everyone() const { return open_to_everyone_; }

  class Gate;  // the per-request checks, below

 private:
  MetricsServer() = default;

  // Declared before exposer_ so they are destroyed after it: civetweb's threads use both
  // until the Exposer's destructor has stopped them.
  std::unique_ptr<Gate> gate_;
  std::shared_ptr<void> ssl_ctx_;  // SSL_CTX, owned here (civetweb is told not to free it)
  const mg_context* context_ = nullptr;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string description_;
  bool open_to_everyone_ = false;
};

// The checks every request goes through before prometheus-cpp's handler sees it (civetweb's
// begin_request callback), shared by civetweb's worker threads. Public for tests.
class MetricsServer::Gate {
 public:
  Gate(std::vector<enforce::Cidr> allow, std::map<std::string, std::string, std::less<>> users,
       prometheus::Counter* refused_address, prometheus::Counter* refused_auth)
      : allow_(std::move(allow)),
        users_(std::move(users)),
        refused_address_(refused_address),
        refused_auth_(refused_auth) {}

  // 0 lets the request through to /metrics; otherwise the status code already sent.
  int Check(mg_connection* conn);

  // Whether `remote_addr` (civetweb's text form of the peer) is inside metrics.allow. An
  // IPv4-mapped IPv6 peer (::ffff:a.b.c.d, RFC 4291 section 2.5.5.2) is its IPv4 address:
  // that is how a dual-stack socket shows IPv4 clients.
  bool AddressAllowed(const char* remote_addr) const;
  // Whether an Authorization header value carries the credentials of a configured user.
  bool Authorized(const char* authorization);

 private:
  using Digest = std::array<unsigned char, 32>;  // SHA-256

  std::vector<enforce::Cidr> allow_;
  std::map<std::string, std::string, std::less<>> users_;
  prometheus::Counter* refused_address_;
  prometheus::Counter* refused_auth_;
  // bcrypt is deliberately slow (cost 10 is tens of milliseconds); Prometheus sends the same
  // password every scrape. After one successful check the SHA-256 of the password is kept per
  // user, and a request with the same password is let in without bcrypt. A wrong password
  // always pays for bcrypt. (Prometheus's exporter-toolkit caches the same way.)
  std::mutex verified_mu_;
  std::map<std::string, Digest, std::less<>> verified_;
};

}  // namespace ta::agent
