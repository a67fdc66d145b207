# cli_lib.sh - helpers for the command-line tests of tools/ (sourced).
# The test sets $prog (the binary), $name (how it names itself in its
# messages) and, if its usage text is longer than a line, $usage_lines; failures are counted in $failures, and
# cli_finish ends the test.
tmp=${TEST_TMPDIR:-/tmp}/$name.cli_test.$$
mkdir -p "$tmp"
failures=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# expect_status <status> <args...>: run $prog, keep stdout and stderr.
expect_status() {
	want=$1
	shift
	"$prog" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] || fail "$name $*: exit $got, wanted $want: $(head -3 "$tmp/err")"
}

# A bad argument: exit 2; on stderr only the error naming the argument,
# then the usage; nothing on stdout.
expect_bad() {
	needle=$1
	shift
	expect_status 2 "$@"
	[ "$(wc -l <"$tmp/err")" -eq $((1 + ${usage_lines:-1})) ] ||
		fail "$name $*: stderr is not the error and the usage: $(cat "$tmp/err")"
	head -1 "$tmp/err" | grep -q "^$name: .*$needle" ||
		fail "$name $*: first line does not name '$needle': $(head -1 "$tmp/err")"
	sed -n 2p "$tmp/err" | grep -q "^usage: $name " || fail "$name $*: no usage line"
	[ -s "$tmp/out" ] && fail "$name $*: printed on stdout"
}

cli_finish() {
	rm -rf "$tmp"
	if [ "$failures" -ne 0 ]; then
		echo "$failures failures" >&2
		exit 1
	fi
	echo "all $name command-line checks passed"
}
