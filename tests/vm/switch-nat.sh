#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# vm switch nat: nftables masquerade and dnsmasq for a switch, in network namespaces. The host
# netns (lib.inc's) has the switch and an uplink veth to a namespace that stands for the outside
# (its address is not routed back to the switch's subnet: only a masqueraded packet is answered);
# a third namespace stands for a guest: its veth is a port of the switch and udhcpc asks for a
# lease. nat off must remove the table and the dnsmasq; bad input changes nothing.
# Needs root, nft, dnsmasq and udhcpc (.ci/packages).
# Usage: tests/vm/switch-nat.sh BUILD_DIR   (prints "ok - ..." / "not ok - ..." lines)
set -u
. "$(dirname "$0")/lib.inc"
vmt_init nat "$1"
for need in nft dnsmasq udhcpc socat; do
	command -v "$need" >/dev/null || { check "$need is installed (.ci/packages)" 1; exit 1; }
done
vmt_netns || { check "a network namespace" 1; exit 1; }
OUT=kbt-nat-out-$$ GST=kbt-nat-guest-$$
nat_cleanup() {
	pkill -f "pid-file=$KBHYVE_RUNDIR/nat/" 2>/dev/null
	kill "${SERVER:-}" 2>/dev/null
	ip netns del "$OUT" 2>/dev/null
	ip netns del "$GST" 2>/dev/null
	vmt_cleanup
}
trap nat_cleanup EXIT
ip netns add "$OUT" && ip netns add "$GST"
OUTNS="ip netns exec $OUT" GNS="ip netns exec $GST"
# uplink: 192.0.2.1 (host) <-> 192.0.2.2 (outside), which also has 198.51.100.7 and no route
# to 10.66.0.0/24
$NS ip link add up0 type veth peer name out0 netns "$OUT" &&
	$NS ip addr add 192.0.2.1/24 dev up0 && $NS ip link set up0 up &&
	$OUTNS ip link set lo up && $OUTNS ip addr add 192.0.2.2/24 dev out0 && $OUTNS ip link set out0 up &&
	$OUTNS ip addr add 198.51.100.7/32 dev lo && $NS ip route add 198.51.100.7/32 via 192.0.2.2
check "namespaces: host, outside, guest" "$?"
# the outside's service: answers with the address the connection came from
$OUTNS socat TCP-LISTEN:7777,bind=198.51.100.7,reuseaddr,fork SYSTEM:'echo peer=$SOCAT_PEERADDR' &
SERVER=$!
outside() { timeout 8 $GNS socat -T 3 - TCP:198.51.100.7:7777,connect-timeout=3 </dev/null 2>/dev/null; }

nat_tables() { $NS nft list tables 2>/dev/null | grep -c kbhyve_nat; }
dnsmasqs() { pgrep -f "pid-file=$KBHYVE_RUNDIR/nat/" | wc -l; }
state() { echo "tables=$(nat_tables) dnsmasq=$(dnsmasqs) $(grep '^nat_' "$vm_dir/.config/system.conf" 2>/dev/null | tr '\n' ' ')"; }
# bad NAME ARGS...: exit != 0, one line, no table, no dnsmasq, system.conf as it was
bad() {
	local name=$1 before after rc
	shift
	before="$(state) $(md5sum <"$vm_dir/.config/system.conf")"
	$NS "$VM" "$@" </dev/null >/dev/null 2>"$TMP/bad.err"
	rc=$?
	after="$(state) $(md5sum <"$vm_dir/.config/system.conf")"
	check "$name: fails" "$([ $rc != 0 ] && echo 0 || echo 1)"
	one_error_line "$name" "$TMP/bad.err"
	check "$name: nothing changed" "$([ "$before" = "$after" ] && echo 0 || echo 1)" "$before / $after"
}

$NS "$VM" switch create noaddr && $NS "$VM" switch create -a 10.66.0.1/24 lan
check "switches with and without an address" "$?"
bad "nat on a switch without an address" switch nat noaddr on
check "the reason names the address" "$(grep -q 'no address' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
bad "nat on a switch that does not exist" switch nat nosuch on
bad "nat maybe" switch nat lan maybe
bad "nat without on/off" switch nat lan

# a guest without NAT: no lease (no DHCP server), no way out
$NS ip link add gh0 type veth peer name g0 netns "$GST" && $NS ip link set gh0 master vm-lan &&
	$NS ip link set gh0 up && $GNS ip link set lo up && $GNS ip link set g0 up
check "the guest's port on the switch" "$?"
cat >"$TMP/dhcp.sh" <<'EOS'
#!/bin/sh
# udhcpc's script: the lease onto the interface, and into a file for the test
case $1 in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	ip route replace default via "$router" dev "$interface"
	echo "ip=$ip mask=$mask router=$router dns=$dns" >"$LEASE_OUT"
	;;
esac
exit 0
EOS
chmod +x "$TMP/dhcp.sh"
lease() { # a lease for the guest namespace, within 6 s; the udhcpc output in $TMP/udhcpc.log
	rm -f "$TMP/lease"
	LEASE_OUT=$TMP/lease timeout 15 $GNS udhcpc -i g0 -n -q -f -t 3 -T 2 -s "$TMP/dhcp.sh" >"$TMP/udhcpc.log" 2>&1
	[ -s "$TMP/lease" ]
}
lease
check "no NAT: no lease" "$([ ! -s "$TMP/lease" ] && echo 0 || echo 1)"

