#include "analyzer/stats/heavy_hitters.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace ta::analyzer::stats {
namespace {

// Every reported key must satisfy count - error <= true <= count (Metwally et al. 2005).
template <typename Key, typename Sketch>
void ExpectBoundsHold(const Sketch& sketch, const std::map<Key, uint64_t>& truth) {
  for (const auto& hh : sketch.Top(sketch.capacity())) {
    auto it = truth.find(hh.key);
    const uint64_t true_count = it == truth.end() ? 0 : it->second;
    EXPECT_LE(hh.count - hh.error, true_count);
    EXPECT_GE(hh.count, true_count);
    EXPECT_LE(hh.error, hh.count);
  }
}

TEST(SpaceSavingTest, ExactWhenDistinctKeysFit) {
  SpaceSaving<std::string> ss(4);
  for (int i = 0; i < 5; ++i) ss.Add("a");
  for (int i = 0; i < 3; ++i) ss.Add("b");
  ss.Add("c");
  ss.Add("d", 7);
  EXPECT_EQ(ss.size(), 4U);
  EXPECT_EQ(ss.total(), 16U);
  const auto top = ss.Top(10);
  ASSERT_EQ(top.size(), 4U);
  EXPECT_EQ(top[0].key, "d");
  EXPECT_EQ(top[0].count, 7U);
  EXPECT_EQ(top[1].key, "a");
  EXPECT_EQ(top[1].count, 5U);
  EXPECT_EQ(top[2].key, "b");
  EXPECT_EQ(top[2].count, 3U);
  EXPECT_EQ(top[3].key, "c");
  EXPECT_EQ(top[3].count, 1U);
  for (const auto& hh : top) EXPECT_EQ(hh.error, 0U);
  EXPECT_EQ(ss.MinCount(), 1U);
  ASSERT_EQ(ss.Top(2).size(), 2U);
  EXPECT_EQ(ss.Top(2)[1].key, "a");
  EXPECT_EQ(ss.Top(0).size(), 0U);
}

TEST(SpaceSavingTest, ReplacementInheritsMinimumAsError) {
  SpaceSaving<int> ss(2);
  ss.Add(1, 5);
  ss.Add(2, 3);
  ss.Add(3);  // evicts 2 (count 3): 3 starts at 4 with error 3
  EXPECT_EQ(ss.Find(2), nullptr);
  const auto* three = ss.Find(3);
  ASSERT_NE(three, nullptr);
  EXPECT_EQ(three->count, 4U);
  EXPECT_EQ(three->error, 3U);
  ss.Add(4, 0);  // weight 0 is ignored
  EXPECT_EQ(ss.Find(4), nullptr);
  EXPECT_EQ(ss.total(), 9U);
  // Full: the counts sum to N.
  EXPECT_EQ(ss.Find(1)->count + ss.Find(3)->count, ss.total());
}

TEST(SpaceSavingTest, CapacityZeroBehavesAsOne) {
  SpaceSaving<int> ss(0);
  EXPECT_EQ(ss.capacity(), 1U);
  ss.Add(1);
  ss.Add(2);
  ASSERT_EQ(ss.Top(5).size(), 1U);
  EXPECT_EQ(ss.Top(5)[0].key, 2);
  EXPECT_EQ(ss.Top(5)[0].count, 2U);
  EXPECT_EQ(ss.Top(5)[0].error, 1U);
}

TEST(SpaceSavingTest, ZipfStreamFindsTrueTopTen) {
  constexpr size_t kKeys = 10000;
  constexpr size_t kItems = 200000;
  constexpr size_t kCapacity = 100;
  // Inverse-CDF Zipf(s = 1.1) sampler over ranks 0..kKeys-1, seeded.
  std::vector<double> cdf(kKeys);
  double sum = 0.0;
  for (size_t i = 0; i < kKeys; ++i) {
    sum += 1.0 / std::pow(static_cast<double>(i + 1), 1.1);
    cdf[i] = sum;
  }
  std::mt19937_64 rng(20260515);
  // Ranks are scrambled into keys so the key value says nothing about frequency.
  auto key_of = [](size_t rank) { return Mix64(rank * 7919 + 1); };
  SpaceSaving<uint64_t> ss(kCapacity);
  std::map<uint64_t, uint64_t> truth;
  for (size_t n = 0; n < kItems; ++n) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
    const size_t rank =
        static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin());
    const uint64_t key = key_of(std::min(rank, kKeys - 1));
    ss.Add(key);
    ++truth[key];
  }
  EXPECT_EQ(ss.total(), kItems);
  ExpectBoundsHold(ss, truth);
  // Min count <= N / k, and every key with true count > N / k is monitored.
  EXPECT_LE(ss.MinCount(), kItems / kCapacity);
  for (const auto& [key, count] : truth) {
    if (count > kItems / kCapacity) {
      EXPECT_NE(ss.Find(key), nullptr) << key;
    }
  }
  std::vector<std::pair<uint64_t, uint64_t>> sorted;
  for (const auto& [key, count] : truth) sorted.emplace_back(count, key);
  std::sort(sorted.rbegin(), sorted.rend());
  std::vector<uint64_t> true_top;
  for (size_t i = 0; i < 10; ++i) true_top.push_back(sorted[i].second);
  std::vector<uint64_t> reported;
  for (const auto& hh : ss.Top(10)) reported.push_back(hh.key);
  ASSERT_EQ(reported.size(), 10U);
  std::sort(true_top.begin(), true_top.end());
  std::sort(reported.begin(), reported.end());
  EXPECT_EQ(reported, true_top);
}

