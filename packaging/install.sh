#!/bin/sh
# install.sh - install zsalloc under a prefix; what //:install runs:
#
#   ./bazelw run //:install -- PREFIX
#
#   PREFIX/include/zsalloc/mapping/mapping.h     the public headers, included
#   PREFIX/include/zsalloc/xvmalloc/xvmalloc.h   as in the source tree:
#   PREFIX/include/zsalloc/zsmalloc/zsmalloc.h   #include "zsmalloc/zsmalloc.h"
#   PREFIX/lib/libzsalloc.so.X.Y.Z               the shared library
#   PREFIX/lib/libzsalloc.so.X -> ...so.X.Y.Z    its soname (what programs load)
#   PREFIX/lib/libzsalloc.so -> libzsalloc.so.X  what `cc -lzsalloc` finds
#   PREFIX/lib/libzsalloc.a                      the static library
#   PREFIX/lib/pkgconfig/zsalloc.pc              Cflags: -I${includedir}/zsalloc
#
# A relative PREFIX is taken from the directory `bazel run` was started in
# (BUILD_WORKING_DIRECTORY), else from the current one. It writes only those
# files under PREFIX (replacing them: a running program keeps the old
# library), so it needs root only when PREFIX does. What it installs is its
# own runfiles (see //:install), found next to it.
set -eu

me=install
usage() {
	echo "usage: ./bazelw run //:install -- PREFIX   (e.g. \"\$HOME/.local\")" >&2
	exit 2
}
die() {
	echo "$me: $*" >&2
	exit 1
}

if [ $# -ne 1 ] || [ -z "$1" ]; then
	usage
fi
prefix=$1
case $prefix in
*[[:space:]]*)
	echo "$me: PREFIX must not contain white space: pkg-config's output cannot carry it" >&2
	exit 2
	;;
/*) ;;
*) prefix=${BUILD_WORKING_DIRECTORY:-$(pwd)}/$prefix ;;
esac

# The files to install: this script's runfiles, in <script>.runfiles under
# `bazel run`, or in RUNFILES_DIR / TEST_SRCDIR when another target runs it.
root=
for dir in "$0.runfiles" "${RUNFILES_DIR:-}" "${TEST_SRCDIR:-}"; do
	if [ -n "$dir" ] && [ -f "$dir/zsalloc/zsalloc.pc.in" ]; then
		root=$dir/zsalloc
		break
	fi
done
[ -n "$root" ] || die "cannot find the files to install; run: ./bazelw run //:install -- PREFIX"

# The version comes from the shared library's name (version.bzl sets both).
set -- "$root"/lib/libzsalloc.so.*.*.*
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
	die "expected one lib/libzsalloc.so.X.Y.Z in $root, found: $*"
fi
so=$1
version=${so##*/libzsalloc.so.}
soversion=${version%%.*}

mkdir -p "$prefix/include/zsalloc" "$prefix/lib/pkgconfig"
prefix=$(cd "$prefix" && pwd) # absolute, without "." or ".." parts

put() { # put <mode> <source> <destination under prefix>
	mkdir -p "$(dirname "$prefix/$3")"
	rm -f "$prefix/$3"
	cp "$2" "$prefix/$3"
	chmod "$1" "$prefix/$3"
	echo "  $3"
}
link() { # link <target> <link name under prefix>
	rm -f "$prefix/$2"
	ln -s "$1" "$prefix/$2"
	echo "  $2 -> $1"
}

echo "zsalloc $version -> $prefix:"
# The runfiles hold exactly the public headers (//:public_headers), each at
# its path in the source tree.
headers=$(cd "$root" && find . -path ./external -prune -o -name '*.h' -print | sed 's|^\./||' | sort)
[ -n "$headers" ] || die "no headers in $root"
for h in $headers; do
	put 644 "$root/$h" "include/zsalloc/$h"
done
put 755 "$so" "lib/libzsalloc.so.$version"
link "libzsalloc.so.$version" "lib/libzsalloc.so.$soversion"
link "libzsalloc.so.$soversion" "lib/libzsalloc.so"
put 644 "$root/lib/libzsalloc.a" "lib/libzsalloc.a"

# zsalloc.pc: the template without its comments, with the real prefix (escaped
# for sed's replacement text) and version.
pc=$prefix/lib/pkgconfig/zsalloc.pc
escaped=$(printf '%s\n' "$prefix" | sed 's/[\\&|]/\\&/g')
sed -e '/^#/d' -e "s|@PREFIX@|$escaped|g" -e "s|@VERSION@|$version|g" \
	"$root/zsalloc.pc.in" >"$pc.tmp"
mv -f "$pc.tmp" "$pc"
chmod 644 "$pc"
echo "  lib/pkgconfig/zsalloc.pc"

echo "build with: cc prog.c \$(pkg-config --cflags --libs zsalloc)"
echo "  (PKG_CONFIG_PATH=$prefix/lib/pkgconfig, unless pkg-config already looks there;"
echo "   to run: LD_LIBRARY_PATH=$prefix/lib, unless the loader already looks there)"
