// The exfiltration detector on synthetic exchanges: exact windows, exact findings, no finding for
// text and compressed text, and the baseline's freeze and persistence.
#include "analyzer/anomaly/exfiltration_detector.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "analyzer/anomaly/engine.h"
#include "analyzer/state/codec.h"
#include "analyzer/stats/entropy.h"
#include "fmt/format.h"
#include "tests/analyzer/anomaly/anomaly_support.h"

namespace ta::analyzer::anomaly {
namespace {

using test_support::Client;
using test_support::kEpoch;
using test_support::kSecond;

constexpr uint64_t kWindow = 5 * kSecond;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kKiB = 1024;

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() >> 56);
  return out;
}

// A JSON array of user records with varied numbers: compresses like a real API response.
std::string Json(size_t records, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out = "[";
  for (size_t i = 0; i < records; ++i) {
    if (i != 0) out += ',';
    out += fmt::format(
        "{{\"id\":{},\"name\":\"user-{}\",\"email\":\"u{}@example.com\",\"balance\":{}.{:02d},"
        "\"active\":{}}}",
        rng() % 100000, rng() % 10000, rng() % 10000, rng() % 100000, rng() % 100,
        rng() % 2 == 0 ? "true" : "false");
  }
  return out + "]";
}

std::string Html() {
  std::string out = "<!doctype html><html><head><title>Orders</title></head><body><table>";
  for (int i = 0; i < 60; ++i) {
    out += fmt::format(
        "<tr><td class=\"id\">{}</td><td>Order for customer {}</td>"
        "<td class=\"total\">{}.99 EUR</td></tr>",
        1000 + i, i * 37 % 101, i * 13 % 500);
  }
  return out + "</table></body></html>";
}

