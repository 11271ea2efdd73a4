# SPDX-License-Identifier: BSD-2-Clause
"""Checkpoint and restore (group "snapshot"): a 256 MiB and a 1 GiB guest (1 vCPU, the payload
kernel with bench/l2-snaphold.sh's initrd), half of whose RAM is filled with non-zero data in a
tmpfs; the guest then prints "SNAP N" every 100 ms. For each size and VMM:

  snap_suspend_M  the save with the VM stopping, until the VMM has exited. kbhyve: `bhyvectl
                  --vm=NAME --suspend=F` (process start included) until bhyve exited with 5.
                  QEMU, over its QMP socket (already connected): `stop`, `migrate` to
                  "exec:cat > F" (QEMU 7.2 has no file: URI) with the migration bandwidth
                  unlimited, the MIGRATION event "completed", `quit` and QEMU's exit.
  snap_restore_M  the restoring VMM's spawn -> the guest's next new "SNAP N" line on its serial
                  console. kbhyve: `bhyve -r F` with the same options. QEMU: the same command
                  line with `-incoming defer`, then over QMP `migrate-incoming` "exec:cat F",
                  the MIGRATION event "completed" and `cont` (the saved guest was stopped, so
                  QEMU keeps it paused after the stream).
  snap_size_M     kB the snapshot takes on disk (allocated blocks, as du -k: kbhyve's RAM file,
                  sparse where the guest's pages are zero, with its .kern and .meta; QEMU's
                  migration stream, zero pages as flags).
  snap_pause_M    kbhyve only: the vCPU pause of a `bhyvectl --checkpoint` (the guest keeps
                  running), bhyve's own pause_ms. QEMU 7.2 has no save that leaves the guest
                  running but a live migration (another method: iterative pre-copy), so it has
                  no counterpart here.

A restore counts only when the guest goes on where it stopped: the first new line is the next
number (one more of slack for a line cut in two by the save), no second boot ("bench: init ran",
"bench: filled" or a kernel banner), and two more lines come after it. The snapshot files live in
the suite's temporary folder (L1's tmpfs in the test bed) and are deleted after each size.
"""
import json
import os
import re
import select
import shlex
import socket
import subprocess
import sys
import threading
import time

SIZES_MB = (256, 1024)
METRICS = []
for _mb in SIZES_MB:
    _s = f"{_mb} MiB" if _mb < 1024 else f"{_mb // 1024} GiB"
    METRICS += [
        (f"snap_suspend_{_mb}", f"Snapshot save, {_s} guest (half filled), VM stops: request -> VMM exit",
         "ms"),
        (f"snap_restore_{_mb}", f"Snapshot restore, {_s} guest: VMM spawn -> guest's next console line",
         "ms"),
        (f"snap_size_{_mb}", f"Snapshot of the {_s} guest on disk (du -k, all its files)", "kB"),
        (f"snap_pause_{_mb}", f"Checkpoint of the {_s} guest (keeps running): vCPU pause, bhyve's pause_ms",
         "ms"),
    ]
KB_ONLY = {f"snap_pause_{mb}" for mb in SIZES_MB}   # QEMU: no comparable number (see above)

BOOT_S = 600         # boot and fill (1 GiB: 512 MiB of copies in L2)
SAVE_S = 600
RESTORE_S = 600
TICKS_BEFORE = 5     # lines after the fill before the save: the guest is in its loop
TICK = re.compile(r"^SNAP ([0-9]+)$")
REBOOT = ("bench: init ran", "bench: filled", "Linux version")
QMP_BANDWIDTH = 1 << 40  # bytes/s: no limit (QEMU's default is 32 MiB/s for live migration)
# How QEMU's migration stream reaches the file: "exec" (default): `exec:cat > F` / `exec:cat F`,
# a cat process and a pipe in between; "fd": the file opened here and handed to QEMU over QMP
# (getfd, then `fd:NAME`), QEMU reads and writes it itself, as 8.2's file: URI would
QEMU_STREAM = os.environ.get("KBHYVE_BENCH_QEMU_STREAM", "exec")


def note(msg):
    print("# " + msg, file=sys.stderr, flush=True)


class Failed(Exception):
    pass


