#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# `vm` and host objects it does not own (review-vm.md findings 2, 3, 9, 11, 16): taps of other
# programs and guests, networkN_device on a switch, uplinks that carry addresses, files in a guest
# folder that are symlinks, '%' in interface names, absolute disk paths, control characters in
# list/info, and a log that a flooding bhyve cannot wipe. A stand-in bhyve; real taps, bridges and
# veths in a private network namespace.
# Usage: tests/vm/review-hostobj.sh BUILD_DIR   (needs root; prints "ok - ..." / "not ok - ..." lines)
set -u
. "$(dirname "$0")/lib.inc"
if [ "$(id -u)" != 0 ]; then
	echo "ok - hostobj: # SKIP needs root for a private network namespace"
	exit 0
fi
vmt_init hostobj "${1:-build}" --fake-bhyve
vmt_netns || {
	echo "not ok - hostobj: cannot make a network namespace"
	exit 1
}
$NS "$VM" switch create public >/dev/null 2>&1 || echo "# hostobj: switch create public failed"

ifindex() { $NS ip -j link show dev "$1" 2>/dev/null | jq -r '.[0].ifindex // empty'; }
alias_of() { $NS ip -d -j link show dev "$1" 2>/dev/null | jq -r '.[0].ifalias // empty'; }
master_of() { $NS ip -j link show dev "$1" 2>/dev/null | jq -r '.[0].master // empty'; }
running() { "$VM" list | awk -v n="$1" '$1 == n && /Running/ { f = 1 } END { exit !f }'; }
stopped() { ! running "$1"; }
# start NAME: vm start under $NS; $rc and $TMP/err
start() {
	$NS "$VM" start "$1" >"$TMP/out" 2>"$TMP/err"
	rc=$?
}
stop() {
	$NS "$VM" stop "$1" >/dev/null 2>&1
	wait_for 10 stopped "$1"
}
conf() { echo "$vm_dir/$1/$1.conf"; }

# ---- finding 2: an existing tap is replaced only when it is this guest's ----

$NS ip tuntap add dev tap0 mode tap
$NS ip link set tap0 alias my-openvpn-tap
before=$(ifindex tap0)
"$VM" create beta >/dev/null
sed -i 's/^network0_switch=.*/network0_name="tap0"/' "$(conf beta)"
start beta
check "a foreign tap (alias my-openvpn-tap): start refuses" "$([ $rc != 0 ] && grep -q "interface tap0 exists and is not this guest's" "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
one_error_line "a foreign tap" "$TMP/err"
check "a foreign tap is left as it was" "$([ "$(ifindex tap0)" = "$before" ] && [ "$(alias_of tap0)" = my-openvpn-tap ]; echo $?)" "ifindex $before -> $(ifindex tap0), alias $(alias_of tap0)"
stop beta

"$VM" create alpha >/dev/null
"$VM" create gamma >/dev/null
echo 'network0_name="vmt-alpha-0"' >>"$(conf gamma)"
start alpha
a_before=$(ifindex vmt-alpha-0)
start gamma
check "another guest's tap: start refuses" "$([ $rc != 0 ] && grep -q "not this guest's" "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
check "another guest's tap is left to it" "$([ -n "$a_before" ] && [ "$(ifindex vmt-alpha-0)" = "$a_before" ] && [ "$(alias_of vmt-alpha-0)" = vmnet/alpha/0/public ]; echo $?)" "ifindex $a_before -> $(ifindex vmt-alpha-0), alias $(alias_of vmt-alpha-0)"
stop gamma
stop alpha

# a tap left behind by this guest's own killed supervisor is still replaced
"$VM" create delta >/dev/null
$NS ip tuntap add dev vmt-delta-0 mode tap
$NS ip link set vmt-delta-0 alias vmnet/delta/0/public
d_before=$(ifindex vmt-delta-0)
start delta
check "this guest's own leftover tap is replaced" "$([ $rc = 0 ] && [ "$(ifindex vmt-delta-0)" != "$d_before" ] && [ "$(alias_of vmt-delta-0)" = vmnet/delta/0/public ]; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
stop delta

