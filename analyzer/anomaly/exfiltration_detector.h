// Exfiltration: one client moving far more random-looking (encrypted) body bytes over a route in
// one window than clients of that route usually do.
//
// Why these signals: data stolen through an application is usually packed and encrypted before
// it leaves (an archive, a dump), so its bytes look uniformly random, while API payloads (JSON,
// HTML, text) sit at 4-6 bits/byte once their Content-Encoding is undone. Randomness alone is not
// enough (some routes legitimately serve encrypted blobs), so the detector compares a client's
// random-looking bytes in a window with what clients of the same route usually move.
//
// Per exchange, each body sample (request and response):
//  - skipped (counted) when its media type is compressed by design (IsOpaqueMediaType: images,
//    audio, video, fonts, archives, PDF), when its Content-Encoding cannot be undone (br, zstd,
//    unknown) or is corrupt, or when fewer than min_sample_bytes decoded bytes remain (the
//    Miller-Madow corrected entropy of fewer bytes is too noisy, see stats/entropy.h);
//  - otherwise scored: the corrected entropy of the decoded prefix (gzip/deflate inflated by
//    ContentDecoder, at most kMaxDecodedBytes). The body counts as random when that entropy is
//    above entropy_bits; its size is the transferred body size when known (request/response
//    _body_bytes), else the sample size.
// The entropy threshold is read from the ThresholdTable when the window closes (an override
// applies to the whole window), so the scored entropies wait with their exchange until then.
//
// Per (port, route, client, window): random bytes and exchanges. Baseline per (port, route): an
// EWMA (half_life_ns) of random bytes per active client per window: every client with at least
// one exchange on the route in the window is one sample (most are 0), added at the window's end.
// A client's sample is not added in a window where it fires, nor while its own anomaly is active
// (ctx.is_active), so an exfiltration never teaches itself as normal, even when the attacker is
// the route's only client. (The price: a route whose only client legitimately pulls large
// random bodies stays in one active anomaly until that stops; such content types are better
// listed as opaque media, see content_decoding.h.)
//
// Finding (subject = client, severity critical) when the client's random bytes in the window
// reach max(min_bytes, size_jump x baseline). There is no warm-up: on a route without history
// the baseline is 0 and min_bytes alone decides, because exfiltration through a route nobody
// normally pulls random bytes from is exactly the case to catch. observed = random bytes,
// baseline = the route's mean, threshold = size_jump, score = size_jump x observed / the byte
// threshold (score >= threshold exactly when it fires).
//
// Bounds: exchanges wait for their window in a buffer of at most kMaxPendingExchanges, and at
// most kMaxRoutes (port, route) baselines exist; beyond either, counted in overflow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "analyzer/anomaly/content_decoding.h"
#include "analyzer/anomaly/detector.h"
#include "analyzer/stats/ewma.h"

namespace ta::analyzer::anomaly {

class ExfiltrationDetector final : public Detector {
 public:
  // Decoded bytes scored per body: twice the analyzer's default 4 KiB sample, so an identity
  // sample is scored whole, while a gzip'd sample (often 5x as much text) is cut. 8 KiB is 32
  // bytes per histogram bin, plenty to tell 7.9 from 6 bits/byte; the bound also caps what a
  // decompression bomb costs (inflating and counting 8 KiB of JSON: about 40 us on a shared VM).
  static constexpr size_t kMaxDecodedBytes = 8 * 1024;
  static constexpr size_t kMaxPendingExchanges = size_t{1} << 19;
  static constexpr size_t kMaxRoutes = 4096;

  // Why bodies were not scored; their sum is counters().skipped. Empty bodies are not counted.
  struct SkipCounts {
    uint64_t opaque_media_type = 0;
    uint64_t unsupported_encoding = 0;
    uint64_t decode_error = 0;
    uint64_t too_small = 0;
    uint64_t late = 0;  // exchanges older than the window being closed (engine contract breach)
  };

  explicit ExfiltrationDetector(const ExfiltrationConfig& config);

  DetectorKind kind() const override { return DetectorKind::kExfiltration; }
  void OnExchange(const ExchangeFacts& facts) override;
  void CloseWindow(const WindowContext& ctx, std::vector<Finding>& out) override;
  double LearnedFraction() const override;
  const DetectorCounters& counters() const override { return counters_; }
  void Save(state::Writer& out) const override;
  bool Load(state::Reader& in) override;

  const SkipCounts& skips() const { return skips_; }
  // The route's baseline (mean random bytes per client per window); nothing when never learnt.
  std::optional<double> Baseline(uint16_t port, std::string_view route) const;
  // Samples (client windows) the route's baseline has taken.
  uint64_t BaselineSamples(uint16_t port, std::string_view route) const;

 private:
  struct PairKey {
    uint16_t port = 0;
    std::string route;
    ClientAddress client;
    bool operator==(const PairKey&) const = default;
  };
  struct PairKeyHash {
    size_t operator()(const PairKey& key) const;
  };
  struct RouteKey {
    uint16_t port = 0;
    std::string route;
    bool operator==(const RouteKey&) const = default;
  };
  struct RouteKeyHash {
    size_t operator()(const RouteKey& key) const;
  };
  struct Pair {
    PairKey key;
    std::string method;  // of the pair's first exchange, for the explanation
  };
  // An exchange waiting for its window. Entropy < 0: the body was not scored.
  struct Pending {
    uint64_t wall_ns = 0;
    uint64_t request_bytes = 0;
    uint64_t response_bytes = 0;
    float request_entropy = -1.0F;
    float response_entropy = -1.0F;
    uint32_t pair = 0;
  };

  // Scores one body: its corrected entropy, or a negative value when skipped.
  float ScoreBody(const BodySample& body);
  uint32_t PairId(const ExchangeFacts& facts);

  ExfiltrationConfig config_;
  ContentDecoder decoder_;
  std::vector<Pair> pairs_;
  std::unordered_map<PairKey, uint32_t, PairKeyHash> pair_ids_;
  std::vector<Pending> pending_;
  std::unordered_map<RouteKey, stats::Ewma, RouteKeyHash> baselines_;
  DetectorCounters counters_;
  SkipCounts skips_;
};

}  // namespace ta::analyzer::anomaly