$NS "$VM" switch nat lan on 2>"$TMP/err"
check "nat on" "$?" "$(oneline "$TMP/err")"
check "nat on: the switch's table" "$([ "$(nat_tables)" = 1 ] && echo 0 || echo 1)" "$($NS nft list tables)"
check "nat on: its masquerade of 10.66.0.0/24" \
	"$($NS nft list ruleset | grep -q 'ip saddr 10.66.0.0/24 ip daddr != 10.66.0.0/24 oifname != "vm-lan" masquerade'; echo $?)" "$($NS nft list ruleset)"
check "nat on: one dnsmasq" "$([ "$(dnsmasqs)" = 1 ] && echo 0 || echo 1)"
# every socket of its: the switch's address, or bound to the bridge (DHCP; IPv6 link-local DNS)
check "nat on: dnsmasq listens on the switch only" \
	"$($NS ss -lntupH 2>/dev/null | grep dnsmasq | awk '{print $5}' | grep -v -E '^(10\.66\.0\.1:|.*%vm-lan:)' | grep -q .; [ $? = 1 ] && echo 0 || echo 1)" "$($NS ss -lntup | grep dnsmasq)"
check "nat on: recorded (nat_lan)" "$(grep -q '^nat_lan="yes"' "$vm_dir/.config/system.conf"; echo $?)"
check "nat on: ip_forward in the namespace" "$([ "$($NS cat /proc/sys/net/ipv4/ip_forward)" = 1 ] && echo 0 || echo 1)"
check "nat on: switch info says so" "$($NS "$VM" switch info lan | grep -q '^  nat: yes (nftables table ip kbhyve_nat_lan_[0-9a-f]*; dnsmasq pid [0-9]*)'; echo $?)" \
	"$($NS "$VM" switch info lan | grep nat)"

lease
check "the guest gets a lease" "$?" "$(tail -3 "$TMP/udhcpc.log" | tr '\n' ' ')"
check "the lease: an address of the switch, its gateway and DNS" \
	"$(grep -q -E '^ip=10\.66\.0\.([1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-4]) mask=24 router=10\.66\.0\.1 dns=10\.66\.0\.1 *$' "$TMP/lease"; echo $?)" "$(cat "$TMP/lease" 2>/dev/null)"
# (the outside has no route to the switch's subnet: only a masqueraded connection is answered)
peer=$(outside)
check "the guest reaches the outside, masqueraded as the host's uplink address" \
	"$([ "$peer" = peer=192.0.2.1 ] && echo 0 || echo 1)" "got '$peer'"

# a new address moves NAT with it
$NS "$VM" switch address lan 10.67.0.1/24 2>"$TMP/err"
check "address change with NAT on" "$?" "$(oneline "$TMP/err")"
check "NAT follows the new subnet" "$($NS nft list ruleset | grep -q 'ip saddr 10.67.0.0/24'; echo $?)" "$($NS nft list ruleset | grep saddr)"
check "one dnsmasq still" "$([ "$(dnsmasqs)" = 1 ] && echo 0 || echo 1)" "$(dnsmasqs)"
bad "address none with NAT on" switch address lan none

# vm init (a reboot: the table and dnsmasq gone) brings NAT back
$NS nft flush ruleset && pkill -f "pid-file=$KBHYVE_RUNDIR/nat/"
wait_for 5 test "$(dnsmasqs)" = 0
$NS "$VM" init >/dev/null 2>"$TMP/err"
check "vm init starts NAT again" "$([ "$(nat_tables)" = 1 ] && [ "$(dnsmasqs)" = 1 ] && echo 0 || echo 1)" "$(state) $(oneline "$TMP/err")"

$NS "$VM" switch nat lan off 2>"$TMP/err"
check "nat off" "$?" "$(oneline "$TMP/err")"
check "nat off: no table, no dnsmasq, not recorded" \
	"$([ "$(nat_tables)" = 0 ] && [ "$(dnsmasqs)" = 0 ] && ! grep -q '^nat_lan' "$vm_dir/.config/system.conf" && echo 0 || echo 1)" "$(state)"
check "nat off: nothing left in the run folder" "$([ -z "$(ls -A "$KBHYVE_RUNDIR/nat" 2>/dev/null)" ] && echo 0 || echo 1)" "$(ls "$KBHYVE_RUNDIR/nat")"
check "nat off: the guest no longer gets out" "$([ -z "$(outside)" ] && echo 0 || echo 1)"

# destroy takes NAT along; a host's own tables are never touched
$NS nft add table ip hosts_own && $NS nft add chain ip hosts_own c
$NS "$VM" switch address lan 10.66.0.1/24 && $NS "$VM" switch nat lan on 2>/dev/null &&
	$NS "$VM" switch destroy lan 2>"$TMP/err"
check "switch destroy with NAT on" "$?" "$(oneline "$TMP/err")"
check "switch destroy: table and dnsmasq gone" "$([ "$(nat_tables)" = 0 ] && [ "$(dnsmasqs)" = 0 ] && echo 0 || echo 1)" "$(state)"
check "the host's own table is untouched" "$($NS nft list table ip hosts_own | grep -q 'chain c'; echo $?)"
# dnsmasq that cannot start (the switch's DNS port taken): nothing left half-made
$NS "$VM" switch create -a 10.68.0.1/24 busy >/dev/null
$NS socat TCP-LISTEN:53,bind=10.68.0.1 /dev/null &
squatter=$!
wait_for 5 bash -c "$NS ss -ltnH | grep -q '10.68.0.1:53'"
bad "nat on where dnsmasq cannot start" switch nat busy on
check "the reason names dnsmasq" "$(grep -q 'cannot start dnsmasq' "$TMP/bad.err"; echo $?)" "$(oneline "$TMP/bad.err")"
kill "$squatter" 2>/dev/null
exit 0
