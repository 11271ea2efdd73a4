#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): Debian's OVMF under build/bhyve with -l bootrom, no display,
# COM1 on stdio.
# shell: the firmware must reach its UEFI shell; the test adds a boot entry with the shell's bcfg
#   and types "reset -s" (the firmware's own shutdown: exit 1). A second run with the same VARS
#   file must list that entry, the VARS file must hold what the firmware wrote (write-through),
#   and CODE must be unchanged. The second run adds QEMU's fw_cfg (fwcfg=qemu), which OVMF then
#   reads (CPU count, etc/e820).
# linux: a GPT disk whose EFI system partition holds systemd-boot, the Debian kernel and the
#   bootcheck initrd, put first by bootindex=1 although a decoy copy sits in an earlier slot; the
#   guest must see its ACPI tables (from etc/table-loader), both vCPUs, EFI and the user's -f
#   fw_cfg items (/sys/firmware/qemu_fw_cfg), and its reboot must exit 0.
# installer: the Debian installer (debian-installer-12-netboot-amd64, its EFI-stub kernel and
#   initrd started from startup.nsh) must reach its first screen on the serial console.
# grub: `vm` guests with loader="grub" on an ext4 disk holding the kernel and initrd in /boot: one
#   with no grub keys (GRUB reads the disk's /boot/grub/grub.cfg), which powers off (exit 1); one
#   with grub_run0.. keys (the linux line gets console=ttyS0 from vm, as grub-bhyve adds it), which
#   waits until bhyvectl --get-stats has answered and vm stop (SIGTERM) has powered it off.
# csm: a `vm` guest with loader="uefi-csm": SeaBIOS boots GRUB for BIOS from the MBR disk that
#   bootindex=1 puts first (of two), GRUB the kernel; SeaBIOS's screen is on COM1; the guest
#   powers off (exit 1).
# custom: a `vm` guest with loader="uefi-custom" whose .config/BHYVE_UEFI.fd is Debian's combined
#   OVMF.fd (one image, no variable file): systemd-boot and the kernel from the guest's ESP.
# iso: `vm install -f` of a loader="uefi", uefi_vars="yes" guest (its own uefi-vars.fd made from
#   Debian's template, written by the firmware) with an empty disk and a hybrid ISO (xorriso: El
#   Torito EFI image, also appended as an EFI system partition) holding systemd-boot, the kernel
#   and the initrd, attached as ahci-cd as vm-bhyve does: the firmware boots the ISO from the AHCI
#   CD (ATAPI), the guest powers off, the install ends.
#   in-l1-firmware.sh BUILD_DIR [L2_INITRD]   (uses KBHYVE_OVMF_*, KBHYVE_SDBOOT_EFI, KBHYVE_DI_*
#   and KBHYVE_VMLINUZ from payload.sh; without L2_INITRD the Linux steps fail)
# storage: OVMF boots systemd-boot and Linux from GPT disks on the AHCI and NVMe models, the one
#   fw_cfg bootorder names: first an NVMe disk (bootindex=0), then, without it, port 1 of an
#   ahci controller (bootindex=1) although a decoy sits on port 0.
# display: OVMF with fbuf (wait, so a VNC viewer watches from the first frame): the firmware draws
#   its boot screen through QemuVideoDxe's GOP on the Bochs display, then Linux's efifb (on the
#   firmware's mode; the EFIFB_INITRD guest, without the bochs module) shows the pattern the
#   guest writes to /dev/fb0, pixel for pixel.
# KBHYVE_FW_STEPS (default shell,linux,installer,grub,csm,custom,iso,storage,display): which steps
#   run, for debugging one.
#   in-l1-firmware.sh BUILD_DIR [L2_INITRD [EFIFB_INITRD]]
set -u
BUILD=$1
L2_INITRD=${2:-}
EFIFB_INITRD=${3:-}
STEPS=${KBHYVE_FW_STEPS:-shell,linux,installer,grub,csm,custom,iso,storage,display}
BHYVE=$BUILD/bhyve
# l1run exports the kernel's payload variables; the firmware's are read from the payload's env file
if [ -z "${KBHYVE_OVMF_CODE:-}" ] && [ -f "${KBHYVE_CACHE:-/var/cache/kbhyve}/payload.env" ]; then
	eval "$(grep -E '^KBHYVE_(OVMF|SDBOOT|DI)_' "${KBHYVE_CACHE:-/var/cache/kbhyve}/payload.env")"
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

