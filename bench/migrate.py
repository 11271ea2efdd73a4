# SPDX-License-Identifier: BSD-2-Clause
"""Live migration (group "migrate"): a 1 GiB guest (1 vCPU, the payload kernel with
bench/l2-migrate.sh's initrd) migrated between two VMMs in the same L1 over TCP on 127.0.0.1,
the destination started first (same command line) and listening. Two states of the guest:

  idle  a 64 MiB tmpfs fill, then "SNAP N" every 100 ms
  busy  a 256 MiB tmpfs file rewritten in a loop by dd (8 MiB at a time) while "SNAP N" goes on

For each state and VMM:

  migrate_total_S  the source request -> the source VMM's exit. kbhyve: `bhyvectl --vm=NAME
                   --migrate=127.0.0.1:PORT` (process start included, default downtime 300 ms)
                   until the source bhyve exited with 5 (bhyvectl's rounds, mem_bytes,
                   final_bytes, pause_ms and total_ms in the raw data). QEMU, over the source's
                   QMP socket (already connected, downtime-limit 300 and max-bandwidth unlimited
                   set at boot): `migrate` to tcp:127.0.0.1:PORT, the MIGRATION event
                   "completed", `quit` and QEMU's exit (query-migrate, with its downtime, in the
                   raw data). The destination: `-incoming tcp:127.0.0.1:PORT`; QEMU 7.2 starts
                   the guest by itself after the stream (no -S), `cont` is sent only if its
                   status is not "running" 10 s after the source completed (raw: cont_needed).
  migrate_pause_S  the guest's view of the pause: the largest gap between consecutive console
                   lines (arrival times here) from the last source line before the request to
                   the third destination line: source lines, then destination lines. The
                   source's last line may be cut by the switch (no newline; the destination
                   sends the rest): it counts, with the time its bytes arrived, when its number
                   is the next one, otherwise it is left out (the gap then spans one more line).

A migration counts only when the guest goes on at the destination: its first line there is at
most 2 past the source's last line (a line cut in two by the switch), more lines come after it,
no second boot. A migration that does not complete in CONVERGE_S is FAILED with its statistics.
"""
import os
import re
import subprocess
import time

from snapshot import Console, Failed, Qmp, note, wait_exit, REBOOT

STATES = ("idle", "busy")
FILL_MB = {"idle": 64, "busy": 256}
MEM_MB = 1024
METRICS = []
for _s in STATES:
    METRICS += [
        (f"migrate_total_{_s}", f"Live migration, 1 GiB guest, {_s}: source request -> source VMM exit",
         "ms"),
        (f"migrate_pause_{_s}", f"Live migration, 1 GiB guest, {_s}: the guest's pause (largest console "
         "gap across the switch)", "ms"),
    ]

BOOT_S = 600
CONVERGE_S = 60      # the migration itself: beyond that it does not converge
TICKS_BEFORE = 5
AFTER = 3            # destination lines to see after the switch
DOWNTIME_MS = 300    # kbhyve's default --migrate-downtime; QEMU's downtime-limit set to it
QMP_BANDWIDTH = 1 << 40
TICK = re.compile(r"^SNAP ([0-9]+)(?: \(cut\))?$")
PORT0 = 7600


def listening(port):
    """A socket in LISTEN state on the port, from the kernel's tables."""
    want = f":{port:04X} "
    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(tab) as f:
                for line in f.readlines()[1:]:
                    x = line.split()
                    if len(x) > 3 and (x[1] + " ").endswith(want) and x[3] == "0A":
                        return True
        except OSError:
            pass
    return False


class MigConsole(Console):
    """snapshot.Console, and at the end of the stream a last line without its newline (a line
    cut in two by the switch: the source sent "SNAP 47", the destination the "\\r\\n") kept
    with the time its last byte arrived: the guest printed it before the pause."""

    def _read(self, pipe):
        buf = b""
        t_buf = None
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
                t_buf = t if buf else None
                if full:
                    with self.cv:
                        self.lines += [(t, x.decode(errors="replace").strip()) for x in full]
                        self.cv.notify_all()
        with self.cv:
            if buf.strip():
                self.lines.append((t_buf, buf.decode(errors="replace").strip() + " (cut)"))
            self.eof = True
            self.cv.notify_all()


