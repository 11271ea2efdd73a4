# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash disable=SC2154,SC2034 # in-l1-vm.sh sets and reads these
# Sourced by in-l1-vm.sh (its variables and helpers): vm migrate between two "hosts" in one L1.
# Host h1 is the test's own vm configuration; host h2 has a vm_dir, configuration file and run
# folder of its own. Each is reached by ssh as the other would be: an sshd per host (127.0.0.1,
# ports 2231 and 2232) whose sessions get that host's environment (SetEnv), a key, and ~/.ssh/config
# entries kbh1/kbh2 (L1's root is a throwaway overlay). The guest "mu" (l2test without display and
# NIC) keeps its disk at one path both hosts see (disk0_dev="custom": shared storage).
#   mu runs on h1, is suspended, cold-moved (vm migrate -c) to h2 and resumed there: it goes on
#   without a new boot and its suspend state has left h1; live-moved back (vm migrate, run on h2):
#   it goes on on h1, h2's supervisor stops; a live move that h2 refuses (no such datastore), and
#   one to a host ssh cannot reach, leave it running on h1.

if [ ! -x /usr/sbin/sshd ]; then
	check "vm migrate: sshd is installed (openssh-server)" 1 "no /usr/sbin/sshd"
	return 0
fi
M=$T/migrate H2=$T/migrate/h2
mkdir -p "$M/shared" "$H2/vms" "$H2/run" "$M/bin"
printf 'vm_dir="%s"\n' "$H2/vms" >"$H2/kbhyve.conf"
h2() { vm_dir=$H2/vms KBHYVE_CONF=$H2/kbhyve.conf KBHYVE_RUNDIR=$H2/run "$VM" "$@"; }
ln -sf "$VM" "$M/bin/vm"

# one sshd per host on 127.0.0.1; its sessions find `vm` in $M/bin and that host's configuration
ssh-keygen -q -t ed25519 -N '' -f "$M/hostkey" && ssh-keygen -q -t ed25519 -N '' -f "$M/id" &&
	cp "$M/id.pub" "$M/authorized_keys"
mkdir -p /run/sshd /root/.ssh
sshd_start() { # PORT VM_DIR CONF RUNDIR
	cat >"$M/sshd-$1.conf" <<EOF
Port $1
ListenAddress 127.0.0.1
HostKey $M/hostkey
AuthorizedKeysFile $M/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $M/sshd-$1.pid
SetEnv PATH=$M/bin:/usr/sbin:/usr/bin:/sbin:/bin vm_dir=$2 KBHYVE_CONF=$3 KBHYVE_RUNDIR=$4
EOF
	/usr/sbin/sshd -f "$M/sshd-$1.conf" -E "$M/sshd-$1.log"
}
sshd_start 2231 "$vm_dir" "$KBHYVE_CONF" "$KBHYVE_RUNDIR"
sshd_start 2232 "$H2/vms" "$H2/kbhyve.conf" "$H2/run"
for h in 1 2; do
	printf 'Host kbh%s\n  HostName 127.0.0.1\n  Port 223%s\n  IdentityFile %s\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n' \
		"$h" "$h" "$M/id"
done >>/root/.ssh/config
printf 'Host kbnone\n  HostName 127.0.0.1\n  Port 2239\n  ConnectTimeout 5\n' >>/root/.ssh/config
ssh -o BatchMode=yes kbh2 vm init >"$M/h2init.out" 2>&1
check "vm migrate: ssh kbh2 reaches host h2's vm (vm init there)" \
	"$([ -d "$H2/vms/.config" ]; echo $?)" "$(oneline "$M/h2init.out") $(tail -3 "$M"/sshd-2232.log 2>/dev/null | tr '\n' ' ')"

# mu: its disk on the shared path, its boot counter at 1 so that it does not reboot by itself
"$VM" create -t l2test mu >/dev/null 2>&1
MU=$vm_dir/mu
mv "$MU/disk0.img" "$M/shared/mu.img"
printf 'KBBOOT=1\n' | dd of="$M/shared/mu.img" bs=512 count=1 conv=sync,notrunc 2>/dev/null
sed -i -e '/^graphics/d' -e '/^network0_/d' -e 's|^disk0_name=.*|disk0_name="'"$M/shared/mu.img"'"\ndisk0_dev="custom"|' \
	"$MU/mu.conf"
mu_boots() { dd if="$M/shared/mu.img" bs=512 count=1 2>/dev/null | tr -d '\000' | sed -n 's/^KBBOOT=\([0-9]*\).*/\1/p'; }
mucon() { # HOSTCMD NAME: `vm console mu` of that host in the background, input from fifo on fd 7
	rm -f "$T/$2.in"
	mkfifo "$T/$2.in"
	$1 console mu <"$T/$2.in" >"$T/$2.out" 2>"$T/$2.err" &
	con_pid=$!
	exec 7>"$T/$2.in"
}
h1() { "$VM" "$@"; }
# echo HOSTCMD NAME WORD: the guest on that host echoes WORD typed on its console (60 s at most)
echoes() {
	mucon "$1" "$2"
	for _ in $(seq 60); do
		con_has "$T/$2.out" "KBTEST got=$3" && break
		printf '%s\n' "$3" >&7 2>/dev/null
		sleep 1
	done
	console_stop
	con_has "$T/$2.out" "KBTEST got=$3" && ! con_has "$T/$2.out" 'KBTEST boot='
}
stopped_in() { [ ! -e "$1/run.lock" ]; }

