#include "analyzer/state/snapshot_file.h"

#include <array>
#include <cstdio>

#include "analyzer/state/codec.h"

namespace ta::analyzer::state {
namespace {

// Byte-at-a-time table for the reflected Castagnoli polynomial (RFC 3720 §12.1: generator
// 0x11EDC6F41; bit-reversed without the x^32 term it is 0x82F63B78). Entry i is the CRC of the
// single byte i shifted through eight rounds of the LSB-first division.
constexpr std::array<uint32_t, 256> MakeCrc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1U) != 0 ? 0x82F63B78U : 0U);
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = MakeCrc32cTable();

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

}  // namespace

uint32_t Crc32c(std::string_view bytes) {
  uint32_t crc = 0xFFFFFFFFU;
  for (char c : bytes) {
    crc = (crc >> 8) ^ kCrc32cTable[(crc ^ static_cast<uint8_t>(c)) & 0xFFU];
  }
  return crc ^ 0xFFFFFFFFU;
}

std::string_view SnapshotErrorName(SnapshotErrorKind kind) {
  switch (kind) {
    case SnapshotErrorKind::kNotASnapshot:
      return "not a snapshot";
    case SnapshotErrorKind::kWrongSchema:
      return "wrong schema";
    case SnapshotErrorKind::kTruncated:
      return "truncated";
    case SnapshotErrorKind::kTrailingBytes:
      return "trailing bytes";
    case SnapshotErrorKind::kChecksum:
      return "checksum mismatch";
  }
  return "unknown";
}

std::string EncodeSnapshot(std::string_view payload, uint32_t schema_version) {
  Writer header;
  header.Tag(kSnapshotMagic.substr(0, 4));
  header.Tag(kSnapshotMagic.substr(4, 4));
  header.U32(schema_version);
  header.U64(payload.size());
  header.U32(Crc32c(payload));
  std::string out = header.Take();
  out.append(payload);
  return out;
}

DecodedSnapshot DecodeSnapshot(std::string_view file, uint32_t expected_schema) {
  using Kind = SnapshotErrorKind;
  // A file that is a strict prefix of our magic (including an empty one) is a torn snapshot, not
  // a foreign file.
  const std::string_view head = file.substr(0, kSnapshotMagic.size());
  if (head != kSnapshotMagic.substr(0, head.size())) {
    return SnapshotError{Kind::kNotASnapshot,
                         "not a traffic-analyzer snapshot (it does not start with \"TASNAPv1\")"};
  }
  if (file.size() < kSnapshotHeaderSize) {
    return SnapshotError{Kind::kTruncated,
                         "truncated: " + std::to_string(file.size()) + " bytes, shorter than the " +
                             std::to_string(kSnapshotHeaderSize) + "-byte snapshot header"};
  }
  Reader header(file.substr(kSnapshotMagic.size(), kSnapshotHeaderSize - kSnapshotMagic.size()));
  const uint32_t schema = header.U32();
  const uint64_t length = header.U64();
  const uint32_t stored_crc = header.U32();
  if (schema != expected_schema) {
    return SnapshotError{Kind::kWrongSchema, "snapshot schema version " + std::to_string(schema) +
                                                 ", this build reads version " +
                                                 std::to_string(expected_schema)};
  }
  const uint64_t have = file.size() - kSnapshotHeaderSize;
  if (length > have) {
    return SnapshotError{Kind::kTruncated, "truncated: header says " + std::to_string(length) +
                                               " payload bytes, file has " + std::to_string(have)};
  }
  if (length < have) {
    return SnapshotError{Kind::kTrailingBytes,
                         "trailing bytes: header says " + std::to_string(length) +
                             " payload bytes, file has " + std::to_string(have)};
  }
  const std::string_view payload = file.substr(kSnapshotHeaderSize);
  const uint32_t crc = Crc32c(payload);
  if (crc != stored_crc) {
    return SnapshotError{Kind::kChecksum, "payload checksum mismatch (CRC-32C stored " +
                                              Hex32(stored_crc) + ", computed " + Hex32(crc) + ")"};
  }
  return DecodedSnapshot(std::string(payload));
}

}  // namespace ta::analyzer::state
