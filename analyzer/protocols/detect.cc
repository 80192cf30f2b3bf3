#include "analyzer/protocols/detect.h"

#include <algorithm>

#include "analyzer/protocols/bytes.h"
#include "analyzer/protocols/http1/message_head.h"
#include "analyzer/protocols/http2/http2_connection.h"

namespace ta::analyzer::protocols {
namespace {

// Longest method we recognise at the start of a connection. Registered methods are at most 17
// characters ("BASELINE-CONTROL", "VERSION-CONTROL", ...); WebDAV and friends fit too.
constexpr size_t kMaxMethodLength = 24;

// RFC 9110 §5.6.2 tchar.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

enum class Match : uint8_t { kNo, kMaybe, kYes };

Match MatchPreface(std::string_view s) {
  const std::string_view preface = http2::kClientPreface;
  const size_t n = std::min(s.size(), preface.size());
  if (s.substr(0, n) != preface.substr(0, n)) return Match::kNo;
  return n == preface.size() ? Match::kYes : Match::kMaybe;
}

// TLS record header: ContentType, ProtocolVersion (legacy_record_version 0x0301..0x0304; a
// ClientHello's record may say 0x0301 for compatibility, RFC 8446 §5.1), uint16 length.
Match MatchTlsRecord(std::span<const uint8_t> b, bool handshake_only) {
  if (b.empty()) return Match::kMaybe;
  const bool type_ok = handshake_only ? b[0] == 22 : (b[0] >= 20 && b[0] <= 23);
  if (!type_ok) return Match::kNo;
  if (b.size() < 2) return Match::kMaybe;
  if (b[1] != 3) return Match::kNo;
  if (b.size() < 3) return Match::kMaybe;
  if (b[2] < 1 || b[2] > 4) return Match::kNo;
  if (b.size() < 5) return Match::kMaybe;
  // Records carry at most 2^14 bytes of plaintext plus 2048 of expansion (RFC 5246 §6.2.3;
  // TLS 1.3 allows 256, RFC 8446 §5.2).
  const unsigned length = static_cast<unsigned>(b[3]) << 8 | b[4];
  return length > 0 && length <= (1u << 14) + 2048 ? Match::kYes : Match::kNo;
}

// A method token followed by a space and the start of a request-target (RFC 9112 §3.2):
// origin-form "/...", asterisk-form "*", absolute-form "http://..." or "https://...", or, for
// CONNECT only, an authority. Anything else ("SSH-2.0-OpenSSH_9.2 Debian", a binary protocol)
// is not HTTP/1.
Match MatchRequestStart(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && i <= kMaxMethodLength && IsTokenChar(s[i])) ++i;
  if (i == s.size()) return i <= kMaxMethodLength ? Match::kMaybe : Match::kNo;
  if (i == 0 || i > kMaxMethodLength || s[i] != ' ') return Match::kNo;
  const std::string_view method = s.substr(0, i);
  const std::string_view target = s.substr(i + 1);
  if (target.empty()) return Match::kMaybe;
  if (target[0] == '/' || target[0] == '*') return Match::kYes;
  if (method == "CONNECT") return Match::kYes;
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    const size_t n = std::min(target.size(), scheme.size());
    bool same = true;
    for (size_t k = 0; k < n; ++k) {
      const char c = target[k] >= 'A' && target[k] <= 'Z' ? static_cast<char>(target[k] + 32)
                                                          : target[k];
      same = same && c == scheme[k];
    }
    if (same) return n == scheme.size() ? Match::kYes : Match::kMaybe;
  }
  return Match::kNo;
}

}  // namespace

Protocol DetectClientStart(std::span<const uint8_t> bytes) {
  const std::string_view s = AsChars(bytes);
  // The preface begins "PRI " like a request line, so it is decided first.
  const Match h2 = MatchPreface(s);
  if (h2 == Match::kYes) return Protocol::kHttp2;
  if (h2 == Match::kMaybe) return Protocol::kUndetermined;
  const Match tls = MatchTlsRecord(bytes, /*handshake_only=*/true);
  if (tls == Match::kYes) return Protocol::kTls;
  if (tls == Match::kMaybe) return Protocol::kUndetermined;
  switch (MatchRequestStart(s)) {
    case Match::kYes:
      return Protocol::kHttp1;
    case Match::kMaybe:
      return bytes.size() >= kDetectBytes ? Protocol::kUnknown : Protocol::kUndetermined;
    case Match::kNo:
      break;
  }
  return Protocol::kUnknown;
}

Protocol DetectMidStream(Direction dir, std::span<const uint8_t> bytes) {
  const std::string_view s = AsChars(bytes);
  if (dir == Direction::kClientToServer ? http1::StartsWithRequestLine(s)
                                        : http1::StartsWithStatusLine(s)) {
    return Protocol::kHttp1;
  }
  if (MatchTlsRecord(bytes, /*handshake_only=*/false) == Match::kYes) return Protocol::kTls;
  if (MatchPreface(s) == Match::kYes) return Protocol::kHttp2;
  if (http2::LooksLikeHttp2Frames(bytes)) return Protocol::kHttp2;
  return Protocol::kUndetermined;
}

}  // namespace ta::analyzer::protocols
