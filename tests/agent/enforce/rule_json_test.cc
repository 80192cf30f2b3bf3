#include "agent/enforce/rule_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ta::agent::enforce {
namespace {

// The prefix `text` must denote (tests only).
Cidr MustParse(std::string_view text) { return Cidr::Parse(text).value(); }

using nlohmann::json;

constexpr int64_t kCreated = 1'764'032'000'123'456'789;  // 2025-11-25T00:53:20.123456789Z

Rule Sample() {
  Rule r;
  r.id = 7;
  r.kind = RuleKind::kRateLimit;
  r.source = MustParse("198.18.0.0/15");
  r.port = 443;
  r.rate_per_second = 12.5;
  r.burst = 50;
  r.admit_ratio = 1.0;
  r.dry_run = true;
  r.created_unix_ns = kCreated;
  r.expires_unix_ns = kCreated + 600'000'000'000;
  r.origin = RuleOrigin::kDetector;
  r.anomaly_id = 12;
  r.detector = "flood";
  r.reason = "flood on :443 /api: 9000 req/s vs 100 \"expected\"";
  r.offence = 3;
  r.slot = 5;
  r.bpf_rule_id = 99;
  return r;
}

TEST(RuleJsonTest, TimesAreRfc3339WithMilliseconds) {
  EXPECT_EQ(RuleToJson(Sample())["created"], "2025-11-25T00:53:20.123Z");
  EXPECT_EQ(RuleToJson(Sample())["expires"], "2025-11-25T01:03:20.123Z");
}

TEST(RuleJsonTest, RuleToJsonHasEveryField) {
  const json j = RuleToJson(Sample());
  const json expected = json::parse(R"({
    "id": 7, "kind": "rate_limit", "source": "198.18.0.0/15", "port": 443, "rate": 12.5,
    "burst": 50, "admit_ratio": 1.0, "dry_run": true,
    "created": "2025-11-25T00:53:20.123Z", "expires": "2025-11-25T01:03:20.123Z",
    "created_unix_ns": 1764032000123456789, "expires_unix_ns": 1764032600123456789,
    "origin": "detector", "anomaly_id": 12, "detector": "flood",
    "reason": "flood on :443 /api: 9000 req/s vs 100 \"expected\"", "offence": 3})");
  EXPECT_EQ(j, expected) << j.dump();
}

TEST(RuleJsonTest, SynThrottleHasNoSourceAndForeverHasNoExpiry) {
  Rule r = Sample();
  r.kind = RuleKind::kSynThrottle;
  r.admit_ratio = 0.25;
  r.expires_unix_ns = 0;
  const json j = RuleToJson(r);
  EXPECT_TRUE(j["source"].is_null());
  EXPECT_TRUE(j["expires"].is_null());
  EXPECT_EQ(j["expires_unix_ns"], 0);
  EXPECT_EQ(j["admit_ratio"], 0.25);
}

TEST(RuleJsonTest, RoundTrip) {
  std::vector<Rule> rules;
  rules.push_back(Sample());
  Rule syn = Sample();
  syn.kind = RuleKind::kSynThrottle;
  syn.source = Cidr{};
  syn.admit_ratio = 0.123456789012345;
  syn.expires_unix_ns = 0;
  rules.push_back(syn);
  Rule allow = Sample();
  allow.kind = RuleKind::kAllow;
  allow.source = MustParse("2001:db8::1");
  allow.origin = RuleOrigin::kConfig;
  allow.reason = "";
  allow.detector = "";
  allow.rate_per_second = 0;
  allow.burst = 0;
  rules.push_back(allow);
  for (const Rule& r : rules) {
    // Through text, as rules.json and the control socket carry it.
    auto back = RuleFromJson(json::parse(RuleToJson(r).dump()));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->kind, r.kind);
    EXPECT_EQ(back->source, r.source);
    EXPECT_EQ(back->port, r.port);
    EXPECT_EQ(back->rate_per_second, r.rate_per_second);
    EXPECT_EQ(back->burst, r.burst);
    EXPECT_EQ(back->admit_ratio, r.admit_ratio);
    EXPECT_EQ(back->dry_run, r.dry_run);
    EXPECT_EQ(back->created_unix_ns, r.created_unix_ns);
    EXPECT_EQ(back->expires_unix_ns, r.expires_unix_ns);
    EXPECT_EQ(back->origin, r.origin);
    EXPECT_EQ(back->anomaly_id, r.anomaly_id);
    EXPECT_EQ(back->detector, r.detector);
    EXPECT_EQ(back->reason, r.reason);
    EXPECT_EQ(back->offence, r.offence);
    EXPECT_EQ(back->slot, 0u);  // kernel identity is not persisted
    EXPECT_EQ(back->bpf_rule_id, 0u);
  }
}

