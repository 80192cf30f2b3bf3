// The replay decoder against the capture contract: every scenario of
// tests/common/capture_scenarios.h (which tests/bpf/tc_capture_test.cc runs through the kernel)
// must give the same events and counters here, on Ethernet and on both Linux cooked link
// types. Then what only replay has: raw IP, captures cut short, the bounded flow table.
#include "analyzer/capture/packet_decoder.h"

#include <gtest/gtest.h>

#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"

#include <string>
#include <vector>

#include "bpf/ta_abi.h"
#include "tests/common/capture_scenarios.h"

namespace ta::analyzer::capture {
namespace {

using ta::testing::Bytes;
using ta::testing::Conversation;
using ta::testing::EventKind;
using ta::testing::EventView;
using ta::testing::FrameSpec;
using ta::testing::kAck;
using ta::testing::KeyView;
using ta::testing::kFin;
using ta::testing::kPsh;
using ta::testing::kRst;
using ta::testing::kSyn;
using ta::testing::L3;
using ta::testing::Scenario;
using ta::testing::StatView;

KeyView ToView(const FlowKey& k) {
  KeyView v;
  v.client_addr = k.client_addr;
  v.server_addr = k.server_addr;
  v.client_port = k.client_port;
  v.server_port = k.server_port;
  v.family = k.family;
  return v;
}

FlowKey ToFlowKey(const KeyView& v) {
  FlowKey k;
  k.client_addr = v.client_addr;
  k.server_addr = v.server_addr;
  k.client_port = v.client_port;
  k.server_port = v.server_port;
  k.family = v.family;
  return k;
}

// Records the event stream in the neutral form the scenarios are written in, plus timestamps.
class Recorder : public EventConsumer {
 public:
  void OnConnOpen(const ConnOpenEvent& ev) override {
    EventView v;
    v.kind = EventKind::kOpen;
    v.key = ToView(ev.flow);
    v.mid_stream = ev.mid_stream;
    events.push_back(v);
    ts.push_back(ev.ts_ns);
  }
  // Handshake times become packet indices through `windows` (each packet's time), as the
  // scenarios list them.
  void OnConnEstablished(const ConnEstablishedEvent& ev) override {
    EventView v;
    v.kind = EventKind::kEstablished;
    v.key = ToView(ev.flow);
    v.handshake = {ta::testing::PacketIndexAt(windows, ev.syn_ns),
                   ta::testing::PacketIndexAt(windows, ev.synack_ns),
                   ta::testing::PacketIndexAt(windows, ev.ack_ns)};
    events.push_back(v);
    ts.push_back(ev.ack_ns);
    established.push_back(ev);
  }
  void OnSegment(const SegmentEvent& ev) override {
    EventView v;
    v.kind = EventKind::kPayload;
    v.key = ToView(ev.flow);
    v.dir = static_cast<uint8_t>(ev.dir);
    v.seq = ev.seq;
    v.payload_len = ev.wire_len;
    v.tcp_flags = ev.tcp_flags;
    v.captured.assign(ev.captured.begin(), ev.captured.end());
    v.tail.assign(ev.tail.begin(), ev.tail.end());
    events.push_back(v);
    ts.push_back(ev.ts_ns);
  }
  void OnConnClose(const ConnCloseEvent& ev) override {
    EventView v;
    v.kind = EventKind::kClose;
    v.key = ToView(ev.flow);
    v.reset = ev.reset;
    v.bytes = ev.bytes;
    v.packets = ev.packets;
    v.retransmits = ev.retransmits;
    events.push_back(v);
    ts.push_back(ev.ts_ns);
  }

