#!/usr/bin/python3
"""End to end: a real Prometheus scrapes the daemon and evaluates the project's rules.

Scenario (one test bed, see testbed.py):
  1. nginx in a fresh namespace on port 80; the daemon watches the host veth and serves
     /metrics on 127.0.0.1:<free port>.
  2. Prometheus (Debian's `prometheus`) on 127.0.0.1:<free port>, its data in the lab's work
     dir, scraping the daemon every second with the shipped scrape job's relabelling (the
     `node` label) and loading config/prometheus/rules/traffic-analyzer.rules.yml, evaluated
     every second.
  3. Two rounds of curl, each a known number of requests to /users/<n> (200) and /fail (500);
     after each round, once the daemon's own /metrics has counted them, Prometheus's newest
     scraped sample (/api/v1/query) must equal the daemon's value exactly, and both equal what
     curl sent. Two rounds, so that rate() over the counters is not zero: the recording rules
     then give exact ratios (0 for /users/{id}, 1 for /fail, the SLO target 0.999), and the
     fast-burn alert fires for /fail (a 100 % 5xx route burns its budget 1000x) and for
     nothing else.
  4. Every query of the Grafana dashboard, with its variables set as Grafana would, is valid
     PromQL for this Prometheus, and the node and port variables list this daemon's node and
     port 80.

A second lab (PrometheusOverTls) does the same count check with the endpoint protected by
`metrics.web_config_file`: TLS with a certificate made here and basic auth with a bcrypt hash.
Prometheus scrapes it with `scheme: https`, the CA and the password file, as the commented job
in config/prometheus/prometheus.yml does; a second job with a wrong password must be down
(`up == 0`).

Needs root and the prometheus package; without them the test is skipped, unless CI is set,
where it fails.
"""

import base64
import json
import os
import signal
import ssl
import sys
import unittest
import urllib.error
import urllib.parse
import urllib.request
import warnings

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(SOURCE_DIR, "config", "prometheus", "rules", "traffic-analyzer.rules.yml")
DASHBOARD = os.path.join(SOURCE_DIR, "config", "prometheus", "grafana", "traffic-analyzer.json")
PORT = 80
USERS_ROUTE = "/users/{id}"
FAIL_ROUTE = "/fail"
# Requests per round: (users, fail). Different numbers, so a mix-up shows.
ROUNDS = [(23, 4), (17, 6)]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def scrape_job(name: str, target: str, **extra) -> dict:
    """A scrape job for one daemon, relabelled as config/prometheus/prometheus.yml does it:
    `node` is the target's host."""
    return {"job_name": name, "static_configs": [{"targets": [target]}],
            "relabel_configs": [{"source_labels": ["__address__"], "regex": "(.+):[0-9]+",
                                 "target_label": "node", "replacement": "$1"}], **extra}


