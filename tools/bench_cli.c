/* bench_cli.c - tools/bench's command line (see bench_parse_args()). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/cli.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench [--json] [--quick] [--repeat N] [--threads N] [--objects N]...\n"
		"             [--only GROUP,...] [--trace FILE]... | --op OP --allocator A [--count N]\n");
}

static void help(void)
{
	usage(stdout);
	fputs("\n"
	      "ns per operation of zsalloc's layers, each beside a reference measured\n"
	      "in the same run (see tools/README.md for every table).\n"
	      "\n"
	      "  --json            one JSON document instead of the tables\n"
	      "  --quick           a tenth of the iterations and populations,\n"
	      "                    3 repetitions\n"
	      "  --repeat N        repetitions per figure, the best counts (5)\n"
	      "  --threads N       threads of the shared-pool table (2)\n"
	      "  --objects N       population of the pairs and access tables; again\n"
	      "                    for more (default 131072 and 1048576)\n"
	      "  --only GROUP,...  mapping, alloc, latency, large (default: all)\n"
	      "  --trace FILE      the size mix from this trace (again for more;\n"
	      "                    default: the bundled traces)\n"
	      "  --op OP           only OP (pair, read, write, map) --count times on\n"
	      "                    --allocator A (zsmalloc, zsmalloc-scattered,\n"
	      "                    xvmalloc, malloc) after filling --objects objects\n"
	      "                    (default 131072): for tools/cachegrind.sh, which\n"
	      "                    runs it under valgrind\n"
	      "  --count N         operations of --op (100000)\n"
	      "\n"
	      "N may end in k, M, Ki or Mi (x1000, x1000000, x1024, x1048576).\n",
	      stdout);
}

/* A usage error, told: the exit status 2. */
#define bad(...) cli_fail(2, "bench", usage, __VA_ARGS__)

/* A count in [min, max] into *@v; else the usage error's status. */
static int count_arg(const char *opt, const char *val, uint64_t min, uint64_t max, uint64_t *v)
{
	if (cli_parse_count(val, v) || *v < min || *v > max)
		return bad("--%s wants %llu..%llu, got '%s'", opt, (unsigned long long)min,
			   (unsigned long long)max, val);
	return 0;
}

/* 0 if @val is one of @names (NULL-terminated), else the usage error's
 * status, naming them. */
static int one_of(const char *opt, const char *val, const char *const *names)
{
	char list[160] = "";
	size_t used = 0;

	for (int i = 0; names[i]; i++) {
		if (!strcmp(val, names[i]))
			return 0;
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s",
					 !i             ? ""
					 : names[i + 1] ? ", "
							: " or ",
					 names[i]);
		if (used >= sizeof(list))
			used = sizeof(list) - 1;
	}
	return bad("--%s wants %s, got '%s'", opt, list, val);
}

static const char *const group_names[] = { "mapping", "alloc", "latency", "large", NULL };

/* --only GROUP,...: 0 or the usage error's status. */
static int only_arg(struct bench_options *o, const char *val)
{
	char *copy = strdup(val), *save = NULL, *name;
	int status = 0;

	if (!copy)
		return bad("out of memory");
	o->groups = 0;
	for (name = strtok_r(copy, ",", &save); name && !status;
	     name = strtok_r(NULL, ",", &save)) {
		int g;

		status = one_of("only", name, group_names);
		for (g = 0; group_names[g] && strcmp(name, group_names[g]); g++)
			;
		o->groups |= group_names[g] ? 1u << g : 0;
	}
	if (!status && !o->groups)
		status = one_of("only", val, group_names);
	free(copy);
	return status;
}

enum {
	OPT_JSON = 256,
	OPT_QUICK,
	OPT_REPEAT,
	OPT_THREADS,
	OPT_TRACE,
	OPT_ONLY,
	OPT_OBJECTS,
	OPT_OP,
	OPT_ALLOCATOR,
	OPT_COUNT
};

static const struct option long_options[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "repeat", required_argument, NULL, OPT_REPEAT },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "only", required_argument, NULL, OPT_ONLY },
	{ "objects", required_argument, NULL, OPT_OBJECTS },
	{ "op", required_argument, NULL, OPT_OP },
	{ "allocator", required_argument, NULL, OPT_ALLOCATOR },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char *const op_names[] = { "pair", "read", "write", "map", NULL };
static const char *const allocator_names[] = { "zsmalloc", "zsmalloc-scattered", "xvmalloc",
					       "malloc", NULL };

/* One option: getopt's code @c, its value @v. Returns -1 or the status. */
static int take_option(struct bench_options *o, int c, char *v)
{
	uint64_t n;
	int st;

	switch (c) {
	case OPT_JSON:
		o->json = 1;
		return -1;
	case OPT_QUICK:
		o->scale = 0.1;
		o->repeat = 3;
		return -1;
	case OPT_REPEAT:
		st = count_arg("repeat", v, 1, 1000, &n);
		o->repeat = (int)n;
		return st ? st : -1;
	case OPT_THREADS:
		st = count_arg("threads", v, 1, 64, &n);
		o->threads = (int)n;
		return st ? st : -1;
	case OPT_TRACE:
		o->traces[o->nr_traces++] = v;
		return -1;
	case OPT_ONLY:
		st = only_arg(o, v);
		return st ? st : -1;
	case OPT_OBJECTS:
		if (o->nr_pops == BENCH_MAX_POPS)
			return bad("--objects: at most %d populations", BENCH_MAX_POPS);
		st = count_arg("objects", v, 1024, UINT32_MAX, &o->pops[o->nr_pops]);
		o->nr_pops++;
		return st ? st : -1;
	case OPT_OP:
		o->op = v;
		st = one_of("op", v, op_names);
		return st ? st : -1;
	case OPT_ALLOCATOR:
		o->allocator = v;
		st = one_of("allocator", v, allocator_names);
		return st ? st : -1;
	case OPT_COUNT:
		st = count_arg("count", v, 1, UINT32_MAX, &o->count);
		return st ? st : -1;
	case 'h':
		help();
		return 0;
	}
	return 2;
}

int bench_parse_args(struct bench_options *o, int argc, char **argv)
{
	int c, st;

	*o = (struct bench_options){ .repeat = 5,
				     .scale = 1.0,
				     .threads = 2,
				     .argv0 = argv[0],
				     .groups = BENCH_ALL,
				     .count = 100000 };
	o->traces = calloc((size_t)argc + 1, sizeof(*o->traces));
	if (!o->traces)
		return bad("out of memory");
	optind = 0;
	while ((c = cli_getopt("bench", usage, argc, argv, ":h", long_options)) != -1) {
		if (c == '?')
			return 2;
		st = take_option(o, c, optarg);
		if (st >= 0)
			return st;
	}
	if (optind < argc)
		return bad("'%s': unexpected argument", argv[optind]);
	if (!o->op != !o->allocator)
		return bad("--op and --allocator: give both or neither");
	if (!o->nr_pops) { /* the bundled traces' sizes, twice: 2^17, 2^20 */
		o->pops[o->nr_pops++] = 131072;
		if (!o->op)
			o->pops[o->nr_pops++] = 1048576;
	}
	return -1;
}
