#!/usr/bin/python3
"""End to end: gRPC over cleartext HTTP/2 between a real grpcio server and client.

Scenario (one test bed, see testbed.py):
  1. peers/grpc_server.py (grpcio, generic handlers, bytes messages) in a fresh namespace on
     50051, and nginx on 50052 proxying to it (grpc_pass, inside the namespace). Both are real
     servers that differ on the wire: grpcio sends its SETTINGS as soon as it accepts, before
     the client's preface (RFC 9113 section 3.4 lets it); nginx waits for the client. The
     daemon watches the host veth on both ports; tshark captures the same veth.
  2. peers/grpc_client.py runs PLAN against each port on one channel (one TCP connection
     each): unary calls that
     succeed (some with 3 kB answers, spanning segments), fail trailers-only (NOT_FOUND,
     UNIMPLEMENTED) or after the response headers (PERMISSION_DENIED); server streaming, also
     failing after 3 messages (INTERNAL); client streaming; bidirectional streaming; and a call
     the client cancels (RST_STREAM, no grpc-status: "unknown").
  3. rpc_server_duration_seconds counts per (service, method, status), and the requests /
     responses per RPC histograms (count and sum) per (service, method), equal what the client
     did and what tshark's HTTP/2 + gRPC decode shows, per port. Every call is also an HTTP/2
     exchange. One http2 detection per channel, no loss, no parse errors.

Needs root; without it the test is skipped, unless CI is set, where it fails.
"""

import collections
import json
import os
import sys
from collections import Counter

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 50051        # grpcio itself
PROXY_PORT = 50052  # nginx grpc_pass -> PORT
PORTS = [PORT, PROXY_PORT]
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")

# (client plan entry, expected status per call). Status codes: gRPC's doc/statuscodes.md.
PLAN = [
    (["unary", ["/demo.Echo/Unary", "10"], 20], 0),
    # Messages of several KiB: many DATA frames on the wire. Larger ones (100 kB) travel in GSO
    # segments whose frame headers lie beyond snaplen and lose HTTP/2 framing on the tc path
    # (a documented limit, docs/troubleshooting.md; test_http2.py's large-body phase checks that
    # it is counted, never mislabelled), so the exact plan stays below it.
    (["unary", ["/demo.Echo/Unary", "3000"], 2], 0),
    (["unary", ["/demo.Echo/Lookup", "missing"], 4], 5),    # NOT_FOUND, trailers-only
    (["unary", ["/demo.Echo/Lookup", "denied"], 3], 7),     # PERMISSION_DENIED after headers
    (["unary", ["/demo.Missing/Nothing", "1"], 2], 12),     # UNIMPLEMENTED, trailers-only
    (["server_stream", ["/demo.Echo/ServerStream", "5"], 3], 0),
    (["server_stream", ["/demo.Echo/ServerStream", "3,abort"], 2], 13),  # INTERNAL after 3
    (["client_stream", ["/demo.Echo/ClientStream", 7], 2], 0),
    (["bidi", ["/demo.Echo/Bidi", 4], 2], 0),
    (["bidi_cancel", "/demo.Echo/Bidi", 1], "unknown"),      # RST_STREAM CANCEL, see wire_calls
]

DURATION = "rpc_server_duration_seconds"
REQUESTS_PER_RPC = "rpc_server_requests_per_rpc"
RESPONSES_PER_RPC = "rpc_server_responses_per_rpc"
CALL_LABELS = ["rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code", "server_port"]
METHOD_LABELS = ["rpc_system", "rpc_service", "rpc_method", "server_port"]


def call_key(service: str, method: str, status, port: int) -> tuple:
    return ("grpc", service, method, str(status), str(port))


def method_key(service: str, method: str, port: int) -> tuple:
    return ("grpc", service, method, str(port))


