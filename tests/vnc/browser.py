#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Does a real browser show the guest's screen? Opens a page of the web console in headless
Chromium, logs in if asked, waits until the page says it is connected, and takes screenshots until
one holds the whole test pattern, drawn 1:1 somewhere on the page (Python standard library only).

  browser.py URL --expect bands --size 1024x768 [--password P] [--timeout 60] [--save shot.png]
             [--tolerance N] [--verbose]

Chromium is driven through the DevTools protocol over --remote-debugging-pipe: it reads
NUL-terminated JSON commands on its fd 3 and writes NUL-terminated JSON replies and events on fd 4.
The page's contract: window.kbhyveConsole.state becomes 'connected' (window.kbhyveConsole.message
says why not); with a password, the inputs #password and #connect show first.

Prints one line, "found the pattern at (X,Y) in the screenshot" and exits 0, or why not and exits 1
(2: usage). --save keeps the last screenshot (PNG); --verbose prints timings on stderr.
"""
import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vncclient import pattern_pixel  # noqa: E402

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "headless_shell")


class Failure(Exception):
    """One line for the user: why the pattern was not found."""


# --- PNG decoding (8-bit RGB and RGBA, non-interlaced: what Chromium's screenshots are) ---

def _add_bytes(a, b, nbytes):
    """Bytewise (a + b) mod 256 of two equally long byte strings held as big integers (SWAR:
    add the low 7 bits of every byte, then fix the top bits without carries between bytes)."""
    low = int.from_bytes(b"\x7f" * nbytes, "big")
    high = int.from_bytes(b"\x80" * nbytes, "big")
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def _unfilter_sub(raw, bpp):
    """Filter 1 (Sub): x[i] = raw[i] + x[i - bpp], a running sum along each byte lane, done in
    log2(width) whole-row additions instead of a Python loop per byte."""
    n = len(raw)
    x = int.from_bytes(raw, "big")
    shift = bpp
    while shift < n:
        x = _add_bytes(x, x >> (8 * shift), n)
        shift *= 2
    return x.to_bytes(n, "big")


def _unfilter_up(raw, prev):
    n = len(raw)
    return _add_bytes(int.from_bytes(raw, "big"), int.from_bytes(prev, "big"), n).to_bytes(n, "big")


def _unfilter_slow(ftype, raw, prev, bpp):
    """Filters 3 (Average) and 4 (Paeth): byte by byte."""
    out = bytearray(raw)
    n = len(raw)
    if ftype == 3:
        for i in range(n):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + prev[i]) >> 1)) & 255
    else:
        for i in range(n):
            a = out[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            if pa <= pb and pa <= pc:
                pred = a
            elif pb <= pc:
                pred = b
            else:
                pred = c
            out[i] = (out[i] + pred) & 255
    return bytes(out)


def decode_png(data):
    """Returns (width, height, rows): rows[y] is that row as RGB bytes (3 per pixel)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise Failure("the screenshot is not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if ihdr is None:
        raise Failure("the screenshot PNG has no IHDR")
    w, h, depth, colour, _, _, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or interlace:
        raise Failure("the screenshot PNG is %d-bit colour type %d%s; expected 8-bit RGB(A)" %
                      (depth, colour, ", interlaced" if interlace else ""))
    bpp = 3 if colour == 2 else 4
    stride = w * bpp
    pixels = zlib.decompress(b"".join(idat))
    if len(pixels) < h * (stride + 1):
        raise Failure("the screenshot PNG is truncated")
    rows, prev = [], bytes(stride)
    for y in range(h):
        o = y * (stride + 1)
        ftype, raw = pixels[o], pixels[o + 1:o + 1 + stride]
        if ftype == 0:
            cur = raw
        elif ftype == 1:
            cur = _unfilter_sub(raw, bpp)
        elif ftype == 2:
            cur = _unfilter_up(raw, prev)
        elif ftype in (3, 4):
            cur = _unfilter_slow(ftype, raw, prev, bpp)
        else:
            raise Failure("the screenshot PNG has an unknown filter %d" % ftype)
        if bpp == 4:
            rgb = bytearray(w * 3)
            rgb[0::3], rgb[1::3], rgb[2::3] = cur[0::4], cur[1::4], cur[2::4]
            rows.append(bytes(rgb))
        else:
            rows.append(bytes(cur))
        prev = cur
    return w, h, rows


# --- finding the pattern ---

def pattern_rows(name, w, h):
    rows = []
    for y in range(h):
        row = bytearray()
        for x in range(w):
            p = pattern_pixel(name, x, y)
            row += bytes(((p >> 16) & 255, (p >> 8) & 255, p & 255))
        rows.append(bytes(row))
    return rows


_NEG = bytes((256 - v) & 255 for v in range(256))
_HI_MASK = bytes([0] + [255] * 255)


def row_diff(got, want, tolerance):
    """Compares two rows of RGB bytes: (pixels with a channel off by more than tolerance, the
    largest difference in any channel). Whole-row integer arithmetic rather than a Python loop
    per byte: each byte is widened to a 16-bit lane, 0x100 + got - want cannot borrow from its
    neighbour, and the lane's high byte says which way round the difference goes."""
    n = len(got)
    if got == want:
        return 0, 0
    g, w = bytearray(2 * n), bytearray(2 * n)
    g[1::2], w[1::2] = got, want
    lanes = ((int.from_bytes(g, "big") | int.from_bytes(b"\x01\x00" * n, "big")) -
             int.from_bytes(w, "big")).to_bytes(2 * n, "big")
    hi, lo = lanes[0::2], lanes[1::2]  # hi 1: got >= want, lo = got - want; hi 0: lo = 256 - d
    m = int.from_bytes(hi.translate(_HI_MASK), "big")
    absd = ((int.from_bytes(lo, "big") & m) |
            (int.from_bytes(lo.translate(_NEG), "big") & ~m)).to_bytes(n, "big")
    over = absd.translate(bytes(0 if v <= tolerance else 1 for v in range(256)))
    px = (int.from_bytes(over[0::3], "big") | int.from_bytes(over[1::3], "big") |
          int.from_bytes(over[2::3], "big")).to_bytes(n // 3, "big")
    return n // 3 - px.count(0), max(absd)


def find_pattern(shot, want, tolerance):
    """Searches the screenshot (sw, sh, rows) for the pattern rows at any offset. Candidates come
    from the start of the pattern's first two rows (the checker's top-left corner); each is then
    compared pixel by pixel. Returns ((x, y), None) or (None, why-not)."""
    sw, sh, rows = shot
    ph, pw3 = len(want), len(want[0])
    pw = pw3 // 3
    if sw < pw or sh < ph:
        return None, "the %dx%d screenshot is smaller than the %dx%d pattern" % (sw, sh, pw, ph)
    best = None  # (pixels that differ, x, y, largest difference)

    def check(x, y):
        nonlocal best
        bad, worst = 0, 0
        for j in range(ph):
            b, d = row_diff(rows[y + j][3 * x:3 * x + pw3], want[j], tolerance)
            bad += b
            worst = max(worst, d)
        if bad == 0:
            return True
        if best is None or bad < best[0]:
            best = (bad, x, y, worst)
        return False

    # Candidates: where the first 32 pixels of the pattern's row 0 or row 1 show (the checker's
    # corner, then the first band; row 1 too, so that one bad pixel in row 0 still gives a
    # candidate to report on). Found with bytes.find when exact; with a tolerance, at any dark
    # pixel followed by a light one (row 0) or the other way round (row 1) whose 32 pixels are
    # all within it.
    tried = set()
    for j in (0, 1):
        key = want[j][:3 * 32]
        for y in range(j, sh - ph + 1 + j):
            row = rows[y]
            if tolerance == 0:
                found = []
                x3 = row.find(key)
                while x3 >= 0:
                    if x3 % 3 == 0 and x3 // 3 <= sw - pw:
                        found.append(x3 // 3)
                    x3 = row.find(key, x3 + 1)
            else:
                dark, light = (0, 3) if j == 0 else (3, 0)
                found = [x for x in range(sw - pw + 1)
                         if max(row[3 * x + dark:3 * x + dark + 3]) <= tolerance and
                         min(row[3 * x + light:3 * x + light + 3]) >= 255 - tolerance and
                         row_diff(row[3 * x:3 * x + len(key)], key, tolerance)[0] == 0]
            for x in found:
                if (x, y - j) not in tried:
                    tried.add((x, y - j))
                    if check(x, y - j):
                        return (x, y - j), None
    if best is None:
        return None, "no place in the %dx%d screenshot starts like the pattern (its checker's corner)" % (sw, sh)
    return None, ("the best place, (%d,%d), has %d of %d pixels that differ (by up to %d per channel)" %
                  (best[1], best[2], best[0], pw * ph, best[3]))


# --- Chromium over the DevTools pipe ---

class Chromium:
    def __init__(self, binary, timeout, verbose):
        self.verbose = verbose
        self.tmp = tempfile.mkdtemp(prefix="kbhyve-chromium-")
        self.errpath = os.path.join(self.tmp, "stderr")

        def above4(fd):  # the child's ends above 4: moving them to 3 and 4 overwrites neither
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return high
        to_child_r, self.to_child = os.pipe()     # commands: we write, Chromium reads on fd 3
        self.from_child, from_child_w = os.pipe()  # replies: Chromium writes on fd 4, we read
        to_child_r, from_child_w = above4(to_child_r), above4(from_child_w)
        args = [binary, "--headless", "--no-sandbox", "--disable-gpu",
                "--user-data-dir=" + os.path.join(self.tmp, "profile"),
                "--window-size=1400,1000", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--disable-component-update",
                "--disable-default-apps", "--mute-audio", "--password-store=basic",
                "--disable-breakpad", "--disable-crash-reporter", "--no-service-autorun",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--remote-debugging-pipe", "about:blank"]
        # bash (dash takes no fd above 9) puts the pipe ends on fds 3 and 4 for Chromium
        cmd = ["/bin/bash", "-c", 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' %
               (to_child_r, from_child_w, to_child_r, from_child_w), "sh"] + args
        with open(self.errpath, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                         pass_fds=(to_child_r, from_child_w),
                                         start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.next_id = 1
        self.events = []

    def log(self, msg):
        if self.verbose:
            print("# " + msg, file=sys.stderr)

    def stderr_tail(self):
        try:
            with open(self.errpath, "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
            return " | ".join(lines[-3:])
        except OSError:
            return ""

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError
            r, _, _ = select.select([self.from_child], [], [], left)
            if not r:
                raise TimeoutError
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise Failure("Chromium closed its DevTools pipe (exit status %s): %s" %
                              (self.proc.poll(), self.stderr_tail()))
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=30.0):
        mid = self.next_id
        self.next_id += 1
        cmd = {"id": mid, "method": method, "params": params or {}}
        if session:
            cmd["sessionId"] = session
        data = json.dumps(cmd).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self.to_child, data):]
        except BrokenPipeError:
            raise Failure("Chromium is gone (exit status %s): %s" %
                          (self.proc.poll(), self.stderr_tail()))
        deadline = time.time() + timeout
        while True:
            try:
                msg = self._read_message(deadline)
            except TimeoutError:
                raise Failure("Chromium did not answer %s within %g s" % (method, timeout))
            if msg.get("id") == mid:
                if "error" in msg:
                    raise Failure("%s: %s" % (method, msg["error"].get("message", msg["error"])))
                return msg.get("result", {})
            if msg.get("method") in ("Target.targetCrashed", "Inspector.targetCrashed"):
                raise Failure("the page's renderer crashed")
            self.events.append(msg.get("method"))

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.call("Browser.close", timeout=5)
                except Failure:
                    pass
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: Chromium and helpers
                self.proc.wait()
        finally:
            for fd in (self.to_child, self.from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.tmp, ignore_errors=True)


STATE_JS = r"""(() => {
  const shown = id => { const e = document.getElementById(id);
    return !!(e && e.getClientRects().length > 0 &&
              getComputedStyle(e).visibility !== 'hidden'); };
  const c = window.kbhyveConsole;
  return JSON.stringify({ready: document.readyState, pw: shown('password') && shown('connect'),
                         state: c ? String(c.state) : null,
                         message: c && c.message != null ? String(c.message) : null});
})()"""

LOGIN_JS = r"""((pw) => {
  const p = document.getElementById('password');
  p.focus(); p.value = pw;
  p.dispatchEvent(new Event('input', {bubbles: true}));
  p.dispatchEvent(new Event('change', {bubbles: true}));
  document.getElementById('connect').click();
  return true;
})(%s)"""


def run(args):
    try:
        pw, ph = (int(v) for v in args.size.lower().split("x"))
        pattern_pixel(args.expect, 0, 0)
    except ValueError as e:
        print("browser: bad --size or --expect: %s" % e)
        return 2
    binary = args.chromium or next((shutil.which(b) for b in CHROMIUM_CANDIDATES if shutil.which(b)), None)
    if not binary:
        print("browser: no Chromium found (tried %s)" % ", ".join(CHROMIUM_CANDIDATES))
        return 1
    t0 = time.time()
    deadline = t0 + args.timeout
    shot = None
    browser = Chromium(binary, args.timeout, args.verbose)
    want = pattern_rows(args.expect, pw, ph)  # while Chromium starts
    try:
        browser.call("Browser.getVersion", timeout=max(1.0, deadline - time.time()))
        browser.log("Chromium answers after %.2f s" % (time.time() - t0))
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        # the viewport: the window's size, 1 device pixel per CSS pixel, whatever the defaults
        browser.call("Emulation.setDeviceMetricsOverride",
                     {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
                     session)
        nav = browser.call("Page.navigate", {"url": args.url}, session)
        if nav.get("errorText"):
            raise Failure("cannot open %s: %s" % (args.url, nav["errorText"]))
        t_open = time.time()
        browser.log("page opened after %.2f s" % (t_open - t0))

        def evaluate(expr):
            r = browser.call("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                             session)
            if "exceptionDetails" in r:
                raise Failure("the page threw: %s" % r["exceptionDetails"].get("text"))
            return r.get("result", {}).get("value")

        # log in (once) and wait for 'connected'
        logged_in = False
        st = {}
        while True:
            try:
                st = json.loads(evaluate(STATE_JS))
            except Failure as e:
                # between two documents there is no context to evaluate in: try again
                if not str(e).startswith("Runtime.evaluate:") or browser.proc.poll() is not None:
                    raise
                st = {}
            if st.get("state") == "connected":
                break
            if st.get("pw") and args.password is not None and not logged_in:
                evaluate(LOGIN_JS % json.dumps(args.password))
                logged_in = True
                browser.log("password entered after %.2f s" % (time.time() - t0))
            if time.time() > deadline:
                why = "the page did not connect within %g s" % args.timeout
                if st.get("state") is None:
                    why += " (no window.kbhyveConsole; page %s)" % st.get("ready")
                else:
                    why += " (state '%s')" % st.get("state")
                if st.get("message"):
                    why += ": %s" % st.get("message")
                if st.get("pw") and args.password is None:
                    why += "; it asks for a password (--password)"
                elif st.get("pw") and logged_in:
                    why += "; it still asks for a password"
                raise Failure(why)
            time.sleep(0.2)
        t_conn = time.time()
        browser.log("connected after %.2f s" % (t_conn - t0))

        # screenshots until the pattern shows
        n = 0
        while True:
            ts = time.time()
            shot = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"},
                                                 session)["data"])
            td = time.time()
            decoded = decode_png(shot)
            tf = time.time()
            at, why = find_pattern(decoded, want, args.tolerance)
            n += 1
            if n == 1 or at or n % 20 == 0:
                browser.log("screenshot %d: %dx%d, %d bytes, taken in %.2f s, decoded in %.2f s, "
                            "searched in %.2f s" % (n, decoded[0], decoded[1], len(shot), td - ts,
                                                     tf - td, time.time() - tf))
            if at:
                browser.log("pattern found %.2f s after start, %.2f s after 'connected'" %
                            (time.time() - t0, time.time() - t_conn))
                print("found the pattern at (%d,%d) in the screenshot" % at)
                return 0
            if time.time() > deadline:
                st = json.loads(evaluate(STATE_JS) or "{}")
                raise Failure("no '%s' %dx%d in %d screenshots within %g s: %s (page state '%s'%s)" %
                              (args.expect, pw, ph, n, args.timeout, why, st.get("state"),
                               ": " + st["message"] if st.get("message") else ""))
            time.sleep(max(0.0, 0.5 - (time.time() - ts)))
    except Failure as e:
        print("browser: %s" % e)
        return 1
    finally:
        tc = time.time()
        browser.close()
        browser.log("Chromium closed in %.2f s" % (time.time() - tc))
        if args.save and shot:
            with open(args.save, "wb") as f:
                f.write(shot)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--expect", default="bands", help="pattern name (tests/vnc/vncclient.py)")
    ap.add_argument("--size", default="1024x768", help="the pattern's WxH")
    ap.add_argument("--password")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--save", help="keep the last screenshot here (PNG)")
    # Software rendering (--disable-gpu) into an sRGB screenshot passes canvas pixels through
    # unchanged, so the default is an exact match; a tolerance (per channel) is there for a
    # Chromium whose colour management shifts them by a few units.
    ap.add_argument("--tolerance", type=int, default=0, help="allowed difference per channel")
    ap.add_argument("--chromium", help="the browser binary (default: chromium on the PATH)")
    ap.add_argument("--verbose", "-v", action="store_true", help="timings on stderr")
    return run(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
