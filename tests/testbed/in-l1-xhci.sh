#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): bhyve's xhci,tablet under Linux's own drivers, with the
# pointer from a VNC viewer on fbuf's server (tests/vnc/vncclient.py): xhci_hcd binds the
# controller and takes its MSI vector, the tablet enumerates at high speed with its strings,
# usbhid and hid-generic make it an absolute pointer, and viewer positions arrive as ABS_X/ABS_Y
# scaled to 0..32767 (the pixel a viewer points at is where the guest's pointer lands), buttons
# as BTN_LEFT/BTN_RIGHT. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-xhci.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
HERE=$(cd "$(dirname "$0")" && pwd)
VNC="python3 $HERE/../vnc/vncclient.py"
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run
PORT=5911

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 xhci: $1"; else echo "not ok - l2 xhci: $1 ($3)"; fi
}
val() { sed -n "s/^KBX $1=//p" "$T/console.out" | tr -d '\r' | head -1; }
# the tablet's scaling: pixel P of S to round(P * 32767 / (S - 1))
scale() { echo $((($1 * 32767 + ($2 - 1) / 2) / ($2 - 1))); }

mkfifo "$T/in"
timeout -k 5 600 "$BHYVE" -c 1 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
	-s 29,fbuf,tcp=127.0.0.1:$PORT,w=1024,h=768 -s 30,xhci,tablet \
	-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
	-o boot.cmdline="console=ttyS0 quiet" -o x86.cpuid.disable=xsave \
	xhci-guest <"$T/in" >"$T/console.out" 2>"$T/bhyve.err" &
pid=$!
exec 3>"$T/in"
for _ in $(seq 1500); do grep -q '^KBX input_ready=1' "$T/console.out" && break; sleep 0.2; done
# a move, the far corner, a left click there, a right click elsewhere
$VNC 127.0.0.1 $PORT pointer 512,384 1023,767 1023,767,1 1023,767 100,700,4 100,700 \
	>"$T/vnc.out" 2>&1
vrc=$?
sleep 2
echo done >&3
wait $pid
rc=$?
exec 3>&-
check "the guest powers off when told (bhyve exit 1)" "$([ $rc = 1 ] && [ "$(val got)" = done ]; echo $?)" \
	"exit $rc, got=$(val got); $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
pci=$(sed -n 's/^KBX pci=//p' "$T/console.out" | tr -d '\r' | tr '\n' ' ')
check "Linux's xhci_hcd binds the controller (8086:1e31, class 0c0330)" \
	"$(echo "$pci" | grep -q '0x8086:0x1e31:0x0c0330:xhci_hcd'; echo $?)" "$pci"
check "xhci_hcd takes the MSI vector and gets interrupts through it" \
	"$(val msi | awk '{ exit !($2 > 0) }'; echo $?)" "msi=$(val msi)"
check "the tablet enumerates: fb5d:0001, high speed, strings, configured, usbhid" \
	"$([ "$(val usb_ids)" = fb5d:0001 ] && [ "$(val usb_speed)" = 480 ] &&
		[ "$(val usb_strings)" = "kbhyve/HID Tablet" ] && [ "$(val usb_config)" = 1 ] &&
		[ "$(val usb_driver)" = usbhid ]; echo $?)" \
	"ids=$(val usb_ids) speed=$(val usb_speed) strings=$(val usb_strings) config=$(val usb_config) driver=$(val usb_driver)"
# abs: ABS_X | ABS_Y; key: BTN_LEFT, BTN_RIGHT, BTN_MIDDLE (0x110-0x112); rel: REL_WHEEL
caps=$(val caps)
check "hid-generic makes it an absolute pointer with three buttons and a wheel" \
	"$(echo "$caps" | grep -q '^abs=3 key=70000_0_0_0_0 rel=[0-9a-f]*[13579bdf]00$'; echo $?)" \
	"name=$(val input_name) $caps"
ev=$(python3 -c '
import struct, sys
b = bytes.fromhex(sys.argv[1])
print(" ".join("%d:%d:%d" % (t, c, v) for _, _, t, c, v in
      (struct.unpack_from("<qqHHi", b, i) for i in range(0, len(b) - 23, 24)) if t in (1, 3)))' \
	"$(val events)")
want="3:0:$(scale 512 1024) 3:1:$(scale 384 768) 3:0:32767 3:1:32767 1:272:1 1:272:0 1:273:1"
want+=" 3:0:$(scale 100 1024) 3:1:$(scale 700 768) 1:273:0"
check "viewer positions arrive scaled to 0..32767, clicks as BTN_LEFT and BTN_RIGHT" \
	"$([ $vrc = 0 ] && [ "$ev" = "$want" ]; echo $?)" "vnc $vrc; events '$ev', want '$want'"
check "the VMM logged nothing" "$([ ! -s "$T/bhyve.err" ]; echo $?)" "$(head -3 "$T/bhyve.err" | tr '\n' ' ')"
rm -rf "$T"
