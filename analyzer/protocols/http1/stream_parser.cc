#include "analyzer/protocols/http1/stream_parser.h"

#include <algorithm>

#include "analyzer/protocols/bytes.h"

namespace ta::analyzer::protocols::http1 {

StreamParser::StreamParser(Direction dir, bool in_sync, const AnalyzerConfig& config,
                           AnalyzerStats& stats, MessageObserver& observer)
    : dir_(dir),
      config_(config),
      stats_(stats),
      observer_(observer),
      phase_(in_sync ? Phase::kHead : Phase::kResync),
      chunked_(config.max_header_bytes) {}

void StreamParser::OnChunk(const tcp::StreamChunk& chunk) {
  leftover_ = {};
  if (chunk.kind == tcp::StreamChunk::Kind::kData) {
    OnData(AsChars(chunk.data), chunk.ts_ns, chunk.starts_at_segment_start);
  } else {
    OnGap(chunk.gap_len, chunk.ts_ns);
  }
  last_ts_ = chunk.ts_ns;
}

void StreamParser::OnClose() {
  switch (phase_) {
    case Phase::kUntilClose:
      FinishMessage(body_bytes_, last_ts_);
      break;
    case Phase::kBodyLength:
    case Phase::kChunked: {
      ++stats_.http1_truncated_messages;
      in_message_ = false;
      sampler_.Finish();
      observer_.OnBodyLost(dir_, sampler_.sample());
      break;
    }
    case Phase::kHead:
      if (!head_.empty()) ++stats_.http1_truncated_messages;
      break;
    case Phase::kResync:
    case Phase::kStopped:
      break;
  }
  head_.clear();
  phase_ = Phase::kStopped;
}

bool StreamParser::StartsMessage(std::string_view bytes) const {
  return dir_ == Direction::kClientToServer ? StartsWithRequestLine(bytes)
                                            : StartsWithStatusLine(bytes);
}

void StreamParser::OnData(std::string_view bytes, uint64_t ts, bool segment_start) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    Step step;
    switch (phase_) {
      case Phase::kStopped:
        if (pos > 0) leftover_ = bytes.substr(pos);  // stopped by this chunk's message
        return;
      case Phase::kResync:
        if (pos == 0 && segment_start && StartsMessage(bytes)) {
          phase_ = Phase::kHead;
          observer_.OnResync(dir_, last_ts_);
          continue;
        }
        stats_.parser_discarded_bytes += bytes.size() - pos;
        return;
      case Phase::kHead:
        step = ConsumeHead(bytes.substr(pos), ts);
        break;
      default:
        step = ConsumeBody(bytes.substr(pos), ts);
        break;
    }
    pos += step.consumed;
    if (step.state == ParseState::kInvalid) {
      // Resynchronise no earlier than the next chunk: the bytes here just failed to parse.
      ++stats_.http1_parse_errors;
      LoseFraming();
      stats_.parser_discarded_bytes += bytes.size() - pos;
      return;
    }
  }
}

void StreamParser::OnGap(uint64_t length, uint64_t ts) {
  switch (phase_) {
    case Phase::kBodyLength: {
      // Inside a body of known length the gap is just body we did not capture.
      const uint64_t n = std::min(length, remaining_);
      sampler_.Gap();
      remaining_ -= n;
      body_bytes_ += n;
      if (remaining_ == 0) FinishMessage(body_bytes_, ts);
      if (length > n && phase_ != Phase::kStopped) LoseFraming();  // gap runs into the next message
      break;
    }
    case Phase::kChunked:
      sampler_.Gap();
      if (length <= chunked_.data_remaining()) {
        chunked_.SkipData(length);
      } else {
        LoseFraming();  // a chunk-size line fell into the gap
      }
      break;
    case Phase::kUntilClose:
      sampler_.Gap();
      body_bytes_ += length;  // the length is known, so the body size stays exact
      break;
    case Phase::kHead:
      LoseFraming();
      break;
    case Phase::kResync:
    case Phase::kStopped:
      break;
  }
}

StreamParser::Step StreamParser::ConsumeHead(std::string_view bytes, uint64_t ts) {
  const size_t max = config_.max_header_bytes;
  if (head_.empty()) {
    // RFC 9112 §2.2: ignore empty lines before a request line (some clients send a CRLF after a
    // body). Tolerated before a status line too.
    const size_t start = bytes.find_first_not_of("\r\n");
    if (start == std::string_view::npos) return {bytes.size(), ParseState::kNeedsMoreData};
    head_start_ts_ = ts;
    const std::string_view rest = bytes.substr(start);
    // Fast path: the whole head is in this chunk, parse it in place.
    const size_t end = FindHeadEnd(rest);
    if (end != std::string_view::npos) {
      if (end > max) return {0, ParseState::kInvalid};
      const ParseState state = OnHeadComplete(rest.substr(0, end), ts);
      return {state == ParseState::kInvalid ? 0 : start + end, state};
    }
    if (rest.size() > max) return {0, ParseState::kInvalid};
    head_.assign(rest);
    start_line_ok_ = false;
    return {bytes.size(), CheckStartLine(0)};
  }

  // On kInvalid all of `bytes` is reported consumed: it sits in head_, which LoseFraming counts
  // as discarded.
  const size_t old = head_.size();
  head_.append(bytes);
  if (CheckStartLine(old) == ParseState::kInvalid) return {bytes.size(), ParseState::kInvalid};
  const size_t end = FindHeadEnd(head_, old >= 2 ? old - 2 : 0);
  if (end == std::string_view::npos) {
    const ParseState state = head_.size() > max ? ParseState::kInvalid : ParseState::kNeedsMoreData;
    return {bytes.size(), state};
  }
  if (end > max) return {bytes.size(), ParseState::kInvalid};
  const ParseState state = OnHeadComplete(std::string_view(head_).substr(0, end), ts);
  if (state == ParseState::kInvalid) return {bytes.size(), state};
  head_.clear();
  return {end - old, state};
}

