#!/usr/bin/python3
"""The daemon run the way traffic-analyzer.service runs it, minus systemd itself (not PID 1 on
every test machine): a dedicated unprivileged user, exactly the unit's AmbientCapabilities= and
CapabilityBoundingSet= (read from the unit file, so the two cannot drift apart), no_new_privs,
$NOTIFY_SOCKET and $WATCHDOG_USEC pointing at a datagram socket this test binds, and
ProtectProc=invisible reproduced by a private procfs mounted with hidepid=invisible in a mount
namespace of its own.

Scenario (one VethLab; nginx inside the namespace, running as root like a real web server):
  1. The daemon with the unit's capabilities starts: READY=1 reaches the notify socket from the
     daemon's own pid, then WATCHDOG=1; /metrics serves. curl sends HTTP requests, counted
     exactly; HTTPS is not decrypted (no uprobes without the TLS drop-in) and says so in the
     log. After start-up the daemon holds CAP_NET_ADMIN only.
  2. The same with the TLS drop-in's capabilities added (systemd/tls-uprobes.conf): nginx
     (another user's process) is hooked and HTTPS requests are counted exactly too.
  3. Without each capability in turn the daemon fails the way docs/install.md says: refuses to
     start (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN), or runs without TLS visibility (each of the
     drop-in's three).

The user is made for the test (ta-caps-PID, a system user with no shell) and deleted after, as
are the namespace, links and processes (testbed.Reaper). Needs root, nginx, curl, setpriv,
unshare, useradd; without them the test is skipped, unless CI is set, where it fails.
"""

import os
import pwd
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import unittest
from collections import Counter

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
import testbed as tb  # noqa: E402
import unitfile as uf  # noqa: E402

HTTP_PORT = 8080
TLS_PORT = 8443
SNI = "api.example.com"
USER_RE = re.compile(r"^ta-caps-(\d+)$")
# (scheme port, path, expected status, times): one curl process (connection) each.
PLAN = [(HTTP_PORT, "/files/small.txt", 200, 3), (HTTP_PORT, "/users/42", 200, 2),
        (HTTP_PORT, "/nope", 404, 1), (TLS_PORT, "/files/small.txt", 200, 2),
        (TLS_PORT, "/health", 204, 1)]


def setpriv_caps(names: list[str]) -> str:
    """"-all,+bpf,+perfmon" for setpriv from ["CAP_BPF", "CAP_PERFMON"]."""
    return ",".join(["-all"] + ["+" + n.removeprefix("CAP_").lower() for n in names])


