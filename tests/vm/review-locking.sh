#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm locking and concurrency (review-vm.md findings 1, 6, 7, 12, 13, 17): destroy against a start
# during its prompt, a hostname change under running guests, lost updates to a guest conf and to
# system.conf, run.lock and guest folder permissions, an unprivileged process holding run.lock,
# names whose control socket cannot fit, and the states an interrupted rename or create leaves.
# Runs as root (taps and bridges only in a private netns); no KVM: a stand-in bhyve.
# Usage: tests/vm/review-locking.sh BUILD_DIR
set -u
. "$(dirname "$0")/lib.inc"
vmt_init locking "${1:-build}" --fake-bhyve
export TMPDIR=$TMP

running() { "$VM" list | grep -q "^$1 .*Running"; }
supervisor_of() { pgrep -f "vm _run $1\$"; }

# --- 1: destroy holds the run lock from its question to the end; a start meanwhile fails ---
nonic g1
( (sleep 3; echo y) | "$VM" destroy g1 >"$TMP/d1.out" 2>"$TMP/d1.err"; echo $? >"$TMP/d1.rc" ) &
dpid=$!
sleep 1
"$VM" start g1 >"$TMP/s1.out" 2>"$TMP/s1.err"
s1=$?
wait $dpid
check "destroy: a start during its question fails" "$([ $s1 != 0 ] && echo 0 || echo 1)" \
	"start rc=$s1: $(oneline "$TMP/s1.out")"
check "destroy: the start names the destroy" "$(grep -q destroy "$TMP/s1.err"; echo $?)" \
	"$(oneline "$TMP/s1.err")"
check "destroy: no supervisor left for a deleted guest" \
	"$([ -z "$(supervisor_of g1)" ] && echo 0 || echo 1)" "$(pgrep -af 'vm _run g1')"
check "destroy: completed" "$([ "$(cat "$TMP/d1.rc")" = 0 ] && [ ! -e "$vm_dir/g1" ] && echo 0 || echo 1)" \
	"rc=$(cat "$TMP/d1.rc") $(oneline "$TMP/d1.err")"

# rename and destroy of a running guest are refused (the run lock), and of a guest being destroyed
nonic g1b
"$VM" start g1b >/dev/null 2>&1
wait_for 5 running g1b
"$VM" rename g1b g1c 2>"$TMP/r1.err"
check "rename: refused while running" "$([ $? != 0 ] && [ -e "$vm_dir/g1b/g1b.conf" ] && echo 0 || echo 1)"
one_error_line "rename running" "$TMP/r1.err"
"$VM" stop g1b >/dev/null 2>&1
wait_for 5 sh -c "! '$VM' list | grep -q '^g1b .*Running'"

# --- 6: a lock held on this host means running here, whatever hostname the file names ---
nonic g6
unshare -u sh -c "hostname oldhost; '$VM' start g6" >/dev/null 2>&1
wait_for 5 running g6
check "hostname change: listed as running" "$("$VM" list | grep -q '^g6 .*Running'; echo $?)" \
	"$("$VM" list | grep '^g6 ')"
"$VM" stop g6 >"$TMP/s6.out" 2>"$TMP/s6.err"
check "hostname change: stop works" "$?" "$(oneline "$TMP/s6.err")"
wait_for 5 sh -c "[ -z \"\$(pgrep -f 'vm _run g6\$')\" ]"
check "hostname change: the guest stopped" "$([ -z "$(supervisor_of g6)" ] && echo 0 || echo 1)"

