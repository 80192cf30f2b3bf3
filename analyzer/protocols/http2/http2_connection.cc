#include "analyzer/protocols/http2/http2_connection.h"

#include <algorithm>
#include <utility>

#include "analyzer/protocols/bytes.h"

namespace ta::analyzer::protocols::http2 {
namespace {

constexpr std::string_view kGrpcContentType = "application/grpc";
constexpr std::string_view kOther = "_OTHER";

Direction Opposite(Direction dir) {
  return dir == Direction::kClientToServer ? Direction::kServerToClient
                                           : Direction::kClientToServer;
}

FrameReader::Start ReaderStart(StartMode mode, Direction dir) {
  switch (mode) {
    case StartMode::kPriorKnowledge:
    case StartMode::kUpgraded:
      return dir == Direction::kClientToServer ? FrameReader::Start::kPreface
                                               : FrameReader::Start::kSettings;
    case StartMode::kMidStream:
      return FrameReader::Start::kResync;
  }
  return FrameReader::Start::kResync;
}

// RFC 9110 §15: a three-digit status code.
std::optional<uint16_t> ParseStatus(std::string_view s) {
  if (s.size() != 3 || s[0] < '1' || s[0] > '9') return std::nullopt;
  uint16_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = static_cast<uint16_t>(v * 10 + (c - '0'));
  }
  return v;
}

// grpc-status: a decimal code (grpc/doc/statuscodes.md), at most 10 digits that fit 32 bits.
std::optional<uint32_t> ParseGrpcStatus(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

bool IsGrpcNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// "/package.Service/Method" (grpc/doc/PROTOCOL-HTTP2, Path); false for anything else.
bool SplitGrpcPath(std::string_view path, std::string* service, std::string* method) {
  if (path.size() < 4 || path[0] != '/') return false;
  const size_t slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) return false;
  const std::string_view s = path.substr(1, slash - 1);
  const std::string_view m = path.substr(slash + 1);
  if (!std::all_of(s.begin(), s.end(), IsGrpcNameChar) ||
      !std::all_of(m.begin(), m.end(), IsGrpcNameChar)) {
    return false;
  }
  service->assign(s);
  method->assign(m);
  return true;
}

}  // namespace

// The fields of a header block the analyzer uses. Values are copied: the decoder's views die
// with each field.
struct Http2Connection::Fields final : HeaderFieldVisitor {
  std::optional<std::string> method;
  std::optional<std::string> path;
  std::optional<std::string> status;
  std::optional<std::string> content_type;
  std::optional<std::string> content_encoding;
  std::optional<std::string> grpc_status;

  void OnField(std::string_view name, std::string_view value) override {
    std::optional<std::string>* slot = nullptr;
    if (name == ":method") {
      slot = &method;
    } else if (name == ":path") {
      slot = &path;
    } else if (name == ":status") {
      slot = &status;
    } else if (name == "content-type") {
      slot = &content_type;
    } else if (name == "grpc-status") {
      slot = &grpc_status;
    } else if (name == "content-encoding") {
      slot = &content_encoding;
    }
    if (slot != nullptr && !*slot) slot->emplace(value);  // first one wins
  }
};

Http2Connection::Http2Connection(const FlowKey& flow, StartMode mode, ConnectionContext& ctx,
                                 std::string scheme)
    : flow_(flow),
      ctx_(ctx),
      scheme_(std::move(scheme)),
      max_streams_(std::max<size_t>(1, size_t{ctx.config.max_pipelined_requests} * 8)),
      client_(Direction::kClientToServer, ReaderStart(mode, Direction::kClientToServer),
              ctx.config, ctx.stats, *this),
      server_(Direction::kServerToClient, ReaderStart(mode, Direction::kServerToClient),
              ctx.config, ctx.stats, *this) {
  ++ctx_.stats.http2.connections;
  // SETTINGS_HEADER_TABLE_SIZE bounds the encoder of the opposite side (OnSetting). Settings we
  // cannot see leave the limit open up to kMaxHeaderTableSize: joined mid-way (both sides), and
  // after an h2c upgrade the client's settings travelled in the HTTP2-Settings header, which
  // bound the server's encoder.
  if (mode == StartMode::kMidStream) {
    decoder(Direction::kClientToServer).RaiseTableSizeLimit(kMaxHeaderTableSize);
  }
  if (mode != StartMode::kPriorKnowledge) {
    decoder(Direction::kServerToClient).RaiseTableSizeLimit(kMaxHeaderTableSize);
  }
  // After an h2c upgrade the client's SETTINGS_MAX_FRAME_SIZE came in HTTP2-Settings too.
  if (mode == StartMode::kUpgraded) server_.RaiseMaxFrameSize(kLargestMaxFrameSize);
}

