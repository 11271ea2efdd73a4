#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Every source file git tracks names its licence in an SPDX line near its top (kbhyve is
# BSD-2-Clause, LICENSE): C, assembly, shell, Python, make, JavaScript, CSS, HTML and man pages.
# Fuzz corpora, regression inputs, config samples and Markdown are data or prose, not code.
# One TAP line per file without it, then one summary line.   tests/lint/spdx.sh
cd "$(dirname "$0")/../.."
missing=0
checked=0
while IFS= read -r f; do
	case $f in
	*.c | *.h | *.S | *.inc | *.sh | *.py | *.mk | *.js | *.css | *.html | *.[1-9] | Makefile | \
		.ci/run | tests/testbed/l1run) ;;
	*) continue ;;
	esac
	checked=$((checked + 1))
	if ! head -n 5 "$f" | grep -q 'SPDX-License-Identifier: BSD-2-Clause'; then
		echo "not ok - spdx: $f has no 'SPDX-License-Identifier: BSD-2-Clause' line in its first 5 lines"
		missing=$((missing + 1))
	fi
done < <(git ls-files)
if [ "$checked" -lt 100 ]; then
	echo "not ok - spdx: only $checked source files found (not a git checkout?)"
elif [ "$missing" = 0 ]; then
	echo "ok - spdx: all $checked source files carry the BSD-2-Clause SPDX line"
fi
