#!/usr/bin/python3
"""Benchmark: the daemon's CPU cost per 10k HTTP requests/s, and what it costs throughput.

    sudo /usr/bin/python3 tests/e2e/bench_daemon_cpu.py --daemon build/agent/traffic-analyzer
    (or: cmake --build build --target bench-daemon-cpu)

wrk drives nginx in a fresh network namespace (keep-alive, GET of small responses) for a fixed
duration, first without the daemon, then with it attached to the host side of the veth. The
daemon's CPU is its utime+stime from /proc/PID/stat across the loaded window only. Kernel-side
cost is the tc programs' run_time_ns/run_cnt (kernel.bpf_stats_enabled is switched on for the
with-agent runs only and restored afterwards; collecting stats itself costs a little, so
--no-bpf-stats gives the cleaner throughput comparison).

    daemon CPU % of one core per 10k req/s = cpu_seconds / duration / (rps / 10000) * 100

Every run is bounded (1..60 s, at most 256 connections); everything created is removed at the
end, on Ctrl-C or on SIGTERM. Not a ctest test: timing belongs in benchmarks.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORTS = [80]
PATHS = ["/users/1", "/users/2", "/files/small.txt", "/users/3?x=1", "/health", "/nope"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mib(pid: int) -> float:
    """VmHWM (the resident set's high-water mark) of a process, MiB: what MemoryMax= in the
    unit must leave room for."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def tc_prog_ids(dev: str) -> list[int]:
    out = tb.run(["bpftool", "-j", "net", "show", "dev", dev], check=False).stdout
    ids = []
    for entry in json.loads(out or "[]"):
        for hook in entry.get("tc", []):
            if "id" in hook:
                ids.append(int(hook["id"]))
    return ids


def prog_stats(ids: list[int]) -> dict[int, tuple[str, int, int]]:
    """id -> (name, run_time_ns, run_cnt)."""
    stats = {}
    for i in ids:
        p = tb.run(["bpftool", "-j", "prog", "show", "id", str(i)], check=False)
        if p.returncode == 0:
            d = json.loads(p.stdout)
            stats[i] = (d.get("name", "?"), int(d.get("run_time_ns", 0)), int(d.get("run_cnt", 0)))
    return stats


class BpfStatsEnabled:
    """kernel.bpf_stats_enabled=1 for the duration of a `with`, then the previous value."""

    def __enter__(self):
        with open(BPF_STATS) as f:
            self.previous = f.read().strip()
        self.token = tb.REAPER.register("restore kernel.bpf_stats_enabled", self._restore)
        with open(BPF_STATS, "w") as f:
            f.write("1")
        return self

    def _restore(self):
        with open(BPF_STATS, "w") as f:
            f.write(self.previous)

    def __exit__(self, *exc):
        tb.REAPER.run_one(self.token)


def loaded_run(lab, args, name) -> tb.WrkResult:
    return tb.wrk(lab, PORTS[0], PATHS, duration_s=args.duration, connections=args.connections,
                  threads=args.threads, name=name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemon", required=True, help="path to the traffic-analyzer binary")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (1..60)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (<= 256)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="alternate without/with this many times (1..5); medians reported")
    ap.add_argument("--nginx-workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--no-bpf-stats", action="store_true",
                    help="leave kernel.bpf_stats_enabled alone (no kernel-side figures, and "
                         "the throughput comparison without the stats' own overhead)")
    args = ap.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.connections <= 256 \
            or not 1 <= args.repeat <= 5 or not 1 <= args.threads <= 16:
        ap.error("out of bounds: --duration 1..60, --connections 1..256, --repeat 1..5, "
                 "--threads 1..16")
    reason = tb.missing_prerequisite()
    if reason:
        print(f"bench: {reason}", file=sys.stderr)
        return 1
    daemon_path = os.path.abspath(args.daemon)

    tb.install_signal_handlers()
    try:
        lab = tb.VethLab("bench").setup()
        tb.Nginx(lab, PORTS, workers=args.nginx_workers).start()
        tb.wrk(lab, PORTS[0], PATHS, duration_s=2, connections=args.connections,
               threads=args.threads, name="warmup")
        base, agent = [], []
        for i in range(args.repeat):
            base.append(loaded_run(lab, args, f"base{i}"))
            print(f"bench: run {i + 1}/{args.repeat} without agent: "
                  f"{base[-1].requests_per_s:.0f} req/s", file=sys.stderr)
            daemon = tb.Daemon(daemon_path, lab, PORTS, name=f"daemon{i}",
                               log_level="warn").start()
            ids = tc_prog_ids(lab.host_if)
            with contextlib.nullcontext() if args.no_bpf_stats else BpfStatsEnabled():
                time.sleep(0.5)
                k0, c0, t0 = prog_stats(ids), cpu_seconds(daemon.pid), time.monotonic()
                w = loaded_run(lab, args, f"agent{i}")
                k1, c1, t1 = prog_stats(ids), cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(1)  # let the daemon drain the ring buffer before reading its counters
            samples = daemon.samples()
            rss = peak_rss_mib(daemon.pid)
            rc = daemon.stop()
            per_prog = {k1[p][0]: (k1[p][1] - k0[p][1], k1[p][2] - k0[p][2])
                        for p in k1 if p in k0}  # name -> (ns, runs)
            kernel_ns = sum(ns for ns, _ in per_prog.values())
            kernel_runs = sum(runs for _, runs in per_prog.values())
            lost = {dict(k).get("stage"): int(v) for k, v in
                    tb.series_values(samples, "traffic_analyzer_events_lost_total").items()}
            agent.append(dict(wrk=w, cpu=c1 - c0, wall=t1 - t0, kernel_ns=kernel_ns,
                              kernel_runs=kernel_runs, lost=lost, exit=rc, rss=rss,
                              counted=sum(tb.request_counts(samples).values()),
                              progs=per_prog))
            print(f"bench: run {i + 1}/{args.repeat} with agent: {w.requests_per_s:.0f} req/s, "
                  f"daemon {c1 - c0:.2f} CPU s", file=sys.stderr)
        report(args, lab, base, agent)
        return 0
    except (KeyboardInterrupt, tb.Interrupted):
        print("\nbench: interrupted; cleaning up", file=sys.stderr)
        return 130
    except tb.TestbedError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    finally:
        tb.REAPER.run()


def report(args, lab, base, agent) -> None:
    med = statistics.median
    rps0 = med(w.requests_per_s for w in base)
    rps1 = med(a["wrk"].requests_per_s for a in agent)
    cpu = med(a["cpu"] for a in agent)
    wall = med(a["wall"] for a in agent)
    core_pct = cpu / wall * 100
    per10k = cpu / wall / (rps1 / 10000) * 100
    kernel_s = med(a["kernel_ns"] for a in agent) / 1e9
    runs = med(a["kernel_runs"] for a in agent)
    cpu_model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                      if line.startswith("model name")), "?")
    print()
    print(f"traffic-analyzer daemon CPU under wrk: {args.duration} s x {args.repeat}, "
          f"{args.threads} threads, {args.connections} keep-alive connections, GET {PATHS}")
    print(f"host: {platform.node()}, kernel {platform.release()}, {os.cpu_count()} CPUs "
          f"({cpu_model}); nginx {args.nginx_workers} worker(s) in {lab.netns}")
    print()
    w = 44
    print(f"{'':{w}} {'without agent':>14} {'with agent':>14}")
    print(f"{'requests/s (median)':{w}} {rps0:>14.0f} {rps1:>14.0f}   "
          f"({(rps1 - rps0) / rps0 * 100:+.1f} %)")
    lat0 = base[len(base) // 2].latency
    lat1 = agent[len(agent) // 2]["wrk"].latency
    for q in ("50%", "99%"):
        print(f"{'wrk latency ' + q:{w}} {lat0.get(q, '-'):>14} {lat1.get(q, '-'):>14}")
    print(f"{'daemon CPU seconds (user+sys)':{w}} {'-':>14} {cpu:>14.2f}")
    print(f"{'daemon CPU % of one core':{w}} {'-':>14} {core_pct:>14.1f}")
    print(f"{'daemon CPU % of one core per 10k req/s':{w}} {'-':>14} {per10k:>14.2f}")
    print(f"{'daemon peak RSS, MiB (max of runs)':{w}} {'-':>14} "
          f"{max(a['rss'] for a in agent):>14.1f}")
    if runs:
        print(f"{'tc programs: runs, mean ns per run':{w}} {'-':>14} "
              f"{int(runs):>8} {kernel_s * 1e9 / runs:>5.0f}")
        print(f"{'tc programs CPU % of one core per 10k req/s':{w}} {'-':>14} "
              f"{kernel_s / wall / (rps1 / 10000) * 100:>14.2f}")
    else:
        print(f"{'tc programs':{w}} {'-':>14} {'not measured':>14}")
    for i, a in enumerate(agent):
        progs = ", ".join(f"{name} {runs} runs {ns / runs:.0f} ns/run" if runs else name
                          for name, (ns, runs) in sorted(a["progs"].items()))
        print(f"  with-agent run {i + 1}: wrk {a['wrk'].requests} requests, daemon counted "
              f"{a['counted']}, events lost {a['lost']}, exit {a['exit']}; {progs}")
    print()
    print("command: /usr/bin/python3 " + " ".join(sys.argv))


if __name__ == "__main__":
    sys.exit(main())
