#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): fbuf and its VNC server with a real Linux guest. fbuf's
# wait holds the boot until the first viewer; Linux's bochs DRM driver binds the Bochs display
# and takes w x h from its EDID; the pattern the guest writes to /dev/fb0 reaches VNC viewers
# (tests/vnc/vncclient.py, with the password) pixel for pixel in Raw and ZRLE, two at once, after a
# viewer sending garbage was dropped; keys typed in the viewer arrive as the right key codes on
# the guest's PS/2 keyboard, pointer moves and a click on its PS/2 mouse.
# Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-fbuf.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve
HERE=$(cd "$(dirname "$0")" && pwd)
VNC="python3 $HERE/../vnc/vncclient.py"
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run
PORT=5910

check() { # NAME CONDITION-RESULT DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 fbuf: $1"; else echo "not ok - l2 fbuf: $1 ($3)"; fi
}
val() { sed -n "s/^KBF $1=//p" "$T/console.out" | tr -d '\r' | head -1; }

mkfifo "$T/in"
timeout -k 5 600 "$BHYVE" -c 1 -m 512M -s 0,hostbridge -s 31,lpc -l com1,stdio \
	-s 29,fbuf,tcp=127.0.0.1:$PORT,w=1024,h=768,wait,password=kbhyve \
	-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
	-o boot.cmdline="console=ttyS0 quiet" -o x86.cpuid.disable=xsave \
	fbuf-guest <"$T/in" >"$T/console.out" 2>"$T/bhyve.err" &
pid=$!
exec 3>"$T/in"
sleep 4
held=$(wc -c < "$T/console.out")
check "wait: the guest does not start before the first viewer" "$([ "$held" = 0 ] && kill -0 $pid 2>/dev/null; echo $?)" \
	"$held bytes of console output; $(head -c 200 "$T/bhyve.err")"
# the first viewer starts the guest and waits for the pattern
$VNC 127.0.0.1 $PORT expect bands 1024 768 --timeout 300 --password kbhyve >"$T/expect1.out" 2>&1
rc1=$?
check "Linux's bochs driver binds the display (1234:1111, class 038000)" \
	"$(grep -q '0x1234:0x1111:0x038000:bochs-drm' "$T/console.out"; echo $?)" "$(grep '^KBF pci=' "$T/console.out" | tr -d '\r' | tr '\n' ' ')"
check "the guest's frame buffer is 1024x768 at 32 bpp (the EDID's preferred mode)" \
	"$([ "$(val fb_size)" = 1024,768 ] && [ "$(val fb_bpp)" = 32 ]; echo $?)" \
	"name=$(val fb_name) size=$(val fb_size) bpp=$(val fb_bpp) stride=$(val fb_stride) modes=$(val modes) edid=$(val edid_bytes)"
check "the guest drew the pattern into /dev/fb0" "$([ "$(val drawn)" = 1 ]; echo $?)" "$(val drawn)"
check "a VNC viewer sees the guest's pattern pixel for pixel" "$([ $rc1 = 0 ]; echo $?)" "$(tr '\n' ' ' < "$T/expect1.out")"
# a viewer that sends garbage is dropped; one that connects and never reads costs nothing
printf 'RFB 003.008\n\001\001\377\377\377garbage' | timeout 10 socat -T 5 - TCP:127.0.0.1:$PORT >/dev/null 2>&1
exec 4<>/dev/tcp/127.0.0.1/$PORT
# two viewers at once: both see the same screen
$VNC 127.0.0.1 $PORT expect bands 1024 768 --timeout 60 --password kbhyve --zrle >"$T/expect2.out" 2>&1 &
v2=$!
$VNC 127.0.0.1 $PORT expect bands 1024 768 --timeout 60 --password kbhyve >"$T/expect3.out" 2>&1
rc3=$?
wait $v2
rc2=$?
check "two viewers at once (ZRLE and Raw), after a garbage viewer and beside a silent one, see the pattern" \
	"$([ $rc2 = 0 ] && [ $rc3 = 0 ]; echo $?)" "$(cat "$T/expect2.out" "$T/expect3.out" | tr '\n' ' ')"
exec 4<&-
# keys and the pointer, once the guest listens
for _ in $(seq 300); do grep -q '^KBF input_ready=1' "$T/console.out" && break; sleep 0.2; done
$VNC 127.0.0.1 $PORT keys kb --password kbhyve >/dev/null 2>&1
$VNC 127.0.0.1 $PORT pointer 100,100 150,130 150,130,1 150,130 --password kbhyve >/dev/null 2>&1
sleep 1
echo done >&3
wait $pid
rc=$?
exec 3>&-
check "the guest powers off when told (bhyve exit 1)" "$([ $rc = 1 ] && [ "$(val got)" = done ]; echo $?)" \
	"exit $rc, got=$(val got); $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
# input_event records: 16 bytes of time, u16 type, u16 code, s32 value (little endian)
events() { # HEX TYPE -> "code:value" words
	python3 -c '
import struct, sys
b = bytes.fromhex(sys.argv[1]); t = int(sys.argv[2])
print(" ".join("%d:%d" % (c, v) for _, _, ty, c, v in (struct.unpack_from("<qqHHi", b, i) for i in range(0, len(b) - 23, 24)) if ty == t))' "$1" "$2"
}
keys=$(events "$(val keys)" 1)
check "keys typed in the viewer reach the guest's PS/2 keyboard as KEY_K, KEY_B" \
	"$([ "$keys" = "37:1 37:0 48:1 48:0" ]; echo $?)" "EV_KEY events: '$keys' (keyboard $(val kbd_dev))"
rel=$(events "$(val mouse)" 2)
btn=$(events "$(val mouse)" 1)
sx=0 sy=0
for e in $rel; do case $e in 0:*) sx=$((sx + ${e#0:})) ;; 1:*) sy=$((sy + ${e#1:})) ;; esac; done
check "pointer moves and a click reach the guest's PS/2 mouse (+50,+30, BTN_LEFT)" \
	"$([ $sx = 50 ] && [ $sy = 30 ] && [ "$btn" = "272:1 272:0" ]; echo $?)" "REL sums $sx,$sy; EV_KEY '$btn'; REL '$rel' (mouse $(val mouse_dev))"
rm -rf "$T"
