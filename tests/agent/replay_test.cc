// Replay end to end on captures the tests write themselves: frames from tests/common/
// packet_builder.h, written with libpcap's pcap_dump (pcap) or by hand (pcapng), then
// RunReplay's exposition is checked line by line.
#include "agent/replay.h"

#include <pcap/pcap.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/agent/exposition.h"
#include "tests/common/packet_builder.h"

namespace ta::agent {
namespace {

using ::ta::testing::Bytes;
using ::ta::testing::FrameSpec;
using ::ta::testing::Link;

constexpr uint64_t kSecond = 1'000'000'000;
constexpr uint64_t kT0 = 1'700'000'000 * kSecond;

struct TimedFrame {
  uint64_t ts_ns;
  FrameSpec spec;
};

// One TCP connection between 198.18.0.1 (client) and 198.18.0.2 (server); tracks both sides'
// sequence numbers so each segment can be written by what it carries.
class TcpConversation {
 public:
  TcpConversation(uint16_t client_port, uint16_t server_port)
      : client_port_(client_port), server_port_(server_port) {}

  FrameSpec FromClient(uint8_t flags, std::string_view payload = {}) {
    return Segment(true, flags, payload);
  }
  FrameSpec FromServer(uint8_t flags, std::string_view payload = {}) {
    return Segment(false, flags, payload);
  }

 private:
  FrameSpec Segment(bool from_client, uint8_t flags, std::string_view payload) {
    FrameSpec s;
    s.src = from_client ? "198.18.0.1" : "198.18.0.2";
    s.dst = from_client ? "198.18.0.2" : "198.18.0.1";
    s.sport = from_client ? client_port_ : server_port_;
    s.dport = from_client ? server_port_ : client_port_;
    uint32_t& seq = from_client ? client_seq_ : server_seq_;
    s.seq = seq;
    s.ack = (flags & ::ta::testing::kAck) != 0 ? (from_client ? server_seq_ : client_seq_) : 0;
    s.tcp_flags = flags;
    s.payload = ::ta::testing::PayloadOf(payload);
    seq += static_cast<uint32_t>(payload.size());
    if ((flags & (::ta::testing::kSyn | ::ta::testing::kFin)) != 0) ++seq;  // each takes one
    return s;
  }

