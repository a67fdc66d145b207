#!/bin/sh
# bench_cli_test.sh BENCH SMALL_TRACE - the benchmark's command line, end to
# end: bad arguments give exit status 2 with one line naming the argument,
# then the usage; a missing trace is an error naming the file; a --quick run
# on a small trace prints every table as JSON, every figure measured (no
# failed allocation), and the machine's cross-thread round trip.
set -u
prog=$1
trace=$2
name=bench
usage_lines=2
. "$(dirname "$0")/cli_lib.sh"

expect_bad "--bogus" --bogus
expect_bad "--repeat" --repeat
expect_bad "--repeat" --repeat 0
expect_bad "--threads" --threads 0
expect_bad "--threads" --threads 65
expect_bad "--only wants mapping, alloc, latency or large, got 'foo'" --only foo
expect_bad "--only .*got 'foo'" --only alloc,foo
expect_bad "--objects wants 1024..4294967295, got '1x'" --objects 1x
expect_bad "--objects wants 1024..4294967295, got '10'" --objects=10
expect_bad "--op wants pair, read, write or map, got 'frob'" --op frob --allocator malloc
expect_bad "--allocator wants zsmalloc, zsmalloc-scattered, xvmalloc or malloc, got 'tlsf'" --op read --allocator tlsf
expect_bad "--op and --allocator" --op read
expect_bad "'--o' is ambiguous: it could be --only, --objects, --op" --o 5
expect_bad "--json takes no value, got 'yes'" --json=yes
expect_bad "unknown option '--bogus'" --bogus=1
expect_bad "unexpected argument" stray

# getopt_long: --opt=VALUE and unambiguous abbreviations.
expect_status 0 --quick --rep=1 --only=mapping --js
python3 -m json.tool "$tmp/out" >/dev/null || fail "--js (--json) output does not parse"

expect_status 1 --quick --only alloc --trace "$tmp/does-not-exist.trace"
grep -q "does-not-exist" "$tmp/err" || fail "missing trace not named: $(cat "$tmp/err")"

# --op: one kind of operation after a fill, and one line saying so.
expect_status 0 --op read --allocator zsmalloc --objects 1024 --count 500 --trace "$trace"
grep -q "^bench --op read --allocator zsmalloc: 1024 objects, 500 operations" "$tmp/out" ||
	fail "--op line: $(cat "$tmp/out")"
# --op's pools reserve what their population needs, not the machine's
# memory (valgrind refuses a mapping of 64 GiB or more): every allocator
# runs within 8 GiB of address space (a default zsmalloc pool reserves
# twice the machine's memory plus 2 GiB, a default xvmalloc pool once).
# (Not under ASan or TSan: their shadow memory alone needs terabytes.)
limit="ulimit -v 8388608"
[ -n "${ZSALLOC_SANITIZER:-}" ] && limit=true
for a in zsmalloc zsmalloc-scattered xvmalloc malloc; do
	($limit && "$prog" --op map --allocator "$a" --objects 1024 --count 500 \
		--trace "$trace") >"$tmp/out" 2>"$tmp/err" ||
		fail "--op map --allocator $a within 8 GiB of address space: $(head -3 "$tmp/err")"
	grep -q "^bench --op map --allocator $a: 1024 objects" "$tmp/out" ||
		fail "--op $a line: $(cat "$tmp/out")"
done

expect_status 0 --quick --repeat 1 --json --only mapping,alloc --objects 4096 --trace "$trace"
python3 - "$tmp/out" <<'PY' || fail "--json content: $(head -c 300 "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
titles = [t["title"] for t in d["tables"]]
for want in ["mapping:", "alloc+free pairs, steady population",
             "zsmalloc map + unmap", "zs_compact after freeing",
             "alloc+free pairs on one shared pool"]:
    assert any(t.startswith(want) for t in titles), (want, titles)
for t in d["tables"]:
    assert t["rows"], t["title"]
    for r in t["rows"]:
        assert r["ns_per_op"] > 0, (t["title"], r)
