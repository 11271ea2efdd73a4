#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm, guests on disk: init, create (every shipped template), list, info, add, rename, configure,
# destroy, get/set, datastores; and bad input for each of those commands, which must fail with
# one line on stderr and leave $vm_dir exactly as it was. Needs no root and no KVM.
# Usage: tests/vm/guests.sh BUILD_DIR   (TAP lines "ok - ..." / "not ok - ...")
set -u
build=${1:?usage: $0 BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
VM=$(cd "$root" && realpath "$build/vm")
[ -x "$VM" ] || { echo "not ok - $VM is not built"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export vm_dir=$tmp/vms KBHYVE_CONF=$tmp/kbhyve.conf KBHYVE_SHARE=$root/share TMPDIR=$tmp
unset EDITOR
mkdir "$vm_dir"
printf 'vm_list="alpha beta"\n' >"$KBHYVE_CONF"

failed=0
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; failed=1; }
check() { # check "description" command...
	local d=$1
	shift
	if "$@"; then ok "$d"; else nok "$d"; fi
}
# every path with size, mode and mtime (a folder's mtime moves when an entry comes and goes: a
# command that undoes what it made leaves the same entries, which is what counts)
snapshot() { find "$vm_dir" "$KBHYVE_CONF" \( -type d -printf '%p %m dir\n' \) -o -printf '%p %s %m %T@\n' | sort; }
size_of() { stat -c %s "$1"; }

# bad DESCRIPTION ARGS...: non-zero exit, exactly one line on stderr, nothing changed on disk
bad() {
	local d=$1
	shift
	local before after rc
	before=$(snapshot)
	"$VM" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
	after=$(snapshot)
	local lines
	lines=$(wc -l <"$tmp/err")
	if [ $rc = 0 ]; then
		nok "bad input: $d: exit 0"
	elif [ "$lines" != 1 ]; then
		nok "bad input: $d: $lines lines on stderr: $(head -c 300 "$tmp/err")"
	elif [ "$before" != "$after" ]; then
		nok "bad input: $d: vm_dir changed"
		diff <(echo "$before") <(echo "$after") | head -5
	else
		ok "bad input: $d ($(cat "$tmp/err"))"
	fi
}

# ---- before init ----
bad "list before init" list
bad "create before init" create abc

# ---- init ----
check "init succeeds without KVM or root-only features" "$VM" init
check "init made the layout" test -d "$vm_dir/.config" -a -d "$vm_dir/.templates" -a -d "$vm_dir/.iso" -a -d "$vm_dir/.img" -a -f "$vm_dir/.config/system.conf"
check "init copied the default template" cmp -s "$vm_dir/.templates/default.conf" "$root/share/templates/default.conf"
check "init again is harmless" "$VM" init
mkdir "$tmp/vms2"
check "init finds the templates next to the build without \$KBHYVE_SHARE" env -u KBHYVE_SHARE vm_dir="$tmp/vms2" "$VM" init
check "... and copied default.conf" cmp -s "$tmp/vms2/.templates/default.conf" "$root/share/templates/default.conf"
rm -rf "$tmp/vms2"
for t in debian alpine linux-kernel; do check "init installed the $t template" cmp -s "$vm_dir/.templates/$t.conf" "$root/share/templates/$t.conf"; done
check "config.sample parses as a template" cp "$root/share/templates/config.sample" "$vm_dir/.templates/sample.conf"

# ---- create from every template ----
for t in default debian alpine linux-kernel sample; do
	g=t-$t
	if "$VM" create -t "$t" "$g" 2>"$tmp/err"; then ok "create -t $t"; else nok "create -t $t: $(cat "$tmp/err")"; fi
	conf=$vm_dir/$g/$g.conf
	check "$t: conf has a UUID" grep -qE '^uuid="[0-9a-f-]{36}"$' "$conf"
	check "$t: conf has a MAC for network0" grep -qE '^network0_mac="58:9c:fc:0[0-9a-f]:[0-9a-f]{2}:[0-9a-f]{2}"$' "$conf"
	check "$t: diskN_size stripped" bash -c "! grep -q '^disk[0-9]*_size=' '$conf'"
	check "$t: disk0.img created sparse" test -f "$vm_dir/$g/disk0.img" -a "$(stat -c %b "$vm_dir/$g/disk0.img")" -lt 64
done
check "default template disk0 is 20G" test "$(size_of "$vm_dir/t-default/disk0.img")" = $((20 << 30))
check "debian disk0 is its disk0_size 20G" test "$(size_of "$vm_dir/t-debian/disk0.img")" = $((20 << 30))
check "alpine disk0 is 8G" test "$(size_of "$vm_dir/t-alpine/disk0.img")" = $((8 << 30))
check "linux-kernel disk1 is 4G" test "$(size_of "$vm_dir/t-linux-kernel/data.img")" = $((4 << 30))
check "comments of the template are kept" grep -q '^# Debian' "$vm_dir/t-debian/t-debian.conf"

check "create -c -m -s" "$VM" create -c 4 -m 3G -s 2G alpha
check "-c written" grep -qx 'cpu="4"' "$vm_dir/alpha/alpha.conf"
check "-m written" grep -qx 'memory="3G"' "$vm_dir/alpha/alpha.conf"
check "-s sizes disk0" test "$(size_of "$vm_dir/alpha/disk0.img")" = $((2 << 30))
check "create beta" "$VM" create -t debian beta
mac_a=$(sed -n 's/^network0_mac="\(.*\)"/\1/p' "$vm_dir/alpha/alpha.conf")
mac_b=$(sed -n 's/^network0_mac="\(.*\)"/\1/p' "$vm_dir/beta/beta.conf")
check "guests get different MACs" test -n "$mac_a" -a "$mac_a" != "$mac_b"

# ---- list ----
"$VM" list >"$tmp/list"
check "list header" grep -qE '^NAME +DATASTORE +LOADER +CPU +MEMORY +VNC +AUTO +STATE$' "$tmp/list"
check "list row for alpha (vm_list position 1)" grep -qE '^alpha +default +kernel +4 +3G +- +Yes \[1\] +Stopped$' "$tmp/list"
check "list row for beta (vm_list position 2)" grep -qE '^beta +default +kernel +2 +1G +- +Yes \[2\] +Stopped$' "$tmp/list"
check "list row for t-alpine (not autostarted)" grep -qE '^t-alpine +default +kernel +1 +512M +- +No +Stopped$' "$tmp/list"
check "list has 7 guests" test "$(wc -l <"$tmp/list")" = 8
"$VM" list -j >"$tmp/list.json"
if command -v python3 >/dev/null; then
	check "list -j is a JSON array with the columns" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert len(v) == 7, v
a = [g for g in v if g["name"] == "alpha"][0]
assert a == {"name": "alpha", "datastore": "default", "loader": "kernel", "cpu": "4",
             "memory": "3G", "vnc": "-", "auto": "Yes [1]", "state": "Stopped"}, a
' "$tmp/list.json"
else
	check "list -j mentions alpha" grep -q '"name": "alpha"' "$tmp/list.json"
fi
# a value that needs escaping in JSON
sed -i '/^loader=/d' "$vm_dir/t-sample/t-sample.conf" # the first assignment counts
printf 'loader="ker\\"nel\\\\x"\n' >>"$vm_dir/t-sample/t-sample.conf"
"$VM" list -j >"$tmp/list.json"
if command -v python3 >/dev/null; then
	check "list -j escapes quotes and backslashes" python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))