# shell_run NAME LROM_EXTRA COMMAND [BHYVE ARGS...]: boot to "Shell>", type COMMAND if given,
# then "reset -s", expect exit 1; prints ok/not ok
shell_run() {
	local name=$1 extra=$2 cmd=$3 out=$TMP/$1.out err=$TMP/$1.err t0 t1 rc
	shift 3
	mkfifo "$FIFOS/$name.in"
	t0=$(date +%s.%N)
	timeout -k 5 240 "$BHYVE" -c "${KBHYVE_FW_CPUS:-1}" -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
		"$@" -l bootrom,"$CODE","$TMP/vars.fd$extra" "fw-$name" <"$FIFOS/$name.in" >"$out" 2>"$err" &
	local pid=$!
	exec 7>"$FIFOS/$name.in"
	# with a command: type it at the first prompt, then reset -s at the next one
	local typed=0 prompts
	while kill -0 "$pid" 2>/dev/null; do
		prompts=$(grep -ao 'Shell>' "$out" | wc -l)
		if [ "$typed" = 0 ] && [ "$prompts" -ge 1 ]; then
			if [ -n "$cmd" ]; then
				printf '%s\r' "$cmd" >&7
			else
				printf 'reset -s\r' >&7
				typed=1
			fi
			typed=$((typed + 1))
		elif [ "$typed" = 1 ] && [ "$prompts" -ge 2 ]; then
			printf 'reset -s\r' >&7
			typed=2
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
		console_tail "$out" 15
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}

# console_tail FILE N: the last N lines of a firmware console, escapes and CRs dropped
console_tail() {
	tr -d '\033' <"$1" | tr '\r' '\n' | grep -a . | tail -"$2" | sed 's/^/#   console: /'
}

if [[ $STEPS == *shell* ]]; then
	# a FAT disk for the shell's bcfg to point a boot entry at
	rm -f "$TMP/bcfg.img"
	truncate -s 4M "$TMP/bcfg.img"
	printf 'kbhyve' >"$TMP/kb.efi"
	if ! mformat -i "$TMP/bcfg.img" -v BCFG :: 2>"$TMP/bcfg.err" ||
		! mcopy -i "$TMP/bcfg.img" "$TMP/kb.efi" ::/kb.efi 2>>"$TMP/bcfg.err"; then
		echo "not ok - l2 firmware: cannot build the bcfg disk: $(tr '\n' ' ' <"$TMP/bcfg.err")"
	fi
	shell_run first-boot "" 'bcfg boot add 9 fs0:\kb.efi "kbhyve-persist"' -s 4,virtio-blk,"$TMP/bcfg.img"
	if grep -aq 'bcfg: Add Boot' "$TMP/first-boot.out"; then
		echo "ok - l2 firmware: the shell's bcfg added a boot entry"
	else
		echo "not ok - l2 firmware: the shell's bcfg did not add a boot entry"
		console_tail "$TMP/first-boot.out" 8
	fi
	if cmp -s "$KBHYVE_OVMF_VARS" "$TMP/vars.fd"; then
		echo "not ok - l2 firmware: the VARS file is unchanged after a boot (no write-through)"
	else
		echo "ok - l2 firmware: the firmware's variable writes reached the VARS file ($(cmp -l "$KBHYVE_OVMF_VARS" "$TMP/vars.fd" | wc -l) bytes)"
	fi
	shell_run second-boot-fwcfg ,fwcfg=qemu 'bcfg boot dump'
	if grep -aq 'kbhyve-persist' "$TMP/second-boot-fwcfg.out"; then
		echo "ok - l2 firmware: the boot entry added in the first run is there in the second (same VARS file)"
	else
		echo "not ok - l2 firmware: the second run's bcfg boot dump lacks the entry of the first"
		console_tail "$TMP/second-boot-fwcfg.out" 20
	fi
	if [ "$(md5sum <"$CODE")" = "$code_sum" ]; then
		echo "ok - l2 firmware: the CODE file is unchanged"
	else
		echo "not ok - l2 firmware: the CODE file changed"
	fi
fi

. "$(dirname "$0")/disks.sh"

# disk WHAT BUILDER ARGS...: run a disks.sh builder; a "not ok" line naming WHAT when it fails
disk() {
	local what=$1
	shift
	"$@" 2>"$TMP/disk.err" && return 0
	echo "not ok - l2 firmware: $what: $(tr '\n' ' ' <"$TMP/disk.err")"
	return 1
}

# guest_problems CONSOLE EXIT WANTED_EXIT [bios]: what is wrong with a Linux boot through OVMF (or,
# with bios, through a BIOS: no EFI) (nothing: empty)
guest_problems() {
	local o=$1 rc=$2 want=$3 problems=""
	grep -aq 'KBTEST init=ok' <<<"$o" || problems+=" the kernel's init did not run;"
	grep -aq 'KBTEST nproc=2' <<<"$o" || problems+=" not 2 CPUs;"
	if [ "${4:-}" = bios ]; then
		grep -aq 'KBTEST efi=no' <<<"$o" || problems+=" booted through EFI, not a BIOS;"
	else
		grep -aq 'KBTEST efi=yes' <<<"$o" || problems+=" not booted through EFI;"
	fi
	for sig in APIC DSDT FACP FACS; do
		grep -aq "KBTEST acpi_tables=.*$sig" <<<"$o" || problems+=" no $sig;"
	done
	[ "$rc" = "$want" ] || problems+=" exit $rc (want $want);"
	echo "$problems"
}

have_linux() {
	if [ -z "$L2_INITRD" ] || [ ! -f "$L2_INITRD" ] || [ ! -f "${KBHYVE_VMLINUZ:-}" ]; then
		echo "not ok - l2 firmware: $1: no kernel or initrd (KBHYVE_VMLINUZ='${KBHYVE_VMLINUZ:-}', initrd '$L2_INITRD')"
		return 1
	fi
}

