#include "analyzer/protocols/http2/hpack_decoder.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>

#include "analyzer/protocols/http2/frame.h"

namespace ta::analyzer::protocols::http2 {

HpackDecoder::HpackDecoder(size_t table_size_limit)
    : limit_(std::clamp<size_t>(table_size_limit, kDefaultHeaderTableSize, kMaxHeaderTableSize)) {
  Reset();
}

HpackDecoder::~HpackDecoder() {
  if (inflater_ != nullptr) nghttp2_hd_inflate_del(inflater_);
}

void HpackDecoder::Reset() {
  if (inflater_ != nullptr) nghttp2_hd_inflate_del(inflater_);  // (it does not accept null)
  inflater_ = nullptr;
  if (nghttp2_hd_inflate_new(&inflater_) != 0) {
    inflater_ = nullptr;  // out of memory: every block is undecodable until the next Reset
    return;
  }
  if (limit_ != kDefaultHeaderTableSize) nghttp2_hd_inflate_change_table_size(inflater_, limit_);
}

void HpackDecoder::RaiseTableSizeLimit(size_t size) {
  size = std::min(size, kMaxHeaderTableSize);
  if (size <= limit_) return;
  limit_ = size;
  // Only called between blocks (Decode always finishes or resets), where the inflater accepts it.
  if (inflater_ != nullptr) nghttp2_hd_inflate_change_table_size(inflater_, limit_);
}

bool HpackDecoder::Decode(std::span<const uint8_t> block, HeaderFieldVisitor& visitor) {
  if (inflater_ == nullptr) {
    Reset();
    return false;
  }
  const uint8_t* in = block.data();
  size_t left = block.size();
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    // The whole block is given at once (in_final 1), so the inflater never keeps a pointer into
    // it past this call.
    const ssize_t n = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, in, left, 1);
    if (n < 0) {
      // NGHTTP2_ERR_HEADER_COMP (bad index, bad Huffman code, size update over the limit) or
      // NGHTTP2_ERR_BUFFER_ERROR (field too large). The inflater refuses further input once it
      // failed, and its table may miss entries the block inserted: start again empty.
      Reset();
      return false;
    }
    const auto used = static_cast<size_t>(n);
    in += used;
    left -= used;
    if ((flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
      visitor.OnField({reinterpret_cast<const char*>(nv.name), nv.namelen},
                      {reinterpret_cast<const char*>(nv.value), nv.valuelen});
    }
    if ((flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
      nghttp2_hd_inflate_end_headers(inflater_);
      return true;
    }
    if (used == 0 && (flags & NGHTTP2_HD_INFLATE_EMIT) == 0) {  // no progress: never loop
      Reset();
      return false;
    }
  }
}

}  // namespace ta::analyzer::protocols::http2
