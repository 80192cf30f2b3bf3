#include "analyzer/stats/diurnal_baseline.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "analyzer/state/codec.h"

namespace ta::analyzer::stats {

bool DiurnalBaseline::ValidSlot(uint64_t slot_ns) {
  return slot_ns > 0 && slot_ns <= kNsPerDay && kNsPerDay % slot_ns == 0;
}

DiurnalBaseline::DiurnalBaseline(const DiurnalBaselineOptions& options)
    : slot_ns_(ValidSlot(options.slot_ns) ? options.slot_ns : DiurnalBaselineOptions{}.slot_ns),
      min_history_ns_(options.min_history_ns),
      min_samples_per_slot_(options.min_samples_per_slot),
      slots_(static_cast<size_t>(kNsPerDay / slot_ns_),
             Ewma(options.slot_half_life_ns, options.slot_min_samples)) {}

bool DiurnalBaseline::Add(double value, uint64_t ts_ns) {
  if (frozen_) {
    ++frozen_dropped_;
    return false;
  }
  if (samples_ == 0) {
    first_ts_ns_ = ts_ns;
    last_ts_ns_ = ts_ns;
  } else {
    first_ts_ns_ = std::min(first_ts_ns_, ts_ns);
    last_ts_ns_ = std::max(last_ts_ns_, ts_ns);
  }
  Ewma& slot = slots_[SlotOf(ts_ns)];
  slot.Add(value, ts_ns);
  if (slot.samples() == std::max<uint64_t>(min_samples_per_slot_, 1)) ++learned_slots_;
  ++samples_;
  return true;
}

bool DiurnalBaseline::ready() const {
  return samples_ != 0 && last_ts_ns_ - first_ts_ns_ >= min_history_ns_;
}

double DiurnalBaseline::learned_fraction() const {
  if (min_samples_per_slot_ == 0) return 1.0;
  return static_cast<double>(learned_slots_) / static_cast<double>(slots_.size());
}

std::optional<DiurnalExpectation> DiurnalBaseline::Expected(uint64_t ts_ns) const {
  if (!ready()) return std::nullopt;
  const Ewma& slot = slots_[SlotOf(ts_ns)];
  if (slot.samples() == 0) return std::nullopt;
  return DiurnalExpectation{slot.mean(), slot.stddev(), slot.samples()};
}

uint64_t DiurnalBaseline::out_of_order() const {
  uint64_t n = 0;
  for (const Ewma& s : slots_) n += s.out_of_order();
  return n;
}

void DiurnalBaseline::Save(state::Writer& out) const {
  out.Tag("DIUR");
  out.U64(slot_ns_);
  out.U32(static_cast<uint32_t>(slots_.size()));
  for (const Ewma& s : slots_) s.Save(out);
  out.U64(samples_);
  out.U64(first_ts_ns_);
  out.U64(last_ts_ns_);
  out.U64(frozen_dropped_);
}

bool DiurnalBaseline::Load(state::Reader& in) {
  if (!in.Tag("DIUR")) return false;
  const uint64_t slot_ns = in.U64();
  const uint32_t slot_count = in.U32();
  if (!in.ok()) return false;
  if (slot_ns != slot_ns_ || slot_count != slots_.size()) {
    in.Fail("diurnal baseline: snapshot has " + std::to_string(slot_count) + " slots of " +
            std::to_string(slot_ns) + " ns, configured " + std::to_string(slots_.size()) +
            " slots of " + std::to_string(slot_ns_) + " ns");
    return false;
  }
  // Decode into a copy (which keeps this object's slot configuration), swap in at the end.
  std::vector<Ewma> slots = slots_;
  uint64_t slot_samples = 0;
  size_t learned = 0;
  const uint64_t learned_at = std::max<uint64_t>(min_samples_per_slot_, 1);
  for (Ewma& s : slots) {
    if (!s.Load(in)) return false;
    if (s.samples() > UINT64_MAX - slot_samples) {
      in.Fail("diurnal baseline: slot sample counts overflow");
      return false;
    }
    slot_samples += s.samples();
    if (s.samples() >= learned_at) ++learned;
  }
  const uint64_t samples = in.U64();
  const uint64_t first_ts_ns = in.U64();
  const uint64_t last_ts_ns = in.U64();
  const uint64_t frozen_dropped = in.U64();
  if (!in.ok()) return false;
  if (samples != slot_samples) {
    in.Fail("diurnal baseline: " + std::to_string(samples) + " samples but the slots hold " +
            std::to_string(slot_samples));
    return false;
  }
  if (samples == 0 ? (first_ts_ns != 0 || last_ts_ns != 0) : first_ts_ns > last_ts_ns) {
    in.Fail("diurnal baseline: first time after latest time");
    return false;
  }
  slots_ = std::move(slots);
  learned_slots_ = learned;
  samples_ = samples;
  first_ts_ns_ = first_ts_ns;
  last_ts_ns_ = last_ts_ns;
  frozen_dropped_ = frozen_dropped;
  return true;
}

}  // namespace ta::analyzer::stats