# --- 7: configure refuses to save over a conf that changed meanwhile, and keeps the edit ---
"$VM" create g7 >/dev/null
printf '#!/bin/sh\nsleep 2; echo cpu=2 >> "$1"\n' >"$TMP/ed"
chmod +x "$TMP/ed"
EDITOR=$TMP/ed "$VM" configure g7 >"$TMP/c7.out" 2>"$TMP/c7.err" &
cpid=$!
sleep 0.5
"$VM" add -d disk -s 1G g7 2>"$TMP/a7.err"
a7=$?
wait $cpid
c7=$?
check "lost update: add succeeded" "$a7" "$(oneline "$TMP/a7.err")"
check "lost update: add's disk1 is still in the conf" "$(grep -q '^disk1_name=' "$vm_dir/g7/g7.conf"; echo $?)"
check "lost update: configure refused to save" "$([ $c7 != 0 ] && echo 0 || echo 1)" "rc=$c7"
one_error_line "configure conflict" "$TMP/c7.err"
kept=$(sed -n 's/.*kept in \([^ )]*\).*/\1/p' "$TMP/c7.err")
check "lost update: the edit is kept" "$([ -n "$kept" ] && grep -q '^cpu=2' "$kept" && echo 0 || echo 1)" \
	"$(oneline "$TMP/c7.err")"
check "lost update: the conf did not get the edit" "$(grep -q '^cpu=2' "$vm_dir/g7/g7.conf" && echo 1 || echo 0)"
"$VM" add -d disk -s 1G g7 2>"$TMP/a7b.err"
check "lost update: a second add works" "$?" "$(oneline "$TMP/a7b.err")"

# many adds at once: every one recorded
"$VM" create g7b >/dev/null
for i in 1 2 3 4 5 6; do "$VM" add -d disk -s 1M g7b 2>/dev/null & done
wait
n=$(grep -c '^disk[0-9]*_name=' "$vm_dir/g7b/g7b.conf")
check "concurrent adds: all recorded" "$([ "$n" = 7 ] && echo 0 || echo 1)" "$n disks in the conf"

# concurrent switch create: every switch recorded in system.conf
if vmt_netns; then
	for i in 1 2 3 4 5 6; do $NS "$VM" switch create sw$i 2>"$TMP/sw$i.err" & done
	wait
	list=$(sed -n 's/^switch_list="\(.*\)"/\1/p' "$vm_dir/.config/system.conf")
	miss=""
	for i in 1 2 3 4 5 6; do case " $list " in *" sw$i "*) ;; *) miss="$miss sw$i" ;; esac; done
	check "concurrent switch create: all recorded" "$([ -z "$miss" ] && echo 0 || echo 1)" \
		"missing:$miss; list=$list"
	for i in 1 2 3 4 5 6; do $NS "$VM" switch destroy sw$i 2>/dev/null & done
	wait
	check "concurrent switch destroy: all removed" \
		"$(grep -q '^switch_list=' "$vm_dir/.config/system.conf" && echo 1 || echo 0)" \
		"$(grep switch_list "$vm_dir/.config/system.conf")"
else
	check "netns for the switch race" 1 "ip netns add failed"
fi
# concurrent vm set / datastore add: none lost
mkdir -p "$TMP/ds1" "$TMP/ds2" "$TMP/ds3" "$TMP/ds4"
for i in 1 2 3 4; do "$VM" datastore add ds$i "$TMP/ds$i" & done
"$VM" set console=tmux &
wait
n=0
for i in 1 2 3 4; do grep -q "^path_ds$i=" "$vm_dir/.config/system.conf" && n=$((n + 1)); done
check "concurrent datastore add: all recorded" "$([ $n = 4 ] && grep -q '^console=' "$vm_dir/.config/system.conf" && echo 0 || echo 1)" \
	"$n of 4; $(grep -c console= "$vm_dir/.config/system.conf") console"
"$VM" set console=pty
for i in 1 2 3 4; do "$VM" datastore remove ds$i; done

# --- 12: run.lock 0600, guest folders 0700; an unprivileged flock does not block a start ---
nonic g12
check "permissions: guest folder is 0700" "$([ "$(stat -c %a "$vm_dir/g12")" = 700 ] && echo 0 || echo 1)" \
	"$(stat -c %a "$vm_dir/g12")"
"$VM" start g12 >/dev/null 2>&1
wait_for 5 running g12
check "permissions: run.lock is 0600" "$([ "$(stat -c %a "$vm_dir/g12/run.lock")" = 600 ] && echo 0 || echo 1)" \
	"$(stat -c %a "$vm_dir/g12/run.lock" 2>&1)"
