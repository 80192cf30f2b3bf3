#include "analyzer/protocols/tls/client_hello.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ta::analyzer::protocols::tls {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr auto kDone = ParseState::kDone;
constexpr auto kInvalid = ParseState::kInvalid;
constexpr auto kNeedsMoreData = ParseState::kNeedsMoreData;

// Real first flights, captured on 127.0.0.1 by a Python listener that accepted one connection and
// wrote what it received to a file (nothing answered, so each is exactly the ClientHello
// record(s)):
//   kOpenSslTls13:  openssl s_client -connect 127.0.0.1:P -servername api.example.com
//                     -alpn h2,http/1.1 -tls1_3                      (OpenSSL 3.0.19)
//   kOpenSslTls12:  openssl s_client ... -servername api.example.com -alpn http/1.1 -tls1_2
//   kCurlIpTarget:  curl -sk --http2 https://127.0.0.1:P/  (curl 7.88.1: no SNI for an IP address)
//   kCurlSni:       curl -sk --http2 --resolve API.Example.com:P:127.0.0.1
//   https://API.Example.com:P/
//                   (curl lower-cases the name itself)
//   kOpenSslNoSni:  openssl s_client -connect 127.0.0.1:P -noservername   (no ALPN either)
//   kOpenSslTwoRecords: openssl s_client ... -servername api.example.com -tls1_3 -max_send_frag 512
//                   -alpn h2,<200 x 'x'>,<150 x 'y'>,http/1.1: a 614-byte handshake message OpenSSL
//                   sends as a 512-byte record and a 102-byte one.
constexpr std::string_view kOpenSslTls13 =
    "16030101060100010203034a26c90abe99b5d32e618af248069e474ab2fb8ef8889e078c74238407308d2520"
    "b387abf7e615b1e33c446d59c011718478393e52b49d6f2969bad79a81ff9f5f000813021303130100ff0100"
    "00b100000014001200000f6170692e6578616d706c652e636f6d000b000403000102000a00160014001d0017"
    "001e0019001801000101010201030104002300000010000e000c02683208687474702f312e31001600000017"
    "0000000d001e001c040305030603080708080809080a080b080408050806040105010601002b000302030400"
    "2d00020101003300260024001d0020e1efdc0b9c8731d366e1a9f9abf40967dcfec91f60e7a7f2c7b7ca8f81"
    "271d2c";

constexpr std::string_view kOpenSslTls12 =
    "16030100de010000da030359b2c67f375a4f9e123659f2c6c64de648e52fed1123db7b125f8cb6f90a078600"
    "0038c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033"
    "009d009c003d003c0035002f00ff0100007900000014001200000f6170692e6578616d706c652e636f6d000b"
    "000403000102000a000c000a001d0017001e00190018002300000010000b000908687474702f312e31001600"
    "0000170000000d002a0028040305030603080708080809080a080b0804080508060401050106010303030103"
    "02040205020602";

constexpr std::string_view kCurlIpTarget =
    "1603010200010001fc0303d3b50eba35f9195f312d548f729ae65a9d381ad42aab47cf5d8bdf4bc76e36d020"
    "7ec1f2bb131b5dee24c315db0187d64bdebef30f5477d33358df6c406e3ab0aa003e130213031301c02cc030"
    "009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d"
    "003c0035002f00ff01000175000b000403000102000a00160014001d0017001e001900180100010101020103"
    "01040010000e000c02683208687474702f312e31001600000017000000310000000d002a0028040305030603"
    "080708080809080a080b080408050806040105010601030303010302040205020602002b0009080304030303"
    "020301002d00020101003300260024001d00206f468eb0b29b486647116e94e3b719fea16322e01006aab523"
    "45c69beb61654c001500c6000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000";

constexpr std::string_view kCurlSni =
    "1603010200010001fc030394e8599f4a87d731d048b82a1d1cb2b6ea01b0eca067288ace421850e31f1c9c20"
    "aaec11883933146211e448ee42639b7a48326988e13f218fb009509afe15b446003e130213031301c02cc030"
    "009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d"
    "003c0035002f00ff0100017500000014001200000f6170692e6578616d706c652e636f6d000b000403000102"
    "000a00160014001d0017001e00190018010001010102010301040010000e000c02683208687474702f312e31"
    "001600000017000000310000000d002a0028040305030603080708080809080a080b08040805080604010501"
    "0601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d002032"
    "f16ed46927f00005331feb0859a2b61a6c10164850b193743826a157afcf31001500ae000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000";

