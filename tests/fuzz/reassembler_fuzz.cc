// TCP reassembly (analyzer/tcp/reassembler.h) against a model: every segment is a slice of one
// known byte stream, so whatever order, overlap, loss, truncation or sequence wrap-around the
// input chooses, the chunks that come out must be that stream, in order, with gaps of the right
// length where bytes were never given, and nothing may be left behind by Flush.
//
// Input: [max_reorder_segments: 1 byte][max_reorder_bytes: u16][reorder timeout: 1 byte]
//        [initial sequence number: u32] then records until the input ends:
//   op byte: bits 0-2 kind: 0-5 AddSegment, 6 AdvanceTime, 7 Flush.
//   AddSegment: op bits 3-4 where it starts (0 where the last one ended, 1 `at` bytes after
//     that: a loss, 2 `at` bytes before it: a retransmission or overlap, 3 at stream offset
//     16 * `at`), op bit 5 wire_len = len + `extra` (snaplen truncation). Then u16 at, u16 len
//     (bytes captured, mod 4096), u16 extra, u16 dt (microseconds forward).
//   AdvanceTime: u32 microseconds forward.
#include <algorithm>
#include <cstdint>
#include <set>
#include <span>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/tcp/reassembler.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::tcp::StreamChunk;

// The byte at stream offset `i` of the sender's stream.
uint8_t StreamByte(uint64_t i) { return static_cast<uint8_t>((i * 2654435761u) >> 11); }

class ModelCheck final : public ta::analyzer::tcp::StreamConsumer {
 public:
  void OnChunk(const StreamChunk& chunk) override {
    TA_FUZZ_CHECK(started);
    TA_FUZZ_CHECK(chunk.length() > 0);
    if (chunk.kind == StreamChunk::Kind::kData) {
      // Must be exactly the bytes of the stream at this position.
      for (size_t i = 0; i < chunk.data.size(); ++i) {
        TA_FUZZ_CHECK(chunk.data[i] == StreamByte(position + i));
      }
      if (chunk.starts_at_segment_start) TA_FUZZ_CHECK(segment_starts.contains(position));
    }
    position += chunk.length();
    // Never beyond what the sender put on the wire.
    TA_FUZZ_CHECK(position <= max_end);
  }

  bool started = false;
  uint64_t position = 0;  // stream offset of the next byte to come out
  uint64_t max_end = 0;   // end of the furthest segment given
  std::set<uint64_t> segment_starts;
};

}  // namespace

TA_FUZZ_TARGET(reassembler) {
  static constexpr uint64_t kTimeoutsUs[] = {1, 1000, 1'000'000, 30'000'000};
  ta::fuzz::FuzzInput in(data, size);
  ta::analyzer::AnalyzerConfig config;
  config.max_reorder_segments = 1 + in.TakeByte() % 64u;
  config.max_reorder_bytes = in.Take<uint16_t>();
  config.reorder_timeout_ns = in.Pick(kTimeoutsUs) * 1000;
  const uint32_t isn = in.Take<uint32_t>();
  ta::analyzer::AnalyzerStats stats;
  ta::analyzer::tcp::Reassembler reassembler(config, stats);
  ModelCheck model;

  uint64_t now = 1'000'000'000;
  uint64_t last_end = 0;
  std::vector<uint8_t> bytes;
  while (!in.empty()) {
    const uint8_t op = in.TakeByte();
    const uint8_t kind = op & 7;
    if (kind == 6) {
      now += uint64_t{in.Take<uint32_t>()} * 1000;
      reassembler.AdvanceTime(now, model);
      continue;
    }
    if (kind == 7) {
      reassembler.Flush(model);
      // End of stream: everything given came out, as data or as a gap of known length.
      TA_FUZZ_CHECK(reassembler.buffered_segments() == 0);
      TA_FUZZ_CHECK(reassembler.buffered_bytes() == 0);
      TA_FUZZ_CHECK(!model.started || model.position == model.max_end);
      continue;
    }
    const uint16_t at = in.Take<uint16_t>();
    const uint32_t len = in.Take<uint16_t>() % 4096u;
    const uint16_t extra = in.Take<uint16_t>();
    now += uint64_t{in.Take<uint16_t>()} * 1000;
    uint64_t offset = last_end;
    switch ((op >> 3) & 3) {
      case 1:
        offset = last_end + at;
        break;
      case 2:
        offset = last_end > at ? last_end - at : 0;
        break;
      case 3:
        offset = uint64_t{at} * 16;
        break;
      default:
        break;
    }
    const uint32_t wire_len = len + ((op & 0x20) != 0 ? extra : 0u);
    // Stay within 2^30 bytes of stream, where serial arithmetic (RFC 1982) is unambiguous; no
    // input within libFuzzer's length limits gets near it anyway.
    if (offset + wire_len > (uint64_t{1} << 30)) continue;
    bytes.resize(len);
    for (uint32_t i = 0; i < len; ++i) bytes[i] = StreamByte(offset + i);
    const ta::fuzz::ExactBytes captured(std::span<const uint8_t>(bytes.data(), bytes.size()));
    if (wire_len > 0) {
      if (!model.started) {
        // The first segment sets where the stream starts.
        model.started = true;
        model.position = offset;
        model.max_end = offset;
      }
      model.segment_starts.insert(offset);
      model.max_end = std::max(model.max_end, offset + wire_len);
      last_end = offset + wire_len;
    }
    reassembler.AddSegment(isn + static_cast<uint32_t>(offset), wire_len, captured.span(), now,
                           model);
    TA_FUZZ_CHECK(reassembler.buffered_segments() <= config.max_reorder_segments);
    TA_FUZZ_CHECK(reassembler.buffered_bytes() <= config.max_reorder_bytes);
  }
  reassembler.Flush(model);
  TA_FUZZ_CHECK(!model.started || model.position == model.max_end);
}
