# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the device benchmarks (virtio-blk, virtio-net), run by l2-init.sh as
# /test.sh; /bin/kbbench is bench/kbbench.c, built static. Prints "KBB name=value" lines that
# suite.py parses. Kernel parameters (set by suite.py):
#   bench_seq_mb, bench_seq_s  sequential write/read size (MiB) and time cap (s); 0 MiB: no disk
#   bench_rand_s               seconds of 4 KiB random reads
#   bench_net_mb               MiB each way over TCP to L1's "kbbench serve"; 0: no transfer
#   bench_port                 the server's port on 169.254.100.1 (L1's end of the tap)
#   bench_disk                 the disk to measure: vda (virtio-blk, the default) or sda (AHCI)
echo "bench: init ran"
ifc=$(ls /sys/class/net | grep -v '^lo$' | head -1)
echo "KBB net_if=$ifc"
ip addr add 169.254.100.2/24 dev "$ifc" && ip link set "$ifc" up
# the link and ARP: a few pings (the server is already listening)
ping -c 1 -W 10 169.254.100.1 > /dev/null 2>&1 || ping -c 1 -W 10 169.254.100.1 > /dev/null 2>&1 ||
	echo "KBB ping=failed"
if [ "${bench_seq_mb:-0}" != 0 ]; then
	/bin/kbbench disk /dev/"${bench_disk:-vda}" "$bench_seq_mb" "${bench_seq_s:-10}" "${bench_rand_s:-5}" \
		169.254.100.1 "${bench_port:-5201}"
	echo "KBB disk_status=$?"
fi
# interrupts of the virtio devices after the disk phase (a diagnostic)
grep -iE 'virtio|ahci' /proc/interrupts | tr -s ' ' | sed 's/^/KBB irq=/'
/bin/kbbench client 169.254.100.1 "${bench_port:-5201}" "${bench_net_mb:-0}"
echo "KBB net_status=$?"
echo "KBB done=1"
poweroff -f