constexpr std::string_view kOpenSslNoSni =
    "160301012401000120030388775e502dd92760287f3b788e6cec810fafe4e8a54759e7188ea9d709f4c35820"
    "ad7f04dc8d1d0e36d601b65f1ddd8db66d142cbd401635959c2a8ae53da0e2e7003e130213031301c02cc030"
    "009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d"
    "003c0035002f00ff01000099000b000403000102000a00160014001d0017001e001900180100010101020103"
    "0104002300000016000000170000000d002a0028040305030603080708080809080a080b0804080508060401"
    "05010601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d00"
    "202c85fbff9b90dca9b6b639f2c09ba3017f53e2aac79b2d49b1dcc2a7415d1629";

constexpr std::string_view kOpenSslTwoRecords =
    "160301020001000262030322088b06d5176bbc135c1e5cbef993e0c283e15267a86d6b37a5e479cf71841320"
    "840b8183cf5b389fb3f773fbaa149bf83d3dc6e092d12f7a82c83b3759e43e46000813021303130100ff0100"
    "021100000014001200000f6170692e6578616d706c652e636f6d000b000403000102000a00160014001d0017"
    "001e0019001801000101010201030104002300000010016e016c026832c87878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    "7878787878787878787896797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979797979797979797979797979797979"
    "7979797979797979797979797979797979797979797979797979797979086874741603010066702f312e3100"
    "16000000170000000d001e001c040305030603080708080809080a080b080408050806040105010601002b00"
    "03020304002d00020101003300260024001d00201892801c50d3584d821e7a3fc563f9436eb966652c5fdf48"
    "9e8451b7a73d0a6d";

Bytes FromHex(std::string_view hex) {
  auto nibble = [](char c) { return static_cast<uint8_t>(c <= '9' ? c - '0' : c - 'a' + 10); };
  Bytes out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  }
  return out;
}

ParseState Parse(std::span<const uint8_t> bytes, ClientHello* out) {
  return ParseClientHello(bytes, out);
}

// For outcomes only: also checks that *out is left alone unless kDone.
ParseState Parse(std::span<const uint8_t> bytes) {
  ClientHello h;
  h.server_name = "untouched";
  const ParseState state = ParseClientHello(bytes, &h);
  if (state != ParseState::kDone) {
    EXPECT_EQ(h.server_name, "untouched");
  }
  return state;
}

// --- A small builder for synthetic hellos (RFC 8446 §4.1.2 layout). -----------------------------

void PutU8(Bytes* b, size_t v) { b->push_back(static_cast<uint8_t>(v)); }
void PutU16(Bytes* b, size_t v) {
  PutU8(b, v >> 8);
  PutU8(b, v & 0xff);
}
void PutU24(Bytes* b, size_t v) {
  PutU8(b, v >> 16);
  PutU16(b, v & 0xffff);
}
void Append(Bytes* b, const Bytes& more) { b->insert(b->end(), more.begin(), more.end()); }
void Append(Bytes* b, std::string_view more) { b->insert(b->end(), more.begin(), more.end()); }

struct Extension {
  uint16_t type;
  Bytes data;
};

Bytes ServerNameData(std::string_view host, uint8_t name_type = 0) {
  Bytes entry;
  PutU8(&entry, name_type);
  PutU16(&entry, host.size());
  Append(&entry, host);
  Bytes data;
  PutU16(&data, entry.size());
  Append(&data, entry);
  return data;
}

Bytes AlpnData(const std::vector<std::string>& names) {
  Bytes list;
  for (const std::string& name : names) {
    PutU8(&list, name.size());
    Append(&list, name);
  }
  Bytes data;
  PutU16(&data, list.size());
  Append(&data, list);
  return data;
}

Bytes SupportedVersionsData(const std::vector<uint16_t>& versions) {
  Bytes data;
  PutU8(&data, versions.size() * 2);
  for (uint16_t v : versions) PutU16(&data, v);
  return data;
}

struct HelloSpec {
  uint16_t legacy_version = 0x0303;
  size_t session_id_bytes = 32;
  std::vector<uint16_t> cipher_suites = {0x1301, 0x1302, 0xc02f};
  bool with_extensions = true;
  std::vector<Extension> extensions;
};