# Linux through OVMF and systemd-boot from a GPT disk's EFI system partition on virtio-blk (the
# removable-media path EFI/BOOT/BOOTX64.EFI: no boot entry needed), with ACPI from
# etc/table-loader and two -f items; the guest reboots: exit 0
linux_run() {
	local img=$TMP/gpt.img out=$TMP/linux.out err=$TMP/linux.err rc t0 t1 secs problems
	have_linux "systemd-boot" || return
	if [ ! -f "${KBHYVE_SDBOOT_EFI:-}" ]; then
		echo "not ok - l2 firmware: no systemd-boot in the payload (KBHYVE_SDBOOT_EFI='${KBHYVE_SDBOOT_EFI:-}'; rerun payload.sh)"
		return
	fi
	printf 'timeout 0\ndefault kbhyve.conf\n' >"$TMP/loader.conf"
	# the same disk twice: a decoy in slot 3, which the firmware would try first, and the one
	# in slot 4 that bootindex=1 (fw_cfg bootorder) puts first
	local which
	for which in decoy bootindex; do
		printf 'title kbhyve bootcheck\nlinux /vmlinuz\ninitrd /initrd.gz\noptions console=ttyS0 quiet panic=-1 kbtest=reboot kbboot=%s\n' "$which" >"$TMP/kbhyve.conf"
		disk "the systemd-boot disk" esp_disk "$TMP/$which.img" 64 gpt "$KBHYVE_SDBOOT_EFI:/EFI/BOOT/BOOTX64.EFI" "$TMP/loader.conf:/loader/loader.conf" \
			"$TMP/kbhyve.conf:/loader/entries/kbhyve.conf" "$KBHYVE_VMLINUZ:/vmlinuz" "$L2_INITRD:/initrd.gz" || return
	done
	mv "$TMP/bootindex.img" "$img"
	printf 'from a file\n' >"$TMP/fwcfg-item.txt"
	cp "$KBHYVE_OVMF_VARS" "$TMP/linux-vars.fd"
	t0=$(date +%s.%N)
	timeout -k 5 300 "$BHYVE" -c 2 -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-s 3,virtio-blk,"$TMP/decoy.img" -s 4,virtio-blk,"$img",bootindex=1 -l bootrom,"$CODE","$TMP/linux-vars.fd",fwcfg=qemu \
		-f opt/org.kbhyve/string,string=from-the-command-line -f opt/org.kbhyve/file,file="$TMP/fwcfg-item.txt" \
		fw-linux </dev/null >"$out" 2>"$err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	local o
	o=$(tr -d '\033\r' <"$out")
	problems=$(guest_problems "$o" "$rc" 0)
	grep -aq 'KBTEST fwcfg_string=from-the-command-line' <<<"$o" || problems+=" -f string item not seen in /sys/firmware/qemu_fw_cfg;"
	grep -aq 'KBTEST fwcfg_file=from a file' <<<"$o" || problems+=" -f file item not seen in /sys/firmware/qemu_fw_cfg;"
	grep -aq 'KBTEST cmdline=.*kbboot=bootindex' <<<"$o" || problems+=" not booted from the bootindex=1 disk (slot 4) but $(grep -ao 'kbboot=[a-z]*' <<<"$o" | head -1);"
	if [ -z "$problems" ]; then
		echo "ok - l2 firmware: OVMF and systemd-boot boot Linux from the GPT disk on virtio-blk that bootindex=1 puts first (fw_cfg bootorder); the guest sees 2 CPUs, EFI, ACPI tables $(grep -ao 'acpi_tables=.*' <<<"$o" | head -1 | cut -d= -f2 | tr -s ' '), the -f items in qemu_fw_cfg, and its reboot exits 0 (${secs}s)"
	else
		echo "not ok - l2 firmware: Linux through OVMF and systemd-boot:$problems"
		grep -a . <<<"$o" | tail -15 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}
if [[ $STEPS == *linux* ]]; then
	linux_run
fi

