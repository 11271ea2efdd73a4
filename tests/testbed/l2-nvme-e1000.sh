# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the NVMe controller and the e1000 NIC (run by l2-init.sh as /test.sh) with
# Linux's own drivers (nvme, e1000). Prints "KBN name=value" lines that in-l1-nvme-e1000.sh checks.
say() { echo "KBN $*"; }
mdev -s 2>/dev/null

for d in /sys/bus/pci/devices/*; do
	say pci="$(basename $d):$(cat $d/vendor):$(cat $d/device):$(cat $d/class):$(basename "$(readlink $d/driver)" 2>/dev/null)"
done

# NVMe: the controller's strings, the namespace size and block size
c=/sys/class/nvme/nvme0
say nvme_model="$(sed 's/ *$//' $c/model 2>/dev/null)"
say nvme_serial="$(sed 's/ *$//' $c/serial 2>/dev/null)"
say nvme_fw="$(sed 's/ *$//' $c/firmware_rev 2>/dev/null)"
say nvme_queues=$(ls -d /sys/block/nvme0n1/mq/* 2>/dev/null | wc -l)
say nvme_size=$(cat /sys/block/nvme0n1/size 2>/dev/null)
say nvme_lbs=$(cat /sys/block/nvme0n1/queue/logical_block_size 2>/dev/null)
say nvme_eui=$(cat /sys/block/nvme0n1/eui 2>/dev/null)
# data written through the namespace (4 MiB at 1 MiB, O_DIRECT) is what the host file holds
dd if=/dev/urandom of=/tmp/blob bs=1M count=4 2>/dev/null
say blob_sha=$(sha256sum /tmp/blob | cut -d' ' -f1)
if dd if=/tmp/blob of=/dev/nvme0n1 bs=1M seek=1 conv=fsync oflag=direct 2>/dev/null; then say nvme_write=ok; else say nvme_write=failed; fi
say readback_sha=$(dd if=/dev/nvme0n1 bs=1M skip=1 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)
# deallocate (DSM): 16 MiB written at 16 MiB, then discarded: a hole in the host file
dd if=/dev/urandom of=/dev/nvme0n1 bs=1M seek=16 count=16 conv=fsync oflag=direct 2>/dev/null
if blkdiscard -o $((16 << 20)) -l $((16 << 20)) /dev/nvme0n1 2>/tmp/bd.err; then say discard=ok; else say discard="failed $(head -c 100 /tmp/bd.err)"; fi
sync
# the read-only namespace refuses writes
say nvme1_ro=$(cat /sys/block/nvme1n1/ro 2>/dev/null)
if dd if=/dev/zero of=/dev/nvme1n1 bs=4096 count=1 conv=fsync oflag=direct 2>/dev/null; then say ro_write=succeeded; else say ro_write=refused; fi
say ro_head=$(dd if=/dev/nvme1n1 bs=4096 count=1 iflag=direct 2>/dev/null | head -c 16 | tr -d '\0')

# e1000: the MAC from mac=, ping and a TCP transfer to L1
ifc=
for n in /sys/class/net/*; do
	[ "$(basename "$(readlink $n/device/driver)" 2>/dev/null)" = e1000 ] && ifc=$(basename $n)
done
say net_if=$ifc
say net_mac=$(cat /sys/class/net/$ifc/address 2>/dev/null)
ip addr add 169.254.101.2/24 dev "$ifc" && ip link set "$ifc" up
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ "$(cat /sys/class/net/$ifc/carrier 2>/dev/null)" = 1 ] && break
	sleep 0.5
done
say carrier=$(cat /sys/class/net/$ifc/carrier 2>/dev/null)
if ping -c 3 -W 5 169.254.101.1 >/dev/null 2>&1; then say ping=ok; else say ping=failed; fi
dd if=/dev/urandom of=/tmp/blob bs=1M count="${kbnetmb:-8}" 2>/dev/null
say net_sha=$(sha256sum /tmp/blob | cut -d' ' -f1)
if timeout 300 nc 169.254.101.1 5002 < /tmp/blob; then say tcp_send=ok; else say tcp_send=failed; fi
# and the other way: L1 sends a file, the guest checks it
if timeout 300 nc 169.254.101.1 5003 > /tmp/rx; then say tcp_recv=ok; else say tcp_recv=failed; fi
say rx_sha=$(sha256sum /tmp/rx | cut -d' ' -f1)
grep -iE 'nvme|eth|e1000' /proc/interrupts | tr -s ' ' | sed 's/^/KBN irq=/'
say done=1
