#!/bin/sh
# install_test.sh - //:install into a temporary prefix, then plain C programs
# built against it the way users do: the README example with
# `cc store_page.c $(pkg-config --cflags --libs zsalloc liblz4)`, linked to the
# shared library and to the static one, and a program that defines functions
# named like the library's internals (which must not clash or interpose).
#
# Usage: install_test.sh INSTALL STORE_PAGE.C HEADER...
# Needs cc, pkg-config (Debian's pkg-config; bazelw installs it), readelf.
set -eu

install=$1 example=$2
shift 2
tmp=${TEST_TMPDIR:?}/install_test
rm -rf "$tmp" && mkdir -p "$tmp/cwd"
step() { echo "--- $*"; }
die() {
	echo "FAIL: $*" >&2
	exit 1
}

step "no PREFIX: usage, exit 2"
status=0
"$install" "" >"$tmp/out" 2>&1 || status=$?
if [ "$status" -ne 2 ] || ! grep -q '^usage: ' "$tmp/out"; then
	die "exit $status: $(cat "$tmp/out")"
fi

step "relative PREFIX, taken from BUILD_WORKING_DIRECTORY"
BUILD_WORKING_DIRECTORY=$tmp/cwd "$install" some/prefix
prefix=$tmp/cwd/some/prefix
lib=$prefix/lib

step "installed files"
n=0
for h in "$@"; do # the public headers, at their source tree paths
	cmp "$h" "$prefix/include/zsalloc/$h" || die "$h not installed as include/zsalloc/$h"
	n=$((n + 1))
done
[ "$(find "$prefix/include" -type f | wc -l)" -eq "$n" ] ||
	die "include/ holds other files than the $n public headers: $(find "$prefix/include" -type f)"
set -- "$lib"/libzsalloc.so.*.*.*
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	die "no single lib/libzsalloc.so.X.Y.Z: $*"
fi
version=${1##*/libzsalloc.so.}
major=${version%%.*}
[ "$(readlink "$lib/libzsalloc.so.$major")" = "libzsalloc.so.$version" ] || die "libzsalloc.so.$major link"
[ "$(readlink "$lib/libzsalloc.so")" = "libzsalloc.so.$major" ] || die "libzsalloc.so link"
[ -f "$lib/libzsalloc.a" ] || die "no lib/libzsalloc.a"

step "pkg-config"
export PKG_CONFIG_PATH="$lib/pkgconfig"
[ "$(pkg-config --modversion zsalloc)" = "$version" ] || die "pkg-config --modversion: $(pkg-config --modversion zsalloc)"
[ "$(pkg-config --variable=prefix zsalloc)" = "$prefix" ] || die "prefix=$(pkg-config --variable=prefix zsalloc)"
cflags=$(pkg-config --cflags zsalloc | sed "s/[[:space:]]*$//") # pkgconf adds a space
libs=$(pkg-config --libs zsalloc | sed "s/[[:space:]]*$//")
echo "cflags: $cflags"
echo "libs:   $libs"
[ "$cflags" = "-I$prefix/include/zsalloc" ] || die "--cflags: $cflags"

# A library built under a sanitizer (--config=asan, ...) needs its runtime in
# the program too.
san=
nm -D "$lib/libzsalloc.so" | grep -q ' U __asan_' && san="$san -fsanitize=address"
nm -D "$lib/libzsalloc.so" | grep -q ' U __ubsan_' && san="$san -fsanitize=undefined"
nm -D "$lib/libzsalloc.so" | grep -q ' U __tsan_' && san="$san -fsanitize=thread"
[ -z "$san" ] || echo "sanitized library: adding$san"
cc_c11() { # cc_c11 <output> <source> <flags...>
	out=$1 src=$2
	shift 2
	# shellcheck disable=SC2086 # $san is a list of flags
	cc -std=c11 -Wall -Wextra -Werror -o "$out" "$src" "$@" $san
}

step "the README example, shared: cc store_page.c \$(pkg-config --cflags --libs zsalloc liblz4)"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
cc_c11 "$tmp/store_page" "$example" $(pkg-config --cflags --libs zsalloc liblz4)
readelf -dW "$tmp/store_page" | grep -q "NEEDED.*\[libzsalloc.so.$major\]" || die "store_page does not load libzsalloc.so.$major"
LD_LIBRARY_PATH=$lib "$tmp/store_page" >"$tmp/out" || die "store_page failed"
cat "$tmp/out"
grep -q 'read it back intact' "$tmp/out" || die "unexpected output"

step "the README example, static: libzsalloc.a and pkg-config --static's other flags"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
cc_c11 "$tmp/store_page_static" "$example" $(pkg-config --cflags zsalloc liblz4) \
	"$lib/libzsalloc.a" $(pkg-config --static --libs-only-other zsalloc) $(pkg-config --libs liblz4)
if readelf -dW "$tmp/store_page_static" | grep -q 'NEEDED.*libzsalloc'; then
	die "store_page_static loads libzsalloc.so"
fi
"$tmp/store_page_static" | grep 'read it back intact' || die "store_page_static failed"

# Functions named like internal ones of the library, each aborting: had the
# library exported them, the static link would fail (multiple definitions) and
# the shared one would call these instead of its own.
cat >"$tmp/clash.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>

#include "mapping/mapping.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

#define INTERNAL(name) void name(void); void name(void) { abort(); }
INTERNAL(os_page_size)
INTERNAL(os_memfd_create)
INTERNAL(os_reserve)
INTERNAL(tlsf_malloc_locked)
INTERNAL(owners_set)
INTERNAL(zs_slot_alloc)
INTERNAL(zs_zspage_create)
INTERNAL(zs_table_add_chunk)
INTERNAL(zs_class_lock_slow)

int main(void)
{
	struct zs_pool *zs = zs_create_pool("clash");
	struct xv_pool *xv = xv_create_pool();
	uint32_t pfn, offset;
	zs_handle h = zs ? zs_malloc(zs, 100, 0) : 0;
	int ok = h && zs_free(zs, h) == 0 && xv &&
		 xv_malloc(xv, 100, &pfn, &offset, 0) == 0 && xv_free(xv, pfn, offset) == 0;
	zs_destroy_pool(zs);
	xv_destroy_pool(xv);
	puts(ok ? "no clash" : "clash: allocation failed");
	return !ok;
}
EOF
step "internal names stay internal: shared"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
cc_c11 "$tmp/clash" "$tmp/clash.c" $(pkg-config --cflags --libs zsalloc)
LD_LIBRARY_PATH=$lib "$tmp/clash" || die "clash (shared) failed"
step "internal names stay internal: static"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
cc_c11 "$tmp/clash_static" "$tmp/clash.c" $(pkg-config --cflags zsalloc) \
	"$lib/libzsalloc.a" $(pkg-config --static --libs-only-other zsalloc)
"$tmp/clash_static" || die "clash (static) failed"

step "install again over the first install (read-only files from Bazel)"
"$install" "$prefix" >/dev/null
LD_LIBRARY_PATH=$lib "$tmp/store_page" >/dev/null || die "store_page after reinstall failed"

echo "PASS"
