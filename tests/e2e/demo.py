#!/usr/bin/python3
"""The README's demo: normal traffic, a flood, the anomaly, the XDP rule, the drops.

    sudo /usr/bin/python3 tests/e2e/demo.py --daemon build/agent/traffic-analyzer

Builds nothing (.ci/demo builds, then runs this). On a network namespace and veth pair of its
own (198.18.0.0/15 addresses only) it runs nginx on the host end of the veth and its clients in
the namespace, so requests arrive on the host veth's ingress, where the daemon captures them
(tc) and enforces (XDP). Three clients, each from its own address:
  - wrk, paced, keep-alive, on a handful of routes: the background the RED view shows;
  - the paced client, a new connection per request at 20 req/s on GET /users/7, all along;
  - the flooder, four processes as fast as they can on the same route, in phase b only.

  a) Normal traffic. The anomaly engine learns each route's baseline (1 s windows here, 60 s
     in production), and every few seconds the demo prints what /metrics says.
  b) The flood. The flood detector fires (printed as `trafficctl anomalies` shows it), the
     policy turns two consecutive firing windows into an XDP drop rule for the flooder's /32
     (`trafficctl rules list`, `trafficctl rules explain ID`), and from then on the flooder's
     SYNs are dropped before the host's TCP stack sees them, while the paced client on the very
     same route keeps getting 200s.
  c) A summary, then SIGTERM to the daemon, which detaches its programs.

Ctrl-C or SIGTERM at any point removes everything it made (processes, namespace, links,
qdiscs, the XDP program, the temp dir) and exits 130 (SIGINT) or 143 (SIGTERM); a second run
can start right away. --check (the end-to-end test uses it) makes the exit status 1 unless the
anomaly, the rule, dropped packets and a paced client without a single failure were all seen.
"""

import argparse
import ipaddress
import json
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 8080
ROUTE_PATTERNS = ["/items/{id}"]
# wrk stays off the flooded route (/users/{id}): the flood's evidence is that route's clients,
# and wrk's address must not be among its top sources. No 5xx either: a route that always
# fails would (rightly) fire the error-budget detector and crowd the demo.
WRK_PATHS = ["/files/small.txt", "/items/widget", "/health", "/items/gadget",
             "/files/small.txt", "/nope", "/items/widget", "/files/large.bin"]
USERS_PATH = "/users/7"  # the paced client's and the flooder's route: /users/{id}
PACED_RATE = 20.0  # req/s
FLOODERS = 4
FLOOD_RATE = 150.0  # req/s per flooder process, before the rule
# The flooder gives up on a connect after 0.1 s: below the kernel's 1 s initial SYN
# retransmission timeout (RFC 6298 section 2), so each dropped attempt is exactly one SYN and
# the drop counters climb at a visible 10 per second per process.
FLOOD_CONNECT_TIMEOUT_S = 0.1
WINDOW_S = 1
# 1 s windows and 10 windows of warm-up (production: 60 s windows, 60 of them) so the demo
# fits in a minute; two consecutive firing windows before the policy acts, as shipped.
# The shipped policy otherwise (max_sources 5, min_source_share 0.1): the demo is also the check
# that a paced client on the flooded route is never ruled (the policy skips the window right
# after a rule, which still holds the flood's last moments).
YAML = f"""anomaly:
  window_seconds: {WINDOW_S}
  resolve_after_windows: 3
  save_interval_seconds: 30
  flood: {{min_windows: 10, min_rate: 20}}
enforcement:
  enabled: true
  attach_mode: auto
  heartbeat_timeout_seconds: 5
  policy:
    consecutive_windows: 2
    actions:
      flood: {{action: drop, ttl_seconds: 600}}
"""
PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers", "http_load.py")
RULE_DROPPED = "traffic_analyzer_rule_packets_total"
# Second host block for the clients' own addresses: outside testbed.TEST_NET (where labs take
# their /30s), one /30 per lab at the lab's own index, so concurrent labs never collide.
CLIENT_NET = ipaddress.ip_network("198.18.100.0/24")


