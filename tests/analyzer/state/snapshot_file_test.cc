#include "analyzer/state/snapshot_file.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace ta::analyzer::state {
namespace {

using namespace std::string_literals;

constexpr uint32_t kSchema = 7;

TEST(Crc32cTest, KnownValues) {
  // The CRC catalogue's check value for CRC-32/ISCSI.
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283U);
  EXPECT_EQ(Crc32c(""), 0U);
  // RFC 3720 Appendix B.4 (the CRC bytes there are listed in transmission order, least
  // significant byte first).
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAU);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43U);
  std::string ascending(32, '\0');
  std::string descending(32, '\0');
  for (size_t i = 0; i < 32; ++i) {
    ascending[i] = static_cast<char>(i);
    descending[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Crc32c(ascending), 0x46DD794EU);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5CU);
}

TEST(SnapshotFileTest, LiteralLayout) {
  const std::string file = EncodeSnapshot("abc", 0x01020304);
  EXPECT_EQ(file,
            "TASNAPv1"
            "\x04\x03\x02\x01"
            "\x03\x00\x00\x00\x00\x00\x00\x00"
            "\xb7\x3f\x4b\x36"  // CRC-32C("abc") = 0x364b3fb7
            "abc"s);
}

TEST(SnapshotFileTest, RoundTrip) {
  for (const std::string& payload : {""s, "x"s, std::string(100000, '\x5a'), "\0\1\2"s}) {
    const DecodedSnapshot d = DecodeSnapshot(EncodeSnapshot(payload, kSchema), kSchema);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d.payload(), payload);
  }
}

TEST(SnapshotFileTest, EveryFlippedByteIsReported) {
  const std::string good = EncodeSnapshot("baselines and detector state", kSchema);
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::string bad = good;
      bad[i] = static_cast<char>(static_cast<uint8_t>(bad[i]) ^ mask);
      const DecodedSnapshot d = DecodeSnapshot(bad, kSchema);
      ASSERT_FALSE(d.ok()) << "byte " << i << " mask " << int{mask};
      SnapshotErrorKind want;
      if (i < 8) {
        want = SnapshotErrorKind::kNotASnapshot;
      } else if (i < 12) {
        want = SnapshotErrorKind::kWrongSchema;
      } else if (i < 20) {
        // A larger length runs past the end, a smaller one leaves bytes over.
        want = static_cast<uint8_t>(bad[i]) > static_cast<uint8_t>(good[i])
                   ? SnapshotErrorKind::kTruncated
                   : SnapshotErrorKind::kTrailingBytes;
      } else {
        want = SnapshotErrorKind::kChecksum;  // the stored CRC or the payload
      }
      EXPECT_EQ(d.error().kind, want) << "byte " << i << ": " << d.error().message;
    }
  }
}

TEST(SnapshotFileTest, EveryTruncationIsReported) {
  const std::string good = EncodeSnapshot("payload", kSchema);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    const DecodedSnapshot d = DecodeSnapshot(std::string_view(good).substr(0, cut), kSchema);
    ASSERT_FALSE(d.ok()) << cut;
    EXPECT_EQ(d.error().kind, SnapshotErrorKind::kTruncated) << cut << ": " << d.error().message;
  }
  EXPECT_EQ(DecodeSnapshot(good.substr(0, 10), kSchema).error().message,
            "truncated: 10 bytes, shorter than the 24-byte snapshot header");
  EXPECT_EQ(DecodeSnapshot(good.substr(0, 27), kSchema).error().message,
            "truncated: header says 7 payload bytes, file has 3");
}

TEST(SnapshotFileTest, TrailingBytes) {
  const DecodedSnapshot d = DecodeSnapshot(EncodeSnapshot("p", kSchema) + "zz", kSchema);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, SnapshotErrorKind::kTrailingBytes);
  EXPECT_EQ(d.error().message, "trailing bytes: header says 1 payload bytes, file has 3");
}

TEST(SnapshotFileTest, ForeignFiles) {
  const std::string yaml = "# traffic-analyzer configuration\ninterfaces: [eth0]\n";
  for (const std::string& foreign : {yaml, "TASNAPv2"s + std::string(40, '\0'),
                                     "\x7f"
                                     "ELF\x02\x01\x01"s,
                                     "T"s + "x"s}) {
    const DecodedSnapshot d = DecodeSnapshot(foreign, kSchema);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().kind, SnapshotErrorKind::kNotASnapshot);
    EXPECT_EQ(d.error().message,
              "not a traffic-analyzer snapshot (it does not start with \"TASNAPv1\")");
  }
}

TEST(SnapshotFileTest, WrongSchemaSaysWhich) {
  const DecodedSnapshot d = DecodeSnapshot(EncodeSnapshot("p", 3), 4);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, SnapshotErrorKind::kWrongSchema);
  EXPECT_EQ(d.error().message, "snapshot schema version 3, this build reads version 4");
  EXPECT_EQ(SnapshotErrorName(d.error().kind), "wrong schema");
}

TEST(SnapshotFileTest, ChecksumMessageHasBothValues) {
  std::string file = EncodeSnapshot("abc", kSchema);
  file.back() = 'd';
  const DecodedSnapshot d = DecodeSnapshot(file, kSchema);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(
      d.error().message, "payload checksum mismatch (CRC-32C stored 0x364b3fb7, computed " + [] {
        char buf[16];
        std::snprintf(buf, sizeof(buf), "0x%08x", Crc32c("abd"));
        return std::string(buf);
      }() + ")");
}

TEST(SnapshotFileTest, HugeDeclaredLengthIsTruncatedNotAllocated) {
  std::string file = EncodeSnapshot("abc", kSchema);
  for (size_t i = 12; i < 20; ++i) file[i] = '\xff';
  const DecodedSnapshot d = DecodeSnapshot(file, kSchema);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, SnapshotErrorKind::kTruncated);
  EXPECT_EQ(d.error().message,
            "truncated: header says 18446744073709551615 payload bytes, "
            "file has 3");
}

}  // namespace
}  // namespace ta::analyzer::state
