// The WebSocket connection (analyzer/protocols/websocket/): both frame parsers, the message and
// session logic, fed input-chosen bytes cut into input-chosen chunks, with gaps.
//
// Input: one mode byte, then the stream bytes (the rest of the input).
//   mode bits 0-3: chunk size 1..15 bytes; 15 means the bytes go in one chunk per direction
//        bits 4-5: direction (0 all client to server, 1 all server to client, 2 alternating
//                  chunks, 3 first half client to server, second half server to client)
//        bit 6:    every third chunk is delivered as a gap of its length instead of its bytes
//        bit 7:    the connection's Close() comes before the last chunk (later chunks ignored)
// Properties checked besides "does not crash":
//  - one session, reported at Close(); one message record per stats.websocket.messages;
//  - control messages are single frames of at most 125 bytes; data messages have >= 1 frame;
//  - discarded bytes never exceed the captured bytes delivered;
//  - without gaps and with Close() last, the records and counters are the same as when each
//    direction's bytes arrive in one chunk (splitting never changes the result).
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/websocket/websocket_connection.h"
#include "analyzer/routes/route_template.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::Direction;
using ta::analyzer::WebSocketMessage;
using ta::analyzer::WebSocketMessageType;
using ta::analyzer::WebSocketSession;
using ta::analyzer::tcp::StreamChunk;

class RecordingSink final : public ta::analyzer::ExchangeSink {
 public:
  void OnHttpExchange(const ta::analyzer::HttpExchange& /*exchange*/) override {}
  void OnWebSocketMessage(const WebSocketMessage& m) override {
    const bool control = m.type == WebSocketMessageType::kClose ||
                         m.type == WebSocketMessageType::kPing ||
                         m.type == WebSocketMessageType::kPong;
    if (control) {
      TA_FUZZ_CHECK(m.frames == 1 && m.payload_bytes <= 125 && !m.compressed);
    } else {
      TA_FUZZ_CHECK(m.frames >= 1 && !m.close_code);
    }
    messages.push_back(m);
  }
  void OnWebSocketSession(const WebSocketSession& s) override { sessions.push_back(s); }
  std::vector<WebSocketMessage> messages;
  std::vector<WebSocketSession> sessions;
};

struct Outcome {
  RecordingSink sink;
  ta::analyzer::AnalyzerStats stats;
};

struct Piece {
  Direction dir;
  std::span<const uint8_t> bytes;
  bool gap;
};

void Replay(const std::vector<Piece>& pieces, bool close_early, Outcome& out) {
  ta::analyzer::AnalyzerConfig config;
  ta::analyzer::routes::RouteTemplater routes(config.route_patterns, config.max_routes_per_port);
  ta::analyzer::protocols::ConnectionContext ctx{config, out.stats, routes, out.sink};
  ta::analyzer::FlowKey flow;
  flow.family = 2;
  ta::analyzer::protocols::websocket::WebSocketConnection conn(flow, "/ws", 1, ctx);
  uint64_t ts = 10;
  uint64_t captured = 0;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (close_early && i + 1 == pieces.size()) conn.Close(ts);
    const Piece& p = pieces[i];
    // A copy of exactly the chunk's bytes, so reading past them is an ASan report.
    const ta::fuzz::ExactBytes bytes(p.bytes);
    const StreamChunk chunk =
        p.gap ? StreamChunk::Gap(p.bytes.size(), ts) : StreamChunk::Data(bytes.span(), ts, true);
    if (!p.gap) captured += p.bytes.size();
    conn.stream(p.dir).OnChunk(chunk);
    ++ts;
  }
  conn.Close(ts);
  TA_FUZZ_CHECK(out.sink.sessions.size() == 1);
  TA_FUZZ_CHECK(out.stats.websocket.sessions == 1);
  TA_FUZZ_CHECK(out.stats.websocket.messages == out.sink.messages.size());
  TA_FUZZ_CHECK(out.stats.parser_discarded_bytes <= captured);
  TA_FUZZ_CHECK(out.stats.websocket.framing_lost <= 2);
}

bool SameIgnoringTime(const WebSocketMessage& a, const WebSocketMessage& b) {
  return a.dir == b.dir && a.type == b.type && a.payload_bytes == b.payload_bytes &&
         a.frames == b.frames && a.compressed == b.compressed && a.close_code == b.close_code;
}

}  // namespace

TA_FUZZ_TARGET(websocket) {
  ta::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.TakeByte();
  const std::span<const uint8_t> rest = in.TakeRest();
  const size_t chunk_size = (mode & 0x0F) == 0x0F ? rest.size() : (mode & 0x0F) + 1u;
  const unsigned dir_mode = (mode >> 4) & 0x3;
  const bool gaps = (mode & 0x40) != 0;
  const bool close_early = (mode & 0x80) != 0;

  std::vector<Piece> pieces;
  for (size_t off = 0, n = 0; off < rest.size(); ++n) {
    size_t len = std::min(chunk_size, rest.size() - off);
    Direction dir = Direction::kClientToServer;
    switch (dir_mode) {
      case 1:
        dir = Direction::kServerToClient;
        break;
      case 2:
        dir = n % 2 == 0 ? Direction::kClientToServer : Direction::kServerToClient;
        break;
      case 3: {
        const size_t half = rest.size() / 2;
        if (off < half) {
          len = std::min(len, half - off);
        } else {
          dir = Direction::kServerToClient;
        }
        break;
      }
      default:
        break;
    }
    pieces.push_back({dir, rest.subspan(off, len), gaps && n % 3 == 2});
    off += len;
  }

  Outcome split;
  Replay(pieces, close_early, split);
  if (gaps || close_early) return;

  // The same bytes, one chunk per direction and stretch of consecutive chunks.
  std::vector<Piece> whole;
  for (const Piece& p : pieces) {
    if (!whole.empty() && whole.back().dir == p.dir) {
      whole.back().bytes = {whole.back().bytes.data(), whole.back().bytes.size() + p.bytes.size()};
    } else {
      whole.push_back(p);
    }
  }
  Outcome joined;
  Replay(whole, false, joined);
  // Alternating directions interleave differently once joined: compare per direction.
  for (Direction dir : {Direction::kClientToServer, Direction::kServerToClient}) {
    std::vector<const WebSocketMessage*> a, b;
    for (const WebSocketMessage& m : split.sink.messages) {
      if (m.dir == dir) a.push_back(&m);
    }
    for (const WebSocketMessage& m : joined.sink.messages) {
      if (m.dir == dir) b.push_back(&m);
    }
    TA_FUZZ_CHECK(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) TA_FUZZ_CHECK(SameIgnoringTime(*a[i], *b[i]));
  }
  TA_FUZZ_CHECK(split.stats.websocket.frames == joined.stats.websocket.frames);
  TA_FUZZ_CHECK(split.stats.websocket.parse_errors == joined.stats.websocket.parse_errors);
  TA_FUZZ_CHECK(split.stats.websocket.framing_lost == joined.stats.websocket.framing_lost);
  TA_FUZZ_CHECK(split.stats.websocket.truncated_messages ==
                joined.stats.websocket.truncated_messages);
  TA_FUZZ_CHECK(split.stats.parser_discarded_bytes == joined.stats.parser_discarded_bytes);
}
