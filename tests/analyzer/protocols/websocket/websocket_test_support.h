// Helpers for the WebSocket tests: a frame encoder (RFC 6455 §5.2), a sink that records the
// WebSocket reports, and a driver that hands byte strings to a connection as stream chunks.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "analyzer/analyzer.h"
#include "analyzer/http_exchange.h"
#include "analyzer/protocols/context.h"
#include "analyzer/routes/route_template.h"
#include "analyzer/tcp/reassembler.h"
#include "tests/analyzer/test_support.h"

namespace ta::analyzer {

inline bool operator==(const WebSocketMessage& a, const WebSocketMessage& b) {
  return a.flow == b.flow && a.dir == b.dir && a.type == b.type &&
         a.payload_bytes == b.payload_bytes && a.frames == b.frames &&
         a.compressed == b.compressed && a.close_code == b.close_code && a.ts_ns == b.ts_ns;
}

inline void PrintTo(const WebSocketMessage& m, std::ostream* os) {
  *os << "{" << (m.dir == Direction::kClientToServer ? "c2s " : "s2c ") << ToString(m.type)
      << " bytes=" << m.payload_bytes << " frames=" << m.frames
      << (m.compressed ? " compressed" : "")
      << " close_code=" << (m.close_code ? std::to_string(*m.close_code) : "none")
      << " ts=" << m.ts_ns << "}";
}

inline bool operator==(const WebSocketSession& a, const WebSocketSession& b) {
  return a.flow == b.flow && a.route == b.route && a.start_ns == b.start_ns &&
         a.end_ns == b.end_ns && a.close_code == b.close_code &&
         a.close_initiator == b.close_initiator && a.clean_close == b.clean_close;
}

inline void PrintTo(const WebSocketSession& s, std::ostream* os) {
  *os << "{" << s.route << " start=" << s.start_ns << " end=" << s.end_ns
      << " close_code=" << (s.close_code ? std::to_string(*s.close_code) : "none") << " initiator="
      << (s.close_initiator ? (*s.close_initiator == Direction::kClientToServer ? "c2s" : "s2c")
                            : "none")
      << (s.clean_close ? " clean" : "") << "}";
}

namespace testing::websocket {

// First header byte: FIN, RSV1-3 and the opcode (§5.2).
inline constexpr uint8_t kFin = 0x80;
inline constexpr uint8_t kRsv1 = 0x40;
inline constexpr uint8_t kRsv2 = 0x20;
inline constexpr uint8_t kRsv3 = 0x10;
inline constexpr uint8_t kText = 0x1;
inline constexpr uint8_t kBinary = 0x2;
inline constexpr uint8_t kContinuation = 0x0;
inline constexpr uint8_t kClose = 0x8;
inline constexpr uint8_t kPing = 0x9;
inline constexpr uint8_t kPong = 0xA;

// The masking key of the RFC 6455 §5.7 examples.
inline constexpr std::array<uint8_t, 4> kKey = {0x37, 0xfa, 0x21, 0x3d};

// How the payload length is written: the minimal form, or forced 16/64-bit (§5.2).
enum class Length { kMinimal, k16, k64 };

// A frame header announcing `len` payload bytes; masked ones carry kKey.
inline std::string Header(uint8_t b0, uint64_t len, bool masked, Length form = Length::kMinimal) {
  std::string h(1, static_cast<char>(b0));
  const uint8_t mask_bit = masked ? 0x80 : 0x00;
  if (form == Length::kMinimal)
    form = len < 126 ? Length::kMinimal : len <= 0xFFFF ? Length::k16 : Length::k64;
  if (form == Length::kMinimal) {
    h += static_cast<char>(mask_bit | static_cast<uint8_t>(len));
  } else if (form == Length::k16) {
    h += static_cast<char>(mask_bit | 126);
    h += static_cast<char>((len >> 8) & 0xFF);
    h += static_cast<char>(len & 0xFF);
  } else {
    h += static_cast<char>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) h += static_cast<char>((len >> shift) & 0xFF);
  }
  if (masked) h.append(reinterpret_cast<const char*>(kKey.data()), kKey.size());
  return h;
}

// A whole frame; a masked frame's payload is XORed with kKey (§5.3).
inline std::string Frame(uint8_t b0, std::string_view payload, bool masked,
                         Length form = Length::kMinimal) {
  std::string f = Header(b0, payload.size(), masked, form);
  for (size_t i = 0; i < payload.size(); ++i) {
    const uint8_t key = masked ? kKey[i % 4] : 0;
    f += static_cast<char>(static_cast<uint8_t>(payload[i]) ^ key);
  }
  return f;
}

// A close frame's payload: the status code, big-endian, then a reason (§5.5.1).
inline std::string ClosePayload(uint16_t code, std::string_view reason = "") {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFF);
  p += reason;
  return p;
}

inline std::string Lit(std::initializer_list<uint8_t> bytes) {
  return std::string(bytes.begin(), bytes.end());
}

class WebSocketRecorder final : public ExchangeSink {
 public:
  void OnHttpExchange(const HttpExchange& /*exchange*/) override {}
  void OnWebSocketMessage(const WebSocketMessage& m) override { messages.push_back(m); }
  void OnWebSocketSession(const WebSocketSession& s) override { sessions.push_back(s); }
  std::vector<WebSocketMessage> messages;
  std::vector<WebSocketSession> sessions;
};

// What a connection needs around it, owned in one place.
struct Harness {
  AnalyzerConfig config;
  AnalyzerStats stats;
  routes::RouteTemplater routes{config.route_patterns, config.max_routes_per_port};
  WebSocketRecorder sink;
  protocols::ConnectionContext ctx{config, stats, routes, sink};
};

inline WebSocketMessage Msg(Direction dir, WebSocketMessageType type, uint64_t bytes, uint64_t ts,
                            uint32_t frames = 1, bool compressed = false,
                            std::optional<uint16_t> close_code = std::nullopt) {
  WebSocketMessage m;
  m.flow = TestFlow();
  m.dir = dir;
  m.type = type;
  m.payload_bytes = bytes;
  m.frames = frames;
  m.compressed = compressed;
  m.close_code = close_code;
  m.ts_ns = ts;
  return m;
}

// Hands `bytes` to `consumer` as data chunks stamped `ts`, cut at the sorted offsets in `cuts`.
inline void Deliver(tcp::StreamConsumer& consumer, std::string_view bytes, uint64_t ts,
                    const std::vector<size_t>& cuts = {}) {
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : bytes.size();
    if (end <= start && i < cuts.size()) continue;
    consumer.OnChunk(tcp::StreamChunk::Data(Bytes(bytes.substr(start, end - start)), ts, i == 0));
    start = end;
  }
}

inline void Gap(tcp::StreamConsumer& consumer, uint64_t length, uint64_t ts) {
  consumer.OnChunk(tcp::StreamChunk::Gap(length, ts));
}

}  // namespace testing::websocket
}  // namespace ta::analyzer
