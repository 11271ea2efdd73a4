# SPDX-License-Identifier: BSD-2-Clause
# L2 script of the display benchmark (run by l2-init.sh as /test.sh, with the bochs module):
# waits for /dev/fb0 (Linux's bochs DRM driver on kbhyve's fbuf or QEMU's bochs-display), then
# redraws the whole screen on command from the serial console ("draw bands", "draw inverse":
# /pattern-NAME.raw, 1024x768 XRGB) and says so; "quit" powers off. suite.py (display.py) times
# each redraw from the viewer's side.
echo "bench: init ran"
mdev -s 2>/dev/null
i=0
while [ ! -e /dev/fb0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); mdev -s 2>/dev/null; done
# fbcon's cursor would draw over the screen
for v in /sys/class/vtconsole/vtcon*; do
	grep -q "frame buffer" $v/name 2>/dev/null && echo 0 > $v/bind
done
echo "KBD fb=$(cat /sys/class/graphics/fb0/virtual_size 2>/dev/null)"
echo "KBD ready=1"
while read -r cmd arg; do
	case $cmd in
	draw) cat /pattern-"$arg".raw > /dev/fb0 && echo "KBD drawn=$arg" ;;
	quit) break ;;
	esac
done
poweroff -f
