#include "agent/enforce/rule_json.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "agent/alerts/text.h"

namespace ta::agent::enforce {
namespace {

using nlohmann::json;

// ttl_s bound: 1e9 s (31 years) keeps ttl_ns and now + ttl_ns far from int64 overflow.
constexpr double kMaxTtlSeconds = 1e9;

constexpr std::array<std::string_view, 9> kRequestFields = {
    "kind", "source", "port", "rate", "burst", "admit_ratio", "ttl_s", "dry_run", "reason"};
constexpr std::array<std::string_view, 17> kRuleFields = {
    "id",      "kind",       "source",          "port",
    "rate",    "burst",      "admit_ratio",     "dry_run",
    "created", "expires",    "created_unix_ns", "expires_unix_ns",
    "origin",  "anomaly_id", "detector",        "reason",
    "offence"};

template <size_t N>
std::string List(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// How a JSON value reads in an error: its text, shortened.
std::string Shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 64) text = text.substr(0, 61) + "...";
  return text;
}

Error FieldError(std::string_view field, std::string_view accepts, const json& got) {
  return Error{
      0, "'" + std::string(field) + "' must be " + std::string(accepts) + ", got " + Shown(got)};
}

template <size_t N>
Result<void> CheckFields(const json& object, const std::array<std::string_view, N>& known,
                         std::string_view what) {
  if (!object.is_object()) {
    return Error{0, std::string(what) + " must be a JSON object, got " + Shown(object)};
  }
  for (const auto& item : object.items()) {
    bool found = false;
    for (std::string_view k : known) found = found || k == item.key();
    if (!found) {
      return Error{0, "unknown field '" + item.key() + "' in " + std::string(what) +
                          " (accepted: " + List(known) + ")"};
    }
  }
  return {};
}

// An unsigned integer in [min, max]; JSON numbers written as 80.0 are not integers here.
Result<uint64_t> Unsigned(const json& value, std::string_view field, uint64_t min, uint64_t max) {
  const std::string accepts = "an integer in " + std::to_string(min) + ".." + std::to_string(max);
  if (!value.is_number_integer()) return FieldError(field, accepts, value);
  if (value.is_number_unsigned()) {
    const auto v = value.get<uint64_t>();
    if (v < min || v > max) return FieldError(field, accepts, value);
    return v;
  }
  const auto v = value.get<int64_t>();
  if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
    return FieldError(field, accepts, value);
  }
  return static_cast<uint64_t>(v);
}

Result<int64_t> Signed(const json& value, std::string_view field) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<int64_t>();
  if (value.is_number_unsigned() &&
      value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  return FieldError(field, "an integer (nanoseconds since the epoch)", value);
}

Result<double> Number(const json& value, std::string_view field, std::string_view accepts) {
  if (!value.is_number()) return FieldError(field, accepts, value);
  const auto v = value.get<double>();
  if (!std::isfinite(v)) return FieldError(field, accepts, value);
  return v;
}

Result<bool> Bool(const json& value, std::string_view field) {
  if (!value.is_boolean()) return FieldError(field, "true or false", value);
  return value.get<bool>();
}

Result<std::string> String(const json& value, std::string_view field) {
  if (!value.is_string()) return FieldError(field, "a string", value);
  return value.get<std::string>();
}

Result<Cidr> Source(const json& value) {
  if (!value.is_string()) {
    return FieldError("source", "an address or CIDR string such as \"198.18.0.0/15\"", value);
  }
  auto cidr = Cidr::Parse(value.get<std::string>());
  if (!cidr.ok()) return Error{0, "'source' " + cidr.error().message};
  return cidr;
}

Result<RuleKind> Kind(const json& value) {
  if (!value.is_string()) {
    return FieldError("kind", "one of drop, rate_limit, syn_throttle, allow", value);
  }
  auto kind = ParseRuleKind(value.get<std::string>());
  if (!kind.ok()) {
    return Error{0, "'kind' is " + Shown(value) +
                        ", expected one of drop, rate_limit, "
                        "syn_throttle, allow"};
  }
  return kind;
}

