# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=sh
# L2 script of the live-migration benchmark (bench/migrate.py; run by l2-init.sh as /test.sh):
# fills bench_fill_mb MiB (a kernel parameter) of a tmpfs with non-zero data (8 MiB from
# /dev/urandom, then copies), then, with bench_busy=1, rewrites that file in a loop in the
# background (dd, 8 MiB at a time, the whole file again and again: its pages are dirtied all the
# time, "busy"); then prints "SNAP N", N = 1, 2, 3..., every 100 ms, forever. A migrated guest
# must go on with the next number ("bench: init ran" and "bench: filled" come once per boot).
echo "bench: init ran"
chunk=8
want=${bench_fill_mb:-64}
mkdir -p /fill
mount -t tmpfs -o size=95% tmpfs /fill || echo "bench: error: no tmpfs"
dd if=/dev/urandom of=/fill/0 bs=1M count=$chunk 2>/dev/null || echo "bench: error: /dev/urandom"
: >/fill/busy
have=0
while [ $((have + chunk)) -le "$want" ]; do
	cat /fill/0 >>/fill/busy || { echo "bench: error: cat after $have MiB"; break; }
	have=$((have + chunk))
done
echo "bench: filled $have MiB ($(df -k /fill | sed -n '2s/  */ /gp'))"
if [ "${bench_busy:-0}" = 1 ]; then
	n=$((have / chunk))
	(
		while :; do
			i=0
			while [ $i -lt $n ]; do
				dd if=/fill/0 of=/fill/busy bs=1M seek=$((i * chunk)) count=$chunk \
					conv=notrunc 2>/dev/null || { echo "bench: error: dd"; exit 1; }
				i=$((i + 1))
			done
		done
	) &
	echo "bench: busy rewriting $have MiB"
fi
i=0
while :; do
	i=$((i + 1))
	echo "SNAP $i"
	usleep 100000
done
