#!/usr/bin/python3
"""prometheus.names: the rules and the dashboard use only metrics the agent exports.

  - Every metric name in a rule expression, a dashboard query or a dashboard variable is a
    family of docs/metrics.md (histograms as _bucket, _count, _sum), Prometheus's own `up`, or
    a series recorded by the rules. docs/metrics.md is the list tests/agent/metrics_test.cc
    keeps equal to what the daemon registers, so no name here dangles.
  - Every alert has summary, description and a runbook_url `docs/FILE.md#anchor` whose anchor
    is a heading of that file (GitHub's slug), and is described in docs/prometheus.md.
  - Every alert name the docs mention (docs/*.md, README.md: `TrafficAnalyzer...`) is an alert
    of the rules, or TrafficAnalyzerAnomaly, the one the daemon's Alertmanager sink sends.
  - The dashboard is JSON with unique panel ids, the datasource, node and port variables, and
    every panel on the datasource variable.
  - The checker itself catches a dangling name and a dangling anchor (so it can fail).

Needs PyYAML (Debian python3-yaml); without it the test is skipped (exit 77) unless CI is set.
Usage: check_names.py SOURCE_DIR
"""

import glob
import json
import os
import re
import sys

SKIP = 77
# The alertname of the daemon's own Alertmanager sink (agent/alerts/, docs/alerts.md).
DAEMON_ALERTS = {"TrafficAnalyzerAnomaly"}
PROMETHEUS_OWN = {"up"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "bool", "inf", "nan", "atan2"}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def documented_series(metrics_md: str) -> set[str]:
    """Series names of every family in docs/metrics.md's tables: `| `name` | type | ...`."""
    names = set()
    for m in re.finditer(r"^\| `([a-z_][a-z0-9_]*)` \| (counter|gauge|histogram) \|",
                         metrics_md, re.M):
        name, kind = m.groups()
        if kind == "histogram":
            names |= {name + "_bucket", name + "_count", name + "_sum"}
        else:
            names.add(name)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (or a Grafana label_values() query)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\$\{?\w+\}?", "0", text)                 # Grafana variables
    text = re.sub(r"\{[^}]*\}", " ", text)                   # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)                  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    # label_values(metric, label): the second argument is a label.
    text = re.sub(r"\blabel_values\s*\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*\w+\s*\)",
                  r"(\1)", text)
    names = set()
    for m in IDENT.finditer(text):
        if m.start() > 0 and (text[m.start() - 1].isdigit() or text[m.start() - 1] == "."):
            continue  # the exponent or suffix of a number
        rest = text[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        if m.group(0).lower() in KEYWORDS:
            continue
        names.add(m.group(0))
    return names


def github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", markdown, re.M):
        slug = m.group(1).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", slug)
        anchors.add(slug.replace(" ", "-"))
    return anchors


def dashboard_queries(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                out.append(v)
            elif k in ("query", "definition") and isinstance(v, str) and "(" in v:
                out.append(v)
            else:
                dashboard_queries(v, out)
    elif isinstance(node, list):
        for item in node:
            dashboard_queries(item, out)


def all_panels(panels: list) -> list:
    out = []
    for p in panels:
        out.append(p)
        out += all_panels(p.get("panels", []))
    return out


class Checker:
    def __init__(self, src: str, documented: set[str]):
        self.src = src
        self.documented = documented
        self.errors: list[str] = []
        self.docs: dict[str, str] = {}

    def doc(self, rel: str) -> str | None:
        if rel not in self.docs:
            path = os.path.join(self.src, rel)
            self.docs[rel] = open(path).read() if os.path.isfile(path) else None
        return self.docs[rel]

    def check_names(self, where: str, expr: str, recorded: set[str]) -> None:
        for name in sorted(metric_names(expr)):
            if name in self.documented or name in PROMETHEUS_OWN or name in recorded:
                continue
            why = ("a recorded name no rule records" if ":" in name
                   else "not a family in docs/metrics.md")
            self.errors.append(f"{where}: `{name}` is {why}")

    def check_rules(self, path: str, groups: list) -> set[str]:
        recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
        for g in groups:
            for r in g["rules"]:
                what = r.get("record") or r.get("alert")
                self.check_names(f"{os.path.basename(path)} {what}", r["expr"], recorded)
                if "alert" in r:
                    self.check_alert(r)
        return recorded

    def check_alert(self, rule: dict) -> None:
        name = rule["alert"]
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not str(ann.get(key, "")).strip():
                self.errors.append(f"alert {name}: no {key} annotation")
        if "severity" not in rule.get("labels", {}):
            self.errors.append(f"alert {name}: no severity label")
        url = ann.get("runbook_url", "")
        m = re.fullmatch(r"(docs/[\w.-]+\.md)#([\w-]+)", url)
        if not m:
            self.errors.append(f"alert {name}: runbook_url {url!r} is not docs/FILE.md#anchor")
        else:
            text = self.doc(m.group(1))
            if text is None:
                self.errors.append(f"alert {name}: runbook {m.group(1)} does not exist")
            elif m.group(2) not in github_anchors(text):
                self.errors.append(f"alert {name}: {m.group(1)} has no heading #{m.group(2)}")
        guide = self.doc("docs/prometheus.md") or ""
        if f"`{name}`" not in guide:
            self.errors.append(f"alert {name}: not described in docs/prometheus.md")

    def check_dashboard(self, path: str, recorded: set[str]) -> None:
        try:
            with open(path) as f:
                dash = json.load(f)
        except ValueError as e:
            self.errors.append(f"{path}: not JSON: {e}")
            return
        panels = all_panels(dash.get("panels", []))
        ids = [p.get("id") for p in panels]
        dupes = sorted({i for i in ids if ids.count(i) > 1 or i is None}, key=str)
        if dupes:
            self.errors.append(f"{os.path.basename(path)}: panel ids not unique: {dupes}")
        if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
            self.errors.append(f"{os.path.basename(path)}: schemaVersion "
                               f"{dash.get('schemaVersion')} (want >= 36)")
        variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
        if variables.get("datasource", {}).get("type") != "datasource":
            self.errors.append(f"{os.path.basename(path)}: no datasource variable")
        for var in ("node", "port"):
            if variables.get(var, {}).get("type") != "query":
                self.errors.append(f"{os.path.basename(path)}: no {var} query variable")
        for p in panels:
            if p.get("type") == "row":
                continue
            if p.get("datasource", {}).get("uid") != "${datasource}":
                self.errors.append(f"panel {p.get('id')} {p.get('title')!r}: not on "
                                   "${datasource}")
            if not p.get("targets"):
                self.errors.append(f"panel {p.get('id')} {p.get('title')!r}: no queries")
        queries: list[str] = []
        dashboard_queries(dash, queries)
        if not queries:
            self.errors.append(f"{os.path.basename(path)}: no queries found")
        for q in queries:
            self.check_names(f"{os.path.basename(path)} query {q!r}", q, recorded)


def self_test(documented: set[str]) -> list[str]:
    """The checker must flag a dangling name, a recorded name nobody records, and an anchor
    that is not a heading; and must pass the names it should."""
    problems = []
    c = Checker("/nonexistent", documented)
    c.check_names("t", 'sum by (http_route) (rate(http_server_requests_total{a="b"}[5m]))', set())
    c.check_names("t", "rate(traffic_analyzer_events_lost_total[5m]) > 0", set())
    c.check_names("t", "port_route:nothing:rate5m > 1", set())
    if len(c.errors) != 2 or "http_server_requests_total" not in c.errors[0] \
            or "port_route:nothing:rate5m" not in c.errors[1]:
        problems.append(f"self-test: names: {c.errors}")
    if metric_names('histogram_quantile(0.99, sum by (le) (rate(x_bucket{le="1e3"}[5m])))') \
            != {"x_bucket"}:
        problems.append("self-test: metric_names() of a quantile query")
    if metric_names('label_values(up{job=~"$job"}, node)') != {"up"}:
        problems.append("self-test: metric_names() of label_values()")
    if "the-daemon-runs-but-i-see-no-http_server_-series" not in github_anchors(
            "## The daemon runs but I see no `http_server_*` series\n"):
        problems.append("self-test: github_anchors()")
    return problems


def main() -> int:
    src = os.path.abspath(sys.argv[1])
    try:
        import yaml
    except ImportError:
        if in_ci():
            print("FAIL: CI is set but PyYAML is missing (Debian python3-yaml)")
            return 1
        print("skipped: PyYAML is missing (Debian python3-yaml)")
        return SKIP
    with open(os.path.join(src, "docs", "metrics.md")) as f:
        documented = documented_series(f.read())
    problems = self_test(documented)
    if len(documented) < 50:
        problems.append(f"docs/metrics.md: only {len(documented)} series names parsed")
    checker = Checker(src, documented)
    recorded: set[str] = set()
    rule_files = sorted(glob.glob(os.path.join(src, "config", "prometheus", "rules", "*.yml")))
    alerts = 0
    for path in rule_files:
        with open(path) as f:
            groups = yaml.safe_load(f)["groups"]
        recorded |= checker.check_rules(path, groups)
        alerts += sum(1 for g in groups for r in g["rules"] if "alert" in r)
    alert_names = set()
    for path in rule_files:
        with open(path) as f:
            alert_names |= {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]
                            if "alert" in r}
    docs = sorted(glob.glob(os.path.join(src, "docs", "*.md"))) + [os.path.join(src, "README.md")]
    for path in docs:
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            mentioned = set(re.findall(r"\bTrafficAnalyzer[A-Z][A-Za-z]*", f.read()))
        for name in sorted(mentioned - alert_names - DAEMON_ALERTS):
            problems.append(f"{os.path.relpath(path, src)} mentions alert {name}, which no rule "
                            "defines")
    dashboards = sorted(glob.glob(os.path.join(src, "config", "prometheus", "grafana",
                                               "*.json")))
    for path in dashboards:
        checker.check_dashboard(path, recorded)
    if not rule_files or not dashboards or not alerts:
        problems.append(f"nothing checked: rules {rule_files}, dashboards {dashboards}")
    problems += checker.errors
    for p in problems:
        print("FAIL: " + p)
    if not problems:
        print(f"ok: {len(rule_files)} rule file(s), {alerts} alerts, {len(recorded)} recorded "
              f"names, {len(dashboards)} dashboard(s) against {len(documented)} documented "
              "series")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
