#!/usr/bin/python3
"""End to end: `trafficctl doctor` on a real node, with a real daemon and a foreign program.

  1. The daemon runs on the lab's host veth with XDP enforcement on. `doctor --json --config
     <its config>` exits 0 or 1 (1 only for a warning that depends on the machine, e.g. an
     unsynchronized clock) and the checks that are deterministic here have exact statuses;
     foreign-programs:<veth> lists our XDP program (by the id `ip link` shows) and our tc
     filters as ours.
  2. A second interface the test makes gets a foreign XDP program (generic) and a foreign tc
     filter at priority 1, both compiled here with clang. A config naming that interface with
     enforcement on: exit 2, foreign-programs fails with the XDP program's id, and the tc
     filter is explained as running before ours.
  3. The daemon stopped: exit 2, the daemon check fails with the systemctl/journalctl fix and
     the socket path.
  4. The doctor itself cannot run (a --config that does not exist, an extra argument): exit 3.

Needs root; without it the test is skipped, unless CI is set, where it fails.
"""

import json
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 8080
ENFORCE_YAML = "enforcement: {enabled: true, attach_mode: auto}\n"
# A program of nobody we know: XDP passes, tc says TC_ACT_UNSPEC (-1) so it changes nothing.
FOREIGN_C = r"""
__attribute__((section("xdp"), used)) int foreign_xdp(void *ctx) { return 2; }
__attribute__((section("tc"), used)) int foreign_tc(void *ctx) { return -1; }
char _license[] __attribute__((section("license"), used)) = "GPL";
"""


def xdp_prog_id(ifname: str) -> int:
    links = json.loads(tb.run(["ip", "-j", "-d", "link", "show", "dev", ifname]).stdout)
    xdp = (links[0].get("xdp") if links else None) or {}
    return int((xdp.get("prog") or {}).get("id", 0))


