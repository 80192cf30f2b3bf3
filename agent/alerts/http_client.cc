#include "agent/alerts/http_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <optional>

namespace ta::agent::alerts {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

enum class BodyState { kNeedMore, kDone, kInvalid };

// Chunked transfer coding (RFC 9112 §7.1): hex size [; extensions] CRLF, data CRLF, ..., a
// zero-size chunk, trailer fields, CRLF.
BodyState DecodeChunked(std::string_view in, std::string& out) {
  out.clear();
  while (true) {
    const size_t eol = in.find("\r\n");
    if (eol == std::string_view::npos) return BodyState::kNeedMore;
    const std::string_view size_text = Trim(in.substr(0, in.find_first_of(";\r")));
    size_t size = 0;
    const auto [end, ec] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (ec != std::errc() || end != size_text.data() + size_text.size()) return BodyState::kInvalid;
    in.remove_prefix(eol + 2);
    if (size == 0) {
      // Trailer section: lines until an empty one.
      while (true) {
        const size_t line_end = in.find("\r\n");
        if (line_end == std::string_view::npos) return BodyState::kNeedMore;
        if (line_end == 0) return BodyState::kDone;
        in.remove_prefix(line_end + 2);
      }
    }
    if (in.size() < size + 2) return BodyState::kNeedMore;
    if (in.substr(size, 2) != "\r\n") return BodyState::kInvalid;
    out.append(in.substr(0, size));
    in.remove_prefix(size + 2);
  }
}

struct ResponseHead {
  int status = 0;
  size_t header_bytes = 0;               // status line + fields + the empty line
  std::optional<size_t> content_length;  // absent: chunked or until close
  bool chunked = false;
};

// Parses the status line and the fields once "\r\n\r\n" has arrived (RFC 9112 §4, §5).
Result<ResponseHead> ParseHead(std::string_view data) {
  ResponseHead head;
  const size_t end = data.find("\r\n\r\n");
  head.header_bytes = end + 4;
  std::string_view lines = data.substr(0, end + 2);
  const size_t first_eol = lines.find("\r\n");
  const std::string_view status_line = lines.substr(0, first_eol);
  lines.remove_prefix(first_eol + 2);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    return Error{0, "not an HTTP/1.x response: '" + std::string(status_line.substr(0, 80)) + "'"};
  }
  const std::string_view code = status_line.substr(9, 3);
  const auto [p, ec] = std::from_chars(code.data(), code.data() + 3, head.status);
  if (ec != std::errc() || p != code.data() + 3 || head.status < 100) {
    return Error{0, "bad status code in '" + std::string(status_line.substr(0, 80)) + "'"};
  }
  while (!lines.empty()) {
    const size_t eol = lines.find("\r\n");
    const std::string_view line = lines.substr(0, eol);
    lines.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "content-length")) {
      size_t length = 0;
      const auto [q, lec] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (lec != std::errc() || q != value.data() + value.size()) {
        return Error{0, "bad Content-Length '" + std::string(value) + "'"};
      }
      head.content_length = length;
    } else if (EqualsIgnoreCase(name, "transfer-encoding")) {
      // "chunked" is always the last coding when present (RFC 9112 §6.1).
      head.chunked =
          value.size() >= 7 && EqualsIgnoreCase(value.substr(value.size() - 7), "chunked");
    }
  }
  // 1xx, 204 and 304 have no body (RFC 9112 §6.3).
  if (head.status < 200 || head.status == 204 || head.status == 304) head.content_length = 0;
  if (head.chunked) head.content_length.reset();
  return head;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, 8) == "https://") {
    return Error{0, "'" + std::string(url) +
                        "': https is not supported; use http:// (e.g. a local Alertmanager or a "
                        "TLS-terminating proxy on the node)"};
  }
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Error{0, "'" + std::string(url) + "': expected a URL starting with http://"};
  }
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos ||
      rest.find_first_of("?#") != std::string::npos) {
    return Error{0, "'" + std::string(url) + "': user info, query and fragment are not supported"};
  }
  auto hp = ParseHostPort(authority, 80);
  if (!hp.ok()) return Error{0, "URL " + hp.error().message};
  HttpUrl out;
  out.authority = std::move(hp.value());
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  return out;
}

