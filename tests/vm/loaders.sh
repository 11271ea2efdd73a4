#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm's loaders on the host side: loader="grub", with a recording stand-in bhyve: the grub.cfg written in the
# guest folder from the grub keys, the GRUB image built from it with Debian's grub-mkstandalone
# (an EFI application: "MZ" and a PE header), bhyve handed that image as the firmware's kernel;
# the image never written through a symlink somebody put in the folder; a missing
# grub-mkstandalone is one line naming the packages. loader="uefi-custom" and "bhyveload": the
# firmware images bhyve gets. The grub boots themselves are in the test bed
# (tests/testbed/in-l1-firmware.sh, "grub").
# Usage: tests/vm/loaders.sh BUILD_DIR   (needs root)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init loaders "${1:-build}" --recording-bhyve
stopped() { [ ! -e "$vm_dir/$1/run.lock" ]; }

if ! command -v grub-mkstandalone >/dev/null || [ ! -d /usr/lib/grub/x86_64-efi ]; then
	echo "not ok - loaders: no grub-mkstandalone or x86_64-efi modules (Debian packages grub-common, grub-efi-amd64-bin)"
	exit 1
fi

nonic g1
sed -i '/^loader=/d' "$vm_dir/g1/g1.conf"
cat >>"$vm_dir/g1/g1.conf" <<'EOF2'
loader="grub"
grub_run_partition="gpt2"
grub_run0="linux /vmlinuz root=/dev/vda2"
grub_run1="initrd /initrd.img"
EOF2
"$VM" start g1 >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 test -s "$vm_dir/g1.argv"
check "grub: vm start builds the image and starts bhyve" "$([ $rc = 0 ] && [ -s "$vm_dir/g1.argv" ]; echo $?)" "exit $rc: $(oneline "$TMP/e")"
want=$(printf '%s\n' 'insmod part_msdos' 'insmod part_gpt' 'insmod part_bsd' 'set root=(hd0,gpt2)' 'set timeout=3' 'menuentry "g1 (bhyve run)" {' \
	'	linux /vmlinuz root=/dev/vda2 console=ttyS0' '	initrd /initrd.img' '}')
check "grub: grub.cfg from the grub keys" "$([ "$(sed 1d "$vm_dir/g1/grub.cfg")" = "$want" ]; echo $?)" "$(oneline "$vm_dir/g1/grub.cfg")"
img=$vm_dir/g1/grub.efi
pe_off=$(od -An -tu4 -j 60 -N4 "$img" 2>/dev/null | tr -d ' ')
check "grub: grub.efi is an EFI application (MZ, PE header)" \
	"$([ "$(head -c2 "$img")" = MZ ] && [ "$(od -An -c -j "${pe_off:-0}" -N2 "$img" | tr -d ' ')" = PE ]; echo $?)" "$(head -c 4 "$img" | od -c | head -1)"
check "grub: the image holds that grub.cfg" "$(grep -aq 'linux /vmlinuz root=/dev/vda2 console=ttyS0' "$img"; echo $?)"
check "grub: bhyve boots OVMF with kbhyve's shim as the firmware's kernel and the image as its initrd" \
	"$(grep -qx "bootrom,.*,$vm_dir/g1/uefi-vars.fd,fwcfg=qemu" "$vm_dir/g1.argv" && grep -qx "boot.kernel=$BUILD/efi/grubshim.efi" "$vm_dir/g1.argv" &&
		grep -qx "boot.initrd=$vm_dir/g1/grub.efi" "$vm_dir/g1.argv"; echo $?)" "$(oneline "$vm_dir/g1.argv")"
shim=$BUILD/efi/grubshim.efi
pe=$(od -An -tu4 -j 60 -N4 "$shim" 2>/dev/null | tr -d ' ')
check "grub: the shim is an x86-64 EFI application (PE32+, machine 0x8664, subsystem 10)" \
	"$([ "$(od -An -c -j "${pe:-0}" -N2 "$shim" | tr -d ' ')" = PE ] &&
		[ "$(od -An -tx2 -j $((pe + 4)) -N2 "$shim" | tr -d ' ')" = 8664 ] &&
		[ "$(od -An -tu2 -j $((pe + 92)) -N2 "$shim" | tr -d ' ')" = 10 ]; echo $?)"
check "grub: no temporary files left in the folder" "$(! ls -a "$vm_dir/g1" | grep -q '^\.grub'; echo $?)" "$(ls -a "$vm_dir/g1" | tr '\n' ' ')"
"$VM" stop g1 >/dev/null 2>&1
wait_for 10 stopped g1

# the next start writes both again; a symlink put in place of the image is replaced, not followed
echo victim >"$TMP/victim"
rm -f "$img"
ln -s "$TMP/victim" "$img"
sed -i 's|^grub_run0=.*|grub_run0="linux /vmlinuz-2 root=/dev/vda2"|' "$vm_dir/g1/g1.conf"
"$VM" start g1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "grub: a symlink in place of grub.efi is replaced, its target untouched" \
	"$([ $rc = 0 ] && [ ! -L "$img" ] && [ "$(cat "$TMP/victim")" = victim ] && grep -aq 'linux /vmlinuz-2 ' "$img"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
