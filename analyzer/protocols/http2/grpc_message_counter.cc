#include "analyzer/protocols/http2/grpc_message_counter.h"

#include <algorithm>

#include "analyzer/protocols/http2/frame.h"

namespace ta::analyzer::protocols::http2 {

void GrpcMessageCounter::Consume(std::span<const uint8_t> bytes) {
  size_t pos = 0;
  while (pos < bytes.size() && !lost_) {
    if (in_body_) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(body_remaining_, bytes.size() - pos));
      body_remaining_ -= n;
      pos += n;
      if (body_remaining_ == 0) {
        in_body_ = false;
        ++messages_;
      }
      continue;
    }
    const size_t n = std::min(kPrefixSize - prefix_have_, bytes.size() - pos);
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(pos), n,
                prefix_.begin() + static_cast<std::ptrdiff_t>(prefix_have_));
    prefix_have_ += n;
    pos += n;
    if (prefix_have_ < kPrefixSize) break;
    prefix_have_ = 0;
    if (prefix_[0] > 1) {  // the compressed flag is 0 or 1: this is not message framing
      lost_ = true;
      break;
    }
    body_remaining_ = ReadUint32(&prefix_[1]);
    if (body_remaining_ == 0) {
      ++messages_;
    } else {
      in_body_ = true;
    }
  }
}

void GrpcMessageCounter::Skip(uint64_t length) {
  if (lost_ || length == 0) return;
  if (in_body_) {
    const uint64_t n = std::min(length, body_remaining_);
    body_remaining_ -= n;
    length -= n;
    if (body_remaining_ == 0) {
      in_body_ = false;
      ++messages_;
    }
  }
  if (length > 0) lost_ = true;  // the gap covers (part of) a length prefix
}

}  // namespace ta::analyzer::protocols::http2
