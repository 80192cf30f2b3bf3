// HyperLogLog distinct counter, plus the 64-bit byte hash the statistics code shares.
//
// Why: the anomaly engine counts distinct things per key (client addresses per route, routes per
// client) on unbounded streams; an exact set grows without bound, HyperLogLog needs 2^p bytes and
// has a relative standard error of 1.04 / sqrt(2^p) (1.6 % at the default p = 12, 4 KiB).
//
// Sources:
//  - P. Flajolet, E. Fusy, O. Gandouet, F. Meunier, "HyperLogLog: the analysis of a near-optimal
//    cardinality estimation algorithm", AofA 2007: registers, the alpha_m constant, the raw
//    estimate and the small-range correction by linear counting (m ln(m / V), V = registers
//    still zero).
//  - S. Heule, M. Nunkesser, A. Hall, "HyperLogLog in Practice" (HLL++), EDBT 2013: a 64-bit hash
//    removes the large-range correction (collisions are negligible below ~2^60 items), and a
//    sparse/exact representation for small sets. We keep up to `exact_limit` hashes exactly and
//    switch to registers beyond. HLL++'s empirical bias tables are not reproduced; instead linear
//    counting is used while its own estimate is at most 2.75 m, past the raw estimate's bias bump
//    (see Estimate() in the .cc for the measurement). Above that the raw bias is under 1.2 %.
//
// The hash is our own: 8-byte words folded through the SplitMix64 finaliser (Steele, Lea, Flood,
// "Fast splittable pseudorandom number generators", OOPSLA 2014; constants from D. Stafford's
// "Better bit mixing" variant 13). Callers that already have a good 64-bit hash call Add directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace ta::analyzer::state {
class Reader;
class Writer;
}  // namespace ta::analyzer::state

namespace ta::analyzer::stats {

// Bijective 64-bit mixer (SplitMix64 finaliser): every input bit affects every output bit.
constexpr uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// 64-bit hash of a byte string; `seed` selects an independent hash function.
uint64_t HashBytes(std::span<const uint8_t> bytes, uint64_t seed = 0);
uint64_t HashBytes(std::string_view bytes, uint64_t seed = 0);

class HyperLogLog {
 public:
  static constexpr uint8_t kMinPrecision = 4;
  static constexpr uint8_t kMaxPrecision = 18;
  static constexpr uint8_t kDefaultPrecision = 12;
  static constexpr size_t kDefaultExactLimit = 64;

  // `precision` is clamped to [kMinPrecision, kMaxPrecision] (no exceptions; see precision()).
  explicit HyperLogLog(uint8_t precision = kDefaultPrecision,
                       size_t exact_limit = kDefaultExactLimit);

  // Adds an item given its 64-bit hash (use HashBytes or any well-mixed hash).
  void Add(uint64_t hash);
  void AddBytes(std::span<const uint8_t> bytes) { Add(HashBytes(bytes)); }
  void AddBytes(std::string_view bytes) { Add(HashBytes(bytes)); }

  // Exact in exact mode, otherwise the HyperLogLog estimate (with linear counting at small range).
  double Estimate() const;

  // Makes *this the sketch of the union. False (and *this unchanged) if the precisions differ.
  bool Merge(const HyperLogLog& other);

  uint8_t precision() const { return precision_; }
  bool exact() const { return registers_.empty(); }
  // 1.04 / sqrt(2^p): the relative standard error of the register estimate.
  double StandardError() const;

  // Persistence (analyzer/state/codec.h): the precision (the shape: it must match) and either
  // the exact hashes or the 2^p registers. Load refuses (false, *this unchanged, the Reader says
  // why) another precision, unsorted or repeated exact hashes, and registers above the largest
  // possible rank (64 - p + 1). A restored exact set larger than this object's exact_limit (the
  // limit was lowered) is converted to registers, as Add would have done.
  void Save(state::Writer& out) const;
  bool Load(state::Reader& in);

 private:
  void ToRegisters();
  void AddToRegisters(uint64_t hash);

  uint8_t precision_;
  size_t exact_limit_;
  std::vector<uint64_t> exact_;     // sorted distinct hashes while in exact mode
  std::vector<uint8_t> registers_;  // 2^p registers once beyond exact_limit_
};

}  // namespace ta::analyzer::stats
