#!/usr/bin/python3
"""WebSocket client for ws_server.py: one connection; sends each message of the plan and waits
for its echo, sends each ping and waits for its pong, then closes with a code and reason.
Prints, as its last line, a JSON object: {"sent": [[type, payload bytes], ...]} in order.
argv: URI PLAN_JSON, the plan {"messages": [["text"|"binary", size or [fragment sizes]], ...],
"pings": [size, ...], "close": [code, reason]}. A list of sizes sends one message in that many
fragments (RFC 6455 section 5.4); the echo comes back whole."""

import asyncio
import json
import sys

import websockets


def payload(kind: str, size: int, seed: int):
    if kind == "text":
        return "".join(chr(ord("a") + (seed + i) % 26) for i in range(size))
    return bytes((seed * 7 + i) % 256 for i in range(size))


async def main() -> None:
    uri, plan = sys.argv[1], json.loads(sys.argv[2])
    sent = []
    ws = await websockets.connect(uri, compression=None, ping_interval=None, max_size=None,
                                  open_timeout=10, close_timeout=10)
    for i, (kind, size) in enumerate(plan["messages"]):
        if isinstance(size, list):
            fragments = [payload(kind, n, i + j) for j, n in enumerate(size)]
            message = fragments[0][:0].join(fragments)
            await ws.send(fragments)
            size = sum(size)
        else:
            message = payload(kind, size, i)
            await ws.send(message)
        echo = await asyncio.wait_for(ws.recv(), 10)
        if echo != message:
            sys.exit(f"message {i} ({kind}, {size}): the echo differs")
        sent.append([kind, size])
    for i, size in enumerate(plan["pings"]):
        pong = await ws.ping(bytes((i + j) % 256 for j in range(size)))
        await asyncio.wait_for(pong, 10)
        sent.append(["ping", size])
    code, reason = plan["close"]
    await ws.close(code=code, reason=reason)
    if ws.close_code != code:
        sys.exit(f"the server closed with {ws.close_code}, we sent {code}")
    sent.append(["close", 2 + len(reason.encode())])
    print(json.dumps({"sent": sent, "server_close": [ws.close_code, ws.close_reason]}))


if __name__ == "__main__":
    asyncio.run(main())
