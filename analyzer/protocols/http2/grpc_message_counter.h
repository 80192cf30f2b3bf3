// Counts gRPC messages in one direction of one stream. gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2)
// frames each message as a 5-byte prefix, a compressed flag (0 or 1) and a 4-byte big-endian
// length, followed by that many bytes. Messages are independent of DATA frames: a prefix or a
// body can be split across any number of frames, and a frame can hold several messages.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace ta::analyzer::protocols::http2 {

class GrpcMessageCounter {
 public:
  // DATA payload bytes (padding removed) in stream order.
  void Consume(std::span<const uint8_t> bytes);
  // `length` DATA payload bytes we do not have. Inside a message body the count stays exact;
  // over a length prefix the framing is lost.
  void Skip(uint64_t length);
  // The message framing cannot be followed any more (lost HTTP/2 framing, a gap over a prefix,
  // an invalid compressed flag): count nothing more.
  void Lose() { lost_ = true; }

  // Complete messages seen (a lower bound once lost()).
  uint64_t messages() const { return messages_; }
  bool lost() const { return lost_; }
  // Bytes of a message (prefix or body) started but not finished.
  bool mid_message() const { return prefix_have_ != 0 || in_body_; }

 private:
  static constexpr size_t kPrefixSize = 5;

  std::array<uint8_t, kPrefixSize> prefix_{};
  size_t prefix_have_ = 0;
  bool in_body_ = false;
  uint64_t body_remaining_ = 0;
  uint64_t messages_ = 0;
  bool lost_ = false;
};

}  // namespace ta::analyzer::protocols::http2
