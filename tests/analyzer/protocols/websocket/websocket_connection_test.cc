#include "analyzer/protocols/websocket/websocket_connection.h"

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
using analyzer::testing::TestFlow;
using namespace analyzer::testing::websocket;  // NOLINT(build/namespaces): test vocabulary

using Type = WebSocketMessageType;

WebSocketSession Session(uint64_t start, uint64_t end, std::optional<uint16_t> code,
                         std::optional<Direction> initiator, bool clean) {
  WebSocketSession s;
  s.flow = TestFlow();
  s.route = "/ws/chat";
  s.start_ns = start;
  s.end_ns = end;
  s.close_code = code;
  s.close_initiator = initiator;
  s.clean_close = clean;
  return s;
}

// Bytes one direction sends at one time.
struct Send {
  Direction dir;
  std::string bytes;
  uint64_t ts;
};

// Delivers `sends` in order, each cut at random points when `rng` is given, and closes at 1000.
void Replay(Harness& h, const std::vector<Send>& sends, std::mt19937* rng = nullptr) {
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
  for (const Send& s : sends) {
    const std::vector<size_t> cuts =
        rng != nullptr ? RandomCuts(*rng, s.bytes.size(), 12) : std::vector<size_t>{};
    Deliver(conn.stream(s.dir), s.bytes, s.ts, cuts);
  }
  conn.Close(1000);
}

// A conversation with every frame type, both directions, 7/16/64-bit lengths, a fragmented
// message with a ping between its fragments, and the closing handshake.
std::vector<Send> Conversation() {
  return {
      {kC2S, Frame(kFin | kText, "Hello", true), 110},
      {kS2C, Frame(kFin | kText, "Hello", false), 120},
      {kC2S, Frame(kFin | kBinary, std::string(256, 'b'), true), 130},
      {kS2C, Frame(kFin | kBinary, std::string(65536, 'B'), false), 140},
      {kS2C, Frame(kFin | kPing, "Hello", false), 150},
      {kC2S, Frame(kFin | kPong, "Hello", true), 160},
      {kC2S, Frame(kText, "Hel", true) + Frame(kFin | kPing, "", true), 170},
      {kC2S, Frame(kFin | kContinuation, "lo", true), 180},
      {kC2S, Frame(kFin | kClose, ClosePayload(1000), true), 190},
      {kS2C, Frame(kFin | kClose, ClosePayload(1000), false), 200},
  };
}

std::vector<WebSocketMessage> ConversationMessages() {
  return {
      Msg(kC2S, Type::kText, 5, 110),
      Msg(kS2C, Type::kText, 5, 120),
      Msg(kC2S, Type::kBinary, 256, 130),
      Msg(kS2C, Type::kBinary, 65536, 140),
      Msg(kS2C, Type::kPing, 5, 150),
      Msg(kC2S, Type::kPong, 5, 160),
      Msg(kC2S, Type::kPing, 0, 170),
      Msg(kC2S, Type::kText, 5, 180, 2),
      Msg(kC2S, Type::kClose, 2, 190, 1, false, 1000),
      Msg(kS2C, Type::kClose, 2, 200, 1, false, 1000),
  };
}

TEST(WebSocketConnectionTest, ReportsMessagesBothWaysAndTheSession) {
  Harness h;
  Replay(h, Conversation());
  EXPECT_EQ(h.sink.messages, ConversationMessages());
  EXPECT_EQ(h.sink.sessions, (std::vector<WebSocketSession>{Session(100, 1000, 1000, kC2S, true)}));
  EXPECT_EQ(h.stats.websocket.sessions, 1u);
  EXPECT_EQ(h.stats.websocket.frames, 11u);
  EXPECT_EQ(h.stats.websocket.messages, 10u);
  EXPECT_EQ(h.stats.websocket.parse_errors, 0u);
  EXPECT_EQ(h.stats.websocket.framing_lost, 0u);
  EXPECT_EQ(h.stats.websocket.truncated_messages, 0u);
  EXPECT_EQ(h.stats.parser_discarded_bytes, 0u);
}

TEST(WebSocketConnectionTest, AnySplitGivesTheSameResult) {
  for (uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 rng(seed);
    Harness h;
    Replay(h, Conversation(), &rng);
    ASSERT_EQ(h.sink.messages, ConversationMessages()) << "seed " << seed;
    ASSERT_EQ(h.sink.sessions,
              (std::vector<WebSocketSession>{Session(100, 1000, 1000, kC2S, true)}))
        << "seed " << seed;
    ASSERT_EQ(h.stats.websocket.frames, 11u) << "seed " << seed;
    ASSERT_EQ(h.stats.websocket.parse_errors, 0u) << "seed " << seed;
  }
}

