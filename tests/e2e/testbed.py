"""A disposable test bed for running traffic-analyzer against real HTTP traffic.

One network namespace and one veth pair per run, named after this process's pid so that
concurrent runs never collide and a crashed run can be recognised and swept up by the next
one. nginx serves inside the namespace; clients (curl, wrk) and the daemon under test run on
the host side; tshark captures the host-side veth as an independent reference.

Traffic rules this module enforces: addresses only from 198.18.0.0/15 (RFC 2544 benchmarking
range), and every client run is bounded in request count or duration and in wall time.

Everything created is registered with the module's Reaper the moment it exists, and torn down
in reverse order by Reaper.run() - from a unittest class cleanup, a `finally`, a signal
handler or atexit, whichever comes first. Children also get PR_SET_PDEATHSIG so they die with
us even after SIGKILL; the next run then deletes the orphaned namespace and links.

Standard library only (this runs under Debian's /usr/bin/python3).
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import dataclasses
import email.utils
import fcntl
import http.client
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from collections import Counter
from typing import Callable, Iterable

# The range RFC 2544 reserves for benchmarking; we allocate /30s from its first /24.
TEST_NET = ipaddress.ip_network("198.18.0.0/24")
SUBNET_LOCK = "/run/lock/traffic-analyzer-testbed.lock"

# Run kinds and the short prefixes used for link names (IFNAMSIZ is 16 including the NUL, so
# "ta" + 3 letters + a pid of up to 7 digits + one letter = 13 fits): "h"/"n" the lab's veth
# ends on the host and in the namespace, "d"/"e" the down pair DropFilter drops into.
KINDS = {"e2e": "tae2e", "demo": "tadem", "bench": "taben"}
NETNS_RE = re.compile(r"^ta-(e2e|demo|bench)-(\d+)$")
LINK_RE = re.compile(r"^ta(?:e2e|dem|ben)(\d+)[hnd]$")
WORKDIR_RE = re.compile(r"/ta-(?:e2e|demo|bench)-(\d+)-")

REQUIRED_TOOLS = ("ip", "tc", "nginx", "curl", "wrk", "tshark")

# The interpreter the protocol peers (grpcio, websockets, h2) run under: Debian's, which has
# the python3-grpcio, python3-websockets and python3-h2 packages. Not `python3` on PATH.
PEER_PYTHON = "/usr/bin/python3"


class TestbedError(RuntimeError):
    """Something in the test bed itself (not the daemon under test) did not work."""


class Interrupted(BaseException):
    """Raised in the main thread by SIGTERM/SIGHUP so that `finally` blocks run."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_prerequisite(tools: Iterable[str] = (),
                         python_modules: Iterable[str] = ()) -> str | None:
    """Why this machine cannot run the test bed (plus `tools` and PEER_PYTHON modules a test
    needs on top), or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, tc and BPF)"
    missing = [t for t in (*REQUIRED_TOOLS, *tools) if shutil.which(t) is None]
    if missing:
        return "missing tools: " + ", ".join(missing) + " (install them with the setup script)"
    modules = list(python_modules)
    if modules:
        if not os.access(PEER_PYTHON, os.X_OK):
            return f"missing {PEER_PYTHON} (the peers' interpreter)"
        probe = "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] " \
                "if importlib.util.find_spec(m) is None))"
        absent = subprocess.run([PEER_PYTHON, "-c", probe, *modules], capture_output=True,
                                text=True, timeout=30).stdout.split()
        if absent:
            return (f"{PEER_PYTHON} lacks modules: " + ", ".join(absent)
                    + " (install python3-grpcio, python3-websockets, python3-h2)")
    return None


def require_testbed(tools: Iterable[str] = (), python_modules: Iterable[str] = ()) -> None:
    """Skips the calling test without privileges - or fails it under CI, which must run it."""
    reason = missing_prerequisite(tools, python_modules)
    if reason is None:
        return
    if in_ci():
        raise AssertionError(f"CI is set but the end-to-end test cannot run: {reason}")
    raise unittest.SkipTest(reason)


def daemon_binary() -> str:
    """The daemon under test, from $TA_DAEMON (ctest passes $<TARGET_FILE:traffic-analyzer>)."""
    path = os.environ.get("TA_DAEMON", "")
    if not path:
        raise TestbedError("TA_DAEMON is not set: point it at the traffic-analyzer binary")
    if not os.access(path, os.X_OK):
        raise TestbedError(f"TA_DAEMON={path} is not an executable file: build it first")
    return path


# --------------------------------------------------------------------------------------------
# Cleanup


class Reaper:
    """LIFO registry of teardown actions. Each runs at most once; failures are reported, and
    never stop the remaining actions."""

    def __init__(self) -> None:
        self._actions: list[tuple[int, str, Callable[[], None]]] = []
        self._next = 0

    def register(self, what: str, action: Callable[[], None]) -> int:
        self._next += 1
        self._actions.append((self._next, what, action))
        return self._next

    def run_one(self, token: int) -> None:
        for i, (t, what, action) in enumerate(self._actions):
            if t == token:
                del self._actions[i]
                self._call(what, action)
                return

    def run(self) -> None:
        # A second Ctrl-C or SIGTERM must not abort the cleanup half-way.
        held = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                held[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            while self._actions:
                _, what, action = self._actions.pop()
                self._call(what, action)
        finally:
            for sig, handler in held.items():
                signal.signal(sig, handler)

    @staticmethod
    def _call(what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            print(f"testbed: cleanup of {what} failed: {e}", file=sys.stderr)


REAPER = Reaper()
atexit.register(REAPER.run)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP raise Interrupted (SIGINT already raises KeyboardInterrupt), so the
    stack unwinds through every `finally` and the Reaper. Call from the main thread."""

    def handler(signum, _frame):
        raise Interrupted(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def main(argv: list[str] | None = None) -> None:
    """unittest.main() with signal handling and a guaranteed sweep of what we created."""
    install_signal_handlers()
    try:
        unittest.main(argv=argv, verbosity=2)
    finally:
        REAPER.run()


# --------------------------------------------------------------------------------------------
# Processes

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    # Die with the test process even if it is SIGKILLed (ctest's timeout does that).
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def run(argv: list[str], *, timeout: float = 30, check: bool = True,
        netns: str | None = None) -> subprocess.CompletedProcess:
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       preexec_fn=_child_setup)
    if check and p.returncode != 0:
        raise TestbedError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def spawn(argv: list[str], log_path: str, *, netns: str | None = None,
          what: str | None = None) -> subprocess.Popen:
    """Starts a long-running child in its own session with stdout+stderr to log_path and
    registers a SIGKILL of it with the Reaper (after the polite stop the owner does)."""
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_child_setup)
    finally:
        log.close()
    REAPER.register(what or argv[0], lambda: kill_session(proc))
    return proc