void Http2Connection::AdoptUpgradeRequest(std::string_view method, std::string_view target,
                                          uint64_t start_ns,
                                          std::optional<uint64_t> request_body_bytes) {
  Stream& s = OpenStream(1);
  s.request_seen = true;
  s.method = NormalizeMethod(method);
  s.route = ctx_.routes.Route(flow_.server_port, target, &s.object_id);
  s.start_ns = start_ns;
  s.client_ended = true;
  s.request_body = request_body_bytes.value_or(0);
  s.request_body_known = request_body_bytes.has_value();
}

void Http2Connection::StartSample(http1::BodySampler& sampler, const Fields& fields,
                                  bool end_stream) const {
  // A block with END_STREAM has no body to come (RFC 9113 §8.1): nothing to reserve for.
  const std::optional<uint64_t> expected = end_stream ? std::optional<uint64_t>(0) : std::nullopt;
  const auto view = [](const std::optional<std::string>& v) {
    return v ? std::string_view(*v) : std::string_view();
  };
  sampler.Start(ctx_.config.body_sample_bytes, expected, view(fields.content_type),
                view(fields.content_encoding));
}

void Http2Connection::Close() {
  if (closed_) return;
  closed_ = true;
  const uint64_t end_ns = server_.last_ts();
  while (!streams_.empty()) {
    const auto it = streams_.begin();
    if (!it->second.unreported && it->second.status == 0) ++ctx_.stats.http2.unanswered_streams;
    Finish(it, std::max(end_ns, it->second.start_ns), false);
  }
}

Http2Connection::Stream* Http2Connection::Find(uint32_t id) {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : &it->second;
}

Http2Connection::Stream& Http2Connection::OpenStream(uint32_t id) {
  if (Stream* existing = Find(id)) return *existing;
  if (streams_.size() >= max_streams_) {
    if (!streams_.begin()->second.unreported) ++ctx_.stats.http2.unanswered_streams;
    streams_.erase(streams_.begin());
  }
  return streams_[id];
}

void Http2Connection::OnHeaderBlock(Direction dir, const HeaderBlock& block) {
  Fields fields;
  if (!decoder(dir).Decode(block.bytes, fields)) {
    // Joined mid-way or after a lost block: the block refers to dynamic table entries we never
    // saw. Count it; its stream must not be reported with guessed labels.
    // (Decode already restarted the decoder with an empty table.)
    ++ctx_.stats.http2.undecodable_header_blocks;
    ForgetBlock(dir, block.stream_id, block.push_promise, block.end_stream, block.end_ns);
    return;
  }
  if (block.push_promise) return;  // decoded only to keep the server's HPACK table in step
  if (dir == Direction::kClientToServer) {
    OnRequestHeaders(block, fields);
  } else {
    OnResponseHeaders(block, fields);
  }
}

void Http2Connection::OnRequestHeaders(const HeaderBlock& block, const Fields& fields) {
  // RFC 9113 §5.1.1: clients open odd streams.
  if (block.stream_id % 2 == 0) return;
  if (Stream* s = Find(block.stream_id); s != nullptr && (s->request_seen || s->unreported)) {
    // Request trailers (§8.1): they end the client side and change nothing reported.
    if (block.end_stream) s->client_ended = true;
    return;
  }
  Stream& s = OpenStream(block.stream_id);
  s.client_ended = block.end_stream;
  // §8.3.1: every request has :method; all but CONNECT have :path.
  if (!fields.method || (!fields.path && *fields.method != "CONNECT")) {
    ++ctx_.stats.http2.malformed_messages;
    s.unreported = true;
    return;
  }
  s.request_seen = true;
  s.method = NormalizeMethod(*fields.method);
  const std::string_view path = fields.path ? std::string_view(*fields.path) : "";
  s.route = ctx_.routes.Route(flow_.server_port, path, &s.object_id);
  s.start_ns = block.start_ns;
  StartSample(s.request_sample, fields, block.end_stream);
  if (fields.content_type && fields.content_type->starts_with(kGrpcContentType)) {
    s.grpc = true;
    // A port whose route table overflowed reports no new names either.
    if (s.route == routes::kOverflowRoute ||
        !SplitGrpcPath(path, &s.grpc_service, &s.grpc_method)) {
      s.grpc_service = kOther;
      s.grpc_method = kOther;
    }
  }
}

