// Route templating (analyzer/routes/route_template.h): configured patterns and request targets,
// both from the input.
//
// Input: [control: 1 byte] then lines separated by LF:
//   control: bits 0-1 how many of the first lines are patterns (0-3; a '/' is put in front of
//            one that lacks it, as the config parser requires it); bits 2-3
//            max_routes_per_port {1, 2, 16, 1000}; bit 4 the first pattern is for port 80
//            only (else any port).
//   the remaining lines are request targets, sent alternately to ports 80 and 8080.
// Besides not crashing: the path is a part of the target, a route is never empty, and the
// number of distinct routes per port stays within its bound (plus the overflow route).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/routes/route_template.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

TA_FUZZ_TARGET(route_template) {
  static constexpr uint32_t kMaxRoutes[] = {1, 2, 16, 1000};
  ta::fuzz::FuzzInput in(data, size);
  const uint8_t control = in.TakeByte();
  const std::string_view text = ta::fuzz::AsText(in.TakeRest());
  std::vector<std::string_view> lines;
  for (size_t start = 0; start <= text.size();) {
    const size_t lf = text.find('\n', start);
    const size_t end = lf == std::string_view::npos ? text.size() : lf;
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }

  const size_t pattern_count = std::min<size_t>(control & 3, lines.size());
  std::vector<ta::analyzer::RoutePatternConfig> patterns;
  for (size_t i = 0; i < pattern_count; ++i) {
    // The config parser only accepts absolute patterns (agent/config.cc); keep to that.
    std::string pattern(lines[i]);
    if (!pattern.starts_with('/')) pattern.insert(0, 1, '/');
    patterns.push_back({static_cast<uint16_t>(i == 0 && (control & 0x10) != 0 ? 80 : 0),
                        std::move(pattern)});
  }
  const uint32_t max_routes = kMaxRoutes[(control >> 2) & 3];
  ta::analyzer::routes::RouteTemplater templater(patterns, max_routes);

  for (size_t i = pattern_count; i < lines.size(); ++i) {
    const ta::fuzz::ExactBytes target(lines[i]);
    const std::string_view path = ta::analyzer::routes::TargetPath(target.view());
    if (!path.empty()) {
      TA_FUZZ_CHECK(path.data() >= target.view().data() &&
                    path.data() + path.size() <= target.view().data() + target.view().size());
    }
    const ta::fuzz::ExactBytes path_copy(path);
    (void)ta::analyzer::routes::TemplatePath(path_copy.view());
    (void)ta::analyzer::routes::IsIdentifierSegment(path_copy.view());
    const uint16_t port = i % 2 == 0 ? 80 : 8080;
    const std::string route = templater.Route(port, target.view());
    TA_FUZZ_CHECK(!route.empty());
    TA_FUZZ_CHECK(templater.distinct_routes(port) <= max_routes + 1);
  }
}
