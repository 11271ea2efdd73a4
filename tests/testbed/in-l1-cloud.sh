#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs inside L1 (from in-l1-tests.sh): a real Debian cloud guest under `vm`. The image is
# debian-image.sh's (Debian 12 by debootstrap: systemd, cloud-init, openssh-server); `vm create -i
# IMAGE -C -k KEY -u USER -n ...` writes it to disk0 and attaches the NoCloud seed; the guest
# boots (systemd), cloud-init applies the seed (host name, user, key, address, root file system
# grown to the disk) and `ssh` from L1 logs in over the switch with the key. Prints "ok - ..." /
# "not ok - ..." lines, and the time from `vm create` to the first ssh login as a "#" line.
#   in-l1-cloud.sh BUILD_DIR ROOT_INITRD VMLINUX IMAGE
set -u
BUILD=$(cd "$1" && pwd) INITRD=$(realpath "$2") VMLINUX=$(realpath "$3") IMAGE=$(realpath "$4")
VM=$BUILD/vm
T=$(mktemp -d /tmp/in-l1-cloud.XXXXXX)
export vm_dir=$T/vms KBHYVE_CONF=$T/kbhyve.conf KBHYVE_RUNDIR=$T/run
G=$vm_dir/cloudy
ADDR=10.78.0.20
# the guest's boot, cloud-init's four stages and the first host key take minutes when nested
BOOT_SECS=${KBHYVE_CLOUD_BOOT_SECS:-600}
trap "" PIPE

check() { # NAME RESULT(0 = pass) DETAIL
	if [ "$2" = 0 ]; then echo "ok - l2 cloud: $1"; else echo "not ok - l2 cloud: $1 ($3)"; fi
}
oneline() { tr '\n' ' ' < "$1" | head -c 300; }
state() { "$VM" list 2>/dev/null | awk '$1 == "cloudy"' | grep -o -E 'Running|Stopped' | head -1; }
console_tail() { tr -d '\r' < "$T/con.out" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n "${1:-15}" | sed 's/^/#   console: /'; }
# ssh KEY COMMAND...: as kbtest on the guest, the key only, no questions, no known_hosts
gssh() {
	local key=$1
	shift
	ssh -n -i "$key" -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR "kbtest@$ADDR" "$@"
}
finish() {
	[ -n "${con_pid:-}" ] && { exec 7>&-; kill "$con_pid" 2>/dev/null; wait "$con_pid" 2>/dev/null; }
	"$VM" poweroff -f cloudy >/dev/null 2>&1
	"$VM" switch destroy cloudnet >/dev/null 2>&1
	rm -rf "$T"
	exit 0
}

mkdir -p "$vm_dir"
printf 'vm_dir="%s"\n' "$vm_dir" > "$KBHYVE_CONF"
"$VM" init >"$T/init.out" 2>&1 && "$VM" switch create -a 10.78.0.1/24 cloudnet >>"$T/init.out" 2>&1
check "vm init, a switch with an address" "$([ -d /sys/class/net/vm-cloudnet ]; echo $?)" "$(oneline "$T/init.out")"
mkdir -p "$vm_dir/.templates"
cat > "$vm_dir/.templates/debian.conf" <<EOF
loader="kernel"
kernel="$VMLINUX"
initrd="$INITRD"
cmdline="console=ttyS0 quiet kbroot=/dev/vda"
cpu=1
memory=512M
network0_type="virtio-net"
network0_switch="cloudnet"
disk0_type="virtio-blk"
disk0_name="disk0.img"
disk0_size="2G"
bhyve_options="-o x86.cpuid.disable=xsave"
EOF
ssh-keygen -q -t ed25519 -N '' -C kbtest -f "$T/key" && ssh-keygen -q -t ed25519 -N '' -f "$T/other" ||
	{ check "ssh-keygen makes the test's keys" 1 ""; finish; }

start=$(date +%s)
"$VM" create -t debian -i "$IMAGE" -C -k "$T/key.pub" -u kbtest \
	-n "ip=$ADDR/24;gateway=10.78.0.1;nameservers=10.78.0.1" cloudy >"$T/create.out" 2>&1
