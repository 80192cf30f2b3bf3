#include "agent/enforce/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace ta::agent::enforce {
namespace {

constexpr uint8_t kFamilyV4 = 2;   // TA_AF_INET, AF_INET on Linux
constexpr uint8_t kFamilyV6 = 10;  // TA_AF_INET6, AF_INET6 on Linux
static_assert(AF_INET == kFamilyV4 && AF_INET6 == kFamilyV6);

uint8_t MaxPrefix(uint8_t family) { return family == kFamilyV4 ? 32 : 128; }
size_t AddressBytes(uint8_t family) { return family == kFamilyV4 ? 4 : 16; }

// `address` with every bit beyond `prefix_len` cleared.
std::array<uint8_t, 16> Masked(const std::array<uint8_t, 16>& address, uint8_t prefix_len) {
  std::array<uint8_t, 16> out{};
  const size_t full = prefix_len / 8;
  for (size_t i = 0; i < full; ++i) out[i] = address[i];
  if (const unsigned rest = prefix_len % 8; rest != 0) {
    out[full] = static_cast<uint8_t>(address[full] & (0xFFu << (8 - rest)));
  }
  return out;
}

std::string AddressText(uint8_t family, const std::array<uint8_t, 16>& address) {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == kFamilyV4 ? AF_INET : AF_INET6, address.data(), buf, sizeof(buf));
  return buf;
}

Error Invalid(std::string_view text, std::string_view why) {
  return Error{0, "'" + std::string(text) + "': " + std::string(why)};
}

}  // namespace

Result<Cidr> Cidr::Parse(std::string_view text) {
  constexpr std::string_view kExpected =
      "expected an IPv4 or IPv6 address with an optional /prefix, e.g. 198.18.0.0/15, "
      "198.18.0.1, 2001:db8::/32";
  const size_t slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  // inet_pton wants a NUL-terminated string; a NUL inside the text must not cut it short.
  if (address_text.empty() || address_text.size() >= INET6_ADDRSTRLEN ||
      address_text.find('\0') != std::string_view::npos) {
    return Invalid(text, "not an address; " + std::string(kExpected));
  }
  const std::string address_z(address_text);
  Cidr out;
  // inet_pton is strict: AF_INET takes dotted quad only (no "10.1", no octal, no spaces) and
  // AF_INET6 takes RFC 4291 section 2.2 text. "::ffff:10.0.0.1" parses as IPv6 and stays IPv6:
  // the XDP program sees such packets as IPv6, so a rule for them must be an IPv6 rule.
  if (::inet_pton(AF_INET, address_z.c_str(), out.addr.data()) == 1) {
    out.family = kFamilyV4;
  } else if (::inet_pton(AF_INET6, address_z.c_str(), out.addr.data()) == 1) {
    out.family = kFamilyV6;
  } else {
    return Invalid(text, "not an address; " + std::string(kExpected));
  }
  const uint8_t max = MaxPrefix(out.family);
  out.prefix_len = max;
  if (slash != std::string_view::npos) {
    const std::string_view len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (len_text.empty() || len_text.size() > 3 || ec != std::errc() ||
        end != len_text.data() + len_text.size() || len > max) {
      return Invalid(text, "prefix length '" + std::string(len_text) + "' is not in 0.." +
                               std::to_string(max));
    }
    out.prefix_len = static_cast<uint8_t>(len);
  }
  const std::array<uint8_t, 16> network = Masked(out.addr, out.prefix_len);
  if (network != out.addr) {
    Cidr net = out;
    net.addr = network;
    return Invalid(text, "host bits are set (did you mean " + net.ToString() + ", or " +
                             AddressText(out.family, out.addr) + "/" + std::to_string(max) + "?)");
  }
  return out;
}

Cidr Cidr::Host(uint8_t family, const std::array<uint8_t, 16>& address) {
  Cidr out;
  out.family = family;
  out.prefix_len = MaxPrefix(family);
  for (size_t i = 0; i < AddressBytes(family); ++i) out.addr[i] = address[i];
  return out;
}

std::string Cidr::ToString() const {
  if (family != kFamilyV4 && family != kFamilyV6) return "(none)";
  return AddressText(family, addr) + "/" + std::to_string(prefix_len);
}

bool Cidr::Contains(uint8_t address_family, const std::array<uint8_t, 16>& address) const {
  if (address_family != family || (family != kFamilyV4 && family != kFamilyV6)) return false;
  return Masked(address, prefix_len) == addr;
}

}  // namespace ta::agent::enforce
