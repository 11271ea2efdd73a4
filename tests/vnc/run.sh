#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The VNC server through the real bhyve binary with a tiny guest on /dev/kvm: fbuf's wait, VNC
# authentication, IPv6, and hostile viewers (tests/vnc/viewers.py), after which bhyve must still
# run and (in a sanitizer build) have reported nothing. TAP lines "ok - ..." / "not ok - ...".
#   tests/vnc/run.sh BUILD_DIR
set -u
BUILD=${1:-build}
if [ ! -e /dev/kvm ]; then
	echo "# skip - vnc: this host has no /dev/kvm; the nested test bed runs these tests in L1"
	exit 0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
BHYVE=$BUILD/bhyve
T=$(mktemp -d)
export KBHYVE_RUNDIR=$T/run
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT

ok() { echo "ok - vnc: $1"; }
notok() { echo "not ok - vnc: $1"; }

# a free TCP port on the loopback
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # GUEST FBUF_OPTS
	"$BHYVE" -s 0,hostbridge -s 31,lpc -s 29,fbuf,"$2" -l com1,stdio \
		-o boot.raw="$BUILD/guests/$1.bin" vnc-test </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
}
stop_and_check() { # NAME
	if kill -0 $pid 2>/dev/null; then ok "$1: bhyve still runs"; else notok "$1: bhyve died ($(tail -c 300 "$T/err"))"; fi
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	pid=
	if grep -aq "Sanitizer" "$T/err"; then
		notok "$1: sanitizer report"
		grep -a -A8 "Sanitizer" "$T/err" | head -20 | sed 's/^/#   /'
	else
		ok "$1: no sanitizer report"
	fi
}
wait_listen() { # PORT
	for _ in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait: the guest's first output only after a viewer connected
port=$(free_port)
start hello "tcp=127.0.0.1:$port,wait"
sleep 2
before=$(wc -c <"$T/out")
python3 "$HERE/vncclient.py" 127.0.0.1 "$port" connect >/dev/null 2>&1
for _ in $(seq 50); do grep -q "hello" "$T/out" && break; sleep 0.1; done
if [ "$before" = 0 ] && grep -q "hello" "$T/out" && grep -q "waiting for a VNC viewer" "$T/err"; then
	ok "wait: the guest starts when the first viewer connects"
else
	notok "wait: $before bytes before a viewer; after: $(head -c 100 "$T/out"); $(head -c 200 "$T/err")"
fi
wait $pid 2>/dev/null
pid=

# password, hostile viewers
port=$(free_port)
start idle "tcp=127.0.0.1:$port,w=800,h=600,password=s3cret"
wait_listen "$port" || notok "password: bhyve does not listen on $port"
timeout 300 python3 "$HERE/viewers.py" "$port" s3cret 800 600 | sed 's/^\(not ok\|ok\) - vnc: /\1 - vnc (password): /'
stop_and_check "password"

# IPv6, no password
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	port=$(free_port)
	start idle "tcp=[::1]:$port,w=640,h=480"
	for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('::1',$port),1)" 2>/dev/null && break; sleep 0.1; done
	VNC_HOST=::1 timeout 300 python3 "$HERE/viewers.py" "$port" - 640 480 | sed 's/^\(not ok\|ok\) - vnc: /\1 - vnc (IPv6): /'
	stop_and_check "IPv6"
else
	echo "ok - vnc (IPv6): skipped # skip no IPv6 loopback"
fi

# a guest that draws: fbpattern finds fbuf on PCI, sets 1024x768x32 through the DISPI registers
# and fills VRAM with the pattern 'bands'; a viewer must see it pixel for pixel (Raw, then ZRLE)
port=$(free_port)
start fbpattern "tcp=127.0.0.1:$port,w=1024,h=768"
wait_listen "$port" || notok "pattern: bhyve does not listen on $port"
for _ in $(seq 100); do grep -q "pattern drawn" "$T/out" && break; sleep 0.1; done
for enc in raw zrle; do
	flag=; [ "$enc" = zrle ] && flag=--zrle
	if res=$(timeout 120 python3 "$HERE/vncclient.py" 127.0.0.1 "$port" expect bands 1024 768 --timeout 30 $flag 2>&1); then
		ok "pattern: the guest's 1024x768 'bands' reaches a viewer pixel for pixel ($enc)"
	else
		notok "pattern ($enc): $res; guest: $(head -c 200 "$T/out")"
	fi
done
stop_and_check "pattern"
