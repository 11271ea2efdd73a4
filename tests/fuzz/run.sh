#!/bin/bash
# Run each libFuzzer target for a while and report one line per target:
#   ok - fuzz: NAME (N runs)        or        not ok - fuzz: NAME
# Usage: tests/fuzz/run.sh [SECONDS [BUILD_DIR [NAME...]]]   (defaults: 20, build-fuzz, all)
# Build the targets first (make fuzz). Seeds come from tests/fuzz/corpus/NAME and are only read:
# new inputs go to a scratch corpus that is deleted afterwards. A crash, leak, timeout or failed
# invariant is kept as BUILD_DIR/artifacts/NAME-crash-... (or -leak-, -timeout-); the full output
# of each run is in BUILD_DIR/logs/NAME.log. Exit status 1 when any target failed.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-20}
build=${2:-build-fuzz}
shift $(($# < 2 ? $# : 2))
names=("$@")
if [ ${#names[@]} = 0 ]; then
	for t in tests/fuzz/fuzz_*.c; do
		names+=("$(basename "$t" .c)")
	done
fi

# Extra libFuzzer options per target.
flags_for() {
	case $1 in
	fuzz_boot) echo "-max_len=20000" ;;
	*) echo "" ;;
	esac
}

mkdir -p "$build/artifacts" "$build/logs"
unset KBHYVE_DEBUG # device debug lines would flood the log
failed=0
for name in "${names[@]}"; do
	bin=$build/$name
	log=$build/logs/$name.log
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz: $name (no binary $bin; run make fuzz)"
		failed=1
		continue
	fi
	work=$(mktemp -d)
	seeds=()
	[ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
	dict=()
	[ -f "tests/fuzz/$name.dict" ] && dict=("-dict=tests/fuzz/$name.dict")
	# shellcheck disable=SC2046 # the per-target flags are words
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-close_fd_mask=1 -artifact_prefix="$build/artifacts/$name-" "${dict[@]}" \
		$(flags_for "$name") "$work" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	rm -rf "$work"
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	if [ "$rc" = 0 ] && [ -n "$runs" ]; then
		echo "ok - fuzz: $name (${runs} runs)"
	else
		echo "not ok - fuzz: $name"
		grep -E 'invariant violated|ERROR: |SUMMARY: |Test unit written|^    #[0-9] ' "$log" |
			head -20 | sed 's/^/# /'
		failed=1
	fi
done
exit $failed