  uint16_t client_port_;
  uint16_t server_port_;
  uint32_t client_seq_ = 1000;
  uint32_t server_seq_ = 5000;
};

constexpr uint8_t kSyn = ::ta::testing::kSyn;
constexpr uint8_t kAck = ::ta::testing::kAck;
constexpr uint8_t kPsh = ::ta::testing::kPsh;
constexpr uint8_t kFin = ::ta::testing::kFin;

// A keep-alive connection with three exchanges, opened with a handshake and closed with FINs,
// then a second connection whose request is still unanswered when the capture ends.
//   GET  /users/42    -> 200, 5-byte body,           62.5 ms
//   POST /items/blue  -> 201, 3-byte request body,   250 ms   (route from routes.patterns)
//   GET  /missing     -> 404 chunked in two segments, 7.8125 ms (2^-7 s)
// Durations are exact binary fractions so _sum lines compare exactly.
std::vector<TimedFrame> KeepAliveCapture() {
  std::vector<TimedFrame> frames;
  TcpConversation c(40000, 8080);
  uint64_t t = kT0;
  auto at = [&frames](uint64_t ts, FrameSpec spec) { frames.push_back({ts, std::move(spec)}); };
  at(t, c.FromClient(kSyn));
  at(t + 100'000, c.FromServer(kSyn | kAck));
  at(t + 200'000, c.FromClient(kAck));

  t += kSecond / 1000;
  at(t, c.FromClient(kPsh | kAck, "GET /users/42 HTTP/1.1\r\nHost: example\r\n\r\n"));
  at(t + 62'500'000,
     c.FromServer(kPsh | kAck, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  at(t + 63'000'000, c.FromClient(kAck));

  t += kSecond / 10;
  at(t, c.FromClient(kPsh | kAck,
                     "POST /items/blue HTTP/1.1\r\nHost: example\r\nContent-Length: 3\r\n\r\nabc"));
  at(t + 250'000'000,
     c.FromServer(kPsh | kAck, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"));

  t += kSecond / 2;
  at(t, c.FromClient(kPsh | kAck, "GET /missing HTTP/1.1\r\nHost: example\r\n\r\n"));
  at(t + 3'906'250,
     c.FromServer(kPsh | kAck, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"));
  at(t + 7'812'500, c.FromServer(kPsh | kAck, "9\r\nnot found\r\n0\r\n\r\n"));

  t += kSecond / 10;
  at(t, c.FromClient(kFin | kAck));
  at(t + 100'000, c.FromServer(kFin | kAck));
  at(t + 200'000, c.FromClient(kAck));

  // Still open at the end of the capture, its request unanswered.
  TcpConversation open(40001, 8080);
  t += kSecond / 10;
  at(t, open.FromClient(kSyn));
  at(t + 100'000, open.FromServer(kSyn | kAck));
  at(t + 200'000, open.FromClient(kAck));
  at(t + 300'000, open.FromClient(kPsh | kAck, "GET /slow HTTP/1.1\r\nHost: example\r\n\r\n"));
  return frames;
}

int DltOf(Link link) {
  switch (link) {
    case Link::kEthernet:
      return DLT_EN10MB;
    case Link::kSll:
      return DLT_LINUX_SLL;
    case Link::kSll2:
      return DLT_LINUX_SLL2;
    case Link::kRawIp:
      return DLT_RAW;
  }
  return DLT_EN10MB;
}

// A temporary file removed when the test ends.
class TempFile {
 public:
  explicit TempFile(std::string_view suffix) {
    path_ = (std::filesystem::temp_directory_path() /
             ("ta-replay-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) +
              std::string(suffix)))
                .string();
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Writes a classic pcap with nanosecond timestamps through libpcap itself.
void WritePcap(const std::string& path, Link link, const std::vector<TimedFrame>& frames) {
  pcap_t* dead =
      pcap_open_dead_with_tstamp_precision(DltOf(link), 65535, PCAP_TSTAMP_PRECISION_NANO);
  ASSERT_NE(dead, nullptr);
  pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
  ASSERT_NE(dumper, nullptr) << pcap_geterr(dead);
  for (const auto& [ts_ns, spec] : frames) {
    FrameSpec s = spec;
    s.link = link;
    const Bytes frame = ::ta::testing::BuildFrame(s);
    pcap_pkthdr header{};
    header.ts.tv_sec = static_cast<time_t>(ts_ns / kSecond);
    header.ts.tv_usec = static_cast<suseconds_t>(ts_ns % kSecond);  // ns with NANO precision
    header.caplen = static_cast<bpf_u_int32>(frame.size());
    header.len = header.caplen;
    pcap_dump(reinterpret_cast<u_char*>(dumper), &header, frame.data());
  }
  pcap_dump_close(dumper);
  pcap_close(dead);
}

// Writes a minimal pcapng (section header, one interface with nanosecond resolution, enhanced
// packet blocks), host byte order, as the pcapng draft (IETF opsawg-pcapng) lays it out.
void WritePcapng(const std::string& path, Link link, const std::vector<TimedFrame>& frames) {
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&out](uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&out](uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  // Section Header Block.
  u32(0x0A0D0D0A);
  u32(28);
  u32(0x1A2B3C4D);
  u16(1);
  u16(0);
  u32(0xFFFFFFFF);  // section length: unknown (-1), 64 bits
  u32(0xFFFFFFFF);
  u32(28);
  // Interface Description Block with if_tsresol = 9 (nanoseconds).
  // LINKTYPE_* values as files carry them: equal to the DLT_* ones except raw IP (DLT_RAW is
  // 12 or 14 depending on the platform; LINKTYPE_RAW is 101).
  const uint16_t linktype = link == Link::kRawIp ? 101 : static_cast<uint16_t>(DltOf(link));
  u32(1);
  u32(32);
  u16(linktype);
  u16(0);
  u32(65535);
  u16(9);  // if_tsresol
  u16(1);
  u32(9);  // value 9, then 3 bytes of padding (little-endian: 09 00 00 00)
  u32(0);  // opt_endofopt
  u32(32);
  // Enhanced Packet Blocks.
  for (const auto& [ts_ns, spec] : frames) {
    FrameSpec s = spec;
    s.link = link;
    const Bytes frame = ::ta::testing::BuildFrame(s);
    const uint32_t padded = static_cast<uint32_t>((frame.size() + 3) / 4 * 4);
    const uint32_t total = 32 + padded;
    u32(6);
    u32(total);
    u32(0);  // interface 0
    u32(static_cast<uint32_t>(ts_ns >> 32));
    u32(static_cast<uint32_t>(ts_ns & 0xFFFFFFFF));
    u32(static_cast<uint32_t>(frame.size()));
    u32(static_cast<uint32_t>(frame.size()));
    out.write(reinterpret_cast<const char*>(frame.data()),
              static_cast<std::streamsize>(frame.size()));
    for (size_t i = frame.size(); i < padded; ++i) out.put('\0');
    u32(total);
  }
}

Config ReplayConfig() {
  auto config = ParseConfig(R"(
ports: [8080]
routes:
  patterns:
    - {port: 8080, pattern: "/items/{name}"}
)");
  EXPECT_TRUE(config.ok()) << config.error().message;
  return config.ok() ? config.value() : Config{};
}

struct ReplayOutput {
  int exit_code;
  std::string out;
  std::string err;
};

ReplayOutput Replay(const Config& config, const std::string& path) {
  std::ostringstream out, err;
  const int code = RunReplay(config, path, out, err);
  return {code, out.str(), err.str()};
}

std::string Labels(std::string_view method, std::string_view status, std::string_view route) {
  return "http_request_method=\"" + std::string(method) + "\",http_response_status_code=\"" +
         std::string(status) + "\",http_route=\"" + std::string(route) +
         "\",network_protocol_version=\"1.1\",server_port=\"8080\",url_scheme=\"http\"";
}

TEST(ReplayTest, KeepAliveConnectionGivesExactMetrics) {
  TempFile file(".pcap");
  WritePcap(file.path(), Link::kEthernet, KeepAliveCapture());
  const ReplayOutput r = Replay(ReplayConfig(), file.path());
  ASSERT_EQ(r.exit_code, kReplayExitOk) << r.err;
  const std::string& text = r.out;

  const std::string users = Labels("GET", "200", "/users/{id}");
  const std::string items = Labels("POST", "201", "/items/{name}");
  const std::string missing = Labels("GET", "404", "/missing");
  const std::string d = "http_server_request_duration_seconds";
  EXPECT_EQ(SeriesValue(text, d + "_count{" + users + "}"), "1") << text;
  EXPECT_EQ(SeriesValue(text, d + "_sum{" + users + "}"), "0.0625");
  EXPECT_EQ(SeriesValue(text, d + "_bucket{" + users + ",le=\"0.05\"}"), "0");
  EXPECT_EQ(SeriesValue(text, d + "_bucket{" + users + ",le=\"0.075\"}"), "1");
  EXPECT_EQ(SeriesValue(text, d + "_count{" + items + "}"), "1");
  EXPECT_EQ(SeriesValue(text, d + "_sum{" + items + "}"), "0.25");
  EXPECT_EQ(SeriesValue(text, d + "_bucket{" + items + ",le=\"0.1\"}"), "0");
  EXPECT_EQ(SeriesValue(text, d + "_bucket{" + items + ",le=\"0.25\"}"), "1");
  EXPECT_EQ(SeriesValue(text, d + "_count{" + missing + "}"), "1");
  EXPECT_EQ(SeriesValue(text, d + "_sum{" + missing + "}"), "0.0078125");
  EXPECT_EQ(SeriesValue(text, d + "_bucket{" + missing + ",le=\"0.005\"}"), "0");
  EXPECT_EQ(SeriesValue(text, d + "_bucket{" + missing + ",le=\"0.01\"}"), "1");
  // The request still in flight at the end of the capture is not an exchange.
  EXPECT_EQ(text.find("/slow"), std::string::npos);

  const std::string req = "http_server_request_body_size_bytes";
  const std::string resp = "http_server_response_body_size_bytes";
  EXPECT_EQ(SeriesValue(text, req + "_sum{" + users + "}"), "0");
  EXPECT_EQ(SeriesValue(text, resp + "_sum{" + users + "}"), "5");
  EXPECT_EQ(SeriesValue(text, req + "_sum{" + items + "}"), "3");
  EXPECT_EQ(SeriesValue(text, resp + "_sum{" + items + "}"), "0");
  EXPECT_EQ(SeriesValue(text, resp + "_bucket{" + items + ",le=\"0\"}"), "1");
  EXPECT_EQ(SeriesValue(text, req + "_sum{" + missing + "}"), "0");
  EXPECT_EQ(SeriesValue(text, resp + "_sum{" + missing + "}"), "9");  // chunk data only
  EXPECT_EQ(SeriesValue(text, resp + "_bucket{" + missing + ",le=\"64\"}"), "1");

  // Self-metrics: 2 opens, 1 close (the second connection is still open), 8 payload segments.
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_received_total{kind=\"conn_open\"}"), "2");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_received_total{kind=\"conn_close\"}"), "1");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_events_received_total{kind=\"payload\"}"), "8");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_connections_tracked"), "1");
  for (const char* stage : {"ringbuf", "reassembly", "parser"}) {
    EXPECT_EQ(SeriesValue(
                  text, std::string("traffic_analyzer_events_lost_total{stage=\"") + stage + "\"}"),
              "0")
        << stage;
  }
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_parse_errors_total{protocol=\"http1\"}"), "0");
  EXPECT_EQ(SeriesValue(text, "traffic_analyzer_http_unpaired_messages_total{message=\"request\"}"),
            "0");
  EXPECT_EQ(
      SeriesValue(text, "traffic_analyzer_http_body_size_unknown_total{message=\"response\"}"),
      "0");
  EXPECT_EQ(r.err, "replay: 18 packets from '" + file.path() + "', 3 HTTP exchanges\n");
}

TEST(ReplayTest, EveryLinkTypeAndPcapngGiveTheSameMetrics) {
  const auto frames = KeepAliveCapture();
  TempFile reference(".pcap");
  WritePcap(reference.path(), Link::kEthernet, frames);
  const ReplayOutput want = Replay(ReplayConfig(), reference.path());
  ASSERT_EQ(want.exit_code, kReplayExitOk) << want.err;

  for (Link link : {Link::kEthernet, Link::kSll, Link::kSll2, Link::kRawIp}) {
    SCOPED_TRACE(DltOf(link));
    TempFile pcap(".pcap");
    WritePcap(pcap.path(), link, frames);
    const ReplayOutput from_pcap = Replay(ReplayConfig(), pcap.path());
    EXPECT_EQ(from_pcap.exit_code, kReplayExitOk) << from_pcap.err;
    EXPECT_EQ(from_pcap.out, want.out);

    TempFile pcapng(".pcapng");
    WritePcapng(pcapng.path(), link, frames);
    const ReplayOutput from_pcapng = Replay(ReplayConfig(), pcapng.path());
    EXPECT_EQ(from_pcapng.exit_code, kReplayExitOk) << from_pcapng.err;
    EXPECT_EQ(from_pcapng.out, want.out);
  }
}

TEST(ReplayTest, IdleConnectionsExpireByPacketTime) {
  // One connection goes quiet after its handshake; another one's packets 20 s later (past the
  // 10 s idle timeout) advance the clock, so the first is expired, the second still tracked.
  std::vector<TimedFrame> frames;
  TcpConversation quiet(40000, 8080), late(40001, 8080);
  frames.push_back({kT0, quiet.FromClient(kSyn)});
  frames.push_back({kT0 + 1000, quiet.FromServer(kSyn | kAck)});
  frames.push_back({kT0 + 20 * kSecond, late.FromClient(kSyn)});
  frames.push_back({kT0 + 20 * kSecond + 1000, late.FromServer(kSyn | kAck)});
  TempFile file(".pcap");
  WritePcap(file.path(), Link::kEthernet, frames);
  Config config = ReplayConfig();
  config.connections.idle_timeout_seconds = 10;
  const ReplayOutput r = Replay(config, file.path());
  ASSERT_EQ(r.exit_code, kReplayExitOk) << r.err;
  EXPECT_EQ(
      SeriesValue(r.out, "traffic_analyzer_connections_evicted_total{reason=\"idle_timeout\"}"),
      "1");
  EXPECT_EQ(SeriesValue(r.out, "traffic_analyzer_connections_tracked"), "1");
}

TEST(ReplayTest, MissingFileIsBadInput) {
  const ReplayOutput r = Replay(Config{}, "/nonexistent/capture.pcap");
  EXPECT_EQ(r.exit_code, kReplayExitBadInput);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "replay: cannot open '/nonexistent/capture.pcap': No such file or directory; give a "
            "pcap or pcapng capture file (tcpdump -w, dumpcap, "
            "Wireshark)\n");
}

TEST(ReplayTest, NotACaptureIsBadInput) {
  TempFile file(".pcap");
  std::ofstream(file.path()) << "this is not a capture file, just text\n";
  const ReplayOutput r = Replay(Config{}, file.path());
  EXPECT_EQ(r.exit_code, kReplayExitBadInput);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "replay: cannot open '" + file.path() +
                       "': unknown file format; give a pcap or pcapng capture file (tcpdump -w, "
                       "dumpcap, Wireshark)\n");
}

TEST(ReplayTest, UnsupportedLinkTypeIsNamed) {
  TempFile file(".pcap");
  pcap_t* dead = pcap_open_dead(DLT_NULL, 65535);
  pcap_dumper_t* dumper = pcap_dump_open(dead, file.path().c_str());
  ASSERT_NE(dumper, nullptr);
  pcap_dump_close(dumper);
  pcap_close(dead);
  const ReplayOutput r = Replay(Config{}, file.path());
  EXPECT_EQ(r.exit_code, kReplayExitBadInput);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "replay: '" + file.path() +
                       "' has link type DLT_NULL (BSD loopback), which replay cannot decode; "
                       "supported: DLT_EN10MB (Ethernet), DLT_LINUX_SLL and DLT_LINUX_SLL2 (Linux "
                       "cooked capture, tcpdump -i any), DLT_RAW (raw IP). Capture on an "
                       "Ethernet-like interface or with tcpdump -i any\n");
}

TEST(ReplayTest, TruncatedFileIsBadInputButKeepsWhatWasRead) {
  TempFile file(".pcap");
  WritePcap(file.path(), Link::kEthernet, KeepAliveCapture());
  // Cut the last packet short, as a capture killed mid-write leaves it.
  std::filesystem::resize_file(file.path(), std::filesystem::file_size(file.path()) - 10);
  const ReplayOutput r = Replay(ReplayConfig(), file.path());
  EXPECT_EQ(r.exit_code, kReplayExitBadInput);
  EXPECT_NE(r.err.find("replay: '" + file.path() + "': read error after 17 packets: "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("the file is truncated or corrupt"), std::string::npos) << r.err;
  // The three exchanges completed before the cut are still reported.
  EXPECT_EQ(SeriesValue(r.out, "http_server_request_duration_seconds_count{" +
                                   Labels("GET", "404", "/missing") + "}"),
            "1");
}

}  // namespace
}  // namespace ta::agent