TEST(WebSocketConnectionTest, RfcExamplesByteForByte) {
  Harness h;
  Replay(h, {
                {kS2C, Lit({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), 1},
                {kC2S, Lit({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), 2},
                {kS2C, Lit({0x01, 0x03, 0x48, 0x65, 0x6c}), 3},
                {kS2C, Lit({0x80, 0x02, 0x6c, 0x6f}), 4},
                {kS2C, Lit({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), 5},
                {kC2S, Lit({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}), 6},
                {kS2C, Lit({0x82, 0x7E, 0x01, 0x00}) + std::string(256, '\0'), 7},
                {kS2C, Lit({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}) + std::string(65536, '\0'), 8},
            });
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{
                                 Msg(kS2C, Type::kText, 5, 1),
                                 Msg(kC2S, Type::kText, 5, 2),
                                 Msg(kS2C, Type::kText, 5, 4, 2),
                                 Msg(kS2C, Type::kPing, 5, 5),
                                 Msg(kC2S, Type::kPong, 5, 6),
                                 Msg(kS2C, Type::kBinary, 256, 7),
                                 Msg(kS2C, Type::kBinary, 65536, 8),
                             }));
  EXPECT_EQ(h.stats.websocket.parse_errors, 0u);
}

TEST(WebSocketConnectionTest, ServerInitiatedCloseWithAnApplicationCode) {
  Harness h;
  Replay(h, {
                {kS2C, Frame(kFin | kClose, ClosePayload(4001, "kicked"), false), 300},
            });
  EXPECT_EQ(h.sink.messages,
            (std::vector<WebSocketMessage>{Msg(kS2C, Type::kClose, 8, 300, 1, false, 4001)}));
  // The client never answered: not a clean close.
  EXPECT_EQ(h.sink.sessions,
            (std::vector<WebSocketSession>{Session(100, 1000, 4001, kS2C, false)}));
}

TEST(WebSocketConnectionTest, CloseWithoutACode) {
  Harness h;
  Replay(h, {
                {kC2S, Frame(kFin | kClose, "", true), 300},
                {kS2C, Frame(kFin | kClose, ClosePayload(1000), false), 310},
            });
  EXPECT_EQ(h.sink.messages,
            (std::vector<WebSocketMessage>{Msg(kC2S, Type::kClose, 0, 300),
                                           Msg(kS2C, Type::kClose, 2, 310, 1, false, 1000)}));
  // The first close frame decides the code: it had none.
  EXPECT_EQ(h.sink.sessions,
            (std::vector<WebSocketSession>{Session(100, 1000, std::nullopt, kC2S, true)}));
}

TEST(WebSocketConnectionTest, SessionWithoutACloseFrame) {
  Harness h;
  Replay(h, {{kC2S, Frame(kFin | kText, "hi", true), 200}});
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{Msg(kC2S, Type::kText, 2, 200)}));
  EXPECT_EQ(h.sink.sessions,
            (std::vector<WebSocketSession>{Session(100, 1000, std::nullopt, std::nullopt, false)}));
  EXPECT_EQ(h.stats.websocket.truncated_messages, 0u);
}

TEST(WebSocketConnectionTest, EmptyConnection) {
  Harness h;
  Replay(h, {});
  EXPECT_TRUE(h.sink.messages.empty());
  EXPECT_EQ(h.sink.sessions,
            (std::vector<WebSocketSession>{Session(100, 1000, std::nullopt, std::nullopt, false)}));
  EXPECT_EQ(h.stats.websocket.sessions, 1u);
}

TEST(WebSocketConnectionTest, CloseReportsOnceAndIgnoresLaterBytes) {
  Harness h;
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
  conn.Close(500);
  Deliver(conn.stream(kC2S), Frame(kFin | kText, "late", true), 600);
  conn.Close(700);
  EXPECT_TRUE(h.sink.messages.empty());
  EXPECT_EQ(h.sink.sessions,
            (std::vector<WebSocketSession>{Session(100, 500, std::nullopt, std::nullopt, false)}));
}

