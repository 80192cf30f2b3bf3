#!/usr/bin/python3
"""gRPC test client for grpc_server.py: runs a plan of calls on ONE channel (one TCP
connection) and prints, as its last line, a JSON list of what each call did:
[service, method, status code or "unknown", request messages, response messages].
argv: ADDRESS PORT PLAN_JSON, the plan a list of [kind, argument, times]."""

import json
import sys
import threading

import grpc

IDENTITY = None  # no serializers: messages are bytes


def main() -> None:
    address, port, plan = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    # No proxy from the environment: the connection must go straight over the lab's veth.
    channel = grpc.insecure_channel(f"{address}:{port}", options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=10)
    calls = []

    def record(path, code, sent, received):
        service, method = path.strip("/").split("/")
        calls.append([service, method, code, sent, received])

    for kind, arg, times in plan:
        for _ in range(times):
            if kind == "unary":
                path, request = arg
                try:
                    channel.unary_unary(path)(request.encode(), timeout=10)
                    record(path, 0, 1, 1)
                except grpc.RpcError as e:
                    record(path, e.code().value[0], 1, 0)
            elif kind == "server_stream":
                path, request = arg
                got = 0
                try:
                    for _ in channel.unary_stream(path)(request.encode(), timeout=10):
                        got += 1
                    record(path, 0, 1, got)
                except grpc.RpcError as e:
                    record(path, e.code().value[0], 1, got)
            elif kind == "client_stream":
                path, count = arg
                reply = channel.stream_unary(path)(
                    iter([b"m" * (i + 1) for i in range(count)]), timeout=10)
                if int(reply) != count:
                    sys.exit(f"{path}: the server counted {reply!r}, we sent {count}")
                record(path, 0, count, 1)
            elif kind == "bidi":
                path, count = arg
                echoes = list(channel.stream_stream(path)(
                    iter([b"x" * (100 * i + 1) for i in range(count)]), timeout=10))
                if len(echoes) != count:
                    sys.exit(f"{path}: {len(echoes)} echoes for {count} messages")
                record(path, 0, count, count)
            elif kind == "bidi_cancel":
                # One message each way, then the client cancels (RST_STREAM CANCEL): the call
                # ends without grpc-status. The request stream stays open until then, so no
                # END_STREAM races the cancel.
                path = arg
                release = threading.Event()

                def requests():
                    yield b"once"
                    release.wait(10)
                call = channel.stream_stream(path)(requests(), timeout=10)
                next(call)
                call.cancel()
                release.set()
                record(path, "unknown", 1, 1)
            else:
                sys.exit(f"unknown kind {kind}")
    channel.close()
    print(json.dumps(calls))


if __name__ == "__main__":
    main()