class Demo:
    """One run: the lab, its processes, and what was seen (for the summary and --check)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.normal_s = max(14.0, args.duration / 2)
        self.flood_s = max(12.0, args.duration / 2)
        self.start = time.monotonic()
        self.anomaly: dict | None = None
        self.rule: dict | None = None  # the first detector rule
        self.rules_seen: set[int] = set()
        self.dropped = 0
        self.metric_dropped = 0

    # --- set-up ---

    def setup(self) -> None:
        lab = self.lab = tb.VethLab("demo").setup()
        index = (int(ipaddress.ip_address(lab.ns_addr)) - int(tb.TEST_NET.network_address)) // 4
        block = list(CLIENT_NET.subnets(new_prefix=30))[index]
        self.paced_addr, self.flood_addr = (str(a) for a in list(block.hosts())[:2])
        for addr in (self.paced_addr, self.flood_addr):
            tb.run(["ip", "-n", lab.netns, "addr", "add", f"{addr}/32", "dev", lab.ns_if])
            tb.run(["ip", "route", "add", f"{addr}/32", "dev", lab.host_if])
            tb.REAPER.register(f"route {addr}", lambda a=addr: tb.run(
                ["ip", "route", "del", f"{a}/32", "dev", lab.host_if], check=False))
        print(f"demo: namespace {lab.netns} ({lab.ns_if}) <-> host {lab.host_if} "
              f"({lab.host_addr}); work dir {lab.workdir}")
        tb.Nginx(lab, [PORT], on_host=True).start()
        print(f"demo: nginx on {lab.host_addr}:{PORT}; clients in the namespace: wrk from "
              f"{lab.ns_addr}, the paced client from {self.paced_addr}, the flooder from "
              f"{self.flood_addr}")
        self.daemon = tb.Daemon(os.path.abspath(self.args.daemon), lab, [PORT], ROUTE_PATTERNS,
                                extra_yaml=YAML).start()
        print(f"demo: traffic-analyzer pid {self.daemon.pid} on {lab.host_if}: tc capture and "
              f"XDP enforcement; metrics at http://{self.daemon.listen}/metrics; control socket "
              f"{self.daemon.socket}; log {self.daemon.log_path}")
        self.show("trafficctl status", self.daemon.ctl("status"))

    def spawn_load(self, name: str, source: str, rate: float, duration: float,
                   timeout: float) -> tuple[subprocess.Popen, str]:
        out = self.lab.path(f"{name}.jsonl")
        proc = tb.spawn([tb.PEER_PYTHON, "-u", PEER, "--target", self.lab.host_addr,
                         "--port", str(PORT), "--source", source, "--path", USERS_PATH,
                         "--out", out, "--rate", str(rate), "--duration", f"{duration:.0f}",
                         "--timeout", str(timeout)], self.lab.path(f"{name}.log"),
                        netns=self.lab.netns, what=name)
        return proc, out

    def start_background(self) -> None:
        lab = self.lab
        total = self.normal_s + self.flood_s + 40  # the flood phase may wait 30 s for a rule
        argv = tb.wrk_command(lab, PORT, WRK_PATHS, duration_s=int(min(120, total)),
                              connections=self.args.connections, delay_ms=self.args.delay_ms,
                              name="demo-wrk")
        argv[-1] = f"http://{lab.host_addr}:{PORT}/"  # nginx is on the host side here
        self.wrk = tb.spawn(argv, lab.path("demo-wrk.out"), netns=lab.netns, what="wrk")
        # A 2 s timeout: the paced client is not measuring anything, and a loaded 2-core
        # machine can be slow to answer; a dropped SYN would still fail it (the retransmission
        # 1 s later is dropped too).
        self.paced, self.paced_out = self.spawn_load("paced", self.paced_addr, PACED_RATE,
                                                     min(300, total), timeout=2)

    # --- what the clients saw ---

    @staticmethod
    def attempts(path: str) -> list[dict]:
        try:
            with open(path) as f:
                return [json.loads(line) for line in f if line.endswith("\n") and line.strip()]
        except FileNotFoundError:
            return []

    def paced_outcomes(self) -> tuple[int, int]:
        """(200 responses, everything else) of the paced client so far."""
        got = self.attempts(self.paced_out)
        ok = sum(1 for a in got if a["outcome"] == "ok" and a["status"] == 200)
        return ok, len(got) - ok

    def flood_outcomes(self) -> tuple[int, int]:
        """(answered, connect timed out) over every flooder process."""
        answered = refused = 0
        for path in self.flood_outs:
            for a in self.attempts(path):
                if a["outcome"] == "ok":
                    answered += 1
                elif a["outcome"] == "connect_timeout":
                    refused += 1
        return answered, refused

    # --- printing ---

    def t(self) -> str:
        return f"[{time.monotonic() - self.start:5.1f} s]"

    @staticmethod
    def banner(title: str, lines: list[str]) -> None:
        print("\n" + "=" * 96)
        print(title)
        for line in lines:
            print("  " + line)
        print("=" * 96)

    @staticmethod
    def show(command: str, p: subprocess.CompletedProcess) -> None:
        print(f"\n$ {command}   (exit {p.returncode})")
        out = (p.stdout + p.stderr).rstrip("\n")
        print("\n".join(("  " + line).rstrip() for line in out.splitlines()))

    # --- phases ---

    def normal_phase(self) -> None:
        self.banner(f"a) NORMAL TRAFFIC for {self.normal_s:.0f} s: the engine learns each "
                    "route's baseline", [
                        f"wrk: {self.args.connections} keep-alive connections, "
                        f"{self.args.delay_ms} ms between requests, {len(set(WRK_PATHS))} "
                        "routes (200, 204, 404)",
                        f"paced client: {PACED_RATE:.0f} req/s on GET {USERS_PATH}, a new "
                        "connection per request",
                        "the view: http_server_request_duration_seconds from /metrics "
                        "(rate, errors by status, mean duration)"])
        self.start_background()
        began = last = time.monotonic()
        before = self.daemon.samples()
        views = 0
        while time.monotonic() - began < self.normal_s and views < 100:
            time.sleep(max(0.0, min(self.args.interval,
                                    self.normal_s - (time.monotonic() - began))))
            now_t = time.monotonic()
            now = self.daemon.samples()
            print(f"\n{self.t()} http_server_request_duration_seconds, last "
                  f"{now_t - last:.1f} s:")
            print("\n".join(series_view(now, before, now_t - last)))
            print(self_view(now))
            ok, failed = self.paced_outcomes()
            print(f"  paced client: {ok} x 200, {failed} failed")
            before, last = now, now_t
            views += 1

    def flood_phase(self) -> None:
        self.banner(f"b) THE FLOOD from {self.flood_addr}: {FLOODERS} processes, new "
                    f"connections to GET {USERS_PATH} as fast as they go", [
                        "watch: the flood anomaly (trafficctl anomalies), the XDP rule the "
                        "policy makes (trafficctl rules list / explain),",
                        "       the rule's dropped packets climbing, the paced client on the "
                        "same route still getting 200s"])
        began = time.monotonic()
        cap = self.flood_s + 30
        self.flood_outs = []
        self.flooders = []
        for i in range(FLOODERS):
            proc, out = self.spawn_load(f"flood{i}", self.flood_addr, FLOOD_RATE, cap + 5,
                                        timeout=FLOOD_CONNECT_TIMEOUT_S)
            self.flooders.append(proc)
            self.flood_outs.append(out)
        before = self.daemon.samples()
        last = began
        polls = 0
        while polls < 200:
            time.sleep(max(0.0, 2.0 - (time.monotonic() - last)))
            polls += 1
            elapsed = time.monotonic() - began
            if self.anomaly is None:
                self.look_for_anomaly()
            self.look_for_rule()
            now_t = time.monotonic()
            now = self.daemon.samples()
            self.progress_line(now, before, now_t - last)
            before, last = now, now_t
            if elapsed >= cap or (elapsed >= self.flood_s and self.rule and self.dropped):
                break
        for proc in self.flooders:
            tb.stop_process(proc, signal.SIGTERM, timeout=10)
        if self.rule is None:
            print(f"\n{self.t()} no rule after {cap:.0f} s of flood; see {self.daemon.log_path}")

    def look_for_anomaly(self) -> None:
        p = self.daemon.ctl("anomalies", "--json")
        if p.returncode not in (0, 3) or not p.stdout.strip():
            return
        result = json.loads(p.stdout)
        floods = [a for a in result["active"] + result["recent"]
                  if a["detector"] == "flood" and a.get("port") == PORT]
        if not floods:
            return
        self.anomaly = floods[0]
        print(f"\n{self.t()} the flood detector fired: anomaly #{self.anomaly['id']}")
        self.show("trafficctl anomalies", self.daemon.ctl("anomalies"))

    def look_for_rule(self) -> None:
        p = self.daemon.ctl("rules", "list", "--json")
        if p.returncode != 0:
            return
        new = [r for r in json.loads(p.stdout)["rules"]
               if r["origin"] == "detector" and r["id"] not in self.rules_seen]
        if not new:
            return
        self.rule = self.rule or new[0]
        for rule in new:
            self.rules_seen.add(rule["id"])
            print(f"\n{self.t()} the policy made XDP rule {rule['id']}: {rule['kind']} "
                  f"{rule['source']} (anomaly #{rule['anomaly_id']} fired in 2 consecutive "
                  "windows)")
        self.show("trafficctl rules list", self.daemon.ctl("rules", "list"))
        for rule in new:
            self.show(f"trafficctl rules explain {rule['id']}",
                      self.daemon.ctl("rules", "explain", str(rule["id"])))
        print()

    def read_drops(self, samples: dict) -> None:
        if self.rule is None:
            return
        p = self.daemon.ctl("rules", "list", "--json")
        if p.returncode == 0:
            for r in json.loads(p.stdout)["rules"]:
                if r["id"] == self.rule["id"]:
                    self.dropped = int(r["counters"]["dropped_packets"])
        for labels, v in tb.series_values(samples, RULE_DROPPED).items():
            d = dict(labels)
            if d.get("rule") == str(self.rule["id"]) and d.get("outcome") == "dropped":
                self.metric_dropped = int(v)

    def progress_line(self, now: dict, before: dict, seconds: float) -> None:
        self.read_drops(now)
        key = ("GET", "/users/{id}", 200, PORT)
        seen = tb.subtract(tb.request_counts(now), tb.request_counts(before)).get(key, 0)
        answered, refused = self.flood_outcomes()
        ok, failed = self.paced_outcomes()
        rule = (f"rule {self.rule['id']} dropped {self.dropped} packets (/metrics "
                f"{RULE_DROPPED}: {self.metric_dropped})" if self.rule else "no rule yet")
        print(f"{self.t()} /users/{{id}} {seen / seconds:7.1f} req/s | flooder: {answered} "
              f"answered, {refused} SYNs unanswered | {rule} | paced client: {ok} x 200, "
              f"{failed} failed")

    def summary(self) -> bool:
        tb.stop_process(self.wrk, signal.SIGINT, timeout=10)
        tb.stop_process(self.paced, signal.SIGTERM, timeout=10)
        self.look_for_rule()
        # The flooders have stopped: wait until /metrics publishes the rule table's final count.
        samples: dict = {}

        def caught_up() -> bool:
            nonlocal samples
            samples = self.daemon.samples()
            self.read_drops(samples)
            return self.rule is None or self.metric_dropped == self.dropped
        tb.wait_until(caught_up, timeout=15, interval=0.5)
        requests = sum(tb.request_counts(samples).values())
        answered, refused = self.flood_outcomes()
        ok, failed = self.paced_outcomes()
        a, r = self.anomaly, self.rule
        self.banner("c) SUMMARY", [
            f"requests the daemon saw: {requests}",
            f"anomaly: #{a['id']} {a['detector']}: {a['explanation']}" if a
            else "anomaly: none seen",
            (f"rule: {r['id']} {r['kind']} {r['source']} port {r['port'] or 'any'}, origin "
             f"{r['origin']} (anomaly #{r['anomaly_id']})") if r else "rule: none made",
            f"detector rules made: {len(self.rules_seen)}",
            f"packets dropped by the rule: {self.dropped} (/metrics {RULE_DROPPED}: "
            f"{self.metric_dropped})",
            f"flooder: {answered} requests answered before the rule, {refused} connects whose "
            "SYN was dropped",
            f"paced client: {ok} x 200, {failed} failures"])
        missing = []
        if a is None:
            missing.append("no flood anomaly")
        if r is None:
            missing.append("no detector rule")
        if self.dropped <= 0:
            missing.append("no dropped packets")
        if failed or ok == 0:
            missing.append(f"paced client: {ok} x 200, {failed} failures")
        if missing:
            print("demo: check failed: " + "; ".join(missing))
            print(f"--- daemon log ({self.daemon.log_path}) ---\n{self.daemon.log()}")
        elif self.args.check:
            print("demo: check passed: anomaly, rule, drops seen; the paced client never failed")
        return not missing

    def stop_daemon(self) -> int | None:
        rc = self.daemon.stop(signal.SIGTERM)
        prog = xdp_prog_id(self.lab.host_if)
        print(f"demo: traffic-analyzer exited with status {rc}; XDP on {self.lab.host_if}: "
              f"{'detached' if prog == 0 else f'still attached (prog {prog})'}")
        return rc if prog == 0 else 1


def xdp_prog_id(ifname: str) -> int:
    """The XDP program id attached to ifname (0 when none), from `ip -j -d link`."""
    p = tb.run(["ip", "-j", "-d", "link", "show", "dev", ifname], check=False)
    links = json.loads(p.stdout or "[]")
    xdp = links[0].get("xdp") if links else None
    if not xdp:
        return 0
    ids = [xdp.get("prog", {}).get("id", 0)]
    ids += [att.get("prog", {}).get("id", 0) for att in xdp.get("attached", [])]
    return next((int(i) for i in ids if i), 0)


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
    ap.add_argument("--trafficctl", help="path to trafficctl (default: next to --daemon)")
    ap.add_argument("--duration", type=int, default=50,
                    help="seconds of traffic, half normal, half flood (20..120; the flood "
                         "phase waits up to 30 s more for the rule)")
    ap.add_argument("--interval", type=float, default=5, help="seconds between views")
    ap.add_argument("--connections", type=int, default=2, help="wrk connections")
    ap.add_argument("--delay-ms", type=int, default=20,
                    help="pause between requests on each wrk connection (paces the load)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless the anomaly, the rule, dropped packets and a paced "
                         "client without failures were all seen")
    args = ap.parse_args()
    if not 20 <= args.duration <= 120:
        ap.error("--duration must be 20..120")
    if not 1 <= args.interval <= 30:
        ap.error("--interval must be 1..30")
    args.trafficctl = args.trafficctl or os.path.join(
        os.path.dirname(os.path.abspath(args.daemon)), "trafficctl")
    reason = tb.missing_prerequisite()
    if reason:
        print(f"demo: {reason}", file=sys.stderr)
        return 1
    for what, path in (("--daemon", args.daemon), ("--trafficctl", args.trafficctl)):
        if not os.access(path, os.X_OK):
            print(f"demo: {what} {path} is not executable; build first (.ci/build.sh)",
                  file=sys.stderr)
            return 1
    os.environ["TA_TRAFFICCTL"] = os.path.abspath(args.trafficctl)  # testbed's Daemon.ctl()

    sys.stdout.reconfigure(line_buffering=True)  # the live view, also through a pipe
    tb.install_signal_handlers()
    try:
        demo = Demo(args)
        demo.setup()
        demo.normal_phase()
        demo.flood_phase()
        seen_all = demo.summary()
        rc = demo.stop_daemon()
        if rc != 0:
            return 1
        return 0 if seen_all or not args.check else 1
    except KeyboardInterrupt:
        print("\ndemo: interrupted (SIGINT); cleaning up", file=sys.stderr)
        return 128 + signal.SIGINT
    except tb.Interrupted as e:
        print(f"\ndemo: interrupted ({e}); cleaning up", file=sys.stderr)
        name = str(e).removeprefix("signal ")
        return 128 + (signal.Signals[name] if name in signal.Signals.__members__
                      else signal.SIGTERM)
    except tb.TestbedError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1
    finally:
        tb.REAPER.run()
        print("demo: removed the namespace, links, routes, nginx, clients, the daemon (and "
              "with it its XDP program and tc filters) and the work dir", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