// Rule times as the alert sinks print theirs (RFC 3339, UTC, milliseconds); a rule never has a
// time before 1970.
std::string Rfc3339(int64_t unix_ns) {
  return alerts::FormatRfc3339Millis(static_cast<uint64_t>(std::max<int64_t>(0, unix_ns)));
}

}  // namespace

json RuleToJson(const Rule& rule) {
  const bool has_source = rule.kind != RuleKind::kSynThrottle;
  return json{
      {"id", rule.id},
      {"kind", RuleKindName(rule.kind)},
      {"source", has_source ? json(rule.source.ToString()) : json(nullptr)},
      {"port", rule.port},
      {"rate", rule.rate_per_second},
      {"burst", rule.burst},
      {"admit_ratio", rule.admit_ratio},
      {"dry_run", rule.dry_run},
      {"created", Rfc3339(rule.created_unix_ns)},
      {"expires",
       rule.expires_unix_ns == 0 ? json(nullptr) : json(Rfc3339(rule.expires_unix_ns))},
      {"created_unix_ns", rule.created_unix_ns},
      {"expires_unix_ns", rule.expires_unix_ns},
      {"origin", RuleOriginName(rule.origin)},
      {"anomaly_id", rule.anomaly_id},
      {"detector", rule.detector},
      {"reason", rule.reason},
      {"offence", rule.offence},
  };
}

Result<Rule> RuleFromJson(const json& object) {
  if (auto ok = CheckFields(object, kRuleFields, "a rule"); !ok) return ok.error();
  for (std::string_view field : kRuleFields) {
    if (!object.contains(field)) {
      return Error{0, "rule is missing field '" + std::string(field) + "'"};
    }
  }
  Rule rule;
  auto id = Unsigned(object["id"], "id", 1, std::numeric_limits<uint64_t>::max());
  if (!id.ok()) return id.error();
  rule.id = *id;
  auto kind = Kind(object["kind"]);
  if (!kind.ok()) return kind.error();
  rule.kind = *kind;
  if (rule.kind == RuleKind::kSynThrottle) {
    if (!object["source"].is_null())
      return FieldError("source", "null for syn_throttle", object["source"]);
  } else {
    auto source = Source(object["source"]);
    if (!source.ok()) return source.error();
    rule.source = *source;
  }
  auto port = Unsigned(object["port"], "port", 0, 65535);
  if (!port.ok()) return port.error();
  rule.port = static_cast<uint16_t>(*port);
  auto rate = Number(object["rate"], "rate", "a finite number (packets per second)");
  if (!rate.ok()) return rate.error();
  rule.rate_per_second = *rate;
  auto burst = Unsigned(object["burst"], "burst", 0, std::numeric_limits<uint32_t>::max());
  if (!burst.ok()) return burst.error();
  rule.burst = static_cast<uint32_t>(*burst);
  auto ratio = Number(object["admit_ratio"], "admit_ratio", "a number in [0, 1]");
  if (!ratio.ok()) return ratio.error();
  if (*ratio < 0 || *ratio > 1) {
    return FieldError("admit_ratio", "a number in [0, 1]", object["admit_ratio"]);
  }
  rule.admit_ratio = *ratio;
  auto dry_run = Bool(object["dry_run"], "dry_run");
  if (!dry_run.ok()) return dry_run.error();
  rule.dry_run = *dry_run;
  auto created = Signed(object["created_unix_ns"], "created_unix_ns");
  if (!created.ok()) return created.error();
  rule.created_unix_ns = *created;
  auto expires = Signed(object["expires_unix_ns"], "expires_unix_ns");
  if (!expires.ok()) return expires.error();
  rule.expires_unix_ns = *expires;
  if (!object["origin"].is_string()) {
    return FieldError("origin", "one of detector, operator, config", object["origin"]);
  }
  auto origin = ParseRuleOrigin(object["origin"].get<std::string>());
  if (!origin.ok())
    return FieldError("origin", "one of detector, operator, config", object["origin"]);
  rule.origin = *origin;
  auto anomaly =
      Unsigned(object["anomaly_id"], "anomaly_id", 0, std::numeric_limits<uint64_t>::max());
  if (!anomaly.ok()) return anomaly.error();
  rule.anomaly_id = *anomaly;
  auto detector = String(object["detector"], "detector");
  if (!detector.ok()) return detector.error();
  rule.detector = std::move(detector.value());
  auto reason = String(object["reason"], "reason");
  if (!reason.ok()) return reason.error();
  rule.reason = std::move(reason.value());
  auto offence = Unsigned(object["offence"], "offence", 1, std::numeric_limits<uint32_t>::max());
  if (!offence.ok()) return offence.error();
  rule.offence = static_cast<uint32_t>(*offence);
  return rule;
}