def kill_session(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: pgid == pid
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM,
                 timeout: float = 15) -> int | None:
    """Sends `sig`, waits up to `timeout`; SIGKILLs the session if it did not exit. Returns
    the exit status from the polite stop, or None if it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_session(proc)
        return None


def tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read().decode(errors="replace").splitlines()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(data[-lines:])


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_connectable(addr: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((addr, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Leftovers of crashed runs


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def process_cmdlines() -> Iterable[tuple[int, str]]:
    """(pid, command line with spaces for NULs) of every process readable in /proc."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        yield int(entry), cmdline


def sweep_leftovers(workdir_parent: str | None = None) -> list[str]:
    """Removes namespaces, links, processes and work dirs (unless KEPT) that earlier runs
    (whose pid is gone) left behind, recognised only by the names this module gives them.
    Returns what it removed."""
    removed = []
    me = os.getpid()
    # Processes first: they hold namespaces alive. Ours carry their work dir in argv.
    for pid, cmdline in process_cmdlines():
        if pid == me:
            continue
        m = WORKDIR_RE.search(cmdline)
        if m and not _pid_alive(int(m.group(1))):
            try:
                os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid} ({cmdline[:60]})")
            except ProcessLookupError:
                pass
    ns_list = run(["ip", "-j", "netns", "list"], check=False).stdout.strip()
    for ns in json.loads(ns_list) if ns_list else []:
        m = NETNS_RE.match(ns.get("name", ""))
        if m and not _pid_alive(int(m.group(2))):
            run(["ip", "netns", "delete", ns["name"]], check=False)
            removed.append(f"netns {ns['name']}")
    for link in json.loads(run(["ip", "-j", "link", "show"]).stdout or "[]"):
        m = LINK_RE.match(link.get("ifname", ""))
        if m and not _pid_alive(int(m.group(1))):
            run(["ip", "link", "delete", link["ifname"]], check=False)
            removed.append(f"link {link['ifname']}")
    if workdir_parent and os.path.isdir(workdir_parent):
        for name in os.listdir(workdir_parent):
            path = os.path.join(workdir_parent, name)
            m = WORKDIR_RE.match("/" + name + "-")
            if (m and os.path.isdir(path) and not _pid_alive(int(m.group(1)))
                    and not os.path.exists(os.path.join(path, "KEPT"))):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"work dir {path}")
    return removed


# --------------------------------------------------------------------------------------------
# Network namespace + veth


class VethLab:
    """A namespace holding the server end of a veth pair; the host holds the other end.

    host_if/host_addr is where the daemon and tshark watch and where clients run from;
    ns_addr is the server's address inside `netns`."""

    def __init__(self, kind: str = "e2e") -> None:
        if kind not in KINDS:
            raise ValueError(kind)
        pid = os.getpid()
        self.kind = kind
        self.netns = f"ta-{kind}-{pid}"
        self.host_if = f"{KINDS[kind]}{pid}h"
        self.ns_if = f"{KINDS[kind]}{pid}n"
        self.host_addr = ""
        self.ns_addr = ""
        self.workdir = ""
        self.keep_reason = ""

    def setup(self, workdir_parent: str | None = None) -> "VethLab":
        swept = sweep_leftovers(workdir_parent or tempfile.gettempdir())
        if swept:
            print("testbed: removed leftovers of earlier runs: " + ", ".join(swept),
                  file=sys.stderr)
        if workdir_parent:
            os.makedirs(workdir_parent, exist_ok=True)
        # The work dir name carries our pid: sweep_leftovers() finds orphans by it.
        self.workdir = tempfile.mkdtemp(prefix=f"ta-{self.kind}-{os.getpid()}-",
                                        dir=workdir_parent)
        os.chmod(self.workdir, 0o755)
        # Registered first, so it runs last: logs and the pcap stay for a post-mortem when a
        # test failed (keep()) or TA_E2E_KEEP=1.
        REAPER.register(f"work dir {self.workdir}", self._remove_workdir)

        run(["ip", "netns", "add", self.netns])
        REAPER.register(f"netns {self.netns}",
                        lambda: run(["ip", "netns", "delete", self.netns], check=False))
        run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
             "netns", self.netns])
        REAPER.register(f"link {self.host_if}", self._delete_link)
        # Quiet links: no IPv6 router solicitations or DAD noise in the capture.
        for argv in (["sysctl", "-qw", f"net.ipv6.conf.{self.host_if}.disable_ipv6=1"],):
            run(argv, check=False)
        run(["sysctl", "-qw", f"net.ipv6.conf.{self.ns_if}.disable_ipv6=1"], netns=self.netns,
            check=False)
        with open(SUBNET_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            net = self._free_subnet()
            hosts = list(net.hosts())
            self.host_addr, self.ns_addr = str(hosts[0]), str(hosts[1])
            run(["ip", "addr", "add", f"{self.host_addr}/{net.prefixlen}", "dev", self.host_if])
        run(["ip", "-n", self.netns, "addr", "add", f"{self.ns_addr}/{net.prefixlen}", "dev",
             self.ns_if])
        run(["ip", "-n", self.netns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.netns, "link", "set", self.ns_if, "up"])
        run(["ip", "link", "set", self.host_if, "up"])
        if not wait_until(self._carrier_up, timeout=5):
            raise TestbedError(f"{self.host_if} has no carrier after 5 s")
        return self

    def keep(self, reason: str) -> None:
        """Keeps the work dir (logs, configs, pcap) after teardown, e.g. because a test failed."""
        if not self.keep_reason:
            print(f"testbed: keeping {self.workdir} ({reason})", file=sys.stderr)
        self.keep_reason = self.keep_reason or reason
        with open(self.path("KEPT"), "w") as f:
            f.write(reason + "\n")

    def _remove_workdir(self) -> None:
        if os.environ.get("TA_E2E_KEEP") == "1":
            self.keep("TA_E2E_KEEP=1")
        if not self.keep_reason:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _carrier_up(self) -> bool:
        try:
            with open(f"/sys/class/net/{self.host_if}/carrier") as f:
                return f.read().strip() == "1"
        except OSError:
            return False

    def _delete_link(self) -> None:
        if os.path.exists(f"/sys/class/net/{self.host_if}"):
            run(["ip", "link", "delete", self.host_if], check=False)

    @staticmethod
    def _free_subnet() -> ipaddress.IPv4Network:
        """First /30 of TEST_NET that overlaps no address or route on the host (the brief's
        198.18.0.1/30 <-> .2 when nothing else is running)."""
        used = []
        for ifc in json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]"):
            for a in ifc.get("addr_info", []):
                used.append(ipaddress.ip_network(f"{a['local']}/{a['prefixlen']}",
                                                 strict=False))
        for r in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout
                            or "[]"):
            dst = r.get("dst", "")
            if dst and dst != "default":
                try:
                    used.append(ipaddress.ip_network(dst, strict=False))
                except ValueError:
                    pass
        for net in TEST_NET.subnets(new_prefix=30):
            if not any(net.overlaps(u) for u in used):
                return net
        raise TestbedError(f"no free /30 left in {TEST_NET}")

    def path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def drop_sink(self, in_netns: bool) -> str:
        """A link that stays down, for DropFilter's mirred redirect: the host end ("...d") or
        the namespace end ("...e") of a veth pair made on first use. Deleting the namespace
        deletes the pair; the host end matches LINK_RE, so a crashed run's is swept too."""
        host_end = self.host_if[:-1] + "d"
        ns_end = self.host_if[:-1] + "e"
        if not os.path.exists(f"/sys/class/net/{host_end}"):
            run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end,
                 "netns", self.netns])
            REAPER.register(f"link {host_end}", lambda: run(
                ["ip", "link", "delete", host_end], check=False))
        return ns_end if in_netns else host_end

    def teardown(self) -> None:
        REAPER.run()


