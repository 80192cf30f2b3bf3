// Counters of the WebSocket parser, part of AnalyzerStats (exported as traffic_analyzer_*).
// See frame_parser.h for which violations stop a direction and which only count.
#pragma once

#include <cstdint>

namespace ta::analyzer::protocols::websocket {

struct WebSocketStats {
  uint64_t sessions = 0;  // connections upgraded to WebSocket
  // Frame violations (RFC 6455 §5): those that break framing stop the direction (framing_lost);
  // the masking rule and the like are counted once per frame and parsing continues.
  uint64_t parse_errors = 0;
  uint64_t frames = 0;  // frames parsed, both directions
  // Directions that stopped being parsed: a violation that breaks framing, or a gap reaching a
  // frame header. Their later captured bytes count in AnalyzerStats::parser_discarded_bytes.
  uint64_t framing_lost = 0;
  uint64_t messages = 0;  // message records reported (data messages and control frames)
  // Messages or control frames cut short by the end of the connection (never reported).
  uint64_t truncated_messages = 0;
};

}  // namespace ta::analyzer::protocols::websocket
