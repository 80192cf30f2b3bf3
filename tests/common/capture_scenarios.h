// The capture contract as data: packet sequences and the exact events and counters they must
// produce. Both capture paths run every scenario: the tc program through bpf_prog_test_run
// (tests/bpf/tc_capture_test.cc) and the replay decoder (tests/analyzer/capture/
// packet_decoder_test.cc). A scenario that passes on one and fails on the other is a semantic
// drift between bpf/ and analyzer/capture/, which is exactly what this file exists to catch.
//
// Events are compared in a neutral form holding what both paths report: the ring buffer carries
// more (timestamps, tc point, flags), which the BPF test checks separately. Timestamps differ
// between the paths (kernel clock, replay's synthetic frame times), so an established event
// names its three timestamps by the index of the packet each was taken on; each test maps its
// own clock to packet indices.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tests/common/packet_builder.h"

namespace ta::testing {

struct KeyView {
  std::array<uint8_t, 16> client_addr{};
  std::array<uint8_t, 16> server_addr{};
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  uint8_t family = 0;  // 2 or 10

  bool operator==(const KeyView&) const = default;
};

inline KeyView MakeKey(L3 l3, const std::string& client, uint16_t cport, const std::string& server,
                       uint16_t sport) {
  KeyView k;
  Bytes c = detail::Addr(l3, client), s = detail::Addr(l3, server);
  std::copy(c.begin(), c.end(), k.client_addr.begin());
  std::copy(s.begin(), s.end(), k.server_addr.begin());
  k.client_port = cport;
  k.server_port = sport;
  k.family = l3 == L3::kIpv6 ? 10 : 2;
  return k;
}

enum class EventKind : uint8_t { kOpen = 1, kClose = 2, kPayload = 3, kEstablished = 4 };

inline constexpr uint8_t kC2S = 0;
inline constexpr uint8_t kS2C = 1;

struct EventView {
  EventKind kind = EventKind::kOpen;
  KeyView key;
  // payload
  uint8_t dir = 0;
  uint32_t seq = 0;
  uint32_t payload_len = 0;
  uint8_t tcp_flags = 0;
  Bytes captured;  // the head
  Bytes tail;      // the last tail.size() bytes of a payload longer than snaplen
  // open
  bool mid_stream = false;
  // established: indices into Scenario::packets of the SYN, SYN-ACK and ACK (-1: no packet's
  // time)
  std::array<int, 3> handshake{};
  // close
  bool reset = false;
  std::array<uint64_t, 2> bytes{};
  std::array<uint64_t, 2> packets{};
  std::array<uint64_t, 2> retransmits{};

  bool operator==(const EventView&) const = default;
};

inline EventView Open(const KeyView& key, bool mid_stream) {
  EventView e;
  e.kind = EventKind::kOpen;
  e.key = key;
  e.mid_stream = mid_stream;
  return e;
}

// A payload event as the capture rule makes it: a payload of at most snaplen bytes whole,
// a longer one as its first snaplen - tail and its last tail bytes.
inline EventView Payload(const KeyView& key, uint8_t dir, uint32_t seq, uint8_t flags,
                         const Bytes& wire, size_t snaplen, size_t tail = 0) {
  EventView e;
  e.kind = EventKind::kPayload;
  e.key = key;
  e.dir = dir;
  e.seq = seq;
  e.payload_len = static_cast<uint32_t>(wire.size());
  e.tcp_flags = flags;
  if (wire.size() <= snaplen) {
    e.captured = wire;
  } else {
    e.captured.assign(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(snaplen - tail));
    e.tail.assign(wire.end() - static_cast<std::ptrdiff_t>(tail), wire.end());
  }
  return e;
}

inline EventView Established(const KeyView& key, int syn, int synack, int ack) {
  EventView e;
  e.kind = EventKind::kEstablished;
  e.key = key;
  e.dir = 0;
  e.handshake = {syn, synack, ack};
  return e;
}

inline EventView Close(const KeyView& key, bool reset, std::array<uint64_t, 2> bytes,
                       std::array<uint64_t, 2> packets, std::array<uint64_t, 2> retransmits = {}) {
  EventView e;
  e.kind = EventKind::kClose;
  e.key = key;
  e.reset = reset;
  e.bytes = bytes;
  e.packets = packets;
  e.retransmits = retransmits;
  return e;
}

// Maps an event timestamp to the packet it was taken on, given each packet's [first, last]
// time window; -1 when none holds it.
inline int PacketIndexAt(const std::vector<std::array<uint64_t, 2>>& windows, uint64_t ts) {
  for (size_t i = 0; i < windows.size(); ++i) {
    if (windows[i][0] <= ts && ts <= windows[i][1]) return static_cast<int>(i);
  }
  return -1;
}

inline std::string AddrText(const KeyView& k, const std::array<uint8_t, 16>& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(k.family == 10 ? AF_INET6 : AF_INET, a.data(), buf, sizeof(buf));
  return buf;
}

inline void PrintTo(const EventView& e, std::ostream* os) {
  static const char* kKinds[] = {"?", "OPEN", "CLOSE", "PAYLOAD", "ESTABLISHED", "?", "?", "?"};
  *os << kKinds[static_cast<int>(e.kind) & 7] << " " << AddrText(e.key, e.key.client_addr) << ":"
      << e.key.client_port << " -> " << AddrText(e.key, e.key.server_addr) << ":"
      << e.key.server_port << " fam=" << int(e.key.family);
  switch (e.kind) {
    case EventKind::kOpen:
      *os << " mid_stream=" << e.mid_stream;
      break;
    case EventKind::kClose:
      *os << " reset=" << e.reset << " bytes=" << e.bytes[0] << "/" << e.bytes[1]
          << " packets=" << e.packets[0] << "/" << e.packets[1]
          << " retransmits=" << e.retransmits[0] << "/" << e.retransmits[1];
      break;
    case EventKind::kEstablished:
      *os << " syn=#" << e.handshake[0] << " synack=#" << e.handshake[1] << " ack=#"
          << e.handshake[2];
      break;
    case EventKind::kPayload:
      *os << " dir=" << int(e.dir) << " seq=" << e.seq << " len=" << e.payload_len << " flags=0x"
          << std::hex << int(e.tcp_flags) << std::dec << " cap=" << e.captured.size()
          << " tail=" << e.tail.size();
      break;
  }
}

// The counters both paths keep (enum ta_stat / PacketDecoderStats).
struct StatView {
  uint64_t packets = 0;  // TCP packets on a watched port
  uint64_t payload_events = 0;
  uint64_t conn_events = 0;
  uint64_t malformed = 0;
  uint64_t ipv6_ext_unsupported = 0;
  uint64_t fragments = 0;

