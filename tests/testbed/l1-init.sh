#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# /init of the L1 test bed guest (busybox sh; packed by mkinitrd-l1.sh, driven by l1run).
#
# Console (ttyS1) = the L1 kernel log file on the host; ttyS0 = the command's output.
# Shares (9p): hostroot = host /, read-only; work = the repository, read-write, mounted at its
# host path; ctl = l1run's run folder: env (L1RUN_WORKDIR), cmd (the command as a bash script),
# and what we write back: started, status (the command's exit status).
export PATH=/bin

log() { echo "l1-init: $*"; }

fail()
{
	log "$*"
	sync
	poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

# Modules in dependency order (mkinitrd-l1.sh); the optional ones may be missing from the list.
while read -r m; do
	insmod "/lib/modules/$m.ko" || log "insmod $m failed"
done < /etc/modules

p9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /ctl /lower /rw /newroot
mount -t 9p -o "$p9" ctl /ctl || fail "cannot mount the ctl share"
. /ctl/env
[ -n "$L1RUN_WORKDIR" ] || fail "ctl/env names no L1RUN_WORKDIR"

# The host root, read-only, with a tmpfs on top so that the command may write anywhere.
mount -t 9p -o "$p9,ro,cache=loose" hostroot /lower || fail "cannot mount the hostroot share"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "cannot mount the overlay on the host root"
mkdir -p "/newroot$L1RUN_WORKDIR"
mount -t 9p -o "$p9,cache=mmap" work "/newroot$L1RUN_WORKDIR" || fail "cannot mount the work share"

mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
mount -t tmpfs -o mode=755 run /newroot/run
mkdir -p /newroot/run/lock
hostname kbhyve-l1
ip link set lo up

[ -c /newroot/dev/kvm ] || log "no /dev/kvm (kvm-amd did not load?)"
cp /ctl/cmd /newroot/run/l1run-cmd || fail "cannot copy the command"

# The command writes into a fifo that cat copies to ttyS0 (-opost: no \n -> \r\n): it sees a
# pipe, not a terminal, as it would in CI.
stty -F /dev/ttyS0 -opost
mkfifo /out
cat /out > /dev/ttyS0 &
catpid=$!
: > /ctl/started
chroot /newroot /bin/bash /run/l1run-cmd < /dev/null > /out 2>&1
echo $? > /ctl/status

# Let cat drain the fifo; left-over background processes would keep it open: stop them.
i=0
while kill -0 $catpid 2> /dev/null && [ $i -lt 20 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -TERM -1 2> /dev/null
sync
poweroff -f