"$VM" stop g1 >/dev/null 2>&1
wait_for 10 stopped g1

# no grub-mkstandalone: one line naming the packages, no bhyve
rm -f "$vm_dir/g1.argv"
KBHYVE_GRUB_MKSTANDALONE=$TMP/no-such-tool "$VM" start g1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "grub: without grub-mkstandalone the start fails, naming the packages" \
	"$([ $rc != 0 ] && grep -q 'grub-efi-amd64-bin' "$TMP/e" && [ ! -e "$vm_dir/g1.argv" ]; echo $?)" "exit $rc: $(oneline "$TMP/e")"
one_error_line "grub: without grub-mkstandalone" "$TMP/e"
wait_for 10 stopped g1

# a bad grub key: refused before anything is written
sed -i 's|^grub_run_partition=.*|grub_run_partition="(hd1)"|' "$vm_dir/g1/g1.conf"
"$VM" start g1 >"$TMP/o" 2>"$TMP/e"
rc=$?
check "grub: a bad grub_run_partition is refused" "$([ $rc != 0 ] && grep -q 'grub_run_partition="(hd1)"' "$TMP/e"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
one_error_line "grub: bad grub_run_partition" "$TMP/e"

# loader="uefi-custom": $vm_dir/.config/BHYVE_UEFI.fd whole, no variable store made
nonic g2
sed -i '/^loader=/d' "$vm_dir/g2/g2.conf"
echo 'loader="uefi-custom"' >>"$vm_dir/g2/g2.conf"
"$VM" start g2 >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 test -s "$vm_dir/g2.argv"
check "uefi-custom: bhyve boots \$vm_dir/.config/BHYVE_UEFI.fd, no uefi-vars.fd" \
	"$([ $rc = 0 ] && grep -qx "bootrom,$vm_dir/.config/BHYVE_UEFI.fd,fwcfg=qemu" "$vm_dir/g2.argv" && [ ! -e "$vm_dir/g2/uefi-vars.fd" ]; echo $?)" "exit $rc: $(oneline "$TMP/e") $(oneline "$vm_dir/g2.argv")"
"$VM" stop g2 >/dev/null 2>&1
wait_for 10 stopped g2

# loader="bhyveload": the firmware and the disk's own EFI loader, one warning
nonic g3
sed -i '/^loader=/d' "$vm_dir/g3/g3.conf"
echo 'loader="bhyveload"' >>"$vm_dir/g3/g3.conf"
"$VM" start g3 >"$TMP/o" 2>"$TMP/e"
rc=$?
wait_for 10 test -s "$vm_dir/g3.argv"
check "bhyveload: OVMF with the guest's uefi-vars.fd, and a warning in the log saying so" \
	"$([ $rc = 0 ] && grep -qx "bootrom,.*,$vm_dir/g3/uefi-vars.fd,fwcfg=qemu" "$vm_dir/g3.argv" && grep -q 'warning: loader="bhyveload": there is no bhyveload on Linux; the firmware (OVMF) boots the disk.s own EFI loader' "$vm_dir/g3/vm-bhyve.log"; echo $?)" "exit $rc: $(oneline "$TMP/e")"
"$VM" stop g3 >/dev/null 2>&1
wait_for 10 stopped g3

# vm info names the firmware files a start uses, or why it cannot start
"$VM" info g1 >"$TMP/info0" 2>&1
check "info: a guest that cannot start says why" "$(grep -qx '  cannot start: grub_run_partition="(hd1)": .*' "$TMP/info0"; echo $?)" "$(oneline "$TMP/info0")"
sed -i 's|^grub_run_partition=.*|grub_run_partition="gpt2"|' "$vm_dir/g1/g1.conf"
"$VM" info g1 >"$TMP/info1" 2>&1
check "info: a grub guest's firmware, variable store and GRUB image" \
	"$(grep -qx '  firmware: /usr/share/OVMF/OVMF_CODE_4M.fd' "$TMP/info1" &&
		grep -qx "  firmware-vars: $vm_dir/g1/uefi-vars.fd (made afresh at each start)" "$TMP/info1" &&
		grep -qx "  grub: $vm_dir/g1/grub.efi (built at each start from $vm_dir/g1/grub.cfg)" "$TMP/info1"; echo $?)" "$(oneline "$TMP/info1")"
"$VM" info g2 >"$TMP/info2" 2>&1
check "info: a uefi-custom guest's firmware, no variable store" \
	"$(grep -qx "  firmware: $vm_dir/.config/BHYVE_UEFI.fd" "$TMP/info2" && ! grep -q 'firmware-vars' "$TMP/info2"; echo $?)" "$(oneline "$TMP/info2")"

echo "# vm loaders tests: $vmt_pass passed, $vmt_fail failed"
[ "$vmt_fail" = 0 ]
