#include "analyzer/events.h"

#include <cstring>
#include <string>

namespace ta::analyzer {
namespace {

constexpr uint8_t kFamilyIpv4 = 2;

void AppendIpv4(const std::array<uint8_t, 16>& a, std::string& out) {
  for (size_t i = 0; i < 4; ++i) {
    if (i > 0) out += '.';
    out += std::to_string(a[i]);
  }
}

// RFC 5952 text form: lowercase hex, no leading zeros, the longest run (of two or more) of zero
// groups replaced by "::", leftmost run on a tie.
void AppendIpv6(const std::array<uint8_t, 16>& a, std::string& out) {
  std::array<uint16_t, 8> groups{};
  for (size_t i = 0; i < 8; ++i) {
    groups[i] = static_cast<uint16_t>((a[2 * i] << 8) | a[2 * i + 1]);
  }
  size_t best_start = 8, best_len = 0;
  for (size_t i = 0; i < 8;) {
    if (groups[i] != 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < 8 && groups[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best_start = 8;

  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best_start + best_len) out += ':';
    bool leading = true;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const auto nibble = static_cast<unsigned>(groups[i] >> shift) & 0xfu;
      if (leading && nibble == 0 && shift > 0) continue;
      leading = false;
      out += kHex[nibble];
    }
  }
}

void AppendEndpoint(const std::array<uint8_t, 16>& addr, uint16_t port, uint8_t family,
                    std::string& out) {
  if (family == kFamilyIpv4) {
    AppendIpv4(addr, out);
  } else {
    out += '[';
    AppendIpv6(addr, out);
    out += ']';
  }
  out += ':';
  out += std::to_string(port);
}

// splitmix64 finaliser: cheap and mixes every input bit into every output bit.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

std::string FlowKey::ToString() const {
  std::string out;
  out.reserve(96);
  AppendEndpoint(client_addr, client_port, family, out);
  out += " -> ";
  AppendEndpoint(server_addr, server_port, family, out);
  return out;
}

size_t FlowKeyHash::operator()(const FlowKey& k) const noexcept {
  uint64_t h = Mix(Load64(k.client_addr.data()) ^ (uint64_t{k.family} << 56));
  h = Mix(h ^ Load64(k.client_addr.data() + 8));
  h = Mix(h ^ Load64(k.server_addr.data()));
  h = Mix(h ^ Load64(k.server_addr.data() + 8));
  h = Mix(h ^ (uint64_t{k.client_port} << 16 | k.server_port));
  return static_cast<size_t>(h);
}

}  // namespace ta::analyzer