TEST(RuleJsonTest, RuleFromJsonNamesTheBadField) {
  const json good = RuleToJson(Sample());
  const std::vector<std::tuple<std::string, json, std::string>> cases = {
      {"id", 0, "'id' must be an integer in 1..18446744073709551615, got 0"},
      {"id", "7", "'id' must be an integer in 1..18446744073709551615, got \"7\""},
      {"kind", "block",
       "'kind' is \"block\", expected one of drop, rate_limit, syn_throttle, allow"},
      {"source", "10.1.2.3/8",
       "'source' '10.1.2.3/8': host bits are set (did you mean 10.0.0.0/8, or 10.1.2.3/32?)"},
      {"source", nullptr,
       "'source' must be an address or CIDR string such as \"198.18.0.0/15\", got null"},
      {"port", 65536, "'port' must be an integer in 0..65535, got 65536"},
      {"port", -1, "'port' must be an integer in 0..65535, got -1"},
      {"port", 80.0, "'port' must be an integer in 0..65535, got 80.0"},
      {"rate", "fast", "'rate' must be a finite number (packets per second), got \"fast\""},
      {"burst", 4294967296, "'burst' must be an integer in 0..4294967295, got 4294967296"},
      {"admit_ratio", 2, "'admit_ratio' must be a number in [0, 1], got 2"},
      {"dry_run", 1, "'dry_run' must be true or false, got 1"},
      {"created_unix_ns", 1.5,
       "'created_unix_ns' must be an integer (nanoseconds since the epoch), got 1.5"},
      {"origin", "admin", "'origin' must be one of detector, operator, config, got \"admin\""},
      {"detector", 3, "'detector' must be a string, got 3"},
      {"offence", 0, "'offence' must be an integer in 1..4294967295, got 0"},
  };
  for (const auto& [field, value, message] : cases) {
    json bad = good;
    bad[field] = value;
    auto parsed = RuleFromJson(bad);
    ASSERT_FALSE(parsed.ok()) << field;
    EXPECT_EQ(parsed.error().message, message);
  }
  json missing = good;
  missing.erase("reason");
  EXPECT_EQ(RuleFromJson(missing).error().message, "rule is missing field 'reason'");
  json extra = good;
  extra["colour"] = "red";
  EXPECT_EQ(RuleFromJson(extra).error().message,
            "unknown field 'colour' in a rule (accepted: id, kind, source, port, rate, burst, "
            "admit_ratio, dry_run, created, expires, created_unix_ns, expires_unix_ns, origin, "
            "anomaly_id, detector, reason, offence)");
  EXPECT_EQ(RuleFromJson(json::array()).error().message, "a rule must be a JSON object, got []");
  json syn = good;
  syn["kind"] = "syn_throttle";
  EXPECT_EQ(RuleFromJson(syn).error().message,
            "'source' must be null for syn_throttle, got \"198.18.0.0/15\"");
}

TEST(RuleJsonTest, CountersToJson) {
  ta_xdp_rule_counters c{};
  c.matched_packets = 1;
  c.matched_bytes = 2;
  c.dropped_packets = 3;
  c.dropped_bytes = 4;
  c.would_drop_packets = 5;
  c.would_drop_bytes = 18446744073709551615ULL;
  EXPECT_EQ(CountersToJson(c).dump(),
            "{\"dropped_bytes\":4,\"dropped_packets\":3,\"matched_bytes\":2,"
            "\"matched_packets\":1,\"would_drop_bytes\":18446744073709551615,"
            "\"would_drop_packets\":5}");
}

