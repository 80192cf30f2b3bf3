// Events the analyzer consumes. They are the analyzer's own domain types, independent of how
// they were captured: agent/bpf_events.h converts ring buffer records (bpf/ta_abi.h) into them,
// analyzer/capture/packet_decoder.h converts raw packets from a pcap into them. Timestamps are
// nanoseconds on whatever clock the source uses (CLOCK_MONOTONIC live, pcap time in replay);
// the analyzer only ever subtracts them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace ta::analyzer {

enum class Direction : uint8_t {
  kClientToServer = 0,  // requests
  kServerToClient = 1,  // responses
};

// Canonical flow key: both directions of one connection have the same key. IPv4 addresses use
// the first 4 bytes of the arrays, the rest is zero.
struct FlowKey {
  std::array<uint8_t, 16> client_addr{};
  std::array<uint8_t, 16> server_addr{};
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  uint8_t family = 0;  // 2 = IPv4, 10 = IPv6

  bool operator==(const FlowKey&) const = default;
  std::string ToString() const;  // "198.18.0.1:40000 -> 198.18.0.2:80"
};

struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const noexcept;
};

struct ConnOpenEvent {
  FlowKey flow;
  uint64_t ts_ns = 0;
  bool mid_stream = false;  // first seen carrying payload, without a SYN
};

// The three-way handshake completed: the client's first ACK after the server's SYN-ACK was
// seen. Only for connections whose SYN was seen. ack_ns - syn_ns is the handshake round trip as
// the capture point sees it (on a server node: SYN-ACK out, ACK back in, plus the server's own
// SYN-ACK latency; on a client node: the server's answer time).
struct ConnEstablishedEvent {
  FlowKey flow;
  uint64_t syn_ns = 0;     // client SYN seen
  uint64_t synack_ns = 0;  // server SYN-ACK seen
  uint64_t ack_ns = 0;     // client ACK of the SYN-ACK seen (the event's own time)
};

struct ConnCloseEvent {
  FlowKey flow;
  uint64_t ts_ns = 0;
  bool reset = false;
  std::array<uint64_t, 2> bytes{};    // payload bytes per Direction
  std::array<uint64_t, 2> packets{};  // packets per Direction
  // Segments per Direction whose sequence range had been seen before, entirely or in part
  // (retransmissions, from sequence analysis at the capture point; a retransmitted SYN counts).
  std::array<uint64_t, 2> retransmits{};
};

// One TCP segment's payload (or a GSO super-segment, up to 64 KiB). A payload of at most
// snaplen bytes is captured whole in `captured`. A longer one comes as `captured`, its first
// snaplen - snaplen_tail bytes, and `tail`, its last snaplen_tail bytes: what ends a long write
// (gRPC trailers after a large DATA frame, a chunked body's last-chunk) is kept, not only how
// it starts. The bytes in between, [captured.size(), wire_len - tail.size()), exist on the wire
// but were not captured; the reassembler reports them as a gap of known length, so a parser
// that knows a body length skips them and lands on the next frame in the tail.
struct SegmentEvent {
  FlowKey flow;
  Direction dir = Direction::kClientToServer;
  uint32_t seq = 0;       // sequence number of the first payload byte
  uint32_t wire_len = 0;  // payload bytes on the wire
  uint64_t ts_ns = 0;
  uint8_t tcp_flags = 0;
  std::span<const uint8_t> captured;  // the head: payload bytes [0, captured.size())
  // The last tail.size() bytes of the payload: [wire_len - tail.size(), wire_len). Empty when
  // the payload was captured whole, the tail is disabled, or it could not be loaded.
  std::span<const uint8_t> tail;
};

// The plaintext of one SSL_read / SSL_write call, from the OpenSSL uprobes (bpf/ssl_uprobes.bpf.c).
// A TLS session is one SSL object of one process; `local`/`remote` are its socket's addresses
// when the kernel saw the socket under it (`mapped`), from the process's point of view.
struct TlsDataEvent {
  uint32_t tgid = 0;         // process
  uint64_t ssl = 0;          // SSL object address in that process: the session's identity
  bool is_write = false;     // the process sent these bytes (SSL_write), else received them
  bool mapped = false;       // the socket is known: the fields below are valid
  uint8_t family = 0;        // 2 = IPv4, 10 = IPv6
  std::array<uint8_t, 16> local_addr{};
  std::array<uint8_t, 16> remote_addr{};
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint64_t ts_ns = 0;        // when the call returned
  uint32_t len = 0;          // plaintext bytes the call transferred
  std::span<const uint8_t> captured;  // the first min(len, snaplen) of them
};

// Anything that takes the event stream: the Analyzer, and test recorders. Both capture paths
// (ring buffer, pcap replay) deliver through this one interface, in arrival order.
class EventConsumer {
 public:
  virtual ~EventConsumer() = default;
  virtual void OnConnOpen(const ConnOpenEvent& ev) = 0;
  virtual void OnConnEstablished(const ConnEstablishedEvent& ev) = 0;
  virtual void OnSegment(const SegmentEvent& ev) = 0;
  virtual void OnConnClose(const ConnCloseEvent& ev) = 0;
  // TLS plaintext; consumers of the tc path only (the pcap decoder's tests) ignore it.
  virtual void OnTlsData(const TlsDataEvent& /*ev*/) {}
};

}  // namespace ta::analyzer
