#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The browser console, `vm console --web HOST:PORT`, in front of the real bhyve with a tiny guest
# on /dev/kvm: bad options, the page and noVNC over HTTP, the WebSocket bridge carrying a whole
# VNC session with authentication (tests/vnc/wsbridge.py), a page from another site refused, and
# a real browser: headless Chromium opens the page, types the password and shows the guest's
# pattern (tests/vnc/browser.py). TAP lines.   tests/vnc/web.sh BUILD_DIR
set -u
BUILD=${1:-build}
if [ ! -e /dev/kvm ]; then
	echo "# skip - web: this host has no /dev/kvm; the nested test bed checks vm console --web in L1"
	exit 0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
BHYVE=$BUILD/bhyve
VM=$BUILD/vm
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run
pid=
wpid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; [ -n "$wpid" ] && kill $wpid 2>/dev/null; rm -rf "$T"' EXIT

ok() { echo "ok - web: $1"; }
notok() { echo "not ok - web: $1"; }
check() { if [ "$2" = 0 ]; then ok "$1"; else notok "$1 ($3)"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
oneline() { tr '\n' ' ' <"$1" | cut -c1-300; }

# bad input: one line naming the problem, exit 1, nothing served
bad() { # NAME WANT_IN_MESSAGE ARGS...
	local name=$1 want=$2
	shift 2
	timeout 10 "$VM" console --web "$@" >"$T/bad.out" 2>"$T/bad.err"
	local rc=$?
	check "$name: one line, exit 1" "$([ $rc = 1 ] && [ "$(wc -l <"$T/bad.err")" = 1 ] && grep -q -- "$want" "$T/bad.err" && [ ! -s "$T/bad.out" ]; echo $?)" "exit $rc: $(oneline "$T/bad.err")"
}
bad "a port out of range" "the port is a number" -p 70000 127.0.0.1:5900
bad "a listen address that is a name" "is an IP address" -l localhost 127.0.0.1:5900
bad "a VNC address without a port" "is not a VNC address" 127.0.0.1:
bad "a VNC address that is a name" "is not a VNC address" example.org:5900
vm_dir=$T bad "no target" "no guest named"
KBHYVE_WEB_DIR=$T/nowhere bad "no page or noVNC installed" "not installed" 127.0.0.1:5900

# the page, noVNC and a VNC session with a password through the bridge
vport=$(free_port)
"$BHYVE" -s 0,hostbridge -s 31,lpc -s 29,fbuf,"tcp=127.0.0.1:$vport,w=1024,h=768,password=s3cret" \
	-l com1,stdio -o boot.raw="$BUILD/guests/fbpattern.bin" web-test </dev/null >"$T/out" 2>"$T/err" &
pid=$!
wport=$(free_port)
"$VM" console --web -p "$wport" "127.0.0.1:$vport" >"$T/web.out" 2>"$T/web.err" &
wpid=$!
for _ in $(seq 100); do grep -q . "$T/web.out" && grep -q "pattern drawn" "$T/out" && break; sleep 0.1; done
check "vm console --web prints the console's URL" "$(grep -qx "http://127.0.0.1:$wport/" "$T/web.out"; echo $?)" "$(oneline "$T/web.out") $(oneline "$T/web.err")"
timeout 120 python3 "$HERE/wsbridge.py" "$wport" s3cret 1024 768 bands

# a real browser
if command -v chromium >/dev/null; then
	timeout 180 python3 "$HERE/browser.py" "http://127.0.0.1:$wport/" --expect bands --size 1024x768 \
		--password s3cret --timeout 90 --save "$T/shot.png" >"$T/browser.out" 2>&1
	rc=$?
	check "headless Chromium shows the guest's pattern through noVNC and the bridge (password typed into the page)" "$rc" "$(oneline "$T/browser.out")"
else
	notok "headless Chromium: chromium is not installed (apt install chromium)"
fi

kill $wpid
wait $wpid 2>/dev/null
check "vm console --web ends on SIGTERM" "$(! kill -0 $wpid 2>/dev/null; echo $?)" "still running"
wpid=

# make install puts the page and noVNC where an installed vm finds them
if make -s install DESTDIR="$T/inst" PREFIX=/usr/local SYSTEMDDIR=/lib/systemd/system >"$T/inst.log" 2>&1; then
	iport=$(free_port)
	"$T/inst/usr/local/sbin/vm" console --web -p "$iport" "127.0.0.1:$vport" >"$T/iweb.out" 2>"$T/iweb.err" &
	wpid=$!
	for _ in $(seq 50); do grep -q . "$T/iweb.out" && break; sleep 0.1; done
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$iport/novnc/core/rfb.js")
	check "make install: the installed vm serves the console page and noVNC from share/kbhyve/web" "$([ "$code" = 200 ] && [ -f "$T/inst/usr/local/share/kbhyve/web/index.html" ]; echo $?)" "HTTP $code; $(oneline "$T/iweb.err")"
	kill $wpid
	wait $wpid 2>/dev/null
	wpid=
else
	notok "make install failed: $(tail -c 300 "$T/inst.log")"
fi
if kill -0 $pid 2>/dev/null; then ok "bhyve still runs"; else notok "bhyve died ($(tail -c 300 "$T/err"))"; fi
if grep -aq "Sanitizer" "$T/err" "$T/web.err"; then
	notok "sanitizer report"
	grep -a -A8 "Sanitizer" "$T/err" "$T/web.err" | head -20 | sed 's/^/#   /'
else
	ok "no sanitizer report (bhyve, vm console --web)"
fi
