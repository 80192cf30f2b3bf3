#include "analyzer/protocols/http1/message_head.h"

#include <gtest/gtest.h>

#include <string>

namespace ta::analyzer::protocols::http1 {
namespace {

constexpr auto kDone = ParseState::kDone;
constexpr auto kInvalid = ParseState::kInvalid;

ParseState Request(std::string_view head, MessageHead* out) { return ParseRequestHead(head, out); }
ParseState Response(std::string_view head, MessageHead* out) {
  return ParseResponseHead(head, out);
}

TEST(MessageHeadTest, ParsesARequestHead) {
  MessageHead h;
  ASSERT_EQ(Request("GET /api/users?id=7 HTTP/1.1\r\n"
                    "Host: example.com\r\n"
                    "Accept: */*\r\n"
                    "\r\n",
                    &h),
            kDone);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/api/users?id=7");
  EXPECT_EQ(h.version_minor, 1);
  EXPECT_FALSE(h.content_length);
  EXPECT_FALSE(h.transfer_encoding);
  EXPECT_EQ(RequestBodyFraming(h), BodyFraming::kNone);
}

TEST(MessageHeadTest, ParsesAResponseHeadWithOrWithoutAReason) {
  MessageHead h;
  ASSERT_EQ(Response("HTTP/1.0 404 Not Found\r\ncontent-LENGTH: 12\r\n\r\n", &h), kDone);
  EXPECT_EQ(h.status, 404);
  EXPECT_EQ(h.version_minor, 0);
  EXPECT_EQ(h.content_length, 12u);
  ASSERT_EQ(Response("HTTP/1.1 200\r\n\r\n", &h), kDone);
  EXPECT_EQ(h.status, 200);
  ASSERT_EQ(Response("HTTP/1.1 204 \r\n\r\n", &h), kDone);
  EXPECT_EQ(h.status, 204);
}

TEST(MessageHeadTest, AcceptsBareLfLineEndings) {
  MessageHead h;
  EXPECT_EQ(Request("GET / HTTP/1.1\nHost: a\nContent-Length: 3\n\n", &h), kDone);
  EXPECT_EQ(h.content_length, 3u);
}

TEST(MessageHeadTest, ReportsAMissingEmptyLineAsNeedingMoreData) {
  MessageHead h;
  EXPECT_EQ(Request("GET / HTTP/1.1\r\nHost: a\r\n", &h), ParseState::kNeedsMoreData);
}

TEST(MessageHeadTest, RejectsMalformedStartLines) {
  MessageHead h;
  for (const char* head : {
           "GET /\r\n\r\n",                // HTTP/0.9
           "GET  / HTTP/1.1\r\n\r\n",      // double space
           "GET / HTTP/1.1 \r\n\r\n",      // trailing space
           "GET / HTTP/2.0\r\n\r\n",       // not HTTP/1.x framing
           "GET / http/1.1\r\n\r\n",       // version is case-sensitive
           "G(T / HTTP/1.1\r\n\r\n",       // method is not a token
           "GET /a\x01 HTTP/1.1\r\n\r\n",  // control character in target
           "GET /a\rb HTTP/1.1\r\n\r\n",   // bare CR
           " GET / HTTP/1.1\r\n\r\n",      // leading space
       }) {
    EXPECT_EQ(Request(head, &h), kInvalid) << head;
  }
  for (const char* head : {
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 099 Odd\r\n\r\n",
           "HTTP/2 200 OK\r\n\r\n",
           "HTTP/1.1  200 OK\r\n\r\n",
           "ICY 200 OK\r\n\r\n",
       }) {
    EXPECT_EQ(Response(head, &h), kInvalid) << head;
  }
}

TEST(MessageHeadTest, RejectsMalformedFieldLines) {
  MessageHead h;
  for (const char* head : {
           "GET / HTTP/1.1\r\nHost: a\r\n  folded\r\n\r\n",  // obs-fold (RFC 9112 §5.2)
           "GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n",
           "GET / HTTP/1.1\r\nHost : a\r\n\r\n",  // whitespace before the colon (§5.1)
           "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "GET / HTTP/1.1\r\n: empty name\r\n\r\n",
           "GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n",  // bare CR
       }) {
    EXPECT_EQ(Request(head, &h), kInvalid) << head;
  }
  EXPECT_EQ(Request(std::string("GET / HTTP/1.1\r\nX-A: b\0c\r\n\r\n", 29), &h), kInvalid);
}

TEST(MessageHeadTest, ContentLengthRules) {
  MessageHead h;
  // Identical repeats are one value (RFC 9110 §8.6).
  ASSERT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", &h),
            kDone);
  EXPECT_EQ(h.content_length, 5u);
  ASSERT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", &h), kDone);
  EXPECT_EQ(h.content_length, 5u);
  ASSERT_EQ(Request("POST / HTTP/1.1\r\nContent-Length:   7  \r\n\r\n", &h), kDone);
  EXPECT_EQ(h.content_length, 7u);
  // Conflicting or non-decimal values are unrecoverable (RFC 9112 §6.3 rule 5).
  for (const char* head : {
           "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n",
           "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
       }) {
    EXPECT_EQ(Request(head, &h), kInvalid) << head;
  }
  EXPECT_EQ(Response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", &h),
            kInvalid);
}

TEST(MessageHeadTest, TransferEncodingRules) {
  MessageHead h;
  ASSERT_EQ(Request("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", &h), kDone);
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(RequestBodyFraming(h), BodyFraming::kChunked);
  // Transfer-Encoding overrides Content-Length, even a malformed one (§6.3 rule 3).
  ASSERT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n",
                    &h),
            kDone);
  EXPECT_FALSE(h.content_length);
  EXPECT_EQ(RequestBodyFraming(h), BodyFraming::kChunked);
  // A request whose final coding is not chunked cannot be delimited (§6.3 rule 4).
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &h), kInvalid);
  // The same in a response means "read until close" (§6.3 rule 3).
  ASSERT_EQ(Response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", &h), kDone);
  EXPECT_EQ(ResponseBodyFraming(h, "GET"), BodyFraming::kUntilClose);
  // Codings may come in several fields; the last one counts.
  ASSERT_EQ(Response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n",
                     &h),
            kDone);
  EXPECT_EQ(ResponseBodyFraming(h, "GET"), BodyFraming::kChunked);
}