void Http2Connection::OnResponseHeaders(const HeaderBlock& block, const Fields& fields) {
  const auto it = streams_.find(block.stream_id);
  if (it == streams_.end()) {
    // A stream opened before we joined, or whose request we dropped: nothing to pair with.
    // Pushed responses (even streams) are not reported either.
    if (block.stream_id % 2 == 1 && fields.status) ++ctx_.stats.orphan_responses;
    return;
  }
  Stream& s = it->second;
  if (s.unreported) {
    if (block.end_stream) streams_.erase(it);
    return;
  }
  if (s.status == 0) {
    const std::optional<uint16_t> status = fields.status ? ParseStatus(*fields.status) : std::nullopt;
    if (!status) {  // §8.3.2: a response carries a valid :status
      ++ctx_.stats.http2.malformed_messages;
      s.unreported = true;
      if (block.end_stream) streams_.erase(it);
      return;
    }
    if (*status < 200) return;  // 1xx: interim (§8.1), the final response follows
    s.status = *status;
    StartSample(s.response_sample, fields, block.end_stream);
  }
  // The final response's own grpc-status (trailers-only), or the trailers'.
  if (fields.grpc_status) s.grpc_status = ParseGrpcStatus(*fields.grpc_status);
  if (block.end_stream) Finish(it, block.end_ns, true);
}

void Http2Connection::OnHeaderBlockLost(Direction dir, uint32_t stream_id, bool push_promise,
                                        bool end_stream, uint64_t ts) {
  ++ctx_.stats.http2.undecodable_header_blocks;
  // Entries the block inserted are missing from our table: start again empty (see
  // hpack_decoder.h for why later blocks still decode correctly or fail, never mislead).
  decoder(dir).Reset();
  ForgetBlock(dir, stream_id, push_promise, end_stream, ts);
}

void Http2Connection::ForgetBlock(Direction dir, uint32_t stream_id, bool push_promise,
                                  bool end_stream, uint64_t ts) {
  if (push_promise) return;
  if (dir == Direction::kClientToServer) {
    if (stream_id % 2 == 0) return;
    Stream& s = OpenStream(stream_id);
    if (!s.request_seen) s.unreported = true;  // else: lost request trailers, labels still known
    if (end_stream) s.client_ended = true;
    return;
  }
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  // Without the final status the stream cannot be reported; with it, only the trailers (and the
  // gRPC status in them) are unknown.
  if (it->second.status == 0) it->second.unreported = true;
  if (end_stream) {
    if (it->second.status != 0) it->second.grpc_status.reset();
    Finish(it, ts, true);
  }
}

void Http2Connection::OnData(Direction dir, uint32_t stream_id, std::span<const uint8_t> bytes) {
  Stream* s = Find(stream_id);
  if (s == nullptr) return;
  const std::string_view chars = AsChars(bytes);
  if (dir == Direction::kClientToServer) {
    s->request_body += bytes.size();
    s->request_sample.Append(chars);
    if (s->grpc) s->request_messages.Consume(bytes);
  } else {
    s->response_body += bytes.size();
    s->response_sample.Append(chars);
    if (s->grpc) s->response_messages.Consume(bytes);
  }
}

void Http2Connection::OnDataGap(Direction dir, uint32_t stream_id, uint64_t length) {
  Stream* s = Find(stream_id);
  if (s == nullptr) return;
  if (dir == Direction::kClientToServer) {
    s->request_body += length;
    s->request_sample.Gap();
    if (s->grpc) s->request_messages.Skip(length);
  } else {
    s->response_body += length;
    s->response_sample.Gap();
    if (s->grpc) s->response_messages.Skip(length);
  }
}

