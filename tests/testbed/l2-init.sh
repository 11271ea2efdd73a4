#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# /init of L2 test guests (busybox sh; packed by mkinitrd-l2.sh). Boot them with "quiet" and a
# serial console (console=ttyS0): what the test script prints is the test's output.
#
# 1. (optional, left out by mkinitrd-l2.sh --no-marker) the "init started" marker: one byte, 0x01,
#    written to I/O port 0x80 (POST code port) through /dev/port, so that a VMM can time its
#    guest's boot from the outside.
# 2. proc, sys, devtmpfs; the modules of /etc/modules, in order (dependencies first).
# 3. /test.sh, the test script; then "l2-init: test script status N" and poweroff -f, unless the
#    script ended the VM itself (poweroff -f / reboot -f / halt -f). With /etc/exec-script
#    (mkinitrd-l2.sh --exec) the script replaces /init and stays process 1, e.g. to switch_root.
# Kernel parameters of the form name=value reach the script as environment variables.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
if [ -f /etc/port80-marker ]; then
	printf '\001' | dd of=/dev/port bs=1 seek=128 count=1 conv=notrunc 2> /dev/null
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys

while read -r m; do
	insmod "/lib/modules/$m.ko" || echo "l2-init: insmod $m failed"
done < /etc/modules

[ -f /etc/exec-script ] && exec sh /test.sh
sh /test.sh
echo "l2-init: test script status $?"
poweroff -f
