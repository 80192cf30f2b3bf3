#!/usr/bin/python3
"""End to end: TCP connection metrics for a raw TCP echo service (no application protocol).

Scenario (one test bed, see testbed.py):
  1. peers/tcp_echo_server.py in a fresh namespace on 9000; the daemon watches the host veth
     on 9000; tshark captures the same veth.
  2. Clean phase: CLEAN connections each send a known number of bytes, read the echo, and
     close with FIN both ways; RESET connections do the same and then close with SO_LINGER
     {1, 0}, which sends an RST. Payload bytes each way are known exactly.
  3. Loss phase (no netem here): on two more connections one data segment is dropped by a
     filter (testbed.DropFilter) placed after both observers - the namespace end's ingress
     for the client's segment, the host veth's ingress (after the daemon's tc filter and
     tshark's tap) for the server's echo - and removed as soon as it has dropped that packet,
     long before the retransmission timeout (at least 200 ms, RFC 6298 and Linux's
     TCP_RTO_MIN; a tail loss probe with one segment in flight waits as long). So exactly one
     retransmission each way, which tshark's tcp.analysis.retransmission confirms.
  4. Opened/closed by reason, bytes per direction, retransmissions per direction and
     handshake RTT count are exact; the active gauge is back to 0; every connection is
     detected as "unknown" (no known protocol start); no loss.

Needs root; without it the test is skipped, unless CI is set, where it fails.
"""

import os
import socket
import struct
import sys
from collections import Counter

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 9000
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")
# Bytes each connection sends (and gets back). 200000 spans many segments and window updates.
CLEAN = [1, 100, 1448, 5000, 200000, 37]
RESET = [10, 3000, 64]
# The loss phase's payloads: sizes no other segment in this test has, so the drop filter
# (which matches the IPv4 total length) can only hit the segment meant.
LOST_C2S, LOST_S2C = 1111, 1222
C2S, S2C = "client_to_server", "server_to_client"
ECHO_CHUNK = 16384

OPENED = "tcp_connections_opened_total"
CLOSED = "tcp_connections_closed_total"
ACTIVE = "tcp_connections_active"
BYTES = "tcp_bytes_total"
RETRANSMITS = "tcp_retransmitted_segments_total"
HANDSHAKE = "tcp_handshake_rtt_seconds"


