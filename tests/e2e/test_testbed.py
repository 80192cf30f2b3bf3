#!/usr/bin/python3
"""Unit tests of the test bed's own logic (no privileges): the Prometheus text parser, the
histogram view and the route templating rule the end-to-end test keys tshark and nginx by."""

import os
import sys
import unittest
from collections import Counter

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed as tb  # noqa: E402

EXPOSITION = r'''# HELP http_server_request_duration_seconds Duration of HTTP server requests.
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_count{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",network_protocol_version="1.1",server_port="80",url_scheme="http"} 3
http_server_request_duration_seconds_sum{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",network_protocol_version="1.1",server_port="80",url_scheme="http"} 0.0015
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",network_protocol_version="1.1",server_port="80",url_scheme="http",le="0.005"} 3
http_server_request_duration_seconds_bucket{http_request_method="GET",http_response_status_code="200",http_route="/users/{id}",network_protocol_version="1.1",server_port="80",url_scheme="http",le="+Inf"} 3
http_server_request_duration_seconds_count{http_request_method="POST",http_response_status_code="201",http_route="/a \"q\" \\ b",network_protocol_version="1.1",server_port="8080",url_scheme="http"} 1 1700000000000
traffic_analyzer_events_lost_total{stage="ringbuf"} 0
traffic_analyzer_connections_tracked 2
'''


class ExpositionParsing(unittest.TestCase):
    def test_samples_labels_and_escapes(self):
        s = tb.parse_exposition(EXPOSITION)
        self.assertEqual(s[("traffic_analyzer_connections_tracked", ())], 2)
        counts = tb.request_counts(s)
        self.assertEqual(counts, Counter({("GET", "/users/{id}", 200, 80): 3,
                                          ("POST", '/a "q" \\ b', 201, 8080): 1}))

    def test_histogram_view(self):
        h = tb.histograms(tb.parse_exposition(EXPOSITION), tb.DURATION)
        (get,) = [v for k, v in h.items() if dict(k)[tb.METHOD] == "GET"]
        self.assertEqual((get.count, get.sum), (3, 0.0015))
        self.assertEqual(get.buckets, {0.005: 3, float("inf"): 3})

    def test_rejects_garbage_and_duplicates(self):
        with self.assertRaises(ValueError):
            tb.parse_exposition("not a sample line at all {\n")
        with self.assertRaises(ValueError):
            tb.parse_exposition("a 1\na 2\n")


class FamilyViews(unittest.TestCase):
    TEXT = """websocket_messages_total{direction="client_to_server",server_port="8765",type="text"} 4
websocket_messages_total{direction="server_to_client",server_port="8765",type="text"} 4
websocket_messages_total{direction="client_to_server",server_port="8765",type="ping"} 3
rpc_server_requests_per_rpc_count{rpc_method="Unary",rpc_service="demo.Echo",rpc_system="grpc",server_port="50051"} 2
rpc_server_requests_per_rpc_sum{rpc_method="Unary",rpc_service="demo.Echo",rpc_system="grpc",server_port="50051"} 7
rpc_server_requests_per_rpc_bucket{le="+Inf",rpc_method="Unary",rpc_service="demo.Echo",rpc_system="grpc",server_port="50051"} 2
"""

    def test_labelled_sum_groups_by_labels(self):
        s = tb.parse_exposition(self.TEXT)
        self.assertEqual(tb.labelled_sum(s, "websocket_messages_total", ["direction"]),
                         Counter({("client_to_server",): 7, ("server_to_client",): 4}))
        self.assertEqual(tb.labelled_sum(s, "websocket_messages_total", ["type", "absent"]),
                         Counter({("text", ""): 8, ("ping", ""): 3}))
        self.assertEqual(tb.labelled_sum(s, "no_such_family", ["x"]), Counter())

    def test_histogram_counts_use_the_count_sample(self):
        s = tb.parse_exposition(self.TEXT)
        self.assertEqual(tb.histogram_counts(s, "rpc_server_requests_per_rpc", ["rpc_method"]),
                         Counter({("Unary",): 2}))


class TsharkJson(unittest.TestCase):
    # The shape of tshark -T json: repeated keys within one object, layers in packet order.
    TEXT = """[{"_source": {"layers": {
      "tcp": {"tcp.srcport": "50051", "tcp.port": "50051", "tcp.port": "40000"},
      "http2": {"http2.stream": {"http2.type": "0", "http2.streamid": "1"}},
      "grpc": {"grpc.message_length": "10"},
      "http2": {"http2.stream": {"http2.type": "0", "http2.streamid": "3"}},
      "grpc": {"grpc.message_length": "20"}
    }}}]"""

    def test_repeated_keys_survive_in_order(self):
        (pkt,) = tb.parse_tshark_json(self.TEXT)
        layers = pkt["_source"]["layers"]
        self.assertEqual(layers["tcp"]["tcp.port"], ["50051", "40000"])
        self.assertEqual(len(layers["http2"]), 2)
        self.assertEqual([name for name, _ in layers["__items__"]],
                         ["tcp", "http2", "grpc", "http2", "grpc"])
        self.assertEqual(list(tb.walk(layers, "http2.streamid")), ["1", "3"])
        self.assertEqual(list(tb.walk(layers, "grpc.message_length")), ["10", "20"])
        self.assertEqual(tb.as_list(None), [])
        self.assertEqual(tb.as_list("x"), ["x"])


class RouteTemplating(unittest.TestCase):
    def test_ids_become_placeholders(self):
        t = tb.template_route
        self.assertEqual(t("/users/123"), "/users/{id}")
        self.assertEqual(t("/users/456?tab=profile"), "/users/{id}")
        self.assertEqual(t("/users/9f1c2d3e-5a6b-4c7d-8e9f-0123456789ab/orders"),
                         "/users/{id}/orders")
        self.assertEqual(t("/blobs/0123456789abcdef0123"), "/blobs/{id}")
        self.assertEqual(t("/files/small.txt"), "/files/small.txt")
        self.assertEqual(t("/"), "/")
        self.assertEqual(t("/t/aB3dEfGhIjKlMnOp"), "/t/{id}")  # 16+ chars, digits and letters
        self.assertEqual(t("/t/deadbeef"), "/t/deadbeef")  # short hex is a word
        self.assertEqual(t("http://198.18.0.2:8080/users/1?x"), "/users/{id}")

    def test_config_pattern_wins(self):
        self.assertEqual(tb.template_route("/items/widget", ["/items/{id}"]), "/items/{id}")
        self.assertEqual(tb.template_route("/items/widget/x", ["/items/{id}"]), "/items/widget/x")
        self.assertEqual(tb.template_route("/items/widget"), "/items/widget")


class DaemonConfig(unittest.TestCase):
    def test_yaml_shape(self):
        y = tb.daemon_config_yaml(["veth0"], [80, 8080], "127.0.0.1:19100", ["/items/{id}"])
        self.assertIn('interfaces: ["veth0"]', y)
        self.assertIn("ports: [80, 8080]", y)
        self.assertIn('patterns: ["/items/{id}"]', y)
        self.assertIn('metrics: {listen: "127.0.0.1:19100"}', y)


if __name__ == "__main__":
    unittest.main(verbosity=2)
