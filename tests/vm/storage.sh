#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm snapshot / rollback / clone / destroy NAME@SNAP on real file systems: btrfs (guest folders
# made as subvolumes, read-only subvolume snapshots) and XFS (reflink copies), each on its own
# loop device; tmpfs, which cannot clone files, refused. Snapshot, change the disk, roll back: the
# old bytes are back; clones get their own uuid and MAC and start (the recording stand-in bhyve
# shows what they would boot with); vm image archives guests (from a snapshot where there is one)
# and provisions new ones from them; bad input gets one line and changes nothing.
# Needs root, loop devices, mkfs.btrfs and mkfs.xfs (.ci/packages).
# Usage: tests/vm/storage.sh BUILD_DIR   (prints "ok - ..." / "not ok - ..." lines)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init storage "$1" --recording-bhyve
MNTS=""
LOOPS=""
st_cleanup() {
	local m l
	for m in $MNTS; do umount -l "$m" 2>/dev/null; done
	for l in $LOOPS; do losetup -d "$l" 2>/dev/null; done
	vmt_cleanup
}
trap st_cleanup EXIT

# mkfs_loop NAME MKFS...: a 512 MiB file system on a loop device, mounted at $TMP/NAME
mkfs_loop() {
	local name=$1 img=$TMP/$1.img l
	shift
	truncate -s 512M "$img" && "$@" "$img" >/dev/null 2>&1 || return 1
	l=$(losetup -f --show "$img") || return 1
	LOOPS="$LOOPS $l"
	mkdir -p "$TMP/$name" && mount "$l" "$TMP/$name" || return 1
	MNTS="$TMP/$name $MNTS"
}
for need in mkfs.btrfs mkfs.xfs losetup; do
	command -v "$need" >/dev/null || { check "$need is installed (.ci/packages)" 1; exit 1; }
done
mkfs_loop btrfs mkfs.btrfs -q
check "a btrfs file system on a loop device" "$?"
mkfs_loop xfs mkfs.xfs -q -m reflink=1
check "an XFS file system with reflink on a loop device" "$?"
mkdir -p "$TMP/tmpfs" && mount -t tmpfs -o size=64m kbt "$TMP/tmpfs" && MNTS="$TMP/tmpfs $MNTS"
"$VM" datastore add bt "$TMP/btrfs" && "$VM" datastore add xf "$TMP/xfs" && "$VM" datastore add tm "$TMP/tmpfs"
check "datastores on btrfs, XFS and tmpfs" "$?"

# the tree of every datastore, with sizes, times and btrfs subvolumes: "nothing changed"
tree_all() {
	# (a folder's own time moves with the run lock a command takes and lets go: not a change)
	(cd "$TMP" && find vms btrfs xfs tmpfs \( -type d -printf '%p/ %m\n' \) -o -printf '%p %s %T@ %m\n' 2>/dev/null | sort)
	btrfs subvolume list "$TMP/btrfs" 2>/dev/null | awk '{print $NF}'
}
# bad NAME ARGS...: exit != 0, one line on stderr, nothing changed anywhere
bad() {
	local name=$1
	shift
	local before after rc
	before=$(tree_all)
	"$VM" "$@" </dev/null >"$TMP/bad.out" 2>"$TMP/bad.err"
	rc=$?
	after=$(tree_all)
	check "$name: fails" "$([ $rc != 0 ] && echo 0 || echo 1)" "exit $rc"
	one_error_line "$name" "$TMP/bad.err"
	check "$name: nothing changed" "$([ "$before" = "$after" ] && echo 0 || echo 1)" \
		"$(diff <(echo "$before") <(echo "$after") | head -5 | tr '\n' ' ')"
}
dir_of() { # GUEST: its folder
	"$VM" info "$1" 2>/dev/null | awk '$1 == "path:" {print $2}'
}
# put_bytes GUEST TEXT: TEXT at 1 MiB into its disk0.img; get_bytes GUEST: what is there
put_bytes() { printf '%s' "$2" | dd of="$(dir_of "$1")/disk0.img" bs=1 seek=1048576 conv=notrunc status=none; }
get_bytes() { dd if="$(dir_of "$1")/disk0.img" bs=1 skip=1048576 count="${2:-8}" status=none; }
conf_val() { sed -n "s/^$2=\"\\(.*\\)\"$/\\1/p" "$(dir_of "$1")/$1.conf"; }
snaps_of() { "$VM" info "$1" 2>/dev/null | awk -v g="$1@" 'index($1, g) == 1 {sub(g, "", $1); printf "%s ", $1}'; }

