// TLS ClientHello parsing (analyzer/protocols/tls/client_hello.h) on arbitrary bytes.
//
// Input: one control byte, then the payload.
//   control bit 0 clear: the payload is a client's stream as is (TLS records).
//   control bit 0 set:   the payload is a ClientHello body; the target adds the handshake header
//                        and frames it in records itself, so the mutator works on the body's
//                        fields without having to keep record and handshake lengths right.
//   control bits 1-7 (k): where the prefix check splits the stream (k/127 of its size), and in
//                        body mode the record size (1 + 4k bytes; k == 0: whole 2^14-byte records).
// Seeds (corpus/tls_client_hello/): captured openssl and curl first flights with control 0x40,
// and two of their bodies with control 0x09.
// Besides not crashing, the parser must agree with itself: a parsed hello satisfies the bounds the
// RFCs put on its fields; a verdict reached on a prefix is the verdict on the whole stream (more
// bytes never change a decision); the same body parses the same however it is split into records;
// *out is written only on kDone.
#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "analyzer/protocols/tls/client_hello.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::protocols::ParseState;
using ta::analyzer::protocols::tls::ClientHello;

constexpr char kSentinel[] = "untouched";

bool Same(const ClientHello& a, const ClientHello& b) {
  return a.record_version == b.record_version && a.legacy_version == b.legacy_version &&
         a.max_supported_version == b.max_supported_version && a.server_name == b.server_name &&
         a.server_name_invalid == b.server_name_invalid && a.alpn == b.alpn;
}

void CheckFields(const ClientHello& h) {
  using ta::analyzer::protocols::tls::IsGrease;
  TA_FUZZ_CHECK(h.record_version >> 8 == 3);
  TA_FUZZ_CHECK(h.legacy_version >> 8 == 3);
  TA_FUZZ_CHECK(!IsGrease(h.max_supported_version));
  TA_FUZZ_CHECK(h.server_name.size() <= ta::analyzer::protocols::tls::kMaxServerNameBytes);
  TA_FUZZ_CHECK(!(h.server_name_invalid && !h.server_name.empty()));
  for (char c : h.server_name) {
    TA_FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == '_');
  }
  for (const std::string& name : h.alpn) {
    TA_FUZZ_CHECK(!name.empty() && name.size() <= 255);
    TA_FUZZ_CHECK(!(name.size() == 2 && name[0] == name[1] && (name[0] & 0x0f) == 0x0a));
  }
  const uint16_t offered = ta::analyzer::protocols::tls::OfferedVersion(h);
  TA_FUZZ_CHECK(offered ==
                (h.max_supported_version != 0 ? h.max_supported_version : h.legacy_version));
  TA_FUZZ_CHECK(!ta::analyzer::protocols::tls::VersionName(offered).empty());
}

// Parses an exact-size copy; checks the fields on kDone and that *out is untouched otherwise.
ParseState Parse(std::span<const uint8_t> bytes, ClientHello* out) {
  const ta::fuzz::ExactBytes copy(bytes);
  out->server_name = kSentinel;
  const ParseState state = ta::analyzer::protocols::tls::ParseClientHello(copy.span(), out);
  TA_FUZZ_CHECK(state == ParseState::kNeedsMoreData || state == ParseState::kDone ||
                state == ParseState::kInvalid);
  if (state == ParseState::kDone) {
    CheckFields(*out);
  } else {
    TA_FUZZ_CHECK(out->server_name == kSentinel);
  }
  return state;
}

// The whole stream and its first `split` bytes.
ParseState CheckStream(std::span<const uint8_t> stream, size_t split, ClientHello* whole) {
  const ParseState state = Parse(stream, whole);
  ClientHello prefix;
  const ParseState prefix_state = Parse(stream.first(split), &prefix);
  if (prefix_state != ParseState::kNeedsMoreData) {
    TA_FUZZ_CHECK(prefix_state == state);
    if (state == ParseState::kDone) TA_FUZZ_CHECK(Same(prefix, *whole));
  }
  return state;
}

std::vector<uint8_t> Frame(std::span<const uint8_t> body, size_t fragment) {
  std::vector<uint8_t> message = {1, static_cast<uint8_t>(body.size() >> 16),
                                  static_cast<uint8_t>(body.size() >> 8),
                                  static_cast<uint8_t>(body.size())};
  message.insert(message.end(), body.begin(), body.end());
  std::vector<uint8_t> out;
  for (size_t pos = 0; pos < message.size(); pos += fragment) {
    const size_t n = std::min(fragment, message.size() - pos);
    out.insert(out.end(), {22, 3, 1, static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)});
    out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(pos),
               message.begin() + static_cast<std::ptrdiff_t>(pos + n));
  }
  return out;
}

}  // namespace

TA_FUZZ_TARGET(tls_client_hello) {
  ta::fuzz::FuzzInput in(data, size);
  const uint8_t control = in.TakeByte();
  const std::span<const uint8_t> payload = in.TakeRest();
  const size_t k = control >> 1;

  if ((control & 1) == 0) {
    ClientHello hello;
    CheckStream(payload, payload.size() * k / 127, &hello);
    return;
  }

  // Body mode. Bodies beyond the 24-bit handshake length cannot be framed; fuzz inputs that
  // large are not produced with the default -max_len anyway.
  if (payload.size() > 0xffffff) return;
  constexpr size_t kWholeRecords = size_t{1} << 14;
  const std::vector<uint8_t> whole = Frame(payload, kWholeRecords);
  const std::vector<uint8_t> pieces = Frame(payload, k == 0 ? kWholeRecords : 1 + 4 * k);
  ClientHello a, b;
  const ParseState state_a = CheckStream(whole, whole.size() * k / 127, &a);
  const ParseState state_b = CheckStream(pieces, pieces.size() * k / 127, &b);
  // A complete message is never a prefix, and its framing does not change the verdict.
  TA_FUZZ_CHECK(state_a != ParseState::kNeedsMoreData);
  TA_FUZZ_CHECK(state_a == state_b);
  if (state_a == ParseState::kDone) TA_FUZZ_CHECK(Same(a, b));
  if (payload.size() > ta::analyzer::protocols::tls::kMaxClientHello) {
    TA_FUZZ_CHECK(state_a == ParseState::kInvalid);
  }
}
