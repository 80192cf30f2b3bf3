// Shannon entropy of a byte stream, for the exfiltration detector ("does this body look random,
// i.e. encrypted or compressed?").
//
// Entropy is estimated from a 256-bin histogram in bits per byte, 0 (one value) to 8 (uniform).
// The plug-in (maximum-likelihood) estimate H = -sum p_i log2 p_i is biased low on small
// samples: with N bytes at most N distinct values are seen and rare values are missed, so a
// 256-byte random body scores about 7.2 bits, not 8. The Miller-Madow correction adds the first
// order bias term (m - 1) / (2 N ln 2) bits, m = non-empty bins (G. Miller, "Note on the bias of
// information estimates", 1955; L. Paninski, "Estimation of entropy and mutual information",
// Neural Computation 15(6), 2003, section 3). Even corrected, small samples are noisy, so
// LooksRandom refuses to decide below `min_bytes` (1 KiB per issue 5).
//
// Compressed bodies look random too: the detector must undo Content-Encoding (gzip, br, deflate)
// before scoring, otherwise every compressed JSON response is flagged.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ta::analyzer::stats {

class ByteEntropy {
 public:
  void Add(std::span<const uint8_t> bytes);
  void Add(std::string_view bytes);
  void Reset();

  // Plug-in estimate in bits per byte (0 when empty).
  double Entropy() const;
  // Miller-Madow corrected estimate, capped at 8 bits per byte (0 when empty).
  double EntropyCorrected() const;

  uint64_t total() const { return total_; }
  uint64_t count(uint8_t byte) const { return counts_[byte]; }
  // Number of distinct byte values seen (m).
  size_t distinct() const;

 private:
  std::array<uint64_t, 256> counts_{};
  uint64_t total_ = 0;
};

inline constexpr double kRandomEntropyBits = 7.5;
inline constexpr size_t kMinEntropySampleBytes = 1024;

// True when at least `min_bytes` were seen and the corrected entropy exceeds `threshold_bits`.
// Below `min_bytes` the answer is always false: too few bytes to tell random from text.
bool LooksRandom(const ByteEntropy& entropy, double threshold_bits = kRandomEntropyBits,
                 size_t min_bytes = kMinEntropySampleBytes);

}  // namespace ta::analyzer::stats
