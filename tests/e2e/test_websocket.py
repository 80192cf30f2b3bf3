#!/usr/bin/python3
"""End to end: WebSocket (RFC 6455) between a real python3-websockets server and client.

Scenario (one test bed, see testbed.py):
  1. peers/ws_server.py, an echo server, in a fresh namespace on 8765; the daemon watches the
     host veth on 8765; tshark captures the same veth.
  2. peers/ws_client.py opens one connection (GET /echo, 101), sends text and binary messages
     of known sizes - 0, 7-bit, 16-bit (126) and 64-bit (65536, 70000) payload lengths - waits
     for each echo, sends pings (0..125 bytes, answered by pongs), then closes with code 4001.
     Compression is off (no permessage-deflate), so payload bytes are the message sizes.
  3. websocket_messages_total / _payload_bytes_total per (direction, type), close frames per
     (direction, code), one session with close_code 4001, and the handshake as an HTTP/1.1
     exchange with status 101: equal to the client's plan (doubled by the echo) and to
     tshark's WebSocket decode. Detections: http1 and websocket once each; no loss, no parse
     errors.

Needs root; without it the test is skipped, unless CI is set, where it fails.
"""

import json
import os
import sys
from collections import Counter

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

PORT = 8765
PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers")
PLAN = {
    # 126 is the first 16-bit length; 65536 the first 64-bit one (RFC 6455 section 5.2).
    # A list: one message in that many fragments (section 5.4), counted once, bytes summed.
    "messages": [["text", 5], ["text", 126], ["text", 1000], ["text", 0], ["binary", 1],
                 ["binary", 200], ["binary", 65536], ["binary", 70000], ["text", 125],
                 ["text", [10, 200, 5]], ["binary", [1, 70000]]],
    "pings": [4, 0, 125],  # 125: the largest control frame payload (section 5.5)
    "close": [4001, "done"],
}
C2S, S2C = "client_to_server", "server_to_client"
OPCODES = {1: "text", 2: "binary", 8: "close", 9: "ping", 10: "pong"}
MESSAGES = "websocket_messages_total"
BYTES = "websocket_payload_bytes_total"
CLOSES = "websocket_close_frames_total"
SESSION = "websocket_session_duration_seconds"


def wire_frames(pcap: str) -> tuple[Counter, Counter, Counter]:
    """(messages, payload bytes) per (direction, type) and close frames per (direction, code),
    from tshark's WebSocket decode. A fragmented message (continuation frames, opcode 0) counts
    once, at its FIN, with the payload of all its fragments."""
    frames, payload, closes = Counter(), Counter(), Counter()
    fragmented: dict[str, str] = {}  # direction -> type of the message in progress
    for pkt in tb.tshark_json(pcap, "websocket", [f"tcp.port=={PORT},http"],
                              ["tcp", "websocket"]):
        layers = pkt["_source"]["layers"]
        direction = S2C if int(layers["tcp"]["tcp.srcport"]) == PORT else C2S
        for ws in tb.as_list(layers.get("websocket")):
            opcode = int(ws["websocket.opcode"])
            if opcode == 0:
                kind = fragmented[direction]
            else:
                kind = OPCODES[opcode]
            length = int(ws["websocket.payload_length"])
            if length == 126:
                length = int(ws["websocket.payload_length_ext_16"])
            elif length == 127:
                length = int(ws["websocket.payload_length_ext_64"])
            payload[(direction, kind)] += length
            if ws.get("websocket.fin") != "1":
                fragmented[direction] = kind
                continue
            frames[(direction, kind)] += 1
            if kind == "close":
                codes = list(tb.walk(ws, "websocket.payload.close.status_code"))
                closes[(direction, codes[0] if codes else "none")] += 1
    return frames, payload, closes


