#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<name>/) from real messages,
in each target's input format (documented at the top of tests/fuzz/<name>_fuzz.cc). The files are
checked in; rerun this after changing a format: python3 tests/fuzz/make_seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

GET = b"GET /api/users/12345?x=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
POST_CL = (b"POST /items/7/parts/9 HTTP/1.1\r\nHost: example.test\r\nContent-Type: application/json\r\n"
           b"Content-Length: 13\r\n\r\n{\"a\": \"bcd\"}\n")
POST_CHUNKED = (b"POST /upload HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n")
HEAD = b"HEAD /index.html HTTP/1.0\r\n\r\n"
CONNECT = b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n"
UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
OK = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
      b"Connection: keep-alive\r\n\r\nhello world\n")
OK_CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n1234567890abcdef\r\n0\r\n\r\n")
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
NOT_FOUND_CLOSE = b"HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\n\r\n<h1>no</h1>"
SWITCHING = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
BARE_LF = b"GET / HTTP/1.1\nHost: a\n\n"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def message_head():
    for name, msg, request in [("get", GET, 1), ("post_content_length", POST_CL, 1),
                               ("post_chunked", POST_CHUNKED, 1), ("head_1_0", HEAD, 1),
                               ("connect", CONNECT, 1), ("upgrade", UPGRADE, 1),
                               ("bare_lf", BARE_LF, 1), ("ok", OK, 0),
                               ("ok_chunked", OK_CHUNKED, 0), ("no_content", NO_CONTENT, 0),
                               ("continue", CONTINUE, 0), ("switching", SWITCHING, 0)]:
        write("http1_message_head", name, bytes([request | (40 << 1)]) + msg)


def chunked():
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    two = b"1a\r\nabcdefghijklmnopqrstuvwxyz\r\n10\r\n1234567890abcdef\r\n0\r\n\r\n"
    write("http1_chunked", "one_message", bytes([5]) + struct.pack("<Q", 3) + body)
    write("http1_chunked", "two_messages_small_pieces", bytes([4]) + struct.pack("<Q", 0x1234560) + two + body)
    write("http1_chunked", "large_chunk_skipped", bytes([6]) + struct.pack("<Q", 7) +
          b"1000\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n")
    write("http1_chunked", "uppercase_hex_bws", bytes([5]) + struct.pack("<Q", 1) +
          b"A \t;name=value\r\n0123456789\r\n0\r\n\r\n")


# http1_stream records.
def seg(conn, dir_, payload, mode=0, arg=0, extra=0, dt=100):
    op = (conn << 3) | (dir_ << 4) | (mode << 5) | (0x80 if extra else 0)
    return struct.pack("<BHIHH", op, len(payload), arg, extra, dt) + payload


def open_(conn, mid=0, dt=10):
    return struct.pack("<BH", 4 | (conn << 3) | (mid << 4), dt)


def close(conn, reset=0, dt=10):
    return struct.pack("<BH", 5 | (conn << 3) | (reset << 4), dt)


def advance(us):
    return struct.pack("<BI", 6, us)


def established(conn):
    return bytes([7 | (conn << 3)])


