#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Run each libFuzzer target for a while, then replay the regression inputs, one line per result:
#   ok - fuzz: NAME (N runs)       not ok - fuzz: NAME       ok - fuzz: NAME # SKIP why
#   ok - fuzz regression: NAME/FILE                          not ok - fuzz regression: NAME/FILE
# Usage: tests/fuzz/run.sh [SECONDS [BUILD_DIR [NAME...]]]   (defaults: 10, build-fuzz, all)
# Build the targets first (make fuzz). FUZZ_JOBS targets run at once (default 2).
# Seeds come from tests/fuzz/corpus/NAME and are only read: new inputs go to a scratch corpus
# that is deleted afterwards; with FUZZ_KEEP_CORPUS=1 (make fuzz-long) new inputs are written to
# tests/fuzz/corpus/NAME instead. A crash, leak, timeout, failed invariant or exceeded work bound
# is kept as BUILD_DIR/artifacts/NAME-crash-... (or -leak-, -timeout-); the full output of each
# run is in BUILD_DIR/logs/NAME.log. tests/fuzz/regressions/NAME/* are inputs that once showed a
# problem (see make-regressions.py there): each is run once, and must pass.
# FUZZ_REGRESSIONS=0 skips the replay. Exit status 1 when anything failed.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-10}
build=${2:-build-fuzz}
shift $(($# < 2 ? $# : 2))
names=("$@")
if [ ${#names[@]} = 0 ]; then
	for t in tests/fuzz/fuzz_*.c; do
		names+=("$(basename "$t" .c)")
	done
fi
jobs=${FUZZ_JOBS:-2}

# Extra libFuzzer options per target.
flags_for() {
	case $1 in
	fuzz_boot) echo "-max_len=20000" ;;
	*) echo "" ;;
	esac
}

mkdir -p "$build/artifacts" "$build/logs"
unset KBHYVE_DEBUG # device debug lines would flood the log
# The targets' sockets and images go here (fixture.c), so that failing inputs, which end the
# process before it can clean up, leave nothing behind.
shm=/tmp
[ -w /dev/shm ] && shm=/dev/shm
FUZZ_TMPDIR=$(mktemp -d "$shm/kbfuzz-run.XXXXXX") || exit 1
export FUZZ_TMPDIR
trap 'rm -rf "$FUZZ_TMPDIR"' EXIT

# One target for $secs seconds; its result line goes to $build/logs/NAME.result.
fuzz_one() {
	local name=$1 bin=$build/$1 log=$build/logs/$1.log res=$build/logs/$1.result
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz: $name (no binary $bin; run make fuzz)" >"$res"
		return
	fi
	local work seeds=() dict=()
	work=$(mktemp -d)
	if [ "${FUZZ_KEEP_CORPUS:-0}" = 1 ]; then
		mkdir -p "tests/fuzz/corpus/$name"
		seeds=("tests/fuzz/corpus/$name") # first directory: new inputs are written there
	elif [ -d "tests/fuzz/corpus/$name" ]; then
		seeds=("$work" "tests/fuzz/corpus/$name")
	else
		seeds=("$work")
	fi
	[ -f "tests/fuzz/$name.dict" ] && dict=("-dict=tests/fuzz/$name.dict")
	# shellcheck disable=SC2046 # the per-target flags are words
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-close_fd_mask=1 -artifact_prefix="$build/artifacts/$name-" "${dict[@]}" \
		$(flags_for "$name") "${seeds[@]}" >"$log" 2>&1
	local rc=$?
	rm -rf "$work"
	local runs skip note
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	skip=$(sed -n 's/^fuzz-skip: //p' "$log" | head -1)
	note=$(sed -n 's/^fuzz-note: //p' "$log" | head -1)
	if [ "$rc" = 0 ] && [ -n "$skip" ]; then
		echo "ok - fuzz: $name # SKIP $skip" >"$res"
	elif [ "$rc" = 0 ] && [ -n "$runs" ]; then
		echo "ok - fuzz: $name (${runs} runs)${note:+ # $note}" >"$res"
	else
		{
			echo "not ok - fuzz: $name"
			grep -E 'invariant violated|ERROR: |SUMMARY: |Test unit written|^    #[0-9] ' "$log" |
				head -20 | sed 's/^/# /'
		} >"$res"
	fi
}

running=0
for name in "${names[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$name" &
	running=$((running + 1))
done
wait

failed=0
for name in "${names[@]}"; do
	res=$build/logs/$name.result
	cat "$res"
	grep -q '^not ok' "$res" && failed=1
	rm -f "$res"
done

# Regression inputs: each file once (libFuzzer runs the files it is given and exits).
if [ "${FUZZ_REGRESSIONS:-1}" = 1 ]; then
	for name in "${names[@]}"; do
		dir=tests/fuzz/regressions/$name
		[ -d "$dir" ] && [ -x "$build/$name" ] || continue
		for f in "$dir"/*; do
			[ -f "$f" ] || continue
			log=$build/logs/$name-regression-$(basename "$f").log
			if "$build/$name" -timeout=20 -rss_limit_mb=2048 \
				-artifact_prefix="$build/artifacts/$name-regression-" "$f" >"$log" 2>&1; then
				echo "ok - fuzz regression: $name/$(basename "$f")"
			else
				echo "not ok - fuzz regression: $name/$(basename "$f")"
				grep -E 'invariant violated|ERROR: |SUMMARY: ' "$log" | head -5 | sed 's/^/# /'
				failed=1
			fi
		done
	done
fi
exit $failed
