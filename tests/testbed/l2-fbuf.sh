# SPDX-License-Identifier: BSD-2-Clause
# L2 test script for fbuf (run by l2-init.sh as /test.sh): the frame buffer is Linux's bochs DRM
# driver's (with the bochs module: the EDID's preferred mode) or efifb's (without it, under OVMF:
# the mode the firmware set); the guest draws /pattern-WxH.raw for its size (made by
# tests/vnc/vncclient.py) into /dev/fb0 for the VNC client in L1 to check. Prints "KBF
# name=value" lines for in-l1-fbuf.sh and in-l1-firmware.sh, then waits for "done" on the serial
# console.
say() { echo "KBF $*"; }
mdev -s 2>/dev/null

for d in /sys/bus/pci/devices/*; do
	say pci="$(basename $d):$(cat $d/vendor):$(cat $d/device):$(cat $d/class):$(basename "$(readlink $d/driver)" 2>/dev/null)"
done
i=0
while [ ! -e /sys/class/graphics/fb0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
mdev -s 2>/dev/null
g=/sys/class/graphics/fb0
say fb_name="$(cat $g/name 2>/dev/null)"
say fb_size="$(cat $g/virtual_size 2>/dev/null)"
say fb_bpp="$(cat $g/bits_per_pixel 2>/dev/null)"
say fb_stride="$(cat $g/stride 2>/dev/null)"
say modes="$(cat /sys/class/drm/card0-Virtual-1/modes 2>/dev/null | head -3 | tr '\n' ' ')"
say edid_bytes=$(wc -c < /sys/class/drm/card0-Virtual-1/edid 2>/dev/null)
# fbcon would draw its cursor over the pattern: unbind it from the frame buffer
for v in /sys/class/vtconsole/vtcon*; do
	grep -q "frame buffer" $v/name 2>/dev/null && echo 0 > $v/bind
done
size=$(tr , x < $g/virtual_size 2>/dev/null)
if [ "$(cat $g/stride 2>/dev/null)" != $((${size%x*} * 4)) ]; then
	say drawn="no: stride $(cat $g/stride 2>/dev/null) for $size"
elif [ ! -f /pattern-$size.raw ]; then
	say drawn="no pattern for $size"
elif cat /pattern-$size.raw > /dev/fb0 2>/tmp/fb.err; then
	say drawn=1
else
	say drawn="failed $(head -c 80 /tmp/fb.err)"
fi
# keys and the pointer from the viewer: the PS/2 keyboard's and mouse's event devices, recorded
# until the host says "done"
kbd= mouse=
for e in /sys/class/input/event*; do
	case "$(cat $e/device/name 2>/dev/null)" in
	*"AT Translated Set 2 keyboard"*) kbd=/dev/input/$(basename $e) ;;
	*"PS/2"*|*Mouse*) mouse=/dev/input/$(basename $e) ;;
	esac
done
say kbd_dev="$kbd" mouse_dev="$mouse"
[ -n "$kbd" ] && cat "$kbd" > /tmp/keys &
k=$!
[ -n "$mouse" ] && cat "$mouse" > /tmp/mouse &
m=$!
say input_ready=1
# the host's viewer checks the screen and types, then sends "done"
read -t 600 line
kill $k $m 2>/dev/null
say keys=$(od -An -tx1 -v /tmp/keys 2>/dev/null | tr -d ' \n')
say mouse=$(od -An -tx1 -v /tmp/mouse 2>/dev/null | tr -d ' \n')
say got="$line"
