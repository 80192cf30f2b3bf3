#!/usr/bin/python3
"""End to end: real nginx, real curl and wrk, the daemon on the host veth, exact counts.

Scenario (all in one test bed, see testbed.py):
  1. nginx in a fresh namespace on 80 and 8080; the daemon watches the host-side veth with
     ports [80, 8080]; tshark captures the same veth to a pcapng.
  2. curl phase: a known plan of requests, first one connection per request, then keep-alive
     (all requests of a port in one curl invocation), then requests (some answered 304) on a
     connection opened before the daemon started, then pipelined requests. The scrape must match the plan
     exactly: count per (method, route, status, port), body size sums and buckets.
  3. wrk phase: keep-alive and Connection: close runs of bounded duration. Totals must equal
     what tshark decodes from the capture and what nginx logged, series by series.
  4. Every duration is plausible (mean in (0, 1) s, every observation in a bucket <= 1 s), no
     event was lost, nothing failed to parse.
  5. `traffic-analyzer replay` of the capture gives the same counts and body size histograms.

Needs root; without it the test is skipped, unless CI is set, where it fails.
Environment: TA_DAEMON (the binary, set by ctest), TA_E2E_ARTIFACTS (where work dirs go),
TA_E2E_KEEP=1 (keep the work dir: logs, configs, pcap).
"""

import os
import sys
import time
import unittest
from collections import Counter, defaultdict

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORTS = [80, 8080]
ROUTE_PATTERNS = ["/items/{id}"]  # "widget" is not an id by the default rules: the pattern wins
UUID = "9f1c2d3e-5a6b-4c7d-8e9f-0123456789ab"
R = tb.CurlRequest

# (request, times, expected status). One new TCP connection per request.
ONE_PER_CONNECTION = [
    (R("GET", 80, "/files/small.txt"), 3, 200),
    (R("GET", 80, "/files/large.bin"), 2, 200),   # ~300 kB: many segments
    (R("GET", 80, "/gz/page.txt", gzip=True), 2, 200),  # chunked
    (R("HEAD", 80, "/files/small.txt"), 2, 200),
    (R("GET", 80, "/users/123"), 3, 200),
    (R("GET", 80, "/users/456?tab=profile"), 2, 200),
    (R("GET", 8080, f"/users/{UUID}"), 1, 200),
    (R("POST", 80, "/api/orders", body_bytes=1000), 2, 201),
    (R("POST", 8080, "/api/orders", body_bytes=70000, expect_continue=True), 1, 201),
    (R("GET", 8080, "/items/widget"), 2, 200),
    (R("GET", 80, "/nope"), 2, 404),
    (R("GET", 8080, "/fail"), 3, 500),
    (R("GET", 80, "/health"), 1, 204),
]

# Keep-alive: each list is one curl invocation on one connection (checked via num_connects),
# except that nginx closes it after a 500 and curl reconnects.
KEEP_ALIVE = [
    [(R("GET", 80, "/users/7"), 200), (R("GET", 80, "/files/small.txt"), 200),
     (R("HEAD", 80, "/users/8"), 200), (R("POST", 80, "/api/orders", body_bytes=2500), 201),
     (R("GET", 80, "/files/large.bin"), 200), (R("GET", 80, "/gz/page.txt", gzip=True), 200),
     (R("GET", 80, "/nope"), 404), (R("GET", 80, "/fail"), 500), (R("GET", 80, "/health"), 204),
     (R("GET", 80, "/users/9"), 200)],
    [(R("GET", 8080, "/items/gadget"), 200), (R("POST", 8080, "/api/orders", body_bytes=1), 201),
     (R("GET", 8080, "/fail"), 500), (R("GET", 8080, "/users/10"), 200)],
]

# HTTP/1.1 pipelining: all in one write on one connection to 8080 (expected statuses).
PIPELINED = [("/users/11", 200), ("/users/12", 200), ("/files/small.txt", 200), ("/nope", 404),
             ("/users/13", 200)]
# A keep-alive connection to 80 that is opened, and used, before the daemon starts; after the
# start these requests on it must be counted (picked up at the next message boundary), the
# earlier ones cannot be. (path, conditional GET with If-Modified-Since, expected status): a
# 304 has no body although it describes one, and the connection goes on after it.
BEFORE_START = ["/users/31", "/files/large.bin", "/users/32"]
AFTER_START = [("/users/33", False, 200), ("/files/small.txt", True, 304),
               ("/files/large.bin", True, 304), ("/files/small.txt", False, 200),
               ("/users/34", False, 200)]

