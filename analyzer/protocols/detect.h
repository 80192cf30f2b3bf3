// Which application protocol a TCP connection carries, decided from its bytes, never from the
// port alone: a watched port may carry HTTP/1.x, HTTP/2 with prior knowledge, TLS, or anything.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "analyzer/events.h"

namespace ta::analyzer::protocols {

enum class Protocol : uint8_t {
  kUndetermined,  // not enough bytes yet
  kHttp1,
  kHttp2,
  kTls,        // TLS records: opaque on the tc path (TLS plaintext comes from uprobes)
  kWebSocket,  // only ever reached through an HTTP/1.1 upgrade
  kUnknown,    // anything else: the connection gets TCP metrics only
};

constexpr std::string_view ToString(Protocol p) {
  switch (p) {
    case Protocol::kUndetermined:
      return "undetermined";
    case Protocol::kHttp1:
      return "http1";
    case Protocol::kHttp2:
      return "http2";
    case Protocol::kTls:
      return "tls";
    case Protocol::kWebSocket:
      return "websocket";
    case Protocol::kUnknown:
      return "unknown";
  }
  return "?";
}

// Bytes of the client's first flight that always suffice for DetectClientStart: the HTTP/2
// preface is the longest signature (24 bytes); a method token is at most kMaxMethodLength.
inline constexpr size_t kDetectBytes = 32;

// A connection seen from its start: classifies the first bytes the client sent. kUndetermined
// while `bytes` is a proper prefix of more than one possibility (fewer than kDetectBytes).
//   HTTP/2: the connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 §3.4).
//   TLS: a handshake record header, content type 22 and version 3.x (RFC 8446 §5.1).
//   HTTP/1.x: a method token (RFC 9110 §9) followed by a space and a request-target.
Protocol DetectClientStart(std::span<const uint8_t> bytes);

// A connection joined mid-way: classifies a data chunk that starts a TCP segment, in either
// direction (messages and records start segments in practice). kUndetermined when nothing
// matches; the caller tries again at later segments.
//   HTTP/1.x: a complete request line (client) or an "HTTP/1.x NNN " status line (server).
//   TLS: a record header with a known content type (20-23), version 3.1-3.4 and a legal length.
//   HTTP/2: frame headers that chain to the end of the segment (http2::LooksLikeHttp2Frames).
Protocol DetectMidStream(Direction dir, std::span<const uint8_t> bytes);

}  // namespace ta::analyzer::protocols
