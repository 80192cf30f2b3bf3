// Reads a fuzz input front to back as a small script: integers (little-endian, then mapped into a
// range) and byte strings. Running out of input is not an error: every read then yields the
// range's low end or an empty string, so a target never has to bail out early and a truncated
// input still means something. Targets put a fixed-size header before each payload so that seed
// files are easy to write (tests/fuzz/README.md) and payload bytes stay contiguous for the
// mutator and the dictionaries.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace ta::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t remaining() const { return size_ - pos_; }
  bool empty() const { return pos_ == size_; }

  // sizeof(T) bytes, little-endian; missing bytes read as zero.
  template <std::unsigned_integral T>
  T Take() {
    T value = 0;
    for (size_t i = 0; i < sizeof(T) && pos_ < size_; ++i) {
      value = static_cast<T>(value | static_cast<T>(static_cast<T>(data_[pos_++]) << (8 * i)));
    }
    return value;
  }
  uint8_t TakeByte() { return Take<uint8_t>(); }
  bool TakeBool() { return (TakeByte() & 1) != 0; }

  // A value in [lo, hi], from sizeof(T) bytes.
  template <std::unsigned_integral T>
  T TakeInRange(T lo, T hi) {
    const T raw = Take<T>();
    if (hi <= lo) return lo;
    const T span = static_cast<T>(hi - lo);
    if (span == static_cast<T>(~T{0})) return raw;
    return static_cast<T>(lo + raw % static_cast<T>(span + 1));
  }

  // One of `choices`, from one byte.
  template <typename T, size_t N>
  T Pick(const T (&choices)[N]) {
    return choices[TakeByte() % N];
  }

  // Up to `n` bytes (fewer at the end of the input). The view points into the input.
  std::span<const uint8_t> TakeBytes(size_t n) {
    n = std::min(n, remaining());
    std::span<const uint8_t> out(data_ + pos_, n);
    pos_ += n;
    return out;
  }
  std::span<const uint8_t> TakeRest() { return TakeBytes(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// A heap copy of exactly `bytes.size()` bytes, so AddressSanitizer reports a parser that reads one
// byte past what it was given (a view into the whole fuzz input would hide that).
class ExactBytes {
 public:
  explicit ExactBytes(std::span<const uint8_t> bytes)
      : bytes_(bytes.size() == 0 ? nullptr : new uint8_t[bytes.size()]), size_(bytes.size()) {
    if (size_ != 0) std::memcpy(bytes_, bytes.data(), size_);
  }
  explicit ExactBytes(std::string_view text)
      : ExactBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()),
                                            text.size())) {}
  ~ExactBytes() { delete[] bytes_; }
  ExactBytes(const ExactBytes&) = delete;
  ExactBytes& operator=(const ExactBytes&) = delete;

  std::span<const uint8_t> span() const { return {bytes_, size_}; }
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes_), size_}; }

 private:
  uint8_t* bytes_;
  size_t size_;
};

inline std::string_view AsText(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace ta::fuzz
