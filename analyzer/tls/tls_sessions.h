// TLS plaintext from the OpenSSL uprobes, turned into the same exchanges as the tc path.
//
// A TLS session is one SSL object of one process. Its role comes from which side sends
// requests: a process that reads a request (an HTTP method, the HTTP/2 preface) is the server
// of that session and its exchanges are http_server_*; one that writes a request is the client
// (http_client_request_duration_seconds). When both ends run on the node each process has its
// own session, so every exchange is counted once in each role. The plaintext is parsed by the
// same protocols::Session as a tc connection (HTTP/1.1, HTTP/2 with ALPN h2, gRPC, WebSocket),
// with url.scheme "https"; each SSL call is a segment in order (TLS delivers bytes in order, so
// no reassembly), and bytes beyond snaplen are a gap of known length.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/events.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/session.h"

namespace ta::analyzer::tls {

class TlsSessions {
 public:
  // `ctx` (config, stats, routes, sink) must outlive this.
  explicit TlsSessions(protocols::ConnectionContext& ctx);
  ~TlsSessions();
  TlsSessions(const TlsSessions&) = delete;
  TlsSessions& operator=(const TlsSessions&) = delete;

  void OnData(const TlsDataEvent& ev);
  // Ends sessions idle for config.idle_timeout_ns (TLS sessions have no close event: the process
  // frees its SSL object without a call we hook).
  void AdvanceTime(uint64_t now_ns);
  // Ends every session (analyzer shutdown, end of a replay).
  void CloseAll();

  size_t size() const { return lru_.size(); }

  // The server-side sessions with a known socket that are inside an HTTP/1.x exchange (see
  // Analyzer::Census): slowloris over TLS is seen in the server's SSL_read calls.
  void Census(std::vector<ConnectionProgress>& out) const;

  // Calls held per session before its first request start decides the role.
  static constexpr size_t kMaxHeldCalls = 8;
  static constexpr size_t kMaxHeldBytes = 16 * 1024;

 private:
  struct Entry;
  struct Key {
    uint32_t tgid;
    uint64_t ssl;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return std::hash<uint64_t>()(k.ssl ^ (static_cast<uint64_t>(k.tgid) << 48));
    }
  };
  using Lru = std::list<std::unique_ptr<Entry>>;

  Entry* Start(const Key& key, const TlsDataEvent& ev);
  void Assign(Entry& e, HttpRole role);
  void Deliver(Entry& e, bool is_write, uint32_t len, std::span<const uint8_t> captured,
               uint64_t ts_ns);
  void Finish(Lru::iterator it);

  protocols::ConnectionContext& ctx_;
  Lru lru_;  // most recently active first
  std::unordered_map<Key, Lru::iterator, KeyHash> index_;
};

}  // namespace ta::analyzer::tls
