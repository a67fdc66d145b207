#!/bin/sh
# headers_test.sh - the public headers include only the C library headers they
# need (<stddef.h>, <stdint.h>, <stdio.h>), nothing of the library's internals
# and nothing that an installed copy (PREFIX/include/zsalloc) would lack.
#
# Usage: headers_test.sh HEADER...
set -eu

[ $# -gt 0 ] || { echo "no headers given" >&2; exit 1; }
failures=0
for h in "$@"; do
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
