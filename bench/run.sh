#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# kbhyve benchmarks: kbhyve (build/bhyve) against QEMU/KVM (qemu-system-x86_64 -accel kvm), the
# same guests, alternating the two, N repetitions each; prints one comparison table and writes
# results.json, table.txt and bench.png into the output folder. See bench/README.md.
#
#   bench/run.sh [--reps N] [--quick] [--many-reps M] [--out DIR] [--mode auto|direct|testbed]
#                [--no-build] [--only GROUPS] [--bhyve-opt VAR=VALUE]
#
#   --reps N       repetitions of each metric (default 5)
#   --quick        2 repetitions, and 1 of the many-guests metric (its 40 boots dominate)
#   --many-reps M  repetitions of the many-guests metric (default: as --reps; --quick: 1)
#   --out DIR      output folder (default build/bench)
#   --no-build     measure the build/bhyve that is there (no make; e.g. while src/ is mid-edit)
#                  (KBHYVE_BENCH_BIN=DIR: DIR/bhyve and DIR/bhyvectl instead of build/'s)
#   --only GROUPS  comma-separated metric groups out of tiny,boot,mem,many,blk,net,fw,ahci,nvme,e1000,vnc,profile,vmlist,storage,cloud,snapshot,migrate (default all),
#                  e.g. --only blk,net for the virtio-blk and virtio-net metrics alone
#   --bhyve-opt    a bhyve -o option for every kbhyve run, repeatable (e.g. sandbox=off: the
#                  sandbox's cost, against the same QEMU rows)
#   --mode         auto (default): the nested test bed when /dev/kvm only emulates (kvm_pvm, or
#                  neither kvm_intel nor kvm_amd loaded), else directly on this host
#
# In the test bed, every guest benchmark runs inside ONE l1run (one L1 boot); the tiny-guest
# metric also runs on the host itself (rows "on the host's own /dev/kvm").
# Exit status: 0 when every metric was measured for both VMMs; 1 when one failed (the table
# says FAILED and the message names the metric); 2 for bad usage or missing tools.
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd "$BENCH_DIR/.." && pwd -P)
TESTBED=$REPO/tests/testbed

die() { echo "bench/run.sh: $*" >&2; exit 2; }
usage() { die "usage: bench/run.sh [--reps N] [--quick] [--many-reps M] [--out DIR] [--mode auto|direct|testbed] [--no-build] [--only GROUPS] [--bhyve-opt VAR=VALUE]"; }

REPS=5
MANY_REPS=
OUT=$REPO/build/bench
MODE=auto
QUICK=0
BUILD=1
ALL_GROUPS=tiny,boot,mem,many,blk,net,fw,ahci,nvme,e1000,vnc,profile,vmlist,storage,cloud,snapshot,migrate
ONLY=$ALL_GROUPS
BHYVE_OPTS=()
while [ $# -gt 0 ]; do
	case $1 in
	--reps) [ $# -ge 2 ] || usage; REPS=$2; shift 2 ;;
	--many-reps) [ $# -ge 2 ] || usage; MANY_REPS=$2; shift 2 ;;
	--quick) QUICK=1; shift ;;
	--no-build) BUILD=0; shift ;;
	--out) [ $# -ge 2 ] || usage; OUT=$(realpath -m -- "$2"); shift 2 ;;
	--mode) [ $# -ge 2 ] || usage; MODE=$2; shift 2 ;;
	--only) [ $# -ge 2 ] || usage; ONLY=$2; shift 2 ;;
	--bhyve-opt) [ $# -ge 2 ] || usage; BHYVE_OPTS+=(--bhyve-opt "$2"); shift 2 ;;
	-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) usage ;;
	esac
done
if [ "$QUICK" = 1 ]; then
	REPS=2
	MANY_REPS=${MANY_REPS:-1}
