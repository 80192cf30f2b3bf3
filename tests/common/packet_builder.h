// Packet fixtures for the capture tests: builds frames byte by byte from a small declarative spec
// (link layer, VLAN tags, IPv4 with options or IPv6 with extension headers, TCP/UDP/ARP), with
// valid checksums so a fixture written to a pcap opens cleanly in Wireshark, and with explicit
// knobs to break one thing at a time (lengths, IHL, data offset, truncation). Header-only; used by
// both the BPF tests (bpf_prog_test_run) and the replay decoder tests so that the two capture
// paths are held to the same fixtures.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ta::testing {

using Bytes = std::vector<uint8_t>;

// TCP flags byte.
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp = 1;

// IPv6 extension header numbers (IANA).
inline constexpr uint8_t kExtHopByHop = 0;
inline constexpr uint8_t kExtRouting = 43;
inline constexpr uint8_t kExtFragment = 44;
inline constexpr uint8_t kExtEsp = 50;
inline constexpr uint8_t kExtAuth = 51;
inline constexpr uint8_t kExtDestOpts = 60;

enum class Link { kEthernet, kSll, kSll2, kRawIp };
enum class L3 { kIpv4, kIpv6, kArp };

struct VlanTag {
  uint16_t tpid = 0x8100;  // 0x8100 (802.1Q) or 0x88A8 (802.1ad)
  uint16_t vid = 0;
};

// One IPv6 extension header. `len` is its total size in bytes: a multiple of 8 (>= 8) for
// hop-by-hop, routing and destination options, a multiple of 4 (>= 12) for AH, 8 for fragment.
// The payload is zeros (Pad1 options), except the fragment header's offset/M field.
struct Ipv6Ext {
  uint8_t type = kExtDestOpts;
  size_t len = 8;
  uint16_t frag_field = 0;  // fragment header: offset << 3 | M
};

struct FrameSpec {
  Link link = Link::kEthernet;
  uint16_t sll_pkttype = 0;  // SLL/SLL2 packet type: 0 host, 4 outgoing
  std::vector<VlanTag> vlans;
  L3 l3 = L3::kIpv4;
  std::string src = "198.18.0.1";
  std::string dst = "198.18.0.2";
  Bytes ipv4_options;           // multiple of 4 bytes, at most 40
  uint16_t ipv4_frag = 0x4000;  // frag_off field: DF, no fragment
  std::vector<Ipv6Ext> ipv6_ext;
  uint8_t l4_proto = kProtoTcp;
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint32_t seq = 1000;
  uint32_t ack = 0;
  uint8_t tcp_flags = kAck;
  size_t tcp_options_len = 0;  // multiple of 4, NOPs
  Bytes payload;

  // Breakage, one knob at a time.
  std::optional<uint16_t> ip_len_field;     // IPv4 total length / IPv6 payload length
  std::optional<uint8_t> ipv4_ihl_field;    // IHL nibble as written
  std::optional<uint8_t> ip_version_field;  // version nibble as written
  std::optional<uint8_t> tcp_doff_field;    // TCP data offset nibble as written
  size_t pad_to = 0;                        // append zeros up to this frame length (Ethernet 60)
  size_t truncate_to = std::numeric_limits<size_t>::max();
};

inline Bytes PayloadOf(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Deterministic, position-dependent bytes so a copy at a wrong offset shows up.
inline Bytes PatternPayload(size_t n, uint8_t salt = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>((i * 7 + salt + (i >> 8)) & 0xFF);
  return b;
}

namespace detail {

inline void Put16(Bytes& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v & 0xFF);
}

inline void Put32(Bytes& b, size_t off, uint32_t v) {
  Put16(b, off, static_cast<uint16_t>(v >> 16));
  Put16(b, off + 2, static_cast<uint16_t>(v & 0xFFFF));
}

inline void Append16(Bytes& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v & 0xFF));
}

inline void Append32(Bytes& b, uint32_t v) {
  Append16(b, static_cast<uint16_t>(v >> 16));
  Append16(b, static_cast<uint16_t>(v & 0xFFFF));
}

// RFC 1071 one's complement sum.
inline uint32_t SumWords(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2 != 0) acc += static_cast<uint32_t>(p[n - 1] << 8);
  return acc;
}