# The Debian installer's own EFI-stub kernel and initrd, from startup.nsh: its first screen (the
# language choice) on the serial console, then the test ends the guest
installer_run() {
	local img=$TMP/installer.img out=$TMP/installer.out err=$TMP/installer.err t0 t1 secs pid
	if [ ! -f "${KBHYVE_DI_KERNEL:-}" ] || [ ! -f "${KBHYVE_DI_INITRD:-}" ]; then
		echo "not ok - l2 firmware: no Debian installer in the payload (KBHYVE_DI_KERNEL='${KBHYVE_DI_KERNEL:-}'; rerun payload.sh)"
		return
	fi
	printf 'fs0:\\linux initrd=\\initrd.gz console=ttyS0,115200n8 ---\r\n' >"$TMP/di-startup.nsh"
	disk "the installer's disk" esp_disk "$img" 128 mbr "$KBHYVE_DI_KERNEL:/linux" "$KBHYVE_DI_INITRD:/initrd.gz" "$TMP/di-startup.nsh:/startup.nsh" || return
	cp "$KBHYVE_OVMF_VARS" "$TMP/installer-vars.fd"
	: >"$out" # the watch below may read it before bhyve's redirection makes it
	t0=$(date +%s.%N)
	"$BHYVE" -c 1 -m 1G -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio -s 4,virtio-blk,"$img" \
		-l bootrom,"$CODE","$TMP/installer-vars.fd",fwcfg=qemu fw-installer </dev/null >"$out" 2>"$err" &
	pid=$!
	local seen="" i
	for ((i = 0; i < 600; i++)); do
		if tr -d '\033' <"$out" | grep -aq -e 'Select a language' -e 'Choose the language'; then
			seen=1
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	t1=$(date +%s.%N)
	kill -KILL "$pid" 2>/dev/null # SIGTERM is the guest's power button, which d-i ignores
	wait "$pid" 2>/dev/null
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ -n "$seen" ]; then
		echo "ok - l2 firmware: the Debian installer, started by OVMF, shows its first screen (the language choice) on COM1 (${secs}s)"
	else
		echo "not ok - l2 firmware: the Debian installer did not reach its first screen in ${secs}s"
		console_tail "$out" 15
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}
if [[ $STEPS == *installer* ]]; then
	installer_run
fi

# vm_env: a private vm set-up in a new temporary folder, the caller's $top (vm_dir, kbhyve.conf,
# run folder exported for vm; bhyve is the build's), initialised
vm_env() {
	top=$(mktemp -d)
	export vm_dir=$top/vms KBHYVE_CONF=$top/kbhyve.conf KBHYVE_RUNDIR=$top/run KBHYVE_BHYVE=$BHYVE
	mkdir -p "$vm_dir" "$KBHYVE_RUNDIR"
	printf 'vm_dir="%s"\nvm_delay="0"\n' "$vm_dir" >"$KBHYVE_CONF"
	"$BUILD/vm" init >/dev/null 2>&1
}

# vm_report WHAT OK_TEXT PROBLEMS GUEST OUT ERR SECS: the test line for a vm guest's boot, with its
# console, stderr and log when something is wrong
vm_report() {
	if [ -z "$3" ]; then
		echo "ok - l2 firmware: $2 ($7s)"
	else
		echo "not ok - l2 firmware: $1:$3"
		tr -d '\033\r' <"$5" | grep -a . | tail -12 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$6" | tail -5
		tail -5 "$vm_dir/$4/vm-bhyve.log" 2>/dev/null | sed 's/^/#   log: /'
	fi
}

