// The one result every protocol parser returns (HTTP/1.1 now; HTTP/2, gRPC and WebSocket later),
// so the connection layer drives them all the same way: offer bytes, read the state, act.
#pragma once

#include <cstdint>
#include <string_view>

namespace ta::analyzer::protocols {

enum class ParseState : uint8_t {
  // Everything offered was consumed and is a valid prefix of a message: offer more bytes.
  kNeedsMoreData,
  // A complete message was parsed. Bytes after it (if any) belong to the next message.
  kDone,
  // The bytes violate the protocol. Framing is lost: the caller counts a parse error and
  // resynchronises at the next recognisable message start.
  kInvalid,
  // A complete message after which the stream stops speaking this protocol (HTTP 101 Switching
  // Protocols, a 2xx answer to CONNECT). The caller stops offering bytes to this parser.
  kEndOfStream,
};

constexpr std::string_view ToString(ParseState s) {
  switch (s) {
    case ParseState::kNeedsMoreData:
      return "needs-more-data";
    case ParseState::kDone:
      return "done";
    case ParseState::kInvalid:
      return "invalid";
    case ParseState::kEndOfStream:
      return "end-of-stream";
  }
  return "?";
}

}  // namespace ta::analyzer::protocols
