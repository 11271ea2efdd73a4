#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm iso URL / vm img URL against a web server of the test's own on 127.0.0.1 (tests/vm/httpd.py,
# which serves ranges, cuts a transfer mid-way and ignores ranges on request): the file arrives
# identical, quietly when not on a terminal and with a progress bar on a pty; a cut transfer is
# reported and resumed; checksums are checked; vm img unpacks .xz and turns qcow2 into a raw
# sparse image; bad URLs, 404s, bad checksums and corrupt images get one line and leave nothing.
# Needs python3, qemu-img, xz and script(1).
# Usage: tests/vm/fetch.sh BUILD_DIR   (prints "ok - ..." / "not ok - ..." lines)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init fetch "$1"
HERE=$(cd "$(dirname "$0")" && pwd)
for need in python3 qemu-img xz script; do
	command -v "$need" >/dev/null || { check "$need is installed (.ci/packages)" 1; exit 1; }
done
WWW=$TMP/www
mkdir -p "$WWW"
python3 "$HERE/httpd.py" "$WWW" "$TMP/port" "$TMP/httpd.log" &
HTTPD=$!
f_cleanup() { kill "$HTTPD" 2>/dev/null; vmt_cleanup; }
trap f_cleanup EXIT
wait_for 10 test -s "$TMP/port"
U=http://127.0.0.1:$(cat "$TMP/port")

# what the server has: an ISO-sized file of random bytes, a qcow2 (and its .xz) of a raw disk
# with known bytes, a corrupt qcow2
head -c 3145728 /dev/urandom >"$WWW/small.iso"
head -c 8388608 /dev/urandom >"$WWW/big.iso"
cp "$WWW/big.iso" "$WWW/again.iso"
truncate -s 64M "$TMP/disk.raw"
printf 'KBHYVE-CLOUD-IMAGE' | dd of="$TMP/disk.raw" bs=1 seek=33554432 conv=notrunc status=none
qemu-img convert -f raw -O qcow2 "$TMP/disk.raw" "$WWW/cloud.qcow2" &&
	cp "$WWW/cloud.qcow2" "$TMP/c2.qcow2" && xz -T1 -c "$TMP/c2.qcow2" >"$WWW/packed.qcow2.xz"
printf 'QFI\xfb\0\0\0\3garbage' >"$WWW/broken.qcow2"
head -c 100000 /dev/urandom >>"$WWW/broken.qcow2"
check "the test's server and files" "$?"
ISO=$vm_dir/.iso IMG=$vm_dir/.img
sha() { sha256sum "$1" | cut -d' ' -f1; }
tree_all() { (cd "$vm_dir" && find . -printf '%p %s\n' | sort); }
# bad NAME ARGS...: exit != 0, one line on stderr, nothing new in vm_dir
bad() {
	local name=$1 before after rc
	shift
	before=$(tree_all)
	"$VM" "$@" </dev/null >/dev/null 2>"$TMP/bad.err"
	rc=$?
	after=$(tree_all)
	check "$name: fails" "$([ $rc != 0 ] && echo 0 || echo 1)"
	one_error_line "$name" "$TMP/bad.err"
	check "$name: nothing left" "$([ "$before" = "$after" ] && echo 0 || echo 1)" \
		"$(diff <(echo "$before") <(echo "$after") | tr '\n' ' ' | head -c 300)"
}

out=$("$VM" iso "$U/small.iso" 2>"$TMP/err")
check "iso: download" "$?" "$(oneline "$TMP/err")"
check "iso: the file is identical" "$(cmp -s "$WWW/small.iso" "$ISO/small.iso"; echo $?)"
check "iso: prints where it is" "$([ "$out" = "$ISO/small.iso" ] && echo 0 || echo 1)" "$out"
check "iso: quiet when not on a terminal" "$([ ! -s "$TMP/err" ] && echo 0 || echo 1)" "$(oneline "$TMP/err")"
check "iso: the list names it" "$("$VM" iso | grep -q -x 'default *small.iso'; echo $?)" "$("$VM" iso | tr '\n' ' ')"

# on a pty: a progress bar
script -qec "'$VM' iso '$U/big.iso'" /dev/null >"$TMP/pty.out" 2>&1
check "iso on a terminal: download" "$(cmp -s "$WWW/big.iso" "$ISO/big.iso"; echo $?)"
check "iso on a terminal: a progress bar to 100%" \
	"$(tr '\r' '\n' <"$TMP/pty.out" | grep -q -E '^big\.iso +\[#{20}\] 100% +8\.0 MiB of 8\.0 MiB'; echo $?)" \
	"$(tr '\r' '\n' <"$TMP/pty.out" | tail -3 | tr '\n' '|')"

