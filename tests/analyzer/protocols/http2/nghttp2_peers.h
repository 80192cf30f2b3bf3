// Real HTTP/2 byte streams for tests and benchmarks: a libnghttp2 client session and server
// session talking to each other in memory. Each side's output is captured (what a tap on the
// wire would see) and fed to the other side, so both keep consistent stream and HPACK state.
#pragma once

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ta::analyzer::testing {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class Nghttp2Peers {
 public:
  struct Options {
    size_t padding = 0;  // pad every padded-capable frame to payload + this many bytes
  };

  Nghttp2Peers() : Nghttp2Peers(Options{}) {}
  explicit Nghttp2Peers(Options options) : options_(options) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, &Nghttp2Peers::SendCallback);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &Nghttp2Peers::OnDataChunk);
    if (options_.padding > 0) {
      nghttp2_session_callbacks_set_select_padding_callback(cb, &Nghttp2Peers::SelectPadding);
    }
    client_side_.owner = this;
    server_side_.owner = this;
    nghttp2_session_client_new(&client_, cb, &client_side_);
    nghttp2_session_server_new(&server_, cb, &server_side_);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(client_, NGHTTP2_FLAG_NONE, nullptr, 0);
    nghttp2_submit_settings(server_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Nghttp2Peers() {
    nghttp2_session_del(client_);
    nghttp2_session_del(server_);
  }
  Nghttp2Peers(const Nghttp2Peers&) = delete;
  Nghttp2Peers& operator=(const Nghttp2Peers&) = delete;

  // A request; `body` empty = no DATA (END_STREAM on HEADERS). Returns the stream id.
  int32_t Request(const HeaderList& headers, std::optional<std::string> body = std::nullopt,
                  size_t data_chunk = 16384) {
    std::vector<nghttp2_nv> nv = Nv(headers);
    if (!body) return nghttp2_submit_request(client_, nullptr, nv.data(), nv.size(), nullptr, this);
    Body b{std::move(*body), 0, data_chunk, {}};
    nghttp2_data_provider provider{};
    provider.read_callback = &Nghttp2Peers::ReadBody;
    const int32_t id = nghttp2_submit_request(client_, nullptr, nv.data(), nv.size(), &provider,
                                              nullptr);
    client_side_.bodies[id] = std::move(b);
    return id;
  }

  // A response; no body and no trailers = HEADERS with END_STREAM (trailers-only for gRPC).
  void Respond(int32_t id, const HeaderList& headers, std::optional<std::string> body,
               HeaderList trailers = {}, size_t data_chunk = 16384) {
    std::vector<nghttp2_nv> nv = Nv(headers);
    if (!body && trailers.empty()) {
      nghttp2_submit_response(server_, id, nv.data(), nv.size(), nullptr);
      return;
    }
    server_side_.bodies[id] = Body{body.value_or(""), 0, data_chunk, std::move(trailers)};
    nghttp2_data_provider provider{};
    provider.read_callback = &Nghttp2Peers::ReadBody;
    nghttp2_submit_response(server_, id, nv.data(), nv.size(), &provider);
  }

  nghttp2_session* client() { return client_; }
  nghttp2_session* server() { return server_; }

  // Everything the client has to send (delivered to the server too).
  std::string FlushClient() { return Flush(client_, client_side_, server_); }
  std::string FlushServer() { return Flush(server_, server_side_, client_); }

 private:
  struct Body {
    std::string bytes;
    size_t offset = 0;
    size_t chunk = 16384;
    HeaderList trailers;
  };
  struct Side {
    Nghttp2Peers* owner = nullptr;
    std::string out;
    std::map<int32_t, Body> bodies;
  };

  static std::vector<nghttp2_nv> Nv(const HeaderList& headers) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [name, value] : headers) {
      nv.push_back({const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                    const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                    name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
    }
    return nv;
  }

  std::string Flush(nghttp2_session* from, Side& side, nghttp2_session* to) {
    side.out.clear();
    nghttp2_session_send(from);
    std::string out = side.out;
    nghttp2_session_mem_recv(to, reinterpret_cast<const uint8_t*>(out.data()), out.size());
    return out;
  }

  static ssize_t SendCallback(nghttp2_session*, const uint8_t* data, size_t length, int,
                              void* user_data) {
    static_cast<Side*>(user_data)->out.append(reinterpret_cast<const char*>(data), length);
    return static_cast<ssize_t>(length);
  }
  static int OnDataChunk(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t*,
                         size_t len, void*) {
    nghttp2_session_consume(session, stream_id, len);
    return 0;
  }
  static ssize_t SelectPadding(nghttp2_session*, const nghttp2_frame* frame, size_t max_payload,
                               void* user_data) {
    const size_t padding = static_cast<Side*>(user_data)->owner->options_.padding;
    return static_cast<ssize_t>(std::min(max_payload, frame->hd.length + padding));
  }
  static ssize_t ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                          size_t length, uint32_t* data_flags, nghttp2_data_source*,
                          void* user_data) {
    Side& side = *static_cast<Side*>(user_data);
    Body& b = side.bodies[stream_id];
    const size_t n = std::min({length, b.chunk, b.bytes.size() - b.offset});
    std::copy_n(b.bytes.data() + b.offset, n, buf);
    b.offset += n;
    if (b.offset == b.bytes.size()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!b.trailers.empty()) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nv = Nv(b.trailers);
        nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size());
      }
    }
    return static_cast<ssize_t>(n);
  }

  Options options_;
  Side client_side_;
  Side server_side_;
  nghttp2_session* client_ = nullptr;
  nghttp2_session* server_ = nullptr;
};

// A gRPC message: compressed flag 0, 4-byte big-endian length, payload.
inline std::string GrpcMessage(const std::string& payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  std::string m = {'\0', static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xff),
                   static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)};
  return m + payload;
}

}  // namespace ta::analyzer::testing
