#!/bin/sh
# example_test.sh - the README's example is examples/store_page.c word for
# word, and it runs and reports a page read back.
# Usage: example_test.sh STORE_PAGE README.md store_page.c
set -eu
# The README's example: the ```c block that follows the line naming
# examples/store_page.c.
shown=$(awk '/`examples\/store_page.c`/ { seen = 1 }
	seen && /^```c$/ { inside = 1; next }
	inside && /^```$/ { exit }
	inside { print }' "$2")
if [ "$shown" != "$(cat "$3")" ]; then
	echo "FAIL: README.md's example differs from examples/store_page.c" >&2
	exit 1
fi
out=$("$1")
echo "$out"
case $out in
"stored a 4096-byte page in "*" bytes, read it back intact") echo "PASS" ;;
*) echo "FAIL: unexpected output" >&2; exit 1 ;;
esac