  bool operator==(const StatView&) const = default;
};

inline void PrintTo(const StatView& s, std::ostream* os) {
  *os << "{packets=" << s.packets << " payload_events=" << s.payload_events
      << " conn_events=" << s.conn_events << " malformed=" << s.malformed
      << " ipv6_ext_unsupported=" << s.ipv6_ext_unsupported << " fragments=" << s.fragments << "}";
}

enum class TcPoint : uint8_t { kIngress = 0, kEgress = 1 };

struct ScenarioPacket {
  Bytes frame;
  TcPoint point = TcPoint::kIngress;
};

struct Scenario {
  std::string name;
  std::vector<uint16_t> ports = {80, 443, 8080, 8443};
  uint32_t snaplen = 1024;
  uint32_t snaplen_tail = 256;  // the product's defaults (agent/config.h)
  std::vector<ScenarioPacket> packets;
  std::vector<EventView> expected;
  StatView stats;
};

inline void PrintTo(const Scenario& s, std::ostream* os) { *os << s.name; }

// Builds both directions of one TCP connection, tracking sequence numbers like a real stack
// (SYN and FIN take one). Client packets are seen at tc ingress, server packets at egress: the
// agent runs on the server host.
class Conversation {
 public:
  Conversation(L3 l3, std::string client, uint16_t cport, std::string server, uint16_t sport)
      : l3_(l3),
        client_(std::move(client)),
        server_(std::move(server)),
        cport_(cport),
        sport_(sport) {}

  KeyView key() const { return MakeKey(l3_, client_, cport_, server_, sport_); }

  // Template for every frame of this conversation (VLANs, options, extension headers...).
  FrameSpec& base() { return base_; }

  ScenarioPacket FromClient(uint8_t flags, const Bytes& payload = {}) {
    FrameSpec s = Spec(flags, payload, client_, server_, cport_, sport_, client_seq_, server_seq_);
    client_seq_ += Advance(flags, payload);
    return {BuildFrame(s), TcPoint::kIngress};
  }
  ScenarioPacket FromServer(uint8_t flags, const Bytes& payload = {}) {
    FrameSpec s = Spec(flags, payload, server_, client_, sport_, cport_, server_seq_, client_seq_);
    server_seq_ += Advance(flags, payload);
    return {BuildFrame(s), TcPoint::kEgress};
  }
  // Same, but returns the spec for the caller to break or decorate before building.
  FrameSpec ClientSpec(uint8_t flags, const Bytes& payload = {}) {
    FrameSpec s = Spec(flags, payload, client_, server_, cport_, sport_, client_seq_, server_seq_);
    client_seq_ += Advance(flags, payload);
    return s;
  }
  FrameSpec ServerSpec(uint8_t flags, const Bytes& payload = {}) {
    FrameSpec s = Spec(flags, payload, server_, client_, sport_, cport_, server_seq_, client_seq_);
    server_seq_ += Advance(flags, payload);
    return s;
  }

  uint32_t client_seq() const { return client_seq_; }
  uint32_t server_seq() const { return server_seq_; }
  void set_client_seq(uint32_t v) { client_seq_ = v; }

 private:
  static uint32_t Advance(uint8_t flags, const Bytes& payload) {
    return static_cast<uint32_t>(payload.size()) + ((flags & kSyn) ? 1u : 0u) +
           ((flags & kFin) ? 1u : 0u);
  }
  FrameSpec Spec(uint8_t flags, const Bytes& payload, const std::string& src,
                 const std::string& dst, uint16_t sp, uint16_t dp, uint32_t seq, uint32_t ack) {
    FrameSpec s = base_;
    s.l3 = l3_;
    s.src = src;
    s.dst = dst;
    s.sport = sp;
    s.dport = dp;
    s.seq = seq;
    s.ack = (flags & kAck) ? ack : 0;
    s.tcp_flags = flags;
    s.payload = payload;
    return s;
  }