def wire_calls(pcap: str) -> list[list]:
    """Calls as tshark decodes them: [service, method, status, request messages, response
    messages, server port] per (TCP stream, HTTP/2 stream).

    The status is the grpc-status of a HEADERS frame from the server, "unknown" if none came
    before the stream was reset: after RST_STREAM the stream is closed (RFC 9113 section 5.1),
    though grpcio's server may still answer a client's cancel with trailers (grpc-status 1) and
    RST_STREAM of its own. Messages are counted here from the DATA payloads tshark's HTTP/2
    decode gives (5-byte length prefix, gRPC over HTTP/2 spec): tshark's own gRPC layer shows
    only 4 of the 5 messages nginx packs into one DATA frame."""
    paths: dict = {}
    status: dict = {}
    reset: set = set()
    data: dict = collections.defaultdict(bytearray)
    server_port = {}
    for pkt in tb.tshark_json(pcap, "http2", [f"tcp.port=={p},http2" for p in PORTS],
                              ["tcp", "http2"]):
        layers = pkt["_source"]["layers"]
        tcp = layers["tcp"]
        conn = tcp["tcp.stream"]
        from_server = int(tcp["tcp.srcport"]) in PORTS
        server_port[conn] = int(tcp["tcp.srcport" if from_server else "tcp.dstport"])
        for frame in tb.walk(layers, "http2.stream"):
            sid = (conn, frame.get("http2.streamid"))
            if frame.get("http2.type") == "0" and sid not in reset:
                if frame.get("http2.pad_length", "0") != "0":
                    raise tb.TestbedError(f"a padded DATA frame: {frame}")
                payload = frame.get("http2.data.data", "")
                data[(sid, from_server)] += bytes.fromhex(payload.replace(":", ""))
            elif frame.get("http2.type") == "3":
                reset.add(sid)
            elif frame.get("http2.type") == "1" and sid not in reset:
                headers = {h.get("http2.header.name"): h.get("http2.header.value")
                           for h in tb.as_list(frame.get("http2.header"))}
                if ":path" in headers and not from_server:
                    paths[sid] = headers[":path"]
                if "grpc-status" in headers and from_server:
                    status[sid] = int(headers["grpc-status"])

    def messages(sid, from_server: bool) -> int:
        buf, n, at = data[(sid, from_server)], 0, 0
        while at + 5 <= len(buf):
            at += 5 + int.from_bytes(buf[at + 1:at + 5], "big")
            n += 1
        if at != len(buf):
            raise tb.TestbedError(f"stream {sid}: gRPC messages do not end with the DATA")
        return n

    calls = []
    for sid, path in sorted(paths.items()):
        service, _, method = path.strip("/").partition("/")
        calls.append([service, method, status.get(sid, "unknown"), messages(sid, False),
                      messages(sid, True), server_port[sid[0]]])
    return calls


def aggregate(calls: list[list]) -> tuple[Counter, Counter, Counter, Counter]:
    """(calls per call_key, calls per method_key, request and response messages per
    method_key)."""
    per_call, per_method, requests, responses = Counter(), Counter(), Counter(), Counter()
    for service, method, status, sent, received, port in calls:
        per_call[call_key(service, method, status, port)] += 1
        per_method[method_key(service, method, port)] += 1
        requests[method_key(service, method, port)] += sent
        responses[method_key(service, method, port)] += received
    return per_call, per_method, requests, responses


