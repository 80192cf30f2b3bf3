#include "analyzer/tcp/reassembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "tests/analyzer/test_support.h"

namespace ta::analyzer::tcp {
namespace {

using testing::Bytes;

// A chunk as a value, so sequences can be compared literally.
struct Chunk {
  bool gap = false;
  std::string data;
  uint64_t gap_len = 0;
  uint64_t ts = 0;
  bool segment_start = false;

  bool operator==(const Chunk&) const = default;
};

Chunk D(std::string data, uint64_t ts, bool segment_start = true) {
  return {false, std::move(data), 0, ts, segment_start};
}
Chunk G(uint64_t len, uint64_t ts) { return {true, "", len, ts, false}; }

void PrintTo(const Chunk& c, std::ostream* os) {
  if (c.gap) {
    *os << "Gap(" << c.gap_len << ", ts=" << c.ts << ")";
  } else {
    *os << "Data(\"" << c.data << "\", ts=" << c.ts << (c.segment_start ? ", start" : "") << ")";
  }
}

class ChunkRecorder final : public StreamConsumer {
 public:
  void OnChunk(const StreamChunk& c) override {
    if (c.kind == StreamChunk::Kind::kGap) {
      chunks.push_back(G(c.gap_len, c.ts_ns));
    } else {
      chunks.push_back(D(std::string(reinterpret_cast<const char*>(c.data.data()), c.data.size()),
                         c.ts_ns, c.starts_at_segment_start));
    }
  }
  std::vector<Chunk> chunks;
};

class ReassemblerTest : public ::testing::Test {
 protected:
  void Add(uint32_t seq, std::string_view payload, uint64_t ts, uint32_t wire_len = 0) {
    reassembler_.AddSegment(seq, wire_len ? wire_len : static_cast<uint32_t>(payload.size()),
                            Bytes(payload), ts, out_);
  }

  AnalyzerConfig config_;
  AnalyzerStats stats_;
  Reassembler reassembler_{config_, stats_};
  ChunkRecorder out_;
};

TEST_F(ReassemblerTest, DeliversInOrderSegmentsAndInitialisesFromTheFirst) {
  Add(12345, "hello ", 1);
  Add(12351, "world", 2);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("hello ", 1), D("world", 2)}));
  EXPECT_EQ(reassembler_.buffered_segments(), 0u);
}

TEST_F(ReassemblerTest, IgnoresEmptySegments) {
  Add(100, "", 1);
  Add(100, "abc", 2);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("abc", 2)}));
}

TEST_F(ReassemblerTest, DropsRetransmissionsAndTrimsPartialOverlap) {
  Add(100, "0123456789", 1);
  Add(100, "0123456789", 2);       // full retransmission
  Add(105, "56789ABCDE", 3);       // half old, half new
  Add(100, "0123456789ABCDE", 4);  // all old
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("0123456789", 1), D("ABCDE", 3, false)}));
  EXPECT_EQ(stats_.reassembly_gap_bytes, 0u);
}

TEST_F(ReassemblerTest, ReordersOutOfOrderSegments) {
  Add(100, "aaaa", 1);
  Add(108, "cccc", 2);
  Add(104, "bbbb", 3);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("aaaa", 1), D("bbbb", 3), D("cccc", 2)}));
  EXPECT_EQ(reassembler_.buffered_segments(), 0u);
  EXPECT_EQ(reassembler_.buffered_bytes(), 0u);
}

TEST_F(ReassemblerTest, KeepsTheLongerOfTwoHeldSegmentsWithTheSameStart) {
  Add(100, "aa", 1);
  Add(104, "cc", 2);
  Add(104, "ccdd", 3);
  Add(104, "c", 4);
  Add(102, "bb", 5);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("aa", 1), D("bb", 5), D("ccdd", 3)}));
}

TEST_F(ReassemblerTest, TrimsHeldSegmentsThatOverlapWhatWasDelivered) {
  Add(100, "aa", 1);
  Add(104, "XYZ", 2);   // held: offsets 4..6
  Add(102, "bbXY", 3);  // fills the hole and overlaps the held segment
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("aa", 1), D("bbXY", 3), D("Z", 2, false)}));
}

