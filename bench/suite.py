#!/usr/bin/env python3
"""The benchmark suite: runs every benchmark for kbhyve and for QEMU/KVM on the /dev/kvm of the
machine it runs on (inside L1 in the nested test bed, or directly on a host with real KVM),
alternating the two VMMs, and prints one line per measurement for report.py:

    BENCH-META   {"metrics": [...]}               what each metric is (printed first)
    BENCH-INFO   {"where": ..., "kernel": ...}     the machine the VMMs ran on
    BENCH-SAMPLE {"metric", "vmm", "rep", "value", "raw"}
    BENCH-ERROR  {"metric", "vmm", "rep", "error", "stderr"}

Every time is taken by vmmprobe (vmmprobe.c) from outside the VMM: spawn, marker, first output
and exit, as the bytes arrive. Nothing is estimated: a metric that cannot be measured gives a
BENCH-ERROR, and the exit status is 1.

Run by bench/run.sh; see bench/README.md for the metrics.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

KB = "kbhyve"
QEMU = "qemu"

# Metric catalogue: id, label, unit, and which VMMs report it. "lower" is better for all of
# them. Units: ms for times, kB for memory (report.py shows MiB), count for KVM exits.
METRICS = [
    ("boot_init_1", "Boot to guest init, 1 vCPU (spawn -> port-0x80 marker)", "ms"),
    ("boot_exit_1", "Boot + poweroff, 1 vCPU (spawn -> VMM exit)", "ms"),
    ("boot_init_2", "Boot to guest init, 2 vCPUs (spawn -> port-0x80 marker)", "ms"),
    ("boot_exit_2", "Boot + poweroff, 2 vCPUs (spawn -> VMM exit)", "ms"),
    ("boot_self_1", "Boot to guest init, 1 vCPU, bhyve's own clock (main() -> marker)", "ms"),
    ("boot_self_2", "Boot to guest init, 2 vCPUs, bhyve's own clock (main() -> marker)", "ms"),
    ("tiny_first_out", "Tiny guest: spawn -> first COM1 byte", "ms"),
    ("tiny_exit", "Tiny guest: spawn -> VMM exit (guest powers off)", "ms"),
    ("host_tiny_first_out", "Tiny guest on the host's own /dev/kvm: spawn -> first COM1 byte", "ms"),
    ("host_tiny_exit", "Tiny guest on the host's own /dev/kvm: spawn -> VMM exit", "ms"),
    ("mem_overhead", "VMM memory overhead: RSS - guest RAM RSS (1 vCPU, 256 MiB)", "kB"),
    ("mem_rss", "VMM RSS, all mappings (1 vCPU, 256 MiB)", "kB"),
    ("kvm_exits", "KVM exits, spawn -> marker + 1 s (diagnostic)", "count"),
    ("kvm_io_exits", "KVM port-I/O exits to the VMM, spawn -> marker + 1 s (diagnostic)", "count"),
    ("many_seq", "10 guests one after another, each to init + poweroff: total", "ms"),
    ("many_par_init", "10 guests started at once: first spawn -> last guest's init", "ms"),
    ("many_par_rss", "10 guests running at once: total RSS of the 10 VMMs", "kB"),
    ("many_par_overhead", "10 guests running at once: total RSS - guest RAM RSS", "kB"),
    # --- later: device metrics (see DEVICE_BENCHMARKS below) ---
]

CMDLINE = "console=ttyS0 quiet"
KB_MARKER = "err:debug port 0x80: 0x1 at"     # bhyve -o x86.debugport.log=true, on stderr
QEMU_MARKER = "fd3:\\x01"                     # isa-debugcon on port 0x80 -> fd 3, byte 0x01
INIT_OUT = "bench: init ran"                  # printed by the L2 scripts (l2-*.sh)
TINY_OUT = "hello from a tiny guest"          # printed by tests/guests/hello.S
BOOT_MEM_MB = 256
MANY_MEM_MB = 128
MANY_N = 10
SAMPLE_MS = 1000                              # memory sample: marker + 1 s


def emit(kind, obj):
    print(kind, json.dumps(obj, sort_keys=True), flush=True)


def note(msg):
    print("# " + msg, file=sys.stderr, flush=True)


class Suite:
    def __init__(self, a):
        self.a = a
        self.errors = 0
        self.failed = set()    # (metric, vmm): stop repeating what failed once
        self.tmp = tempfile.mkdtemp(prefix="kbhyve-bench.")

    # --- command lines -------------------------------------------------------------------

    def linux_argv(self, vmm, cpus, mem_mb, initrd, name, cmdline=CMDLINE):
        a = self.a
        if vmm == KB:
            argv = [a.bhyve, "-c", str(cpus), "-m", f"{mem_mb}M", "-s", "0,hostbridge",
                    "-s", "31,lpc", "-l", "com1,stdio", "-o", f"boot.kernel={a.vmlinux}",
                    "-o", f"boot.initrd={initrd}", "-o", f"boot.cmdline={cmdline}",
                    "-o", "x86.debugport.log=true"]
            if a.testbed:
                argv += ["-o", "x86.cpuid.disable=xsave"]  # TCG's SVM: XSETBV not intercepted
            return argv + [name]
        cpu = "host,-xsave" if a.testbed else "host"
        return [a.qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", str(mem_mb),
                "-smp", str(cpus), "-nographic", "-no-reboot", "-nic", "none", "-nodefaults",
                "-serial", "stdio", "-kernel", a.vmlinux, "-initrd", initrd,
                "-append", cmdline,
                # the marker: port 0x80 writes go to fd 3 (vmmprobe's pipe)
                "-chardev", "file,id=port80,path=/proc/self/fd/3",
                "-device", "isa-debugcon,iobase=0x80,chardev=port80"]

    def tiny_argv(self, vmm):
        a = self.a
        if vmm == KB:
            return [a.bhyve, "-c", "1", "-m", f"{BOOT_MEM_MB}M", "-s", "0,hostbridge",
                    "-s", "31,lpc", "-l", "com1,stdio", "-o", f"boot.raw={a.tiny}", "tiny"]
        # tinyrom.S: the same flat binary, copied to 0:0x8000 by a 10-instruction stub;
        # the guest's ACPI poweroff write (port 0x404) ends QEMU through isa-debug-exit.
        return [a.qemu, "-M", "pc", "-accel", "kvm", "-m", str(BOOT_MEM_MB), "-smp", "1",
                "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
                "-bios", a.tiny_rom, "-device", "isa-debug-exit,iobase=0x404,iosize=2"]

    @staticmethod
    def marker(vmm):
        return KB_MARKER if vmm == KB else QEMU_MARKER

    @staticmethod
    def poweroff_status(vmm):
        return 1 if vmm == KB else 0   # bhyve(8): 1 = powered off; QEMU: 0

    # --- running vmmprobe ----------------------------------------------------------------

    def probe(self, metric_ids, vmm, rep, opts, argv, timeout_s):
        """Runs vmmprobe; returns (result dict, logdir) or None after reporting an error
        for every metric in metric_ids."""
        todo = [m for m in metric_ids if (m, vmm) not in self.failed]
        if not todo:
            return None
        logdir = tempfile.mkdtemp(dir=self.tmp)
        cmd = [self.a.probe, "--timeout", str(timeout_s), "--logdir", logdir] + opts
        cmd += ["--"] + argv
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 60)
            out, err, rc = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = "", f"vmmprobe hung: {e}", -1
        res = None
        try:
            res = json.loads(out)
        except ValueError:
            pass
        if rc != 0 or res is None or res.get("error"):
            why = (res or {}).get("error") or f"vmmprobe exit status {rc}"
            for m in todo:
                self.error(m, vmm, rep, why, err[-3000:])
            return None
        return res, logdir

    def error(self, metric, vmm, rep, why, stderr=""):
        self.errors += 1
        self.failed.add((metric, vmm))
        note(f"FAILED: {metric} ({vmm}, rep {rep}): {why}")
        emit("BENCH-ERROR", {"metric": metric, "vmm": vmm, "rep": rep, "error": why,
                             "stderr": stderr})

    def sample(self, metric, vmm, rep, value, raw=None):
        if (metric, vmm) in self.failed:
            return
        if value is None:
            self.error(metric, vmm, rep, "no value in vmmprobe's result")
            return
        emit("BENCH-SAMPLE", {"metric": metric, "vmm": vmm, "rep": rep, "value": value,
                              "raw": raw})

    # --- the benchmarks ------------------------------------------------------------------

    def boot(self, vmm, rep, cpus):
        """Metric 1: spawn -> init marker, and spawn -> exit (init powers off at once)."""
        ids = [f"boot_init_{cpus}", f"boot_exit_{cpus}"]
        if vmm == KB:
            ids.append(f"boot_self_{cpus}")
        opts = ["--marker", self.marker(vmm), "--expect-out", INIT_OUT,
                "--expect-exit", str(self.poweroff_status(vmm))]
        argv = self.linux_argv(vmm, cpus, BOOT_MEM_MB, self.a.initrd_poweroff, "bench-boot")
        r = self.probe(ids, vmm, rep, opts, argv, 300)
        if not r:
            return
        res, logdir = r
        inst = res["instances"][0]
        self.sample(ids[0], vmm, rep, inst["marker_ms"], inst)
        self.sample(ids[1], vmm, rep, inst["exit_ms"], inst)
        note(f"rep {rep} {vmm} {cpus} vCPU: init at {inst['marker_ms']:.0f} ms, "
             f"exit at {inst['exit_ms']:.0f} ms")
        if vmm == KB:
            with open(os.path.join(logdir, "1.err"), errors="replace") as f:
                m = re.search(r"debug port 0x80: 0x1 at ([0-9.]+) ms", f.read())
            if m:
                self.sample(ids[2], vmm, rep, float(m.group(1)))
            else:
                self.error(ids[2], vmm, rep, "bhyve logged no 'debug port 0x80: 0x1 at N ms'")

    def tiny(self, vmm, rep, prefix=""):
        """Metric 2: spawn -> first COM1 byte of the tiny guest, and -> VMM exit."""
        ids = [prefix + "tiny_first_out", prefix + "tiny_exit"]
        opts = ["--marker", "out:" + TINY_OUT[:5], "--expect-out", TINY_OUT,
                "--expect-exit", "1"]
        r = self.probe(ids, vmm, rep, opts, self.tiny_argv(vmm), 60)
        if not r:
            return
        inst = r[0]["instances"][0]
        self.sample(ids[0], vmm, rep, inst["first_out_ms"], inst)
        self.sample(ids[1], vmm, rep, inst["exit_ms"], inst)
        note(f"rep {rep} {vmm} tiny guest{' (host)' if prefix else ''}: first byte at "
             f"{inst['first_out_ms']:.1f} ms, exit at {inst['exit_ms']:.1f} ms")

    def memory(self, vmm, rep):
        """Metric 3: smaps 1 s after the marker, the guest sleeping 3 s in its init."""
        ids = ["mem_overhead", "mem_rss", "kvm_exits", "kvm_io_exits"]
        opts = ["--marker", self.marker(vmm), "--expect-out", INIT_OUT,
                "--expect-exit", str(self.poweroff_status(vmm)),
                "--sample-ms", str(SAMPLE_MS), "--guest-mb", str(BOOT_MEM_MB)]
        argv = self.linux_argv(vmm, 1, BOOT_MEM_MB, self.a.initrd_hold, "bench-mem")
        r = self.probe(ids, vmm, rep, opts, argv, 300)
        if not r:
            return
        inst = r[0]["instances"][0]
        self.sample("mem_overhead", vmm, rep, inst["overhead_kb"], inst)
        self.sample("mem_rss", vmm, rep, inst["rss_kb"], inst)
        kvm = inst.get("kvm") or {}
        if self.a.kvm_stats:
            self.sample("kvm_exits", vmm, rep, kvm.get("exits"), kvm)
            self.sample("kvm_io_exits", vmm, rep, kvm.get("io_exits"), kvm)
        note(f"rep {rep} {vmm}: overhead {inst['overhead_kb']:.0f} kB, "
             f"RSS {inst['rss_kb']:.0f} kB, KVM exits {kvm.get('exits', '?')}")

    def many(self, vmm, rep):
        """Metric 4: 10 guests (1 vCPU, 128 MiB) one after another, then 10 at once."""
        argv = self.linux_argv(vmm, 1, MANY_MEM_MB, self.a.initrd_poweroff, "bench-seq-{i}")
        opts = ["-n", str(MANY_N), "--marker", self.marker(vmm), "--expect-out", INIT_OUT,
                "--expect-exit", str(self.poweroff_status(vmm))]
        r = self.probe(["many_seq"], vmm, rep, opts, argv, 1200)
        if r:
            self.sample("many_seq", vmm, rep, r[0]["all_exit_ms"], r[0])
            note(f"rep {rep} {vmm}: {MANY_N} one after another in "
                 f"{r[0]['all_exit_ms']:.0f} ms")
        # all at once: init sleeps (bench_hold), sampled 1 s after the last marker, then killed
        ids = ["many_par_init", "many_par_rss", "many_par_overhead"]
        argv = self.linux_argv(vmm, 1, MANY_MEM_MB, self.a.initrd_hold, "bench-par-{i}",
                               CMDLINE + " bench_hold=3600")
        opts = ["-n", str(MANY_N), "--parallel", "--marker", self.marker(vmm),
                "--expect-out", INIT_OUT, "--sample-ms", str(SAMPLE_MS),
                "--guest-mb", str(MANY_MEM_MB), "--kill"]
        r = self.probe(ids, vmm, rep, opts, argv, 1200)
        if r:
            res = r[0]
            self.sample("many_par_init", vmm, rep, res["all_marker_ms"], res)
            self.sample("many_par_rss", vmm, rep, res["sum_rss_kb"], res)
            self.sample("many_par_overhead", vmm, rep, res["sum_overhead_kb"], res)
            note(f"rep {rep} {vmm}: {MANY_N} at once: all at init after "
                 f"{res['all_marker_ms']:.0f} ms, total RSS {res['sum_rss_kb']:.0f} kB")

    # --- hooks: device benchmarks ----------------------------------------------------------
    # kbhyve has no virtio devices yet. When virtio-blk and virtio-net exist, add their
    # benchmarks here, each a method like boot() that runs both VMMs with the same guest:
    #   blk: sequential read/write MB/s and 4k random IOPS on a raw image through
    #        virtio-blk (kbhyve -s N,virtio-blk,IMG; QEMU -drive if=virtio,format=raw,...),
    #        measured in the guest (dd/fio in the L2 initrd), with a metric per direction.
    #   net: host<->guest throughput and latency over a tap (kbhyve -s N,virtio-net,tapX;
    #        QEMU -netdev tap,... -device virtio-net-pci), e.g. iperf3 and ping in the guest.
    # List them in DEVICE_BENCHMARKS (and their ids in METRICS) to have them run every rep.
    DEVICE_BENCHMARKS = []

    # --------------------------------------------------------------------------------------

    def run(self):
        a = self.a
        for rep in range(1, a.reps + 1):
            order = [KB, QEMU] if rep % 2 else [QEMU, KB]   # alternate who goes first
            for vmm in order:
                self.tiny(vmm, rep, a.tiny_prefix)
            if a.only_tiny:
                continue
            for cpus in (1, 2):
                for vmm in order:
                    self.boot(vmm, rep, cpus)
            for vmm in order:
                self.memory(vmm, rep)
            for bench in self.DEVICE_BENCHMARKS:
                for vmm in order:
                    bench(self, vmm, rep)
        if not a.only_tiny:
            for rep in range(1, a.many_reps + 1):
                order = [KB, QEMU] if rep % 2 else [QEMU, KB]
                for vmm in order:
                    self.many(vmm, rep)
        return 1 if self.errors else 0


def first_line(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return None


def machine_info(a):
    cpu = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"where": "L1 (nested test bed)" if a.testbed else "host",
            "kernel": platform.release(), "cpu_model": cpu, "cpus": os.cpu_count(),
            "mem_kb": mem_kb, "qemu_version": first_line([a.qemu, "--version"]),
            "kvm_stats": a.kvm_stats}


def kvm_stats_available(testbed):
    """KVM's per-VM debugfs statistics (for the exit counts). Debugfs is mounted only in L1
    (a throw-away system); on a host it is used when it is already there."""
    d = "/sys/kernel/debug/kvm"
    if testbed and not os.path.isdir(d):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"],
                       capture_output=True)
    return os.path.isdir(d)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, required=True)
    p.add_argument("--many-reps", type=int, required=True)
    p.add_argument("--probe", required=True)
    p.add_argument("--bhyve", required=True)
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--vmlinux")
    p.add_argument("--initrd-poweroff")
    p.add_argument("--initrd-hold")
    p.add_argument("--tiny", required=True)
    p.add_argument("--tiny-rom", required=True)
    p.add_argument("--testbed", action="store_true", help="running in L1: hide XSAVE from L2")
    p.add_argument("--only-tiny", action="store_true",
                   help="only the tiny-guest metric (run on a host whose KVM only emulates)")
    p.add_argument("--tiny-prefix", default="", help="metric id prefix for --only-tiny")
    a = p.parse_args()
    if not a.only_tiny and not (a.vmlinux and a.initrd_poweroff and a.initrd_hold):
        p.error("--vmlinux, --initrd-poweroff and --initrd-hold are needed")
    for path in [a.probe, a.bhyve, a.tiny, a.tiny_rom] + (
            [] if a.only_tiny else [a.vmlinux, a.initrd_poweroff, a.initrd_hold]):
        if not os.path.exists(path):
            print(f"suite.py: missing {path}", file=sys.stderr)
            return 1
    a.kvm_stats = False if a.only_tiny else kvm_stats_available(a.testbed)
    emit("BENCH-META", {"metrics": [{"id": i, "label": l, "unit": u} for i, l, u in METRICS]})
    emit("BENCH-INFO", machine_info(a))
    t0 = time.monotonic()
    rc = Suite(a).run()
    note(f"suite done in {time.monotonic() - t0:.0f} s" + (" with errors" if rc else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
