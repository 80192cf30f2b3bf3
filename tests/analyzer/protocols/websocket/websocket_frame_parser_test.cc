#include "analyzer/protocols/websocket/frame_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/analyzer/protocols/websocket/websocket_test_support.h"

namespace ta::analyzer::protocols::websocket {
namespace {

using analyzer::testing::kC2S;
using analyzer::testing::kS2C;
using analyzer::testing::RandomCuts;
using namespace analyzer::testing::websocket;  // NOLINT(build/namespaces): test vocabulary

// One parsed frame as the observer saw it.
struct Seen {
  bool fin = false;
  bool rsv1 = false;
  uint8_t opcode = 0;
  bool masked = false;
  uint64_t payload_len = 0;
  uint8_t header_len = 0;
  std::optional<uint16_t> close_code;
  uint64_t end_ts = 0;
  bool operator==(const Seen&) const = default;
};

void PrintTo(const Seen& s, std::ostream* os) {
  *os << "{op=" << int{s.opcode} << (s.fin ? " fin" : "") << (s.rsv1 ? " rsv1" : "")
      << (s.masked ? " masked" : "") << " len=" << s.payload_len << " hdr=" << int{s.header_len}
      << " code=" << (s.close_code ? std::to_string(*s.close_code) : "none") << " ts=" << s.end_ts
      << "}";
}

class RecordingObserver final : public FrameObserver {
 public:
  FrameError OnFrameStart(const FrameHeader& h) override {
    ++started;
    return h.opcode == reject_opcode ? FrameError::kUnexpectedContinuation : FrameError::kNone;
  }
  void OnFrameEnd(const FrameHeader& h, std::optional<uint16_t> close_code,
                  uint64_t ts_ns) override {
    frames.push_back(
        {h.fin, h.rsv1, h.opcode, h.masked, h.payload_len, h.header_len, close_code, ts_ns});
  }
  int reject_opcode = -1;  // OnFrameStart rejects this opcode
  int started = 0;
  std::vector<Seen> frames;
};

struct ParserUnderTest {
  explicit ParserUnderTest(Direction dir) : parser(dir, stats, observer) {}
  AnalyzerStats stats;
  RecordingObserver observer;
  FrameParser parser;
};

// RFC 6455 §5.7 examples, byte for byte.
const std::string kUnmaskedHello = Lit({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
const std::string kMaskedHello =
    Lit({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
const std::string kFragmentHel = Lit({0x01, 0x03, 0x48, 0x65, 0x6c});
const std::string kFragmentLo = Lit({0x80, 0x02, 0x6c, 0x6f});
const std::string kUnmaskedPing = Lit({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
const std::string kMaskedPong =
    Lit({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
const std::string kBinary256Header = Lit({0x82, 0x7E, 0x01, 0x00});
const std::string kBinary64KHeader =
    Lit({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00});

TEST(WebSocketFrameParserTest, ParsesTheRfcExamples) {
  ParserUnderTest server(kS2C);
  Deliver(server.parser, kUnmaskedHello + kFragmentHel + kFragmentLo + kUnmaskedPing, 10);
  Deliver(server.parser, kBinary256Header + std::string(256, 'b'), 20);
  Deliver(server.parser, kBinary64KHeader + std::string(65536, 'B'), 30);
  EXPECT_EQ(server.observer.frames,
            (std::vector<Seen>{{true, false, 0x1, false, 5, 2, std::nullopt, 10},
                               {false, false, 0x1, false, 3, 2, std::nullopt, 10},
                               {true, false, 0x0, false, 2, 2, std::nullopt, 10},
                               {true, false, 0x9, false, 5, 2, std::nullopt, 10},
                               {true, false, 0x2, false, 256, 4, std::nullopt, 20},
                               {true, false, 0x2, false, 65536, 10, std::nullopt, 30}}));
  EXPECT_EQ(server.stats.websocket.frames, 6u);
  EXPECT_EQ(server.stats.websocket.parse_errors, 0u);

  ParserUnderTest client(kC2S);
  Deliver(client.parser, kMaskedHello + kMaskedPong, 5);
  EXPECT_EQ(client.observer.frames,
            (std::vector<Seen>{{true, false, 0x1, true, 5, 6, std::nullopt, 5},
                               {true, false, 0xA, true, 5, 6, std::nullopt, 5}}));
  EXPECT_EQ(client.stats.websocket.parse_errors, 0u);
  EXPECT_FALSE(client.parser.stopped());
}

TEST(WebSocketFrameParserTest, SplitsAnywhereGiveTheSameFrames) {
  // Every header form: 7-bit, 16-bit, 64-bit lengths, masked and not, close codes.
  const std::string stream =
      Frame(kFin | kText, "Hello", true) + Frame(kFin | kBinary, std::string(300, 'x'), true) +
      Frame(kFin | kBinary, std::string(70000, 'y'), true) +
      Frame(kFin | kClose, ClosePayload(4001, "bye"), true) + Frame(kFin | kPing, "", true) +
      Frame(kFin | kBinary, "z", true, Length::k64);
  ParserUnderTest whole(kC2S);
  Deliver(whole.parser, stream, 7);
  ASSERT_EQ(whole.observer.frames.size(), 6u);
  EXPECT_EQ(whole.observer.frames[3].close_code, 4001);
  EXPECT_EQ(whole.observer.frames[5].header_len, 14);
  // The non-minimal 64-bit length of the last frame is the only error.
  EXPECT_EQ(whole.stats.websocket.parse_errors, 1u);
  EXPECT_EQ(whole.parser.last_error(), FrameError::kNonMinimalLength);

  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    ParserUnderTest split(kC2S);
    Deliver(split.parser, stream, 7, RandomCuts(rng, stream.size(), 40));
    ASSERT_EQ(split.observer.frames, whole.observer.frames) << "seed " << seed;
    ASSERT_EQ(split.stats.websocket.frames, 6u) << "seed " << seed;
    ASSERT_EQ(split.stats.websocket.parse_errors, 1u) << "seed " << seed;
  }
  // One byte at a time: every header split at every offset.
  ParserUnderTest bytewise(kC2S);
  for (size_t i = 0; i < stream.size(); ++i) Deliver(bytewise.parser, stream.substr(i, 1), 7);
  EXPECT_EQ(bytewise.observer.frames, whole.observer.frames);
}

TEST(WebSocketFrameParserTest, UnmasksTheCloseCode) {
  // 1000 masked with 0x37 0xfa: 0x03 ^ 0x37, 0xe8 ^ 0xfa.
  const std::string masked_close = Lit({0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x34, 0x12});
  ParserUnderTest client(kC2S);
  Deliver(client.parser, masked_close, 1);
  ASSERT_EQ(client.observer.frames.size(), 1u);
  EXPECT_EQ(client.observer.frames[0].close_code, 1000);

  ParserUnderTest server(kS2C);
  Deliver(server.parser, Lit({0x88, 0x00}) + Lit({0x88, 0x02, 0x0f, 0xa1}), 2);
  ASSERT_EQ(server.observer.frames.size(), 2u);
  EXPECT_EQ(server.observer.frames[0].close_code, std::nullopt);  // no body, no code (§7.1.5)
  EXPECT_EQ(server.observer.frames[1].close_code, 4001);
}

TEST(WebSocketFrameParserTest, CountsGapBytesInsidePayloads) {
  ParserUnderTest p(kS2C);
  Deliver(p.parser, Header(kFin | kBinary, 1000, false) + std::string(100, 'a'), 1);
  Gap(p.parser, 800, 2);
  Deliver(p.parser, std::string(100, 'a'), 3);
  // A gap that ends exactly at a frame boundary keeps framing too.
  Deliver(p.parser, Header(kFin | kBinary, 50, false) + std::string(10, 'a'), 4);
  Gap(p.parser, 40, 5);
  Deliver(p.parser, kUnmaskedHello, 6);
  EXPECT_EQ(p.observer.frames,
            (std::vector<Seen>{{true, false, 0x2, false, 1000, 4, std::nullopt, 3},
                               {true, false, 0x2, false, 50, 2, std::nullopt, 5},
                               {true, false, 0x1, false, 5, 2, std::nullopt, 6}}));
  EXPECT_FALSE(p.parser.stopped());
  EXPECT_EQ(p.stats.parser_discarded_bytes, 0u);
}

TEST(WebSocketFrameParserTest, ACloseCodeInAGapIsUnknown) {
  for (size_t captured : {0u, 1u}) {
    ParserUnderTest p(kS2C);
    const std::string body = ClosePayload(1001, "going away");
    Deliver(p.parser, Header(kFin | kClose, body.size(), false) + body.substr(0, captured), 1);
    Gap(p.parser, 2 - captured, 2);
    Deliver(p.parser, body.substr(2), 3);
    ASSERT_EQ(p.observer.frames.size(), 1u) << captured;
    EXPECT_EQ(p.observer.frames[0].close_code, std::nullopt) << captured;
    EXPECT_EQ(p.observer.frames[0].payload_len, body.size()) << captured;
  }
  // A gap after the code does not hide it.
  ParserUnderTest p(kS2C);
  Deliver(p.parser, Header(kFin | kClose, 12, false) + ClosePayload(1001), 1);
  Gap(p.parser, 10, 2);
  ASSERT_EQ(p.observer.frames.size(), 1u);
  EXPECT_EQ(p.observer.frames[0].close_code, 1001);
  EXPECT_EQ(p.observer.frames[0].end_ts, 2u);
}

TEST(WebSocketFrameParserTest, AGapInAHeaderStopsTheDirection) {
  // Gap at a frame boundary: the next header is unknown.
  ParserUnderTest boundary(kS2C);
  Deliver(boundary.parser, kUnmaskedHello, 1);
  Gap(boundary.parser, 7, 2);
  Deliver(boundary.parser, kUnmaskedHello, 3);
  EXPECT_EQ(boundary.observer.frames.size(), 1u);
  EXPECT_TRUE(boundary.parser.stopped());
  EXPECT_EQ(boundary.parser.stop_reason(), FrameError::kGapInHeader);
  EXPECT_EQ(boundary.stats.websocket.framing_lost, 1u);
  EXPECT_EQ(boundary.stats.websocket.parse_errors, 0u);  // not the peer's fault
  EXPECT_EQ(boundary.stats.parser_discarded_bytes, 7u);  // the Hello after the gap

  // Gap in the middle of a header: the 3 header bytes before it are discarded too.
  ParserUnderTest middle(kC2S);
  const std::string hello = Frame(kFin | kText, "Hello", true);
  Deliver(middle.parser, hello.substr(0, 3), 1);
  Gap(middle.parser, 3, 2);
  Deliver(middle.parser, hello.substr(6) + hello, 3);
  EXPECT_TRUE(middle.observer.frames.empty());
  EXPECT_EQ(middle.stats.parser_discarded_bytes, 3u + 5u + 11u);

  // A gap running past the end of a payload: the frame completes, then framing is lost.
  ParserUnderTest past(kS2C);
  Deliver(past.parser, Header(kFin | kBinary, 100, false) + std::string(10, 'a'), 1);
  Gap(past.parser, 95, 2);
  EXPECT_EQ(past.observer.frames,
            (std::vector<Seen>{{true, false, 0x2, false, 100, 2, std::nullopt, 2}}));
  EXPECT_TRUE(past.parser.stopped());
  EXPECT_EQ(past.stats.websocket.framing_lost, 1u);
}

struct Violation {
  const char* name;
  Direction dir;
  std::string bytes;
  FrameError error;
};

TEST(WebSocketFrameParserTest, FramingViolationsStopTheDirection) {
  const std::vector<Violation> cases = {
      {"rsv2", kS2C, Lit({0xA1, 0x00}), FrameError::kReservedBits},
      {"rsv3", kS2C, Lit({0x91, 0x00}), FrameError::kReservedBits},
      {"opcode 3", kS2C, Lit({0x83, 0x00}), FrameError::kReservedOpcode},
      {"opcode 7", kS2C, Lit({0x87, 0x00}), FrameError::kReservedOpcode},
      {"opcode B", kS2C, Lit({0x8B, 0x00}), FrameError::kReservedOpcode},
      {"opcode F", kC2S, Lit({0x8F, 0x80, 1, 2, 3, 4}), FrameError::kReservedOpcode},
      {"64-bit msb", kS2C, Lit({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1}), FrameError::kLengthMsbSet},
      {"ping 126", kS2C, Header(kFin | kPing, 126, false) + std::string(126, 'p'),
       FrameError::kControlTooLong},
      {"close 16-bit", kS2C, Lit({0x88, 0x7E, 0x00, 0x02, 0x03, 0xe8}),
       FrameError::kControlTooLong},
      {"fragmented pong", kS2C, Lit({0x0A, 0x00}), FrameError::kControlFragmented},
      {"observer", kS2C, Lit({0x80, 0x01, 0x41}), FrameError::kUnexpectedContinuation},
  };
  for (const Violation& c : cases) {
    ParserUnderTest p(c.dir);
    p.observer.reject_opcode = 0;  // continuation: stands for a message-level violation
    const std::string after = Frame(kFin | kText, "after", c.dir == kC2S);
    Deliver(p.parser, c.bytes, 1);
    Deliver(p.parser, after, 2);
    EXPECT_TRUE(p.parser.stopped()) << c.name;
    EXPECT_EQ(p.parser.stop_reason(), c.error) << c.name;
    EXPECT_TRUE(p.observer.frames.empty()) << c.name;
    EXPECT_EQ(p.stats.websocket.frames, 0u) << c.name;
    EXPECT_EQ(p.stats.websocket.parse_errors, 1u) << c.name;
    EXPECT_EQ(p.stats.websocket.framing_lost, 1u) << c.name;
    EXPECT_EQ(p.stats.parser_discarded_bytes, c.bytes.size() + after.size()) << c.name;
    EXPECT_FALSE(p.parser.Finish()) << c.name;
  }
}

TEST(WebSocketFrameParserTest, RejectsGarbageFromItsFirstTwoBytes) {
  // 'G' = 0x47: RSV1 and reserved opcode 7. Rejected before any more bytes are needed.
  ParserUnderTest p(kC2S);
  Deliver(p.parser, "GE", 1);
  EXPECT_EQ(p.parser.stop_reason(), FrameError::kReservedOpcode);
  Deliver(p.parser, "T / HTTP/1.1\r\n\r\n", 2);
  EXPECT_EQ(p.stats.parser_discarded_bytes, 18u);
  EXPECT_EQ(p.observer.started, 0);
}

TEST(WebSocketFrameParserTest, CountsRulesThatKeepFraming) {
  const std::vector<Violation> cases = {
      {"unmasked client frame", kC2S, kUnmaskedHello, FrameError::kMaskingRule},
      {"masked server frame", kS2C, kMaskedHello, FrameError::kMaskingRule},
      {"16-bit length 5", kS2C, Frame(kFin | kText, "Hello", false, Length::k16),
       FrameError::kNonMinimalLength},
      {"64-bit length 300", kS2C, Frame(kFin | kText, std::string(300, 'x'), false, Length::k64),
       FrameError::kNonMinimalLength},
      {"rsv1 on ping", kS2C, Frame(kFin | kRsv1 | kPing, "", false), FrameError::kMisplacedRsv1},
      {"one-byte close", kS2C, Frame(kFin | kClose, "x", false), FrameError::kOneByteClosePayload},
  };
  for (const Violation& c : cases) {
    ParserUnderTest p(c.dir);
    Deliver(p.parser, c.bytes + c.bytes, 1);
    EXPECT_FALSE(p.parser.stopped()) << c.name;
    EXPECT_EQ(p.parser.last_error(), c.error) << c.name;
    EXPECT_EQ(p.observer.frames.size(), 2u) << c.name;
    EXPECT_EQ(p.stats.websocket.frames, 2u) << c.name;
    EXPECT_EQ(p.stats.websocket.parse_errors, 2u) << c.name;  // once per frame
    EXPECT_EQ(p.stats.websocket.framing_lost, 0u) << c.name;
  }
}

TEST(WebSocketFrameParserTest, FinishReportsACutFrame) {
  ParserUnderTest between(kS2C);
  Deliver(between.parser, kUnmaskedHello, 1);
  EXPECT_FALSE(between.parser.Finish());
  Deliver(between.parser, kUnmaskedHello, 2);  // ignored after Finish
  EXPECT_EQ(between.observer.frames.size(), 1u);
  EXPECT_EQ(between.stats.parser_discarded_bytes, 0u);

  ParserUnderTest in_header(kS2C);
  Deliver(in_header.parser, kBinary64KHeader.substr(0, 5), 1);
  EXPECT_TRUE(in_header.parser.Finish());

  ParserUnderTest in_payload(kS2C);
  Deliver(in_payload.parser, kUnmaskedHello.substr(0, 4), 1);
  EXPECT_TRUE(in_payload.parser.Finish());
}

TEST(WebSocketFrameParserTest, LargestLengthDoesNotOverflow) {
  // 2^63 - 1 bytes, all in gaps: the counters only subtract.
  const uint64_t len = (uint64_t{1} << 63) - 1;
  ParserUnderTest p(kS2C);
  Deliver(p.parser, Header(kFin | kBinary, len, false), 1);
  Gap(p.parser, len - 1, 2);
  EXPECT_TRUE(p.observer.frames.empty());
  Gap(p.parser, 1, 3);
  ASSERT_EQ(p.observer.frames.size(), 1u);
  EXPECT_EQ(p.observer.frames[0].payload_len, len);
  EXPECT_FALSE(p.parser.stopped());
}

}  // namespace
}  // namespace ta::analyzer::protocols::websocket
