#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A small RFB 3.8 viewer for tests (Python standard library only).

It speaks what a test needs: security None or VNC authentication (DES from a small table-driven
implementation below), Raw rectangles in 32-bit true colour, the DesktopSize pseudo-encoding,
key and pointer events. Used as a module (VncClient) or from the command line:

  vncclient.py HOST PORT shot OUT.ppm [--timeout S]       one full frame, saved as PPM
  (any command: --password P for VNC authentication, --zrle to ask for ZRLE before Raw)
  vncclient.py HOST PORT expect PATTERN W H [--timeout S] wait until the screen is W x H and
                                                          equals tests/vnc pattern PATTERN
  vncclient.py HOST PORT keys TEXT                        type TEXT (keysyms)
  vncclient.py HOST PORT pointer X,Y[,BUTTONS]...         move the pointer (and press buttons)
  vncclient.py HOST PORT connect                          connect, read one frame, leave
Exit status 0 on success, 1 on a mismatch or timeout, 2 on a protocol error.
"""
import socket
import struct
import sys
import time
import zlib


def pattern_pixel(name, x, y):
    """The test patterns guests draw (0x00RRGGBB). 'bands': 8 colour bands across x, a
    brightness ramp down y, and a one-pixel checker in the top-left 16x16 corner; 'inverse':
    every pixel of 'bands' inverted (so that drawing one over the other changes the whole
    screen)."""
    if name == "inverse":
        return pattern_pixel("bands", x, y) ^ 0xFFFFFF
    if name == "bands":
        if x < 16 and y < 16:
            return 0xFFFFFF if (x + y) & 1 else 0x000000
        colours = [0xFF0000, 0x00FF00, 0x0000FF, 0xFFFF00, 0xFF00FF, 0x00FFFF, 0xFFFFFF, 0x808080]
        c = colours[(x * 8) // 1024 % 8]
        k = 255 - (y * 255) // 2160
        r, g, b = (c >> 16) & 255, (c >> 8) & 255, c & 255
        return ((r * k // 255) << 16) | ((g * k // 255) << 8) | (b * k // 255)
    raise ValueError("unknown pattern " + name)


def pattern_bytes(name, w, h):
    """The pattern as XRGB8888 little-endian bytes (what the guest writes to /dev/fb0)."""
    out = bytearray(w * h * 4)
    for y in range(h):
        row = bytearray()
        for x in range(w):
            row += struct.pack("<I", pattern_pixel(name, x, y))
        out[y * w * 4:(y + 1) * w * 4] = row
    return bytes(out)


class ProtocolError(Exception):
    pass


def _des_key_bits(key):
    # VNC authentication mirrors the bits of each key byte
    return bytes(int("{:08b}".format(b)[::-1], 2) for b in key)


class VncClient:
    def __init__(self, host, port, password=None, timeout=30.0, shared=True, zrle=False,
                 decode=True, sock=None):
        # sock: an already connected socket-like object (tests/vnc/wsbridge.py's WebSocket)
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.decode = decode  # False: ZRLE rectangles are counted, not decoded (any server)
        self.bytes_received = 0
        self.updates = 0
        ver = self._read(12)
        if not ver.startswith(b"RFB 003."):
            raise ProtocolError("not an RFB server: %r" % ver)
        self.sock.sendall(b"RFB 003.008\n")
        n = self._read(1)[0]
        if n == 0:
            reason = self._read(struct.unpack(">I", self._read(4))[0])
            raise ProtocolError("server refused: %s" % reason.decode(errors="replace"))
        types = list(self._read(n))
        self.security_types = types
        if password is not None and 2 in types:
            self.sock.sendall(bytes([2]))
            challenge = self._read(16)
            self.sock.sendall(des_encrypt_challenge(password, challenge))
        elif 1 in types:
            self.sock.sendall(bytes([1]))
        else:
            raise ProtocolError("no usable security type in %r" % types)
        result = struct.unpack(">I", self._read(4))[0]
        if result != 0:
            reason = b""
            try:
                reason = self._read(struct.unpack(">I", self._read(4))[0])
            except Exception:
                pass
            raise ProtocolError("authentication failed: %s" % reason.decode(errors="replace"))
        self.sock.sendall(bytes([1 if shared else 0]))
        w, h = struct.unpack(">HH", self._read(4))
        self._read(16)  # the server's pixel format
        name_len = struct.unpack(">I", self._read(4))[0]
        self.name = self._read(name_len).decode(errors="replace")
        self.width, self.height = w, h
        self.fb = bytearray(w * h * 4)
        # 32 bpp, depth 24, little endian, true colour, R at 16, G at 8, B at 0
        pf = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
        self.sock.sendall(struct.pack(">B3x", 0) + pf)
        encodings = ([16] if zrle else []) + [0, -223]  # (ZRLE), Raw, DesktopSize
        self.zlib = zlib.decompressobj()
        self.encodings_seen = set()
        self.sock.sendall(struct.pack(">BxH", 2, len(encodings)) +
                          b"".join(struct.pack(">i", e) for e in encodings))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ProtocolError("connection closed by the server")
            self.bytes_received += len(chunk)
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _put_rect(self, x, y, w, h, data):
        for row in range(h):
            if y + row >= self.height:
                break
            o = ((y + row) * self.width + x) * 4
            self.fb[o:o + w * 4] = data[row * w * 4:(row + 1) * w * 4]

    def _zrle(self, raw, w, h):
        """ZRLE tiles (RFB 7.7.6) with 3-byte CPIXELs of our 32-bit format; subencodings 0 (raw)
        and 1 (solid), the ones kbhyve sends. Returns the rectangle as XRGB bytes."""
        out = bytearray(w * h * 4)
        i = 0
        for ty in range(0, h, 64):
            for tx in range(0, w, 64):
                tw, th = min(64, w - tx), min(64, h - ty)
                sub = raw[i]
                i += 1
                if sub == 1:
                    px = raw[i:i + 3] + b"\0"
                    i += 3
                    for j in range(th):
                        o = ((ty + j) * w + tx) * 4
                        out[o:o + tw * 4] = px * tw
                elif sub == 0:
                    for j in range(th):
                        o = ((ty + j) * w + tx) * 4
                        for k in range(tw):
                            out[o + 4 * k:o + 4 * k + 3] = raw[i:i + 3]
                            i += 3
                else:
                    raise ProtocolError("ZRLE subencoding %d not expected from kbhyve" % sub)
        if i != len(raw):
            raise ProtocolError("ZRLE: %d bytes left over" % (len(raw) - i))
        return out

    def request(self, incremental=True):
        self.sock.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0,
                                      self.width, self.height))

    def read_message(self):
        """Read one server message; returns its type (0 update, 2 bell, 3 cut text...)."""
        t = self._read(1)[0]
        if t == 0:
            self._read(1)
            (nrects,) = struct.unpack(">H", self._read(2))
            for _ in range(nrects):
                x, y, w, h, enc = struct.unpack(">HHHHi", self._read(12))
                self.encodings_seen.add(enc)
                if enc == 0:
                    data = self._read(w * h * 4)
                    self._put_rect(x, y, w, h, data)
                elif enc == 16:
                    (n,) = struct.unpack(">I", self._read(4))
                    data = self._read(n)
                    if self.decode:
                        self._put_rect(x, y, w, h, self._zrle(self.zlib.decompress(data), w, h))
                elif enc == -223:
                    self.width, self.height = w, h
                    self.fb = bytearray(w * h * 4)
                elif enc in (-258, -261):
                    pass  # QEMU extended key event / LED state announcements: no payload
                elif enc == -257:  # QEMU pointer motion change: no payload
                    pass
                else:
                    raise ProtocolError("unexpected encoding %d" % enc)
            self.updates += 1
        elif t == 1:
            raise ProtocolError("colour map entries not expected in true colour")
        elif t == 2:
            pass
        elif t == 3:
            self._read(3)
            (n,) = struct.unpack(">I", self._read(4))
            self._read(n)
        else:
            raise ProtocolError("unknown server message %d" % t)
        return t

    def frame(self, incremental=False):
        """Request an update and read until it arrives."""
        self.request(incremental)
        while self.read_message() != 0:
            pass

    def wait_for(self, predicate, timeout):
        """Keep the screen up to date until predicate(self) holds; False on timeout."""
        deadline = time.time() + timeout
        self.frame(False)
        while not predicate(self):
            if time.time() > deadline:
                return False
            self.sock.settimeout(max(0.1, deadline - time.time()))
            try:
                self.frame(True)
            except socket.timeout:
                return predicate(self)
        return True

    def pixel(self, x, y):
        return struct.unpack_from("<I", self.fb, (y * self.width + x) * 4)[0] & 0xFFFFFF

    def key(self, keysym, down):
        self.sock.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def pointer(self, x, y, buttons=0):
        self.sock.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def save_ppm(self, path):
        with open(path, "wb") as f:
            f.write(b"P6\n%d %d\n255\n" % (self.width, self.height))
            px = bytearray()
            for i in range(0, len(self.fb), 4):
                px += bytes((self.fb[i + 2], self.fb[i + 1], self.fb[i]))
            f.write(px)

    def close(self):
        self.sock.close()


# --- DES, only for VNC authentication's one block per challenge half (FIPS 46-3) ---
_PC1 = [57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, 10, 2, 59, 51, 43, 35, 27, 19, 11, 3,
        60, 52, 44, 36, 63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, 14, 6, 61, 53, 45,
        37, 29, 21, 13, 5, 28, 20, 12, 4]
_PC2 = [14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, 41,
        52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32]
_SHIFTS = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]
_IP = [58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, 62, 54, 46, 38, 30, 22, 14, 6,
       64, 56, 48, 40, 32, 24, 16, 8, 57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
       61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7]
_FP = [40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, 38, 6, 46, 14, 54, 22, 62, 30,
       37, 5, 45, 13, 53, 21, 61, 29, 36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27,
       34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25]
_E = [32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, 16, 17, 18,
      19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1]
_P = [16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, 2, 8, 24, 14, 32, 27, 3, 9, 19,
      13, 30, 6, 22, 11, 4, 25]
_S = [
    [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, 0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11,
     9, 5, 3, 8, 4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, 15, 12, 8, 2, 4, 9, 1, 7, 5,
     11, 3, 14, 10, 0, 6, 13],
    [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, 3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10,
     6, 9, 11, 5, 0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, 13, 8, 10, 1, 3, 15, 4, 2,
     11, 6, 7, 12, 0, 5, 14, 9],
    [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, 13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14,
     12, 11, 15, 1, 13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, 1, 10, 13, 0, 6, 9, 8, 7,
     4, 15, 14, 3, 11, 5, 2, 12],
    [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, 13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12,
     1, 10, 14, 9, 10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, 3, 15, 0, 6, 10, 1, 13, 8,
     9, 4, 5, 11, 12, 7, 2, 14],
    [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, 14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10,
     3, 9, 8, 6, 4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, 11, 8, 12, 7, 1, 14, 2, 13,
     6, 15, 0, 9, 10, 4, 5, 3],
    [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, 10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14,
     0, 11, 3, 8, 9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, 4, 3, 2, 12, 9, 5, 15, 10,
     11, 14, 1, 7, 6, 0, 8, 13],
    [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, 13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12,
     2, 15, 8, 6, 1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, 6, 11, 13, 8, 1, 4, 10, 7,
     9, 5, 0, 15, 14, 2, 3, 12],
    [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, 1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11,
     0, 14, 9, 2, 7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, 2, 1, 14, 7, 4, 10, 8, 13,
     15, 12, 9, 0, 3, 5, 6, 11],
]


def _perm(v, table, nbits):
    out = 0
    for pos in table:
        out = (out << 1) | ((v >> (nbits - pos)) & 1)
    return out


def des_encrypt_block(key8, block8):
    k = _perm(int.from_bytes(key8, "big"), _PC1, 64)
    c, d = k >> 28, k & 0xFFFFFFF
    subkeys = []
    for s in _SHIFTS:
        c = ((c << s) | (c >> (28 - s))) & 0xFFFFFFF
        d = ((d << s) | (d >> (28 - s))) & 0xFFFFFFF
        subkeys.append(_perm((c << 28) | d, _PC2, 56))
    v = _perm(int.from_bytes(block8, "big"), _IP, 64)
    l, r = v >> 32, v & 0xFFFFFFFF
    for sk in subkeys:
        x = _perm(r, _E, 32) ^ sk
        f = 0
        for i in range(8):
            six = (x >> (42 - 6 * i)) & 0x3F
            row = ((six >> 4) & 2) | (six & 1)
            f = (f << 4) | _S[i][row * 16 + ((six >> 1) & 0xF)]
        l, r = r, l ^ _perm(f, _P, 32)
    return _perm((r << 32) | l, _FP, 64).to_bytes(8, "big")


def des_encrypt_challenge(password, challenge):
    key = _des_key_bits(password.encode()[:8].ljust(8, b"\0"))
    return des_encrypt_block(key, challenge[:8]) + des_encrypt_block(key, challenge[8:16])


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, cmd = argv[1], int(argv[2]), argv[3]
    rest = argv[4:]
    timeout = 60.0
    password = None
    if "--timeout" in rest:
        i = rest.index("--timeout")
        timeout = float(rest[i + 1])
        del rest[i:i + 2]
    zrle = "--zrle" in rest
    if zrle:
        rest.remove("--zrle")
    if "--password" in rest:
        i = rest.index("--password")
        password = rest[i + 1]
        del rest[i:i + 2]
    try:
        c = VncClient(host, port, password=password, timeout=timeout, zrle=zrle)
        if cmd == "connect":
            c.frame(False)
            print("connected %dx%d %s" % (c.width, c.height, c.name))
            return 0
        if cmd == "shot":
            c.frame(False)
            c.save_ppm(rest[0])
            print("%dx%d" % (c.width, c.height))
            return 0
        if cmd == "expect":
            name, w, h = rest[0], int(rest[1]), int(rest[2])
            want = pattern_bytes(name, w, h)

            want = bytearray(want)
            want[3::4] = bytes(len(want) // 4)  # byte 3 of XRGB is undefined

            def same(cl):
                if cl.width != w or cl.height != h:
                    return False
                got = bytearray(cl.fb)
                got[3::4] = bytes(len(got) // 4)
                return got == want
            ok = c.wait_for(same, timeout)
            bad = 0
            if c.width == w and c.height == h:
                for i in range(0, len(want), 4):
                    if c.fb[i:i + 3] != want[i:i + 3]:
                        bad += 1
            print("screen %dx%d, %d of %d pixels differ from '%s' after %d updates, %d bytes, encodings %s" %
                  (c.width, c.height, bad if c.width == w else w * h, w * h, name, c.updates,
                   c.bytes_received, sorted(c.encodings_seen)))
            if zrle and 16 not in c.encodings_seen:
                return 1
            return 0 if ok else 1
        if cmd == "watch":
            # watch PATTERN: stay connected from the first frame on; report when the screen first
            # showed anything (not all black) and whether it ends up as PATTERN drawn over the
            # whole screen, whatever size the guest chose
            name = rest[0]
            t0 = time.time()
            first_drawn = None
            drawn_shot = rest[1] if len(rest) > 1 else None
            cache = {}

            def matches(cl):
                key = (cl.width, cl.height)
                if key not in cache:
                    want = bytearray(pattern_bytes(name, cl.width, cl.height))
                    want[3::4] = bytes(len(want) // 4)
                    cache[key] = want
                got = bytearray(cl.fb)
                got[3::4] = bytes(len(got) // 4)
                return got == cache[key]

            def state(cl):
                nonlocal first_drawn
                m = matches(cl)
                if first_drawn is None and (any(cl.fb[0::4]) or any(cl.fb[1::4]) or any(cl.fb[2::4])):
                    lit = sum(1 for i in range(0, len(cl.fb), 4) if cl.fb[i:i + 3] != b"\0\0\0")
                    first_drawn = (time.time() - t0, cl.width, cl.height, lit, m)
                    if drawn_shot:
                        cl.save_ppm(drawn_shot)
                return m
            ok = c.wait_for(state, timeout)
            print("first drawn: %s; pattern %s at %.1fs on a %dx%d screen; %d updates, %d bytes" %
                  ("%.1fs, %dx%d, %d pixels lit%s" % (first_drawn[:4] + (" (already the pattern)" if first_drawn[4] else "",))
                   if first_drawn else "never",
                   "matched" if ok else "NOT matched", time.time() - t0, c.width, c.height,
                   c.updates, c.bytes_received))
            return 0 if ok and first_drawn and not first_drawn[4] else 1
        if cmd == "keys":
            for ch in rest[0]:
                c.key(ord(ch), True)
                c.key(ord(ch), False)
            c.frame(False)
            return 0
        if cmd == "pointer":
            # pointer X,Y[,BUTTONS] ...: each position in turn, a frame between them
            for spec in rest:
                f = [int(v) for v in spec.split(",")]
                c.pointer(f[0], f[1], f[2] if len(f) > 2 else 0)
                time.sleep(0.2)
            c.frame(False)
            return 0
        print("unknown command " + cmd, file=sys.stderr)
        return 2
    except (ProtocolError, OSError) as e:
        print("vncclient: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
