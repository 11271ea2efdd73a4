#!/usr/bin/env python3
"""Writes the hand-made seed inputs under tests/fuzz/corpus/NAME/ (run from anywhere).

Each seed is a short, meaningful start for the fuzzer: a guest driver's usual sequence, a
typical command line, a minimal bzImage or PVH vmlinux. The encodings are the ones described at
the top of each tests/fuzz/fuzz_NAME.c."""
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