  L3 l3_;
  std::string client_, server_;
  uint16_t cport_, sport_;
  uint32_t client_seq_ = 1000;
  uint32_t server_seq_ = 5000;
  FrameSpec base_;
};

inline ScenarioPacket Packet(const FrameSpec& s, TcPoint point = TcPoint::kIngress) {
  return {BuildFrame(s), point};
}

// The table below uses designated initializers with only the fields that matter spelled out; the
// rest keep their defaults on purpose, which GCC 12 would flag.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
inline std::vector<Scenario> CaptureScenarios() {
  std::vector<Scenario> all;
  const Bytes req = PayloadOf("GET /users/42 HTTP/1.1\r\nHost: api\r\n\r\n");
  const Bytes resp = PayloadOf("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");

  {  // Not IP: leaves at the ethertype test.
    Scenario s{.name = "arp_is_skipped"};
    FrameSpec f;
    f.l3 = L3::kArp;
    s.packets = {Packet(f)};
    all.push_back(s);
  }
  {  // IP but not TCP, even on a watched port number.
    Scenario s{.name = "udp_and_icmp_are_skipped"};
    FrameSpec udp;
    udp.l4_proto = kProtoUdp;
    udp.dport = 80;
    udp.payload = PayloadOf("hello");
    FrameSpec icmp;
    icmp.l4_proto = kProtoIcmp;
    FrameSpec udp6 = udp;
    udp6.l3 = L3::kIpv6;
    udp6.src = "2001:db8::1";
    udp6.dst = "2001:db8::2";
    s.packets = {Packet(udp), Packet(icmp), Packet(udp6)};
    all.push_back(s);
  }
  {  // TCP, but neither port watched: no state, no events, not even counted as a packet.
    Scenario s{.name = "tcp_on_unwatched_ports_is_ignored"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 9090);
    s.packets = {c.FromClient(kSyn), c.FromServer(kSyn | kAck), c.FromClient(kAck),
                 c.FromClient(kPsh | kAck, req)};
    all.push_back(s);
  }
  {
    Scenario s{.name = "client_syn_opens"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    s.packets = {c.FromClient(kSyn)};
    s.expected = {Open(c.key(), false)};
    s.stats = {.packets = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // The whole life of a keep-alive-less exchange: open on SYN, payload both ways, close on
     // the second FIN; the last ACK arrives after the entry is gone and creates nothing.
    Scenario s{.name = "handshake_request_response_fin_fin"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    s.packets.push_back(c.FromClient(kSyn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    uint32_t req_seq = c.client_seq();
    s.packets.push_back(c.FromClient(kPsh | kAck, req));
    uint32_t resp_seq = c.server_seq();
    s.packets.push_back(c.FromServer(kPsh | kAck, resp));
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.packets.push_back(c.FromServer(kFin | kAck));
    s.packets.push_back(c.FromClient(kAck));
    s.expected = {Open(k, false), Established(k, 0, 1, 2),
                  Payload(k, kC2S, req_seq, kPsh | kAck, req, 1024),
                  Payload(k, kS2C, resp_seq, kPsh | kAck, resp, 1024),
                  Close(k, false, {req.size(), resp.size()}, {4, 3})};
    s.stats = {.packets = 8, .payload_events = 2, .conn_events = 3};
    all.push_back(s);
  }
  {  // Joined mid-way: the first packet with payload opens, whichever side sends it.
    Scenario s{.name = "mid_stream_payload_opens"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 8080);
    auto k = c.key();
    uint32_t seq = c.server_seq();
    s.packets = {c.FromServer(kPsh | kAck, resp), c.FromClient(kAck)};
    s.expected = {Open(k, true), Payload(k, kS2C, seq, kPsh | kAck, resp, 1024)};
    s.stats = {.packets = 2, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // Tail ends of connections we never knew: nothing to track.
    Scenario s{.name = "unknown_ack_fin_rst_create_nothing"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 443);
    s.packets = {c.FromClient(kAck), c.FromClient(kFin | kAck), c.FromServer(kRst),
                 c.FromServer(kRst | kAck), c.FromServer(kSyn | kAck)};
    s.stats = {.packets = 5};
    all.push_back(s);
  }
  {  // A server SYN without ACK (simultaneous open) is not a client SYN.
    Scenario s{.name = "server_syn_without_ack_creates_nothing"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    s.packets = {c.FromServer(kSyn)};
    s.stats = {.packets = 1};
    all.push_back(s);
  }
  {  // RST with payload on an unknown flow: no state.
    Scenario s{.name = "rst_with_payload_on_unknown_flow_creates_nothing"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    s.packets = {c.FromServer(kRst | kAck, PayloadOf("reset reason"))};
    s.stats = {.packets = 1};
    all.push_back(s);
  }
  {
    Scenario s{.name = "rst_closes_with_reset"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, req), c.FromServer(kRst | kAck), c.FromClient(kAck)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024),
                  Close(k, true, {req.size(), 0}, {1, 1})};
    s.stats = {.packets = 3, .payload_events = 1, .conn_events = 2};
    all.push_back(s);
  }
  {  // Payload and FIN in one segment: the payload is reported before the close.
    Scenario s{.name = "fin_with_payload_reports_payload_then_close"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t req_seq = c.client_seq();
    s.packets.push_back(c.FromClient(kPsh | kAck, req));
    s.packets.push_back(c.FromClient(kFin | kAck));
    uint32_t resp_seq = c.server_seq();
    s.packets.push_back(c.FromServer(kFin | kPsh | kAck, resp));
    s.expected = {Open(k, true), Payload(k, kC2S, req_seq, kPsh | kAck, req, 1024),
                  Payload(k, kS2C, resp_seq, kFin | kPsh | kAck, resp, 1024),
                  Close(k, false, {req.size(), resp.size()}, {2, 1})};
    s.stats = {.packets = 3, .payload_events = 2, .conn_events = 2};
    all.push_back(s);
  }
  {  // Retransmitted FINs, after the close and before it, change nothing.
    Scenario s{.name = "retransmitted_fins"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets.push_back(c.FromClient(kPsh | kAck, req));
    FrameSpec fin = c.ClientSpec(kFin | kAck);
    s.packets.push_back(Packet(fin));
    s.packets.push_back(Packet(fin));  // retransmission: still only the client's FIN
    FrameSpec sfin = c.ServerSpec(kFin | kAck);
    s.packets.push_back(Packet(sfin, TcPoint::kEgress));
    s.packets.push_back(Packet(sfin, TcPoint::kEgress));  // after the close: unknown flow
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024),
                  Close(k, false, {req.size(), 0}, {3, 1}, {1, 0})};
    s.stats = {.packets = 5, .payload_events = 1, .conn_events = 2};
    all.push_back(s);
  }
  {  // TCP Fast Open: data on the SYN starts one past the ISN.
    Scenario s{.name = "syn_with_data"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t isn = c.client_seq();
    s.packets = {c.FromClient(kSyn, req)};
    s.expected = {Open(k, false), Payload(k, kC2S, isn + 1, kSyn, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // Port reuse: a SYN with a new ISN on a tracked key closes the stale entry and opens anew;
     // a retransmitted SYN (same ISN) is the same connection.
    Scenario s{.name = "syn_with_new_isn_replaces_stale_flow"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    FrameSpec syn = c.ClientSpec(kSyn);
    s.packets.push_back(Packet(syn));
    s.packets.push_back(Packet(syn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    s.packets.push_back(c.FromClient(kPsh | kAck, PayloadOf("x")));
    c.set_client_seq(900000);
    s.packets.push_back(c.FromClient(kSyn));
    // The handshake times are the first SYN's and the SYN-ACK's; the second SYN counts as a
    // retransmission in the close.
    s.expected = {Open(k, false), Established(k, 0, 2, 3),
                  Payload(k, kC2S, 1001, kPsh | kAck, PayloadOf("x"), 1024),
                  Close(k, false, {1, 0}, {4, 1}, {1, 0}), Open(k, false)};
    s.stats = {.packets = 6, .payload_events = 1, .conn_events = 4};
    all.push_back(s);
  }
  {  // A SYN on a flow joined mid-stream is a new connection too.
    Scenario s{.name = "syn_after_mid_stream_replaces"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t seq = c.server_seq();
    s.packets = {c.FromServer(kAck, resp), c.FromClient(kSyn)};
    s.expected = {Open(k, true), Payload(k, kS2C, seq, kAck, resp, 1024),
                  Close(k, false, {0, resp.size()}, {0, 1}), Open(k, false)};
    s.stats = {.packets = 2, .payload_events = 1, .conn_events = 3};
    all.push_back(s);
  }
  {
    Scenario s{.name = "vlan_8021q"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    c.base().vlans = {{0x8100, 100}};
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, req)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // QinQ: 802.1ad service tag outside an 802.1Q customer tag; IPv6 inside.
    Scenario s{.name = "qinq_8021ad_8021q_ipv6"};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 443);
    c.base().vlans = {{0x88A8, 10}, {0x8100, 20}};
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, req)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // Double 802.1Q (some switches) is accepted as well.
    Scenario s{.name = "double_8021q"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    c.base().vlans = {{0x8100, 10}, {0x8100, 20}};
    auto k = c.key();
    s.packets = {c.FromClient(kSyn)};
    s.expected = {Open(k, false)};
    s.stats = {.packets = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // A third tag is past what we parse: its ethertype is a TPID, i.e. "not IP", skipped.
    Scenario s{.name = "three_vlan_tags_are_skipped"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    c.base().vlans = {{0x88A8, 1}, {0x8100, 2}, {0x8100, 3}};
    s.packets = {c.FromClient(kSyn)};
    all.push_back(s);
  }
  {  // IPv4 options (IHL 8) and TCP options (data offset 8) are skipped by their lengths.
    Scenario s{.name = "ipv4_and_tcp_options"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    c.base().ipv4_options = Bytes(12, 0x01);  // NOPs
    c.base().tcp_options_len = 12;
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, req)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // Largest IPv4 and TCP headers (60 bytes each).
    Scenario s{.name = "ipv4_and_tcp_max_options"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    c.base().ipv4_options = Bytes(40, 0x01);
    c.base().tcp_options_len = 40;
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, req)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {
    Scenario s{.name = "ipv6_handshake_and_rst"};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 8443);
    auto k = c.key();
    s.packets.push_back(c.FromClient(kSyn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    uint32_t seq = c.client_seq();
    s.packets.push_back(c.FromClient(kPsh | kAck, req));
    s.packets.push_back(c.FromClient(kRst));
    // No pure ACK: the first data segment completes the handshake.
    s.expected = {Open(k, false), Established(k, 0, 1, 2),
                  Payload(k, kC2S, seq, kPsh | kAck, req, 1024),
                  Close(k, true, {req.size(), 0}, {3, 1})};
    s.stats = {.packets = 4, .payload_events = 1, .conn_events = 3};
    all.push_back(s);
  }
  {  // Six extension headers, the most we walk: hop-by-hop, destination options, routing, AH,
     // an atomic fragment (RFC 6946: a whole packet), destination options.
    Scenario s{.name = "ipv6_six_extension_headers"};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
    c.base().ipv6_ext = {{kExtHopByHop, 8}, {kExtDestOpts, 16}, {kExtRouting, 24},
                         {kExtAuth, 24},    {kExtFragment, 8},  {kExtDestOpts, 8}};
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, req)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {
    Scenario s{.name = "ipv6_seven_extension_headers_unsupported"};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
    c.base().ipv6_ext = std::vector<Ipv6Ext>(7, Ipv6Ext{kExtDestOpts, 8});
    s.packets = {c.FromClient(kPsh | kAck, req)};
    s.stats = {.ipv6_ext_unsupported = 1};
    all.push_back(s);
  }
  {  // ESP hides the upper layer.
    Scenario s{.name = "ipv6_esp_unsupported"};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
    c.base().ipv6_ext = {{kExtHopByHop, 8}};
    FrameSpec f = c.ClientSpec(kAck, req);
    f.ipv6_ext.push_back({kExtEsp, 8});  // "ESP" header followed by opaque bytes
    s.packets = {Packet(f)};
    s.stats = {.ipv6_ext_unsupported = 1};
    all.push_back(s);
  }
  {  // UDP behind an extension header: walked, then simply not TCP.
    Scenario s{.name = "ipv6_udp_after_extension_is_skipped"};
    FrameSpec f;
    f.l3 = L3::kIpv6;
    f.src = "2001:db8::1";
    f.dst = "2001:db8::2";
    f.ipv6_ext = {{kExtHopByHop, 8}};
    f.l4_proto = kProtoUdp;
    f.payload = PayloadOf("dns?");
    s.packets = {Packet(f)};
    all.push_back(s);
  }
  {  // Fragments are counted and skipped (no reassembly), first or not, IPv4 or IPv6, any L4.
    Scenario s{.name = "fragments_are_counted_and_skipped"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    FrameSpec first = c.ClientSpec(kPsh | kAck, req);
    first.ipv4_frag = 0x2000;  // MF, offset 0
    FrameSpec last = first;
    last.ipv4_frag = 0x0010;  // offset 16 * 8, no MF
    FrameSpec udp;
    udp.l4_proto = kProtoUdp;
    udp.ipv4_frag = 0x2000;
    Conversation c6(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
    FrameSpec first6 = c6.ClientSpec(kPsh | kAck, req);
    first6.ipv6_ext = {{kExtFragment, 8, 0x0001}};  // offset 0, M
    FrameSpec last6 = first6;
    last6.ipv6_ext = {{kExtHopByHop, 8}, {kExtFragment, 8, 185 << 3}};
    s.packets = {Packet(first), Packet(last), Packet(udp), Packet(first6), Packet(last6)};
    s.stats = {.fragments = 5};
    all.push_back(s);
  }
  {  // Each frame breaks one header; all counted as malformed, none creates anything.
    Scenario s{.name = "malformed_headers_are_counted"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    Conversation c6(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
    auto v4 = [&] { return c.ClientSpec(kPsh | kAck, req); };
    auto v6 = [&] { return c6.ClientSpec(kPsh | kAck, req); };
    std::vector<FrameSpec> bad;
    FrameSpec f = v4();
    f.vlans = {{0x8100, 5}};
    f.truncate_to = 16;  // VLAN tag cut in half
    bad.push_back(f);
    // Cut IP headers sit behind a VLAN tag: bpf_prog_test_run refuses frames whose outer
    // ethertype is IPv4/IPv6 but that are shorter than that header (Linux 6.x), and the tag
    // takes the parser down the same path.
    f = v4();
    f.vlans = {{0x8100, 5}};
    f.truncate_to = 18 + 10;  // IPv4 header cut
    bad.push_back(f);
    f = v4();
    f.ipv4_ihl_field = 4;  // IHL below 5
    bad.push_back(f);
    f = v4();
    f.ip_version_field = 5;  // ethertype says IPv4, header says otherwise
    bad.push_back(f);
    f = v4();
    f.ip_len_field = 1000;  // total length beyond the frame
    bad.push_back(f);
    f = v4();
    f.ip_len_field = 16;  // total length shorter than the header
    bad.push_back(f);
    f = v4();
    f.ip_len_field = 20 + 10;  // datagram ends inside the TCP header
    bad.push_back(f);
    f = v4();
    f.tcp_doff_field = 4;  // data offset below 5
    bad.push_back(f);
    f = v4();
    f.payload = {};
    f.tcp_doff_field = 15;  // 60-byte TCP header in a 20-byte segment
    bad.push_back(f);
    f = v6();
    f.vlans = {{0x8100, 5}};
    f.truncate_to = 18 + 30;  // IPv6 header cut
    bad.push_back(f);
    f = v6();
    f.ip_len_field = 2000;  // payload length beyond the frame
    bad.push_back(f);
    f = v6();
    f.ipv6_ext = {{kExtDestOpts, 8}};
    f.payload = {};
    f.ip_len_field = 4;  // extension header runs past the datagram
    bad.push_back(f);
    f = v6();
    f.ip_version_field = 4;
    bad.push_back(f);
    for (const auto& b : bad) s.packets.push_back(Packet(b));
    s.stats = {.malformed = bad.size()};
    all.push_back(s);
  }
  {  // Short frames are padded to 60 bytes on Ethernet: lengths come from IP, not the frame.
    Scenario s{.name = "ethernet_padding_is_not_payload"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    c.base().pad_to = 60;
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kPsh | kAck, PayloadOf("hi")), c.FromServer(kAck),
                 c.FromClient(kFin | kAck), c.FromServer(kFin | kAck)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kPsh | kAck, PayloadOf("hi"), 1024),
                  Close(k, false, {2, 0}, {2, 2})};
    s.stats = {.packets = 4, .payload_events = 1, .conn_events = 2};
    all.push_back(s);
  }
  {  // IPv4 total length 0 = the rest of the packet (BIG TCP GSO packets).
    Scenario s{.name = "ipv4_zero_total_length_is_rest_of_packet"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t seq = c.client_seq();
    FrameSpec f = c.ClientSpec(kAck, req);
    f.ip_len_field = 0;
    s.packets = {Packet(f)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kAck, req, 1024)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // payload_len is the wire length; only snaplen bytes are captured.
    Scenario s{.name = "snaplen_truncates_capture", .snaplen = 100, .snaplen_tail = 0};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    Bytes big = PatternPayload(1400, 3);
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kAck, big)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kAck, big, 100)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // A payload longer than snaplen: its first snaplen - snaplen_tail bytes and its last
     // snaplen_tail bytes (a GSO super-segment whose trailers lie at the end). One exactly
     // snaplen long is captured whole; one byte longer already splits.
    Scenario s{.name = "long_payload_head_and_tail"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    s.expected.push_back(Open(k, true));
    const size_t sizes[] = {3000, 1024, 1025, 1281};
    for (size_t i = 0; i < std::size(sizes); ++i) {
      Bytes p = PatternPayload(sizes[i], static_cast<uint8_t>(i + 7));
      uint32_t seq = c.server_seq();
      s.packets.push_back(c.FromServer(kAck, p));
      s.expected.push_back(Payload(k, kS2C, seq, kAck, p, 1024, 256));
    }
    s.stats = {.packets = std::size(sizes), .payload_events = std::size(sizes), .conn_events = 1};
    all.push_back(s);
  }
  {  // The largest tail snaplen allows: one head byte. (bpf_prog_test_run takes frames of
     // less than a page, so a tail in the 4096 class cannot be run here.)
    Scenario s{.name = "tail_extremes", .snaplen = 2048, .snaplen_tail = 2047};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 8080);
    auto k = c.key();
    Bytes p = PatternPayload(3200, 5);
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kAck | kPsh, p)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kAck | kPsh, p, 2048, 2047)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // snaplen_tail 1 on a 64-byte snaplen: the smallest size class holds both parts.
    Scenario s{.name = "tail_one_byte", .snaplen = 64, .snaplen_tail = 1};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    Bytes p = PatternPayload(65, 9);
    uint32_t seq = c.client_seq();
    s.packets = {c.FromClient(kAck, p)};
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kAck, p, 64, 1)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // snaplen_tail 0: the head only, as before tails existed.
    Scenario s{.name = "tail_disabled", .snaplen_tail = 0};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    Bytes p = PatternPayload(3000, 11);
    uint32_t seq = c.server_seq();
    s.packets = {c.FromServer(kAck, p)};
    s.expected = {Open(k, true), Payload(k, kS2C, seq, kAck, p, 1024, 0)};
    s.stats = {.packets = 1, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // Every size class boundary, copied byte-exact (snaplen at its maximum).
    Scenario s{.name = "payload_size_classes", .snaplen = 4096};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    const size_t sizes[] = {1, 64, 65, 256, 257, 512, 513, 1024, 1025, 2048, 2049, 3000};
    s.expected.push_back(Open(k, true));
    for (size_t i = 0; i < std::size(sizes); ++i) {
      Bytes p = PatternPayload(sizes[i], static_cast<uint8_t>(i));
      uint32_t seq = c.client_seq();
      s.packets.push_back(c.FromClient(kAck, p));
      s.expected.push_back(Payload(k, kC2S, seq, kAck, p, 4096));
    }
    s.stats = {.packets = std::size(sizes), .payload_events = std::size(sizes), .conn_events = 1};
    all.push_back(s);
  }
  {  // Both ports watched: the lower port is the server, seen from either side first.
    Scenario s{.name = "both_ports_watched_lower_port_is_server"};
    Conversation c(L3::kIpv4, "198.18.0.1", 8080, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t sseq = c.server_seq();
    s.packets.push_back(c.FromServer(kAck, resp));
    uint32_t cseq = c.client_seq();
    s.packets.push_back(c.FromClient(kAck, req));
    s.expected = {Open(k, true), Payload(k, kS2C, sseq, kAck, resp, 1024),
                  Payload(k, kC2S, cseq, kAck, req, 1024)};
    s.stats = {.packets = 2, .payload_events = 2, .conn_events = 1};
    all.push_back(s);
  }
  {  // Same port both ends: the lower address is the server.
    Scenario s{.name = "equal_ports_lower_address_is_server"};
    Conversation c(L3::kIpv4, "198.18.0.9", 443, "198.18.0.3", 443);
    auto k = c.key();
    uint32_t cseq = c.client_seq();
    s.packets.push_back(c.FromClient(kAck, req));
    uint32_t sseq = c.server_seq();
    s.packets.push_back(c.FromServer(kAck, resp));
    s.expected = {Open(k, true), Payload(k, kC2S, cseq, kAck, req, 1024),
                  Payload(k, kS2C, sseq, kAck, resp, 1024)};
    s.stats = {.packets = 2, .payload_events = 2, .conn_events = 1};
    all.push_back(s);
  }
  {  // The watched-port set is the configured one, not a built-in list.
    Scenario s{.name = "custom_port_set", .ports = {9000}};
    Conversation web(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    Conversation custom(L3::kIpv4, "198.18.0.1", 40001, "198.18.0.2", 9000);
    auto k = custom.key();
    s.packets = {web.FromClient(kSyn), custom.FromClient(kSyn)};
    s.expected = {Open(k, false)};
    s.stats = {.packets = 1, .conn_events = 1};
    all.push_back(s);
  }
  // ---- Handshake timing (TA_EV_CONN_ESTABLISHED) ----
  {  // Reported once, on the client's first ACK after the SYN-ACK; later ACKs, pure or with
     // data, report nothing more.
    Scenario s{.name = "handshake_established_once"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    s.packets.push_back(c.FromClient(kSyn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    s.packets.push_back(c.FromClient(kAck));  // duplicate ACK
    uint32_t seq = c.client_seq();
    s.packets.push_back(c.FromClient(kPsh | kAck, req));
    s.packets.push_back(c.FromServer(kAck));
    s.packets.push_back(c.FromClient(kAck));
    s.expected = {Open(k, false), Established(k, 0, 1, 2),
                  Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 7, .payload_events = 1, .conn_events = 2};
    all.push_back(s);
  }
  {  // No final ACK: a retransmitted SYN-ACK (counted), then the client resets. RST|ACK has
     // the ACK bit but is no handshake ACK.
    Scenario s{.name = "handshake_without_final_ack_is_not_established"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    s.packets.push_back(c.FromClient(kSyn));
    FrameSpec synack = c.ServerSpec(kSyn | kAck);
    s.packets.push_back(Packet(synack, TcPoint::kEgress));
    s.packets.push_back(Packet(synack, TcPoint::kEgress));
    s.packets.push_back(c.FromClient(kRst | kAck));
    s.expected = {Open(k, false), Close(k, true, {0, 0}, {2, 2}, {0, 1})};
    s.stats = {.packets = 4, .conn_events = 2};
    all.push_back(s);
  }
  {  // The SYN-ACK was not seen (asymmetric routing, or lost before the capture point): no
     // handshake time can be given, whatever the client sends.
    Scenario s{.name = "ack_without_seen_synack_is_not_established"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    s.packets.push_back(c.FromClient(kSyn));
    c.FromServer(kSyn | kAck);  // never captured
    s.packets.push_back(c.FromClient(kAck));
    uint32_t seq = c.client_seq();
    s.packets.push_back(c.FromClient(kPsh | kAck, req));
    s.expected = {Open(k, false), Payload(k, kC2S, seq, kPsh | kAck, req, 1024)};
    s.stats = {.packets = 3, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  {  // Joined mid-stream: a SYN-ACK and ACK seen later are not this connection's handshake
     // (no SYN seen, nothing to time from).
    Scenario s{.name = "mid_stream_flow_is_never_established"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t seq = c.client_seq();
    s.packets.push_back(c.FromClient(kAck, req));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    s.expected = {Open(k, true), Payload(k, kC2S, seq, kAck, req, 1024)};
    s.stats = {.packets = 3, .payload_events = 1, .conn_events = 1};
    all.push_back(s);
  }
  // ---- Retransmissions (struct ta_seq_track in bpf/ta_abi.h) ----
  {  // The same data segment twice: both are reported as payload (the reassembler drops the
     // duplicate), the second counts as a retransmission.
    Scenario s{.name = "retransmitted_data_segment"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    s.packets.push_back(c.FromClient(kSyn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    uint32_t req_seq = c.client_seq();
    FrameSpec data = c.ClientSpec(kPsh | kAck, req);
    s.packets.push_back(Packet(data));
    s.packets.push_back(Packet(data));
    uint32_t resp_seq = c.server_seq();
    FrameSpec answer = c.ServerSpec(kPsh | kAck, resp);
    for (int i = 0; i < 3; ++i) s.packets.push_back(Packet(answer, TcPoint::kEgress));
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.packets.push_back(c.FromServer(kFin | kAck));
    s.expected = {Open(k, false),
                  Established(k, 0, 1, 2),
                  Payload(k, kC2S, req_seq, kPsh | kAck, req, 1024),
                  Payload(k, kC2S, req_seq, kPsh | kAck, req, 1024),
                  Payload(k, kS2C, resp_seq, kPsh | kAck, resp, 1024),
                  Payload(k, kS2C, resp_seq, kPsh | kAck, resp, 1024),
                  Payload(k, kS2C, resp_seq, kPsh | kAck, resp, 1024),
                  Close(k, false, {2 * req.size(), 3 * resp.size()}, {5, 5}, {1, 2})};
    s.stats = {.packets = 10, .payload_events = 5, .conn_events = 3};
    all.push_back(s);
  }
  {  // A segment of which only a part was seen before (a repacketized retransmission: the
     // sender merged the unacknowledged tail with new data) counts; the next new one does not.
    Scenario s{.name = "partial_overlap_counts"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    const Bytes a = PatternPayload(100, 1), b = PatternPayload(100, 2), n = PatternPayload(10, 3);
    FrameSpec first = c.ClientSpec(kAck, a);  // [1000, 1100)
    FrameSpec overlap = first;
    overlap.seq = 1050;  // [1050, 1150): half seen
    overlap.payload = b;
    c.set_client_seq(1150);
    FrameSpec next = c.ClientSpec(kAck, n);  // [1150, 1160)
    s.packets = {Packet(first), Packet(overlap), Packet(next)};
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.packets.push_back(c.FromServer(kFin | kAck));
    s.expected = {Open(k, true), Payload(k, kC2S, 1000, kAck, a, 1024),
                  Payload(k, kC2S, 1050, kAck, b, 1024), Payload(k, kC2S, 1150, kAck, n, 1024),
                  Close(k, false, {210, 0}, {4, 1}, {1, 0})};
    s.stats = {.packets = 5, .payload_events = 3, .conn_events = 2};
    all.push_back(s);
  }
  {  // A SYN with the tracked ISN is the same connection's SYN again: counted, not a new flow.
    Scenario s{.name = "retransmitted_syn_counts"};
    Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 443);
    auto k = c.key();
    FrameSpec syn = c.ClientSpec(kSyn);
    s.packets.push_back(Packet(syn));
    s.packets.push_back(Packet(syn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.packets.push_back(c.FromServer(kFin | kAck));
    s.expected = {Open(k, false), Established(k, 0, 2, 3), Close(k, false, {0, 0}, {4, 2}, {1, 0})};
    s.stats = {.packets = 6, .conn_events = 3};
    all.push_back(s);
  }
  {  // A FIN occupies a sequence number: the server's FIN sent again before the client's FIN
     // counts; the client's FIN then closes.
    Scenario s{.name = "retransmitted_server_fin_counts"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    uint32_t seq = c.server_seq();
    s.packets.push_back(c.FromServer(kPsh | kAck, resp));
    FrameSpec fin = c.ServerSpec(kFin | kAck);
    s.packets.push_back(Packet(fin, TcPoint::kEgress));
    s.packets.push_back(Packet(fin, TcPoint::kEgress));
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.expected = {Open(k, true), Payload(k, kS2C, seq, kPsh | kAck, resp, 1024),
                  Close(k, false, {0, resp.size()}, {1, 3}, {0, 1})};
    s.stats = {.packets = 4, .payload_events = 1, .conn_events = 2};
    all.push_back(s);
  }
  {  // Sequence numbers wrap at 2^32 (RFC 9293 section 3.4): an ISN just below it and data
     // crossing zero are new data, not retransmissions; the crossing segment sent again is one.
    Scenario s{.name = "sequence_wrap_is_not_retransmission"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    c.set_client_seq(0xFFFFFFF0u);
    s.packets.push_back(c.FromClient(kSyn));
    s.packets.push_back(c.FromServer(kSyn | kAck));
    s.packets.push_back(c.FromClient(kAck));
    const Bytes a = PatternPayload(40, 1), b = PatternPayload(40, 2);
    FrameSpec cross = c.ClientSpec(kAck, a);  // [0xFFFFFFF1, 0x19)
    FrameSpec after = c.ClientSpec(kAck, b);  // [0x19, 0x41)
    s.packets.push_back(Packet(cross));
    s.packets.push_back(Packet(after));
    s.packets.push_back(Packet(cross));
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.packets.push_back(c.FromServer(kFin | kAck));
    s.expected = {Open(k, false),
                  Established(k, 0, 1, 2),
                  Payload(k, kC2S, 0xFFFFFFF1u, kAck, a, 1024),
                  Payload(k, kC2S, 0x19u, kAck, b, 1024),
                  Payload(k, kC2S, 0xFFFFFFF1u, kAck, a, 1024),
                  Close(k, false, {120, 0}, {6, 2}, {1, 0})};
    s.stats = {.packets = 8, .payload_events = 3, .conn_events = 3};
    all.push_back(s);
  }
  {  // Out of order: the later segment first, then the earlier one filling the gap. The gap
     // was never seen here, so filling it is no retransmission (Wireshark: out-of-order); the
     // same segment once more is.
    Scenario s{.name = "out_of_order_fill_is_not_retransmission"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    const Bytes a = PatternPayload(10, 1), b = PatternPayload(10, 2), d = PatternPayload(10, 3);
    FrameSpec fa = c.ClientSpec(kAck, a);  // [1000, 1010)
    FrameSpec fb = c.ClientSpec(kAck, b);  // [1010, 1020)
    FrameSpec fd = c.ClientSpec(kAck, d);  // [1020, 1030)
    s.packets = {Packet(fa), Packet(fd), Packet(fb), Packet(fb)};
    s.packets.push_back(c.FromClient(kFin | kAck));
    s.packets.push_back(c.FromServer(kFin | kAck));
    s.expected = {Open(k, true),
                  Payload(k, kC2S, 1000, kAck, a, 1024),
                  Payload(k, kC2S, 1020, kAck, d, 1024),
                  Payload(k, kC2S, 1010, kAck, b, 1024),
                  Payload(k, kC2S, 1010, kAck, b, 1024),
                  Close(k, false, {40, 0}, {5, 1}, {1, 0})};
    s.stats = {.packets = 6, .payload_events = 4, .conn_events = 2};
    all.push_back(s);
  }
  {  // The documented limit: one hole is tracked. A second gap replaces the first, so the
     // late fill of the first counts (an overcount), the fill of the second does not; a fill
     // in the middle of a hole keeps its lower part, so the upper part's fill counts too.
    Scenario s{.name = "only_the_newest_gap_is_tracked"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    std::vector<FrameSpec> f;
    std::vector<Bytes> p;
    for (uint8_t i = 0; i < 8; ++i) {
      p.push_back(PatternPayload(10, i));
      f.push_back(c.ClientSpec(kAck, p.back()));  // [1000 + 10 i, 1010 + 10 i)
    }
    // 0, gap {1}, 2, gap {3..5}, 6, then 1 (first gap: counted), 4 (middle of the hole: not
    // counted, keeps {3}), 5 (forgotten upper part: counted), 3 (kept lower part: not).
    const int order[] = {0, 2, 6, 1, 4, 5, 3};
    s.expected.push_back(Open(k, true));
    for (int i : order) {
      s.packets.push_back(Packet(f[static_cast<size_t>(i)]));
      s.expected.push_back(Payload(k, kC2S, 1000u + 10u * static_cast<uint32_t>(i), kAck,
                                   p[static_cast<size_t>(i)], 1024));
    }
    s.packets.push_back(c.FromClient(kRst));
    s.expected.push_back(Close(k, true, {70, 0}, {8, 0}, {2, 0}));
    s.stats = {.packets = 8, .payload_events = 7, .conn_events = 2};
    all.push_back(s);
  }
  {  // Each direction has its own sequence space: the server's bytes at the client's numbers
     // are no retransmission.
    Scenario s{.name = "directions_are_tracked_apart"};
    Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
    auto k = c.key();
    const Bytes x = PatternPayload(10, 1);
    FrameSpec cs = c.ClientSpec(kAck, x);
    FrameSpec ss = c.ServerSpec(kAck, x);
    ss.seq = cs.seq;
    s.packets = {Packet(cs), Packet(ss, TcPoint::kEgress), c.FromClient(kRst)};
    s.expected = {Open(k, true), Payload(k, kC2S, 1000, kAck, x, 1024),
                  Payload(k, kS2C, 1000, kAck, x, 1024), Close(k, true, {10, 10}, {2, 1})};
    s.stats = {.packets = 3, .payload_events = 2, .conn_events = 2};
    all.push_back(s);
  }
  return all;
}
#pragma GCC diagnostic pop

}  // namespace ta::testing