# cut mid-way: reported, the part kept, resumed with a range
"$VM" iso "$U/cut/again.iso" >/dev/null 2>"$TMP/err"
rc=$?
check "cut transfer: fails" "$([ $rc != 0 ] && echo 0 || echo 1)"
one_error_line "cut transfer" "$TMP/err"
check "cut transfer: says it was cut and resumes" "$(grep -q 'cut after 4194304 bytes.*again resumes it' "$TMP/err"; echo $?)" "$(oneline "$TMP/err")"
check "cut transfer: the part is kept, no file yet" \
	"$([ "$(stat -c %s "$ISO/.again.iso.part" 2>/dev/null)" = 4194304 ] && [ ! -e "$ISO/again.iso" ] && echo 0 || echo 1)"
: >"$TMP/httpd.log"
"$VM" iso "$U/cut/again.iso" >/dev/null 2>"$TMP/err"
check "cut transfer: the same command resumes" "$?" "$(oneline "$TMP/err")"
check "cut transfer: asked for the rest only" "$(grep -q -x '/cut/again.iso bytes=4194304-' "$TMP/httpd.log"; echo $?)" "$(cat "$TMP/httpd.log")"
check "cut transfer: identical, no part left" \
	"$(cmp -s "$WWW/again.iso" "$ISO/again.iso" && [ ! -e "$ISO/.again.iso.part" ]; echo $?)"
# a server that cannot resume sends it all again: still identical
cp "$WWW/small.iso" "$WWW/copy.iso"
head -c 1000 /dev/zero >"$ISO/.copy.iso.part"
"$VM" iso "$U/norange/copy.iso" >/dev/null 2>"$TMP/err"
check "a server without ranges: the whole file again, identical" \
	"$(cmp -s "$WWW/copy.iso" "$ISO/copy.iso"; echo $?)" "$(oneline "$TMP/err")"

# checksums
"$VM" iso -c "$(sha "$WWW/small.iso")" "$U/small.iso" >/dev/null 2>&1 # there already: refused
rm "$ISO/small.iso"
"$VM" iso -c "sha256:$(sha "$WWW/small.iso" | tr a-f A-F)" "$U/small.iso" >/dev/null 2>"$TMP/err"
check "checksum: the right one" "$?" "$(oneline "$TMP/err")"
cp "$WWW/small.iso" "$WWW/other.iso"
bad "checksum: a wrong one" iso -c "$(sha "$WWW/big.iso")" "$U/other.iso"
check "checksum: the message says so" "$(grep -q 'SHA-256 .*not the .* given: removed' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "checksum: not one" iso -c abc "$U/other.iso"
bad "404" iso "$U/nosuch.iso"
check "404: the message says so" "$(grep -q 'answered 404' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "a file there already" iso "$U/small.iso"
bad "not a URL" iso /etc/passwd
bad "a file: URL" iso file:///etc/passwd
bad "a URL without a file name" iso "$U/"
bad "a hidden file name" iso "$U/.hidden.iso"
bad "a file name with odd characters" iso "$U/a%20b.iso"
bad "nothing listening" iso "http://127.0.0.1:1/x.iso"
bad "two URLs" iso "$U/a.iso" "$U/b.iso"

# images
out=$("$VM" img "$U/cloud.qcow2" 2>"$TMP/err")
check "img: qcow2 download and conversion" "$?" "$(oneline "$TMP/err")"
check "img: the raw image, where it says" "$([ "$out" = "$IMG/cloud.raw" ] && [ -f "$IMG/cloud.raw" ] && echo 0 || echo 1)" "$out"
check "img: the same disk bytes as the image's" "$(cmp -s "$TMP/disk.raw" "$IMG/cloud.raw"; echo $?)"
check "img: sparse" "$([ "$(stat -c %b "$IMG/cloud.raw")" -lt 1024 ] && echo 0 || echo 1)" "$(stat -c '%b blocks' "$IMG/cloud.raw")"
check "img: the qcow2 is gone" "$([ ! -e "$IMG/cloud.qcow2" ] && echo 0 || echo 1)"
script -qec "'$VM' img '$U/packed.qcow2.xz'" /dev/null >"$TMP/pty.out" 2>&1
check "img: .xz unpacked and converted" "$(cmp -s "$TMP/disk.raw" "$IMG/packed.raw"; echo $?)" "$(tr '\r' '\n' <"$TMP/pty.out" | tail -3 | tr '\n' '|')"
check "img: qemu-img's progress on a terminal" "$(tr '\r' '\n' <"$TMP/pty.out" | grep -q '(100.00/100%)'; echo $?)"
check "img: nothing but the raw image left" "$(ls -A "$IMG" | grep -c packed | grep -q -x 1; echo $?)" "$(ls -A "$IMG" | tr '\n' ' ')"
bad "img: a corrupt qcow2" img "$U/broken.qcow2"
check "img: the message names the image" "$(grep -q 'broken.qcow2 is not a usable qcow2 image' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
check "img: the list" "$("$VM" img | grep -c -E '^default +(cloud|packed)\.raw$' | grep -q -x 2; echo $?)"
exit 0
