// One WebSocket connection (RFC 6455) after the HTTP/1.1 Upgrade handshake: a frame parser per
// direction (frame_parser.h), the messages they make up, and the session reported when the TCP
// connection ends.
//
// Reports to ctx.sink:
//  - OnWebSocketMessage once per complete data message, when its FIN frame ends: payload bytes
//    summed over the fragments (wire size: compressed when RSV1 was set on the first frame, RFC
//    7692 §6), frames = fragment count, ts_ns = the chunk holding its last byte. Control frames
//    interleaved between fragments (§5.4) are reported on their own, once each, as they end.
//  - OnWebSocketSession once, at Close(): the first close frame's code and sender, and whether
//    close frames went both ways (the closing handshake, §7.1.2).
// A message still in progress when the connection ends is counted in
// stats.websocket.truncated_messages and not reported. Sizes and fragment counts are only added
// up, never buffered, and saturate rather than wrap.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "analyzer/events.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/websocket/frame_parser.h"
#include "analyzer/protocols/websocket/websocket_records.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer::protocols::websocket {

class WebSocketConnection {
 public:
  // `route`: the templated route of the Upgrade request; `start_ns`: the end of the 101
  // response. `ctx` must outlive the connection.
  WebSocketConnection(const FlowKey& flow, std::string route, uint64_t start_ns,
                      ConnectionContext& ctx);
  // The streams hand out references to members.
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // The consumer of one direction's reassembled stream (the bytes after the 101 response).
  tcp::StreamConsumer& stream(Direction dir);
  // The TCP connection ended at `end_ns` (last segment time): reports the WebSocketSession via
  // ctx.sink.OnWebSocketSession. Later calls and later chunks are ignored.
  void Close(uint64_t end_ns);

  // For tests: the parser of one direction.
  const FrameParser& parser(Direction dir) const { return Side(dir).parser; }

 private:
  // One direction: its frames and the data message in progress.
  class Endpoint final : public FrameObserver {
   public:
    Endpoint(WebSocketConnection& conn, const FlowKey& flow, Direction dir);

    FrameError OnFrameStart(const FrameHeader& header) override;
    void OnFrameEnd(const FrameHeader& header, std::optional<uint16_t> close_code,
                    uint64_t ts_ns) override;
    // End of stream: counts what was cut short.
    void Finish();

    FrameParser parser;

   private:
    WebSocketConnection& conn_;
    const Direction dir_;
    bool in_message_ = false;   // a text/binary frame without FIN was seen, its FIN frame not yet
    WebSocketMessage message_;  // the data message in progress (sizes so far)
  };

  Endpoint& Side(Direction dir) { return endpoints_[static_cast<size_t>(dir)]; }
  const Endpoint& Side(Direction dir) const { return endpoints_[static_cast<size_t>(dir)]; }
  void OnClose(Direction dir, std::optional<uint16_t> code);

  ConnectionContext& ctx_;
  WebSocketSession session_;
  std::array<bool, 2> close_sent_{};  // per Direction: a close frame was seen
  bool closed_ = false;
  std::array<Endpoint, 2> endpoints_;
};

}  // namespace ta::analyzer::protocols::websocket