// The ClientHello body (no handshake header).
Bytes HelloBody(const HelloSpec& spec) {
  Bytes b;
  PutU16(&b, spec.legacy_version);
  for (size_t i = 0; i < 32; ++i) PutU8(&b, 0x40 + i);  // random
  PutU8(&b, spec.session_id_bytes);
  for (size_t i = 0; i < spec.session_id_bytes; ++i) PutU8(&b, 0x11);
  PutU16(&b, spec.cipher_suites.size() * 2);
  for (uint16_t cs : spec.cipher_suites) PutU16(&b, cs);
  PutU8(&b, 1);  // compression methods: null
  PutU8(&b, 0);
  if (!spec.with_extensions) return b;
  Bytes exts;
  for (const Extension& e : spec.extensions) {
    PutU16(&exts, e.type);
    PutU16(&exts, e.data.size());
    Append(&exts, e.data);
  }
  PutU16(&b, exts.size());
  Append(&b, exts);
  return b;
}

Bytes Handshake(const Bytes& body, uint8_t msg_type = 1) {
  Bytes m;
  PutU8(&m, msg_type);
  PutU24(&m, body.size());
  Append(&m, body);
  return m;
}

// `message` as handshake records of at most `fragment` bytes each.
Bytes Records(const Bytes& message, size_t fragment = 16384, uint16_t record_version = 0x0301) {
  Bytes out;
  for (size_t pos = 0; pos < message.size(); pos += fragment) {
    const size_t n = std::min(fragment, message.size() - pos);
    PutU8(&out, 22);
    PutU16(&out, record_version);
    PutU16(&out, n);
    out.insert(out.end(), message.begin() + static_cast<ptrdiff_t>(pos),
               message.begin() + static_cast<ptrdiff_t>(pos + n));
  }
  return out;
}

Bytes Stream(const HelloSpec& spec) { return Records(Handshake(HelloBody(spec))); }

// The handshake bytes carried by a stream of well-formed records (test input only).
Bytes StripRecords(const Bytes& stream) {
  Bytes message;
  for (size_t pos = 0; pos + 5 <= stream.size();) {
    const size_t n = static_cast<size_t>(stream[pos + 3] << 8 | stream[pos + 4]);
    message.insert(message.end(), stream.begin() + static_cast<ptrdiff_t>(pos + 5),
                   stream.begin() + static_cast<ptrdiff_t>(pos + 5 + n));
    pos += 5 + n;
  }
  return message;
}

struct Capture {
  const char* name;
  std::string_view hex;
};
constexpr Capture kCaptures[] = {
    {"openssl_tls13", kOpenSslTls13},  {"openssl_tls12", kOpenSslTls12},
    {"curl_ip_target", kCurlIpTarget}, {"curl_sni", kCurlSni},
    {"openssl_no_sni", kOpenSslNoSni}, {"openssl_two_records", kOpenSslTwoRecords},
};

bool SameHello(const ClientHello& a, const ClientHello& b) {
  return a.record_version == b.record_version && a.legacy_version == b.legacy_version &&
         a.max_supported_version == b.max_supported_version && a.server_name == b.server_name &&
         a.server_name_invalid == b.server_name_invalid && a.alpn == b.alpn;
}

using Alpn = std::vector<std::string>;

// --- Real hellos. ------------------------------------------------------------------------------

TEST(ClientHelloTest, ParsesOpenSslTls13HelloWithSniAndAlpn) {
  const Bytes bytes = FromHex(kOpenSslTls13);
  ClientHello h;
  ASSERT_EQ(Parse(bytes, &h), kDone);
  EXPECT_EQ(h.record_version, 0x0301);
  EXPECT_EQ(h.legacy_version, 0x0303);
  EXPECT_EQ(h.max_supported_version, 0x0304);
  EXPECT_EQ(h.server_name, "api.example.com");
  EXPECT_FALSE(h.server_name_invalid);
  EXPECT_EQ(h.alpn, (Alpn{"h2", "http/1.1"}));
  EXPECT_EQ(OfferedVersion(h), 0x0304);
  EXPECT_EQ(VersionName(OfferedVersion(h)), "1.3");
}

TEST(ClientHelloTest, ParsesOpenSslTls12OnlyHelloByItsLegacyVersion) {
  ClientHello h;
  ASSERT_EQ(Parse(FromHex(kOpenSslTls12), &h), kDone);
  EXPECT_EQ(h.record_version, 0x0301);
  EXPECT_EQ(h.legacy_version, 0x0303);
  EXPECT_EQ(h.max_supported_version, 0);  // -tls1_2: no supported_versions extension
  EXPECT_EQ(h.server_name, "api.example.com");
  EXPECT_EQ(h.alpn, (Alpn{"http/1.1"}));
  EXPECT_EQ(OfferedVersion(h), 0x0303);
  EXPECT_EQ(VersionName(OfferedVersion(h)), "1.2");
}

