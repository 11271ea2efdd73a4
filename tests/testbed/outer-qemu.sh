#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Builds the test bed's outer QEMU: Debian's own qemu source package (bookworm), only the
# x86_64-softmmu target and the devices l1run uses, with one fix (outer-qemu-cr8.patch): a CR8
# write of an L2 guest with a virtual interrupt pending no longer aborts QEMU (README.md, "OVMF
# and the outer QEMU"). Cached in $KBHYVE_CACHE/outer-qemu/KEY/, KEY from the source version, the
# patch and this script; prints the binary's path. Runs once per cache: ~4 min on 2 cores.
#
#   tests/testbed/outer-qemu.sh            print the cached binary's path, building it if needed
#   tests/testbed/outer-qemu.sh --cached   print it only if it is already built (exit 1 if not)
#
# Needs (tools/install-deps.sh): apt-get, dpkg-source (dpkg-dev), meson, ninja-build, pkg-config,
# libglib2.0-dev, libpixman-1-dev, zlib1g-dev, libattr1-dev, libcap-ng-dev, libfdt-dev. The
# system's apt configuration is left alone: the deb-src lines live in a private list.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PATCH=$TESTBED_DIR/outer-qemu-cr8.patch
mkdir -p "$KBHYVE_CACHE/outer-qemu"
KBHYVE_CACHE=$(cd "$KBHYVE_CACHE" && pwd -P)
BASE=$KBHYVE_CACHE/outer-qemu
# Debian's source version this was written against; another bookworm update is fine as long as
# the patch applies (the build says so on one line if it does not)
SUITE=${KBHYVE_QEMU_SUITE:-bookworm}

key_of() { cat "$PATCH" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16; }
KEY=$(key_of)
BIN=$BASE/$KEY/bin/qemu-system-x86_64

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi
[ "${1:-}" = --cached ] && exit 1
[ $# = 0 ] || die "usage: outer-qemu.sh [--cached]"

exec 9> "$BASE/.lock"
flock 9
if [ -x "$BIN" ]; then # built by another caller meanwhile
	echo "$BIN"
	exit 0
fi
for t in dpkg-source meson ninja pkg-config; do
	command -v "$t" > /dev/null || die "$t is missing (tools/install-deps.sh installs the outer QEMU's build dependencies)"
done

WORK=$BASE/build.tmp
rm -rf "$WORK"
mkdir -p "$WORK/lists/partial"
cat > "$WORK/sources.list" << EOF
deb-src http://deb.debian.org/debian $SUITE main
deb-src http://deb.debian.org/debian-security $SUITE-security main
EOF
APT=(apt-get -q -o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/nonexistent
	-o "Dir::State::Lists=$WORK/lists" -o APT::Sandbox::User=root)
note "outer QEMU: fetching Debian's qemu source ($SUITE)"
"${APT[@]}" update > "$WORK/apt.log" 2>&1 || die "apt-get update for qemu's source failed (see $WORK/apt.log)"
(cd "$WORK" && "${APT[@]}" source --download-only qemu >> apt.log 2>&1) ||
	die "apt-get source qemu failed (see $WORK/apt.log)"
DSC=$(ls "$WORK"/qemu_*.dsc | head -n 1)
(cd "$WORK" && dpkg-source -x "$DSC" src > unpack.log 2>&1) || die "dpkg-source -x $DSC failed (see $WORK/unpack.log)"
patch -d "$WORK/src" -p1 --forward < "$PATCH" > "$WORK/patch.log" 2>&1 ||
	die "outer-qemu-cr8.patch does not apply to ${DSC##*/} (see $WORK/patch.log)"
# only what l1run's command line uses: q35, virtio-pci, 9p
printf 'CONFIG_Q35=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_9P=y\n' \
	> "$WORK/src/configs/devices/x86_64-softmmu/kbhyve-testbed.mak"
mkdir -p "$WORK/src/b"
note "outer QEMU: building ${DSC##*/} (x86_64-softmmu, patched)"
# prefix /usr: QEMU looks for its firmware (SeaBIOS, option ROMs) relative to its binary, so the
# cache holds KEY/bin/qemu-system-x86_64 beside KEY/share/... links to Debian's seabios and
# qemu-system-data
(cd "$WORK/src/b" && ../configure --prefix=/usr --target-list=x86_64-softmmu --without-default-features \
	--without-default-devices --with-devices-x86_64=kbhyve-testbed --enable-virtfs --enable-attr \
	--enable-cap-ng --enable-fdt=system --disable-docs --disable-werror \
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu > ../../configure.log 2>&1) ||
	die "configuring the outer QEMU failed (see $WORK/configure.log)"
ninja -C "$WORK/src/b" -j "$(nproc)" qemu-system-x86_64 > "$WORK/build.log" 2>&1 ||
	die "building the outer QEMU failed (see $WORK/build.log)"
rm -rf "$BASE/$KEY.tmp"
mkdir -p "$BASE/$KEY.tmp/bin" "$BASE/$KEY.tmp/share" "$BASE/$KEY.tmp/lib/ipxe"
cp "$WORK/src/b/qemu-system-x86_64" "$BASE/$KEY.tmp/bin/"
ln -s /usr/share/qemu "$BASE/$KEY.tmp/share/qemu"
ln -s /usr/share/seabios "$BASE/$KEY.tmp/share/seabios"
ln -s /usr/lib/ipxe/qemu "$BASE/$KEY.tmp/lib/ipxe/qemu"
echo "${DSC##*/} + outer-qemu-cr8.patch" > "$BASE/$KEY.tmp/SOURCE"
rm -rf "$BASE/$KEY"
mv "$BASE/$KEY.tmp" "$BASE/$KEY"
# it runs and finds its BIOS (q35's SeaBIOS), else it is no use to l1run
if ! timeout 20 "$BIN" -machine q35 -accel tcg -nodefaults -display none -S -qmp stdio \
	< <(printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n') > "$WORK/smoke.log" 2>&1; then
	rm -rf "$BASE/$KEY"
	die "the outer QEMU built but does not start (see $WORK/smoke.log)"
fi
rm -rf "$WORK"
echo "$BIN"
