#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The man pages in docs/ render without a groff warning, and bhyve.8 documents every option that
# `bhyve -h` lists (so the page follows the program). TAP lines.   tests/lint/man.sh BUILD_DIR
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
for page in docs/*.[1-9]; do
	out=$(groff -mandoc -ww -z -Tutf8 "$page" 2>&1)
	if [ -z "$out" ]; then
		echo "ok - man: $page renders without warnings"
	else
		echo "not ok - man: $page: $(echo "$out" | head -3 | tr '\n' ' ')"
	fi
done
for p in bhyve bhyvectl; do
	[ -f "docs/$p.8" ] || echo "not ok - man: docs/$p.8 is missing"
done
[ -f docs/bhyve_config.5 ] || echo "not ok - man: docs/bhyve_config.5 is missing"
if [ -x "$BUILD/bhyve" ] && [ -f docs/bhyve.8 ]; then
	missing=
	for o in $("$BUILD/bhyve" -h 2>&1 | sed -n 's/^  -\([A-Za-z]\):.*/\1/p'); do
		grep -q "^\.It Fl $o\b" docs/bhyve.8 || missing+=" -$o"
	done
	if [ -z "$missing" ]; then
		echo "ok - man: bhyve.8 documents every option bhyve -h lists"
	else
		echo "not ok - man: bhyve.8 lacks$missing (bhyve -h lists them)"
	fi
fi
