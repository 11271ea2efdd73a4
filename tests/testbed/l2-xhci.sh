# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for xhci,tablet (run by l2-init.sh as /test.sh): Linux's xhci_pci enumerates the
# tablet, usbhid and hid-generic make it an input device, and its events are recorded until the
# host says "done". Prints "KBX name=value" lines for in-l1-xhci.sh.
say() { echo "KBX $*"; }
mdev -s 2>/dev/null

for d in /sys/bus/pci/devices/*; do
	say pci="$(basename $d):$(cat $d/vendor):$(cat $d/device):$(cat $d/class):$(basename "$(readlink $d/driver)" 2>/dev/null)"
done
# the tablet on the USB 2 root hub, then its input device
i=0 dev=
while [ $i -lt 300 ]; do
	for u in /sys/bus/usb/devices/*; do
		[ "$(cat $u/idVendor 2>/dev/null)" = fb5d ] && dev=$u
	done
	[ -n "$dev" ] && ls /sys/class/input/event* >/dev/null 2>&1 &&
		grep -qs Tablet /sys/class/input/event*/device/name && break
	sleep 0.1
	i=$((i + 1))
done
mdev -s 2>/dev/null
say usb_ids="$(cat $dev/idVendor 2>/dev/null):$(cat $dev/idProduct 2>/dev/null)"
say usb_speed="$(cat $dev/speed 2>/dev/null)"
say usb_strings="$(cat $dev/manufacturer 2>/dev/null)/$(cat $dev/product 2>/dev/null)"
say usb_config="$(cat $dev/bConfigurationValue 2>/dev/null)"
say usb_driver="$(basename "$(readlink $dev/$(basename $dev):1.0/driver)" 2>/dev/null)"
ev=
for e in /sys/class/input/event*; do
	case "$(cat $e/device/name 2>/dev/null)" in
	*Tablet*)
		ev=/dev/input/$(basename $e)
		say caps="abs=$(cat $e/device/capabilities/abs) key=$(cat $e/device/capabilities/key | tr ' ' _) rel=$(cat $e/device/capabilities/rel)"
		say input_name="$(cat $e/device/name)"
		;;
	esac
done
say tablet_dev="$ev"
[ -n "$ev" ] && cat "$ev" > /tmp/ev &
k=$!
say input_ready=1
read -t 600 line
kill $k 2>/dev/null
say events=$(od -An -tx1 -v /tmp/ev 2>/dev/null | tr -d ' \n')
say msi="$(grep 'PCI-MSI.*xhci_hcd' /proc/interrupts | tr -s ' ')"
say got="$line"
