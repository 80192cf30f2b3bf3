#!/usr/bin/python3
"""HTTP/2 server (python3-h2) that accepts the h2c Upgrade (RFC 7540 section 3.2): an
HTTP/1.1 request with "Upgrade: h2c" and HTTP2-Settings gets "101 Switching Protocols", then
its response as HTTP/2 stream 1; further requests on the connection are plain HTTP/2 streams.
nginx does not implement this upgrade. argv: ADDRESS PORT.

/h2c/hello  200 "hello over h2c\\n"     anything else  404 (empty body)
Every answered request is logged as "served METHOD PATH STATUS STREAM".
"""

import signal
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events

HELLO = b"hello over h2c\n"


def respond(conn: h2.connection.H2Connection, stream_id: int, method: str, path: str) -> None:
    status, body = (200, HELLO) if path == "/h2c/hello" else (404, b"")
    conn.send_headers(stream_id, [(":status", str(status)), ("content-length", str(len(body)))],
                      end_stream=not body)
    if body:
        conn.send_data(stream_id, body, end_stream=True)
    print(f"served {method} {path} {status} {stream_id}", flush=True)


def serve(sock: socket.socket) -> None:
    with sock:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("upgrade", "").lower() != "h2c" or "http2-settings" not in headers:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            return
        sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     b"Upgrade: h2c\r\n\r\n")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_upgrade_connection(headers["http2-settings"])
        respond(conn, 1, method, path)
        sock.sendall(conn.data_to_send())
        while True:
            if rest:
                for event in conn.receive_data(rest):
                    if isinstance(event, h2.events.RequestReceived):
                        h = {k.decode() if isinstance(k, bytes) else k:
                             v.decode() if isinstance(v, bytes) else v for k, v in event.headers}
                        respond(conn, event.stream_id, h[":method"], h[":path"])
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        sock.sendall(conn.data_to_send())
                        return
                sock.sendall(conn.data_to_send())
            rest = sock.recv(65536)
            if not rest:
                return


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.create_server((address, port), backlog=64)
    print("READY", flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