def stream():
    cfg = bytes([0x03 | (3 << 2) | (3 << 4), 0x02 | (2 << 2) | (2 << 4) | (3 << 6)])
    write("http1_stream", "get_ok", cfg + open_(0) + established(0) + seg(0, 0, GET) + seg(0, 1, OK) +
          close(0))
    write("http1_stream", "pipelined_split", cfg + open_(0) + seg(0, 0, GET[:20]) + seg(0, 0, GET[20:] + HEAD) +
          seg(0, 1, OK[:30]) + seg(0, 1, OK[30:] + NOT_FOUND_CLOSE) + close(0, dt=50))
    write("http1_stream", "chunked_both_ways", cfg + open_(1) + seg(1, 0, POST_CHUNKED) + seg(1, 1, CONTINUE) +
          seg(1, 1, OK_CHUNKED) + close(1))
    # A lost segment inside a Content-Length body (framing kept), then a retransmission.
    write("http1_stream", "gap_in_body_retransmit", cfg + open_(0) + seg(0, 0, POST_CL[:-8]) +
          seg(0, 0, POST_CL[-4:], mode=1, arg=4) + seg(0, 0, POST_CL[-8:-4], mode=2, arg=8) +
          seg(0, 1, OK) + advance(2_000_000) + close(0))
    # Out of order response, snaplen truncation, mid-stream join on the second connection.
    write("http1_stream", "reorder_truncate_two_conns", cfg + open_(0) + open_(1, mid=1) +
          seg(0, 0, GET) + seg(0, 1, OK[40:], mode=1, arg=40) + seg(0, 1, OK[:40], mode=2, arg=len(OK)) +
          seg(1, 0, b"ignored tail of a body\r\n" + GET) + seg(1, 1, OK_CHUNKED[:30], extra=len(OK_CHUNKED) - 30) +
          close(1, reset=1) + advance(400_000_000))
    write("http1_stream", "upgrade_websocket", cfg + open_(0) + seg(0, 0, UPGRADE) + seg(0, 1, SWITCHING) +
          seg(0, 1, b"\x81\x05hello") + seg(0, 0, b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58") + close(0))
    write("http1_stream", "connect_tunnel", cfg + open_(0) + seg(0, 0, CONNECT) +
          seg(0, 1, b"HTTP/1.1 200 Connection established\r\n\r\n") + seg(0, 0, b"\x16\x03\x01\x00\x05hello") +
          close(0))
    # Sequence numbers just below 2^32: the stream wraps.
    wrap = bytes([cfg[0] | 0x80, cfg[1]])
    write("http1_stream", "seq_wraparound", wrap + open_(0) + seg(0, 0, GET) + seg(0, 0, GET[:100]) +
          seg(0, 0, GET[100:] + HEAD) + seg(0, 1, OK * 2) + close(0))


def reassembler():
    def add(mode, at, length, extra=0, dt=10):
        op = (mode << 3) | (0x20 if extra else 0)
        return struct.pack("<BHHHH", op, at, length, extra, dt)
    cfg = bytes([3]) + struct.pack("<H", 4096) + bytes([2])
    write("reassembler", "in_order", cfg + struct.pack("<I", 1000) + add(0, 0, 100) + add(0, 0, 200) +
          add(0, 0, 1460) + bytes([7]))
    write("reassembler", "reorder_and_overlap", cfg + struct.pack("<I", 0xfffff000) + add(0, 0, 1000) +
          add(1, 1000, 1000) + add(2, 2000, 1500) + add(0, 0, 500) + add(3, 10, 300) + bytes([7]))
    write("reassembler", "wrap_truncated_timeout", cfg + struct.pack("<I", 0xffffff00) + add(0, 0, 64, extra=1400) +
          add(1, 3000, 100) + struct.pack("<BI", 6, 2_000_000) + add(0, 0, 10) + bytes([7]))
    write("reassembler", "overflow", bytes([1]) + struct.pack("<H", 100) + bytes([3]) + struct.pack("<I", 5) +
          add(0, 0, 10) + add(1, 50, 80) + add(1, 50, 80) + add(1, 50, 80) + add(2, 400, 400) + bytes([7]))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def tcp(sport, dport, seq, ack, flags, payload, src, dst, v6=False):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    if v6:
        pseudo = src + dst + struct.pack("!IxxxB", len(hdr) + len(payload), 6)
    else:
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(hdr) + len(payload))
    c = csum(pseudo + hdr + payload)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:] + payload


def ipv4(src, dst, seg):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 1, 0x4000, 64, 6, 0, src, dst)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + seg


def ipv6(src, dst, seg):
    return struct.pack("!IHBB16s16s", 6 << 28, len(seg), 6, 64, src, dst) + seg


def ether(l3, ethertype, vlan=None):
    head = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01"
    if vlan is not None:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype) + l3


def sll(l3, ethertype):
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\x01\0\0", ethertype) + l3


