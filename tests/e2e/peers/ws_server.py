#!/usr/bin/python3
"""WebSocket echo server (python3-websockets): every text or binary message is sent back
as it came; pings are answered by the library. No permessage-deflate and no keepalive pings of
its own, so every frame on the wire is one the client caused. argv: ADDRESS PORT."""

import asyncio
import signal
import sys

import websockets


async def echo(ws, _path=None):
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(echo, address, port, compression=None, ping_interval=None,
                                max_size=None):
        print("READY", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