assert [g for g in v if g["name"] == "t-sample"][0]["loader"] == "ker\"nel\\x"
' "$tmp/list.json"
fi

# ---- info ----
"$VM" info alpha >"$tmp/info"
check "info: name" grep -q '^Virtual Machine: alpha$' "$tmp/info"
check "info: state stopped" grep -q '^  state: stopped$' "$tmp/info"
check "info: disk size" grep -q "^    bytes-size: $((2 << 30)) (2.0G)$" "$tmp/info"
check "info: tap name" grep -q '^    device: vmt-alpha-0$' "$tmp/info"
check "info: switch" grep -q '^    virtual-switch: public$' "$tmp/info"
check "info of every guest" test "$("$VM" info | grep -c '^Virtual Machine:')" = 7

# ---- add ----
check "add a disk" "$VM" add -s 1G alpha
check "disk1 in the conf" grep -qx 'disk1_name="disk1.img"' "$vm_dir/alpha/alpha.conf"
check "disk1 emulation copied" grep -qx 'disk1_type="virtio-blk"' "$vm_dir/alpha/alpha.conf"
check "disk1.img is 1G" test "$(size_of "$vm_dir/alpha/disk1.img")" = $((1 << 30))
check "add a NIC" "$VM" add -d network -s lan alpha
check "network1 switch" grep -qx 'network1_switch="lan"' "$vm_dir/alpha/alpha.conf"
check "network1 MAC" grep -qE '^network1_mac="58:9c:fc:' "$vm_dir/alpha/alpha.conf"
check "network1 emulation copied" grep -qx 'network1_type="virtio-net"' "$vm_dir/alpha/alpha.conf"

