/* options.c - density's command line (see options.h and options_help()). */
#include "tools/options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void options_usage(FILE *f)
{
	fputs("usage: density [--pid PID | --files PATH... | --trace FILE]... "
	      "[--objects N] [--churn N] [--allocators LIST] "
	      "[--csv | --json] [--svg FILE] (see --help)\n",
	      f);
}

void options_help(FILE *f)
{
	size_t n;
	const struct zpool_driver *const *d = zpool_drivers(&n);

	fputs("density: how much memory allocators need to hold compressed pages\n"
	      "\n"
	      "Reads pages, compresses each with LZ4 (same-filled pages are counted,\n"
	      "not stored, as zram does; pages that do not compress below the page\n"
	      "size are stored raw), stores them in each allocator, churns, discards\n"
	      "half, compacts, and after each phase prints each allocator's memory as\n"
	      "a percentage of the live bytes (the ideal). Every live object is read\n"
	      "back, decompressed and compared with its original page after every\n"
	      "phase; a mismatch is an error (exit status 1).\n"
	      "\n"
	      "Input (any mix; default: the traces bundled in tools/data):\n"
	      "  --pid PID          every private writable page of a live process\n"
	      "                     that is resident or swapped (/proc/PID/mem):\n"
	      "                     what zram would get if it were swapped out\n"
	      "  --files PATH...    files and directories (recursively, on one\n"
	      "                     filesystem), cut into pages\n"
	      "  --trace FILE       a trace: one compressed size per line, S for a\n"
	      "                     same-filled page; pages are synthesized to match\n"
	      "  --save-trace FILE  write the trace of what was read\n"
	      "  --max-pages N      read at most N pages\n"
	      "  --lz4hc            compress with LZ4 HC instead of LZ4\n"
	      "\n"
	      "Workload:\n"
	      "  --objects N        resample to N objects (with replacement)\n"
	      "  --churn N          overwrites in the churn phase (default: the\n"
	      "                     object count)\n"
	      "  --seed N           seed of every random choice (default 1)\n"
	      "  --allocators LIST  comma-separated names; default: all of\n",
	      f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "    %-16s %s\n", d[i]->name, d[i]->summary);
	fputs("\n"
	      "Output:\n"
	      "  --csv              one CSV row per phase and allocator\n"
	      "  --json             one JSON document\n"
	      "  --svg FILE         bar charts: % of ideal per allocator and phase,\n"
	      "                     and zsmalloc's fill per size class\n"
	      "  --quiet            no progress bar (shown on a terminal for phases\n"
	      "                     longer than a second)\n"
	      "  --help             this text\n"
	      "\n"
	      "N may end in k or M (x1000, x1000000). Exit status: 0, 1 (an error or\n"
	      "a verification failure), 2 (bad arguments). The malloc row is the\n"
	      "malloc density is linked with: run bazel-bin/tools/density with\n"
	      "LD_PRELOAD=libjemalloc.so.2 (or mimalloc, tcmalloc) to measure another.\n",
	      f);
}

