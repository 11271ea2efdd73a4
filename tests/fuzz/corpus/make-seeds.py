#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Writes the hand-made seed inputs under tests/fuzz/corpus/NAME/ (run from anywhere).

Each seed is a short, meaningful start for the fuzzer: a guest driver's usual sequence, a
typical command line, a minimal bzImage or PVH vmlinux. The encodings are the ones described at
the top of each tests/fuzz/fuzz_NAME.c."""
import hashlib
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- fuzz_pio: op byte = write | MMIO<<1 | size_index<<2 | targeted<<4 | (repeat-1)<<5 ----
SIZE_INDEX = {1: 0, 2: 1, 4: 2}


def pio_out(port, val, size=1, repeat=1):
    op = 1 | SIZE_INDEX[size] << 2 | (repeat - 1) << 5
    return bytes([op]) + struct.pack("<H", port) + val.to_bytes(size, "little")


def pio_in(port, size=1, repeat=1):
    op = SIZE_INDEX[size] << 2 | (repeat - 1) << 5
    return bytes([op]) + struct.pack("<H", port)


def mmio(addr, val=None, size=4):
    idx = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    op = 2 | idx << 2 | (1 if val is not None else 0)
    out = bytes([op]) + struct.pack("<Q", addr)
    return out + (val.to_bytes(size, "little") if val is not None else b"")


def uart_setup(base):
    return (pio_out(base + 3, 0x80) + pio_out(base + 0, 12) + pio_out(base + 1, 0) +
            pio_out(base + 3, 0x03) + pio_out(base + 2, 0xC7) + pio_out(base + 4, 0x0B) +
            pio_out(base + 1, 0x0F) + pio_in(base + 2) + pio_out(base, ord("A")) +
            pio_in(base + 5) + pio_in(base + 2) + pio_in(base + 6) + pio_in(base + 0))


write("fuzz_pio", "uart-com1", uart_setup(0x3F8))
write("fuzz_pio", "uart-com2-loopback",
      uart_setup(0x2F8) + pio_out(0x2FC, 0x1F) + pio_out(0x2F8, 0x55, repeat=8) +
      pio_in(0x2F8, repeat=4) + pio_in(0x2FD) + pio_in(0x2FA))
write("fuzz_pio", "rtc-read-time",
      b"".join(pio_out(0x70, r) + pio_in(0x71) for r in (0x0A, 0x0B, 0x00, 0x02, 0x04, 0x07,
                                                          0x08, 0x09, 0x32, 0x0C, 0x0D)) +
      pio_out(0x70, 0x0B) + pio_out(0x71, 0x42) + pio_out(0x70, 0x0C) + pio_in(0x71))
write("fuzz_pio", "pci-scan",
      pio_out(0xCF8, 0x80000000, 4) + pio_in(0xCFC, 4) + pio_out(0xCF8, 0x8000F800, 4) +
      pio_in(0xCFC, 4) + pio_in(0xCFE, 2) + pio_out(0xCF8, 0x8000F808, 4) + pio_in(0xCFF, 1) +
      pio_out(0xCF8, 0x8000F804, 4) + pio_out(0xCFC, 0x0007, 2) + pio_in(0xCF8, 4))
write("fuzz_pio", "i8042-and-pm",
      pio_out(0x64, 0xAA) + pio_in(0x64) + pio_in(0x60) + pio_out(0x64, 0x20) + pio_in(0x60) +
      pio_out(0x64, 0x60) + pio_out(0x60, 0x47) + pio_out(0x64, 0xD0) + pio_in(0x60) +
      pio_in(0x408, 4) + pio_out(0x400, 0x01000000, 4) + pio_in(0x400, 2) +
      pio_out(0x40C, 0xFFFF0000, 4) + pio_in(0x404, 2) + pio_out(0x404, 0x1401, 2) +
      pio_in(0x92) + pio_out(0x80, 0x42) + mmio(0xFEC00000) + mmio(0xC0000000, 1))
write("fuzz_pio", "resets",
      pio_out(0xCF9, 0x02) + pio_out(0x92, 0x03) + pio_out(0x64, 0xFE) +
      pio_out(0x404, 0x3401, 2) + pio_out(0xCF9, 0x06))

# ---- fuzz_pci_cfg ----
# op 0 cfg write: target, reg, size index (0:1 1:2 2:4), u32 value; op 1 cfg read: target, reg,
# size index; op 4 BAR sizing: target, BAR, u32; op 5 command: target, u16; op 6 BAR access:
# device/BAR byte, u16 offset (op bit 3 write, bits 4-5 size) [+ value]
TESTDEV = 1  # targets[1] = 0:3.0


def cfg_w(target, reg, size, val):
    return bytes([0, target, reg, SIZE_INDEX[size]]) + struct.pack("<I", val)


def cfg_r(target, reg, size):
    return bytes([1, target, reg, SIZE_INDEX[size]])


def bar_sizing(target, bar, val):
    return bytes([4, target, bar]) + struct.pack("<I", val)


def command(target, val):
    return bytes([5, target]) + struct.pack("<H", val)


def bar_access(dev, bar, off, size=4, val=None):
    idx = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    op = 6 | (8 if val is not None else 0) | idx << 4
    out = bytes([op, dev | bar << 2]) + struct.pack("<H", off)
    return out + (val.to_bytes(size, "little") if val is not None else b"")


write("fuzz_pci_cfg", "size-and-enable",
      bar_sizing(TESTDEV, 0, 0xD0000000) + bar_sizing(TESTDEV, 1, 0x3000) +
      bar_sizing(TESTDEV, 2, 0x40000000) + bar_sizing(TESTDEV, 3, 0x10) +
      command(TESTDEV, 0x0007) + bar_access(0, 0, 0x10) + bar_access(0, 1, 0, 1, 1) +
      bar_access(0, 2, 0x3FF8, 8) + bar_access(0, 1, 0, 1, 0))
write("fuzz_pci_cfg", "collide",
      command(1, 3) + command(2, 3) + command(3, 3) + cfg_w(2, 0x10, 4, 0xC0000000) +
      cfg_w(3, 0x14, 4, 0x2000) + cfg_r(1, 0x10, 4) + cfg_w(1, 0x10, 4, 0xC0001000) +
      cfg_w(2, 0x10, 4, 0xC0001000) + cfg_w(1, 0x04, 2, 0) + cfg_w(2, 0x18, 4, 0) +
      cfg_w(2, 0x1C, 4, 0))
write("fuzz_pci_cfg", "narrow-writes",
      command(1, 3) + cfg_w(1, 0x11, 1, 0x20) + cfg_w(1, 0x12, 2, 0xD000) +
      cfg_w(1, 0x15, 1, 0x40) + cfg_w(1, 0x1E, 2, 0xFFFF) + cfg_w(1, 0x0F, 4, 0xFFFFFFFF) +
      cfg_r(1, 0x13, 1) + cfg_r(0, 0x00, 4) + cfg_r(5, 0x00, 4) + cfg_r(7, 0x00, 4))
write("fuzz_pci_cfg", "raw-ports",
      bytes([2]) + struct.pack("<I", 0x80001810) + bytes([3 | 0x20 | 2 << 6]) +
      struct.pack("<I", 0xFFFFFFFF) + bytes([3 | 2 << 6]) +
      bytes([7, 0x01 | 2 << 2]) + struct.pack("<H", 0xCF8) + struct.pack("<I", 0x80001804) +
      bytes([3 | 0x20 | 1 << 6]) + struct.pack("<H", 3))

# ---- fuzz_uart: op low 2 bits 0 write, 1 read, 2 rx (count in bits 2-6), 3 idle ----


def uw(off, val):
    return bytes([0 | off << 2, val])


def ur(off):
    return bytes([1 | off << 2])


def rx(data):
    return bytes([2 | len(data) << 2]) + data


write("fuzz_uart", "init-fifo",
      uw(3, 0x80) + uw(0, 1) + uw(1, 0) + uw(3, 3) + uw(2, 0xC7) + uw(1, 0x0F) + ur(2) +
      rx(b"hello") + ur(2) + bytes([3]) + ur(2) + ur(5) + ur(0) + ur(0) + uw(0, 0x41) + ur(2))
write("fuzz_uart", "overrun-nofifo",
      uw(1, 0x05) + rx(b"abc") + ur(2) + ur(5) + ur(5) + ur(0) + ur(0) + uw(2, 0x01) +
      rx(b"0123456789abcdefXYZ") + ur(5) + uw(2, 0x03) + ur(5))
write("fuzz_uart", "loopback-modem",
      uw(4, 0x10) + uw(1, 0x0B) + uw(0, 0x5A) + ur(2) + ur(0) + uw(4, 0x1F) + ur(6) + ur(2) +
      uw(4, 0x10) + ur(6) + uw(7, 0xA5) + ur(7) + bytes([0x80 | 1, 9]))

# ---- fuzz_rtc: 4-byte start offset, flags, then ops (low 4 bits) ----


def rtc(ops, start=0, localtime=False):
    return struct.pack("<I", start) + bytes([1 if localtime else 0]) + ops


def rw(reg, val):
    return bytes([4, reg, val])


def rr(reg):
    return bytes([3, reg])


write("fuzz_rtc", "set-time",
      rtc(rw(0x0B, 0x82) + rw(0x00, 0x30) + rw(0x02, 0x15) + rw(0x04, 0x09) + rw(0x07, 0x31) +
          rw(0x08, 0x12) + rw(0x09, 0x99) + rw(0x32, 0x19) + rw(0x0B, 0x02) + bytes([8, 1]) +
          rr(0x00) + rr(0x09) + rr(0x32) + bytes([11])))
write("fuzz_rtc", "interrupts",
      rtc(rw(0x0A, 0x2F) + rw(0x0B, 0x72) + rw(0x01, 0xC0) + rw(0x03, 0xC0) + rw(0x05, 0xC0) +
          bytes([7, 0xF4, 0x01]) + bytes([10]) + rr(0x0C) + rr(0x0C) + bytes([8, 2]) + rr(0x0C) +
          rw(0x0A, 0x70) + rw(0x0A, 0x26) + bytes([6, 0x10, 0x27]) + rr(0x0A), start=86400))
write("fuzz_rtc", "ports-binary-12h",
      rtc(bytes([0, 0x0B, 1, 0x04]) + bytes([0, 0x04, 2]) + bytes([0, 0x0D, 2, 12]) +
          bytes([0, 0x8A, 2]) + bytes([9, 30]) + bytes([0, 0x0C, 2, 11]) + bytes([5, 0xFF, 0xFF]),
          start=12345, localtime=True))

# ---- fuzz_config: u16 file length, file, NUL-separated arguments ----


def config(text, args):
    data = text.encode()
    return struct.pack("<H", len(data)) + data + b"\0".join(a.encode() for a in args)


write("fuzz_config", "typical",
      config("# a vm\nmemory.size=1G\ncpus=2\npci.0.0.0.device=hostbridge\n",
             ["-c", "sockets=1,cores=2,threads=1", "-m", "512M", "-s", "0,hostbridge",
              "-s", "31,lpc", "-l", "com1,stdio", "-o", "console=%(name)", "-H", "-w", "vm0"]))
write("fuzz_config", "k-file",
      config("name=guest\nlpc.com1.path=unix=/tmp/x\n%s=1\nx.y=%%(name)-%%%%\n" % "a.b.c",
             ["-A", "-u", "-k", "@", "-p", "0:1", "-U", "01234567-89ab-cdef-0123-456789abcdef",
              "-s", "2:0,virtio-blk,/tmp/disk.img,ro", "-s", "3,virtio-net,tap0"]))
write("fuzz_config", "help", config("", ["-h"]))
write("fuzz_config", "errors",
      config("=novalue\n", ["-c", "cpus=4,sockets=3", "-m", "0", "-s", "99,lpc", "-l", "help",
                            "-s", "help", "vm", "extra"]))

# ---- fuzz_boot: the kernel file ----


def bzimage(relocatable=True, pref=0x1000000, init_size=0x10000, version=0x020F):
    setup_sects = 1
    k = bytearray((setup_sects + 1) * 512 + 512)
    k[0x1F1] = setup_sects
    k[0x1FE:0x200] = b"\x55\xAA"
    k[0x200] = 0xEB
    k[0x201] = 0x6A  # the header ends at 0x26c
    k[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", k, 0x206, version)
    k[0x211] = 0x01  # LOADED_HIGH
    struct.pack_into("<I", k, 0x22C, 0x7FFFFFFF)  # initrd_addr_max
    struct.pack_into("<I", k, 0x230, 0x200000)  # kernel_alignment
    k[0x234] = 1 if relocatable else 0
    struct.pack_into("<H", k, 0x236, 0x0003)  # XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
    struct.pack_into("<I", k, 0x238, 2048)  # cmdline_size
    struct.pack_into("<Q", k, 0x258, pref)
    struct.pack_into("<I", k, 0x260, init_size)
    k[(setup_sects + 1) * 512:] = bytes(range(256)) * 2
    return bytes(k)


def pvh_elf(entry_off=0x100, paddr=0x100000, bss=0x1000):
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", paddr + entry_off)
    ehsize, phsize = 64, 56
    note_off = ehsize + 2 * phsize
    size = max(note_off + len(note), entry_off + 16)
    eh = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1,
                     paddr + entry_off, ehsize, 0, 0, ehsize, phsize, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 7, 0, paddr, paddr, size, size + bss, 0x200000)
    pnote = struct.pack("<IIQQQQQQ", 4, 4, note_off, 0, 0, len(note), len(note), 4)
    k = bytearray(size)
    k[0:ehsize + 2 * phsize] = eh + load + pnote
    k[note_off:note_off + len(note)] = note
    k[entry_off:entry_off + 4] = b"\xF4\xEB\xFD\x90"  # hlt; jmp .-1
    return bytes(k)


write("fuzz_boot", "bzimage-relocatable", bzimage())
write("fuzz_boot", "bzimage-fixed", bzimage(relocatable=False, pref=0x100000, version=0x020C))
write("fuzz_boot", "pvh-vmlinux", pvh_elf())
write("fuzz_boot", "not-a-kernel", b"#!/bin/sh\necho not a kernel\n")


# ---- fuzz_virtio_blk: setup, setup 2, then ops (see fuzz_virtio_blk.c) ----
def blk_req(kind, sector, sectors, split=0):
    return bytes([0x02, kind, sector, sectors, split])


def blk_indirect(write, sector, nseg, seglen):
    return bytes([0x12, write]) + struct.pack("<IHI", sector, nseg - 1, seglen - 1)


KICK, LOOP, RESET = b"\x04", b"\x05", b"\x06"
write("fuzz_virtio_blk", "read-write-flush-id-discard",
      b"\x30\x00" + blk_req(1, 0, 8) + blk_req(0, 0, 8, 1) + blk_req(2, 0, 0) +
      blk_req(3, 0, 0) + blk_req(4, 0, 4) + blk_req(5, 8, 2) + KICK + LOOP + LOOP)
write("fuzz_virtio_blk", "reset-with-requests-in-flight",
      b"\x00\x00" + blk_req(0, 0, 64, 2) * 6 + KICK + RESET + KICK + LOOP)
write("fuzz_virtio_blk", "indirect-segments",
      b"\x10\x00" + blk_indirect(0, 0, 4, 4096) + blk_indirect(1, 16, 3, 512) +
      b"\x0c" + LOOP)  # op 4 with bit 3: a 4-byte doorbell write (the slow path)


# ---- fuzz_virtio_rnd: setup, then ops (low 4 bits; see fuzz_virtio_rnd.c) ----
def rnd_chain(head, *lens):
    return bytes([8, len(lens) - 1, head]) + b"".join(struct.pack("<H", n) for n in lens)


R_KICK, R_KICK_SLOW, R_LOOP, R_ISR, R_MSIX_ON = b"\x0a", b"\x1a", b"\x0b", b"\x0f", b"\x1f"
write("fuzz_virtio_rnd", "msix-kick-loop",
      b"\x04" + rnd_chain(0, 64) + R_KICK + R_LOOP + rnd_chain(1, 100, 200) + R_KICK_SLOW +
      R_LOOP + R_ISR)
write("fuzz_virtio_rnd", "budget-continuation",
      b"\x04" + b"".join(rnd_chain(i, 16) for i in range(40)) + R_KICK + b"\x1b" * 2)
write("fuzz_virtio_rnd", "msix-table-pba-mask",
      b"\x00" + R_MSIX_ON +
      bytes([0x23]) + struct.pack("<HQ", 12, 1) +        # mask vector 0
      rnd_chain(0, 32) + R_KICK + R_LOOP +
      bytes([0x24]) + struct.pack("<H", 0x800) +        # read the PBA
      bytes([0x05]) + struct.pack("<H", 0xC000) +        # function mask
      bytes([0x23]) + struct.pack("<HQ", 16 + 8, 0x41) +  # reprogram vector 1
      bytes([0x05]) + struct.pack("<H", 0x8000) + R_LOOP + R_ISR)
write("fuzz_virtio_rnd", "intx-isr", b"\x01" + rnd_chain(0, 8) + R_KICK + R_LOOP + R_ISR)


# ---- fuzz_rtc_loop: op 0 write (index, value), 1 read (index), 2 loop, 3 wait+loop ----
def rtc_w(reg, val):
    return bytes([0, reg, val])


def rtc_wait(ms):
    return bytes([3 | (ms << 2)])


write("fuzz_rtc_loop", "periodic-1024hz",
      rtc_w(0x0A, 0x26) + rtc_w(0x0B, 0x42) + rtc_wait(5) + bytes([1, 0x0C]) + rtc_wait(3) +
      bytes([1, 0x0C]) + rtc_w(0x0B, 0x02) + b"\x02")
write("fuzz_rtc_loop", "update-and-alarm",
      rtc_w(0x01, 0xFF) + rtc_w(0x03, 0xFF) + rtc_w(0x05, 0xFF) + rtc_w(0x0B, 0x32) +
      rtc_wait(11) + bytes([1, 0x0C]) + rtc_w(0x0B, 0x82) + rtc_w(0x0B, 0x02) + b"\x02")


# ---- fuzz_ctl: op low 3 bits, client in bits 3-7 ----
def ctl(op, client=0, args=b""):
    return bytes([op | client << 3]) + args


C_LOOP = ctl(6)
write("fuzz_ctl", "status-stats-help",
      ctl(0) + C_LOOP + ctl(5) + ctl(2, 0, b"\x00") + C_LOOP + ctl(5) + ctl(7, 0, b"\x10\x00") +
      ctl(2, 0, b"\x01") + C_LOOP + C_LOOP + ctl(5) + ctl(2, 0, b"\x06") + C_LOOP + ctl(5))
write("fuzz_ctl", "chunks-and-long-line",
      ctl(0, 1) + ctl(1, 1, b"\x03sta") + C_LOOP + ctl(1, 1, b"\x04tus\n") + C_LOOP +
      ctl(1, 1, b"\xff" + b"x" * 255) + ctl(1, 1, b"\x02\r\n") + C_LOOP + ctl(5, 1) +
      ctl(3, 1) + C_LOOP + ctl(5, 1))
write("fuzz_ctl", "many-clients-and-destroy",
      b"".join(ctl(0, i) for i in range(18)) + C_LOOP + ctl(2, 3, b"\x02") + C_LOOP +
      ctl(2, 4, b"\x02") + C_LOOP + ctl(5, 3) + ctl(5, 4) + ctl(5, 17) + ctl(4, 0) + C_LOOP)
write("fuzz_ctl", "huge-stats-reply",
      ctl(0) + ctl(7, 0, struct.pack("<H", 1399)) + ctl(2, 0, b"\x01") + C_LOOP * 4 + ctl(5) + C_LOOP * 4 +
      ctl(5))


# ---- fuzz_vcpu_exit: setup, then exits: selector byte (reason = list[sel % 13]) ----
def vsel(index, out=False, targeted=False, long=False):
    for sel in range(256):
        if (sel % 13 == index and bool(sel & 0x80) == out and bool(sel & 0x40) == targeted
                and bool(sel & 0x20) == long):
            return sel
    raise ValueError(index)


def io_exit(port, size_index, count, out, data=b""):
    return bytes([vsel(0, out), size_index]) + struct.pack("<H", port) + bytes([count - 1]) + data


def mmio_exit(addr, length, out, data=bytes(8)):
    return bytes([vsel(2, out)]) + struct.pack("<Q", addr) + bytes([length]) + data


write("fuzz_vcpu_exit", "serial-string-out-and-in",
      b"\x00" + io_exit(0x3F8, 0, 5, True, b"hello") + io_exit(0x3FD, 0, 1, False) +
      io_exit(0xCF8, 2, 1, True, struct.pack("<I", 0x80000000)) + io_exit(0xCFC, 2, 4, False))
write("fuzz_vcpu_exit", "mmio-and-msr",
      b"\x00" + mmio_exit(0xFEE00000, 4, False) + mmio_exit(0xC0000000, 8, True) +
      mmio_exit(0xC0000000, 12, False) + bytes([vsel(4)]) + struct.pack("<IQB", 0x10, 5, 0) +
      bytes([vsel(5)]) + struct.pack("<IQB", 0x1B, 0, 0) + bytes([vsel(8), vsel(9)]))
write("fuzz_vcpu_exit", "strict-io-unhandled", b"\x01" + io_exit(0x1234, 1, 1, False))
write("fuzz_vcpu_exit", "system-event-reset", b"\x00" + bytes([vsel(7), 1]))
write("fuzz_vcpu_exit", "unknown-reason", b"\x00" + bytes([vsel(12)]) + struct.pack("<I", 999))


# ---- fuzz_blockif: setup (bit 0 workers, bit 1 O_DIRECT, bit 2 O_DSYNC), then ops ----
def bio(write, sector, segs):
    out = bytes([0 if write else 1]) + struct.pack("<H", sector) + bytes([len(segs) - 1])
    for gap, length in segs:
        out += bytes([gap]) + struct.pack("<H", length - 1) + (b"\x5a" if write else b"")
    return out


B_DRAIN, B_LOOP, B_QUIESCE, B_FLUSH = b"\x06", b"\x04", b"\x05", b"\x02"
for setup, name in ((0, "uring"), (1, "workers"), (2, "uring-direct"), (3, "workers-direct")):
    write("fuzz_blockif", name + "-aligned",
          bytes([setup]) + bio(True, 0, [(0, 4096)]) + B_DRAIN + bio(False, 0, [(0, 4096)]) +
          B_FLUSH + B_DRAIN)
    write("fuzz_blockif", name + "-unaligned-segments",
          bytes([setup]) + bio(True, 3, [(1, 700), (13, 300), (0, 536)]) + B_LOOP +
          bio(False, 3, [(7, 1000), (3, 24), (0, 512)]) + B_QUIESCE + B_DRAIN +
          b"\x03" + struct.pack("<HB", 3, 2) + B_DRAIN + bio(False, 0, [(0, 8192)]) + B_DRAIN)


# ---- fuzz_virtio_console: features byte, then ops (op % 14) ----
write("fuzz_virtio_console", "client-both-ways",
      b"\x01" + bytes([10, 0]) + bytes([3, 0]) + struct.pack("<H", 200) +
      bytes([11, 0, 5]) + b"hello" + bytes([4, 0, 50]) + bytes([12, 0]) + bytes([13]) +
      bytes([12 + 14 * 1, 0]) + bytes([13]))  # 26: read then half-close
write("fuzz_virtio_console", "client-close-during-output",
      b"\x03" + bytes([10, 1]) + bytes([4 + 14 * 9, 1, 255]) + bytes([13]) +
      bytes([12 + 14 * 2, 1]) + bytes([4, 1, 20]) + bytes([13]) + bytes([10, 1]) + bytes([13]))


# ---- fuzz_virtio_net (and _tap): setup, then ops (low 3 bits, bit 3 queue) ----
def net_chain(q, lens, header=None):
    op = 0x02 | q << 3 | (0x40 if header is not None else 0)
    out = bytes([op, len(lens) - 1])
    for i, n in enumerate(lens):
        out += struct.pack("<H", n)
        if i == 0 and header is not None:
            out += header
    return out


def vnet_hdr(flags, gso_type, hdr_len, gso_size, csum_start, csum_offset):
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)[:10] + b"\0\0"


for t in ("fuzz_virtio_net", "fuzz_virtio_net_tap"):
    write(t, "rx-tx-loop",
          b"\x01" + net_chain(0, [2048]) * 4 + b"\x04" + net_chain(1, [12, 60]) + b"\x0c" +
          b"\x06" + b"\x05" + struct.pack("<HB", 60, 0x11) + b"\x06")
    write(t, "tx-gso-header",
          b"\x00" + net_chain(1, [12, 1500], vnet_hdr(1, 1, 54, 1448, 34, 16)) + b"\x0c" +
          net_chain(1, [12, 100], vnet_hdr(1, 0, 0, 0, 200, 500)) + b"\x0c" + b"\x06")


# ---- fuzz_i8042: op low 3 bits (see fuzz_i8042.c) ----
def kc(v):  # controller command (out 0x64)
    return bytes([0, v])


def kd(v):  # data byte (out 0x60): keyboard, or a pending command's data
    return bytes([1, v])


K_READ = b"\x02"
K_DRAIN = b"\x05"


def kkey(down, code=None, keysym=None, fkey=False):
    flags = int(down) | (2 if code is not None else 0) | (4 if keysym is not None else 0) | (
        8 if fkey else 0)
    out = bytes([3, flags])
    if code is not None:
        out += bytes([code])
    if keysym is not None:
        out += bytes([keysym])
    return out


def kptr(buttons, x, y):
    return bytes([4, buttons]) + struct.pack("<HH", x, y)


def k2(idx, v):  # two-step: 0 60, 1 D1, 2 D2, 3 D3, 4 D4, 7 61
    return bytes([7 | idx << 3, v])


write("fuzz_i8042", "ovmf-init",
      kc(0x20) + K_READ + kc(0xAD) + kc(0xA7) + kc(0xAA) + K_READ + k2(0, 0x67) + kd(0xF4) +
      K_READ + kc(0xAB) + K_READ + kd(0xFF) + K_DRAIN + kd(0xF0) + K_READ + kd(0x02) + K_READ +
      kd(0xF4) + K_READ + kd(0xED) + K_READ + kd(0x02) + K_READ + kc(0xA8) +
      kkey(True, code=28) + kkey(False, code=28) + kkey(True, code=108) + K_DRAIN)
write("fuzz_i8042", "linux-probe",
      kc(0x20) + K_READ + k2(3, 0x5A) + K_READ + k2(3, 0xF0) + K_READ + k2(3, 0x56) + K_READ +
      k2(3, 0xA4) + K_READ + kc(0xA7) + kc(0x20) + K_READ + kc(0xA8) + k2(0, 0x47) +
      k2(3, 0xA5) + K_READ + kd(0xF2) + K_DRAIN + kd(0xF5) + kd(0xF0) + kd(0x00) + K_DRAIN +
      kd(0xF3) + kd(0x00) + kd(0xF4) + K_DRAIN + k2(4, 0xFF) + K_DRAIN + k2(4, 0xF2) + K_DRAIN +
      k2(4, 0xF3) + k2(4, 200) + k2(4, 0xE8) + k2(4, 3) + k2(4, 0xF4) + K_DRAIN)
write("fuzz_i8042", "mouse-stream",
      k2(0, 0x47) + k2(4, 0xF4) + K_READ + kptr(0, 100, 100) + kptr(1, 110, 90) + K_DRAIN +
      kptr(6, 1500, 2000) + K_DRAIN + k2(4, 0xE7) + kptr(0, 1495, 1996) + k2(4, 0xF0) +
      kptr(0, 10, 10) + k2(4, 0xEB) + K_DRAIN + k2(4, 0xE9) + K_DRAIN + k2(4, 0xEA) +
      kc(0xA7) + kptr(4, 20, 20) + kc(0xA8) + K_DRAIN)
write("fuzz_i8042", "keys-typing",
      kkey(True, keysym=ord("A")) + kkey(False, keysym=ord("A")) + kkey(True, keysym=0x50, fkey=True) +
      kkey(True, keysym=0x13, fkey=True) + kkey(True, code=99) + kkey(False, code=99) +
      kkey(True, keysym=ord('"')) + K_DRAIN + k2(0, 0x05) + kkey(True, keysym=0xE1, fkey=True) +
      kkey(True, keysym=ord("z")) + kkey(False, keysym=0xE1, fkey=True) + kc(0xAD) +
      kkey(True, code=106) * 20 + kc(0xAE) + K_DRAIN + kd(0xFF) + K_DRAIN + kc(0xFE))


# ---- fuzz_snapshot: byte 0 % 6 picks what the rest is (0 .kern, 1 .meta, 2 virtqueue section,
# 3 UART, 4 RTC, 5 i8042); byte 0 // 6 varies the exercise. Layouts: snapshot/snapfile.h and
# each model's visit function (vq_snapshot, uart_snapshot, rtc_model_snapshot, i8042_snapshot).
def snap_vq(size, desc, avail, used, ready=True, event_idx=False, indirect=False, broken=False,
            last_avail=0, used_idx=0, signalled_used=0, signalled_valid=False):
    return (struct.pack("<HQQQ", size, desc, avail, used) +
            bytes([ready, event_idx, indirect, broken]) +
            struct.pack("<HHH", last_avail, used_idx, signalled_used) + bytes([signalled_valid]))


def snap_uart(ier, lcr, mcr, lsr, msr, scr, dll, dlm, fifo, trigger, thre, timeout, head, count,
              rx):
    return (bytes([ier, lcr, mcr, lsr, msr, scr, dll, dlm, fifo]) + struct.pack("<I", trigger) +
            bytes([thre, timeout]) + struct.pack("<II", head, count) + rx.ljust(16, b"\0"))


def snap_rtc(regs, index, localtime, off_sec, off_nsec):
    cmos = bytearray(128)
    for reg, val in regs.items():
        cmos[reg] = val
    return bytes(cmos) + bytes([index, localtime]) + struct.pack("<qq", off_sec, off_nsec)


def snap_ps2kbd(fifo, head, length, reply, rhead, rlen, param_for, last_sent, scanning, leds,
                typematic):
    return (fifo.ljust(32, b"\0") + struct.pack("<II", head, length) + reply.ljust(8, b"\0") +
            struct.pack("<II", rhead, rlen) +
            bytes([param_for, last_sent, scanning, leds, typematic]))


def snap_ps2mouse(fifo, head, length, param_for, last_sent, enabled, remote, scale21, rate,
                  resolution, buttons, dx, dy, unsent):
    return (fifo.ljust(32, b"\0") + struct.pack("<II", head, length) +
            bytes([param_for, last_sent, enabled, remote, scale21, rate, resolution, buttons]) +
            struct.pack("<ii", dx, dy) + bytes([unsent]))


def snap_i8042(ctr, outport, pending, last_cmd, obf, ob_aux, ob, ctlq, ctlq_head, ctlq_len,
               xlat_break, kbd, mouse):
    ram = bytes([ctr]) + bytes(range(1, 32))
    q = b"".join(bytes([b, aux]) for b, aux in ctlq).ljust(16, b"\0")
    return (bytes([1]) + ram + bytes([outport, pending, last_cmd, obf, ob_aux, ob]) + q +
            struct.pack("<II", ctlq_head, ctlq_len) + bytes([xlat_break]) + kbd + mouse)


def kern_image(sections):
    out = b"KBHYVEK1" + struct.pack("<II", 1, len(sections))
    for name, data in sections:
        out += name.encode().ljust(48, b"\0") + struct.pack("<Q", len(data)) + data
        out += bytes(-len(data) % 8)
    return out


def kern_table(sections):
    table, at = [], 16
    for name, data in sections:
        at += 56
        table.append({"name": name, "offset": at, "size": len(data)})
        at += len(data) + -len(data) % 8
    return table


SNAP_VQ = snap_vq(256, 0x1000, 0x2000, 0x100001000, event_idx=True, indirect=True,
                  last_avail=0xFFFE, used_idx=0xFFFD, signalled_used=0xFFFC, signalled_valid=True)
SNAP_UART = snap_uart(0x0F, 0x03, 0x0B, 0x60, 0xB0, 0x5A, 1, 0, 1, 4, 0, 1, 14, 3,
                      b"abcdefghijklmnop")
SNAP_RTC = snap_rtc({0: 0x56, 2: 0x45, 4: 0x13, 6: 5, 7: 0x29, 8: 0x02, 9: 0x24, 0x0A: 0x26,
                     0x0B: 0x02, 0x0D: 0x80, 0x32: 0x20}, 0x0C, 0, -3600, 500000000)
SNAP_I8042 = snap_i8042(
    0x47, 0x03, 0x65, 0, 1, 0, 0xFA, [(0x55, 0), (0xAA, 1), (0x00, 0)], 7, 2, 1,
    snap_ps2kbd(bytes(range(0x10, 0x30)), 30, 5, b"\xfa\xab\x83", 6, 3, 0xED, 0xFA, 1, 2,
                0x2B),
    snap_ps2mouse(bytes(range(0x40, 0x60)), 31, 3, 0xF3, 0xFA, 1, 0, 1, 100, 2, 1, -300, 65535,
                  1))
KERN = [("cpu.0", bytes(range(200))), ("empty", b""), ("lpc.com1", SNAP_UART),
        ("rtc", SNAP_RTC), ("i8042", SNAP_I8042), ("virtio.3.0", SNAP_VQ)]
KERN_IMAGE = kern_image(KERN)
META = {
    "format": "kbhyve-kvm-x86", "version": 1,
    "vm": {"name": "guest", "memsize": 0x140000000, "lowmem": 0xC0000000,
           "highmem": 0x80000000, "ncpus": 2, "config": "memory.size=5G\ncpus=2\nname=guest\n"},
    "host": {"cpuid_sha256": hashlib.sha256(b"cpuid").hexdigest(), "tsc_khz": 2899999},
    "kern": {"sha256": hashlib.sha256(KERN_IMAGE).hexdigest(), "size": len(KERN_IMAGE)},
    "created": 1767225600, "sections": kern_table(KERN)}

write("fuzz_snapshot", "kern", b"\x00" + KERN_IMAGE)
write("fuzz_snapshot", "kern-empty", b"\x00" + kern_image([]))
write("fuzz_snapshot", "meta", b"\x01" + json.dumps(META, indent=2).encode())
write("fuzz_snapshot", "vq-ready", b"\x02" + SNAP_VQ)
write("fuzz_snapshot", "vq-small", bytes([2 + 6 * 3]) +
      snap_vq(8, 0x3000, 0x3080, 0x100000000, last_avail=5, used_idx=5))
write("fuzz_snapshot", "vq-not-ready", b"\x02" + snap_vq(128, 0, 0, 0, ready=False))
write("fuzz_snapshot", "uart-fifo", b"\x03" + SNAP_UART)
write("fuzz_snapshot", "uart-loopback", bytes([3 + 6 * 7]) +
      snap_uart(0x0B, 0x9B, 0x1F, 0x62, 0xF1, 0, 12, 0, 0, 1, 1, 0, 7, 1, bytes(7) + b"Z"))
write("fuzz_snapshot", "rtc", b"\x04" + SNAP_RTC)
write("fuzz_snapshot", "rtc-interrupts", bytes([4 + 6 * 5]) +
      snap_rtc({0: 59, 2: 59, 4: 23, 6: 7, 7: 31, 8: 12, 9: 99, 0x0A: 0x2F, 0x0B: 0x76,
                0x0C: 0xF0, 0x0D: 0x80, 0x32: 20}, 0x7F, 1, 1 << 40, 999999999))
write("fuzz_snapshot", "i8042", b"\x05" + SNAP_I8042)
write("fuzz_snapshot", "i8042-mouse-wait", bytes([5 + 6 * 4]) +
      snap_i8042(0x03, 0x01, 0xD4, 1, 1, 1, 0x08, [], 0, 0, 0,
                 snap_ps2kbd(b"", 0, 0, b"", 0, 0, 0, 0, 0, 0, 0),
                 snap_ps2mouse(b"\x08\x01\x02", 0, 3, 0xE8, 0xF4, 1, 1, 0, 40, 0, 7, 2, -2,
                               0)))


# ---- fuzz_migrate: the stream a migration source sends (snapshot/migproto.h): per frame "KBMG",
# u16 version 1, u16 type, u64 payload length, the payload. The destination is fuzz_migrate.c's
# VM: named "fuzz", 4 MiB of RAM, one vCPU, the one-entry CPUID table below, and the sections of
# its devices (pm, rtc, i8042, pci, the host bridge at 0:0.0 and the LPC bridge at 0:31.0).
MIG_TYPES = {"HELLO": 1, "OK": 2, "ERROR": 3, "MEM": 4, "ZERO": 5, "STATE": 6, "DONE": 7,
             "READY": 8, "COMMIT": 9}
MIG_RAM = 4 << 20
MIG_PAGE = 4096


def mig(kind, payload=b""):
    return b"KBMG" + struct.pack("<HHQ", 1, MIG_TYPES[kind], len(payload)) + payload


def mig_mem(off, data):
    return mig("MEM", struct.pack("<Q", off) + data)


def mig_zero(off, length):
    return mig("ZERO", struct.pack("<QQ", off, length))


# struct kvm_cpuid2 (nent, padding) and one kvm_cpuid_entry2: leaf 0, EAX 0xd
MIG_CPUID = struct.pack("<II", 1, 0) + struct.pack("<10I", 0, 0, 0, 0xD, 0, 0, 0, 0, 0, 0)


def mig_meta(name="fuzz", memsize=MIG_RAM, ncpus=1,
             config="pci.0.0.0.device=hostbridge\npci.0.31.0.device=lpc\n"):
    """The description vmstate_meta_text() gives of the VM (a migration's HELLO has no .kern)."""
    return json.dumps({
        "format": "kbhyve-kvm-x86", "version": 1,
        "vm": {"name": name, "memsize": memsize, "lowmem": memsize, "highmem": 0,
               "ncpus": ncpus, "config": config},
        "host": {"cpuid_sha256": hashlib.sha256(MIG_CPUID).hexdigest(), "tsc_khz": 0},
        "kern": {"sha256": "0" * 64, "size": 0},
        "created": 1767225600, "sections": []}, indent=2).encode()


def pci_fn(vendor, device, cls, subcls):
    """A PCI function's section: configuration space, six BAR addresses, INTx pending /
    disabled and MSI active, an MSI-X table of 0 vectors (pci.c dev_visit)."""
    cfg = bytearray(256)
    struct.pack_into("<HH", cfg, 0, vendor, device)
    cfg[0x0A], cfg[0x0B] = subcls, cls
    return bytes(cfg) + bytes(6 * 8) + bytes(3) + struct.pack("<I", 0)


# pm: PM1 status/enable/control (SCI_EN), GPE0 status/enable, port 0x92, the PM timer
MIG_SECTIONS = [
    ("pm", struct.pack("<HHHHHBI", 0, 0, 1, 0, 0, 0, 0x3D1C02)),
    ("rtc", SNAP_RTC),
    ("i8042", SNAP_I8042),
    ("pci", struct.pack("<I", 0x8000F800)),
    ("pci.0.0.0", pci_fn(0x1275, 0x1275, 0x06, 0x00)),
    ("pci.0.31.0", pci_fn(0x8086, 0x7000, 0x06, 0x01)),
]
MIG_KERN = kern_image(MIG_SECTIONS)
MIG_HELLO = mig("HELLO", mig_meta())
MIG_PAGES = bytes((i * 7 + i // MIG_PAGE) & 0xFF for i in range(2 * MIG_PAGE))

write("fuzz_migrate", "whole-migration",
      MIG_HELLO + mig_mem(0x1000, MIG_PAGES[:MIG_PAGE]) + mig_zero(0x100000, 0x10000) +
      mig_mem(MIG_RAM - 2 * MIG_PAGE, MIG_PAGES) + mig_zero(0, MIG_PAGE) +
      mig("STATE", MIG_KERN) + mig("DONE") + mig("COMMIT"))
write("fuzz_migrate", "ready-no-commit",
      MIG_HELLO + mig_zero(0, MIG_RAM) + mig("STATE", MIG_KERN) + mig("DONE"))
write("fuzz_migrate", "state-twice",
      MIG_HELLO + mig("STATE", MIG_KERN[:100]) + mig("STATE", MIG_KERN) + mig("DONE") +
      mig("COMMIT"))
write("fuzz_migrate", "source-gives-up",
      MIG_HELLO + mig_mem(0x2000, MIG_PAGES[:MIG_PAGE]) +
      mig("ERROR", b"the guest stopped on the source"))
write("fuzz_migrate", "error-then-more",
      MIG_HELLO + mig("ERROR", b"out of memory") + mig("STATE", MIG_KERN) + mig("DONE"))
write("fuzz_migrate", "state-missing-section",
      MIG_HELLO + mig("STATE", kern_image(MIG_SECTIONS[:-1])) + mig("DONE"))
write("fuzz_migrate", "state-extra-section",
      MIG_HELLO + mig("STATE", kern_image(MIG_SECTIONS + [("cpu.0", bytes(64))])) + mig("DONE"))
write("fuzz_migrate", "hello-other-vm",
      mig("HELLO", mig_meta(name="other", memsize=8 << 20, ncpus=2)) + mig("DONE"))
write("fuzz_migrate", "hello-other-config",
      mig("HELLO", mig_meta(config="pci.0.0.0.device=hostbridge\n")) + mig("DONE"))
# reasons that quote the source's bytes: a VM name with a terminal escape (JSON \u001b), and an
# ERROR cut short after raw control bytes; the receiver's message must come out printable
write("fuzz_migrate", "hello-escape-in-name", mig("HELLO", mig_meta(name="\x1b[2Jfuzz\r")))
write("fuzz_migrate", "error-cut-short",
      MIG_HELLO + b"KBMG" + struct.pack("<HHQ", 1, MIG_TYPES["ERROR"], 100) + b"\x1b[2J\a")
write("fuzz_migrate", "mem-before-hello", mig_mem(0, MIG_PAGES[:MIG_PAGE]) + MIG_HELLO)
write("fuzz_migrate", "mem-past-ram", MIG_HELLO + mig_mem(MIG_RAM, MIG_PAGES[:MIG_PAGE]))
write("fuzz_migrate", "zero-wraps", MIG_HELLO + mig_zero(MIG_PAGE, (1 << 64) - MIG_PAGE))
write("fuzz_migrate", "commit-before-done", MIG_HELLO + mig("STATE", MIG_KERN) + mig("COMMIT"))
write("fuzz_migrate", "cut-in-mem", MIG_HELLO + mig_mem(0x3000, MIG_PAGES)[:16 + 8 + 5000])