TEST(ClientHelloTest, ParsesCurlHelloToAnIpAddressWithoutSni) {
  ClientHello h;
  ASSERT_EQ(Parse(FromHex(kCurlIpTarget), &h), kDone);
  EXPECT_EQ(h.record_version, 0x0301);
  EXPECT_EQ(h.legacy_version, 0x0303);
  EXPECT_EQ(h.max_supported_version, 0x0304);  // 0304 0303 0302 0301 listed
  EXPECT_EQ(h.server_name, "");
  EXPECT_FALSE(h.server_name_invalid);
  EXPECT_EQ(h.alpn, (Alpn{"h2", "http/1.1"}));
}

TEST(ClientHelloTest, ParsesCurlHelloWithSni) {
  ClientHello h;
  ASSERT_EQ(Parse(FromHex(kCurlSni), &h), kDone);
  EXPECT_EQ(h.max_supported_version, 0x0304);
  EXPECT_EQ(h.server_name, "api.example.com");
  EXPECT_EQ(h.alpn, (Alpn{"h2", "http/1.1"}));
}

TEST(ClientHelloTest, ParsesOpenSslHelloWithoutSniOrAlpn) {
  ClientHello h;
  ASSERT_EQ(Parse(FromHex(kOpenSslNoSni), &h), kDone);
  EXPECT_EQ(h.max_supported_version, 0x0304);
  EXPECT_EQ(h.server_name, "");
  EXPECT_TRUE(h.alpn.empty());
}

TEST(ClientHelloTest, ReassemblesOpenSslHelloSentInTwoRecords) {
  const Bytes bytes = FromHex(kOpenSslTwoRecords);
  ASSERT_EQ(bytes.size(), 5u + 512u + 5u + 102u);
  ClientHello h;
  EXPECT_EQ(Parse(std::span(bytes).first(5 + 512), &h), kNeedsMoreData);
  ASSERT_EQ(Parse(bytes, &h), kDone);
  EXPECT_EQ(h.max_supported_version, 0x0304);
  EXPECT_EQ(h.server_name, "api.example.com");
  EXPECT_EQ(h.alpn, (Alpn{"h2", std::string(200, 'x'), std::string(150, 'y'), "http/1.1"}));
}

// Every proper prefix is a valid beginning, and nothing is written to *out before kDone.
TEST(ClientHelloTest, EveryPrefixOfARealHelloNeedsMoreData) {
  for (const Capture& c : kCaptures) {
    SCOPED_TRACE(c.name);
    const Bytes bytes = FromHex(c.hex);
    for (size_t n = 0; n < bytes.size(); ++n) {
      ClientHello h;
      h.server_name = "untouched";
      ASSERT_EQ(Parse(std::span(bytes).first(n), &h), kNeedsMoreData) << "prefix " << n;
      ASSERT_EQ(h.server_name, "untouched");
    }
    EXPECT_EQ(Parse(bytes), kDone);
  }
}

// The same handshake message in records of seeded random sizes (and one byte each) parses the
// same; bytes after the hello (a ChangeCipherSpec record, RFC 8446 Appendix D.4) do not matter.
TEST(ClientHelloTest, RefragmentedHellosParseTheSame) {
  std::mt19937 rng(20261124);
  for (const Capture& c : kCaptures) {
    SCOPED_TRACE(c.name);
    const Bytes original = FromHex(c.hex);
    ClientHello want;
    ASSERT_EQ(Parse(original, &want), kDone);
    const Bytes message = StripRecords(original);
    std::vector<size_t> fragments = {1, 2, 3, 4, 5, message.size() - 1};
    for (int i = 0; i < 20; ++i) {
      fragments.push_back(std::uniform_int_distribution<size_t>(1, message.size())(rng));
    }
    for (size_t fragment : fragments) {
      SCOPED_TRACE(fragment);
      Bytes stream = Records(message, fragment);
      const Bytes ccs = {20, 3, 3, 0, 1, 1};
      Append(&stream, ccs);
      ClientHello got;
      ASSERT_EQ(Parse(stream, &got), kDone);
      EXPECT_TRUE(SameHello(got, want));
      // Split at a random point: the part before is a prefix still.
      const size_t cut = std::uniform_int_distribution<size_t>(0, stream.size())(rng);
      const size_t hello_end = stream.size() - ccs.size();
      EXPECT_EQ(Parse(std::span(stream).first(cut), &got),
                cut < hello_end ? kNeedsMoreData : kDone);
    }
  }
}

