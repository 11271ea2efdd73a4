#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Fetches and unpacks the guest payload of the test bed into ${KBHYVE_CACHE:-/var/cache/kbhyve}:
# the Debian kernel (bzImage, the ELF vmlinux cut out of it for PVH boots, the modules tree) and a
# static busybox. Prints shell assignments of the KBHYVE_* variables below (also kept in
# $KBHYVE_CACHE/payload.env), so callers do: eval "$(tests/testbed/payload.sh)".
#
#   KBHYVE_CACHE KBHYVE_KERNEL_PKG KBHYVE_KERNEL_VERSION KBHYVE_VMLINUZ KBHYVE_VMLINUX
#   KBHYVE_MODULES KBHYVE_BUSYBOX KBHYVE_OVMF_CODE KBHYVE_OVMF_VARS (Debian's ovmf package)
#   KBHYVE_SDBOOT_EFI (systemd-boot-efi's systemd-bootx64.efi)
#   KBHYVE_DI_KERNEL KBHYVE_DI_INITRD (the text installer of debian-installer-12-netboot-amd64)
#
# Inputs: KBHYVE_CACHE; KBHYVE_KERNEL_PKG (default: what linux-image-amd64 depends on);
# KBHYVE_PAYLOAD_DEBS (default /var/cache/kbhyve-payload): a folder of already fetched .debs.
# Once cached, the cached kernel is used (quick, no apt); `payload.sh --refresh` asks apt again.
# Idempotent. Needs apt-get/apt-cache (first run only), dpkg-deb, xz, od.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SEED=${KBHYVE_PAYLOAD_DEBS:-/var/cache/kbhyve-payload}
mkdir -p "$KBHYVE_CACHE/debs"
chmod 755 "$KBHYVE_CACHE"
KBHYVE_CACHE=$(cd "$KBHYVE_CACHE" && pwd -P)
ENVFILE=$KBHYVE_CACHE/payload.env
exec 9> "$KBHYVE_CACHE/.payload.lock"
flock 9

kernel_pkg()
{
	local pkg
	if [ -n "${KBHYVE_KERNEL_PKG:-}" ]; then
		echo "$KBHYVE_KERNEL_PKG"
		return
	fi
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
	# Without apt lists (offline), keep what was unpacked before.
	if [ -z "$pkg" ] && [ -f "$ENVFILE" ]; then
		pkg=$(sed -n 's/^KBHYVE_KERNEL_PKG=//p' "$ENVFILE")
	fi
	[ -n "$pkg" ] || die "cannot tell the kernel package: apt-cache depends linux-image-amd64 names none (run apt-get update?); or set KBHYVE_KERNEL_PKG"
	echo "$pkg"
}

# Prints the path of PKG's .deb in the cache, fetching it (seed folder, else apt-get download).
fetch_deb()
{
	local pkg=$1 deb
	deb=$(ls -1v "$KBHYVE_CACHE/debs/${pkg}"_*.deb 2>/dev/null | tail -n 1)
	if [ -z "$deb" ]; then
		deb=$(ls -1v "$SEED/${pkg}"_*.deb 2>/dev/null | tail -n 1)
		if [ -n "$deb" ]; then
			cp "$deb" "$KBHYVE_CACHE/debs/"
		else
			note "downloading $pkg"
			(cd "$KBHYVE_CACHE/debs" && apt-get -q -o APT::Sandbox::User=root download "$pkg" >&2) ||
				die "apt-get download $pkg failed"
		fi
		deb=$(ls -1v "$KBHYVE_CACHE/debs/${pkg}"_*.deb 2>/dev/null | tail -n 1)
		[ -n "$deb" ] || die "no .deb for $pkg after fetching it"
	fi
	echo "$deb"
}

# Unpacks DEB into DIR (replacing it) unless DIR already holds that .deb.
unpack()
{
	local deb=$1 dir=$2
	[ "$(cat "$dir/.deb" 2>/dev/null)" = "${deb##*/}" ] && return 0
	note "unpacking ${deb##*/}"
	rm -rf "$dir.tmp" "$dir"
	mkdir -p "$dir.tmp"
	dpkg-deb -x "$deb" "$dir.tmp"
	echo "${deb##*/}" > "$dir.tmp/.deb"
	mv "$dir.tmp" "$dir"
}