# ---- rename ----
check "rename beta to gamma" "$VM" rename beta gamma
check "renamed folder and conf" test -f "$vm_dir/gamma/gamma.conf" -a ! -e "$vm_dir/beta"
check "renamed guest is listed" bash -c "'$VM' list | grep -q '^gamma '"

# ---- configure ----
check "configure with an editor that changes nothing" env EDITOR=true "$VM" configure gamma
cat >"$tmp/ed.sh" <<'EOF'
#!/bin/sh
sed -i 's/^cpu=.*/cpu="3"/' "$1"
EOF
chmod +x "$tmp/ed.sh"
check "configure applies an edit" env EDITOR="$tmp/ed.sh" "$VM" configure gamma
check "edited value saved" grep -qx 'cpu="3"' "$vm_dir/gamma/gamma.conf"
cp "$vm_dir/gamma/gamma.conf" "$tmp/gamma.before"
printf '#!/bin/sh\necho "cpu = 9" >>"$1"\n' >"$tmp/bad-ed.sh"
chmod +x "$tmp/bad-ed.sh"
EDITOR="$tmp/bad-ed.sh" "$VM" configure gamma 2>"$tmp/err"
rc=$?
check "configure rejects an edit that does not parse" test $rc != 0
check "configure names the line" grep -q 'line [0-9]*: space before' "$tmp/err"
check "configure says where the edit is" grep -q 'your edit is kept in' "$tmp/err"
check "the conf is unchanged after a rejected edit" cmp -s "$tmp/gamma.before" "$vm_dir/gamma/gamma.conf"

# ---- get / set ----
check "get console default" test "$("$VM" get console)" = "console=pty"
check "set console=tmux" "$VM" set console=tmux
check "get all" test "$("$VM" get all | head -1)" = "console=tmux"
check "set console=pty" "$VM" set console=pty

# ---- datastores ----
mkdir "$tmp/ds2"
check "datastore add" "$VM" datastore add ds2 "$tmp/ds2"
check "datastore list" bash -c "'$VM' datastore list | grep -qE '^ds2 +directory +$tmp/ds2$'"
check "datastore list shows default" bash -c "'$VM' datastore list | grep -qE '^default +(directory|btrfs) +$vm_dir$'"
check "create in ds2" "$VM" create -d ds2 delta
check "delta lives in ds2" test -f "$tmp/ds2/delta/delta.conf"
check "list shows delta in ds2" bash -c "'$VM' list | grep -qE '^delta +ds2 '"
bad "create a name taken in another datastore" create delta
bad "remove the default datastore" datastore remove default
bad "add an existing datastore name" datastore add ds2 "$tmp"
bad "add the same folder twice" datastore add ds3 "$tmp/ds2"

