#include "agent/enforce/rule_manager.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "agent/enforce/rule_json.h"
#include "agent/state_store.h"

namespace ta::agent::enforce {
namespace {

using nlohmann::json;

constexpr std::string_view kFileName = "rules.json";
constexpr int kFileVersion = 1;

// rules.json goes through StateStore (agent/state_store.h) for its atomic replace, set-aside
// and directory checks, as plain JSON rather than inside the binary snapshot container:
// operators read it, and a torn or edited file is caught by the JSON parser and the field
// checks. (StateStore bounds what it reads to kMaxSnapshotBytes, 256 MiB: far above 1M rules.)
StateStore Store(const std::string& dir) {
  return StateStore(dir, std::string(kFileName), kFileVersion, StateStore::Framing::kPlain);
}

// The kernel's view of an expiry: CLOCK_MONOTONIC, 0 = never. A rule that has already expired
// gets 1 ns, which the XDP program treats as expired (never 0, which would mean "forever").
uint64_t MonoExpiry(int64_t expires_unix_ns, int64_t wall_minus_mono_ns) {
  if (expires_unix_ns == 0) return 0;
  int64_t mono = 0;
  if (__builtin_sub_overflow(expires_unix_ns, wall_minus_mono_ns, &mono)) {
    return wall_minus_mono_ns < 0 ? std::numeric_limits<uint64_t>::max() : 1;
  }
  return mono < 1 ? 1 : static_cast<uint64_t>(mono);
}

}  // namespace

RuleManager::RuleManager(RuleManagerConfig config, RuleTable& table)
    : config_(std::move(config)), table_(table) {}

Result<void> RuleManager::Validate(const RuleRequest& r) const {
  const std::string_view kind = RuleKindName(r.kind);
  if (r.kind == RuleKind::kSynThrottle) {
    if (r.source.has_value()) {
      return Error{0,
                   "a syn_throttle rule applies to a port as a whole and takes no source; "
                   "use rate_limit or drop for one source"};
    }
    if (r.port == 0) {
      return Error{0,
                   "a syn_throttle rule needs a port (the service port whose SYNs are "
                   "throttled)"};
    }
  } else if (!r.source.has_value()) {
    return Error{0, fmt::format("{} {} rule needs a source (an address or CIDR such as "
                                "198.18.0.0/15)",
                                r.kind == RuleKind::kAllow ? "an" : "a", kind)};
  } else if (r.source->family != 2 && r.source->family != 10) {
    return Error{0, fmt::format("{} {} rule needs an IPv4 or IPv6 source",
                                r.kind == RuleKind::kAllow ? "an" : "a", kind)};
  }
  if (r.kind == RuleKind::kAllow && r.port != 0) {
    return Error{0, "an allow rule passes every packet of its source and takes no port"};
  }
  if (r.kind == RuleKind::kRateLimit) {
    if (!(r.rate_per_second > 0 && r.rate_per_second <= config_.max_rate_per_second)) {
      return Error{0, fmt::format("rate_limit rate must be in (0, {}] packets per second, got {}",
                                  config_.max_rate_per_second, r.rate_per_second)};
    }
    if (r.burst < 1 || r.burst > config_.max_burst) {
      return Error{0, fmt::format("rate_limit burst must be in 1..{} packets, got {}",
                                  config_.max_burst, r.burst)};
    }
  }
  if (!(r.admit_ratio >= 0 && r.admit_ratio <= 1)) {
    return Error{0, fmt::format("admit_ratio must be in [0, 1], got {}", r.admit_ratio)};
  }
  if (r.origin == RuleOrigin::kDetector && r.ttl_ns == 0) {
    return Error{0, "a detector rule needs a ttl above 0 (detector rules always expire)"};
  }
  if (r.origin == RuleOrigin::kOperator && r.reason.empty()) {
    return Error{0,
                 "an operator rule needs a reason (--reason): say why, for whoever finds the "
                 "rule later"};
  }
  if (r.kind == RuleKind::kSynThrottle) {
    if (const Rule* existing = FindSynThrottle(r.port)) {
      return Error{0, fmt::format("port {} already has syn_throttle rule {}; delete it first",
                                  r.port, existing->id)};
    }
  } else if (const Rule* existing = FindBySource(*r.source, r.kind == RuleKind::kAllow)) {
    return Error{0,
                 fmt::format("{} already has {} rule {} ({}); the {} keeps one rule per "
                             "prefix: delete rule {} first",
                             r.source->ToString(), RuleKindName(existing->kind), existing->id,
                             existing->reason.empty() ? "no reason given" : existing->reason,
                             r.kind == RuleKind::kAllow ? "allowlist" : "blocklist", existing->id)};
  }
  if (rules_.size() >= config_.max_rules) {
    return Error{0, fmt::format("rule table full ({} rules): raise enforcement.max_rules or "
                                "delete rules",
                                rules_.size())};
  }
  return {};
}

Result<uint32_t> RuleManager::TakeSlot() {
  if (!free_slots_.empty()) {
    const uint32_t slot = free_slots_.back();
    // A reused slot still holds the previous rule's counters (and newcomer budget).
    if (auto ok = table_.ResetSlot(slot); !ok) {
      return Error{ok.error().err, "cannot reset counters slot " + std::to_string(slot) + ": " +
                                       ok.error().message};
    }
    free_slots_.pop_back();
    return slot;
  }
  return next_slot_++;
}

void RuleManager::ReturnSlot(uint32_t slot) { free_slots_.push_back(slot); }

Result<Rule> RuleManager::Install(Rule rule, int64_t wall_minus_mono_ns) {
  auto slot = TakeSlot();
  if (!slot.ok()) return slot.error();
  rule.slot = *slot;
  rule.bpf_rule_id = next_bpf_rule_id_;
  if (auto ok = table_.Install(rule, MonoExpiry(rule.expires_unix_ns, wall_minus_mono_ns)); !ok) {
    ReturnSlot(rule.slot);
    return Error{ok.error().err, "the kernel refused rule " + std::to_string(rule.id) + " (" +
                                     std::string(RuleKindName(rule.kind)) +
                                     "): " + ok.error().message};
  }
  ++next_bpf_rule_id_;
  if (next_bpf_rule_id_ == 0) next_bpf_rule_id_ = 1;
  rules_.emplace(rule.id, rule);
  return rule;
}

Result<Rule> RuleManager::Add(const RuleRequest& request, int64_t now_unix_ns,
                              int64_t wall_minus_mono_ns) {
  if (auto ok = Validate(request); !ok) {
    ++stats_.rejected;
    return ok.error();
  }
  Rule rule;
  rule.id = next_id_;
  rule.kind = request.kind;
  if (request.source) rule.source = *request.source;
  rule.port = request.port;
  rule.rate_per_second = request.kind == RuleKind::kRateLimit ? request.rate_per_second : 0;
  rule.burst = request.kind == RuleKind::kRateLimit ? request.burst : 0;
  rule.admit_ratio = request.kind == RuleKind::kSynThrottle ? request.admit_ratio : 1.0;
  rule.dry_run = request.dry_run;
  rule.created_unix_ns = now_unix_ns;
  if (request.ttl_ns != 0) {
    if (request.ttl_ns > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() -
                                               std::max<int64_t>(now_unix_ns, 0))) {
      ++stats_.rejected;
      return Error{0, fmt::format("ttl of {} ns is too large; use 0 for a rule that never "
                                  "expires",
                                  request.ttl_ns)};
    }
    rule.expires_unix_ns = now_unix_ns + static_cast<int64_t>(request.ttl_ns);
  }
  rule.origin = request.origin;
  rule.anomaly_id = request.anomaly_id;
  rule.detector = request.detector;
  rule.reason = request.reason;
  rule.offence = request.offence;
  auto installed = Install(std::move(rule), wall_minus_mono_ns);
  if (!installed.ok()) {
    ++stats_.rejected;
    return installed.error();
  }
  ++next_id_;
  ++stats_.added;
  PersistOrLog();
  return installed;
}