__attribute__((format(printf, 1, 2)))
static int bad(const char *fmt, ...)
{
	va_list ap;

	fputs("density: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	options_usage(stderr);
	return -1;
}

/* A count: decimal digits, optionally followed by k or M. */
static int parse_count(const char *s, uint64_t *v)
{
	uint64_t x = 0, mul = 1;
	const char *p = s;

	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		return -1;
	if (*p == 'k' || *p == 'K')
		mul = 1000, p++;
	else if (*p == 'M')
		mul = 1000000, p++;
	if (*p || (mul > 1 && x > UINT64_MAX / mul))
		return -1;
	*v = x * mul;
	return 0;
}

char *resolve_path(const char *path)
{
	const char *wd = getenv("BUILD_WORKING_DIRECTORY");
	char *out;

	if (path[0] == '/' || !wd || !*wd)
		return strdup(path);
	out = malloc(strlen(wd) + strlen(path) + 2);
	if (out)
		sprintf(out, "%s/%s", wd, path);
	return out;
}

static int add_drivers(struct options *o, const char *list)
{
	char *copy = strdup(list), *save = NULL, *name;

	if (!copy)
		return bad("out of memory");
	for (name = strtok_r(copy, ",", &save); name;
	     name = strtok_r(NULL, ",", &save)) {
		const struct zpool_driver *d = zpool_find_driver(name);
		size_t i;

		if (!d) {
			bad("--allocators: unknown allocator '%s'", name);
			free(copy);
			return -1;
		}
		for (i = 0; i < o->nr_drivers && o->drivers[i] != d; i++)
			;
		if (i == o->nr_drivers && o->nr_drivers < MAX_DRIVERS)
			o->drivers[o->nr_drivers++] = d;
	}
	free(copy);
	if (!o->nr_drivers)
		return bad("--allocators: empty list");
	return 0;
}

/* The value of option argv[*i], or NULL after complaining. */
static const char *value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc || (argv[*i + 1][0] == '-' && argv[*i + 1][1] == '-')) {
		bad("%s: missing value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

static int count_option(int argc, char **argv, int *i, uint64_t *v,
			uint64_t min)
{
	const char *opt = argv[*i], *s = value(argc, argv, i);

	if (!s)
		return -1;
	if (parse_count(s, v))
		return bad("%s: '%s' is not a count (digits, optionally k or M)",
			   opt, s);
	if (*v < min)
		return bad("%s: must be at least %llu, got %s", opt,
			   (unsigned long long)min, s);
	return 0;
}

static int path_option(int argc, char **argv, int *i, char **out)
{
	const char *s = value(argc, argv, i);

	if (!s)
		return -1;
	free(*out);
	*out = resolve_path(s);
	return *out ? 0 : bad("out of memory");
}

int options_parse(struct options *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			o->help = 1;
		} else if (!strcmp(a, "--pid")) {
			if (count_option(argc, argv, &i, &v, 1))
				return -1;
			if (v > 0x7fffffff)
				return bad("--pid: %llu is not a process id",
					   (unsigned long long)v);
			if (o->nr_pids == MAX_INPUTS)
				return bad("--pid: more than %d", MAX_INPUTS);
			o->pids[o->nr_pids++] = (int)v;
		} else if (!strcmp(a, "--files")) {
			if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))
				return bad("--files: missing PATH");
			while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
				if (o->nr_files == MAX_INPUTS)
					return bad("--files: more than %d paths",
						   MAX_INPUTS);
				o->files[o->nr_files] = resolve_path(argv[++i]);
				if (!o->files[o->nr_files++])
					return bad("out of memory");
			}
		} else if (!strcmp(a, "--trace")) {
			if (o->nr_traces == MAX_INPUTS)
				return bad("--trace: more than %d", MAX_INPUTS);
			if (path_option(argc, argv, &i, &o->traces[o->nr_traces++]))
				return -1;
		} else if (!strcmp(a, "--save-trace")) {
			if (path_option(argc, argv, &i, &o->save_trace))
				return -1;
		} else if (!strcmp(a, "--svg")) {
			if (path_option(argc, argv, &i, &o->svg))
				return -1;
		} else if (!strcmp(a, "--lz4hc")) {
			o->hc = 1;
		} else if (!strcmp(a, "--objects")) {
			if (count_option(argc, argv, &i, &o->objects, 1))
				return -1;
			if (o->objects > UINT32_MAX)
				return bad("--objects: at most %u", UINT32_MAX);
		} else if (!strcmp(a, "--churn")) {
			if (count_option(argc, argv, &i, &o->churn, 0))
				return -1;
			o->churn_set = 1;
		} else if (!strcmp(a, "--seed")) {
			if (count_option(argc, argv, &i, &o->seed, 0))
				return -1;
		} else if (!strcmp(a, "--max-pages")) {
			if (count_option(argc, argv, &i, &o->max_pages, 1))
				return -1;
		} else if (!strcmp(a, "--allocators")) {
			const char *s = value(argc, argv, &i);

			if (!s || add_drivers(o, s))
				return -1;
		} else if (!strcmp(a, "--csv")) {
			o->csv = 1;
		} else if (!strcmp(a, "--json")) {
			o->json = 1;
		} else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			o->quiet = 1;
		} else if (a[0] == '-') {
			return bad("%s: unknown option", a);
		} else {
			return bad("'%s': unexpected argument (paths follow --files)",
				   a);
		}
	}
	if (o->csv && o->json)
		return bad("--csv and --json: choose one");
	if (!o->nr_drivers) {
		size_t n;
		const struct zpool_driver *const *d = zpool_drivers(&n);

		for (size_t i = 0; i < n && i < MAX_DRIVERS; i++)
			o->drivers[o->nr_drivers++] = d[i];
	}
	return 0;
}

void options_free(struct options *o)
{
	for (size_t i = 0; i < o->nr_files; i++)
		free(o->files[i]);
	for (size_t i = 0; i < o->nr_traces; i++)
		free(o->traces[i]);
	free(o->save_trace);
	free(o->svg);
}
