#!/usr/bin/python3
"""gRPC test server (grpcio, no generated code): bytes in, bytes out. argv: ADDRESS PORT.

demo.Echo/Unary         b"<n>" -> n bytes
demo.Echo/Lookup        b"missing" -> NOT_FOUND (5) before any header: a trailers-only response
                        b"denied"  -> initial metadata first, then PERMISSION_DENIED (7) in the
                                      trailers
demo.Echo/ServerStream  b"<n>" -> n messages of i+1 bytes; b"<n>,abort" -> n messages, then
                        INTERNAL (13)
demo.Echo/ClientStream  any number of messages -> one message, the count as text
demo.Echo/Bidi          echoes every message
Anything else: UNIMPLEMENTED (12), from grpcio itself.
"""

import signal
import sys
import threading
from concurrent import futures

import grpc


def unary(request: bytes, _context) -> bytes:
    return bytes(i % 251 for i in range(int(request)))


def lookup(request: bytes, context) -> bytes:
    if request == b"denied":
        context.send_initial_metadata((("x-demo", "1"),))
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "denied")
    context.abort(grpc.StatusCode.NOT_FOUND, "no such key")


def server_stream(request: bytes, context):
    count, _, mode = request.decode().partition(",")
    for i in range(int(count)):
        yield bytes(i % 251 for i in range(i + 1))
    if mode == "abort":
        context.abort(grpc.StatusCode.INTERNAL, "stream failed")


def client_stream(requests, _context) -> bytes:
    return str(sum(1 for _ in requests)).encode()


def bidi(requests, _context):
    for message in requests:
        yield message


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    handler = grpc.method_handlers_generic_handler("demo.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Lookup": grpc.unary_unary_rpc_method_handler(lookup),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    if server.add_insecure_port(f"{address}:{port}") != port:
        sys.exit(f"cannot listen on {address}:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("READY", flush=True)
    stop.wait()
    server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
