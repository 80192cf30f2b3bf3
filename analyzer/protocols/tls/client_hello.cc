#include "analyzer/protocols/tls/client_hello.h"

#include <algorithm>
#include <utility>

namespace ta::analyzer::protocols::tls {
namespace {

// RFC 8446 §5.1: ContentType handshake, and the largest TLSPlaintext.fragment.
constexpr uint8_t kContentTypeHandshake = 22;
constexpr size_t kRecordHeaderBytes = 5;  // type, legacy_record_version, length
constexpr size_t kMaxRecordFragment = size_t{1} << 14;
// RFC 8446 §4: msg_type, 24-bit length.
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kHandshakeHeaderBytes = 4;
// Every SSL 3.0 / TLS version has major 3 (RFC 8446 Appendix D).
constexpr uint8_t kVersionMajor = 3;

// Extension types (IANA TLS ExtensionType registry).
constexpr uint16_t kExtServerName = 0;          // RFC 6066 §3
constexpr uint16_t kExtAlpn = 16;               // RFC 7301 §3.1
constexpr uint16_t kExtSupportedVersions = 43;  // RFC 8446 §4.2.1
constexpr uint8_t kNameTypeHostName = 0;        // RFC 6066 §3

// Reads big-endian integers and length-prefixed vectors (RFC 8446 §3.3-3.4) from a span. Every
// read checks what is left first and fails without moving on short input, so a caller can chain
// reads and test once.
class ByteReader {
 public:
  ByteReader() = default;
  explicit ByteReader(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  bool empty() const { return pos_ == bytes_.size(); }

  bool ReadU8(uint8_t* out) {
    if (remaining() < 1) return false;
    *out = bytes_[pos_++];
    return true;
  }
  bool ReadU16(uint16_t* out) {
    if (remaining() < 2) return false;
    *out = static_cast<uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool Skip(size_t n) {
    if (remaining() < n) return false;
    pos_ += n;
    return true;
  }
  // A vector<floor..ceiling> whose length takes `prefix_bytes` (1 or 2) bytes: checks the length
  // against its bounds and against what is left, then hands out the contents as a reader.
  bool ReadVector(size_t prefix_bytes, size_t floor, size_t ceiling, ByteReader* out) {
    size_t length = 0;
    if (prefix_bytes == 1) {
      uint8_t n = 0;
      if (!ReadU8(&n)) return false;
      length = n;
    } else {
      uint16_t n = 0;
      if (!ReadU16(&n)) return false;
      length = n;
    }
    if (length < floor || length > ceiling || length > remaining()) return false;
    *out = ByteReader(bytes_.subspan(pos_, length));
    pos_ += length;
    return true;
  }
  std::span<const uint8_t> Rest() const { return bytes_.subspan(pos_); }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

char Lower(uint8_t c) { return static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c); }

bool IsHostNameByte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// server_name extension_data (RFC 6066 §3): ServerNameList server_name_list<1..2^16-1>, each
// entry a NameType and a HostName<1..2^16-1>. The first host_name is recorded; later ones (RFC
// 6066 allows one per type; OpenSSL accepts exactly one entry) are checked for framing only.
bool ParseServerName(ByteReader data, ClientHello* hello) {
  ByteReader list;
  if (!data.ReadVector(2, 1, 0xffff, &list) || !data.empty()) return false;
  bool seen = false;
  while (!list.empty()) {
    uint8_t type = 0;
    ByteReader name;
    if (!list.ReadU8(&type) || !list.ReadVector(2, 1, 0xffff, &name)) return false;
    // Only host_name was ever defined; OpenSSL refuses a hello that names anything else, so a
    // real server would not answer it either.
    if (type != kNameTypeHostName) return false;
    if (seen) continue;
    seen = true;
    const std::span<const uint8_t> bytes = name.Rest();
    // Leave an oversized or odd name out instead of rejecting the hello: the handshake may well
    // go on (servers differ in what they accept) and version and ALPN are still worth keeping.
    if (bytes.size() > kMaxServerNameBytes ||
        !std::all_of(bytes.begin(), bytes.end(), IsHostNameByte)) {
      hello->server_name_invalid = true;
      continue;
    }
    hello->server_name.resize(bytes.size());
    std::transform(bytes.begin(), bytes.end(), hello->server_name.begin(), Lower);
  }
  return true;
}

// ALPN extension_data (RFC 7301 §3.1): ProtocolNameList protocol_name_list<2..2^16-1>, each a
// ProtocolName<1..2^8-1>. GREASE names are two-byte values like the other GREASE code points
// (RFC 8701 §2).
bool ParseAlpn(ByteReader data, ClientHello* hello) {
  ByteReader list;
  if (!data.ReadVector(2, 2, 0xffff, &list) || !data.empty()) return false;
  while (!list.empty()) {
    ByteReader name;
    if (!list.ReadVector(1, 1, 0xff, &name)) return false;
    const std::span<const uint8_t> bytes = name.Rest();
    if (bytes.size() == 2 && IsGrease(static_cast<uint16_t>((bytes[0] << 8) | bytes[1]))) {
      continue;
    }
    hello->alpn.emplace_back(bytes.begin(), bytes.end());
  }
  return true;
}

// supported_versions extension_data in a ClientHello (RFC 8446 §4.2.1):
// ProtocolVersion versions<2..254>. The highest non-GREASE entry is what the client asks for
// (the list is in preference order, which in practice is descending, but the max does not rely
// on that).
bool ParseSupportedVersions(ByteReader data, ClientHello* hello) {
  ByteReader list;
  if (!data.ReadVector(1, 2, 254, &list) || !data.empty() || list.remaining() % 2 != 0) {
    return false;
  }
  while (!list.empty()) {
    uint16_t version = 0;
    list.ReadU16(&version);  // cannot fail: an even number of bytes is left
    if (!IsGrease(version)) {
      hello->max_supported_version = std::max(hello->max_supported_version, version);
    }
  }
  return true;
}

// The ClientHello body (after the handshake header), RFC 8446 §4.1.2 / RFC 5246 §7.4.1.2.
bool ParseBody(ByteReader body, ClientHello* hello) {
  ByteReader session_id, cipher_suites, compression_methods;
  if (!body.ReadU16(&hello->legacy_version) ||
      static_cast<uint8_t>(hello->legacy_version >> 8) != kVersionMajor ||
      !body.Skip(32) ||                                      // random
      !body.ReadVector(1, 0, 32, &session_id) ||             // legacy_session_id<0..32>
      !body.ReadVector(2, 2, 0xfffe, &cipher_suites) ||      // cipher_suites<2..2^16-2>
      cipher_suites.remaining() % 2 != 0 ||                  // of uint8[2]
      !body.ReadVector(1, 1, 0xff, &compression_methods)) {  // <1..2^8-1>
    return false;
  }
  // RFC 5246 §7.4.1.2: a TLS 1.2 (or older) client may end the hello here, without extensions.
  if (body.empty()) return true;
  ByteReader extensions;
  if (!body.ReadVector(2, 0, 0xffff, &extensions) || !body.empty()) return false;
  bool have_server_name = false, have_alpn = false, have_supported_versions = false;
  // RFC 8446 §4.2: no extension type twice. Checked for the ones read here, so that a second
  // copy cannot silently replace (or be hidden behind) the first.
  auto first_time = [](bool* seen) { return !std::exchange(*seen, true); };
  while (!extensions.empty()) {
    uint16_t type = 0;
    ByteReader data;
    if (!extensions.ReadU16(&type) || !extensions.ReadVector(2, 0, 0xffff, &data)) return false;
    switch (type) {
      case kExtServerName:
        if (!first_time(&have_server_name) || !ParseServerName(data, hello)) return false;
        break;
      case kExtAlpn:
        if (!first_time(&have_alpn) || !ParseAlpn(data, hello)) return false;
        break;
      case kExtSupportedVersions:
        if (!first_time(&have_supported_versions) || !ParseSupportedVersions(data, hello)) {
          return false;
        }
        break;
      default:
        break;
    }
  }
  return true;
}

}  // namespace

ParseState ParseClientHello(std::span<const uint8_t> bytes, ClientHello* out) {
  // The handshake bytes gathered so far: a view into the first record's fragment while the
  // message lies within it (the usual case), a copy once it spans records.
  std::span<const uint8_t> message;
  std::vector<uint8_t> joined;
  uint16_t record_version = 0;
  size_t pos = 0;
  for (bool first = true;; first = false) {
    // Record header, checked byte by byte so that a stream that is not TLS is refused at once.
    const std::span<const uint8_t> header =
        bytes.subspan(pos, std::min(kRecordHeaderBytes, bytes.size() - pos));
    // RFC 8446 §5.1: handshake messages are not interleaved with other record types.
    if (header.size() >= 1 && header[0] != kContentTypeHandshake) return ParseState::kInvalid;
    if (header.size() >= 2 && header[1] != kVersionMajor) return ParseState::kInvalid;
    size_t record_length = 0;
    if (header.size() >= 5) {
      record_length = static_cast<size_t>((header[3] << 8) | header[4]);
      // RFC 8446 §5.1: no zero-length handshake fragments, none over 2^14 bytes.
      if (record_length == 0 || record_length > kMaxRecordFragment) return ParseState::kInvalid;
    }
    if (header.size() < kRecordHeaderBytes) return ParseState::kNeedsMoreData;
    if (first) record_version = static_cast<uint16_t>((header[1] << 8) | header[2]);
    pos += kRecordHeaderBytes;
    const size_t available = std::min(record_length, bytes.size() - pos);
    const std::span<const uint8_t> fragment = bytes.subspan(pos, available);
    if (first) {
      message = fragment;
    } else {
      if (joined.empty()) joined.assign(message.begin(), message.end());
      joined.insert(joined.end(), fragment.begin(), fragment.end());
      message = joined;
    }
    if (message.size() >= 1 && message[0] != kHandshakeClientHello) return ParseState::kInvalid;
    if (message.size() >= kHandshakeHeaderBytes) {
      const size_t length =
          static_cast<size_t>((message[1] << 16) | (message[2] << 8) | message[3]);
      if (length > kMaxClientHello) return ParseState::kInvalid;
      if (message.size() >= kHandshakeHeaderBytes + length) {
        ClientHello hello;
        hello.record_version = record_version;
        if (!ParseBody(ByteReader(message.subspan(kHandshakeHeaderBytes, length)), &hello)) {
          return ParseState::kInvalid;
        }
        *out = std::move(hello);
        return ParseState::kDone;
      }
    }
    if (available < record_length) return ParseState::kNeedsMoreData;
    pos += record_length;
  }
}

std::string_view VersionName(uint16_t version) {
  switch (version) {
    case 0x0300:
      return "ssl3";
    case 0x0301:
      return "1.0";
    case 0x0302:
      return "1.1";
    case 0x0303:
      return "1.2";
    case 0x0304:
      return "1.3";
    default:
      return "unknown";
  }
}

uint16_t OfferedVersion(const ClientHello& hello) {
  return hello.max_supported_version != 0 ? hello.max_supported_version : hello.legacy_version;
}

}  // namespace ta::analyzer::protocols::tls