std::string Gzip(std::string_view in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

double Entropy(std::string_view bytes) {
  stats::ByteEntropy e;
  e.Add(bytes);
  return e.EntropyCorrected();
}

BodySample Sample(std::string bytes, std::string encoding, std::string type) {
  BodySample body;
  body.bytes = std::move(bytes);
  body.content_encoding = std::move(encoding);
  body.content_type = std::move(type);
  return body;
}

HttpExchange Download(const ClientAddress& client, const std::string& route, uint64_t end_ns,
                      BodySample body, std::optional<uint64_t> size) {
  HttpExchange e = test_support::Exchange(client, 80, route, 200, end_ns);
  e.response_body = std::move(body);
  e.response_body_bytes = size;
  return e;
}

HttpExchange Upload(const ClientAddress& client, const std::string& route, uint64_t end_ns,
                    BodySample body, std::optional<uint64_t> size) {
  HttpExchange e = test_support::Exchange(client, 80, route, 201, end_ns);
  e.method = "POST";
  e.request_body = std::move(body);
  e.request_body_bytes = size;
  return e;
}

using Harness = test_support::DetectorHarness;

const ClientAddress kAttacker = Client(0, 9);

// One window of ordinary API traffic on `route`: each of `clients` clients gets a plain JSON
// response, a gzip'd JSON response and an HTML page, all declared 300 KiB (so a wrong verdict
// of "random" would exceed min_bytes at once).
void NormalWindow(Harness& h, const std::string& route, uint64_t start, int clients) {
  for (int c = 0; c < clients; ++c) {
    const ClientAddress client = Client(1, static_cast<uint8_t>(1 + c));
    const uint64_t t = start + static_cast<uint64_t>(c + 1) * 100'000'000;
    const std::string json = Json(60, static_cast<uint64_t>(c));
    h.Feed(Download(client, route, t, Sample(json, "", "application/json"), 300 * kKiB));
    h.Feed(Download(
        client, route, t + 1,
        Sample(Gzip(Json(200, 100 + static_cast<uint64_t>(c))), "gzip", "application/json"),
        300 * kKiB));
    h.Feed(Download(client, route, t + 2, Sample(Html(), "", "text/html"), 300 * kKiB));
  }
}

TEST(ExfiltrationDetectorTest, TextAndCompressedTextNeverFire) {
  // Preconditions that make this test able to fail: the gzip'd JSON as transferred looks random,
  // and the plain samples are long enough to be scored.
  const std::string gz = Gzip(Json(200, 100));
  ASSERT_GE(gz.size(), 1024u);
  ASSERT_GT(Entropy(gz), 7.5);
  ASSERT_GE(Json(60, 0).size(), 1024u);
  ASSERT_GE(Html().size(), 1024u);

  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  for (int w = 0; w < 24; ++w) {
    const uint64_t start = kEpoch + static_cast<uint64_t>(w) * kWindow;
    NormalWindow(h, "/api/users", start, 10);
    EXPECT_TRUE(h.Close(start).empty()) << "window " << w;
  }
  EXPECT_EQ(detector.counters().scored, 24u * 10 * 3);
  EXPECT_EQ(detector.counters().skipped, 0u);
  EXPECT_EQ(detector.counters().overflow, 0u);
  EXPECT_EQ(detector.Baseline(80, "/api/users"), 0.0);
  EXPECT_EQ(detector.BaselineSamples(80, "/api/users"), 24u * 10);
  EXPECT_DOUBLE_EQ(detector.LearnedFraction(), 1.0);
}

TEST(ExfiltrationDetectorTest, ADumpFiresInItsWindowOnlyAndFreezesItsOwnBaseline) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string route = "/api/export";
  const std::string random = RandomBytes(4096, 1);
  const std::string entropy = fmt::format("{:.2f}", static_cast<float>(Entropy(random)));
  ASSERT_GT(Entropy(random), 7.9);

  for (int w = 0; w < 16; ++w) {
    const uint64_t start = kEpoch + static_cast<uint64_t>(w) * kWindow;
    NormalWindow(h, route, start, 10);
    // From window 12 to 13 the attacker pulls three 1 MiB random responses per window.
    if (w == 12 || w == 13) {
      for (uint64_t i = 0; i < 3; ++i) {
        h.Feed(Download(kAttacker, route, start + (2 + i) * kSecond,
                        Sample(random, "", "application/octet-stream"), kMiB));
      }
    }
    const std::vector<Finding> findings = h.Close(start);
    if (w != 12 && w != 13) {
      EXPECT_TRUE(findings.empty()) << "window " << w;
      continue;
    }
    ASSERT_EQ(findings.size(), 1u) << "window " << w;
    const Finding& f = findings[0];
    EXPECT_EQ(f.subject, kAttacker);
    EXPECT_EQ(f.observed, 3.0 * kMiB);
    if (w == 13) {
      // Neither firing window was learnt (the one that fired, then the active one): the
      // baseline is still the normal clients' zero, 10 samples per window.
      EXPECT_EQ(f.baseline, 0.0);
      EXPECT_EQ(detector.BaselineSamples(80, route), 14u * 10);
      continue;
    }
    EXPECT_EQ(f.port, 80);
    EXPECT_EQ(f.route, route);
    EXPECT_EQ(f.severity, Severity::kCritical);
    EXPECT_EQ(f.baseline, 0.0);
    EXPECT_EQ(f.threshold, 4.0);
    EXPECT_DOUBLE_EQ(f.score, 4.0 * 3.0 * kMiB / (256.0 * kKiB));
    EXPECT_EQ(f.unit, "bytes");
    ASSERT_EQ(f.clients.size(), 1u);
    EXPECT_EQ(f.clients[0].client, kAttacker);
    EXPECT_EQ(f.clients[0].count, 3u);
    EXPECT_EQ(f.explanation, "198.18.0.9 pulled 3.0 MiB of random-looking (" + entropy +
                                 " bits/byte) responses from GET /api/export in 5 s, where "
                                 "clients of the route usually move none");
    EXPECT_EQ(detector.BaselineSamples(80, route), 13u * 10);
    h.Activate(f);
  }
  EXPECT_EQ(detector.BaselineSamples(80, route), 16u * 10);
  EXPECT_EQ(detector.counters().scored, 16u * 10 * 3 + 6);
}

