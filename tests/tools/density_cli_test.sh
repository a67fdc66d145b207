#!/bin/sh
# density_cli_test.sh DENSITY SMALL_TRACE - the command line, end to end:
# a run on a small trace verifies every object; --json parses and --csv has
# a row per phase and allocator; --save-trace round-trips; bad arguments
# give exit status 2 with one line naming the argument, then the usage.
set -u
prog=$1
trace=$2
name=density
. "$(dirname "$0")/cli_lib.sh"

expect_bad "--objects" --objects
expect_bad "--objects" --objects abc --trace "$trace"
expect_bad "--objects" --objects 0 --trace "$trace"
expect_bad "--churn" --churn 1x --trace "$trace"
expect_bad "--allocators: unknown allocator 'tlsf'" --allocators zsmalloc,tlsf
expect_bad "--allocators" --allocators ""
expect_bad "--frobnicate" --frobnicate
expect_bad "--pid" --pid -3
expect_bad "--files" --files
expect_bad "--csv and --json" --csv --json
expect_bad "stray" stray
expect_bad "--objects: 'abc' is not a count" --objects=abc --trace "$trace"
expect_bad "--objects: must be at least 1, got 0" --obj=0 --trace "$trace"
expect_bad "'--s' is ambiguous: it could be --save-trace, --svg, --seed" --s 5
expect_bad "--json takes no value, got '1'" --json=1
expect_bad "unknown option '-x'" -x
expect_bad "--seed: missing value" --trace "$trace" --seed
expect_bad "--block: wants 4K, 16K, 64K .* got '3K'" --block 3K
expect_bad "--block: wants .* got '128K'" --block=128K
expect_bad "--block: wants .* got 'huge'" --block 16K,huge

expect_status 0 --help
grep -q -- "--allocators" "$tmp/out" || fail "--help does not list --allocators"
grep -q "zbud" "$tmp/out" || fail "--help does not list the allocators"

# A missing input file is an error (1), not a usage error.
expect_status 1 --trace "$tmp/does-not-exist.trace"
grep -q "does-not-exist" "$tmp/err" || fail "missing trace not named"
printf '100\nbanana\n' >"$tmp/bad.trace"
expect_status 1 --trace "$tmp/bad.trace"
grep -q "bad.trace:2:" "$tmp/err" || fail "bad trace line not named: $(cat "$tmp/err")"

# The whole run on a small trace: tables for every phase, every allocator,
# everything verified.
expect_status 0 --trace "$trace" --quiet --svg "$tmp/out.svg"
for phase in "after fill" "after churn" "after discarding half" "after compaction"; do
	grep -q "^$phase:" "$tmp/out" || fail "no table '$phase'"
done
for a in ideal zsmalloc zsmalloc-remap xvmalloc malloc slub slob zbud; do
	grep -q "^  $a" "$tmp/out" || grep -q "^  .*$a" "$tmp/out" || fail "no row for $a"
done
[ "$(grep -c '^  single-page bound .* offline' "$tmp/out")" -eq 4 ] ||
	fail "not 4 'single-page bound' rows: $(grep bound "$tmp/out")"
[ "$(grep -c '^  verified [0-9,]* objects in each of 8 allocators' "$tmp/out")" -eq 4 ] ||
	fail "not 4 'verified' lines: $(grep verified "$tmp/out")"
[ -s "$tmp/err" ] && fail "stderr not empty with --quiet: $(cat "$tmp/err")"
grep -q '<svg' "$tmp/out.svg" && grep -q '</svg>' "$tmp/out.svg" || fail "no SVG"
python3 -c "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" "$tmp/out.svg" ||
	fail "SVG is not well-formed XML"

# --json parses, has every phase and allocator, and verified everything
# (the options given as --opt=VALUE and abbreviated, as getopt_long takes them).
expect_status 0 --trace="$trace" --json --alloc slub,zbud --objects=2k --ch 500
python3 -m json.tool "$tmp/out" >/dev/null || fail "--json output does not parse"
python3 - "$tmp/out" <<'PY' || fail "--json content"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tool"] == "density" and d["workload"]["objects"] == 2000, d["workload"]
assert [p["phase"] for p in d["phases"]] == ["fill", "churn", "discard", "compact"]
for p in d["phases"]:
    assert [a["name"] for a in p["allocators"]] == ["slub", "zbud"], p
    for a in p["allocators"]:
        assert a["verified"] == p["objects"] and a["mismatches"] == 0, a
        assert a["bytes_used"] >= p["live_bytes"], a
assert d["phases"][3]["objects"] == 1000
assert d["errors"] == []
PY

# The single-page packing bound: a row of every phase's table, and in the
# JSON at or below every single-page allocator, the volume floor below it.
expect_status 0 --trace "$trace" --json --allocators xvmalloc,zbud,slub
python3 - "$tmp/out" <<'PY' || fail "--json single_page_bound"
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["phases"]:
    b = p["single_page_bound"]
    assert b and b["floor_pct_ideal"] <= b["pct_ideal"], b
    assert b["pages"] * d["workload"]["page_size"] >= p["live_bytes"], (b, p["live_bytes"])
    for a in p["allocators"]:
        assert a["account_pct_ideal"] >= b["floor_pct_ideal"], (a["name"], a, b)
        assert a["pages"] >= b["floor_pages"], (a["name"], a, b)