def sll2(l3, ethertype):
    return struct.pack("!HHIHBB8s", ethertype, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\x01\0\0") + l3


def packet_decoder():
    c4, s4 = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    c6 = bytes.fromhex("20010db8000000000000000000000001")
    s6 = bytes.fromhex("20010db8000000000000000000000002")
    SYN, ACK, PSH, FIN, RST = 2, 16, 8, 1, 4

    def conv(l3, wrap, ethertype, v6=False):
        c, s = (c6, s6) if v6 else (c4, s4)
        seq_c, seq_s = 1000, 5000
        frames = [tcp(40000, 80, seq_c, 0, SYN, b"", c, s, v6),
                  tcp(80, 40000, seq_s, seq_c + 1, SYN | ACK, b"", s, c, v6),
                  tcp(40000, 80, seq_c + 1, seq_s + 1, ACK, b"", c, s, v6),
                  tcp(40000, 80, seq_c + 1, seq_s + 1, PSH | ACK, GET, c, s, v6),
                  tcp(80, 40000, seq_s + 1, seq_c + 1 + len(GET), PSH | ACK, OK, s, c, v6),
                  tcp(40000, 80, seq_c + 1 + len(GET), seq_s + 1 + len(OK), FIN | ACK, b"", c, s, v6),
                  tcp(80, 40000, seq_s + 1 + len(OK), seq_c + 2 + len(GET), FIN | ACK, b"", s, c, v6)]
        frames = [(ipv6(c, s, f) if f[0:2] == struct.pack("!H", 40000) else ipv6(s, c, f)) if v6 else
                  (ipv4(c, s, f) if f[0:2] == struct.pack("!H", 40000) else ipv4(s, c, f)) for f in frames]
        return [wrap(f, ethertype) if wrap else f for f in frames]

    def records(link, frames, truncate_at=None):
        out = b""
        for f in frames:
            if truncate_at is not None and len(f) > truncate_at:
                out += struct.pack("<BHHH", link | 4, truncate_at, len(f) - truncate_at, 50) + f[:truncate_at]
            else:
                out += struct.pack("<BHHH", link, len(f), 0, 50) + f
        return out

    cfg = bytes([1 | (1 << 2) | (2 << 4)])
    write("packet_decoder", "ethernet_ipv4_get", cfg + records(0, conv(ipv4, ether, 0x0800)))
    write("packet_decoder", "ethernet_vlan_ipv6_get", cfg + records(
        0, conv(ipv6, lambda f, t: ether(f, t, vlan=100), 0x86dd, v6=True)))
    write("packet_decoder", "sll_ipv4_get", cfg + records(1, conv(ipv4, sll, 0x0800)))
    write("packet_decoder", "sll2_ipv6_get", cfg + records(2, conv(ipv6, sll2, 0x86dd, v6=True)))
    write("packet_decoder", "raw_ipv4_truncated", bytes([0]) + records(3, conv(ipv4, None, 0), truncate_at=80))
    rst = ipv4(c4, s4, tcp(40000, 80, 7, 0, RST, b"", c4, s4))
    write("packet_decoder", "midstream_then_rst", cfg + records(0, [ether(f, 0x0800) for f in [
        ipv4(s4, c4, tcp(80, 40000, 9, 7, PSH | ACK, OK, s4, c4)), rst]]))


def route_template():
    write("route_template", "ids_and_patterns", bytes([2 | (2 << 2) | 0x10]) +
          b"/api/users/{id}\n/items/{item}/parts/{part}\n/api/users/42\n/items/a/parts/b\n"
          b"/v1/orders/550e8400-e29b-41d4-a716-446655440000/lines/7\n/static/app.3f9a8b7c6d5e4f3a.js\n"
          b"http://example.test/path?q=1#frag\n*\nexample.test:443\n/a//b/\n/tokens/dGhpcyBpcyBhIHRva2VuMTIz")
    write("route_template", "overflow", bytes([0]) + b"/a\n/b\n/c\n/d/1\n/e?x")


def config():
    with open(os.path.join(HERE, "..", "..", "config", "traffic-analyzer.yaml"), "rb") as f:
        write("config", "shipped_config", f.read())
    write("config", "routes_and_listen", b"ports: [80, 8080]\nsnaplen: 512\nroutes:\n  max_per_port: 50\n"
          b"  patterns:\n    - /api/users/{id}\n    - {port: 8080, pattern: \"/v1/items/{id}\"}\n"
          b"metrics:\n  listen: \"[::1]:9100\"\nlog:\n  level: debug\n")
    write("config", "errors", b"ports: [80, 70000]\nsnaplen: 1\nconnections:\n  max: x\n\tbad: tab\n")
    write("config", "listen_only", b"127.0.0.1:9100")


if __name__ == "__main__":
    message_head()
    chunked()
    stream()
    reassembler()
    packet_decoder()
    route_template()
    config()
