/* demo_options.c - the demo's command line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "examples/uswap/demo.h"

static const char usage[] = "usage: demo [--trace FILE]... | --pid PID | --files PATH...\n"
			    "            [--max-pages N] [--threads N] [--working-set F] "
			    "[--reclaim F]\n"
			    "            [--seconds S] [--seed N] [--batch N] [--kernel-faults] "
			    "[--quiet]\n"
			    "\n"
			    "Fills a userfaultfd region with pages (default: the bundled traces\n"
			    "of tools/data, each line synthesized to its LZ4 size), reclaims a\n"
			    "fraction of it into a zsmalloc pool (--reclaim, default 1: all),\n"
			    "faults a random working set back in from --threads threads\n"
			    "(default 2; --working-set, default 0.5 of each thread's pages),\n"
			    "churns for --seconds (default 5) with a reclaimer and a compactor\n"
			    "running, reads every page back twice, and prints resident memory,\n"
			    "fault latency, reclaim throughput beside LZ4's, and the targets.\n"
			    "  --max-pages N     at most N pages of the input (K, M suffixes)\n"
			    "  --batch N         pages per reclaim batch (1..512, default 64)\n"
			    "  --kernel-faults   need faults in system calls handled too (the\n"
			    "                    full userfaultfd, not UFFD_USER_MODE_ONLY)\n"
			    "Exit status: 0; 1 when a page read back is wrong or a check fails;\n"
			    "2 for bad arguments or when userfaultfd is not allowed.\n";

static int bad(const char *opt, const char *why, const char *got)
{
	fprintf(stderr, "demo: %s: %s, got '%s'\n%s", opt, why, got ? got : "(nothing)", usage);
	return 2;
}

/* An integer with an optional K or M suffix, in [lo, hi]. */
static int num(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;
	char why[64];

	snprintf(why, sizeof(why), "expected %llu..%llu", (unsigned long long)lo,
		 (unsigned long long)hi);
	if (!s || *s == '-')
		return bad(opt, why, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		v *= 1000, end++;
	else if (*end == 'm' || *end == 'M')
		v *= 1000000, end++;
	if (errno || end == s || *end || v < lo || v > hi)
		return bad(opt, why, s);
	*out = v;
	return 0;
}

static int frac(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;
	char why[64];

	snprintf(why, sizeof(why), "expected a number in %g..%g", lo, hi);
	if (!s)
		return bad(opt, why, s);
	v = strtod(s, &end);
	if (end == s || *end || !(v >= lo && v <= hi))
		return bad(opt, why, s);
	*out = v;
	return 0;
}

static int input(struct demo_options *o, enum demo_input in, const char *opt)
{
	if (o->input != IN_TRACES && o->input != in)
		return bad(opt, "give one of --trace, --pid, --files", opt);
	if (o->input == IN_TRACES && o->npaths && in != IN_TRACES)
		return bad(opt, "give one of --trace, --pid, --files", opt);
	o->input = in;
	return 0;
}

static int add_path(struct demo_options *o, const char *opt, const char *p)
{
	if (!p)
		return bad(opt, "expected a path", p);
	if (o->npaths == DEMO_MAX_INPUTS)
		return bad(opt, "too many paths", p);
	o->paths[o->npaths++] = p;
	return 0;
}

/* One option at argv[*i]; *i moves past its arguments. */
static int option(struct demo_options *o, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	uint64_t n;
	int r;

	if (!strcmp(a, "--help") || !strcmp(a, "-h"))
		return fputs(usage, stdout), 1;
	if (!strcmp(a, "--kernel-faults"))
		return o->kernel_faults = 1, 0;
	if (!strcmp(a, "--quiet"))
		return o->quiet = 1, 0;
	if (!strcmp(a, "--files")) {
		if ((r = input(o, IN_FILES, a)) != 0)
			return r;
		for (r = add_path(o, a, v); !r && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2);)
			r = add_path(o, a, argv[++*i]);
		return r;
	}
	(*i)++; /* every other option takes one argument */
	if (!strcmp(a, "--trace"))
		return input(o, IN_TRACES, a) ? 2 : add_path(o, a, v);
	if (!strcmp(a, "--pid")) {
		if ((r = input(o, IN_PID, a)) || (r = num(a, v, 1, 1u << 30, &n)))
			return r;
		return o->pid = (int)n, 0;
	}
	if (!strcmp(a, "--max-pages"))
		return num(a, v, 1, 1ull << 32, &o->max_pages);
	if (!strcmp(a, "--threads"))
		return (r = num(a, v, 1, DEMO_MAX_THREADS, &n)) ? r : (o->threads = (unsigned)n, 0);
	if (!strcmp(a, "--batch"))
		return (r = num(a, v, 1, 512, &n)) ? r : (o->batch = (unsigned)n, 0);
	if (!strcmp(a, "--seed"))
		return num(a, v, 0, UINT64_MAX, &o->seed);
	if (!strcmp(a, "--working-set"))
		return frac(a, v, 0, 1, &o->working_set);
	if (!strcmp(a, "--reclaim"))
		return frac(a, v, 0, 1, &o->reclaim);
	if (!strcmp(a, "--seconds"))
		return frac(a, v, 0, 86400, &o->seconds);
	return bad(a, "unknown option", a);
}

int options_parse(int argc, char **argv, struct demo_options *o)
{
	memset(o, 0, sizeof(*o));
	o->threads = 2;
	o->working_set = 0.5;
	o->reclaim = 1;
	o->seconds = 5;
	o->seed = 1;
	for (int i = 1; i < argc; i++) {
		int r = option(o, argc, argv, &i);

		if (r)
			return r;
	}
	if (o->input == IN_FILES && !o->npaths)
		return bad("--files", "expected a path", NULL);
	if (o->input == IN_PID && !o->max_pages)
		o->max_pages = 1u << 18; /* 1 GiB of 4 KiB pages */
	if (o->input == IN_FILES && !o->max_pages)
		o->max_pages = 1u << 18;
	return 0;
}