for ds in bt xf; do
	case $ds in bt) kind="btrfs subvolume" ;; xf) kind="reflink copies" ;; esac
	g=g-$ds
	"$VM" create -d "$ds" -s 64M "$g" && sed -i '/^network0/d' "$(dir_of "$g")/$g.conf" &&
		echo 'network0_type="virtio-net"' >>"$(dir_of "$g")/$g.conf"
	check "$ds: create" "$?"
	if [ "$ds" = bt ]; then
		btrfs subvolume show "$(dir_of "$g")" >/dev/null 2>&1
		check "$ds: the guest folder is a btrfs subvolume" "$?"
	fi
	check "$ds: info names the snapshot kind" "$("$VM" info "$g" | grep -q "snapshots: $kind"; echo $?)" \
		"$("$VM" info "$g" | grep snapshots)"
	put_bytes "$g" OLDBYTES
	"$VM" snapshot "$g@first" 2>"$TMP/err"
	check "$ds: snapshot" "$?" "$(oneline "$TMP/err")"
	put_bytes "$g" NEWBYTES
	echo 'memory="1G"' >>"$(dir_of "$g")/$g.conf"
	"$VM" rollback "$g@first" 2>"$TMP/err"
	check "$ds: rollback" "$?" "$(oneline "$TMP/err")"
	check "$ds: rollback: the old bytes are back" "$([ "$(get_bytes "$g")" = OLDBYTES ] && echo 0 || echo 1)" \
		"$(get_bytes "$g")"
	check "$ds: rollback: the conf too" "$(grep -q 'memory="1G"' "$(dir_of "$g")/$g.conf"; [ $? = 1 ] && echo 0 || echo 1)"
	check "$ds: rollback: the guest is whole (conf, 64M disk)" \
		"$([ "$(stat -c %s "$(dir_of "$g")/disk0.img")" = 67108864 ] && [ -s "$(dir_of "$g")/$g.conf" ] && echo 0 || echo 1)"
	"$VM" snapshot "$g" 2>"$TMP/err"
	check "$ds: snapshot without a name (a date)" "$?" "$(oneline "$TMP/err")"
	check "$ds: info lists the snapshots, oldest first" \
		"$(snaps_of "$g" | grep -q -E '^first [0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9:]{8} $'; echo $?)" "$(snaps_of "$g")"
	put_bytes "$g" THIRDBYT
	"$VM" snapshot "$g@third" && put_bytes "$g" LATESTBY
	bad "$ds: snapshot: a name that exists" snapshot "$g@first"
	bad "$ds: rollback to an older snapshot without -r" rollback "$g@first"
	bad "$ds: rollback to a snapshot that does not exist" rollback "$g@nosuch"
	bad "$ds: rollback without a snapshot" rollback "$g"
	bad "$ds: snapshot: a bad snapshot name" snapshot "$g@bad/name"
	bad "$ds: snapshot of a guest that does not exist" snapshot "nosuch@x"
	bad "$ds: destroy of a snapshot that does not exist" destroy "$g@nosuch"

	# clones: from the guest and from a snapshot
	"$VM" clone "$g" "c1-$ds" 2>"$TMP/err"
	check "$ds: clone" "$?" "$(oneline "$TMP/err")"
	check "$ds: clone: same disk bytes" "$(cmp -s "$(dir_of "$g")/disk0.img" "$(dir_of "c1-$ds")/disk0.img"; echo $?)"
	check "$ds: clone: its own uuid" "$([ -n "$(conf_val "c1-$ds" uuid)" ] && [ "$(conf_val "c1-$ds" uuid)" != "$(conf_val "$g" uuid)" ] && echo 0 || echo 1)"
	check "$ds: clone: its own MAC" "$([ -n "$(conf_val "c1-$ds" network0_mac)" ] && [ "$(conf_val "c1-$ds" network0_mac)" != "$(conf_val "$g" network0_mac)" ] && echo 0 || echo 1)" \
		"$(conf_val "$g" network0_mac) / $(conf_val "c1-$ds" network0_mac)"
	check "$ds: clone: its conf is named for it, no log of the original" \
		"$([ -f "$(dir_of "c1-$ds")/c1-$ds.conf" ] && [ ! -e "$(dir_of "c1-$ds")/$g.conf" ] && ! grep -q snapshot "$(dir_of "c1-$ds")/vm-bhyve.log" && echo 0 || echo 1)"
	put_bytes "c1-$ds" CLONEBYT
	check "$ds: clone: writing the clone leaves the original alone" "$([ "$(get_bytes "$g")" = LATESTBY ] && echo 0 || echo 1)"
	"$VM" clone "$g@first" "c2-$ds" 2>"$TMP/err"
	check "$ds: clone of a snapshot" "$?" "$(oneline "$TMP/err")"
	check "$ds: clone of a snapshot: the snapshot's bytes" "$([ "$(get_bytes "c2-$ds")" = OLDBYTES ] && echo 0 || echo 1)"
	check "$ds: clone of a snapshot: no snapshots of its own" "$([ -z "$(snaps_of "c2-$ds")" ] && echo 0 || echo 1)"
	bad "$ds: clone onto an existing name" clone "$g" "c1-$ds"
	bad "$ds: clone of a snapshot that does not exist" clone "$g@nosuch" "c3-$ds"
	bad "$ds: clone to a bad name" clone "$g" "-bad"

	# the clone starts as a guest of its own: the stand-in bhyve records its MAC and uuid
	"$VM" start "c1-$ds" >/dev/null 2>"$TMP/err" && wait_for 10 test -s "$vm_dir/c1-$ds.argv"
	check "$ds: clone starts" "$?" "$(oneline "$TMP/err")"
	check "$ds: clone runs with its own MAC and uuid" \
		"$(grep -q "mac=$(conf_val "c1-$ds" network0_mac)" "$vm_dir/c1-$ds.argv" && grep -q -x "$(conf_val "c1-$ds" uuid)" "$vm_dir/c1-$ds.argv"; echo $?)" \
		"$(tr '\n' ' ' <"$vm_dir/c1-$ds.argv" | head -c 300)"
	bad "$ds: snapshot of a running guest without -f" snapshot "c1-$ds@live"
	"$VM" snapshot -f "c1-$ds@live" 2>"$TMP/err"
	check "$ds: snapshot -f of a running guest" "$?" "$(oneline "$TMP/err")"
	bad "$ds: rollback of a running guest" rollback "c1-$ds@live"
	bad "$ds: clone of a running guest (not a snapshot)" clone "c1-$ds" "c4-$ds"
	"$VM" clone "c1-$ds@live" "c4-$ds" 2>"$TMP/err"
	check "$ds: clone of a running guest's snapshot" "$?" "$(oneline "$TMP/err")"
	check "$ds: the snapshot of a running guest holds no run lock or console file" \
		"$([ ! -e "$(dir_of "c4-$ds")/run.lock" ] && [ ! -e "$(dir_of "c4-$ds")/console" ] && echo 0 || echo 1)"
	"$VM" stop "c1-$ds" >/dev/null 2>&1
	wait_for 10 test ! -e "$(dir_of "c1-$ds")/run.lock"

	# rollback -r: the later snapshots go
	"$VM" rollback -r "$g@first" 2>"$TMP/err"
	check "$ds: rollback -r" "$?" "$(oneline "$TMP/err")"
	check "$ds: rollback -r: the later snapshots are gone" "$([ "$(snaps_of "$g")" = "first " ] && echo 0 || echo 1)" "$(snaps_of "$g")"
	check "$ds: rollback -r: the old bytes" "$([ "$(get_bytes "$g")" = OLDBYTES ] && echo 0 || echo 1)"
	check "$ds: no staging folders left" "$(ls -a "$TMP/$( [ $ds = bt ] && echo btrfs || echo xfs)" | grep -c -E '\.(rollback|cloning|creating)|\.making-' | grep -q -x 0; echo $?)"

	# rename and destroy take the snapshots along
	"$VM" rename "$g" "r-$ds" && [ "$(snaps_of "r-$ds")" = "first " ]
	check "$ds: rename keeps the snapshots" "$?" "$(snaps_of "r-$ds")"
	"$VM" destroy "r-$ds@first" 2>"$TMP/err" && [ -z "$(snaps_of "r-$ds")" ]
	check "$ds: destroy NAME@SNAP" "$?" "$(oneline "$TMP/err")"
	"$VM" snapshot "r-$ds@again" && "$VM" destroy -f "r-$ds" 2>"$TMP/err"
	check "$ds: destroy" "$?" "$(oneline "$TMP/err")"
	check "$ds: destroy takes the snapshots" \
		"$(ls -A "$TMP/$( [ $ds = bt ] && echo btrfs || echo xfs)/.vm-snapshots/" | grep -c "^r-$ds\$" | grep -q -x 0; echo $?)"
	for c in c1 c2 c4; do
		"$VM" destroy -f "$c-$ds" >/dev/null 2>"$TMP/err"
		check "$ds: destroy $c-$ds" "$?" "$(oneline "$TMP/err")"
	done
