// SpaceSaving heavy hitters: the most frequent keys of an unbounded stream in k counters.
//
// Why: the anomaly engine wants "top clients / routes by requests or bytes" without a map that
// grows with every distinct key an attacker can invent. SpaceSaving keeps exactly k counters and
// gives deterministic error bounds.
//
// Source: A. Metwally, D. Agrawal, A. El Abbadi, "Efficient Computation of Frequent and Top-k
// Elements in Data Streams", ICDT 2005. A key already monitored has its counter incremented; a
// new key takes over the counter with the smallest count c_min, starting at c_min + weight with
// error c_min. Guarantees, with N the total weight added and k the capacity:
//  - for every monitored key, count - error <= true count <= count;
//  - the smallest count is at most N / k, so every key whose true count exceeds N / k is
//    monitored (Metwally et al., Lemma 3.4 and Theorem 3.5);
//  - once k keys are monitored the counts sum to exactly N.
// The paper's "stream summary" linked buckets give O(1) updates for unit weights; we keep the
// counters in an indexed binary min-heap instead (O(log k) per update, any weight), with a hash
// map from key to heap position. No allocation after construction except the map's own nodes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "analyzer/state/codec.h"
#include "analyzer/stats/hyperloglog.h"

namespace ta::analyzer::stats {

// Hash for fixed-size byte keys such as client addresses (std::array<uint8_t, 16>, IPv4 mapped
// into IPv6), which std::hash does not cover.
struct ByteArrayHash {
  template <size_t N>
  size_t operator()(const std::array<uint8_t, N>& key) const {
    return static_cast<size_t>(HashBytes(std::span<const uint8_t>(key.data(), key.size())));
  }
};

// How SpaceSaving::Save/Load encode a key by default (analyzer/state/codec.h): fixed-size byte
// arrays (addresses) and strings (routes). Other key types pass their own encode/decode callables.
template <typename Key>
struct StateKeyCodec;

template <size_t N>
struct StateKeyCodec<std::array<uint8_t, N>> {
  static void Encode(state::Writer& out, const std::array<uint8_t, N>& key) { out.Bytes(key); }
  static bool Decode(state::Reader& in, std::array<uint8_t, N>& key) {
    const std::string bytes = in.Bytes(N);
    if (!in.ok()) return false;
    if (bytes.size() != N) {
      in.Fail("key of " + std::to_string(bytes.size()) + " bytes, expected " + std::to_string(N));
      return false;
    }
    std::copy(bytes.begin(), bytes.end(), key.begin());
    return true;
  }
};

template <>
struct StateKeyCodec<std::string> {
  static void Encode(state::Writer& out, const std::string& key) { out.String(key); }
  static bool Decode(state::Reader& in, std::string& key) {
    key = in.String();
    return in.ok();
  }
};

template <typename Key>
struct HeavyHitter {
  Key key;
  uint64_t count = 0;  // an upper bound on the true count
  uint64_t error = 0;  // count - error is a lower bound on the true count
};

template <typename Key, typename Hash = std::hash<Key>, typename Equal = std::equal_to<Key>>
class SpaceSaving {
 public:
  // `capacity` (k) is at least 1.
  explicit SpaceSaving(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {
    heap_.reserve(capacity_);
    position_.reserve(capacity_);
  }

  // Adds `weight` occurrences of `key` (weight 0 is ignored).
  void Add(const Key& key, uint64_t weight = 1) {
    if (weight == 0) return;
    total_ += weight;
    if (auto it = position_.find(key); it != position_.end()) {
      heap_[it->second].count += weight;
      SiftDown(it->second);
      return;
    }
    if (heap_.size() < capacity_) {
      heap_.push_back(HeavyHitter<Key>{key, weight, 0});
      position_.emplace(key, heap_.size() - 1);
      SiftUp(heap_.size() - 1);
      return;
    }
    // Replace the minimum (heap root): the newcomer inherits its count as possible error.
    HeavyHitter<Key>& root = heap_[0];
    position_.erase(root.key);
    root.key = key;
    root.error = root.count;
    root.count += weight;
    position_.emplace(key, 0);
    SiftDown(0);
  }

  // Up to `n` monitored keys by count, largest first; ties broken by smaller error.
  std::vector<HeavyHitter<Key>> Top(size_t n) const {
    std::vector<HeavyHitter<Key>> out(heap_.begin(), heap_.end());
    const size_t keep = std::min(n, out.size());
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                      [](const HeavyHitter<Key>& a, const HeavyHitter<Key>& b) {
                        return a.count != b.count ? a.count > b.count : a.error < b.error;
                      });
    out.resize(keep);
    return out;
  }

  // The counter of `key`, or nullptr when it is not monitored.
  const HeavyHitter<Key>* Find(const Key& key) const {
    auto it = position_.find(key);
    return it == position_.end() ? nullptr : &heap_[it->second];
  }

