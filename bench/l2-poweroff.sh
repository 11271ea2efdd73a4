# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for the boot benchmark: /init has already written the port-0x80 marker; say so
# on the console (the harness checks this line) and power off at once. With bench_profile on the
# kernel command line (bench/bootprofile.py, initcall_debug), first the guest's own timeline from
# dmesg: its clock when it ran /init and its slowest initcalls ("KBP ..." lines).
echo "bench: init ran"
case " $(cat /proc/cmdline) " in
*" bench_profile=1 "*)
	dmesg | sed -n 's/^\[ *\([0-9.]*\)\] Run \/init as init process.*/KBP init_at=\1/p' | head -1
	dmesg | sed -n 's/^\[[ 0-9.]*\] initcall \([^ ]*\) returned .* after \([0-9]*\) usecs.*/\2 \1/p' |
		sort -rn | head -15 | sed 's/^/KBP initcall /'
	;;
esac
poweroff -f
