// Counters of the HTTP/2 and gRPC parsers, part of AnalyzerStats (exported as traffic_analyzer_*).
#pragma once

#include <cstdint>

namespace ta::analyzer::protocols::http2 {

struct Http2Stats {
  uint64_t connections = 0;             // connections parsed as HTTP/2
  uint64_t parse_errors = 0;            // frame-level violations (framing lost)
  // Header blocks HPACK could not decode: joined mid-stream (dynamic table unknown) or a
  // decoder error. Their streams are counted here, never reported with guessed labels.
  uint64_t undecodable_header_blocks = 0;
  uint64_t streams_reset = 0;           // RST_STREAM frames
  uint64_t goaways = 0;                 // GOAWAY frames
  uint64_t unanswered_streams = 0;      // request streams that ended without a response
  uint64_t grpc_calls = 0;              // gRPC calls reported
  // Header blocks that decoded but do not make a valid message (RFC 9113 §8.3: a request without
  // :method, a response without a valid :status): their streams are not reported.
  uint64_t malformed_messages = 0;
  // gRPC calls reported whose message framing was lost in at least one direction (a gap over a
  // length prefix, lost HTTP/2 framing): their message counts are lower bounds.
  uint64_t grpc_message_counts_lost = 0;
};

}  // namespace ta::analyzer::protocols::http2