# --------------------------------------------------------------------------------------------
# nginx

# Bodies of known sizes. large.bin spans many TCP segments (and GSO super-segments);
# page.txt is served gzip-compressed on the fly, which nginx sends chunked (no Content-Length).
SMALL_BODY = 137
LARGE_BODY = 300_000
GZIP_SOURCE_BODY = 60_000


@dataclasses.dataclass(frozen=True)
class AccessLogEntry:
    method: str
    request_uri: str
    status: int
    server_port: int
    request_length: int
    body_bytes_sent: int
    protocol: str = ""  # $server_protocol: "HTTP/1.1", "HTTP/2.0"


class Nginx:
    """nginx inside the lab's namespace, on `ports`, with this route table:

      /files/small.txt, /files/large.bin   200, static, Content-Length
      /gz/page.txt                         200, gzip on the fly -> chunked (with Accept-Encoding)
      /users/<digits|uuid>                 200 "user\\n"
      /items/<anything>                    200 "item\\n"  (templated only by a config pattern)
      /api/orders (POST)                   201, body read in full (proxied to a loopback server)
      /health                              204
      /fail                                500 (nginx's own error page)
      anything else                        404 (nginx's own error page)

    Ports in `http2_ports` (a subset of `ports`) speak cleartext HTTP/2 with prior knowledge
    (nginx 1.22's `listen ... http2` without TLS: no h2c Upgrade), the others HTTP/1.1.

    `grpc_proxies` maps further ports to gRPC servers in the namespace (port on ns_addr): an
    HTTP/2 listener whose every request goes to that server with grpc_pass. The route table
    above does not apply there.
    """

    UPSTREAM_PORT = 18999  # loopback inside the namespace: never crosses the veth

    def __init__(self, lab: VethLab, ports: Iterable[int] = (80, 8080), workers: int = 1,
                 http2_ports: Iterable[int] = (), grpc_proxies: dict[int, int] | None = None,
                 tls_ports: Iterable[int] = (), on_host: bool = False):
        self.lab = lab
        # on_host: nginx runs in the host namespace on host_addr (clients then run in the lab's
        # namespace), so the host veth's ingress carries the requests: where XDP enforces.
        self.on_host = on_host
        self.addr = lab.host_addr if on_host else lab.ns_addr
        self.ports = list(ports)
        # TLS listeners (self-signed certificate made here; ALPN h2 and http/1.1).
        self.tls_ports = set(tls_ports)
        if not self.tls_ports <= set(self.ports):
            raise ValueError(f"tls_ports {sorted(self.tls_ports)} not all in {self.ports}")
        self.workers = workers
        self.http2_ports = set(http2_ports)
        if not self.http2_ports <= set(self.ports):
            raise ValueError(f"http2_ports {sorted(self.http2_ports)} not all in {self.ports}")
        self.grpc_proxies = dict(grpc_proxies or {})
        self.prefix = lab.path("nginx")
        self.proc: subprocess.Popen | None = None

    @property
    def cert_path(self) -> str:
        return os.path.join(self.prefix, "cert.pem")

    def _write_files(self) -> None:
        www = os.path.join(self.prefix, "www")
        for d in ("files", "gz", "tmp", "logs"):
            os.makedirs(os.path.join(www if d in ("files", "gz") else self.prefix, d),
                        exist_ok=True)
        with open(os.path.join(www, "files", "small.txt"), "wb") as f:
            f.write((b"0123456789abcdef" * 16)[:SMALL_BODY - 1] + b"\n")
        with open(os.path.join(www, "files", "large.bin"), "wb") as f:
            f.write(bytes((i * 7 + 3) % 251 for i in range(LARGE_BODY)))
        with open(os.path.join(www, "gz", "page.txt"), "wb") as f:
            line = b"traffic-analyzer end-to-end test page, compressible text. "
            f.write((line * (GZIP_SOURCE_BODY // len(line) + 1))[:GZIP_SOURCE_BODY])
        listens = "\n".join(
            f"    listen {self.addr}:{p}{' ssl' if p in self.tls_ports else ''}"
            f"{' http2' if p in self.http2_ports else ''} reuseport;" for p in self.ports)
        if self.tls_ports:
            cert, key = self.cert_path, os.path.join(self.prefix, "key.pem")
            run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                 "/CN=api.example.com", "-addext", "subjectAltName=DNS:api.example.com",
                 "-keyout", key, "-out", cert], timeout=30)
            listens += (f"\n    ssl_certificate {cert};\n    ssl_certificate_key {key};"
                        "\n    ssl_protocols TLSv1.2 TLSv1.3;")
        tmp = os.path.join(self.prefix, "tmp")
        grpc_servers = "".join(f"""
  server {{
    listen {self.lab.ns_addr}:{port} http2;
    location / {{ grpc_pass grpc://{self.lab.ns_addr}:{upstream}; }}
  }}
""" for port, upstream in self.grpc_proxies.items())
        uuid = "-".join(f"[0-9a-f]{{{n}}}" for n in (8, 4, 4, 4, 12))
        conf = f"""
daemon off;
master_process on;
worker_processes {self.workers};
user root root;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/logs/error.log notice;
events {{ worker_connections 4096; }}
http {{
  log_format ta '$request_method $request_uri $status $server_port $request_length '
                '$body_bytes_sent $server_protocol';
  access_log {self.prefix}/logs/access.log ta;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  default_type application/octet-stream;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server_tokens off;
  etag off;

  server {{
    listen 127.0.0.1:{self.UPSTREAM_PORT};
    access_log off;
    location / {{ return 201 "created\\n"; }}
  }}

  server {{
{listens}
    root {self.prefix}/www;
    location /files/ {{ }}
    location /gz/ {{
      gzip on;
      gzip_types text/plain;
      gzip_min_length 1;
      default_type text/plain;
    }}
    location ~ "^/users/([0-9]+|{uuid})$" {{
      default_type text/plain;
      return 200 "user\\n";
    }}
    location ~ ^/items/[^/]+$ {{
      default_type text/plain;
      return 200 "item\\n";
    }}
    location = /api/orders {{
      # proxy_pass reads the whole request body before answering (a bare `return` would
      # answer while the client is still sending); the upstream is on loopback.
      proxy_pass http://127.0.0.1:{self.UPSTREAM_PORT};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
    location = /health {{ return 204; }}
    location = /fail {{ return 500; }}
  }}
{grpc_servers}}}
"""
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(conf)

    def start(self, timeout: float = 10) -> "Nginx":
        os.makedirs(self.prefix, exist_ok=True)
        self._write_files()
        conf = os.path.join(self.prefix, "nginx.conf")
        netns = None if self.on_host else self.lab.netns
        run(["nginx", "-t", "-q", "-p", self.prefix + "/", "-c", conf], netns=netns)
        self.proc = spawn(["nginx", "-p", self.prefix + "/", "-c", conf],
                          os.path.join(self.prefix, "logs", "stderr.log"),
                          netns=netns, what="nginx")
        REAPER.register("nginx (polite stop)", self.stop)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise TestbedError(f"nginx exited {self.proc.returncode}:\n"
                                   + tail(os.path.join(self.prefix, "logs", "error.log")))
            return all(tcp_connectable(self.addr, p)
                       for p in self.ports + list(self.grpc_proxies))

        if not wait_until(up, timeout):
            raise TestbedError(f"nginx not accepting on {self.ports} after {timeout} s")
        # The readiness probes above are logged by nobody (no request), but start the
        # access log from a clean slate anyway.
        open(self.access_log_path, "w").close()
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, signal.SIGQUIT, timeout=10)  # graceful: flushes logs

    def last_modified(self, path: str) -> str:
        """The Last-Modified nginx sends for a static file under www/ (an HTTP-date)."""
        mtime = os.stat(os.path.join(self.prefix, "www", path.lstrip("/"))).st_mtime
        return email.utils.formatdate(int(mtime), usegmt=True)

    @property
    def access_log_path(self) -> str:
        return os.path.join(self.prefix, "logs", "access.log")

    def access_log(self) -> list[AccessLogEntry]:
        entries = []
        with open(self.access_log_path) as f:
            for line in f:
                method, uri, status, port, req_len, body_sent, *protocol = line.split()
                entries.append(AccessLogEntry(method, uri, int(status), int(port),
                                              int(req_len), int(body_sent),
                                              protocol[0] if protocol else ""))
        return entries