// A hello whose handshake length is cut to k body bytes, in a record of matching size: well
// framed, but its inner vectors overrun. Only the full body and the body that ends right after
// compression_methods (a hello without extensions, RFC 5246 §7.4.1.2) are ClientHellos.
TEST(ClientHelloTest, BodyTruncatedAtEveryByteIsInvalid) {
  for (const Capture& c : kCaptures) {
    SCOPED_TRACE(c.name);
    const Bytes message = StripRecords(FromHex(c.hex));
    const Bytes body(message.begin() + 4, message.end());
    size_t no_extensions_end = 2 + 32;
    no_extensions_end += 1u + body[no_extensions_end];
    no_extensions_end +=
        2 + static_cast<size_t>(body[no_extensions_end] << 8 | body[no_extensions_end + 1]);
    no_extensions_end += 1u + body[no_extensions_end];
    for (size_t k = 0; k <= body.size(); ++k) {
      const Bytes stream =
          Records(Handshake(Bytes(body.begin(), body.begin() + static_cast<ptrdiff_t>(k))));
      ClientHello h;
      const ParseState state = Parse(stream, &h);
      if (k == body.size()) {
        EXPECT_EQ(state, kDone);
      } else if (k == no_extensions_end) {
        ASSERT_EQ(state, kDone);
        EXPECT_EQ(h.legacy_version, 0x0303);
        EXPECT_EQ(h.max_supported_version, 0);
        EXPECT_EQ(h.server_name, "");
        EXPECT_TRUE(h.alpn.empty());
      } else {
        ASSERT_EQ(state, kInvalid) << "body cut at " << k;
      }
    }
  }
}

// --- GREASE (RFC 8701). ------------------------------------------------------------------------

TEST(ClientHelloTest, IgnoresGreaseValues) {
  HelloSpec spec;
  spec.cipher_suites = {0x7a7a, 0x1301, 0x1302};
  spec.extensions = {
      {0x0a0a, {}},
      {0x0000, ServerNameData("grease.example")},
      {0x0010, AlpnData({"\x3a\x3a", "h2", "http/1.1"})},
      // 0xfafa sorts above 0x0304 and must not win.
      {0x002b, SupportedVersionsData({0xfafa, 0x0304, 0x0303})},
      {0xdada, {0x00}},
  };
  ClientHello h;
  ASSERT_EQ(Parse(Stream(spec), &h), kDone);
  EXPECT_EQ(h.max_supported_version, 0x0304);
  EXPECT_EQ(h.server_name, "grease.example");
  EXPECT_EQ(h.alpn, (Alpn{"h2", "http/1.1"}));
}

TEST(ClientHelloTest, OnlyGreaseSupportedVersionsFallsBackToLegacyVersion) {
  HelloSpec spec;
  spec.extensions = {{0x002b, SupportedVersionsData({0x1a1a})}};
  ClientHello h;
  ASSERT_EQ(Parse(Stream(spec), &h), kDone);
  EXPECT_EQ(h.max_supported_version, 0);
  EXPECT_EQ(OfferedVersion(h), 0x0303);
}

TEST(ClientHelloTest, GreaseValuesAreTheSixteenReservedOnes) {
  int count = 0;
  for (uint32_t v = 0; v <= 0xffff; ++v) {
    if (IsGrease(static_cast<uint16_t>(v))) {
      EXPECT_EQ(v, 0x0a0au + 0x1010u * static_cast<uint32_t>(count));
      ++count;
    }
  }
  EXPECT_EQ(count, 16);
  EXPECT_TRUE(IsGrease(0x0a0a));
  EXPECT_TRUE(IsGrease(0xfafa));
  EXPECT_FALSE(IsGrease(0x0a1a));
  EXPECT_FALSE(IsGrease(0x0304));
}

// --- server_name. ------------------------------------------------------------------------------

TEST(ClientHelloTest, LowerCasesServerName) {
  HelloSpec spec;
  spec.extensions = {{0x0000, ServerNameData("API.Example.COM")}};
  ClientHello h;
  ASSERT_EQ(Parse(Stream(spec), &h), kDone);
  EXPECT_EQ(h.server_name, "api.example.com");
}

