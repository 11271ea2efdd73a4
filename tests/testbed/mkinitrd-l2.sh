#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Builds an initrd for L2 test guests: static busybox, l2-init.sh as /init, the named kernel
# modules with their dependencies (from the payload), and a test script run by /init.
#
#   mkinitrd-l2.sh OUT.cpio.gz --script FILE [--modules "virtio_pci virtio_blk ext4 ..."]
#                  [--add SRC:DEST]... [--no-marker] [--exec]
#
# --script FILE   busybox sh script, run as /test.sh; its output goes to the console.
# --modules LIST  modules to insmod in this order, each after its dependencies. Devices need their
#                 bus driver too: virtio_pci for virtio-pci devices, button for the ACPI power button.
# --add SRC:DEST  copies a host file into the initrd at DEST (e.g. a static test program).
# --no-marker     /init does not write the "init started" byte to I/O port 0x80.
# --exec          /init execs the script, which stays process 1 (so it may switch_root to a disk).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { die "usage: mkinitrd-l2.sh OUT.cpio.gz --script FILE [--modules LIST] [--add SRC:DEST]... [--no-marker] [--exec]"; }

OUT=
SCRIPT=
MODULES=
MARKER=1
EXEC=0
ADD=()
while [ $# -gt 0 ]; do
	case $1 in
	--script) [ $# -ge 2 ] || usage; SCRIPT=$2; shift 2 ;;
	--modules) [ $# -ge 2 ] || usage; MODULES=$2; shift 2 ;;
	--add) [ $# -ge 2 ] || usage; ADD+=("$2"); shift 2 ;;
	--no-marker) MARKER=0; shift ;;
	--exec) EXEC=1; shift ;;
	-*) usage ;;
	*) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] && [ -n "$SCRIPT" ] || usage
[ -f "$SCRIPT" ] || die "no test script '$SCRIPT'"

load_payload
mod_index
for m in $MODULES; do
	mod_add "$m" || die "module $m is not in $KBHYVE_MODULES"
done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/mkinitrd-l2.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
install_busybox "$STAGE"
mod_install "$STAGE"
install -m 755 "$TESTBED_DIR/l2-init.sh" "$STAGE/init"
install -m 755 "$SCRIPT" "$STAGE/test.sh"
[ "$MARKER" = 0 ] || : > "$STAGE/etc/port80-marker"
[ "$EXEC" = 0 ] || : > "$STAGE/etc/exec-script"
for a in "${ADD[@]}"; do
	src=${a%%:*}
	dst=${a#*:}
	[ "$src" != "$a" ] && [ "${dst#/}" != "$dst" ] || die "--add wants SRC:/DEST, not '$a'"
	[ -f "$src" ] || die "--add: no file '$src'"
	mkdir -p "$STAGE$(dirname "$dst")"
	cp -p "$src" "$STAGE$dst"
done

mkdir -p "$(dirname "$OUT")"
pack_cpio "$STAGE" "$OUT" gzip
