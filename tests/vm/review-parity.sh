#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm-bhyve parity cases from the review of src/vm (finding 15, finding 16's console, command and
# switch/datastore bullets, and the difference table): the conf reader's rules (first assignment
# wins, a line that does not parse is skipped with one warning), yes/no and memory sizes as
# vm-bhyve reads them, upper-case guest names, switch and datastore names with '-' and '.', the MAC
# written into the conf at first start, `vm console` escapes (~^D, bytes typed before ~.), one-line
# errors for unknown commands, `switch info` checking every name first, and `datastore remove`
# refusing while a guest of it runs.
# A recording stand-in bhyve writes its argv to $vm_dir/<guest>.argv; com1's pty is a socat pty
# whose input is appended to $vm_dir/<guest>.com1.in. Taps and bridges only in a private netns.
# Usage: tests/vm/review-parity.sh BUILD_DIR   (needs root and socat)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init parity "${1:-build}"
vmt_netns || { echo "not ok - parity: cannot make a network namespace"; exit 1; }

cat >"$TMP/recbhyve" <<'EOF'
#!/bin/bash
# recording stand-in bhyve: argv (a word a line) to $vm_dir/<guest>.argv; com1's pty (-l
# com1,pty:PATH) is a socat pty whose input goes to $vm_dir/<guest>.com1.in; powers off (exit 1)
# on SIGTERM
name=${!#}
printf '%s\n' "$@" >"$vm_dir/$name.argv"
pty="" prev="" spid=""
for a in "$@"; do
	[ "$prev" = -l ] && case $a in com1,pty:*) pty=${a#com1,pty:} ;; esac
	prev=$a
done
if [ -n "$pty" ]; then
	socat -u PTY,link="$pty",raw,echo=0 OPEN:"$vm_dir/$name.com1.in",creat,append &
	spid=$!
	echo "$spid" >>"$vm_dir/socat.pids"
fi
trap '[ -n "$spid" ] && kill "$spid"; exit 1' TERM
while :; do sleep 0.1; done
EOF
chmod +x "$TMP/recbhyve"
export KBHYVE_BHYVE=$TMP/recbhyve
socat_cleanup() {
	local p
	for p in $(cat "$vm_dir/socat.pids" 2>/dev/null); do kill "$p" 2>/dev/null; done
	vmt_cleanup
}
trap socat_cleanup EXIT

running() { "$VM" list 2>/dev/null | grep -qE "^$1 .*Running"; }
stopped() { [ ! -e "$vm_dir/$1/run.lock" ]; }
argv_has() { grep -qxF -- "$2" "$vm_dir/$1.argv" 2>/dev/null; }
# one_line NAME RC FILE: exit status not 0 and exactly one line on stderr
fails_one_line() {
	check "$1" "$([ "$2" != 0 ] && [ "$(wc -l <"$3")" = 1 ]; echo $?)" "exit $2: $(oneline "$3")"
}

# ---- finding 15: one stray quote, duplicate keys; yes/no and sizes as vm-bhyve reads them ----
nonic q1
sed -i '/^cpu=/d; /^memory=/d' "$vm_dir/q1/q1.conf"
cat >>"$vm_dir/q1/q1.conf" <<'EOF'
cpu=1
memory="512MB"
grub_run1="linux /vmlinuz ro $vt_handoff""
cpu=2
memory="2G"
virt_random="y"
utctime="y"
EOF
"$VM" info q1 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "a stray quote: info works (exit 0)" "$rc" "$(oneline "$TMP/err")"
check "a stray quote: one warning naming the line" \
	"$([ "$(wc -l <"$TMP/err")" = 1 ] && grep -q 'q1.conf line [0-9]*: unterminated ".*line skipped' "$TMP/err"; echo $?)" "$(oneline "$TMP/err")"
"$VM" list >"$TMP/out" 2>/dev/null
check "duplicate keys: the first assignment wins (list shows cpu 1, 512MB)" \
	"$(grep -qE '^q1 +default +kernel +1 +512MB ' "$TMP/out"; echo $?)" "$(grep q1 "$TMP/out")"
"$VM" start q1 >/dev/null 2>"$TMP/err"
rc=$?
check "a stray quote, memory=512MB, utctime=y: start works" "$rc" "$(oneline "$TMP/err")"
wait_for 10 test -s "$vm_dir/q1.argv"
check "bhyve gets -c 1 -m 512M" "$(argv_has q1 512M && grep -A1 -x -- -c "$vm_dir/q1.argv" | grep -qx 1; echo $?)" "$(tr '\n' ' ' <"$vm_dir/q1.argv")"
check "virt_random=y attaches virtio-rnd; utctime=y gives -u" \
	"$(grep -q ',virtio-rnd$' "$vm_dir/q1.argv" && argv_has q1 -u; echo $?)" "$(tr '\n' ' ' <"$vm_dir/q1.argv")"
"$VM" stop q1 >/dev/null 2>&1
wait_for 10 stopped q1
"$VM" rename q1 q2 >/dev/null 2>"$TMP/err"
check "a stray quote: rename works" "$?" "$(oneline "$TMP/err")"
"$VM" destroy -f q2 >/dev/null 2>"$TMP/err"
check "a stray quote: destroy works" "$([ $? = 0 ] && [ ! -e "$vm_dir/q2" ]; echo $?)" "$(oneline "$TMP/err")"

# ---- guest names as vm-bhyve takes them: upper case, looked up without case ----
nonic Win10 2>"$TMP/err"
check "create Win10" "$([ -f "$vm_dir/Win10/Win10.conf" ]; echo $?)" "$(oneline "$TMP/err")"
check "list shows Win10" "$("$VM" list 2>/dev/null | grep -q '^Win10 '; echo $?)"
"$VM" info win10 >"$TMP/out" 2>"$TMP/err"
check "info win10 finds Win10" "$(grep -q '^Virtual Machine: Win10$' "$TMP/out"; echo $?)" "$(oneline "$TMP/err")"
"$VM" create WIN10 >/dev/null 2>"$TMP/err"
fails_one_line "create WIN10 next to Win10 is refused" $? "$TMP/err"

# ---- switch and datastore names with '-', '.', more than 12 characters ----
$NS "$VM" switch create public-10 >/dev/null 2>"$TMP/err"
check "switch create public-10" "$([ $? = 0 ] && $NS ip link show vm-public-10 >/dev/null 2>&1; echo $?)" "$(oneline "$TMP/err")"
$NS "$VM" switch create lab.network-a >/dev/null 2>"$TMP/err"
check "switch create lab.network-a (13 characters)" "$?" "$(oneline "$TMP/err")"
$NS "$VM" switch list >"$TMP/out" 2>"$TMP/err"
check "switch list shows both, exit 0" \
	"$([ $? = 0 ] && grep -q '^public-10 ' "$TMP/out" && grep -q '^lab.network-a .* vm-lab.~' "$TMP/out"; echo $?)" "$(oneline "$TMP/out") $(oneline "$TMP/err")"
mkdir -p "$TMP/ds-one"
"$VM" datastore add my-ds.1 "$TMP/ds-one" >/dev/null 2>"$TMP/err"
check "datastore add my-ds.1" "$?" "$(oneline "$TMP/err")"

# ---- switch info good bad: every name checked before anything is printed ----
$NS "$VM" switch info public-10 nosuch >"$TMP/out" 2>"$TMP/err"
fails_one_line "switch info good bad fails with one line" $? "$TMP/err"
check "switch info good bad prints nothing on stdout" "$([ ! -s "$TMP/out" ]; echo $?)" "$(oneline "$TMP/out")"

# ---- unknown or ambiguous command: one line ----
"$VM" frobnicate >/dev/null 2>"$TMP/err"
fails_one_line "an unknown command" $? "$TMP/err"
"$VM" st >/dev/null 2>"$TMP/err"
fails_one_line "an ambiguous command" $? "$TMP/err"
check "the ambiguous command names the candidates" "$(grep -q 'start' "$TMP/err"; echo $?)" "$(oneline "$TMP/err")"

# ---- the MAC of a hand-added NIC is written into the conf at first start ----
nonic m1
echo 'network0_type="virtio-net"' >>"$vm_dir/m1/m1.conf"
$NS "$VM" start m1 >/dev/null 2>"$TMP/err"
check "start m1 (a NIC without a MAC)" "$?" "$(oneline "$TMP/err")"
wait_for 10 test -s "$vm_dir/m1.argv"
mac=$(sed -n 's/^network0_mac="\(.*\)"$/\1/p' "$vm_dir/m1/m1.conf")
check "network0_mac written into the conf" "$(echo "$mac" | grep -qE '^58:9c:fc:0[0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}$'; echo $?)" "mac '$mac'"
check "bhyve gets that MAC" "$(grep -q ",virtio-net,vmt-m1-0,mac=$mac\$" "$vm_dir/m1.argv"; echo $?)" "$(tr '\n' ' ' <"$vm_dir/m1.argv")"
$NS "$VM" stop m1 >/dev/null 2>&1
wait_for 10 stopped m1

# ---- datastore remove while one of its guests runs: refused ----
nonic d1
mv "$vm_dir/d1" "$TMP/ds-one/d1"
"$VM" start d1 >/dev/null 2>"$TMP/err"
check "start d1 in datastore my-ds.1" "$?" "$(oneline "$TMP/err")"
cp "$vm_dir/.config/system.conf" "$TMP/sys.before"
"$VM" datastore remove my-ds.1 >/dev/null 2>"$TMP/err"
fails_one_line "datastore remove while its guest d1 runs is refused" $? "$TMP/err"
check "system.conf unchanged" "$(cmp -s "$TMP/sys.before" "$vm_dir/.config/system.conf"; echo $?)"
"$VM" stop d1 >/dev/null 2>"$TMP/err"
check "vm stop d1 still finds it" "$?" "$(oneline "$TMP/err")"
wait_for 10 test ! -e "$TMP/ds-one/d1/run.lock"
"$VM" datastore remove my-ds.1 >/dev/null 2>"$TMP/err"
check "datastore remove once d1 stopped" "$?" "$(oneline "$TMP/err")"

# ---- vm console: bytes typed before ~. are delivered; cu's ~^D detaches ----
for g in c1 c2; do
	nonic $g
	"$VM" start $g >/dev/null 2>&1
	wait_for 10 test -L "$vm_dir/$g/com1"
done
(sleep 1; printf 'xyz\r~.'; sleep 10) | timeout 20 "$VM" console c1 >/dev/null 2>"$TMP/err"
rc=$?
sleep 0.5
check "console: ~. detaches (exit 0)" "$rc" "$(oneline "$TMP/err")"
check "console: the bytes before ~. reach the guest" "$(printf 'xyz\r' | cmp -s - "$vm_dir/c1.com1.in"; echo $?)" \
	"got '$(od -c "$vm_dir/c1.com1.in" 2>&1 | head -2 | tr '\n' ' ')'"
# input stays open (a fifo), so only the escape can end the console
mkfifo "$TMP/con.in"
timeout 20 "$VM" console c2 <"$TMP/con.in" >/dev/null 2>"$TMP/err" &
cpid=$!
exec 7>"$TMP/con.in"
sleep 1
printf 'abc\r~\004' >&7
wait_for 5 bash -c "! kill -0 $cpid 2>/dev/null"
gone=$?
wait $cpid
rc=$?
exec 7>&-
sleep 0.5
check "console: ~^D detaches at once (exit 0)" "$([ $gone = 0 ] && [ $rc = 0 ]; echo $?)" "exit $rc, gone $gone: $(oneline "$TMP/err")"
check "console: ~^D is not passed to the guest; what came before is" \
	"$(printf 'abc\r' | cmp -s - "$vm_dir/c2.com1.in"; echo $?)" "got '$(od -c "$vm_dir/c2.com1.in" 2>&1 | head -2 | tr '\n' ' ')'"
for g in c1 c2; do "$VM" stop $g >/dev/null 2>&1; done
wait_for 10 stopped c1
wait_for 10 stopped c2

[ "$vmt_fail" = 0 ]