// Eight clients each pull one 64 KiB random blob per window (a route serving encrypted files):
// the baseline is exactly 64 KiB per client, and a client pulling 48 of them stands out.
TEST(ExfiltrationDetectorTest, AJumpOverARandomRoutesBaselineFires) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string route = "/api/blobs";
  const std::string random = RandomBytes(4096, 2);
  const std::string entropy = fmt::format("{:.2f}", static_cast<float>(Entropy(random)));
  auto regular_window = [&](uint64_t start) {
    for (uint8_t c = 1; c <= 8; ++c) {
      h.Feed(Download(Client(1, c), route, start + c * 100'000'000,
                      Sample(random, "", "application/octet-stream"), 64 * kKiB));
    }
  };
  for (int w = 0; w < 20; ++w) {
    const uint64_t start = kEpoch + static_cast<uint64_t>(w) * kWindow;
    regular_window(start);
    EXPECT_TRUE(h.Close(start).empty()) << "window " << w;
  }
  EXPECT_EQ(detector.Baseline(80, route), 64.0 * kKiB);

  const uint64_t start = kEpoch + 20 * kWindow;
  regular_window(start);
  for (uint64_t i = 0; i < 48; ++i) {
    h.Feed(Download(kAttacker, route, start + 2 * kSecond + i,
                    Sample(random, "", "application/octet-stream"), 64 * kKiB));
  }
  // Exactly at the threshold (4 x 64 KiB = min_bytes) fires; one byte less does not.
  h.Feed(Download(Client(2, 1), route, start + 3 * kSecond,
                  Sample(random, "", "application/octet-stream"), 256 * kKiB));
  h.Feed(Download(Client(2, 2), route, start + 3 * kSecond,
                  Sample(random, "", "application/octet-stream"), 256 * kKiB - 1));
  const std::vector<Finding> findings = h.Close(start);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].subject, kAttacker);  // 198.18.0.9 sorts before 198.18.2.1
  EXPECT_EQ(findings[0].observed, 3.0 * kMiB);
  EXPECT_EQ(findings[0].baseline, 64.0 * kKiB);
  EXPECT_DOUBLE_EQ(findings[0].score, 48.0);
  EXPECT_EQ(findings[0].clients[0].count, 48u);
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.9 pulled 3.0 MiB of random-looking (" + entropy +
                " bits/byte) responses from GET /api/blobs in 5 s, 48x the route's usual 64 KiB "
                "per client");
  EXPECT_EQ(findings[1].subject, Client(2, 1));
  EXPECT_DOUBLE_EQ(findings[1].score, 4.0);
  EXPECT_EQ(findings[1].explanation,
            "198.18.2.1 pulled 256 KiB of random-looking (" + entropy +
                " bits/byte) responses from GET /api/blobs in 5 s, 4.0x the route's usual 64 KiB "
                "per client");
}

TEST(ExfiltrationDetectorTest, ARouteWhoseOnlyClientPullsRandomBytesStaysFiringAndUnlearnt) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string random = RandomBytes(2048, 3);
  int fired = 0;
  for (int w = 0; w < 10; ++w) {
    const uint64_t start = kEpoch + static_cast<uint64_t>(w) * kWindow;
    h.Feed(Download(Client(1, 1), "/backup", start + kSecond,
                    Sample(random, "", "application/octet-stream"), 512 * kKiB));
    for (const Finding& f : h.Close(start)) {
      ++fired;
      h.Activate(f);
    }
    // Neither the firing window nor the active ones teach the baseline: the attacker being the
    // route's only client does not make the attack normal.
    EXPECT_EQ(detector.BaselineSamples(80, "/backup"), 0u);
  }
  // A finding every window: the engine keeps them as one anomaly.
  EXPECT_EQ(fired, 10);
  EXPECT_FALSE(detector.Baseline(80, "/backup").has_value());  // no sample at all
}

