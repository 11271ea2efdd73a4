#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): live migration between two bhyve processes in one L1,
# each with its own run folder (as on two hosts) and the same disk path (shared storage). The
# guest (l2-virtio.sh kbvirtio=snap) writes numbered, synced records to its disk and prints its
# uptime, boot id and interrupt counts every second. Migrated to a bhyve -R: the records go on
# there without a reboot, the source's bhyve exits 5 and the pause is reported; a destination
# that hangs up mid-stream, one with another memory size, and one that is not there leave the source
# running; bad input to bhyve -R (a port in use, a stream that is not a migration) is one line and
# status 4. Prints "ok - ..." / "not ok - ..." lines.
#   in-l1-migrate.sh BUILD_DIR L2_INITRD VMLINUX
set -u
BUILD=$1 INITRD=$2 VMLINUX=$3
BHYVE=$BUILD/bhyve CTL=$BUILD/bhyvectl
T=$(mktemp -d)
trap 'pkill -f "^bhyve: migvm" 2>/dev/null; rm -rf "$T"' EXIT
SRC_RUN=$T/src-run DST_RUN=$T/dst-run
PORT=7411

check() { # NAME RESULT(0 = pass) DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 migrate: $1"; else echo "not ok - l2 migrate: $1 ($3)"; fi
}

truncate -s 128M "$T/disk.img"
# vm_start RUNDIR OUT [bhyve options...]: the guest's bhyve in the background; pid in $pid
vm_start() {
	local run=$1 out=$2
	shift 2
	KBHYVE_RUNDIR=$run timeout -k 5 900 "$BHYVE" -c 2 -m 256M -s 0,hostbridge -s 31,lpc \
		-l com1,stdio -s 3,virtio-blk,"$T/disk.img" -s 4,virtio-rnd \
		-o boot.kernel="$VMLINUX" -o boot.initrd="$INITRD" \
		-o boot.cmdline="console=ttyS0 quiet kbvirtio=snap" -o x86.cpuid.disable=xsave \
		"$@" migvm </dev/null >"$out" 2>"$out.err" &
	pid=$!
}
# wait_for FILE REGEX SECONDS PID: until a console line of FILE matches, while PID lives
wait_for() {
	for _ in $(seq $(($3 * 10))); do
		tr -d '\r' <"$1" | grep -qE "$2" && return 0
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# a socket in LISTEN state (0A) on the port, from the kernel's table
listening() { grep -q ":$(printf '%04X' "$PORT") 00000000:0000 0A" /proc/net/tcp; }
# each step its own port: a connection of the step before may still hold its port (TIME_WAIT)
next_port() { PORT=$((PORT + 1)); }
wait_listen() { for _ in $(seq 100); do listening && return 0; sleep 0.1; done; return 1; }
records() { tr -d '\r' <"$1" | sed -n 's/^KBREC \([0-9][0-9]*\)$/\1/p'; }
last_record() { records "$1" | tail -1; }
ctl() { KBHYVE_RUNDIR=$SRC_RUN "$CTL" --vm=migvm "$@"; }

vm_start "$SRC_RUN" "$T/src.out"
src=$pid
wait_for "$T/src.out" '^KBREC 20$' 300 "$src" && wait_for "$T/src.out" '^KBV tick ' 60 "$src"
check "the source guest runs and writes records" "$?" "$(tail -n 3 "$T/src.out" "$T/src.out.err" | tr '\n' ' ')"
boot=$(tr -d '\r' <"$T/src.out" | sed -n 's/.* boot=\([^ ]*\).*/\1/p' | tail -1)

# ---- refusals: the source runs on ----
vm_start "$DST_RUN" "$T/dst-mem.out" -R "127.0.0.1:$PORT" -m 512M
dst=$pid
wait_listen
out=$(ctl --migrate="127.0.0.1:$PORT" 2>&1)
rc=$?
wait "$dst"
drc=$?
n=$(($(last_record "$T/src.out") + 5))
wait_for "$T/src.out" "^KBREC $n\$" 60 "$src"
check "a destination with another memory size refuses before any RAM is sent; the source runs on" \
	"$([ $rc = 1 ] && echo "$out" | grep -q 'refused' && [ $drc = 4 ] && kill -0 "$src" && tr -d '\r' <"$T/src.out" | grep -q "^KBREC $n\$"; echo $?)" \
	"bhyvectl rc $rc: $out; destination rc $drc: $(head -2 "$T/dst-mem.out.err" | tr '\n' ' ')"
out=$(ctl --migrate="127.0.0.1:$PORT" 2>&1)
rc=$?
check "no destination listening: bhyvectl says so, the source runs on" \
	"$([ $rc = 1 ] && echo "$out" | grep -q 'bhyve -R' && kill -0 "$src"; echo $?)" "rc $rc: $out"
# a peer that takes the description and some RAM, then hangs up in the middle of the stream
next_port
python3 - "$PORT" >"$T/peer.out" 2>&1 <<'PY' &
import socket, struct, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(1)
c, _ = srv.accept()
def frame():
    head = b""
    while len(head) < 16:
        head += c.recv(16 - len(head))
    magic, ver, typ, n = struct.unpack("<4sHHQ", head)
    left = n
    while left:
        left -= len(c.recv(min(left, 1 << 20)))
    return typ
assert frame() == 1  # HELLO
c.sendall(struct.pack("<4sHHQ", b"KBMG", 1, 2, 0))  # OK
got = 0
while got < 8:  # a few RAM messages
    frame()
    got += 1
c.close()
print("peer hung up after", got, "messages")
PY
peer=$!
wait_listen
out=$(ctl --migrate="127.0.0.1:$PORT" 2>&1)
rc=$?
wait "$peer"
n=$(($(last_record "$T/src.out") + 5))
wait_for "$T/src.out" "^KBREC $n\$" 60 "$src"
check "a destination that hangs up mid-stream: bhyvectl fails, the source runs on (record $n)" \
	"$([ $rc = 1 ] && echo "$out" | grep -q 'disconnected' && kill -0 "$src" && tr -d '\r' <"$T/src.out" | grep -q "^KBREC $n\$"; echo $?)" \
	"bhyvectl rc $rc: $out; $(cat "$T/peer.out"); $(tail -n 2 "$T/src.out.err" | tr '\n' ' ')"

# ---- the migration ----
next_port
vm_start "$DST_RUN" "$T/dst.out" -R "127.0.0.1:$PORT"
dst=$pid
wait_listen
before=$(last_record "$T/src.out")
out=$(ctl --migrate="127.0.0.1:$PORT" 2>&1)
rc=$?
wait "$src"
src_rc=$?
src_last=$(last_record "$T/src.out")
echo "# migration: $(echo "$out" | tr '\n' ' ')"
check "bhyvectl --migrate: the source's bhyve exits 5 once the destination runs the guest" \
	"$([ $rc = 0 ] && [ $src_rc = 5 ] && echo "$out" | grep -q '^pause_ms '; echo $?)" \
	"bhyvectl rc $rc: $out; source rc $src_rc: $(tail -n 2 "$T/src.out.err" | tr '\n' ' ')"
want=$((src_last + 10))
wait_for "$T/dst.out" "^KBREC $want\$" 300 "$dst"
first=$(records "$T/dst.out" | head -1)
check "the guest goes on at the destination (first record ${first:-none} after $src_last, record $want reached)" \
	"$([ -n "$first" ] && [ "$first" -gt "$before" ] && [ "$first" -le $((src_last + 3)) ] &&
		tr -d '\r' <"$T/dst.out" | grep -q "^KBREC $want\$"; echo $?)" \
	"$(tail -n 3 "$T/dst.out" "$T/dst.out.err" | tr '\n' ' ')"