TEST(MessageHeadTest, ResponseFramingFollowsRfc9112Section6_3) {
  const auto framing = [](std::string_view head, std::string_view method) {
    MessageHead h;
    EXPECT_EQ(ParseResponseHead(head, &h), kDone) << head;
    return ResponseBodyFraming(h, method);
  };
  const char* kSized = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(framing(kSized, "GET"), BodyFraming::kContentLength);
  EXPECT_EQ(framing(kSized, "HEAD"), BodyFraming::kNone);
  EXPECT_EQ(framing("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", "GET"),
            BodyFraming::kNone);
  EXPECT_EQ(framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET"),
            BodyFraming::kNone);
  EXPECT_EQ(framing("HTTP/1.1 100 Continue\r\n\r\n", "POST"), BodyFraming::kNone);
  EXPECT_EQ(framing("HTTP/1.1 103 Early Hints\r\n\r\n", "GET"), BodyFraming::kNone);
  EXPECT_EQ(framing("HTTP/1.1 101 Switching Protocols\r\n\r\n", "GET"), BodyFraming::kTunnel);
  EXPECT_EQ(framing("HTTP/1.1 200 Connection Established\r\n\r\n", "CONNECT"),
            BodyFraming::kTunnel);
  EXPECT_EQ(framing("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", "CONNECT"),
            BodyFraming::kContentLength);
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET"),
            BodyFraming::kChunked);
  EXPECT_EQ(framing("HTTP/1.0 200 OK\r\n\r\n", "GET"), BodyFraming::kUntilClose);
  EXPECT_EQ(framing("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "GET"),
            BodyFraming::kUntilClose);
}

TEST(MessageHeadTest, FindsTheEndOfAHead) {
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\n\r\nrest"), 18u);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\n\nrest"), 16u);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nA: b\r\n\r"), std::string_view::npos);
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nA: b\r\n"), std::string_view::npos);
  EXPECT_EQ(FindHeadEnd("A\r\n\r\n", 2), 5u);
}

TEST(MessageHeadTest, RecognisesMessageStartsForResync) {
  EXPECT_TRUE(StartsWithRequestLine("GET /x HTTP/1.1\r\nHost"));
  EXPECT_TRUE(StartsWithRequestLine("PURGE /x HTTP/1.0\n"));
  EXPECT_FALSE(StartsWithRequestLine("GET /x HTTP/1.1"));  // line not complete
  EXPECT_FALSE(StartsWithRequestLine("GET /x\r\n"));
  EXPECT_FALSE(StartsWithRequestLine("ody bytes GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(StartsWithStatusLine("HTTP/1.1 200 OK\r\n"));
  EXPECT_TRUE(StartsWithStatusLine("HTTP/1.0 404"));
  EXPECT_FALSE(StartsWithStatusLine("HTTP/1.1 2"));
  EXPECT_FALSE(StartsWithStatusLine("HTTP/2.0 200 OK\r\n"));
  EXPECT_FALSE(StartsWithStatusLine("xHTTP/1.1 200 OK\r\n"));
}

TEST(MessageHeadTest, ChecksPartialStartLines) {
  EXPECT_EQ(CheckRequestLine("GE"), ParseState::kNeedsMoreData);
  EXPECT_EQ(CheckRequestLine("GET /a?b=c HTT"), ParseState::kNeedsMoreData);
  EXPECT_EQ(CheckRequestLine("GET / HTTP/1.1\r"), ParseState::kNeedsMoreData);
  EXPECT_EQ(CheckRequestLine("GET / HTTP/1.1\r\nHost"), ParseState::kDone);
  EXPECT_EQ(CheckRequestLine("GE(T"), ParseState::kInvalid);
  EXPECT_EQ(CheckRequestLine(" GET"), ParseState::kInvalid);
  EXPECT_EQ(CheckRequestLine("GET /\x01"), ParseState::kInvalid);
  EXPECT_EQ(CheckRequestLine("GET / HTTP/3\r\n"), ParseState::kInvalid);
  EXPECT_EQ(CheckStatusLine("HTTP/1"), ParseState::kNeedsMoreData);
  EXPECT_EQ(CheckStatusLine("HTTP/1.1 20"), ParseState::kNeedsMoreData);
  EXPECT_EQ(CheckStatusLine("HTTP/1.1 200 Long reason phrase"), ParseState::kNeedsMoreData);
  EXPECT_EQ(CheckStatusLine("HTTP/1.1 200 OK\r\n"), ParseState::kDone);
  EXPECT_EQ(CheckStatusLine("HTTP/2"), ParseState::kInvalid);
  EXPECT_EQ(CheckStatusLine("HTTP/1.1 2x"), ParseState::kInvalid);
  EXPECT_EQ(CheckStatusLine("<html>"), ParseState::kInvalid);
}

}  // namespace
}  // namespace ta::analyzer::protocols::http1