void Http2Connection::OnDataEndStream(Direction dir, uint32_t stream_id, uint64_t end_ns) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  if (dir == Direction::kClientToServer) {
    it->second.client_ended = true;
    return;
  }
  // The server ended the stream without a final response we saw (its HEADERS went by while
  // framing was lost): nothing to report.
  if (!it->second.unreported && it->second.status == 0) ++ctx_.stats.http2.unanswered_streams;
  Finish(it, end_ns, true);
}

void Http2Connection::OnRstStream(Direction /*dir*/, uint32_t stream_id, uint64_t ts) {
  ++ctx_.stats.http2.streams_reset;
  const auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  if (!it->second.unreported && it->second.status == 0) ++ctx_.stats.http2.unanswered_streams;
  // A reset cuts the response body short: its size is unknown.
  Finish(it, ts, false);
}

void Http2Connection::OnSetting(Direction dir, uint16_t id, uint32_t value) {
  // RFC 9113 §6.5.2: a setting tells the peer what the sender accepts, so it bounds what flows
  // the opposite way. SETTINGS_HEADER_TABLE_SIZE sent by the server limits the dynamic table of
  // the client's encoder, whose blocks our client-to-server decoder reads (and vice versa);
  // SETTINGS_MAX_FRAME_SIZE sent by the server limits the frames the client sends.
  if (id == kSettingHeaderTableSize) {
    decoder(Opposite(dir)).RaiseTableSizeLimit(value);
  } else if (id == kSettingMaxFrameSize && value >= kDefaultMaxFrameSize &&
             value <= kLargestMaxFrameSize) {
    reader(Opposite(dir)).RaiseMaxFrameSize(value);
  }
}

void Http2Connection::OnGoAway(Direction /*dir*/) { ++ctx_.stats.http2.goaways; }

void Http2Connection::OnFramingLost(Direction dir) {
  // Header blocks may have gone by: the decoder's table is unknown.
  decoder(dir).Reset();
  for (auto& [id, s] : streams_) {
    if (dir == Direction::kClientToServer) {
      if (s.client_ended) continue;
      s.request_body_known = false;
      s.request_sample.Gap();  // DATA may have gone by unseen
      s.request_messages.Lose();
    } else {
      s.response_body_known = false;
      s.response_sample.Gap();
      s.response_messages.Lose();
    }
  }
}

void Http2Connection::Finish(StreamMap::iterator it, uint64_t end_ns, bool response_body_known) {
  Stream& s = it->second;
  if (!s.unreported && s.status != 0) {
    HttpExchange e;
    e.flow = flow_;
    e.method = s.method;
    e.route = s.route;
    e.status = s.status;
    e.protocol_version = "2";
    e.scheme = scheme_;
    e.request_start_ns = s.start_ns;
    e.response_end_ns = end_ns;
    if (s.request_body_known) e.request_body_bytes = s.request_body;
    if (response_body_known && s.response_body_known) e.response_body_bytes = s.response_body;
    e.object_id = std::move(s.object_id);
    e.request_body = std::move(s.request_sample.sample());  // the stream is erased below
    e.response_body = std::move(s.response_sample.sample());
    ++ctx_.stats.exchanges;
    ctx_.sink.OnHttpExchange(e);
    if (s.grpc) {
      GrpcCall call;
      call.flow = flow_;
      call.service = s.grpc_service;
      call.method = s.grpc_method;
      call.status = s.grpc_status;
      call.scheme = scheme_;
      call.start_ns = s.start_ns;
      call.end_ns = end_ns;
      call.request_messages = s.request_messages.messages();
      call.response_messages = s.response_messages.messages();
      if (s.request_messages.lost() || s.response_messages.lost()) {
        ++ctx_.stats.http2.grpc_message_counts_lost;
      }
      ++ctx_.stats.http2.grpc_calls;
      ctx_.sink.OnGrpcCall(call);
    }
  }
  streams_.erase(it);
}

}  // namespace ta::analyzer::protocols::http2
