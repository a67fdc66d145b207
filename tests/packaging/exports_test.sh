#!/bin/sh
# exports_test.sh - libzsalloc.so and libzsalloc.a export exactly the functions
# the public headers declare, zsalloc.map lists exactly those, and the shared
# library carries its version (soname, symbol versions).
#
# Usage: exports_test.sh LIBZSALLOC.SO.X.Y.Z LIBZSALLOC.A ZSALLOC.MAP HEADER...
#
# "Declared" means: a name zs_*, xv_* or mp_* followed by "(" in a header's
# code, comments removed. Function pointer types (typedef int (*xv_walker)(...))
# do not match; a function-like macro named in lower case would, and fail here.
set -eu

so=$1 archive=$2 map=$3
shift 3
[ $# -gt 0 ] || { echo "no headers given" >&2; exit 1; }
tmp=${TEST_TMPDIR:-/tmp}/exports_test
rm -rf "$tmp" && mkdir -p "$tmp"
failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# compare <what> <list a> <list b> <a only: message> <b only: message>
compare() {
	only_a=$(comm -23 "$2" "$3" | tr '\n' ' ')
	only_b=$(comm -13 "$2" "$3" | tr '\n' ' ')
	[ -z "$only_a" ] || fail "$1: $4: $only_a"
	[ -z "$only_b" ] || fail "$1: $5: $only_b"
	[ -n "$only_a$only_b" ] || echo "ok: $1 ($(wc -l <"$2") functions)"
}

# The headers' code without /* */ and // comments.
strip_comments() {
	awk '{
		line = $0; out = ""
		while (line != "") {
			if (in_comment) {
				i = index(line, "*/")
				if (i == 0) { line = ""; break }
				line = substr(line, i + 2); in_comment = 0
			} else {
				i = index(line, "/*"); j = index(line, "//")
				if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); break }
				if (i == 0) { out = out line; break }
				out = out substr(line, 1, i - 1) " "
				line = substr(line, i + 2); in_comment = 1
			}
		}
		print out
	}' "$@"
}

strip_comments "$@" | grep -oE '(^|[^A-Za-z0-9_])(zs|xv|mp)_[A-Za-z0-9_]*[[:space:]]*\(' |
	sed -E 's/^[^A-Za-z0-9_]//; s/[[:space:]]*\($//' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] || fail "no function found in the headers: $*"

# zsalloc.map: the names of its global: sections ("name;" lines).
sed -n 's/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*$/\1/p' "$map" | sort >"$tmp/mapped"
compare "zsalloc.map lists the public functions" "$tmp/declared" "$tmp/mapped" \
	"declared in a public header, missing from zsalloc.map" \
	"in zsalloc.map, declared in no public header"

# The shared library's dynamic symbols: global, defined, not the version nodes
# themselves (type A); each must carry a ZSALLOC_ version.
nm -D -g --defined-only "$so" | awk '$2 != "A" { print $3 }' | sort >"$tmp/so_versioned"
unversioned=$(grep -v '@@\?ZSALLOC_' "$tmp/so_versioned" | tr '\n' ' ' || true)
[ -z "$unversioned" ] || fail "exported without a ZSALLOC_ version: $unversioned"
sed 's/@.*//' "$tmp/so_versioned" | sort -u >"$tmp/so"
compare "$(basename "$so") exports the public functions" "$tmp/declared" "$tmp/so" \
	"declared in a public header, not exported" \
	"exported, declared in no public header"

# The static archive's global defined symbols.
nm -g --defined-only "$archive" | awk 'NF == 3 { print $3 }' | sort -u >"$tmp/a"
compare "$(basename "$archive") exports the public functions" "$tmp/declared" "$tmp/a" \
	"declared in a public header, not defined" \
	"global, declared in no public header"

# Version: file libzsalloc.so.X.Y.Z, soname libzsalloc.so.X; the library
# needs none of the modules' own shared objects.
version=${so##*/libzsalloc.so.}
case $version in
[0-9]*.[0-9]*.[0-9]*) ;;
*) fail "$so: not named libzsalloc.so.X.Y.Z" ;;
esac
soname=$(readelf -dW "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = "libzsalloc.so.${version%%.*}" ]; then
	echo "ok: soname $soname (file libzsalloc.so.$version)"
else
	fail "soname is '$soname', expected libzsalloc.so.${version%%.*}"
fi
needed=$(readelf -dW "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p' | tr '\n' ' ')
case " $needed" in
*" libmapping"* | *" libxvmalloc"* | *" libzsmalloc"*) fail "needs a module's library: $needed" ;;
*) echo "ok: needs only $needed" ;;
esac

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "PASS"
