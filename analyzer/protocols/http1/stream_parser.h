// Incremental HTTP/1.x parser for one direction of a connection (requests client->server,
// responses server->client). It takes the reassembled stream chunk by chunk, never buffers more
// than one head, counts bodies and copies only their first AnalyzerConfig::body_sample_bytes
// (body_sampler.h), and reports message boundaries to a MessageObserver (http1_connection.h
// pairs them into exchanges).
//
// Gaps (tcp/reassembler.h): a gap inside a body of known remaining length (Content-Length, or
// chunk data) is consumed and framing is kept. A gap anywhere else (head, chunk-size line, or
// beyond the body's end) loses framing: the parser enters resync mode, discards bytes, and
// resumes only at a data chunk that starts a segment and begins like a message: a valid request
// line (requests) or "HTTP/1.x NNN" (responses). Messages start segments in practice, so this
// recovers at the next message without risking a match inside a body. Invalid bytes do the same
// after counting a parse error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/analyzer.h"
#include "analyzer/protocols/http1/body_sampler.h"
#include "analyzer/protocols/http1/chunked_decoder.h"
#include "analyzer/protocols/http1/message_head.h"
#include "analyzer/protocols/parse_state.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer::protocols::http1 {

class MessageObserver {
 public:
  virtual ~MessageObserver() = default;
  // A head is complete. `start_ns` is the timestamp of the segment holding its first byte.
  // Returns how the body that follows is delimited (responses depend on the request).
  virtual BodyFraming OnHead(Direction dir, const MessageHead& head, uint64_t start_ns) = 0;
  // The message whose head was reported last is complete; `end_ns` is the timestamp of the
  // segment holding its last byte. `body` is its sample (the observer may move from it).
  virtual void OnMessageEnd(Direction dir, uint64_t body_bytes, uint64_t end_ns,
                            BodySample& body) = 0;
  // Framing was lost inside the body of the message whose head was reported last (gap, invalid
  // chunk framing, or the stream ended early). No OnMessageEnd follows for it. `body` is the
  // sample taken before the loss (a contiguous prefix; the observer may move from it).
  virtual void OnBodyLost(Direction dir, BodySample& body) = 0;
  // After lost framing, a message start was found. `last_ns` is the timestamp of the last
  // segment seen in this direction before it.
  virtual void OnResync(Direction dir, uint64_t last_ns) = 0;
};

// Where a parser is inside the current message, for Analyzer::Census. Read from the parser's
// own counters: nothing is computed per segment for it.
struct MessageProgress {
  enum class Stage : uint8_t {
    kIdle,     // between messages (nothing of the next one yet)
    kHead,     // part of a head
    kBody,     // head complete, body not
    kUnknown,  // framing lost (resynchronising) or parsing stopped
  };
  Stage stage = Stage::kIdle;
  // kHead: the segment with the head's first byte; kBody: the one with the head's last byte.
  uint64_t start_ns = 0;
  // kHead, kBody: the segment with the head's first byte.
  uint64_t message_start_ns = 0;
  // The latest chunk (data or gap) in this direction.
  uint64_t last_ns = 0;
  // kHead: head bytes so far; kBody: body bytes so far (decoded, uncaptured ones included).
  uint64_t bytes = 0;
  // kBody with Content-Length: the body's length.
  std::optional<uint64_t> expected;
};

class StreamParser final : public tcp::StreamConsumer {
 public:
  // `in_sync` false: the stream is joined mid-way (agent started on an open connection), so
  // the parser starts in resync mode.
  StreamParser(Direction dir, bool in_sync, const AnalyzerConfig& config, AnalyzerStats& stats,
               MessageObserver& observer);

  void OnChunk(const tcp::StreamChunk& chunk) override;
  // End of stream (FIN/RST, eviction, expiry): completes a read-until-close response; a message
  // cut short counts as truncated.
  void OnClose();
  // The connection left HTTP/1.x (101, CONNECT): ignore everything from now on.
  void Stop() { phase_ = Phase::kStopped; }

  bool stopped() const { return phase_ == Phase::kStopped; }
  // After the parser stopped inside a data chunk (an upgrade completed mid-chunk): the bytes of
  // that chunk after the message, which belong to the next protocol. Valid only until the chunk's
  // OnChunk call returns to its caller; empty otherwise.
  std::string_view leftover() const { return leftover_; }
  bool resyncing() const { return phase_ == Phase::kResync; }
  // Timestamp of the last chunk seen (0 before any).
  uint64_t last_ts() const { return last_ts_; }
  MessageProgress progress() const;

 private:
  enum class Phase : uint8_t { kHead, kBodyLength, kChunked, kUntilClose, kResync, kStopped };

  struct Step {
    size_t consumed = 0;
    ParseState state = ParseState::kNeedsMoreData;
  };

  void OnData(std::string_view bytes, uint64_t ts, bool segment_start);
  void OnGap(uint64_t length, uint64_t ts);
  bool StartsMessage(std::string_view bytes) const;
  Step ConsumeHead(std::string_view bytes, uint64_t ts);
  // Validates the start line of a head split across chunks as soon as its bytes arrive, so
  // garbage is rejected at once rather than after max_header_bytes.
  ParseState CheckStartLine(size_t from);
  Step ConsumeBody(std::string_view bytes, uint64_t ts);
  ParseState OnHeadComplete(std::string_view head, uint64_t ts);
  ParseState FinishMessage(uint64_t body_bytes, uint64_t ts);
  void LoseFraming();

  const Direction dir_;
  const AnalyzerConfig& config_;
  AnalyzerStats& stats_;
  MessageObserver& observer_;
  Phase phase_;
  bool in_message_ = false;     // between OnHead and OnMessageEnd/OnBodyLost
  std::string head_;            // a head split across chunks
  bool start_line_ok_ = false;  // head_'s start line is complete and valid
  uint64_t head_start_ts_ = 0;
  uint64_t body_start_ts_ = 0;  // the segment that completed the head

  uint64_t remaining_ = 0;   // kBodyLength
  uint64_t body_bytes_ = 0;  // kBodyLength, kUntilClose
  ChunkedDecoder chunked_;
  BodySampler sampler_;
  uint64_t last_ts_ = 0;
  std::string_view leftover_;
};

}  // namespace ta::analyzer::protocols::http1
