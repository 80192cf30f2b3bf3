// The file container around an encoded state payload (codec.h): what makes a snapshot file
// recognisable, versioned and checksummed, so that a restart can tell "my state" from a foreign
// file, a snapshot of another schema, a torn or truncated write, and flipped bits.
//
// Layout (all integers little-endian, 24-byte header):
//   offset  0  8 bytes  magic "TASNAPv1"
//   offset  8  u32      schema version of the payload (owned by the writer, e.g. the engine)
//   offset 12  u64      payload length in bytes
//   offset 20  u32      CRC-32C of the payload
//   offset 24  payload
// The checksum is CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the one
// iSCSI uses (RFC 3720 §12.1 and the test vectors of Appendix B.4): it detects every burst error
// up to 32 bits and every odd number of flipped bits. The header fields are checked by value
// (magic, schema, length against the file size), so every single flipped byte of a snapshot is
// reported either as a header error or as a checksum mismatch.
//
// Pure functions: no I/O (agent/state_store.h reads and writes the files).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ta::analyzer::state {

inline constexpr std::string_view kSnapshotMagic = "TASNAPv1";
inline constexpr size_t kSnapshotHeaderSize = 24;

// CRC-32C (Castagnoli) of `bytes`, standard form (initial value and final XOR 0xFFFFFFFF):
// Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(std::string_view bytes);

enum class SnapshotErrorKind {
  kNotASnapshot,   // the magic does not match: a foreign file (or not ours at all)
  kWrongSchema,    // ours, but a different schema version
  kTruncated,      // shorter than the header or than the declared payload
  kTrailingBytes,  // longer than the declared payload
  kChecksum,       // the payload's CRC-32C differs from the stored one
};

// "not a snapshot", "wrong schema", "truncated", "trailing bytes", "checksum mismatch".
std::string_view SnapshotErrorName(SnapshotErrorKind kind);

struct SnapshotError {
  SnapshotErrorKind kind = SnapshotErrorKind::kNotASnapshot;
  std::string message;  // what is wrong, with the numbers (e.g. both schema versions)
};

// Either the payload or why there is none.
class DecodedSnapshot {
 public:
  DecodedSnapshot(std::string payload) : v_(std::move(payload)) {}  // NOLINT(runtime/explicit)
  DecodedSnapshot(SnapshotError error) : v_(std::move(error)) {}    // NOLINT(runtime/explicit)

  bool ok() const { return std::holds_alternative<std::string>(v_); }
  const std::string& payload() const { return std::get<std::string>(v_); }
  std::string& payload() { return std::get<std::string>(v_); }
  const SnapshotError& error() const { return std::get<SnapshotError>(v_); }

 private:
  std::variant<std::string, SnapshotError> v_;
};

// Wraps `payload` into a snapshot file image.
std::string EncodeSnapshot(std::string_view payload, uint32_t schema_version);

// Checks a whole file image and returns its payload; never reads out of bounds, never allocates
// more than the file's own size.
DecodedSnapshot DecodeSnapshot(std::string_view file, uint32_t expected_schema);

}  // namespace ta::analyzer::state