def status_caps(pid: int) -> dict[str, int]:
    """CapEff/CapPrm/CapInh/CapBnd/CapAmb and NoNewPrivs of a running process."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
                out[key] = int(value.strip(), 16)
            elif key == "NoNewPrivs":
                out[key] = int(value.strip())
    return out


def names_of(mask: int) -> list[str]:
    by_bit = {bit: name for name, bit in uf.CAPS.items()}
    return sorted(by_bit.get(b, f"cap_{b}") for b in range(64) if mask >> b & 1)


def sweep_users() -> None:
    """Deletes ta-caps-PID users whose test process is gone (a killed earlier run)."""
    for entry in pwd.getpwall():
        m = USER_RE.match(entry.pw_name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            tb.run(["userdel", entry.pw_name], check=False)


class NotifySocket:
    """The receiving end of sd_notify: a datagram socket with SO_PASSCRED, so each message
    carries its sender's pid (NotifyAccess=main accepts only the main process's)."""

    def __init__(self, path: str, owner_uid: int) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(path)
        os.chown(path, owner_uid, -1)  # systemd's socket is writable by every service
        self.messages: list[tuple[int, str]] = []

    def drain(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            while True:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
                pid = -1
                for level, kind, payload in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        pid, _, _ = struct.unpack("iII", payload[:12])
                self.messages.append((pid, data.decode(errors="replace")))
                self.sock.settimeout(0.05)
        except (socket.timeout, BlockingIOError):
            pass

    def wait_for(self, line: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line in m.split("\n") for _, m in self.messages):
                return True
            self.drain(0.2)
        return any(line in m.split("\n") for _, m in self.messages)

    def close(self) -> None:
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


class UnitDaemon(tb.Daemon):
    """tb.Daemon started as the unit starts it: setpriv to the user with the given capability
    sets and no_new_privs, inside a mount namespace whose /proc is a hidepid=invisible procfs
    (ProtectProc=invisible), with the notify environment."""

    def __init__(self, case: "CapsEndToEnd", name: str, caps: list[str], tls: bool = True,
                 notify: NotifySocket | None = None) -> None:
        extra = "" if tls else "tls: {enabled: false}"
        super().__init__(case.binary, case.lab, [HTTP_PORT, TLS_PORT], name=name,
                         extra_yaml=extra + "\nanomaly: {enabled: false}")
        self.caps = caps
        self.notify = notify
        self.uid, self.gid = case.uid, case.gid
        # The daemon's writable places, as StateDirectory=/RuntimeDirectory= make them.
        run_dir = case.lab.path(f"{name}-run")
        state_dir = case.lab.path(f"{name}-state")
        for d in (run_dir, state_dir):
            os.makedirs(d, mode=0o750, exist_ok=True)
            os.chown(d, self.uid, self.gid)
        self.socket = os.path.join(run_dir, "control.sock")
        with open(self.config_path) as f:
            text = f.read()
        with open(self.config_path, "w") as f:
            f.write(re.sub(r'control: \{socket: "[^"]*"\}',
                           f'control: {{socket: "{self.socket}"}}', text))

    def argv(self) -> list[str]:
        env = ["env"]
        if self.notify is not None:
            env += [f"NOTIFY_SOCKET={self.notify.path}", "WATCHDOG_USEC=2000000"]
        setpriv = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                   f"--inh-caps={setpriv_caps(self.caps)}",
                   f"--ambient-caps={setpriv_caps(self.caps)}",
                   f"--bounding-set={setpriv_caps(self.caps)}", "--no-new-privs"]
        inner = " ".join(env + setpriv + [self.binary, "--config", self.config_path])
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t proc -o hidepid=invisible,nosuid,nodev,noexec proc /proc && exec "
                + inner]

    def start(self, timeout: float = 30) -> "UnitDaemon":
        self.proc = tb.spawn(self.argv(), self.log_path, what=f"traffic-analyzer ({self.caps})")
        tb.REAPER.register("traffic-analyzer (SIGTERM)", self.stop)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise tb.TestbedError(f"exited {self.proc.returncode}:\n{tb.tail(self.log_path)}")
            try:
                self.scrape(timeout=1)
                return True
            except OSError:
                return False

        if not tb.wait_until(ready, timeout, interval=0.2):
            raise tb.TestbedError(f"not serving /metrics after {timeout} s:\n{self.log()}")
        return self

    def run_to_exit(self, timeout: float = 30) -> tuple[int, str]:
        """For a daemon expected to refuse to start: its exit status and log."""
        self.proc = tb.spawn(self.argv(), self.log_path, what="traffic-analyzer (refusing)")
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            tb.kill_session(self.proc)
            code = -1
        return code, tb.tail(self.log_path, 40)


def drop_in_caps() -> list[str]:
    """The capabilities systemd/tls-uprobes.conf adds."""
    return uf.capability_names("AmbientCapabilities",
                               os.path.join(uf.SYSTEMD_DIR, "tls-uprobes.conf"))


class CapsEndToEnd(tb.LabTestCase):
    @classmethod
    def required_tools(cls):
        return ("nginx", "curl", "openssl", "setpriv", "unshare", "useradd", "userdel")

    @classmethod
    def lab_setup(cls):
        cls.unit_caps = uf.capability_names("AmbientCapabilities")
        assert cls.unit_caps == uf.capability_names("CapabilityBoundingSet"), \
            "the unit's ambient and bounding sets differ"
        cls.tls_caps = cls.unit_caps + drop_in_caps()
        sweep_users()
        cls.user = f"ta-caps-{os.getpid()}"
        tb.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/",
                "--shell", "/usr/sbin/nologin", cls.user])
        tb.REAPER.register(f"user {cls.user}",
                           lambda: tb.run(["userdel", cls.user], check=False))
        entry = pwd.getpwnam(cls.user)
        cls.uid, cls.gid = entry.pw_uid, entry.pw_gid
        # The daemon reads its config and writes its state as that user: the lab's work dir
        # (and its parents) must be searchable.
        os.chmod(cls.lab.workdir, 0o755)
        cls.nginx = tb.Nginx(cls.lab, [HTTP_PORT, TLS_PORT], tls_ports=[TLS_PORT]).start()
        cls.notify = NotifySocket(cls.lab.path("notify.sock"), cls.uid)
        tb.REAPER.register("notify socket", cls.notify.close)
        # 1. The unit as shipped.
        cls.daemon = UnitDaemon(cls, "unit", cls.unit_caps, notify=cls.notify).start()
        cls.ready = cls.notify.wait_for("READY=1", 10)
        cls.watchdog = cls.notify.wait_for("WATCHDOG=1", 5)
        cls.unit_run = cls.traffic(cls.daemon, [p for p in PLAN if p[0] == HTTP_PORT])
        cls.unit_run["log"] = cls.daemon.log()
        cls.unit_run["exit"] = cls.daemon.stop()
        # 2. With the TLS drop-in.
        cls.daemon = UnitDaemon(cls, "tls", cls.tls_caps).start()
        cls.tls_run = cls.traffic(cls.daemon, PLAN)
        cls.tls_run["log"] = cls.daemon.log()
        cls.tls_run["exit"] = cls.daemon.stop()

    @classmethod
    def traffic(cls, daemon: "UnitDaemon", plan: list) -> dict:
        """Runs the whole PLAN against nginx; returns what the daemon counted of `plan` (the
        requests it should see), its capability sets and its TLS coverage."""
        run = {"caps": status_caps(daemon.pid)}
        before = tb.request_counts(daemon.samples())
        run["expected"] = Counter()
        for port, path, status, times in PLAN:
            for _ in range(times):
                cls.curl(port, path, status)
        for port, path, status, times in plan:
            run["expected"][("GET", tb.template_route(path), status, port)] += times
        after = tb.settle(daemon, lambda s: sum(
            tb.subtract(tb.request_counts(s), before).values()), sum(run["expected"].values()))
        run["counted"] = tb.subtract(tb.request_counts(after), before)
        run["hooked"] = cls.hooked_nginx(after)
        return run

    @classmethod
    def curl(cls, port: int, path: str, status: int) -> None:
        if port == TLS_PORT:
            url = f"https://{SNI}:{port}{path}"
            extra = ["--cacert", cls.nginx.cert_path, "--resolve",
                     f"{SNI}:{port}:{cls.lab.ns_addr}", "--http1.1"]
        else:
            url, extra = f"http://{cls.lab.ns_addr}:{port}{path}", []
        out = tb.run(["curl", "--noproxy", "*", "-sS", "--max-time", "10", "-o", "/dev/null",
                      "-w", "%{http_code}", *extra, url], timeout=30).stdout
        if out != str(status):
            raise tb.TestbedError(f"curl {url}: status {out}, expected {status}")

    @staticmethod
    def hooked_nginx(samples: dict) -> dict[int, float]:
        return {int(dict(labels)["pid"]): v for labels, v in
                tb.series_values(samples, "traffic_analyzer_tls_hooked").items()
                if dict(labels).get("comm") == "nginx"}

    def nginx_pids(self) -> set[int]:
        """This lab's nginx: the master (ip netns exec execs it) and its workers; other tests'
        nginx on the same machine are seen by the daemon too, and not asserted on."""
        master = self.nginx.proc.pid
        pids = {master}
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                        pids.add(int(entry))
            except (OSError, ValueError, IndexError):
                continue
        return pids

    def caps_of(self, run: dict) -> dict:
        return {k: names_of(v) if k != "NoNewPrivs" else v for k, v in run["caps"].items()}

    # 1. The unit as shipped.
    def test_ready_and_watchdog_from_the_main_pid(self):
        daemon_pids = {pid for pid, _ in self.notify.messages}
        self.assertTrue(self.ready, f"no READY=1; got {self.notify.messages}")
        self.assertTrue(self.watchdog, f"no WATCHDOG=1; got {self.notify.messages}")
        self.assertEqual(len(daemon_pids), 1, "NotifyAccess=main: only the main pid")
        self.assertNotIn(-1, daemon_pids)

    def test_unit_counts_http_exactly(self):
        self.assertCountsEqual(self.unit_run["counted"], self.unit_run["expected"],
                               "requests (method, route, status, port)")
        self.assertEqual(self.unit_run["exit"], 0, self.unit_run["log"])

    def test_unit_says_tls_is_off(self):
        self.assertIn("TLS visibility off", self.unit_run["log"])
        self.assertNotIn(1.0, self.unit_run["hooked"].values())

    def test_unit_keeps_only_net_admin(self):
        print(f"after start-up (unit): {self.caps_of(self.unit_run)}", file=sys.stderr)
        self.assertEqual(self.caps_of(self.unit_run), {
            "CapEff": ["CAP_NET_ADMIN"], "CapPrm": ["CAP_NET_ADMIN"], "CapInh": [],
            "CapAmb": [], "CapBnd": sorted(self.unit_caps), "NoNewPrivs": 1})

    # 2. With the TLS drop-in.
    def test_tls_drop_in_counts_https_exactly(self):
        self.assertCountsEqual(self.tls_run["counted"], self.tls_run["expected"],
                               "requests (method, route, status, port)")
        ours = self.nginx_pids()
        self.assertEqual(len(ours), 2, "master and one worker")
        self.assertEqual({p: v for p, v in self.tls_run["hooked"].items() if p in ours},
                         {p: 1.0 for p in ours}, self.tls_run["log"])

    def test_tls_drop_in_capabilities_after_start(self):
        # Reported, and checked against what the daemon says it kept.
        got = self.caps_of(self.tls_run)
        print(f"after start-up (TLS drop-in): {got}", file=sys.stderr)
        m = re.search(r"capabilities after start-up: (\S+)", self.tls_run["log"])
        self.assertIsNotNone(m, self.tls_run["log"])
        self.assertEqual(got["CapEff"], sorted(m.group(1).split(",")))
        self.assertEqual((got["CapAmb"], got["NoNewPrivs"]), ([], 1))
        # Everything the drop-in granted stays: new processes' libssl still gets uprobes.
        self.assertEqual(got["CapEff"], sorted(["CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN",
                                                "CAP_NET_ADMIN", "CAP_SYS_PTRACE",
                                                "CAP_DAC_READ_SEARCH"]))

    # 3. What breaks without each capability.
    def test_each_start_capability_is_needed(self):
        for i, missing in enumerate(self.unit_caps):
            with self.subTest(missing=missing):
                caps = [c for c in self.unit_caps if c != missing]
                # Short names: the control socket's path must fit a sockaddr_un.
                d = UnitDaemon(self, f"no{i}", caps)
                code, log = d.run_to_exit()
                self.assertNotEqual(code, 0, log)
                self.assertIn(missing, log)

    def test_each_tls_capability_is_needed(self):
        for i, missing in enumerate(drop_in_caps()):
            with self.subTest(missing=missing):
                d = UnitDaemon(self, f"tlsno{i}",
                               [c for c in self.tls_caps if c != missing]).start()
                try:
                    samples = tb.settle(d, lambda s: 0, 0, quiet_s=0)
                finally:
                    self.assertEqual(d.stop(), 0, d.log())
                # No hook on nginx: refused (SYS_ADMIN, DAC_READ_SEARCH) or, without
                # SYS_PTRACE, nginx is not even visible in the hidepid /proc.
                ours = self.nginx_pids()
                self.assertEqual([p for p, v in self.hooked_nginx(samples).items()
                                  if p in ours and v == 1.0], [], d.log())


if __name__ == "__main__":
    tb.main()
