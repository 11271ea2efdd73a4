#!/bin/bash
# Runs inside L1 (from in-l1-tests.sh): fbuf and its VNC server with a real Linux guest. fbuf's
# wait holds the boot until the first viewer; Linux's bochs DRM driver binds the Bochs display
# and takes w x h from its EDID; the pattern the guest writes to /dev/fb0 reaches a VNC viewer
# (tests/vnc/vncclient.py) pixel for pixel; a second viewer at the same time, and a viewer sending
# garbage is dropped without disturbing the others. Prints "ok - ..." / "not ok - ..." lines.
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
	-s 29,fbuf,tcp=127.0.0.1:$PORT,w=1024,h=768,wait \
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
$VNC 127.0.0.1 $PORT expect bands 1024 768 --timeout 300 >"$T/expect1.out" 2>&1
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
$VNC 127.0.0.1 $PORT expect bands 1024 768 --timeout 60 >"$T/expect2.out" 2>&1 &
v2=$!
$VNC 127.0.0.1 $PORT expect bands 1024 768 --timeout 60 >"$T/expect3.out" 2>&1
rc3=$?
wait $v2
rc2=$?
check "two viewers at once, after a garbage viewer and with a silent one connected, see the pattern" \
	"$([ $rc2 = 0 ] && [ $rc3 = 0 ]; echo $?)" "$(cat "$T/expect2.out" "$T/expect3.out" | tr '\n' ' ')"
exec 4<&-
echo done >&3
wait $pid
rc=$?
exec 3>&-
check "the guest powers off when told (bhyve exit 1)" "$([ $rc = 1 ] && [ "$(val got)" = done ]; echo $?)" \
	"exit $rc, got=$(val got); $(tail -3 "$T/bhyve.err" | tr '\n' ' ')"
rm -rf "$T"
