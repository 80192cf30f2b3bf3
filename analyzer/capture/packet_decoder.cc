#include "analyzer/capture/packet_decoder.h"

#include <algorithm>
#include <cstring>

#include "bpf/ta_abi.h"

// Every rule below has its twin in bpf/parse.bpf.h, bpf/flow.bpf.h or bpf/tc_capture.bpf.c,
// and the comments there say why it is so; here they only say where replay differs.

namespace ta::analyzer::capture {
namespace {

constexpr uint16_t kEthPIp = 0x0800;
constexpr uint16_t kEthPIpv6 = 0x86DD;
constexpr uint16_t kEthP8021Q = 0x8100;
constexpr uint16_t kEthP8021AD = 0x88A8;

constexpr uint8_t kProtoHopOpts = 0;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoEsp = 50;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoDstOpts = 60;

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpRst = 0x04;
constexpr uint8_t kTcpAck = 0x10;

constexpr uint32_t kEthHlen = 14;
constexpr uint32_t kVlanHlen = 4;
constexpr uint32_t kSllHlen = 16;
constexpr uint32_t kSll2Hlen = 20;
constexpr uint32_t kIpv4MinHlen = 20;
constexpr uint32_t kIpv6Hlen = 40;
constexpr uint32_t kTcpMinHlen = 20;

enum class Rc { kOk, kSkip, kMalformed, kFragment, kExtUnsupported, kCaptureTruncated };

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// The frame as the parser sees it. Offsets count from the first byte of the frame; pkt_len is
// the frame's length on the wire (the kernel's skb->len), bytes what the capture kept of it.
struct Cursor {
  std::span<const uint8_t> bytes;
  uint32_t pkt_len = 0;

