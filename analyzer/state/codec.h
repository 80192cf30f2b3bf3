// Binary encoding of analyzer state (baselines, detector state) for snapshots that survive a
// daemon restart. The encoding is little-endian and explicit (no struct dumps), so a snapshot
// written on one build reads on the next as long as the schema version matches.
//
// Writer appends; Reader consumes and never reads past the end: any read past the end, or a
// length that exceeds what is left, puts the Reader into a failed state (ok() false) and every
// later read returns zero/empty. Callers check ok() once at the end (or at section boundaries)
// instead of after every field, and a truncated or corrupt snapshot can never crash the daemon
// or allocate an absurd amount of memory.
//
// The file container (magic, schema version, length, checksum; see snapshot_file.h) is separate:
// this header is only the field encoding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace ta::analyzer::state {

class Writer {
 public:
  void U8(uint8_t v);
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void I64(int64_t v);
  void F64(double v);  // IEEE-754 bits, little-endian
  void Bool(bool v) { U8(v ? 1 : 0); }
  void Bytes(std::span<const uint8_t> bytes);  // U32 length + bytes
  void String(std::string_view s);             // U32 length + bytes
  // A section tag: a 4-character code (e.g. "EWMA") checked by Reader::Tag, so a schema
  // mismatch is detected at the first misplaced section instead of producing garbage numbers.
  void Tag(std::string_view four_cc);

  const std::string& data() const { return data_; }
  std::string Take() { return std::move(data_); }

 private:
  std::string data_;
};

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  uint8_t U8();
  uint16_t U16();
  uint32_t U32();
  uint64_t U64();
  int64_t I64();
  double F64();
  bool Bool();
  // Lengths above `max_len` (or above what is left) fail the reader.
  std::string Bytes(size_t max_len = size_t{1} << 26);
  std::string String(size_t max_len = size_t{1} << 20);
  // Fails the reader unless the next 4 bytes are `four_cc`.
  bool Tag(std::string_view four_cc);
  // A count of elements that each take at least `min_element_bytes`: fails the reader when the
  // count could not possibly fit in what is left (guards vector reserve against corrupt input).
  uint32_t Count(size_t min_element_bytes = 1);

  // Fails the reader with a reason (first failure wins), e.g. a value out of range.
  void Fail(std::string_view why);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  bool Need(size_t n);

  std::string_view data_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace ta::analyzer::state
