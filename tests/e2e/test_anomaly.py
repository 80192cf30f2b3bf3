#!/usr/bin/python3
"""End to end: the anomaly engine in the daemon, on real traffic to a real nginx.

Scenario (one test bed, see testbed.py); windows are 1 s and warm-up 10 windows so the test
takes about a minute, the detectors are the shipped ones:
  1. nginx in a fresh namespace on 80; the daemon watches the host veth, writes anomalies to a
     JSON lines file (alerts.jsonl) and keeps its state in the lab's work dir.
  2. Normal traffic: a paced keep-alive client, 30 req/s on GET /users/<n> (route
     /users/{id}, 20 users), for 15 s.
  3. Flood: wrk against /users/7 for 4 s (thousands of req/s), then normal traffic again.
     Exactly one flood anomaly fires, on :80 /users/{id}, naming the host's address as the top
     source, and it resolves; the JSON lines and /metrics agree.
  4. 5xx burst: 300 requests to /fail (500) next to the normal traffic: the error-budget
     circuit rule fires on :80 /fail.
  5. SIGTERM writes the baselines; a second daemon on the same state dir restores them; a
     third, after the state file is overwritten with garbage, sets it aside and says so.

Needs root; without it the test is skipped, unless CI is set, where it fails.
"""

import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 80
NORMAL_RATE = 30.0  # req/s
ANOMALY_YAML = """anomaly:
  window_seconds: 1
  resolve_after_windows: 3
  save_interval_seconds: 10
  flood: {{min_windows: 10, min_rate: 20}}
alerts:
  jsonl: {{enabled: true, path: {jsonl}}}
"""


