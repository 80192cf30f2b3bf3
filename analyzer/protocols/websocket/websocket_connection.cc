#include "analyzer/protocols/websocket/websocket_connection.h"

#include <limits>
#include <utility>

namespace ta::analyzer::protocols::websocket {
namespace {

template <typename T>
T SaturatingAdd(T a, T b) {
  return a > std::numeric_limits<T>::max() - b ? std::numeric_limits<T>::max() : a + b;
}

WebSocketMessageType ControlType(uint8_t opcode) {
  switch (opcode) {
    case kOpClose:
      return WebSocketMessageType::kClose;
    case kOpPing:
      return WebSocketMessageType::kPing;
    default:
      return WebSocketMessageType::kPong;
  }
}

}  // namespace

WebSocketConnection::WebSocketConnection(const FlowKey& flow, std::string route, uint64_t start_ns,
                                         ConnectionContext& ctx)
    : ctx_(ctx),
      endpoints_{Endpoint(*this, flow, Direction::kClientToServer),
                 Endpoint(*this, flow, Direction::kServerToClient)} {
  session_.flow = flow;
  session_.route = std::move(route);
  session_.start_ns = start_ns;
  ++ctx_.stats.websocket.sessions;
}

tcp::StreamConsumer& WebSocketConnection::stream(Direction dir) { return Side(dir).parser; }

void WebSocketConnection::Close(uint64_t end_ns) {
  if (closed_) return;
  closed_ = true;
  for (Endpoint& endpoint : endpoints_) endpoint.Finish();
  session_.end_ns = end_ns;
  session_.clean_close = close_sent_[0] && close_sent_[1];
  ctx_.sink.OnWebSocketSession(session_);
}

void WebSocketConnection::OnClose(Direction dir, std::optional<uint16_t> code) {
  if (!session_.close_initiator) {
    session_.close_initiator = dir;
    session_.close_code = code;
  }
  close_sent_[static_cast<size_t>(dir)] = true;
}

WebSocketConnection::Endpoint::Endpoint(WebSocketConnection& conn, const FlowKey& flow,
                                        Direction dir)
    : parser(dir, conn.ctx_.stats, *this), conn_(conn), dir_(dir) {
  message_.flow = flow;
  message_.dir = dir;
}

FrameError WebSocketConnection::Endpoint::OnFrameStart(const FrameHeader& header) {
  if (IsControlOpcode(header.opcode)) return FrameError::kNone;  // allowed anywhere (§5.4)
  if (header.opcode == kOpContinuation) {
    if (!in_message_) return FrameError::kUnexpectedContinuation;
  } else {
    if (in_message_) return FrameError::kUnexpectedDataFrame;
    in_message_ = true;
    message_.type =
        header.opcode == kOpText ? WebSocketMessageType::kText : WebSocketMessageType::kBinary;
    message_.compressed = header.rsv1;
    message_.payload_bytes = 0;
    message_.frames = 0;
  }
  // Only added up: a message of 2^32 frames or 2^64 bytes saturates instead of wrapping.
  message_.frames = SaturatingAdd<uint32_t>(message_.frames, 1);
  message_.payload_bytes = SaturatingAdd<uint64_t>(message_.payload_bytes, header.payload_len);
  return FrameError::kNone;
}

void WebSocketConnection::Endpoint::OnFrameEnd(const FrameHeader& header,
                                               std::optional<uint16_t> close_code, uint64_t ts_ns) {
  if (IsControlOpcode(header.opcode)) {
    WebSocketMessage control;
    control.flow = message_.flow;
    control.dir = dir_;
    control.type = ControlType(header.opcode);
    control.payload_bytes = header.payload_len;
    control.frames = 1;
    control.close_code = close_code;
    control.ts_ns = ts_ns;
    if (header.opcode == kOpClose) conn_.OnClose(dir_, close_code);
    ++conn_.ctx_.stats.websocket.messages;
    conn_.ctx_.sink.OnWebSocketMessage(control);
    return;
  }
  if (!header.fin) return;
  in_message_ = false;
  message_.ts_ns = ts_ns;
  ++conn_.ctx_.stats.websocket.messages;
  conn_.ctx_.sink.OnWebSocketMessage(message_);
}

void WebSocketConnection::Endpoint::Finish() {
  const bool stopped = parser.stopped();
  const bool frame_cut = parser.Finish();
  // After lost framing the message in progress is already accounted for by framing_lost.
  if (stopped) return;
  // At most one per direction: the data message in progress (a control frame cut inside it is
  // not counted apart), or else the message or control frame whose first frame was cut.
  if (in_message_ || frame_cut) ++conn_.ctx_.stats.websocket.truncated_messages;
  in_message_ = false;
}

}  // namespace ta::analyzer::protocols::websocket
