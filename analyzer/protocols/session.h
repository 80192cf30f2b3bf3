// The application-layer side of one TCP connection: finds out which protocol it carries (from
// its bytes, protocols/detect.h) and drives that protocol's parser, including the switches an
// HTTP/1.1 connection can make (101 to WebSocket or h2c, RFC 9110 §7.8).
//
// A connection seen from its SYN holds its first bytes (at most kDetectBytes from the client,
// and what the server sent meanwhile, at most kMaxHeldServerBytes) until the client's first
// flight decides, then replays them to the chosen parser. A
// connection joined mid-way is classified at the first segment (either direction) that starts
// like a message of a known protocol; the bytes before it are counted as discarded, and after
// kMaxMidStreamTries segment starts without a match it is kUnknown. TLS and unknown connections
// keep their TCP metrics and are not parsed further here.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "analyzer/protocols/context.h"
#include "analyzer/protocols/detect.h"
#include "analyzer/protocols/http1/http1_connection.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer::protocols {

namespace http2 {
class Http2Connection;
}
namespace websocket {
class WebSocketConnection;
}

class Session final : private http1::SwitchObserver {
 public:
  // Segment starts tried on a connection joined mid-way before giving up on it.
  static constexpr uint32_t kMaxMidStreamTries = 16;
  // Bytes a server may send before the client's first bytes decide (an HTTP/2 server's SETTINGS
  // and WINDOW_UPDATE, a banner); beyond it the connection is unknown.
  static constexpr size_t kMaxHeldServerBytes = 4096;

  // `in_sync`: the connection was seen from its start (its first payload bytes will arrive).
  // `count_detection` false: the protocol found is not counted in detected_* (TLS plaintext
  // sessions, whose connections the tc path already counted as TLS).
  Session(const FlowKey& flow, bool in_sync, ConnectionContext& ctx, bool count_detection = true);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  tcp::StreamConsumer& stream(Direction dir) { return inputs_[static_cast<size_t>(dir)]; }
  // The connection ended at `end_ns` (the last event's time): parsers report what they still
  // can and count the rest.
  void Close(uint64_t end_ns);

  Protocol protocol() const { return protocol_; }
  // An HTTP/1.x connection inside an exchange: where it is (Http1Connection::Progress). False
  // for every other protocol and for idle HTTP/1.x connections.
  bool Progress(ConnectionProgress* out) const {
    return protocol_ == Protocol::kHttp1 && http1_ && http1_->Progress(out);
  }

 private:
  class Input final : public tcp::StreamConsumer {
   public:
    Input(Session& session, Direction dir) : session_(session), dir_(dir) {}
    void OnChunk(const tcp::StreamChunk& chunk) override { session_.OnChunk(dir_, chunk); }

   private:
    Session& session_;
    Direction dir_;
  };

  // A chunk kept while the protocol is undetermined.
  struct Held {
    Direction dir;
    tcp::StreamChunk::Kind kind;
    std::vector<uint8_t> data;
    uint64_t gap_len;
    uint64_t ts_ns;
    bool segment_start;
  };

  void OnChunk(Direction dir, const tcp::StreamChunk& chunk);
  void DetectInSync(Direction dir, const tcp::StreamChunk& chunk);
  void DetectMidStream(Direction dir, const tcp::StreamChunk& chunk);
  // Chooses the protocol and creates its parser (HTTP/1, HTTP/2) or stops parsing (TLS, unknown).
  void Start(Protocol protocol, bool in_sync);
  // Adds one to a detected_* counter, unless this session does not count detections.
  void CountDetection(uint64_t AnalyzerStats::*counter);
  void Forward(Direction dir, const tcp::StreamChunk& chunk);
  void CompleteSwitch(Direction dir, uint64_t ts_ns);
  void OnProtocolSwitch(const http1::ProtocolSwitch& change) override;
  void Discard(const tcp::StreamChunk& chunk);
  // TLS: reads the client's ClientHello (protocols/tls/client_hello.h) from its first bytes.
  void OnTlsClientBytes(const tcp::StreamChunk& chunk);

  const FlowKey flow_;
  ConnectionContext& ctx_;
  std::array<Input, 2> inputs_;
  bool in_sync_;
  bool count_detection_;
  Protocol protocol_ = Protocol::kUndetermined;
  std::unique_ptr<http1::Http1Connection> http1_;
  std::unique_ptr<http2::Http2Connection> http2_;
  std::unique_ptr<websocket::WebSocketConnection> websocket_;
  // HTTP/2 joined mid-way: a direction is fed only from its first segment that starts with frame
  // headers (LooksLikeHttp2Frames), so both parsers start at a frame boundary.
  std::array<bool, 2> aligned_{};
  std::vector<Held> held_;
  std::vector<uint8_t> client_prefix_;  // the client's first bytes, for DetectClientStart
  size_t held_server_bytes_ = 0;
  bool server_sent_frames_ = false;  // the server's first bytes were HTTP/2 frame headers
  std::vector<uint8_t> tls_hello_;   // the client's first bytes until its ClientHello parses
  bool tls_hello_done_ = false;
  std::optional<http1::ProtocolSwitch> switch_;
  uint32_t mid_stream_tries_ = 0;
};

}  // namespace ta::analyzer::protocols