class WebSocketEndToEnd(tb.LabTestCase):

    @classmethod
    def required_modules(cls):
        return ("websockets",)

    @classmethod
    def lab_setup(cls):
        with open(os.path.join(PEERS, "ws_server.py")) as f:
            cls.server = tb.PeerServer(cls.lab, "ws_server", f.read(), PORT).start()
        cls.daemon = tb.Daemon(cls.binary, cls.lab, [PORT]).start()
        cls.baseline = cls.daemon.samples()
        cls.capture = tb.Capture(cls.lab, [PORT]).start()
        with open(os.path.join(PEERS, "ws_client.py")) as f:
            cls.client = tb.run_peer_client(cls.lab, "ws_client", f.read(),
                                            [f"ws://{cls.lab.ns_addr}:{PORT}/echo",
                                             json.dumps(PLAN)])
        cls._expect()
        # The session is reported when the TCP connection ends, after the close handshake.
        cls.after = tb.settle(cls.daemon, lambda s: sum(tb.histogram_counts(
            s, SESSION, ["close_code"]).values()), 1)
        cls.capture.stop()
        cls.wire = wire_frames(cls.capture.pcap)
        print(f"\ne2e websocket: client sent {cls.client['sent']}; daemon messages "
              f"{dict(tb.labelled_sum(cls.after, MESSAGES, ['direction', 'type']))}; "
              f"tshark frames {dict(cls.wire[0])} ({cls.capture.packets} packets, "
              f"{cls.capture.dropped} dropped)", file=sys.stderr)

    @classmethod
    def _expect(cls):
        code, reason = PLAN["close"]
        server_code, server_reason = cls.client["server_close"]
        messages, payload = Counter(), Counter()
        for kind, size in cls.client["sent"]:
            answer = {"ping": "pong"}.get(kind, kind)  # the echo, the pong, the close reply
            size_back = 2 + len(server_reason.encode()) if kind == "close" else size
            messages[(C2S, kind)] += 1
            payload[(C2S, kind)] += size
            messages[(S2C, answer)] += 1
            payload[(S2C, answer)] += size_back
        want = ([k for k, _ in PLAN["messages"]] + ["ping"] * len(PLAN["pings"]) + ["close"])
        if [k for k, _ in cls.client["sent"]] != want:
            raise tb.TestbedError(f"the client did not run the plan: {cls.client}")
        cls.expected_messages = messages
        cls.expected_bytes = payload
        cls.expected_closes = Counter({(C2S, str(code)): 1, (S2C, str(server_code)): 1})
        cls.close_code = str(code)

    def counters(self, name: str) -> Counter:
        got = tb.labelled_sum(self.after, name, ["server_port", "direction", "type"])
        wrong_port = [k for k in got if k[0] != str(PORT)]
        self.assertEqual(wrong_port, [], f"{name} on another port")
        return Counter({k[1:]: v for k, v in got.items()})

    def test_0_starts_with_no_websocket_series(self):
        self.assertEqual(tb.labelled_sum(self.baseline, MESSAGES, ["direction"]), Counter())

    def test_tshark_agrees_with_client(self):
        frames, payload, closes = self.wire
        self.assertCountsEqual(frames, self.expected_messages, "tshark frames (test bed)")
        self.assertCountsEqual(payload, self.expected_bytes, "tshark payload (test bed)")
        self.assertCountsEqual(closes, self.expected_closes, "tshark close codes (test bed)")

    def test_messages_exact(self):
        self.assertFamilyExported(self.after, MESSAGES)
        self.assertCountsEqual(self.counters(MESSAGES), self.expected_messages, MESSAGES)

    def test_payload_bytes_exact(self):
        self.assertFamilyExported(self.after, BYTES)
        self.assertCountsEqual(self.counters(BYTES), self.expected_bytes, BYTES)

    def test_close_frames(self):
        self.assertFamilyExported(self.after, CLOSES)
        got = tb.labelled_sum(self.after, CLOSES, ["server_port", "direction", "code"])
        self.assertCountsEqual(Counter({k[1:]: v for k, v in got.items() if k[0] == str(PORT)}),
                               self.expected_closes, CLOSES)

    def test_session(self):
        self.assertFamilyExported(self.after, SESSION)
        got = tb.histogram_counts(self.after, SESSION, ["server_port", "close_code"])
        self.assertCountsEqual(got, Counter({(str(PORT), self.close_code): 1}), SESSION)
        for labels, h in tb.histograms(self.after, SESSION).items():
            # From the 101 to the end of the connection: the client's run, well under 30 s.
            self.assertTrue(0 < h.sum < 30, f"session of {h.sum} s")

    def test_handshake_is_an_http_101_exchange(self):
        got = Counter()
        for labels, h in tb.histograms(self.after, tb.DURATION).items():
            d = dict(labels)
            got[(d[tb.METHOD], d[tb.ROUTE], d[tb.STATUS], d[tb.PORT],
                 d["network_protocol_version"])] += int(h.count)
        self.assertCountsEqual(got, Counter({("GET", "/echo", "101", str(PORT), "1.1"): 1}),
                               "HTTP exchanges")

    def test_protocol_detections(self):
        self.assertFamilyExported(self.after, "traffic_analyzer_protocol_detections_total")
        got = tb.labelled_sum(self.after, "traffic_analyzer_protocol_detections_total",
                              ["protocol"])
        # An upgraded connection counts as http1 and as websocket (docs/metrics.md).
        self.assertCountsEqual(got, Counter({("http1",): 1, ("websocket",): 1}),
                               "protocol detections")

    def test_nothing_lost_or_unparsed(self):
        self.assertEqual(tb.nothing_lost_or_unparsed(self.after), {}, self.context())


if __name__ == "__main__":
    tb.main()
