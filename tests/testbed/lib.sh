# SPDX-License-Identifier: BSD-2-Clause
# shellcheck shell=bash
# Shared helpers of the test bed scripts (bash; sourced, not run).

TESTBED_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck disable=SC2034 # used by the scripts that source this
REPO_ROOT=$(cd "$TESTBED_DIR/../.." && pwd -P)
KBHYVE_CACHE=${KBHYVE_CACHE:-/var/cache/kbhyve}

die()
{
	echo "${0##*/}: $*" >&2
	exit 1
}

note()
{
	echo "${0##*/}: $*" >&2
}

# Makes sure the payload is in the cache and puts its KBHYVE_* variables into this shell.
load_payload()
{
	local env
	env=$("$TESTBED_DIR/payload.sh") || die "payload.sh failed"
	eval "$env"
}

# --- kernel modules, resolved without depmod/modinfo (there are none after `dpkg-deb -x`) ---

declare -A MOD_PATH=()	# module name (with '_') -> .ko path
declare -A MOD_DONE=()	# modules already in MOD_ORDER
MOD_ORDER=()		# .ko paths, each after its dependencies

mod_key()
{
	local k=${1%.ko}
	echo "${k//-/_}"
}

mod_index()
{
	local f k
	[ -d "$KBHYVE_MODULES" ] || die "no modules tree at '$KBHYVE_MODULES'"
	while IFS= read -r f; do
		k=${f##*/}
		k=${k%.ko}
		MOD_PATH[${k//-/_}]=$f
	done < <(find -H "$KBHYVE_MODULES" -name '*.ko')
}

# One field of a module's .modinfo section, e.g. depends or softdep.
mod_info()
{
	tr '\0' '\n' < "$1" | sed -n "s/^$2=//p" | head -n 1
}

# The module that provides an alias such as crypto-crc32c (softdeps name aliases); *_generic first.
mod_alias()
{
	local dirs=$KBHYVE_MODULES/kernel found
	case $1 in crypto-*) dirs="$KBHYVE_MODULES/kernel/crypto $KBHYVE_MODULES/kernel/arch" ;; esac
	# shellcheck disable=SC2086
	found=$(grep -rlaP --include='*.ko' "alias=\Q$1\E\x00" $dirs 2>/dev/null | LC_ALL=C sort)
	[ -n "$found" ] || return 0
	{ grep '_generic\.ko$' <<< "$found" || head -n 1 <<< "$found"; } | head -n 1
}

# Appends NAME and, before it, everything it depends on to MOD_ORDER. Returns 1 if NAME is unknown.
mod_add()
{
	local key path dep alias deps soft
	key=$(mod_key "$1")
	[ -n "${MOD_DONE[$key]+x}" ] && return 0
	path=${MOD_PATH[$key]:-}
	[ -n "$path" ] || return 1
	MOD_DONE[$key]=1
	deps=$(mod_info "$path" depends)
	for dep in ${deps//,/ }; do
		mod_add "$dep" || die "module $dep (needed by $key) not found in $KBHYVE_MODULES"
	done
	# softdep=pre: a b post: c -- load the "pre" ones first, best effort (they are often aliases).
	soft=$(mod_info "$path" softdep)
	soft=${soft#pre:}
	soft=${soft%%post:*}
	for dep in $soft; do
		if ! mod_add "$dep"; then
			alias=$(mod_alias "$dep")
			[ -n "$alias" ] && mod_add "$(basename "$alias")"
		fi
	done
	MOD_ORDER+=("$path")
}

# Copies module SRC to DST without its appended signature: checking it costs L1 (TCG) ~10 ms a
# module; the kernel (no module.sig_enforce) then loads it and notes the taint in its log.
mod_copy_unsigned()
{
	local src=$1 dst=$2 size siglen
	size=$(stat -c %s "$src")
	if [ "$(tail -c 28 "$src")" = "~Module signature appended~" ]; then
		# struct module_signature (12 bytes, ending in a big-endian sig_len) precedes the marker.
		siglen=$(tail -c 32 "$src" | head -c 4 | od -An -tu1 |
			awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
		if [ "$siglen" -gt 0 ] && [ $((siglen + 40)) -lt "$size" ]; then
			head -c $((size - 40 - siglen)) "$src" > "$dst"
			return
		fi
	fi
	cp "$src" "$dst"
}

# Copies MOD_ORDER into DIR/lib/modules (without signatures if $2 is "unsigned") and writes the
# load order (one name a line) to DIR/etc/modules.
mod_install()
{
	local dir=$1 how=${2:-} path
	mkdir -p "$dir/lib/modules" "$dir/etc"
	: > "$dir/etc/modules"
	for path in "${MOD_ORDER[@]}"; do
		if [ "$how" = unsigned ]; then
			mod_copy_unsigned "$path" "$dir/lib/modules/${path##*/}"
		else
			cp "$path" "$dir/lib/modules/"
		fi
		basename "$path" .ko >> "$dir/etc/modules"
	done
}

# Static busybox into DIR/bin with a link for every applet.
install_busybox()
{
	local dir=$1 applet
	mkdir -p "$dir/bin" "$dir/sbin" "$dir/dev" "$dir/proc" "$dir/sys" "$dir/tmp" "$dir/etc"
	cp "$KBHYVE_BUSYBOX" "$dir/bin/busybox"
	for applet in $("$dir/bin/busybox" --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
	done
}

# Packs DIR into a newc cpio archive (root-owned), compressed with gzip unless COMPRESS=none.
pack_cpio()
{
	local dir=$1 out=$2 compress=${3:-gzip}
	(
		cd "$dir" || exit 1
		find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet
	) > "$out.tmp.cpio" || die "cpio failed"
	case $compress in
	none) mv "$out.tmp.cpio" "$out" ;;
	gzip) gzip -n -6 -c "$out.tmp.cpio" > "$out.tmp" && mv "$out.tmp" "$out" && rm -f "$out.tmp.cpio" ;;
	*) die "unknown compression $compress" ;;
	esac
}
