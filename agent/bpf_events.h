// Conversion of ring buffer records (bpf/ta_abi.h) into the analyzer's event types. The ABI
// structs are never redeclared here: this file includes the one shared header and pins its
// layout with static_asserts, so a change on either side breaks the build, not the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "analyzer/events.h"
#include "ta_abi.h"

namespace ta::agent {

static_assert(sizeof(ta_flow_key) == 40);
static_assert(offsetof(ta_flow_key, client_port) == 32);
static_assert(offsetof(ta_flow_key, family) == 36);
static_assert(sizeof(ta_event_header) == 16);
static_assert(offsetof(ta_event_header, kind) == 12);
static_assert(sizeof(ta_conn_event) == 144);
static_assert(offsetof(ta_conn_event, retransmits) == 96);
static_assert(offsetof(ta_conn_event, syn_ns) == 112);
static_assert(offsetof(ta_conn_event, ack_ns) == 128);
static_assert(offsetof(ta_conn_event, flags) == 136);
static_assert(sizeof(ta_seq_track) == 16);
static_assert(sizeof(ta_conn_state) == 128);
static_assert(offsetof(ta_conn_state, seq) == 96);
static_assert(sizeof(ta_payload_event) == 72);
static_assert(offsetof(ta_payload_event, cap_len) == 64);
static_assert(offsetof(ta_payload_event, tail_len) == 66);
static_assert(offsetof(ta_payload_event, tcp_flags) == 68);
static_assert(offsetof(ta_payload_event, data) == 72);
static_assert(sizeof(ta_port_set) == 8192);

// Counts of records the decoder could not use. A record shorter than its kind requires means a
// kernel/user ABI mismatch: it is counted, never dereferenced.
struct RecordDecodeStats {
  uint64_t truncated = 0;
  uint64_t unknown_kind = 0;
};

// Decodes one ring buffer record and delivers it to `consumer`. Returns false (and counts why)
// when the record is not usable.
bool DeliverRecord(std::span<const uint8_t> record, analyzer::EventConsumer& consumer,
                   RecordDecodeStats& stats);

analyzer::FlowKey ToFlowKey(const ta_flow_key& key);

}  // namespace ta::agent
