#!/usr/bin/python3
"""End to end: the daemon leaves an interface exactly as it found it.

  - SIGTERM and SIGINT: exit status 0, no tc filter of ours left on ingress or egress, and the
    clsact qdisc it created is gone.
  - An operator's own clsact qdisc and filter that were there before the daemon started are
    still there after it stops (a tc hook it did not create is never removed).

Each check first asserts that the daemon really attached while running, so an empty hook
after the stop means something.

Needs root; without it the test is skipped, unless CI is set, where it fails.
"""

import os
import signal
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORTS = [80, 8080]


class DaemonLifecycle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        tb.require_testbed()
        cls.binary = tb.daemon_binary()
        cls.addClassCleanup(tb.REAPER.run)
        cls.lab = tb.VethLab("e2e").setup(os.environ.get("TA_E2E_ARTIFACTS"))
        cls.dev = cls.lab.host_if
        cls.runs = 0

    def setUp(self):
        # Every test starts from a bare interface, whatever an earlier one left.
        tb.run(["tc", "qdisc", "del", "dev", self.dev, "clsact"], check=False)

    def start_daemon(self) -> tb.Daemon:
        type(self).runs += 1
        daemon = tb.Daemon(self.binary, self.lab, PORTS, name=f"daemon{self.runs}").start()
        ingress = tb.tc_filters(self.dev, "ingress")
        egress = tb.tc_filters(self.dev, "egress")
        self.assertIn(" bpf ", f" {ingress} ", f"no BPF filter on ingress while running:\n"
                      f"{ingress}\n{daemon.log()}")
        self.assertIn(" bpf ", f" {egress} ", f"no BPF filter on egress while running:\n"
                      f"{egress}\n{daemon.log()}")
        return daemon

    def stop_and_check_exit(self, daemon: tb.Daemon, sig: int) -> None:
        rc = daemon.stop(sig, timeout=20)
        self.assertIsNotNone(rc, f"daemon ignored {signal.Signals(sig).name} for 20 s; "
                             f"killed\n{daemon.log()}")
        self.assertEqual(rc, 0, f"exit status after {signal.Signals(sig).name}\n{daemon.log()}")

    def assert_hooks_clean(self) -> None:
        self.assertEqual(tb.tc_filters(self.dev, "ingress"), "", "filters left on ingress")
        self.assertEqual(tb.tc_filters(self.dev, "egress"), "", "filters left on egress")
        self.assertFalse(tb.has_clsact(self.dev), "clsact qdisc the daemon created is left")

    def test_sigterm_detaches_and_exits_0(self):
        self.assertFalse(tb.has_clsact(self.dev))
        daemon = self.start_daemon()
        self.assertTrue(tb.has_clsact(self.dev))
        self.stop_and_check_exit(daemon, signal.SIGTERM)
        self.assert_hooks_clean()

    def test_sigint_detaches_and_exits_0(self):
        self.assertFalse(tb.has_clsact(self.dev))
        daemon = self.start_daemon()
        self.stop_and_check_exit(daemon, signal.SIGINT)
        self.assert_hooks_clean()

    def test_foreign_clsact_and_filter_survive(self):
        # An operator's hook: clsact plus a u32 filter at a priority of its own. It matches
        # nothing (and needs no action module, which minimal kernels lack).
        tb.run(["tc", "qdisc", "add", "dev", self.dev, "clsact"])
        self.addCleanup(tb.run, ["tc", "qdisc", "del", "dev", self.dev, "clsact"], check=False)
        for hook in ("ingress", "egress"):
            tb.run(["tc", "filter", "add", "dev", self.dev, hook, "protocol", "all", "pref", "7",
                    "u32", "match", "u32", "0xdeadbeef", "0xffffffff", "at", "0"])
        before = {h: tb.tc_filters(self.dev, h) for h in ("ingress", "egress")}
        daemon = self.start_daemon()
        self.stop_and_check_exit(daemon, signal.SIGTERM)
        self.assertTrue(tb.has_clsact(self.dev), "the operator's clsact qdisc was removed")
        for hook in ("ingress", "egress"):
            self.assertEqual(tb.tc_filters(self.dev, hook), before[hook],
                             f"{hook}: the operator's filters changed")

    def test_restart_after_sigkill_does_not_double_attach(self):
        # A daemon killed with SIGKILL cannot detach; the next one must replace its filters
        # (recognised by program name) rather than run twice, and clean up on SIGTERM.
        first = self.start_daemon()
        first.stop(signal.SIGKILL)
        stale = {h: tb.tc_filters(self.dev, h) for h in ("ingress", "egress")}
        second = self.start_daemon()
        for hook in ("ingress", "egress"):
            now = tb.tc_filters(self.dev, hook)
            self.assertEqual(now.count(" bpf "), stale[hook].count(" bpf "),
                             f"{hook}: filters after restart:\n{now}\nbefore:\n{stale[hook]}")
        self.stop_and_check_exit(second, signal.SIGTERM)
        # The qdisc was created by the first (dead) daemon; whether the second removes it is
        # its call, but none of our filters may remain.
        self.assertEqual(tb.tc_filters(self.dev, "ingress"), "")
        self.assertEqual(tb.tc_filters(self.dev, "egress"), "")
        tb.run(["tc", "qdisc", "del", "dev", self.dev, "clsact"], check=False)


if __name__ == "__main__":
    tb.main()