# wrk runs: (port, paths, seconds, connections, Connection: close, per-request delay in ms).
# The keep-alive runs are paced (wrk's delay() hook) to a rate a 2-core CI runner sustains while
# also running nginx, wrk, tshark and the daemon: this test asserts exactness, the benchmark
# (bench_daemon_cpu.py) measures the unpaced cost.
WRK_DELAY_MS = int(os.environ.get("TA_E2E_WRK_DELAY_MS", "1"))
WRK_RUNS = [
    (80, ["/users/1", "/files/small.txt", "/users/22?q=x", "/nope", "/fail", "/health",
          "/items/abc"], 3, 4, False, WRK_DELAY_MS),
    (8080, ["/users/3", "/files/small.txt", "/fail"], 2, 2, False, WRK_DELAY_MS),
    (8080, ["/users/4", "/nope"], 2, 2, True, 0),
]

# OpenTelemetry's default explicit buckets for http.server.request.duration (semantic
# conventions, HTTP metrics), plus +Inf.
OTEL_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                         7.5, 10.0, float("inf")]


def key_of(method: str, uri: str, status: int, port: int) -> tb.ExchangeKey:
    return method, tb.template_route(uri, ROUTE_PATTERNS), status, port


def diff(expected: Counter, got: Counter) -> str:
    keys = sorted(set(expected) | set(got))
    rows = [f"  {k}: expected {expected.get(k, 0)}, got {got.get(k, 0)}"
            for k in keys if expected.get(k, 0) != got.get(k, 0)]
    return "\n".join(rows)


