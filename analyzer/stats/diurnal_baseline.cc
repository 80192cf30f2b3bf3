#include "analyzer/stats/diurnal_baseline.h"

#include <algorithm>

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

}  // namespace ta::analyzer::stats
