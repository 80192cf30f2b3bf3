// HTTP/1.x message heads (RFC 9112): the start line and header section of a request or a
// response, validated as far as framing depends on it, and the body framing it implies (§6.3).
// Pure functions over a complete head; stream_parser.h feeds them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "analyzer/protocols/parse_state.h"

namespace ta::analyzer::protocols::http1 {

// The protocol an Upgrade field (RFC 9110 §7.8) names first; what the connection becomes after a
// 101 response (RFC 6455 §4 WebSocket, RFC 7540 §3.2 h2c).
enum class UpgradeProtocol : uint8_t { kNone, kWebSocket, kH2c, kOther };

struct MessageHead {
  // Request line (requests only). Views into the bytes given to the parse function.
  std::string_view method;
  std::string_view target;
  // Status line (responses only).
  uint16_t status = 0;
  uint8_t version_minor = 1;  // HTTP/1.<minor>
  // Framing fields (RFC 9112 §6).
  std::optional<uint64_t> content_length;
  bool transfer_encoding = false;  // a Transfer-Encoding field is present
  bool chunked = false;            // ... and its final coding is chunked
  UpgradeProtocol upgrade = UpgradeProtocol::kNone;  // first protocol in the Upgrade field
  // Body description (RFC 9110 §8.3, §8.4), trimmed field values as sent; empty when absent. For
  // body sampling only (http1/body_sampler.h). A repeated field keeps its last value.
  std::string_view content_type;
  std::string_view content_encoding;
};

// How the body after a head is delimited (RFC 9112 §6.3).
enum class BodyFraming : uint8_t {
  kNone,           // no body: the message ends with its head
  kContentLength,  // exactly content_length bytes
  kChunked,        // chunked transfer coding (§7.1)
  kUntilClose,     // response delimited by the server closing the connection
  kTunnel,         // the connection leaves HTTP after this head (101, 2xx to CONNECT)
};

// Index one past the empty line that ends a head in `bytes`, or npos. Lines end in CRLF or a bare
// LF (§2.2 lets a recipient accept LF). `from` lets a caller that appends resume the search: pass
// the previous size minus 2.
size_t FindHeadEnd(std::string_view bytes, size_t from = 0);

// Parse a complete head (through its empty line): kDone, kInvalid, or kNeedsMoreData when the
// empty line is missing. Invalid: a malformed start line or field line, obs-fold (§5.2,
// rejected), whitespace before a field colon (§5.1), a bare CR, Content-Length fields that
// differ or are not decimal (§6.3 rule 5; identical repeats are one value, RFC 9110 §8.6), a
// request whose Transfer-Encoding does not end in chunked (§6.3 rule 4).
ParseState ParseRequestHead(std::string_view head, MessageHead* out);
ParseState ParseResponseHead(std::string_view head, MessageHead* out);

// Whether the head received so far can still begin a valid message: kInvalid as soon as the
// start line (complete or not) cannot be one, kDone once it is complete and valid, else
// kNeedsMoreData. Lets a stream reject garbage at once instead of buffering max_header_bytes.
// `from`: bytes before it were checked by an earlier call (the check is incremental).
ParseState CheckRequestLine(std::string_view head_so_far, size_t from = 0);
ParseState CheckStatusLine(std::string_view head_so_far, size_t from = 0);

// True when `bytes` begins with a complete, valid request line (method SP target SP HTTP/1.x CRLF).
// Used to resynchronise: a line cut short by the end of `bytes` does not count.
bool StartsWithRequestLine(std::string_view bytes);
// True when `bytes` begins with "HTTP/1.0 " or "HTTP/1.1 " and a three-digit status code.
bool StartsWithStatusLine(std::string_view bytes);

// RFC 9112 §6.3 rules 6-7: Transfer-Encoding (chunked) wins over Content-Length, else
// Content-Length, else no body.
BodyFraming RequestBodyFraming(const MessageHead& request);
// RFC 9112 §6.3 rules 1-3, 6, 8. `request_method` is the method of the request this answers.
BodyFraming ResponseBodyFraming(const MessageHead& response, std::string_view request_method);

}  // namespace ta::analyzer::protocols::http1
