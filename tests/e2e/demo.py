#!/usr/bin/python3
"""The README's demo: traffic-analyzer watching real HTTP traffic, live, on its own namespace.

    sudo /usr/bin/python3 tests/e2e/demo.py --daemon build/agent/traffic-analyzer

Builds nothing (.ci/demo builds, then runs this). It creates a network namespace with nginx
(ports 80 and 8080, 198.18.0.0/15 addresses only), starts the daemon on the host side of the
veth, drives normal traffic for --duration seconds (wrk, paced, keep-alive; curl for POSTs,
404s and 500s) and prints what /metrics says every few seconds. Everything it created is
removed at the end, on Ctrl-C, or on SIGTERM.
"""

import argparse
import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORTS = [80, 8080]
ROUTE_PATTERNS = ["/items/{id}"]
WRK_PATHS = ["/users/1", "/users/2", "/users/42?tab=orders", "/files/small.txt", "/items/widget",
             "/health", "/users/7", "/files/small.txt"]
R = tb.CurlRequest
# Every few seconds: an order, a missing page, a server error, a large download.
CURL_ROUND = [R("POST", 80, "/api/orders", body_bytes=1200), R("GET", 80, "/nope"),
              R("GET", 8080, "/fail"), R("GET", 8080, "/files/large.bin"),
              R("HEAD", 80, "/files/small.txt")]


def series_view(now: dict, before: dict, seconds: float, top: int = 10) -> list[str]:
    cur = tb.histograms(now, tb.DURATION)
    old = tb.histograms(before, tb.DURATION)
    resp = {tb.exchange_key(k): h for k, h in tb.histograms(now, tb.RESPONSE_BODY).items()}
    rows = []
    for labels, h in cur.items():
        prev = old.get(labels, tb.Histogram())
        n = h.count - prev.count
        mean_ms = (h.sum - prev.sum) / n * 1000 if n else 0.0
        key = tb.exchange_key(labels)
        body = resp.get(key)
        avg_body = body.sum / body.count if body and body.count else 0
        rows.append((n, key, h.count, mean_ms, avg_body))
    rows.sort(key=lambda r: (-r[0], -r[2]))
    lines = [f"  {'method':6} {'route':22} {'status':>6} {'port':>5} {'total':>8} "
             f"{'req/s':>8} {'mean ms':>8} {'avg body B':>10}"]
    for n, (method, route, status, port), total, mean_ms, avg_body in rows[:top]:
        lines.append(f"  {method:6} {route:22} {status:>6} {port:>5} {int(total):>8} "
                     f"{n / seconds:>8.1f} {mean_ms:>8.2f} {avg_body:>10.0f}")
    return lines


def self_view(now: dict) -> str:
    lost = {dict(k).get("stage", "?"): int(v)
            for k, v in tb.series_values(now, "traffic_analyzer_events_lost_total").items()}
    received = sum(tb.series_values(now, "traffic_analyzer_events_received_total").values())
    tracked = sum(tb.series_values(now, "traffic_analyzer_connections_tracked").values())
    errors = sum(tb.series_values(now, "traffic_analyzer_parse_errors_total").values())
    return (f"  events received {int(received)}, lost {lost or '{}'}, parse errors "
            f"{int(errors)}, connections tracked {int(tracked)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemon", required=True, help="path to the traffic-analyzer binary")
    ap.add_argument("--duration", type=int, default=20, help="seconds of traffic (max 120)")
    ap.add_argument("--interval", type=float, default=4, help="seconds between views")
    ap.add_argument("--connections", type=int, default=4, help="wrk connections")
    ap.add_argument("--delay-ms", type=int, default=5,
                    help="pause between requests on each wrk connection (paces the load)")
    args = ap.parse_args()
    if not 1 <= args.duration <= 120:
        ap.error("--duration must be 1..120")
    reason = tb.missing_prerequisite()
    if reason:
        print(f"demo: {reason}", file=sys.stderr)
        return 1
    if not os.access(args.daemon, os.X_OK):
        print(f"demo: {args.daemon} is not executable; build first (.ci/build.sh)",
              file=sys.stderr)
        return 1

    sys.stdout.reconfigure(line_buffering=True)  # the live view, also through a pipe
    tb.install_signal_handlers()
    try:
        lab = tb.VethLab("demo").setup()
        print(f"demo: namespace {lab.netns}, nginx at {lab.ns_addr}:{PORTS}, host side "
              f"{lab.host_if} ({lab.host_addr})")
        tb.Nginx(lab, PORTS).start()
        daemon = tb.Daemon(os.path.abspath(args.daemon), lab, PORTS, ROUTE_PATTERNS).start()
        print(f"demo: traffic-analyzer pid {daemon.pid} attached to {lab.host_if}; metrics at "
              f"http://{daemon.listen}/metrics; log {daemon.log_path}")
        wrk_argv = tb.wrk_command(lab, 80, WRK_PATHS, duration_s=args.duration,
                                  connections=args.connections, delay_ms=args.delay_ms,
                                  name="demo-wrk")
        wrk_proc = tb.spawn(wrk_argv, lab.path("demo-wrk.out"), what="wrk")
        print(f"demo: {args.duration} s of traffic: wrk ({args.connections} keep-alive "
              f"connections, {args.delay_ms} ms between requests) plus curl rounds; Ctrl-C stops")
        start = time.monotonic()
        before = daemon.samples()
        last = start
        while time.monotonic() - start < args.duration + 1:
            tb.curl(lab, CURL_ROUND, keepalive=False)
            time.sleep(max(0.0, args.interval - (time.monotonic() - last)))
            now_t = time.monotonic()
            now = daemon.samples()
            print(f"\n[{now_t - start:5.1f} s] http_server_request_duration_seconds, "
                  f"last {now_t - last:.1f} s:")
            print("\n".join(series_view(now, before, now_t - last)))
            print(self_view(now))
            before, last = now, now_t
            if wrk_proc.poll() is not None and now_t - start >= args.duration:
                break
        tb.stop_process(wrk_proc, signal.SIGINT, timeout=10)
        total = sum(tb.request_counts(daemon.samples()).values())
        print(f"\ndemo: done; the daemon counted {total} requests in "
              f"{time.monotonic() - start:.0f} s")
        rc = daemon.stop(signal.SIGTERM)
        print(f"demo: traffic-analyzer exited with status {rc}; cleaning up")
        return 0 if rc == 0 else 1
    except (KeyboardInterrupt, tb.Interrupted):
        print("\ndemo: interrupted; cleaning up", file=sys.stderr)
        return 130
    except tb.TestbedError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    finally:
        tb.REAPER.run()
        print("demo: removed the namespace, veth, nginx and daemon", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