Result<Rule> RuleManager::Delete(uint64_t id) {
  auto it = rules_.find(id);
  if (it == rules_.end()) {
    return Error{ENOENT, "no rule with id " + std::to_string(id) +
                             " (`trafficctl rules list` shows the rules and their ids)"};
  }
  if (auto ok = table_.Remove(it->second); !ok) {
    return Error{ok.error().err, "cannot remove rule " + std::to_string(id) +
                                     " from the kernel: " + ok.error().message};
  }
  Rule removed = std::move(it->second);
  rules_.erase(it);
  ReturnSlot(removed.slot);
  ++stats_.deleted;
  PersistOrLog();
  return removed;
}

Result<void> RuleManager::SetAdmitRatio(uint64_t id, double admit_ratio,
                                        int64_t wall_minus_mono_ns) {
  auto it = rules_.find(id);
  if (it == rules_.end()) return Error{ENOENT, "no rule with id " + std::to_string(id)};
  if (it->second.kind != RuleKind::kSynThrottle) {
    return Error{0, fmt::format("rule {} is a {} rule; only syn_throttle rules have an admit "
                                "ratio",
                                id, RuleKindName(it->second.kind))};
  }
  if (!(admit_ratio >= 0 && admit_ratio <= 1)) {
    return Error{0, fmt::format("admit_ratio must be in [0, 1], got {}", admit_ratio)};
  }
  Rule updated = it->second;
  updated.admit_ratio = admit_ratio;
  // Same slot and key: the XDP side replaces the entry's ratio and keeps its credit.
  if (auto ok = table_.Install(updated, MonoExpiry(updated.expires_unix_ns, wall_minus_mono_ns));
      !ok) {
    return Error{ok.error().err, "the kernel refused the new admit ratio of rule " +
                                     std::to_string(id) + ": " + ok.error().message};
  }
  it->second = std::move(updated);
  PersistOrLog();
  return {};
}

