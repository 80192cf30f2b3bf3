// Http2Connection (frame readers, HPACK through nghttp2's inflater, stream pairing, gRPC message
// counting) fed input-chosen bytes through its two StreamConsumers.
//
// Input: byte 0 selects the setup, the rest is cut into records.
//   byte 0: bits 0-1 mode {prior knowledge, h2c upgraded (with an adopted request), mid-stream,
//           prior knowledge}; bit 2 max_header_bytes 256 (else 64 KiB); bit 3 max_pipelined
//           requests 1 (stream table of 8); bit 4 the client direction starts with the preface
//           already given (so inputs spend no bytes on it).
//   record: op byte; bit 0 direction (set: server to client), bit 1 a gap (else data), bit 2
//           starts a segment; bits 3-7 length (data: up to 31 following bytes; gap: length * 7).
// At the end the connection closes.
#include <cstdint>
#include <string_view>

#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "analyzer/protocols/context.h"
#include "analyzer/protocols/http2/http2_connection.h"
#include "analyzer/routes/route_template.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

namespace h2 = ta::analyzer::protocols::http2;

class NullSink final : public ta::analyzer::ExchangeSink {
 public:
  void OnHttpExchange(const ta::analyzer::HttpExchange&) override {}
};

}  // namespace

TA_FUZZ_TARGET(http2) {
  if (size == 0) return;
  const uint8_t setup = data[0];
  ta::analyzer::AnalyzerConfig config;
  if ((setup & 0x4) != 0) config.max_header_bytes = 256;
  if ((setup & 0x8) != 0) config.max_pipelined_requests = 1;
  ta::analyzer::AnalyzerStats stats;
  ta::analyzer::routes::RouteTemplater routes(config.route_patterns, 4);
  NullSink sink;
  ta::analyzer::protocols::ConnectionContext ctx{config, stats, routes, sink};
  const h2::StartMode modes[] = {h2::StartMode::kPriorKnowledge, h2::StartMode::kUpgraded,
                                 h2::StartMode::kMidStream, h2::StartMode::kPriorKnowledge};
  ta::analyzer::FlowKey flow;
  flow.family = 2;
  flow.server_port = 50051;
  h2::Http2Connection conn(flow, modes[setup & 0x3], ctx);
  if (modes[setup & 0x3] == h2::StartMode::kUpgraded) conn.AdoptUpgradeRequest("GET", "/", 1, 0);
  using ta::analyzer::Direction;
  using ta::analyzer::tcp::StreamChunk;
  if ((setup & 0x10) != 0) {
    const auto* p = reinterpret_cast<const uint8_t*>(h2::kClientPreface.data());
    conn.stream(Direction::kClientToServer)
        .OnChunk(StreamChunk::Data({p, h2::kClientPreface.size()}, 1, true));
  }
  uint64_t ts = 1;
  size_t pos = 1;
  while (pos < size) {
    const uint8_t op = data[pos++];
    const Direction dir = (op & 0x1) != 0 ? Direction::kServerToClient : Direction::kClientToServer;
    const size_t len = op >> 3;
    ++ts;
    if ((op & 0x2) != 0) {
      conn.stream(dir).OnChunk(StreamChunk::Gap(len * 7, ts));
      continue;
    }
    const size_t n = len < size - pos ? len : size - pos;
    conn.stream(dir).OnChunk(StreamChunk::Data({data + pos, n}, ts, (op & 0x4) != 0));
    pos += n;
  }
  conn.Close();
}