json CountersToJson(const ta_xdp_rule_counters& c) {
  return json{
      {"matched_packets", c.matched_packets},       {"matched_bytes", c.matched_bytes},
      {"dropped_packets", c.dropped_packets},       {"dropped_bytes", c.dropped_bytes},
      {"would_drop_packets", c.would_drop_packets}, {"would_drop_bytes", c.would_drop_bytes},
  };
}

Result<RuleRequest> RuleRequestFromJson(const json& args) {
  if (auto ok = CheckFields(args, kRequestFields, "rules.add arguments"); !ok) {
    return ok.error();
  }
  if (!args.contains("kind")) {
    return Error{0, "'kind' is required: one of drop, rate_limit, syn_throttle, allow"};
  }
  RuleRequest request;
  request.origin = RuleOrigin::kOperator;
  auto kind = Kind(args["kind"]);
  if (!kind.ok()) return kind.error();
  request.kind = *kind;
  if (auto it = args.find("source"); it != args.end() && !it->is_null()) {
    auto source = Source(*it);
    if (!source.ok()) return source.error();
    request.source = *source;
  }
  if (auto it = args.find("port"); it != args.end()) {
    auto port = Unsigned(*it, "port", 0, 65535);
    if (!port.ok()) return port.error();
    request.port = static_cast<uint16_t>(*port);
  }
  if (auto it = args.find("rate"); it != args.end()) {
    auto rate = Number(*it, "rate", "a number of packets per second above 0");
    if (!rate.ok()) return rate.error();
    if (*rate <= 0) return FieldError("rate", "a number of packets per second above 0", *it);
    request.rate_per_second = *rate;
  }
  if (auto it = args.find("burst"); it != args.end()) {
    auto burst = Unsigned(*it, "burst", 1, std::numeric_limits<uint32_t>::max());
    if (!burst.ok()) return burst.error();
    request.burst = static_cast<uint32_t>(*burst);
  }
  if (auto it = args.find("admit_ratio"); it != args.end()) {
    auto ratio = Number(*it, "admit_ratio", "a number in [0, 1]");
    if (!ratio.ok()) return ratio.error();
    if (*ratio < 0 || *ratio > 1) return FieldError("admit_ratio", "a number in [0, 1]", *it);
    request.admit_ratio = *ratio;
  }
  if (auto it = args.find("ttl_s"); it != args.end()) {
    const std::string accepts = "a number of seconds in 0..1e9 (0 = never expires)";
    auto ttl = Number(*it, "ttl_s", accepts);
    if (!ttl.ok()) return ttl.error();
    if (*ttl < 0 || *ttl > kMaxTtlSeconds) return FieldError("ttl_s", accepts, *it);
    request.ttl_ns = static_cast<uint64_t>(std::llround(*ttl * 1e9));
  }
  if (auto it = args.find("dry_run"); it != args.end()) {
    auto dry_run = Bool(*it, "dry_run");
    if (!dry_run.ok()) return dry_run.error();
    request.dry_run = *dry_run;
  }
  if (auto it = args.find("reason"); it != args.end()) {
    auto reason = String(*it, "reason");
    if (!reason.ok()) return reason.error();
    request.reason = std::move(reason.value());
  }
  return request;
}

}  // namespace ta::agent::enforce