class Prometheus:
    """`prometheus` on 127.0.0.1:<free port> with a generated config (JSON, which is YAML) and
    its TSDB in the lab's work dir, removed with it."""

    def __init__(self, lab: tb.VethLab, scrape_configs: list[dict]) -> None:
        self.addr = f"127.0.0.1:{tb.free_tcp_port()}"
        self.config_path = lab.path("prometheus.yml")
        self.log_path = lab.path("prometheus.log")
        self.data_dir = lab.path("prometheus-data")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": [RULES],
            "scrape_configs": scrape_configs,
        }
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)
        self.proc = None

    def start(self, timeout: float = 60) -> "Prometheus":
        tb.run(["promtool", "check", "config", self.config_path])
        self.proc = tb.spawn(["prometheus", f"--config.file={self.config_path}",
                              f"--storage.tsdb.path={self.data_dir}",
                              f"--web.listen-address={self.addr}",
                              "--storage.tsdb.retention.time=1d"],
                             self.log_path, what="prometheus")
        tb.REAPER.register("prometheus (SIGTERM)", self.stop)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise tb.TestbedError(f"prometheus exited {self.proc.returncode}:\n"
                                      + tb.tail(self.log_path))
            try:
                with _NO_PROXY.open(f"http://{self.addr}/-/ready", timeout=1) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False

        if not tb.wait_until(ready, timeout, interval=0.2):
            raise tb.TestbedError(f"prometheus not ready on {self.addr} after {timeout} s:\n"
                                  + tb.tail(self.log_path))
        return self

    def stop(self) -> None:
        if self.proc is not None:
            tb.stop_process(self.proc, signal.SIGTERM, timeout=20)

    def api(self, path: str, **params: str) -> dict:
        url = f"http://{self.addr}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with _NO_PROXY.open(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise tb.TestbedError(f"{url}: {body}")
        return body["data"]

    def query(self, expr: str) -> dict[tuple, float]:
        """Instant query -> {sorted (label, value) pairs without __name__: value}."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise tb.TestbedError(f"{expr}: result type {data['resultType']}")
        return {tuple(sorted((k, v) for k, v in s["metric"].items() if k != "__name__")):
                float(s["value"][1]) for s in data["result"]}

    def label_values(self, selector: str, label: str) -> list[str]:
        """Grafana's label_values(selector, label), from /api/v1/series."""
        url = (f"http://{self.addr}/api/v1/series?"
               + urllib.parse.urlencode({"match[]": selector}))
        with _NO_PROXY.open(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise tb.TestbedError(f"{url}: {body}")
        return sorted({s[label] for s in body["data"] if label in s})

    def log(self) -> str:
        return tb.tail(self.log_path, 40)


def dashboard_queries(node, out: list[str]) -> None:
    """Every panel query (`expr`) in the dashboard JSON."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                out.append(v)
            else:
                dashboard_queries(v, out)
    elif isinstance(node, list):
        for item in node:
            dashboard_queries(item, out)


class PrometheusEndToEnd(tb.LabTestCase):
    @classmethod
    def required_tools(cls) -> tuple[str, ...]:
        return ("prometheus", "promtool")

    @classmethod
    def lab_setup(cls) -> None:
        cls.nginx = tb.Nginx(cls.lab, ports=[PORT]).start()
        cls.daemon = tb.Daemon(cls.binary, cls.lab, [PORT]).start()
        cls.prometheus = Prometheus(
            cls.lab, [scrape_job("traffic-analyzer", cls.daemon.listen)]).start()
        cls.node = cls.daemon.listen.rsplit(":", 1)[0]

    def context(self) -> str:
        return (super().context() + f"\n--- prometheus log ({self.prometheus.log_path}) ---\n"
                + self.prometheus.log())

    def daemon_counts(self) -> dict[str, float]:
        """The daemon's own /metrics: requests per route on PORT."""
        out: dict[str, float] = {}
        for labels, h in tb.histograms(self.daemon.samples(), tb.DURATION).items():
            d = dict(labels)
            if d[tb.PORT] == str(PORT):
                out[d[tb.ROUTE]] = out.get(d[tb.ROUTE], 0) + h.count
        return out

    def prometheus_counts(self) -> dict[str, float]:
        """Prometheus's newest samples of the same counters."""
        got = self.prometheus.query(
            f'sum by (http_route) ({tb.DURATION}_count{{job="traffic-analyzer", '
            f'server_port="{PORT}"}})')
        return {dict(labels)["http_route"]: v for labels, v in got.items()}

    def send_round(self, users: int, fail: int, first_user: int) -> None:
        requests = ([tb.CurlRequest("GET", PORT, f"/users/{first_user + i}")
                     for i in range(users)]
                    + [tb.CurlRequest("GET", PORT, FAIL_ROUTE) for _ in range(fail)])
        results = tb.curl(self.lab, requests, keepalive=True)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, sorted([200] * users + [500] * fail), "curl's statuses")

    def test_scraped_counter_equals_daemon_and_rules_evaluate(self):
        # The target is up and labelled as the shipped config labels it.
        self.assertTrue(tb.wait_until(
            lambda: self.prometheus.query('up{job="traffic-analyzer"}') != {}, 30, 0.5),
            "Prometheus never scraped the daemon" + self.context())
        up = self.prometheus.query('up{job="traffic-analyzer"}')
        self.assertEqual(up, {(("instance", self.daemon.listen), ("job", "traffic-analyzer"),
                               ("node", self.node)): 1.0}, self.context())

        want = {USERS_ROUTE: 0, FAIL_ROUTE: 0}
        for n, (users, fail) in enumerate(ROUNDS):
            self.send_round(users, fail, first_user=1000 * (n + 1))
            want[USERS_ROUTE] += users
            want[FAIL_ROUTE] += fail
            # The daemon counts each exchange when its response ends: wait for all of them.
            tb.settle(self.daemon, lambda s: sum(
                h.count for labels, h in tb.histograms(s, tb.DURATION).items()),
                sum(want.values()))
            own = self.daemon_counts()
            self.assertEqual(own, want, "the daemon's own /metrics" + self.context())
            # Traffic has stopped, so the counter is stable: poll until Prometheus's newest
            # sample is that value (a scrape every second), bounded.
            seen = {}

            def caught_up() -> bool:
                seen.update(self.prometheus_counts())
                return seen == own
            tb.wait_until(caught_up, 30, interval=0.5)
            self.assertEqual(seen, own, f"round {n + 1}: Prometheus vs the daemon's /metrics"
                             + self.context())

        # Recording rules, evaluated every second from the scraped series. Rates are not
        # compared (they depend on when the scrapes fell), ratios are exact.
        series = {
            ("node_port_route:http_server_error_ratio:rate5m",
             (("http_route", FAIL_ROUTE), ("node", self.node), ("server_port", str(PORT)))): 1.0,
            ("node_port_route:http_server_error_ratio:rate5m",
             (("http_route", USERS_ROUTE), ("node", self.node), ("server_port", str(PORT)))):
                0.0,
            ("port_route:http_server_error_ratio:rate1h",
             (("http_route", FAIL_ROUTE), ("server_port", str(PORT)))): 1.0,
            ("port_route:http_server_error_ratio:rate1h",
             (("http_route", USERS_ROUTE), ("server_port", str(PORT)))): 0.0,
            ("traffic_analyzer:http_availability_slo:ratio", ()): 0.999,
        }
        names = sorted({name for name, _ in series})
        got = {}

        def recorded() -> bool:
            got.clear()
            for name in names:
                for labels, v in self.prometheus.query(name).items():
                    got[(name, labels)] = v
            return got == series
        tb.wait_until(recorded, 30, interval=0.5)
        self.assertEqual(got, series, "recorded series" + self.context())
        rate = self.prometheus.query(
            f'node_port_route:http_server_requests:rate5m{{http_route="{USERS_ROUTE}"}}')
        self.assertEqual(len(rate), 1, f"requests rate series: {rate}")
        self.assertGreater(next(iter(rate.values())), 0, "the request rate of /users/{id}")

        # /fail answered 500 every time: 1000x the 0.1 % budget, in the 1h and 5m windows.
        firing = {}

        def alert_fires() -> bool:
            firing.clear()
            firing.update(self.prometheus.query(
                'ALERTS{alertname="TrafficAnalyzerErrorBudgetBurnFast", alertstate="firing"}'))
            return bool(firing)
        tb.wait_until(alert_fires, 30, interval=0.5)
        self.assertEqual(firing, {(("alertname", "TrafficAnalyzerErrorBudgetBurnFast"),
                                   ("alertstate", "firing"), ("http_route", FAIL_ROUTE),
                                   ("server_port", str(PORT)), ("severity", "critical"),
                                   ("window", "1h")): 1.0},
                         "firing fast-burn alerts" + self.context())
        # The agent-health alerts stay quiet on a healthy run.
        others = self.prometheus.query(
            'ALERTS{alertname=~"TrafficAnalyzer.*", '
            'alertname!~"TrafficAnalyzerErrorBudgetBurn.*"}')
        self.assertEqual(others, {}, "agent-health alerts on a healthy daemon" + self.context())

        self.check_dashboard()

    def check_dashboard(self) -> None:
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        # The variables as Grafana resolves them: label_values(selector, label).
        values = {"job": ["traffic-analyzer"]}
        for name in ("job", "node", "port"):
            query = variables[name]["query"]["query"]
            for var, vals in values.items():
                query = query.replace(f"${var}", "|".join(vals))
            selector, label = query[len("label_values("):-1].rsplit(",", 1)
            values[name] = self.prometheus.label_values(selector.strip(), label.strip())
        self.assertEqual(values, {"job": ["traffic-analyzer"], "node": [self.node],
                                  "port": [str(PORT)]}, "dashboard variables")
        substitutions = {"$job": "traffic-analyzer", "$node": self.node, "$port": str(PORT),
                         "$conn_max": variables["conn_max"]["query"]}
        queries: list[str] = []
        dashboard_queries(dashboard, queries)
        self.assertGreater(len(queries), 30, "queries found in the dashboard")
        failed = []
        for q in queries:
            for var, value in substitutions.items():
                q = q.replace(var, value)
            self.assertNotIn("$", q, "a dashboard variable this test does not know")
            try:
                self.prometheus.query(q)
            except (tb.TestbedError, urllib.error.HTTPError) as e:
                failed.append(f"{q}: {e}")
        self.assertEqual(failed, [], "dashboard queries Prometheus refused")


