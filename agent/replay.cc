#include "agent/replay.h"

#include <pcap/pcap.h>

#include <array>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "agent/metrics.h"
#include "analyzer/analyzer.h"
#include "analyzer/capture/packet_decoder.h"

namespace ta::agent {
namespace {

// How often, in capture time, the analyzer's clock is advanced: the daemon does it every second
// of wall time, and replay mirrors that with packet time so idle expiry and reorder timeouts
// behave as they would have live.
constexpr uint64_t kAdvanceIntervalNs = 1'000'000'000;

std::string DltName(int dlt) {
  const char* name = pcap_datalink_val_to_name(dlt);
  const char* description = pcap_datalink_val_to_description(dlt);
  std::string out = name != nullptr ? std::string("DLT_") + name : "DLT " + std::to_string(dlt);
  if (description != nullptr) out += std::string(" (") + description + ")";
  return out;
}

// The packet decoder stands in for the kernel datapath in replay: its counters fill the same
// traffic_analyzer_kernel_* series where they have a kernel equivalent; the rest (ring buffer,
// map insert, payload load, header pulls) cannot happen in replay and stay zero.
std::array<uint64_t, TA_STAT_MAX> DatapathStats(const analyzer::capture::PacketDecoderStats& d) {
  std::array<uint64_t, TA_STAT_MAX> out{};
  out[TA_STAT_PACKETS] = d.packets;
  out[TA_STAT_PAYLOAD_EVENTS] = d.payload_events;
  out[TA_STAT_CONN_EVENTS] = d.conn_events;
  out[TA_STAT_MALFORMED] = d.malformed;
  out[TA_STAT_IPV6_EXT_UNSUPPORTED] = d.ipv6_ext_unsupported;
  out[TA_STAT_FRAGMENTS] = d.fragments;
  return out;
}

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};

}  // namespace

int RunReplay(const Config& config, const std::string& pcap_path, std::ostream& out,
              std::ostream& err) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  // Nanosecond precision: libpcap scales microsecond files up, so timestamps below are always ns.
  std::unique_ptr<pcap_t, PcapCloser> pcap(pcap_open_offline_with_tstamp_precision(
      pcap_path.c_str(), PCAP_TSTAMP_PRECISION_NANO, errbuf));
  if (!pcap) {
    // libpcap often starts the reason with the path itself; it is already in our message.
    std::string_view reason = errbuf;
    if (reason.starts_with(pcap_path + ": ")) reason.remove_prefix(pcap_path.size() + 2);
    err << "replay: cannot open '" << pcap_path << "': " << reason
        << "; give a pcap or pcapng capture file (tcpdump -w, dumpcap, Wireshark)\n";
    return kReplayExitBadInput;
  }
  const int dlt = pcap_datalink(pcap.get());
  const auto link = analyzer::capture::LinkTypeFromPcap(dlt);
  if (!link) {
    err << "replay: '" << pcap_path << "' has link type " << DltName(dlt)
        << ", which replay cannot decode; supported: DLT_EN10MB (Ethernet), DLT_LINUX_SLL and "
           "DLT_LINUX_SLL2 (Linux cooked capture, tcpdump -i any), DLT_RAW (raw IP). Capture on "
           "an Ethernet-like interface or with tcpdump -i any\n";
    return kReplayExitBadInput;
  }

  Metrics metrics;
  analyzer::Analyzer analyzer(config.ToAnalyzerConfig(), metrics);
  analyzer::capture::PacketDecoder decoder({.ports = config.ports,
                                            .snaplen = config.snaplen,
                                            .snaplen_tail = config.snaplen_tail,
                                            .max_connections = config.connections.max});

  uint64_t packets = 0;
  uint64_t now_ns = 0;
  uint64_t last_advance_ns = 0;
  int exit_code = kReplayExitOk;
  for (;;) {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = pcap_next_ex(pcap.get(), &header, &data);
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    if (rc != 1) {
      err << "replay: '" << pcap_path << "': read error after " << packets
          << " packets: " << pcap_geterr(pcap.get())
          << "; the file is truncated or corrupt. Metrics for the packets before it follow\n";
      exit_code = kReplayExitBadInput;
      break;
    }
    ++packets;
    const uint64_t ts_ns = static_cast<uint64_t>(header->ts.tv_sec) * 1'000'000'000ull +
                           static_cast<uint64_t>(header->ts.tv_usec);
    decoder.Decode(*link, std::span<const uint8_t>(data, header->caplen), header->len, ts_ns,
                   analyzer);
    // Packets of a merged capture can step back in time; the analyzer's clock never does.
    if (ts_ns > now_ns) now_ns = ts_ns;
    if (last_advance_ns == 0) last_advance_ns = now_ns;
    if (now_ns - last_advance_ns >= kAdvanceIntervalNs) {
      analyzer.AdvanceTime(now_ns);
      last_advance_ns = now_ns;
    }
  }
  // End of file is not a close: connections still open stay open, in-flight requests are
  // neither reported nor lost. Only the clock catches up with the last packet, as it would live.
  if (packets > 0) analyzer.AdvanceTime(now_ns);
  metrics.UpdateAnalyzerStats(analyzer.stats());
  metrics.UpdateKernelStats(DatapathStats(decoder.stats()));

  out << metrics.SerializeText();
  const analyzer::capture::PacketDecoderStats& ds = decoder.stats();
  err << "replay: " << packets << " packets from '" << pcap_path << "', "
      << analyzer.stats().exchanges << " HTTP exchanges";
  // Losses only replay has (no metric exists for them live): never silent either.
  if (ds.capture_truncated > 0) {
    err << "; " << ds.capture_truncated
        << " frames not decoded because the capture cut their headers (capture with a larger "
           "snapshot length, tcpdump -s 0)";
  }
  if (ds.conn_evicted > 0) {
    err << "; " << ds.conn_evicted
        << " flows evicted from the decoder's full table (raise connections.max)";
  }
  err << "\n";
  return exit_code;
}

}  // namespace ta::agent
