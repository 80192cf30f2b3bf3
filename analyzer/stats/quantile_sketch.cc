#include "analyzer/stats/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "analyzer/state/codec.h"

namespace ta::analyzer::stats {
namespace {

// Below this the bucket index of the largest double (log(DBL_MAX) / log(gamma) ~ 709.8 / 2alpha)
// would not fit in int32_t.
constexpr double kMinRelativeAccuracy = 1e-6;

}  // namespace

QuantileSketch::QuantileSketch(double relative_accuracy, size_t max_buckets)
    : alpha_(relative_accuracy >= kMinRelativeAccuracy && relative_accuracy < 1.0
                 ? relative_accuracy
                 : kDefaultRelativeAccuracy),
      gamma_((1.0 + alpha_) / (1.0 - alpha_)),
      log_gamma_(std::log(gamma_)),
      bins_(std::clamp<size_t>(max_buckets, 1, kMaxMaxBuckets), 0) {}

int32_t QuantileSketch::IndexOf(double value) const {
  return static_cast<int32_t>(std::ceil(std::log(value) / log_gamma_));
}

double QuantileSketch::ValueOf(int32_t index) const {
  // The midpoint in relative terms of (gamma^(k-1), gamma^k]: within alpha of both ends
  // (DDSketch §2, Proposition 3).
  return 2.0 * std::exp(static_cast<double>(index) * log_gamma_) / (gamma_ + 1.0);
}

bool QuantileSketch::Add(double value, uint64_t count) {
  if (count == 0) return true;
  if (!std::isfinite(value) || value < 0.0) {
    rejected_ += count;
    return false;
  }
  if (count_ == 0) {
    min_ = value;
    max_ = value;
  } else {
    min_ = std::min(min_, value);
    max_ = std::max(max_, value);
  }
  count_ += count;
  if (value == 0.0) {
    zero_count_ += count;
  } else {
    AddToIndex(IndexOf(value), count);
  }
  return true;
}

int32_t QuantileSketch::AddToIndex(int32_t index, uint64_t count) {
  if (positive_count_ == 0) {
    // Centre the window on the first bucket so the range can grow either way without a shift.
    const int64_t half = static_cast<int64_t>(bins_.size() - 1) / 2;
    offset_ = static_cast<int32_t>(index - half);
    lo_ = index;
    hi_ = index;
  } else {
    index = MakeRoom(index, count);
    lo_ = std::min(lo_, index);
    hi_ = std::max(hi_, index);
  }
  Bin(index) += count;
  positive_count_ += count;
  return index;
}

int32_t QuantileSketch::MakeRoom(int32_t index, uint64_t count) {
  const int64_t n = static_cast<int64_t>(bins_.size());
  if (index >= offset_ && static_cast<int64_t>(index) < static_cast<int64_t>(offset_) + n) {
    return index;
  }
  const int64_t new_lo = std::min<int64_t>(lo_, index);
  const int64_t new_hi = std::max<int64_t>(hi_, index);
  int64_t new_offset = 0;
  int32_t result = index;
  if (new_hi - new_lo < n) {
    // Fits: re-centre the occupied range so the next growth in either direction is cheap.
    new_offset = new_lo - (n - 1 - (new_hi - new_lo)) / 2;
  } else if (index > hi_) {
    // Growing upwards past the bound: keep [index - n + 1, index], fold everything below into
    // the lowest kept bucket (DDSketch §2.2).
    new_offset = static_cast<int64_t>(index) - n + 1;
  } else {
    // Growing downwards past the bound: the new value itself is folded into the lowest bucket.
    new_offset = static_cast<int64_t>(hi_) - n + 1;
    result = static_cast<int32_t>(new_offset);
    collapsed_count_ += count;
    lowest_collapsed_ = (lo_ == result ? lowest_collapsed_ : 0) + count;
  }
  // Gather what falls below the new window before shifting it out.
  uint64_t folded = 0;
  for (int64_t k = lo_; k < new_offset && k <= hi_; ++k) {
    uint64_t& bin = Bin(static_cast<int32_t>(k));
    folded += bin;
    bin = 0;
  }
  const int64_t delta = new_offset - offset_;
  const size_t size = bins_.size();
  if (delta > 0) {
    const auto d = static_cast<size_t>(delta);
    for (size_t i = 0; i < size; ++i) bins_[i] = i + d < size ? bins_[i + d] : 0;
  } else if (delta < 0) {
    const auto d = static_cast<size_t>(-delta);
    for (size_t i = size; i-- > 0;) bins_[i] = i >= d ? bins_[i - d] : 0;
  }
  offset_ = static_cast<int32_t>(new_offset);
  if (folded != 0 || lo_ < offset_) {
    // Values collapsed earlier sit in the old lowest bucket, which is among the folded ones:
    // count only the newly moved values.
    collapsed_count_ += folded - lowest_collapsed_;
    lowest_collapsed_ = folded;
    Bin(offset_) += folded;
    lo_ = offset_;
  }
  return result;
}

bool QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.alpha_ != alpha_) return false;
  if (other.positive_count_ != 0) {
    // Read each of other's buckets once before anything is added (also right for a self-merge).
    const int32_t lo = other.lo_;
    const int32_t hi = other.hi_;
    for (int32_t k = lo; k <= hi; ++k) {
      const uint64_t c = other.BinAt(k);
      if (c == 0) continue;
      const int32_t used = AddToIndex(k, c);
      if (k == lo && used == lo_) lowest_collapsed_ += other.lowest_collapsed_;
    }
  }
  if (other.count_ != 0) {
    if (count_ == 0) {
      min_ = other.min_;
      max_ = other.max_;
    } else {
      min_ = std::min(min_, other.min_);
      max_ = std::max(max_, other.max_);
    }
  }
  zero_count_ += other.zero_count_;
  count_ += other.count_;
  rejected_ += other.rejected_;
  collapsed_count_ += other.collapsed_count_;
  return true;
}