TEST(ExfiltrationDetectorTest, RandomUploadsArePushedRequests) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string random = RandomBytes(8192, 4);
  const std::string entropy = fmt::format("{:.2f}", static_cast<float>(Entropy(random)));
  h.Feed(Upload(kAttacker, "/api/upload", kEpoch + kSecond,
                Sample(random, "", "application/octet-stream"), 300 * kKiB));
  const std::vector<Finding> findings = h.Close(kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].explanation,
            "198.18.0.9 pushed 300 KiB of random-looking (" + entropy +
                " bits/byte) requests to POST /api/upload in 5 s, where clients of the route "
                "usually move none");
}

TEST(ExfiltrationDetectorTest, UndecidableBodiesAreSkippedAndCounted) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string random = RandomBytes(4096, 5);
  std::string corrupt = Gzip(Json(100, 1));
  corrupt[corrupt.size() / 2] = static_cast<char>(corrupt[corrupt.size() / 2] ^ 0x55);
  const uint64_t t = kEpoch + kSecond;
  // Each alone would be 1 MiB of random bytes; none may count.
  h.Feed(Download(kAttacker, "/f", t, Sample(random, "", "image/png"), kMiB));
  h.Feed(Download(kAttacker, "/f", t, Sample(random, "", "application/zip"), kMiB));
  h.Feed(Download(kAttacker, "/f", t, Sample(random, "br", "application/json"), kMiB));
  h.Feed(Download(kAttacker, "/f", t, Sample(random, "zstd", "application/json"), kMiB));
  h.Feed(Download(kAttacker, "/f", t, Sample(corrupt, "gzip", "application/json"), kMiB));
  h.Feed(Download(kAttacker, "/f", t, Sample(random.substr(0, 1023), "", ""), kMiB));
  h.Feed(Download(kAttacker, "/f", t, Sample("", "", ""), kMiB));  // no sample: not counted
  EXPECT_TRUE(h.Close(kEpoch).empty());
  EXPECT_EQ(detector.skips().opaque_media_type, 2u);
  EXPECT_EQ(detector.skips().unsupported_encoding, 2u);
  EXPECT_EQ(detector.skips().decode_error, 1u);
  EXPECT_EQ(detector.skips().too_small, 1u);
  EXPECT_EQ(detector.counters().skipped, 6u);
  EXPECT_EQ(detector.counters().scored, 0u);

  // The same bytes as application/octet-stream, and gzip'd random data, are scored (and fire).
  h.Feed(Download(kAttacker, "/f", kEpoch + kWindow + kSecond,
                  Sample(random, "", "application/octet-stream"), kMiB));
  h.Feed(Download(kAttacker, "/f", kEpoch + kWindow + kSecond,
                  Sample(Gzip(random), "gzip", "application/json"), kMiB));
  const std::vector<Finding> findings = h.Close(kEpoch + kWindow);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].observed, 2.0 * kMiB);
  EXPECT_EQ(detector.counters().scored, 2u);
}

TEST(ExfiltrationDetectorTest, AGzipPrefixCutByACaptureGapIsStillScored) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string random = RandomBytes(8192, 6);
  const std::string gz = Gzip(random);
  BodySample cut = Sample(gz.substr(0, 1500), "gzip", "application/octet-stream");
  cut.truncated_by_gap = true;
  h.Feed(Download(kAttacker, "/f", kEpoch + kSecond, cut, 400 * kKiB));
  const std::vector<Finding> findings = h.Close(kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].observed, 400.0 * kKiB);
  EXPECT_EQ(detector.counters().scored, 1u);
}