TEST(WebSocketConnectionTest, MessagesCutByTheEndOfTheConnection) {
  Harness h;
  Replay(h, {
                // A fragmented message without its last fragment.
                {kC2S, Frame(kText, "Hel", true), 200},
                // A frame whose payload never completes.
                {kS2C, Header(kFin | kBinary, 1000, false) + "abc", 210},
            });
  EXPECT_TRUE(h.sink.messages.empty());
  EXPECT_EQ(h.stats.websocket.truncated_messages, 2u);
  EXPECT_EQ(h.stats.websocket.frames, 2u);

  Harness header;
  Replay(header, {{kS2C, Lit({0x82, 0x7E, 0x01}), 200}});  // half a header
  EXPECT_EQ(header.stats.websocket.truncated_messages, 1u);
}

TEST(WebSocketConnectionTest, FragmentedMessageWithInterleavedControlFrames) {
  Harness h;
  Replay(h, {
                {kS2C, Frame(kBinary, std::string(1000, 'a'), false), 200},
                {kS2C, Frame(kFin | kPing, "p", false), 210},
                {kS2C, Frame(kContinuation, std::string(2000, 'b'), false), 220},
                {kS2C, Frame(kFin | kPong, "", false), 230},
                {kS2C, Frame(kContinuation, "", false), 240},  // empty fragments are allowed
                {kS2C, Frame(kFin | kContinuation, std::string(70000, 'c'), false), 250},
                {kS2C, Frame(kFin | kText, "next", false), 260},
            });
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{
                                 Msg(kS2C, Type::kPing, 1, 210),
                                 Msg(kS2C, Type::kPong, 0, 230),
                                 Msg(kS2C, Type::kBinary, 73000, 250, 4),
                                 Msg(kS2C, Type::kText, 4, 260),
                             }));
  EXPECT_EQ(h.stats.websocket.frames, 7u);
}

TEST(WebSocketConnectionTest, Rsv1MarksACompressedMessage) {
  Harness h;
  Replay(h, {
                // "Hello" compressed (RFC 7692 §7.2.3.1).
                {kC2S,
                 Frame(kFin | kRsv1 | kText, Lit({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}), true),
                 200},
                {kS2C, Frame(kRsv1 | kBinary, "abc", false), 210},
                {kS2C, Frame(kFin | kContinuation, "de", false), 220},
                {kS2C, Frame(kFin | kText, "plain", false), 230},
            });
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{
                                 Msg(kC2S, Type::kText, 7, 200, 1, true),
                                 Msg(kS2C, Type::kBinary, 5, 220, 2, true),
                                 Msg(kS2C, Type::kText, 5, 230),
                             }));
  EXPECT_EQ(h.stats.websocket.parse_errors, 0u);
}

TEST(WebSocketConnectionTest, GapInsideAPayloadKeepsExactBytes) {
  Harness h;
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
  // 64 KiB binary as MSS segments captured to a 1024-byte snaplen: 424 bytes of each missing.
  const std::string frame = Frame(kFin | kBinary, std::string(65536, 'x'), false);
  uint64_t ts = 200;
  for (size_t off = 0; off < frame.size(); off += 1448) {
    const size_t len = std::min<size_t>(1448, frame.size() - off);
    const size_t captured = std::min<size_t>(len, 1024);
    Deliver(conn.stream(kS2C), std::string_view(frame).substr(off, captured), ts);
    if (len > captured) Gap(conn.stream(kS2C), len - captured, ts);
    ts += 10;
  }
  Deliver(conn.stream(kS2C), Frame(kFin | kText, "after", false), ts);
  conn.Close(ts);
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{
                                 Msg(kS2C, Type::kBinary, 65536, ts - 10),
                                 Msg(kS2C, Type::kText, 5, ts),
                             }));
  EXPECT_EQ(h.stats.websocket.framing_lost, 0u);
}