def payload(size: int, seed: int) -> bytes:
    # Starts with a NUL: nothing a protocol detector could take for HTTP, TLS or HTTP/2.
    return bytes([0]) + bytes((seed * 31 + i) % 256 for i in range(size - 1))


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(min(65536, size - len(data)))
        if not chunk:
            raise tb.TestbedError(f"echo closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def echo(addr: str, size: int, seed: int, reset: bool, during=None) -> None:
    """One connection: send `size` bytes, read them back, then FIN (and wait for the server's
    FIN) or RST. `during(sock)` runs after the first send, before reading its echo.

    The bytes go in chunks of ECHO_CHUNK, each read back before the next is sent: sending
    everything first would fill both directions' buffers, and the zero-window probes and
    spurious retransmissions that follow would blur the exact retransmission counts."""
    data = payload(size, seed)
    sock = socket.create_connection((addr, PORT), timeout=10)
    try:
        for start in range(0, size, ECHO_CHUNK):
            chunk = data[start:start + ECHO_CHUNK]
            sock.sendall(chunk)
            if during:
                during(sock)
                during = None
            if recv_exactly(sock, len(chunk)) != chunk:
                raise tb.TestbedError("the echo differs")
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            sock.shutdown(socket.SHUT_WR)
            if sock.recv(1) != b"":
                raise tb.TestbedError("the server sent more than the echo")
    finally:
        sock.close()


def tcp_header_len(netns: str | None) -> int:
    """Linux sends the timestamp option (12 bytes with padding) in every segment when
    net.ipv4.tcp_timestamps is on (RFC 7323)."""
    value = tb.run(["cat", "/proc/sys/net/ipv4/tcp_timestamps"], netns=netns).stdout.strip()
    return 20 + (12 if value != "0" else 0)


def wait_for_drop(drop: tb.DropFilter) -> None:
    """Polls the filter's counter until it has dropped one packet, then removes it."""
    try:
        if not tb.wait_until(lambda: drop.dropped() >= 1, timeout=5, interval=0.005):
            raise tb.TestbedError("the drop filter dropped nothing in 5 s")
        if drop.dropped() != 1:
            raise tb.TestbedError(f"the drop filter dropped {drop.dropped()} packets, not 1")
    finally:
        drop.remove()


class TcpEndToEnd(tb.LabTestCase):

    @classmethod
    def lab_setup(cls):
        with open(os.path.join(PEERS, "tcp_echo_server.py")) as f:
            cls.server = tb.PeerServer(cls.lab, "tcp_echo", f.read(), PORT).start()
        cls.daemon = tb.Daemon(cls.binary, cls.lab, [PORT]).start()
        cls.baseline = cls.daemon.samples()
        cls.capture = tb.Capture(cls.lab, [PORT]).start()
        addr = cls.lab.ns_addr
        for i, size in enumerate(CLEAN):
            echo(addr, size, i, reset=False)
        for i, size in enumerate(RESET):
            echo(addr, size, 100 + i, reset=True)
        cls.after_clean = tb.settle(cls.daemon, cls.closed_total, len(CLEAN) + len(RESET))

        # Loss phase. The client's segment: dropped entering the namespace.
        c2s = tb.DropFilter(cls.lab, cls.lab.ns_if, 20 + tcp_header_len(None) + LOST_C2S,
                            in_netns=True).install()
        echo(addr, LOST_C2S, 200, reset=False, during=lambda _: wait_for_drop(c2s))
        # The server's echo: dropped on the host veth's ingress, after the daemon saw it.
        s2c = tb.DropFilter(cls.lab, cls.lab.host_if,
                            20 + tcp_header_len(cls.lab.netns) + LOST_S2C)
        s2c.install()
        echo(addr, LOST_S2C, 201, reset=False, during=lambda _: wait_for_drop(s2c))
        cls.connections = len(CLEAN) + len(RESET) + 2
        cls.after = tb.settle(cls.daemon, cls.closed_total, cls.connections)
        cls.capture.stop()
        cls.wire_retransmits = Counter(
            S2C if int(port) == PORT else C2S for port in tb.run(
                ["tshark", "-n", "-r", cls.capture.pcap, "-Y", "tcp.analysis.retransmission",
                 "-T", "fields", "-e", "tcp.srcport"]).stdout.split())
        cls.wire_bytes = Counter()
        for line in tb.run(["tshark", "-n", "-r", cls.capture.pcap, "-Y", "tcp.len > 0", "-T",
                            "fields", "-e", "tcp.srcport", "-e", "tcp.len"]).stdout.splitlines():
            port, length = line.split()
            cls.wire_bytes[S2C if int(port) == PORT else C2S] += int(length)
        print(f"\ne2e tcp: {cls.connections} connections; tshark retransmissions "
              f"{dict(cls.wire_retransmits)}, payload {dict(cls.wire_bytes)} "
              f"({cls.capture.packets} packets, {cls.capture.dropped} dropped); daemon closed "
              f"{dict(tb.labelled_sum(cls.after, CLOSED, ['reason']))}, retransmits "
              f"{dict(tb.labelled_sum(cls.after, RETRANSMITS, ['direction']))}",
              file=sys.stderr)

    @staticmethod
    def closed_total(samples: dict) -> float:
        return sum(tb.series_values(samples, CLOSED).values())

    def by(self, samples: dict, name: str, label: str | None) -> Counter:
        """A family's samples on PORT by one more label (or none); other ports must not
        appear."""
        labels = ["server_port"] + ([label] if label else [])
        got = tb.labelled_sum(samples, name, labels)
        self.assertEqual([k for k in got if k[0] != str(PORT)], [], f"{name} on another port")
        return Counter({(k[1] if label else ""): v for k, v in got.items()})

    # ---------------------------------------------------------------------------------------

    def test_0_starts_with_nothing(self):
        for name in (OPENED, CLOSED, BYTES):
            self.assertEqual(sum(tb.series_values(self.baseline, name).values()), 0, name)

    def test_clean_phase_exact(self):
        s = self.after_clean
        self.assertFamilyExported(s, OPENED, CLOSED, BYTES, ACTIVE)
        n = len(CLEAN) + len(RESET)
        self.assertCountsEqual(self.by(s, OPENED, None), Counter({"": n}), OPENED)
        self.assertCountsEqual(self.by(s, CLOSED, "reason"),
                               Counter({"fin": len(CLEAN), "reset": len(RESET)}), CLOSED)
        total = sum(CLEAN) + sum(RESET)
        self.assertCountsEqual(self.by(s, BYTES, "direction"), Counter({C2S: total, S2C: total}),
                               BYTES)
        self.assertCountsEqual(self.by(s, RETRANSMITS, "direction"), Counter(), RETRANSMITS)
        self.assertEqual(self.by(s, ACTIVE, None), Counter({"": 0}), ACTIVE + self.context())

    def test_tshark_saw_one_retransmission_each_way(self):
        # The test bed's own check of the loss it provoked.
        self.assertEqual(self.wire_retransmits, Counter({C2S: 1, S2C: 1}))

    def test_totals_exact(self):
        s = self.after
        self.assertCountsEqual(self.by(s, OPENED, None), Counter({"": self.connections}),
                               OPENED)
        self.assertCountsEqual(self.by(s, CLOSED, "reason"),
                               Counter({"fin": len(CLEAN) + 2, "reset": len(RESET)}), CLOSED)
        self.assertEqual(self.by(s, ACTIVE, None), Counter({"": 0}), ACTIVE + self.context())

    def test_retransmissions_equal_tshark(self):
        self.assertFamilyExported(self.after, RETRANSMITS)
        self.assertCountsEqual(self.by(self.after, RETRANSMITS, "direction"),
                               self.wire_retransmits, RETRANSMITS)

    def test_bytes_equal_tshark(self):
        # Every payload byte on the wire, the retransmitted segments included (the kernel-side
        # totals count what passed the capture point).
        total = sum(CLEAN) + sum(RESET)
        self.assertEqual(self.wire_bytes, Counter({C2S: total + 2 * LOST_C2S + LOST_S2C,
                                                   S2C: total + LOST_C2S + 2 * LOST_S2C}),
                         "tshark payload (test bed)")
        self.assertCountsEqual(self.by(self.after, BYTES, "direction"), self.wire_bytes, BYTES)

    def test_handshake_rtt_count(self):
        self.assertFamilyExported(self.after, HANDSHAKE)
        hists = tb.histograms(self.after, HANDSHAKE)
        got = tb.histogram_counts(self.after, HANDSHAKE, ["server_port"])
        self.assertCountsEqual(got, Counter({(str(PORT),): self.connections}), HANDSHAKE)
        for labels, h in hists.items():
            # A veth round trip: well under a second, above zero.
            self.assertTrue(0 < h.sum / h.count < 1, f"mean handshake {h.sum / h.count} s")

    def test_protocol_detections(self):
        self.assertFamilyExported(self.after, "traffic_analyzer_protocol_detections_total")
        got = tb.labelled_sum(self.after, "traffic_analyzer_protocol_detections_total",
                              ["protocol"])
        self.assertCountsEqual(got, Counter({("unknown",): self.connections}),
                               "protocol detections")

    def test_nothing_lost_or_unparsed(self):
        self.assertEqual(tb.nothing_lost_or_unparsed(self.after), {}, self.context())


if __name__ == "__main__":
    tb.main()
