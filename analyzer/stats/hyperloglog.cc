#include "analyzer/stats/hyperloglog.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <iterator>
#include <string>
#include <utility>

#include "analyzer/state/codec.h"

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

namespace {
constexpr uint8_t kExactMode = 0;
constexpr uint8_t kRegisterMode = 1;
}  // namespace

void HyperLogLog::Save(state::Writer& out) const {
  out.Tag("HLL");
  out.U8(precision_);
  if (registers_.empty()) {
    out.U8(kExactMode);
    out.U32(static_cast<uint32_t>(exact_.size()));
    for (uint64_t h : exact_) out.U64(h);
  } else {
    out.U8(kRegisterMode);
    out.Bytes(registers_);
  }
}

bool HyperLogLog::Load(state::Reader& in) {
  if (!in.Tag("HLL")) return false;
  const uint8_t precision = in.U8();
  const uint8_t mode = in.U8();
  if (!in.ok()) return false;
  if (precision != precision_) {
    in.Fail("hyperloglog: snapshot precision " + std::to_string(precision) + ", configured " +
            std::to_string(precision_));
    return false;
  }
  HyperLogLog loaded(precision_, exact_limit_);
  if (mode == kExactMode) {
    const uint32_t n = in.Count(8);
    std::vector<uint64_t> hashes;
    hashes.reserve(n);  // bounded by the input size (Count)
    for (uint32_t i = 0; i < n; ++i) {
      const uint64_t h = in.U64();
      if (!in.ok()) return false;
      if (!hashes.empty() && h <= hashes.back()) {
        in.Fail("hyperloglog: exact hashes not sorted and distinct");
        return false;
      }
      hashes.push_back(h);
    }
    if (!in.ok()) return false;
    loaded.registers_.clear();
    loaded.exact_ = std::move(hashes);
    if (loaded.exact_limit_ == 0 || loaded.exact_.size() > loaded.exact_limit_) {
      loaded.ToRegisters();
    }
  } else if (mode == kRegisterMode) {
    const size_t m = size_t{1} << precision_;
    std::string bytes = in.Bytes(m);
    if (!in.ok()) return false;
    const int max_rank = 64 - precision_ + 1;
    bool valid = bytes.size() == m;
    for (char c : bytes) valid = valid && static_cast<uint8_t>(c) <= max_rank;
    if (!valid) {
      in.Fail("hyperloglog: " + std::to_string(bytes.size()) + " registers (expected " +
              std::to_string(m) + ") or a register above " + std::to_string(max_rank));
      return false;
    }
    loaded.exact_.clear();
    loaded.exact_.shrink_to_fit();
    loaded.registers_.assign(bytes.begin(), bytes.end());
  } else {
    in.Fail("hyperloglog: unknown mode " + std::to_string(mode));
    return false;
  }
  *this = std::move(loaded);
  return true;
}

}  // namespace ta::analyzer::stats
