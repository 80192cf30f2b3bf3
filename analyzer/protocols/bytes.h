// Captured payload bytes seen as text, for the text protocols' parsers.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ta::analyzer::protocols {

inline std::string_view AsChars(std::span<const uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace ta::analyzer::protocols
