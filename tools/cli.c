/* cli.c - counts and getopt_long's failures for the tools (see cli.h). */
#include "tools/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cli_parse_count(const char *s, uint64_t *v)
{
	uint64_t x = 0, mul = 1;
	const char *p = s;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -1;
	if (!strcmp(p, "k") || !strcmp(p, "K"))
		mul = 1000;
	else if (!strcmp(p, "M"))
		mul = 1000000;
	else if (!strcmp(p, "Ki"))
		mul = 1024;
	else if (!strcmp(p, "Mi"))
		mul = 1024 * 1024;
	else if (*p)
		return -1;
	if (x > UINT64_MAX / mul)
		return -1;
	*v = x * mul;
	return 0;
}

int cli_fail(int status, const char *prog, void (*usage)(FILE *f), const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return status;
}

/* The long options whose names start with the @len bytes of @name. */
static int prefix_matches(const struct option *o, const char *name, size_t len,
			  const struct option **exact)
{
	int n = 0;

	*exact = NULL;
	for (; o->name; o++) {
		if (strncmp(o->name, name, len))
			continue;
		if (strlen(o->name) == len)
			*exact = o;
		n++;
	}
	return n;
}

static void print_candidates(const struct option *o, const char *name, size_t len)
{
	const char *sep = "";

	for (; o->name; o++)
		if (!strncmp(o->name, name, len)) {
			fprintf(stderr, "%s--%s", sep, o->name);
			sep = ", ";
		}
}

int cli_getopt(const char *prog, void (*usage)(FILE *f), int argc, char *const argv[],
	       const char *optstring, const struct option *longopts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, optstring, longopts, NULL);
	if (c == '?' || c == ':') {
		cli_getopt_error(prog, longopts, argv);
		usage(stderr);
		return '?';
	}
	return c;
}

void cli_getopt_error(const char *prog, const struct option *longopts, char *const argv[])
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const struct option *exact, *one = NULL;
	const char *name, *eq;
	size_t len;
	int n;

	if (strncmp(arg, "--", 2)) {
		fprintf(stderr, "%s: unknown option '-%c'\n", prog, optopt);
		return;
	}
	name = arg + 2;
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	n = prefix_matches(longopts, name, len, &exact);
	if (n == 1 && !exact)
		for (one = longopts; strncmp(one->name, name, len); one++)
			;
	if (exact)
		one = exact;
	if (!n) {
		fprintf(stderr, "%s: unknown option '--%.*s'\n", prog, (int)len, name);
	} else if (!one) {
		fprintf(stderr, "%s: '--%.*s' is ambiguous: it could be ", prog, (int)len, name);
		print_candidates(longopts, name, len);
		fputc('\n', stderr);
	} else if (eq && one->has_arg == no_argument) {
		fprintf(stderr, "%s: --%s takes no value, got '%s'\n", prog, one->name, eq + 1);
	} else {
		fprintf(stderr, "%s: --%s: missing value\n", prog, one->name);
	}
}
