#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Bad device options through the real bhyve binary (ahci, nvme, e1000, virtio-blk, the i8042's
# -K keyboard layout): each case exits 4 with exactly one line on stderr naming the option and
# the problem, and no file changes.
# Options checked while parsing the command line need nothing; the ones a device checks when it
# is created need /dev/kvm (bhyve creates the VM first): without it those cases are skipped.
# Usage: tests/devices/input.sh BUILD_DIR   (TAP lines "ok - ..." / "not ok - ...")
set -u
build=${1:?usage: $0 BUILD_DIR}
BHYVE=$(realpath "$build/bhyve")
[ -x "$BHYVE" ] || { echo "not ok - devices: $BHYVE is not built"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tmp.err"' EXIT
kvm=0
[ -r /dev/kvm ] && [ -w /dev/kvm ] && kvm=1

truncate -s 8M "$tmp/disk.img"
truncate -s 4M "$tmp/cd.iso"
sums() { find "$tmp" -type f -printf '%p %s %m\n' -exec md5sum {} \; | sort; }

# bad WHEN DESCRIPTION EXPECTED_TEXT BHYVE_ARGS...   (WHEN: parse or init)
bad() {
	local when=$1 d=$2 want=$3
	shift 3
	if [ "$when" = init ] && [ $kvm = 0 ]; then
		echo "ok - device bad input: $d # skip no /dev/kvm (the test bed's L1 runs it)"
		return
	fi
	# ONLY_AT_INIT=1 (L1, after a host without KVM ran the rest): the init cases only
	[ -n "${ONLY_AT_INIT:-}" ] && [ "$when" != init ] && return
	local before after rc lines
	before=$(sums)
	timeout 60 "$BHYVE" -m 256M -s 0,hostbridge -s 31,lpc "$@" bad-dev </dev/null >/dev/null 2>"$tmp.err"
	rc=$?
	after=$(sums)
	lines=$(wc -l <"$tmp.err")
	if [ "$rc" != 4 ]; then
		echo "not ok - device bad input: $d: exit $rc (want 4): $(head -c 300 "$tmp.err")"
	elif [ "$lines" != 1 ]; then
		echo "not ok - device bad input: $d: $lines lines on stderr: $(head -c 400 "$tmp.err" | tr '\n' '|')"
	elif ! grep -qF -- "$want" "$tmp.err"; then
		echo "not ok - device bad input: $d: message '$(cat "$tmp.err")' lacks '$want'"
	elif [ "$before" != "$after" ]; then
		echo "not ok - device bad input: $d: files changed"
	else
		echo "ok - device bad input: $d ($(cat "$tmp.err"))"
	fi
	rm -f "$tmp.err"
}

d=$tmp/disk.img c=$tmp/cd.iso
bad parse "ahci: unknown port type" "unknown port type 'fd'" -s 3,ahci,fd:"$d"
ports=$(for i in $(seq 33); do printf ',cd:%s' "$c"; done)
bad parse "ahci: 33 ports" "more than 32 ports" -s 3,ahci"$ports"
bad init "ahci: nmrr not a number" "nmrr" -s 3,ahci-hd,"$d",nmrr=fast
bad init "ahci: serial longer than 20" "ser" -s 3,ahci-hd,"$d",ser=012345678901234567890
bad init "ahci: unknown port option" "color" -s 3,ahci-hd,"$d",color=blue
bad init "ahci: one image on two writable disk ports" "$d" -s 3,ahci,hd:"$d",hd:"$d"
bad init "ahci-hd: missing image" "$tmp/nope.img" -s 3,ahci-hd,"$tmp/nope.img"
bad init "nvme: maxq=0" "maxq=0" -s 3,nvme,"$d",maxq=0
bad init "nvme: qsz=1" "qsz=1" -s 3,nvme,"$d",qsz=1
bad init "nvme: sectsz=1000" "sectsz=1000" -s 3,nvme,"$d",sectsz=1000
bad init "nvme: dsm=sometimes" "dsm" -s 3,nvme,"$d",dsm=sometimes
bad init "nvme: missing image" "$tmp/nope.img" -s 3,nvme,"$tmp/nope.img"
bad init "e1000: bad MAC" "mac=zz" -s 3,e1000,fd:0,mac=zz
bad init "e1000: multicast MAC" "not a unicast MAC" -s 3,e1000,fd:0,mac=01:00:5e:00:00:01
bad init "e1000: unknown option" "mtu" -s 3,e1000,fd:0,mtu=9000
bad init "virtio-blk: missing image" "$tmp/nope.img" -s 3,virtio-blk,"$tmp/nope.img"
printf "# a layout\n'a',0x1c;\n'b' 0x32;\n" >"$tmp/bad.kbd"
bad init "-K: layout not found" "keyboard layout 'no-such-layout': not found" -K no-such-layout
bad init "-K: bad layout line" "$tmp/bad.kbd:3: expected ,SCANCODE" -K "$tmp/bad.kbd"
# fbuf: sizes, addresses, a port in use, two displays
bad init "fbuf: w=10" "w=10 is out of range" -s 29,fbuf,tcp=127.0.0.1:0,w=10
bad init "fbuf: h=99999" "h=99999 is out of range" -s 29,fbuf,tcp=127.0.0.1:0,h=99999
bad init "fbuf: IPv6 address without brackets" "write IPv6 as [ADDR]:PORT" -s 29,fbuf,tcp=::1:5900
bad init "fbuf: port out of range" "bad port" -s 29,fbuf,tcp=127.0.0.1:70000
bad init "fbuf: address not on this host" "cannot listen on 192.0.2.1:5900" -s 29,fbuf,tcp=192.0.2.1:5900
bad init "fbuf: vga=maybe" "vga=maybe" -s 29,fbuf,tcp=127.0.0.1:0,vga=maybe
bad init "fbuf: two displays" "only one fbuf per VM" -s 28,fbuf,tcp=127.0.0.1:0 -s 29,fbuf,tcp=127.0.0.1:0
if [ $kvm = 1 ]; then
	# a port another program holds
	python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(); print(s.getsockname()[1], flush=True); time.sleep(60)' >"$tmp/port" &
	holder=$!
	for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
	bad init "fbuf: port in use" "Address already in use" -s 29,fbuf,tcp=127.0.0.1:"$(cat "$tmp/port")"
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
	rm -f "$tmp/port"
fi
# xhci: USB device names, more devices than ports, the config tree
bad parse "xhci: unknown USB device" "unknown USB device 'keyboard'" -s 3,xhci,keyboard
bad parse "xhci: five tablets, four USB 2 ports" "more than 4 USB 2 devices" \
	-s 3,xhci,tablet,tablet,tablet,tablet,tablet
bad parse "xhci: empty device name" "empty USB device name" -s 3,xhci,tablet,,tablet
bad parse "xhci: tablet option" "unknown option 'speed'" -s 3,xhci,tablet=speed=full
bad init "xhci: slot.0 in the config tree" "slot.0" -o pci.0.3.0.device=xhci \
	-o pci.0.3.0.slot.0.device=tablet
bad init "xhci: unknown device in the config tree" "unknown USB device 'mouse'" \
	-o pci.0.3.0.device=xhci -o pci.0.3.0.slot.1.device=mouse