# --------------------------------------------------------------------------------------------
# The daemon under test


def daemon_config_yaml(interfaces: list[str], ports: list[int], listen: str,
                       route_patterns: list[str] = (), snaplen: int = 1024,
                       ringbuf_size: int = 8 << 20, log_level: str = "info",
                       state_dir: str | None = None, extra_yaml: str = "",
                       control_socket: str | None = None) -> str:
    q = json.dumps  # a JSON string is a valid YAML flow scalar
    return "\n".join(([f"state_dir: {q(state_dir)}"] if state_dir else []) +
                     ([f"control: {{socket: {q(control_socket)}}}"] if control_socket else []) + [
        f"interfaces: [{', '.join(q(i) for i in interfaces)}]",
        f"ports: [{', '.join(str(p) for p in ports)}]",
        f"snaplen: {snaplen}",
        f"ringbuf_size: {ringbuf_size}",
        "connections: {max: 65536, idle_timeout_seconds: 300}",
        f"routes: {{max_per_port: 1000, patterns: [{', '.join(q(p) for p in route_patterns)}]}}",
        f"metrics: {{listen: {q(listen)}}}",
        f"log: {{level: {log_level}}}",
        extra_yaml,
        "",
    ])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Daemon:
    """traffic-analyzer --config FILE in the foreground. Ready = /metrics answers, which by
    contract happens only after the BPF programs are attached."""

    def __init__(self, binary: str, lab: VethLab, ports: list[int],
                 route_patterns: list[str] = (), interfaces: list[str] | None = None,
                 log_level: str = "info", name: str = "daemon", extra_yaml: str = "") -> None:
        self.binary = binary
        self.listen = f"127.0.0.1:{free_tcp_port()}"
        self.config_path = lab.path(f"{name}.yaml")
        self.log_path = lab.path(f"{name}.log")
        # The control socket lives in the work dir unless that path is too long for a Unix
        # socket address (108 bytes); never the host's /run/traffic-analyzer.
        self.socket = lab.path(f"{name}.sock")
        if len(self.socket) > 100:
            self.socket = os.path.join(tempfile.gettempdir(),
                                       f"ta-{lab.kind}-{os.getpid()}-{name}.sock")
        with open(self.config_path, "w") as f:
            # Each daemon keeps its anomaly state in the lab's work dir, never in the host's
            # /var/lib (a test must not inherit another run's baselines).
            f.write(daemon_config_yaml(interfaces or [lab.host_if], ports, self.listen,
                                       list(route_patterns), log_level=log_level,
                                       state_dir=lab.path(f"{name}-state"),
                                       extra_yaml=extra_yaml, control_socket=self.socket))
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30) -> "Daemon":
        self.proc = spawn([self.binary, "--config", self.config_path], self.log_path,
                          what="traffic-analyzer")
        REAPER.register("traffic-analyzer (SIGTERM)", self.stop)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise TestbedError(f"traffic-analyzer exited {self.proc.returncode} before "
                                   f"serving /metrics:\n{tail(self.log_path)}")
            try:
                self.scrape(timeout=1)
                return True
            except (OSError, urllib.error.URLError):
                return False

        if not wait_until(ready, timeout, interval=0.2):
            raise TestbedError(f"traffic-analyzer not serving http://{self.listen}/metrics "
                               f"after {timeout} s:\n{tail(self.log_path)}")
        return self

    def scrape(self, timeout: float = 5) -> str:
        with _NO_PROXY.open(f"http://{self.listen}/metrics", timeout=timeout) as r:
            return r.read().decode()

    def samples(self) -> dict:
        return parse_exposition(self.scrape())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        return stop_process(self.proc, sig, timeout)

    def log(self) -> str:
        return tail(self.log_path, 60)

    def ctl(self, *args: str, check: bool = False,
            timeout: float = 30) -> subprocess.CompletedProcess:
        """trafficctl (TA_TRAFFICCTL) against this daemon's control socket."""
        ctl = os.environ.get("TA_TRAFFICCTL", "")
        if not ctl:
            raise TestbedError("TA_TRAFFICCTL is not set (ctest sets it)")
        return run([ctl, "--socket", self.socket, *args], check=check, timeout=timeout)


def replay(binary: str, pcap: str, config: str | None = None, timeout: float = 120) -> str:
    argv = [binary, "replay", pcap] + (["--config", config] if config else [])
    p = run(argv, timeout=timeout, check=False)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {p.returncode}:\n{p.stderr[-3000:]}")
    return p.stdout


# --------------------------------------------------------------------------------------------
# Prometheus text exposition

