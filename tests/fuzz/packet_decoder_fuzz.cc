// The replay packet decoder (analyzer/capture/packet_decoder.h) on arbitrary frames of every
// link type, its events checked and then fed to a full Analyzer, as `traffic-analyzer replay`
// does with a pcap.
//
// Input: [config: 1 byte] then records until the input ends:
//   config: bits 0-1 watched ports {80}, {80, 8080}, {80, 443, 8080, 8443}, {1, 80, 65535};
//           bits 2-3 snaplen {64, 1024, 4096, 65535 (clamped to 4096)};
//           bits 4-5 max_connections {1, 2, 64, 65536}.
//   record: op byte: bits 0-1 link type (Ethernet, Linux SLL, Linux SLL2, raw IP), bit 2 the
//           capture kept fewer bytes than the wire had (wire_len = frame length + extra).
//           Then u16 frame length, u16 extra, u16 dt (microseconds forward), the frame bytes.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/capture/packet_decoder.h"
#include "analyzer/events.h"
#include "analyzer/http_exchange.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::capture::LinkType;

class NullSink final : public ta::analyzer::ExchangeSink {
 public:
  void OnHttpExchange(const ta::analyzer::HttpExchange& /*exchange*/) override {}
};

// Checks each event against the decoder's contract, then hands it to the analyzer.
class CheckingConsumer final : public ta::analyzer::EventConsumer {
 public:
  CheckingConsumer(const ta::analyzer::capture::PacketDecoderConfig& config,
                   ta::analyzer::EventConsumer& next)
      : watched_(65536, false), snaplen_(std::min<uint32_t>(config.snaplen, 4096)), next_(next) {
    for (uint16_t port : config.ports) watched_[port] = true;
  }

  void OnConnOpen(const ta::analyzer::ConnOpenEvent& ev) override {
    CheckFlow(ev.flow);
    next_.OnConnOpen(ev);
  }
  void OnConnEstablished(const ta::analyzer::ConnEstablishedEvent& ev) override {
    CheckFlow(ev.flow);
    next_.OnConnEstablished(ev);
  }
  void OnSegment(const ta::analyzer::SegmentEvent& ev) override {
    CheckFlow(ev.flow);
    TA_FUZZ_CHECK(ev.captured.size() <= ev.wire_len);
    TA_FUZZ_CHECK(ev.captured.size() <= snaplen_);
    next_.OnSegment(ev);
  }
  void OnConnClose(const ta::analyzer::ConnCloseEvent& ev) override {
    CheckFlow(ev.flow);
    next_.OnConnClose(ev);
  }

 private:
  void CheckFlow(const ta::analyzer::FlowKey& flow) const {
    TA_FUZZ_CHECK(flow.family == 2 || flow.family == 10);
    TA_FUZZ_CHECK(watched_[flow.server_port]);
  }

  std::vector<bool> watched_;
  uint32_t snaplen_;
  ta::analyzer::EventConsumer& next_;
};

}  // namespace

TA_FUZZ_TARGET(packet_decoder) {
  static constexpr LinkType kLinks[] = {LinkType::kEthernet, LinkType::kLinuxSll,
                                        LinkType::kLinuxSll2, LinkType::kRawIp};
  static const std::vector<uint16_t> kPorts[] = {
      {80}, {80, 8080}, {80, 443, 8080, 8443}, {1, 80, 65535}};
  static constexpr uint32_t kSnaplens[] = {64, 1024, 4096, 65535};
  static constexpr uint32_t kMaxConnections[] = {1, 2, 64, 65536};

  ta::fuzz::FuzzInput in(data, size);
  const uint8_t config_byte = in.TakeByte();
  ta::analyzer::capture::PacketDecoderConfig config;
  config.ports = kPorts[config_byte & 3];
  config.snaplen = kSnaplens[(config_byte >> 2) & 3];
  config.max_connections = kMaxConnections[(config_byte >> 4) & 3];

  NullSink sink;
  ta::analyzer::AnalyzerConfig analyzer_config;
  analyzer_config.max_connections = 4;
  ta::analyzer::Analyzer analyzer(analyzer_config, sink);
  CheckingConsumer consumer(config, analyzer);
  ta::analyzer::capture::PacketDecoder decoder(config);

  uint64_t now = 1'000'000'000;
  while (!in.empty()) {
    const uint8_t op = in.TakeByte();
    const uint16_t len = in.Take<uint16_t>();
    const uint16_t extra = in.Take<uint16_t>();
    now += uint64_t{in.Take<uint16_t>()} * 1000;
    const ta::fuzz::ExactBytes frame(in.TakeBytes(len));
    const LinkType link = kLinks[op & 3];
    if ((op & 4) != 0) {
      decoder.Decode(link, frame.span(), static_cast<uint32_t>(frame.span().size()) + extra, now,
                     consumer);
    } else {
      decoder.Decode(link, frame.span(), now, consumer);
    }
    TA_FUZZ_CHECK(decoder.connections() <= config.max_connections);
    analyzer.AdvanceTime(now);
  }
  const ta::analyzer::capture::PacketDecoderStats& stats = decoder.stats();
  TA_FUZZ_CHECK(stats.packets <= stats.frames);
}
