#include "agent/ctl/exposition.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "agent/config.h"

namespace ta::agent::ctl {
namespace {

// One label value in double quotes, with the exposition's escapes (\\, \", \n).
bool ParseQuoted(std::string_view s, size_t& pos, std::string& out) {
  if (pos >= s.size() || s[pos] != '"') return false;
  ++pos;
  while (pos < s.size()) {
    const char c = s[pos++];
    if (c == '"') return true;
    if (c == '\\') {
      if (pos >= s.size()) return false;
      const char e = s[pos++];
      out.push_back(e == 'n' ? '\n' : e);
    } else {
      out.push_back(c);
    }
  }
  return false;
}

bool ParseLine(std::string_view line, Sample& out) {
  size_t pos = line.find_first_of("{ ");
  if (pos == std::string_view::npos) return false;
  out.name = std::string(line.substr(0, pos));
  if (line[pos] == '{') {
    ++pos;
    while (pos < line.size() && line[pos] != '}') {
      const size_t eq = line.find('=', pos);
      if (eq == std::string_view::npos) return false;
      std::string key(line.substr(pos, eq - pos));
      pos = eq + 1;
      std::string value;
      if (!ParseQuoted(line, pos, value)) return false;
      out.labels.emplace(std::move(key), std::move(value));
      if (pos < line.size() && line[pos] == ',') ++pos;
    }
    if (pos >= line.size()) return false;
    ++pos;  // '}'
  }
  if (pos >= line.size() || line[pos] != ' ') return false;
  const std::string number(line.substr(pos + 1, line.find(' ', pos + 1) - pos - 1));
  char* end = nullptr;
  out.value = std::strtod(number.c_str(), &end);
  return end != number.c_str() && *end == '\0';
}

}  // namespace

Result<std::vector<Sample>> ParseSamples(std::string_view text, std::string_view name) {
  std::vector<Sample> samples;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    if (line.substr(0, name.size()) != name ||
        (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    Sample sample;
    if (!ParseLine(line, sample)) {
      return Error{0, "line " + std::to_string(line_no) + " of /metrics is not a valid sample: " +
                          std::string(line.substr(0, 200))};
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

Result<std::string> FetchMetrics(const std::string& address, int timeout_ms) {
  auto parsed = ParseListenAddress(address);
  if (!parsed.ok()) return Error{0, "metrics address '" + address + "': " + parsed.error().message};
  if (parsed->ipv6) return Error{0, "metrics address '" + address + "': IPv6 is not supported"};
  const std::string where = "the daemon's /metrics at " + address + " (metrics.listen)";
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("creating a socket to reach " + where);
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(parsed->port);
  ::inet_pton(AF_INET, parsed->host.c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)) != 0) {
    const int err = errno;
    ::close(fd);
    return Error{err, "cannot reach " + where + ": " + std::strerror(err) +
                          "; is traffic-analyzer running, and is this its config (--config)?"};
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: " + address + "\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    const int err = errno;
    ::close(fd);
    return Error{err, "cannot send to " + where + ": " + std::strerror(err)};
  }
  std::string response;
  char buf[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Error{err, "reading " + where + " failed: " + std::strerror(err)};
    }
    response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (response.rfind("HTTP/1.", 0) != 0 || response.find(" 200 ") == std::string::npos ||
      response.find(" 200 ") > response.find("\r\n")) {
    return Error{0, where + " answered '" + response.substr(0, response.find("\r\n")) +
                        "', expected 200"};
  }
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : response.substr(body + 4);
}

}  // namespace ta::agent::ctl