TEST(ClientHelloTest, ToleratesUnderscoreAndKeepsFirstHostName) {
  HelloSpec spec;
  Bytes data = ServerNameData("_svc.a-b.example");
  // A second host_name entry appended to the list (the list length grows by its 8 bytes).
  const Bytes second = {0x00, 0x00, 0x05, 'o', 't', 'h', 'e', 'r'};
  Append(&data, second);
  data[1] = static_cast<uint8_t>(data[1] + second.size());
  spec.extensions = {{0x0000, data}};
  ClientHello h;
  ASSERT_EQ(Parse(Stream(spec), &h), kDone);
  EXPECT_EQ(h.server_name, "_svc.a-b.example");
}

// A name we will not record leaves server_name empty but keeps the rest of the hello.
TEST(ClientHelloTest, InvalidHostNameLeavesServerNameEmpty) {
  for (const std::string& name : {std::string("api example.com"), std::string("api\x01.com"),
                                  std::string("caf\xc3\xa9.example"), std::string(256, 'a')}) {
    SCOPED_TRACE(name.size());
    HelloSpec spec;
    spec.extensions = {{0x0000, ServerNameData(name)}, {0x0010, AlpnData({"h2"})}};
    ClientHello h;
    ASSERT_EQ(Parse(Stream(spec), &h), kDone);
    EXPECT_EQ(h.server_name, "");
    EXPECT_TRUE(h.server_name_invalid);
    EXPECT_EQ(h.alpn, (Alpn{"h2"}));
  }
  HelloSpec spec;
  spec.extensions = {{0x0000, ServerNameData(std::string(255, 'a'))}};
  ClientHello h;
  ASSERT_EQ(Parse(Stream(spec), &h), kDone);
  EXPECT_EQ(h.server_name, std::string(255, 'a'));
  EXPECT_FALSE(h.server_name_invalid);
}

// --- Hellos without extensions, at the size bound, with trailing bytes. --------------------------

TEST(ClientHelloTest, ParsesHelloWithoutExtensions) {
  HelloSpec spec;
  spec.legacy_version = 0x0301;
  spec.session_id_bytes = 0;
  spec.with_extensions = false;
  ClientHello h;
  ASSERT_EQ(Parse(Records(Handshake(HelloBody(spec)), 16384, 0x0300), &h), kDone);
  EXPECT_EQ(h.record_version, 0x0300);
  EXPECT_EQ(h.legacy_version, 0x0301);
  EXPECT_EQ(OfferedVersion(h), 0x0301);
  EXPECT_EQ(VersionName(OfferedVersion(h)), "1.0");
}

// A body of exactly kMaxClientHello bytes (with a padding extension, RFC 7685) spans two records
// and parses; one byte more is refused as soon as the handshake header is seen.
TEST(ClientHelloTest, EnforcesTheSizeBound) {
  HelloSpec spec;
  spec.extensions = {{0x0000, ServerNameData("big.example")}, {0x0015, {}}};
  const size_t base = HelloBody(spec).size();
  spec.extensions[1].data.assign(kMaxClientHello - base, 0);
  Bytes body = HelloBody(spec);
  ASSERT_EQ(body.size(), kMaxClientHello);
  ClientHello h;
  ASSERT_EQ(Parse(Records(Handshake(body)), &h), kDone);
  EXPECT_EQ(h.server_name, "big.example");

  spec.extensions[1].data.push_back(0);
  const Bytes too_big = Records(Handshake(HelloBody(spec)));
  EXPECT_EQ(Parse(std::span(too_big).first(5 + 4)), kInvalid);
  EXPECT_EQ(Parse(std::span(too_big).first(5 + 3)), kNeedsMoreData);
}

TEST(ClientHelloTest, DecidesAtTheEndOfTheHelloWhateverFollows) {
  const Bytes message = StripRecords(FromHex(kOpenSslTls13));
  // More bytes inside the hello's own record (the record length covers them).
  Bytes inside = message;
  Append(&inside, Bytes{0xde, 0xad, 0xbe, 0xef});
  const Bytes stream = Records(inside);
  ClientHello h;
  EXPECT_EQ(Parse(std::span(stream).first(stream.size() - 4), &h), kDone);
  EXPECT_EQ(h.server_name, "api.example.com");
  // Application data (0-RTT) after the hello's record.
  Bytes early = FromHex(kOpenSslTls13);
  Append(&early, Bytes{23, 3, 3, 0, 2, 0xaa, 0xbb});
  EXPECT_EQ(Parse(early), kDone);
}

