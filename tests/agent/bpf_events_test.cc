#include "agent/bpf_events.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ta::agent {
namespace {

struct Recorder : analyzer::EventConsumer {
  std::vector<analyzer::ConnOpenEvent> opens;
  std::vector<analyzer::ConnEstablishedEvent> established;
  std::vector<analyzer::ConnCloseEvent> closes;
  std::vector<analyzer::SegmentEvent> segments;
  std::vector<std::string> payloads;
  std::vector<std::string> tails;
  void OnConnOpen(const analyzer::ConnOpenEvent& ev) override { opens.push_back(ev); }
  void OnConnEstablished(const analyzer::ConnEstablishedEvent& ev) override {
    established.push_back(ev);
  }
  void OnConnClose(const analyzer::ConnCloseEvent& ev) override { closes.push_back(ev); }
  void OnSegment(const analyzer::SegmentEvent& ev) override {
    segments.push_back(ev);
    payloads.emplace_back(ev.captured.begin(), ev.captured.end());
    tails.emplace_back(ev.tail.begin(), ev.tail.end());
  }
};

ta_flow_key Key() {
  ta_flow_key k{};
  k.client_addr[0] = 198, k.client_addr[1] = 18, k.client_addr[2] = 0, k.client_addr[3] = 1;
  k.server_addr[0] = 198, k.server_addr[1] = 18, k.server_addr[2] = 0, k.server_addr[3] = 2;
  k.client_port = 40000;
  k.server_port = 8080;
  k.family = TA_AF_INET;
  return k;
}

template <typename T>
std::vector<uint8_t> Bytes(const T& v, size_t extra = 0) {
  std::vector<uint8_t> out(sizeof(T) + extra);
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

TEST(DeliverRecord, PayloadCarriesCapturedBytesAndWireLength) {
  ta_payload_event ev{};
  ev.hdr = {.ts_ns = 123, .ifindex = 7, .kind = TA_EV_PAYLOAD, .dir = TA_DIR_SERVER_TO_CLIENT,
            .tc_point = TA_TC_INGRESS, .pad = 0};
  ev.key = Key();
  ev.seq = 0xfffffff0u;
  ev.payload_len = 1448;
  ev.cap_len = 8;
  ev.tcp_flags = 0x18;
  auto rec = Bytes(ev, 16);  // the kernel rounds records up to a size class
  std::memcpy(rec.data() + sizeof(ev), "HTTP/1.1", 8);
  Recorder r;
  RecordDecodeStats stats;
  ASSERT_TRUE(DeliverRecord(rec, r, stats));
  ASSERT_EQ(r.segments.size(), 1u);
  const auto& s = r.segments[0];
  EXPECT_EQ(s.dir, analyzer::Direction::kServerToClient);
  EXPECT_EQ(s.seq, 0xfffffff0u);
  EXPECT_EQ(s.wire_len, 1448u);
  EXPECT_EQ(s.ts_ns, 123u);
  EXPECT_EQ(s.tcp_flags, 0x18);
  EXPECT_EQ(r.payloads[0], "HTTP/1.1");
  EXPECT_EQ(s.flow.ToString(), "198.18.0.1:40000 -> 198.18.0.2:8080");
}

TEST(DeliverRecord, OpenAndCloseCarryFlagsAndCounters) {
  ta_conn_event open{};
  open.hdr.kind = TA_EV_CONN_OPEN;
  open.hdr.ts_ns = 5;
  open.key = Key();
  open.flags = TA_CONN_F_MID_STREAM;
  ta_conn_event close = open;
  close.hdr.kind = TA_EV_CONN_CLOSE;
  close.hdr.ts_ns = 9;
  close.flags = TA_CONN_F_RESET | TA_CONN_F_FIN_C2S;
  close.bytes[0] = 100, close.bytes[1] = 2000, close.packets[0] = 3, close.packets[1] = 4;
  Recorder r;
  RecordDecodeStats stats;
  ASSERT_TRUE(DeliverRecord(Bytes(open), r, stats));
  ASSERT_TRUE(DeliverRecord(Bytes(close), r, stats));
  ASSERT_EQ(r.opens.size(), 1u);
  EXPECT_TRUE(r.opens[0].mid_stream);
  EXPECT_EQ(r.opens[0].ts_ns, 5u);
  ASSERT_EQ(r.closes.size(), 1u);
  EXPECT_TRUE(r.closes[0].reset);
  EXPECT_EQ(r.closes[0].bytes[1], 2000u);
  EXPECT_EQ(r.closes[0].packets[0], 3u);
}

TEST(DeliverRecord, EstablishedCarriesHandshakeTimes) {
  ta_conn_event ev{};
  ev.hdr = {.ts_ns = 300,
            .ifindex = 2,
            .kind = TA_EV_CONN_ESTABLISHED,
            .dir = TA_DIR_CLIENT_TO_SERVER,
            .tc_point = TA_TC_INGRESS,
            .pad = 0};
  ev.key = Key();
  ev.syn_ns = 100;
  ev.synack_ns = 250;
  ev.ack_ns = 300;
  ev.flags = TA_CONN_F_SYN_SEEN;
  Recorder r;
  RecordDecodeStats stats;
  ASSERT_TRUE(DeliverRecord(Bytes(ev), r, stats));
  ASSERT_EQ(r.established.size(), 1u);
  EXPECT_EQ(r.established[0].flow.ToString(), "198.18.0.1:40000 -> 198.18.0.2:8080");
  EXPECT_EQ(r.established[0].syn_ns, 100u);
  EXPECT_EQ(r.established[0].synack_ns, 250u);
  EXPECT_EQ(r.established[0].ack_ns, 300u);
  EXPECT_TRUE(r.opens.empty());
  EXPECT_TRUE(r.closes.empty());

  // One byte short of the record: counted, not delivered.
  auto cut = Bytes(ev);
  cut.pop_back();
  EXPECT_FALSE(DeliverRecord(cut, r, stats));
  EXPECT_EQ(stats.truncated, 1u);
  EXPECT_EQ(r.established.size(), 1u);
}

TEST(DeliverRecord, CloseCarriesRetransmitsPerDirection) {
  ta_conn_event ev{};
  ev.hdr.kind = TA_EV_CONN_CLOSE;
  ev.hdr.ts_ns = 9;
  ev.key = Key();
  ev.retransmits[TA_DIR_CLIENT_TO_SERVER] = 2;
  ev.retransmits[TA_DIR_SERVER_TO_CLIENT] = 7;
  Recorder r;
  RecordDecodeStats stats;
  ASSERT_TRUE(DeliverRecord(Bytes(ev), r, stats));
  ASSERT_EQ(r.closes.size(), 1u);
  EXPECT_EQ(r.closes[0].retransmits[static_cast<size_t>(analyzer::Direction::kClientToServer)], 2u);
  EXPECT_EQ(r.closes[0].retransmits[static_cast<size_t>(analyzer::Direction::kServerToClient)], 7u);
}

// A GSO super-segment: the head at data[0], the tail right after it.
TEST(DeliverRecord, PayloadCarriesHeadAndTail) {
  ta_payload_event ev{};
  ev.hdr = {.ts_ns = 5, .ifindex = 7, .kind = TA_EV_PAYLOAD, .dir = TA_DIR_SERVER_TO_CLIENT,
            .tc_point = TA_TC_EGRESS, .pad = 0};
  ev.key = Key();
  ev.seq = 77;
  ev.payload_len = 3000;
  ev.cap_len = 6;
  ev.tail_len = 5;
  ev.tcp_flags = 0x10;
  auto rec = Bytes(ev, 64);  // the 64 size class: the bytes after the tail are not data
  std::memcpy(rec.data() + sizeof(ev), "\x00\x00\x0b\x00\x00\x00hd-end", 12);
  Recorder r;
  RecordDecodeStats stats;
  ASSERT_TRUE(DeliverRecord(rec, r, stats));
  ASSERT_EQ(r.segments.size(), 1u);
  EXPECT_EQ(r.segments[0].wire_len, 3000u);
  EXPECT_EQ(r.segments[0].seq, 77u);
  EXPECT_EQ(r.segments[0].tcp_flags, 0x10);
  EXPECT_EQ(r.payloads[0], std::string("\x00\x00\x0b\x00\x00\x00", 6));
  EXPECT_EQ(r.tails[0], "hd-en");
  EXPECT_EQ(stats.truncated, 0u);

  // Head and tail filling the record exactly, and a head-only record: no tail.
  ev.cap_len = 0;
  ev.tail_len = 64;
  auto full = Bytes(ev, 64);
  full.back() = 'z';
  ASSERT_TRUE(DeliverRecord(full, r, stats));
  EXPECT_EQ(r.payloads[1], "");
  ASSERT_EQ(r.tails[1].size(), 64u);
  EXPECT_EQ(r.tails[1].back(), 'z');
  ev.cap_len = 3;
  ev.tail_len = 0;
  ASSERT_TRUE(DeliverRecord(Bytes(ev, 64), r, stats));
  EXPECT_EQ(r.payloads[2].size(), 3u);
  EXPECT_EQ(r.tails[2], "");
}

// A tail_len that runs past the record, or head + tail beyond the wire length, is an ABI
// mismatch: counted, nothing delivered, nothing read out of bounds.
TEST(DeliverRecord, TailOverrunningTheRecordIsCounted) {
  Recorder r;
  RecordDecodeStats stats;
  ta_payload_event ev{};
  ev.hdr.kind = TA_EV_PAYLOAD;
  ev.payload_len = 5000;
  ev.cap_len = 40;
  ev.tail_len = 25;  // 65 > 64
  EXPECT_FALSE(DeliverRecord(Bytes(ev, 64), r, stats));
  ev.cap_len = 0;
  ev.tail_len = 0xffff;
  EXPECT_FALSE(DeliverRecord(Bytes(ev, 4096), r, stats));
  ev.payload_len = 60;  // head + tail (40 + 30) more than the wire carried
  ev.cap_len = 40;
  ev.tail_len = 30;
  EXPECT_FALSE(DeliverRecord(Bytes(ev, 256), r, stats));
  ev.cap_len = 0xffff;  // the sum must not wrap in 16 bits
  ev.tail_len = 1;
  ev.payload_len = 0xffffffffu;
  EXPECT_FALSE(DeliverRecord(Bytes(ev, 4096), r, stats));
  EXPECT_EQ(stats.truncated, 4u);
  EXPECT_TRUE(r.segments.empty());
}

TEST(DeliverRecord, ShortOrUnknownRecordsAreCountedNotRead) {
  Recorder r;
  RecordDecodeStats stats;
  std::vector<uint8_t> tiny(4, 0);
  EXPECT_FALSE(DeliverRecord(tiny, r, stats));

  ta_payload_event ev{};
  ev.hdr.kind = TA_EV_PAYLOAD;
  ev.payload_len = 100;
  ev.cap_len = 64;  // claims more bytes than the record holds
  EXPECT_FALSE(DeliverRecord(Bytes(ev, 10), r, stats));

  ev.cap_len = 200;  // more captured than on the wire: inconsistent
  EXPECT_FALSE(DeliverRecord(Bytes(ev, 200), r, stats));

  ta_event_header hdr{};
  hdr.kind = 99;
  EXPECT_FALSE(DeliverRecord(Bytes(hdr), r, stats));

  // A close record of ABI version 1 (104 bytes) is too short for version 2.
  ta_conn_event close{};
  close.hdr.kind = TA_EV_CONN_CLOSE;
  auto v1 = Bytes(close);
  v1.resize(104);
  EXPECT_FALSE(DeliverRecord(v1, r, stats));

  EXPECT_EQ(stats.truncated, 4u);
  EXPECT_EQ(stats.unknown_kind, 1u);
  EXPECT_TRUE(r.segments.empty());
  EXPECT_TRUE(r.closes.empty());
}

}  // namespace
}  // namespace ta::agent
