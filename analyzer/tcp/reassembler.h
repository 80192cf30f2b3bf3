// TCP stream reassembly for one direction of one connection.
//
// Segments go in as captured (any order, retransmitted, cut to a head and a tail at snaplen);
// an in-order stream of chunks comes out:
//   Data(bytes, ts, starts_at_segment_start)  bytes we have, in sequence order;
//   Gap(length, ts)                           bytes that exist on the wire but that we do not
//                                             have, of known length.
// A Gap comes from snaplen truncation (the middle of a long segment, between its captured head
// and tail, or everything after the head when it has no tail: expected, counted as
// uncaptured_bytes) or from a hole in sequence space that was given up (a segment lost before
// the capture point or in a full ring buffer: counted as reassembly_gap_bytes). Because the
// length of every gap is known, a parser keeps its framing across a gap inside a body of known
// length, and with a tail it finds what follows the body (the next frame header, trailers) in
// the same segment.
//
// Bounds (AnalyzerConfig): at most max_reorder_segments / max_reorder_bytes (captured bytes held)
// out of order; a hole whose first out-of-order successor arrived reorder_timeout_ns ago (event
// time) is given up. When a new out-of-order segment would exceed a bound, the oldest hole is
// given up early (counted in reassembly_overflow_segments) rather than dropping data we hold.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "analyzer/analyzer.h"

namespace ta::analyzer::tcp {

struct StreamChunk {
  enum class Kind : uint8_t { kData, kGap };

  Kind kind = Kind::kData;
  std::span<const uint8_t> data;  // kData: valid only during the OnChunk call
  uint64_t gap_len = 0;           // kGap
  uint64_t ts_ns = 0;             // timestamp of the segment these bytes belong to
  // kData: the first byte is the first payload byte of a segment (not the middle of one after
  // trimming a retransmission). Messages usually start segments, so parsers that lost framing
  // only try to resynchronise at such chunks.
  bool starts_at_segment_start = false;

  static StreamChunk Data(std::span<const uint8_t> bytes, uint64_t ts, bool segment_start) {
    return {Kind::kData, bytes, 0, ts, segment_start};
  }
  static StreamChunk Gap(uint64_t length, uint64_t ts) {
    return {Kind::kGap, {}, length, ts, false};
  }
  uint64_t length() const { return kind == Kind::kData ? data.size() : gap_len; }
};

// Takes a reassembled stream: one protocol parser per connection direction.
class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;
  virtual void OnChunk(const StreamChunk& chunk) = 0;
};

class Reassembler {
 public:
  // `config` and `stats` must outlive the reassembler.
  Reassembler(const AnalyzerConfig& config, AnalyzerStats& stats)
      : config_(&config), stats_(&stats) {}

  // Adds one segment and delivers whatever became contiguous. The first segment seen
  // initialises the expected sequence number. `captured` is the segment's first bytes (its
  // head), `tail` its last tail.size() bytes (SegmentEvent::tail); what lies between is
  // delivered as a Gap. Bytes beyond wire_len are ignored, the head's first.
  void AddSegment(uint32_t seq, uint32_t wire_len, std::span<const uint8_t> captured,
                  uint64_t ts_ns, StreamConsumer& out, std::span<const uint8_t> tail = {});
  // Gives up holes older than reorder_timeout_ns at event time `now_ns`.
  void AdvanceTime(uint64_t now_ns, StreamConsumer& out);
  // End of stream: gives up every hole and delivers everything buffered.
  void Flush(StreamConsumer& out);

  size_t buffered_segments() const { return out_of_order_.size(); }
  size_t buffered_bytes() const { return buffered_bytes_; }

 private:
  struct Held {
    uint32_t wire_len = 0;
    uint64_t ts_ns = 0;
    std::vector<uint8_t> captured;  // head
    std::vector<uint8_t> tail;      // the last tail.size() bytes of the segment
  };

  // Delivers a segment starting at or before next_offset_, trimming bytes already delivered.
  void Deliver(uint64_t offset, uint32_t wire_len, std::span<const uint8_t> captured,
               std::span<const uint8_t> tail, uint64_t ts_ns, StreamConsumer& out);
  void DeliverContiguous(StreamConsumer& out);
  void GiveUpFirstHole(StreamConsumer& out);
  void RecomputeOldest();

  const AnalyzerConfig* config_;
  AnalyzerStats* stats_;
  bool initialised_ = false;
  // Sequence space is tracked as a 64-bit stream offset so ordering never wraps; next_seq_ is
  // the same position modulo 2^32, compared with serial arithmetic (RFC 1982).
  uint32_t next_seq_ = 0;
  uint64_t next_offset_ = 0;
  std::map<uint64_t, Held> out_of_order_;  // keyed by stream offset, all > next_offset_
  size_t buffered_bytes_ = 0;
  uint64_t oldest_held_ts_ = 0;  // arrival of the oldest held segment: the first hole's age
};

}  // namespace ta::analyzer::tcp