class MigrateBench:
    def __init__(self, suite):
        self.s = suite
        self.dir = None
        self.procs = []
        self.port = PORT0

    def _next_port(self):
        self.port += 1    # each migration its own port (TIME_WAIT of the one before)
        return self.port

    def _ids(self, state):
        return [f"migrate_total_{state}", f"migrate_pause_{state}"]

    def _fail(self, ids, vmm, rep, why):
        for m in ids:
            if (m, vmm) not in self.s.failed:
                self.s.error(m, vmm, rep, why)

    def _argv(self, vmm, state, name):
        cmdline = (f"console=ttyS0 quiet bench_fill_mb={FILL_MB[state]} "
                   f"bench_busy={1 if state == 'busy' else 0}")
        argv = self.s.linux_argv(vmm, 1, MEM_MB, self.s.a.initrd_migrate, name, cmdline)
        if vmm == "qemu":
            i = argv.index("-chardev")   # the boot metrics' port-0x80 marker: not here
            assert argv[i + 2] == "-device" and argv[i + 3].startswith("isa-debugcon")
            del argv[i:i + 4]
        return argv

    def _spawn(self, argv, tag, rundir):
        log = os.path.join(self.dir, tag)
        err = open(log + ".err", "wb")
        env = dict(os.environ, KBHYVE_RUNDIR=os.path.join(self.dir, rundir))
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                             env=env)
        err.close()
        self.procs.append(p)
        return p, MigConsole(p.stdout, log + ".out"), log + ".err", env

    @staticmethod
    def _err_tail(path, n=300):
        try:
            with open(path, errors="replace") as f:
                return " ".join(f.read().split())[-n:]
        except OSError:
            return ""

    @staticmethod
    def _kill(p):
        if p is not None:
            if p.poll() is None:
                p.kill()
            p.wait()

    def _booted(self, p, con, errlog, state):
        r = con.wait(lambda x: x.startswith("bench: filled") or x.startswith("bench: error"),
                     BOOT_S)
        if not r or r[2].startswith("bench: error"):
            why = r[2] if r else f"no 'bench: filled' in {BOOT_S} s"
            raise Failed(f"{why} (VMM status {p.poll()}; console: {con.tail()}; "
                         f"stderr: {self._err_tail(errlog)})")
        filled = r[2]
        if state == "busy" and not con.wait(lambda x: x.startswith("bench: busy"), 60, r[0]):
            raise Failed(f"the busy loop did not start ({con.tail()})")
        if not con.wait_tick(TICKS_BEFORE - 1, 120, r[0]):
            raise Failed(f"the guest printed no SNAP lines after the fill ({con.tail()})")
        return filled

    def _wait_listen(self, port, p, timeout=120):
        deadline = time.monotonic() + timeout
        while not listening(port):
            if p.poll() is not None:
                raise Failed(f"the destination exited with {p.returncode} before listening")
            if time.monotonic() > deadline:
                raise Failed(f"the destination does not listen on {port} after {timeout} s")
            time.sleep(0.05)

    @staticmethod
    def _lines(con):
        """(time, N) of the SNAP lines; a cut last line only when its N is the next number
        (not a number cut short: "SNAP 4" of "SNAP 47")."""
        with con.cv:
            got = [(t, int(m.group(1)), x) for t, m, x in
                   ((t, TICK.match(x), x) for t, x in con.lines) if m]
        if got and got[-1][2].endswith("(cut)") and (len(got) < 2 or
                                                      got[-1][1] != got[-2][1] + 1):
            got.pop()
        return [(t, n) for t, n, _ in got]

    def _continued(self, con_src, con_dst, t_req, p2, errlog2):
        """Checks that the guest went on at the destination; the largest console gap (ms)
        across the switch and details."""
        src = self._lines(con_src)
        if not src:
            raise Failed("no SNAP lines at the source")
        last = src[-1][1]
        got = con_dst.wait_tick(0, 60)
        if not got:
            raise Failed(f"the destination printed no SNAP line in 60 s (status {p2.poll()}; "
                         f"console: {con_dst.tail()}; stderr: {self._err_tail(errlog2)})")
        idx, _, first = got
        if first > last + 2 or first < last - 1:
            raise Failed(f"the destination's first line is SNAP {first}, the source's last "
                         f"SNAP {last}")
        if not con_dst.wait_tick(first + AFTER - 1, 60, idx):
            raise Failed(f"the destination stopped after SNAP {first} (status {p2.poll()}; "
                         f"stderr: {self._err_tail(errlog2)})")
        boot = [x for x in con_dst.texts() if any(b in x for b in REBOOT)]
        if boot:
            raise Failed(f"the destination booted again: '{boot[0][:80]}'")
        before = [x for x in src if x[0] < t_req]
        seq = ([before[-1]] if before else []) + [x for x in src if x[0] >= t_req]
        seq += self._lines(con_dst)[:AFTER]
        gaps = [(b[0] - a[0], a[1], b[1]) for a, b in zip(seq, seq[1:])]
        g = max(gaps)
        return g[0] * 1000.0, {"src_last": last, "dst_first": first, "gap_after": g[1],
                               "gap_before": g[2], "src_lines_during": len(seq) - AFTER - 1,
                               # the bytes around the switch: a line cut in two or lost
                               "src_end": con_src.texts()[-2:], "dst_start": con_dst.texts()[:2]}

    # --- the two VMMs ----------------------------------------------------------------------

    def _kbhyve(self, rep, state):
        vmm = "kbhyve"
        name = f"bench-mig-{state}"
        argv = self._argv(vmm, state, name)
        p = p2 = None
        try:
            p, con, errlog, env = self._spawn(argv, f"kb-{rep}-{state}-src", "run-src")
            filled = self._booted(p, con, errlog, state)
            port = self._next_port()
            p2, con2, errlog2, _ = self._spawn(argv[:-1] + ["-R", f"127.0.0.1:{port}", name],
                                               f"kb-{rep}-{state}-dst", "run-dst")
            self._wait_listen(port, p2)
            ctl = [self.s.a.bhyvectl, f"--vm={name}", f"--migrate=127.0.0.1:{port}"]
            t0 = time.monotonic()
            try:
                r = subprocess.run(ctl, capture_output=True, text=True, env=env,
                                   timeout=CONVERGE_S)
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (
                    e.stdout or "")
                raise Failed(f"bhyvectl --migrate did not finish in {CONVERGE_S} s (no "
                             f"convergence?): {' '.join(out.split())[-300:]}; source stderr: "
                             f"{self._err_tail(errlog, 200)}")
            ex = wait_exit(p, 60)
            if ex is None:
                raise Failed(f"the source bhyve did not exit after the migration (bhyvectl "
                             f"status {r.returncode}: {(r.stderr + r.stdout).strip()[-200:]})")
            vals = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)\s*$", r.stdout, re.M)}
            if r.returncode != 0 or ex[0] != 5 or "pause_ms" not in vals:
                raise Failed(f"bhyvectl status {r.returncode}, source bhyve status {ex[0]}: "
                             f"{(r.stderr + r.stdout).strip()[-300:]}; source stderr: "
                             f"{self._err_tail(errlog, 200)}")
            total_ms = (ex[1] - t0) * 1000.0
            con.thread.join(10)
            pause_ms, info = self._continued(con, con2, t0, p2, errlog2)
            raw = dict(info, bhyvectl=vals, filled=filled)
            self.s.sample(f"migrate_total_{state}", vmm, rep, total_ms, raw)
            self.s.sample(f"migrate_pause_{state}", vmm, rep, pause_ms, raw)
            note(f"rep {rep} kbhyve {state}: total {total_ms:.0f} ms, console gap "
                 f"{pause_ms:.0f} ms (SNAP {info['gap_after']} -> {info['gap_before']}), "
                 f"bhyvectl {vals}; source console ends {info['src_end']}, destination's "
                 f"starts {info['dst_start']}")
        except (Failed, subprocess.TimeoutExpired, ValueError, OSError) as e:
            self._fail(self._ids(state), vmm, rep, str(e))
        finally:
            self._kill(p2)
            self._kill(p)

    def _qemu(self, rep, state):
        vmm = "qemu"
        argv = self._argv(vmm, state, f"bench-mig-{state}")
        sock = os.path.join(self.dir, f"q-{state}-src.qmp")
        sock2 = os.path.join(self.dir, f"q-{state}-dst.qmp")
        for x in (sock, sock2):
            if os.path.exists(x):
                os.unlink(x)
        p = p2 = qmp = qmp2 = None
        try:
            p, con, errlog, _ = self._spawn(argv + ["-qmp", f"unix:{sock},server=on,wait=off"],
                                            f"q-{rep}-{state}-src", "run-src")
            qmp = Qmp(sock, lambda: p.poll() is None)
            qmp.execute("migrate-set-capabilities",
                        {"capabilities": [{"capability": "events", "state": True}]})
            qmp.execute("migrate-set-parameters", {"max-bandwidth": QMP_BANDWIDTH,
                                                   "downtime-limit": DOWNTIME_MS})
            filled = self._booted(p, con, errlog, state)
            port = self._next_port()
            p2, con2, errlog2, _ = self._spawn(
                argv + ["-qmp", f"unix:{sock2},server=on,wait=off",
                        "-incoming", f"tcp:127.0.0.1:{port}"], f"q-{rep}-{state}-dst", "run-dst")
            qmp2 = Qmp(sock2, lambda: p2.poll() is None)
            self._wait_listen(port, p2)
            t0 = time.monotonic()
            qmp.execute("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
            try:
                qmp.wait_migration(CONVERGE_S)
            except Failed as e:
                info = {}
                try:
                    info = qmp.execute("query-migrate", timeout=10)
                    qmp.execute("migrate_cancel", timeout=10)
                except Failed:
                    pass
                ram = info.get("ram", {})
                raise Failed(f"{e} (status {info.get('status')}, dirty-sync-count "
                             f"{ram.get('dirty-sync-count')}, transferred "
                             f"{ram.get('transferred')}, dirty-pages-rate "
                             f"{ram.get('dirty-pages-rate')}, expected-downtime "
                             f"{info.get('expected-downtime')})")
            t_done = time.monotonic()
            # QEMU 7.2 sends the event before it has filled in total-time and downtime (0 in
            # an immediate query-migrate): asks again for up to 2 s
            while True:
                info = qmp.execute("query-migrate")
                if info.get("total-time") or time.monotonic() - t_done > 2:
                    break
                time.sleep(0.02)
            try:
                qmp.execute("quit", timeout=30)
            except Failed:
                pass   # QEMU may close the socket before its answer
            ex = wait_exit(p, 60)
            if ex is None or ex[0] != 0:
                raise Failed(f"the source QEMU did not exit after quit (status {ex and ex[0]})")
            total_ms = (ex[1] - t0) * 1000.0
            con.thread.join(10)
            # the destination: running by itself after the stream? (QEMU 7.2: yes, no -S)
            cont = False
            deadline = time.monotonic() + 10
            while True:
                st = qmp2.execute("query-status").get("status")
                if st == "running":
                    break
                if time.monotonic() > deadline:
                    qmp2.execute("cont")
                    cont = st
                    break
                time.sleep(0.05)
            pause_ms, cinfo = self._continued(con, con2, t0, p2, errlog2)
            raw = dict(cinfo, query_migrate=info, downtime=info.get("downtime"), filled=filled,
                       completed_ms=(t_done - t0) * 1000.0, cont_needed=cont)
            self.s.sample(f"migrate_total_{state}", vmm, rep, total_ms, raw)
            self.s.sample(f"migrate_pause_{state}", vmm, rep, pause_ms, raw)
            ram = info.get("ram", {})
            note(f"rep {rep} qemu {state}: total {total_ms:.0f} ms (completed at "
                 f"{raw['completed_ms']:.0f}), console gap {pause_ms:.0f} ms (SNAP "
                 f"{cinfo['gap_after']} -> {cinfo['gap_before']}), downtime "
                 f"{info.get('downtime')} ms, dirty-sync-count {ram.get('dirty-sync-count')}, "
                 f"transferred {ram.get('transferred')}, cont {cont}; source console ends "
                 f"{cinfo['src_end']}, destination's starts {cinfo['dst_start']}")
        except (Failed, subprocess.TimeoutExpired, ValueError, OSError) as e:
            self._fail(self._ids(state), vmm, rep, str(e))
        finally:
            for c in (qmp, qmp2):
                if c is not None:
                    c.close()
            self._kill(p2)
            self._kill(p)
            for x in (sock, sock2):
                if os.path.exists(x):
                    os.unlink(x)

    def run(self, vmm, rep):
        if self.dir is None:
            self.dir = os.path.join(self.s.tmp, "migrate")
            os.makedirs(self.dir, exist_ok=True)
        for state in STATES:
            if all((m, vmm) in self.s.failed for m in self._ids(state)):
                continue
            if vmm == "kbhyve":
                self._kbhyve(rep, state)
            else:
                self._qemu(rep, state)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