LabelSet = tuple[tuple[str, str], ...]  # sorted (name, value) pairs
_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_exposition(text: str) -> dict[tuple[str, LabelSet], float]:
    """Prometheus text format 0.0.4 -> {(metric name, sorted labels): value}."""
    out: dict[tuple[str, LabelSet], float] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ValueError(f"line {n}: not a sample: {line!r}")
        name, label_text, value = m.groups()
        labels = []
        pos = 0
        label_text = label_text or ""
        while pos < len(label_text):
            lm = _LABEL_RE.match(label_text, pos)
            if not lm:
                raise ValueError(f"line {n}: bad labels: {label_text!r}")
            labels.append((lm.group(1), _unescape(lm.group(2))))
            pos = lm.end()
        key = (name, tuple(sorted(labels)))
        if key in out:
            raise ValueError(f"line {n}: duplicate sample {key}")
        out[key] = float(value)
    return out


@dataclasses.dataclass
class Histogram:
    count: float = 0.0
    sum: float = 0.0
    buckets: dict[float, float] = dataclasses.field(default_factory=dict)  # le -> cumulative


def histograms(samples: dict, family: str) -> dict[LabelSet, Histogram]:
    out: dict[LabelSet, Histogram] = {}
    for (name, labels), value in samples.items():
        if name == family + "_bucket":
            le = dict(labels)["le"]
            key = tuple(kv for kv in labels if kv[0] != "le")
            out.setdefault(key, Histogram()).buckets[float(le)] = value
        elif name == family + "_count":
            out.setdefault(labels, Histogram()).count = value
        elif name == family + "_sum":
            out.setdefault(labels, Histogram()).sum = value
    return out


def series_values(samples: dict, name: str) -> dict[LabelSet, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


# Label names of the HTTP server metrics (OTel semantic conventions as Prometheus shows them).
METHOD, ROUTE, STATUS, PORT = ("http_request_method", "http_route",
                               "http_response_status_code", "server_port")
DURATION = "http_server_request_duration_seconds"
REQUEST_BODY = "http_server_request_body_size_bytes"
RESPONSE_BODY = "http_server_response_body_size_bytes"

ExchangeKey = tuple[str, str, int, int]  # (method, route, status, server port)


def exchange_key(labels: LabelSet) -> ExchangeKey:
    d = dict(labels)
    return d[METHOD], d[ROUTE], int(d[STATUS]), int(d[PORT])


def request_counts(samples: dict) -> Counter:
    """_count of the duration histogram per (method, route, status, port)."""
    c: Counter = Counter()
    for labels, h in histograms(samples, DURATION).items():
        c[exchange_key(labels)] += int(h.count)
    return c


def subtract(after: Counter, before: Counter) -> Counter:
    out = Counter(after)
    out.subtract(before)
    return Counter({k: v for k, v in out.items() if v != 0})


# --------------------------------------------------------------------------------------------
# Route templating, the rule the analyzer applies (so counts from other sources can be keyed
# the same way): query string dropped; a config pattern that matches wins; otherwise
# identifier-like segments become {id}. Our test URIs avoid the rule's borderline cases.

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")
_NUMERIC = re.compile(r"^[0-9]+$")
_LONG_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")


def _is_identifier(s: str) -> bool:
    """Numeric, UUID, hex of 16+ characters, or a 16+ character token mixing digits and
    letters (analyzer/routes/route_template.h, rule 3)."""
    if not s:
        return False
    if _NUMERIC.match(s) or _UUID.match(s) or _LONG_HEX.match(s):
        return True
    return (len(s) >= 16 and any(c.isascii() and c.isdigit() for c in s)
            and any(c.isascii() and c.isalpha() for c in s))


def template_route(uri: str, patterns: Iterable[str] = ()) -> str:
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:  # absolute-form (tshark's http.response_for.uri)
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    segments = path.split("/")
    for pattern in patterns:
        p = pattern.split("/")
        if len(p) == len(segments) and all(
                ps.startswith("{") and ps.endswith("}") and s != "" or ps == s
                for ps, s in zip(p, segments)):
            return pattern
    return "/".join("{id}" if _is_identifier(s) else s for s in segments)


# --------------------------------------------------------------------------------------------
# tshark


class Capture:
    """tshark writing the host veth's TCP traffic on `ports` to a pcapng."""

    def __init__(self, lab: VethLab, ports: list[int], name: str = "capture",
                 in_netns: bool = False) -> None:
        self.lab = lab
        self.ports = ports
        # in_netns: capture the namespace end of the veth instead (what left the namespace,
        # before anything on the host, XDP included, could drop it).
        self.in_netns = in_netns
        self.pcap = lab.path(f"{name}.pcapng")
        self.log_path = lab.path(f"{name}.tshark.log")
        self.proc: subprocess.Popen | None = None
        self.packets: int | None = None
        self.dropped: int | None = None

    def start(self, timeout: float = 20) -> "Capture":
        bpf_filter = " or ".join(f"tcp port {p}" for p in self.ports)
        # -B: 64 MiB kernel buffer so a wrk burst does not overrun the capture.
        self.proc = spawn(["tshark", "-n", "-i",
                           self.lab.ns_if if self.in_netns else self.lab.host_if,
                           "-f", bpf_filter, "-B", "64", "-w", self.pcap], self.log_path,
                          netns=self.lab.netns if self.in_netns else None, what="tshark")
        REAPER.register("tshark (SIGINT)", self.stop)

        def capturing() -> bool:
            if self.proc.poll() is not None:
                raise TestbedError(f"tshark exited {self.proc.returncode}:\n"
                                   + tail(self.log_path))
            with open(self.log_path, "rb") as f:
                return b"Capturing on" in f.read()

        if not wait_until(capturing, timeout):
            raise TestbedError(f"tshark did not start capturing in {timeout} s:\n"
                               + tail(self.log_path))
        time.sleep(0.5)  # "Capturing on" is printed as dumpcap starts; let it settle
        return self

    def stop(self, settle: float = 1.0) -> None:
        """Lets the last packets reach the file, then SIGINT and wait: dumpcap flushes and
        reports its counts on a clean stop."""
        if self.proc is None or self.proc.poll() is not None:
            return
        time.sleep(settle)
        rc = stop_process(self.proc, signal.SIGINT, timeout=30)
        log = tail(self.log_path, 20)
        if rc is None:
            raise TestbedError(f"tshark ignored SIGINT for 30 s:\n{log}")
        m = re.search(r"^(\d+) packets? captured", log, re.M)
        self.packets = int(m.group(1)) if m else None
        m = re.search(r"(\d+) packets? dropped", log)
        self.dropped = int(m.group(1)) if m else 0


@dataclasses.dataclass(frozen=True)
class WireExchange:
    method: str
    uri: str
    status: int
    server_port: int


def _tshark_fields(pcap: str, display_filter: str, fields: list[str],
                   decode_ports: Iterable[int]) -> list[list[list[str]]]:
    # Tab between fields, "," between occurrences: neither appears in our test URIs.
    argv = ["tshark", "-n", "-r", pcap, "-Y", display_filter, "-T", "fields",
            "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t"]
    for p in decode_ports:
        argv += ["-d", f"tcp.port=={p},http"]
    for f in fields:
        argv += ["-e", f]
    out = run(argv, timeout=300).stdout
    return [[col.split(",") if col else [] for col in line.split("\t")]
            for line in out.splitlines() if line]


def wire_exchanges(pcap: str, ports: Iterable[int]) -> list[WireExchange]:
    """Request/response pairs as tshark decodes them. Pairing is ours, in order per TCP
    stream (HTTP/1.1 answers in request order), because tshark links only the first of
    several pipelined responses to its request (http.request_in). Interim 1xx responses are
    not exchanges of their own."""
    pending: dict[int, collections.deque] = collections.defaultdict(collections.deque)
    out = []
    for stream, sport, methods, uris, codes in _tshark_fields(
            pcap, "http.request or http.response",
            ["tcp.stream", "tcp.srcport", "http.request.method", "http.request.uri",
             "http.response.code"], ports):
        s = int(stream[0])
        pending[s].extend(zip(methods, uris))
        for code in codes:
            status = int(code)
            if 100 <= status < 200:
                continue
            if not pending[s]:
                raise TestbedError(f"tshark: a {status} response on TCP stream {s} has no "
                                   "request")
            method, uri = pending[s].popleft()
            out.append(WireExchange(method, uri, status, int(sport[0])))
    return out


# --------------------------------------------------------------------------------------------
# Clients


@dataclasses.dataclass(frozen=True)
class CurlRequest:
    method: str  # GET, HEAD, POST
    port: int
    path: str
    body_bytes: int = 0       # POST body size
    gzip: bool = False        # send Accept-Encoding: gzip (and keep the body compressed)
    expect_continue: bool = False


@dataclasses.dataclass(frozen=True)
class CurlResult:
    request: CurlRequest
    status: int
    response_body_bytes: int
    request_body_bytes: int
    new_connections: int


_CURL_WRITE_OUT = "%{http_code} %{size_download} %{size_upload} %{num_connects}\\n"


def _curl_args(lab: VethLab, req: CurlRequest, body_dir: str) -> list[str]:
    args = ["--noproxy", "*", "-sS", "--max-time", "10", "-o", "/dev/null",
            "-w", _CURL_WRITE_OUT]
    if req.method == "HEAD":
        args.append("-I")
    elif req.method == "POST":
        body = os.path.join(body_dir, f"post-{req.body_bytes}.bin")
        if not os.path.exists(body):
            with open(body, "wb") as f:
                f.write(bytes((i * 13 + 5) % 256 for i in range(req.body_bytes)))
        args += ["--data-binary", "@" + body, "-H", "Content-Type: application/octet-stream",
                 "-H", "Expect: 100-continue" if req.expect_continue else "Expect:"]
    elif req.method != "GET":
        args += ["-X", req.method]
    if req.gzip:
        args += ["-H", "Accept-Encoding: gzip"]
    args.append(f"http://{lab.ns_addr}:{req.port}{req.path}")
    return args


def curl(lab: VethLab, requests: list[CurlRequest], keepalive: bool) -> list[CurlResult]:
    """keepalive=False: one curl process (one TCP connection) per request. keepalive=True: all
    requests in one curl invocation, joined with --next, which reuses the connection per port."""
    if not requests:
        return []
    if keepalive:
        argv = ["curl"]
        for i, req in enumerate(requests):
            if i:
                argv.append("--next")
            argv += _curl_args(lab, req, lab.workdir)
        lines = run(argv, timeout=60).stdout.splitlines()
    else:
        lines = []
        for req in requests:
            lines += run(["curl"] + _curl_args(lab, req, lab.workdir), timeout=30
                         ).stdout.splitlines()
    if len(lines) != len(requests):
        raise TestbedError(f"curl reported {len(lines)} results for {len(requests)} requests")
    results = []
    for req, line in zip(requests, lines):
        code, down, up, conns = line.split()
        results.append(CurlResult(req, int(code), int(down), int(up), int(conns)))
    return results


def pipelined(lab: VethLab, port: int, paths: list[str], timeout: float = 10
              ) -> list[tuple[int, int]]:
    """Sends GETs for all `paths` in a single write on one connection (HTTP/1.1 pipelining,
    RFC 9112 section 9.3.2), the last with Connection: close, and reads to EOF. Returns
    (status, body bytes) per response; nginx answers these paths with Content-Length."""
    reqs = []
    for i, path in enumerate(paths):
        close = "Connection: close\r\n" if i == len(paths) - 1 else ""
        reqs.append(f"GET {path} HTTP/1.1\r\nHost: {lab.ns_addr}\r\n{close}\r\n")
    data = b""
    with socket.create_connection((lab.ns_addr, port), timeout=timeout) as sock:
        sock.sendall("".join(reqs).encode())
        while chunk := sock.recv(65536):
            data += chunk
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise TestbedError(f"pipelined: truncated response head: {data[:200]!r}")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith("content-length:")), 0)
        out.append((status, length))
        data = rest[length:]
    if len(out) != len(paths):
        raise TestbedError(f"pipelined: {len(out)} responses to {len(paths)} requests")
    return out