class PacedClient:
    """GET /users/<n> at a steady rate on one keep-alive connection, in a thread, until
    stopped. Paced by relative sleeps: a stalled loop never catches up in a burst, which
    would itself look like a flood."""

    # 20 users, not adjacent: a normal client, not an enumeration (the BOLA detector would
    # rightly flag 50 sequential IDs).
    def __init__(self, addr: str, rate: float,
                 path_of=lambda i: f"/users/{1000 + (i * 7) % 20 * 13}"):
        self.addr, self.rate, self.path_of = addr, rate, path_of
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "PacedClient":
        self._thread.start()
        return self

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.addr, PORT, timeout=5)
        deadline = time.monotonic() + 600  # bounded whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            conn.request("GET", self.path_of(self.sent))
            response = conn.getresponse()
            response.read()
            self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
            self.sent += 1
            time.sleep(max(0.0, 1.0 / self.rate - (time.monotonic() - began)))
        conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def read_jsonl(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class AnomalyEndToEnd(tb.LabTestCase):

    @classmethod
    def required_tools(cls):
        return ("nginx", "wrk")

    @classmethod
    def lab_setup(cls):
        lab = cls.lab
        cls.jsonl = lab.path("anomalies.jsonl")
        cls.state_dir = lab.path("daemon-state")
        cls.nginx = tb.Nginx(lab, ports=[PORT]).start()
        cls.daemon = tb.Daemon(cls.binary, lab, [PORT],
                               extra_yaml=ANOMALY_YAML.format(jsonl=json.dumps(cls.jsonl))).start()
        addr = lab.ns_addr
        normal = PacedClient(addr, NORMAL_RATE).start()
        try:
            time.sleep(15)  # warm-up: 10 windows of 1 s, with margin
            cls.before_flood = read_jsonl(cls.jsonl)
            tb.run(tb.wrk_command(lab, PORT, ["/users/7"], duration_s=4, connections=4),
                   timeout=30)
            # Resolution needs 3 quiet windows, the engine's 2 s lateness and a tick.
            tb.wait_until(lambda: any(r["state"] == "resolved" and r["detector"] == "flood"
                                      for r in read_jsonl(cls.jsonl)), timeout=30)
            cls.after_flood = read_jsonl(cls.jsonl)
            failing = PacedClient(addr, 60.0, path_of=lambda i: "/fail").start()
            time.sleep(5)
            failing.stop()
            tb.wait_until(lambda: any(r["detector"] == "error_budget"
                                      for r in read_jsonl(cls.jsonl)), timeout=20)
        finally:
            normal.stop()
        cls.failing_sent = failing.sent

        # The delivery counters reach /metrics at the daemon's next housekeeping (1 s): scrape
        # once they caught up with the file, so both sides describe the same records.
        def settled() -> bool:
            cls.samples = cls.daemon.samples()
            cls.records = read_jsonl(cls.jsonl)
            sent = tb.series_values(cls.samples, "traffic_analyzer_alerts_sent_total")
            return int(sent.get((("sink", "jsonl"),), -1)) == len(cls.records)
        tb.wait_until(settled, timeout=10, interval=0.5)
        cls.ctl = cls.daemon.ctl("anomalies", "--limit", "50", "--json")
        cls.ctl_text = cls.daemon.ctl("anomalies")
        cls.first_exit = cls.daemon.stop()
        cls.first_log = cls.daemon.log()

    def test_no_anomaly_before_the_flood(self):
        self.assertEqual(self.before_flood, [])

    def test_the_flood_fires_once_on_its_route_and_resolves(self):
        flood = [r for r in self.after_flood if r["detector"] == "flood"]
        self.assertEqual([r["state"] for r in flood], ["firing", "resolved"], flood)
        fired, resolved = flood
        self.assertEqual(fired["id"], resolved["id"])
        self.assertEqual((fired["port"], fired["route"]), (PORT, "/users/{id}"))
        self.assertEqual(fired["clients"][0]["address"], self.lab.host_addr)
        self.assertGreater(fired["observed"], 3 * fired["baseline"])
        self.assertGreater(fired["score"], fired["threshold"])
        self.assertTrue(fired["explanation"].startswith("flood on :80 /users/{id}: "),
                        fired["explanation"])
        self.assertIn(f"top sources {self.lab.host_addr} (", fired["explanation"])

    def test_the_5xx_burst_trips_the_circuit_rule(self):
        errors = [r for r in self.records if r["detector"] == "error_budget"]
        self.assertGreaterEqual(self.failing_sent, 100)
        self.assertEqual(errors[0]["state"], "firing", errors)
        self.assertEqual((errors[0]["port"], errors[0]["route"], errors[0]["severity"]),
                         (PORT, "/fail", "critical"))
        self.assertIn("circuit rule: 5xx ratio 100.00 %", errors[0]["explanation"])

    def test_metrics_count_what_the_log_has(self):
        fired = tb.series_values(self.samples, "traffic_analyzer_anomalies_total")
        by_detector: dict[str, float] = {}
        for labels, value in fired.items():
            d = dict(labels)["detector"]
            by_detector[d] = by_detector.get(d, 0) + value
        log_counts: dict[str, int] = {}
        for r in self.records:
            if r["state"] == "firing":
                log_counts[r["detector"]] = log_counts.get(r["detector"], 0) + 1
        self.assertEqual({d: int(v) for d, v in by_detector.items() if v}, log_counts)
        sent = tb.series_values(self.samples, "traffic_analyzer_alerts_sent_total")
        self.assertEqual(int(sent[(("sink", "jsonl"),)]), len(self.records))
        learned = tb.series_values(self.samples, "traffic_analyzer_anomaly_baseline_learned_ratio")
        self.assertGreater(learned[(("detector", "flood"),)], 0.0)

    def test_trafficctl_anomalies_shows_what_fires_with_explanations(self):
        self.assertEqual(self.ctl.returncode, 3, self.ctl.stderr)  # something is firing
        listed = json.loads(self.ctl.stdout)
        # The error budget's 5 min window still holds the /fail burst: active.
        self.assertIn(("error_budget", "/fail"),
                      [(a["detector"], a["route"]) for a in listed["active"]])
        # Every record of the JSON lines sink is in the recent list, same id, state and text.
        recent = {(a["id"], a["state"]): a for a in listed["recent"]}
        for r in self.records:
            self.assertIn((r["id"], r["state"]), recent)
            self.assertEqual(recent[(r["id"], r["state"])]["explanation"], r["explanation"])
        self.assertEqual(self.ctl_text.returncode, 3, self.ctl_text.stderr)
        self.assertIn("flood on :80 /users/{id}", self.ctl_text.stdout)

    def test_state_survives_a_restart_and_garbage_is_set_aside(self):
        self.assertEqual(self.first_exit, 0, self.first_log)
        state = os.path.join(self.state_dir, "anomaly.state")
        self.assertTrue(os.path.exists(state))
        snapshots = tb.series_values(self.samples, "traffic_analyzer_state_snapshots_total")
        self.assertEqual(snapshots[(("result", "set_aside"),)], 0)

        second = tb.Daemon(self.binary, self.lab, [PORT], name="daemon",
                           extra_yaml=ANOMALY_YAML.format(jsonl=json.dumps(self.jsonl))).start()
        restored = tb.series_values(second.samples(), "traffic_analyzer_state_snapshots_total")
        self.assertEqual(second.stop(), 0, second.log())
        self.assertEqual(restored[(("result", "restored"),)], 1, second.log())
        self.assertIn("anomaly baselines restored from " + state, second.log())

        with open(state, "wb") as f:
            f.write(b"not a snapshot\n")
        third = tb.Daemon(self.binary, self.lab, [PORT], name="daemon",
                          extra_yaml=ANOMALY_YAML.format(jsonl=json.dumps(self.jsonl))).start()
        set_aside = tb.series_values(third.samples(), "traffic_analyzer_state_snapshots_total")
        self.assertEqual(third.stop(), 0, third.log())
        self.assertEqual(set_aside[(("result", "set_aside"),)], 1, third.log())
        self.assertEqual(set_aside[(("result", "restored"),)], 0)
        aside = [n for n in os.listdir(self.state_dir) if n.startswith("anomaly.state.corrupt-")]
        self.assertEqual(len(aside), 1, os.listdir(self.state_dir))
        self.assertIn("is unusable", third.log())


if __name__ == "__main__":
    tb.main()
