#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
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

import cloud
import display
import bootprofile as boot_profile
import migrate
import snapshot
import storage
import vmlist

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
    # QEMU's minimal machine (no PCI, no firmware), the other yardstick: QEMU only
    ("microvm_init_1", "QEMU -M microvm: boot to guest init, 1 vCPU", "ms"),
    ("microvm_init_2", "QEMU -M microvm: boot to guest init, 2 vCPUs", "ms"),
    ("fw_boot_init", "Firmware boot to guest init: OVMF + systemd-boot + kernel, 1 vCPU "
     "(spawn -> port-0x80 marker)", "ms"),
    ("fw_boot_exit", "Firmware boot + poweroff, 1 vCPU (spawn -> VMM exit)", "ms"),
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
    ("many_par_pss_overhead", "10 guests running at once: total PSS - guest RAM (shared pages split)", "kB"),
    # device metrics (devices() below): throughput and IOPS, higher is better
    ("blk_seq_write", "virtio-blk sequential write, 1 MiB O_DIRECT, QD1", "MB/s", "higher"),
    ("blk_seq_read", "virtio-blk sequential read, 1 MiB O_DIRECT, QD1", "MB/s", "higher"),
    ("blk_rand_read", "virtio-blk 4 KiB random read, O_DIRECT, QD1", "IOPS", "higher"),
    ("net_g2h", "virtio-net TCP guest -> host over a tap", "MB/s", "higher"),
    ("net_h2g", "virtio-net TCP host -> guest over a tap", "MB/s", "higher"),
    # diagnostics of the device metrics: KVM exits of the VM during each phase
    ("blk_seq_write_exits", "KVM exits per MiB, sequential write (diagnostic)", "count"),
    ("blk_seq_read_exits", "KVM exits per MiB, sequential read (diagnostic)", "count"),
    ("blk_rand_read_exits", "KVM exits per 4 KiB random read (diagnostic)", "count"),
    ("net_g2h_exits", "KVM exits per MiB, TCP guest -> host (diagnostic)", "count"),
    ("net_h2g_exits", "KVM exits per MiB, TCP host -> guest (diagnostic)", "count"),
    # ... and the CPU time the VMM process spent outside the guest (its threads' user + system
    # time minus guest time; the VMM's share of the machine's CPU, which in L1 is one vCPU)
    ("blk_seq_write_cpu", "VMM CPU outside the guest per MiB, seq write (diagnostic)", "ms"),
    ("blk_seq_read_cpu", "VMM CPU outside the guest per MiB, seq read (diagnostic)", "ms"),
    ("blk_rand_read_cpu", "VMM CPU outside the guest per 1000 random reads (diagnostic)", "ms"),
    ("net_g2h_cpu", "VMM CPU outside the guest per MiB, TCP guest -> host (diagnostic)", "ms"),
    ("net_h2g_cpu", "VMM CPU outside the guest per MiB, TCP host -> guest (diagnostic)", "ms"),
]

# The other disk and NIC models, measured as virtio-blk and virtio-net are (issue 10): metric
# prefix -> (name in the table, guest device / kbhyve -s emulation)
DISK_MODELS = {"ahci": "AHCI disk (ahci-hd; QEMU ahci + ide-hd)", "nvme": "NVMe (nvme; QEMU nvme)"}
NIC_MODELS = {"e1000": "e1000 (82545EM; QEMU e1000)"}
for _p, _n in DISK_MODELS.items():
    METRICS += [
        (f"{_p}_seq_write", f"{_n} sequential write, 1 MiB O_DIRECT, QD1", "MB/s", "higher"),
        (f"{_p}_seq_read", f"{_n} sequential read, 1 MiB O_DIRECT, QD1", "MB/s", "higher"),
        (f"{_p}_rand_read", f"{_n} 4 KiB random read, O_DIRECT, QD1", "IOPS", "higher"),
        (f"{_p}_seq_write_exits", f"KVM exits per MiB, {_p} sequential write (diagnostic)", "count"),
        (f"{_p}_seq_read_exits", f"KVM exits per MiB, {_p} sequential read (diagnostic)", "count"),
        (f"{_p}_rand_read_exits", f"KVM exits per 4 KiB {_p} random read (diagnostic)", "count"),
        (f"{_p}_seq_write_cpu", f"VMM CPU outside the guest per MiB, {_p} seq write (diagnostic)", "ms"),
        (f"{_p}_seq_read_cpu", f"VMM CPU outside the guest per MiB, {_p} seq read (diagnostic)", "ms"),
        (f"{_p}_rand_read_cpu",
         f"VMM CPU outside the guest per 1000 {_p} random reads (diagnostic)", "ms")]