USER, PASSWORD = "prometheus", "scrape-secret-7"


def bcrypt_hash(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: removed in Python 3.13
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


class TlsDaemon(tb.Daemon):
    """A daemon whose /metrics needs TLS (a self-signed certificate for 127.0.0.1) and basic
    auth, through metrics.web_config_file."""

    def __init__(self, binary: str, lab: tb.VethLab, ports: list[int]) -> None:
        super().__init__(binary, lab, ports, name="tls-daemon")
        self.cert = lab.path("metrics-cert.pem")
        key = lab.path("metrics-key.pem")
        tb.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", key, "-out", self.cert])
        os.chmod(key, 0o600)  # the daemon refuses a key file others can read
        self.web_config = lab.path("metrics-web.yml")
        with open(self.web_config, "w") as f:
            json.dump({"tls_server_config": {"cert_file": self.cert, "key_file": key},
                       "basic_auth_users": {USER: bcrypt_hash(PASSWORD)}}, f, indent=2)
        with open(self.config_path) as f:
            config = f.read()
        plain = f"metrics: {{listen: {json.dumps(self.listen)}}}"
        if plain not in config:
            raise tb.TestbedError(f"no {plain!r} line in the generated daemon config")
        with open(self.config_path, "w") as f:
            f.write(config.replace(plain, f"metrics: {{listen: {json.dumps(self.listen)}, "
                                          f"web_config_file: {json.dumps(self.web_config)}}}"))
        self._tls = ssl.create_default_context(cafile=self.cert)

    def scrape(self, timeout: float = 5) -> str:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(f"https://{self.listen}/metrics",
                                         headers={"Authorization": f"Basic {token}"})
        with urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=self._tls)
                                         ).open(request, timeout=timeout) as r:
            return r.read().decode()