u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u16() { od -An -tu2 -j "$2" -N2 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }

# Cuts the compressed kernel out of a bzImage (boot protocol >= 2.08) and decompresses it: the
# result is the kernel's ELF image, bootable through its PVH entry point.
extract_vmlinux()
{
	local bz=$1 out=$2 sects version pm poff plen magic
	[ "$(od -An -c -j $((0x202)) -N4 "$bz" | tr -d ' ')" = HdrS ] || die "$bz: not a bzImage"
	version=$(u16 "$bz" $((0x206)))
	[ "$version" -ge $((0x208)) ] || die "$bz: boot protocol $version has no payload fields"
	sects=$(u8 "$bz" $((0x1f1)))
	[ "$sects" -ne 0 ] || sects=4
	pm=$(((sects + 1) * 512))
	poff=$(u32 "$bz" $((0x248)))
	plen=$(u32 "$bz" $((0x24c)))
	magic=$(od -An -tx1 -j $((pm + poff)) -N6 "$bz" | tr -d ' ')
	case $magic in
	fd377a585a00) set -- xz -dc --single-stream ;;
	1f8b*) set -- gzip -dc ;;
	28b52ffd*) set -- zstd -dc ;;
	*) die "$bz: unknown payload compression (magic $magic)" ;;
	esac
	# The decompressor stops at the end of its stream: ignore SIGPIPE in tail/head, check it alone.
	tail -c +$((pm + poff + 1)) "$bz" 2>/dev/null | head -c "$plen" 2>/dev/null | "$@" > "$out.tmp" ||
		[ "${PIPESTATUS[2]}" -eq 0 ] || die "$bz: cannot decompress the payload with $1"
	[ "$(od -An -c -N4 "$out.tmp" | tr -d ' ')" = '177ELF' ] || die "$bz: payload is not an ELF image"
	mv "$out.tmp" "$out"
}

case ${1:-} in
--refresh) REFRESH=1 ;;
'') REFRESH=0 ;;
*) die "usage: payload.sh [--refresh]" ;;
esac

# the installer's text images (not the whole 130 MB package) and systemd-boot
DI_DIR=debian-installer/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64
SDBOOT=systemd-boot-efi/usr/lib/systemd/boot/efi/systemd-bootx64.efi

# apt-cache takes ~0.7 s: only ask it when nothing is cached yet or on --refresh.
if [ "$REFRESH" = 0 ] && [ -z "${KBHYVE_KERNEL_PKG:-}" ] && [ -f "$ENVFILE" ]; then
	KPKG=$(sed -n 's/^KBHYVE_KERNEL_PKG=//p' "$ENVFILE")
else
	KPKG=$(kernel_pkg)
fi
if [ -f "$ENVFILE" ] && grep -qxF "KBHYVE_KERNEL_PKG=$KPKG" "$ENVFILE" &&
	[ -f "$KBHYVE_CACHE/vmlinux" ] && [ -f "$KBHYVE_CACHE/vmlinuz" ] &&
	[ -d "$KBHYVE_CACHE/modules/" ] && [ -x "$KBHYVE_CACHE/busybox" ] &&
	grep -q '^KBHYVE_OVMF_CODE=' "$ENVFILE" && [ -f "$KBHYVE_CACHE/ovmf/usr/share/OVMF/OVMF_CODE_4M.fd" ] &&
	grep -q '^KBHYVE_DI_INITRD=' "$ENVFILE" && [ -f "$KBHYVE_CACHE/$DI_DIR/initrd.gz" ] &&
	[ -f "$KBHYVE_CACHE/$SDBOOT" ]; then
	cat "$ENVFILE"
	exit 0
fi

KDEB=$(fetch_deb "$KPKG")
BDEB=$(fetch_deb busybox-static)
unpack "$KDEB" "$KBHYVE_CACHE/kernel"
unpack "$BDEB" "$KBHYVE_CACHE/busybox-static"
# firmware tests: Debian's OVMF (CODE_4M + the VARS_4M template that each test copies)
ODEB=$(fetch_deb ovmf)
unpack "$ODEB" "$KBHYVE_CACHE/ovmf"
[ -f "$KBHYVE_CACHE/ovmf/usr/share/OVMF/OVMF_CODE_4M.fd" ] || die "$ODEB has no OVMF_CODE_4M.fd"

