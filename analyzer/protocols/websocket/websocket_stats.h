// Counters of the WebSocket parser, part of AnalyzerStats (exported as traffic_analyzer_*).
#pragma once

#include <cstdint>

namespace ta::analyzer::protocols::websocket {

struct WebSocketStats {
  uint64_t sessions = 0;      // connections upgraded to WebSocket
  uint64_t parse_errors = 0;  // frame violations (framing lost for the rest of the direction)
  uint64_t frames = 0;        // frames parsed, both directions
};

}  // namespace ta::analyzer::protocols::websocket
