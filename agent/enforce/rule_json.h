// Rules as JSON: what the control socket answers (`rules.list`, `rules.explain`), what
// `rules.add` takes, and what state_dir/rules.json holds (agent/enforce/rule_manager.h).
//
// A rule:
//   {"id": 7, "kind": "rate_limit", "source": "198.18.0.0/15" | null, "port": 0,
//    "rate": 100.0, "burst": 50, "admit_ratio": 1.0, "dry_run": false,
//    "created": "2026-11-25T01:53:14.123Z", "expires": "..." | null,
//    "created_unix_ns": ..., "expires_unix_ns": ... (0 = never),
//    "origin": "detector", "anomaly_id": 12, "detector": "flood", "reason": "...", "offence": 1}
// The RFC 3339 times are for people; the *_unix_ns fields are what RuleFromJson reads back.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "agent/enforce/rule.h"
#include "agent/result.h"
#include "bpf/ta_abi.h"

namespace ta::agent::enforce {

nlohmann::json RuleToJson(const Rule& rule);
// The inverse of RuleToJson (kernel-side slot and bpf_rule_id are left 0). Strict: a missing
// field, a field of the wrong type or out of range, or an unknown field is an error naming it.
Result<Rule> RuleFromJson(const nlohmann::json& json);

// {"matched_packets", "matched_bytes", "dropped_packets", "dropped_bytes",
//  "would_drop_packets", "would_drop_bytes"}
nlohmann::json CountersToJson(const ta_xdp_rule_counters& counters);

// `rules.add` arguments: {"kind", "source", "port", "rate", "burst", "admit_ratio", "ttl_s",
// "dry_run", "reason"}; only "kind" is required. The request's origin is kOperator. Type and
// range errors name the field and what it accepts; an unknown field is an error listing the
// accepted ones. Whether the combination makes sense (a drop needs a source, ...) is the rule
// manager's to say.
Result<RuleRequest> RuleRequestFromJson(const nlohmann::json& args);

}  // namespace ta::agent::enforce
