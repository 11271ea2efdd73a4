#!/bin/bash
# Runs inside L1 (from in-l1-tests.sh): Debian's OVMF under build/bhyve with -l bootrom, no display,
# COM1 on stdio. The firmware must reach its UEFI shell; the test then types "reset -s" (the
# firmware's own shutdown: exit 1). A second run with the same VARS file must work as well, the
# VARS file must hold what the firmware wrote (write-through), and CODE must be unchanged. The
# second run adds QEMU's fw_cfg (fwcfg=qemu), which OVMF then reads (CPU count, etc/e820).
#   in-l1-firmware.sh BUILD_DIR        (uses KBHYVE_OVMF_CODE / KBHYVE_OVMF_VARS from payload.sh)
set -u
BUILD=$1
BHYVE=$BUILD/bhyve
# l1run exports the kernel's payload variables; the firmware's are read from the payload's env file
if [ -z "${KBHYVE_OVMF_CODE:-}" ] && [ -f "${KBHYVE_CACHE:-/var/cache/kbhyve}/payload.env" ]; then
	eval "$(grep '^KBHYVE_OVMF_' "${KBHYVE_CACHE:-/var/cache/kbhyve}/payload.env")"
fi
CODE=${KBHYVE_OVMF_CODE:-}
if [ -z "$CODE" ] || [ ! -f "$CODE" ] || [ ! -f "${KBHYVE_OVMF_VARS:-}" ]; then
	echo "not ok - l2 firmware: no OVMF in the payload (KBHYVE_OVMF_CODE='$CODE'; rerun payload.sh)"
	exit 0
fi
# the consoles stay readable on the host if the outer QEMU dies (see README.md, "OVMF and the
# outer QEMU"): keep them in the repository's build folder, shared with the host
TMP=$(cd "$(dirname "$0")/../.." && pwd)/build/testbed/firmware
rm -rf "$TMP"
mkdir -p "$TMP"
FIFOS=$(mktemp -d) # 9p cannot hold a fifo
trap 'rm -rf "$FIFOS"' EXIT
cp "$KBHYVE_OVMF_VARS" "$TMP/vars.fd"
code_sum=$(md5sum <"$CODE")

# shell_run NAME [,fwcfg=qemu]: boot to "Shell>", type "reset -s", expect exit 1; prints ok/not ok
shell_run() {
	local name=$1 extra=${2:-} out=$TMP/$1.out err=$TMP/$1.err t0 t1 rc
	mkfifo "$FIFOS/$name.in"
	t0=$(date +%s.%N)
	timeout -k 5 240 "$BHYVE" -c "${KBHYVE_FW_CPUS:-1}" -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-l bootrom,"$CODE","$TMP/vars.fd$extra" "fw-$name" <"$FIFOS/$name.in" >"$out" 2>"$err" &
	local pid=$!
	exec 7>"$FIFOS/$name.in"
	local typed=0
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$typed" = 0 ] && grep -aq 'Shell>' "$out"; then
			printf 'reset -s\r' >&7
			typed=1
		fi
		sleep 0.5
	done
	wait "$pid"
	rc=$?
	exec 7>&-
	t1=$(date +%s.%N)
	local secs problems=""
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	grep -aq 'Shell>' "$out" || problems+=" no Shell> on COM1;"
	[ "$rc" = 1 ] || problems+=" exit $rc (want 1 from reset -s);"
	if [ -z "$problems" ]; then
		echo "ok - l2 firmware: OVMF $name reaches the UEFI shell on COM1, reset -s powers off (${secs}s)"
	else
		echo "not ok - l2 firmware: OVMF $name:$problems"
		tr -d '\033' <"$out" | tr '\r' '\n' | grep -a . | tail -15 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}

shell_run first-boot
if cmp -s "$KBHYVE_OVMF_VARS" "$TMP/vars.fd"; then
	echo "not ok - l2 firmware: the VARS file is unchanged after a boot (no write-through)"
else
	echo "ok - l2 firmware: the firmware's variable writes reached the VARS file ($(cmp -l "$KBHYVE_OVMF_VARS" "$TMP/vars.fd" | wc -l) bytes)"
fi
shell_run second-boot-fwcfg ,fwcfg=qemu
if [ "$(md5sum <"$CODE")" = "$code_sum" ]; then
	echo "ok - l2 firmware: the CODE file is unchanged"
else
	echo "not ok - l2 firmware: the CODE file changed"
fi
