#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Writes the regression inputs under tests/fuzz/regressions/NAME/ (run from anywhere).

Each reproduces one finding of the VMM review (shared/reference/review-vmm.md) as a fuzz input
that the work bounds of tests/fuzz/fixture.c reject while the finding is there. run.sh replays
every file here once (after the timed runs), so a finding that comes back fails CI. The
encodings are the ones described at the top of each tests/fuzz/fuzz_NAME.c."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# Finding 1: one doorbell, 48 reads of 1022 x 2 MiB through indirect tables on a large sparse
# image: the event loop is busy for seconds (time bound).
# fuzz_virtio_blk: setup INDIRECT_DESC (0x10), queue 256; setup 2: the large image.
req = bytes([0x12, 0]) + struct.pack("<IHI", 0, 1021, (2 << 20) - 1)
write("fuzz_virtio_blk", "finding1-huge-reads",
      bytes([0x10, 0x01]) + req * 48 + bytes([0x04, 0x05]))

# Finding 2: reset, negotiate, enable queue 0 at a ring address outside RAM, 100 times: one log
# line per cycle (log-line bound).
# fuzz_virtio_rnd ops: 13 status u8; 0x20 common write 4 bytes (offset u8, value u64);
# 14 queue 0 at desc u64 and enable.
cycle = (bytes([13, 0x00, 13, 0x03]) +
         bytes([0x20, 0x08]) + struct.pack("<Q", 1) +
         bytes([0x20, 0x0c]) + struct.pack("<Q", 1) +
         bytes([13, 0x0b, 14]) + struct.pack("<Q", 0x7ffff000))
write("fuzz_virtio_rnd", "finding2-reset-enable-loop", bytes([0x00]) + cycle * 100)

# Finding 3: toggle register B's update-ended interrupt 200 times without the loop waking:
# a timer descriptor per toggle until the loop runs (descriptor bound).
# fuzz_rtc_loop op 0: register write index u8, value u8.
write("fuzz_rtc_loop", "finding3-uie-toggles",
      bytes([0x00, 0x0B, 0x12, 0x00, 0x0B, 0x02]) * 200)

# Finding 4 (the fuzzer's own, 2026-12): drains while a plug holds io_uring requests back spun
# the event loop 10000 times each for nothing, over a second of CPU (time bound). This is the
# input CI's fuzz_blockif run found: setup 0 (io_uring), plugs, a write, drains.
write("fuzz_blockif", "finding4-drain-while-plugged",
      bytes.fromhex("00000200000f010000000000000000000100000000dededededede472adededededede"
                    "dededededede00ff010000"))
