#include "agent/alerts/text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace ta::agent::alerts {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

bool InRange(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

}  // namespace

size_t Utf8SequenceLength(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  // The second byte's range depends on the first (RFC 3629 §4); later bytes are 80..BF.
  size_t length = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (InRange(c, 0xC2, 0xDF)) {
    length = 2;
  } else if (c == 0xE0) {
    length = 3;
    lo = 0xA0;  // no overlong 3-byte forms
  } else if (InRange(c, 0xE1, 0xEC) || InRange(c, 0xEE, 0xEF)) {
    length = 3;
  } else if (c == 0xED) {
    length = 3;
    hi = 0x9F;  // no UTF-16 surrogates
  } else if (c == 0xF0) {
    length = 4;
    lo = 0x90;  // no overlong 4-byte forms
  } else if (InRange(c, 0xF1, 0xF3)) {
    length = 4;
  } else if (c == 0xF4) {
    length = 4;
    hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;  // 80..C1 (continuation or overlong lead) and F5..FF never start a sequence
  }
  if (s.size() < length || !InRange(b(1), lo, hi)) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!InRange(b(i), 0x80, 0xBF)) return 0;
  }
  return length;
}

std::string RepairUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const size_t n = Utf8SequenceLength(s);
    if (n == 0) {
      out += kReplacement;
      s.remove_prefix(1);
    } else {
      out += s.substr(0, n);
      s.remove_prefix(n);
    }
  }
  return out;
}

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s[0]);
    const size_t n = Utf8SequenceLength(s);
    if (n == 0) {
      out += "\\ufffd";
      s.remove_prefix(1);
      continue;
    }
    if (n > 1) {
      out += s.substr(0, n);
      s.remove_prefix(n);
      continue;
    }
    s.remove_prefix(1);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // RFC 8259 requires escaping U+0000..U+001F; DEL is escaped too so a line never
        // carries a raw control byte into a terminal.
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";  // cannot happen: 32 bytes hold any shortest double
  return std::string(buf, end);
}

void AppendJsonNumber(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  out += FormatNumber(value);
}

std::string FormatRfc3339Millis(uint64_t unix_ns) {
  const auto seconds = static_cast<time_t>(unix_ns / 1'000'000'000ULL);
  const auto millis = static_cast<unsigned>(unix_ns % 1'000'000'000ULL / 1'000'000ULL);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out(buf, n);
  char frac[8];
  std::snprintf(frac, sizeof(frac), ".%03uZ", millis);
  return out + frac;
}

}  // namespace ta::agent::alerts
