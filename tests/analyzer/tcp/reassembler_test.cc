#include "analyzer/tcp/reassembler.h"

#include <gtest/gtest.h>

#include <ostream>
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

}  // namespace
}  // namespace ta::analyzer::tcp