class Doctor(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tb.require_testbed(tools=("clang",))
        cls.binary = tb.daemon_binary()
        cls.ctl = os.environ.get("TA_TRAFFICCTL", "")
        if not cls.ctl:
            raise tb.TestbedError("TA_TRAFFICCTL is not set (ctest sets it)")
        cls.addClassCleanup(tb.REAPER.run)
        cls.lab = tb.VethLab("e2e").setup(os.environ.get("TA_E2E_ARTIFACTS"))
        cls.daemon = tb.Daemon(cls.binary, cls.lab, [PORT], extra_yaml=ENFORCE_YAML).start()

    def doctor(self, *args: str) -> tuple[int, dict]:
        p = tb.run([self.ctl, "doctor", "--json", *args], check=False, timeout=30)
        self.assertEqual(p.stderr, "", p.stderr)
        try:
            report = json.loads(p.stdout)
        except json.JSONDecodeError:
            self.fail(f"not JSON (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
        for check in report["checks"]:
            self.assertEqual(sorted(check), ["detail", "fix", "name", "status", "summary"])
        return p.returncode, report

    @staticmethod
    def by_name(report: dict) -> dict[str, dict]:
        return {c["name"]: c for c in report["checks"]}

    def assert_verdict_matches(self, rc: int, report: dict) -> None:
        statuses = {c["status"] for c in report["checks"]}
        expected = 2 if "fail" in statuses else 1 if "warn" in statuses else 0
        self.assertEqual(rc, expected, json.dumps(report, indent=1))
        self.assertEqual(report["status"], ["healthy", "degraded", "broken"][expected])

    def test_1_running_daemon_with_enforcement(self):
        host = self.lab.host_if
        rc, report = self.doctor("--config", self.daemon.config_path)
        self.assert_verdict_matches(rc, report)
        self.assertIn(rc, (0, 1), json.dumps(report, indent=1))
        checks = self.by_name(report)
        for name in ("config", "kernel", "btf", "ringbuf", "tc", f"xdp:{host}", "capabilities",
                     "memlock", "bpffs", f"foreign-programs:{host}", "ringbuf-pressure",
                     "map-pressure", "metrics-endpoint", "state-dir", "daemon"):
            self.assertEqual(checks[name]["status"], "ok", json.dumps(checks[name], indent=1))
        # Whatever is not ok here depends on the machine, not on us (the clock's sync state).
        not_ok = sorted(n for n, c in checks.items() if c["status"] not in ("ok", "skip"))
        self.assertTrue(set(not_ok) <= {"clock", "uprobes", "tracepoints", "tracefs"}, not_ok)
        self.assertEqual(checks["config"]["summary"], f"{self.daemon.config_path} loads")
        self.assertEqual(checks["metrics-endpoint"]["summary"],
                         f"GET http://{self.daemon.listen}/metrics: 200")
        self.assertTrue(checks["daemon"]["summary"].startswith("running: version "))
        self.assertIn(f", pid {self.daemon.pid}, ", checks["daemon"]["summary"])
        self.assertTrue(checks["daemon"]["summary"].endswith(
            f"control socket {self.daemon.socket}"))
        self.assertIn(f"daemon (pid {self.daemon.pid}, uid 0) has ",
                      checks["capabilities"]["summary"])
        state = self.lab.path("daemon-state")
        self.assertTrue(checks["state-dir"]["summary"].startswith(f"{state}: directory, mode "),
                        checks["state-dir"]["summary"])
        self.assertTrue(checks["state-dir"]["summary"].endswith(
            ", owner uid 0, writable by the daemon (uid 0)"))
        self.assertEqual(checks["ringbuf-pressure"]["summary"].split(" (")[0],
                         "no events lost in the last interval")
        # connections tracked/max are in `status` once the daemon hands the analyzer to the
        # control handler (DaemonView::analyzer); the rules part is always there.
        status = json.loads(self.daemon.ctl("--json", "status", check=True).stdout)
        if "connections" in status:
            self.assertEqual(checks["map-pressure"]["summary"],
                             f"connections {status['connections']['tracked']}/65536 (0%), "
                             "XDP rules 0/16384 (0%)")
        else:
            self.assertEqual(checks["map-pressure"]["summary"], "XDP rules 0/16384 (0%)")
        prog = xdp_prog_id(host)
        self.assertNotEqual(prog, 0, "the daemon attached no XDP program")
        foreign = checks[f"foreign-programs:{host}"]["summary"]
        self.assertTrue(foreign.startswith("no foreign programs; ours: "), foreign)
        self.assertIn(f"id {prog} ta_xdp_enforce (ours)", foreign)
        self.assertIn(" ta_tc_ingress (ours)", foreign)
        self.assertIn(" ta_tc_egress (ours)", foreign)
        # veth has native XDP (since 4.19) and says so in its xdp-features (6.3+): auto picks it.
        xdp = checks[f"xdp:{host}"]["summary"]
        self.assertTrue(xdp.startswith("generic: always; native: supported (driver xdp-features: "
                                       "basic, "), xdp)
        self.assertTrue(xdp.endswith(f"; the daemon attached native mode, program id {prog}"), xdp)
        self.assertIn(f"xdp native id {prog} ta_xdp_enforce (ours)", foreign)

    def test_2_foreign_xdp_program_on_an_enforced_interface(self):
        second = self.lab.drop_sink(in_netns=False)
        src, obj = self.lab.path("foreign.c"), self.lab.path("foreign.o")
        with open(src, "w") as f:
            f.write(FOREIGN_C)
        tb.run(["clang", "-O2", "-target", "bpf", "-c", src, "-o", obj])
        tb.run(["ip", "link", "set", "dev", second, "xdpgeneric", "obj", obj, "sec", "xdp"])
        tb.REAPER.register(f"xdp on {second}", lambda: tb.run(
            ["ip", "link", "set", "dev", second, "xdpgeneric", "off"], check=False))
        tb.run(["tc", "qdisc", "add", "dev", second, "clsact"])
        tb.REAPER.register(f"clsact on {second}", lambda: tb.run(
            ["tc", "qdisc", "del", "dev", second, "clsact"], check=False))
        tb.run(["tc", "filter", "add", "dev", second, "ingress", "prio", "1", "bpf", "da", "obj",
                obj, "sec", "tc"])
        prog = xdp_prog_id(second)
        self.assertNotEqual(prog, 0)
        config = self.lab.path("second.yaml")
        with open(config, "w") as f:
            f.write(tb.daemon_config_yaml([second], [PORT], self.daemon.listen,
                                          state_dir=self.lab.path("daemon-state"),
                                          control_socket=self.daemon.socket,
                                          extra_yaml=ENFORCE_YAML))
        rc, report = self.doctor("--config", config)
        self.assertEqual(rc, 2, json.dumps(report, indent=1))
        self.assertEqual(report["status"], "broken")
        check = self.by_name(report)[f"foreign-programs:{second}"]
        self.assertEqual(check["status"], "fail", json.dumps(check, indent=1))
        self.assertTrue(check["summary"].startswith(
            f"foreign: xdp generic id {prog} foreign_xdp, tc ingress prio 1 id "), check["summary"])
        self.assertTrue(check["summary"].endswith(" foreign_tc; none of ours attached"),
                        check["summary"])
        self.assertTrue(check["detail"].startswith(
            f"enforcement is enabled on {second} and another XDP program holds it (foreign_xdp "
            f"id {prog} (generic)): the daemon refuses to start rather than replace it; tc "
            f"ingress id "), check["detail"])
        self.assertIn(" runs before ours (prio 1 < 21569)", check["detail"])
        self.assertTrue(check["fix"].startswith(
            f"if it is stale, detach it: `ip link set dev {second} xdpgeneric off`"))
        # Only that interface is broken: the daemon itself is still fine.
        self.assertEqual(self.by_name(report)["daemon"]["status"], "ok")

    def test_3_stopped_daemon_is_broken(self):
        self.assertEqual(self.daemon.stop(), 0, self.daemon.log())
        rc, report = self.doctor("--config", self.daemon.config_path)
        self.assertEqual(rc, 2, json.dumps(report, indent=1))
        self.assertEqual(report["status"], "broken")
        checks = self.by_name(report)
        daemon = checks["daemon"]
        self.assertEqual(daemon["status"], "fail")
        self.assertEqual(daemon["summary"],
                         f"not running: the control socket {self.daemon.socket} does not answer")
        self.assertEqual(daemon["fix"],
                         "systemctl status traffic-analyzer; journalctl -u traffic-analyzer -n 50 "
                         f"(control socket: {self.daemon.socket})")
        for name in ("ringbuf-pressure", "map-pressure", "metrics-endpoint"):
            self.assertEqual(checks[name]["status"], "skip", name)
        self.assertEqual(checks[f"foreign-programs:{self.lab.host_if}"]["summary"],
                         "no foreign programs; none of ours attached")

    def test_4_doctor_that_cannot_run_exits_3(self):
        missing = self.lab.path("absent.yaml")
        p = tb.run([self.ctl, "doctor", "--config", missing], check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertEqual(p.stderr, f"trafficctl doctor: cannot read --config {missing}: No such "
                         "file or directory\n")
        p = tb.run([self.ctl, "doctor", "now"], check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertTrue(p.stderr.startswith("trafficctl: unexpected argument 'now'\n"), p.stderr)


if __name__ == "__main__":
    tb.main()