for _p, _n in NIC_MODELS.items():
    METRICS += [
        (f"{_p}_g2h", f"{_n} TCP guest -> host over a tap", "MB/s", "higher"),
        (f"{_p}_h2g", f"{_n} TCP host -> guest over a tap", "MB/s", "higher"),
        (f"{_p}_g2h_exits", f"KVM exits per MiB, {_p} TCP guest -> host (diagnostic)", "count"),
        (f"{_p}_h2g_exits", f"KVM exits per MiB, {_p} TCP host -> guest (diagnostic)", "count"),
        (f"{_p}_g2h_cpu", f"VMM CPU outside the guest per MiB, {_p} TCP guest -> host (diagnostic)",
         "ms"),
        (f"{_p}_h2g_cpu", f"VMM CPU outside the guest per MiB, {_p} TCP host -> guest (diagnostic)",
         "ms")]

# the display benchmark (display.py): fbuf's VNC server against QEMU's bochs-display and VNC
METRICS += display.METRICS
# the boot profile (bootprofile.py): perf kvm stat around a boot, and the guest's initcalls
METRICS += boot_profile.METRICS
# vm list at scale (vmlist.py), kbhyve only
METRICS += vmlist.METRICS
# vm snapshot and clone per file system (storage.py), kbhyve only, on the build host
METRICS += storage.METRICS
# a Debian cloud image to an ssh login (cloud.py)
METRICS += cloud.METRICS
# checkpoint, suspend and restore of a running guest (snapshot.py)
METRICS += snapshot.METRICS
# live migration of a running guest between two VMMs in one host (migrate.py)
METRICS += migrate.METRICS

# Metric groups for --only (bench/run.sh --only blk,net)
GROUPS = ("tiny", "boot", "mem", "many", "blk", "net", "fw") + tuple(DISK_MODELS) + tuple(
    NIC_MODELS) + ("vnc", "profile", "vmlist", "storage", "cloud", "snapshot", "migrate")
# the guest's name for the disk of each model
GUEST_DISK = {"virtio": "vda", "ahci": "sda", "nvme": "nvme0n1"}