"$VM" stop g12 >/dev/null 2>&1
wait_for 20 sh -c "[ ! -e '$vm_dir/g12/run.lock' ] && [ -z \"\$(pgrep -f 'vm _run g12\$')\" ]"
# an older guest: folder 0755, a stale 0644 run.lock that a local user holds
chmod 755 "$vm_dir/g12"
touch "$vm_dir/g12/run.lock"
chmod 644 "$vm_dir/g12/run.lock"
runuser -u nobody -- flock -x "$vm_dir/g12/run.lock" sleep 30 </dev/null >/dev/null 2>&1 &
upid=$!
sleep 0.5
"$VM" start g12 >"$TMP/s12.out" 2>"$TMP/s12.err"
check "unprivileged flock: start works" "$?" "$(oneline "$TMP/s12.err")"
check "unprivileged flock: running" "$(wait_for 5 running g12; echo $?)" "$("$VM" list | grep '^g12 ')"
"$VM" stop g12 >/dev/null 2>"$TMP/st12.err"
check "unprivileged flock: stop works" "$?" "$(oneline "$TMP/st12.err")"
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill "$1" 2>/dev/null; }
kill_tree "$upid"
wait "$upid" 2>/dev/null

# --- 13: names whose control socket path cannot fit are refused at create and rename ---
long=$(printf 'g%.0s' $(seq 92)) # /run/kbhyve/vmm/ + 92 = 108 bytes: one too many
ok91=$(printf 'g%.0s' $(seq 91))
env -u KBHYVE_RUNDIR "$VM" create "$long" 2>"$TMP/l.err"
check "long name: create refused" "$([ $? != 0 ] && [ ! -e "$vm_dir/$long" ] && echo 0 || echo 1)"
one_error_line "long name create" "$TMP/l.err"
check "long name: says why" "$(grep -q 'control socket' "$TMP/l.err"; echo $?)" "$(oneline "$TMP/l.err")"
env -u KBHYVE_RUNDIR "$VM" create "$ok91" >/dev/null 2>"$TMP/l2.err"
check "long name: 91 characters fit" "$?" "$(oneline "$TMP/l2.err")"
long2=$(printf 'h%.0s' $(seq 92)) # (not $long: an unfixed create may have made that one)
env -u KBHYVE_RUNDIR "$VM" rename "$ok91" "$long2" 2>"$TMP/l3.err"
check "long name: rename refused" "$([ $? != 0 ] && [ -e "$vm_dir/$ok91/$ok91.conf" ] && echo 0 || echo 1)"
one_error_line "long name rename" "$TMP/l3.err"
check "long name: rename says why" "$(grep -q 'control socket' "$TMP/l3.err"; echo $?)" "$(oneline "$TMP/l3.err")"
"$VM" destroy -f "$ok91" >/dev/null 2>&1

# --- 17: an interrupted rename or create leaves something vm repairs ---
# rename is: link old.conf to new.conf, rename the folder, unlink old.conf. Interrupted after the
# link: the guest is still the old one, and rename again completes.
nonic r1
ln "$vm_dir/r1/r1.conf" "$vm_dir/r1/r2.conf"
"$VM" info r1 >/dev/null 2>"$TMP/i1.err"
check "interrupted rename (linked): old name works" "$?" "$(oneline "$TMP/i1.err")"
"$VM" rename r1 r2 2>"$TMP/r2.err"
check "interrupted rename (linked): rename completes" \
	"$([ $? = 0 ] && [ -f "$vm_dir/r2/r2.conf" ] && [ ! -e "$vm_dir/r2/r1.conf" ] && [ ! -e "$vm_dir/r1" ] && echo 0 || echo 1)" \
	"$(oneline "$TMP/r2.err") $(ls "$vm_dir/r2" 2>&1 | tr '\n' ' ')"
# interrupted after the folder rename: the new name works, and destroy removes everything
ln "$vm_dir/r2/r2.conf" "$vm_dir/r2/r1.conf"
"$VM" info r2 >/dev/null 2>"$TMP/i2.err"
check "interrupted rename (moved): new name works" "$?" "$(oneline "$TMP/i2.err")"
"$VM" destroy -f r2 >/dev/null 2>"$TMP/d2.err"
check "interrupted rename (moved): destroy removes the folder" \
	"$([ $? = 0 ] && [ ! -e "$vm_dir/r2" ] && echo 0 || echo 1)" "$(oneline "$TMP/d2.err")"