done
check "btrfs: no subvolumes left behind" "$([ -z "$(btrfs subvolume list "$TMP/btrfs")" ] && echo 0 || echo 1)" \
	"$(btrfs subvolume list "$TMP/btrfs" | tr '\n' ' ')"

# a killed clone's staging folder is cleared by the next clone to that name; a live one's is not
"$VM" create -d xf -s 8M src >/dev/null 2>&1
true & deadpid=$!
wait $deadpid
mkdir -p "$TMP/xfs/.cc.cloning.$deadpid" "$TMP/xfs/.cc.cloning.$$"
touch "$TMP/xfs/.cc.cloning.$deadpid/disk0.img"
"$VM" clone src cc 2>"$TMP/err"
check "clone clears a killed clone's staging folder" \
	"$([ ! -e "$TMP/xfs/.cc.cloning.$deadpid" ] && [ -d "$TMP/xfs/.cc.cloning.$$" ] && [ -f "$TMP/xfs/cc/cc.conf" ] && echo 0 || echo 1)" "$(oneline "$TMP/err")"
rmdir "$TMP/xfs/.cc.cloning.$$"
"$VM" destroy -f cc >/dev/null 2>&1
"$VM" destroy -f src >/dev/null 2>&1

# vm-bhyve's ZFS volumes on a folder datastore: files of their name, one line saying so
printf '%s\n' 'loader="kernel"' 'kernel="vmlinuz"' 'cpu=1' 'memory=256M' 'disk0_type="virtio-blk"' \
	'disk0_dev="sparse-zvol"' 'disk0_name="disk0"' >"$vm_dir/.templates/zv.conf"
