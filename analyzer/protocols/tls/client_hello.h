// TLS ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): what a client's first flight says in the
// clear before the connection turns opaque. The tc path cannot read a TLS connection's requests,
// but the ClientHello still names the server (SNI, RFC 6066 §3), the application protocols the
// client offers (ALPN, RFC 7301) and the TLS version it asks for (RFC 8446 §4.2.1).
//
// Pure function over the bytes a client sent first; the session feeds it until it is decided.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/protocols/parse_state.h"

namespace ta::analyzer::protocols::tls {

// The largest ClientHello body (handshake length field) accepted. Real ones are a few hundred
// bytes (a post-quantum key share brings them to ~1.8 KiB); the bound keeps reassembly across
// records (RFC 8446 §5.1 lets a handshake message span several) from buffering without limit.
constexpr size_t kMaxClientHello = 16 * 1024;

// RFC 6066 §3: a HostName is a DNS name, at most 255 bytes (RFC 1035 §2.3.4).
constexpr size_t kMaxServerNameBytes = 255;

struct ClientHello {
  uint16_t record_version = 0;         // TLSPlaintext.legacy_record_version of the first record
  uint16_t legacy_version = 0;         // ClientHello.legacy_version (0x0303 from TLS 1.3 clients)
  uint16_t max_supported_version = 0;  // highest non-GREASE supported_versions entry, 0 if absent
  // First host_name entry of server_name, lower-cased; empty if absent or invalid.
  std::string server_name;
  // The client sent a host_name we do not record: longer than kMaxServerNameBytes, or with a
  // byte other than a letter, digit, '-', '.' or '_' (tolerated: seen in the wild although DNS
  // host names exclude it). The hello itself is fine (a server may still answer it), so this is
  // not kInvalid; the caller counts it, since server_name is then empty.
  bool server_name_invalid = false;
  // ALPN protocol names in the client's order ("h2", "http/1.1"), GREASE (RFC 8701 §2) skipped.
  // Opaque bytes per RFC 7301 §3.1, each 1..255 bytes.
  std::vector<std::string> alpn;
};

// Parses the first bytes of a client's stream: TLS records of type handshake (22) carrying a
// ClientHello (handshake type 1), possibly spread over several records (reassembled, bounded by
// kMaxClientHello).
//   kNeedsMoreData: `bytes` is a prefix of a ClientHello as far as can be told (the body is
//                   checked once complete, the record and handshake headers byte by byte).
//   kDone:          *out is filled. Decided as soon as the ClientHello's last byte arrives: what
//                   follows (rest of its record, further records, early data) is not looked at.
//   kInvalid:       anything else: another record type (an SSLv2-format hello included), a record
//                   that is empty or over 2^14 bytes (RFC 8446 §5.1), another handshake type, a
//                   ClientHello over kMaxClientHello, a length that overruns its parent or leaves
//                   bytes over, a vector outside its RFC bounds, a duplicated server_name, ALPN or
//                   supported_versions extension (RFC 8446 §4.2), a server_name entry that is not
//                   host_name-typed (RFC 6066 §3; OpenSSL refuses those too).
// *out is left untouched unless kDone. Never reads outside `bytes`; no exceptions.
ParseState ParseClientHello(std::span<const uint8_t> bytes, ClientHello* out);

// "ssl3", "1.0", "1.1", "1.2", "1.3" for 0x0300..0x0304, else "unknown".
std::string_view VersionName(uint16_t version);

// The version the client asks for: max_supported_version if set, else legacy_version (a client
// without supported_versions negotiates with legacy_version alone, RFC 8446 §4.2.1).
uint16_t OfferedVersion(const ClientHello& hello);

// GREASE values (RFC 8701 §2): 0x0A0A, 0x1A1A, ..., 0xFAFA, reserved so that servers learn to
// ignore unknown values. Used for versions, cipher suites, extension types and ALPN names.
constexpr bool IsGrease(uint16_t value) {
  return (value & 0x0f0f) == 0x0a0a && (value >> 8) == (value & 0xff);
}

}  // namespace ta::analyzer::protocols::tls
