#include "agent/enforce/rule.h"

#include <array>
#include <utility>

namespace ta::agent::enforce {
namespace {

constexpr std::array<std::pair<std::string_view, RuleKind>, 4> kKinds = {{
    {"drop", RuleKind::kDrop},
    {"rate_limit", RuleKind::kRateLimit},
    {"syn_throttle", RuleKind::kSynThrottle},
    {"allow", RuleKind::kAllow},
}};

constexpr std::array<std::pair<std::string_view, RuleOrigin>, 3> kOrigins = {{
    {"detector", RuleOrigin::kDetector},
    {"operator", RuleOrigin::kOperator},
    {"config", RuleOrigin::kConfig},
}};

template <typename Table>
std::string Names(const Table& table) {
  std::string out;
  for (const auto& [name, value] : table) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

}  // namespace

std::string_view RuleKindName(RuleKind kind) {
  for (const auto& [name, value] : kKinds) {
    if (value == kind) return name;
  }
  return "unknown";
}

Result<RuleKind> ParseRuleKind(std::string_view text) {
  for (const auto& [name, value] : kKinds) {
    if (name == text) return value;
  }
  return Error{0,
               "unknown rule kind '" + std::string(text) + "', expected one of " + Names(kKinds)};
}

std::string_view RuleOriginName(RuleOrigin origin) {
  for (const auto& [name, value] : kOrigins) {
    if (value == origin) return name;
  }
  return "unknown";
}

Result<RuleOrigin> ParseRuleOrigin(std::string_view text) {
  for (const auto& [name, value] : kOrigins) {
    if (name == text) return value;
  }
  return Error{
      0, "unknown rule origin '" + std::string(text) + "', expected one of " + Names(kOrigins)};
}

}  // namespace ta::agent::enforce