// --- What is not a ClientHello. ------------------------------------------------------------------

Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }

TEST(ClientHelloTest, RefusesStreamsThatAreNotAHandshakeRecord) {
  EXPECT_EQ(Parse(Bytes{}), kNeedsMoreData);
  EXPECT_EQ(Parse(Text("GET / HTTP/1.1\r\n")), kInvalid);
  EXPECT_EQ(Parse(Text("G")), kInvalid);
  EXPECT_EQ(Parse(Text("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")), kInvalid);
  EXPECT_EQ(Parse(Bytes{21, 3, 3, 0, 2, 2, 40}), kInvalid);       // alert
  EXPECT_EQ(Parse(Bytes{20, 3, 3, 0, 1, 1}), kInvalid);           // change_cipher_spec
  EXPECT_EQ(Parse(Bytes{23, 3, 3, 0, 2, 0xaa, 0xbb}), kInvalid);  // application_data
  // An SSLv2-format ClientHello (RFC 5246 Appendix E.2) is not parsed.
  EXPECT_EQ(Parse(Bytes{0x80, 0x2e, 0x01, 0x03, 0x01}), kInvalid);
  EXPECT_EQ(Parse(Bytes{22, 2}), kInvalid);  // record version major 2
  EXPECT_EQ(Parse(Bytes{22, 3}), kNeedsMoreData);
}

TEST(ClientHelloTest, RefusesBadRecordLengths) {
  EXPECT_EQ(Parse(Bytes{22, 3, 1, 0, 0}), kInvalid);        // empty handshake fragment
  EXPECT_EQ(Parse(Bytes{22, 3, 1, 0x40, 0x01}), kInvalid);  // over 2^14
  EXPECT_EQ(Parse(Bytes{22, 3, 1, 0x40, 0x00}), kNeedsMoreData);
  // The second record of a split hello is empty, or not a handshake record.
  const Bytes message = StripRecords(FromHex(kOpenSslTls13));
  Bytes stream = Records(Bytes(message.begin(), message.begin() + 100));
  for (const Bytes& second :
       {Bytes{22, 3, 1, 0, 0}, Bytes{23, 3, 3, 0, 1, 0}, Bytes{21, 3, 3, 0, 2, 2, 40}}) {
    Bytes s = stream;
    Append(&s, second);
    EXPECT_EQ(Parse(s), kInvalid);
  }
}

TEST(ClientHelloTest, RefusesOtherHandshakeMessages) {
  // A ServerHello (type 2), with a body shaped like a hello: refused on its type byte.
  HelloSpec spec;
  const Bytes server_hello = Records(Handshake(HelloBody(spec), 2));
  EXPECT_EQ(Parse(std::span(server_hello).first(6)), kInvalid);
  EXPECT_EQ(Parse(server_hello), kInvalid);
  // A one-byte first record holding only the type byte: 11 is Certificate.
  EXPECT_EQ(Parse(Bytes{22, 3, 3, 0, 1, 11}), kInvalid);
  EXPECT_EQ(Parse(Bytes{22, 3, 3, 0, 1, 1}), kNeedsMoreData);
}

