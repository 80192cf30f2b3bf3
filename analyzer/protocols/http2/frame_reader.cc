#include "analyzer/protocols/http2/frame_reader.h"

#include <algorithm>

namespace ta::analyzer::protocols::http2 {
namespace {

// Payload bytes kept of a SETTINGS frame (2730 parameters; RFC 9113 defines 6) or a GOAWAY
// (last-stream-id and error code; the debug data is skipped).
constexpr uint32_t kMaxKeptSettingsBytes = 16 * 1024;
constexpr uint32_t kGoAwayFixedBytes = 8;

bool IsBlockStart(const FrameHeader& h) {
  return h.is(FrameType::kHeaders) || h.is(FrameType::kPushPromise);
}

}  // namespace

FrameReader::FrameReader(Direction dir, Start start, const AnalyzerConfig& config,
                         AnalyzerStats& stats, FrameObserver& observer)
    : dir_(dir),
      config_(config),
      stats_(stats),
      observer_(observer),
      phase_(start == Start::kPreface    ? Phase::kPreface
             : start == Start::kSettings ? Phase::kHeader
                                         : Phase::kResync),
      expect_settings_(start != Start::kResync),
      // Joined mid-way, the SETTINGS that raised the frame size limit went by unseen: accept any
      // length the frame header can express. Resynchronising still requires small frames.
      max_frame_size_(start == Start::kResync ? kLargestMaxFrameSize : kDefaultMaxFrameSize) {}

void FrameReader::RaiseMaxFrameSize(uint32_t size) {
  max_frame_size_ = std::max(max_frame_size_, std::min(size, kLargestMaxFrameSize));
}

void FrameReader::OnChunk(const tcp::StreamChunk& chunk) {
  if (chunk.kind == tcp::StreamChunk::Kind::kData) {
    OnData(chunk.data, chunk.ts_ns, chunk.starts_at_segment_start);
  } else {
    OnGap(chunk.gap_len, chunk.ts_ns);
  }
  last_ts_ = chunk.ts_ns;
}

void FrameReader::OnData(std::span<const uint8_t> bytes, uint64_t ts, bool segment_start) {
  if (phase_ == Phase::kResync) {
    if (!segment_start || !LooksLikeHttp2Frames(bytes)) {
      stats_.parser_discarded_bytes += bytes.size();
      return;
    }
    phase_ = Phase::kHeader;
    header_have_ = 0;
  }
  size_t pos = 0;
  while (pos < bytes.size()) {
    const std::span<const uint8_t> rest = bytes.subspan(pos);
    switch (phase_) {
      case Phase::kPreface:
        pos += ConsumePreface(rest);
        break;
      case Phase::kHeader:
        pos += ConsumeHeader(rest, ts);
        break;
      case Phase::kPayload:
        pos += ConsumePayload(rest, ts);
        break;
      case Phase::kResync:  // lost framing in this chunk: resynchronise no earlier than the next
        stats_.parser_discarded_bytes += rest.size();
        return;
    }
    if (failed_) {
      failed_ = false;
      ++stats_.http2.parse_errors;
      LoseFraming();
      stats_.parser_discarded_bytes += bytes.size() - pos;
      return;
    }
  }
}

void FrameReader::OnGap(uint64_t length, uint64_t ts) {
  if (length == 0 || phase_ == Phase::kResync) return;
  if (phase_ != Phase::kPayload) {  // preface or frame header: the next frame is unknown
    LoseFraming();
    return;
  }
  if (frame_.is(FrameType::kData)) {
    if (need_pad_length_) {  // the split between data and padding is unknown
      LoseFraming();
      return;
    }
    const uint32_t data = static_cast<uint32_t>(std::min<uint64_t>(length, data_left_));
    if (data > 0) observer_.OnDataGap(dir_, frame_.stream_id, data);
    data_left_ -= data;
  } else if (payload_.size() < keep_ || block_active_) {
    // Bytes this frame's meaning needs (or a header block we could have decoded) are missing.
    LoseFraming();
    return;
  }
  const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(length, payload_left_));
  payload_left_ -= n;
  if (payload_left_ == 0) {
    if (frame_.is(FrameType::kData)) {
      phase_ = Phase::kHeader;
      if (frame_.has(kFlagEndStream)) observer_.OnDataEndStream(dir_, frame_.stream_id, ts);
    } else {
      FinishFrame(payload_, ts);
    }
  }
  if (length > n) LoseFraming();  // the gap runs into the next frame header
}

