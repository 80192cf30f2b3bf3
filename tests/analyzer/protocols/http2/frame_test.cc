// LooksLikeHttp2Frames, the frame header rules and the gRPC message counter on literal bytes.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "analyzer/protocols/http2/frame.h"
#include "analyzer/protocols/http2/grpc_message_counter.h"
#include "tests/analyzer/protocols/http2/http2_test_util.h"

namespace ta::analyzer::protocols::http2 {
namespace {

using testing::Bytes;
using testing::Frame;

TEST(Http2FrameTest, LooksLikeFramesPositives) {
  const std::string settings = Frame(0x4, 0, 0, std::string(12, '\0'));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(settings)));
  // HEADERS + DATA chaining exactly to the end, then one running past it.
  const std::string two = Frame(0x1, 0x4, 1, "\x82\x84") + Frame(0x0, 0x1, 1, "body");
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(two)));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(two.substr(0, two.size() - 2))));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(two.substr(0, 13))));  // second header cut short
  // HEADERS without END_HEADERS followed by its CONTINUATION.
  EXPECT_TRUE(LooksLikeHttp2Frames(
      Bytes(Frame(0x1, 0x0, 3, "\x82") + Frame(0x9, 0x4, 3, "\x84"))));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(Frame(0x8, 0, 0, std::string("\0\0\x10\0", 4)))));
  EXPECT_TRUE(LooksLikeHttp2Frames(Bytes(Frame(0x6, 0x1, 0, std::string(8, 'p')))));
}

TEST(Http2FrameTest, LooksLikeFramesNegatives) {
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes("")));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x4, 0, 0, "").substr(0, 8))));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes("GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n")));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(std::string(kClientPreface))));
  // A TLS 1.2 ClientHello record header and the start of its handshake message.
  const std::string client_hello("\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03\x5b\x2a", 13);
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(client_hello)));
  // Frame rules.
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x0, 0, 0, "x"))));          // DATA on stream 0
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x4, 0, 1, ""))));           // SETTINGS on 1
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x4, 0, 0, "12345"))));      // not 6n
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x6, 0, 0, "1234567"))));    // PING != 8
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x3, 0, 1, "123"))));        // RST != 4
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x9, 0x4, 1, "\x82"))));     // starts with CONT.
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x20, 0, 1, "ext"))));       // extension type
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x0, 0x40, 1, "x"))));       // undefined flag
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x0, 0x8, 1, "\x05xx"))));   // padding too long
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x1, 0x0, 1, "\x82") + Frame(0x0, 0, 1, "x"))));
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x0, 0, 1, std::string(16385, 'x')))));
  std::string reserved = Frame(0x0, 0, 1, "x");
  reserved[5] = '\x80';
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(reserved)));
  // Junk after a valid frame: the chain must end exactly or run past the end.
  EXPECT_FALSE(LooksLikeHttp2Frames(Bytes(Frame(0x4, 0, 0, "") + "GET / HTTP/1.1\r\n")));
  // Random bytes.
  int matched = 0;
  for (uint32_t seed = 0; seed < 20000; ++seed) {
    std::mt19937 rng(seed);
    std::string bytes;
    for (size_t i = 0, n = 9 + rng() % 200; i < n; ++i) bytes.push_back(static_cast<char>(rng()));
    matched += LooksLikeHttp2Frames(Bytes(bytes)) ? 1 : 0;
  }
  EXPECT_EQ(matched, 0);
}

TEST(Http2FrameTest, FrameHeaderRules) {
  const auto header = [](const std::string& frame) {
    return ParseFrameHeader(Bytes(frame).first(kFrameHeaderSize));
  };
  EXPECT_TRUE(FrameHeaderValid(header(Frame(0x2, 0, 1, "12345")), kDefaultMaxFrameSize));
  EXPECT_FALSE(FrameHeaderValid(header(Frame(0x2, 0, 1, "1234")), kDefaultMaxFrameSize));
  EXPECT_FALSE(FrameHeaderValid(header(Frame(0x7, 0, 0, "1234567")), kDefaultMaxFrameSize));
  EXPECT_TRUE(FrameHeaderValid(header(Frame(0x7, 0, 0, "12345678xx")), kDefaultMaxFrameSize));
  EXPECT_FALSE(FrameHeaderValid(header(Frame(0x4, 0x1, 0, "123456")), kDefaultMaxFrameSize));
  EXPECT_FALSE(FrameHeaderValid(header(Frame(0x1, 0x20, 1, "1234")), kDefaultMaxFrameSize));
  EXPECT_TRUE(FrameHeaderValid(header(Frame(0x1, 0x20, 1, "12345")), kDefaultMaxFrameSize));
  EXPECT_FALSE(FrameHeaderValid(header(Frame(0x5, 0, 2, "123")), kDefaultMaxFrameSize));
  EXPECT_TRUE(FrameHeaderValid(header(Frame(0x33, 0xff, 0, "")), kDefaultMaxFrameSize));
  EXPECT_FALSE(FrameHeaderValid(header(Frame(0x0, 0, 1, std::string(16385, 'x'))),
                                kDefaultMaxFrameSize));
  EXPECT_TRUE(FrameHeaderValid(header(Frame(0x0, 0, 1, std::string(16385, 'x'))), 1 << 20));
}

TEST(GrpcMessageCounterTest, CountsAcrossSplitsAndGaps) {
  const std::string stream = testing::GrpcMessage("hello") + testing::GrpcMessage("") +
                             testing::GrpcMessage(std::string(300, 'z'));
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    GrpcMessageCounter c;
    c.Consume(Bytes(std::string_view(stream).substr(0, cut)));
    c.Consume(Bytes(std::string_view(stream).substr(cut)));
    ASSERT_EQ(c.messages(), 3u) << cut;
    ASSERT_FALSE(c.mid_message());
  }
  GrpcMessageCounter gap;  // a gap inside the third body keeps the count
  gap.Consume(Bytes(std::string_view(stream).substr(0, 30)));
  gap.Skip(200);
  gap.Consume(Bytes(std::string_view(stream).substr(230)));
  EXPECT_EQ(gap.messages(), 3u);
  EXPECT_FALSE(gap.lost());
  GrpcMessageCounter over;  // a gap over the second prefix loses the framing
  over.Consume(Bytes(std::string_view(stream).substr(0, 8)));
  over.Skip(5);
  over.Consume(Bytes(std::string_view(stream).substr(13)));
  EXPECT_EQ(over.messages(), 1u);
  EXPECT_TRUE(over.lost());
  GrpcMessageCounter bad;  // compressed flag 7: not gRPC framing
  bad.Consume(Bytes(std::string("\x07\0\0\0\0", 5)));
  EXPECT_EQ(bad.messages(), 0u);
  EXPECT_TRUE(bad.lost());
}

}  // namespace
}  // namespace ta::analyzer::protocols::http2
