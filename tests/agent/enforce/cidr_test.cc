#include "agent/enforce/cidr.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ta::agent::enforce {
namespace {

// The prefix `text` must denote (tests only).
Cidr MustParse(std::string_view text) { return Cidr::Parse(text).value(); }

std::array<uint8_t, 16> V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {a, b, c, d}; }

std::array<uint8_t, 16> V6(std::initializer_list<uint8_t> bytes) {
  std::array<uint8_t, 16> out{};
  size_t i = 0;
  for (uint8_t b : bytes) out[i++] = b;
  return out;
}

struct ParseCase {
  std::string text;
  std::string canonical;
  uint8_t family;
  uint8_t prefix_len;
};

TEST(CidrTest, ParsesAndPrintsCanonically) {
  const std::vector<ParseCase> cases = {
      {"198.18.0.0/15", "198.18.0.0/15", 2, 15},
      {"198.18.0.1", "198.18.0.1/32", 2, 32},
      {"198.18.0.1/32", "198.18.0.1/32", 2, 32},
      {"0.0.0.0/0", "0.0.0.0/0", 2, 0},
      {"255.255.255.255/32", "255.255.255.255/32", 2, 32},
      {"10.0.0.0/8", "10.0.0.0/8", 2, 8},
      {"2001:db8::/32", "2001:db8::/32", 10, 32},
      {"2001:DB8:0:0::/32", "2001:db8::/32", 10, 32},
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1/128", 10, 128},
      {"::/0", "::/0", 10, 0},
      {"::1", "::1/128", 10, 128},
      {"fe80::/10", "fe80::/10", 10, 10},
      // IPv4-mapped stays IPv6: XDP sees such packets with an IPv6 header.
      {"::ffff:198.18.0.1", "::ffff:198.18.0.1/128", 10, 128},
      {"::ffff:0:0/96", "::ffff:0.0.0.0/96", 10, 96},
  };
  for (const ParseCase& c : cases) {
    auto parsed = Cidr::Parse(c.text);
    ASSERT_TRUE(parsed.ok()) << c.text << ": " << parsed.error().message;
    EXPECT_EQ(parsed->ToString(), c.canonical) << c.text;
    EXPECT_EQ(parsed->family, c.family) << c.text;
    EXPECT_EQ(parsed->prefix_len, c.prefix_len) << c.text;
    // The canonical text parses back to the same prefix.
    auto again = Cidr::Parse(parsed->ToString());
    ASSERT_TRUE(again.ok()) << c.canonical;
    EXPECT_EQ(*again, *parsed);
  }
}

TEST(CidrTest, StoresNetworkBytes) {
  auto v4 = Cidr::Parse("198.18.0.0/15");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->addr, V4(198, 18, 0, 0));
  auto v6 = Cidr::Parse("2001:db8::1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->addr, V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
}

TEST(CidrTest, HostBitsSetProposesBothReadings) {
  auto v4 = Cidr::Parse("10.1.2.3/8");
  ASSERT_FALSE(v4.ok());
  EXPECT_EQ(v4.error().message,
            "'10.1.2.3/8': host bits are set (did you mean 10.0.0.0/8, or 10.1.2.3/32?)");
  auto odd = Cidr::Parse("198.19.0.0/15");
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().message,
            "'198.19.0.0/15': host bits are set (did you mean 198.18.0.0/15, or "
            "198.19.0.0/32?)");
  auto v6 = Cidr::Parse("2001:db8::1/32");
  ASSERT_FALSE(v6.ok());
  EXPECT_EQ(v6.error().message,
            "'2001:db8::1/32': host bits are set (did you mean 2001:db8::/32, or "
            "2001:db8::1/128?)");
  auto zero = Cidr::Parse("1.2.3.4/0");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message,
            "'1.2.3.4/0': host bits are set (did you mean 0.0.0.0/0, or 1.2.3.4/32?)");
}

