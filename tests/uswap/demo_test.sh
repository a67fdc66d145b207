#!/bin/sh
# demo_test.sh - the uswap demo's command line and a short run of each input:
# a trace, files, another process's pages. Each run must read every page
# back right (exit 0, "0 wrong", clean checks) and print the targets; bad
# arguments exit 2 naming the argument. Skipped (exit 0 with the reason, as
# the C++ suites skip) only where userfaultfd is not allowed at all.
set -u
demo=examples/uswap/demo
trace=tests/uswap/small.trace
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail=0

check() { # check <what> <expected status> <grep pattern>... (on $out)
	what=$1 want=$2
	shift 2
	if [ "$status" != "$want" ]; then
		echo "FAIL: $what: exit status $status, expected $want"; cat "$out"; fail=1
		return
	fi
	for pat in "$@"; do
		if ! grep -q -- "$pat" "$out"; then
			echo "FAIL: $what: no '$pat' in the output"; cat "$out"; fail=1
		fi
	done
	echo "ok: $what"
}

$demo --help >"$out" 2>&1; status=$?
check "--help" 0 "usage: demo"
$demo --threads 0 >"$out" 2>&1; status=$?
check "--threads 0" 2 "demo: --threads: expected 1..64, got '0'"
$demo --reclaim 2 >"$out" 2>&1; status=$?
check "--reclaim 2" 2 "demo: --reclaim: expected a number in 0..1"
$demo --trace "$trace" --pid 1 >"$out" 2>&1; status=$?
check "two inputs" 2 "give one of --trace, --pid, --files"
$demo --bogus >"$out" 2>&1; status=$?
check "unknown option" 2 "demo: --bogus: unknown option"
$demo --trace /nonexistent.trace --quiet >"$out" 2>&1; status=$?
if grep -q "userfaultfd cannot be used here" "$out"; then
	echo "SKIP: $(cat "$out")"
	exit 0
fi
check "missing trace" 1 "demo: /nonexistent.trace: No such file"

common="--seconds 0.5 --quiet"
$demo --trace "$trace" $common >"$out" 2>&1; status=$?
check "--trace" 0 "uswap demo: small.trace" "read all: 3,000 pages checked, 0 wrong" \
	"uswap_check 0, zs_check 0 violations" "every page read back equals its original" \
	"resident after reclaiming the whole region" "fault-in p50"
$demo --trace "$trace" $common --threads 4 --reclaim 0.5 --working-set 1 --batch 7 >"$out" 2>&1; status=$?
check "--trace, 4 threads, half reclaimed, batch 7" 0 "0 wrong" "uswap_check 0, zs_check 0"
files=${TEST_TMPDIR:-/tmp}/files # runfiles are symbolic links, which --files skips
mkdir -p "$files/sub" && cp -L tests/uswap/*.cc "$files" && cp -L "$trace" "$files/sub"
$demo --files "$files" $common --max-pages 200 >"$out" 2>&1; status=$?
check "--files" 0 "uswap demo: files under $files" "0 wrong" "uswap_check 0, zs_check 0"
sleep 30 &
child=$!
$demo --pid $child $common >"$out" 2>&1; status=$?
kill $child
check "--pid" 0 "uswap demo: process $child" "0 wrong" "uswap_check 0, zs_check 0"
exit $fail
