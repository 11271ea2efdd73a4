# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the AHCI models (run by l2-init.sh as /test.sh) with Linux's own drivers
# (ahci, libata, sd_mod, sr_mod). Prints "KBA name=value" lines that in-l1-ahci.sh checks.
# The disks are found by the model strings in-l1-ahci.sh gives them.
say() { echo "KBA $*"; }
mdev -s 2>/dev/null

for d in /sys/bus/pci/devices/*; do
	say pci="$(basename $d):$(cat $d/vendor):$(cat $d/device):$(cat $d/class):$(basename "$(readlink $d/driver)" 2>/dev/null)"
done
# every SCSI disk and CD: name, model, firmware revision, serial, size, rotational, queue depth
for b in /sys/block/sd* /sys/block/sr*; do
	[ -e "$b" ] || continue
	n=$(basename $b)
	model=$(cat $b/device/model 2>/dev/null | sed 's/ *$//')
	# VPD page 0x80: a 4-byte header, then the serial number
	ser=$(tail -c +5 $b/device/vpd_pg80 2>/dev/null | tr -d '\000' | sed 's/^ *//; s/ *$//')
	say "dev=$n|$model|$(cat $b/device/rev 2>/dev/null | sed 's/ *$//')|$ser|$(cat $b/size)|$(cat $b/queue/rotational)|$(cat $b/device/queue_depth 2>/dev/null)"
	case "$model" in
	"KBHYVE DISK ONE") one=/dev/$n ;;
	"BHYVE SATA DISK") two=/dev/$n ;;
	esac
done
say one=$one two=$two

# data written through the first disk (DMA or NCQ, 4 MiB at 1 MiB) is what the host file holds
dd if=/dev/urandom of=/tmp/blob bs=1M count=4 2>/dev/null
say blob_sha=$(sha256sum /tmp/blob | cut -d' ' -f1)
if dd if=/tmp/blob of=$one bs=1M seek=1 conv=fsync oflag=direct 2>/dev/null; then say write=ok; else say write=failed; fi
# and reads back the same through the page cache dropped
echo 3 > /proc/sys/vm/drop_caches
say readback_sha=$(dd if=$one bs=1M skip=1 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
# TRIM: 16 MiB written at 16 MiB, then discarded: the host file gets a hole
dd if=/dev/urandom of=$one bs=1M seek=16 count=16 conv=fsync oflag=direct 2>/dev/null
say discard_max=$(cat /sys/block/${one#/dev/}/queue/discard_max_bytes)
if blkdiscard -o $((16 << 20)) -l $((16 << 20)) $one 2>/tmp/bd.err; then say discard=ok; else say discard="failed $(head -c 100 /tmp/bd.err)"; fi
sync
# the second controller's disk: a small write, read back by the host
echo kbhyve-port-zero-of-ahci > /tmp/tag
dd if=/tmp/tag of=$two bs=512 count=1 conv=sync,fsync 2>/dev/null && say two_write=ok

# CDs: mount the ISO 9660 image from the first CD drive that has one, compare a file
mkdir -p /mnt
for n in /sys/block/sr*; do
	dev=/dev/$(basename $n)
	if mount -t iso9660 -o ro $dev /mnt 2>/dev/null; then
		say cd_mounted=$(basename $n)
		say cd_file_sha=$(sha256sum /mnt/kbhyve/payload.bin | cut -d' ' -f1)
		say cd_label=$(cat /mnt/kbhyve/label.txt)
		umount /mnt
		break
	fi
done
# an empty drive: present, no medium
for n in /sys/block/sr*; do
	dev=/dev/$(basename $n)
	if ! dd if=$dev of=/dev/null bs=2048 count=1 2>/dev/null; then
		say cd_empty=$(basename $n)
	fi
done
# the controllers' interrupts: Linux's ahci takes the MSI vector the PCI bus offers
grep -i ahci /proc/interrupts | tr -s ' ' | sed 's/^/KBA irq=/'
say done=1
