#!/bin/sh
# consumer_test.sh - another Bazel workspace depends on this one, as a user's
# would: local_repository(name = "zsalloc", path = <this workspace>) and
# cc_binary deps on @zsalloc//zsmalloc, @zsalloc//xvmalloc and @zsalloc//:zsalloc,
# sources that #include "zsmalloc/zsmalloc.h"; and the same from a release-like
# archive of the workspace through http_archive (file:// URL, strip_prefix).
# It builds that workspace with a nested Bazel and runs the programs.
#
# Usage: consumer_test.sh   (from Bazel: it finds this workspace through its
# own source file, and needs /usr/bin/bazel)
#
# The nested Bazel is a separate, one-shot (--batch) Bazel with its output
# under TEST_TMPDIR and local spawns (no sandbox inside the test's sandbox).
# Bazel's install base is Debian's pre-extracted /usr/share/bazel (from
# /etc/bazel/bazelrc), so the cost is a JVM start, loading, and compiling the
# library's sources once more.
set -eu

bazel=/usr/bin/bazel
[ -x "$bazel" ] || { echo "FAIL: no $bazel (Debian's bazel-bootstrap)" >&2; exit 1; }

# This workspace: where this script's source lives, ../.. from it.
self=$(readlink -f "$0")
ws=${self%/tests/packaging/consumer_test.sh}
if [ "$ws" = "$self" ] || ! grep -q 'workspace(name = "zsalloc")' "$ws/WORKSPACE"; then
	echo "FAIL: cannot find the zsalloc workspace from $self" >&2
	exit 1
fi
echo "zsalloc workspace: $ws"

tmp=${TEST_TMPDIR:?}/consumer_test
rm -rf "$tmp"
mkdir -p "$tmp/consumer" "$tmp/home" "$tmp/archive"

# The archive: the source tree under one top directory, as a release tarball
# would hold it (no .git, no bazel-* links; symbolic links followed).
ln -s "$ws" "$tmp/archive/zsalloc-src"
tar -C "$tmp/archive" -chzf "$tmp/archive/zsalloc-src.tar.gz" \
	--exclude-vcs --exclude='zsalloc-src/bazel-*' zsalloc-src
cd "$tmp/consumer"

# What any workspace that uses zsalloc offline needs: the repositories that
# Bazel 4.2.3's WORKSPACE suffix would download, from local paths, as in
# zsalloc's own WORKSPACE (see its third_party/README.md).
cat >WORKSPACE <<EOF
workspace(name = "consumer")

local_repository(
    name = "zsalloc",
    path = "$ws",
)

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_archive")

http_archive(
    name = "zsalloc_archive",
    strip_prefix = "zsalloc-src",
    urls = ["file://$tmp/archive/zsalloc-src.tar.gz"],
)

local_repository(name = "platforms", path = "/usr/share/bazel/tools/platforms")
local_repository(name = "rules_java", path = "/usr/share/bazel/rules/java")
local_repository(name = "rules_proto", path = "/usr/share/bazel/rules/proto")
local_repository(name = "rules_cc", path = "$ws/third_party/rules_cc")
local_repository(name = "remote_coverage_tools", path = "$ws/third_party/remote_coverage_tools")
EOF

cat >BUILD <<'EOF'
cc_binary(
    name = "consumer",
    srcs = ["consumer.c"],
    copts = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"],
    deps = [
        "@zsalloc//xvmalloc",
        "@zsalloc//zsmalloc",
    ],
)

# The same program against the one library of all modules.
cc_binary(
    name = "consumer_all",
    srcs = ["consumer.c"],
    copts = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"],
    deps = ["@zsalloc//:zsalloc"],
)

# The same program, zsalloc from the archive.
cc_binary(
    name = "consumer_archive",
    srcs = ["consumer.c"],
    copts = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"],
    deps = [
        "@zsalloc_archive//xvmalloc",
        "@zsalloc_archive//zsmalloc",
    ],
)
EOF

cat >consumer.c <<'EOF'
#include <stdio.h>
#include <string.h>

#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

static const char msg[] = "stored through @zsalloc";

static int use_zsmalloc(struct zs_pool *zs)
{
	char buf[sizeof msg];
	zs_handle h = zs_malloc(zs, sizeof msg, 0);
	if (!h || zs_obj_write(zs, h, msg, sizeof msg) != 0)
		return 0;
	const void *p = zs_obj_read_begin(zs, h, sizeof msg, buf);
	if (!p)
		return 0;
	int same = memcmp(p, msg, sizeof msg) == 0;
	return zs_obj_read_end(zs, h, p) == 0 && same && zs_free(zs, h) == 0;
}

static int use_xvmalloc(struct xv_pool *xv)
{
	uint32_t pfn, offset;
	if (xv_malloc(xv, sizeof msg, &pfn, &offset, 0) != 0)
		return 0;
	char *x = xv_map(xv, pfn, offset);
	if (x)
		memcpy(x, msg, sizeof msg);
	return x && xv_free(xv, pfn, offset) == 0;
}

int main(void)
{
	struct zs_pool *zs = zs_create_pool("consumer");
	struct xv_pool *xv = xv_create_pool();
	int ok = zs && xv && use_zsmalloc(zs) && use_xvmalloc(xv);
	zs_destroy_pool(zs);
	xv_destroy_pool(xv);
	printf("consumer: %s\n", ok ? "zsmalloc and xvmalloc work" : "FAILED");
	return !ok;
}
EOF

export HOME="$tmp/home"
status=0
"$bazel" --batch --output_user_root="$tmp/root" --output_base="$tmp/base" \
	build --spawn_strategy=local --nosandbox_debug --color=no --curses=no \
	--noshow_progress //:consumer //:consumer_all //:consumer_archive >"$tmp/build.log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
	cat "$tmp/build.log" >&2
	echo "FAIL: bazel build in the consumer workspace exited $status" >&2
	exit 1
fi
grep -E 'Elapsed time|processes' "$tmp/build.log" || true

for prog in consumer consumer_all consumer_archive; do
	out=$("$tmp/base/execroot/consumer/bazel-out/k8-fastbuild/bin/$prog")
	echo "$prog: $out"
	[ "$out" = "consumer: zsmalloc and xvmalloc work" ] || { echo "FAIL: $prog" >&2; exit 1; }
done
echo "PASS"
