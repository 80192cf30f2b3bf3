// HTTP/2 (RFC 9113) and gRPC on one TCP connection: a FrameReader and an HPACK decoder per
// direction, and the pairing of each stream's request and response into an HttpExchange (and a
// GrpcCall when the request's content-type is application/grpc*).
//
// Streams. A request HEADERS block on a new odd stream opens a stream; a response HEADERS block
// with a 1xx :status is interim (RFC 9113 §8.1), the first other one is the final response, and
// a later one is the trailers. The exchange is reported when the server ends the stream
// (END_STREAM on DATA, on the response HEADERS, or on the trailers): request_start_ns is the
// chunk holding the request HEADERS frame's first byte, response_end_ns the chunk holding the
// last byte of the frame that carried END_STREAM, body sizes the DATA payload bytes (padding
// excluded) seen so far in each direction, body samples the first body_sample_bytes of the DATA
// payloads (stopping at a gap or lost framing; content-type and content-encoding from the
// header blocks). RST_STREAM ends a stream: with a final status it is
// reported (response body unknown), without one it counts as unanswered. At most
// max_pipelined_requests * 8 streams are tracked (SETTINGS_MAX_CONCURRENT_STREAMS is usually
// 100-1000); opening one more drops the oldest as unanswered.
//
// Never mislabelled. A stream whose request or response header block could not be decoded
// (HPACK reference to an entry we never saw, a block lost in a gap or to lost framing, a block
// over max_header_bytes) is counted in undecodable_header_blocks and never reported: it would
// need a guessed method, route or status. Lost framing in a direction makes the body sizes of
// the streams open in it unknown (nullopt) and their gRPC message counts lower bounds.
//
// gRPC (grpc/doc/PROTOCOL-HTTP2): service and method from :path "/package.Service/Method";
// grpc-status from the trailers or from a trailers-only response (HEADERS with :status,
// grpc-status and END_STREAM); messages counted per direction from their length prefixes.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/http1/body_sampler.h"
#include "analyzer/protocols/http2/frame.h"
#include "analyzer/protocols/http2/frame_reader.h"
#include "analyzer/protocols/http2/grpc_message_counter.h"
#include "analyzer/protocols/http2/hpack_decoder.h"
#include "analyzer/tcp/reassembler.h"

namespace ta::analyzer::protocols::http2 {

using protocols::ConnectionContext;

enum class StartMode : uint8_t {
  // The client stream starts with the connection preface (checked; a mismatch is a parse error).
  kPriorKnowledge,
  // h2c after HTTP/1.1 101 (RFC 7540 §3.2): the client preface follows on the client stream, the
  // server stream starts with frames (SETTINGS).
  kUpgraded,
  // Joined mid-way: no preface; each direction starts at the first segment that begins with
  // frames (LooksLikeHttp2Frames). The HPACK dynamic tables are unknown, so decoding starts with
  // empty ones (see hpack_decoder.h for why that never mislabels).
  kMidStream,
};

class Http2Connection final : private FrameObserver {
 public:
  Http2Connection(const FlowKey& flow, StartMode mode, ConnectionContext& ctx,
                  std::string scheme = "http");
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  tcp::StreamConsumer& stream(Direction dir) {
    return dir == Direction::kClientToServer ? client_ : server_;
  }

  // h2c: the HTTP/1.1 request that carried `Upgrade: h2c` is stream 1, half-closed from the
  // client (RFC 7540 §3.2); its response comes as HTTP/2 on stream 1. `target` is the request
  // target as sent; `request_body_bytes` empty when the HTTP/1 parser could not tell.
  void AdoptUpgradeRequest(std::string_view method, std::string_view target, uint64_t start_ns,
                           std::optional<uint64_t> request_body_bytes);

  // The connection ended (close, eviction, expiry): streams with a final status are reported
  // (response body unknown, gRPC status empty when no trailers came), the others count as
  // unanswered.
  void Close();

  size_t open_streams() const { return streams_.size(); }

 private:
  struct Stream {
    // Never reported: a header block of its request or response could not be decoded, or its
    // request was malformed (both counted when found).
    bool unreported = false;
    bool request_seen = false;
    std::string method;
    std::string route;
    std::string object_id;
    uint64_t start_ns = 0;
    bool grpc = false;
    std::string grpc_service;
    std::string grpc_method;
    bool client_ended = false;
    uint64_t request_body = 0;
    bool request_body_known = true;
    uint16_t status = 0;  // final status, 0 until the final response HEADERS
    uint64_t response_body = 0;
    bool response_body_known = true;
    std::optional<uint32_t> grpc_status;
    GrpcMessageCounter request_messages;
    GrpcMessageCounter response_messages;
    http1::BodySampler request_sample;  // the body sampler is the same for both HTTP versions
    http1::BodySampler response_sample;
  };
  using StreamMap = std::map<uint32_t, Stream>;

  // FrameObserver.
  void OnHeaderBlock(Direction dir, const HeaderBlock& block) override;
  void OnHeaderBlockLost(Direction dir, uint32_t stream_id, bool push_promise, bool end_stream,
                         uint64_t ts) override;
  void OnData(Direction dir, uint32_t stream_id, std::span<const uint8_t> bytes) override;
  void OnDataGap(Direction dir, uint32_t stream_id, uint64_t length) override;
  void OnDataEndStream(Direction dir, uint32_t stream_id, uint64_t end_ns) override;
  void OnRstStream(Direction dir, uint32_t stream_id, uint64_t ts) override;
  void OnSetting(Direction dir, uint16_t id, uint32_t value) override;
  void OnGoAway(Direction dir) override;
  void OnFramingLost(Direction dir) override;

  struct Fields;
  // A header block of `stream_id` sent in `dir` is unknown: its stream is not reported unless
  // only trailers were lost.
  void ForgetBlock(Direction dir, uint32_t stream_id, bool push_promise, bool end_stream,
                   uint64_t ts);
  void OnRequestHeaders(const HeaderBlock& block, const Fields& fields);
  void OnResponseHeaders(const HeaderBlock& block, const Fields& fields);
  // Starts a message's body sample with the media fields of its header block.
  void StartSample(http1::BodySampler& sampler, const Fields& fields, bool end_stream) const;
  // A new stream entry, dropping the oldest (as unanswered) when the table is full.
  Stream& OpenStream(uint32_t id);
  // The server ended the stream: report it (unless unreported or without a final status) and
  // forget it.
  void Finish(StreamMap::iterator it, uint64_t end_ns, bool response_body_known);
  Stream* Find(uint32_t id);
  FrameReader& reader(Direction dir) {
    return dir == Direction::kClientToServer ? client_ : server_;
  }
  HpackDecoder& decoder(Direction dir) { return decoders_[static_cast<size_t>(dir)]; }

  const FlowKey flow_;
  ConnectionContext& ctx_;
  const std::string scheme_;
  const size_t max_streams_;
  std::array<HpackDecoder, 2> decoders_;  // by Direction: each decodes that direction's blocks
  FrameReader client_;
  FrameReader server_;
  StreamMap streams_;  // by stream id: client streams open in id order, so begin() is the oldest
  bool closed_ = false;
};

}  // namespace ta::analyzer::protocols::http2