TEST_F(ReassemblerTest, HandlesSequenceWraparound) {
  const uint32_t isn = 0xFFFFFFFAu;  // 6 bytes before the wrap
  Add(isn, "abcd", 1);
  Add(isn + 8, "ijkl", 2);  // past the wrap (seq 2), out of order
  Add(isn + 4, "efgh", 3);  // straddles the wrap
  Add(isn + 2, "cdef", 4);  // retransmission from before the wrap
  Add(isn + 12, "mn", 5);
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("abcd", 1), D("efgh", 3), D("ijkl", 2), D("mn", 5)}));
}

TEST_F(ReassemblerTest, ReportsBytesBeyondSnaplenAsAGapWithTheSegmentsTimestamp) {
  Add(100, "HTTP", 1, /*wire_len=*/10);
  Add(110, "next", 2);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("HTTP", 1), G(6, 1), D("next", 2)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 6u);
  EXPECT_EQ(stats_.reassembly_gap_bytes, 0u);
}

TEST_F(ReassemblerTest, TrimsARetransmissionThatStartsInsideTheUncapturedPart) {
  Add(100, "abcd", 1, /*wire_len=*/10);  // 4 captured, 6 not
  Add(106, "ghijkl", 2);                 // 4 old (uncaptured), 2 new
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("abcd", 1), G(6, 1), D("kl", 2, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 6u);
}

TEST_F(ReassemblerTest, GivesUpAHoleAfterTheReorderTimeout) {
  config_.reorder_timeout_ns = 1000;
  Add(100, "aa", 0);
  Add(104, "cc", 10);  // hole at 102..103
  Add(106, "dd", 500);
  reassembler_.AdvanceTime(1009, out_);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("aa", 0)}));
  reassembler_.AdvanceTime(1010, out_);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("aa", 0), G(2, 10), D("cc", 10), D("dd", 500)}));
  EXPECT_EQ(stats_.reassembly_gap_bytes, 2u);
  EXPECT_EQ(stats_.reassembly_overflow_segments, 0u);

  // The missing segment arrives late: already given up, so dropped as a retransmission.
  Add(102, "bb", 1100);
  EXPECT_EQ(out_.chunks.size(), 4u);
}

TEST_F(ReassemblerTest, ChecksTheReorderTimeoutOnEachNewSegment) {
  config_.reorder_timeout_ns = 1000;
  Add(100, "aa", 0);
  Add(104, "cc", 10);
  Add(108, "ee", 1010);  // its arrival ages the first hole past the timeout
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("aa", 0), G(2, 10), D("cc", 10)}));
  EXPECT_EQ(reassembler_.buffered_segments(), 1u);
  reassembler_.AdvanceTime(2010, out_);
  EXPECT_EQ(out_.chunks.back(), D("ee", 1010));
  EXPECT_EQ(stats_.reassembly_gap_bytes, 4u);
}

TEST_F(ReassemblerTest, GivesUpTheOldestHoleWhenTheSegmentBoundIsReached) {
  config_.max_reorder_segments = 2;
  Add(100, "a", 1);
  Add(102, "c", 2);
  Add(104, "e", 3);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("a", 1)}));
  Add(106, "g", 4);  // third held segment: the hole at 101 goes
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("a", 1), G(1, 2), D("c", 2)}));
  EXPECT_EQ(reassembler_.buffered_segments(), 2u);
  EXPECT_EQ(stats_.reassembly_overflow_segments, 1u);
  EXPECT_EQ(stats_.reassembly_gap_bytes, 1u);
}

TEST_F(ReassemblerTest, GivesUpHolesWhenTheByteBoundIsReached) {
  config_.max_reorder_bytes = 8;
  Add(100, "a", 1);
  Add(102, "bbbb", 2);
  Add(110, "cccc", 3);
  EXPECT_EQ(reassembler_.buffered_bytes(), 8u);
  Add(120, "dddddd", 4);  // 14 bytes held: give up 101, then 106..109
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("a", 1), G(1, 2), D("bbbb", 2), G(4, 3), D("cccc", 3)}));
  EXPECT_EQ(reassembler_.buffered_bytes(), 6u);
  EXPECT_EQ(stats_.reassembly_overflow_segments, 1u);
  EXPECT_EQ(stats_.reassembly_gap_bytes, 5u);
}

TEST_F(ReassemblerTest, FlushGivesUpEveryHole) {
  Add(100, "a", 1);
  Add(102, "b", 2);
  Add(105, "c", 3, /*wire_len=*/3);
  reassembler_.Flush(out_);
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("a", 1), G(1, 2), D("b", 2), G(2, 3), D("c", 3), G(2, 3)}));
  EXPECT_EQ(stats_.reassembly_gap_bytes, 3u);
  EXPECT_EQ(stats_.uncaptured_bytes, 2u);
  EXPECT_EQ(reassembler_.buffered_segments(), 0u);
}

