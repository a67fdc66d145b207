/* options.c - density's command line (see options.h and options_help()). */
#include "tools/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "tools/cli.h"
#include "tools/workload.h"

void options_usage(FILE *f)
{
	fputs("usage: density [--pid PID | --files PATH... | --trace FILE]... "
	      "[--block SIZE] [--objects N] [--churn N] [--allocators LIST] "
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
	      "a percentage of the live bytes (the ideal): for zsmalloc, xvmalloc and\n"
	      "malloc the resident memory grown in a process of its own, beside the\n"
	      "allocator's own account; for the models (slub, slob, zbud) their\n"
	      "account. Every live object is read back, decompressed and compared\n"
	      "with its original page after every phase; a mismatch is an error\n"
	      "(exit status 1).\n"
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
	      "  --block SIZE,...   compress SIZE consecutive bytes as one object:\n"
	      "                     4K (default: a page), 16K, 64K, or all of them,\n"
	      "                     each run in turn on the same input, compared in\n"
	      "                     a last table; an allocator that cannot hold such\n"
	      "                     objects is left out, with a note\n"
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
	      "N may end in k, M, Ki or Mi (x1000, x1000000, x1024, x1048576).\n"
	      "An option takes its value as --opt VALUE or --opt=VALUE and may be\n"
	      "abbreviated while unambiguous (--obj 1M). Exit status: 0, 1 (an\n"
	      "error or a verification failure), 2 (bad arguments). The malloc\n"
	      "row is the malloc density is linked with: run bazel-bin/tools/density\n"
	      "with LD_PRELOAD=libjemalloc.so.2 (or mimalloc, tcmalloc) to measure\n"
	      "another.\n",
	      f);
}

/* A usage error, told: -1. */
#define bad(...) cli_fail(-1, "density", options_usage, __VA_ARGS__)

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
	for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
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

enum {
	OPT_PATH = 1, /* getopt's code for a non-option (optstring "-") */
	OPT_PID = 256,
	OPT_FILES,
	OPT_TRACE,
	OPT_SAVE_TRACE,
	OPT_SVG,
	OPT_LZ4HC,
	OPT_OBJECTS,
	OPT_CHURN,
	OPT_SEED,
	OPT_MAX_PAGES,
	OPT_ALLOCATORS,
	OPT_CSV,
	OPT_JSON,
	OPT_BLOCK,
};

static const struct option long_options[] = {
	{ "pid", required_argument, NULL, OPT_PID },
	{ "files", required_argument, NULL, OPT_FILES },
	{ "trace", required_argument, NULL, OPT_TRACE },
	{ "save-trace", required_argument, NULL, OPT_SAVE_TRACE },
	{ "svg", required_argument, NULL, OPT_SVG },
	{ "lz4hc", no_argument, NULL, OPT_LZ4HC },
	{ "objects", required_argument, NULL, OPT_OBJECTS },
	{ "churn", required_argument, NULL, OPT_CHURN },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "max-pages", required_argument, NULL, OPT_MAX_PAGES },
	{ "allocators", required_argument, NULL, OPT_ALLOCATORS },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "block", required_argument, NULL, OPT_BLOCK },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int count_value(const char *opt, const char *s, uint64_t *v, uint64_t min)
{
	if (cli_parse_count(s, v))
		return bad("--%s: '%s' is not a count (digits, optionally k, M, "
			   "Ki or Mi)",
			   opt, s);
	if (*v < min)
		return bad("--%s: must be at least %llu, got %s", opt, (unsigned long long)min, s);
	return 0;
}

static int path_value(char **out, const char *s)
{
	free(*out);
	*out = resolve_path(s);
	return *out ? 0 : bad("out of memory");
}

static int add_pid(struct options *o, const char *s)
{
	uint64_t v;

	if (count_value("pid", s, &v, 1))
		return -1;
	if (v > 0x7fffffff)
		return bad("--pid: %llu is not a process id", (unsigned long long)v);
	if (o->nr_pids == MAX_INPUTS)
		return bad("--pid: more than %d", MAX_INPUTS);
	o->pids[o->nr_pids++] = (int)v;
	return 0;
}

/* --files PATH...: the first path is the option's value, the next ones are
 * the non-options that follow it (getopt hands them over in order). */
static int add_file(struct options *o, const char *s, int first)
{
	if (first && !strncmp(s, "--", 2))
		return bad("--files: missing PATH");
	if (o->nr_files == MAX_INPUTS)
		return bad("--files: more than %d paths", MAX_INPUTS);
	o->files[o->nr_files] = resolve_path(s);
	if (!o->files[o->nr_files++])
		return bad("out of memory");
	return 0;
}

