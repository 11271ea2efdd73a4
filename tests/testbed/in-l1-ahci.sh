#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): bhyve's AHCI models (ahci-hd, ahci-cd, and the
# multi-port `ahci,hd:...,cd:...` form) under Linux's ahci/sd/sr drivers in a real Debian
# guest: data written in the guest is in the host file, TRIM punches a hole, an ISO 9660 image
# mounts from the CD, an empty drive has no medium, and the model/serial/revision/nmrr options
# are what the guest reads. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-ahci.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 ahci: $1"; else echo "not ok - l2 ahci: $1 ($3)"; fi
}
val() { sed -n "s/^KBA $1=//p" "$T/console.out" | tr -d '\r' | head -1; }

truncate -s 64M "$T/one.img"
truncate -s 8M "$T/two.img"
mkdir -p "$T/iso/kbhyve"
head -c 3M /dev/urandom > "$T/iso/kbhyve/payload.bin"
echo kbhyve-cd-label > "$T/iso/kbhyve/label.txt"
xorriso -as mkisofs -quiet -R -V KBHYVE -o "$T/cd.iso" "$T/iso" 2>"$T/xorriso.err" ||
	echo "# xorriso: $(head -3 "$T/xorriso.err")"

timeout -k 5 600 "$BHYVE" -c 2 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
	-s 3,ahci-hd,"$T/one.img",nmrr=1,ser=KB-SERIAL-1,rev=9.8,model="KBHYVE DISK ONE" \
	-s 4,ahci,hd:"$T/two.img",cd:"$T/cd.iso" \
	-s 5,ahci-cd \
	-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
	-o boot.cmdline="console=ttyS0 quiet" -o x86.cpuid.disable=xsave \
	ahci-guest </dev/null >"$T/console.out" 2>"$T/bhyve.err"
rc=$?

check "bhyve exit status after poweroff" "$([ $rc = 1 ]; echo $?)" "exit $rc; $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
check "guest ran the AHCI script" "$([ "$(val done)" = 1 ]; echo $?)" "$(tail -8 "$T/console.out" | tr '\n' ' ')"
pci=$(sed -n 's/^KBA pci=//p' "$T/console.out" | tr -d '\r' | tr '\n' ' ')
check "Linux's ahci driver binds all three controllers (8086:2821, class 010601)" \
	"$([ "$(echo "$pci" | grep -o '0x8086:0x2821:0x010601:ahci' | wc -l)" = 3 ]; echo $?)" "$pci"
devs=$(sed -n 's/^KBA dev=//p' "$T/console.out" | tr -d '\r')
one=$(echo "$devs" | grep '|KBHYVE DISK ONE|')
check "ahci-hd model, rev, ser and nmrr=1 as the guest reads them" \
	"$(echo "$one" | grep -q '^sd.|KBHYVE DISK ONE|9.8|KB-SERIAL-1|131072|0|'; echo $?)" "$one"
check "ahci-hd offers NCQ (queue depth > 1)" "$([ "${one##*|}" -gt 1 ] 2>/dev/null; echo $?)" "$one"
two=$(echo "$devs" | grep '|BHYVE SATA DISK|')
check "multi-port ahci: the hd port with the default model, rotational" \
	"$(echo "$two" | grep -q '^sd.|BHYVE SATA DISK|001|BHYVE-[0-9A-Fa-f-]*|16384|1|'; echo $?)" "$two"
ncd=$(echo "$devs" | grep -c '^sr.|BHYVE SATA DVD ROM\|^sr.|BHYVE DVD-ROM')
check "two CD drives (the multi-port cd port and the empty ahci-cd)" "$([ "$(echo "$devs" | grep -c '^sr')" = 2 ]; echo $?)" "$(echo "$devs" | tr '\n' ' ') ($ncd by model)"
host_blob=$(dd if="$T/one.img" bs=1M skip=1 count=4 2>/dev/null | sha256sum | cut -d' ' -f1)
check "data written by the guest is in the host file" \
	"$([ "$(val write)" = ok ] && [ "$host_blob" = "$(val blob_sha)" ]; echo $?)" "write=$(val write) guest $(val blob_sha) host $host_blob"
check "data reads back in the guest" "$([ "$(val readback_sha)" = "$(val blob_sha)" ]; echo $?)" "readback $(val readback_sha)"
alloc=$(( $(stat -c '%b * %B' "$T/one.img") ))
check "TRIM (blkdiscard) punches a hole in the host file" \
	"$([ "$(val discard)" = ok ] && [ $alloc -lt $((12 << 20)) ]; echo $?)" "discard=$(val discard) discard_max=$(val discard_max) allocated=$alloc bytes"
check "the second controller's hd port writes its file" \
	"$(head -c 24 "$T/two.img" | grep -q kbhyve-port-zero-of-ahci; echo $?)" "two_write=$(val two_write) head=$(head -c 24 "$T/two.img" | tr -cd '[:print:]')"
check "an ISO 9660 image mounts from the ahci cd port and reads intact" \
	"$([ "$(val cd_file_sha)" = "$(sha256sum "$T/iso/kbhyve/payload.bin" | cut -d' ' -f1)" ] && [ "$(val cd_label)" = kbhyve-cd-label ]; echo $?)" "mounted=$(val cd_mounted) sha=$(val cd_file_sha) label=$(val cd_label)"
check "an ahci-cd without a file is an empty drive" "$([ -n "$(val cd_empty)" ]; echo $?)" "cd_empty=$(val cd_empty)"
irqs=$(sed -n 's/^KBA irq=//p' "$T/console.out" | tr -d '\r')
check "Linux's ahci takes MSI (the PCI bus's MSI service): 3 controllers, interrupts delivered" \
	"$([ "$(echo "$irqs" | grep -c 'PCI-MSI.*ahci')" = 3 ] && echo "$irqs" | awk '{ s += $2 } END { exit !(s > 0) }'; echo $?)" "$(echo "$irqs" | tr '\n' ';')"
check "the VMM logged no guest error" "$(! grep -qi 'ahci' "$T/bhyve.err"; echo $?)" "$(grep -i ahci "$T/bhyve.err" | head -3 | tr '\n' ' ')"
rm -rf "$T"