"$VM" create -d xf -t zv -s 32M zv >/dev/null 2>"$TMP/err"
check "zvol: create with disk0_dev=sparse-zvol" "$?" "$(oneline "$TMP/err")"
one_error_line "zvol: create says the volume is a file" "$TMP/err"
check "zvol: the note names the datastore and the file" \
	"$(grep -q -x "vm create: note: disk0_dev=\"sparse-zvol\": datastore 'xf' is a folder, not ZFS: disk0 is the sparse file $TMP/xfs/zv/disk0" "$TMP/err"; echo $?)" "$(oneline "$TMP/err")"
check "zvol: a sparse 32M file" "$([ "$(stat -c %s "$TMP/xfs/zv/disk0")" = 33554432 ] && [ "$(stat -c %b "$TMP/xfs/zv/disk0")" -lt 64 ] && echo 0 || echo 1)" \
	"$(stat -c '%s bytes, %b blocks' "$TMP/xfs/zv/disk0")"
"$VM" add -t zvol -s 8M zv >/dev/null 2>"$TMP/err"
check "zvol: add -t zvol" "$?" "$(oneline "$TMP/err")"
check "zvol: add -t zvol: disk1, its space set aside (not sparse)" \
	"$([ "$(stat -c %s "$TMP/xfs/zv/disk1")" = 8388608 ] && [ "$(stat -c %b "$TMP/xfs/zv/disk1")" -ge 16384 ] && grep -q '^disk1_dev="zvol"' "$TMP/xfs/zv/zv.conf" && echo 0 || echo 1)" \
	"$(stat -c '%s bytes, %b blocks' "$TMP/xfs/zv/disk1" 2>&1)"
