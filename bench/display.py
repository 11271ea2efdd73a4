# SPDX-License-Identifier: BSD-2-Clause
"""The display benchmark (group "vnc"): the same Linux guest (bochs DRM driver, 1024x768x32) on
kbhyve's fbuf and on QEMU's bochs-display, each VMM's own VNC server, one viewer
(tests/vnc/vncclient.py) on the loopback:

  vnc_update_ms         the guest redraws the whole screen (its command sent on the serial
                        console) -> the viewer holds exactly the new frame (Raw, pixel-checked)
  vnc_update_kb_raw     bytes a viewer receives for one full-screen redraw, Raw
  vnc_update_kb_zrle    the same with ZRLE (both servers' compressed encoding)
  vnc_update_cpu        VMM CPU outside the guest per full-screen redraw, with a Raw viewer
  vnc_idle_cpu          VMM CPU per second with a viewer connected and nothing drawn

The redraw goes through Linux's fbdev emulation, whose deferred I/O flushes the shadow buffer
to the device every 50 ms on both VMMs; that is part of every redraw time alike.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "vnc"))
import vncclient  # noqa: E402

METRICS = [
    ("vnc_update_ms", "VNC: full-screen guest redraw -> viewer holds the new frame (Raw)", "ms"),
    ("vnc_update_kb_raw", "VNC bytes per full-screen 1024x768 redraw, Raw", "kB"),
    ("vnc_update_kb_zrle", "VNC bytes per full-screen 1024x768 redraw, ZRLE", "kB"),
    ("vnc_update_cpu", "VMM CPU outside the guest per full-screen redraw (Raw viewer)", "ms"),
    ("vnc_idle_cpu", "VMM CPU outside the guest per second, viewer connected, idle screen", "ms"),
]
REDRAWS = 8
IDLE_S = 5
PORT = 5930          # kbhyve's fbuf; QEMU's -vnc display 30 is the same TCP port
W, H = 1024, 768
PATTERNS = ("bands", "inverse")


def vmm_cpu_ms(pid):
    """User + system time of every thread of pid, less the time spent in the guest, in ms."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); utime 14, stime 15, guest_time 43
        utime, stime, guest = int(fields[11]), int(fields[12]), int(fields[40])
        total += utime + stime - guest
    return total * 1000.0 / tick