class PersistentClient:
    """One keep-alive HTTP/1.1 connection (http.client), kept open across phases of a test:
    e.g. opened before the daemon starts, to check it picks up connections already open."""

    def __init__(self, lab: VethLab, port: int) -> None:
        self.conn = http.client.HTTPConnection(lab.ns_addr, port, timeout=10)
        REAPER.register("persistent HTTP connection", self.conn.close)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, int, bool]:
        """(status, body bytes, whether a new TCP connection was needed)."""
        reconnected = self.conn.sock is None
        self.conn.request("GET", path, headers=headers or {})
        r = self.conn.getresponse()
        body = r.read()
        return r.status, len(body), reconnected


@dataclasses.dataclass
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    non_2xx_3xx: int
    socket_errors: str
    output: str
    latency: dict[str, str] = dataclasses.field(default_factory=dict)  # "50%" -> "1.20ms"


def wrk_command(lab: VethLab, port: int, paths: list[str], *, duration_s: int,
                connections: int, threads: int = 1, close: bool = False, delay_ms: int = 0,
                name: str = "wrk") -> list[str]:
    """argv for wrk running exactly `duration_s`, cycling through `paths` (GET); close=True
    sends Connection: close (a new connection per request); delay_ms paces every connection
    (wrk's delay() hook). Writes the Lua script into the lab's work dir."""
    if not 0 < duration_s <= 120 or not 0 < connections <= 512 or not 0 < threads <= 64:
        raise ValueError("wrk run out of bounds (1..120 s, 1..512 connections, 1..64 threads)")
    script = lab.path(f"{name}.lua")
    lua_paths = ", ".join(json.dumps(p) for p in paths)
    headers = ', {["Connection"] = "close"}' if close else ""
    with open(script, "w") as f:
        f.write(f"""local paths = {{{lua_paths}}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i - 1) % #paths + 1]{headers})
end
""")
        if delay_ms:
            f.write(f"delay = function() return {int(delay_ms)} end\n")
    return ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration_s}s",
            "--timeout", "5s", "--latency", "-s", script, f"http://{lab.ns_addr}:{port}/"]


