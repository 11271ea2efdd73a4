#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# How many of the real vm-bhyve files in ../shared/wild start on kbhyve (a measurement, not a
# test): every guest conf (confs/) and sample template (vm-bhyve-templates/) becomes a template,
# `vm create -t T -s 64M G` (without -s where the template has no disk0 file), then `vm start -f G` with KBHYVE_BHYVE pointing at a wrapper that runs
# `bhyve -o config.dump=1` with vm's arguments. A start counts when bhyve accepts the command line
# (it dumps its configuration and exits 1, as bhyve(8) does; a refusal is 4); otherwise the first line of vm's or bhyve's refusal is
# shown. Taps and bridges live in a private network namespace.
# Usage: bench/wild-starts.sh [BUILD_DIR]   (root; prints one line per file, then the totals)
set -u
BUILD=$(cd "${1:-build}" && pwd) || exit 2
REPO=$(cd "$(dirname "$0")/.." && pwd)
WILD=$REPO/../shared/wild
[ -d "$WILD" ] || { echo "wild-starts: no $WILD" >&2; exit 2; }
WILD=$(cd "$WILD" && pwd)
TMP=$(mktemp -d /tmp/wild-starts.XXXXXX)
chmod 755 "$TMP"
NETNS=kbwild-$$
ip netns add "$NETNS" || exit 2
trap 'ip netns del "$NETNS" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$TMP"' EXIT
export vm_dir=$TMP/vms KBHYVE_CONF=$TMP/kbhyve.conf KBHYVE_RUNDIR=$TMP/run
export KBHYVE_SHARE=$REPO/share
mkdir -p "$vm_dir" "$KBHYVE_RUNDIR"
echo 'vm_delay="0"' >"$KBHYVE_CONF"
"$BUILD/vm" init >/dev/null 2>&1
cat >"$TMP/dumpbhyve" <<EOF2
#!/bin/bash
# bhyve -o config.dump=1 with vm's arguments; its status goes to \$vm_dir/<guest>.rc, its stderr to
# <guest>.err; then "powered off" (1) so that vm start -f ends
"$BUILD/bhyve" -o config.dump=1 "\$@" >/dev/null 2>"\$vm_dir/\${!#}.err"
echo \$? >"\$vm_dir/\${!#}.rc"
exit 1
EOF2
chmod +x "$TMP/dumpbhyve"
export KBHYVE_BHYVE=$TMP/dumpbhyve

n=0 ok=0
for f in "$WILD"/confs/*.conf "$WILD"/vm-bhyve-templates/*.conf; do
	n=$((n + 1))
	t=w$n
	g=g$n
	cp "$f" "$vm_dir/.templates/$t.conf"
	label=${f#"$WILD"/}
	# a small disk0 where the template has a disk0 file (vm create -s sizes only that one)
	"$BUILD/vm" create -t "$t" -s 64M "$g" >/dev/null 2>"$TMP/err" ||
		{ grep -q 'has no disk0 file to size' "$TMP/err" &&
			"$BUILD/vm" create -t "$t" "$g" >/dev/null 2>"$TMP/err"; } || {
		echo "no  $label: $(grep -v 'warning:' "$TMP/err" | head -1)"
		continue
	}
	timeout 60 ip netns exec "$NETNS" "$BUILD/vm" start -f "$g" </dev/null >/dev/null 2>"$TMP/err"
	if [ "$(cat "$vm_dir/$g.rc" 2>/dev/null)" = 1 ]; then
		ok=$((ok + 1))
		echo "yes $label"
	elif [ -f "$vm_dir/$g.rc" ]; then
		echo "no  $label: bhyve: $(head -1 "$vm_dir/$g.err")"
	else
		echo "no  $label: $(grep -v 'warning:' "$TMP/err" | head -1)"
	fi
done
echo "wild-starts: $ok of $n vm-bhyve files start (bhyve accepts vm's command line)"