  std::vector<std::array<uint64_t, 2>> windows;
  std::vector<EventView> events;
  std::vector<uint64_t> ts;
  std::vector<ConnEstablishedEvent> established;
};

StatView ToStatView(const PacketDecoderStats& s) {
  StatView v;
  v.packets = s.packets;
  v.payload_events = s.payload_events;
  v.conn_events = s.conn_events;
  v.malformed = s.malformed;
  v.ipv6_ext_unsupported = s.ipv6_ext_unsupported;
  v.fragments = s.fragments;
  return v;
}

PacketDecoderConfig ConfigFor(const Scenario& sc) {
  PacketDecoderConfig cfg;
  cfg.ports = sc.ports;
  cfg.snaplen = sc.snaplen;
  cfg.snaplen_tail = sc.snaplen_tail;
  return cfg;
}

// The same frame behind a Linux cooked header instead of Ethernet. Frames too short to hold an
// Ethernet header have no ethertype to carry over and stay as they are.
Bytes ToCooked(const Bytes& eth, LinkType link) {
  if (eth.size() < 14) return eth;
  const uint8_t hi = eth[12], lo = eth[13];
  Bytes out;
  if (link == LinkType::kLinuxSll) {
    out = {0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0, hi, lo};
  } else {
    out = {hi, lo, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 0x01, 0, 0};
  }
  out.insert(out.end(), eth.begin() + 14, eth.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// The shared scenarios, on each link type.

struct LinkCase {
  LinkType link;
  const char* name;
};

class DecoderScenarioTest : public ::testing::TestWithParam<std::tuple<LinkCase, Scenario>> {};

TEST_P(DecoderScenarioTest, EventsAndCountersMatch) {
  const auto& [lc, sc] = GetParam();
  PacketDecoder dec(ConfigFor(sc));
  Recorder rec;
  auto ts_of = [](size_t i) { return 1'000'000 + 1000 * uint64_t{i + 1}; };
  for (size_t i = 0; i < sc.packets.size(); ++i) rec.windows.push_back({ts_of(i), ts_of(i)});
  for (size_t i = 0; i < sc.packets.size(); ++i) {
    const auto& p = sc.packets[i];
    Bytes frame = lc.link == LinkType::kEthernet ? p.frame : ToCooked(p.frame, lc.link);
    dec.Decode(lc.link, frame, ts_of(i), rec);
  }
  EXPECT_EQ(rec.events, sc.expected);
  EXPECT_EQ(ToStatView(dec.stats()), sc.stats);
  EXPECT_EQ(dec.stats().frames, sc.packets.size());
  EXPECT_EQ(dec.stats().capture_truncated, 0u);
  EXPECT_EQ(dec.stats().conn_evicted, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Capture, DecoderScenarioTest,
    ::testing::Combine(::testing::Values(LinkCase{LinkType::kEthernet, "ethernet"},
                                         LinkCase{LinkType::kLinuxSll, "sll"},
                                         LinkCase{LinkType::kLinuxSll2, "sll2"}),
                       ::testing::ValuesIn(ta::testing::CaptureScenarios())),
    [](const ::testing::TestParamInfo<std::tuple<LinkCase, Scenario>>& param) {
      return std::string(std::get<0>(param.param).name) + "_" + std::get<1>(param.param).name;
    });

// ---------------------------------------------------------------------------------------------
// Replay only.

PacketDecoderConfig WebPorts() {
  PacketDecoderConfig cfg;
  cfg.ports = {80, 443, 8080, 8443};
  return cfg;
}

TEST(PacketDecoderTest, LinkTypesFromPcap) {
  EXPECT_EQ(LinkTypeFromPcap(1), LinkType::kEthernet);
  EXPECT_EQ(LinkTypeFromPcap(113), LinkType::kLinuxSll);
  EXPECT_EQ(LinkTypeFromPcap(276), LinkType::kLinuxSll2);
  for (int raw : {12, 14, 101, 228, 229}) EXPECT_EQ(LinkTypeFromPcap(raw), LinkType::kRawIp);
  EXPECT_FALSE(LinkTypeFromPcap(0).has_value());    // BSD loopback
  EXPECT_FALSE(LinkTypeFromPcap(105).has_value());  // 802.11
}

TEST(PacketDecoderTest, RawIpFramesOfBothFamilies) {
  PacketDecoder dec(WebPorts());
  Recorder rec;
  Conversation c4(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  Conversation c6(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 443);
  c4.base().link = ta::testing::Link::kRawIp;
  c6.base().link = ta::testing::Link::kRawIp;
  const Bytes req = ta::testing::PayloadOf("GET / HTTP/1.1\r\n\r\n");
  dec.Decode(LinkType::kRawIp, c4.FromClient(kSyn).frame, 1, rec);
  dec.Decode(LinkType::kRawIp, c6.FromClient(kPsh | kAck, req).frame, 2, rec);
  ASSERT_EQ(rec.events.size(), 3u);
  EXPECT_EQ(rec.events[0], ta::testing::Open(c4.key(), false));
  EXPECT_EQ(rec.events[1], ta::testing::Open(c6.key(), true));
  EXPECT_EQ(rec.events[2], ta::testing::Payload(c6.key(), 0, 1000, kPsh | kAck, req, 1024));
  // Neither IPv4 nor IPv6 in the version nibble, and nothing at all.
  dec.Decode(LinkType::kRawIp, Bytes{0x50, 0, 0, 0}, 3, rec);
  dec.Decode(LinkType::kRawIp, Bytes{}, 4, rec);
  EXPECT_EQ(dec.stats().malformed, 2u);
}

TEST(PacketDecoderTest, FramesShorterThanTheLinkHeaderAreMalformed) {
  PacketDecoder dec(WebPorts());
  Recorder rec;
  dec.Decode(LinkType::kEthernet, Bytes(10, 0), 1, rec);
  dec.Decode(LinkType::kLinuxSll, Bytes(15, 0), 2, rec);
  dec.Decode(LinkType::kLinuxSll2, Bytes(19, 0), 3, rec);
  EXPECT_EQ(dec.stats().malformed, 3u);
  EXPECT_TRUE(rec.events.empty());
}

// A capture taken with a small snaplen (tcpdump -s) keeps fewer bytes than the wire carried:
// lengths still come from the headers and the wire length, payload beyond the capture is
// reported in wire_len only, and headers cut by the capture are counted apart from malformed
// packets, since the packet was fine.
TEST(PacketDecoderTest, CaptureCutShortKeepsWireLengths) {
  PacketDecoder dec(WebPorts());
  Recorder rec;
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  const Bytes payload = ta::testing::PatternPayload(1400);
  Bytes frame = c.FromClient(kAck, payload).frame;
  const auto wire = static_cast<uint32_t>(frame.size());
  dec.Decode(LinkType::kEthernet, std::span(frame).first(54 + 100), wire, 7, rec);
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[1].payload_len, 1400u);
  EXPECT_EQ(rec.events[1].captured, Bytes(payload.begin(), payload.begin() + 100));
  EXPECT_TRUE(rec.events[1].tail.empty());  // the capture does not reach the payload's end

  dec.Decode(LinkType::kEthernet, std::span(frame).first(40), wire, 8, rec);  // inside TCP
  EXPECT_EQ(dec.stats().capture_truncated, 1u);
  EXPECT_EQ(dec.stats().malformed, 0u);
  EXPECT_EQ(rec.events.size(), 2u);
}

// Segments as GSO/GRO hands them to tc and to libpcap: far larger than an MSS.
TEST(PacketDecoderTest, LargeSegmentCapturesSnaplenAndCountsAll) {
  PacketDecoderConfig cfg = WebPorts();
  cfg.snaplen = 100000;  // clamped to TA_MAX_SNAPLEN, as the datapath does
  PacketDecoder dec(cfg);
  Recorder rec;
  Conversation c(L3::kIpv6, "2001:db8::1", 40000, "2001:db8::2", 80);
  const Bytes payload = ta::testing::PatternPayload(60000);
  dec.Decode(LinkType::kEthernet, c.FromClient(kAck, payload).frame, 1, rec);
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[1].payload_len, 60000u);
  // 4096 in all: the first 4096 - 256 bytes and the last 256 (the default snaplen_tail).
  EXPECT_EQ(rec.events[1].captured, Bytes(payload.begin(), payload.begin() + 3840));
  EXPECT_EQ(rec.events[1].tail, Bytes(payload.end() - 256, payload.end()));
}

// The head/tail rule against the capture's own cut: the tail is the payload's last bytes or
// nothing, the head whatever of its share the capture holds. A tail in the 4096 class, which
// bpf_prog_test_run cannot run (frames are limited to a page), is checked here.
TEST(PacketDecoderTest, TailOnlyWhenTheCaptureReachesThePayloadEnd) {
  PacketDecoderConfig cfg = WebPorts();
  cfg.snaplen = 4096;
  cfg.snaplen_tail = 1000;
  PacketDecoder dec(cfg);
  Recorder rec;
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  const Bytes payload = ta::testing::PatternPayload(30000, 4);
  const Bytes frame = c.FromServer(kAck, payload).frame;
  const auto wire = static_cast<uint32_t>(frame.size());
  const size_t hdrs = frame.size() - payload.size();

  dec.Decode(LinkType::kEthernet, frame, 1, rec);  // whole
  dec.Decode(LinkType::kEthernet, std::span(frame).first(frame.size() - 1), wire, 2, rec);
  dec.Decode(LinkType::kEthernet, std::span(frame).first(hdrs + 50), wire, 3, rec);
  ASSERT_EQ(rec.events.size(), 4u);
  EXPECT_EQ(rec.events[1].captured, Bytes(payload.begin(), payload.begin() + 3096));
  EXPECT_EQ(rec.events[1].tail, Bytes(payload.end() - 1000, payload.end()));
  EXPECT_EQ(rec.events[2].captured, Bytes(payload.begin(), payload.begin() + 3096));
  EXPECT_TRUE(rec.events[2].tail.empty());  // one byte short of the end
  EXPECT_EQ(rec.events[3].captured, Bytes(payload.begin(), payload.begin() + 50));
  EXPECT_TRUE(rec.events[3].tail.empty());
  for (size_t i = 1; i < 4; ++i) EXPECT_EQ(rec.events[i].payload_len, 30000u);
}

// Why tails exist, end to end through the analyzer: a chunked response written at once leaves as
// one super-segment whose last-chunk lies past the head. With the tail, the HTTP/1 parser skips
// the chunk's uncaptured middle by its size and finds the last-chunk in the tail: the exchange
// completes at that segment. Head only, the end of the body is in the gap and the response stays
// open.
class ExchangeRecorder final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& e) override { exchanges.push_back(e); }
  std::vector<HttpExchange> exchanges;
};

struct ChunkedRun {
  std::vector<HttpExchange> exchanges;
  AnalyzerStats stats;
};

ChunkedRun RunChunkedResponse(uint32_t snaplen_tail) {
  PacketDecoderConfig cfg = WebPorts();
  cfg.snaplen = 1024;
  cfg.snaplen_tail = snaplen_tail;
  PacketDecoder dec(cfg);
  ExchangeRecorder sink;
  Analyzer analyzer(AnalyzerConfig{}, sink);
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\n";
  const Bytes body = ta::testing::PatternPayload(3000, 8);  // 0xbb8 bytes
  Bytes response(head.begin(), head.end());
  response.insert(response.end(), body.begin(), body.end());
  for (char ch : std::string_view("\r\n0\r\n\r\n")) response.push_back(static_cast<uint8_t>(ch));
  const std::vector<Bytes> frames = {
      c.FromClient(kSyn).frame, c.FromServer(kSyn | kAck).frame, c.FromClient(kAck).frame,
      c.FromClient(kAck | kPsh, ta::testing::PayloadOf("GET /big HTTP/1.1\r\nHost: a\r\n\r\n"))
          .frame,
      c.FromServer(kAck | kPsh, response).frame};
  for (size_t i = 0; i < frames.size(); ++i) {
    dec.Decode(LinkType::kEthernet, frames[i], 1000 * (i + 1), analyzer);
  }
  return {sink.exchanges, analyzer.stats()};
}

TEST(PacketDecoderTest, ChunkedLastChunkInTheTailCompletesTheExchange) {
  const ChunkedRun with_tail = RunChunkedResponse(256);
  ASSERT_EQ(with_tail.exchanges.size(), 1u);
  EXPECT_EQ(with_tail.exchanges[0].status, 200);
  EXPECT_EQ(with_tail.exchanges[0].route, "/big");
  EXPECT_EQ(with_tail.exchanges[0].request_start_ns, 4000u);
  EXPECT_EQ(with_tail.exchanges[0].response_end_ns, 5000u);
  EXPECT_EQ(with_tail.exchanges[0].response_body_bytes, std::optional<uint64_t>(3000));
  // 3059 bytes on the wire, 768 + 256 captured.
  EXPECT_EQ(with_tail.stats.uncaptured_bytes, 3059u - 1024u);

  const ChunkedRun head_only = RunChunkedResponse(0);
  EXPECT_TRUE(head_only.exchanges.empty());
  EXPECT_EQ(head_only.stats.uncaptured_bytes, 3059u - 1024u);
}

// A tail the size of snaplen or more would leave no head: it is ignored, as the datapath does.
TEST(PacketDecoderTest, TailNotBelowSnaplenIsIgnored) {
  PacketDecoderConfig cfg = WebPorts();
  cfg.snaplen = 512;
  cfg.snaplen_tail = 512;
  PacketDecoder dec(cfg);
  Recorder rec;
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  const Bytes payload = ta::testing::PatternPayload(2000, 6);
  dec.Decode(LinkType::kEthernet, c.FromClient(kAck, payload).frame, 1, rec);
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[1].captured, Bytes(payload.begin(), payload.begin() + 512));
  EXPECT_TRUE(rec.events[1].tail.empty());
}

TEST(PacketDecoderTest, EventsCarryFrameTimestampsAndStateTracksHandshake) {
  PacketDecoder dec(WebPorts());
  Recorder rec;
  Conversation c(L3::kIpv4, "198.18.0.1", 40000, "198.18.0.2", 80);
  const Bytes req = ta::testing::PayloadOf("GET / HTTP/1.1\r\n\r\n");
  dec.Decode(LinkType::kEthernet, c.FromClient(kSyn).frame, 100, rec);
  dec.Decode(LinkType::kEthernet, c.FromServer(kSyn | kAck).frame, 250, rec);
  dec.Decode(LinkType::kEthernet, c.FromClient(kAck).frame, 300, rec);
  dec.Decode(LinkType::kEthernet, c.FromClient(kPsh | kAck, req).frame, 400, rec);
  EXPECT_EQ(rec.ts, (std::vector<uint64_t>{100, 300, 400}));
  ASSERT_EQ(rec.established.size(), 1u);
  EXPECT_EQ(rec.established[0].flow, ToFlowKey(c.key()));
  EXPECT_EQ(rec.established[0].syn_ns, 100u);
  EXPECT_EQ(rec.established[0].synack_ns, 250u);
  EXPECT_EQ(rec.established[0].ack_ns, 300u);

  auto st = dec.Lookup(ToFlowKey(c.key()));
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->flags, TA_CONN_F_SYN_SEEN);
  EXPECT_EQ(st->syn_ns, 100u);
  EXPECT_EQ(st->synack_ns, 250u);
  EXPECT_EQ(st->first_seen_ns, 100u);
  EXPECT_EQ(st->last_seen_ns, 400u);
  EXPECT_EQ(st->client_isn, 1000u);
  EXPECT_EQ(st->bytes, (std::array<uint64_t, 2>{req.size(), 0}));
  EXPECT_EQ(st->packets, (std::array<uint64_t, 2>{3, 1}));
  EXPECT_EQ(st->ack_ns, 300u);
  EXPECT_EQ(st->retransmits, (std::array<uint64_t, 2>{0, 0}));
  // SYN [1000, 1001) and the request after it; the SYN-ACK [5000, 5001).
  EXPECT_TRUE(st->seq[0].seen);
  EXPECT_EQ(st->seq[0].end, 1001u + req.size());
  EXPECT_EQ(st->seq[0].hole_start, st->seq[0].hole_end);
  EXPECT_EQ(st->seq[1].end, 5001u);

