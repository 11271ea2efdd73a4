# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the `vm` manager test (run by l2-init.sh as /test.sh; in-l1-vm.sh drives it).
# Kernel parameters: kbip (address/prefix for the NIC), kbgw (the switch's address to ping).
# The boot number is kept in the first sector of the virtio disk (vda): "KBBOOT=N".
#   every boot: busybox acpid powers off on the ACPI power button (what `vm stop` presses)
#   then waits for a "go" line on the console (so the test has attached `vm console` and sees all)
#   boot 1: prints KBTEST lines (boot, ping) and reboots by itself (bhyve exits 0: the
#           supervisor must run it again)
#   boot 2+: the same, then echoes each console line back as "KBTEST got=LINE"
say() { echo "KBTEST $*"; }

sh /bin/kb-acpid "KBTEST power-button"

mdev -s
prev=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\000' | sed -n 's/^KBBOOT=\([0-9]*\).*/\1/p')
boot=$(( ${prev:-0} + 1 ))
printf 'KBBOOT=%d\n' "$boot" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null

# wait for the test's "go" (it resends until we answer)
while read -r line; do
	case $line in *go*) break ;; esac
done
say boot=$boot
say acpid=ready

ifc=$(ls /sys/class/net | grep -v '^lo$' | head -1)
say net_if=$ifc mac=$(cat /sys/class/net/$ifc/address 2>/dev/null)
ip addr add "${kbip:-10.77.0.2/24}" dev "$ifc" && ip link set "$ifc" up
if ping -c 3 -W 5 "${kbgw:-10.77.0.1}" >/dev/null 2>&1; then say ping=ok; else say ping=failed; fi

if [ "$boot" = 1 ]; then
	say rebooting
	sync
	reboot -f
	sleep 30
fi
say ready
while read -r line; do
	case $line in *go*) continue ;; esac
	say got="$line"
done
sleep 600