fi
MANY_REPS=${MANY_REPS:-$REPS}
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "--reps wants a whole number >= 1, not '$REPS'"
[[ $MANY_REPS =~ ^[0-9]+$ ]] || die "--many-reps wants a whole number, not '$MANY_REPS'"
case $MODE in auto | direct | testbed) ;; *) usage ;; esac
for g in ${ONLY//,/ }; do
	[[ ,$ALL_GROUPS, == *,$g,* ]] || die "--only: unknown group '$g' (groups: $ALL_GROUPS)"
done
[ -n "${ONLY//,/}" ] || die "--only wants at least one group out of $ALL_GROUPS"
want() { [[ ,$ONLY, == *,$1,* ]]; }
want many || MANY_REPS=0
DEV=0
if want blk || want net || want ahci || want nvme || want e1000; then DEV=1; fi

PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || die "python3 not found (Debian package python3)"
for tool in gcc ld objcopy make qemu-system-x86_64 gnuplot git; do
	command -v "$tool" > /dev/null || die "$tool not found (Debian packages: build-essential, qemu-system-x86, gnuplot-nox, git)"
done

cd "$REPO" || die "no repository at $REPO"
WORK=$REPO/build/bench/work     # inside the repository: L1 sees it through its share
mkdir -p "$WORK" "$OUT" || die "cannot create $WORK or $OUT"

# --- build: kbhyve, its tiny guest, the probe, QEMU's ROM for the tiny guest, L2 initrds ---
echo "== build"
if [ "$BUILD" = 1 ]; then
	make -j2 all guests > "$WORK/make.log" 2>&1 || { tail -30 "$WORK/make.log"; die "make failed (log: $WORK/make.log)"; }
fi
# KBHYVE_BENCH_BIN: another folder's bhyve and bhyvectl (e.g. built with make BUILD=... while
# build/ must stay as it is); inside the repository in the test bed (L1 sees it through its share)
BIN=${KBHYVE_BENCH_BIN:-$REPO/build}
[ -x "$BIN/bhyve" ] && [ -f build/guests/hello.bin ] || die "build/bhyve or build/guests/hello.bin missing (make all guests)"
CFLAGS_PROBE="-std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2"
# shellcheck disable=SC2086
gcc $CFLAGS_PROBE "$BENCH_DIR/vmmprobe.c" -o "$WORK/vmmprobe" || die "cannot build vmmprobe"
TINY=$REPO/build/guests/hello.bin
gcc -c -DPAYLOAD="\"$TINY\"" "$BENCH_DIR/tinyrom.S" -o "$WORK/tinyrom.o" &&
	ld -m elf_x86_64 -Ttext=0 -o "$WORK/tinyrom.elf" "$WORK/tinyrom.o" &&
	objcopy -O binary -j .text "$WORK/tinyrom.elf" "$WORK/hello-rom.bin" ||
	die "cannot build the tiny-guest ROM for QEMU"
[ "$(stat -c %s "$WORK/hello-rom.bin")" = 65536 ] || die "the tiny-guest ROM is not 64 KiB"

payload=$("$TESTBED/payload.sh") || die "tests/testbed/payload.sh failed (guest kernel)"
eval "$payload"
export KBHYVE_KERNEL_VERSION KBHYVE_KERNEL_PKG
"$TESTBED/mkinitrd-l2.sh" "$WORK/l2-poweroff.cpio.gz" --script "$BENCH_DIR/l2-poweroff.sh" &&
	"$TESTBED/mkinitrd-l2.sh" "$WORK/l2-hold.cpio.gz" --script "$BENCH_DIR/l2-hold.sh" ||
	die "cannot build the L2 initrds"
if [ "$DEV" = 1 ]; then
	# the device benchmarks' guest program (static: it runs in the busybox initrd; the same
	# binary is the server in L1) and their initrd
	# shellcheck disable=SC2086
	gcc $CFLAGS_PROBE -static "$BENCH_DIR/kbbench.c" -o "$WORK/kbbench" ||
		die "cannot build kbbench (static; Debian package libc6-dev)"
	"$TESTBED/mkinitrd-l2.sh" "$WORK/l2-devices.cpio.gz" --script "$BENCH_DIR/l2-devices.sh" \
		--add "$WORK/kbbench:/bin/kbbench" --modules "virtio_pci virtio_blk virtio_net ahci sd_mod nvme e1000" ||
		die "cannot build the L2 initrd of the device benchmarks"
fi

if want vnc; then
	# the display benchmark's guest: Linux's bochs DRM driver and two full-screen patterns
	for name in bands inverse; do
		"$PY" -c "import sys; sys.path.insert(0, '$REPO/tests/vnc'); import vncclient; \
open('$WORK/pattern-$name.raw', 'wb').write(vncclient.pattern_bytes('$name', 1024, 768))" ||
			die "cannot make the display benchmark's patterns"
	done
	"$TESTBED/mkinitrd-l2.sh" "$WORK/l2-display.cpio.gz" --script "$BENCH_DIR/l2-display.sh" \
		--add "$WORK/pattern-bands.raw:/pattern-bands.raw" --add "$WORK/pattern-inverse.raw:/pattern-inverse.raw" \
		--modules "bochs" || die "cannot build the L2 initrd of the display benchmark"
fi

if want snapshot; then
	# checkpoint/restore: bhyvectl with --suspend, and a guest that fills half its RAM
	case $([ -x "$BIN/bhyvectl" ] && "$BIN/bhyvectl" --help 2>&1) in
	*--suspend=*) ;;
	*) die "build/bhyvectl is missing or has no --suspend (make all)" ;;
	esac
	"$TESTBED/mkinitrd-l2.sh" "$WORK/l2-snaphold.cpio.gz" --script "$BENCH_DIR/l2-snaphold.sh" ||
		die "cannot build the L2 initrd of the snapshot benchmark"