  dec.Decode(LinkType::kEthernet, c.FromServer(kRst).frame, 500, rec);
  EXPECT_EQ(rec.ts.back(), 500u);
  EXPECT_FALSE(dec.Lookup(ToFlowKey(c.key())).has_value());
  EXPECT_EQ(dec.connections(), 0u);
}

// The table holds max_connections flows; the least recently used goes first, silently (the
// kernel's LRU hash emits nothing either), and comes back as a mid-stream open if it speaks
// again.
TEST(PacketDecoderTest, FlowTableIsBoundedLeastRecentlyUsedFirst) {
  PacketDecoderConfig cfg = WebPorts();
  cfg.max_connections = 2;
  PacketDecoder dec(cfg);
  Recorder rec;
  Conversation a(L3::kIpv4, "198.18.0.1", 40001, "198.18.0.2", 80);
  Conversation b(L3::kIpv4, "198.18.0.1", 40002, "198.18.0.2", 80);
  Conversation c(L3::kIpv4, "198.18.0.1", 40003, "198.18.0.2", 80);
  const Bytes x = ta::testing::PayloadOf("x");
  uint64_t ts = 0;
  dec.Decode(LinkType::kEthernet, a.FromClient(kSyn).frame, ++ts, rec);
  dec.Decode(LinkType::kEthernet, b.FromClient(kSyn).frame, ++ts, rec);
  dec.Decode(LinkType::kEthernet, a.FromClient(kAck).frame, ++ts, rec);  // a is fresher than b
  dec.Decode(LinkType::kEthernet, c.FromClient(kSyn).frame, ++ts, rec);  // evicts b
  EXPECT_EQ(dec.connections(), 2u);
  EXPECT_EQ(dec.stats().conn_evicted, 1u);
  EXPECT_TRUE(dec.Lookup(ToFlowKey(a.key())).has_value());
  EXPECT_FALSE(dec.Lookup(ToFlowKey(b.key())).has_value());

  rec.events.clear();
  uint32_t bseq = b.client_seq();
  dec.Decode(LinkType::kEthernet, b.FromClient(kAck, x).frame, ++ts, rec);  // evicts a
  EXPECT_EQ(rec.events,
            (std::vector<EventView>{ta::testing::Open(b.key(), true),
                                    ta::testing::Payload(b.key(), 0, bseq, kAck, x, 1024)}));
  EXPECT_EQ(dec.stats().conn_evicted, 2u);
  EXPECT_FALSE(dec.Lookup(ToFlowKey(a.key())).has_value());

  rec.events.clear();
  dec.Decode(LinkType::kEthernet, c.FromClient(kFin | kAck).frame, ++ts, rec);
  dec.Decode(LinkType::kEthernet, c.FromServer(kFin | kAck).frame, ++ts, rec);
  EXPECT_EQ(rec.events,
            (std::vector<EventView>{ta::testing::Close(c.key(), false, {0, 0}, {2, 1})}));
}

TEST(PacketDecoderTest, ZeroMaxConnectionsStillTracksOne) {
  PacketDecoderConfig cfg = WebPorts();
  cfg.max_connections = 0;
  PacketDecoder dec(cfg);
  Recorder rec;
  Conversation a(L3::kIpv4, "198.18.0.1", 40001, "198.18.0.2", 80);
  dec.Decode(LinkType::kEthernet, a.FromClient(kSyn).frame, 1, rec);
  EXPECT_EQ(dec.connections(), 1u);
}

// The wire length given with a frame is never below what was captured.
TEST(PacketDecoderTest, WireLengthBelowCapturedIsRaised) {
  PacketDecoder dec(WebPorts());
  Recorder rec;
  Conversation a(L3::kIpv4, "198.18.0.1", 40001, "198.18.0.2", 80);
  Bytes f = a.FromClient(kAck, ta::testing::PayloadOf("abc")).frame;
  dec.Decode(LinkType::kEthernet, f, 10, 1, rec);
  EXPECT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(dec.stats().malformed, 0u);
}

}  // namespace
}  // namespace ta::analyzer::capture
