#include "analyzer/stats/entropy.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace ta::analyzer::stats {

void ByteEntropy::Add(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) ++counts_[b];
  total_ += bytes.size();
}

void ByteEntropy::Add(std::string_view bytes) {
  Add(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

void ByteEntropy::Reset() {
  counts_.fill(0);
  total_ = 0;
}

size_t ByteEntropy::distinct() const {
  return static_cast<size_t>(
      std::count_if(counts_.begin(), counts_.end(), [](uint64_t c) { return c != 0; }));
}

double ByteEntropy::Entropy() const {
  if (total_ == 0) return 0.0;
  const double n = static_cast<double>(total_);
  double h = 0.0;
  for (uint64_t c : counts_) {
    if (c == 0) continue;
    const double p = static_cast<double>(c) / n;
    h -= p * std::log2(p);
  }
  return std::max(h, 0.0);  // -0.0 and rounding for a single value
}

double ByteEntropy::EntropyCorrected() const {
  if (total_ == 0) return 0.0;
  const double m = static_cast<double>(distinct());
  const double bias = (m - 1.0) / (2.0 * static_cast<double>(total_) * std::numbers::ln2);
  return std::min(Entropy() + bias, 8.0);
}

bool LooksRandom(const ByteEntropy& entropy, double threshold_bits, size_t min_bytes) {
  if (entropy.total() < min_bytes) return false;
  return entropy.EntropyCorrected() > threshold_bits;
}

}  // namespace ta::analyzer::stats
