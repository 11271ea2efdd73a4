#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# noVNC's client library (@novnc/novnc, MPL-2.0) from the npm registry, for the browser console:
# the pinned release is checked against its registry integrity, kept in the payload cache
# ($KBHYVE_CACHE, default /var/cache/kbhyve) and unpacked into DEST (default share/web/novnc).
# Only core/, vendor/ and the licence files are used; kbhyve's own page is share/web/.
#   tools/fetch-novnc.sh [DEST]
set -eu
cd "$(dirname "$0")/.."
VERSION=1.7.0
INTEGRITY=sha512-ucEJOx4T2avIRCleodk7YobZj5O2Ga2AeLfQ69A/yjG9HHba2+PDgwSkN3FttrmG+70ZGx21sElNFouK13RzyA==
DEST=${1:-share/web/novnc}
CACHE=${KBHYVE_CACHE:-/var/cache/kbhyve}/npm
TGZ=$CACHE/novnc-novnc-$VERSION.tgz
URL=https://registry.npmjs.org/@novnc/novnc/-/novnc-$VERSION.tgz

integrity_of() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

if [ -f "$DEST/VERSION.kbhyve" ] && [ "$(cat "$DEST/VERSION.kbhyve")" = "$VERSION" ]; then
	exit 0
fi
mkdir -p "$CACHE"
if [ ! -f "$TGZ" ] || [ "$(integrity_of "$TGZ")" != "$INTEGRITY" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# npm when installed (it knows the user's registry and proxy), else the registry's own URL
	if command -v npm >/dev/null; then
		(cd "$tmp" && npm pack --silent "@novnc/novnc@$VERSION" >/dev/null) ||
			echo "fetch-novnc: npm could not fetch @novnc/novnc@$VERSION; trying $URL" >&2
	fi
	if [ ! -f "$tmp/novnc-novnc-$VERSION.tgz" ] &&
		! curl -sSfL --retry 3 -o "$tmp/novnc-novnc-$VERSION.tgz" "$URL"; then
		echo "fetch-novnc: cannot fetch $URL (and $TGZ is not cached)" >&2
		exit 1
	fi
	got=$(integrity_of "$tmp/novnc-novnc-$VERSION.tgz")
	if [ "$got" != "$INTEGRITY" ]; then
		echo "fetch-novnc: @novnc/novnc@$VERSION does not match its pinned integrity ($got)" >&2
		exit 1
	fi
	mv "$tmp/novnc-novnc-$VERSION.tgz" "$TGZ"
fi
rm -rf "$DEST"
mkdir -p "$DEST"
tar -xzf "$TGZ" -C "$DEST" --strip-components=1 package/core package/vendor package/LICENSE.txt \
	package/AUTHORS package/docs
echo "$VERSION" >"$DEST/VERSION.kbhyve"
