#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# /test.sh of the initrd that boots a disk's own system (packed with mkinitrd-l2.sh --exec, so it
# is process 1): mounts the ext4 file system on kbroot= (kernel parameter, default /dev/vda)
# read-write and hands process 1 to that system's /sbin/init (systemd on the Debian cloud image
# of debian-image.sh). The Debian kernel has virtio_blk and ext4 as modules; this initrd loads
# them, as a distribution's initramfs would.
dev=${kbroot:-/dev/vda}
give_up() { echo "l2-rootfs: $1"; poweroff -f; }
i=0
while [ ! -b "$dev" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mkdir -p /newroot
mount -t ext4 -o rw "$dev" /newroot || give_up "cannot mount $dev"
# (a link to /lib/systemd/systemd, which only resolves inside the new root)
[ -L /newroot/sbin/init ] || [ -x /newroot/sbin/init ] || give_up "$dev has no /sbin/init"
for m in dev proc sys; do mount --move "/$m" "/newroot/$m" || give_up "cannot move /$m"; done
exec switch_root /newroot /sbin/init
