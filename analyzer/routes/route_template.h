// Route templating: turns a request target into a bounded-cardinality `http.route` label.
//
// Rules, in order:
//  1. Path only. The query and fragment are stripped; an absolute-form target
//     ("http://host/p?q") keeps its path ("/p"); "*" (OPTIONS *) stays "*"; an authority-form
//     target (CONNECT host:port) has no path. An empty path becomes "/". Percent-encoded bytes are
//     left as they are.
//  2. Configured patterns (AnalyzerConfig::route_patterns) are tried in order; the first whose
//     port matches (0 = any) and whose segments match wins, and the route is the pattern text.
//     A "{name}" segment matches exactly one non-empty path segment; other segments match
//     literally (case-sensitive). Pattern routes are bounded by the config, so not capped.
//  3. Otherwise each path segment that looks like an identifier becomes "{id}": all digits; a
//     UUID (8-4-4-4-12 hex); hex of 16 or more characters; or any other token of 16 or more
//     characters that mixes digits and letters (base64 ids, hashes, slugs with numbers).
//  4. At most max_routes_per_port distinct heuristic routes per server port are kept; a request
//     with a route not yet seen beyond that gets kOverflowRoute (counted).
//
// Next to the route, the templater can return the object id: the raw values of the segments that
// became "{id}" or matched a pattern's "{name}", in path order, joined by '/' ("12/34"), cut at
// kMaxObjectIdBytes. The BOLA detector counts distinct ids per client and route, so the id is
// empty when the route overflowed (the route no longer says what the id refers to).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analyzer/analyzer.h"

namespace ta::analyzer::routes {

inline constexpr std::string_view kOverflowRoute = "/{overflow}";
inline constexpr std::string_view kIdSegment = "{id}";
// Bound on an object id (HttpExchange::object_id): enough for a few UUIDs, and a client cannot
// make the detector keep long strings.
inline constexpr size_t kMaxObjectIdBytes = 128;

// Rule 1: the path of a request target ("" when it has none).
std::string_view TargetPath(std::string_view target);
// Rule 3 on a path from TargetPath (no patterns, no cap). When `object_id` is given, the
// replaced segments are appended to it (see above).
std::string TemplatePath(std::string_view path, std::string* object_id = nullptr);
// Rule 3's test for one segment.
bool IsIdentifierSegment(std::string_view segment);

class RouteTemplater {
 public:
  RouteTemplater(const std::vector<RoutePatternConfig>& patterns, uint32_t max_routes_per_port);

  // The route label for a request to `server_port` (rules 1-4). When `object_id` is given, it is
  // set to the request's object id ("" when none, or when the route overflowed).
  std::string Route(uint16_t server_port, std::string_view target,
                    std::string* object_id = nullptr);

  // Requests whose route became kOverflowRoute.
  uint64_t overflowed() const { return overflowed_; }
  size_t distinct_routes(uint16_t server_port) const;

 private:
  struct Segment {
    std::string literal;
    bool wildcard = false;  // "{name}"
  };
  struct Pattern {
    uint16_t port = 0;
    std::string text;
    std::vector<Segment> segments;
  };

  // The first pattern matching `segments` (the path's, from SplitSegments), or null.
  const Pattern* Match(uint16_t server_port, const std::vector<std::string_view>& segments) const;

  std::vector<Pattern> patterns_;
  uint32_t max_routes_per_port_;
  std::unordered_map<uint16_t, std::unordered_set<std::string>> seen_;
  uint64_t overflowed_ = 0;
};

}  // namespace ta::analyzer::routes