rows = [r["name"] for t in d["tables"] for r in t["rows"]]
assert "cache line round trip, 2 threads, before" in rows, rows
for a in ["zsmalloc", "xvmalloc"]:
    assert any(n.startswith(a) for n in rows), (a, rows)
# Where objects are read, written or mapped: both zsmalloc layouts; the
# read table reads them as segments too.
by_title = {t["title"].split(",")[0]: [r["name"] for r in t["rows"]] for t in d["tables"]}
for title in ["read a random object's bytes into a buffer", "write a random object's bytes",
              "map + touch the first and last byte + unmap a random object"]:
    names = by_title[title]
    assert "zsmalloc" in names and "zsmalloc-scattered" in names, (title, names)
assert by_title["read a random object's bytes into a buffer"][-2:] == [
    "zsmalloc, SG read", "zsmalloc-scattered, SG read"], by_title
names = by_title["zsmalloc map + unmap (RO"]
for want in ["straddling object, contiguous, map + unmap",
             "straddling object, scattered, map + unmap",
             "straddling object, scattered, SG read",
             "straddling object, remap map + unmap"]:
    assert want in names, (want, names)
# Issue 17's small working set: a row per allocator, glibc the reference.
small = [t for t in d["tables"] if t["title"].startswith("small working set")]
assert len(small) == 1, titles
assert [r["name"].split(" ")[0] for r in small[0]["rows"]] == [
    "glibc", "zsmalloc", "zsmalloc-scattered", "xvmalloc"], small[0]["rows"]
PY
[ -s "$tmp/err" ] && fail "stderr not empty: $(head -3 "$tmp/err")"

# The latency tables: every operation's percentiles, in order, while
# another thread compacted (and it did: the title counts its calls).
expect_status 0 --quick --only latency --json --trace "$trace"
python3 - "$tmp/out" <<'PY' || fail "latency --json content: $(head -c 400 "$tmp/out")"
import json, re, sys
d = json.load(open(sys.argv[1]))
assert len(d["tables"]) == 4, [t["title"] for t in d["tables"]]
for k, name in enumerate(["zsmalloc", "zsmalloc-scattered"]):
    quiet, busy = d["tables"][2 * k:2 * k + 2]
    assert quiet["title"].startswith("latency, %s pool of" % name), quiet["title"]
    m = re.search(r"zs_compact ran (\d+) times", busy["title"])
    assert m and int(m.group(1)) >= 1, busy["title"]
for t in d["tables"]:
    names = [r["name"].split(" ")[0] for r in t["rows"]]
    assert names == ["map", "read", "write", "alloc", "free"], names
    for r in t["rows"]:
        assert r["count"] > 0, r
        assert 0 < r["p50_ns"] <= r["p99_ns"] <= r["p999_ns"] <= r["max_ns"], r
PY

# The large objects: a read and a write table per size, a row per
# allocator, every zsmalloc row measured (it holds objects up to 64 KiB),
# the read tables with their SG rows; xvmalloc's left out with the reason.
expect_status 0 --quick --repeat 1 --only large --objects 4096 --json --trace "$trace"
python3 - "$tmp/out" <<'PY' || fail "large --json content: $(head -c 400 "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
titles = [t["title"] for t in d["tables"]]
assert [t.split(",")[0] for t in titles] == ["read a random 16 KiB object",
    "write a random 16 KiB object", "read a random 64 KiB object",
    "write a random 64 KiB object"], titles
for t in d["tables"]:
    rows = {r["name"]: r for r in t["rows"]}
    want = ["zsmalloc", "zsmalloc-scattered"]
    if t["title"].startswith("read"):
        want += ["zsmalloc, SG read", "zsmalloc-scattered, SG read"]
    assert t["rows"][0]["name"].startswith("glibc") and t["rows"][0]["ns_per_op"] > 0, t
    for name in want:
        assert rows[name]["ns_per_op"] is not None and rows[name]["ns_per_op"] > 0, (t["title"], rows)
    assert len(t["rows"]) == len(want) + 2, t["rows"]
    xv = t["rows"][-1]
    assert xv["name"].startswith("xvmalloc") and xv["ns_per_op"] is None, xv
PY

cli_finish