PY

# --csv: a header and one row per phase and allocator (plus ideal).
expect_status 0 --trace "$trace" --csv --allocators zbud,malloc
head -1 "$tmp/out" | grep -q '^phase,allocator,objects,live_bytes,bytes_used,pct_ideal' ||
	fail "CSV header: $(head -1 "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 17 ] || fail "CSV has $(wc -l <"$tmp/out") lines, wanted 17"
[ "$(grep -c '^[a-z]*,single-page bound,' "$tmp/out")" -eq 4 ] || fail "CSV has no bound rows"

# --save-trace writes what was read; reading it back gives the same pages.
expect_status 0 --trace "$trace" --save-trace "$tmp/saved.trace" --allocators slub --quiet
grep -q "^# source: small.trace" "$tmp/saved.trace" || fail "saved trace has no source line"
[ "$(grep -vc '^#' "$tmp/saved.trace")" -eq "$(grep -v '^#' "$trace" | grep -c '[0-9Ss]')" ] ||
	fail "saved trace has another number of pages"
expect_status 0 --trace "$tmp/saved.trace" --allocators slub --quiet
grep -q "verified" "$tmp/out" || fail "saved trace does not run"

# --block 16K on the small trace: 16 KiB blocks compressed as one object
# each, stored in every allocator that holds them and verified after every
# phase; the single-page allocators left out with a note saying why.
expect_status 0 --trace "$trace" --block 16K --quiet
grep -q "^  blocks of 16 KiB: 4 consecutive pages" "$tmp/out" || fail "--block 16K: no block line"
grep -q "^  LZ4: [0-9,]* blocks stored, mean [0-9,]* B, ratio" "$tmp/out" || fail "--block 16K: no ratio"
for a in xvmalloc zbud; do
	grep -q "^  $a: left out: refuses the largest object of these 16 KiB blocks, [0-9,]* bytes (ENOSPC" "$tmp/out" ||
		fail "--block 16K: $a not left out with a note"
done
# zsmalloc holds objects up to 64 KiB: all three of its drivers run.
for a in zsmalloc zsmalloc-scattered zsmalloc-remap; do
	grep -q "^  $a: left out" "$tmp/out" && fail "--block 16K: $a left out"
	[ "$(grep -c "^  $a  *[0-9.]* [KMG]iB  *[0-9.]* %  *resident " "$tmp/out")" -eq 4 ] ||
		fail "--block 16K: $a has not a resident row in every phase"
done
v=$(grep "^  verified" "$tmp/out" | sed -n 1p | sed 's/.*each of \([0-9]*\) allocators/\1/')
[ "$(grep -c "^  verified [0-9,]* objects in each of $v allocators" "$tmp/out")" -eq 4 ] ||
	fail "--block 16K: not verified after every phase: $(grep verified "$tmp/out")"
[ "$v" -ge 3 ] || fail "--block 16K: only $v allocators ran"
grep -q "^  single-page bound " "$tmp/out" &&
	fail "--block 16K: a single-page bound for objects above a page"

# --block all: one run per size on the same input, then the table that
# compares them; in JSON one document per size, each verified.
expect_status 0 --trace "$trace" --block all --quiet --allocators malloc,slub,xvmalloc
grep -q "^block sizes on the same input" "$tmp/out" || fail "--block all: no comparison table"
grep -q "^  block  *4 KiB  *16 KiB  *64 KiB$" "$tmp/out" || fail "--block all: columns: $(grep '^  block ' "$tmp/out")"
grep -q "^  xvmalloc  *[0-9.]* / [0-9.]* %  *left out  *left out$" "$tmp/out" ||
	fail "--block all: xvmalloc row: $(grep '^  xvmalloc' "$tmp/out" | tail -1)"
expect_status 0 --trace "$trace" --block 4K,64K --json --allocators slob,zbud
python3 - "$tmp/out" <<'PY' || fail "--block --json"
import json, sys
d = json.load(open(sys.argv[1]))
runs = d["runs"]
assert [r["workload"]["block_size"] for r in runs] == [4096, 65536], runs
assert runs[0]["left_out"] == [] and [a["name"] for a in runs[1]["left_out"]] == ["zbud"]
for r in runs:
    for p in r["phases"]:
        for a in p["allocators"]:
            assert a["verified"] == p["objects"] and a["mismatches"] == 0, a
assert runs[1]["phases"][0]["single_page_bound"] is None
PY
expect_status 0 --files "$trace" "$tmp/saved.trace" --block 16K --allocators malloc,slob --quiet
grep -q "verified" "$tmp/out" || fail "--files --block 16K did not verify"

# --files reads files (the trace itself, as data) and --max-pages stops.
expect_status 0 --files "$trace" "$tmp/saved.trace" --allocators slob --quiet
grep -q "verified" "$tmp/out" || fail "--files run did not verify"

cli_finish
