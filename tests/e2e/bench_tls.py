#!/usr/bin/python3
"""Benchmark: what the TLS uprobes cost a TLS server under load.

    sudo /usr/bin/python3 tests/e2e/bench_tls.py --daemon build/agent/traffic-analyzer

h2load drives nginx over TLS (HTTP/1.1 via ALPN, keep-alive, small responses) in a fresh
network namespace for a fixed number of requests, alternating runs without and with the daemon
(which hooks the node's libssl, so both nginx's and h2load's SSL calls trap). Reports requests/s
and the added time per request, and from it the cost per hooked SSL call: with both ends on the
node, each request makes about four hooked calls (client write, server read, server write,
client read). The machine is saturated in both cases, so the throughput drop is the CPU time
the agent adds per request (every part of it). Every run is bounded (requests and a timeout); everything created is removed.
Not a ctest test: timing belongs in benchmarks.
"""

import argparse
import os
import re
import statistics
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 8443
SNI = "api.example.com"


def h2load(lab, cert_dir: str, requests: int, clients: int) -> float:
    out = tb.run(["h2load", "-n", str(requests), "-c", str(clients), "-m", "1",
                  "--h1", f"https://{lab.ns_addr}:{PORT}/users/1"], timeout=120).stdout
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    if not m or not done or int(done.group(2)) != requests:
        raise tb.TestbedError(f"h2load did not complete:\n{out}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not 1 <= args.requests <= 200000 or not 1 <= args.clients <= 64:
        sys.exit("bench_tls: --requests 1..200000, --clients 1..64")
    tb.install_signal_handlers()
    lab = tb.VethLab("bench").setup()
    try:
        nginx = tb.Nginx(lab, [PORT], tls_ports=[PORT], workers=1).start()
        without, with_agent = [], []
        for _ in range(args.rounds):
            without.append(h2load(lab, nginx.prefix, args.requests, args.clients))
            daemon = tb.Daemon(args.daemon, lab, [PORT]).start()
            with_agent.append(h2load(lab, nginx.prefix, args.requests, args.clients))
            samples = daemon.samples()
            daemon.stop()
            hooked = tb.series_values(samples, "http_server_request_duration_seconds_count")
        base, hooked_rps = statistics.median(without), statistics.median(with_agent)
        # h2load, nginx and (with the agent) the daemon saturate every core, so the throughput
        # drop is CPU time: cores x (1/rps_with - 1/rps_without) per request, everything the
        # agent adds included (uprobe traps, tracepoints, tc programs, the daemon's parsing).
        cores = os.cpu_count() or 1
        added_us = (1 / hooked_rps - 1 / base) * 1e6 * cores
        print(f"h2load -n {args.requests} -c {args.clients} --h1 https (nginx 1 worker, TLS)")
        print(f"  without agent: {base:,.0f} req/s (runs {', '.join(f'{r:,.0f}' for r in without)})")
        print(f"  with agent:    {hooked_rps:,.0f} req/s (runs "
              f"{', '.join(f'{r:,.0f}' for r in with_agent)}), {100 * (hooked_rps / base - 1):+.1f} %")
        print(f"  CPU time added per request ({cores} cores saturated): {added_us:.1f} us; "
              f"per hooked SSL call (4 per request, both ends on the node): {added_us / 4:.1f} us")
        print(f"  server exchanges the daemon counted in the last run: "
              f"{int(sum(hooked.values()))} of {args.requests}")
    finally:
        tb.REAPER.run()  # daemon, nginx, namespace, link and work dir (registered at creation)


if __name__ == "__main__":
    main()