"$VM" start mu >/dev/null 2>&1
wait_for 30 test -e "$MU/com1"
mucon h1 mu0
go_until mu0 'KBTEST ready' 120
console_stop
check "vm migrate: guest mu runs on h1 from the shared disk (boot 2)" \
	"$(con_has "$T/mu0.out" 'KBTEST boot=2'; echo $?)" "$(oneline "$T/mu0.out") $(tail -3 "$MU/vm-bhyve.log" | tr '\n' ' ')"

# ---- cold: suspended on h1, copied, resumed on h2 ----
"$VM" suspend mu >/dev/null 2>&1
wait_for 60 stopped_in "$MU"
"$VM" migrate -c mu kbh2 >"$M/cold.out" 2>&1
rc=$?
check "vm migrate -c mu kbh2: the suspended guest's folder is copied; its suspend state leaves h1" \
	"$([ $rc = 0 ] && grep -q '^Copied mu to kbh2' "$M/cold.out" && [ -s "$H2/vms/mu/suspend.mem.meta" ] &&
		[ -f "$H2/vms/mu/mu.conf" ] && [ ! -e "$MU/suspend.mem.meta" ] && [ -f "$MU/mu.conf" ] &&
		grep -q 'copied here from another host' "$H2/vms/mu/vm-bhyve.log"; echo $?)" \
	"rc $rc: $(oneline "$M/cold.out") h2: $(ls "$H2/vms/mu" 2>&1 | tr '\n' ' ')"
h2 resume mu >"$M/h2resume.out" 2>&1
rc=$?
wait_for 30 test -e "$H2/vms/mu/com1"
echoes h2 mu1 after-cold-move
ok=$?
check "vm resume mu on h2: the guest goes on there (echoes console input, no new boot)" \
	"$ok" "rc $rc: $(oneline "$M/h2resume.out") console: $(oneline "$T/mu1.out") $(tail -3 "$H2/vms/mu/vm-bhyve.log" | tr '\n' ' ')"
"$VM" migrate -c mu kbh2 >"$M/cold2.out" 2>&1
rc=$?
check "vm migrate -c to a host that has the guest already is refused there" \
	"$([ $rc = 1 ] && grep -q 'already exists' "$M/cold2.out"; echo $?)" "rc $rc: $(oneline "$M/cold2.out")"

# ---- live: from h2 (its vm, run here with h2's environment) back to h1 ----
h2 migrate mu kbh1 >"$M/live.out" 2>&1
rc=$?
wait_for 60 stopped_in "$H2/vms/mu"
wait_for 30 test -e "$MU/com1"
check "vm migrate mu kbh1 (on h2): the running guest moves live; h2's bhyve exits 5, its supervisor stops" \
	"$([ $rc = 0 ] && grep -qE '^Migrated mu to kbh1 \(paused [0-9]+ ms' "$M/live.out" &&
		stopped_in "$H2/vms/mu" && grep -q 'bhyve exited with status 5' "$H2/vms/mu/vm-bhyve.log" &&
		grep -q 'migrated in live' "$MU/vm-bhyve.log" && [ -e "$MU/run.lock" ]; echo $?)" \
	"rc $rc: $(oneline "$M/live.out") h1 log: $(tail -4 "$MU/vm-bhyve.log" | tr '\n' ' ') h2 log: $(tail -3 "$H2/vms/mu/vm-bhyve.log" | tr '\n' ' ')"
echoes h1 mu2 after-live-move
ok=$?
check "mu goes on on h1 after the live move (echoes console input, no new boot, KBBOOT=2)" \
	"$([ $ok = 0 ] && [ "$(mu_boots)" = 2 ]; echo $?)" "console: $(oneline "$T/mu2.out") boots $(mu_boots)"
echo "# vm migrate: $(cat "$M/live.out")"

# ---- refusals: the guest runs on ----
h2 destroy -f mu >/dev/null 2>&1
"$VM" migrate -d nosuch mu kbh2 >"$M/bad1.out" 2>&1
rc=$?
check "vm migrate to a datastore h2 does not have: one line from h2, nothing left there" \
	"$([ $rc = 1 ] && grep -q 'nosuch' "$M/bad1.out" && [ ! -e "$H2/vms/mu" ]; echo $?)" "rc $rc: $(oneline "$M/bad1.out")"
"$VM" migrate mu kbnone >"$M/bad2.out" 2>&1
rc=$?
check "vm migrate to a host ssh cannot reach fails with one line" \
	"$([ $rc = 1 ] && grep -q 'kbnone' "$M/bad2.out"; echo $?)" "rc $rc: $(oneline "$M/bad2.out")"
echoes h1 mu3 still-here
ok=$?
check "after both refusals mu still runs on h1 (echoes, no new boot)" "$ok" "console: $(oneline "$T/mu3.out")"

"$VM" poweroff -f mu >/dev/null 2>&1
wait_for 60 stopped_in "$MU"
"$VM" destroy -f mu >/dev/null 2>&1
for p in 2231 2232; do kill "$(cat "$M/sshd-$p.pid" 2>/dev/null)" 2>/dev/null; done
