#!/bin/bash
# Test-bed guest tests: builds the L2 initrd, then boots L1 once and runs in-l1-tests.sh there.
#   tests/testbed/guest-tests.sh [BUILD_DIR]     (BUILD_DIR relative to the repository, default build)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BUILD=${1:-build}
cd "$REPO_ROOT" || exit 1
[ -x "$BUILD/bhyve" ] || die "$BUILD/bhyve is not built"
load_payload
INITRD=$REPO_ROOT/build/testbed/l2-bootcheck.cpio.gz
"$TESTBED_DIR/mkinitrd-l2.sh" "$INITRD" --script "$TESTBED_DIR/l2-bootcheck.sh" || die "cannot build the L2 initrd"
exec "$TESTBED_DIR/l1run" --timeout 1200 -- "$TESTBED_DIR/in-l1-tests.sh" "$BUILD" "$INITRD" \
	"$KBHYVE_VMLINUX" "$KBHYVE_VMLINUZ"
