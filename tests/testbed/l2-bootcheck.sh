# SPDX-License-Identifier: BSD-2-Clause
# L2 test script (busybox sh, run by l2-init.sh as /test.sh): reports what the guest sees, then
# ends the VM the way the kernel parameter kbtest=poweroff|reboot|halt asks, or with kbtest=sigterm
# waits for the ACPI power button.
echo "KBTEST init=ok"
echo "KBTEST nproc=$(nproc)"
echo "KBTEST memtotal_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
echo "KBTEST cmdline=$(cat /proc/cmdline)"
echo "KBTEST rtc_year=$(date +%Y)"
# how the guest was booted: ACPI tables it found, and whether through UEFI firmware
echo "KBTEST acpi_tables=$(ls /sys/firmware/acpi/tables 2>/dev/null | tr '\n' ' ')"
echo "KBTEST efi=$([ -d /sys/firmware/efi ] && echo yes || echo no)"
# bhyve's -f items of a firmware boot, through QEMU's fw_cfg (the qemu_fw_cfg module finds it in
# the DSDT)
for f in string file; do
	item=/sys/firmware/qemu_fw_cfg/by_name/opt/org.kbhyve/$f/raw
	[ -f "$item" ] && echo "KBTEST fwcfg_$f=$(cat "$item")"
done
case "${kbtest:-poweroff}" in
reboot) reboot -f ;;
halt) halt -f ;;
sigterm)
	# wait for the ACPI power button (SIGTERM to bhyve, `vm stop`)
	sh /bin/kb-acpid
	echo "KBTEST acpid=ready"
	sleep 300
	echo "KBTEST acpid=timeout"
	poweroff -f
	;;
*) poweroff -f ;;
esac
