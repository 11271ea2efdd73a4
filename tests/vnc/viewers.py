#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""VNC server checks with well-behaved and hostile viewers (Python standard library only).

  viewers.py PORT PASSWORD W H     (PASSWORD '-' for none)

Prints TAP lines "ok - vnc: ..." / "not ok - vnc: ...". The server must survive every hostile
viewer and keep serving well-behaved ones; run.sh checks the process afterwards.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vncclient  # noqa: E402

HOST = os.environ.get("VNC_HOST", "127.0.0.1")
results = []


def check(name, cond, detail=""):
    results.append(cond)
    print(("ok" if cond else "not ok") + " - vnc: " + name + ("" if cond else " (%s)" % detail))
    sys.stdout.flush()


def raw(timeout=10):
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


def handshake(s, minor=8, password=None):
    """Bring a raw socket through the handshake; returns after ServerInit."""
    recv_exact(s, 12)
    s.sendall(b"RFB 003.00%d\n" % minor)
    if minor == 3:
        (t,) = struct.unpack(">I", recv_exact(s, 4))
    else:
        n = recv_exact(s, 1)[0]
        types = recv_exact(s, n)
        t = types[0]
        s.sendall(bytes([t]))
    if t == 2:
        ch = recv_exact(s, 16)
        s.sendall(vncclient.des_encrypt_challenge(password or "", ch))
    if t == 2 or minor == 8:
        (r,) = struct.unpack(">I", recv_exact(s, 4))
        if r != 0:
            raise EOFError("security result %d" % r)
    s.sendall(b"\x01")
    w, h = struct.unpack(">HH", recv_exact(s, 4))
    recv_exact(s, 16)
    (nl,) = struct.unpack(">I", recv_exact(s, 4))
    recv_exact(s, nl)
    return w, h


def alive_viewer():
    """A well-behaved viewer still gets a frame."""
    try:
        c = vncclient.VncClient(HOST, PORT, password=PASSWORD, timeout=15)
        c.frame(False)
        ok = (c.width, c.height) == (W, H)
        c.close()
        return ok
    except Exception as e:  # noqa: BLE001
        print("#   viewer failed: %s" % e)
        return False


def closed(s, timeout=10):
    """The server closed s (reads end) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


PORT = int(sys.argv[1])
PASSWORD = None if sys.argv[2] == "-" else sys.argv[2]
W, H = int(sys.argv[3]), int(sys.argv[4])

# a blank screen of the configured size before the guest sets a mode
c = vncclient.VncClient(HOST, PORT, password=PASSWORD)
c.frame(False)
check("a viewer gets the screen (%dx%d, blank)" % (W, H),
      (c.width, c.height) == (W, H) and not any(c.fb[0::4]) and not any(c.fb[1::4]),
      "%dx%d" % (c.width, c.height))
c.close()

# RFB 3.3 and 3.7 viewers
for minor in (3, 7):
    try:
        s = raw()
        w, h = handshake(s, minor, PASSWORD)
        check("an RFB 3.%d viewer completes the handshake" % minor, (w, h) == (W, H))
        s.close()
    except Exception as e:  # noqa: BLE001
        check("an RFB 3.%d viewer completes the handshake" % minor, False, str(e))

if PASSWORD is not None:
    s = raw()
    recv_exact(s, 12)
    s.sendall(b"RFB 003.008\n")
    n = recv_exact(s, 1)[0]
    types = list(recv_exact(s, n))
    check("with password=, only VNC authentication is offered", types == [2], repr(types))
    t0 = time.time()
    s.sendall(b"\x02")
    ch = recv_exact(s, 16)
    s.sendall(vncclient.des_encrypt_challenge(PASSWORD + "x" if len(PASSWORD) < 8 else "wrong", ch))
    (r,) = struct.unpack(">I", recv_exact(s, 4))
    (ln,) = struct.unpack(">I", recv_exact(s, 4))
    reason = recv_exact(s, ln)
    dt = time.time() - t0
    check("a wrong password is refused with a reason, after a delay",
          r == 1 and b"authentication failed" in reason and dt >= 0.9,
          "result %d reason %r after %.2fs" % (r, reason, dt))
    check("the refused viewer is disconnected", closed(s))
    s = raw()
    recv_exact(s, 12)
    s.sendall(b"RFB 003.008\n")
    n = recv_exact(s, 1)[0]
    recv_exact(s, n)
    s.sendall(b"\x01")  # None, not offered
    (r,) = struct.unpack(">I", recv_exact(s, 4))
    check("choosing None when a password is set is refused", r == 1 and closed(s), "result %d" % r)
    try:
        vncclient.VncClient(HOST, PORT, password="nope!", timeout=10)
        check("vncclient with the wrong password fails", False, "it connected")
    except vncclient.ProtocolError as e:
        check("vncclient with the wrong password fails", "authentication failed" in str(e), str(e))

# hostile viewers
s = raw()
recv_exact(s, 12)
s.sendall(b"HTTP/1.1 200\r\n\r\n")
check("a viewer that is not RFB is dropped", closed(s))
check("... and the server still serves", alive_viewer())

s = raw()
handshake(s, 8, PASSWORD)
s.sendall(b"\x07garbage-message-type")
check("an unknown message type drops the viewer", closed(s))
check("... and the server still serves", alive_viewer())

s = raw()
handshake(s, 8, PASSWORD)
s.sendall(struct.pack(">B3xI", 6, 0x7FFFFFFF) + b"x" * (1 << 20))
s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, W, H))
s.settimeout(5)
try:
    got = s.recv(4)
    ok = len(got) > 0
except socket.timeout:
    ok = True  # still swallowing the text: the viewer stays, the server is fine
check("an oversized ClientCutText is consumed without harm", ok)
s.close()
check("... and the server still serves", alive_viewer())

s = raw()
handshake(s, 8, PASSWORD)
encs = list(range(1000))
s.sendall(struct.pack(">BxH", 2, len(encs)) + b"".join(struct.pack(">i", -e if e % 7 else 0) for e in encs))
s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, W, H))
s.settimeout(10)
try:
    t = recv_exact(s, 1)[0]
    check("SetEncodings with 1000 entries keeps the stream in step (an update follows)", t == 0, "type %d" % t)
except Exception as e:  # noqa: BLE001
    check("SetEncodings with 1000 entries keeps the stream in step (an update follows)", False, str(e))
s.close()

s = raw()
handshake(s, 8, PASSWORD)
s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 8, 8, 0, 0, 255, 255, 255, 0, 0, 0))
check("a colour-map pixel format drops the viewer", closed(s))
check("... and the server still serves", alive_viewer())

# a viewer that asks for many frames and never reads, beside a working one
lazy = raw()
handshake(lazy, 8, PASSWORD)
lazy.sendall(struct.pack(">BxH", 2, 1) + struct.pack(">i", 0))
for _ in range(200):
    lazy.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, W, H))
time.sleep(1)
check("a viewer that never reads does not stall the others", alive_viewer())

# a viewer that connects and says nothing, and too many viewers
idle = [raw() for _ in range(15)]  # with the lazy one: the limit of 16
extra = raw()
check("the seventeenth viewer is turned away", closed(extra, 5))
for x in idle:
    x.close()
lazy.close()
time.sleep(0.5)
check("... and after they leave, viewers are served again", alive_viewer())

sys.exit(0 if all(results) else 1)
