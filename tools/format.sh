#!/bin/sh
# tools/format.sh - the C layout of the tree (.clang-format), checked or applied.
#
# Usage: tools/format.sh [--fix | --diff] [PATH...]
#   (none)   check: name every file whose layout differs; exit 1 if any does
#   --fix    rewrite those files in place (the mechanical reformat)
#   --diff   check, and show each difference as a unified diff
#   PATH     folders or files to cover instead of $covered below
#
# A file's layout is clang-format 14's output (.clang-format at the root),
# then one step clang-format leaves undone: the continuation lines of a
# trailing comment that spans lines follow its opening `/*` to where
# clang-format aligned it, so that they stay under the comment's first word:
#
#	uint32_t stamp;   /* first: when it was last
#			     cached (or made) */
#
# Covered: the tracked *.c, *.h and *.cc files under $covered. Run from
# anywhere; paths are relative to the checkout root. CLANG_FORMAT names the
# binary (default: clang-format-14 if present, else clang-format; Debian's
# package is clang-format, which ./bazelw installs with ZSALLOC_WANT_FORMAT=1).
#
# Exit status: 0 all files match, 1 some differ (or clang-format failed on
# one), 2 usage error or no clang-format.
set -u
cd "$(dirname "$0")/.." || exit 2

# tests/ joins once its conversion to this layout is merged: add it here.
covered="examples mapping tests tools xvmalloc zsmalloc"

mode=check
while [ $# -gt 0 ]; do
	case "$1" in
	--fix) mode=fix ;;
	--diff) mode="diff" ;;
	-h | --help)
		sed -n '2,/^set -u/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
		exit 0
		;;
	--) shift; break ;;
	-*)
		echo "tools/format.sh: unknown option $1 (see --help)" >&2
		exit 2
		;;
	*) break ;;
	esac
	shift
done
[ $# -gt 0 ] && covered="$*"

if [ -z "${CLANG_FORMAT:-}" ]; then
	CLANG_FORMAT=clang-format
	command -v clang-format-14 >/dev/null 2>&1 && CLANG_FORMAT=clang-format-14
fi
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
	echo "tools/format.sh: no $CLANG_FORMAT: apt-get install clang-format" \
		"(or ZSALLOC_WANT_FORMAT=1 ./bazelw ...)" >&2
	exit 2
fi
version=$("$CLANG_FORMAT" --version | sed -n 's/.*version \([0-9][0-9]*\).*/\1/p')
if [ "$version" != 14 ]; then
	echo "tools/format.sh: $CLANG_FORMAT is version ${version:-unknown}; the layout" \
		"is clang-format 14's, other versions may disagree with it" >&2
fi

# Continuation lines of a trailing block comment (one opened after code and
# closed on a later line): shifted together so that the least indented one
# starts 3 columns past the `/*`, under the comment's first word. Leading
# whitespace is rebuilt as tabs, then spaces (tab stops of 8).
# shellcheck disable=SC2016 # awk's $0 and friends, not the shell's
realign='
function col(s,    i, c) {
	c = 0
	for (i = 1; i <= length(s); i++)
		c = substr(s, i, 1) == "\t" ? int(c / 8) * 8 + 8 : c + 1
	return c
}
function lead(n,    s) {
	s = ""
	for (; n >= 8; n -= 8)
		s = s "\t"
	for (; n > 0; n--)
		s = s " "
	return s
}
function flush(    k, ws, m, d) {
	m = -1
	for (k = 1; k <= np; k++)
		if (pend[k] ~ /[^ \t]/) {
			match(pend[k], /^[ \t]*/)
			ws = col(substr(pend[k], 1, RLENGTH))
			if (m < 0 || ws < m)
				m = ws
		}
	d = m < 0 ? 0 : target - m
	for (k = 1; k <= np; k++) {
		if (d != 0 && pend[k] ~ /[^ \t]/) {
			match(pend[k], /^[ \t]*/)
			pend[k] = lead(col(substr(pend[k], 1, RLENGTH)) + d) substr(pend[k], RLENGTH + 1)
		}
		print pend[k]
	}
	np = 0
}
{
	line = $0
	n = length(line)
	code = 0
	quote = ""
	was_in = incomment
	for (i = 1; i <= n; i++) {
		ch = substr(line, i, 1)
		if (incomment) {
			if (substr(line, i, 2) == "*/") {
				incomment = 0
				i++
			}
			continue
		}
		if (quote != "") {
			if (ch == "\\")
				i++
			else if (ch == quote)
				quote = ""
			continue
		}
		if (substr(line, i, 2) == "//")
			break
		if (substr(line, i, 2) == "/*") {
			incomment = 1
			opened = i
			after_code = code
			i++
			continue
		}
		if (ch == "\"" || ch == "\047")
			quote = ch
		if (ch != " " && ch != "\t")
			code = 1
	}
	if (collecting) {
		pend[++np] = line
		if (!incomment) {
			collecting = 0
			flush()
		}
		next
	}
	print line
	if (incomment && after_code && !was_in) {
		collecting = 1
		target = col(substr(line, 1, opened - 1)) + 3
	}
}
END {
	if (np)
		for (k = 1; k <= np; k++)
			print pend[k]
}'

list=$(mktemp)
raw=$(mktemp)
want=$(mktemp)
trap 'rm -f "$list" "$raw" "$want"' EXIT
for p in $covered; do
	p=${p%/}
	if [ -f "$p" ]; then
		echo "$p"
	elif git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -- "$p/*.c" "$p/*.h" "$p/*.cc"
	else
		find "$p" -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) | sort
	fi
done >"$list"

total=0
bad=0
failed=0
while IFS= read -r f; do
	total=$((total + 1))
	if ! "$CLANG_FORMAT" --style=file "$f" >"$raw" 2>&1 ||
		! awk "$realign" "$raw" >"$want"; then
		cat "$raw" >&2
		echo "tools/format.sh: $f: clang-format failed" >&2
		failed=$((failed + 1))
		continue
	fi
	cmp -s "$want" "$f" && continue
	bad=$((bad + 1))
	case $mode in
	fix)
		cat "$want" >"$f" # keeps the file's mode
		echo "formatted $f"
		;;
	diff) diff -u "$f" "$want" | sed "2s|$want|$f (formatted)|" ;;
	check) echo "$f" ;;
	esac
done <"$list"

if [ "$total" -eq 0 ]; then
	echo "tools/format.sh: no C files under: $covered" >&2
	exit 2
fi
[ "$failed" -eq 0 ] || exit 1
if [ "$mode" = fix ]; then
	echo "tools/format.sh: $bad of $total files formatted" >&2
	exit 0
fi
if [ "$bad" -ne 0 ]; then
	echo "tools/format.sh: $bad of $total files differ from .clang-format;" \
		"tools/format.sh --fix rewrites them (--diff shows how)" >&2
	exit 1
fi
echo "tools/format.sh: $total files match .clang-format" >&2