std::optional<double> QuantileSketch::Quantile(double q) const {
  if (count_ == 0 || !(q >= 0.0 && q <= 1.0)) return std::nullopt;
  // 0-based rank of the target element, as in the guarantee stated in the header.
  const auto rank = static_cast<uint64_t>(std::floor(q * static_cast<double>(count_ - 1)));
  if (rank < zero_count_) return 0.0;
  // The extremes are known exactly.
  if (rank == 0) return min_;
  if (rank == count_ - 1) return max_;
  uint64_t cumulative = zero_count_;
  for (int32_t k = lo_; k <= hi_; ++k) {
    cumulative += BinAt(k);
    if (cumulative > rank) return std::clamp(ValueOf(k), min_, max_);
  }
  return max_;  // unreachable while the counts are consistent
}

void QuantileSketch::Clear() {
  std::fill(bins_.begin(), bins_.end(), 0);
  offset_ = 0;
  lo_ = 0;
  hi_ = -1;
  positive_count_ = 0;
  zero_count_ = 0;
  count_ = 0;
  min_ = 0.0;
  max_ = 0.0;
  rejected_ = 0;
  collapsed_count_ = 0;
  lowest_collapsed_ = 0;
}

size_t QuantileSketch::bucket_count() const {
  if (positive_count_ == 0) return 0;
  size_t n = 0;
  for (int32_t k = lo_; k <= hi_; ++k)
    if (BinAt(k) != 0) ++n;
  return n;
}

uint64_t QuantileSketch::BucketCount(int32_t index) const {
  if (positive_count_ == 0 || index < lo_ || index > hi_) return 0;
  return BinAt(index);
}

void QuantileSketch::Save(state::Writer& out) const {
  out.Tag("QSKT");
  out.F64(alpha_);
  out.U32(static_cast<uint32_t>(bins_.size()));
  out.U64(count_);
  out.U64(zero_count_);
  out.F64(min_);
  out.F64(max_);
  out.U64(rejected_);
  out.U64(collapsed_count_);
  out.U64(lowest_collapsed_);
  out.I64(offset_);
  // Sparse: (position in the window, count) for the non-empty buckets, lowest first.
  uint32_t non_empty = 0;
  for (uint64_t c : bins_) non_empty += c != 0 ? 1 : 0;
  out.U32(non_empty);
  for (size_t i = 0; i < bins_.size(); ++i) {
    if (bins_[i] == 0) continue;
    out.U32(static_cast<uint32_t>(i));
    out.U64(bins_[i]);
  }
}

