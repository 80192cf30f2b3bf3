// QuantileSketch: a mergeable quantile summary with a relative-error guarantee, for latency
// (seconds) and size (bytes) distributions whose range spans many orders of magnitude.
//
// Why this design: a latency p99 per route must be computed over unbounded streams without
// keeping samples, and sketches from several windows or workers must merge exactly. Rank-error
// sketches (GK, t-digest) give an error in *rank*, which at the tail means an arbitrarily large
// error in *value*; DDSketch bounds the error relative to the value itself, which is what an
// anomaly threshold ("p99 doubled") needs. Source: C. Masson, J. E. Rim, H. K. Lee, "DDSketch:
// A Fast and Fully-Mergeable Quantile Sketch with Relative-Error Guarantees", PVLDB 12(12), 2019,
// §2 (logarithmic mapping, Proposition 3) and §2.2 (bounding the number of buckets by collapsing
// the lowest ones).
//
// Mapping: gamma = (1 + alpha) / (1 - alpha). A positive value x goes to bucket
// k = ceil(log_gamma(x)), which covers (gamma^(k-1), gamma^k]. A quantile estimate from bucket k
// is 2 * gamma^k / (gamma + 1), then clamped to [min(), max()].
//
// Guarantee (stated exactly): let n = count() and x the element of 0-based rank
// floor(q * (n - 1)) in the sorted multiset of accepted values (zeros included). Then
//     |Quantile(q) - x| <= alpha * x
// as long as no collapse has happened (collapsed() is false) or x lies above the collapsed
// range, and up to floating-point rounding of the logarithm for values within one ulp of a
// bucket boundary. Zero is exact (it has its own counter).
//
// Bounded memory: at most `max_buckets` buckets (default 2048; with alpha = 0.01 that covers a
// ratio of gamma^2048 ~ 6e17 between the smallest and the largest value, e.g. 1 ns to 20 years).
// When a value would need more, the lowest buckets are collapsed into the lowest kept one
// (DDSketch §2.2): the high quantiles keep their bound, but a quantile that falls among the
// collapsed values loses it (it is over-estimated, never below the true value's bucket).
// collapsed_count() says how many values were moved up out of their own bucket (exact for one
// sketch; after merging collapsed sketches it can over-count, never under-count).
// Quantile(q) returns min() / max() exactly when the target rank is the first / last.
//
// Rejected input: negative, NaN and infinite values are not added; rejected() counts them.
// No allocation after construction: the bucket array is sized to max_buckets up front. No
// sorting, no exceptions. Not thread-safe (the analyzer is single-threaded).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace ta::analyzer::state {
class Reader;
class Writer;
}  // namespace ta::analyzer::state

namespace ta::analyzer::stats {

class QuantileSketch {
 public:
  static constexpr double kDefaultRelativeAccuracy = 0.01;
  static constexpr size_t kDefaultMaxBuckets = 2048;
  // Keeps the index arithmetic well inside int32_t (and the array at 8 MiB).
  static constexpr size_t kMaxMaxBuckets = size_t{1} << 20;

  // alpha outside [1e-6, 1) falls back to kDefaultRelativeAccuracy; max_buckets is clamped to
  // [1, kMaxMaxBuckets].
  explicit QuantileSketch(double relative_accuracy = kDefaultRelativeAccuracy,
                          size_t max_buckets = kDefaultMaxBuckets);

  // Adds `count` copies of `value`. Returns false (and counts in rejected()) for a negative,
  // NaN or infinite value; count 0 is a no-op that returns true.
  bool Add(double value, uint64_t count = 1);

  // Adds everything `other` holds. Returns false and changes nothing when the relative accuracy
  // differs (buckets would not line up). Without collapse, the result has exactly the buckets
  // of one sketch fed both streams.
  bool Merge(const QuantileSketch& other);

  // Estimate of the q-quantile (q in [0, 1]), within the bound above. nullopt when empty or when
  // q is outside [0, 1] or NaN.
  std::optional<double> Quantile(double q) const;

  void Clear();

  uint64_t count() const { return count_; }
  uint64_t zero_count() const { return zero_count_; }
  // Smallest / largest accepted value (0 when empty).
  double min() const { return count_ == 0 ? 0.0 : min_; }
  double max() const { return count_ == 0 ? 0.0 : max_; }
  uint64_t rejected() const { return rejected_; }
  bool collapsed() const { return collapsed_count_ != 0; }
  uint64_t collapsed_count() const { return collapsed_count_; }
  double relative_accuracy() const { return alpha_; }
  size_t max_buckets() const { return bins_.size(); }
  // Number of non-empty positive-value buckets.
  size_t bucket_count() const;
  // The bucket index of a positive finite value (exposed for tests).
  int32_t IndexOf(double value) const;
  // Count in bucket `index` (0 outside the stored range).
  uint64_t BucketCount(int32_t index) const;
  // Lowest / highest non-empty bucket index; meaningful only when bucket_count() > 0.
  int32_t lowest_index() const { return lo_; }
  int32_t highest_index() const { return hi_; }

  // Persistence (analyzer/state/codec.h): the configuration it must match (relative accuracy,
  // max_buckets), counters, min/max, the window offset and the non-empty buckets, so a restored
  // sketch answers and grows exactly like the saved one. Load refuses (false, *this unchanged,
  // the Reader says why) another accuracy or bucket bound, bucket positions out of order or out
  // of the window, counts that do not add up to count(), and a min/max that is negative, not
  // finite or contradicts the counts.
  void Save(state::Writer& out) const;
  bool Load(state::Reader& in);

 private:
  // Returns the bucket index actually used (see MakeRoom).
  int32_t AddToIndex(int32_t index, uint64_t count);
  // Moves the window so `index` fits; collapses the lowest buckets if the occupied range would
  // exceed the bound. Returns the index actually used (higher than `index` if it was collapsed).
  int32_t MakeRoom(int32_t index, uint64_t count);
  double ValueOf(int32_t index) const;
  uint64_t& Bin(int32_t index) { return bins_[static_cast<size_t>(index - offset_)]; }
  uint64_t BinAt(int32_t index) const { return bins_[static_cast<size_t>(index - offset_)]; }

  double alpha_;
  double gamma_;
  double log_gamma_;
  std::vector<uint64_t> bins_;  // bins_[i] is the count of bucket offset_ + i
  int32_t offset_ = 0;
  int32_t lo_ = 0;  // occupied range [lo_, hi_] when positive_count_ > 0
  int32_t hi_ = -1;
  uint64_t positive_count_ = 0;
  uint64_t zero_count_ = 0;
  uint64_t count_ = 0;
  double min_ = 0.0;
  double max_ = 0.0;
  uint64_t rejected_ = 0;
  uint64_t collapsed_count_ = 0;
  uint64_t lowest_collapsed_ = 0;  // how many of the collapsed values sit in bucket lo_
};

}  // namespace ta::analyzer::stats