// Each malformation of an otherwise good hello, one at a time.
TEST(ClientHelloTest, RefusesLengthsThatOverrunOrBoundsThatAreViolated) {
  auto good = [] {
    HelloSpec spec;
    spec.extensions = {{0x0000, ServerNameData("api.example.com")},
                       {0x0010, AlpnData({"h2", "http/1.1"})},
                       {0x002b, SupportedVersionsData({0x0304, 0x0303})}};
    return spec;
  };
  ASSERT_EQ(Parse(Stream(good())), kDone);
  // Offsets in the body of good(): version 0, random 2, session id length 34, cipher suites
  // length 67, compression length 75, extensions length 77, first extension 79.
  const Bytes body = HelloBody(good());
  ASSERT_EQ(body[34], 32);
  ASSERT_EQ(body[67], 0);
  ASSERT_EQ(body[68], 6);
  ASSERT_EQ(body[75], 1);
  struct Edit {
    const char* what;
    size_t offset;
    uint8_t value;
  };
  const Edit edits[] = {
      {"legacy_version major 2", 0, 0x02},
      {"session id of 33 bytes", 34, 33},
      {"odd cipher suites length", 68, 5},
      {"cipher suites overrun", 67, 0x01},
      {"no cipher suites", 68, 0},
      {"no compression methods", 75, 0},
      {"extensions overrun", 77, 0xff},
      {"extensions short of the body end", 78, static_cast<uint8_t>(body[78] - 1)},
      {"server_name data overruns", 82, 0xff},
      {"server_name list overruns", 84, 0xff},
      {"server_name type ip", 85, 1},
      {"host name overruns", 87, 0xff},
      {"host name empty", 87, 0},
  };
  for (const Edit& e : edits) {
    SCOPED_TRACE(e.what);
    Bytes b = body;
    b[e.offset] = e.value;
    EXPECT_EQ(Parse(Records(Handshake(b))), kInvalid);
  }
  // Bytes after the extensions (the handshake length covers them).
  Bytes trailing = body;
  trailing.push_back(0);
  EXPECT_EQ(Parse(Records(Handshake(trailing))), kInvalid);
  // A handshake length beyond its record is no overrun: the message goes on in the next record.
  EXPECT_EQ(Parse(Bytes{22, 3, 1, 0, 4, 1, 0, 1, 0}), kNeedsMoreData);
}

TEST(ClientHelloTest, RefusesMalformedExtensionContents) {
  const std::vector<std::pair<const char*, Extension>> bad = {
      {"empty server_name", {0x0000, {}}},
      {"server_name list of zero bytes", {0x0000, {0, 0}}},
      {"server_name with bytes after the list",
       {0x0000,
        [] {
          Bytes d = ServerNameData("a.example");
          d.push_back(0);
          return d;
        }()}},
      {"server_name entry cut short", {0x0000, {0, 3, 0, 0, 9}}},
      {"empty alpn", {0x0010, {}}},
      {"alpn list of one byte", {0x0010, {0, 1, 0}}},
      {"alpn empty name", {0x0010, {0, 3, 0, 1, 'a'}}},
      {"alpn name overruns", {0x0010, {0, 3, 5, 'h', '2'}}},
      {"alpn with bytes after the list", {0x0010, {0, 3, 2, 'h', '2', 0}}},
      {"supported_versions empty", {0x002b, {}}},
      {"supported_versions of zero", {0x002b, {0}}},
      {"supported_versions odd", {0x002b, {3, 3, 4, 3}}},
      {"supported_versions overrun", {0x002b, {4, 3, 4}}},
      {"supported_versions trailing", {0x002b, {2, 3, 4, 0}}},
  };
  for (const auto& [what, extension] : bad) {
    SCOPED_TRACE(what);
    HelloSpec spec;
    spec.extensions = {extension};
    EXPECT_EQ(Parse(Stream(spec)), kInvalid);
  }
}

TEST(ClientHelloTest, RefusesDuplicatedExtensions) {
  for (const Extension& e :
       {Extension{0x0000, ServerNameData("a.example")}, Extension{0x0010, AlpnData({"h2"})},
        Extension{0x002b, SupportedVersionsData({0x0304})}}) {
    HelloSpec spec;
    spec.extensions = {e, {0x0017, {}}, e};
    EXPECT_EQ(Parse(Stream(spec)), kInvalid) << e.type;
    spec.extensions = {e, {0x0017, {}}};
    EXPECT_EQ(Parse(Stream(spec)), kDone) << e.type;
  }
}

TEST(ClientHelloTest, NamesVersions) {
  EXPECT_EQ(VersionName(0x0300), "ssl3");
  EXPECT_EQ(VersionName(0x0301), "1.0");
  EXPECT_EQ(VersionName(0x0302), "1.1");
  EXPECT_EQ(VersionName(0x0303), "1.2");
  EXPECT_EQ(VersionName(0x0304), "1.3");
  EXPECT_EQ(VersionName(0x0305), "unknown");
  EXPECT_EQ(VersionName(0x7f1c), "unknown");  // a TLS 1.3 draft
  EXPECT_EQ(VersionName(0), "unknown");
  ClientHello h;
  h.legacy_version = 0x0303;
  EXPECT_EQ(OfferedVersion(h), 0x0303);
  h.max_supported_version = 0x0304;
  EXPECT_EQ(OfferedVersion(h), 0x0304);
}

}  // namespace
}  // namespace ta::analyzer::protocols::tls