# ---- running and locked guests are left alone ----
gd=$vm_dir/t-default
printf 'otherhost 4242\n' >"$gd/run.lock"
check "list: a lock from another host" bash -c "'$VM' list | grep -qE '^t-default .* Locked \(otherhost\)$'"
bad "destroy: locked by another host" destroy -f t-default
bad "rename: locked by another host" rename t-default t-other
rm "$gd/run.lock"
(
	exec 9>>"$gd/run.lock"
	flock -x 9
	echo "$(cat /proc/sys/kernel/hostname) $BASHPID" >&9
	exec sleep 30
) &
holder=$!
for _ in $(seq 50); do [ -s "$gd/run.lock" ] && break; sleep 0.1; done
# (STATE shows bhyve's pid; a supervisor with no bhyve, as between two runs, shows none)
check "list: a held lock is Running" bash -c "'$VM' list | grep -qE '^t-default .* Running$'"
check "info: running" bash -c "'$VM' info t-default | grep -q '^  state: running$'"
bad "destroy: running" destroy -f t-default
bad "rename: running" rename t-default t-other
kill "$holder"
wait "$holder" 2>/dev/null
check "list: a lock nobody holds is stale: Stopped" bash -c "'$VM' list | grep -qE '^t-default .* Stopped$'"
check "the stale lock was cleared" test ! -e "$gd/run.lock"

# ---- configure fixes a conf that does not parse ----
printf 'cpu = 2\n' >>"$vm_dir/t-alpine/t-alpine.conf"
"$VM" info t-alpine >"$tmp/out" 2>"$tmp/err"
check "info: a line that does not parse is skipped with one warning" test $? = 0 -a "$(wc -l <"$tmp/err")" = 1
check "the warning names the line" grep -q 't-alpine.conf line [0-9]*: space before.*line skipped' "$tmp/err"
check "info still shows the guest" grep -q '^Virtual Machine: t-alpine$' "$tmp/out"
printf '#!/bin/sh\nsed -i "/^cpu = 2$/d" "$1"\n' >"$tmp/fix-ed.sh"
chmod +x "$tmp/fix-ed.sh"
check "configure repairs a broken conf" env EDITOR="$tmp/fix-ed.sh" "$VM" configure t-alpine
check "the repaired conf parses" bash -c "'$VM' info t-alpine >/dev/null"

# ---- destroy ----
truncate -s 1M "$tmp/custom.img"
cat >>"$vm_dir/gamma/gamma.conf" <<EOF
disk1_type="virtio-blk"
disk1_dev="custom"
disk1_name="$tmp/custom.img"
EOF
check "destroy -f gamma" "$VM" destroy -f gamma
check "gamma's folder is gone" test ! -e "$vm_dir/gamma"
check "a custom disk path survives destroy" test -f "$tmp/custom.img"
echo mine >"$vm_dir/alpha/notes.txt"
check "destroy -f alpha (with a foreign file)" "$VM" destroy -f alpha
check "the foreign file is kept" test -f "$vm_dir/alpha/notes.txt"
check "alpha's own files are gone" test ! -e "$vm_dir/alpha/alpha.conf" -a ! -e "$vm_dir/alpha/disk0.img" -a ! -e "$vm_dir/alpha/disk1.img"
check "alpha is no longer listed" bash -c "! '$VM' list | grep -q '^alpha '"
rm -rf "$vm_dir/alpha"
before=$(snapshot)
echo n | "$VM" destroy t-alpine >/dev/null 2>&1
check "destroy answered n keeps the guest" test "$before" = "$(snapshot)"
check "destroy answered y" bash -c "echo y | '$VM' destroy t-alpine >/dev/null"
check "t-alpine is gone" test ! -e "$vm_dir/t-alpine"
check "destroy in ds2" "$VM" destroy -f delta
check "datastore remove" "$VM" datastore remove ds2
check "ds2 is no longer listed" bash -c "! '$VM' datastore list | grep -q '^ds2 '"
check "the ds2 folder itself is left alone" test -d "$tmp/ds2"

# ---- bad input: every command, nothing changes ----
bad "create: no name" create
bad "create: two names" create ab cd
bad "create: bad name (punctuation)" create 'Bad!'
bad "create: a name that differs from a guest's only in case" create T-Debian
bad "create: bad name (one character)" create a
bad "create: bad name (slash)" create a/b
bad "create: bad name (dot-dot)" create ..
bad "create: existing guest" create t-debian
bad "create: unknown template" create -t nosuch newg
bad "create: template name with a slash" create -t ../x newg
bad "create: bad size" create -s 10X newg
bad "create: zero size" create -s 0 newg
bad "create: size with GBB" create -s 10GBB newg
bad "create: bad cpu" create -c 0 newg
bad "create: bad memory" create -m lots newg
bad "create: unknown datastore" create -d nowhere newg
bad "create: unknown option" create -x newg
bad "create: option without value" create newg -s
bad "create: -s without a value" create -s
printf 'loader="kernel"\ncpu = 1\n' >"$vm_dir/.templates/broken.conf"
"$VM" create -t broken fromb >"$tmp/out" 2>"$tmp/err"
check "create: a template line that does not parse is skipped with a warning" \
	test $? = 0 -a "$(grep -c 'broken.conf line 2: space before.*line skipped' "$tmp/err")" = 1