class Console:
    """The VMM's stdout (the guest's serial console), read by a thread: each complete line with
    the CLOCK_MONOTONIC time its last byte arrived. The whole stream also goes to a log file."""

    def __init__(self, pipe, log_path):
        self.lines = []
        self.cv = threading.Condition()
        self.eof = False
        self.log_path = log_path
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe):
        buf = b""
        with open(self.log_path, "ab") as log:
            while True:
                try:
                    data = os.read(pipe.fileno(), 65536)
                except OSError:
                    data = b""
                t = time.monotonic()
                if not data:
                    break
                log.write(data)
                buf += data
                *full, buf = buf.split(b"\n")
                if full:
                    with self.cv:
                        self.lines += [(t, x.decode(errors="replace").strip()) for x in full]
                        self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait(self, pred, timeout, start=0):
        """The first line from index start on with pred(text): (index, time, text), or None
        at the timeout or the end of the stream."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    t, text = self.lines[i]
                    if pred(text):
                        return i, t, text
                    i += 1
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None
                self.cv.wait(left)

    def wait_tick(self, above, timeout, start=0):
        """The first "SNAP N" line with N > above: (index, time, N) or None."""
        r = self.wait(lambda x: bool(TICK.match(x)) and int(TICK.match(x).group(1)) > above,
                      timeout, start)
        return r and (r[0], r[1], int(TICK.match(r[2]).group(1)))

    def ticks(self):
        with self.cv:
            return [int(m.group(1)) for m in (TICK.match(x) for _, x in self.lines) if m]

    def texts(self):
        with self.cv:
            return [x for _, x in self.lines]

    def tail(self, n=4):
        return " | ".join(self.texts()[-n:])


class Qmp:
    """A QMP client on QEMU's unix socket: commands, and the events that arrive meanwhile."""

    def __init__(self, path, alive, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if not alive():
                    raise Failed("QEMU exited before its QMP socket opened")
                if time.monotonic() > deadline:
                    raise Failed(f"no QMP socket after {timeout} s")
                time.sleep(0.01)
        self.f = self.sock.makefile("rb")
        self.events = []
        self._read(timeout)   # the greeting
        self.execute("qmp_capabilities")

    def _read(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        try:
            line = self.f.readline()
        except (socket.timeout, OSError) as e:
            raise Failed(f"QMP: {e or 'timeout'}")
        if not line:
            raise Failed("QMP: QEMU closed the socket")
        return json.loads(line)

    def execute(self, cmd, args=None, timeout=120, fd=None):
        """fd: a file descriptor passed along (SCM_RIGHTS), for getfd."""
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        try:
            if fd is None:
                self.sock.sendall(data)
            else:
                socket.send_fds(self.sock, [data], [fd])
        except OSError as e:
            raise Failed(f"QMP {cmd}: {e}")
        deadline = time.monotonic() + timeout
        while True:
            obj = self._read(deadline - time.monotonic())
            if "event" in obj:
                self.events.append(obj)
            elif "error" in obj:
                raise Failed(f"QMP {cmd}: {obj['error'].get('desc', obj['error'])}")
            elif "return" in obj:
                return obj["return"]

    def wait_migration(self, timeout):
        """Until the MIGRATION event says completed (needs the "events" capability)."""
        deadline = time.monotonic() + timeout
        while True:
            while self.events:
                ev = self.events.pop(0)
                if ev.get("event") == "MIGRATION":
                    status = ev.get("data", {}).get("status")
                    if status == "completed":
                        return
                    if status in ("failed", "cancelled"):
                        info = {}
                        try:
                            info = self.execute("query-migrate", timeout=10)
                        except Failed:
                            pass
                        raise Failed(f"migration {status}: {info.get('error-desc', '')}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"migration not completed in {timeout} s")
            obj = self._read(left)
            if "event" in obj:
                self.events.append(obj)

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def wait_exit(proc, timeout):
    """Blocks until proc exits (a pidfd, no polling): (exit status, time of exit) or None."""
    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:
        fd = None
    if fd is not None:
        try:
            r, _, _ = select.select([fd], [], [], timeout)
        finally:
            os.close(fd)
        t = time.monotonic()
        if not r:
            return None
        return proc.wait(), t
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None
    return rc, time.monotonic()


def du_kb(paths):
    """Allocated kB of the files, as du -k counts them."""
    return sum(os.stat(p).st_blocks for p in paths) / 2.0


class SnapshotBench:
    def __init__(self, suite):
        self.s = suite
        self.dir = None
        self.env = None
        self.procs = []

    # --- helpers ---------------------------------------------------------------------------

    def _ids(self, vmm, mb):
        ids = [f"snap_suspend_{mb}", f"snap_restore_{mb}", f"snap_size_{mb}"]
        if vmm == "kbhyve":
            ids.append(f"snap_pause_{mb}")
        return ids

    def _fail(self, ids, vmm, rep, why):
        for m in ids:
            if (m, vmm) not in self.s.failed:
                self.s.error(m, vmm, rep, why)

    def _argv(self, vmm, mb, name):
        cmdline = f"console=ttyS0 quiet bench_fill_mb={mb // 2}"
        argv = self.s.linux_argv(vmm, 1, mb, self.s.a.initrd_snaphold, name, cmdline)
        if vmm == "qemu":
            # the boot metrics' port-0x80 marker writes to fd 3 (vmmprobe's pipe): not here
            i = argv.index("-chardev")
            assert argv[i + 2] == "-device" and argv[i + 3].startswith("isa-debugcon")
            del argv[i:i + 4]
        return argv

    def _spawn(self, argv, tag):
        log = os.path.join(self.dir, tag)
        err = open(log + ".err", "wb")
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             env=self.env)
        err.close()
        self.procs.append(p)
        return p, Console(p.stdout, log + ".out"), t0, log + ".err"

    @staticmethod
    def _err_tail(path, n=300):
        try:
            with open(path, errors="replace") as f:
                return " ".join(f.read().split())[-n:]
        except OSError:
            return ""

    def _booted(self, p, con, errlog):
        """Boot, fill, and TICKS_BEFORE lines of the loop."""
        r = con.wait(lambda x: x.startswith("bench: filled") or x.startswith("bench: error"),
                     BOOT_S)
        if not r or r[2].startswith("bench: error"):
            why = r[2] if r else f"no 'bench: filled' in {BOOT_S} s"
            raise Failed(f"{why} (VMM status {p.poll()}; console: {con.tail()}; "
                         f"stderr: {self._err_tail(errlog)})")
        filled = r[2]
        if not con.wait_tick(TICKS_BEFORE - 1, 120, r[0]):
            raise Failed(f"the guest printed no SNAP lines after the fill ({con.tail()})")
        return filled

    def _kill(self, p):
        if p.poll() is None:
            p.kill()
        p.wait()

    def _check_restored(self, con, last, got, idx, errlog, p):
        """The restored guest went on where it was: the next number (or one more), no boot
        messages, two more lines."""
        if got > last + 2:
            raise Failed(f"the restored guest's first new line is SNAP {got}, the save was "
                         f"after SNAP {last}")
        if not con.wait_tick(got + 1, 60, idx):
            raise Failed(f"the restored guest stopped after SNAP {got} (VMM status {p.poll()}; "
                         f"stderr: {self._err_tail(errlog)})")
        boot = [x for x in con.texts() if any(b in x for b in REBOOT)]
        if boot:
            raise Failed(f"the restored guest booted again: '{boot[0][:80]}'")

    # --- the two VMMs ----------------------------------------------------------------------

    def _kbhyve(self, rep, mb):
        a, vmm = self.s.a, "kbhyve"
        name = f"bench-snap-{mb}"
        f = os.path.join(self.dir, f"kb-{mb}")
        files = [f, f + ".kern", f + ".meta"]
        ctl = [a.bhyvectl, f"--vm={name}"]
        argv = self._argv(vmm, mb, name)
        p, con, _, errlog = self._spawn(argv, f"kb-{rep}-{mb}-boot")
        p2 = None
        try:
            filled = self._booted(p, con, errlog)
            # a checkpoint: the guest keeps running
            if (f"snap_pause_{mb}", vmm) not in self.s.failed:
                ck = os.path.join(self.dir, f"kb-{mb}-ck")
                r = subprocess.run(ctl + [f"--checkpoint={ck}"], capture_output=True, text=True,
                                   env=self.env, timeout=SAVE_S)
                vals = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", r.stdout, re.M))
                last = max(con.ticks())
                for x in (ck, ck + ".kern", ck + ".meta", ck + ".new", ck + ".kern.new",
                          ck + ".meta.new"):
                    if os.path.exists(x):
                        os.unlink(x)
                if r.returncode != 0 or "pause_ms" not in vals:
                    self._fail([f"snap_pause_{mb}"], vmm, rep,
                               f"bhyvectl --checkpoint: status {r.returncode}: "
                               f"{(r.stderr + r.stdout).strip()[-200:]}")
                elif not con.wait_tick(last + 3, 60):
                    self._fail([f"snap_pause_{mb}"], vmm, rep,
                               f"the guest stopped after the checkpoint ({con.tail()})")
                else:
                    self.s.sample(f"snap_pause_{mb}", vmm, rep, float(vals["pause_ms"]),
                                  {k: int(v) for k, v in vals.items()})
                    note(f"rep {rep} kbhyve {mb} MiB: checkpoint paused the guest "
                         f"{vals['pause_ms']} ms (total {vals.get('total_ms', '?')} ms, "
                         f"RAM {int(vals.get('mem_bytes', 0)) >> 20} MiB written)")
                con.wait_tick(max(con.ticks()) + 1, 60)
            # the suspend
            t0 = time.monotonic()
            r = subprocess.run(ctl + [f"--suspend={f}"], capture_output=True, text=True,
                               env=self.env, timeout=SAVE_S)
            t_ctl = time.monotonic()
            ex = wait_exit(p, SAVE_S)
            if r.returncode != 0 or ex is None or ex[0] != 5:
                raise Failed(f"bhyvectl --suspend: status {r.returncode} "
                             f"({(r.stderr + r.stdout).strip()[-200:]}); bhyve "
                             f"{'still running' if ex is None else 'exit status %d' % ex[0]}"
                             f" ({self._err_tail(errlog, 200)})")
            suspend_ms = (ex[1] - t0) * 1000.0
            vals = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", r.stdout, re.M))
            con.thread.join(10)
            ticks = con.ticks()
            last = max(ticks)
            if not all(os.path.exists(x) and os.path.getsize(x) for x in files):
                raise Failed("--suspend left no FILE, FILE.kern and FILE.meta")
            size = du_kb(files)
            raw = {"bhyvectl": {k: int(v) for k, v in vals.items()}, "last_line": last,
                   "filled": filled, "apparent_bytes": sum(os.path.getsize(x) for x in files),
                   "bhyvectl_done_ms": (t_ctl - t0) * 1000.0}
            self.s.sample(f"snap_suspend_{mb}", vmm, rep, suspend_ms, raw)
            self.s.sample(f"snap_size_{mb}", vmm, rep, size, raw)
            # the restore
            p2, con2, t0, errlog2 = self._spawn(argv[:-1] + ["-r", f, argv[-1]],
                                                f"kb-{rep}-{mb}-restore")
            got = con2.wait_tick(0, RESTORE_S)
            if not got:
                raise Failed(f"bhyve -r: no SNAP line in {RESTORE_S} s (status {p2.poll()}; "
                             f"console: {con2.tail()}; stderr: {self._err_tail(errlog2)})")
            idx, t1, n = got
            self._check_restored(con2, last, n, idx, errlog2, p2)
            self.s.sample(f"snap_restore_{mb}", vmm, rep, (t1 - t0) * 1000.0,
                          {"last_saved": last, "first_restored": n})
            note(f"rep {rep} kbhyve {mb} MiB: suspend {suspend_ms:.0f} ms (bhyve's pause "
                 f"{vals.get('pause_ms', '?')} ms), {size / 1024:.1f} MiB on disk, restore to "
                 f"SNAP {n} (saved after {last}) {(t1 - t0) * 1000.0:.0f} ms")
        except (Failed, subprocess.TimeoutExpired, ValueError) as e:
            self._fail(self._ids(vmm, mb), vmm, rep, str(e))
        finally:
            for q in (p2, p):
                if q is not None and q.poll() is None:
                    subprocess.run(ctl + ["--destroy"], capture_output=True, env=self.env)
                    if wait_exit(q, 30) is None:
                        self._kill(q)
                if q is not None:
                    q.wait()
            for x in files:
                if os.path.exists(x):
                    os.unlink(x)

    def _qemu(self, rep, mb):
        vmm = "qemu"
        f = os.path.join(self.dir, f"q-{mb}")
        sock = os.path.join(self.dir, f"q-{mb}.qmp")
        argv = self._argv(vmm, mb, f"bench-snap-{mb}")
        p, con, _, errlog = self._spawn(argv + ["-qmp", f"unix:{sock},server=on,wait=off"],
                                        f"q-{rep}-{mb}-boot")
        p2 = qmp = qmp2 = None
        try:
            qmp = Qmp(sock, lambda: p.poll() is None)
            qmp.execute("migrate-set-capabilities",
                        {"capabilities": [{"capability": "events", "state": True}]})
            qmp.execute("migrate-set-parameters", {"max-bandwidth": QMP_BANDWIDTH})
            filled = self._booted(p, con, errlog)
            # the suspend: stop, the stream into a file, quit
            t0 = time.monotonic()
            qmp.execute("stop")
            if QEMU_STREAM == "fd":
                fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                try:
                    qmp.execute("getfd", {"fdname": "snap"}, fd=fd)
                finally:
                    os.close(fd)
                qmp.execute("migrate", {"uri": "fd:snap"})
            else:
                qmp.execute("migrate", {"uri": f"exec:cat > {shlex.quote(f)}"})
            qmp.wait_migration(SAVE_S)
            t_done = time.monotonic()
            info = qmp.execute("query-migrate")
            try:
                qmp.execute("quit", timeout=30)
            except Failed:
                pass   # QEMU may close the socket before its answer
            ex = wait_exit(p, SAVE_S)
            if ex is None or ex[0] != 0:
                raise Failed(f"QEMU did not exit after quit (status {ex and ex[0]}; "
                             f"{self._err_tail(errlog, 200)})")
            suspend_ms = (ex[1] - t0) * 1000.0
            con.thread.join(10)
            last = max(con.ticks())
            if not os.path.exists(f) or not os.path.getsize(f):
                raise Failed("the migration left no stream file")
            size = du_kb([f])
            raw = {"query_migrate": info, "last_line": last, "filled": filled,
                   "apparent_bytes": os.path.getsize(f), "stream": QEMU_STREAM,
                   "stream_done_ms": (t_done - t0) * 1000.0}
            self.s.sample(f"snap_suspend_{mb}", vmm, rep, suspend_ms, raw)
            self.s.sample(f"snap_size_{mb}", vmm, rep, size, raw)
            qmp.close()
            qmp = None
            # the restore: -incoming defer, migrate-incoming, cont
            if os.path.exists(sock):
                os.unlink(sock)
            p2, con2, t0, errlog2 = self._spawn(
                argv + ["-qmp", f"unix:{sock},server=on,wait=off", "-incoming", "defer"],
                f"q-{rep}-{mb}-restore")
            qmp2 = Qmp(sock, lambda: p2.poll() is None)
            t_qmp = time.monotonic()
            qmp2.execute("migrate-set-capabilities",
                         {"capabilities": [{"capability": "events", "state": True}]})
            if QEMU_STREAM == "fd":
                fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    qmp2.execute("getfd", {"fdname": "snap"}, fd=fd)
                finally:
                    os.close(fd)
                qmp2.execute("migrate-incoming", {"uri": "fd:snap"})
            else:
                qmp2.execute("migrate-incoming", {"uri": f"exec:cat {shlex.quote(f)}"})
            qmp2.wait_migration(RESTORE_S)
            t_done = time.monotonic()
            qmp2.execute("cont")
            got = con2.wait_tick(0, RESTORE_S)
            if not got:
                raise Failed(f"restored QEMU: no SNAP line in {RESTORE_S} s (status {p2.poll()}; "
                             f"console: {con2.tail()}; stderr: {self._err_tail(errlog2)})")
            idx, t1, n = got
            self._check_restored(con2, last, n, idx, errlog2, p2)
            self.s.sample(f"snap_restore_{mb}", vmm, rep, (t1 - t0) * 1000.0,
                          {"last_saved": last, "first_restored": n, "stream": QEMU_STREAM,
                           "qmp_ready_ms": (t_qmp - t0) * 1000.0,
                           "stream_done_ms": (t_done - t0) * 1000.0})
            note(f"rep {rep} qemu {mb} MiB ({QEMU_STREAM}): suspend {suspend_ms:.0f} ms (stream "
                 f"done at {raw['stream_done_ms']:.0f}), {size / 1024:.1f} MiB on disk, restore to "
                 f"SNAP {n} (saved after {last}) {(t1 - t0) * 1000.0:.0f} ms (QMP up at "
                 f"{(t_qmp - t0) * 1000.0:.0f}, stream read at {(t_done - t0) * 1000.0:.0f})")
        except (Failed, subprocess.TimeoutExpired, ValueError) as e:
            self._fail(self._ids(vmm, mb), vmm, rep, str(e))
        finally:
            for c in (qmp, qmp2):
                if c is not None:
                    c.close()
            for q in (p2, p):
                if q is not None:
                    self._kill(q)
            for x in (f, sock):
                if os.path.exists(x):
                    os.unlink(x)

    # --------------------------------------------------------------------------------------

    def run(self, vmm, rep):
        if self.dir is None:
            self.dir = os.path.join(self.s.tmp, "snapshot")
            os.makedirs(self.dir, exist_ok=True)
            self.env = dict(os.environ, KBHYVE_RUNDIR=os.path.join(self.dir, "run"))
        for mb in SIZES_MB:
            ids = self._ids(vmm, mb)
            if all((m, vmm) in self.s.failed for m in ids):
                continue
            if vmm == "kbhyve":
                self._kbhyve(rep, mb)
            else:
                self._qemu(rep, mb)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
