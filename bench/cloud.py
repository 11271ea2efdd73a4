# SPDX-License-Identifier: BSD-2-Clause
"""A cloud image to a logged-in guest (group "cloud"): tests/testbed/debian-image.sh's Debian 12
(systemd, cloud-init, openssh-server) with the payload kernel and the root-switching initrd
(mkinitrd-l2.sh --exec, l2-rootfs.sh), 1 vCPU, 512 MiB, a virtio disk of 2 GiB, a virtio NIC on a
bridge, cloud-init's NoCloud seed on an AHCI CD:

  cloud_login       provisioning + boot -> the first ssh login with the seed's key. kbhyve:
                    `vm create -i IMAGE -C -k KEY -u USER -n ...` then `vm start`, as a vm-bhyve
                    user does it. QEMU has no manager: the same image written to a 2 GiB disk
                    the way vm does it (qemu-img convert, then grown) beside a copy of a seed vm
                    made, then QEMU's launch.
  cloud_boot_login  the guest's start (`vm start` / QEMU's launch) -> the first ssh login

Every repetition provisions a fresh disk, so cloud-init does its whole first boot each time (host
key, user, address, root file system grown). The login runs `hostname`, which must answer the
name the seed gave: cloud-init has applied it. Both VMMs' guests get the same address, one at a
time; L1's neighbour cache is flushed between them.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

METRICS = [
    ("cloud_login", "Debian cloud image: provision (vm create -i / a disk + seed) + boot -> ssh login", "ms"),
    ("cloud_boot_login", "Debian cloud image: VMM start -> first ssh login (cloud-init applied)", "ms"),
]
MEM_MB = 512
DISK_GIB = 2
NET = "10.79.0"
ADDR = f"{NET}.20"
SWITCH = "cbench"
QEMU_TAP = "cbqtap"
LOGIN_S = 900


class CloudBench:
    def __init__(self, suite):
        self.s = suite
        self.root = None
        self.env = None
        self.qmac = None
        self.tap = False
        self.setup_error = None

    def _sh(self, argv, **kw):
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, **kw)

    def _fail_all(self, vmm, rep, why):
        for m, _, _ in METRICS:
            if (m, vmm) not in self.s.failed:
                self.s.error(m, vmm, rep, why)

    def _setup(self):
        """vm's folder, a switch with an address, the template, the key; a reference guest whose
        seed and MAC the QEMU runs use; QEMU's tap on the same bridge. None, or why not."""
        a = self.s.a
        self.root = tempfile.mkdtemp(dir=self.s.tmp, prefix="cloud.")
        vm_dir = os.path.join(self.root, "vms")
        self.env = dict(os.environ, vm_dir=vm_dir, KBHYVE_CONF=os.path.join(self.root, "kbhyve.conf"),
                        KBHYVE_RUNDIR=os.path.join(self.root, "run"))
        os.makedirs(os.path.join(vm_dir, ".templates"))
        with open(self.env["KBHYVE_CONF"], "w") as f:
            f.write(f'vm_dir="{vm_dir}"\n')
        with open(os.path.join(vm_dir, ".templates", "debian.conf"), "w") as f:
            f.write(f'loader="kernel"\nkernel="{a.vmlinux}"\ninitrd="{a.initrd_rootfs}"\n'
                    'cmdline="console=ttyS0 quiet kbroot=/dev/vda"\n'
                    f'cpu=1\nmemory={MEM_MB}M\nnetwork0_type="virtio-net"\nnetwork0_switch="{SWITCH}"\n'
                    f'disk0_type="virtio-blk"\ndisk0_name="disk0.img"\ndisk0_size="{DISK_GIB}G"\n' +
                    ('bhyve_options="-o x86.cpuid.disable=xsave"\n' if a.testbed else ''))
        self.key = os.path.join(self.root, "key")
        for argv in ([a.vm, "init"], [a.vm, "switch", "create", "-a", f"{NET}.1/24", SWITCH],
                     ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.key],
                     self._create_argv("cbref")):
            r = self._sh(argv)
            if r.returncode != 0:
                return f"{' '.join(argv[:3])}: {r.stderr.strip()[-300:]}"
        ref = os.path.join(vm_dir, "cbref")
        self.seed = os.path.join(ref, "seed.iso")
        with open(os.path.join(ref, "cbref.conf")) as f:
            for line in f:
                if line.startswith("network0_mac="):
                    self.qmac = line.split("=", 1)[1].strip().strip('"')
        if not self.qmac:
            return "the reference guest has no network0_mac"
        for argv in (["ip", "tuntap", "add", "dev", QEMU_TAP, "mode", "tap"],
                     ["ip", "link", "set", QEMU_TAP, "master", "vm-" + SWITCH, "up"]):
            r = self._sh(argv)
            if r.returncode != 0:
                return f"{' '.join(argv)}: {r.stderr.strip()[-200:]}"
            self.tap = True
        return None

    def _create_argv(self, name):
        a = self.s.a
        return [a.vm, "create", "-t", "debian", "-i", a.cloud_image, "-C", "-k", self.key + ".pub",
                "-u", "kbtest", "-n", f"ip={ADDR}/24;gateway={NET}.1", name]

    def _login(self, want_host, alive):
        """Polls ssh until a login answers want_host: None, or why not."""
        self._sh(["ip", "neigh", "flush", "dev", "vm-" + SWITCH])
        argv = ["ssh", "-n", "-i", self.key, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", f"kbtest@{ADDR}", "hostname"]
        deadline = time.monotonic() + LOGIN_S
        last = ""
        while time.monotonic() < deadline:
            r = self._sh(argv, timeout=60)
            if r.returncode == 0:
                got = r.stdout.strip()
                return None if got == want_host else f"logged in, but the host name is '{got}', not '{want_host}'"
            last = r.stderr.strip()[-200:]
            if not alive():
                return f"the guest stopped before a login ({last})"
            time.sleep(0.5)
        return f"no ssh login in {LOGIN_S} s ({last})"

    def run(self, vmm, rep):
        if all((m, vmm) in self.s.failed for m, _, _ in METRICS):
            return
        if self.root is None:
            self.setup_error = self._setup()
        if self.setup_error:
            self._fail_all(vmm, rep, self.setup_error)
            return
        if vmm == "kbhyve":
            self._kbhyve(rep)
        else:
            self._qemu(rep)

    def _kbhyve(self, rep):
        a, name = self.s.a, f"cb{rep}"
        g = os.path.join(self.env["vm_dir"], name)
        try:
            t0 = time.monotonic()
            r = self._sh(self._create_argv(name))
            t1 = time.monotonic()
            r = self._sh([a.vm, "start", name]) if r.returncode == 0 else r
            if r.returncode != 0:
                self._fail_all("kbhyve", rep, r.stderr.strip()[-300:])
                return
            self._measure("kbhyve", rep, t0, t1, name, lambda: os.path.exists(os.path.join(g, "run.lock")))
        finally:
            self._sh([a.vm, "poweroff", "-f", name])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and os.path.exists(os.path.join(g, "run.lock")):
                time.sleep(0.2)
            self._sh([a.vm, "destroy", "-f", name])

    def _qemu(self, rep):
        a = self.s.a
        disk = os.path.join(self.root, f"q{rep}.img")
        seed = os.path.join(self.root, f"q{rep}-seed.iso")
        log = open(os.path.join(self.root, f"q{rep}.log"), "w")
        p = None
        try:
            t0 = time.monotonic()
            r = self._sh(["qemu-img", "convert", "-q", "-f", "raw", "-O", "raw", a.cloud_image, disk])
            if r.returncode == 0:
                os.truncate(disk, DISK_GIB << 30)
                shutil.copyfile(self.seed, seed)
            else:
                self._fail_all("qemu", rep, f"qemu-img convert: {r.stderr.strip()[-200:]}")
                return
            t1 = time.monotonic()
            cpu = "host,-xsave" if a.testbed else "host"
            p = subprocess.Popen(
                [a.qemu, "-M", "pc", "-accel", "kvm", "-cpu", cpu, "-m", str(MEM_MB), "-smp", "1",
                 "-nographic", "-no-reboot", "-nodefaults", "-no-user-config", "-serial", "stdio",
                 "-kernel", a.vmlinux, "-initrd", a.initrd_rootfs,
                 "-append", "console=ttyS0 quiet kbroot=/dev/vda",
                 "-drive", f"if=none,id=d0,file={disk},format=raw",
                 "-device", "virtio-blk-pci,drive=d0",
                 "-device", "ahci,id=ahci0",
                 "-drive", f"if=none,id=cd0,file={seed},format=raw,media=cdrom,readonly=on",
                 "-device", "ide-cd,bus=ahci0.0,drive=cd0",
                 "-netdev", f"tap,id=n0,ifname={QEMU_TAP},script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev=n0,mac={self.qmac}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            self._measure("qemu", rep, t0, t1, "cbref", lambda: p.poll() is None)
        finally:
            if p is not None:
                p.kill()
                p.wait()
            log.close()
            for f in (disk, seed):
                if os.path.exists(f):
                    os.unlink(f)

    def _measure(self, vmm, rep, t0, t1, want_host, alive):
        """The first login after provisioning began at t0 and the guest's start at t1: its
        samples, or the reason none came."""
        why = self._login(want_host, alive)
        t2 = time.monotonic()
        if why:
            self._fail_all(vmm, rep, why)
            return
        login, boot = t2 - t0, t2 - t1
        self.s.sample("cloud_login", vmm, rep, login * 1000.0, {})
        self.s.sample("cloud_boot_login", vmm, rep, boot * 1000.0, {})
        print(f"# rep {rep} cloud {vmm}: provision + boot to ssh login {login:.1f} s, "
              f"start to login {boot:.1f} s", flush=True, file=sys.stderr)

    def close(self):
        if self.tap:
            subprocess.run(["ip", "link", "del", QEMU_TAP], capture_output=True)
        if self.env is not None:
            subprocess.run([self.s.a.vm, "switch", "destroy", SWITCH], env=self.env, capture_output=True)