TEST(WebSocketConnectionTest, GapInAHeaderStopsOnlyThatDirection) {
  Harness g;
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, g.ctx);
  Deliver(conn.stream(kS2C), Frame(kFin | kText, "one", false), 200);
  Gap(conn.stream(kS2C), 5, 210);  // a whole "two" frame lost
  Deliver(conn.stream(kS2C), Frame(kFin | kText, "three", false), 220);
  Deliver(conn.stream(kC2S), Frame(kFin | kText, "ok", true), 230);
  Deliver(conn.stream(kC2S), Frame(kFin | kClose, ClosePayload(1000), true), 240);
  Deliver(conn.stream(kS2C), Frame(kFin | kClose, ClosePayload(1000), false), 250);
  conn.Close(260);
  EXPECT_EQ(g.sink.messages, (std::vector<WebSocketMessage>{
                                 Msg(kS2C, Type::kText, 3, 200),
                                 Msg(kC2S, Type::kText, 2, 230),
                                 Msg(kC2S, Type::kClose, 2, 240, 1, false, 1000),
                             }));
  // The server's close frame was in the lost direction: not seen, so not a clean close.
  EXPECT_EQ(g.sink.sessions, (std::vector<WebSocketSession>{Session(100, 260, 1000, kC2S, false)}));
  EXPECT_EQ(g.stats.websocket.framing_lost, 1u);
  EXPECT_EQ(g.stats.websocket.parse_errors, 0u);
  EXPECT_EQ(g.stats.parser_discarded_bytes, 7u + 4u);
  EXPECT_TRUE(conn.parser(kS2C).stopped());
  EXPECT_FALSE(conn.parser(kC2S).stopped());
}

TEST(WebSocketConnectionTest, CloseCodeInAGapIsEmpty) {
  Harness h;
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
  const std::string close = Frame(kFin | kClose, ClosePayload(1001, "bye"), true);
  Deliver(conn.stream(kC2S), close.substr(0, 6), 200);  // the header
  Gap(conn.stream(kC2S), 2, 200);                       // the code
  Deliver(conn.stream(kC2S), close.substr(8), 210);     // the reason
  conn.Close(300);
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{Msg(kC2S, Type::kClose, 5, 210)}));
  EXPECT_EQ(h.sink.sessions,
            (std::vector<WebSocketSession>{Session(100, 300, std::nullopt, kC2S, false)}));
}

struct ViolationCase {
  const char* name;
  Direction dir;
  std::string bytes;  // sent after a valid "ok" text message
  FrameError error;
};

TEST(WebSocketConnectionTest, EachViolationStopsItsDirection) {
  const std::vector<ViolationCase> cases = {
      {"continuation without a message", kS2C, Frame(kFin | kContinuation, "x", false),
       FrameError::kUnexpectedContinuation},
      {"text inside a message", kS2C, Frame(kText, "a", false) + Frame(kFin | kText, "b", false),
       FrameError::kUnexpectedDataFrame},
      {"binary inside a message", kC2S,
       Frame(kBinary, "a", true) + Frame(kFin | kPing, "", true) + Frame(kFin | kBinary, "b", true),
       FrameError::kUnexpectedDataFrame},
      {"reserved opcode 3", kS2C, Frame(kFin | 0x3, "x", false), FrameError::kReservedOpcode},
      {"reserved opcode B", kC2S, Frame(kFin | 0xB, "x", true), FrameError::kReservedOpcode},
      {"rsv2", kS2C, Frame(kFin | kRsv2 | kText, "x", false), FrameError::kReservedBits},
      {"rsv3", kC2S, Frame(kFin | kRsv3 | kBinary, "x", true), FrameError::kReservedBits},
      {"64-bit msb", kS2C, Lit({0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}),
       FrameError::kLengthMsbSet},
      {"ping too long", kC2S, Frame(kFin | kPing, std::string(126, 'p'), true),
       FrameError::kControlTooLong},
      {"fragmented close", kS2C, Frame(kClose, ClosePayload(1000), false),
       FrameError::kControlFragmented},
  };
  for (const ViolationCase& c : cases) {
    Harness h;
    WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
    const bool masked = c.dir == kC2S;
    const Direction other = c.dir == kC2S ? kS2C : kC2S;
    Deliver(conn.stream(c.dir), Frame(kFin | kText, "ok", masked), 200);
    const std::string later = Frame(kFin | kText, "later", masked);
    Deliver(conn.stream(c.dir), c.bytes + later, 210);
    Deliver(conn.stream(other), Frame(kFin | kText, "other", !masked), 220);
    conn.Close(300);
    EXPECT_EQ(conn.parser(c.dir).stop_reason(), c.error) << c.name;
    ASSERT_EQ(h.sink.messages.size(),
              2u + (c.error == FrameError::kUnexpectedDataFrame && c.dir == kC2S))
        << c.name;
    EXPECT_EQ(h.sink.messages.front(), Msg(c.dir, Type::kText, 2, 200)) << c.name;
    EXPECT_EQ(h.sink.messages.back(), Msg(other, Type::kText, 5, 220)) << c.name;
    EXPECT_EQ(h.stats.websocket.parse_errors, 1u) << c.name;
    EXPECT_EQ(h.stats.websocket.framing_lost, 1u) << c.name;
    EXPECT_EQ(h.stats.websocket.truncated_messages, 0u) << c.name;
    EXPECT_EQ(h.sink.sessions.size(), 1u) << c.name;
  }
}

