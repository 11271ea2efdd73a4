# SPDX-License-Identifier: BSD-2-Clause
"""`vm list` at scale (group "vmlist"): one datastore of 100 guests, 10 of them running (the
tiny idle guest under its supervisor), `vm list` run 20 times; the median of its wall-clock time,
process start included, as a user sees it. kbhyve only: QEMU has no manager to compare.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

METRICS = [("vmlist_100", "vm list, 100 guests (10 running): wall-clock per call", "ms"),
           ("host_vmlist_100", "vm list, 100 guests (10 running) on the host itself", "ms")]
N_GUESTS = 100
N_RUNNING = 10
CALLS = 20


class VmListBench:
    def __init__(self, suite):
        self.s = suite

    def run(self, rep):
        s, a = self.s, self.s.a
        metric = a.tiny_prefix + "vmlist_100"   # host_: on the build host, beside the test bed
        root = tempfile.mkdtemp(dir=s.tmp)
        vm_dir = os.path.join(root, "vms")
        env = dict(os.environ, vm_dir=vm_dir, KBHYVE_CONF=os.path.join(root, "kbhyve.conf"),
                   KBHYVE_RUNDIR=os.path.join(root, "run"))
        os.makedirs(os.path.join(vm_dir, ".config"))
        open(os.path.join(vm_dir, ".config", "system.conf"), "w").close()
        with open(env["KBHYVE_CONF"], "w") as f:
            f.write(f'vm_dir="{vm_dir}"\n')
        names = [f"g{i:03d}" for i in range(1, N_GUESTS + 1)]
        for i, name in enumerate(names):
            d = os.path.join(vm_dir, name)
            os.makedirs(d)
            with open(os.path.join(d, name + ".conf"), "w") as f:
                # the running ones boot the tiny idle guest; the others look like real guests
                f.write(f'loader="kernel"\nkernel="{a.tiny_idle}"\ncpu=1\nmemory=32M\n'
                        f'bhyve_options="-o boot.raw={a.tiny_idle}"\n' if i < N_RUNNING else
                        'loader="uefi"\ncpu=2\nmemory=1G\nnetwork0_type="virtio-net"\n'
                        'network0_switch="public"\ndisk0_type="virtio-blk"\n'
                        'disk0_name="disk0.img"\n')
        running = names[:N_RUNNING]
        try:
            r = subprocess.run([a.vm, "start"] + running, env=env, capture_output=True,
                               text=True, timeout=120)
            listing = subprocess.run([a.vm, "list"], env=env, capture_output=True, text=True)
            up = sum(1 for line in listing.stdout.splitlines() if " Running" in line)
            if r.returncode != 0 or up != N_RUNNING:
                s.error(metric, "kbhyve", rep,
                        f"{up} of {N_RUNNING} guests running: {r.stderr.strip()[-300:]}")
                return
            times = []
            for _ in range(CALLS):
                t0 = time.perf_counter()
                subprocess.run([a.vm, "list"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                times.append((time.perf_counter() - t0) * 1000.0)
            s.sample(metric, "kbhyve", rep, statistics.median(times),
                     {"min_ms": min(times), "max_ms": max(times)})
            print(f"# rep {rep} vm list of {N_GUESTS} ({N_RUNNING} running): median "
                  f"{statistics.median(times):.1f} ms", flush=True, file=sys.stderr)
        finally:
            for name in running:
                subprocess.run([a.vm, "poweroff", "-f", name], env=env, capture_output=True)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                    os.path.exists(os.path.join(vm_dir, n, "run.lock")) for n in running):
                time.sleep(0.2)