  // The kernel can always read what the packet holds; a capture may have cut it short, which
  // is the capture's doing, not the packet's, hence a separate verdict.
  Rc Read(uint32_t off, uint32_t len, const uint8_t** out) const {
    if (uint64_t{off} + len > pkt_len) return Rc::kMalformed;
    if (uint64_t{off} + len > bytes.size()) return Rc::kCaptureTruncated;
    *out = bytes.data() + off;
    return Rc::kOk;
  }
};

bool IsIpv6Ext(uint8_t nexthdr) {
  return nexthdr == kProtoHopOpts || nexthdr == kProtoRouting || nexthdr == kProtoDstOpts ||
         nexthdr == kProtoAh || nexthdr == kProtoFragment;
}

}  // namespace

struct ParsedPacket {
  uint32_t l3_off = 0;
  uint32_t l4_off = 0;
  uint32_t l3_end = 0;
  uint32_t payload_off = 0;
  uint32_t payload_len = 0;
  uint32_t seq = 0;
  uint16_t sport = 0;
  uint16_t dport = 0;
  uint16_t ethertype = 0;
  uint8_t family = 0;
  uint8_t l4_proto = 0;
  uint8_t tcp_flags = 0;
  std::array<uint8_t, 16> saddr{};
  std::array<uint8_t, 16> daddr{};
};

namespace {

using Packet = ParsedPacket;

// Ethernet + up to two VLAN tags (ta_parse_l2). For Linux cooked captures the link header
// carries the ethertype instead; libpcap re-inserts VLAN tags after it, so the tag walk is the
// same. Raw IP has neither.
Rc ParseL2(LinkType link, const Cursor& c, Packet& pkt) {
  const uint8_t* p = nullptr;
  uint32_t off = 0;
  uint16_t proto = 0;
  switch (link) {
    case LinkType::kEthernet:
      if (Rc rc = c.Read(0, kEthHlen, &p); rc != Rc::kOk) return rc;
      proto = Be16(p + 12);
      off = kEthHlen;
      break;
    case LinkType::kLinuxSll:
      if (Rc rc = c.Read(0, kSllHlen, &p); rc != Rc::kOk) return rc;
      proto = Be16(p + 14);
      off = kSllHlen;
      break;
    case LinkType::kLinuxSll2:
      if (Rc rc = c.Read(0, kSll2Hlen, &p); rc != Rc::kOk) return rc;
      proto = Be16(p);
      off = kSll2Hlen;
      break;
    case LinkType::kRawIp:
      if (Rc rc = c.Read(0, 1, &p); rc != Rc::kOk) return rc;
      if ((p[0] >> 4) == 4) {
        proto = kEthPIp;
      } else if ((p[0] >> 4) == 6) {
        proto = kEthPIpv6;
      } else {
        return Rc::kMalformed;
      }
      pkt.ethertype = proto;
      pkt.l3_off = 0;
      return Rc::kOk;
  }
  for (int i = 0; i < 2; ++i) {
    if (proto != kEthP8021Q && proto != kEthP8021AD) break;
    if (Rc rc = c.Read(off, kVlanHlen, &p); rc != Rc::kOk) return rc;
    proto = Be16(p + 2);
    off += kVlanHlen;
  }
  pkt.ethertype = proto;
  pkt.l3_off = off;
  return Rc::kOk;
}

Rc ParseIpv4(const Cursor& c, Packet& pkt) {
  const uint32_t off = pkt.l3_off;
  const uint8_t* iph = nullptr;
  if (Rc rc = c.Read(off, kIpv4MinHlen, &iph); rc != Rc::kOk) return rc;
  const uint32_t hlen = (iph[0] & 0x0Fu) * 4;
  if ((iph[0] >> 4) != 4 || hlen < kIpv4MinHlen) return Rc::kMalformed;
  uint32_t tot = Be16(iph + 2);
  if (tot == 0) tot = c.pkt_len - off;  // BIG TCP
  if (tot < hlen || uint64_t{off} + tot > c.pkt_len) return Rc::kMalformed;

  pkt.family = TA_AF_INET;
  pkt.l4_proto = iph[9];
  pkt.l4_off = off + hlen;
  pkt.l3_end = off + tot;
  std::memcpy(pkt.saddr.data(), iph + 12, 4);
  std::memcpy(pkt.daddr.data(), iph + 16, 4);
  if ((Be16(iph + 6) & 0x3FFF) != 0) return Rc::kFragment;  // MF or offset
  return Rc::kOk;
}

Rc ParseIpv6(const Cursor& c, Packet& pkt) {
  uint32_t off = pkt.l3_off;
  const uint8_t* ip6 = nullptr;
  if (Rc rc = c.Read(off, kIpv6Hlen, &ip6); rc != Rc::kOk) return rc;
  if ((ip6[0] >> 4) != 6) return Rc::kMalformed;
  const uint32_t plen = Be16(ip6 + 4);
  const uint64_t end = plen != 0 ? uint64_t{off} + kIpv6Hlen + plen : c.pkt_len;  // jumbo/BIG TCP
  if (end > c.pkt_len) return Rc::kMalformed;

  pkt.family = TA_AF_INET6;
  pkt.l3_end = static_cast<uint32_t>(end);
  std::memcpy(pkt.saddr.data(), ip6 + 8, 16);
  std::memcpy(pkt.daddr.data(), ip6 + 24, 16);
  uint8_t nexthdr = ip6[6];
  off += kIpv6Hlen;

  for (int i = 0; i < TA_IPV6_MAX_EXT_HDRS; ++i) {
    if (!IsIpv6Ext(nexthdr)) break;
    const uint8_t* ext = nullptr;
    if (uint64_t{off} + 8 > end) return Rc::kMalformed;
    if (Rc rc = c.Read(off, 8, &ext); rc != Rc::kOk) return rc;
    if (nexthdr == kProtoFragment) {
      if ((Be16(ext + 2) & 0xFFF9) != 0) {  // offset or M: a real fragment (RFC 8200 4.5)
        pkt.l4_proto = ext[0];
        return Rc::kFragment;
      }
      off += 8;  // atomic fragment (RFC 6946): a whole packet
    } else if (nexthdr == kProtoAh) {
      off += (uint32_t{ext[1]} + 2) * 4;
    } else {
      off += (uint32_t{ext[1]} + 1) * 8;
    }
    nexthdr = ext[0];
    if (off > end) return Rc::kMalformed;
  }

  pkt.l4_proto = nexthdr;
  pkt.l4_off = off;
  if (nexthdr == kProtoEsp || IsIpv6Ext(nexthdr)) return Rc::kExtUnsupported;
  return Rc::kOk;
}

Rc ParseTcp(const Cursor& c, Packet& pkt) {
  const uint32_t off = pkt.l4_off;
  const uint8_t* th = nullptr;
  if (uint64_t{off} + kTcpMinHlen > pkt.l3_end) return Rc::kMalformed;
  if (Rc rc = c.Read(off, kTcpMinHlen, &th); rc != Rc::kOk) return rc;
  const uint32_t hlen = (th[12] >> 4) * 4u;
  if (hlen < kTcpMinHlen || uint64_t{off} + hlen > pkt.l3_end) return Rc::kMalformed;

  pkt.sport = Be16(th);
  pkt.dport = Be16(th + 2);
  pkt.seq = Be32(th + 4);
  pkt.tcp_flags = th[13];
  pkt.payload_off = off + hlen;
  pkt.payload_len = pkt.l3_end - (off + hlen);
  return Rc::kOk;
}

Rc ParseTcpPacket(LinkType link, const Cursor& c, Packet& pkt) {
  if (Rc rc = ParseL2(link, c, pkt); rc != Rc::kOk) return rc;
  Rc rc;
  if (pkt.ethertype == kEthPIp) {
    rc = ParseIpv4(c, pkt);
  } else if (pkt.ethertype == kEthPIpv6) {
    rc = ParseIpv6(c, pkt);
  } else {
    return Rc::kSkip;
  }
  if (rc != Rc::kOk) return rc;
  if (pkt.l4_proto != kProtoTcp) return Rc::kSkip;
  return ParseTcp(c, pkt);
}

// RFC 1982 serial number comparison (ta_seq_before).
bool SeqBefore(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

// ta_seq_retransmit(): true when [seq, seq + len) covers sequence space seen before in this
// direction, outside the tracked hole.
bool SeqRetransmit(PacketDecoder::SeqTrack& t, uint32_t seq, uint32_t len) {
  const uint32_t end = seq + len, hs = t.hole_start, he = t.hole_end;
  if (!t.seen) {
    t.seen = true;
    t.end = end;
    return false;
  }
  bool seen_before = false;
  if (SeqBefore(seq, t.end)) {
    const uint32_t top = SeqBefore(end, t.end) ? end : t.end;
    seen_before = hs == he || SeqBefore(seq, hs) || SeqBefore(he, top);
  }
  if (hs != he && SeqBefore(seq, he) && SeqBefore(hs, end)) {
    if (!SeqBefore(hs, seq)) {
      t.hole_start = SeqBefore(end, he) ? end : he;
    } else {
      t.hole_end = seq;
    }
  }
  if (SeqBefore(t.end, end)) {
    if (SeqBefore(t.end, seq)) {
      t.hole_start = t.end;
      t.hole_end = seq;
    }
    t.end = end;
  }
  return seen_before;
}

// bpf/flow.bpf.h, ta_source_is_server().
bool SourceIsServer(const Packet& pkt, bool sport_watched, bool dport_watched) {
  if (sport_watched != dport_watched) return sport_watched;
  if (pkt.sport != pkt.dport) return pkt.sport < pkt.dport;
  return std::memcmp(pkt.saddr.data(), pkt.daddr.data(), 16) < 0;
}

}  // namespace

std::optional<LinkType> LinkTypeFromPcap(int linktype) {
  switch (linktype) {
    case 1:  // DLT_EN10MB / LINKTYPE_ETHERNET
      return LinkType::kEthernet;
    case 113:  // DLT_LINUX_SLL / LINKTYPE_LINUX_SLL
      return LinkType::kLinuxSll;
    case 276:  // DLT_LINUX_SLL2 / LINKTYPE_LINUX_SLL2
      return LinkType::kLinuxSll2;
    case 12:   // DLT_RAW as libpcap reports it on Linux
    case 14:   // DLT_RAW on OpenBSD
    case 101:  // LINKTYPE_RAW as files store it
    case 228:  // DLT_IPV4
    case 229:  // DLT_IPV6
      return LinkType::kRawIp;
    default:
      return std::nullopt;
  }
}

size_t PacketDecoder::KeyHash::operator()(const FlowKey& k) const noexcept {
  // FNV-1a over the key's fields.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  for (uint8_t b : k.client_addr) mix(b);
  for (uint8_t b : k.server_addr) mix(b);
  mix(static_cast<uint8_t>(k.client_port >> 8));
  mix(static_cast<uint8_t>(k.client_port & 0xFF));
  mix(static_cast<uint8_t>(k.server_port >> 8));
  mix(static_cast<uint8_t>(k.server_port & 0xFF));
  mix(k.family);
  return static_cast<size_t>(h);
}

PacketDecoder::PacketDecoder(PacketDecoderConfig config)
    : config_(std::move(config)), watched_(65536, false) {
  // The same clamps the datapath applies: the kernel caps snaplen at TA_MAX_SNAPLEN, and a
  // map cannot have zero entries.
  config_.snaplen = std::min<uint32_t>(config_.snaplen, TA_MAX_SNAPLEN);
  if (config_.snaplen_tail >= config_.snaplen) config_.snaplen_tail = 0;
  config_.max_connections = std::max<uint32_t>(config_.max_connections, 1);
  for (uint16_t p : config_.ports) watched_[p] = true;
}

void PacketDecoder::Decode(LinkType link, std::span<const uint8_t> frame, uint64_t ts_ns,
                           EventConsumer& consumer) {
  Decode(link, frame, static_cast<uint32_t>(frame.size()), ts_ns, consumer);
}

void PacketDecoder::Decode(LinkType link, std::span<const uint8_t> captured, uint32_t wire_len,
                           uint64_t ts_ns, EventConsumer& consumer) {
  ++stats_.frames;
  // A capture never holds more than the wire did; if a broken file says so, trust the bytes.
  const Cursor c{captured, std::max<uint32_t>(wire_len, static_cast<uint32_t>(captured.size()))};
  ParsedPacket pkt;
  switch (ParseTcpPacket(link, c, pkt)) {
    case Rc::kOk:
      break;
    case Rc::kSkip:
      return;
    case Rc::kMalformed:
      ++stats_.malformed;
      return;
    case Rc::kFragment:
      ++stats_.fragments;
      return;
    case Rc::kExtUnsupported:
      ++stats_.ipv6_ext_unsupported;
      return;
    case Rc::kCaptureTruncated:
      ++stats_.capture_truncated;
      return;
  }

  const bool sw = watched_[pkt.sport], dw = watched_[pkt.dport];
  if (!sw && !dw) return;
  ++stats_.packets;

  FlowKey key;
  key.family = pkt.family;
  Direction dir;
  if (SourceIsServer(pkt, sw, dw)) {
    key.server_addr = pkt.saddr;
    key.client_addr = pkt.daddr;
    key.server_port = pkt.sport;
    key.client_port = pkt.dport;
    dir = Direction::kServerToClient;
  } else {
    key.client_addr = pkt.saddr;
    key.server_addr = pkt.daddr;
    key.client_port = pkt.sport;
    key.server_port = pkt.dport;
    dir = Direction::kClientToServer;
  }
  Track(pkt, captured, key, dir, ts_ns, consumer);
}

// ta_track() in bpf/tc_capture.bpf.c, minus what only concurrency needs there (NOEXIST
// inserts, atomic adds, delete-decides-the-close, the handshake claim).
void PacketDecoder::Track(const ParsedPacket& pkt, std::span<const uint8_t> captured,
                          const FlowKey& key, Direction dir, uint64_t ts_ns,
                          EventConsumer& consumer) {
  const uint8_t flags = pkt.tcp_flags;
  const bool client_syn =
      (flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpSyn && dir == Direction::kClientToServer;
  const bool creates = client_syn || (pkt.payload_len != 0 && (flags & kTcpRst) == 0);
  const size_t d = static_cast<size_t>(dir);

  ConnState* conn = Find(key);
  if (conn == nullptr && !creates) return;

  if (conn != nullptr && client_syn &&
      ((conn->flags & TA_CONN_F_SYN_SEEN) == 0 || conn->client_isn != pkt.seq)) {
    Close(key, false, ts_ns, consumer);
    conn = nullptr;
  }

  bool opened = false;
  if (conn == nullptr) {
    ConnState init;
    if (client_syn) {
      init.flags = TA_CONN_F_SYN_SEEN;
      init.syn_ns = ts_ns;
      init.client_isn = pkt.seq;
    } else {
      init.flags = TA_CONN_F_MID_STREAM;
    }
    init.first_seen_ns = ts_ns;
    init.last_seen_ns = ts_ns;
    conn = &Insert(key, init);
    opened = true;
  }

  conn->bytes[d] += pkt.payload_len;
  conn->packets[d] += 1;
  conn->last_seen_ns = ts_ns;
  if ((flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck) && dir == Direction::kServerToClient &&
      conn->synack_ns == 0) {
    conn->synack_ns = ts_ns;
  }

  const uint32_t seq_len =
      pkt.payload_len + ((flags & kTcpSyn) != 0 ? 1u : 0u) + ((flags & kTcpFin) != 0 ? 1u : 0u);
  if (seq_len != 0 && SeqRetransmit(conn->seq[d], pkt.seq, seq_len)) ++conn->retransmits[d];

  if (opened) {
    ++stats_.conn_events;
    consumer.OnConnOpen(
        {.flow = key, .ts_ns = ts_ns, .mid_stream = (conn->flags & TA_CONN_F_MID_STREAM) != 0});
  }
  if (dir == Direction::kClientToServer && (flags & (kTcpSyn | kTcpAck | kTcpRst)) == kTcpAck &&
      (conn->flags & TA_CONN_F_SYN_SEEN) != 0 && conn->synack_ns != 0 && conn->ack_ns == 0) {
    conn->ack_ns = ts_ns;
    ++stats_.conn_events;
    consumer.OnConnEstablished(
        {.flow = key, .syn_ns = conn->syn_ns, .synack_ns = conn->synack_ns, .ack_ns = ts_ns});
  }
  if (pkt.payload_len != 0) EmitSegment(pkt, captured, key, dir, ts_ns, consumer);

  if ((flags & kTcpRst) != 0) {
    Close(key, true, ts_ns, consumer);
  } else if ((flags & kTcpFin) != 0) {
    conn->flags |= dir == Direction::kClientToServer ? TA_CONN_F_FIN_C2S : TA_CONN_F_FIN_S2C;
    constexpr uint32_t kBoth = TA_CONN_F_FIN_C2S | TA_CONN_F_FIN_S2C;
    if ((conn->flags & kBoth) == kBoth) Close(key, false, ts_ns, consumer);
  }
}

void PacketDecoder::EmitSegment(const ParsedPacket& pkt, std::span<const uint8_t> captured,
                                const FlowKey& key, Direction dir, uint64_t ts_ns,
                                EventConsumer& consumer) {
  // The datapath's rule (struct ta_payload_event): a payload of at most snaplen bytes whole,
  // a longer one as its first snaplen - snaplen_tail and its last snaplen_tail bytes. Of that,
  // only what the capture holds: the head up to the capture's end, the tail only if the
  // capture reaches the payload's end (a tail is the last bytes, or nothing; the kernel's
  // failed tail load ends the same way).
  const bool split = pkt.payload_len > config_.snaplen;
  size_t cap = split ? config_.snaplen - config_.snaplen_tail : pkt.payload_len;
  const size_t have = captured.size() > pkt.payload_off ? captured.size() - pkt.payload_off : 0;
  cap = std::min(cap, have);
  std::span<const uint8_t> tail;
  if (split && config_.snaplen_tail != 0 && have >= pkt.payload_len) {
    tail = captured.subspan(pkt.payload_off + pkt.payload_len - config_.snaplen_tail,
                            config_.snaplen_tail);
  }
  ++stats_.payload_events;
  consumer.OnSegment(
      {.flow = key,
       .dir = dir,
       .seq = pkt.seq + ((pkt.tcp_flags & kTcpSyn) != 0 ? 1u : 0u),
       .wire_len = pkt.payload_len,
       .ts_ns = ts_ns,
       .tcp_flags = pkt.tcp_flags,
       .captured = cap != 0 ? captured.subspan(pkt.payload_off, cap) : std::span<const uint8_t>(),
       .tail = tail});
}

PacketDecoder::ConnState* PacketDecoder::Find(const FlowKey& key) {
  auto it = table_.find(key);
  if (it == table_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);  // a lookup refreshes, as in the kernel's LRU
  return &it->second->second;
}

PacketDecoder::ConnState& PacketDecoder::Insert(const FlowKey& key, const ConnState& state) {
  if (table_.size() >= config_.max_connections) {
    table_.erase(lru_.back().first);
    lru_.pop_back();
    ++stats_.conn_evicted;
  }
  lru_.emplace_front(key, state);
  table_.emplace(key, lru_.begin());
  return lru_.front().second;
}

void PacketDecoder::Close(const FlowKey& key, bool reset, uint64_t ts_ns, EventConsumer& consumer) {
  auto it = table_.find(key);
  if (it == table_.end()) return;
  const ConnState st = it->second->second;
  lru_.erase(it->second);
  table_.erase(it);
  ++stats_.conn_events;
  consumer.OnConnClose({.flow = key,
                        .ts_ns = ts_ns,
                        .reset = reset,
                        .bytes = st.bytes,
                        .packets = st.packets,
                        .retransmits = st.retransmits});
}

std::optional<PacketDecoder::ConnState> PacketDecoder::Lookup(const FlowKey& key) const {
  auto it = table_.find(key);
  if (it == table_.end()) return std::nullopt;
  return it->second->second;
}

}  // namespace ta::analyzer::capture