class GrpcEndToEnd(tb.LabTestCase):

    @classmethod
    def required_modules(cls):
        return ("grpc",)

    @classmethod
    def lab_setup(cls):
        with open(os.path.join(PEERS, "grpc_server.py")) as f:
            cls.server = tb.PeerServer(cls.lab, "grpc_server", f.read(), PORT).start()
        # nginx's own HTTP port is not watched; only the gRPC proxy port is.
        cls.nginx = tb.Nginx(cls.lab, [18080], grpc_proxies={PROXY_PORT: PORT}).start()
        cls.daemon = tb.Daemon(cls.binary, cls.lab, PORTS).start()
        cls.baseline = cls.daemon.samples()
        cls.capture = tb.Capture(cls.lab, PORTS).start()
        cls.calls = []
        planned = [status for (_, _, times), status in PLAN for _ in range(times)]
        with open(os.path.join(PEERS, "grpc_client.py")) as f:
            client = f.read()
        for port in PORTS:
            calls = tb.run_peer_client(cls.lab, f"grpc_client_{port}", client,
                                       [cls.lab.ns_addr, port,
                                        json.dumps([entry for entry, _ in PLAN])])
            observed = [c[2] for c in calls]
            if observed != planned:
                raise tb.TestbedError(f"port {port}: the calls ended {observed}, the plan says "
                                      f"{planned}")
            cls.calls += [c + [port] for c in calls]
        cls.expected = aggregate(cls.calls)
        cls.after = tb.settle(cls.daemon, lambda s: sum(tb.histogram_counts(
            s, DURATION, CALL_LABELS).values()), len(cls.calls))
        cls.capture.stop()
        cls.wire = wire_calls(cls.capture.pcap)
        print(f"\ne2e grpc: {len(cls.calls)} calls, "
              f"{sum(cls.expected[2].values())} request and {sum(cls.expected[3].values())} "
              f"response messages; tshark {len(cls.wire)} calls ({cls.capture.packets} packets, "
              f"{cls.capture.dropped} dropped); daemon "
              f"{sum(tb.histogram_counts(cls.after, DURATION, CALL_LABELS).values())} calls",
              file=sys.stderr)

    def test_0_starts_with_no_rpc_series(self):
        self.assertEqual(tb.histogram_counts(self.baseline, DURATION, CALL_LABELS), Counter())

    def test_tshark_agrees_with_client(self):
        # The test bed's own cross-check: the independent decode sees the calls the client made.
        self.assertCountsEqual(Counter(map(tuple, self.wire)), Counter(map(tuple, self.calls)),
                               "tshark's calls vs the client's (test bed)")

    def test_calls_per_status_exact(self):
        self.assertFamilyExported(self.after, DURATION)
        got = tb.histogram_counts(self.after, DURATION, CALL_LABELS)
        self.assertCountsEqual(got, self.expected[0], "rpc_server_duration_seconds count")
        self.assertCountsEqual(got, aggregate(self.wire)[0], "daemon vs tshark")

    def test_messages_per_rpc_exact(self):
        for family, index in ((REQUESTS_PER_RPC, 2), (RESPONSES_PER_RPC, 3)):
            with self.subTest(family=family):
                self.assertFamilyExported(self.after, family)
                self.assertCountsEqual(tb.histogram_counts(self.after, family, METHOD_LABELS),
                                       self.expected[1], f"{family}_count (calls)")
                self.assertCountsEqual(tb.labelled_sum(self.after, family + "_sum",
                                                       METHOD_LABELS),
                                       self.expected[index], f"{family}_sum (messages)")
                self.assertCountsEqual(tb.labelled_sum(self.after, family + "_sum",
                                                       METHOD_LABELS),
                                       aggregate(self.wire)[index], f"{family}_sum vs tshark")

    def test_calls_are_http2_exchanges(self):
        # Every call is also an HTTP/2 exchange (docs/metrics.md): POST to its path, :status 200
        # (grpcio answers 200 also trailers-only; the cancelled call had its response headers).
        got = Counter()
        for labels, h in tb.histograms(self.after, tb.DURATION).items():
            d = dict(labels)
            got[(d[tb.METHOD], d[tb.ROUTE], d[tb.STATUS], d["network_protocol_version"],
                 d[tb.PORT])] += int(h.count)
        want = Counter(("POST", f"/{service}/{method}", "200", "2", str(port))
                       for service, method, _, _, _, port in self.calls)
        self.assertCountsEqual(got, want, "HTTP/2 exchanges of the gRPC calls")

    def test_durations_plausible(self):
        hists = tb.histograms(self.after, DURATION)
        self.assertTrue(hists, "no rpc duration series" + self.context())
        for labels, h in hists.items():
            with self.subTest(series=dict(labels)):
                self.assertTrue(0 < h.sum / h.count < 10, f"mean {h.sum / h.count} s")
                self.assertEqual(max(h.buckets.values()), h.count)

    def test_protocol_detections(self):
        self.assertFamilyExported(self.after, "traffic_analyzer_protocol_detections_total")
        got = tb.labelled_sum(self.after, "traffic_analyzer_protocol_detections_total",
                              ["protocol"])
        self.assertCountsEqual(got, Counter({("http2",): len(PORTS)}),
                               "protocol detections (one channel per port)")

    def test_nothing_lost_or_unparsed(self):
        self.assertEqual(tb.nothing_lost_or_unparsed(self.after), {}, self.context())


if __name__ == "__main__":
    tb.main()
