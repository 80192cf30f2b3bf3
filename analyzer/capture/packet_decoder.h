// The replay twin of bpf/tc_capture.bpf.c: decodes captured frames (pcap, pcapng) into the same
// ConnOpenEvent / ConnEstablishedEvent / SegmentEvent / ConnCloseEvent stream the ring buffer
// delivers live, with the
// same parsing coverage (Ethernet, up to two VLAN tags, IPv4 with options, IPv6 with up to
// TA_IPV6_MAX_EXT_HDRS extension headers, TCP), the same watched-port and direction rule, the
// same canonical flow key, the same open/established/close logic, the same retransmission
// counting (struct ta_seq_track in bpf/ta_abi.h) and the same head/tail capture rule (struct
// ta_payload_event). The
// fixtures in tests/common/capture_scenarios.h run through both and must give identical events.
//
// Pure: no I/O, no clock (timestamps come with the frames), bounded memory (a flow table of at
// most max_connections entries, least recently used evicted first like the kernel's LRU hash).
// Each frame is decoded once, as given: a capture that holds a packet twice (say, taken on both
// ends of a veth pair) yields its events twice, as two tc hooks seeing it would.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "analyzer/events.h"

namespace ta::analyzer::capture {

// How a captured frame starts.
enum class LinkType : uint8_t {
  kEthernet,   // LINKTYPE_ETHERNET
  kLinuxSll,   // LINKTYPE_LINUX_SLL, "Linux cooked v1" (tcpdump -i any before libpcap 1.10)
  kLinuxSll2,  // LINKTYPE_LINUX_SLL2, "Linux cooked v2" (tcpdump -i any since libpcap 1.10)
  kRawIp,      // LINKTYPE_RAW / IPV4 / IPV6: the frame starts at the IP header
};

// The LinkType for a pcap link-layer type as pcap_datalink() reports it (DLT_*) or as a file
// stores it (LINKTYPE_*); nullopt for link types replay does not decode.
std::optional<LinkType> LinkTypeFromPcap(int linktype);

// One frame's headers as the parser read them (the fields of struct ta_packet in
// bpf/parse.bpf.h); defined in packet_decoder.cc.
struct ParsedPacket;

struct PacketDecoderConfig {
  std::vector<uint16_t> ports;  // watched ports (the server side of a flow)
  uint32_t snaplen = 1024;      // payload bytes captured per segment; capped at 4096
  // Of a payload longer than snaplen, how many of the snaplen bytes are its last ones
  // (SegmentEvent::tail); 0, or a value >= snaplen, keeps the head only, as the datapath does.
  uint32_t snaplen_tail = 256;
  uint32_t max_connections = 65536;  // flow table bound; at least 1
};

// Mirrors the kernel's per-CPU counters (enum ta_stat in bpf/ta_abi.h) where replay has an
// equivalent; the kernel's ring buffer, map-insert and payload-load failures cannot happen here.
struct PacketDecoderStats {
  uint64_t packets = 0;               // TA_STAT_PACKETS: TCP packets on a watched port
  uint64_t payload_events = 0;        // TA_STAT_PAYLOAD_EVENTS
  uint64_t conn_events = 0;           // TA_STAT_CONN_EVENTS: opens + established + closes
  uint64_t malformed = 0;             // TA_STAT_MALFORMED
  uint64_t ipv6_ext_unsupported = 0;  // TA_STAT_IPV6_EXT_UNSUPPORTED
  uint64_t fragments = 0;             // TA_STAT_FRAGMENTS
  // Replay only.
  uint64_t frames = 0;             // frames given to Decode()
  uint64_t capture_truncated = 0;  // headers cut off by the capture's own snaplen: not decoded
  uint64_t conn_evicted = 0;       // flows dropped from the full table (the kernel's LRU is silent)
};

class PacketDecoder {
 public:
  explicit PacketDecoder(PacketDecoderConfig config);

  // Decodes one frame whose bytes were captured whole.
  void Decode(LinkType link, std::span<const uint8_t> frame, uint64_t ts_ns,
              EventConsumer& consumer);
  // Decodes one frame of which the capture kept `captured` out of `wire_len` bytes (pcap's
  // caplen and len). Lengths come from the headers and wire_len; payload bytes beyond the
  // capture count in SegmentEvent::wire_len but are not in SegmentEvent::captured.
  void Decode(LinkType link, std::span<const uint8_t> captured, uint32_t wire_len, uint64_t ts_ns,
              EventConsumer& consumer);

  const PacketDecoderStats& stats() const { return stats_; }
  size_t connections() const { return table_.size(); }

  // The decoder's view of a flow, as the kernel keeps it in ta_conns (tests, status output).
  // Sequence space seen in one direction (struct ta_seq_track).
  struct SeqTrack {
    uint32_t end = 0;  // one past the highest sequence number seen
    uint32_t hole_start = 0;
    uint32_t hole_end = 0;  // hole_start == hole_end: no hole
    bool seen = false;
  };
  struct ConnState {
    uint64_t first_seen_ns = 0;
    uint64_t last_seen_ns = 0;
    std::array<uint64_t, 2> bytes{};
    std::array<uint64_t, 2> packets{};
    std::array<uint64_t, 2> retransmits{};
    uint64_t syn_ns = 0;
    uint64_t synack_ns = 0;
    uint64_t ack_ns = 0;
    uint32_t flags = 0;  // TA_CONN_F_*
    uint32_t client_isn = 0;
    std::array<SeqTrack, 2> seq{};
  };
  std::optional<ConnState> Lookup(const FlowKey& key) const;

 private:
  struct KeyHash {
    size_t operator()(const FlowKey& k) const noexcept;
  };
  using Lru = std::list<std::pair<FlowKey, ConnState>>;

  void Track(const ParsedPacket& pkt, std::span<const uint8_t> captured, const FlowKey& key,
             Direction dir, uint64_t ts_ns, EventConsumer& consumer);
  ConnState* Find(const FlowKey& key);
  ConnState& Insert(const FlowKey& key, const ConnState& state);
  void Close(const FlowKey& key, bool reset, uint64_t ts_ns, EventConsumer& consumer);
  void EmitSegment(const ParsedPacket& pkt, std::span<const uint8_t> captured, const FlowKey& key,
                   Direction dir, uint64_t ts_ns, EventConsumer& consumer);

  PacketDecoderConfig config_;
  std::vector<bool> watched_;  // 65536 entries
  PacketDecoderStats stats_;
  Lru lru_;  // most recently used first
  std::unordered_map<FlowKey, Lru::iterator, KeyHash> table_;
};

}  // namespace ta::analyzer::capture