// Segments cut into a head and a tail (a GSO super-segment longer than snaplen). Each test's
// segments are windows on one known stream, so every expected chunk is a literal piece of it.
class ReassemblerTailTest : public ReassemblerTest {
 protected:
  static constexpr std::string_view kStream = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

  // The segment covering kStream[off, off + wire) of which the first `head` and the last `tail`
  // bytes were captured.
  void Seg(uint32_t off, uint32_t wire, uint32_t head, uint32_t tail, uint64_t ts) {
    reassembler_.AddSegment(isn_ + off, wire, Bytes(kStream.substr(off, head)), ts, out_,
                            Bytes(kStream.substr(off + wire - tail, tail)));
  }

  uint32_t isn_ = 1000;
};

TEST_F(ReassemblerTailTest, DeliversHeadGapTailInOrder) {
  Seg(0, 20, 4, 4, 1);
  Seg(20, 4, 4, 0, 2);
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("0123", 1), G(12, 1), D("ghij", 1, false), D("klmn", 2)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 12u);
  EXPECT_EQ(stats_.reassembly_gap_bytes, 0u);
}

TEST_F(ReassemblerTailTest, HeadAndTailThatMeetLeaveNoGap) {
  Seg(0, 8, 4, 4, 1);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("0123", 1), D("4567", 1, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 0u);
}

TEST_F(ReassemblerTailTest, TailOverlappingTheHeadKeepsItsLastBytes) {
  // Inconsistent input (head + tail > wire_len) is trimmed, never delivered twice.
  reassembler_.AddSegment(isn_, 6, Bytes("0123"), 1, out_, Bytes("2345"));
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("0123", 1), D("45", 1, false)}));
}

TEST_F(ReassemblerTailTest, EmptyHeadStartsWithTheGap) {
  Seg(0, 10, 0, 3, 1);
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{G(7, 1), D("789", 1, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 7u);
}

TEST_F(ReassemblerTailTest, OutOfOrderSegmentIsHeldWithItsTail) {
  Seg(0, 2, 2, 0, 1);
  Seg(4, 10, 2, 3, 2);  // held: offsets 4..13, captured 4..5 and 11..13
  EXPECT_EQ(reassembler_.buffered_segments(), 1u);
  EXPECT_EQ(reassembler_.buffered_bytes(), 5u);
  Seg(2, 2, 2, 0, 3);
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("01", 1), D("23", 3), D("45", 2), G(5, 2), D("bcd", 2, false)}));
  EXPECT_EQ(reassembler_.buffered_bytes(), 0u);
  EXPECT_EQ(stats_.uncaptured_bytes, 5u);
}

TEST_F(ReassemblerTailTest, RetransmissionOverlappingTheHeadDeliversOnlyItsNewPart) {
  Seg(0, 20, 4, 4, 1);  // 0..19
  Seg(2, 24, 6, 4, 2);  // 2..25: head 2..7 old, 8..21 uncaptured (20, 21 new), tail 22..25 new
  EXPECT_EQ(out_.chunks, (std::vector<Chunk>{D("0123", 1), G(12, 1), D("ghij", 1, false), G(2, 2),
                                             D("mnop", 2, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 14u);
}

TEST_F(ReassemblerTailTest, RetransmissionStartingInTheGapFillsWithItsHead) {
  Seg(0, 10, 4, 2, 1);  // 0..9, 4..7 uncaptured
  Seg(6, 8, 8, 0, 2);   // 6..13 whole: 10..13 new
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("0123", 1), G(4, 1), D("89", 1, false), D("abcd", 2, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 4u);
}

TEST_F(ReassemblerTailTest, RetransmissionWhoseOnlyNewBytesAreInItsTail) {
  Seg(0, 10, 10, 0, 1);
  Seg(0, 14, 4, 4, 2);  // head old, no gap left to report, tail 10..13 new
  Seg(0, 16, 4, 6, 3);  // tail 10..15, of which 14..15 new
  Seg(0, 16, 4, 2, 4);  // nothing new: a pure retransmission
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("0123456789", 1), D("abcd", 2, false), D("ef", 3, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 0u);
}

TEST_F(ReassemblerTailTest, HeldSegmentOverlappingWhatWasDeliveredKeepsItsTail) {
  Seg(0, 2, 2, 0, 1);
  Seg(4, 12, 2, 2, 2);   // held: 4..15, captured 4..5 and 14..15
  Seg(2, 10, 10, 0, 3);  // 2..11 fills the hole and covers the held head
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("01", 1), D("23456789ab", 3), G(2, 2), D("ef", 2, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 2u);
}

TEST_F(ReassemblerTailTest, HandlesSequenceWraparound) {
  isn_ = 0xFFFFFFF0u;  // the wrap is at offset 16
  Seg(0, 10, 10, 0, 1);
  Seg(20, 10, 2, 2, 2);  // after the wrap, out of order
  Seg(10, 10, 3, 3, 3);  // straddles the wrap
  Seg(12, 20, 3, 2, 4);  // retransmission from before the wrap: only 30..31 new, in its tail
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("0123456789", 1), D("abc", 3), G(4, 3), D("hij", 3, false),
                                D("kl", 2), G(6, 2), D("st", 2, false), D("uv", 4, false)}));
  EXPECT_EQ(stats_.uncaptured_bytes, 10u);
}

