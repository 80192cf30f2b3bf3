#include "analyzer/tcp/reassembler.h"

#include <algorithm>

namespace ta::analyzer::tcp {

void Reassembler::AddSegment(uint32_t seq, uint32_t wire_len, std::span<const uint8_t> captured,
                             uint64_t ts_ns, StreamConsumer& out, std::span<const uint8_t> tail) {
  if (wire_len == 0) return;
  if (captured.size() > wire_len) captured = captured.first(wire_len);
  // Head and tail never overlap: a tail longer than what the head leaves keeps its last bytes.
  if (tail.size() > wire_len - captured.size()) tail = tail.last(wire_len - captured.size());
  if (!initialised_) {
    initialised_ = true;
    next_seq_ = seq;
  }

  // Serial-number difference (RFC 1982): negative means the segment starts in bytes already
  // delivered (a retransmission), positive means a hole lies before it.
  const auto ahead = static_cast<int32_t>(seq - next_seq_);
  if (ahead <= 0) {
    const uint64_t behind = static_cast<uint64_t>(-static_cast<int64_t>(ahead));
    if (behind >= wire_len) return;  // pure retransmission
    Deliver(next_offset_ - behind, wire_len, captured, tail, ts_ns, out);
    DeliverContiguous(out);
  } else {
    const uint64_t offset = next_offset_ + static_cast<uint64_t>(ahead);
    auto [it, inserted] = out_of_order_.try_emplace(offset);
    if (!inserted && it->second.wire_len >= wire_len) return;  // same start, no longer: a copy
    buffered_bytes_ -= it->second.captured.size() + it->second.tail.size();
    it->second =
        Held{wire_len, ts_ns, {captured.begin(), captured.end()}, {tail.begin(), tail.end()}};
    buffered_bytes_ += captured.size() + tail.size();
    if (out_of_order_.size() == 1) {
      oldest_held_ts_ = ts_ns;
    } else {
      oldest_held_ts_ = std::min(oldest_held_ts_, ts_ns);
    }
    const auto over_bound = [this] {
      return out_of_order_.size() > config_->max_reorder_segments ||
             buffered_bytes_ > config_->max_reorder_bytes;
    };
    if (over_bound()) {
      ++stats_->reassembly_overflow_segments;
      while (!out_of_order_.empty() && over_bound()) GiveUpFirstHole(out);
    }
  }
  AdvanceTime(ts_ns, out);
}

void Reassembler::AdvanceTime(uint64_t now_ns, StreamConsumer& out) {
  while (!out_of_order_.empty() && now_ns > oldest_held_ts_ &&
         now_ns - oldest_held_ts_ >= config_->reorder_timeout_ns) {
    GiveUpFirstHole(out);
  }
}

void Reassembler::Flush(StreamConsumer& out) {
  while (!out_of_order_.empty()) GiveUpFirstHole(out);
}

void Reassembler::Deliver(uint64_t offset, uint32_t wire_len, std::span<const uint8_t> captured,
                          std::span<const uint8_t> tail, uint64_t ts_ns, StreamConsumer& out) {
  // In segment coordinates: head [0, head_end), uncaptured middle [head_end, tail_start), tail
  // [tail_start, wire_len). Each part is delivered from `skip` on, the bytes before it having
  // been delivered already (by an earlier copy, whose own head, gap and tail may have been cut
  // elsewhere: what was a gap then stays a gap).
  const uint64_t skip = next_offset_ - offset;  // bytes already delivered; < wire_len
  const uint64_t head_end = captured.size();
  const uint64_t tail_start = wire_len - tail.size();  // >= head_end (AddSegment)
  if (skip < head_end) {
    out.OnChunk(StreamChunk::Data(captured.subspan(static_cast<size_t>(skip)), ts_ns, skip == 0));
  }
  const uint64_t gap_start = std::max(skip, head_end);
  if (tail_start > gap_start) {
    const uint64_t uncaptured = tail_start - gap_start;
    stats_->uncaptured_bytes += uncaptured;
    out.OnChunk(StreamChunk::Gap(uncaptured, ts_ns));
  }
  const uint64_t tail_from = std::max(skip, tail_start);
  if (wire_len > tail_from) {
    // Never a segment start: the first byte of a tail is the middle of the segment.
    out.OnChunk(
        StreamChunk::Data(tail.subspan(static_cast<size_t>(tail_from - tail_start)), ts_ns, false));
  }
  const uint64_t fresh_len = wire_len - skip;
  next_offset_ += fresh_len;
  next_seq_ += static_cast<uint32_t>(fresh_len);
}

void Reassembler::DeliverContiguous(StreamConsumer& out) {
  bool removed = false;
  while (!out_of_order_.empty() && out_of_order_.begin()->first <= next_offset_) {
    auto node = out_of_order_.extract(out_of_order_.begin());
    const uint64_t offset = node.key();
    const Held& held = node.mapped();
    buffered_bytes_ -= held.captured.size() + held.tail.size();
    removed = true;
    if (offset + held.wire_len > next_offset_) {
      Deliver(offset, held.wire_len, held.captured, held.tail, held.ts_ns, out);
    }
  }
  if (removed) RecomputeOldest();
}

void Reassembler::GiveUpFirstHole(StreamConsumer& out) {
  const auto first = out_of_order_.begin();
  const uint64_t hole = first->first - next_offset_;
  stats_->reassembly_gap_bytes += hole;
  // The hole's bytes were sent no later than the segment after it.
  out.OnChunk(StreamChunk::Gap(hole, first->second.ts_ns));
  next_offset_ += hole;
  next_seq_ += static_cast<uint32_t>(hole);
  DeliverContiguous(out);
}

void Reassembler::RecomputeOldest() {
  oldest_held_ts_ = UINT64_MAX;
  for (const auto& [offset, held] : out_of_order_) {
    oldest_held_ts_ = std::min(oldest_held_ts_, held.ts_ns);
  }
}

}  // namespace ta::analyzer::tcp
