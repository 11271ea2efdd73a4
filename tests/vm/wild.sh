#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Real vm-bhyve files from ../shared/wild (beside the repository; never edited here):
#  - confs/ and vm-bhyve-templates/: each is installed as a guest (confs) or as a template that
#    `vm create -t` uses; the guest must load (`vm info`), and `vm start` must either build a bhyve
#    command line (recorded by a stand-in bhyve, then checked for sanity) or refuse with one line
#    for a documented reason: a loader kbhyve does not run or, for a partial config (*-fragment, or no loader/cpu/memory), the missing
#    key. A config refused for its loader is tried again with loader="kernel" (in the copy), which
#    must then build a command line: the rest of the file (disks, NICs, options) is understood.
#  - system-confs/: `vm init` and `vm switch list` in a private netns where the file's uplinks
#    exist (as veth ends): init works and the list shows every switch of switch_list. A switch type
#    Linux has no equivalent for (netgraph) is listed and named in init's message.
# Usage: tests/vm/wild.sh BUILD_DIR   (needs root)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init wild "${1:-build}" --recording-bhyve
REPO=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null)
WILD=${REPO:+$REPO/../shared/wild}
if [ -z "$WILD" ] || [ ! -d "$WILD" ]; then
	echo "ok - wild: # skip no ../shared/wild beside the repository"
	exit 0
fi
WILD=$(cd "$WILD" && pwd)
vmt_netns || { echo "not ok - wild: cannot make a network namespace"; exit 1; }


stopped() { [ ! -e "$vm_dir/$1/run.lock" ]; }

# argv_sane GUEST: the recorded command line is bhyve's: the binary, -c N, -m SIZE, the LPC at
# slot 31, well-formed -s and -l devices, and the guest name last.
argv_sane() {
	local f=$vm_dir/$1.argv prev="" w n=0 last=""
	[ -s "$f" ] || return 1
	[ "$(head -1 "$f")" = "$KBHYVE_BHYVE" ] || return 1
	grep -qx '31,lpc' "$f" || return 1
	while IFS= read -r w; do
		n=$((n + 1))
		case $prev in
		-c) [[ $w =~ ^[0-9]+(,[a-z]+=[0-9]+)*$ ]] || return 1 ;;
		-m) [[ $w =~ ^[0-9]+[KMGTkmgt]?$ ]] || return 1 ;;
		-s) [[ $w =~ ^[0-9]+(:[0-7])?,[a-z][a-z0-9_-]*(,.*)?$ ]] || return 1 ;;
		-l) [[ $w =~ ^com[12],(stdio|pty:/.+)$ || $w =~ ^bootrom,/[^,]+,/[^,]+/uefi-vars\.fd,fwcfg=qemu$ ]] || return 1 ;;
		esac
		prev=$w
		last=$w
	done <"$f"
	[ "$last" = "$1" ] && grep -qx -- -c "$f" && grep -qx -- -m "$f"
}

# A documented refusal: a loader kbhyve has no firmware or boot loader for yet, a partial config
# missing the key named, or a value bhyve cannot take: a placeholder where a UUID belongs (bhyve -U
# would refuse it too). ZFS volumes (sparse-zvol) are files in the guest folder: they build.
loader_refusal() { grep -qE '^vm: ([^ :]+: )?loader=(bhyveload|uefi[a-z-]*)[: ]' "$1"; }
partial_refusal() { grep -qE '^vm: ([^ :]+: )?(loader|cpu|memory) is not set' "$1"; }
value_refusal() { grep -qE '^vm: ([^ :]+: )?uuid="[^"]*": not a UUID' "$1"; }

# try_start GUEST LABEL PARTIAL: start under the stand-in; "built", "loader", "partial" or "bad"
try_start() {
	local g=$1
	rm -f "$vm_dir/$g.argv"
	$NS "$VM" start "$g" >"$TMP/start.out" 2>"$TMP/start.all"
	local rc=$?
	# lines of the conf that do not parse are warned about first (vm info showed them already)
	grep -v '^vm: warning: ' "$TMP/start.all" >"$TMP/start.err"
	if [ $rc = 0 ]; then
		wait_for 10 test -s "$vm_dir/$g.argv"
		$NS "$VM" stop "$g" >/dev/null 2>&1
		wait_for 10 stopped "$g"
		if argv_sane "$g"; then echo built; else echo bad; fi
	elif [ "$(wc -l <"$TMP/start.err")" != 1 ]; then
		echo bad
	elif loader_refusal "$TMP/start.err"; then
		echo loader
	elif partial_refusal "$TMP/start.err"; then
		echo partial
	elif value_refusal "$TMP/start.err"; then
		echo value
	else
		echo bad
	fi
}

