#include "analyzer/protocols/http1/message_head.h"

#include <algorithm>
#include <array>

namespace ta::analyzer::protocols::http1 {
namespace {

// tchar (RFC 9110 §5.6.2).
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTokenChars[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// `lower` must be lowercase.
bool EqualsIgnoreCase(std::string_view s, std::string_view lower) {
  if (s.size() != lower.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (Lower(s[i]) != lower[i]) return false;
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits off the next line (without its CRLF or LF) from `rest`. False when no LF is left.
bool NextLine(std::string_view& rest, std::string_view* line) {
  const size_t lf = rest.find('\n');
  if (lf == std::string_view::npos) return false;
  *line = rest.substr(0, lf);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  rest.remove_prefix(lf + 1);
  return true;
}

// A bare CR (§2.2) or NUL (RFC 9110 §5.5) inside a line.
bool HasForbiddenByte(std::string_view line) {
  for (char c : line) {
    if (c == '\r' || c == '\0') return true;
  }
  return false;
}

// HTTP-version (§2.3): case-sensitive "HTTP/1." DIGIT. Other majors are not HTTP/1.x framing.
bool ParseVersion(std::string_view s, uint8_t* minor) {
  if (s.size() != 8 || s.substr(0, 7) != "HTTP/1." || !IsDigit(s[7])) return false;
  *minor = static_cast<uint8_t>(s[7] - '0');
  return true;
}

// request-line = method SP request-target SP HTTP-version (§3), single spaces.
bool ParseRequestLine(std::string_view line, MessageHead* out) {
  if (HasForbiddenByte(line)) return false;
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (!IsToken(method) || target.empty()) return false;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  if (!ParseVersion(line.substr(sp2 + 1), &out->version_minor)) return false;
  out->method = method;
  out->target = target;
  return true;
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ] (§4). A missing SP after the
// code is tolerated, as §4 asks recipients to accept an empty reason.
bool ParseStatusLine(std::string_view line, MessageHead* out) {
  if (HasForbiddenByte(line)) return false;
  if (line.size() < 12 || line[8] != ' ') return false;
  if (!ParseVersion(line.substr(0, 8), &out->version_minor)) return false;
  if (!IsDigit(line[9]) || !IsDigit(line[10]) || !IsDigit(line[11])) return false;
  if (line.size() > 12 && line[12] != ' ') return false;
  out->status =
      static_cast<uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  return out->status >= 100;
}

// Content-Length = 1*DIGIT, possibly repeated as a list of identical values (RFC 9110 §8.6).
std::optional<uint64_t> ParseContentLength(std::string_view value) {
  std::optional<uint64_t> result;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view item = TrimOws(value.substr(0, comma));
    // 19 digits keep the value inside uint64_t.
    if (item.empty() || item.size() > 19) return std::nullopt;
    uint64_t n = 0;
    for (char c : item) {
      if (!IsDigit(c)) return std::nullopt;
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (result && *result != n) return std::nullopt;
    result = n;
    if (comma == std::string_view::npos) return result;
    value.remove_prefix(comma + 1);
  }
}

// The last transfer coding named in a Transfer-Encoding field value, without parameters.
std::string_view FinalCoding(std::string_view value) {
  std::string_view last;
  while (true) {
    const size_t comma = value.find(',');
    const std::string_view item = TrimOws(value.substr(0, comma));
    if (!item.empty()) last = TrimOws(item.substr(0, item.find(';')));
    if (comma == std::string_view::npos) return last;
    value.remove_prefix(comma + 1);
  }
}

// The first protocol named in an Upgrade field value ("websocket", "h2c", "HTTP/2.0, SHTTP/1.3",
// ...): protocol names are case-insensitive (RFC 9110 §7.8).
UpgradeProtocol FirstUpgrade(std::string_view value) {
  const std::string_view first = TrimOws(value.substr(0, value.find(',')));
  if (EqualsIgnoreCase(first, "websocket")) return UpgradeProtocol::kWebSocket;
  if (EqualsIgnoreCase(first, "h2c")) return UpgradeProtocol::kH2c;
  return first.empty() ? UpgradeProtocol::kNone : UpgradeProtocol::kOther;
}

// Field lines (§5) up to the empty line, keeping what framing needs.
ParseState ParseFields(std::string_view rest, MessageHead* out) {
  bool content_length_invalid = false;
  std::string_view line;
  bool ended = false;
  while (!ended && NextLine(rest, &line)) {
    if (line.empty()) {
      ended = true;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') return ParseState::kInvalid;  // obs-fold
    if (HasForbiddenByte(line)) return ParseState::kInvalid;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ParseState::kInvalid;
    const std::string_view name = line.substr(0, colon);
    if (!IsToken(name)) return ParseState::kInvalid;  // also catches "Name :" (§5.1)
    const std::string_view value = TrimOws(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) {
      const std::optional<uint64_t> n = ParseContentLength(value);
      if (!n || (out->content_length && *out->content_length != *n)) {
        content_length_invalid = true;
      } else {
        out->content_length = n;
      }
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      out->transfer_encoding = true;
      const std::string_view coding = FinalCoding(value);
      if (!coding.empty()) out->chunked = EqualsIgnoreCase(coding, "chunked");
    } else if (EqualsIgnoreCase(name, "upgrade")) {
      out->upgrade = FirstUpgrade(value);
    } else if (EqualsIgnoreCase(name, "content-type")) {
      out->content_type = value;
    } else if (EqualsIgnoreCase(name, "content-encoding")) {
      out->content_encoding = value;
    }
  }
  if (!ended) return ParseState::kNeedsMoreData;
  if (out->transfer_encoding) {
    // §6.3 rule 3: Transfer-Encoding overrides Content-Length.
    out->content_length.reset();
  } else if (content_length_invalid) {
    return ParseState::kInvalid;  // §6.3 rule 5
  }
  return ParseState::kDone;
}

}  // namespace

size_t FindHeadEnd(std::string_view bytes, size_t from) {
  size_t lf = bytes.find('\n', from);
  while (lf != std::string_view::npos) {
    if (lf + 1 < bytes.size() && bytes[lf + 1] == '\n') return lf + 2;
    if (lf + 2 < bytes.size() && bytes[lf + 1] == '\r' && bytes[lf + 2] == '\n') return lf + 3;
    lf = bytes.find('\n', lf + 1);
  }
  return std::string_view::npos;
}

ParseState ParseRequestHead(std::string_view head, MessageHead* out) {
  *out = MessageHead{};
  std::string_view line;
  if (!NextLine(head, &line) || !ParseRequestLine(line, out)) return ParseState::kInvalid;
  const ParseState state = ParseFields(head, out);
  // §6.3 rule 4: a request whose final transfer coding is not chunked cannot be delimited.
  if (state == ParseState::kDone && out->transfer_encoding && !out->chunked) {
    return ParseState::kInvalid;
  }
  return state;
}

ParseState ParseResponseHead(std::string_view head, MessageHead* out) {
  *out = MessageHead{};
  std::string_view line;
  if (!NextLine(head, &line) || !ParseStatusLine(line, out)) return ParseState::kInvalid;
  return ParseFields(head, out);
}

ParseState CheckRequestLine(std::string_view head_so_far, size_t from) {
  const size_t lf = head_so_far.find('\n', from);
  if (lf != std::string_view::npos) {
    std::string_view line = head_so_far.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    MessageHead head;
    return ParseRequestLine(line, &head) ? ParseState::kDone : ParseState::kInvalid;
  }
  // Partial line. New bytes must not be control characters (a CR may precede the coming LF).
  for (char c : head_so_far.substr(std::min(from, head_so_far.size()))) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\r') || u == 0x7f) return ParseState::kInvalid;
  }
  // The method must be a token. Checked within a short prefix only, so that a line arriving in
  // many small pieces costs linear time; the complete line gets the full check.
  constexpr size_t kPrefix = 32;
  if (from < kPrefix) {
    const std::string_view prefix = head_so_far.substr(0, kPrefix);
    const size_t sp = prefix.find(' ');
    if (sp == 0) return ParseState::kInvalid;
    for (char c : prefix.substr(0, sp)) {
      if (!kTokenChars[static_cast<unsigned char>(c)]) return ParseState::kInvalid;
    }
  }
  return ParseState::kNeedsMoreData;
}

ParseState CheckStatusLine(std::string_view head_so_far, size_t from) {
  const size_t lf = head_so_far.find('\n', from);
  if (lf != std::string_view::npos) {
    std::string_view line = head_so_far.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    MessageHead head;
    return ParseStatusLine(line, &head) ? ParseState::kDone : ParseState::kInvalid;
  }
  // Partial line: must agree with "HTTP/1.x NNN" as far as it goes.
  static constexpr std::string_view kShape = "HTTP/1.d ddd";  // d: a digit
  const size_t n = std::min(head_so_far.size(), kShape.size());
  for (size_t i = std::min(from, n); i < n; ++i) {
    const bool ok = kShape[i] == 'd' ? IsDigit(head_so_far[i]) : head_so_far[i] == kShape[i];
    if (!ok) return ParseState::kInvalid;
  }
  return ParseState::kNeedsMoreData;
}

bool StartsWithRequestLine(std::string_view bytes) {
  const size_t lf = bytes.find('\n');
  if (lf == std::string_view::npos) return false;
  std::string_view line = bytes.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  MessageHead head;
  return ParseRequestLine(line, &head);
}

bool StartsWithStatusLine(std::string_view bytes) {
  return bytes.size() >= 12 && (bytes.starts_with("HTTP/1.1 ") || bytes.starts_with("HTTP/1.0 ")) &&
         IsDigit(bytes[9]) && IsDigit(bytes[10]) && IsDigit(bytes[11]);
}

BodyFraming RequestBodyFraming(const MessageHead& request) {
  if (request.chunked) return BodyFraming::kChunked;
  if (request.content_length) return BodyFraming::kContentLength;
  return BodyFraming::kNone;  // §6.3 rule 7
}

BodyFraming ResponseBodyFraming(const MessageHead& response, std::string_view request_method) {
  const uint16_t status = response.status;
  if (status == 101) return BodyFraming::kTunnel;  // RFC 9110 §15.2.2
  if (status < 200) return BodyFraming::kNone;     // §6.3 rule 1: 1xx
  if (request_method == "CONNECT" && status < 300) return BodyFraming::kTunnel;  // rule 2
  if (request_method == "HEAD" || status == 204 || status == 304) return BodyFraming::kNone;
  if (response.transfer_encoding) {
    // Rule 3: a response whose final coding is not chunked runs until the server closes.
    return response.chunked ? BodyFraming::kChunked : BodyFraming::kUntilClose;
  }
  if (response.content_length) return BodyFraming::kContentLength;  // rule 6
  return BodyFraming::kUntilClose;                                  // rule 8
}

}  // namespace ta::analyzer::protocols::http1