TEST(RuleJsonTest, RequestFromJson) {
  auto r = RuleRequestFromJson(json::parse(R"({"kind": "rate_limit", "source": "198.18.0.1",
      "port": 8080, "rate": 2.5, "burst": 10, "ttl_s": 1.5, "dry_run": true,
      "reason": "load test gone wrong"})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->kind, RuleKind::kRateLimit);
  ASSERT_TRUE(r->source.has_value());
  EXPECT_EQ(r->source->ToString(), "198.18.0.1/32");
  EXPECT_EQ(r->port, 8080);
  EXPECT_EQ(r->rate_per_second, 2.5);
  EXPECT_EQ(r->burst, 10u);
  EXPECT_EQ(r->ttl_ns, 1'500'000'000u);
  EXPECT_TRUE(r->dry_run);
  EXPECT_EQ(r->reason, "load test gone wrong");
  EXPECT_EQ(r->origin, RuleOrigin::kOperator);

  auto syn = RuleRequestFromJson(
      json::parse(R"({"kind": "syn_throttle", "source": null, "port": 80, "admit_ratio": 0.5})"));
  ASSERT_TRUE(syn.ok());
  EXPECT_FALSE(syn->source.has_value());
  EXPECT_EQ(syn->admit_ratio, 0.5);
  EXPECT_EQ(syn->ttl_ns, 0u);

  auto minimal = RuleRequestFromJson(json::parse(R"({"kind": "allow"})"));
  ASSERT_TRUE(minimal.ok());
  EXPECT_EQ(minimal->kind, RuleKind::kAllow);
  EXPECT_FALSE(minimal->source.has_value());
}

TEST(RuleJsonTest, RequestErrorsNameTheFieldAndTheAcceptedValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "'kind' is required: one of drop, rate_limit, syn_throttle, allow"},
      {R"([])", "rules.add arguments must be a JSON object, got []"},
      {R"({"kind": "block"})",
       "'kind' is \"block\", expected one of drop, rate_limit, syn_throttle, allow"},
      {R"({"kind": 1})", "'kind' must be one of drop, rate_limit, syn_throttle, allow, got 1"},
      {R"({"kind": "drop", "src": "1.2.3.4"})",
       "unknown field 'src' in rules.add arguments (accepted: kind, source, port, rate, burst, "
       "admit_ratio, ttl_s, dry_run, reason)"},
      {R"({"kind": "drop", "source": "1.2.3"})",
       "'source' '1.2.3': not an address; expected an IPv4 or IPv6 address with an optional "
       "/prefix, e.g. 198.18.0.0/15, 198.18.0.1, 2001:db8::/32"},
      {R"({"kind": "drop", "source": 16909060})",
       "'source' must be an address or CIDR string such as \"198.18.0.0/15\", got 16909060"},
      {R"({"kind": "drop", "port": "http"})",
       "'port' must be an integer in 0..65535, got \"http\""},
      {R"({"kind": "drop", "port": 70000})", "'port' must be an integer in 0..65535, got 70000"},
      {R"({"kind": "rate_limit", "rate": 0})",
       "'rate' must be a number of packets per second above 0, got 0"},
      {R"({"kind": "rate_limit", "rate": "10/s"})",
       "'rate' must be a number of packets per second above 0, got \"10/s\""},
      {R"({"kind": "rate_limit", "burst": 0})",
       "'burst' must be an integer in 1..4294967295, got 0"},
      {R"({"kind": "rate_limit", "burst": 1.5})",
       "'burst' must be an integer in 1..4294967295, got 1.5"},
      {R"({"kind": "syn_throttle", "admit_ratio": -0.5})",
       "'admit_ratio' must be a number in [0, 1], got -0.5"},
      {R"({"kind": "drop", "ttl_s": -1})",
       "'ttl_s' must be a number of seconds in 0..1e9 (0 = never expires), got -1"},
      {R"({"kind": "drop", "ttl_s": 1e10})",
       "'ttl_s' must be a number of seconds in 0..1e9 (0 = never expires), got 10000000000.0"},
      {R"({"kind": "drop", "ttl_s": "10m"})",
       "'ttl_s' must be a number of seconds in 0..1e9 (0 = never expires), got \"10m\""},
      {R"({"kind": "drop", "dry_run": "yes"})", "'dry_run' must be true or false, got \"yes\""},
      {R"({"kind": "drop", "reason": null})", "'reason' must be a string, got null"},
  };
  for (const auto& [text, message] : cases) {
    auto r = RuleRequestFromJson(json::parse(text));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().message, message) << text;
  }
}

}  // namespace
}  // namespace ta::agent::enforce