bool QuantileSketch::Load(state::Reader& in) {
  if (!in.Tag("QSKT")) return false;
  const double alpha = in.F64();
  const uint32_t max_buckets = in.U32();
  if (!in.ok()) return false;
  if (alpha != alpha_ || max_buckets != bins_.size()) {
    in.Fail("quantile sketch: snapshot has relative accuracy " + std::to_string(alpha) + " and " +
            std::to_string(max_buckets) + " buckets, configured " + std::to_string(alpha_) +
            " and " + std::to_string(bins_.size()));
    return false;
  }
  const uint64_t count = in.U64();
  const uint64_t zero_count = in.U64();
  const double min = in.F64();
  const double max = in.F64();
  const uint64_t rejected = in.U64();
  const uint64_t collapsed_count = in.U64();
  const uint64_t lowest_collapsed = in.U64();
  const int64_t offset = in.I64();
  const uint32_t non_empty = in.Count(4 + 8);
  if (!in.ok()) return false;
  // The window [offset, offset + size) must stay inside int32_t (see kMaxMaxBuckets).
  const auto size = static_cast<int64_t>(bins_.size());
  if (offset < std::numeric_limits<int32_t>::min() ||
      offset > static_cast<int64_t>(std::numeric_limits<int32_t>::max()) - size + 1) {
    in.Fail("quantile sketch: window offset " + std::to_string(offset) + " out of range");
    return false;
  }
  std::vector<uint64_t> bins(bins_.size(), 0);
  uint64_t positive = 0;
  int64_t first = -1;
  int64_t last = -1;
  for (uint32_t i = 0; i < non_empty; ++i) {
    const uint32_t position = in.U32();
    const uint64_t c = in.U64();
    if (!in.ok()) return false;
    if (position >= bins.size() || static_cast<int64_t>(position) <= last || c == 0 ||
        c > UINT64_MAX - positive) {
      in.Fail("quantile sketch: bucket " + std::to_string(i) + " at position " +
              std::to_string(position) + " with count " + std::to_string(c) +
              " is out of order, out of range, empty or overflows");
      return false;
    }
    bins[position] = c;
    positive += c;
    if (first < 0) first = position;
    last = position;
  }
  const bool bad_minmax = !std::isfinite(min) || !std::isfinite(max) || min < 0.0 || min > max;
  const bool bad_counts = zero_count > count || count - zero_count != positive;
  const bool bad_empty =
      count == 0 && (min != 0.0 || max != 0.0 || collapsed_count != 0 || lowest_collapsed != 0);
  const bool bad_extremes = (zero_count != 0 && min != 0.0) || (positive != 0 && max <= 0.0) ||
                            (positive == 0 && count != 0 && max != 0.0);
  if (bad_minmax || bad_counts || bad_empty || bad_extremes) {
    in.Fail("quantile sketch: count " + std::to_string(count) + ", zeros " +
            std::to_string(zero_count) + ", bucket total " + std::to_string(positive) + ", min " +
            std::to_string(min) + ", max " + std::to_string(max) + " do not agree");
    return false;
  }
  bins_ = std::move(bins);
  offset_ = static_cast<int32_t>(offset);
  if (positive != 0) {
    lo_ = static_cast<int32_t>(offset + first);
    hi_ = static_cast<int32_t>(offset + last);
  } else {
    lo_ = 0;
    hi_ = -1;
  }
  positive_count_ = positive;
  zero_count_ = zero_count;
  count_ = count;
  min_ = min;
  max_ = max;
  rejected_ = rejected;
  collapsed_count_ = collapsed_count;
  lowest_collapsed_ = lowest_collapsed;
  return true;
}

}  // namespace ta::analyzer::stats
