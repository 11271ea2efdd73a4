#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm create -i IMAGE and -C [-k KEYS] [-n NETCONFIG] [-u USER]: the image's bytes in disk0 (from
# qcow2 and raw images), grown to the disk's size; the NoCloud seed.iso (label cidata, read back
# with xorriso) holding meta-data, user-data with the keys and user, network-config for the
# first NIC's MAC, attached as the next disk (the stand-in bhyve shows the command line). Bad
# input (keys that are not public keys, a private key, options without -C, bad network settings,
# images that are missing, packed or too big) gets one line and leaves no guest behind.
# Usage: tests/vm/provision.sh BUILD_DIR   (prints "ok - ..." / "not ok - ..." lines)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init provision "$1" --recording-bhyve
for need in qemu-img xorriso blkid xz; do
	command -v "$need" >/dev/null || { check "$need is installed (.ci/packages)" 1; exit 1; }
done
IMG=$vm_dir/.img
truncate -s 64M "$TMP/disk.raw"
printf 'KBHYVE-CLOUD-IMAGE' | dd of="$TMP/disk.raw" bs=1 seek=1048576 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 "$TMP/disk.raw" "$IMG/cloud.qcow2" && cp "$TMP/disk.raw" "$IMG/plain.raw" &&
	xz -T1 -k -c "$TMP/disk.raw" >"$IMG/packed.raw.xz"
check "the test's images" "$?"
KEY1='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P alice@host'
KEY2='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P bob "quoted"'
printf '# keys\n\n%s\n%s\n' "$KEY1" "$KEY2" >"$TMP/keys.pub"
# a guest whose stand-in can start: its switch exists nowhere, so no NIC in the started checks
seed_of() { rm -rf "$TMP/seed" && xorriso -osirrox on -indev "$vm_dir/$1/seed.iso" -extract / "$TMP/seed" >/dev/null 2>&1; }

"$VM" create -i cloud.qcow2 -s 256M -C -k "$TMP/keys.pub" -u admin \
	-n 'ip=10.0.0.5/24;gateway=10.0.0.1;nameservers=1.1.1.1,9.9.9.9;hostname=web1' c1 >/dev/null 2>"$TMP/err"
check "create -i qcow2 -C -k -u -n" "$?" "$(oneline "$TMP/err")"
D=$vm_dir/c1
check "disk0 holds the image's bytes" "$([ "$(dd if="$D/disk0.img" bs=1 skip=1048576 count=18 status=none)" = KBHYVE-CLOUD-IMAGE ] && echo 0 || echo 1)"
check "disk0 grown to -s (256M), sparse" "$([ "$(stat -c %s "$D/disk0.img")" = 268435456 ] && [ "$(stat -c %b "$D/disk0.img")" -lt 2048 ] && echo 0 || echo 1)" \
	"$(stat -c '%s bytes %b blocks' "$D/disk0.img")"
check "seed.iso: label cidata" "$([ "$(blkid -o value -s LABEL "$D/seed.iso")" = cidata ] && echo 0 || echo 1)"
seed_of c1
check "seed.iso: meta-data, user-data, network-config" "$([ "$(ls "$TMP/seed" | tr '\n' ' ')" = "meta-data network-config user-data " ] && echo 0 || echo 1)" "$(ls "$TMP/seed")"
uuid=$(sed -n 's/^uuid="\(.*\)"$/\1/p' "$D/c1.conf")
mac=$(sed -n 's/^network0_mac="\(.*\)"$/\1/p' "$D/c1.conf")
check "meta-data: the guest's uuid and the host name" \
	"$([ "$(cat "$TMP/seed/meta-data")" = "$(printf 'instance-id: %s\nlocal-hostname: web1' "$uuid")" ] && echo 0 || echo 1)" "$(cat "$TMP/seed/meta-data")"
check "user-data: cloud-config with the user and both keys" \
	"$(head -1 "$TMP/seed/user-data" | grep -q -x '#cloud-config' && grep -q -x '  - name: admin' "$TMP/seed/user-data" &&
		grep -q -x "      - \"$KEY1\"" "$TMP/seed/user-data" && grep -q -F -x '      - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P bob \"quoted\""' "$TMP/seed/user-data"; echo $?)" \
	"$(tr '\n' '|' <"$TMP/seed/user-data")"
check "network-config: the NIC's MAC, address, gateway, nameservers" \
	"$(grep -q -x "      macaddress: \"$mac\"" "$TMP/seed/network-config" && grep -q -x '      - 10.0.0.5/24' "$TMP/seed/network-config" &&
		grep -q -x '        via: 10.0.0.1' "$TMP/seed/network-config" && grep -q -x '      addresses: \[1.1.1.1, 9.9.9.9\]' "$TMP/seed/network-config"; echo $?)" \
	"$(tr '\n' '|' <"$TMP/seed/network-config")"