TEST(WebSocketConnectionTest, ViolationDiscardsTheRestOfTheDirection) {
  Harness h;
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
  const std::string bad = Frame(kFin | kContinuation, "xyz", false);  // 5 bytes
  Deliver(conn.stream(kS2C), bad + Frame(kFin | kText, "abc", false), 200);
  Gap(conn.stream(kS2C), 1000, 210);  // already counted by the reassembler: not discarded
  Deliver(conn.stream(kS2C), std::string(20, 'z'), 220);
  conn.Close(300);
  EXPECT_EQ(h.stats.parser_discarded_bytes, 5u + 5u + 20u);
  EXPECT_TRUE(h.sink.messages.empty());
}

TEST(WebSocketConnectionTest, MaskingViolationsAreCountedAndParsingContinues) {
  Harness h;
  Replay(h, {
                {kC2S, Frame(kFin | kText, "unmasked", false), 200},
                {kS2C, Frame(kFin | kBinary, "masked", true), 210},
                {kC2S, Frame(kFin | kText, "fine", true), 220},
                {kS2C, Frame(kFin | kText, "fine", false), 230},
            });
  EXPECT_EQ(h.sink.messages, (std::vector<WebSocketMessage>{
                                 Msg(kC2S, Type::kText, 8, 200),
                                 Msg(kS2C, Type::kBinary, 6, 210),
                                 Msg(kC2S, Type::kText, 4, 220),
                                 Msg(kS2C, Type::kText, 4, 230),
                             }));
  EXPECT_EQ(h.stats.websocket.parse_errors, 2u);
  EXPECT_EQ(h.stats.websocket.framing_lost, 0u);
  EXPECT_EQ(h.stats.websocket.frames, 4u);
}

TEST(WebSocketConnectionTest, GarbageIsDiscardedNotReported) {
  Harness h;
  const std::string http = "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n";
  Replay(h, {
                {kC2S, http, 200},
                {kS2C, "HTTP/1.1 200 OK\r\n\r\n", 210},
            });
  EXPECT_TRUE(h.sink.messages.empty());
  EXPECT_EQ(h.stats.websocket.parse_errors, 2u);
  EXPECT_EQ(h.stats.websocket.framing_lost, 2u);
  EXPECT_EQ(h.stats.parser_discarded_bytes, http.size() + 19u);

  // Random bytes: whatever they parse as, nothing is lost without a counter and the session is
  // reported once.
  for (uint32_t seed = 1; seed <= 100; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string noise(512, '\0');
    for (char& c : noise) c = static_cast<char>(byte(rng));
    Harness r;
    Replay(r, {{kC2S, noise, 200}, {kS2C, noise, 210}}, &rng);
    ASSERT_EQ(r.sink.sessions.size(), 1u) << "seed " << seed;
    ASSERT_EQ(r.stats.websocket.messages, r.sink.messages.size()) << "seed " << seed;
    ASSERT_LE(r.stats.parser_discarded_bytes, 2 * noise.size()) << "seed " << seed;
  }
}

TEST(WebSocketConnectionTest, FragmentCountSaturates) {
  // 2^32 + 1 fragments would take 8 GiB of headers; instead check the arithmetic at the edge
  // through a long message of empty fragments and a huge final fragment in a gap.
  Harness h;
  WebSocketConnection conn(TestFlow(), "/ws/chat", 100, h.ctx);
  std::string fragments = Frame(kBinary, "", false);
  for (int i = 0; i < 1000; ++i) fragments += Frame(kContinuation, "", false);
  Deliver(conn.stream(kS2C), fragments, 200);
  const uint64_t huge = (uint64_t{1} << 63) - 1;
  Deliver(conn.stream(kS2C), Header(kContinuation, huge, false), 210);
  Gap(conn.stream(kS2C), huge, 220);
  Deliver(conn.stream(kS2C), Header(kFin | kContinuation, huge, false), 230);
  Gap(conn.stream(kS2C), huge, 240);
  conn.Close(300);
  // 2 * (2^63 - 1) fits in 64 bits; the sum is exact.
  EXPECT_EQ(h.sink.messages,
            (std::vector<WebSocketMessage>{Msg(kS2C, Type::kBinary, 2 * huge, 240, 1003)}));
}

}  // namespace
}  // namespace ta::analyzer::protocols::websocket