"$VM" start zv >/dev/null 2>"$TMP/err" && wait_for 10 test -s "$vm_dir/zv.argv"
check "zvol: the guest starts on its volume files" \
	"$(grep -q -x "4:0,virtio-blk,$TMP/xfs/zv/disk0" "$vm_dir/zv.argv" && grep -q -x "4:1,virtio-blk,$TMP/xfs/zv/disk1" "$vm_dir/zv.argv"; echo $?)" \
	"$(oneline "$TMP/err") $(tr '\n' ' ' <"$vm_dir/zv.argv" 2>/dev/null | head -c 300)"
"$VM" stop zv >/dev/null 2>&1
wait_for 10 test ! -e "$TMP/xfs/zv/run.lock"
"$VM" destroy -f zv 2>"$TMP/err" && [ ! -e "$TMP/xfs/zv" ]
check "zvol: destroy removes the volume files" "$?" "$(oneline "$TMP/err")"

# ---- vm image: archives of guests, provisioned as new guests ----
"$VM" create -d xf -s 64M im-src >/dev/null 2>&1 && sed -i '/^network0/d' "$TMP/xfs/im-src/im-src.conf" &&
	echo 'network0_type="virtio-net"' >>"$TMP/xfs/im-src/im-src.conf"
put_bytes im-src IMAGEBYT
"$VM" start im-src >/dev/null 2>&1 && wait_for 10 test -s "$vm_dir/im-src.argv"
out=$("$VM" image create -d "a test image" im-src 2>"$TMP/err")
check "image create of a running guest on XFS (from a snapshot)" "$?" "$(oneline "$TMP/err")"
IU=$(echo "$out" | sed -n 's/^Image of im-src created with UUID \([0-9a-f-]*\)$/\1/p')
check "image create: the UUID, the archive and vm-bhyve's manifest" \
	"$([ -n "$IU" ] && [ -f "$vm_dir/.images/$IU.tar.xz" ] && grep -q -x 'name="im-src"' "$vm_dir/.images/$IU.manifest" &&
		grep -q -x "filename=\"$IU.tar.xz\"" "$vm_dir/.images/$IU.manifest" && grep -q -x 'description="a test image"' "$vm_dir/.images/$IU.manifest"; echo $?)" "$out"
check "image create: its snapshot is gone again" "$([ -z "$(snaps_of im-src)" ] && echo 0 || echo 1)" "$(snaps_of im-src)"
"$VM" stop im-src >/dev/null 2>&1
wait_for 10 test ! -e "$TMP/xfs/im-src/run.lock"
"$VM" create -d tm -s 16M im-tm >/dev/null 2>&1
put_bytes im-tm TMPFSBYT
"$VM" start im-tm >/dev/null 2>&1 && wait_for 10 test -s "$vm_dir/im-tm.argv"
bad "image create of a running guest where there are no snapshots" image create im-tm
"$VM" stop im-tm >/dev/null 2>&1
wait_for 10 test ! -e "$TMP/tmpfs/im-tm/run.lock"
out2=$("$VM" image create -u im-tm 2>"$TMP/err")
check "image create -u of a stopped guest on tmpfs" "$?" "$(oneline "$TMP/err")"
IU2=$(echo "$out2" | sed -n 's/^Image of im-tm created with UUID \([0-9a-f-]*\)$/\1/p')
check "image create -u: an uncompressed tar" "$([ -f "$vm_dir/.images/$IU2.tar" ] && tar -tf "$vm_dir/.images/$IU2.tar" | grep -q -x './im-tm.conf'; echo $?)"
check "image list shows both" "$("$VM" image list | grep -c -E "^($IU +im-src +.* a test image|$IU2 +im-tm +.*No description provided)\$" | grep -q -x 2; echo $?)" \
	"$("$VM" image list | tr '\n' '|')"