t=$(tr -d '\r' <"$T/dst.out" | grep '^KBV tick ' | tail -1)
check "no reboot at the destination: same boot id, interrupts arrive, hwrng reads" \
	"$(! tr -d '\r' <"$T/dst.out" | grep -qE 'Linux version|Run /init' && echo "$t" | grep -q "boot=$boot " && echo "$t" | grep -q 'hwrng=16'; echo $?)" \
	"${t:-no tick line at the destination; its last lines: $(tr -d '\r' <"$T/dst.out" | tail -n 6 | tr '\n' '|')} (source's last tick: $(tr -d '\r' <"$T/src.out" | grep '^KBV tick ' | tail -1))"
python3 - "$T/disk.img" "$src_last" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
last = int(sys.argv[2])
def record(n):
    head = b"KBREC %08u\n" % n
    return (head * (4096 // len(head) + 1))[:4096]
sys.exit(1 if [n for n in range(last + 1) if data[n * 4096:(n + 1) * 4096] != record(n)] else 0)
PY
check "every record written before the switch (0-$src_last) is on the shared disk" "$?" "missing or corrupt"
KBHYVE_RUNDIR=$DST_RUN "$CTL" --vm=migvm --destroy >/dev/null 2>&1
wait "$dst"

# ---- bad input to bhyve -R ----
bad() { # NAME REGEX [bhyve options]: one line, status 4
	local name=$1 want=$2
	shift 2
	vm_start "$DST_RUN" "$T/bad.out" "$@"
	wait "$pid"
	local rc=$?
	check "bhyve -R refuses $name (one line, status 4)" \
		"$([ $rc = 4 ] && [ "$(grep -c . "$T/bad.out.err")" = 1 ] && grep -qE "$want" "$T/bad.out.err"; echo $?)" \
		"rc $rc: $(head -3 "$T/bad.out.err" | tr '\n' ' ')"
}
# a port another bhyve -R listens on
next_port
vm_start "$T/holder-run" "$T/holder.out" -R "127.0.0.1:$PORT"
holder=$pid
wait_listen
bad "a port in use" "Address already in use" -R "127.0.0.1:$PORT"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
bad "a malformed address" "not \\[ADDRESS:\\]PORT" -R "127.0.0.1:99999"
next_port
vm_start "$DST_RUN" "$T/garbage.out" -R "127.0.0.1:$PORT"
wait_listen
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", '"$PORT"')); s.sendall(sys.stdin.buffer.read()); s.recv(100)' 2>/dev/null
wait "$pid"
rc=$?
check "bhyve -R refuses a stream that is not a migration (one line, status 4)" \
	"$([ $rc = 4 ] && grep -q 'not a kbhyve migration stream' "$T/garbage.out.err" && [ "$(grep -c . "$T/garbage.out.err")" = 1 ]; echo $?)" \
	"rc $rc: $(head -3 "$T/garbage.out.err" | tr '\n' ' ')"