  // The smallest monitored count once full (<= total() / capacity()), else 0: any key not
  // monitored has a true count of at most this.
  uint64_t MinCount() const { return heap_.size() < capacity_ ? 0 : heap_[0].count; }
  uint64_t total() const { return total_; }
  size_t capacity() const { return capacity_; }
  size_t size() const { return heap_.size(); }

  // Persistence (analyzer/state/codec.h): capacity (the shape: it must match), total and the
  // counters in heap order, so a restored summary evicts, ties and reports exactly like the
  // saved one. `encode(Writer&, const Key&)` and `decode(Reader&, Key&) -> bool` write and read
  // one key; without them StateKeyCodec<Key> is used. Load refuses (false, *this unchanged, the
  // Reader says why) another capacity, more counters than that, a repeated key, a counter with
  // count 0 or error above count, counts that do not sum to total() (they always do: every Add
  // adds its weight to exactly one counter), and an order that is not a min-heap.
  template <typename Codec = StateKeyCodec<Key>>
  void Save(state::Writer& out) const {
    Save(out, [](state::Writer& w, const Key& k) { Codec::Encode(w, k); });
  }
  template <typename Codec = StateKeyCodec<Key>>
  bool Load(state::Reader& in) {
    return Load(in, [](state::Reader& r, Key& k) { return Codec::Decode(r, k); });
  }

  template <typename Encode>
  void Save(state::Writer& out, Encode&& encode) const {
    out.Tag("SPSV");
    out.U32(static_cast<uint32_t>(capacity_));
    out.U64(total_);
    out.U32(static_cast<uint32_t>(heap_.size()));
    for (const HeavyHitter<Key>& h : heap_) {
      encode(out, h.key);
      out.U64(h.count);
      out.U64(h.error);
    }
  }

  template <typename Decode>
  bool Load(state::Reader& in, Decode&& decode) {
    if (!in.Tag("SPSV")) return false;
    const uint32_t capacity = in.U32();
    const uint64_t total = in.U64();
    if (!in.ok()) return false;
    if (capacity != capacity_) {
      in.Fail("heavy hitters: snapshot capacity " + std::to_string(capacity) + ", configured " +
              std::to_string(capacity_));
      return false;
    }
    const uint32_t n = in.Count(8 + 8);  // each counter holds at least its count and error
    if (!in.ok()) return false;
    if (n > capacity_) {
      in.Fail("heavy hitters: " + std::to_string(n) + " counters, capacity " +
              std::to_string(capacity_));
      return false;
    }
    SpaceSaving loaded(*this);  // keeps the hash and equality objects
    loaded.heap_.clear();
    loaded.heap_.reserve(capacity_);
    loaded.position_.clear();
    loaded.position_.reserve(capacity_);
    loaded.total_ = total;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; ++i) {
      HeavyHitter<Key> h{};
      if (!decode(in, h.key)) {
        in.Fail("heavy hitters: undecodable key");  // no-op when decode already said why
        return false;
      }
      h.count = in.U64();
      h.error = in.U64();
      if (!in.ok()) return false;
      const bool heap_order = i == 0 || loaded.heap_[(i - 1) / 2].count <= h.count;
      if (h.count == 0 || h.error > h.count || h.count > UINT64_MAX - sum || !heap_order ||
          !loaded.position_.emplace(h.key, loaded.heap_.size()).second) {
        in.Fail("heavy hitters: counter " + std::to_string(i) +
                " is empty, repeated, out of heap order, overflows or has error above count");
        return false;
      }
      sum += h.count;
      loaded.heap_.push_back(std::move(h));
    }
    if (sum != total) {
      in.Fail("heavy hitters: counts sum to " + std::to_string(sum) + ", total " +
              std::to_string(total));
      return false;
    }
    *this = std::move(loaded);
    return true;
  }

 private:
  void Swap(size_t a, size_t b) {
    std::swap(heap_[a], heap_[b]);
    position_[heap_[a].key] = a;
    position_[heap_[b].key] = b;
  }
  void SiftUp(size_t i) {
    while (i > 0) {
      const size_t parent = (i - 1) / 2;
      if (heap_[parent].count <= heap_[i].count) return;
      Swap(i, parent);
      i = parent;
    }
  }
  void SiftDown(size_t i) {
    for (;;) {
      const size_t left = 2 * i + 1;
      const size_t right = left + 1;
      size_t smallest = i;
      if (left < heap_.size() && heap_[left].count < heap_[smallest].count) smallest = left;
      if (right < heap_.size() && heap_[right].count < heap_[smallest].count) smallest = right;
      if (smallest == i) return;
      Swap(i, smallest);
      i = smallest;
    }
  }

  size_t capacity_;
  uint64_t total_ = 0;
  std::vector<HeavyHitter<Key>> heap_;  // min-heap on count
  std::unordered_map<Key, size_t, Hash, Equal> position_;
};

// Client addresses as the analyzer keys them (16 bytes, IPv4 mapped into IPv6).
using AddressHeavyHitters = SpaceSaving<std::array<uint8_t, 16>, ByteArrayHash>;

}  // namespace ta::analyzer::stats
