# SPDX-License-Identifier: BSD-2-Clause
"""The boot profile (group "profile"): where a Linux boot's time goes, kbhyve and QEMU side by
side on the same guest (1 vCPU, the boot group's kernel and initrd, init powers off at once),
recorded with `perf kvm stat` (Debian's linux-perf) system-wide around each run, one VM at a
time:

  KVM exits by reason, with the time from each exit to the next entry (the kernel's handling
  and, for exits KVM hands to user space, the VMM's); port I/O by port and MMIO by address;
  and the guest's own timeline: its clock when it ran /init and its slowest initcalls
  (initcall_debug, read back from dmesg after init, so the console is not slowed).

Rows for the main table: prof_exits (exits from spawn to exit), prof_exit_ms (their handling
time) and prof_guest_init (the guest kernel's clock at /init). The tables themselves go out as
BENCH-PROFILE lines, which report.py turns into profile.txt.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

METRICS = [
    ("prof_exits", "KVM exits, spawn -> exit, 1 vCPU (profile run)", "count"),
    ("prof_exit_ms", "time in KVM exits (handling and VMM), spawn -> exit (profile run)", "ms"),
    ("prof_guest_init", "guest kernel's clock when it runs /init (profile run)", "ms"),
]
PROFILE_CMDLINE = " initcall_debug bench_profile=1"
TOP = 15

ROW = re.compile(r"^\s*(\S+)\s+(\d+)\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)us\s+([\d.]+)us\s+([\d.]+)us")
TOTAL = re.compile(r"Total Samples:\s*(\d+), Total events handled time:\s*([\d.]+)us")


def parse_report(text):
    """`perf kvm stat report` output -> ({key: {"n", "avg_us", "max_us", "us"}}, total n,
    total us)."""
    rows, total_n, total_us = {}, None, None
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            key, n, _mn, mx, avg = m.groups()
            n, avg = int(n), float(avg)
            rows[key] = {"n": n, "avg_us": avg, "max_us": float(mx), "us": n * avg}
            continue
        m = TOTAL.search(line)
        if m:
            total_n, total_us = int(m.group(1)), float(m.group(2))
    return rows, total_n, total_us


def parse_guest(text):
    """The KBP lines the guest's init prints (bench/l2-poweroff.sh): (init_ms, [(name, us)])."""
    init_ms, calls = None, []
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"KBP init_at=([\d.]+)$", line)
        if m:
            init_ms = float(m.group(1)) * 1000.0
        m = re.match(r"KBP initcall (\d+) (\S+)$", line)
        if m:
            calls.append((m.group(2), int(m.group(1))))
    return init_ms, calls


class ProfileBench:
    def __init__(self, suite):
        self.s = suite
        self.perf = None

    def available(self):
        """None, or why the profile cannot run here."""
        try:
            r = subprocess.run(["perf", "kvm", "stat", "record", "-h"], capture_output=True,
                               text=True)
        except OSError:
            return "perf not found (Debian package linux-perf)"
        if "record" not in (r.stdout + r.stderr):
            return "perf has no 'kvm stat record'"
        return None

    def record(self, path):
        return subprocess.Popen(["perf", "kvm", "stat", "record", "-a", "-q", "-o", path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def report(path, event):
        r = subprocess.run(["perf", "kvm", "-i", path, "stat", "report", f"--event={event}"],
                           capture_output=True, text=True)
        return r.stdout + r.stderr  # perf 6.1 prints its report on stderr

    def run(self, vmm, rep):
        s = self.s
        ids = [m[0] for m in METRICS]
        why = self.available()
        if why:
            for m in ids:
                s.error(m, vmm, rep, why)
            return
        data = os.path.join(s.tmp, f"perf-{vmm}-{rep}.data")
        perf = self.record(data)
        time.sleep(1.5)  # perf has opened its events (it says nothing when it has)
        if perf.poll() is not None:
            for m in ids:
                s.error(m, vmm, rep, f"perf kvm stat record ended: {perf.stderr.read()[-300:]}")
            return
        opts = ["--marker", s.marker(vmm), "--expect-out", "bench: init ran",
                "--expect-exit", str(s.poweroff_status(vmm))]
        argv = s.linux_argv(vmm, 1, 256, s.a.initrd_poweroff, "bench-profile",
                            "console=ttyS0 quiet" + PROFILE_CMDLINE)
        r = s.probe(ids, vmm, rep, opts, argv, 300)
        perf.send_signal(signal.SIGINT)
        try:
            perf.wait(60)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()
        if not r:
            return
        res, logdir = r
        exits, n, us = parse_report(self.report(data, "vmexit"))
        pio, _, _ = parse_report(self.report(data, "ioport"))
        mmio, _, _ = parse_report(self.report(data, "mmio"))
        os.unlink(data)
        with open(os.path.join(logdir, "1.out"), errors="replace") as f:
            init_ms, calls = parse_guest(f.read())
        if n is None:
            for m in ids[:2]:
                s.error(m, vmm, rep, "perf kvm stat report gave no totals")
        else:
            s.sample("prof_exits", vmm, rep, n)
            s.sample("prof_exit_ms", vmm, rep, us / 1000.0)
        if init_ms is None:
            s.error("prof_guest_init", vmm, rep, "the guest printed no 'KBP init_at=' line")
        else:
            s.sample("prof_guest_init", vmm, rep, init_ms)
        print("BENCH-PROFILE", json.dumps({"vmm": vmm, "rep": rep, "exits": exits, "pio": pio,
                                 "mmio": mmio, "initcalls": calls[:TOP],
                                 "init_ms": init_ms,
                                 "marker_ms": res["instances"][0]["marker_ms"]},
                                sort_keys=True), flush=True)
        print(f"# rep {rep} {vmm} profile: {n} exits, {(us or 0) / 1000.0:.0f} ms in them, "
              f"guest at /init {init_ms} ms", file=sys.stderr, flush=True)
