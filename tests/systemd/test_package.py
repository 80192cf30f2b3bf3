#!/usr/bin/python3
"""The Debian package, built and installed on this machine:

  1. `cpack -G DEB` in the build tree (TA_BUILD_DIR) into a scratch dir.
  2. The .deb's control fields (Depends from dpkg-shlibdeps: the libraries the binaries link),
     its conffiles and its file list: nothing outside the layout docs/install.md describes.
  3. `dpkg -i`: the traffic-analyzer user exists, files are in place with their owners and
     modes, the installed binaries run from /usr/sbin without the build tree (the BPF objects
     are embedded as skeletons: the daemon loads and attaches them on lo and serves /metrics),
     the shipped configuration passes check-config, the installed unit passes
     `systemd-analyze verify`. Installing again (an upgrade) succeeds.
  4. `dpkg --purge`: every file, the state and log directories and the configuration are
     gone; the user stays (the Debian convention for system users), and this test deletes it
     if it made it.

Refuses to run when a traffic-analyzer package, /etc/traffic-analyzer or
/var/lib/traffic-analyzer is already on the machine (it would replace or delete an operator's
files). Always purges what it installed, in a `finally`. Needs root and dpkg; without them it
is skipped, unless CI is set, where it fails.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import unitfile as uf  # noqa: E402

PACKAGE = "traffic-analyzer"
CONFIG = "/etc/traffic-analyzer/traffic-analyzer.yaml"
UNIT = "/usr/lib/systemd/system/traffic-analyzer.service"
# Runtime libraries dpkg-shlibdeps must find (Debian 12 package names); the binaries link each.
REQUIRED_DEPENDS = {"libbpf1", "libc6", "libstdc++6", "libgcc-s1", "libprometheus-cpp-core1.0",
                    "libprometheus-cpp-pull1.0", "libspdlog1.10-fmt9", "libfmt9", "libyaml-cpp0.7",
                    "libpcap0.8", "libnghttp2-14", "systemd"}
# Everything the package may install: these directories' contents and the directories leading
# to them.
ALLOWED_PREFIXES = ("./usr/sbin/traffic-analyzer", "./usr/bin/trafficctl",
                    "./usr/lib/systemd/system/traffic-analyzer.service",
                    "./usr/lib/sysusers.d/traffic-analyzer.conf",
                    "./usr/lib/tmpfiles.d/traffic-analyzer.conf",
                    "./usr/lib/traffic-analyzer/",  # private libraries (agent/CMakeLists.txt)
                    "./usr/share/doc/traffic-analyzer/", "./usr/share/traffic-analyzer/",
                    "./etc/traffic-analyzer/")


def run(argv, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def package_state() -> str:
    """dpkg's status of the package ("" when unknown to dpkg)."""
    p = run(["dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE])
    return p.stdout.strip() if p.returncode == 0 else ""


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def mode_owner(path: str) -> tuple[str, str, str]:
    st = os.lstat(path)
    return (oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        uf.require(os.geteuid() == 0, "dpkg -i needs root")
        for tool in ("cpack", "dpkg", "dpkg-deb", "dpkg-shlibdeps", "systemd-analyze"):
            uf.require(shutil.which(tool) is not None, f"{tool} is missing")
        cls.build_dir = os.environ.get("TA_BUILD_DIR", "")
        if not os.path.exists(os.path.join(cls.build_dir, "CPackConfig.cmake")):
            raise AssertionError(f"TA_BUILD_DIR={cls.build_dir!r} has no CPackConfig.cmake")
        # Never touch an operator's installation.
        state = package_state()
        if state not in ("", "not-installed"):
            raise AssertionError(f"refusing to run: package {PACKAGE} is {state} on this "
                                 "machine and this test did not install it")
        for path in ("/etc/traffic-analyzer", "/var/lib/traffic-analyzer"):
            if os.path.exists(path):
                raise AssertionError(f"refusing to run: {path} exists (the purge would delete "
                                     "it)")
        cls.user_existed = user_exists(uf.USER)
        cls.tmp = tempfile.mkdtemp(prefix="ta-deb-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.addClassCleanup(cls.cleanup)
        p = run(["cpack", "-G", "DEB", "-B", cls.tmp], cwd=cls.build_dir, timeout=600)
        if p.returncode != 0:
            raise AssertionError(f"cpack failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        if len(debs) != 1:
            raise AssertionError(f"cpack made {debs}")
        cls.deb = os.path.join(cls.tmp, debs[0])
        cls.installed_by_us = False
        cls.results = {}
        cls.install_and_purge()

    @classmethod
    def cleanup(cls):
        if package_state() not in ("", "not-installed"):
            run(["dpkg", "--purge", PACKAGE])
        if not cls.user_existed and user_exists(uf.USER):
            run(["userdel", uf.USER])
        try:
            grp.getgrnam(uf.USER)
            if not cls.user_existed:
                run(["groupdel", uf.USER])
        except KeyError:
            pass

    @classmethod
    def install_and_purge(cls):
        """Everything that needs the package installed, recorded for the tests to assert."""
        r = cls.results
        r["install"] = run(["dpkg", "-i", cls.deb])
        if r["install"].returncode != 0:
            return
        cls.installed_by_us = True
        r["user"] = pwd.getpwnam(uf.USER) if user_exists(uf.USER) else None
        r["modes"] = {}
        for path in ("/usr/sbin/traffic-analyzer", "/usr/bin/trafficctl", UNIT, CONFIG,
                     "/usr/lib/sysusers.d/traffic-analyzer.conf",
                     "/usr/lib/tmpfiles.d/traffic-analyzer.conf", "/etc/traffic-analyzer",
                     "/var/lib/traffic-analyzer", "/var/log/traffic-analyzer"):
            r["modes"][path] = mode_owner(path) if os.path.exists(path) else None
        r["files"] = [line for line in run(["dpkg", "-L", PACKAGE]).stdout.splitlines()
                      if line and os.path.isfile(line)]
        with tempfile.TemporaryDirectory(prefix="ta-deb-cwd-") as cwd:
            # From a directory with nothing of the build tree, by absolute path.
            r["version"] = run(["/usr/sbin/traffic-analyzer", "--version"], cwd=cwd)
            # No daemon behind this socket: exit 4, "daemon unreachable" (docs/control.md).
            r["ctl_status"] = run(["/usr/bin/trafficctl", "--socket", f"{cwd}/none.sock",
                                   "status"], cwd=cwd)
            r["check_config"] = run(["/usr/sbin/traffic-analyzer", "check-config", "--config",
                                     CONFIG], cwd=cwd)
            r["ldd"] = run(["ldd", "/usr/sbin/traffic-analyzer"])
            r["runpath"] = run(["readelf", "-d", "/usr/sbin/traffic-analyzer"])
            r["attach"] = cls.attach_on_lo(cwd)
        r["verify"] = run(["systemd-analyze", "verify", "--man=no", UNIT])
        with open(UNIT) as f, open(uf.UNIT) as g:
            r["unit_same"] = f.read() == g.read()
        r["reinstall"] = run(["dpkg", "-i", cls.deb])
        r["purge"] = run(["dpkg", "--purge", PACKAGE])
        r["after_purge"] = {p: os.path.exists(p) for p in
                            r["files"] + ["/etc/traffic-analyzer", "/var/lib/traffic-analyzer",
                                          "/var/log/traffic-analyzer"]}
        r["state_after_purge"] = package_state()
        r["user_after_purge"] = user_exists(uf.USER)

    @classmethod
    def attach_on_lo(cls, workdir: str) -> tuple[bool, str]:
        """The installed daemon on lo: loads the embedded BPF objects, attaches, serves
        /metrics; stopped with SIGTERM. (Whether it serves, its log.)"""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = os.path.join(workdir, "lo.yaml")
        with open(config, "w") as f:
            f.write(f'interfaces: ["lo"]\nports: [{port + 1}]\n'
                    f'metrics: {{listen: "127.0.0.1:{port}"}}\n'
                    f'state_dir: "{workdir}/state"\ntls: {{enabled: false}}\n'
                    f'control: {{socket: "{workdir}/control.sock"}}\n')
        log_path = os.path.join(workdir, "daemon.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(["/usr/sbin/traffic-analyzer", "--config", config],
                                    stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        served = False
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                            f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
                        served = b"traffic_analyzer_" in resp.read()
                        break
                except OSError:
                    time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        with open(log_path) as f:
            return served and proc.returncode == 0, f.read()[-3000:]

    # --- the .deb itself -----------------------------------------------------------------------
    def field(self, name: str) -> str:
        return run(["dpkg-deb", "-f", self.deb, name]).stdout.strip()

    def test_control_fields(self):
        self.assertEqual((self.field("Package"), self.field("Version"), self.field("Section")),
                         (PACKAGE, "0.1.0", "net"))
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(self.field("Architecture"), arch)

    def test_depends_from_shlibdeps(self):
        depends = self.field("Depends")
        print(f"Depends: {depends}", file=sys.stderr)
        names = {re.split(r"[ (]", d.strip())[0] for d in depends.split(",") if d.strip()}
        missing = sorted(REQUIRED_DEPENDS - names)
        self.assertEqual(missing, [], f"Depends: {depends}")
        self.assertNotIn("prometheus", names, "a Prometheus is suggested, never required")
        self.assertIn("prometheus", self.field("Suggests"))

    def test_conffiles(self):
        p = run(["dpkg-deb", "--ctrl-tarfile", self.deb])
        self.assertEqual(p.returncode, 0)
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(["dpkg-deb", "-e", self.deb, d], check=True)
            with open(os.path.join(d, "conffiles")) as f:
                self.assertEqual(f.read().split(), [CONFIG])
            for script in ("postinst", "prerm", "postrm"):
                self.assertEqual(oct(stat.S_IMODE(os.stat(os.path.join(d, script)).st_mode)),
                                 "0o755", script)

    def test_file_list(self):
        listing = run(["dpkg-deb", "-c", self.deb]).stdout.splitlines()
        paths = [line.split()[-1] for line in listing]
        entries = {line.split()[-1]: (line.split()[0], line.split()[1]) for line in listing}
        outside = [p for p in paths if not p.endswith("/")
                   and not p.startswith(ALLOWED_PREFIXES)]
        self.assertEqual(outside, [])
        for path, mode in (("./usr/sbin/traffic-analyzer", "-rwxr-xr-x"),
                           ("./usr/bin/trafficctl", "-rwxr-xr-x"),
                           ("./usr/lib/systemd/system/traffic-analyzer.service", "-rw-r--r--"),
                           ("./usr/lib/sysusers.d/traffic-analyzer.conf", "-rw-r--r--"),
                           ("./usr/lib/tmpfiles.d/traffic-analyzer.conf", "-rw-r--r--"),
                           ("./etc/traffic-analyzer/traffic-analyzer.yaml", "-rw-r--r--"),
                           ("./usr/share/doc/traffic-analyzer/install.md", "-rw-r--r--")):
            self.assertEqual(entries.get(path), (mode, "root/root"), path)

    # --- installed -----------------------------------------------------------------------------
    def installed(self, key: str):
        install = self.results["install"]
        self.assertEqual(install.returncode, 0, install.stdout + install.stderr)
        return self.results[key]

    def test_install_says_how_to_enable(self):
        out = self.installed("install").stdout
        self.assertIn("systemctl enable --now traffic-analyzer", out)
        self.assertIn("usermod -aG traffic-analyzer USER", out)

    def test_user(self):
        user = self.installed("user")
        self.assertIsNotNone(user)
        self.assertEqual((user.pw_dir, user.pw_shell), ("/", "/usr/sbin/nologin"))
        self.assertLess(user.pw_uid, 1000)
        self.assertEqual(grp.getgrgid(user.pw_gid).gr_name, uf.USER)

    def test_owners_and_modes(self):
        u = uf.USER
        self.assertEqual(self.installed("modes"), {
            "/usr/sbin/traffic-analyzer": ("0o755", "root", "root"),
            "/usr/bin/trafficctl": ("0o755", "root", "root"),
            UNIT: ("0o644", "root", "root"),
            CONFIG: ("0o644", "root", "root"),
            "/usr/lib/sysusers.d/traffic-analyzer.conf": ("0o644", "root", "root"),
            "/usr/lib/tmpfiles.d/traffic-analyzer.conf": ("0o644", "root", "root"),
            "/etc/traffic-analyzer": ("0o755", "root", "root"),
            "/var/lib/traffic-analyzer": ("0o750", u, u),
            "/var/log/traffic-analyzer": ("0o750", u, u),
        })

    def test_binaries_run_from_usr(self):
        v = self.installed("version")
        self.assertEqual((v.returncode, v.stdout), (0, "traffic-analyzer 0.1.0\n"))
        self.assertEqual(self.installed("ctl_status").returncode, 4)
        ldd = self.installed("ldd").stdout
        self.assertNotIn("not found", ldd)
        self.assertNotRegex(self.installed("runpath").stdout, r"R(UN)?PATH",
                            "an RPATH into the build tree")

    def test_installed_daemon_attaches_embedded_bpf(self):
        served, log = self.installed("attach")
        self.assertTrue(served, log)

    def test_shipped_config_checks(self):
        p = self.installed("check_config")
        self.assertEqual((p.returncode, p.stdout), (0, f"{CONFIG}: ok\n"), p.stderr)

    def test_installed_unit_verifies(self):
        p = self.installed("verify")
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))
        self.assertTrue(self.installed("unit_same"), "the packaged unit differs from systemd/")

    def test_reinstall(self):
        p = self.installed("reinstall")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_purge_removes_everything_but_the_user(self):
        p = self.installed("purge")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        left = [path for path, there in self.installed("after_purge").items() if there]
        self.assertEqual(left, [])
        self.assertIn(self.installed("state_after_purge"), ("", "not-installed"))
        self.assertTrue(self.installed("user_after_purge"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