# firmware tests: systemd-boot on a GPT ESP, and the Debian installer's first screen
unpack "$(fetch_deb systemd-boot-efi)" "$KBHYVE_CACHE/systemd-boot-efi"
[ -f "$KBHYVE_CACHE/$SDBOOT" ] || die "systemd-boot-efi has no ${SDBOOT#*/}"
DIDEB=$(fetch_deb debian-installer-12-netboot-amd64)
if [ "$(cat "$KBHYVE_CACHE/debian-installer/.deb" 2>/dev/null)" != "${DIDEB##*/}" ]; then
	note "unpacking the text installer of ${DIDEB##*/}"
	rm -rf "$KBHYVE_CACHE/debian-installer.tmp" "$KBHYVE_CACHE/debian-installer"
	mkdir -p "$KBHYVE_CACHE/debian-installer.tmp"
	dpkg-deb --fsys-tarfile "$DIDEB" | tar -x -C "$KBHYVE_CACHE/debian-installer.tmp" \
		"./${DI_DIR#debian-installer/}/linux" "./${DI_DIR#debian-installer/}/initrd.gz" ||
		die "$DIDEB: no text installer"
	echo "${DIDEB##*/}" >"$KBHYVE_CACHE/debian-installer.tmp/.deb"
	mv "$KBHYVE_CACHE/debian-installer.tmp" "$KBHYVE_CACHE/debian-installer"
fi

KVER=${KPKG#linux-image-}
[ -d "$KBHYVE_CACHE/kernel/lib/modules/$KVER" ] || die "$KDEB has no lib/modules/$KVER"
[ -f "$KBHYVE_CACHE/kernel/boot/vmlinuz-$KVER" ] || die "$KDEB has no boot/vmlinuz-$KVER"
[ -x "$KBHYVE_CACHE/busybox-static/bin/busybox" ] || die "$BDEB has no bin/busybox"

ln -sfn "kernel/boot/vmlinuz-$KVER" "$KBHYVE_CACHE/vmlinuz"
ln -sfn "kernel/lib/modules/$KVER" "$KBHYVE_CACHE/modules"
ln -sfn busybox-static/bin/busybox "$KBHYVE_CACHE/busybox"
note "extracting the ELF vmlinux from vmlinuz-$KVER"
extract_vmlinux "$KBHYVE_CACHE/vmlinuz" "$KBHYVE_CACHE/vmlinux"

{
	printf 'KBHYVE_CACHE=%q\n' "$KBHYVE_CACHE"
	printf 'KBHYVE_KERNEL_PKG=%q\n' "$KPKG"
	printf 'KBHYVE_KERNEL_VERSION=%q\n' "$KVER"
	printf 'KBHYVE_VMLINUZ=%q\n' "$KBHYVE_CACHE/vmlinuz"
	printf 'KBHYVE_VMLINUX=%q\n' "$KBHYVE_CACHE/vmlinux"
	printf 'KBHYVE_MODULES=%q\n' "$KBHYVE_CACHE/modules"
	printf 'KBHYVE_BUSYBOX=%q\n' "$KBHYVE_CACHE/busybox"
	printf 'KBHYVE_OVMF_CODE=%q\n' "$KBHYVE_CACHE/ovmf/usr/share/OVMF/OVMF_CODE_4M.fd"
	printf 'KBHYVE_OVMF_VARS=%q\n' "$KBHYVE_CACHE/ovmf/usr/share/OVMF/OVMF_VARS_4M.fd"
	printf 'KBHYVE_SDBOOT_EFI=%q\n' "$KBHYVE_CACHE/$SDBOOT"
	printf 'KBHYVE_DI_KERNEL=%q\n' "$KBHYVE_CACHE/$DI_DIR/linux"
	printf 'KBHYVE_DI_INITRD=%q\n' "$KBHYVE_CACHE/$DI_DIR/initrd.gz"
} > "$ENVFILE.tmp"
mv "$ENVFILE.tmp" "$ENVFILE"
cat "$ENVFILE"
