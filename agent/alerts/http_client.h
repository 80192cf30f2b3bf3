// A minimal HTTP/1.1 client (RFC 9112) for posting alerts: one request per connection
// ("Connection: close"), http:// only, bounded in time and in response size. It is not a
// general client: no redirects, no TLS, no keep-alive; an Alertmanager answers a POST with a
// short body and that is all the alert sink needs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/alerts/net.h"
#include "agent/result.h"

namespace ta::agent::alerts {

struct HttpUrl {
  HostPort authority;  // host and port (80 when the URL names none)
  std::string path;    // starts with '/', "" -> "/"
};

// Parses "http://HOST[:PORT][/PATH]" with HOST a name, an IPv4 literal or "[IPv6]". https:// and
// anything with userinfo, a query or a fragment are errors that say so.
Result<HttpUrl> ParseHttpUrl(std::string_view url);

struct HttpTimeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds exchange{5000};  // send the request and read the whole response
};

struct HttpResponse {
  int status = 0;
  std::string body;  // de-chunked; at most kMaxBody bytes are kept
};

inline constexpr size_t kMaxHttpResponseBytes = 64 * 1024;

// Sends one request and reads the response. A transport failure or a malformed response is an
// error; any status (2xx or not) is a response, for the caller to judge.
Result<HttpResponse> HttpRequest(const HttpUrl& url, std::string_view method,
                                 std::string_view content_type, std::string_view body,
                                 const HttpTimeouts& timeouts);

// HttpRequest, then a non-2xx status becomes an error carrying the status and the start of the
// body (Alertmanager explains a 400 there).
Result<HttpResponse> HttpPost(const HttpUrl& url, std::string_view content_type,
                              std::string_view body, const HttpTimeouts& timeouts);

}  // namespace ta::agent::alerts