# at exit, only the guest's own tap is deleted
"$VM" create eps >/dev/null
start eps
$NS ip link del vmt-eps-0
$NS ip tuntap add dev vmt-eps-0 mode tap
$NS ip link set vmt-eps-0 alias somebody-else
stop eps
check "at exit a tap that is no longer the guest's is kept" "$([ "$(alias_of vmt-eps-0)" = somebody-else ]; echo $?)"
grep -q "vmt-eps-0.*not this guest's" "$vm_dir/eps/vm-bhyve.log"
check "at exit the kept tap is logged" $?
$NS ip link del vmt-eps-0 2>/dev/null

# ---- finding 9: networkN_device with networkN_switch is bridged, and unbridged at exit ----

$NS ip tuntap add dev mytap mode tap
"$VM" create g9 >/dev/null
echo 'network0_device="mytap"' >>"$(conf g9)"
start g9
br=$($NS ip -j link show dev vm-public | jq -r '.[0].ifname')
check "networkN_device is added to networkN_switch" "$([ $rc = 0 ] && [ "$(master_of mytap)" = vm-public ]; echo $?)" "rc=$rc master=$(master_of mytap) $(oneline "$TMP/err")"
stop g9
check "networkN_device leaves the switch at exit, and is kept" "$([ -n "$(ifindex mytap)" ] && [ -z "$(master_of mytap)" ]; echo $?)" "master=$(master_of mytap)"
# a device that is already a port of another bridge is not taken from it
$NS ip link add other0 type bridge
$NS ip link set mytap master other0
start g9
check "networkN_device on another bridge: start refuses" "$([ $rc != 0 ] && [ "$(master_of mytap)" = other0 ]; echo $?)" "rc=$rc master=$(master_of mytap) $(oneline "$TMP/err")"
one_error_line "networkN_device on another bridge" "$TMP/err"
stop g9
$NS ip link del other0

# ---- finding 3: files in a guest folder are never written through symlinks ----

nonic g2
echo precious >"$TMP/victimA"
echo precious >"$TMP/victimB"
ln -s "$TMP/victimA" "$vm_dir/g2/console.tmp"
start g2
check "console.tmp symlink: its target is untouched" "$([ "$(cat "$TMP/victimA")" = precious ]; echo $?)" "$(head -c 200 "$TMP/victimA")"
check "the console file is written" "$(grep -q '^com1=' "$vm_dir/g2/console" 2>/dev/null; echo $?)"
stop g2
ln -s "$TMP/victimB" "$vm_dir/g2/vm-bhyve.log.new"
mv "$vm_dir/g2/vm-bhyve.log" "$TMP/g2.log.saved"
mv "$vm_dir/g2/vm-bhyve.log.new" "$vm_dir/g2/vm-bhyve.log"
start g2
check "vm-bhyve.log symlink: start refuses" "$([ $rc != 0 ] && grep -q 'vm-bhyve.log.*symbolic link' "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
one_error_line "vm-bhyve.log symlink" "$TMP/err"
check "vm-bhyve.log symlink: its target is untouched" "$([ "$(cat "$TMP/victimB")" = precious ]; echo $?)" "$(head -c 200 "$TMP/victimB")"
stop g2
rm "$vm_dir/g2/vm-bhyve.log"
echo 'debug="yes"' >>"$(conf g2)"
ln -s "$TMP/victimB" "$vm_dir/g2/bhyve.log"
start g2
check "bhyve.log symlink (debug): start refuses" "$([ $rc != 0 ] && grep -q 'bhyve.log.*symbolic link' "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
check "bhyve.log symlink: its target is untouched" "$([ "$(cat "$TMP/victimB")" = precious ]; echo $?)"
stop g2
rm "$vm_dir/g2/bhyve.log"
sed -i '/^debug=/d' "$(conf g2)"
start g2
ln -s "$TMP/made-by-restart" "$vm_dir/g2/restart"
"$VM" restart g2 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "restart flag symlink: vm restart refuses" "$([ $rc != 0 ] && [ ! -e "$TMP/made-by-restart" ]; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
one_error_line "restart flag symlink" "$TMP/err"
stop g2
rm -f "$vm_dir/g2/restart"
# a FIFO as the log must not hang the supervisor
rm -f "$vm_dir/g2/vm-bhyve.log"
mkfifo "$vm_dir/g2/vm-bhyve.log"
timeout 20 $NS "$VM" start g2 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "a FIFO as vm-bhyve.log: start refuses, does not hang" "$([ $rc != 0 ] && [ $rc != 124 ] && grep -q 'not a regular file' "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
stop g2
rm -f "$vm_dir/g2/vm-bhyve.log"

