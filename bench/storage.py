# SPDX-License-Identifier: BSD-2-Clause
"""vm snapshot and vm clone (group "storage"): a guest with a 20 GiB disk of which 1 GiB is
written, on btrfs (the guest folder a subvolume: read-only subvolume snapshots) and on XFS
(reflink copies), each on a loop device of the build host; per repetition one `vm snapshot`
and one `vm clone` from that snapshot, wall-clock as a user sees it. The yardstick beside them
is what a datastore without clones costs: a plain sparse copy (cp --reflink=never) of the same
disk on the same file system. kbhyve only: QEMU has no manager to compare. Needs root,
losetup, mkfs.btrfs and mkfs.xfs.
"""
import os
import shutil
import subprocess
import sys
import time

KINDS = (("btrfs", ["mkfs.btrfs", "-q"]), ("xfs", ["mkfs.xfs", "-q", "-m", "reflink=1"]))
METRICS = []
for _k, _ in KINDS:
    METRICS += [(f"storage_snapshot_{_k}", f"vm snapshot, 20 GiB disk with 1 GiB written, {_k}", "ms"),
                (f"storage_clone_{_k}", f"vm clone from a snapshot, the same guest, {_k}", "ms"),
                (f"storage_copy_{_k}", f"a plain copy of that disk (cp, no clone), {_k}: the yardstick",
                 "ms")]
FS_GIB = 24        # each loop file system (sparse file on the host)
DISK = "20G"
WRITTEN_MIB = 1024


class StorageBench:
    def __init__(self, suite):
        self.s = suite
        self.ready = None     # kind -> (env, mountpoint), set up at the first repetition
        self.mounts, self.loops = [], []

    def _sh(self, argv, env=None):
        return subprocess.run(argv, env=env, capture_output=True, text=True)

    def _setup(self):
        s, a = self.s, self.s.a
        self.ready = {}
        for kind, mkfs in KINDS:
            root = os.path.join(s.tmp, "storage-" + kind)
            os.makedirs(root)
            img, mnt = os.path.join(root, "fs.img"), os.path.join(root, "mnt")
            os.makedirs(mnt)
            with open(img, "wb") as f:
                f.truncate(FS_GIB << 30)
            r = self._sh(mkfs + [img])
            loop = self._sh(["losetup", "-f", "--show", img]) if r.returncode == 0 else r
            if r.returncode != 0 or loop.returncode != 0:
                s.error(f"storage_snapshot_{kind}", "kbhyve", 1, f"mkfs/losetup: {(r.stderr + loop.stderr).strip()[-200:]}")
                continue
            dev = loop.stdout.strip()
            self.loops.append(dev)
            r = self._sh(["mount", dev, mnt])
            if r.returncode != 0:
                s.error(f"storage_snapshot_{kind}", "kbhyve", 1, f"mount: {r.stderr.strip()[-200:]}")
                continue
            self.mounts.append(mnt)
            vm_dir = os.path.join(mnt, "vms")
            env = dict(os.environ, vm_dir=vm_dir, KBHYVE_CONF=os.path.join(root, "kbhyve.conf"),
                       KBHYVE_RUNDIR=os.path.join(root, "run"))
            os.makedirs(vm_dir)
            with open(env["KBHYVE_CONF"], "w") as f:
                f.write(f'vm_dir="{vm_dir}"\n')
            r = self._sh([a.vm, "init"], env)
            r = self._sh([a.vm, "create", "-s", DISK, "big"], env) if r.returncode == 0 else r
            if r.returncode != 0:
                s.error(f"storage_snapshot_{kind}", "kbhyve", 1, f"vm init/create: {r.stderr.strip()[-200:]}")
                continue
            disk = os.path.join(vm_dir, "big", "disk0.img")
            # 1 GiB of data the file system cannot compress or share, spread over the disk
            with open(disk, "r+b") as f:
                chunk = os.urandom(1 << 20)
                for i in range(WRITTEN_MIB):
                    f.seek(i * (20 << 30) // WRITTEN_MIB)
                    f.write(chunk[:1 << 19] + os.urandom(1 << 19))
                f.flush()
                os.fsync(f.fileno())
            self.ready[kind] = (env, mnt)

    def _timed(self, argv, env):
        t0 = time.perf_counter()
        r = self._sh(argv, env)
        return (time.perf_counter() - t0) * 1000.0, r

    def run(self, rep):
        s, a = self.s, self.s.a
        if self.ready is None:
            self._setup()
        for kind, (env, mnt) in self.ready.items():
            ms, r = self._timed([a.vm, "snapshot", f"big@r{rep}"], env)
            if r.returncode != 0:
                s.error(f"storage_snapshot_{kind}", "kbhyve", rep, r.stderr.strip()[-300:])
                continue
            s.sample(f"storage_snapshot_{kind}", "kbhyve", rep, ms, {})
            cms, r = self._timed([a.vm, "clone", f"big@r{rep}", f"c{rep}"], env)
            if r.returncode != 0:
                s.error(f"storage_clone_{kind}", "kbhyve", rep, r.stderr.strip()[-300:])
            else:
                s.sample(f"storage_clone_{kind}", "kbhyve", rep, cms, {})
            disk = os.path.join(env["vm_dir"], "big", "disk0.img")
            copy = os.path.join(mnt, f"copy{rep}.img")
            pms, r = self._timed(["cp", "--reflink=never", "--sparse=always", disk, copy], env)
            if r.returncode != 0:
                s.error(f"storage_copy_{kind}", "kbhyve", rep, r.stderr.strip()[-300:])
            else:
                s.sample(f"storage_copy_{kind}", "kbhyve", rep, pms, {})
            if os.path.exists(copy):
                os.unlink(copy)
            self._sh([a.vm, "destroy", "-f", f"c{rep}"], env)
            print(f"# rep {rep} storage {kind}: snapshot {ms:.0f} ms, clone {cms:.0f} ms, "
                  f"plain copy {pms:.0f} ms", flush=True, file=sys.stderr)

    def close(self):
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], capture_output=True)
        for d in self.loops:
            subprocess.run(["losetup", "-d", d], capture_output=True)
        self.mounts, self.loops = [], []