# vm_run_stopped GUEST: `vm start -f GUEST` (console in $TMP/GUEST.out) in the background; once the
# guest's acpid is ready, `bhyvectl --get-stats` must answer with exits counted, then `vm stop`
# (SIGTERM to bhyve: the ACPI power button) must end it within 60 s. Sets rc (vm start's exit) and
# stop_problems.
vm_run_stopped() {
	local g=$1 pid i
	stop_problems=""
	: >"$TMP/$g.out"
	"$BUILD/vm" start -f "$g" </dev/null >"$TMP/$g.out" 2>"$TMP/$g.err" &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -aq 'KBTEST acpid=ready' "$TMP/$g.out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	if grep -aq 'KBTEST acpid=ready' "$TMP/$g.out"; then
		if ! timeout 30 "$BUILD/bhyvectl" --vm="$g" --get-stats >"$TMP/$g.stats" 2>&1 ||
			! grep -Eq 'exits[^0-9]*[1-9]' "$TMP/$g.stats"; then
			stop_problems+=" bhyvectl --get-stats: $(tr '\n' ' ' <"$TMP/$g.stats" | head -c 200);"
		fi
		timeout 60 "$BUILD/vm" stop "$g" >/dev/null 2>>"$TMP/$g.err" || stop_problems+=" vm stop failed;"
	else
		stop_problems+=" the guest's acpid never got ready;"
	fi
	for ((i = 0; i < 60; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	if kill -0 "$pid" 2>/dev/null; then
		stop_problems+=" still running 60 s after vm stop;"
		"$BUILD/vm" poweroff -f "$g" >/dev/null 2>&1
	fi
	wait "$pid"
	rc=$?
}

# vm with loader="grub": vm builds GRUB for EFI, OVMF starts it, GRUB boots the disk's kernel
grub_vm_run() {
	have_linux "vm loader=grub" || return
	local VMB=$BUILD/vm top g rc o problems t0 t1 secs want
	vm_env
	mkdir -p "$top/root/boot/grub"
	cp "$KBHYVE_VMLINUZ" "$top/root/boot/vmlinuz"
	cp "$L2_INITRD" "$top/root/boot/initrd.gz"
	printf '%s\n' 'set timeout=0' 'menuentry "from the disk" {' \
		'	linux /boot/vmlinuz console=ttyS0 quiet panic=-1 kbtest=poweroff kbgrub=disk' \
		'	initrd /boot/initrd.gz' '}' >"$top/root/boot/grub/grub.cfg"
	for g in gdisk gkeys; do
		mkdir -p "$vm_dir/$g"
		disk "the grub guest's ext4 disk" ext4_disk "$vm_dir/$g/disk0.img" 64 "$top/root" || return
		printf '%s\n' 'loader="grub"' 'cpu=2' 'memory=512M' 'disk0_type="virtio-blk"' \
			'disk0_name="disk0.img"' >"$vm_dir/$g/$g.conf"
	done
	# the keys guest waits for the power button: bhyvectl and vm stop (SIGTERM) on a firmware guest
	printf '%s\n' 'grub_run0="linux /boot/vmlinuz quiet panic=-1 kbtest=sigterm kbgrub=keys"' \
		'grub_run1="initrd /boot/initrd.gz"' 'loader_timeout="0"' >>"$vm_dir/gkeys/gkeys.conf"
	for g in gdisk gkeys; do
		t0=$(date +%s.%N)
		if [ $g = gdisk ]; then
			timeout -k 5 300 "$VMB" start -f "$g" </dev/null >"$TMP/$g.out" 2>"$TMP/$g.err"
			rc=$?
		else
			vm_run_stopped "$g"
		fi
		t1=$(date +%s.%N)
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
		o=$(tr -d '\033\r' <"$TMP/$g.out")
		problems=$(guest_problems "$o" 1 1)
		[ "$rc" = 0 ] || problems+=" vm start -f exit $rc;"
		if [ $g = gdisk ]; then
			want="the kernel the disk's /boot/grub/grub.cfg names (2 CPUs, EFI, ACPI, poweroff)"
			grep -aq 'KBTEST cmdline=.*kbgrub=disk' <<<"$o" || problems+=" not booted from the disk's grub.cfg;"
		else
			want="the grub_run0/grub_run1 commands, console=ttyS0 added (2 CPUs, EFI, ACPI); bhyvectl --get-stats answers, vm stop (SIGTERM: ACPI power button) powers it off"
			grep -aq 'KBTEST cmdline=.*kbgrub=keys console=ttyS0' <<<"$o" || problems+=" not booted with the grub_run commands (and console=ttyS0);"
			problems+=$stop_problems
			grep -q 'stopped on request' "$vm_dir/$g/vm-bhyve.log" || problems+=" the log does not say stopped on request;"
		fi
		vm_report "vm with loader=grub ($g)" \
			"vm start -f of a loader=\"grub\" guest ($g): OVMF and GRUB boot $want" \
			"$problems" "$g" "$TMP/$g.out" "$TMP/$g.err" "$secs"
	done
	rm -rf "$top"
}
if [[ $STEPS == *grub* ]]; then
	grub_vm_run
fi

# vm with loader="uefi-csm": SeaBIOS (Debian's bios-256k.bin) boots an MBR disk with GRUB for BIOS
# in its boot sector and gap, which boots the kernel on its ext4 partition; no EFI. With no
# display SeaBIOS shows its screen on COM1 (fw_cfg's "no graphics").
csm_run() {
	have_linux "vm loader=uefi-csm" || return
	local top rc o problems t0 t1 secs bios=/usr/share/seabios/bios-256k.bin
	if [ ! -f "$bios" ] || ! command -v grub-mkimage >/dev/null || [ ! -f /usr/lib/grub/i386-pc/boot.img ]; then
		echo "not ok - l2 firmware: vm loader=uefi-csm: needs Debian's seabios and grub-pc-bin (see .ci/packages)"
		return
	fi
	vm_env
	mkdir -p "$top/root/boot/grub" "$vm_dir/csm"
	cp "$KBHYVE_VMLINUZ" "$top/root/boot/vmlinuz"
	cp "$L2_INITRD" "$top/root/boot/initrd.gz"
	# two bootable disks: disk0, which SeaBIOS would try first, and disk1, which bootindex=1
	# (fw_cfg bootorder, through vm-bhyve's disk1_opts) puts first
	local d
	for d in disk0 disk1; do
		printf '%s\n' 'serial --unit=0 --speed=115200' 'terminal_input serial' 'terminal_output serial' \
			'set timeout=0' 'menuentry "bios" {' "	linux /boot/vmlinuz console=ttyS0 quiet panic=-1 kbtest=poweroff kbcsm=$d" \
			'	initrd /boot/initrd.gz' '}' >"$top/root/boot/grub/grub.cfg"
		if ! disk "the BIOS guest's disk" bios_grub_disk "$vm_dir/csm/$d.img" 64 "$top/root"; then
			rm -rf "$top"
			return
		fi
	done
	printf '%s\n' 'loader="uefi-csm"' 'cpu=2' 'memory=512M' 'disk0_type="virtio-blk"' \
		'disk0_name="disk0.img"' 'disk1_type="virtio-blk"' 'disk1_name="disk1.img"' \
		'disk1_opts="bootindex=1"' >"$vm_dir/csm/csm.conf"
	t0=$(date +%s.%N)
	timeout -k 5 300 "$BUILD/vm" start -f csm </dev/null >"$TMP/csm.out" 2>"$TMP/csm.err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	o=$(tr -d '\033\r' <"$TMP/csm.out")
	problems=$(guest_problems "$o" 1 1 bios)
	[ "$rc" = 0 ] || problems+=" vm start -f exit $rc;"
	grep -aq 'SeaBIOS (version' <<<"$o" || problems+=" SeaBIOS's screen not on COM1;"
	grep -aq 'KBTEST cmdline=.*kbcsm=disk1' <<<"$o" || problems+=" not booted by GRUB on the bootindex=1 disk (disk1) but $(grep -ao 'kbcsm=[a-z0-9]*' <<<"$o" | head -1);"
	grep -q "bootrom,$bios,fwcfg=qemu" "$vm_dir/csm/vm-bhyve.log" || problems+=" the log shows no -l bootrom with SeaBIOS;"
	vm_report "vm with loader=uefi-csm" \
		"vm start -f of a loader=\"uefi-csm\" guest: SeaBIOS (its screen on COM1) boots GRUB for BIOS from the MBR disk on virtio-blk that bootindex=1 (disk1_opts) puts first, GRUB the kernel (2 CPUs, no EFI, ACPI, poweroff)" \
		"$problems" csm "$TMP/csm.out" "$TMP/csm.err" "$secs"
	rm -rf "$top"
}
if [[ $STEPS == *csm* ]]; then
	csm_run
fi

# vm with loader="uefi-custom": vm-bhyve's $vm_dir/.config/BHYVE_UEFI.fd, here Debian's combined
# OVMF.fd (code and variables in one image, mapped whole as ROM: the variables live in RAM),
# boots systemd-boot from the guest's ESP, which boots the kernel
custom_run() {
	have_linux "vm loader=uefi-custom" || return
	local top rc o problems t0 t1 secs combined=${CODE%/OVMF/*}/qemu/OVMF.fd
	if [ ! -f "$combined" ]; then
		echo "not ok - l2 firmware: vm loader=uefi-custom: no combined OVMF.fd next to $CODE"
		return
	fi
	vm_env
	mkdir -p "$vm_dir/.config" "$vm_dir/custom"
	cp "$combined" "$vm_dir/.config/BHYVE_UEFI.fd"
	# systemd-boot's files (not in $top, whose kbhyve.conf is vm's own)
	mkdir -p "$top/esp"
	printf 'timeout 0\ndefault kbhyve.conf\n' >"$top/esp/loader.conf"
	printf 'title kbhyve bootcheck\nlinux /vmlinuz\ninitrd /initrd.gz\noptions console=ttyS0 quiet panic=-1 kbtest=poweroff kbboot=custom\n' >"$top/esp/kbhyve.conf"
	if ! disk "the uefi-custom guest's disk" esp_disk "$vm_dir/custom/disk0.img" 64 gpt "$KBHYVE_SDBOOT_EFI:/EFI/BOOT/BOOTX64.EFI" \
		"$top/esp/loader.conf:/loader/loader.conf" "$top/esp/kbhyve.conf:/loader/entries/kbhyve.conf" "$KBHYVE_VMLINUZ:/vmlinuz" "$L2_INITRD:/initrd.gz"; then
		rm -rf "$top"
		return
	fi
	printf '%s\n' 'loader="uefi-custom"' 'cpu=2' 'memory=512M' 'disk0_type="virtio-blk"' \
		'disk0_name="disk0.img"' >"$vm_dir/custom/custom.conf"
	local sum
	sum=$(md5sum <"$vm_dir/.config/BHYVE_UEFI.fd")
	t0=$(date +%s.%N)
	timeout -k 5 300 "$BUILD/vm" start -f custom </dev/null >"$TMP/custom.out" 2>"$TMP/custom.err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	o=$(tr -d '\033\r' <"$TMP/custom.out")
	problems=$(guest_problems "$o" 1 1)
	[ "$rc" = 0 ] || problems+=" vm start -f exit $rc;"
	grep -aq 'KBTEST cmdline=.*kbboot=custom' <<<"$o" || problems+=" not booted from the guest's ESP;"
	grep -q "bootrom,$vm_dir/.config/BHYVE_UEFI.fd,fwcfg=qemu" "$vm_dir/custom/vm-bhyve.log" || problems+=" the log shows no -l bootrom with BHYVE_UEFI.fd;"
	[ "$(md5sum <"$vm_dir/.config/BHYVE_UEFI.fd")" = "$sum" ] || problems+=" BHYVE_UEFI.fd changed;"
	vm_report "vm with loader=uefi-custom" \
		"vm start -f of a loader=\"uefi-custom\" guest: Debian's combined OVMF.fd as .config/BHYVE_UEFI.fd (unchanged) boots systemd-boot and the kernel from the guest's ESP (2 CPUs, EFI, ACPI, poweroff)" \
		"$problems" custom "$TMP/custom.out" "$TMP/custom.err" "$secs"
	rm -rf "$top"
}
if [[ $STEPS == *custom* ]]; then
	custom_run
fi

# vm install from an ISO through OVMF: the ISO on ahci-cd below the guest's (empty) disk
install_run() {
	have_linux "vm install" || return
	local VMB=$BUILD/vm top rc o problems t0 t1 secs efi
	vm_env
	mkdir -p "$vm_dir/inst" "$top/iso"
	# the El Torito image: a bare FAT file system with systemd-boot, the kernel and the initrd
	efi=$top/iso/efiboot.img
	printf 'timeout 0\ndefault inst.conf\n' >"$top/loader.conf"
	printf 'title install\nlinux /vmlinuz\ninitrd /initrd.gz\noptions console=ttyS0 quiet panic=-1 kbtest=poweroff kbinstall=iso\n' >"$top/inst.conf"
	truncate -s 16M "$efi"
	if ! { mformat -i "$efi" -v EFIBOOT :: && mmd -i "$efi" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries &&
		mcopy -i "$efi" "$KBHYVE_SDBOOT_EFI" ::/EFI/BOOT/BOOTX64.EFI && mcopy -i "$efi" "$top/loader.conf" ::/loader/loader.conf &&
		mcopy -i "$efi" "$top/inst.conf" ::/loader/entries/inst.conf && mcopy -i "$efi" "$KBHYVE_VMLINUZ" ::/vmlinuz &&
		mcopy -i "$efi" "$L2_INITRD" ::/initrd.gz; } 2>"$TMP/iso.err" ||
		! xorriso -as mkisofs -quiet -o "$vm_dir/install.iso" -V KBINSTALL -e efiboot.img -no-emul-boot \
			-append_partition 2 0xef "$efi" "$top/iso" 2>>"$TMP/iso.err"; then
		echo "not ok - l2 firmware: vm install: cannot build the ISO: $(tr '\n' ' ' <"$TMP/iso.err" | head -c 300)"
		rm -rf "$top"
		return
	fi
	truncate -s 64M "$vm_dir/inst/disk0.img"
	printf '%s\n' 'loader="uefi"' 'uefi_vars="yes"' 'cpu=2' 'memory=512M' 'disk0_type="virtio-blk"' \
		'disk0_name="disk0.img"' >"$vm_dir/inst/inst.conf"
	t0=$(date +%s.%N)
	timeout -k 5 300 "$VMB" install -f inst "$vm_dir/install.iso" </dev/null >"$TMP/install.out" 2>"$TMP/install.err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	o=$(tr -d '\033\r' <"$TMP/install.out")
	problems=$(guest_problems "$o" 1 1)
	[ "$rc" = 0 ] || problems+=" vm install -f exit $rc;"
	grep -aq 'KBTEST cmdline=.*kbinstall=iso' <<<"$o" || problems+=" not booted from the ISO;"
	grep -q "ahci-cd,$vm_dir/install.iso" "$vm_dir/inst/vm-bhyve.log" || problems+=" the log shows no ISO on ahci-cd;"
	local vars=$vm_dir/inst/uefi-vars.fd
	if [ ! -f "$vars" ]; then
		problems+=" no uefi-vars.fd in the guest folder;"
	elif cmp -s "$vars" "$KBHYVE_OVMF_VARS"; then
		problems+=" uefi-vars.fd unchanged (the firmware's variables did not reach it);"
	fi
	grep -q 'bootrom,.*inst/uefi-vars.fd,fwcfg=qemu' "$vm_dir/inst/vm-bhyve.log" ||
		problems+=" the log shows no -l bootrom with the guest's uefi-vars.fd;"
	vm_report "vm install from an ISO" \
		"vm install -f of a loader=\"uefi\", uefi_vars=\"yes\" guest boots the ISO (hybrid, El Torito EFI) from ahci-cd through OVMF (2 CPUs, EFI, ACPI), keeps the firmware's variables in its uefi-vars.fd; the guest powers off and the install ends" \
		"$problems" inst "$TMP/install.out" "$TMP/install.err" "$secs"
	rm -rf "$top"
}
if [[ $STEPS == *iso* ]]; then
	install_run
fi

# GPT disks on the AHCI and NVMe models through OVMF: three copies of the systemd-boot disk, each
# entry naming its disk (kbboot=); the fw_cfg bootorder picks one: the NVMe disk, then (its
# bootindex gone) port 1 of the ahci controller, past the decoy on port 0
storage_run() {
	have_linux "storage" || return
	[ -f "${KBHYVE_SDBOOT_EFI:-}" ] || { echo "not ok - l2 firmware: storage: no systemd-boot in the payload"; return; }
	printf 'timeout 0\ndefault kbhyve.conf\n' >"$TMP/loader.conf"
	local which
	for which in decoy ahci1 nvme; do
		printf 'title kbhyve bootcheck\nlinux /vmlinuz\ninitrd /initrd.gz\noptions console=ttyS0 quiet panic=-1 kbtest=poweroff kbboot=%s\n' "$which" >"$TMP/kbhyve.conf"
		disk "the $which disk" esp_disk "$TMP/st-$which.img" 64 gpt "$KBHYVE_SDBOOT_EFI:/EFI/BOOT/BOOTX64.EFI" "$TMP/loader.conf:/loader/loader.conf" \
			"$TMP/kbhyve.conf:/loader/entries/kbhyve.conf" "$KBHYVE_VMLINUZ:/vmlinuz" "$L2_INITRD:/initrd.gz" || return
	done
	local want nvme_opts out=$TMP/storage.out err=$TMP/storage.err rc t0 secs o problems
	for want in nvme ahci1; do
		nvme_opts=""
		[ $want = nvme ] && nvme_opts=",bootindex=0"
		cp "$KBHYVE_OVMF_VARS" "$TMP/storage-vars.fd"
		t0=$(date +%s.%N)
		timeout -k 5 300 "$BHYVE" -c 2 -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
			-s 3,ahci,hd:"$TMP/st-decoy.img",hd:"$TMP/st-ahci1.img",bootindex=1 -s 4,nvme,"$TMP/st-nvme.img"$nvme_opts \
			-l bootrom,"$CODE","$TMP/storage-vars.fd",fwcfg=qemu fw-storage </dev/null >"$out" 2>"$err"
		rc=$?
		secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
		o=$(tr -d '\033\r' <"$out")
		problems=$(guest_problems "$o" "$rc" 1)
		grep -aq "KBTEST cmdline=.*kbboot=$want" <<<"$o" || problems+=" not booted from the $want disk but $(grep -ao 'kbboot=[a-z0-9]*' <<<"$o" | head -1);"
		if [ -z "$problems" ]; then
			if [ $want = nvme ]; then
				echo "ok - l2 firmware: OVMF boots systemd-boot and Linux from a GPT disk on nvme, first in the bootorder (bootindex=0) (${secs}s)"
			else
				echo "ok - l2 firmware: OVMF boots systemd-boot and Linux from port 1 of an ahci controller that bootindex=1 puts first (/pci@i0cf8/pci8086,2922@3/drive@1/disk@0), past the decoy on port 0 (${secs}s)"
			fi
		else
			echo "not ok - l2 firmware: boot from the $want disk:$problems"
			grep -a . <<<"$o" | tail -15 | sed 's/^/#   console: /'
			sed 's/^/#   stderr: /' "$err" | tail -10
		fi
	done
}
if [[ $STEPS == *storage* ]]; then
	storage_run
fi

# OVMF's boot screen and Linux's efifb on fbuf, seen through VNC
display_run() {
	local img=$TMP/display.img out=$TMP/display.out err=$TMP/display.err rc wrc pid
	have_linux "display" || return
	if [ ! -f "$EFIFB_INITRD" ]; then
		echo "not ok - l2 firmware: display: no efifb initrd ('$EFIFB_INITRD')"
		return
	fi
	printf 'timeout 0\ndefault kbhyve.conf\n' >"$TMP/loader.conf"
	printf 'title kbhyve display\nlinux /vmlinuz\ninitrd /initrd.gz\noptions console=ttyS0 quiet panic=-1\n' >"$TMP/kbhyve.conf"
	disk "the display disk" esp_disk "$img" 64 gpt "$KBHYVE_SDBOOT_EFI:/EFI/BOOT/BOOTX64.EFI" "$TMP/loader.conf:/loader/loader.conf" \
		"$TMP/kbhyve.conf:/loader/entries/kbhyve.conf" "$KBHYVE_VMLINUZ:/vmlinuz" "$EFIFB_INITRD:/initrd.gz" || return
	cp "$KBHYVE_OVMF_VARS" "$TMP/display-vars.fd"
	mkfifo "$FIFOS/display.in"
	timeout -k 5 400 "$BHYVE" -c 1 -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-s 3,virtio-blk,"$img" -s 29,fbuf,tcp=127.0.0.1:5920,w=1024,h=768,wait \
		-l bootrom,"$CODE","$TMP/display-vars.fd",fwcfg=qemu fw-display <"$FIFOS/display.in" >"$out" 2>"$err" &
	pid=$!
	exec 5>"$FIFOS/display.in"
	python3 "$(dirname "$0")/../vnc/vncclient.py" 127.0.0.1 5920 watch bands "$TMP/ovmf-screen.ppm" --timeout 300 >"$TMP/watch.out" 2>&1
	wrc=$?
	echo done >&5
	wait $pid
	rc=$?
	exec 5>&-
	local o
	o=$(tr -d '\033\r' <"$out")
	local fbname
	fbname=$(sed -n 's/^KBF fb_name=//p' <<<"$o" | head -1)
	if [ $wrc = 0 ] && [ "$fbname" = "EFI VGA" ] && [ $rc = 1 ]; then
		echo "ok - l2 firmware: OVMF draws its boot screen through the Bochs display's GOP, then Linux's efifb shows the guest's pattern pixel for pixel over VNC ($(tr '\n' ' ' <"$TMP/watch.out"))"
	else
		echo "not ok - l2 firmware: display: viewer exit $wrc ($(tr '\n' ' ' <"$TMP/watch.out")), fb '$fbname', bhyve exit $rc"
		grep -a . <<<"$o" | tail -12 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$err" | tail -8
	fi
}
if [[ $STEPS == *display* ]]; then
	display_run
fi
