#!/bin/sh
# example_test.sh - the README's example runs and reports a page read back.
# Usage: example_test.sh STORE_PAGE
set -eu
out=$("$1")
echo "$out"
case $out in
"stored a 4096-byte page in "*" bytes, read it back intact") echo "PASS" ;;
*) echo "FAIL: unexpected output" >&2; exit 1 ;;
esac
