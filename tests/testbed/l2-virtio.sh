# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the virtio devices (run by l2-init.sh as /test.sh). Prints "KBV name=value"
# lines that in-l1-virtio.sh checks. Kernel parameter kbvirtio= selects the scenario:
#   devices  blk/ro blk/net/rng/console checks, then poweroff
#   sigterm  wait for the ACPI power button (busybox acpid), which powers off
#   evil     the power button as for sigterm, then huge virtio-blk reads (slot 8) and an endless
#            reset/enable storm on virtio-rnd (slot 6) while the host checks it still has control
#   unpriv   an ext4 file system on /dev/vda and a ping to L1 at 169.254.101.1, then poweroff
#            (in-l1-unpriv.sh: bhyve runs as an unprivileged user)
#   durable  numbered O_DIRECT + fdatasync records on /dev/vda (or kbdurdev=) until the host
#            kills the VMM (durable-writer.c; in-l1-durable.sh checks the host file)
#   snap     the durable writer on /dev/vda, and every second a line with the uptime, the boot
#            id and the count of timer, disk and random-number interrupts (in-l1-snapshot.sh:
#            checkpoint, suspend and restore must not reboot the guest or lose a record)
#   cgroup   4 MiB written to /dev/vda with O_DIRECT and timed, 3 s of busy loop, then the ACPI
#            power button powers off (in-l1-cgroup.sh: vm's limit_wbps and limit_pcpu)
say() { echo "KBV $*"; }

# an ext4 file system on vda: a known file written, its md5 said, unmounted and synced
vda_fs_check() {
	if mke2fs -q /dev/vda >/dev/null 2>&1 && mkdir -p /mnt && mount -t ext4 /dev/vda /mnt; then
		seq 1 20000 > /mnt/known.txt
		say known_md5=$(md5sum /mnt/known.txt | cut -d' ' -f1)
		umount /mnt && sync && say vda_fs=ok
	else
		say vda_fs=failed
	fi
}

# the first NIC as GUEST_ADDR/24, three pings to HOST_ADDR
net_ping() {
	ifc=$(ls /sys/class/net | grep -v lo | head -1)
	say net_if=$ifc
	say net_mac=$(cat /sys/class/net/$ifc/address 2>/dev/null)
	say net_mtu=$(cat /sys/class/net/$ifc/mtu 2>/dev/null)
	ip addr add "$1"/24 dev "$ifc" && ip link set "$ifc" up
	if ping -c 3 -W 5 "$2" >/dev/null 2>&1; then say ping=ok; else say ping=failed; fi
}

uptime_s() { cut -d" " -f1 /proc/uptime; }

case "${kbvirtio:-devices}" in
cgroup)
	mdev -s
	sh /bin/kb-acpid
	t0=$(uptime_s)
	dd if=/dev/zero of=/dev/vda bs=64k count=64 oflag=direct conv=fsync 2>/dev/null
	say wstream_rc=$?
	say wstream_bytes=4194304
	say wstream_s=$(awk -v a="$t0" -v b="$(uptime_s)" "BEGIN { print b - a }")
	end=$(($(cut -d. -f1 /proc/uptime) + 3))
	while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do :; done
	say spin=done
	say acpid=ready
	sleep 300
	exit 0
	;;
snap)
	for _ in $(seq 300); do [ -b /dev/vda ] && break; mdev -s; sleep 0.1; done
	boot=$(cat /proc/sys/kernel/random/boot_id)
	(
		while :; do
			# the guest's own view that interrupts still arrive after a restore
			loc=$(awk '/LOC:/ { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts)
			virtio=$(awk '/virtio/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }' /proc/interrupts)
			rnd=$(head -c 16 /dev/hwrng 2>/dev/null | wc -c)
			say "tick up=$(uptime_s) boot=$boot loc=$loc virtio=$virtio hwrng=$rnd"
			sleep 1
		done
	) &
	/bin/durable-writer /dev/vda
	exit 0
	;;
durable)
	# kbdurdev: the disk under test (virtio-blk's vda, AHCI's sda, NVMe's nvme0n1)
	dev=${kbdurdev:-/dev/vda}
	for _ in $(seq 300); do [ -b "$dev" ] && break; mdev -s; sleep 0.1; done
	/bin/durable-writer "$dev"
	exit 0
	;;
unpriv)
	mdev -s
	vda_fs_check
	net_ping 169.254.101.2 169.254.101.1
	say done=1
	exit 0
	;;
sigterm | evil)
	sh /bin/kb-acpid
	if [ "$kbvirtio" = evil ]; then
		/bin/evil-virtio 0000:00:08.0 huge
		/bin/evil-virtio 0000:00:06.0 storm &
		sleep 1
		say storm=started
	fi
	say acpid=ready
	sleep 120
	say acpid=timeout
	exit 0
	;;
esac

# devices seen by the guest's PCI bus
for d in /sys/bus/pci/devices/*; do
	say pci="$(basename $d):$(cat $d/vendor):$(cat $d/device):$(basename $(readlink $d/driver) 2>/dev/null)"
done

# virtio-blk: vda is the writable sparse image, vdb the read-only one
mdev -s
say vda_size=$(cat /sys/block/vda/size 2>/dev/null)
say vdb_ro=$(cat /sys/block/vdb/ro 2>/dev/null)
say vda_lbs=$(cat /sys/block/vda/queue/logical_block_size 2>/dev/null)
vda_fs_check
if dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>/dev/null; then
	say vdb_write=succeeded
else
	say vdb_write=refused
fi
say vdb_head=$(dd if=/dev/vdb bs=16 count=1 2>/dev/null | tr -d '\0')

# virtio-rng
say rng_current=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
a=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
b=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | md5sum | cut -d' ' -f1)
[ -n "$a" ] && [ "$a" != "$b" ] && [ "$a" != "$(md5sum </dev/null | cut -d' ' -f1)" ] && say rng=ok || say rng=failed

# virtio-net: 169.254.100.2 talks to L1's tap at .1
net_ping 169.254.100.2 169.254.100.1
dd if=/dev/urandom of=/tmp/blob bs=1M count="${kbnetmb:-16}" 2>/dev/null
say blob_sha=$(sha256sum /tmp/blob | cut -d' ' -f1)
t0=$(cut -d" " -f1 /proc/uptime)
if timeout 600 nc 169.254.100.1 5001 < /tmp/blob; then say tcp_send=ok; else say tcp_send=failed; fi
say tcp_guest_seconds=$(awk -v a="$t0" -v b="$(cut -d" " -f1 /proc/uptime)" "BEGIN { print b - a }")
rm -f /tmp/blob

# virtio-console: port "kbport" carries a line each way
p=$(grep -l '^kbport$' /sys/class/virtio-ports/*/name 2>/dev/null | head -1)
dev=/dev/$(basename "$(dirname "$p")" 2>/dev/null)
say vport=$dev
if [ -c "$dev" ]; then
	read -r line < "$dev"
	say vport_got="$line"
	echo "guest-got:$line" > "$dev"
fi
# a malicious driver takes virtio-rnd (slot 6) away from Linux and submits broken rings
/bin/evil-virtio 0000:00:06.0
say done=1