rc=$?
check "vm create -i IMAGE -C -k KEY -u kbtest -n ... cloudy: the image on disk0, a seed" \
	"$([ $rc = 0 ] && [ -s "$G/disk0.img" ] && [ -s "$G/seed.iso" ]; echo $?)" "exit $rc: $(oneline "$T/create.out")"
[ $rc = 0 ] || finish
"$VM" start cloudy >"$T/start.out" 2>&1
check "vm start cloudy" "$([ "$(state)" = Running ]; echo $?)" "$(oneline "$T/start.out")"
[ "$(state)" = Running ] || { sed 's/^/#   /' "$G/vm-bhyve.log" 2>/dev/null | tail; finish; }
rm -f "$T/con.in"
mkfifo "$T/con.in"
"$VM" console cloudy <"$T/con.in" >"$T/con.out" 2>&1 &
con_pid=$!
exec 7>"$T/con.in"

# the first login: the guest is up, cloud-init made the user with the seed's key and set the
# address on the NIC it found by MAC
up=0
for _ in $(seq $((BOOT_SECS / 5))); do
	if gssh "$T/key" true 2>"$T/ssh.err"; then up=1; break; fi
	[ "$(state)" = Running ] || break
	sleep 5
done
secs=$(($(date +%s) - start))
check "ssh from L1 logs in as kbtest with the seed's key" "$([ $up = 1 ]; echo $?)" \
	"after ${secs} s, state $(state): $(oneline "$T/ssh.err")"
if [ $up != 1 ]; then console_tail 30; finish; fi
echo "# l2 cloud: vm create -i to the first ssh login: ${secs} s (nested test bed)"

gssh "$T/key" hostname >"$T/host.out" 2>&1
check "cloud-init set the host name from the seed (cloudy)" "$([ "$(cat "$T/host.out")" = cloudy ]; echo $?)" "$(oneline "$T/host.out")"
gssh "$T/key" cloud-init status --wait --long >"$T/status.out" 2>&1
check "cloud-init finished without errors (status: done)" "$(grep -qx 'status: done' "$T/status.out"; echo $?)" \
	"$(oneline "$T/status.out")"
grep -qx 'status: done' "$T/status.out" ||
	gssh "$T/key" sudo -n grep -E "'WARNING|ERROR|Traceback'" /var/log/cloud-init.log 2>&1 | tail -n 12 | sed 's/^/#   cloud-init.log: /'
# resize_rootfs: the 2G disk0 holds the image's smaller file system, which cloud-init grew
gssh "$T/key" df -B1M --output=size / >"$T/df.out" 2>&1
check "cloud-init grew the root file system to disk0's 2G" "$([ "$(tail -n 1 "$T/df.out" | tr -d ' ')" -gt 1500 ] 2>/dev/null; echo $?)" \
	"$(oneline "$T/df.out")"
gssh "$T/key" ip -4 -o addr show dev eth0 >"$T/ip.out" 2>&1
check "the seed's network-config: eth0 (matched by MAC) has $ADDR/24" "$(grep -q "inet $ADDR/24" "$T/ip.out"; echo $?)" "$(oneline "$T/ip.out")"
gssh "$T/other" true >/dev/null 2>&1
check "a key that is not in the seed is refused" "$([ $? != 0 ]; echo $?)" "ssh with another key logged in"
gssh "$T/key" sudo -n true >"$T/sudo.out" 2>&1
check "kbtest may sudo without a password (the seed's user entry)" "$([ $? = 0 ]; echo $?)" "$(oneline "$T/sudo.out")"

# ACPI shutdown: systemd-logind powers off on the button
"$VM" stop cloudy >"$T/stop.out" 2>&1
for _ in $(seq 120); do [ "$(state)" = Stopped ] && [ ! -e "$G/run.lock" ] && break; sleep 1; done
check "vm stop cloudy: systemd powers the guest off on the ACPI button" "$([ "$(state)" = Stopped ]; echo $?)" \
	"state $(state): $(oneline "$T/stop.out")"
finish
