# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=sh
# L2 script of the snapshot benchmark (bench/snapshot.py; run by l2-init.sh as /test.sh): fills
# about half of the guest's RAM with non-zero data in a tmpfs, so that a snapshot has something to
# save (bench_fill_mb MiB, a kernel parameter; default half of MemTotal): 8 MiB from /dev/urandom
# once, then copies of it. Then prints "SNAP N", N = 1, 2, 3..., every 100 ms, forever: a guest
# restored from a snapshot must go on with the next number (no reboot: "bench: init ran" and
# "bench: filled" come once per boot).
echo "bench: init ran"
chunk=8
want=${bench_fill_mb:-$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo) / 2048))}
mkdir -p /fill
mount -t tmpfs -o size=95% tmpfs /fill || echo "bench: error: no tmpfs"
dd if=/dev/urandom of=/fill/0 bs=1M count=$chunk 2>/dev/null || echo "bench: error: /dev/urandom"
have=$chunk
n=1
while [ $((have + chunk)) -le "$want" ]; do
	cp /fill/0 /fill/$n || { echo "bench: error: cp after $have MiB"; break; }
	have=$((have + chunk))
	n=$((n + 1))
done
echo "bench: filled $have MiB ($(df -k /fill | sed -n '2s/  */ /gp'))"
i=0
while :; do
	i=$((i + 1))
	echo "SNAP $i"
	usleep 100000
done