check "the conf attaches seed.iso as the next disk, a CD" \
	"$(grep -q -x 'disk1_type="ahci-cd"' "$D/c1.conf" && grep -q -x 'disk1_name="seed.iso"' "$D/c1.conf"; echo $?)"
sed -i '/^network0/d' "$D/c1.conf"
"$VM" start c1 >/dev/null 2>"$TMP/err" && wait_for 10 test -s "$vm_dir/c1.argv"
check "it starts with disk0 and the seed CD" \
	"$(grep -q -x "4:0,virtio-blk,$D/disk0.img" "$vm_dir/c1.argv" && grep -q -E "^4:1,ahci-cd,$D/seed.iso" "$vm_dir/c1.argv"; echo $?)" \
	"$(oneline "$TMP/err") $(tr '\n' ' ' <"$vm_dir/c1.argv" 2>/dev/null | head -c 300)"
"$VM" stop c1 >/dev/null 2>&1

"$VM" create -i "$IMG/plain.raw" -C c2 >/dev/null 2>"$TMP/err"
check "create -i (a path, raw) -C without keys" "$?" "$(oneline "$TMP/err")"
seed_of c2
check "raw image: the bytes" "$([ "$(dd if="$vm_dir/c2/disk0.img" bs=1 skip=1048576 count=18 status=none)" = KBHYVE-CLOUD-IMAGE ] && echo 0 || echo 1)"
check "no -n: no network-config, the guest's name as host name, no keys" \
	"$([ ! -e "$TMP/seed/network-config" ] && grep -q -x 'local-hostname: c2' "$TMP/seed/meta-data" && ! grep -q ssh_authorized_keys "$TMP/seed/user-data" && echo 0 || echo 1)"
"$VM" create -C -n 'hostname=db' c3 >/dev/null 2>"$TMP/err"
check "-n without an address: DHCP" "$(seed_of c3; grep -q -x '    dhcp4: true' "$TMP/seed/network-config" && grep -q -x 'local-hostname: db' "$TMP/seed/meta-data"; echo $?)" "$(oneline "$TMP/err")"

# bad input: one line, no guest, no staging folder
bad() {
	local name=$1 before after rc
	shift
	before=$(cd "$vm_dir" && find . | sort)
	"$VM" "$@" </dev/null >/dev/null 2>"$TMP/bad.err"
	rc=$?
	after=$(cd "$vm_dir" && find . | sort)
	check "$name: fails" "$([ $rc != 0 ] && echo 0 || echo 1)"
	one_error_line "$name" "$TMP/bad.err"
	check "$name: nothing made" "$([ "$before" = "$after" ] && echo 0 || echo 1)" "$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ' | head -c 300)"
}
printf 'not a key at all\n' >"$TMP/junk.pub"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n' >"$TMP/private"
printf 'ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIC192BBho9oe9U/q3Uga+ErOO/nCUfemMVzQTwUfx72P wrong-type\n' >"$TMP/mismatch.pub"
bad "-k: a file that is not a key" create -C -k "$TMP/junk.pub" b1
check "-k: the line is named" "$(grep -q 'line 1 is not an SSH public key' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "-k: a private key" create -C -k "$TMP/private" b1
check "-k: a private key is called one" "$(grep -q 'is a private key' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "-k: a key whose type does not match its blob" create -C -k "$TMP/mismatch.pub" b1
bad "-k: an empty file" create -C -k /dev/null b1
bad "-k: a missing file" create -C -k "$TMP/nosuch" b1
bad "-k without -C" create -k "$TMP/keys.pub" b1
bad "-n without -C" create -n 'ip=10.0.0.5/24' b1
bad "-n: no prefix length" create -C -n 'ip=10.0.0.5' b1
bad "-n: an unknown key" create -C -n 'ip=10.0.0.5/24;dns=1.1.1.1' b1
bad "-n: a bad gateway" create -C -n 'ip=10.0.0.5/24;gateway=10.0.0' b1
bad "-n: a bad host name" create -C -n 'hostname=a_b' b1
bad "-u root" create -C -u root b1
bad "-u: a bad name" create -C -u 'Bad User' b1
bad "-i: no such image" create -i nosuch.qcow2 b1
bad "-i: a packed image" create -i packed.raw.xz b1
bad "-i: larger than the disk" create -i cloud.qcow2 -s 32M b1
check "-i: too large says so" "$(grep -q 'give a larger -s' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
check "no staging folders left" "$(ls -A "$vm_dir" | grep -c creating | grep -q -x 0; echo $?)"
exit 0
