# SPDX-License-Identifier: BSD-2-Clause
# The demo guest's script (run by l2-init.sh as /test.sh): a busybox shell on the serial console.
# With demo=interactive (a host with real KVM) the shell is yours; in the nested test bed, whose
# console is not interactive, it runs a short session and powers off.
echo
echo "kbhyve demo: Debian $(uname -r) booted by bhyve, $(nproc) vCPU(s), $(sed -n 's/^MemTotal: *//p' /proc/meminfo) RAM"
if [ "${demo:-}" = interactive ]; then
	echo "busybox shell on ttyS0; 'poweroff -f' ends the VM (bhyve exits 1), 'reboot -f' exits 0"
	setsid cttyhack sh
else
	for c in "uname -a" "cat /proc/cmdline" "nproc" "free -m" "ls /sys/bus/pci/devices" \
		"cat /sys/bus/pci/devices/*/vendor" "date" "dmesg | grep -i -m3 -E 'ACPI: (FACP|APIC)|smpboot: Total'"; do
		echo "/ # $c"
		sh -c "$c"
	done
fi
poweroff -f
