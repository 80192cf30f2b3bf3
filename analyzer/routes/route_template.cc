#include "analyzer/routes/route_template.h"

#include <algorithm>

namespace ta::analyzer::routes {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Index of the first '?' or '#' (or of any of "/?#" when `slash`), else npos. A plain loop:
// string_view::find_first_of calls memchr once per character.
size_t FindDelimiter(std::string_view s, bool slash = false) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '?' || s[i] == '#' || (slash && s[i] == '/')) return i;
  }
  return std::string_view::npos;
}

// Segments of a path that starts with '/': "/a/b" -> {"a", "b"}, "/" -> {""}.
std::vector<std::string_view> SplitSegments(std::string_view path) {
  std::vector<std::string_view> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path.remove_prefix(slash + 1);
  }
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1)
bool IsScheme(std::string_view s) {
  if (s.empty() || !IsAlpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.';
  });
}

// Appends one templated segment's raw value to an object id, '/'-separated, within
// kMaxObjectIdBytes: a cut value stays cut (bytes, not characters: ids are compared, not shown).
void AppendObjectId(std::string& object_id, std::string_view segment) {
  const size_t separator = object_id.empty() ? 0 : 1;
  if (object_id.size() + separator >= kMaxObjectIdBytes) return;  // no room after the '/'
  if (separator != 0) object_id += '/';
  object_id.append(segment.substr(0, kMaxObjectIdBytes - object_id.size()));
}

// Identifiers shorter than this are left alone unless all digits or a UUID: short words
// ("v2", "page1", "deadbeef") are more often fixed route parts than ids.
constexpr size_t kMinLongIdLength = 16;

}  // namespace

std::string_view TargetPath(std::string_view target) {
  if (target == "*") return target;
  if (!target.empty() && target.front() == '/') return target.substr(0, FindDelimiter(target));
  // absolute-form (RFC 9112 §3.2.2): scheme "://" authority path-abempty [ "?" query ]
  const size_t sep = target.find("://");
  if (sep != std::string_view::npos && IsScheme(target.substr(0, sep))) {
    std::string_view rest = target.substr(sep + 3);
    const size_t start = FindDelimiter(rest, /*slash=*/true);
    if (start == std::string_view::npos || rest[start] != '/') return {};
    rest.remove_prefix(start);
    return rest.substr(0, FindDelimiter(rest));
  }
  return {};  // authority-form (CONNECT host:port) or malformed: no path
}

bool IsIdentifierSegment(std::string_view s) {
  if (s.empty()) return false;
  if (std::all_of(s.begin(), s.end(), IsDigit)) return true;
  if (IsUuid(s)) return true;
  if (s.size() < kMinLongIdLength) return false;
  if (std::all_of(s.begin(), s.end(), IsHex)) return true;
  return std::any_of(s.begin(), s.end(), IsDigit) && std::any_of(s.begin(), s.end(), IsAlpha);
}

std::string TemplatePath(std::string_view path, std::string* object_id) {
  if (path.empty()) return "/";
  if (path.front() != '/') return std::string(path);  // "*"
  std::string out;
  out.reserve(path.size());
  for (std::string_view segment : SplitSegments(path)) {
    out += '/';
    if (IsIdentifierSegment(segment)) {
      out += kIdSegment;
      if (object_id != nullptr) AppendObjectId(*object_id, segment);
    } else {
      out += segment;
    }
  }
  return out;
}

RouteTemplater::RouteTemplater(const std::vector<RoutePatternConfig>& patterns,
                               uint32_t max_routes_per_port)
    : max_routes_per_port_(max_routes_per_port) {
  for (const RoutePatternConfig& config : patterns) {
    Pattern pattern{config.port, config.pattern, {}};
    for (std::string_view segment : SplitSegments(config.pattern)) {
      const bool wildcard = segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
      pattern.segments.push_back({wildcard ? std::string() : std::string(segment), wildcard});
    }
    patterns_.push_back(std::move(pattern));
  }
}

const RouteTemplater::Pattern* RouteTemplater::Match(
    uint16_t server_port, const std::vector<std::string_view>& segments) const {
  for (const Pattern& pattern : patterns_) {
    if (pattern.port != 0 && pattern.port != server_port) continue;
    if (pattern.segments.size() != segments.size()) continue;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const Segment& want = pattern.segments[i];
      match = want.wildcard ? !segments[i].empty() : want.literal == segments[i];
    }
    if (match) return &pattern;
  }
  return nullptr;
}

std::string RouteTemplater::Route(uint16_t server_port, std::string_view target,
                                  std::string* object_id) {
  if (object_id != nullptr) object_id->clear();
  std::string_view path = TargetPath(target);
  if (path.empty()) path = "/";
  if (path == "*") return "*";
  if (!patterns_.empty()) {
    const std::vector<std::string_view> segments = SplitSegments(path);
    if (const Pattern* pattern = Match(server_port, segments)) {
      if (object_id != nullptr) {
        for (size_t i = 0; i < segments.size(); ++i) {
          if (pattern->segments[i].wildcard) AppendObjectId(*object_id, segments[i]);
        }
      }
      return pattern->text;
    }
  }

  std::string route = TemplatePath(path, object_id);
  std::unordered_set<std::string>& routes = seen_[server_port];
  if (routes.contains(route)) return route;
  if (routes.size() >= max_routes_per_port_) {
    ++overflowed_;
    if (object_id != nullptr) object_id->clear();
    return std::string(kOverflowRoute);
  }
  routes.insert(route);
  return route;
}

size_t RouteTemplater::distinct_routes(uint16_t server_port) const {
  const auto it = seen_.find(server_port);
  return it == seen_.end() ? 0 : it->second.size();
}

}  // namespace ta::analyzer::routes