def parse_wrk(out: str) -> WrkResult:
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if not m:
        raise TestbedError(f"cannot parse wrk output:\n{out}")
    secs = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    latency = dict(re.findall(r"^\s+(\d+%)\s+(\S+)\s*$", out, re.M))
    return WrkResult(int(m.group(1)), secs, float(rps.group(1)) if rps else 0.0,
                     int(non2xx.group(1)) if non2xx else 0,
                     errors.group(1) if errors else "", out, latency)


def wrk(lab: VethLab, port: int, paths: list[str], *, duration_s: int, connections: int,
        threads: int = 1, close: bool = False, delay_ms: int = 0,
        name: str = "wrk") -> WrkResult:
    """Runs wrk_command() to completion (wall clock bounded too) and parses its summary."""
    argv = wrk_command(lab, port, paths, duration_s=duration_s, connections=connections,
                       threads=threads, close=close, delay_ms=delay_ms, name=name)
    return parse_wrk(run(argv, timeout=duration_s + 30).stdout)


# --------------------------------------------------------------------------------------------
# tc inspection


def tc_filters(dev: str, hook: str, netns: str | None = None) -> str:
    """`tc filter show dev DEV ingress|egress` (empty when no clsact or no filters)."""
    argv = ["tc"] + (["-n", netns] if netns else []) + ["filter", "show", "dev", dev, hook]
    return run(argv, check=False).stdout.strip()


def has_clsact(dev: str) -> bool:
    return "qdisc clsact" in run(["tc", "qdisc", "show", "dev", dev]).stdout


# --------------------------------------------------------------------------------------------
# Protocol peers written in Python (grpcio, websockets, h2, raw sockets)


class PeerServer:
    """A server script run by PEER_PYTHON inside the lab's namespace. The script gets its
    listen address and port as argv[1:3] (plus `args`) and must print a line "READY" once it
    accepts: readiness is read from its log, so no probe connection ever crosses the veth."""

    def __init__(self, lab: VethLab, name: str, source: str, port: int,
                 args: Iterable[str] = ()) -> None:
        self.lab = lab
        self.name = name
        self.port = port
        self.script = lab.path(f"{name}.py")
        self.log_path = lab.path(f"{name}.log")
        with open(self.script, "w") as f:
            f.write(source)
        self.args = [str(a) for a in args]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> "PeerServer":
        self.proc = spawn([PEER_PYTHON, "-u", self.script, self.lab.ns_addr, str(self.port),
                           *self.args], self.log_path, netns=self.lab.netns, what=self.name)
        REAPER.register(f"{self.name} (SIGTERM)", self.stop)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise TestbedError(f"{self.name} exited {self.proc.returncode}:\n"
                                   + tail(self.log_path))
            with open(self.log_path, "rb") as f:
                return b"READY" in f.read()

        if not wait_until(ready, timeout):
            raise TestbedError(f"{self.name} not ready after {timeout} s:\n"
                               + tail(self.log_path))
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        return stop_process(self.proc, signal.SIGTERM, timeout=10)

    def log(self) -> str:
        return tail(self.log_path, 60)

    def ctl(self, *args: str, check: bool = False,
            timeout: float = 30) -> subprocess.CompletedProcess:
        """trafficctl (TA_TRAFFICCTL) against this daemon's control socket."""
        ctl = os.environ.get("TA_TRAFFICCTL", "")
        if not ctl:
            raise TestbedError("TA_TRAFFICCTL is not set (ctest sets it)")
        return run([ctl, "--socket", self.socket, *args], check=check, timeout=timeout)


def run_peer_client(lab: VethLab, name: str, source: str, args: Iterable[str] = (),
                    timeout: float = 60) -> dict:
    """Runs a client script under PEER_PYTHON on the host side to completion; the script prints
    one JSON object (what it did and saw) as its last stdout line, which is returned."""
    script = lab.path(f"{name}.py")
    with open(script, "w") as f:
        f.write(source)
    p = run([PEER_PYTHON, "-u", script, *[str(a) for a in args]], timeout=timeout, check=False)
    with open(lab.path(f"{name}.log"), "w") as f:
        f.write(p.stdout + "\n--- stderr ---\n" + p.stderr)
    if p.returncode != 0:
        raise TestbedError(f"{name} exited {p.returncode}:\n{p.stderr[-3000:]}")
    lines = p.stdout.strip().splitlines()
    if not lines:
        raise TestbedError(f"{name} printed nothing")
    return json.loads(lines[-1])


# --------------------------------------------------------------------------------------------
# Packet loss on demand. No netem, no gact (drop) action and no nft/iptables binaries here;
# what this kernel has is u32 and mirred. A mirred redirect to a device that is down drops
# the packet (act_mirred: TC_ACT_SHOT when the target is not up). The target is a veth pair
# kept down, one end on the host, one in the lab's namespace, so each side has one in reach.
# The u32 filter matches one IPv4 total length and sits at a priority after the daemon's own
# filter (agent/tc_hook.h kTcPriority 0x5441, which returns TC_ACT_UNSPEC so later filters
# run).

DROP_FILTER_PRIO = 0xC000


class DropFilter:
    """Drops IPv4 packets whose total length is `ip_len` on `dev`'s ingress (a device of the
    lab's namespace with in_netns, else of the host). Where it sits decides who still sees
    the dropped packet: on the host veth's ingress the AF_PACKET tap (tshark) and the daemon's
    tc filter see it first; on the namespace end's ingress, after the host veth's egress, both
    saw it too."""

    def __init__(self, lab: VethLab, dev: str, ip_len: int, in_netns: bool = False) -> None:
        self.lab = lab
        self.dev = dev
        self.ip_len = ip_len
        self.netns = lab.netns if in_netns else None
        self.installed = False
        self._tc = ["tc"] + (["-n", self.netns] if self.netns else [])
        self.sink = lab.drop_sink(in_netns)

    def install(self) -> "DropFilter":
        if "qdisc clsact" not in run(self._tc + ["qdisc", "show", "dev", self.dev]).stdout:
            run(self._tc + ["qdisc", "add", "dev", self.dev, "clsact"])
            if self.netns is None:
                REAPER.register(f"clsact on {self.dev}", lambda: run(
                    self._tc + ["qdisc", "del", "dev", self.dev, "clsact"], check=False))
        run(self._tc + ["filter", "add", "dev", self.dev, "ingress", "prio",
                        str(DROP_FILTER_PRIO), "protocol", "ip", "u32",
                        "match", "u16", str(self.ip_len), "0xffff", "at", "2",
                        "action", "mirred", "egress", "redirect", "dev", self.sink])
        self.installed = True
        REAPER.register(f"drop filter on {self.dev}", self.remove)
        return self

    def dropped(self) -> int:
        out = run(self._tc + ["-s", "filter", "show", "dev", self.dev, "ingress", "prio",
                              str(DROP_FILTER_PRIO)]).stdout
        m = re.search(r"Sent \d+ bytes (\d+) pkt", out)
        return int(m.group(1)) if m else 0

    def remove(self) -> None:
        if self.installed:
            run(self._tc + ["filter", "del", "dev", self.dev, "ingress", "prio",
                            str(DROP_FILTER_PRIO)], check=False)
            self.installed = False


