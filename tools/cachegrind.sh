#!/bin/sh
# cachegrind.sh - instructions and cache misses per operation of zsmalloc
# (the default contiguous layout and the kernel's scattered one), xvmalloc
# and the linked malloc, from valgrind's cachegrind: figures that are the
# same on every run, beside the wall-clock tables of tools/bench, whose
# timings swing 2x on a shared VM.
#
# For each allocator and operation it runs `bench --op OP --allocator A`
# twice under cachegrind, with --count K and 2K, and subtracts: the program's
# start and the fill of the population cost the same in both runs, so the
# difference is what K more operations cost. Cachegrind simulates the caches
# given here (pinned, so that every machine counts the same; the defaults are
# this project's VMs': 32 KiB I1, 48 KiB D1, 32 MiB last level), not the
# host's, and runs the program ~50x slower: hence 131,072 objects by default,
# the smaller of bench's two populations. `bench --op` gives its pools a
# page limit that the population needs: a pool with the default limit (the
# machine's memory) reserves twice that in address space, plus 2 GiB, and
# valgrind refuses a mapping of 64 GiB or more.
#
# usage: cachegrind.sh [--bench PATH] [--objects N] [--count K]
#                      [--allocators LIST] [--ops LIST] [--trace FILE]
set -eu

bench=
objects=131072
count=100000
allocators="malloc zsmalloc zsmalloc-scattered xvmalloc"
ops="pair read write map"
trace=
caches="--I1=32768,8,64 --D1=49152,12,64 --LL=33554432,16,64"

usage() {
	echo "usage: cachegrind.sh [--bench PATH] [--objects N] [--count K] [--allocators LIST] [--ops LIST] [--trace FILE]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--bench) bench=$2; shift 2 ;;
	--objects) objects=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--allocators) allocators=$(echo "$2" | tr , ' '); shift 2 ;;
	--ops) ops=$(echo "$2" | tr , ' '); shift 2 ;;
	--trace) trace="--trace $2"; shift 2 ;;
	-h|--help) usage ;;
	*) echo "cachegrind.sh: unknown argument '$1'" >&2; usage ;;
	esac
done
case $count in
'' | *[!0-9]*) echo "cachegrind.sh: --count wants a number, got '$count'" >&2; usage ;;
esac
[ -n "$bench" ] || bench=$(dirname "$0")/bench
[ -x "$bench" ] || { echo "cachegrind.sh: no bench at '$bench' (give --bench PATH)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "cachegrind.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# summary OP ALLOC N: the cachegrind summary line's counts of one run:
# Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw
summary() {
	# shellcheck disable=SC2086
	valgrind --tool=cachegrind --cache-sim=yes $caches \
		--cachegrind-out-file="$tmp/out" "$bench" --op "$1" --allocator "$2" \
		--objects "$objects" --count "$3" $trace >"$tmp/log" 2>&1 ||
		{ echo "cachegrind.sh: bench --op $1 --allocator $2 failed:" >&2; tail -5 "$tmp/log" >&2; exit 1; }
	sed -n 's/^summary: //p' "$tmp/out"
}

# per_op OP ALLOC: "instructions D1-misses LL-misses" per operation.
per_op() {
	one=$(summary "$1" "$2" "$count")
	two=$(summary "$1" "$2" $((2 * count)))
	echo "$one $two" | awk -v k="$count" '{
		printf "%.2f %.3f %.3f\n", ($10 - $1) / k,
			(($14 + $17) - ($5 + $8)) / k,
			(($12 + $15 + $18) - ($3 + $6 + $9)) / k }'
}

echo "cachegrind: per operation, K = $count more operations after a fill of $objects objects (runs of K and 2K subtracted)"
echo "simulated caches: $caches"
printf '  %-9s %-18s %12s %8s %12s %12s %8s\n' operation allocator "instr/op" ratio "D1 miss/op" "LL miss/op" ratio
for op in $ops; do
	ref=
	for a in $allocators; do
		set -- $(per_op "$op" "$a")
		[ -n "$ref" ] || ref="$1 $3"
		echo "$op $a $1 $2 $3 $ref" | awk '
		function ratio(v, r) { return r >= 0.005 ? sprintf("%7.2fx", v / r) : "      -" }
		function nz(v) { return v < 0 && v > -0.005 ? 0 : v }
		{
			printf "  %-9s %-18s %12.1f %s %12.2f %12.2f %s\n", $1, $2, $3,
				ratio($3, $6), nz($4), nz($5), ratio($5, $7) }'
	done
done
echo "ratios: to the first allocator of each operation ($(echo "$allocators" | cut -d' ' -f1)), - where it has none; LL misses = instruction + data read + data write misses of the last level"
