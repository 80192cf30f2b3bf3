// HPACK (RFC 7541) decoding of one direction's header blocks through libnghttp2's inflater
// (nghttp2_hd_inflate_*): the analyzer never decodes HPACK by hand.
//
// A passive observer cannot know exactly when an encoder applied a SETTINGS_HEADER_TABLE_SIZE
// change, so the decoder only ever raises its limit (RaiseTableSizeLimit): the limit only
// validates the encoder's own dynamic table size updates (RFC 7541 §6.3), which are in the
// stream and shrink the table when the encoder shrinks it. Lowering the limit would make the
// inflater demand a size update at the start of the next block, which an encoder that has not
// yet seen the SETTINGS does not send. The limit is capped at kMaxHeaderTableSize to bound
// memory; an encoder using a bigger table makes its blocks undecodable (counted), never wrong.
//
// After a failed block the decoder starts again with an empty dynamic table. That is sound: the
// dynamic table is a FIFO addressed newest-first (RFC 7541 §2.3.3), so once every insertion since
// the restart has been seen, our table holds exactly the newest entries of the encoder's table,
// in the same order. An index we have therefore names the same field as the encoder's; an index
// we lack (an entry inserted before the restart, or evicted sooner by our smaller table) is
// beyond our table and fails the block instead of producing a wrong field. The same argument
// covers a connection joined mid-way: start empty and decode what only uses static entries,
// literals and entries inserted after the join.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

struct nghttp2_hd_inflater;

namespace ta::analyzer::protocols::http2 {

// Bound on the dynamic table one direction may use (bytes as RFC 7541 §4.1 counts them).
inline constexpr size_t kMaxHeaderTableSize = 64 * 1024;

class HeaderFieldVisitor {
 public:
  virtual ~HeaderFieldVisitor() = default;
  // One decoded field; the views are valid only during the call.
  virtual void OnField(std::string_view name, std::string_view value) = 0;
};

class HpackDecoder {
 public:
  // `table_size_limit` is clamped to [4096, kMaxHeaderTableSize].
  explicit HpackDecoder(size_t table_size_limit = 4096);
  ~HpackDecoder();
  HpackDecoder(const HpackDecoder&) = delete;
  HpackDecoder& operator=(const HpackDecoder&) = delete;

  // Decodes one complete header block (the fragments of HEADERS/PUSH_PROMISE and its
  // CONTINUATIONs, padding and priority fields removed). False: the block could not be decoded
  // (fields already visited must be discarded) and the decoder has restarted with an empty table.
  bool Decode(std::span<const uint8_t> block, HeaderFieldVisitor& visitor);
  // The peer allowed a larger table (SETTINGS_HEADER_TABLE_SIZE); see above why never lower.
  void RaiseTableSizeLimit(size_t size);
  // The dynamic table is unknown from here (a lost header block): restart with an empty one.
  void Reset();

  size_t table_size_limit() const { return limit_; }

 private:
  nghttp2_hd_inflater* inflater_ = nullptr;  // null only when allocation failed
  size_t limit_;
};

}  // namespace ta::analyzer::protocols::http2