Result<HttpResponse> HttpRequest(const HttpUrl& url, std::string_view method,
                                 std::string_view content_type, std::string_view body,
                                 const HttpTimeouts& timeouts) {
  const std::string where = "http://" + ToString(url.authority) + url.path;
  auto fd = ConnectTcp(url.authority, Clock::now() + timeouts.connect);
  if (!fd.ok()) return Error{fd.error().err, fd.error().message};
  const auto deadline = Clock::now() + timeouts.exchange;

  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(url.path).append(" HTTP/1.1\r\n");
  request.append("Host: ").append(ToString(url.authority)).append("\r\n");
  request.append("User-Agent: traffic-analyzer/" TA_VERSION "\r\n");
  if (!content_type.empty()) request.append("Content-Type: ").append(content_type).append("\r\n");
  request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  request.append("Connection: close\r\n\r\n").append(body);
  if (auto sent = SendAll(fd->get(), request, deadline); !sent.ok()) {
    return Error{sent.error().err, sent.error().message + " to " + where};
  }

  std::string data;
  ResponseHead head;
  bool have_head = false;
  HttpResponse response;
  char buf[16384];
  while (true) {
    if (have_head) {
      const std::string_view payload = std::string_view(data).substr(head.header_bytes);
      if (head.chunked) {
        const BodyState state = DecodeChunked(payload, response.body);
        if (state == BodyState::kInvalid) return Error{0, where + ": malformed chunked body"};
        if (state == BodyState::kDone) break;
      } else if (head.content_length.has_value() && payload.size() >= *head.content_length) {
        response.body = std::string(payload.substr(0, *head.content_length));
        break;
      }
    }
    if (data.size() >= kMaxHttpResponseBytes) {
      // Enough to judge the answer; the rest of an oversized body is not read.
      if (!have_head) return Error{0, where + ": response header larger than 64 KiB"};
      response.body = data.substr(head.header_bytes);
      break;
    }
    if (auto ready = WaitReadable(fd->get(), deadline); !ready.ok()) {
      return Error{ready.error().err, ready.error().message + " from " + where};
    }
    const ssize_t n = ::recv(fd->get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return ErrnoError("reading the answer of " + where);
    }
    if (n == 0) {
      // Closed by the peer: fine for a body delimited by the close (RFC 9112 §6.3 item 8).
      if (!have_head) return Error{0, where + " closed the connection without a complete answer"};
      if (head.chunked || head.content_length.has_value()) {
        return Error{0, where + " closed the connection in the middle of the body"};
      }
      response.body = data.substr(head.header_bytes);
      break;
    }
    data.append(buf, static_cast<size_t>(n));
    while (!have_head && data.find("\r\n\r\n") != std::string::npos) {
      auto parsed = ParseHead(data);
      if (!parsed.ok()) return Error{0, where + ": " + parsed.error().message};
      head = parsed.value();
      have_head = true;
      if (head.status < 200) {  // 100 Continue and friends: skip, the final answer follows
        data.erase(0, head.header_bytes);
        have_head = false;
      }
    }
  }
  response.status = head.status;
  return response;
}

Result<HttpResponse> HttpPost(const HttpUrl& url, std::string_view content_type,
                              std::string_view body, const HttpTimeouts& timeouts) {
  auto response = HttpRequest(url, "POST", content_type, body, timeouts);
  if (!response.ok()) return response;
  if (response->status < 200 || response->status > 299) {
    std::string excerpt = response->body.substr(0, 512);
    while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == '\r'))
      excerpt.pop_back();
    return Error{0, "http://" + ToString(url.authority) + url.path + " answered " +
                        std::to_string(response->status) + ": " + excerpt};
  }
  return response;
}

}  // namespace ta::agent::alerts