# name_for PREFIX FILE: a guest name from the file name (after "__"), unique with PREFIX
name_for() {
	local b
	b=$(basename "$2" .conf)
	b=${b#*__}
	b=$(printf '%s' "$b" | tr -c 'a-z0-9.\n' '-' | sed 's/-*$//')
	echo "$1-$b"
}

# check_guest FILE GUEST KIND: info loads it; start builds or is refused for a documented reason
check_guest() {
	local f=$1 g=$2 kind=$3 label
	label=${f#"$WILD"/}
	"$VM" info "$g" >/dev/null 2>"$TMP/info.err"
	check "$label: loads (vm info)" $? "$(oneline "$TMP/info.err")"
	local partial=0
	case $f in *-fragment.conf) partial=1 ;; esac
	grep -qE '^(loader="?[a-z]|uefi=)' "$f" && grep -q '^cpu=' "$f" && grep -q '^memory=' "$f" || partial=1
	local r
	r=$(try_start "$g")
	case $r in
	built)
		check "$label: builds a bhyve command line: $(sed 1d "$vm_dir/$g.argv" | tr '\n' ' ' | head -c 160)" 0 ;;
	loader)
		check "$label: refused for its loader (documented: $(sed 's/^vm: //' "$TMP/start.err" | head -c 90))" 0
		# the rest of the file, with the one loader kbhyve runs
		local conf=$vm_dir/$g/$g.conf
		sed -i '/^loader=/d; /^uefi=/d' "$conf"
		printf 'loader="kernel"\nkernel="vmlinuz"\n' >>"$conf"
		r=$(try_start "$g")
		case $r in
		built) check "$label: with loader=kernel the rest builds: $(sed 1d "$vm_dir/$g.argv" | tr '\n' ' ' | head -c 140)" 0 ;;
		partial) check "$label: with loader=kernel: refused, partial config ($(oneline "$TMP/start.err"))" "$([ $partial = 1 ]; echo $?)" ;;
		value) check "$label: with loader=kernel: refused for a value Linux cannot take (documented: $(oneline "$TMP/start.err"))" 0 ;;
		*) check "$label: with loader=kernel the rest builds" 1 "$(oneline "$TMP/start.err") $(tr '\n' ' ' 2>/dev/null <"$vm_dir/$g.argv")" ;;
		esac
		;;
	partial)
		check "$label: partial config, refused naming the missing key ($(oneline "$TMP/start.err"))" "$([ $partial = 1 ]; echo $?)" ;;
	value)
		check "$label: refused for a value Linux cannot take (documented: $(oneline "$TMP/start.err"))" 0 ;;
	*)
		check "$label: builds a command line or is refused for a documented reason" 1 \
			"$(oneline "$TMP/start.err") $(tr '\n' ' ' 2>/dev/null <"$vm_dir/$g.argv")" ;;
	esac
	: "$kind"
}

# ---- guest confs ----
i=0
for f in "$WILD"/confs/*.conf; do
	i=$((i + 1))
	g=$(name_for "c$i" "$f")
	mkdir -p "$vm_dir/$g"
	cp "$f" "$vm_dir/$g/$g.conf"
	check_guest "$f" "$g" conf
done

# ---- vm-bhyve's sample templates, through vm create -t ----
i=0
for f in "$WILD"/vm-bhyve-templates/*.conf; do
	i=$((i + 1))
	t=wt$i
	g=$(name_for "t$i" "$f")
	cp "$f" "$vm_dir/.templates/$t.conf"
	"$VM" create -t "$t" -s 64M "$g" >/dev/null 2>"$TMP/create.err"
	rc=$?
	check "${f#"$WILD"/}: vm create -t works" $rc "$(oneline "$TMP/create.err")"
	[ $rc = 0 ] && check_guest "$f" "$g" template
done

# ---- system.conf files: vm init and vm switch list ----
vmt_cleanup_ns() { ip netns del "$VMT_NETNS" 2>/dev/null; }
for f in "$WILD"/system-confs/*.conf; do
	label=${f#"$WILD"/}
	# a fresh vm_dir and netns for each, with the file's uplinks present
	export vm_dir=$TMP/sys-$(basename "$f" .conf)
	mkdir -p "$vm_dir/.config"
	cp "$f" "$vm_dir/.config/system.conf"
	vmt_cleanup_ns
	vmt_netns || { check "$label: netns" 1; continue; }
	for p in $(sed -n 's/^ports_[^=]*="\?\([^"]*\)"\?$/\1/p' "$f"); do
		$NS ip link add "$p" type veth peer name "${p:0:12}-p" 2>/dev/null
	done
	$NS "$VM" init >/dev/null 2>"$TMP/init.err"
	rc=$?
	if grep -q '^type_[^=]*="\?netgraph' "$f"; then
		check "$label: init names the netgraph switches it cannot make (documented: no netgraph on Linux)" \
			"$([ $rc = 0 ] || grep -q "netgraph' is not supported on Linux" "$TMP/init.err"; echo $?)" "exit $rc: $(oneline "$TMP/init.err")"
	elif grep -q '^vlan_' "$f" && grep -qE 'not supported by this kernel|no 802.1Q vlan support' "$TMP/init.err"; then
		echo "ok - wild: $label: init # skip no 802.1Q (8021q) in this kernel"
	else
		check "$label: vm init works (exit 0)" $rc "$(oneline "$TMP/init.err")"
	fi
	$NS "$VM" switch list >"$TMP/list.out" 2>"$TMP/list.err"
	rc=$?
	missing=""
	for s in $(sed -n 's/^switch_list="\?\([^"]*\)"\?$/\1/p' "$f"); do
		grep -q "^$s " "$TMP/list.out" || missing="$missing $s"
	done
	check "$label: vm switch list shows every switch ($(sed -n 's/^switch_list=//p' "$f"))" \
		"$([ $rc = 0 ] && [ -z "$missing" ]; echo $?)" "exit $rc, missing:$missing: $(oneline "$TMP/list.out")"
done

[ "$vmt_fail" = 0 ]
