#include "analyzer/events.h"

#include <gtest/gtest.h>

#include <unordered_set>

#include "tests/analyzer/test_support.h"

namespace ta::analyzer {
namespace {

TEST(FlowKeyTest, FormatsIpv4) {
  EXPECT_EQ(testing::TestFlow(40000, 80).ToString(), "198.18.0.1:40000 -> 198.18.0.2:80");
}

TEST(FlowKeyTest, FormatsIpv6PerRfc5952) {
  FlowKey k;
  k.family = 10;
  k.client_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  k.server_addr = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  k.client_port = 5555;
  k.server_port = 443;
  EXPECT_EQ(k.ToString(), "[2001:db8::1]:5555 -> [::1]:443");

  k.client_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1,
                   0,    0,    0,    0,    0, 1, 0, 0};  // 2001:db8:0:1:0:0:1:0
  k.server_addr = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0xab, 0xcd};
  EXPECT_EQ(k.ToString(), "[2001:db8:0:1::1:0]:5555 -> [fe80::1234:0:0:abcd]:443");

  k.client_addr = {};
  k.server_addr = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1};  // one zero group
  EXPECT_EQ(k.ToString(), "[::]:5555 -> [2001:db8:1:0:1:1:1:1]:443");
}

TEST(FlowKeyTest, HashSeparatesKeysThatDifferInOneField) {
  std::unordered_set<size_t> hashes;
  const FlowKey base = testing::TestFlow();
  FlowKeyHash hash;
  hashes.insert(hash(base));
  FlowKey k = base;
  k.client_port = 40001;
  hashes.insert(hash(k));
  k = base;
  k.server_port = 81;
  hashes.insert(hash(k));
  k = base;
  k.client_addr[3] = 9;
  hashes.insert(hash(k));
  k = base;
  k.server_addr[15] = 1;
  hashes.insert(hash(k));
  k = base;
  k.family = 10;
  hashes.insert(hash(k));
  EXPECT_EQ(hashes.size(), 6u);
  EXPECT_EQ(hash(base), hash(testing::TestFlow()));
}

}  // namespace
}  // namespace ta::analyzer