TEST(CidrTest, GarbageIsRefused) {
  const std::string not_address =
      ": not an address; expected an IPv4 or IPv6 address with an optional /prefix, e.g. "
      "198.18.0.0/15, 198.18.0.1, 2001:db8::/32";
  for (const std::string& text :
       std::vector<std::string>{"", "/8", "10.1", "10.0.0", "010.0.0.1", "10.0.0.256", "10.0.0.1 ",
                                " 10.0.0.1", "example.com", "1.2.3.4.5", "::g", "1::2::3",
                                "10.0.0.0\\8", "fe80::1%eth0", std::string("10.0.0.1\0/8", 11)}) {
    auto parsed = Cidr::Parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().message, "'" + text + "'" + not_address) << text;
  }
  const std::vector<std::pair<std::string, std::string>> prefixes = {
      {"10.0.0.0/33", "'10.0.0.0/33': prefix length '33' is not in 0..32"},
      {"10.0.0.0/", "'10.0.0.0/': prefix length '' is not in 0..32"},
      {"10.0.0.0/-1", "'10.0.0.0/-1': prefix length '-1' is not in 0..32"},
      {"10.0.0.0/+8", "'10.0.0.0/+8': prefix length '+8' is not in 0..32"},
      {"10.0.0.0/8/8", "'10.0.0.0/8/8': prefix length '8/8' is not in 0..32"},
      {"10.0.0.0/0008", "'10.0.0.0/0008': prefix length '0008' is not in 0..32"},
      {"10.0.0.0/ 8", "'10.0.0.0/ 8': prefix length ' 8' is not in 0..32"},
      {"::/129", "'::/129': prefix length '129' is not in 0..128"},
      {"::/4294967304", "'::/4294967304': prefix length '4294967304' is not in 0..128"},
  };
  for (const auto& [text, message] : prefixes) {
    auto parsed = Cidr::Parse(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_EQ(parsed.error().message, message);
  }
}

TEST(CidrTest, ContainsEdges) {
  auto all4 = Cidr::Parse("0.0.0.0/0");
  ASSERT_TRUE(all4.ok());
  EXPECT_TRUE(all4->Contains(2, V4(0, 0, 0, 0)));
  EXPECT_TRUE(all4->Contains(2, V4(255, 255, 255, 255)));
  EXPECT_FALSE(all4->Contains(10, V6({})));  // another family is never inside

  auto host = Cidr::Parse("198.18.0.1/32");
  ASSERT_TRUE(host.ok());
  EXPECT_TRUE(host->Contains(2, V4(198, 18, 0, 1)));
  EXPECT_FALSE(host->Contains(2, V4(198, 18, 0, 0)));
  EXPECT_FALSE(host->Contains(2, V4(198, 18, 0, 2)));
  EXPECT_TRUE(host->is_host());

  auto net = Cidr::Parse("198.18.0.0/15");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->Contains(2, V4(198, 18, 0, 0)));
  EXPECT_TRUE(net->Contains(2, V4(198, 19, 255, 255)));
  EXPECT_FALSE(net->Contains(2, V4(198, 17, 255, 255)));
  EXPECT_FALSE(net->Contains(2, V4(198, 20, 0, 0)));
  EXPECT_FALSE(net->is_host());

  auto all6 = Cidr::Parse("::/0");
  ASSERT_TRUE(all6.ok());
  std::array<uint8_t, 16> ones{};
  ones.fill(0xff);
  EXPECT_TRUE(all6->Contains(10, ones));
  EXPECT_TRUE(all6->Contains(10, V6({})));
  EXPECT_FALSE(all6->Contains(2, V4(1, 2, 3, 4)));

  auto host6 = Cidr::Parse("2001:db8::1/128");
  ASSERT_TRUE(host6.ok());
  EXPECT_TRUE(
      host6->Contains(10, V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})));
  EXPECT_FALSE(
      host6->Contains(10, V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})));
  EXPECT_TRUE(host6->is_host());

  // A prefix ending inside a byte: /10 keeps the top two bits of the second byte.
  auto link = Cidr::Parse("fe80::/10");
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(link->Contains(10, V6({0xfe, 0xbf, 0xff})));
  EXPECT_FALSE(link->Contains(10, V6({0xfe, 0xc0})));
  EXPECT_FALSE(link->Contains(10, V6({0xfe, 0x7f})));

  // An IPv4-mapped prefix does not contain the plain IPv4 address.
  auto mapped = Cidr::Parse("::ffff:198.18.0.1");
  ASSERT_TRUE(mapped.ok());
  EXPECT_FALSE(mapped->Contains(2, V4(198, 18, 0, 1)));
}

TEST(CidrTest, HostFromAddress) {
  std::array<uint8_t, 16> addr = V4(198, 18, 0, 7);
  addr[8] = 0xAA;  // bytes beyond an IPv4 address are not part of it
  const Cidr h = Cidr::Host(2, addr);
  EXPECT_EQ(h.ToString(), "198.18.0.7/32");
  EXPECT_EQ(h.addr, V4(198, 18, 0, 7));
  EXPECT_EQ(h, MustParse("198.18.0.7"));
  const Cidr h6 = Cidr::Host(10, V6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}));
  EXPECT_EQ(h6.ToString(), "2001:db8::9/128");
}

}  // namespace
}  // namespace ta::agent::enforce
