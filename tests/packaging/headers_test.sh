#!/bin/sh
# headers_test.sh - the public headers include only the C library headers they
# need (<stddef.h>, <stdint.h>, <stdio.h>), nothing of the library's internals
# and nothing that an installed copy (PREFIX/include/zsalloc) would lack.
#
# Each also defines ZSALLOC_VERSION_MAJOR/MINOR/PATCH as version.bzl says.
#
# Usage: headers_test.sh VERSION_BZL HEADER...
set -eu

[ $# -gt 1 ] || { echo "usage: headers_test.sh VERSION_BZL HEADER..." >&2; exit 1; }
version=$(sed -n 's/^ZSALLOC_VERSION = "\(.*\)"$/\1/p' "$1")
shift
[ -n "$version" ] || { echo "no ZSALLOC_VERSION in version.bzl" >&2; exit 1; }
failures=0
for h in "$@"; do
	got=$(for part in MAJOR MINOR PATCH; do
		sed -n "s/^#define ZSALLOC_VERSION_$part \([0-9]*\)$/\1/p" "$h"
	done | paste -sd. -)
	if [ "$got" != "$version" ]; then
		echo "FAIL: $h says version '$got', version.bzl '$version'" >&2
		failures=$((failures + 1))
	fi
	bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include' "$h" |
		grep -vE '#[[:space:]]*include[[:space:]]*<(stddef|stdint|stdio)\.h>' || true)
	if [ -n "$bad" ]; then
		echo "FAIL: $h includes more than <stddef.h>, <stdint.h>, <stdio.h>:" >&2
		echo "$bad" | sed 's/^/  /' >&2
		failures=$((failures + 1))
	else
		echo "ok: $h: $(grep -cE '^[[:space:]]*#[[:space:]]*include' "$h") includes, all allowed"
	fi
done
[ "$failures" -eq 0 ] || exit 1
echo "PASS"
