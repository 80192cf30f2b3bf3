// What the analyzer reports for WebSocket connections (RFC 6455): one record per message (a
// data message once its last fragment arrived, a control frame at once) and one per session
// when the connection ends. The agent turns them into websocket_* metrics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "analyzer/events.h"

namespace ta::analyzer {

enum class WebSocketMessageType : uint8_t { kText, kBinary, kClose, kPing, kPong };

constexpr const char* ToString(WebSocketMessageType t) {
  switch (t) {
    case WebSocketMessageType::kText:
      return "text";
    case WebSocketMessageType::kBinary:
      return "binary";
    case WebSocketMessageType::kClose:
      return "close";
    case WebSocketMessageType::kPing:
      return "ping";
    case WebSocketMessageType::kPong:
      return "pong";
  }
  return "?";
}

struct WebSocketMessage {
  FlowKey flow;
  Direction dir = Direction::kClientToServer;
  WebSocketMessageType type = WebSocketMessageType::kText;
  // Payload bytes as sent on the wire, summed over the message's fragments (compressed size
  // when permessage-deflate is on: RSV1 set on the first frame, reported as `compressed`).
  uint64_t payload_bytes = 0;
  uint32_t frames = 0;  // fragments (1 for an unfragmented message or a control frame)
  bool compressed = false;
  std::optional<uint16_t> close_code;  // kClose with a status code (RFC 6455 §7.4)
  uint64_t ts_ns = 0;                  // segment holding the message's last byte
};

struct WebSocketSession {
  FlowKey flow;
  std::string route;      // the route of the Upgrade request
  uint64_t start_ns = 0;  // end of the 101 response
  uint64_t end_ns = 0;    // last segment seen on the connection
  // The first close frame's code and who sent it; empty when the connection ended without a
  // close frame (reset, or closed abruptly).
  std::optional<uint16_t> close_code;
  std::optional<Direction> close_initiator;
  bool clean_close = false;  // close frames seen both ways

  double DurationSeconds() const {
    return end_ns > start_ns ? static_cast<double>(end_ns - start_ns) / 1e9 : 0.0;
  }
};

}  // namespace ta::analyzer
