#include "analyzer/state/codec.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace ta::analyzer::state {
namespace {

constexpr size_t kTagSize = 4;

// Four bytes of a tag: shorter codes are padded with spaces, longer ones cut, so a caller's typo
// cannot change the encoding's length.
std::string TagBytes(std::string_view four_cc) {
  std::string tag(four_cc.substr(0, kTagSize));
  tag.resize(kTagSize, ' ');
  return tag;
}

// Printable form of bytes read from a file for an error message (never raw control bytes).
std::string Printable(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\' && c != '"') {
      out.push_back(c);
    } else {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

// Fixed-width little-endian append: one append per field instead of one per byte (a snapshot of
// a thousand keys is tens of MB, written from the event loop).
template <typename T>
void AppendLittleEndian(std::string& out, T v) {
  char bytes[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) bytes[i] = static_cast<char>(v >> (8 * i));
  out.append(bytes, sizeof(T));
}

// `bytes` holds exactly sizeof(T) bytes (checked by Reader::Need).
template <typename T>
T LoadLittleEndian(std::string_view bytes) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v = static_cast<T>(v |
                       static_cast<T>(static_cast<T>(static_cast<uint8_t>(bytes[i])) << (8 * i)));
  }
  return v;
}

}  // namespace

void Writer::U8(uint8_t v) { data_.push_back(static_cast<char>(v)); }

void Writer::U16(uint16_t v) { AppendLittleEndian(data_, v); }

void Writer::U32(uint32_t v) { AppendLittleEndian(data_, v); }

void Writer::U64(uint64_t v) { AppendLittleEndian(data_, v); }

void Writer::I64(int64_t v) { U64(static_cast<uint64_t>(v)); }

void Writer::F64(double v) { U64(std::bit_cast<uint64_t>(v)); }

void Writer::Bytes(std::span<const uint8_t> bytes) {
  U32(static_cast<uint32_t>(bytes.size()));
  data_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void Writer::String(std::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  data_.append(s);
}

void Writer::Tag(std::string_view four_cc) { data_ += TagBytes(four_cc); }

bool Reader::Need(size_t n) {
  if (!ok()) return false;
  if (n > remaining()) {
    Fail("truncated: " + std::to_string(n) + " bytes needed at offset " + std::to_string(pos_) +
         ", " + std::to_string(remaining()) + " left");
    return false;
  }
  return true;
}

uint8_t Reader::U8() {
  if (!Need(1)) return 0;
  return static_cast<uint8_t>(data_[pos_++]);
}

uint16_t Reader::U16() {
  if (!Need(2)) return 0;
  const auto v = LoadLittleEndian<uint16_t>(data_.substr(pos_, 2));
  pos_ += 2;
  return v;
}

uint32_t Reader::U32() {
  if (!Need(4)) return 0;
  const auto v = LoadLittleEndian<uint32_t>(data_.substr(pos_, 4));
  pos_ += 4;
  return v;
}

uint64_t Reader::U64() {
  if (!Need(8)) return 0;
  const auto v = LoadLittleEndian<uint64_t>(data_.substr(pos_, 8));
  pos_ += 8;
  return v;
}

int64_t Reader::I64() { return static_cast<int64_t>(U64()); }

double Reader::F64() { return std::bit_cast<double>(U64()); }

bool Reader::Bool() {
  const uint8_t v = U8();
  if (v > 1) Fail("boolean byte " + std::to_string(v) + " at offset " + std::to_string(pos_ - 1));
  return v == 1;
}

std::string Reader::Bytes(size_t max_len) {
  const size_t at = pos_;
  const uint32_t len = U32();
  if (!ok()) return {};
  // Both checks come before any allocation: a corrupt length costs nothing.
  if (len > max_len) {
    Fail("length " + std::to_string(len) + " at offset " + std::to_string(at) +
         " exceeds the limit of " + std::to_string(max_len));
    return {};
  }
  if (!Need(len)) return {};
  std::string out(data_.substr(pos_, len));
  pos_ += len;
  return out;
}

std::string Reader::String(size_t max_len) { return Bytes(max_len); }

bool Reader::Tag(std::string_view four_cc) {
  const std::string want = TagBytes(four_cc);
  if (!Need(kTagSize)) return false;
  const std::string_view got = data_.substr(pos_, kTagSize);
  if (got != want) {
    Fail("expected section \"" + Printable(want) + "\" at offset " + std::to_string(pos_) +
         ", found \"" + Printable(got) + "\"");
    return false;
  }
  pos_ += kTagSize;
  return true;
}

uint32_t Reader::Count(size_t min_element_bytes) {
  const size_t at = pos_;
  const uint32_t n = U32();
  if (!ok()) return 0;
  // An element of zero bytes would make any count plausible; every element takes at least one.
  const size_t per = std::max<size_t>(min_element_bytes, 1);
  if (n > remaining() / per) {
    Fail("count " + std::to_string(n) + " at offset " + std::to_string(at) + " needs at least " +
         std::to_string(per) + " bytes each, " + std::to_string(remaining()) + " left");
    return 0;
  }
  return n;
}

void Reader::Fail(std::string_view why) {
  if (!ok()) return;  // the first failure is the cause; later ones are consequences
  error_ = why.empty() ? std::string("invalid value") : std::string(why);
}

}  // namespace ta::analyzer::state