class PrometheusOverTls(tb.LabTestCase):
    @classmethod
    def required_tools(cls) -> tuple[str, ...]:
        return ("prometheus", "promtool", "openssl")

    @classmethod
    def lab_setup(cls) -> None:
        cls.nginx = tb.Nginx(cls.lab, ports=[PORT]).start()
        cls.daemon = TlsDaemon(cls.binary, cls.lab, [PORT]).start()
        password_file = cls.lab.path("prometheus.password")
        wrong_file = cls.lab.path("prometheus.wrong-password")
        for path, secret in ((password_file, PASSWORD), (wrong_file, PASSWORD + "x")):
            with open(path, "w") as f:
                f.write(secret + "\n")
        tls_config = {"ca_file": cls.daemon.cert}
        cls.prometheus = Prometheus(cls.lab, [
            scrape_job("traffic-analyzer", cls.daemon.listen, scheme="https",
                       tls_config=tls_config,
                       basic_auth={"username": USER, "password_file": password_file}),
            scrape_job("wrong-password", cls.daemon.listen, scheme="https",
                       tls_config=tls_config,
                       basic_auth={"username": USER, "password_file": wrong_file}),
        ]).start()

    def context(self) -> str:
        return (super().context() + f"\n--- prometheus log ({self.prometheus.log_path}) ---\n"
                + self.prometheus.log())

    def test_scrape_over_tls_with_basic_auth(self):
        def both_scraped() -> bool:
            return len(self.prometheus.query("up")) == 2
        self.assertTrue(tb.wait_until(both_scraped, 30, 0.5),
                        "Prometheus never scraped the daemon" + self.context())
        up = {dict(labels)["job"]: v for labels, v in self.prometheus.query("up").items()}
        self.assertEqual(up, {"traffic-analyzer": 1.0, "wrong-password": 0.0},
                         "up per job (TLS + right password, TLS + wrong password)"
                         + self.context())

        users = 29
        results = tb.curl(self.lab, [tb.CurlRequest("GET", PORT, f"/users/{7000 + i}")
                                     for i in range(users)], keepalive=True)
        self.assertEqual([r.status for r in results], [200] * users)
        tb.settle(self.daemon, lambda s: sum(
            h.count for h in tb.histograms(s, tb.DURATION).values()), users)
        query = (f'sum by (http_route) ({tb.DURATION}_count{{job="traffic-analyzer", '
                 f'server_port="{PORT}"}})')
        seen = {}

        def caught_up() -> bool:
            seen.clear()
            seen.update({dict(k)["http_route"]: v
                         for k, v in self.prometheus.query(query).items()})
            return seen == {USERS_ROUTE: users}
        tb.wait_until(caught_up, 30, interval=0.5)
        self.assertEqual(seen, {USERS_ROUTE: users},
                         "Prometheus over TLS vs curl" + self.context())


if __name__ == "__main__":
    tb.main()
