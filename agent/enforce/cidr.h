// An IPv4 or IPv6 prefix as operators write it ("198.18.0.0/15", "2001:db8::/32", or a bare
// address meaning /32 or /128). Parsing is strict: host bits set beyond the prefix are an error
// that proposes the network address, because "10.1.2.3/8" is almost always a typo for either
// "10.1.2.3" or "10.0.0.0/8" and silently picking one would block the wrong hosts.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "agent/result.h"

namespace ta::agent::enforce {

struct Cidr {
  uint8_t family = 0;             // TA_AF_INET (2) or TA_AF_INET6 (10)
  std::array<uint8_t, 16> addr{};  // network address; IPv4 in the first 4 bytes, rest zero
  uint8_t prefix_len = 0;         // 0..32 or 0..128

  // Errors name the text and what is expected, e.g. "'10.1.2.3/8': host bits are set
  // (did you mean 10.0.0.0/8, or 10.1.2.3/32?)".
  static Result<Cidr> Parse(std::string_view text);
  // One host: /32 or /128.
  static Cidr Host(uint8_t family, const std::array<uint8_t, 16>& address);

  // Canonical text: "198.18.0.0/15", "2001:db8::/32"; a host prints with its prefix length.
  std::string ToString() const;
  // Whether `address` of `family` lies inside this prefix.
  bool Contains(uint8_t address_family, const std::array<uint8_t, 16>& address) const;
  bool is_host() const { return prefix_len == (family == 2 ? 32 : 128); }

  auto operator<=>(const Cidr&) const = default;
};

}  // namespace ta::agent::enforce