std::vector<Rule> RuleManager::Expire(int64_t now_unix_ns) {
  std::vector<Rule> out;
  for (auto it = rules_.begin(); it != rules_.end();) {
    const Rule& rule = it->second;
    if (rule.expires_unix_ns == 0 || rule.expires_unix_ns > now_unix_ns) {
      ++it;
      continue;
    }
    // The XDP program already ignores the expired entry; a failed removal is retried at the
    // next Expire and never extends the rule.
    if (auto ok = table_.Remove(rule); !ok) {
      spdlog::warn("cannot remove expired rule {} from the kernel (retrying): {}", rule.id,
                   ok.error().ToString());
      ++it;
      continue;
    }
    ReturnSlot(rule.slot);
    out.push_back(std::move(it->second));
    it = rules_.erase(it);
    ++stats_.expired;
  }
  if (!out.empty()) PersistOrLog();
  return out;
}

const Rule* RuleManager::Find(uint64_t id) const {
  auto it = rules_.find(id);
  return it == rules_.end() ? nullptr : &it->second;
}

const Rule* RuleManager::FindBySource(const Cidr& source, bool allow) const {
  for (const auto& [id, rule] : rules_) {
    if (rule.kind == RuleKind::kSynThrottle) continue;
    if ((rule.kind == RuleKind::kAllow) == allow && rule.source == source) return &rule;
  }
  return nullptr;
}

const Rule* RuleManager::FindSynThrottle(uint16_t port) const {
  for (const auto& [id, rule] : rules_) {
    if (rule.kind == RuleKind::kSynThrottle && rule.port == port) return &rule;
  }
  return nullptr;
}

std::vector<Rule> RuleManager::List() const {
  std::vector<Rule> out;
  out.reserve(rules_.size());
  for (const auto& [id, rule] : rules_) out.push_back(rule);
  return out;
}

Result<ta_xdp_rule_counters> RuleManager::Counters(uint64_t id) const {
  const Rule* rule = Find(id);
  if (rule == nullptr) return Error{ENOENT, "no rule with id " + std::to_string(id)};
  return table_.Counters(rule->slot);
}

std::string RuleManager::Serialize() const {
  // Rules of the config (the allowlist) are not persisted: the config is their source, the
  // daemon adds them at every start, and one removed from the file must not come back.
  json rules = json::array();
  for (const auto& [id, rule] : rules_) {
    if (rule.origin != RuleOrigin::kConfig) rules.push_back(RuleToJson(rule));
  }
  const json file{{"version", kFileVersion}, {"next_id", next_id_}, {"rules", std::move(rules)}};
  return file.dump(1) + "\n";
}

Result<void> RuleManager::Persist() {
  if (config_.state_dir.empty()) return {};
  return Store(config_.state_dir).Save(Serialize());
}

void RuleManager::PersistOrLog() {
  if (auto ok = Persist(); !ok) {
    // The rule is in force either way; what is lost is only its survival across a restart.
    ++stats_.persist_failed;
    spdlog::error("{} (the rules are in force but would not survive a restart)",
                  ok.error().ToString());
  }
}

