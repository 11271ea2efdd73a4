#!/bin/bash
# Runs inside L1 (from in-l1-tests.sh): Debian's OVMF under build/bhyve with -l bootrom, no display,
# COM1 on stdio. The firmware must reach its UEFI shell; the test then types "reset -s" (the
# firmware's own shutdown: exit 1). A second run with the same VARS file must work as well, the
# VARS file must hold what the firmware wrote (write-through), and CODE must be unchanged. The
# second run adds QEMU's fw_cfg (fwcfg=qemu), which OVMF then reads (CPU count, etc/e820).
# Last, Linux through the firmware: OVMF runs startup.nsh from a FAT disk on virtio-blk, which
# starts the Debian kernel (its EFI stub) with the bootcheck initrd; the guest must see its ACPI
# tables (from etc/table-loader), both vCPUs and EFI, and power off through ACPI (exit 1).
#   in-l1-firmware.sh BUILD_DIR [L2_INITRD]   (uses KBHYVE_OVMF_CODE / KBHYVE_OVMF_VARS and
#   KBHYVE_VMLINUZ from payload.sh; without L2_INITRD the Linux step is left out)
# Then the same through `vm`: a guest with loader="uefi" and uefi_vars="yes" (its own
# uefi-vars.fd made from Debian's template) on that disk, started with `vm start -f`.
# KBHYVE_FW_STEPS (default shell,linux,vm): which steps run, for debugging one of them.
set -u
BUILD=$1
L2_INITRD=${2:-}
STEPS=${KBHYVE_FW_STEPS:-shell,linux,vm}
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

# shell_run NAME [,fwcfg=qemu [COMMAND]]: boot to "Shell>", type COMMAND if given, then
# "reset -s", expect exit 1; prints ok/not ok
shell_run() {
	local name=$1 extra=${2:-} cmd=${3:-} out=$TMP/$1.out err=$TMP/$1.err t0 t1 rc
	mkfifo "$FIFOS/$name.in"
	t0=$(date +%s.%N)
	timeout -k 5 240 "$BHYVE" -c "${KBHYVE_FW_CPUS:-1}" -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-l bootrom,"$CODE","$TMP/vars.fd$extra" "fw-$name" <"$FIFOS/$name.in" >"$out" 2>"$err" &
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
		tr -d '\033' <"$out" | tr '\r' '\n' | grep -a . | tail -15 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}

if [[ $STEPS == *shell* ]]; then
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
fi

# make_esp IMAGE: a 64 MiB disk, one MBR partition of type 0xEF (EFI system) holding a FAT file
# system with the Debian kernel, the bootcheck initrd and a startup.nsh that starts them
make_esp() {
	local err=$TMP/esp.err
	rm -f "$1"
	truncate -s 64M "$1"
	# one MBR partition of type 0xEF (EFI system) from sector 2048 to the end
	le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24)); }
	printf "\x00\x00\x02\x00\xef\xfe\xff\xff$(le32 2048)$(le32 $((64 * 2048 - 2048)))" |
		dd of="$1" bs=1 seek=446 conv=notrunc status=none
	printf '\x55\xaa' | dd of="$1" bs=1 seek=510 conv=notrunc status=none
	printf 'fs0:\\vmlinuz initrd=\\initrd.gz console=ttyS0 quiet panic=-1 kbtest=poweroff\r\n' >"$TMP/startup.nsh"
	if ! mformat -i "$1@@1M" -F -v ESP :: 2>"$err" ||
		! mcopy -i "$1@@1M" "$KBHYVE_VMLINUZ" ::/vmlinuz 2>>"$err" ||
		! mcopy -i "$1@@1M" "$L2_INITRD" ::/initrd.gz 2>>"$err" ||
		! mcopy -i "$1@@1M" "$TMP/startup.nsh" ::/startup.nsh 2>>"$err"; then
		echo "not ok - l2 firmware: cannot build the FAT disk: $(tr '\n' ' ' <"$err")"
		return 1
	fi
}

# guest_problems CONSOLE EXIT: what is wrong with a Linux boot through OVMF (nothing: empty)
guest_problems() {
	local o=$1 rc=$2 problems=""
	grep -aq 'KBTEST init=ok' <<<"$o" || problems+=" the kernel's init did not run;"
	grep -aq 'KBTEST nproc=2' <<<"$o" || problems+=" not 2 CPUs;"
	grep -aq 'KBTEST efi=yes' <<<"$o" || problems+=" not booted through EFI;"
	for sig in APIC DSDT FACP FACS; do
		grep -aq "KBTEST acpi_tables=.*$sig" <<<"$o" || problems+=" no $sig;"
	done
	[ "$rc" = 1 ] || problems+=" exit $rc (want 1: ACPI poweroff);"
	echo "$problems"
}

