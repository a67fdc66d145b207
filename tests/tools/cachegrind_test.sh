#!/bin/sh
# cachegrind_test.sh SCRIPT BENCH SMALL_TRACE - tools/cachegrind.sh end to
# end on a small population: one row per operation and allocator, every
# count positive, and what cachegrind counts is what the code does: a
# zs_map_object + zs_unmap_object takes more instructions than dereferencing
# a malloc pointer, and the same run twice gives the same counts (within 1 %).
set -u
script=$1
bench=$2
trace=$3
if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed: nothing to test"
	exit 0
fi
if grep -q -e __asan_init -e __tsan_init -e __ubsan_handle "$bench"; then
	echo "bench is built with a sanitizer, which valgrind cannot run: nothing to test"
	exit 0
fi
tmp=${TEST_TMPDIR:-/tmp}/cachegrind_test.$$
mkdir -p "$tmp"
run() {
	"$script" --bench "$bench" --objects 2048 --count 2000 --ops map,read \
		--allocators malloc,zsmalloc --trace "$trace" >"$1" 2>"$tmp/err" ||
		{ echo "FAIL: cachegrind.sh failed: $(cat "$tmp/err")"; exit 1; }
}
run "$tmp/one"
run "$tmp/two"
cat "$tmp/one"
[ "$(grep -c '^  \(map\|read\) ' "$tmp/one")" -eq 4 ] || { echo "FAIL: not 4 rows"; exit 1; }
awk '/^  (map|read) / { if (!($3 > 0 && $5 >= 0)) bad = 1 } END { exit bad }' "$tmp/one" ||
	{ echo "FAIL: a count is not positive"; exit 1; }
awk '$1 == "map" && $2 == "malloc" { m = $3 } $1 == "map" && $2 == "zsmalloc" { z = $3 }
	END { exit !(m > 0 && z > m) }' "$tmp/one" ||
	{ echo "FAIL: zs_map_object + zs_unmap_object not above a pointer dereference"; exit 1; }
# Instruction counts are the same from run to run within a hair (where the
# kernel puts the mappings changes the odd branch of a memcpy; addresses
# also pick the cache sets of the misses): within 1 %.
awk 'NR == FNR && /^  (map|read) / { ir[$1 " " $2] = $3; next }
	/^  (map|read) / { d = $3 - ir[$1 " " $2]; if (d < 0) d = -d; if (d > $3 / 100) bad = 1 }
	END { exit bad }' "$tmp/one" "$tmp/two" ||
	{ echo "FAIL: two runs differ by more than 1 %:"; diff "$tmp/one" "$tmp/two"; exit 1; }
rm -rf "$tmp"
echo "cachegrind.sh checks passed"