ParseState StreamParser::CheckStartLine(size_t from) {
  if (start_line_ok_) return ParseState::kNeedsMoreData;
  const ParseState state = dir_ == Direction::kClientToServer ? CheckRequestLine(head_, from)
                                                              : CheckStatusLine(head_, from);
  start_line_ok_ = state == ParseState::kDone;
  return state == ParseState::kInvalid ? state : ParseState::kNeedsMoreData;
}

ParseState StreamParser::OnHeadComplete(std::string_view bytes, uint64_t ts) {
  MessageHead head;
  const ParseState parsed = dir_ == Direction::kClientToServer ? ParseRequestHead(bytes, &head)
                                                               : ParseResponseHead(bytes, &head);
  if (parsed != ParseState::kDone) return ParseState::kInvalid;
  in_message_ = true;
  const BodyFraming framing = observer_.OnHead(dir_, head, head_start_ts_);
  body_start_ts_ = ts;
  std::optional<uint64_t> expected;  // unknown for chunked and read-until-close bodies
  if (framing == BodyFraming::kContentLength) expected = head.content_length;
  if (framing == BodyFraming::kNone || framing == BodyFraming::kTunnel) expected = 0;
  sampler_.Start(config_.body_sample_bytes, expected, head.content_type, head.content_encoding);
  switch (framing) {
    case BodyFraming::kNone:
      return FinishMessage(0, ts);
    case BodyFraming::kContentLength:
      if (*head.content_length == 0) return FinishMessage(0, ts);
      remaining_ = *head.content_length;
      body_bytes_ = 0;
      phase_ = Phase::kBodyLength;
      return ParseState::kNeedsMoreData;
    case BodyFraming::kChunked:
      chunked_.Reset();
      phase_ = Phase::kChunked;
      return ParseState::kNeedsMoreData;
    case BodyFraming::kUntilClose:
      body_bytes_ = 0;
      phase_ = Phase::kUntilClose;
      return ParseState::kNeedsMoreData;
    case BodyFraming::kTunnel:
      FinishMessage(0, ts);
      phase_ = Phase::kStopped;
      return ParseState::kEndOfStream;
  }
  return ParseState::kInvalid;
}

StreamParser::Step StreamParser::ConsumeBody(std::string_view bytes, uint64_t ts) {
  switch (phase_) {
    case Phase::kBodyLength: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
      sampler_.Append(bytes.substr(0, n));
      remaining_ -= n;
      body_bytes_ += n;
      if (remaining_ > 0) return {n, ParseState::kNeedsMoreData};
      return {n, FinishMessage(body_bytes_, ts)};
    }
    case Phase::kChunked: {
      const ChunkedDecoder::Result r = chunked_.Consume(bytes, &sampler_);
      if (r.state == ParseState::kDone)
        return {r.consumed, FinishMessage(chunked_.body_bytes(), ts)};
      return {r.consumed, r.state};
    }
    case Phase::kUntilClose:
      sampler_.Append(bytes);
      body_bytes_ += bytes.size();
      return {bytes.size(), ParseState::kNeedsMoreData};
    default:
      return {0, ParseState::kInvalid};
  }
}

ParseState StreamParser::FinishMessage(uint64_t body_bytes, uint64_t ts) {
  // Set the phase first: the observer may Stop() this parser (an upgrade).
  phase_ = Phase::kHead;
  in_message_ = false;
  sampler_.Finish();
  observer_.OnMessageEnd(dir_, body_bytes, ts, sampler_.sample());
  return ParseState::kDone;
}

void StreamParser::LoseFraming() {
  ++stats_.parser_resyncs;
  stats_.parser_discarded_bytes += head_.size();
  head_.clear();
  phase_ = Phase::kResync;
  if (in_message_) {
    in_message_ = false;
    sampler_.Finish();
    observer_.OnBodyLost(dir_, sampler_.sample());
  }
}

MessageProgress StreamParser::progress() const {
  MessageProgress p;
  p.last_ns = last_ts_;
  p.message_start_ns = head_start_ts_;
  switch (phase_) {
    case Phase::kHead:
      if (head_.empty()) return p;  // kIdle (a head that arrives whole is never partial)
      p.stage = MessageProgress::Stage::kHead;
      p.start_ns = head_start_ts_;
      p.bytes = head_.size();
      return p;
    case Phase::kBodyLength:
      p.expected = body_bytes_ + remaining_;
      [[fallthrough]];
    case Phase::kUntilClose:
      p.stage = MessageProgress::Stage::kBody;
      p.start_ns = body_start_ts_;
      p.bytes = body_bytes_;
      return p;
    case Phase::kChunked:
      p.stage = MessageProgress::Stage::kBody;
      p.start_ns = body_start_ts_;
      // Declared chunk sizes so far, less what the current chunk still owes.
      p.bytes = chunked_.body_bytes() - chunked_.data_remaining();
      return p;
    case Phase::kResync:
    case Phase::kStopped:
      p.stage = MessageProgress::Stage::kUnknown;
      return p;
  }
  return p;
}

}  // namespace ta::analyzer::protocols::http1