/* One block size into o->blocks (kept ascending, each once). */
static void add_block(struct options *o, size_t b)
{
	size_t i = 0;

	while (i < o->nr_blocks && o->blocks[i] < b)
		i++;
	if (i < o->nr_blocks && o->blocks[i] == b)
		return;
	memmove(&o->blocks[i + 1], &o->blocks[i], (o->nr_blocks - i) * sizeof(size_t));
	o->blocks[i] = b;
	o->nr_blocks++;
}

/* A block size: bytes, or KiB with a K (4K, 16K, 64K). 0 if malformed. */
static size_t block_bytes(const char *s)
{
	uint64_t v;
	size_t len = strlen(s);
	char num[32];

	if (!len || len >= sizeof(num))
		return 0;
	memcpy(num, s, len + 1);
	if (num[len - 1] == 'K' || num[len - 1] == 'k')
		num[--len] = 0;
	if (cli_parse_count(num, &v) || v > WL_MAX_BLOCK)
		return 0;
	if (len < strlen(s))
		v *= 1024;
	return v > WL_MAX_BLOCK ? 0 : (size_t)v;
}

/* --block LIST: sizes (4K, 16K, 64K: multiples of the page size up to
 * 64 KiB) or all (4K, 16K and 64K), comma-separated. */
static int block_option(struct options *o, const char *list)
{
	size_t page = mp_page_size();
	char *copy = strdup(list), *save = NULL, *name;

	if (!copy)
		return bad("out of memory");
	for (name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		size_t b = block_bytes(name);

		if (!strcmp(name, "all")) {
			add_block(o, page);
			for (size_t k = 16384; k <= WL_MAX_BLOCK; k *= 4)
				if (k > page && k % page == 0)
					add_block(o, k);
		} else if (b && b % page == 0) {
			add_block(o, b);
		} else {
			bad("--block: wants 4K, 16K, 64K (a multiple of the page size, "
			    "%zu, up to 64K) or all, got '%s'",
			    page, name);
			free(copy);
			return -1;
		}
	}
	free(copy);
	return o->nr_blocks ? 0 : bad("--block: empty list");
}

static int add_trace(struct options *o, const char *s)
{
	if (o->nr_traces == MAX_INPUTS)
		return bad("--trace: more than %d", MAX_INPUTS);
	return path_value(&o->traces[o->nr_traces++], s);
}

/* One option: getopt's code @c, its value @v. @in_files: the element
 * before was --files or one of its paths. Returns 0 or -1 (told). */
static int take_option(struct options *o, int c, const char *v, int in_files)
{
	switch (c) {
	case OPT_PATH:
		if (!in_files)
			return bad("'%s': unexpected argument (paths follow "
				   "--files)",
				   v);
		return add_file(o, v, 0);
	case OPT_FILES:
		return add_file(o, v, 1);
	case OPT_PID:
		return add_pid(o, v);
	case OPT_TRACE:
		return add_trace(o, v);
	case OPT_SAVE_TRACE:
		return path_value(&o->save_trace, v);
	case OPT_SVG:
		return path_value(&o->svg, v);
	case OPT_LZ4HC:
		o->hc = 1;
		return 0;
	case OPT_OBJECTS:
		if (count_value("objects", v, &o->objects, 1))
			return -1;
		return o->objects > UINT32_MAX ? bad("--objects: at most %u, got %s", UINT32_MAX, v)
					       : 0;
	case OPT_CHURN:
		o->churn_set = 1;
		return count_value("churn", v, &o->churn, 0);
	case OPT_SEED:
		return count_value("seed", v, &o->seed, 0);
	case OPT_MAX_PAGES:
		return count_value("max-pages", v, &o->max_pages, 1);
	case OPT_ALLOCATORS:
		return add_drivers(o, v);
	case OPT_CSV:
		o->csv = 1;
		return 0;
	case OPT_JSON:
		o->json = 1;
		return 0;
	case OPT_BLOCK:
		return block_option(o, v);
	case 'q':
		o->quiet = 1;
		return 0;
	case 'h':
		o->help = 1;
		return 0;
	}
	return -1;
}

static void set_default_drivers(struct options *o)
{
	size_t n;
	const struct zpool_driver *const *d = zpool_drivers(&n);

	for (size_t i = 0; i < n && i < MAX_DRIVERS; i++)
		o->drivers[o->nr_drivers++] = d[i];
}

int options_parse(struct options *o, int argc, char **argv)
{
	int c, in_files = 0;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	optind = 0; /* a fresh scan, also when called again */
	while ((c = cli_getopt("density", options_usage, argc, argv, "-:hq", long_options)) != -1) {
		if (c == '?')
			return -1;
		if (take_option(o, c, optarg, in_files))
			return -1;
		in_files = c == OPT_FILES || c == OPT_PATH;
	}
	if (o->csv && o->json)
		return bad("--csv and --json: choose one");
	if (!o->nr_drivers)
		set_default_drivers(o);
	if (!o->nr_blocks)
		add_block(o, mp_page_size());
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