check "the guest made from it has the good lines" grep -qx 'loader="kernel"' "$vm_dir/fromb/fromb.conf"
"$VM" destroy -f fromb >/dev/null 2>&1
printf 'loader="kernel"\ncpu=1\nmemory=1G\ndisk0_type="virtio-blk"\ndisk0_name="../escape.img"\n' >"$vm_dir/.templates/escape.conf"
bad "create: template disk outside the folder" create -t escape newg
printf 'loader="kernel"\ncpu=1\nmemory=1G\ndisk0_type="virtio-blk"\ndisk0_name="d.img"\ndisk0_size="big"\n' >"$vm_dir/.templates/badsize.conf"
bad "create: template with a bad disk0_size" create -t badsize newg
printf 'loader="kernel"\ncpu=1\nmemory=1G\ndisk0_type="virtio-blk"\ndisk0_name="a.img"\ndisk1_type="virtio-blk"\ndisk1_name="b.img"\ndisk1_size="9000000T"\n' >"$vm_dir/.templates/huge.conf"
# disk0 gets made, then disk1 cannot be: everything made is removed again
bad "create: a disk that cannot be made (nothing half-made)" create -t huge newg
bad "list: extra argument" list extra
bad "list: unknown option" list -x
bad "info: no such guest" info nosuch
bad "info: one good one bad" info t-debian nosuch
bad "info: bad name" info 'A B'
bad "destroy: no name" destroy
bad "destroy: two names" destroy t-debian t-default
bad "destroy: no such guest" destroy -f nosuch
bad "destroy: unknown option" destroy -y t-debian
bad "destroy: no answer" destroy t-debian
bad "rename: one name" rename t-debian
bad "rename: no such guest" rename nosuch other
bad "rename: onto an existing guest" rename t-debian t-default
bad "rename: invalid new name" rename t-debian 'Bad!'
bad "rename: three names" rename t-debian a1 a2
bad "configure: no name" configure
bad "configure: no such guest" configure nosuch
export EDITOR=false
bad "configure: editor fails" configure t-debian
unset EDITOR
bad "add: no name" add -s 1G
bad "add: no such guest" add -s 1G nosuch
bad "add: disk without size" add t-debian
bad "add: bad size" add -s 1Q t-debian
bad "add: a disk kind there is none of" add -t iscsi -s 1G t-debian
bad "add: bad device kind" add -d usb -s 1G t-debian
bad "add: network without switch" add -d network t-debian
bad "add: bad switch name" add -d network -s 'a b' t-debian
bad "add: bad network type" add -d network -t rtl8139 -s lan t-debian
touch "$vm_dir/t-default/disk1.img"
bad "add: disk file already there" add -s 1G t-default
rm "$vm_dir/t-default/disk1.img"
bad "get: nothing" get
bad "get: unknown setting" get color
bad "set: nothing" set
bad "set: not k=v" set console
bad "set: not user-settable" set switch_list=x
bad "set: bad console" set console=serial
bad "set: one bad among good" set console=tmux bogus=1
bad "datastore: no action" datastore
bad "datastore: unknown action" datastore frob
bad "datastore add: relative path" datastore add ds4 relative/path
bad "datastore add: missing folder" datastore add ds4 "$tmp/nosuch"
bad "datastore add: zfs" datastore add ds4 zfs:pool/vm
bad "datastore add: bad name" datastore add 'd s' "$tmp"
bad "datastore add: too few arguments" datastore add ds4
bad "datastore remove: unknown" datastore remove nosuch
bad "datastore list: extra argument" datastore list x
bad "init: extra argument" init now

[ $failed = 0 ]
