#include "analyzer/stats/hyperloglog.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>

namespace ta::analyzer::stats {
namespace {

// Odd constant (2^64 / golden ratio) so that lengths and positions spread over all bits.
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

uint64_t LoadLittleEndian(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

uint64_t HashBytes(std::span<const uint8_t> bytes, uint64_t seed) {
  // The length goes into the initial state so that "a" and "a\0" differ; each word is folded in
  // through the bijective mixer, so two inputs of the same length collide only if the states do.
  uint64_t h = Mix64(seed ^ (static_cast<uint64_t>(bytes.size()) * kGolden));
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    h = Mix64(h ^ LoadLittleEndian(bytes.data() + i, 8)) + kGolden;
  }
  if (i < bytes.size()) h = Mix64(h ^ LoadLittleEndian(bytes.data() + i, bytes.size() - i));
  return Mix64(h ^ (h >> 32));
}

uint64_t HashBytes(std::string_view bytes, uint64_t seed) {
  return HashBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), seed);
}

HyperLogLog::HyperLogLog(uint8_t precision, size_t exact_limit)
    : precision_(std::clamp(precision, kMinPrecision, kMaxPrecision)), exact_limit_(exact_limit) {
  exact_.reserve(exact_limit_);
  if (exact_limit_ == 0) registers_.assign(size_t{1} << precision_, 0);
}

double HyperLogLog::StandardError() const {
  return 1.04 / std::sqrt(static_cast<double>(size_t{1} << precision_));
}

void HyperLogLog::AddToRegisters(uint64_t hash) {
  // The top p bits pick the register; the rank is the position of the first 1 bit in the rest
  // (1-based), at most 64 - p + 1 when the rest is all zero.
  const size_t index = static_cast<size_t>(hash >> (64 - precision_));
  const uint64_t rest = hash << precision_;
  const int max_rank = 64 - precision_ + 1;
  const int rank = rest == 0 ? max_rank : std::countl_zero(rest) + 1;
  const auto r = static_cast<uint8_t>(std::min(rank, max_rank));
  if (r > registers_[index]) registers_[index] = r;
}

void HyperLogLog::ToRegisters() {
  registers_.assign(size_t{1} << precision_, 0);
  for (uint64_t h : exact_) AddToRegisters(h);
  exact_.clear();
  exact_.shrink_to_fit();
}

void HyperLogLog::Add(uint64_t hash) {
  if (!registers_.empty()) {
    AddToRegisters(hash);
    return;
  }
  auto it = std::lower_bound(exact_.begin(), exact_.end(), hash);
  if (it != exact_.end() && *it == hash) return;
  if (exact_.size() < exact_limit_) {
    exact_.insert(it, hash);
    return;
  }
  ToRegisters();
  AddToRegisters(hash);
}

double HyperLogLog::Estimate() const {
  if (registers_.empty()) return static_cast<double>(exact_.size());
  const double m = static_cast<double>(registers_.size());
  // alpha_m from Flajolet et al. 2007, section 4 (the m >= 128 formula for larger m).
  double alpha;
  switch (precision_) {
    case 4:
      alpha = 0.673;
      break;
    case 5:
      alpha = 0.697;
      break;
    case 6:
      alpha = 0.709;
      break;
    default:
      alpha = 0.7213 / (1.0 + 1.079 / m);
      break;
  }
  double sum = 0.0;
  size_t zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -static_cast<int>(r));
    if (r == 0) ++zeros;
  }
  const double raw = alpha * m * m / sum;
  // Small-range correction. Flajolet et al. switch to linear counting when raw <= 2.5 m, but the
  // raw estimate is still biased high there (about +2.6 % at n = 2.44 m for p = 12, measured over
  // 200 seeded runs), which HLL++ removes with empirical bias tables. Without those tables we
  // follow HLL++'s other rule instead: use linear counting while its own estimate is below a
  // threshold, here 2.75 m, where the measured RMSE of the two estimators cross (1.7 % vs 2.9 %
  // at 2.44 m; 2.1 % vs 1.8 % at 2.9 m).
  if (zeros != 0) {
    const double linear = m * std::log(m / static_cast<double>(zeros));
    if (linear <= 2.75 * m) return linear;
  }
  return raw;
}

bool HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.precision_ != precision_) return false;
  if (registers_.empty() && other.registers_.empty()) {
    std::vector<uint64_t> merged;
    merged.reserve(exact_.size() + other.exact_.size());
    std::set_union(exact_.begin(), exact_.end(), other.exact_.begin(), other.exact_.end(),
                   std::back_inserter(merged));
    if (merged.size() <= exact_limit_) {
      exact_ = std::move(merged);
      return true;
    }
    ToRegisters();
  }
  if (registers_.empty()) ToRegisters();
  if (other.registers_.empty()) {
    for (uint64_t h : other.exact_) AddToRegisters(h);
  } else {
    for (size_t i = 0; i < registers_.size(); ++i) {
      registers_[i] = std::max(registers_[i], other.registers_[i]);
    }
  }
  return true;
}

}  // namespace ta::analyzer::stats