"$VM" image provision "$IU" im-new >/dev/null 2>"$TMP/err"
check "image provision" "$?" "$(grep -v Unpacking "$TMP/err" | tr '\n' ' ')"
check "image provision: the guest's bytes, its 64M sparse disk" \
	"$([ "$(get_bytes im-new)" = IMAGEBYT ] && [ "$(stat -c %s "$vm_dir/im-new/disk0.img")" = 67108864 ] && [ "$(stat -c %b "$vm_dir/im-new/disk0.img")" -lt 1024 ] && echo 0 || echo 1)" \
	"$(get_bytes im-new) $(stat -c '%s %b' "$vm_dir/im-new/disk0.img")"
check "image provision: its own conf name, uuid and MAC, no run files" \
	"$([ -f "$vm_dir/im-new/im-new.conf" ] && [ ! -e "$vm_dir/im-new/im-src.conf" ] && [ "$(conf_val im-new uuid)" != "$(conf_val im-src uuid)" ] &&
		[ "$(conf_val im-new network0_mac)" != "$(conf_val im-src network0_mac)" ] && [ ! -e "$vm_dir/im-new/run.lock" ] && [ ! -e "$vm_dir/im-new/console" ] && echo 0 || echo 1)"
"$VM" image provision -d bt "$IU2" im-new2 >/dev/null 2>"$TMP/err"
check "image provision -d bt: a subvolume with the guest's bytes" \
	"$(btrfs subvolume show "$TMP/btrfs/im-new2" >/dev/null 2>&1 && [ "$(get_bytes im-new2)" = TMPFSBYT ]; echo $?)" "$(grep -v Unpacking "$TMP/err" | tr '\n' ' ')"
bad "image provision onto an existing name" image provision "$IU" im-new
bad "image provision: not a UUID" image provision ../../etc im-x
bad "image provision: an unknown UUID" image provision 00000000-0000-4000-8000-000000000000 im-x
bad "image provision: a bad name" image provision "$IU" -bad
bad "image create of a guest that does not exist" image create nosuch
bad "image: an unknown action" image frob
cp "$vm_dir/.images/$IU2.manifest" "$TMP/m.save"
head -c 3000 "$vm_dir/.images/$IU2.tar" >"$TMP/t.part" && cp "$TMP/t.part" "$vm_dir/.images/$IU2.tar"
printf 'garbage' >>"$vm_dir/.images/$IU2.tar"
bad "image provision of a broken archive" image provision "$IU2" im-x
check "no provisioning folders left" "$(ls -A "$vm_dir" "$TMP/btrfs" | grep -c provisioning | grep -q -x 0; echo $?)"
"$VM" image destroy "$IU" 2>"$TMP/err"
check "image destroy" "$([ ! -e "$vm_dir/.images/$IU.tar.xz" ] && [ ! -e "$vm_dir/.images/$IU.manifest" ] && echo 0 || echo 1)" "$(oneline "$TMP/err")"
bad "image destroy of an image that is gone" image destroy "$IU"
for g in im-src im-tm im-new im-new2; do "$VM" destroy -f "$g" >/dev/null 2>&1; done