class HttpMetricsEndToEnd(unittest.TestCase):
    lab: tb.VethLab

    @classmethod
    def setUpClass(cls):
        tb.require_testbed()
        cls.binary = tb.daemon_binary()
        cls.addClassCleanup(tb.REAPER.run)
        cls.lab = tb.VethLab("e2e").setup(os.environ.get("TA_E2E_ARTIFACTS"))
        try:
            cls.nginx = tb.Nginx(cls.lab, PORTS).start()
            cls.persistent = tb.PersistentClient(cls.lab, 80)
            for path in BEFORE_START:
                status, _, _ = cls.persistent.get(path)
                if status != 200:
                    raise tb.TestbedError(f"GET {path} before the daemon started: {status}")
            cls.log_skip = len(cls.nginx.access_log())  # neither daemon nor tshark saw these
            cls.daemon = tb.Daemon(cls.binary, cls.lab, PORTS, ROUTE_PATTERNS).start()
            cls.baseline = cls.daemon.samples()
            cls.capture = tb.Capture(cls.lab, PORTS).start()
            cls._curl_phase()
            cls._wrk_phase()
        except BaseException:
            cls.lab.keep("set-up failed")
            raise
        cls._print_summary()

    @classmethod
    def _print_summary(cls):
        live = tb.request_counts(cls.after_wrk)
        curl_n = sum(cls.curl_expected.values())
        wrk = ", ".join(f"{w.requests} ({w.requests_per_s:.0f}/s)" for w in cls.wrk_results)
        lost = {dict(k).get("stage"): int(v) for k, v in
                tb.series_values(cls.after_wrk, "traffic_analyzer_events_lost_total").items()}
        print(f"\ne2e: curl phase {curl_n} requests in {len(cls.curl_expected)} series; "
              f"wrk runs {wrk}; daemon total {sum(live.values())} in {len(live)} series; "
              f"tshark {sum(cls.wire.values())} exchanges from {cls.capture.packets} packets "
              f"({cls.capture.dropped} dropped); nginx log {sum(cls.nginx_log.values())}; "
              f"events lost {lost}", file=sys.stderr)
        for k, v in sorted(live.items()):
            print(f"e2e:   {k}: {v}", file=sys.stderr)

    @classmethod
    def _curl_phase(cls):
        results = []
        for req, times, status in ONE_PER_CONNECTION:
            for _ in range(times):
                results += [(r, status) for r in tb.curl(cls.lab, [req], keepalive=False)]
        for batch in KEEP_ALIVE:
            out = tb.curl(cls.lab, [req for req, _ in batch], keepalive=True)
            # nginx closes the connection after a 500 (Connection: close), so the next request
            # opens a new one; otherwise the whole batch shares one connection.
            if sum(r.new_connections for r in out) != 1 + sum(r.status == 500 for r in out[:-1]):
                raise tb.TestbedError(f"curl did not keep the connection alive: {out}")
            results += zip(out, [status for _, status in batch])
        for path, conditional, want in AFTER_START:
            headers = {"If-Modified-Since": cls.nginx.last_modified(path)} if conditional else {}
            status, size, reconnected = cls.persistent.get(path, headers)
            if reconnected:
                raise tb.TestbedError("the connection opened before the daemon was closed")
            results.append((tb.CurlResult(R("GET", 80, path), status, size, 0, 0), want))
        answers = tb.pipelined(cls.lab, 8080, [path for path, _ in PIPELINED])
        for (path, want), (status, size) in zip(PIPELINED, answers):
            results.append((tb.CurlResult(R("GET", 8080, path), status, size, 0, 0), want))
        for r, status in results:
            if r.status != status:
                raise tb.TestbedError(f"nginx answered {r.status}, the plan says {status}: {r}")
        cls.curl_results = [r for r, _ in results]
        cls.curl_expected = Counter(key_of(r.request.method, r.request.path, r.status,
                                           r.request.port) for r in cls.curl_results)
        cls.after_curl = cls._settled(sum(cls.curl_expected.values()))

    @classmethod
    def _wrk_phase(cls):
        cls.wrk_results = []
        for i, (port, paths, secs, conns, close, delay) in enumerate(WRK_RUNS):
            cls.wrk_results.append(tb.wrk(cls.lab, port, paths, duration_s=secs,
                                          connections=conns, close=close, delay_ms=delay,
                                          name=f"wrk{i}"))
        cls.capture.stop()  # settles, SIGINT, waits: the pcap is complete after this
        cls.wire = Counter(key_of(e.method, e.uri, e.status, e.server_port)
                           for e in tb.wire_exchanges(cls.capture.pcap, PORTS))
        cls.after_wrk = cls._settled(sum(cls.wire.values()))
        cls.nginx.stop()  # graceful: the access log is complete after this
        cls.nginx_log = Counter(key_of(e.method, e.request_uri, e.status, e.server_port)
                                for e in cls.nginx.access_log()[cls.log_skip:])

    @classmethod
    def _settled(cls, expected_total: int, timeout: float = 20) -> dict:
        """Scrapes until the daemon has reported `expected_total` exchanges, or its total has
        not moved for 3 s; then once more after a pause, so late extras would show."""
        last = {"total": -1, "since": 0.0}

        def done() -> bool:
            total = sum(tb.request_counts(cls.daemon.samples()).values())
            if total == expected_total:
                return True
            now = time.monotonic()
            if total != last["total"]:
                last.update(total=total, since=now)
            return now - last["since"] >= 3
        tb.wait_until(done, timeout, interval=0.25)
        time.sleep(0.5)
        return cls.daemon.samples()

    def setUp(self):
        self.addCleanup(self._keep_on_failure)

    def _keep_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            self.lab.keep(f"{self.id()} failed")

    def context(self) -> str:
        return (f"\n--- daemon log ({self.daemon.log_path}) ---\n{self.daemon.log()}"
                f"\n--- work dir: {self.lab.workdir}")

    # ---------------------------------------------------------------------------------------

    def test_0_starts_with_no_http_series(self):
        self.assertEqual(tb.request_counts(self.baseline), Counter(),
                         "exchanges reported before any traffic")

    def test_curl_phase_exact_counts(self):
        got = tb.request_counts(self.after_curl)
        self.assertEqual(got, self.curl_expected,
                         "curl phase: per-series counts differ:\n"
                         + diff(self.curl_expected, got) + self.context())

    def test_curl_phase_body_sizes_exact(self):
        observations = {tb.REQUEST_BODY: defaultdict(list), tb.RESPONSE_BODY: defaultdict(list)}
        for r in self.curl_results:
            k = key_of(r.request.method, r.request.path, r.status, r.request.port)
            observations[tb.REQUEST_BODY][k].append(r.request_body_bytes)
            observations[tb.RESPONSE_BODY][k].append(r.response_body_bytes)
        for family, per_key in observations.items():
            hists = {tb.exchange_key(labels): h
                     for labels, h in tb.histograms(self.after_curl, family).items()}
            self.assertEqual(set(hists), set(per_key), f"{family}: series differ"
                             + self.context())
            for k, values in per_key.items():
                h = hists[k]
                with self.subTest(family=family, series=k):
                    self.assertEqual((h.count, h.sum), (len(values), sum(values)),
                                     f"{family}{k}: (count, sum) vs curl's sizes {values}")
                    # Whatever the bucket layout, each cumulative bucket is exact.
                    for le, cumulative in h.buckets.items():
                        self.assertEqual(cumulative, sum(1 for v in values if v <= le),
                                         f"{family}{k} bucket le={le}; sizes {values}")

    def test_wrk_phase_counts_equal_tshark(self):
        got = tb.request_counts(self.after_wrk)
        self.assertEqual(got, self.wire,
                         f"daemon vs tshark ({self.capture.packets} packets, "
                         f"{self.capture.dropped} dropped by the capture):\n"
                         + diff(self.wire, got) + self.context())

    def test_wrk_phase_counts_match_nginx_access_log(self):
        # nginx logs a request once its response is handed to the socket; at wrk's deadline a
        # connection closed with a response still unsent leaves a log line whose response never
        # crossed the wire (tshark, the exact reference above, agrees with the daemon then; one
        # CI run saw 20,138 log lines against 20,137 on the wire and in the daemon). So the log
        # may exceed the daemon by at most one request per wrk connection, never the other way.
        got = tb.request_counts(self.after_wrk)
        missing = tb.subtract(self.nginx_log, got)
        message = "daemon vs nginx's access log:\n" + diff(self.nginx_log, got) + self.context()
        self.assertTrue(all(v > 0 for v in missing.values()), message)  # never more than nginx
        in_flight_max = sum(conns for _, _, _, conns, _, _ in WRK_RUNS)
        self.assertLessEqual(sum(missing.values()), in_flight_max, message)

    def test_wrk_phase_accounts_for_every_wrk_request(self):
        # wrk counts completed responses only; at the deadline at most one request per
        # connection is still in flight, and its response may still cross the wire.
        wrk_total = sum(w.requests for w in self.wrk_results)
        in_flight_max = sum(conns for _, _, _, conns, _, _ in WRK_RUNS)
        seen = sum(tb.subtract(tb.request_counts(self.after_wrk),
                               tb.request_counts(self.after_curl)).values())
        self.assertGreaterEqual(seen, wrk_total)
        self.assertLessEqual(seen, wrk_total + in_flight_max)

    def test_labels_and_duration_buckets(self):
        hists = tb.histograms(self.after_wrk, tb.DURATION)
        self.assertTrue(hists, "no duration series at all")
        for labels, h in hists.items():
            d = dict(labels)
            with self.subTest(series=d):
                self.assertEqual(d.get("url_scheme"), "http")
                self.assertEqual(d.get("network_protocol_version"), "1.1")
                self.assertEqual(sorted(h.buckets), OTEL_DURATION_BUCKETS)

    def test_latencies_plausible(self):
        hists = tb.histograms(self.after_wrk, tb.DURATION)
        self.assertTrue(hists, "no duration series at all")
        for labels, h in hists.items():
            with self.subTest(series=tb.exchange_key(labels)):
                self.assertGreater(h.count, 0)
                self.assertTrue(0 < h.sum / h.count < 1.0,
                                f"mean duration {h.sum / h.count} s out of (0, 1)")
                self.assertEqual(h.buckets[1.0], h.count, "observations above 1 s")

    def test_nothing_lost_or_unparsed(self):
        lost = tb.series_values(self.after_wrk, "traffic_analyzer_events_lost_total")
        stages = {dict(labels).get("stage") for labels in lost}
        self.assertTrue({"ringbuf", "reassembly", "parser"} <= stages,
                        f"loss counters missing: have stages {stages}")
        self.assertEqual({dict(k)["stage"]: v for k, v in lost.items() if v},
                         {}, "events lost" + self.context())
        errors = tb.series_values(self.after_wrk, "traffic_analyzer_parse_errors_total")
        self.assertEqual({k: v for k, v in errors.items() if v}, {},
                         "parse errors on clean traffic" + self.context())
        received = tb.series_values(self.after_wrk, "traffic_analyzer_events_received_total")
        self.assertGreater(sum(received.values()), 0)

    def test_replay_matches_live(self):
        text = tb.replay(self.binary, self.capture.pcap, self.daemon.config_path)
        replayed = tb.parse_exposition(text)
        live = self.after_wrk
        self.assertEqual(tb.request_counts(replayed), tb.request_counts(live),
                         "replay vs live counts:\n"
                         + diff(tb.request_counts(live), tb.request_counts(replayed)))
        for family in (tb.REQUEST_BODY, tb.RESPONSE_BODY):
            want = {k: (h.count, h.sum, h.buckets)
                    for k, h in tb.histograms(live, family).items()}
            got = {k: (h.count, h.sum, h.buckets)
                   for k, h in tb.histograms(replayed, family).items()}
            self.assertEqual(got, want, f"replay vs live {family}")


if __name__ == "__main__":
    tb.main()