# --------------------------------------------------------------------------------------------
# Scraping helpers for any metric family


def labelled_sum(samples: dict, name: str, by: Iterable[str]) -> Counter:
    """Sum of the samples of `name` grouped by the values of the labels `by` (missing -> "")."""
    by = list(by)
    out: Counter = Counter()
    for labels, v in series_values(samples, name).items():
        d = dict(labels)
        out[tuple(d.get(b, "") for b in by)] += v
    return out


def histogram_counts(samples: dict, family: str, by: Iterable[str]) -> Counter:
    """_count of histogram `family` grouped by the labels `by`."""
    return labelled_sum(samples, family + "_count", by)


# The daemon publishes its self-metrics (traffic_analyzer_*: detections, losses, parse errors)
# from a housekeeping pass once a second (agent/daemon.cc), protocol metrics as they happen.
SELF_METRICS_PERIOD_S = 1.0
_scrapes = 0


def settle(daemon: "Daemon", progress: Callable[[dict], float], expected: float,
           timeout: float = 20, quiet_s: float = 3) -> dict:
    """Scrapes until progress(samples) == expected, or it has not moved for `quiet_s`; then
    until two scrapes more than one housekeeping period apart agree on every metric, so the
    self-metrics have caught up and late extras would show. Returns the last scrape (also
    saved next to the daemon's log for a post-mortem)."""
    global _scrapes
    last = {"value": None, "since": time.monotonic()}

    def done() -> bool:
        value = progress(daemon.samples())
        if value == expected:
            return True
        now = time.monotonic()
        if value != last["value"]:
            last.update(value=value, since=now)
        return now - last["since"] >= quiet_s
    wait_until(done, timeout, interval=0.25)
    deadline = time.monotonic() + timeout
    text = daemon.scrape()
    while True:
        time.sleep(SELF_METRICS_PERIOD_S + 0.2)
        previous, text = text, daemon.scrape()
        if _comparable(previous) == _comparable(text) or time.monotonic() > deadline:
            break
    _scrapes += 1
    with open(f"{daemon.log_path}.scrape-{_scrapes}.txt", "w") as f:
        f.write(text)
    return parse_exposition(text)


def _comparable(text: str) -> dict:
    # The exporter's own series (scrape counts, latencies) change with every scrape.
    return {k: v for k, v in parse_exposition(text).items() if not k[0].startswith("exposer_")}


def tshark_json(pcap: str, display_filter: str, decode_as: Iterable[str] = (),
                layers: Iterable[str] = ()) -> list[dict]:
    """tshark -T json of the packets matching `display_filter`, with decode-as rules such as
    "tcp.port==8082,http2". Repeated fields (tshark writes them as duplicate JSON keys) become
    lists, so every occurrence survives; each object's "__items__" keeps all its (key, value)
    pairs in document order (e.g. which http2 frame a grpc layer follows)."""
    argv = ["tshark", "-n", "-r", pcap, "-Y", display_filter, "-T", "json"]
    for d in decode_as:
        argv += ["-d", d]
    layers = list(layers)
    if layers:
        argv += ["-J", " ".join(layers)]
    return parse_tshark_json(run(argv, timeout=300).stdout)


def parse_tshark_json(text: str) -> list:
    """tshark's -T json text -> Python objects, keeping the occurrences of repeated keys (see
    tshark_json)."""
    def pairs(items):
        obj: dict = {"__items__": items}  # every (key, value) in document order
        for k, v in items:
            if k in obj and k != "__items__":
                if not obj.get(f"__multi__{k}"):
                    obj[k] = [obj[k]]
                    obj[f"__multi__{k}"] = True
                obj[k].append(v)
            else:
                obj[k] = v
        return obj
    return json.loads(text or "[]", object_pairs_hook=pairs)


def as_list(v) -> list:
    """A tshark JSON value that may be one occurrence or a list of them."""
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def walk(node, key: str):
    """Every value stored under `key` anywhere in a tshark JSON tree (each occurrence)."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.startswith("__"):
                continue
            if k == key:
                yield from as_list(v)
            else:
                yield from walk(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item, key)


def nothing_lost_or_unparsed(samples: dict) -> dict[str, float]:
    """Non-zero traffic_analyzer_events_lost_total and _parse_errors_total series."""
    bad = {}
    for name in ("traffic_analyzer_events_lost_total", "traffic_analyzer_parse_errors_total"):
        for labels, v in series_values(samples, name).items():
            if v:
                bad[f"{name}{dict(labels)}"] = v
    return bad


class LabTestCase(unittest.TestCase):
    """Base of the protocol end-to-end tests: one lab per class, set up in lab_setup() (which
    subclasses write), the work dir kept when set-up or any test fails, the Reaper run as the
    class cleanup."""

    lab: VethLab
    daemon: "Daemon"

    @classmethod
    def setUpClass(cls):
        require_testbed(cls.required_tools(), cls.required_modules())
        cls.binary = daemon_binary()
        cls.addClassCleanup(REAPER.run)
        cls.lab = VethLab("e2e").setup(os.environ.get("TA_E2E_ARTIFACTS"))
        try:
            cls.lab_setup()
        except BaseException:
            cls.lab.keep("set-up failed")
            raise

    @classmethod
    def required_tools(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def required_modules(cls) -> tuple[str, ...]:
        return ()

    @classmethod
    def lab_setup(cls) -> None:
        raise NotImplementedError

    def setUp(self):
        self.addCleanup(self._keep_on_failure)

    def _keep_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is not None and any(t is self for t, _ in result.failures + result.errors):
            self.lab.keep(f"{self.id()} failed")

    def context(self) -> str:
        daemon = getattr(self, "daemon", None)
        log = f"\n--- daemon log ({daemon.log_path}) ---\n{daemon.log()}" if daemon else ""
        return f"{log}\n--- work dir: {self.lab.workdir}"

    def assertCountsEqual(self, got: Counter, want: Counter, what: str) -> None:
        """Exact equality of two Counters (zero entries ignored), with a per-key diff."""
        got = Counter({k: v for k, v in got.items() if v})
        want = Counter({k: v for k, v in want.items() if v})
        if got != want:
            rows = [f"  {k}: expected {want.get(k, 0)}, got {got.get(k, 0)}"
                    for k in sorted(set(got) | set(want), key=repr)
                    if got.get(k, 0) != want.get(k, 0)]
            self.fail(f"{what}:\n" + "\n".join(rows) + self.context())

    def assertFamilyExported(self, samples: dict, *names: str) -> None:
        """Fails (rather than comparing against nothing) while the daemon does not export a
        family at all: an empty Counter would otherwise equal an empty expectation."""
        present = {n for n, _ in samples}
        missing = [n for n in names
                   if not ({n, n + "_count", n + "_bucket"} & present)]
        if missing:
            self.fail("the daemon does not export " + ", ".join(missing) + self.context())