# a file system that cannot clone files: refused, nothing made
"$VM" create -d tm -s 16M g-tm >/dev/null
bad "tmpfs: snapshot refused" snapshot g-tm@a
check "tmpfs: the reason names the file system" "$(grep -q 'tmpfs, which cannot clone files' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "tmpfs: clone refused" clone g-tm g-tm2
check "tmpfs: info says no snapshots" "$("$VM" info g-tm | grep -q 'snapshots: none'; echo $?)"
# images and LVM guests: a guest whose disk links to a thin volume is not archived (its folder
# holds no disk bytes), and an image holding such links is refused without touching the volume
# they name (a stand-in lvremove records any call)
mkdir -p "$TMP/shim"
printf '#!/bin/sh\necho "$0 $*" >>"%s/lvm-calls"\nexit 5\n' "$TMP" >"$TMP/shim/lvremove"
cp "$TMP/shim/lvremove" "$TMP/shim/lvs"
chmod +x "$TMP/shim/lvremove" "$TMP/shim/lvs"
"$VM" create -d xf -s 8M im-lv >/dev/null 2>&1 && rm "$TMP/xfs/im-lv/disk0.img" &&
	ln -s /dev/kbfakevg/vm+0123456789ab+disk0.img "$TMP/xfs/im-lv/disk0.img"
bad "image create of a guest on an LVM datastore" image create im-lv
check "the reason says LVM" "$(grep -q 'LVM datastore' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
mkdir -p "$TMP/evil" && printf 'loader="kernel"\ncpu=1\nmemory=64M\ndisk0_type="virtio-blk"\ndisk0_name="disk0.img"\n' >"$TMP/evil/ev.conf" &&
	ln -s /dev/kbfakevg/vm+0123456789ab+disk0.img "$TMP/evil/disk0.img" &&
	tar -C "$TMP/evil" -cf "$vm_dir/.images/11111111-2222-4333-8444-555555555555.tar" . &&
	printf 'name="ev"\nfilename="11111111-2222-4333-8444-555555555555.tar"\n' >"$vm_dir/.images/11111111-2222-4333-8444-555555555555.manifest"
rm -f "$TMP/lvm-calls"
PATH=$TMP/shim:$PATH bad "image provision of an image holding links to thin volumes" image provision 11111111-2222-4333-8444-555555555555 im-ev
check "... and no volume was touched" "$([ ! -e "$TMP/lvm-calls" ] && echo 0 || echo 1)" "$(cat "$TMP/lvm-calls" 2>/dev/null)"
rm -f "$vm_dir/.images/11111111-2222-4333-8444-555555555555."*
"$VM" destroy -f im-lv >/dev/null 2>&1

# LVM thin pools (made and used in the test bed's L1, which has device-mapper): refusals here
bad "datastore add lvm: not VG/POOL" datastore add lv1 lvm:justavg
bad "datastore add lvm: a volume group that does not exist" datastore add lv1 lvm:kbnosuchvg/pool
check "datastore add lvm: the reason comes from lvm" "$(grep -q 'kbnosuchvg/pool: .*\(not found\|not installed\|device-mapper\|No such\)' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "datastore add zfs: no ZFS here" datastore add z1 zfs:tank/vm
if command -v zfs >/dev/null; then
	check "datastore add zfs: says zfs is there, but not built in" "$(grep -q 'not built into kbhyve yet, though zfs is installed' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
else
	check "datastore add zfs: says there is no zfs command" "$(grep -q 'no ZFS on this host (no zfs command' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
	# where the zfs tools are installed, the line must not claim they are missing
	mkdir -p "$TMP/zfsbin" && printf '#!/bin/sh
exit 1
' >"$TMP/zfsbin/zfs" && chmod 755 "$TMP/zfsbin/zfs"
	PATH=$TMP/zfsbin:$PATH "$VM" datastore add z1 zfs:tank/vm </dev/null >/dev/null 2>"$TMP/bad.err"
	check "datastore add zfs: with zfs installed, says it is not built in (not that it is missing)" \
		"$(grep -q 'not built into kbhyve yet, though zfs is installed' "$TMP/bad.err" && [ "$(wc -l < "$TMP/bad.err")" = 1 ]; echo $?)" "$(oneline "$TMP/bad.err")"
fi
bad "usage: clone with one name" clone g-tm
bad "usage: snapshot with two names" snapshot g-tm g-tm
bad "usage: rollback -x" rollback -x g-tm@a
exit 0
