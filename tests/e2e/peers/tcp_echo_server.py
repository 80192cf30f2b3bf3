#!/usr/bin/python3
"""Raw TCP echo server: sends back every byte it reads; closes its side once the client has
closed its own (EOF), or quietly when the client resets. argv: ADDRESS PORT."""

import signal
import socket
import sys
import threading


def serve(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(65536):
                conn.sendall(data)
        except ConnectionResetError:
            pass


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.create_server((address, port), backlog=64)
    print("READY", flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