size_t FrameReader::ConsumePreface(std::span<const uint8_t> bytes) {
  const size_t n = std::min(bytes.size(), kClientPreface.size() - preface_have_);
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != static_cast<uint8_t>(kClientPreface[preface_have_ + i])) {
      Fail();
      return i;
    }
  }
  preface_have_ += n;
  if (preface_have_ == kClientPreface.size()) phase_ = Phase::kHeader;
  return n;
}

size_t FrameReader::ConsumeHeader(std::span<const uint8_t> bytes, uint64_t ts) {
  if (header_have_ == 0) frame_start_ts_ = ts;
  const size_t n = std::min(bytes.size(), kFrameHeaderSize - header_have_);
  std::copy_n(bytes.begin(), n, header_.begin() + static_cast<std::ptrdiff_t>(header_have_));
  header_have_ += n;
  if (header_have_ == kFrameHeaderSize) {
    header_have_ = 0;
    StartFrame(ts);
  }
  return n;
}

void FrameReader::StartFrame(uint64_t ts) {
  frame_ = ParseFrameHeader(header_);
  if (!FrameHeaderValid(frame_, max_frame_size_)) return Fail();
  // RFC 9113 §3.4: each side's connection preface ends with (client) or is (server) SETTINGS.
  if (expect_settings_ && (!frame_.is(FrameType::kSettings) || frame_.has(kFlagAck))) {
    return Fail();
  }
  expect_settings_ = false;
  // §6.10: a header block is a contiguous sequence of frames on one stream.
  const bool continuation = frame_.is(FrameType::kContinuation);
  if (block_active_ != continuation) return Fail();
  if (continuation && frame_.stream_id != block_stream_) return Fail();
  // §8.4: only servers push.
  if (frame_.is(FrameType::kPushPromise) && dir_ == Direction::kClientToServer) return Fail();

  payload_left_ = frame_.length;
  payload_.clear();
  keep_ = 0;
  if (frame_.is(FrameType::kData)) {
    need_pad_length_ = frame_.has(kFlagPadded);
    data_left_ = need_pad_length_ ? 0 : frame_.length;
  } else if (IsBlockStart(frame_) || continuation) {
    if (IsBlockStart(frame_)) {
      block_active_ = true;
      block_oversize_ = false;
      block_stream_ = frame_.stream_id;
      block_push_ = frame_.is(FrameType::kPushPromise);
      block_end_stream_ = frame_.is(FrameType::kHeaders) && frame_.has(kFlagEndStream);
      block_start_ts_ = frame_start_ts_;
      block_.clear();
    }
    // A block larger than max_header_bytes is skipped rather than buffered.
    if (!block_oversize_ && block_.size() + frame_.length > config_.max_header_bytes) {
      block_oversize_ = true;
      block_.clear();
    }
    keep_ = block_oversize_ ? 0 : frame_.length;
  } else if (frame_.is(FrameType::kRstStream)) {
    keep_ = 4;
  } else if (frame_.is(FrameType::kSettings)) {
    keep_ = std::min(frame_.length, kMaxKeptSettingsBytes);
  } else if (frame_.is(FrameType::kGoAway)) {
    keep_ = kGoAwayFixedBytes;
  }
  // PRIORITY, PING, WINDOW_UPDATE and unknown types need none of their bytes (§5.5).
  phase_ = Phase::kPayload;
  if (payload_left_ == 0) {
    if (frame_.is(FrameType::kData)) {
      phase_ = Phase::kHeader;
      if (frame_.has(kFlagEndStream)) observer_.OnDataEndStream(dir_, frame_.stream_id, ts);
    } else {
      FinishFrame({}, ts);
    }
  }
}

size_t FrameReader::ConsumePayload(std::span<const uint8_t> bytes, uint64_t ts) {
  if (frame_.is(FrameType::kData)) return ConsumeData(bytes, ts);
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(bytes.size(), payload_left_));
  if (payload_.empty() && n == frame_.length && keep_ == frame_.length) {
    // The whole payload is in this chunk: use it in place.
    payload_left_ = 0;
    FinishFrame(bytes.first(n), ts);
    return n;
  }
  const size_t keep = std::min<size_t>(n, keep_ - std::min<size_t>(keep_, payload_.size()));
  payload_.insert(payload_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep));
  payload_left_ -= n;
  if (payload_left_ == 0) FinishFrame(payload_, ts);
  return n;
}