TEST(SpaceSavingTest, AdversarialRoundRobinKeepsBounds) {
  // k + 1 keys in strict rotation: every arrival evicts, the worst case for SpaceSaving.
  constexpr size_t kCapacity = 8;
  constexpr size_t kRounds = 1000;
  SpaceSaving<int> ss(kCapacity);
  std::map<int, uint64_t> truth;
  for (size_t r = 0; r < kRounds; ++r) {
    for (int key = 0; key <= static_cast<int>(kCapacity); ++key) {
      ss.Add(key);
      ++truth[key];
    }
  }
  const uint64_t n = kRounds * (kCapacity + 1);
  EXPECT_EQ(ss.total(), n);
  EXPECT_EQ(ss.size(), kCapacity);
  ExpectBoundsHold(ss, truth);
  uint64_t sum = 0;
  for (const auto& hh : ss.Top(kCapacity)) sum += hh.count;
  EXPECT_EQ(sum, n);  // counts sum to N once full
  EXPECT_LE(ss.MinCount(), n / kCapacity);
}

TEST(SpaceSavingTest, WeightsAreCountedAsBytes) {
  SpaceSaving<int> ss(3);
  std::map<int, uint64_t> truth;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const int key = static_cast<int>(rng() % 20);
    // Key 5 sends large bodies: it must dominate by weight, not by number of adds.
    const uint64_t weight = key == 5 ? 10000 : 1 + rng() % 100;
    ss.Add(key, weight);
    truth[key] += weight;
  }
  ExpectBoundsHold(ss, truth);
  const auto top = ss.Top(1);
  ASSERT_EQ(top.size(), 1U);
  EXPECT_EQ(top[0].key, 5);
  uint64_t n = 0;
  for (const auto& [key, w] : truth) n += w;
  EXPECT_EQ(ss.total(), n);
}

TEST(SpaceSavingTest, AddressKeys) {
  AddressHeavyHitters hh(2);
  std::array<uint8_t, 16> a{};
  std::array<uint8_t, 16> b{};
  a[10] = 0xff;
  a[11] = 0xff;
  a[12] = 198;
  a[13] = 18;
  a[15] = 1;
  b = a;
  b[15] = 2;
  hh.Add(a, 3);
  hh.Add(b);
  hh.Add(a);
  const auto top = hh.Top(2);
  ASSERT_EQ(top.size(), 2U);
  EXPECT_EQ(top[0].key, a);
  EXPECT_EQ(top[0].count, 4U);
  EXPECT_EQ(top[1].key, b);
  EXPECT_NE(ByteArrayHash{}(a), ByteArrayHash{}(b));
}

}  // namespace
}  // namespace ta::analyzer::stats