TEST(ExfiltrationDetectorTest, ExchangesWaitForTheirWindow) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const std::string random = RandomBytes(4096, 7);
  // Two exchanges of the next window arrive before this one closes: they count there. (This
  // window's own exchange is on another route, so /f has no baseline yet.)
  h.Feed(Download(kAttacker, "/g", kEpoch + kWindow - 1,
                  Sample(random, "", "application/octet-stream"), 200 * kKiB));
  h.Feed(Download(kAttacker, "/f", kEpoch + kWindow, Sample(random, "", "application/octet-stream"),
                  200 * kKiB));
  h.Feed(Download(kAttacker, "/f", kEpoch + kWindow + 1,
                  Sample(random, "", "application/octet-stream"), 200 * kKiB));
  EXPECT_TRUE(h.Close(kEpoch).empty());  // 200 KiB < 256 KiB
  EXPECT_EQ(detector.BaselineSamples(80, "/g"), 1u);
  EXPECT_EQ(detector.BaselineSamples(80, "/f"), 0u);
  const std::vector<Finding> findings = h.Close(kEpoch + kWindow);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].route, "/f");
  EXPECT_EQ(findings[0].observed, 400.0 * kKiB);
}

TEST(ExfiltrationDetectorTest, ThresholdOverridesApplyPerRoute) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  ThresholdOverride entropy;
  entropy.detector = DetectorKind::kExfiltration;
  entropy.parameter = "entropy_bits";
  entropy.port = 80;
  entropy.route = "/quiet";
  entropy.value = 8.0;
  ASSERT_EQ(h.thresholds.Set(entropy, kEpoch), std::nullopt);
  const std::string random = RandomBytes(4096, 8);
  for (const char* route : {"/quiet", "/loud"}) {
    h.Feed(Download(kAttacker, route, kEpoch + kSecond,
                    Sample(random, "", "application/octet-stream"), kMiB));
  }
  std::vector<Finding> findings = h.Close(kEpoch);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].route, "/loud");

  // size_jump on a learnt route: 64 KiB per client, 3 MiB is 48x; a jump of 100 is needed now.
  ThresholdOverride jump;
  jump.detector = DetectorKind::kExfiltration;
  jump.parameter = "size_jump";
  jump.port = 80;
  jump.value = 100.0;
  ASSERT_EQ(h.thresholds.Set(jump, kEpoch), std::nullopt);
  for (int w = 1; w < 10; ++w) {
    h.Feed(Download(Client(1, 1), "/blobs", kEpoch + static_cast<uint64_t>(w) * kWindow,
                    Sample(random, "", "application/octet-stream"), 64 * kKiB));
    EXPECT_TRUE(h.Close(kEpoch + static_cast<uint64_t>(w) * kWindow).empty());
  }
  h.Feed(Download(kAttacker, "/blobs", kEpoch + 10 * kWindow,
                  Sample(random, "", "application/octet-stream"), 3 * kMiB));
  EXPECT_TRUE(h.Close(kEpoch + 10 * kWindow).empty());
  EXPECT_TRUE(h.thresholds.Clear(DetectorKind::kExfiltration, "size_jump", 80, ""));
  h.Feed(Download(kAttacker, "/blobs", kEpoch + 11 * kWindow,
                  Sample(random, "", "application/octet-stream"), 3 * kMiB));
  findings = h.Close(kEpoch + 11 * kWindow);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].route, "/blobs");
}

