// Incremental HTTP/2 frame reader for one direction of a connection (RFC 9113 §4, §6). It takes
// the reassembled stream chunk by chunk (a frame can span many chunks, chunks can split
// anywhere), validates every frame header, reassembles header blocks (HEADERS or PUSH_PROMISE
// plus CONTINUATIONs, padding and priority fields removed) and reports frames to a
// FrameObserver. DATA payloads are streamed, never buffered; other frames keep at most the bytes
// their meaning needs.
//
// Lost framing. A violation of RFC 9113 (bad length for the type, stream 0 rules, padding longer
// than the payload, a broken CONTINUATION sequence, a bad preface) counts a parse error; a gap
// (tcp/reassembler.h) anywhere but inside a payload whose bytes we do not need (DATA, and the
// skipped tail of other frames) cannot be followed either. Both put the reader in resync mode:
// it discards bytes and resumes only at a data chunk that starts a segment and passes
// LooksLikeHttp2Frames. A connection joined mid-way starts in that mode.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/protocols/http2/frame.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer::protocols::http2 {

// A complete header block.
struct HeaderBlock {
  uint32_t stream_id = 0;
  bool push_promise = false;  // from PUSH_PROMISE (a promised request), not HEADERS
  bool end_stream = false;    // the HEADERS frame carried END_STREAM
  std::span<const uint8_t> bytes;  // valid only during the call
  uint64_t start_ns = 0;  // chunk holding the first byte of the HEADERS/PUSH_PROMISE frame
  uint64_t end_ns = 0;    // chunk holding the last byte of the block's last frame
};

class FrameObserver {
 public:
  virtual ~FrameObserver() = default;
  virtual void OnHeaderBlock(Direction dir, const HeaderBlock& block) = 0;
  // A header block that will never be delivered: larger than max_header_bytes, or cut by lost
  // framing. Its fields, and from here the HPACK dynamic table of `dir`, are unknown.
  // `end_stream`: the block was skipped whole (oversize) and its HEADERS carried END_STREAM,
  // so the stream's side ended at `ts`.
  virtual void OnHeaderBlockLost(Direction dir, uint32_t stream_id, bool push_promise,
                                 bool end_stream, uint64_t ts) = 0;
  // DATA payload bytes (padding removed) of `stream_id`, in order; a gap of known length.
  virtual void OnData(Direction dir, uint32_t stream_id, std::span<const uint8_t> bytes) = 0;
  virtual void OnDataGap(Direction dir, uint32_t stream_id, uint64_t length) = 0;
  // A DATA frame with END_STREAM ended; `end_ns` is the chunk holding its last byte.
  virtual void OnDataEndStream(Direction dir, uint32_t stream_id, uint64_t end_ns) = 0;
  virtual void OnRstStream(Direction dir, uint32_t stream_id, uint64_t ts) = 0;
  // One parameter of a SETTINGS frame (not an ACK) sent in `dir`.
  virtual void OnSetting(Direction dir, uint16_t id, uint32_t value) = 0;
  virtual void OnGoAway(Direction dir) = 0;
  // Framing of `dir` was lost: DATA of open streams went by unseen, and header blocks too.
  virtual void OnFramingLost(Direction dir) = 0;
};

class FrameReader final : public tcp::StreamConsumer {
 public:
  enum class Start : uint8_t {
    kPreface,  // the client connection preface comes first, then SETTINGS (RFC 9113 §3.4)
    kSettings,  // frames, the first a SETTINGS (a server's connection preface)
    kResync,    // joined mid-way: wait for a segment that starts with frames
  };

  FrameReader(Direction dir, Start start, const AnalyzerConfig& config, AnalyzerStats& stats,
              FrameObserver& observer);

  void OnChunk(const tcp::StreamChunk& chunk) override;

  // The receiver of this direction allowed larger frames (SETTINGS_MAX_FRAME_SIZE). Raised only:
  // a passive observer cannot tell when the sender saw the setting.
  void RaiseMaxFrameSize(uint32_t size);

  bool resyncing() const { return phase_ == Phase::kResync; }
  uint64_t last_ts() const { return last_ts_; }

 private:
  enum class Phase : uint8_t { kPreface, kHeader, kPayload, kResync };

  void OnData(std::span<const uint8_t> bytes, uint64_t ts, bool segment_start);
  void OnGap(uint64_t length, uint64_t ts);
  size_t ConsumePreface(std::span<const uint8_t> bytes);
  size_t ConsumeHeader(std::span<const uint8_t> bytes, uint64_t ts);
  size_t ConsumePayload(std::span<const uint8_t> bytes, uint64_t ts);
  size_t ConsumeData(std::span<const uint8_t> bytes, uint64_t ts);
  void StartFrame(uint64_t ts);
  // The whole payload of a non-DATA frame went by; `kept` holds the bytes it needs.
  void FinishFrame(std::span<const uint8_t> kept, uint64_t ts);
  void FinishHeaderFragment(std::span<const uint8_t> payload, uint64_t ts);
  void EndBlock(std::span<const uint8_t> block, uint64_t ts);
  void Fail() { failed_ = true; }
  void LoseFraming();

  const Direction dir_;
  const AnalyzerConfig& config_;
  AnalyzerStats& stats_;
  FrameObserver& observer_;
  Phase phase_;
  bool failed_ = false;        // the bytes just consumed violate RFC 9113
  bool expect_settings_;       // the next frame must be SETTINGS (a connection preface)
  uint32_t max_frame_size_;
  size_t preface_have_ = 0;
  std::array<uint8_t, kFrameHeaderSize> header_{};
  size_t header_have_ = 0;
  uint64_t frame_start_ts_ = 0;
  FrameHeader frame_;
  uint32_t payload_left_ = 0;  // bytes of the current frame's payload still to come
  // DATA.
  bool need_pad_length_ = false;
  uint32_t data_left_ = 0;  // payload bytes before the padding
  // Other frames: the first keep_ payload bytes are kept (in payload_ when split over chunks).
  uint32_t keep_ = 0;
  std::vector<uint8_t> payload_;
  // The header block being reassembled (between HEADERS/PUSH_PROMISE and END_HEADERS).
  bool block_active_ = false;
  bool block_oversize_ = false;  // over max_header_bytes: skipped, then reported lost
  uint32_t block_stream_ = 0;
  bool block_push_ = false;
  bool block_end_stream_ = false;
  uint64_t block_start_ts_ = 0;
  std::vector<uint8_t> block_;
  uint64_t last_ts_ = 0;
};

}  // namespace ta::analyzer::protocols::http2