# Linux through OVMF, from a FAT file system on virtio-blk (an MBR partition: what a user's
# disk image has), with ACPI from etc/table-loader
linux_run() {
	local img=$TMP/esp.img out=$TMP/linux.out err=$TMP/linux.err rc t0 t1 secs problems=""
	if [ -z "$L2_INITRD" ] || [ ! -f "$L2_INITRD" ] || [ ! -f "${KBHYVE_VMLINUZ:-}" ]; then
		echo "not ok - l2 firmware: Linux through OVMF: no kernel or initrd (KBHYVE_VMLINUZ='${KBHYVE_VMLINUZ:-}', initrd '$L2_INITRD')"
		return
	fi
	make_esp "$img" || return
	cp "$KBHYVE_OVMF_VARS" "$TMP/linux-vars.fd"
	t0=$(date +%s.%N)
	timeout -k 5 300 "$BHYVE" -c 2 -m 512M -H -w -s 0,hostbridge -s 31,lpc -l com1,stdio \
		-s 4,virtio-blk,"$img" -l bootrom,"$CODE","$TMP/linux-vars.fd",fwcfg=qemu fw-linux \
		</dev/null >"$out" 2>"$err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	local o
	o=$(tr -d '\033\r' <"$out")
	problems=$(guest_problems "$o" "$rc")
	if [ -z "$problems" ]; then
		echo "ok - l2 firmware: OVMF boots Linux from a FAT disk on virtio-blk; the guest sees 2 CPUs, EFI and ACPI tables $(grep -ao 'acpi_tables=.*' <<<"$o" | head -1 | cut -d= -f2 | tr -s ' '), and powers off through ACPI (${secs}s)"
	else
		echo "not ok - l2 firmware: Linux through OVMF:$problems"
		grep -a . <<<"$o" | tail -15 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$err" | tail -10
	fi
}
if [[ $STEPS == *linux* ]]; then
	linux_run
fi

# The same disk under `vm`: loader="uefi", uefi_vars="yes", as a vm-bhyve user writes it
vm_run() {
	local VMB=$BUILD/vm out=$TMP/vm.out err=$TMP/vm.err rc problems t0 t1 secs
	# in L1's own file system: the control socket and the run lock cannot live on 9p
	local top
	top=$(mktemp -d)
	export vm_dir=$top/vms KBHYVE_CONF=$top/kbhyve.conf KBHYVE_RUNDIR=$top/run KBHYVE_BHYVE=$BHYVE
	mkdir -p "$vm_dir/fwguest" "$KBHYVE_RUNDIR"
	printf 'vm_dir="%s"\nvm_delay="0"\n' "$vm_dir" >"$KBHYVE_CONF"
	"$VMB" init >/dev/null 2>&1
	make_esp "$vm_dir/fwguest/disk0.img" || return
	printf '%s\n' 'loader="uefi"' 'uefi_vars="yes"' 'cpu=2' 'memory=512M' \
		'disk0_type="virtio-blk"' 'disk0_name="disk0.img"' >"$vm_dir/fwguest/fwguest.conf"
	t0=$(date +%s.%N)
	timeout -k 5 300 "$VMB" start -f fwguest </dev/null >"$out" 2>"$err"
	rc=$?
	t1=$(date +%s.%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	local o
	o=$(tr -d '\033\r' <"$out")
	# vm start -f ends when the guest has powered off (bhyve's exit 1): its own status is 0
	problems=$(guest_problems "$o" 1)
	[ "$rc" = 0 ] || problems+=" vm start -f exit $rc;"
	local vars=$vm_dir/fwguest/uefi-vars.fd
	if [ ! -f "$vars" ]; then
		problems+=" no uefi-vars.fd in the guest folder;"
	elif cmp -s "$vars" "$KBHYVE_OVMF_VARS"; then
		problems+=" uefi-vars.fd unchanged (the firmware's variables did not reach it);"
	fi
	grep -q 'bootrom,.*fwguest/uefi-vars.fd,fwcfg=qemu' "$vm_dir/fwguest/vm-bhyve.log" ||
		problems+=" the log shows no -l bootrom with the guest's uefi-vars.fd;"
	if [ -z "$problems" ]; then
		echo "ok - l2 firmware: vm start -f of a loader=\"uefi\", uefi_vars=\"yes\" guest boots Linux through OVMF (2 CPUs, EFI, ACPI) and keeps the firmware's variables in its uefi-vars.fd (${secs}s)"
	else
		echo "not ok - l2 firmware: vm with loader=uefi:$problems"
		grep -a . <<<"$o" | tail -10 | sed 's/^/#   console: /'
		sed 's/^/#   stderr: /' "$err" | tail -5
		tail -5 "$vm_dir/fwguest/vm-bhyve.log" 2>/dev/null | sed 's/^/#   log: /'
	fi
	rm -rf "$top"
}
if [[ $STEPS == *vm* ]]; then
	vm_run
fi