Result<RuleManager::RestoreReport> RuleManager::Restore(int64_t now_unix_ns,
                                                        int64_t wall_minus_mono_ns) {
  RestoreReport report;
  if (config_.state_dir.empty()) return report;
  StateStore store = Store(config_.state_dir);
  if (auto ok = store.PrepareDir(); !ok) return ok.error();
  auto text = store.Load();
  if (!text.ok()) {
    if (text.error().err != 0) return text.error();  // unusable directory, unreadable file
    report.note = text.error().message;  // set aside by Load
    return report;
  }
  if (!text->has_value()) return report;

  // Parse everything before installing anything: a file that is corrupt anywhere is set aside
  // as a whole rather than half restored.
  std::vector<Rule> rules;
  std::set<uint64_t> ids;
  uint64_t next_id = 1;
  {
    const json file = json::parse(**text, nullptr, /*allow_exceptions=*/false);
    std::string problem;
    if (file.is_discarded()) {
      problem = "not valid JSON";
    } else if (!file.is_object() || !file.contains("version") || !file.contains("next_id") ||
               !file.contains("rules") || file.size() != 3) {
      problem = "expected an object with exactly version, next_id and rules";
    } else if (file["version"] != kFileVersion) {
      problem = "version " + file["version"].dump() + ", expected " + std::to_string(kFileVersion);
    } else if (!file["next_id"].is_number_unsigned() || file["next_id"].get<uint64_t>() == 0) {
      problem = "next_id is not a positive integer";
    } else if (!file["rules"].is_array()) {
      problem = "rules is not a list";
    } else {
      next_id = file["next_id"].get<uint64_t>();
      for (size_t i = 0; i < file["rules"].size() && problem.empty(); ++i) {
        auto rule = RuleFromJson(file["rules"][i]);
        if (!rule.ok()) {
          problem = "rules[" + std::to_string(i) + "]: " + rule.error().message;
        } else if (rule->id >= next_id) {
          problem = "rules[" + std::to_string(i) + "] has id " + std::to_string(rule->id) +
                    ", not below next_id " + std::to_string(next_id);
        } else if (!ids.insert(rule->id).second) {
          problem = "rules[" + std::to_string(i) + "] repeats id " + std::to_string(rule->id);
        } else {
          rules.push_back(std::move(rule.value()));
        }
      }
    }
    if (!problem.empty()) {
      report.note = store.SetAside(problem).message;
      return report;
    }
  }
  next_id_ = std::max(next_id_, next_id);

  std::vector<std::string> skipped;
  for (Rule& rule : rules) {
    if (rule.origin == RuleOrigin::kConfig) continue;  // re-added from the config (Serialize)
    if (rule.expires_unix_ns != 0 && rule.expires_unix_ns <= now_unix_ns) {
      ++report.expired;
      continue;
    }
    if (rules_.count(rule.id) != 0) {  // Restore() on a manager that already has rules
      skipped.push_back(fmt::format("rule {}: an id already in use", rule.id));
      continue;
    }
    // The same checks as a new request (a lowered max_rules, a duplicate prefix); the TTL check
    // is moot since the expiry is kept as it was.
    RuleRequest as_request;
    as_request.kind = rule.kind;
    if (rule.kind != RuleKind::kSynThrottle) as_request.source = rule.source;
    as_request.port = rule.port;
    as_request.rate_per_second = rule.rate_per_second;
    as_request.burst = rule.burst;
    as_request.admit_ratio = rule.admit_ratio;
    as_request.origin = RuleOrigin::kConfig;  // no reason or TTL requirement at restore
    if (auto ok = Validate(as_request); !ok) {
      skipped.push_back(fmt::format("rule {}: {}", rule.id, ok.error().message));
      continue;
    }
    const uint64_t id = rule.id;
    if (auto installed = Install(std::move(rule), wall_minus_mono_ns); !installed.ok()) {
      skipped.push_back(fmt::format("rule {}: {}", id, installed.error().message));
      continue;
    }
    ++report.restored;
  }
  if (!skipped.empty()) {
    report.note = fmt::format("{} rule(s) of {} not restored: ", skipped.size(), store.path());
    for (size_t i = 0; i < skipped.size(); ++i) {
      if (i != 0) report.note += "; ";
      report.note += skipped[i];
    }
  }
  // Drop what expired while the daemon was down (and anything skipped) from the file.
  if (report.expired != 0 || !skipped.empty()) PersistOrLog();
  return report;
}

}  // namespace ta::agent::enforce