class DisplayBench:
    def __init__(self, suite):
        self.s = suite

    def argv(self, vmm):
        a = self.s.a
        if vmm == "kbhyve":
            argv = [a.bhyve, "-c", "1", "-m", "256M", "-s", "0,hostbridge", "-s", "31,lpc",
                    "-l", "com1,stdio", "-s", f"29,fbuf,tcp=127.0.0.1:{PORT},w={W},h={H}",
                    "-o", f"boot.kernel={a.vmlinux}", "-o", f"boot.initrd={a.initrd_display}",
                    "-o", "boot.cmdline=console=ttyS0 quiet"]
            if a.testbed:
                argv += ["-o", "x86.cpuid.disable=xsave"]
            return argv + ["bench-display"]
        cpu = "host,-xsave" if a.testbed else "host"
        return [a.qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", "256", "-smp", "1",
                "-display", "none", "-vnc", f"127.0.0.1:{PORT - 5900}", "-no-reboot",
                "-nic", "none", "-nodefaults", "-serial", "stdio",
                "-device", f"bochs-display,xres={W},yres={H}",
                "-kernel", a.vmlinux, "-initrd", a.initrd_display,
                "-append", "console=ttyS0 quiet"]

    def run(self, vmm, rep):
        ids = [m[0] for m in METRICS]
        if all((m, vmm) in self.s.failed for m in ids):
            return
        errlog = os.path.join(self.s.tmp, f"display-{vmm}-{rep}.err")
        with open(errlog, "w") as ef:
            p = subprocess.Popen(self.argv(vmm), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=ef, bufsize=0)
        try:
            why = self.measure(p, vmm, rep)
        except (vncclient.ProtocolError, OSError, ValueError) as e:
            why = f"{type(e).__name__}: {e}"
        finally:
            try:
                p.stdin.write(b"quit\n")
                p.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
                p.wait()
        if why:
            with open(errlog, errors="replace") as f:
                err = f.read()[-2000:]
            for m in ids:
                if (m, vmm) not in self.s.failed:
                    self.s.error(m, vmm, rep, why, err)

    def wait_serial(self, p, text, timeout):
        deadline = time.time() + timeout
        line = b""
        os.set_blocking(p.stdout.fileno(), False)
        while time.time() < deadline:
            try:
                chunk = p.stdout.read(4096)
            except BlockingIOError:
                chunk = None
            if chunk:
                line += chunk
                if text.encode() in line:
                    return True
                line = line[-4096:]
            elif p.poll() is not None:
                return False
            else:
                time.sleep(0.01)
        return False

    def measure(self, p, vmm, rep):
        """Returns None, or why the run failed."""
        if not self.wait_serial(p, "KBD ready=1", 300):
            return "the guest's frame buffer never came up (no 'KBD ready=1')"
        want = {}
        for name in PATTERNS:
            b = bytearray(vncclient.pattern_bytes(name, W, H))
            b[3::4] = bytes(len(b) // 4)
            want[name] = b

        def showing(name):
            def pred(c):
                if (c.width, c.height) != (W, H):
                    return False
                got = bytearray(c.fb)
                got[3::4] = bytes(len(got) // 4)
                return got == want[name]
            return pred

        c = vncclient.VncClient("127.0.0.1", PORT, timeout=30)
        c.frame(False)
        times, kbs = [], []
        cpu0 = vmm_cpu_ms(p.pid)
        for i in range(REDRAWS):
            name = PATTERNS[i % 2]
            b0 = c.bytes_received
            t0 = time.monotonic()
            p.stdin.write(f"draw {name}\n".encode())
            # incremental requests only, as a viewer keeps them coming (no full-frame refetch)
            pred = showing(name)
            c.sock.settimeout(60)
            while not pred(c):
                if time.monotonic() - t0 > 60:
                    c.close()
                    return f"the viewer never saw the '{name}' redraw"
                c.frame(True)
            times.append((time.monotonic() - t0) * 1000.0)
            kbs.append((c.bytes_received - b0) / 1024.0)
        cpu1 = vmm_cpu_ms(p.pid)
        # idle: the viewer keeps an update request outstanding, nothing is drawn
        t0 = time.monotonic()
        cpu_i0 = vmm_cpu_ms(p.pid)
        c.sock.settimeout(0.2)
        while time.monotonic() - t0 < IDLE_S:
            try:
                c.frame(True)
            except OSError:
                pass
        cpu_i1 = vmm_cpu_ms(p.pid)
        idle_s = time.monotonic() - t0
        c.close()
        # ZRLE: bytes per redraw, counted (each server's own ZRLE variant, not decoded)
        z = vncclient.VncClient("127.0.0.1", PORT, timeout=30, zrle=True, decode=False)
        z.frame(False)
        zkbs = []
        for i in range(4):
            name = PATTERNS[(i + REDRAWS) % 2]
            if not self.wait_serial_after_draw(p, z, name):
                z.close()
                return f"no 'KBD drawn={name}' for the ZRLE viewer"
            zkbs.append(self.drain(z) / 1024.0)
        z.close()
        med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
        self.s.sample("vnc_update_ms", vmm, rep, med(times), {"all_ms": times})
        self.s.sample("vnc_update_kb_raw", vmm, rep, med(kbs), {"all_kb": kbs})
        self.s.sample("vnc_update_kb_zrle", vmm, rep, med(zkbs), {"all_kb": zkbs})
        self.s.sample("vnc_update_cpu", vmm, rep, (cpu1 - cpu0) / REDRAWS)
        self.s.sample("vnc_idle_cpu", vmm, rep, (cpu_i1 - cpu_i0) / idle_s)
        print(f"# rep {rep} {vmm} display: redraw {med(times):.0f} ms, Raw {med(kbs):.0f} kB, "
              f"ZRLE {med(zkbs):.0f} kB, CPU {(cpu1 - cpu0) / REDRAWS:.1f} ms/redraw, idle "
              f"{(cpu_i1 - cpu_i0) / idle_s:.1f} ms/s", file=sys.stderr, flush=True)
        return None

    def wait_serial_after_draw(self, p, z, name):
        p.stdin.write(f"draw {name}\n".encode())
        return self.wait_serial(p, f"KBD drawn={name}", 60)

    @staticmethod
    def drain(z):
        """Bytes of the updates that follow a redraw: keep requesting until 500 ms pass
        without one (fbdev's deferred I/O flushes within 50 ms)."""
        b0 = z.bytes_received
        while True:
            z.sock.settimeout(0.5)
            try:
                z.frame(True)
            except OSError:
                return z.bytes_received - b0
