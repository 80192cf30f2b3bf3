#include "agent/enforce/xdp_rule_table.h"

#include <gtest/gtest.h>

#include <limits>

namespace ta::agent::enforce {
namespace {

// The prefix `text` must denote (tests only).
Cidr MustParse(std::string_view text) { return Cidr::Parse(text).value(); }

Rule RateLimit(double rate, uint32_t burst) {
  Rule r;
  r.id = 3;
  r.kind = RuleKind::kRateLimit;
  r.source = MustParse("198.18.0.0/24");
  r.port = 443;
  r.rate_per_second = rate;
  r.burst = burst;
  r.slot = 17;
  r.bpf_rule_id = 41;
  return r;
}

TEST(XdpRuleTableTest, RateLimitBecomesGcra) {
  const ta_xdp_rule v = XdpRuleValue(RateLimit(100, 50), 123);
  EXPECT_EQ(v.expires_ns, 123u);
  EXPECT_EQ(v.interval_ns, 10'000'000u);  // 1e9 / 100
  EXPECT_EQ(v.tolerance_ns, 500'000'000u);
  EXPECT_EQ(v.rule_id, 41u);
  EXPECT_EQ(v.slot, 17u);
  EXPECT_EQ(v.port, 443);
  EXPECT_EQ(v.action, TA_XDP_ACT_RATE_LIMIT);
  EXPECT_EQ(v.flags, 0);
  EXPECT_EQ(v.pad, 0u);
}

TEST(XdpRuleTableTest, IntervalIsRoundedAndAtLeastOneNanosecond) {
  EXPECT_EQ(XdpRuleValue(RateLimit(3, 1), 0).interval_ns, 333'333'333u);
  EXPECT_EQ(XdpRuleValue(RateLimit(1.5, 1), 0).interval_ns, 666'666'667u);
  EXPECT_EQ(XdpRuleValue(RateLimit(1e9, 1), 0).interval_ns, 1u);
  EXPECT_EQ(XdpRuleValue(RateLimit(3e9, 1), 0).interval_ns, 1u);
  EXPECT_EQ(XdpRuleValue(RateLimit(0.5, 2), 0).tolerance_ns, 4'000'000'000u);
}

TEST(XdpRuleTableTest, ToleranceSaturates) {
  const ta_xdp_rule v = XdpRuleValue(RateLimit(1e-10, 4'000'000'000u), 0);
  EXPECT_EQ(v.interval_ns, 10'000'000'000'000'000'000u);
  EXPECT_EQ(v.tolerance_ns, std::numeric_limits<uint64_t>::max());
}

TEST(XdpRuleTableTest, DropAllowAndDryRun) {
  Rule drop = RateLimit(100, 50);
  drop.kind = RuleKind::kDrop;
  drop.dry_run = true;
  XdpRuleEntry e = XdpRuleEntryFor(drop, 0);
  EXPECT_FALSE(e.allow);
  EXPECT_EQ(e.source.ToString(), "198.18.0.0/24");
  EXPECT_EQ(e.value.action, TA_XDP_ACT_DROP);
  EXPECT_EQ(e.value.flags, TA_XDP_RULE_DRY_RUN);
  EXPECT_EQ(e.value.interval_ns, 0u);  // no bucket for a drop
  EXPECT_EQ(e.value.tolerance_ns, 0u);
  Rule allow = drop;
  allow.kind = RuleKind::kAllow;
  allow.dry_run = false;
  allow.port = 0;
  e = XdpRuleEntryFor(allow, 9);
  EXPECT_TRUE(e.allow);
  EXPECT_EQ(e.value.action, TA_XDP_ACT_ALLOW);
  EXPECT_EQ(e.value.flags, 0);
  EXPECT_EQ(e.value.expires_ns, 9u);
}

TEST(XdpRuleTableTest, SynEntryInPartsPerMillion) {
  Rule syn;
  syn.kind = RuleKind::kSynThrottle;
  syn.port = 8443;
  syn.slot = 4;
  syn.dry_run = true;
  syn.admit_ratio = 0.0500004;
  XdpSynEntry e = XdpSynEntryFor(syn, 77);
  EXPECT_EQ(e.port, 8443);
  EXPECT_EQ(e.admit_ppm, 50'000u);
  EXPECT_EQ(e.slot, 4u);
  EXPECT_TRUE(e.dry_run);
  EXPECT_EQ(e.expires_ns, 77u);
  syn.admit_ratio = 0.0000005;
  EXPECT_EQ(XdpSynEntryFor(syn, 0).admit_ppm, 1u);  // rounds half away from zero
  syn.admit_ratio = 1.0;
  EXPECT_EQ(XdpSynEntryFor(syn, 0).admit_ppm, TA_XDP_PPM);
  syn.admit_ratio = 0.0;
  EXPECT_EQ(XdpSynEntryFor(syn, 0).admit_ppm, 0u);
}

}  // namespace
}  // namespace ta::agent::enforce