fi

if want migrate; then
	# live migration: bhyvectl with --migrate, and a guest that fills (and rewrites) a tmpfs
	case $([ -x "$BIN/bhyvectl" ] && "$BIN/bhyvectl" --help 2>&1) in
	*--migrate=*) ;;
	*) die "build/bhyvectl is missing or has no --migrate (make all)" ;;
	esac
	"$TESTBED/mkinitrd-l2.sh" "$WORK/l2-migrate.cpio.gz" --script "$BENCH_DIR/l2-migrate.sh" ||
		die "cannot build the L2 initrd of the migration benchmark"
fi

if want cloud; then
	# a Debian cloud image (debootstrap, cached) and the initrd that switches to its systemd
	CLOUD_IMAGE=$("$TESTBED/debian-image.sh" --initrd "$WORK/l2-rootfs.cpio.gz") ||
		die "tests/testbed/debian-image.sh failed (the cloud image and its initrd)"
fi

# --- where to run: real KVM here, or the nested test bed ---
if want fw; then
	# systemd-boot on a GPT disk's EFI system partition: the kernel (its EFI stub) and the
	# poweroff initrd, as the direct boots use them
	. "$TESTBED/disks.sh"
	printf 'timeout 0\ndefault bench.conf\n' >"$WORK/loader.conf"
	printf 'title bench\nlinux /vmlinuz\ninitrd /initrd.gz\noptions %s\n' "console=ttyS0 quiet" >"$WORK/bench.conf"
	esp_disk "$WORK/fw-gpt.img" 64 gpt "$KBHYVE_SDBOOT_EFI:/EFI/BOOT/BOOTX64.EFI" \
		"$WORK/loader.conf:/loader/loader.conf" "$WORK/bench.conf:/loader/entries/bench.conf" \
		"$KBHYVE_VMLINUZ:/vmlinuz" "$WORK/l2-poweroff.cpio.gz:/initrd.gz" ||
		die "cannot build the firmware benchmark's disk (sfdisk, mtools)"
fi

kvm_module=none
for m in kvm_pvm kvm_intel kvm_amd; do
	[ -d "/sys/module/$m" ] && kvm_module=$m && break
done
if [ "$MODE" = auto ]; then
	if [ "$kvm_module" = kvm_intel ] || [ "$kvm_module" = kvm_amd ]; then MODE=direct; else MODE=testbed; fi