TEST(ExfiltrationDetectorTest, BaselinesSurviveSaveAndLoad) {
  ExfiltrationConfig config;
  ExfiltrationDetector original(config);
  Harness h(original);
  const std::string random = RandomBytes(4096, 9);
  for (int w = 0; w < 12; ++w) {
    const uint64_t start = kEpoch + static_cast<uint64_t>(w) * kWindow;
    for (uint8_t c = 1; c <= 3; ++c) {
      h.Feed(Download(Client(1, c), "/a", start + c, Sample(random, "", "application/octet-stream"),
                      static_cast<uint64_t>(20 + w + c) * kKiB));
    }
    NormalWindow(h, "/b", start, 2);
    h.Close(start);
  }
  state::Writer writer;
  original.Save(writer);

  ExfiltrationDetector restored(config);
  state::Reader reader(writer.data());
  ASSERT_TRUE(restored.Load(reader)) << reader.error();
  EXPECT_TRUE(reader.AtEnd());
  for (const char* route : {"/a", "/b"}) {
    EXPECT_EQ(restored.Baseline(80, route), original.Baseline(80, route)) << route;
    EXPECT_EQ(restored.BaselineSamples(80, route), original.BaselineSamples(80, route)) << route;
  }
  EXPECT_EQ(restored.LearnedFraction(), original.LearnedFraction());
  state::Writer again;
  restored.Save(again);
  EXPECT_EQ(again.data(), writer.data());

  // The same further traffic gives the same findings and the same baselines.
  Harness h2(restored);
  for (Harness* harness : {&h, &h2}) {
    const uint64_t start = kEpoch + 12 * kWindow;
    harness->Feed(Download(kAttacker, "/a", start + 1,
                           Sample(random, "", "application/octet-stream"), 2 * kMiB));
  }
  const std::vector<Finding> a = h.Close(kEpoch + 12 * kWindow);
  const std::vector<Finding> b = h2.Close(kEpoch + 12 * kWindow);
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].explanation, b[0].explanation);
  EXPECT_EQ(a[0].baseline, b[0].baseline);
  EXPECT_EQ(restored.Baseline(80, "/a"), original.Baseline(80, "/a"));

  // Every truncation fails and leaves the detector as it was.
  for (size_t cut = 0; cut < writer.data().size(); ++cut) {
    ExfiltrationDetector target(config);
    state::Reader partial(std::string_view(writer.data()).substr(0, cut));
    EXPECT_FALSE(target.Load(partial)) << cut;
    EXPECT_FALSE(target.Baseline(80, "/a").has_value()) << cut;
  }
  // Another detector's section is refused.
  state::Writer other;
  other.Tag("SLOW");
  state::Reader wrong(other.data());
  EXPECT_FALSE(restored.Load(wrong));
  EXPECT_TRUE(restored.Baseline(80, "/a").has_value());
}

TEST(ExfiltrationDetectorTest, PendingExchangesAreBoundedAndCounted) {
  ExfiltrationDetector detector(ExfiltrationConfig{});
  Harness h(detector);
  const HttpExchange e = test_support::Exchange(kAttacker, 80, "/x", 200, kEpoch + kSecond);
  for (size_t i = 0; i < ExfiltrationDetector::kMaxPendingExchanges + 5; ++i) h.Feed(e);
  EXPECT_EQ(detector.counters().overflow, 5u);
  EXPECT_TRUE(h.Close(kEpoch).empty());
  EXPECT_EQ(detector.BaselineSamples(80, "/x"), 1u);
  h.Feed(e);  // room again (late for its window, but accepted into the buffer)
  EXPECT_EQ(detector.counters().overflow, 5u);
}

// Through the engine: the exchange is placed in its window by completion time and the anomaly
// carries the detector's explanation.
TEST(ExfiltrationDetectorTest, EngineFiresOnceForADump) {
  test_support::RecordingSink sink;
  AnomalyEngine engine(test_support::Only(DetectorKind::kExfiltration), sink);
  const std::string random = RandomBytes(4096, 10);
  for (int s = 0; s < 60; ++s) {
    const uint64_t t = kEpoch + static_cast<uint64_t>(s) * kSecond;
    if (s >= 20 && s < 30) {
      engine.OnHttpExchange(Download(kAttacker, "/api/export", t + 1,
                                     Sample(random, "", "application/octet-stream"), 100 * kKiB));
    }
    engine.Tick(t + kSecond);
  }
  engine.Tick(kEpoch + 120 * kSecond);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].state, AnomalyState::kFiring);
  EXPECT_EQ(sink.records[0].detector, DetectorKind::kExfiltration);
  EXPECT_EQ(sink.records[0].window_start_ns, kEpoch + 20 * kSecond);
  EXPECT_EQ(sink.records[0].observed, 500.0 * kKiB);
  EXPECT_EQ(sink.records[1].state, AnomalyState::kResolved);
}

}  // namespace
}  // namespace ta::analyzer::anomaly
