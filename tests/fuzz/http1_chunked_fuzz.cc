// The chunked transfer coding decoder (analyzer/protocols/http1/chunked_decoder.h) on arbitrary
// bytes, fed in input-chosen pieces, with uncaptured stretches of chunk data (SkipData).
//
// Input: [line bound selector: 1 byte][piece seed: 8 bytes][body bytes...]
// The same body is decoded twice: at once, and in pieces chosen by the seed, where some
// stretches of chunk data are skipped instead of consumed (as a gap in the capture is). Chunked
// framing does not depend on how bytes arrive, so both runs must see the same messages end at
// the same offsets with the same sizes, and both or neither must find the coding invalid.
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "analyzer/protocols/http1/chunked_decoder.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using ta::analyzer::protocols::ParseState;
using ta::analyzer::protocols::http1::ChunkedDecoder;

struct Outcome {
  std::vector<std::pair<size_t, uint64_t>> messages;  // (end offset, body bytes)
  bool invalid = false;
};

// splitmix64: cheap, and any seed gives a different split.
uint64_t Next(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Consumes `piece` (which starts at stream offset `base`). False once the coding is invalid.
bool Feed(ChunkedDecoder& decoder, std::string_view piece, size_t base, uint64_t& last_body,
          Outcome& out) {
  const ta::fuzz::ExactBytes copy(piece);
  std::string_view rest = copy.view();
  while (!rest.empty()) {
    const ChunkedDecoder::Result r = decoder.Consume(rest);
    TA_FUZZ_CHECK(r.consumed <= rest.size());
    // The decoded size only grows within a message (a sum of chunk sizes).
    TA_FUZZ_CHECK(decoder.body_bytes() >= last_body);
    last_body = decoder.body_bytes();
    switch (r.state) {
      case ParseState::kNeedsMoreData:
        TA_FUZZ_CHECK(r.consumed == rest.size());
        break;
      case ParseState::kDone:
        out.messages.emplace_back(base + (piece.size() - rest.size()) + r.consumed,
                                  decoder.body_bytes());
        decoder.Reset();
        last_body = 0;
        break;
      case ParseState::kInvalid:
        out.invalid = true;
        return false;
      case ParseState::kEndOfStream:
        TA_FUZZ_CHECK(false);
    }
    rest.remove_prefix(r.consumed);
  }
  return true;
}

}  // namespace

TA_FUZZ_TARGET(http1_chunked) {
  static constexpr uint32_t kLineBounds[] = {1, 2, 8, 16, 64, 1024, 64 * 1024};
  ta::fuzz::FuzzInput in(data, size);
  const uint32_t max_line = in.Pick(kLineBounds);
  uint64_t seed = in.Take<uint64_t>();
  const std::string_view body = ta::fuzz::AsText(in.TakeRest());

  Outcome whole;
  {
    ChunkedDecoder decoder(max_line);
    uint64_t last_body = 0;
    Feed(decoder, body, 0, last_body, whole);
  }

  Outcome pieces;
  {
    ChunkedDecoder decoder(max_line);
    uint64_t last_body = 0;
    // Piece sizes up to 1, 2, 4 ... 128 bytes, or whole-input pieces.
    const uint64_t max_piece = (seed & 7) == 7 ? body.size() + 1 : 1ULL << (seed & 7);
    size_t pos = 0;
    while (pos < body.size()) {
      const uint64_t r = Next(seed);
      const uint64_t in_chunk = decoder.data_remaining();
      if (in_chunk > 0 && r % 4 == 0) {
        // These bytes were not captured: only their count is known.
        const uint64_t skip = std::min<uint64_t>(1 + (r >> 8) % in_chunk, body.size() - pos);
        decoder.SkipData(skip);
        TA_FUZZ_CHECK(decoder.data_remaining() == in_chunk - skip);
        pos += static_cast<size_t>(skip);
        continue;
      }
      const size_t len = static_cast<size_t>(std::min<uint64_t>(1 + (r >> 8) % max_piece,
                                                                body.size() - pos));
      if (!Feed(decoder, body.substr(pos, len), pos, last_body, pieces)) break;
      pos += len;
    }
  }

  TA_FUZZ_CHECK(whole.messages == pieces.messages);
  TA_FUZZ_CHECK(whole.invalid == pieces.invalid);
}