fi
# /dev/kvm here: for every metric directly on a host; in the test bed for the host's tiny guests
if [ "$MODE" = direct ] || want tiny || want vmlist; then
	[ -e /dev/kvm ] || die "no /dev/kvm"
fi

git_commit=$(git rev-parse HEAD 2> /dev/null || echo unknown)
[ -n "$(git status --porcelain 2> /dev/null)" ] && git_commit+="-dirty"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
KBHYVE_CPU_MODEL=$cpu_model KBHYVE_HOST_KERNEL=$(uname -r) KBHYVE_KVM_MODULE=$kvm_module \
	KBHYVE_MODE=$MODE KBHYVE_GIT=$git_commit KBHYVE_QEMU_VERSION=$(qemu-system-x86_64 --version | head -1) \
	KBHYVE_REPS=$REPS KBHYVE_MANY_REPS=$MANY_REPS KBHYVE_BUILT=$BUILD KBHYVE_ONLY=$ONLY \
	KBHYVE_BHYVE_SHA=$(sha256sum "$BIN/bhyve" | cut -c1-16) "$PY" -B -c '
import json, os, sys, time
e = os.environ
nested = e["KBHYVE_MODE"] == "testbed"
json.dump({"cpu_model": e["KBHYVE_CPU_MODEL"], "host_kernel": e["KBHYVE_HOST_KERNEL"],
           "host_kvm_module": e["KBHYVE_KVM_MODULE"], "nested": nested,
           "mode": "nested test bed (L1 under QEMU TCG with AMD SVM, VMMs in L1, guests are L2)"
                   if nested else "directly on the host",
           "qemu_version": e["KBHYVE_QEMU_VERSION"],
           "l1_kernel": e["KBHYVE_KERNEL_VERSION"] if nested else None,
           "guest_kernel": e["KBHYVE_KERNEL_VERSION"], "guest_kernel_package": e["KBHYVE_KERNEL_PKG"],
           "git_commit": e["KBHYVE_GIT"], "reps": int(e["KBHYVE_REPS"]),
           "bhyve_sha256_16": e["KBHYVE_BHYVE_SHA"],
           "bhyve_built_by_run": e["KBHYVE_BUILT"] == "1",
           "many_reps": int(e["KBHYVE_MANY_REPS"]),
           "groups": e["KBHYVE_ONLY"].split(","),
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, sys.stdout, indent=1)
' > "$OUT/host.json" || die "cannot write $OUT/host.json"

SUITE=("$PY" -B "$BENCH_DIR/suite.py" --probe "$WORK/vmmprobe" --bhyve "$BIN/bhyve" "${BHYVE_OPTS[@]}"
	--tiny "$TINY" --tiny-rom "$WORK/hello-rom.bin")
GUEST_ARGS=(--reps "$REPS" --many-reps "$MANY_REPS" --vmlinux "$KBHYVE_VMLINUX"
	--initrd-poweroff "$WORK/l2-poweroff.cpio.gz" --initrd-hold "$WORK/l2-hold.cpio.gz"
	--only "$ONLY")
[ "$DEV" = 0 ] || GUEST_ARGS+=(--initrd-devices "$WORK/l2-devices.cpio.gz" --kbbench "$WORK/kbbench")
want vnc && GUEST_ARGS+=(--initrd-display "$WORK/l2-display.cpio.gz")
want vmlist && GUEST_ARGS+=(--vm "$REPO/build/vm" --tiny-idle "$REPO/build/guests/idle.bin")
want cloud && GUEST_ARGS+=(--vm "$REPO/build/vm" --cloud-image "$CLOUD_IMAGE" --initrd-rootfs "$WORK/l2-rootfs.cpio.gz")
want snapshot && GUEST_ARGS+=(--bhyvectl "$BIN/bhyvectl" --initrd-snaphold "$WORK/l2-snaphold.cpio.gz")
want migrate && GUEST_ARGS+=(--bhyvectl "$BIN/bhyvectl" --initrd-migrate "$WORK/l2-migrate.cpio.gz")
want fw && GUEST_ARGS+=(--fw-disk "$WORK/fw-gpt.img" --ovmf-code "$KBHYVE_OVMF_CODE" --ovmf-vars "$KBHYVE_OVMF_VARS")

# Shows the suite's progress lines ("# ...") and QEMU/l1run messages, keeps everything in LOG.
progress() { tee "$1" | grep --line-buffered -v '^BENCH-'; }

LOGS=()
suite_rc=0
start=$SECONDS
if [ "$MODE" = testbed ]; then
	if want tiny || want vmlist || want storage; then
		# the tiny guest, and vm list with tiny guests running, on the build host's own KVM
		# (it runs tiny guests, not Linux): beside L1's numbers, without the nesting; vm
		# snapshot and clone on the build host's file systems (no KVM needed)
		host_only=
		want tiny && host_only=tiny
		want vmlist && host_only=$host_only${host_only:+,}vmlist
		want storage && host_only=$host_only${host_only:+,}storage
		echo "== $host_only on this host ($kvm_module)"
		"${SUITE[@]}" --reps "$REPS" --many-reps 0 --only-tiny --tiny-prefix host_ \
			--only "$host_only" --vm "$REPO/build/vm" --tiny-idle "$REPO/build/guests/idle.bin" 2>&1 |
			progress "$OUT/host-tiny.log"
		[ "${PIPESTATUS[0]}" = 0 ] || suite_rc=1
		LOGS+=("$OUT/host-tiny.log")
	fi
	# one L1 for everything; generous limit (an L2 boot takes 5-10 s in L1; the device
	# guest runs 1-3 minutes a VMM; snapshot: 4 guests a repetition, each booted, filled,
	# saved and restored: ~50 s a repetition on a quiet host; migrate: 4 migrations a
	# repetition, each two 1 GiB guests (a boot, a fill, a migration of at most 60 s and a
	# check): up to ~2 minutes each)
	FW=0 CLOUD=0 SNAP=0 MIG=0
	want fw && FW=1
	want cloud && CLOUD=1
	want snapshot && SNAP=1
	want migrate && MIG=1
	limit=$((900 + REPS * 300 + DEV * REPS * 600 + FW * REPS * 900 + CLOUD * REPS * 900 + SNAP * REPS * 300 + MIG * REPS * 480 + MANY_REPS * 1200))
	rc=0
	if [ "$ONLY" = storage ]; then
		: >"$OUT/suite.log" # the build host's file systems only: no L1 to boot
	else
		echo "== guest benchmarks in the nested test bed (one l1run, limit ${limit} s)"
		KBHYVE_L1_LOG=$OUT/l1-kernel.log "$TESTBED/l1run" --timeout "$limit" --mem 4096 -- \
			"${SUITE[@]}" "${GUEST_ARGS[@]}" --testbed 2>&1 | progress "$OUT/suite.log"
		rc=${PIPESTATUS[0]}
	fi
else
	echo "== guest benchmarks on this host's /dev/kvm ($kvm_module)"
	"${SUITE[@]}" "${GUEST_ARGS[@]}" 2>&1 | progress "$OUT/suite.log"
	rc=${PIPESTATUS[0]}
fi
LOGS+=("$OUT/suite.log")
if [ "$rc" != 0 ]; then
	suite_rc=1
	case $rc in
	124) echo "bench/run.sh: the test bed timed out (l1run status 124): metrics after the last sample are missing" >&2 ;;
	125) echo "bench/run.sh: L1 did not run the suite to its end (l1run status 125)" >&2 ;;
	esac
fi
echo "== results ($((SECONDS - start)) s of measuring, with any wait for the test bed's lock; $MODE)"
"$PY" -B "$BENCH_DIR/report.py" --out "$OUT" --host-info "$OUT/host.json" "${LOGS[@]}"
report_rc=$?
if [ "$suite_rc" != 0 ] || [ "$report_rc" != 0 ]; then
	echo "bench/run.sh: FAILED: some metric could not be measured (see above; logs in $OUT)" >&2
	exit 1
fi
exit 0
