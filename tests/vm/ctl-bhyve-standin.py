#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""A stand-in bhyve for tests/vm suites on hosts without /dev/kvm: it runs no guest, but serves
the guest's control socket the way bhyve does (src/core/ctl.c, protocol in src/ctl/ctlproto.h):

  * the socket is ${KBHYVE_RUNDIR:-/run/kbhyve}/vmm/NAME (NAME: the last argument), mode 0600;
    a socket that still answers means "already running": exit 4, as bhyve's clear_stale does;
    a stale one is removed;
  * greeting "kbhyve-ctl 1"; requests answered in order with data lines then "ok"/"error: ...";
  * status: name, pid, uptime_ms, cpus, memory; poweroff: the ACPI power button;
    force-poweroff / force-reset / destroy: "ok", then exit 1 / 0 / 4;
  * SIGTERM is the power button too (bhyve's signal handler);
  * the power button makes the "guest" power off (exit 1) unless $vm_dir/ignore exists when it is
    pressed (a guest that ignores ACPI); each press is appended to $vm_dir/NAME.acpi.

What it does not do: run a guest, make vCPUs, consoles or devices, or parse bhyve's options."""
import os
import signal
import socket
import sys
import threading
import time

name = sys.argv[-1]
rundir = os.environ.get("KBHYVE_RUNDIR") or "/run/kbhyve"
vmm = os.path.join(rundir, "vmm")
path = os.path.join(vmm, name)
t0 = time.monotonic()
lock = threading.Lock()


def finish(code):
    try:
        os.unlink(path)
    except OSError:
        pass
    sys.stdout.flush()
    os._exit(code)


def power_button():
    vm_dir = os.environ.get("vm_dir", "")
    with open(os.path.join(vm_dir, name + ".acpi"), "a") as f:
        f.write("press\n")
    if not os.path.exists(os.path.join(vm_dir, "ignore")):
        print("bhyve: guest powered off (ACPI)", flush=True)
        finish(1)


def serve(conn):
    f = conn.makefile("rwb", buffering=0)
    f.write(b"kbhyve-ctl 1\n")
    for raw in f:
        req = raw.decode(errors="replace").rstrip("\r\n")
        with lock:
            if req == "status":
                ms = int((time.monotonic() - t0) * 1000)
                f.write(("name %s\npid %d\nuptime_ms %d\ncpus 1\nmemory 33554432\nok\n"
                         % (name, os.getpid(), ms)).encode())
            elif req == "poweroff":
                f.write(b"ok\n")
                power_button()
            elif req in ("force-poweroff", "force-reset", "destroy"):
                f.write(b"ok\n")
                finish({"force-poweroff": 1, "force-reset": 0, "destroy": 4}[req])
            elif req == "help":
                f.write(b"commands status stats destroy force-reset force-poweroff poweroff help\nok\n")
            else:
                f.write(("error: unknown request '%s'\n" % req).encode())
    conn.close()


os.makedirs(vmm, exist_ok=True)
probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    probe.connect(path)
    print("bhyve: VM %s is already running (%s)" % (name, path), flush=True)
    sys.exit(4)
except (FileNotFoundError, ConnectionRefusedError):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
finally:
    probe.close()
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
os.chmod(path, 0o600)
srv.listen(8)
signal.signal(signal.SIGTERM, lambda s, f: power_button())
print("bhyve: %s running (stand-in, pid %d)" % (name, os.getpid()), flush=True)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