TEST_F(ReassemblerTailTest, TailBytesCountTowardsTheByteBound) {
  config_.max_reorder_bytes = 6;
  Seg(0, 1, 1, 0, 1);
  Seg(2, 10, 3, 3, 2);  // 6 bytes held: at the bound
  EXPECT_EQ(reassembler_.buffered_bytes(), 6u);
  EXPECT_EQ(stats_.reassembly_overflow_segments, 0u);
  Seg(20, 2, 2, 0, 3);  // 8 held: the hole at 1 is given up
  EXPECT_EQ(out_.chunks,
            (std::vector<Chunk>{D("0", 1), G(1, 2), D("234", 2), G(4, 2), D("9ab", 2, false)}));
  EXPECT_EQ(reassembler_.buffered_bytes(), 2u);
  EXPECT_EQ(stats_.reassembly_overflow_segments, 1u);
  EXPECT_EQ(stats_.reassembly_gap_bytes, 1u);
  EXPECT_EQ(stats_.uncaptured_bytes, 4u);
}

// Random windows on a known stream, cut into heads and tails, in random order with copies and
// overlaps (seeded, so a failure reproduces). Whatever the order, the output is the stream: every
// byte delivered once, every data byte the stream's, and every gap byte counted exactly once as
// uncaptured or as given up.
TEST_F(ReassemblerTailTest, RandomOverlapsKeepTheStreamAndTheCountsExact) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    std::string stream(3000, '\0');
    for (char& c : stream) c = static_cast<char>('a' + rng() % 26);
    AnalyzerConfig config;
    config.reorder_timeout_ns = UINT64_MAX;
    AnalyzerStats stats;
    Reassembler r(config, stats);
    ChunkRecorder out;
    const uint32_t isn = static_cast<uint32_t>(rng());
    r.AddSegment(isn, 1, Bytes(std::string_view(stream).substr(0, 1)), 0, out);
    for (int i = 0; i < 60; ++i) {
      const uint32_t off = static_cast<uint32_t>(rng() % 2900);
      const uint32_t wire = 1 + static_cast<uint32_t>(rng() % std::min<uint32_t>(400, 3000 - off));
      const uint32_t head = static_cast<uint32_t>(rng() % (wire + 1));
      const uint32_t tail = static_cast<uint32_t>(rng() % (wire - head + 1));
      const std::string_view sv(stream);
      r.AddSegment(isn + off, wire, Bytes(sv.substr(off, head)), static_cast<uint64_t>(i), out,
                   Bytes(sv.substr(off + wire - tail, tail)));
    }
    r.Flush(out);
    uint64_t at = 0, gaps = 0;
    for (const Chunk& c : out.chunks) {
      if (c.gap) {
        gaps += c.gap_len;
        at += c.gap_len;
        continue;
      }
      ASSERT_EQ(c.data, stream.substr(at, c.data.size())) << "seed " << seed << " at " << at;
      at += c.data.size();
    }
    EXPECT_EQ(gaps, stats.uncaptured_bytes + stats.reassembly_gap_bytes) << "seed " << seed;
    EXPECT_EQ(r.buffered_bytes(), 0u);
    EXPECT_LE(at, stream.size());
  }
}

}  // namespace
}  // namespace ta::analyzer::tcp
