#include "agent/bpf_events.h"

#include <algorithm>
#include <cstring>

namespace ta::agent {

analyzer::FlowKey ToFlowKey(const ta_flow_key& key) {
  analyzer::FlowKey out;
  std::copy(std::begin(key.client_addr), std::end(key.client_addr), out.client_addr.begin());
  std::copy(std::begin(key.server_addr), std::end(key.server_addr), out.server_addr.begin());
  out.client_port = key.client_port;
  out.server_port = key.server_port;
  out.family = key.family;
  return out;
}

namespace {

// Ring buffer records are 8-byte aligned by the kernel, but copying the fixed part out keeps
// this independent of that and of strict aliasing.
template <typename T>
bool ReadFixed(std::span<const uint8_t> record, T& out) {
  if (record.size() < sizeof(T)) return false;
  std::memcpy(&out, record.data(), sizeof(T));
  return true;
}

}  // namespace

bool DeliverRecord(std::span<const uint8_t> record, analyzer::EventConsumer& consumer,
                   RecordDecodeStats& stats) {
  ta_event_header hdr;
  if (!ReadFixed(record, hdr)) {
    ++stats.truncated;
    return false;
  }
  switch (hdr.kind) {
    case TA_EV_CONN_OPEN:
    case TA_EV_CONN_ESTABLISHED:
    case TA_EV_CONN_CLOSE: {
      ta_conn_event ev;
      if (!ReadFixed(record, ev)) {
        ++stats.truncated;
        return false;
      }
      if (hdr.kind == TA_EV_CONN_OPEN) {
        consumer.OnConnOpen({.flow = ToFlowKey(ev.key),
                             .ts_ns = hdr.ts_ns,
                             .mid_stream = (ev.flags & TA_CONN_F_MID_STREAM) != 0});
      } else if (hdr.kind == TA_EV_CONN_ESTABLISHED) {
        consumer.OnConnEstablished({.flow = ToFlowKey(ev.key),
                                    .syn_ns = ev.syn_ns,
                                    .synack_ns = ev.synack_ns,
                                    .ack_ns = ev.ack_ns});
      } else {
        consumer.OnConnClose({.flow = ToFlowKey(ev.key),
                              .ts_ns = hdr.ts_ns,
                              .reset = (ev.flags & TA_CONN_F_RESET) != 0,
                              .bytes = {ev.bytes[0], ev.bytes[1]},
                              .packets = {ev.packets[0], ev.packets[1]},
                              .retransmits = {ev.retransmits[0], ev.retransmits[1]}});
      }
      return true;
    }
    case TA_EV_PAYLOAD: {
      ta_payload_event ev;
      // Head and tail must fit the record and, together, the wire length: anything else is
      // an ABI mismatch, never bytes to deliver.
      if (!ReadFixed(record, ev) || record.size() < sizeof(ev) + ev.cap_len + ev.tail_len ||
          uint64_t{ev.cap_len} + ev.tail_len > ev.payload_len) {
        ++stats.truncated;
        return false;
      }
      consumer.OnSegment({.flow = ToFlowKey(ev.key),
                          .dir = hdr.dir == TA_DIR_SERVER_TO_CLIENT
                                     ? analyzer::Direction::kServerToClient
                                     : analyzer::Direction::kClientToServer,
                          .seq = ev.seq,
                          .wire_len = ev.payload_len,
                          .ts_ns = hdr.ts_ns,
                          .tcp_flags = ev.tcp_flags,
                          .captured = record.subspan(sizeof(ev), ev.cap_len),
                          .tail = record.subspan(sizeof(ev) + ev.cap_len, ev.tail_len)});
      return true;
    }
    default:
      ++stats.unknown_kind;
      return false;
  }
}

}  // namespace ta::agent