CMDLINE = "console=ttyS0 quiet"
KB_MARKER = "err:debug port 0x80: 0x1 at"     # bhyve -o x86.debugport.log=true, on stderr
QEMU_MARKER = "fd3:\\x01"                     # isa-debugcon on port 0x80 -> fd 3, byte 0x01
INIT_OUT = "bench: init ran"                  # printed by the L2 scripts (l2-*.sh)
TINY_OUT = "hello from a tiny guest"          # printed by tests/guests/hello.S
BOOT_MEM_MB = 256
MANY_MEM_MB = 128
MANY_N = 10
SAMPLE_MS = 1000                              # memory sample: marker + 1 s
# Device benchmarks (devices()): 1 vCPU, 256 MiB; a raw image in L1 (or the host), written in
# full (preallocated) before each VM; a tap with L1's end at 169.254.100.1.
FW_MEM_MB = 512        # firmware boot (fw()): OVMF wants more than the direct boots
DEV_MEM_MB = 256
DEV_IMG_MB = 1024      # image size: the random reads cover all of it
DEV_SEQ_MB = 1024      # sequential write, then read, of up to this much...
DEV_SEQ_S = 10         # ...or this many seconds of writing, whichever comes first
DEV_RAND_S = 5         # seconds of 4 KiB random reads
DEV_NET_MB = 32        # MiB each way (10-65 MB/s in the test bed: 0.5-3 s)
DEV_TAP = "kbbtap0"
DEV_HOST_IP = "169.254.100.1"
DEV_PORT = 5201
DEV_MAC = "58:9c:fc:00:be:01"   # the same guest MAC for both VMMs


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
        self.tap_ready = False
        self.diag_ids = []
        self.display = display.DisplayBench(self)
        self.profile = boot_profile.ProfileBench(self)
        self.vmlist = vmlist.VmListBench(self)
        self.storage = storage.StorageBench(self)
        self.cloud = cloud.CloudBench(self)
        self.snapshot = snapshot.SnapshotBench(self)
        self.migrate = migrate.MigrateBench(self)

    # --- command lines -------------------------------------------------------------------

    def kb_head(self):
        """bhyve and the -o options every kbhyve run gets (--bhyve-opt, e.g. sandbox=off)."""
        head = [self.a.bhyve]
        for opt in self.a.bhyve_opt:
            head += ["-o", opt]
        return head

    def linux_argv(self, vmm, cpus, mem_mb, initrd, name, cmdline=CMDLINE, devices=None):
        """devices: (image path, tap name, disk model, NIC model) for the device benchmarks:
        a disk (model "virtio": virtio-blk; "ahci": a SATA disk on an AHCI controller; "nvme")
        and a NIC on the tap ("virtio": virtio-net; "e1000"), each VMM with its default
        settings for them (see bench/README.md)."""
        a = self.a
        if vmm == KB:
            argv = self.kb_head() + ["-c", str(cpus), "-m", f"{mem_mb}M", "-s", "0,hostbridge",
                    "-s", "31,lpc", "-l", "com1,stdio", "-o", f"boot.kernel={a.vmlinux}",
                    "-o", f"boot.initrd={initrd}", "-o", f"boot.cmdline={cmdline}",
                    "-o", "x86.debugport.log=true"]
            if a.testbed:
                argv += ["-o", "x86.cpuid.disable=xsave"]  # TCG's SVM: XSETBV not intercepted
            if devices:
                img, tap, disk, nic = devices
                # blockif default: the page cache (no nocache), io_uring (workers without it)
                disk = {"ahci": "ahci-hd", "nvme": "nvme"}.get(disk, "virtio-blk")
                nic = "e1000" if nic == "e1000" else "virtio-net"
                argv += ["-s", f"3,{disk},{img}", "-s", f"4,{nic},{tap},mac={DEV_MAC}"]
            return argv + [name]
        cpu = "host,-xsave" if a.testbed else "host"
        return [a.qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", str(mem_mb),
                "-smp", str(cpus), "-nographic", "-no-reboot", "-nic", "none", "-nodefaults",
                "-serial", "stdio", "-kernel", a.vmlinux, "-initrd", initrd,
                "-append", cmdline,
                # the marker: port 0x80 writes go to fd 3 (vmmprobe's pipe)
                "-chardev", "file,id=port80,path=/proc/self/fd/3",
                "-device", "isa-debugcon,iobase=0x80,chardev=port80"] + (
                    self.qemu_devices(*devices) if devices else [])

    @staticmethod
    def qemu_devices(img, tap, disk, nic):
        # what kbhyve's blockif does by default: the host's page cache (QEMU's default
        # cache=writeback; kbhyve without nocache) and io_uring (kbhyve's engine when the
        # kernel has it; QEMU's default would be aio=threads); vhost off (QEMU's default
        # without vhost=on; kbhyve has no vhost). AHCI: QEMU's ICH9 AHCI with an ide-hd on
        # port 0, the equivalent of ahci-hd; NVMe: QEMU's nvme (its default queues); e1000:
        # QEMU's e1000 (82540EM; kbhyve's is the 82545EM: the same driver and features).
        disk = {"ahci": ["-device", "ahci,id=ahci0,addr=3", "-device",
                         "ide-hd,drive=d0,bus=ahci0.0"],
                "nvme": ["-device", "nvme,drive=d0,serial=kbbench,addr=3"]}.get(
                    disk, ["-device", "virtio-blk-pci,drive=d0,addr=3"])
        nic = "e1000" if nic == "e1000" else "virtio-net-pci"
        return ["-drive", f"if=none,id=d0,file={img},format=raw,cache=writeback,aio=io_uring"
                ] + disk + [
                "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no,vhost=off",
                "-device", f"{nic},netdev=n0,mac={DEV_MAC},addr=4"]

    def tiny_argv(self, vmm):
        a = self.a
        if vmm == KB:
            return self.kb_head() + ["-c", "1", "-m", f"{BOOT_MEM_MB}M", "-s", "0,hostbridge",
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

    def microvm(self, rep, cpus):
        """QEMU's microvm machine on the same kernel, initrd and marker as boot(): spawn ->
        init marker (the row the issue compares kbhyve with, beside -M pc)."""
        a = self.a
        cpu = "host,-xsave" if a.testbed else "host"
        # rtc=on: without the CMOS clock this kernel's rtc_cmos probe waits ~6 s in the test bed
        argv = [a.qemu, "-M", "microvm,rtc=on", "-accel", "kvm", "-cpu", cpu, "-m", str(BOOT_MEM_MB),
                "-smp", str(cpus), "-nographic", "-no-reboot", "-nodefaults", "-no-user-config",
                "-serial", "stdio", "-kernel", a.vmlinux, "-initrd", a.initrd_poweroff,
                "-append", CMDLINE,
                "-chardev", "file,id=port80,path=/proc/self/fd/3",
                "-device", "isa-debugcon,iobase=0x80,chardev=port80"]
        opts = ["--marker", QEMU_MARKER, "--expect-out", INIT_OUT, "--expect-exit", "0"]
        r = self.probe([f"microvm_init_{cpus}"], QEMU, rep, opts, argv, 300)
        if not r:
            return
        inst = r[0]["instances"][0]
        self.sample(f"microvm_init_{cpus}", QEMU, rep, inst["marker_ms"], inst)
        note(f"rep {rep} qemu microvm {cpus} vCPU: init at {inst['marker_ms']:.0f} ms")

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

    def fw(self, vmm, rep):
        """Firmware boot: Debian's OVMF (CODE read-only, a fresh copy of the VARS template as
        writable flash for each run), systemd-boot from a GPT disk's EFI system partition on
        virtio-blk, the same kernel (bzImage, EFI stub) and initrd as the direct boots."""
        a = self.a
        ids = ["fw_boot_init", "fw_boot_exit"]
        vars_copy = os.path.join(self.tmp, f"vars-{vmm}-{rep}.fd")
        with open(a.ovmf_vars, "rb") as src, open(vars_copy, "wb") as dst:
            dst.write(src.read())
        if vmm == KB:
            argv = self.kb_head() + ["-c", "1", "-m", f"{FW_MEM_MB}M", "-s", "0,hostbridge",
                    "-s", "31,lpc", "-l", "com1,stdio", "-s", f"4,virtio-blk,{a.fw_disk},ro",
                    "-l", f"bootrom,{a.ovmf_code},{vars_copy},fwcfg=qemu",
                    "-o", "x86.debugport.log=true"]
            if a.testbed:
                argv += ["-o", "x86.cpuid.disable=xsave"]
            argv.append("bench-fw")
        else:
            cpu = "host,-xsave" if a.testbed else "host"
            argv = [a.qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", str(FW_MEM_MB),
                    "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-nodefaults",
                    "-serial", "stdio",
                    "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={a.ovmf_code}",
                    "-drive", f"if=pflash,format=raw,unit=1,file={vars_copy}",
                    "-drive", f"if=none,id=d0,file={a.fw_disk},format=raw,readonly=on",
                    "-device", "virtio-blk-pci,drive=d0,addr=4",
                    "-chardev", "file,id=port80,path=/proc/self/fd/3",
                    "-device", "isa-debugcon,iobase=0x80,chardev=port80"]
        opts = ["--marker", self.marker(vmm), "--expect-out", INIT_OUT,
                "--expect-exit", str(self.poweroff_status(vmm))]
        r = self.probe(ids, vmm, rep, opts, argv, 900)
        os.unlink(vars_copy)
        if not r:
            return
        inst = r[0]["instances"][0]
        self.sample(ids[0], vmm, rep, inst["marker_ms"], inst)
        self.sample(ids[1], vmm, rep, inst["exit_ms"], inst)
        note(f"rep {rep} {vmm} firmware boot: init at {inst['marker_ms']:.0f} ms, "
             f"exit at {inst['exit_ms']:.0f} ms")

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
        ids = ["many_par_init", "many_par_rss", "many_par_overhead", "many_par_pss_overhead"]
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
            # what the 10 cost together beside their guests: a page of a library or of the
            # binary that all of them map counts once, split between them (the guest RAM
            # mapping is private: its PSS is its RSS)
            guests = [i["guest_rss_kb"] for i in res["instances"]]
            pss = res["sum_pss_kb"]
            ok = pss >= 0 and guests and min(guests) >= 0
            self.sample("many_par_pss_overhead", vmm, rep, pss - sum(guests) if ok else None, res)
            note(f"rep {rep} {vmm}: {MANY_N} at once: all at init after "
                 f"{res['all_marker_ms']:.0f} ms, total RSS {res['sum_rss_kb']:.0f} kB")

    # --- device benchmarks: virtio-blk and virtio-net -------------------------------------

    def setup_tap(self):
        """The tap both VMMs use, L1's end at DEV_HOST_IP (needs CAP_NET_ADMIN: root in L1).
        Returns an error message or None."""
        if self.tap_ready:
            return None
        subprocess.run(["ip", "link", "del", DEV_TAP], capture_output=True)
        for cmd in (["ip", "tuntap", "add", DEV_TAP, "mode", "tap"],
                    ["ip", "addr", "add", f"{DEV_HOST_IP}/24", "dev", DEV_TAP],
                    ["ip", "link", "set", DEV_TAP, "up"]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                return f"cannot set up the tap ({' '.join(cmd)}): {r.stderr.strip()}"
        self.tap_ready = True
        return None

    def teardown_tap(self):
        if self.tap_ready:
            subprocess.run(["ip", "link", "del", DEV_TAP], capture_output=True)
            self.tap_ready = False
        self.diag_ids = []

    @staticmethod
    def drop_caches():
        """The page cache of the machine the VMMs run on (root only)."""
        os.sync()
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            return True
        except OSError:
            return False

    def make_image(self, path):
        """A raw image of DEV_IMG_MB MiB, every block written (no holes)."""
        chunk = b"\0" * (1 << 20)
        with open(path, "wb") as f:
            for _ in range(DEV_IMG_MB):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())

    @staticmethod
    def kbb_values(text):
        vals = {}
        for line in text.splitlines():
            m = re.match(r"KBB ([a-z0-9_]+)=(.*)", line.strip())
            if m:
                vals.setdefault(m.group(1), m.group(2).strip())
        return vals

    def phase_diag(self, metric, vmm, rep, before, after, amount, cpu_scale=1.0):
        """Diagnostics of one phase from two snapshots of kbbench serve (KVM counters and
        the VMM's CPU ticks): exits per unit of amount, VMM CPU ms per unit * cpu_scale."""
        for suffix in ("_exits", "_cpu"):
            m = metric + suffix
            if m not in self.diag_ids:
                continue
            if not before or not after or amount <= 0:
                self.error(m, vmm, rep, "no KVM counters around the phase")
                continue
            if suffix == "_exits":
                if "exits" not in before or "exits" not in after:
                    self.error(m, vmm, rep, "no exit counter")
                    continue
                self.sample(m, vmm, rep, (after["exits"] - before["exits"]) / amount)
                continue
            keys = ("vmm_utime_ticks", "vmm_stime_ticks", "vmm_guest_ticks", "ticks_per_s")
            if not all(k in before and k in after for k in keys):
                self.error(m, vmm, rep, "no CPU time of the VMM process")
                continue
            d = {k: after[k] - before[k] for k in keys[:3]}
            ms = (d["vmm_utime_ticks"] + d["vmm_stime_ticks"] - d["vmm_guest_ticks"]) \
                * 1000.0 / after["ticks_per_s"]
            self.sample(m, vmm, rep, ms / amount * cpu_scale, d)

    def devices(self, vmm, rep, disk="virtio", nic="virtio", measure_disk=True, measure_net=True):
        """Metrics 5 and 6: one guest (1 vCPU, 256 MiB) with a virtio-blk disk (raw image)
        and a virtio-net NIC (tap); the guest runs kbbench disk, then kbbench client against
        a kbbench serve here. Disk numbers are timed in the guest, network numbers here.
        disk "ahci"/"nvme" and nic "e1000": the same on those models (their own metric ids);
        measure_disk/measure_net: which phases this guest runs."""
        a = self.a
        pre = "blk" if disk == "virtio" else disk
        npre = "net" if nic == "virtio" else nic
        blk = ([f"{pre}_seq_write", f"{pre}_seq_read", f"{pre}_rand_read"]
               if measure_disk and pre in a.only else [])
        net = [f"{npre}_g2h", f"{npre}_h2g"] if measure_net and npre in a.only else []
        diag = [m + sfx for m in blk + net for sfx in ("_exits", "_cpu")] if a.kvm_stats else []
        self.diag_ids = diag
        ids = [m for m in blk + net + diag if (m, vmm) not in self.failed]
        if not ids:
            return
        why = self.setup_tap()
        if why:
            for m in ids:
                self.error(m, vmm, rep, why)
            return
        img = os.path.join(self.tmp, "disk.img")
        self.make_image(img)
        dropped = self.drop_caches()
        cmdline = (f"{CMDLINE} bench_seq_mb={DEV_SEQ_MB if blk else 0} bench_seq_s={DEV_SEQ_S} "
                   f"bench_rand_s={DEV_RAND_S} bench_net_mb={DEV_NET_MB if net else 0} "
                   f"bench_port={DEV_PORT} bench_disk={GUEST_DISK[disk]}")
        argv = self.linux_argv(vmm, 1, DEV_MEM_MB, a.initrd_devices, "bench-dev", cmdline,
                               (img, DEV_TAP, disk, nic))
        subprocess.run(["ip", "neigh", "flush", "dev", DEV_TAP], capture_output=True)
        server = subprocess.Popen([a.kbbench, "serve", str(DEV_PORT), "900"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        first = server.stdout.readline()
        if '"listening"' not in first:
            server.kill()
            rest = server.communicate()[0]
            for m in ids:
                self.error(m, vmm, rep, f"kbbench serve did not start: {first.strip()}",
                           rest[-2000:])
            return
        opts = ["--marker", self.marker(vmm), "--expect-out", "KBB done=1",
                "--expect-exit", str(self.poweroff_status(vmm))]
        r = self.probe(ids, vmm, rep, opts, argv, 900)
        try:
            srv_out = server.communicate(timeout=5 if r else 0.1)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            srv_out = server.communicate()[0]
        os.unlink(img)
        if not r:
            return
        res, logdir = r
        inst = res["instances"][0]
        with open(os.path.join(logdir, "1.out"), errors="replace") as f:
            console = f.read()
        g = self.kbb_values(console)
        events = []
        srv_err = None
        for line in srv_out.splitlines():
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    srv_err = f"kbbench serve printed bad JSON: {line[:200]}"
            elif line.startswith("KBB error="):
                srv_err = "kbbench serve: " + line[len("KBB error="):]
        marks = {e["label"]: e for e in events if e.get("event") == "mark"}
        raw = {"guest": g, "server": events, "caches_dropped": dropped,
               "irq": [ln[len("KBB irq="):] for ln in console.splitlines()
                       if ln.startswith("KBB irq=")],
               "marker_ms": inst.get("marker_ms"), "exit_ms": inst.get("exit_ms")}
        if "error" in g:
            raw["guest_error"] = g["error"]
        # virtio-blk: the guest's own timing (CLOCK_MONOTONIC in L2)
        per = {f"{pre}_seq_write": ("seq_write_mbs", "seq_write_bytes", 1 << 20),
               f"{pre}_seq_read": ("seq_read_mbs", "seq_read_bytes", 1 << 20),
               f"{pre}_rand_read": ("rand_read_iops", "rand_read_ops", None)}
        for m in blk:
            key, amount_key, unit_bytes = per[m]
            if key not in g:
                self.error(m, vmm, rep, "the guest printed no " + key +
                           (f" (guest: {g['error']})" if "error" in g else
                            f" (disk_status={g.get('disk_status', '?')})"))
                for d in (m + "_exits", m + "_cpu"):
                    if d in diag:
                        self.error(d, vmm, rep, "no " + key)
                continue
            self.sample(m, vmm, rep, float(g[key]), raw if m == blk[0] else None)
            phase = m[len(pre) + 1:]
            amount = float(g.get(amount_key, 0))
            if unit_bytes:
                amount /= unit_bytes
            self.phase_diag(m, vmm, rep, (marks.get(phase + "-start") or {}).get("kvm"),
                            (marks.get(phase + "-end") or {}).get("kvm"), amount,
                            1.0 if unit_bytes else 1000.0)
        # virtio-net: timed by kbbench serve here (host clock)
        for m in net:
            ev = next((e for e in events if e.get("event") == m[len(npre) + 1:]), None)
            if not ev:
                self.error(m, vmm, rep, srv_err or "kbbench serve saw no " + m[len(npre) + 1:] +
                           f" transfer (guest: {g.get('error', 'net_status=' + g.get('net_status', '?'))})")
                for d in (m + "_exits", m + "_cpu"):
                    if d in diag:
                        self.error(d, vmm, rep, "no transfer")
                continue
            self.sample(m, vmm, rep, ev["mbs"], raw if not blk and m == net[0] else ev)
            self.phase_diag(m, vmm, rep, ev.get("kvm_before"), ev.get("kvm_after"),
                            ev["bytes"] / (1 << 20))
        note(f"rep {rep} {vmm} devices: " + ", ".join(
            f"{k}={g[k]}" for k in ("seq_write_mbs", "seq_read_mbs", "rand_read_iops",
                                   "net_g2h_guest_mbs", "net_h2g_guest_mbs") if k in g) +
             "; host-timed net: " + ", ".join(f"{e['event']}={e['mbs']} MB/s" for e in events
                                              if e.get("event") in ("g2h", "h2g")) +
             "; io_uring fds of the VMM: " + str(next(
                 (e["kvm"].get("vmm_io_uring_fds") for e in events
                  if e.get("event") == "mark" and e.get("kvm")), "?")))

    # --------------------------------------------------------------------------------------

    def run(self):
        a = self.a
        try:
            for rep in range(1, a.reps + 1):
                order = [KB, QEMU] if rep % 2 else [QEMU, KB]   # alternate who goes first
                if "tiny" in a.only:
                    for vmm in order:
                        self.tiny(vmm, rep, a.tiny_prefix)
                if "vmlist" in a.only:
                    self.vmlist.run(rep)
                if "storage" in a.only and not a.testbed:   # the build host's file systems
                    self.storage.run(rep)
                if a.only_tiny:
                    continue
                if "boot" in a.only:
                    for cpus in (1, 2):
                        for vmm in order:
                            self.boot(vmm, rep, cpus)
                        self.microvm(rep, cpus)
                if "mem" in a.only:
                    for vmm in order:
                        self.memory(vmm, rep)
                if "fw" in a.only:
                    for vmm in order:
                        self.fw(vmm, rep)
                if "blk" in a.only or "net" in a.only:
                    for vmm in order:
                        self.devices(vmm, rep)
                for disk in DISK_MODELS:
                    if disk in a.only:
                        for vmm in order:
                            self.devices(vmm, rep, disk=disk, measure_net=False)
                for nic in NIC_MODELS:
                    if nic in a.only:
                        for vmm in order:
                            self.devices(vmm, rep, nic=nic, measure_disk=False)
                if "vnc" in a.only:
                    for vmm in order:
                        self.display.run(vmm, rep)
                if "profile" in a.only:
                    for vmm in order:
                        self.profile.run(vmm, rep)
                if "cloud" in a.only:
                    for vmm in order:
                        self.cloud.run(vmm, rep)
                if "snapshot" in a.only:
                    for vmm in order:
                        self.snapshot.run(vmm, rep)
                if "migrate" in a.only:
                    for vmm in order:
                        self.migrate.run(vmm, rep)
            if not a.only_tiny and "many" in a.only:
                for rep in range(1, a.many_reps + 1):
                    order = [KB, QEMU] if rep % 2 else [QEMU, KB]
                    for vmm in order:
                        self.many(vmm, rep)
        finally:
            self.storage.close()
            self.cloud.close()
            self.snapshot.close()
            self.migrate.close()
            self.teardown_tap()
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
    p.add_argument("--bhyve-opt", action="append", default=[], metavar="VAR=VALUE",
                   help="a bhyve -o option for every kbhyve run (repeatable)")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--vmlinux")
    p.add_argument("--initrd-poweroff")
    p.add_argument("--initrd-hold")
    p.add_argument("--initrd-devices", help="L2 initrd of the device benchmarks")
    p.add_argument("--kbbench", help="bench/kbbench.c, built (the server side)")
    p.add_argument("--initrd-display", help="L2 initrd of the display benchmark (vnc)")
    p.add_argument("--only", default=",".join(GROUPS),
                   help="comma-separated metric groups: " + ",".join(GROUPS))
    p.add_argument("--fw-disk", help="GPT disk with systemd-boot, kernel and initrd (fw)")
    p.add_argument("--ovmf-code", help="OVMF's CODE image (fw)")
    p.add_argument("--ovmf-vars", help="OVMF's VARS template, copied for each run (fw)")
    p.add_argument("--tiny", required=True)
    p.add_argument("--tiny-idle", help="tests/guests/idle.S, built (vmlist)")
    p.add_argument("--vm", help="the vm manager, built (vmlist, storage, cloud)")
    p.add_argument("--cloud-image", help="tests/testbed/debian-image.sh's image (cloud)")
    p.add_argument("--initrd-rootfs", help="the root-switching L2 initrd, l2-rootfs.sh (cloud)")
    p.add_argument("--bhyvectl", help="bhyvectl, built (snapshot: --checkpoint, --suspend)")
    p.add_argument("--initrd-snaphold", help="the snapshot benchmark's L2 initrd, l2-snaphold.sh")
    p.add_argument("--initrd-migrate", help="the migration benchmark's L2 initrd, l2-migrate.sh")
    p.add_argument("--tiny-rom", required=True)
    p.add_argument("--testbed", action="store_true", help="running in L1: hide XSAVE from L2")
    p.add_argument("--only-tiny", action="store_true",
                   help="only the tiny-guest metrics, and vmlist's, of --only (run on a host "
                        "whose KVM only emulates)")
    p.add_argument("--tiny-prefix", default="", help="metric id prefix for --only-tiny")
    a = p.parse_args()
    a.only = set(x for x in a.only.split(",") if x)
    if not a.only or a.only - set(GROUPS):
        p.error(f"--only wants groups out of {','.join(GROUPS)}, not '{','.join(sorted(a.only))}'")
    if a.only_tiny:
        a.only &= {"tiny", "vmlist", "storage"}   # what runs on the build host beside the test bed
    dev = bool(a.only & ({"blk", "net"} | set(DISK_MODELS) | set(NIC_MODELS)))
    if not a.only_tiny and not (a.vmlinux and a.initrd_poweroff and a.initrd_hold):
        p.error("--vmlinux, --initrd-poweroff and --initrd-hold are needed")
    if dev and not (a.initrd_devices and a.kbbench):
        p.error("--initrd-devices and --kbbench are needed for blk and net")
    if "vnc" in a.only and not a.initrd_display:
        p.error("--initrd-display is needed for vnc")
    if "vmlist" in a.only and not (a.vm and a.tiny_idle):
        p.error("--vm and --tiny-idle are needed for vmlist")
    if "storage" in a.only and not a.vm:
        p.error("--vm is needed for storage")
    if "cloud" in a.only and not (a.vm and a.cloud_image and a.initrd_rootfs):
        p.error("--vm, --cloud-image and --initrd-rootfs are needed for cloud")
    if "snapshot" in a.only and not (a.bhyvectl and a.initrd_snaphold):
        p.error("--bhyvectl and --initrd-snaphold are needed for snapshot")
    if "migrate" in a.only and not (a.bhyvectl and a.initrd_migrate):
        p.error("--bhyvectl and --initrd-migrate are needed for migrate")
    fw = "fw" in a.only
    if fw and not (a.fw_disk and a.ovmf_code and a.ovmf_vars):
        p.error("--fw-disk, --ovmf-code and --ovmf-vars are needed for fw")
    for path in [a.probe, a.bhyve, a.tiny, a.tiny_rom] + (
            [] if a.only_tiny else [a.vmlinux, a.initrd_poweroff, a.initrd_hold]) + (
            [a.initrd_devices, a.kbbench] if dev else []) + (
            [a.fw_disk, a.ovmf_code, a.ovmf_vars] if fw else []) + (
            [a.vm, a.tiny_idle] if "vmlist" in a.only else []) + (
            [a.vm, a.cloud_image, a.initrd_rootfs] if "cloud" in a.only else []) + (
            [a.bhyvectl, a.initrd_snaphold] if "snapshot" in a.only else []) + (
            [a.bhyvectl, a.initrd_migrate] if "migrate" in a.only else []):
        if not os.path.exists(path):
            print(f"suite.py: missing {path}", file=sys.stderr)
            return 1
    a.kvm_stats = False if a.only_tiny else kvm_stats_available(a.testbed)
    emit("BENCH-META", {"metrics": [{"id": m[0], "label": m[1], "unit": m[2],
                                     "better": m[3] if len(m) > 3 else "lower"}
                                    for m in METRICS]})
    emit("BENCH-INFO", machine_info(a))
    t0 = time.monotonic()
    rc = Suite(a).run()
    note(f"suite done in {time.monotonic() - t0:.0f} s" + (" with errors" if rc else ""))
    return rc


if __name__ == "__main__":
    sys.exit(main())
