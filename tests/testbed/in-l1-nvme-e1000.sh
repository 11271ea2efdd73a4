#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): bhyve's nvme and e1000 under Linux's own drivers in a
# real Debian guest: the NVMe controller's strings (ser=), data written in the guest is in the
# host file, deallocate punches a hole, a read-only namespace refuses writes; the e1000 takes
# mac=, pings L1 and carries a TCP transfer each way, compared by checksum.
# Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-nvme-e1000.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run
# transfer size each way (the test bed's taps move 0.1-0.5 MB/s)
NET_MB=${KBHYVE_NET_MB:-4}

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 nvme/e1000: $1"; else echo "not ok - l2 nvme/e1000: $1 ($3)"; fi
}
val() { sed -n "s/^KBN $1=//p" "$T/console.out" | tr -d '\r' | head -1; }

truncate -s 64M "$T/nvme.img"
printf 'kbhyve-ro-nvme!!' > "$T/ro.img"
truncate -s 1M "$T/ro.img"
cp "$T/ro.img" "$T/ro.orig"
head -c $((NET_MB << 20)) /dev/urandom > "$T/tx.bin"
ip tuntap add tapkb1 mode tap
ip addr add 169.254.101.1/24 dev tapkb1
ip link set tapkb1 up
timeout 600 socat -u TCP-LISTEN:5002,reuseaddr OPEN:"$T/received",creat,trunc 2>"$T/socat.err" &
rx_pid=$!
timeout 600 socat -u OPEN:"$T/tx.bin" TCP-LISTEN:5003,reuseaddr 2>>"$T/socat.err" &
tx_pid=$!
mac=58:9c:fc:00:10:00

timeout -k 5 600 "$BHYVE" -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
	-s 3,nvme,"$T/nvme.img",ser=KBNVME0001 -s 4,nvme,"$T/ro.img",ro \
	-s 5,e1000,tapkb1,mac=$mac \
	-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
	-o boot.cmdline="console=ttyS0 quiet kbnetmb=$NET_MB" -o x86.cpuid.disable=xsave \
	nvme-e1000-guest </dev/null >"$T/console.out" 2>"$T/bhyve.err"
rc=$?
kill $rx_pid $tx_pid 2>/dev/null
wait $rx_pid $tx_pid 2>/dev/null

check "bhyve exit status after poweroff" "$([ $rc = 1 ]; echo $?)" "exit $rc; $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
check "guest ran the device script" "$([ "$(val done)" = 1 ]; echo $?)" "$(tail -8 "$T/console.out" | tr '\n' ' ')"
pci=$(sed -n 's/^KBN pci=//p' "$T/console.out" | tr -d '\r' | tr '\n' ' ')
check "Linux's nvme binds both controllers (fb5d:0a0a, class 010802)" \
	"$([ "$(echo "$pci" | grep -o '0xfb5d:0x0a0a:0x010802:nvme' | wc -l)" = 2 ]; echo $?)" "$pci"
check "Linux's e1000 binds the NIC (8086:100f)" "$(echo "$pci" | grep -q '0x8086:0x100f:0x020000:e1000'; echo $?)" "$pci"
check "nvme model, ser= and firmware revision as the guest reads them" \
	"$([ "$(val nvme_model)" = bhyve-NVMe ] && [ "$(val nvme_serial)" = KBNVME0001 ] && [ "$(val nvme_fw)" = 1.0 ]; echo $?)" \
	"model=$(val nvme_model) serial=$(val nvme_serial) fw=$(val nvme_fw)"
check "nvme namespace size and block size, I/O queues per vCPU" \
	"$([ "$(val nvme_size)" = $((64 * 2048)) ] && [ "$(val nvme_lbs)" = 512 ] && [ "$(val nvme_queues)" -ge 2 ]; echo $?)" \
	"size=$(val nvme_size) lbs=$(val nvme_lbs) queues=$(val nvme_queues) eui=$(val nvme_eui)"
host_blob=$(dd if="$T/nvme.img" bs=1M skip=1 count=4 2>/dev/null | sha256sum | cut -d' ' -f1)
check "data written by the guest through nvme is in the host file" \
	"$([ "$(val nvme_write)" = ok ] && [ "$host_blob" = "$(val blob_sha)" ]; echo $?)" "write=$(val nvme_write) guest $(val blob_sha) host $host_blob"
check "nvme data reads back in the guest" "$([ "$(val readback_sha)" = "$(val blob_sha)" ]; echo $?)" "readback $(val readback_sha)"
alloc=$(( $(stat -c '%b * %B' "$T/nvme.img") ))
check "nvme deallocate (blkdiscard) punches a hole in the host file" \
	"$([ "$(val discard)" = ok ] && [ $alloc -lt $((12 << 20)) ]; echo $?)" "discard=$(val discard) allocated=$alloc bytes"
check "a read-only nvme namespace refuses writes and reads" \
	"$([ "$(val nvme1_ro)" = 1 ] && [ "$(val ro_write)" = refused ] && [ "$(val ro_head)" = kbhyve-ro-nvme!! ] && cmp -s "$T/ro.img" "$T/ro.orig"; echo $?)" \
	"ro=$(val nvme1_ro) write=$(val ro_write) head=$(val ro_head)"
check "e1000 mac= reaches the guest, link up" "$([ "$(val net_mac)" = $mac ] && [ "$(val carrier)" = 1 ]; echo $?)" "if=$(val net_if) mac=$(val net_mac) carrier=$(val carrier)"
check "e1000 ping L1" "$([ "$(val ping)" = ok ]; echo $?)" "ping=$(val ping)"
sha_rx=$(sha256sum "$T/received" 2>/dev/null | cut -d' ' -f1)
check "e1000 $NET_MB MiB TCP guest -> L1 intact" "$([ "$(val tcp_send)" = ok ] && [ "$sha_rx" = "$(val net_sha)" ]; echo $?)" \
	"sent $(val net_sha) received $sha_rx ($(stat -c %s "$T/received" 2>/dev/null) bytes)"
check "e1000 $NET_MB MiB TCP L1 -> guest intact" "$([ "$(val rx_sha)" = "$(sha256sum "$T/tx.bin" | cut -d' ' -f1)" ]; echo $?)" \
	"tcp_recv=$(val tcp_recv) guest got $(val rx_sha)"
irqs=$(sed -n 's/^KBN irq=//p' "$T/console.out" | tr -d '\r')
# the NVMe model offers MSI-X only (no MSI capability): Linux lists those vectors as PCI-MSI
check "Linux's nvme takes one MSI-X vector per queue (the PCI bus's MSI-X service), each interrupting" \
	"$([ "$(echo "$irqs" | grep -c 'PCI-MSI.*nvme0q[0-9]')" -ge 3 ] && echo "$irqs" | grep 'nvme0q1$' | awk '{ exit !($2 + $3 > 0) }'; echo $?)" "$(echo "$irqs" | tr '\n' ';')"
check "the VMM logged no guest error" "$(! grep -qiE 'nvme|e1000' "$T/bhyve.err"; echo $?)" "$(grep -iE 'nvme|e1000' "$T/bhyve.err" | head -3 | tr '\n' ' ')"
ip link del tapkb1 2>/dev/null
rm -rf "$T"