inline uint16_t Fold(uint32_t acc) {
  while ((acc >> 16) != 0) acc = (acc & 0xFFFF) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xFFFF);
}

inline Bytes Addr(L3 l3, const std::string& text) {
  Bytes out(l3 == L3::kIpv6 ? 16 : 4);
  int af = l3 == L3::kIpv6 ? AF_INET6 : AF_INET;
  if (inet_pton(af, text.c_str(), out.data()) != 1) {
    throw std::invalid_argument("bad address in fixture: " + text);
  }
  return out;
}

inline Bytes BuildL4(const FrameSpec& s, const Bytes& src, const Bytes& dst) {
  Bytes l4;
  if (s.l4_proto == kProtoTcp) {
    size_t hlen = 20 + s.tcp_options_len;
    Append16(l4, s.sport);
    Append16(l4, s.dport);
    Append32(l4, s.seq);
    Append32(l4, s.ack);
    uint8_t doff = s.tcp_doff_field.value_or(static_cast<uint8_t>(hlen / 4));
    l4.push_back(static_cast<uint8_t>(doff << 4));
    l4.push_back(s.tcp_flags);
    Append16(l4, 65535);                           // window
    Append16(l4, 0);                               // checksum, below
    Append16(l4, 0);                               // urgent pointer
    l4.insert(l4.end(), s.tcp_options_len, 0x01);  // NOP
  } else if (s.l4_proto == kProtoUdp) {
    Append16(l4, s.sport);
    Append16(l4, s.dport);
    Append16(l4, static_cast<uint16_t>(8 + s.payload.size()));
    Append16(l4, 0);
  } else if (s.l4_proto == kProtoIcmp) {
    l4 = {8, 0, 0, 0, 0, 1, 0, 1};  // echo request
  }
  l4.insert(l4.end(), s.payload.begin(), s.payload.end());

  size_t csum_off = s.l4_proto == kProtoTcp ? 16 : s.l4_proto == kProtoUdp ? 6 : 2;
  if (l4.size() >= csum_off + 2) {
    uint32_t acc = 0;
    if (s.l4_proto != kProtoIcmp) {  // pseudo header (RFC 793 / RFC 8200 section 8.1)
      acc = SumWords(src.data(), src.size(), acc);
      acc = SumWords(dst.data(), dst.size(), acc);
      acc += s.l4_proto;
      acc += static_cast<uint32_t>(l4.size() & 0xFFFF) + static_cast<uint32_t>(l4.size() >> 16);
    }
    acc = SumWords(l4.data(), l4.size(), acc);
    Put16(l4, csum_off, Fold(acc));
  }
  return l4;
}