# `vm console` only ever talks to the guest's pty: never to a file or terminal that the console
# file or the com1 link in the (writable) guest folder was made to name
cat >"$TMP/ptybhyve" <<'EOF'
#!/bin/bash
# stand-in bhyve with a real pty on com1 (what it receives goes to com1.got)
for a; do case $a in com1,pty:*) link=${a#com1,pty:} ;; esac; done
socat PTY,link="$link",raw,echo=0 SYSTEM:"cat >'$link.got'" &
trap 'kill $!; exit 1' TERM
while :; do sleep 0.1; done
EOF
chmod +x "$TMP/ptybhyve"
nonic con
KBHYVE_BHYVE=$TMP/ptybhyve "$VM" start con >/dev/null 2>&1
wait_for 10 test -L "$vm_dir/con/com1"
(printf 'hello\n'; sleep 1; printf '~.') | "$VM" console con >/dev/null 2>"$TMP/err"
rc=$?
check "vm console reaches the guest's pty" "$([ $rc = 0 ] && grep -q hello "$vm_dir/con/com1.got"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
echo precious >"$TMP/victimC"
cp "$vm_dir/con/console" "$TMP/console.saved"
echo "com1=$TMP/victimC" >"$vm_dir/con/console"
(printf 'typed\n'; sleep 0.5; printf '~.') 2>/dev/null | "$VM" console con >/dev/null 2>"$TMP/err"
rc=$?
check "a console file naming another file: vm console refuses" "$([ $rc != 0 ] && [ "$(cat "$TMP/victimC")" = precious ]; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
one_error_line "a console file naming another file" "$TMP/err"
cp "$TMP/console.saved" "$vm_dir/con/console"
ln -sfn "$TMP/victimC" "$vm_dir/con/com1"
(printf 'typed\n'; sleep 0.5; printf '~.') 2>/dev/null | "$VM" console con >/dev/null 2>"$TMP/err"
rc=$?
check "a com1 link to a file: vm console refuses" "$([ $rc != 0 ] && [ "$(cat "$TMP/victimC")" = precious ] && grep -q 'not a pseudo-terminal' "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
stop con

# ---- finding 16: '%' in interface names, absolute file disk paths ----

"$VM" create pct >/dev/null
echo 'network0_name="vm%d"' >>"$(conf pct)"
start pct
check "networkN_name with %: start refuses" "$([ $rc != 0 ] && grep -q 'network0_name' "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
check "networkN_name with %: no interface leaked" "$($NS ip link show vm0 >/dev/null 2>&1 && echo 1 || echo 0)"
stop pct

nonic absd
sed -i 's|^disk0_name=.*|disk0_name="/etc/hostname"|' "$(conf absd)"
start absd
check "an absolute file disk path: start refuses" "$([ $rc != 0 ] && grep -q 'disk0_dev="custom"' "$TMP/err"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
one_error_line "an absolute file disk path" "$TMP/err"
stop absd
echo 'disk0_dev="custom"' >>"$(conf absd)"
start absd
check "an absolute path with disk0_dev=custom is used as given" "$([ $rc = 0 ] && grep -q 'virtio-blk,/etc/hostname' "$vm_dir/absd/vm-bhyve.log"; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
stop absd

# ---- finding 16: control characters from a conf never reach the terminal ----

nonic ctl
sed -i '/^cpu=/d; /^uuid=/d' "$(conf ctl)" # the first assignment of a key counts (as vm-bhyve)
printf 'cpu="1\033]0;owned\007\033[2J"\n' >>"$(conf ctl)"
printf 'uuid="\302\233x"\n' >>"$(conf ctl)"
"$VM" list >"$TMP/list" 2>&1
check "vm list: no control characters" "$(LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <"$TMP/list") && echo 1 || echo 0)" "$(cat -v "$TMP/list" | grep ctl)"
check "vm list: they are shown escaped" "$(grep -q '1\\033\]0;owned\\007\\033\[2J' "$TMP/list"; echo $?)" "$(cat -v "$TMP/list" | grep ctl)"
"$VM" info ctl >"$TMP/info" 2>&1
check "vm info: no control characters" "$(LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n\t' <"$TMP/info") && echo 1 || echo 0)" "$(cat -v "$TMP/info" | grep -a cpu)"
check "vm info: no C1 control (U+009B)" "$(LC_ALL=C grep -q $'\302\233' "$TMP/info" && echo 1 || echo 0)"

# ---- finding 11: an uplink that carries addresses is refused unless forced ----

$NS ip link add h0 type veth peer name p0
$NS ip addr add 10.77.0.1/24 dev h0
$NS ip link set h0 up
$NS "$VM" switch add public h0 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "switch add of an uplink with an address: refused" "$([ $rc != 0 ] && [ -z "$(master_of h0)" ] && grep -q 'vm switch address public 10.77.0.1/24' "$TMP/err"; echo $?)" "rc=$rc master=$(master_of h0): $(oneline "$TMP/err")"
one_error_line "switch add of an uplink with an address" "$TMP/err"
check "the refused uplink is not recorded" "$(grep -q 'ports_public=.*h0' "$vm_dir/.config/system.conf" && echo 1 || echo 0)"
$NS "$VM" switch create -i h0 sw2 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "switch create -i with an addressed uplink: refused" "$([ $rc != 0 ] && grep -q 'has IP address 10.77.0.1/24' "$TMP/err" && ! $NS ip link show vm-sw2 >/dev/null 2>&1; echo $?)" "rc=$rc: $(oneline "$TMP/err")"
$NS "$VM" switch add -f public h0 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "switch add -f forces it" "$([ $rc = 0 ] && [ "$(master_of h0)" = vm-public ]; echo $?)" "rc=$rc master=$(master_of h0): $(oneline "$TMP/err")"
$NS "$VM" switch remove public h0 >/dev/null 2>&1
$NS ip addr flush dev h0
$NS "$VM" switch add public h0 >"$TMP/out" 2>"$TMP/err"
rc=$?
check "switch add of an uplink without addresses works" "$([ $rc = 0 ] && [ "$(master_of h0)" = vm-public ]; echo $?)" "rc=$rc: $(oneline "$TMP/err")"

# ---- issue 16: a bhyve that floods its output cannot wipe the log's history ----

cat >"$TMP/floodbhyve" <<'EOF'
#!/bin/bash
# stand-in bhyve that writes 4 MB of output lines, then waits for the ACPI button
trap 'exit 1' TERM
head -c 4000000 /dev/zero | tr '\0' x | fold -w 99 >&2
touch "$vm_dir/flooded"
while :; do sleep 0.1; done
EOF
chmod +x "$TMP/floodbhyve"
nonic flood
KBHYVE_BHYVE=$TMP/floodbhyve $NS "$VM" start flood >/dev/null 2>&1
wait_for 60 test -e "$vm_dir/flooded"
sleep 0.5
stop flood
L=$vm_dir/flood/vm-bhyve.log
logs=$(cat "$L.0" "$L" 2>/dev/null)
check "flood: the supervisor's start line is kept" "$(grep -q 'supervisor [0-9]* started' <<<"$logs"; echo $?)"
check "flood: bhyve's start is kept" "$(grep -q 'starting bhyve (run 1)' <<<"$logs"; echo $?)"
check "flood: the stop is logged" "$(grep -q 'stopped on request' <<<"$logs"; echo $?)"
check "flood: the lines left out are counted" "$(grep -q 'lines of bhyve output not logged' <<<"$logs"; echo $?)"


[ "$vmt_fail" = 0 ]
