#!/usr/bin/python3
"""HTTP/1.1 client for the enforcement end-to-end test: one request per new connection from a
chosen source address, paced or as fast as it can, bounded in count and time. Every attempt's
outcome goes to a JSON lines file, so the test can count exactly what the client saw fail.

Outcomes: "ok" (a complete response; its status is recorded), "connect_timeout" (no SYN-ACK
within --timeout: below the kernel's 1 s initial SYN retransmission timeout, so exactly one SYN
was sent), "timeout" (connected, no complete response in time), "error" (anything else).

  http_load.py --target ADDR --port N --source ADDR --path /users/7 --out FILE
               [--rate R (0 = as fast as possible)] [--duration S] [--max-attempts N]
               [--timeout S]
Stops early on SIGTERM/SIGINT, always flushing the file.
"""

import argparse
import http.client
import json
import signal
import socket
import struct
import sys
import time

stop = False


def on_signal(_signum, _frame):
    global stop
    stop = True


def attempt(args) -> tuple[str, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # An abortive close (one RST) on every path: no orphaned socket keeps retransmitting a FIN
    # or data after the attempt is logged, so the packets an attempt sends end with it.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        sock.bind((args.source, 0))
        sock.settimeout(args.timeout)
        try:
            sock.connect((args.target, args.port))
        except socket.timeout:
            return "connect_timeout", 0
        request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.target}\r\n"
                   f"Connection: close\r\n\r\n").encode()
        try:
            sock.sendall(request)
            conn = http.client.HTTPResponse(sock)
            conn.begin()
            conn.read()
            return "ok", conn.status
        except socket.timeout:
            return "timeout", 0
    except OSError:
        return "error", 0
    finally:
        sock.close()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--path", default="/users/7")
    p.add_argument("--out", required=True)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--max-attempts", type=int, default=200000)
    p.add_argument("--timeout", type=float, default=0.5)
    args = p.parse_args()
    if not 0 < args.duration <= 300 or not 0 < args.max_attempts <= 1_000_000:
        print("out of bounds: duration 0..300 s, max-attempts 1..1e6", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + args.duration
    sent = 0
    with open(args.out, "w", buffering=1) as out:
        while not stop and sent < args.max_attempts and time.monotonic() < deadline:
            began = time.monotonic()
            outcome, status = attempt(args)
            sent += 1
            out.write(json.dumps({"t": time.time(), "outcome": outcome, "status": status}) + "\n")
            if args.rate > 0:
                time.sleep(max(0.0, 1.0 / args.rate - (time.monotonic() - began)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
