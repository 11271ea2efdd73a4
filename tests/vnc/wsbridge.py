#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Checks `vm console --web` without a browser, standard library only: the page and noVNC are
served, a WebSocket with the "binary" subprotocol carries the RFB stream both ways (a full VNC
session through the bridge: the handshake, authentication when the guest has a password, and a
framebuffer update holding the expected pattern), and a page from another origin is refused.
TAP lines "ok - web: ..." / "not ok - web: ...".
    wsbridge.py WEB_PORT PASSWORD|- W H [PATTERN]"""
import base64
import http.client
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vncclient  # noqa: E402


def report(good, what):
    print(("ok - web: " if good else "not ok - web: ") + what)
    return good


def handshake(port, origin):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET /websockify HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: binary\r\n" % (port, key))
    if origin:
        req += "Origin: %s\r\n" % origin
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    return s, head.decode("latin-1")


class WsSocket:
    """A socket-like object for vncclient.Client: RFB bytes in binary WebSocket frames."""

    def __init__(self, s):
        self.s = s
        self.buf = b""

    def _exact(self, n):
        d = b""
        while len(d) < n:
            c = self.s.recv(n - len(d))
            if not c:
                raise EOFError("the bridge closed the WebSocket")
            d += c
        return d

    def recv(self, n):
        while not self.buf:
            b0, b1 = self._exact(2)
            ln = b1 & 127
            if ln == 126:
                ln = struct.unpack(">H", self._exact(2))[0]
            elif ln == 127:
                ln = struct.unpack(">Q", self._exact(8))[0]
            if b1 & 128:
                raise ValueError("the server masked a frame")
            data = self._exact(ln)
            op = b0 & 15
            if op == 8:
                return b""
            if op in (0, 1, 2):
                self.buf += data
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def sendall(self, data):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else
                               bytes([0x80 | 126]) + struct.pack(">H", n))
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.s.sendall(hdr + mask + body)

    def settimeout(self, t):
        self.s.settimeout(t)

    def close(self):
        self.s.close()


def main(argv):
    port, password, w, h = int(argv[1]), argv[2], int(argv[3]), int(argv[4])
    pattern = argv[5] if len(argv) > 5 else None
    password = None if password == "-" else password
    good = True

    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", "/")
    r = c.getresponse()
    page = r.read()
    good &= report(r.status == 200 and b"console.js" in page,
                   "the console page is served (HTTP %d, %d bytes)" % (r.status, len(page)))
    c.request("GET", "/novnc/core/rfb.js")
    r = c.getresponse()
    js = r.read()
    good &= report(r.status == 200 and b"export default class RFB" in js and
                   "javascript" in (r.getheader("Content-Type") or ""),
                   "noVNC's rfb.js is served as JavaScript (HTTP %d, %s)" %
                   (r.status, r.getheader("Content-Type")))
    c.request("GET", "/../../../../etc/passwd")
    r = c.getresponse()
    body = r.read()
    good &= report(b"root:" not in body, "a path outside the web folder is not served (HTTP %d)"
                   % r.status)

    s, head = handshake(port, "http://evil.example")
    good &= report(" 101 " not in head.split("\r\n")[0],
                   "a WebSocket from a page of another site is refused (%s)" %
                   (head.split("\r\n")[0] or "closed without an upgrade"))
    s.close()

    # a viewer that speaks garbage: bhyve drops it, and the bridge closes its WebSocket
    s, head = handshake(port, None)
    ws = WsSocket(s)
    try:
        ws.recv(12)  # the server's version
        ws.sendall(b"GARBAGE! NOT RFB\n" * 64)
        s.settimeout(20)
        closed = False
        while True:
            if not ws.recv(4096):
                closed = True
                break
    except (EOFError, ConnectionError):
        closed = True
    except Exception as e:  # noqa: BLE001
        closed = "%s" % e
    good &= report(closed is True, "a viewer sending garbage through the bridge is dropped and "
                   "its WebSocket closed (%s)" % closed)
    s.close()

    s, head = handshake(port, "http://127.0.0.1:%d" % port)
    status = head.split("\r\n")[0]
    if not report(" 101 " in status and "sec-websocket-protocol: binary" in head.lower(),
                  "the page's WebSocket is accepted with the binary subprotocol (%s)" % status):
        return 1
    try:
        cl = vncclient.VncClient(None, None, password=password, sock=WsSocket(s))
        good &= report((cl.width, cl.height) == (w, h),
                       "a VNC session through the bridge: handshake%s, ServerInit %dx%d" %
                       (" and VNC authentication" if password else "", cl.width, cl.height))
        if pattern:
            want = {(x, y): vncclient.pattern_pixel(pattern, x, y)
                    for x in range(0, w, 37) for y in range(0, h, 29)}
            ok = cl.wait_for(lambda c: all(c.pixel(x, y) == v for (x, y), v in want.items()), 30)
            good &= report(ok, "the guest's %s pattern arrives through the bridge (%d sampled "
                           "pixels)" % (pattern, len(want)))
        cl.close()
    except Exception as e:  # noqa: BLE001 - any failure is the test's result
        good &= report(False, "a VNC session through the bridge: %s" % e)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