# a folder without its conf (a create killed by an older vm): create says so, destroy removes it
mkdir "$vm_dir/k1"
: >"$vm_dir/k1/disk0.img"
"$VM" create k1 2>"$TMP/k1.err"
check "confless folder: create refuses" "$([ $? != 0 ] && echo 0 || echo 1)"
one_error_line "confless create" "$TMP/k1.err"
check "confless folder: create points at destroy" "$(grep -q 'vm destroy k1' "$TMP/k1.err"; echo $?)" \
	"$(oneline "$TMP/k1.err")"
"$VM" destroy -f k1 2>"$TMP/k1d.err"
check "confless folder: destroy removes it" "$([ $? = 0 ] && [ ! -e "$vm_dir/k1" ] && echo 0 || echo 1)" \
	"$(oneline "$TMP/k1d.err")"
"$VM" create k1 >/dev/null 2>"$TMP/k1c.err"
check "confless folder: create works afterwards" "$?" "$(oneline "$TMP/k1c.err")"
# a confless folder holding something vm never makes is left alone, with one line
mkdir "$vm_dir/k2"
echo mine >"$vm_dir/k2/notes.txt"
"$VM" destroy -f k2 2>"$TMP/k2.err"
check "confless folder with foreign files: destroy refuses" \
	"$([ $? != 0 ] && [ -f "$vm_dir/k2/notes.txt" ] && echo 0 || echo 1)"
one_error_line "confless foreign destroy" "$TMP/k2.err"
# create builds the guest out of sight: a killed create leaves a hidden staging folder only,
# which the next create of that name clears
mkdir "$vm_dir/.k3.creating"
: >"$vm_dir/.k3.creating/disk0.img"
"$VM" create k3 >/dev/null 2>"$TMP/k3.err"
check "killed create: the next create works and clears its leftovers" \
	"$([ $? = 0 ] && [ -f "$vm_dir/k3/k3.conf" ] && [ ! -e "$vm_dir/.k3.creating" ] && echo 0 || echo 1)" \
	"$(oneline "$TMP/k3.err")"

# ---- a vm_dir on overlayfs (containers): /proc/locks names the upper layer's inode, not the one
# stat() gives; a held run.lock must still read as running ----
# (layers on two file systems, as the test bed's L1 has them, so that stat() gives overlay's device)
mkdir -p "$TMP/ov/l" "$TMP/ov/u" "$TMP/ov/w" "$TMP/ov/m"
if mount -t tmpfs -o size=1m kbt-lower "$TMP/ov/l" 2>/dev/null &&
	mount -t overlay overlay -o "lowerdir=$TMP/ov/l,upperdir=$TMP/ov/u,workdir=$TMP/ov/w" "$TMP/ov/m" 2>/dev/null; then
	(
		export vm_dir=$TMP/ov/m/vms
		mkdir -p "$vm_dir"
		"$VM" init >/dev/null 2>&1
		nonic ov1
		"$VM" start ov1 >/dev/null 2>&1
		wait_for 5 sh -c "'$VM' list | grep -q '^ov1 .*Running'"
		check "overlayfs vm_dir: a started guest lists as Running" "$?" "$("$VM" list 2>&1 | grep ov1)"
		"$VM" start ov1 >/dev/null 2>"$TMP/ov.err"
		check "overlayfs vm_dir: a second start finds it running" \
			"$(grep -q 'already running' "$TMP/ov.err"; echo $?)" "$(oneline "$TMP/ov.err")"
		"$VM" stop ov1 >/dev/null 2>&1
		wait_for 10 sh -c "[ ! -e '$vm_dir/ov1/run.lock' ]"
		check "overlayfs vm_dir: stop reaches it" "$?"
		[ $vmt_fail = 0 ]
	) || vmt_fail=$((vmt_fail + 1))
	umount "$TMP/ov/m"
	umount "$TMP/ov/l"
else
	echo "ok - locking: overlayfs vm_dir # SKIP cannot mount overlay"
fi

[ $vmt_fail = 0 ]