inline Bytes BuildIpv4(const FrameSpec& s) {
  Bytes src = Addr(L3::kIpv4, s.src), dst = Addr(L3::kIpv4, s.dst);
  Bytes l4 = BuildL4(s, src, dst);
  size_t hlen = 20 + s.ipv4_options.size();
  Bytes ip;
  uint8_t version = s.ip_version_field.value_or(4);
  uint8_t ihl = s.ipv4_ihl_field.value_or(static_cast<uint8_t>(hlen / 4));
  ip.push_back(static_cast<uint8_t>(version << 4 | (ihl & 0x0F)));
  ip.push_back(0);  // TOS
  Append16(ip, s.ip_len_field.value_or(static_cast<uint16_t>(hlen + l4.size())));
  Append16(ip, 0x1234);  // id
  Append16(ip, s.ipv4_frag);
  ip.push_back(64);  // TTL
  ip.push_back(s.l4_proto);
  Append16(ip, 0);  // checksum
  ip.insert(ip.end(), src.begin(), src.end());
  ip.insert(ip.end(), dst.begin(), dst.end());
  ip.insert(ip.end(), s.ipv4_options.begin(), s.ipv4_options.end());
  Put16(ip, 10, Fold(SumWords(ip.data(), ip.size())));
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

inline Bytes BuildIpv6(const FrameSpec& s) {
  Bytes src = Addr(L3::kIpv6, s.src), dst = Addr(L3::kIpv6, s.dst);
  Bytes l4 = BuildL4(s, src, dst);
  Bytes ext;
  for (size_t i = 0; i < s.ipv6_ext.size(); ++i) {
    const Ipv6Ext& e = s.ipv6_ext[i];
    uint8_t next = i + 1 < s.ipv6_ext.size() ? s.ipv6_ext[i + 1].type : s.l4_proto;
    size_t start = ext.size();
    size_t len = e.type == kExtFragment ? 8 : e.len;
    ext.resize(start + len, 0);
    ext[start] = next;
    if (e.type == kExtAuth) {
      ext[start + 1] = static_cast<uint8_t>(len / 4 - 2);
    } else if (e.type == kExtFragment) {
      Put16(ext, start + 2, e.frag_field);
      Put32(ext, start + 4, 0xABCD);
    } else {
      ext[start + 1] = static_cast<uint8_t>(len / 8 - 1);
    }
  }
  Bytes ip;
  uint8_t version = s.ip_version_field.value_or(6);
  ip.push_back(static_cast<uint8_t>(version << 4));
  ip.push_back(0);
  ip.push_back(0);
  ip.push_back(0);
  Append16(ip, s.ip_len_field.value_or(static_cast<uint16_t>(ext.size() + l4.size())));
  ip.push_back(s.ipv6_ext.empty() ? s.l4_proto : s.ipv6_ext[0].type);
  ip.push_back(64);  // hop limit
  ip.insert(ip.end(), src.begin(), src.end());
  ip.insert(ip.end(), dst.begin(), dst.end());
  ip.insert(ip.end(), ext.begin(), ext.end());
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

inline Bytes BuildArp() {
  // Who-has 198.18.0.2 tell 198.18.0.1 (RFC 826).
  return {0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x02, 0, 0,   0,  0, 1,
          198,  18,   0,    1,    0, 0, 0,    0,    0,    0, 198, 18, 0, 2};
}

}  // namespace detail

// The ethertype that announces the spec's L3.
inline uint16_t EtherTypeOf(L3 l3) {
  switch (l3) {
    case L3::kIpv4:
      return 0x0800;
    case L3::kIpv6:
      return 0x86DD;
    case L3::kArp:
      return 0x0806;
  }
  return 0;
}

inline Bytes BuildFrame(const FrameSpec& s) {
  using detail::Append16;
  using detail::Append32;
  Bytes l3 = s.l3 == L3::kIpv4   ? detail::BuildIpv4(s)
             : s.l3 == L3::kIpv6 ? detail::BuildIpv6(s)
                                 : detail::BuildArp();
  Bytes f;
  // VLAN tags between the link header and L3: the link header announces the first tag's TPID.
  Bytes tags;
  for (size_t i = 0; i < s.vlans.size(); ++i) {
    Append16(tags, s.vlans[i].vid);
    Append16(tags, i + 1 < s.vlans.size() ? s.vlans[i + 1].tpid : EtherTypeOf(s.l3));
  }
  uint16_t outer = s.vlans.empty() ? EtherTypeOf(s.l3) : s.vlans[0].tpid;
  switch (s.link) {
    case Link::kEthernet:
      f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
      Append16(f, outer);
      break;
    case Link::kSll:  // Linux cooked v1: 16 bytes
      Append16(f, s.sll_pkttype);
      Append16(f, 1);  // ARPHRD_ETHER
      Append16(f, 6);
      f.insert(f.end(), {0x02, 0, 0, 0, 0, 0x01, 0, 0});
      Append16(f, outer);
      break;
    case Link::kSll2:  // Linux cooked v2: 20 bytes
      Append16(f, outer);
      Append16(f, 0);  // reserved
      Append32(f, 2);  // ifindex
      Append16(f, 1);  // ARPHRD_ETHER
      f.push_back(static_cast<uint8_t>(s.sll_pkttype));
      f.push_back(6);
      f.insert(f.end(), {0x02, 0, 0, 0, 0, 0x01, 0, 0});
      break;
    case Link::kRawIp:
      break;
  }
  f.insert(f.end(), tags.begin(), tags.end());
  f.insert(f.end(), l3.begin(), l3.end());
  if (f.size() < s.pad_to) f.resize(s.pad_to, 0);
  if (f.size() > s.truncate_to) f.resize(s.truncate_to);
  return f;
}

}  // namespace ta::testing