size_t FrameReader::ConsumeData(std::span<const uint8_t> bytes, uint64_t ts) {
  size_t pos = 0;
  if (need_pad_length_) {
    // §6.1: padding as long as the payload or longer is a connection error.
    const uint32_t pad = bytes[0];
    if (pad + 1u > frame_.length) {
      Fail();
      return 0;
    }
    need_pad_length_ = false;
    data_left_ = frame_.length - 1 - pad;
    payload_left_ -= 1;
    pos = 1;
  }
  const size_t data = std::min<size_t>(bytes.size() - pos, data_left_);
  if (data > 0) observer_.OnData(dir_, frame_.stream_id, bytes.subspan(pos, data));
  data_left_ -= static_cast<uint32_t>(data);
  pos += data;
  const size_t left = std::min<size_t>(bytes.size() - pos, payload_left_ - data);
  pos += left;
  payload_left_ -= static_cast<uint32_t>(data + left);
  if (payload_left_ == 0) {
    phase_ = Phase::kHeader;
    if (frame_.has(kFlagEndStream)) observer_.OnDataEndStream(dir_, frame_.stream_id, ts);
  }
  return pos;
}

void FrameReader::FinishFrame(std::span<const uint8_t> kept, uint64_t ts) {
  phase_ = Phase::kHeader;
  switch (static_cast<FrameType>(frame_.type)) {
    case FrameType::kHeaders:
    case FrameType::kPushPromise:
    case FrameType::kContinuation:
      FinishHeaderFragment(kept, ts);
      break;
    case FrameType::kRstStream:
      observer_.OnRstStream(dir_, frame_.stream_id, ts);
      break;
    case FrameType::kSettings:
      if (frame_.has(kFlagAck)) break;
      for (size_t off = 0; off + 6 <= kept.size(); off += 6) {
        const auto id = static_cast<uint16_t>((kept[off] << 8) | kept[off + 1]);
        observer_.OnSetting(dir_, id, ReadUint32(&kept[off + 2]));
      }
      break;
    case FrameType::kGoAway:
      observer_.OnGoAway(dir_);
      break;
    default:  // PRIORITY, PING, WINDOW_UPDATE, DATA (never here), unknown
      break;
  }
}

void FrameReader::FinishHeaderFragment(std::span<const uint8_t> payload, uint64_t ts) {
  if (!block_oversize_) {
    // Strip the pad length, priority and promised stream id fields, and the padding (§6.2, §6.6).
    size_t front = 0;
    size_t pad = 0;
    if (!frame_.is(FrameType::kContinuation)) {
      if (frame_.has(kFlagPadded)) pad = payload[front++];
      if (frame_.is(FrameType::kHeaders) && frame_.has(kFlagPriority)) front += 5;
      if (frame_.is(FrameType::kPushPromise)) front += 4;
      if (front + pad > payload.size()) return Fail();
    }
    const std::span<const uint8_t> fragment = payload.subspan(front, payload.size() - front - pad);
    if (frame_.has(kFlagEndHeaders) && block_.empty()) {
      EndBlock(fragment, ts);  // a block in one frame: decode it in place
      return;
    }
    block_.insert(block_.end(), fragment.begin(), fragment.end());
  }
  if (frame_.has(kFlagEndHeaders)) EndBlock(block_, ts);
}

void FrameReader::EndBlock(std::span<const uint8_t> block, uint64_t ts) {
  block_active_ = false;
  if (block_oversize_) {
    observer_.OnHeaderBlockLost(dir_, block_stream_, block_push_, block_end_stream_, ts);
  } else {
    HeaderBlock b;
    b.stream_id = block_stream_;
    b.push_promise = block_push_;
    b.end_stream = block_end_stream_;
    b.bytes = block;
    b.start_ns = block_start_ts_;
    b.end_ns = ts;
    observer_.OnHeaderBlock(dir_, b);
  }
  block_.clear();
  block_oversize_ = false;
}

void FrameReader::LoseFraming() {
  ++stats_.parser_resyncs;
  if (block_active_) {
    block_active_ = false;
    observer_.OnHeaderBlockLost(dir_, block_stream_, block_push_, false, last_ts_);
  }
  stats_.parser_discarded_bytes += payload_.size() + block_.size() + header_have_;
  payload_.clear();
  block_.clear();
  block_oversize_ = false;
  header_have_ = 0;
  expect_settings_ = false;
  phase_ = Phase::kResync;
  observer_.OnFramingLost(dir_);
}

}  // namespace ta::analyzer::protocols::http2
