/*
 * demo_source.c - the pages the demo puts in its region: the bundled traces
 * (each line a page, synthesized to that LZ4 size), the pages of a live
 * process (--pid), or files (--files). Every source runs twice: once to
 * count the pages (so the region has exactly that size), once to fill.
 *
 * Synthesis, as tools/trace.h describes it: a page of P random bytes then
 * zeros compresses to about P bytes (LZ4 cannot shrink random bytes and
 * turns the zeros into one match), so a calibration compresses one page for
 * every P and keeps, for every size, the P that comes closest. The same
 * idea as the density tool's, written small here so that the demo links
 * nothing but zsmalloc and LZ4.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "examples/uswap/demo.h"

static uint64_t mix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

uint64_t page_hash(const unsigned char *page, size_t size)
{
	uint64_t h[4] = { 1, 2, 3, 4 }, w;

	for (size_t i = 0; i + 32 <= size; i += 32)
		for (int l = 0; l < 4; l++) {
			memcpy(&w, page + i + 8 * l, 8);
			h[l] = (h[l] ^ w) * 0x9e3779b97f4a7c15u;
			h[l] ^= h[l] >> 29;
		}
	return h[0] ^ (h[1] * 3) ^ (h[2] * 5) ^ (h[3] * 7);
}

int page_check(struct demo *d, size_t i)
{
	const unsigned char *p = d->base + i * d->page_size;
	uint64_t w0;

	memcpy(&w0, p, 8);
	return w0 == d->rec[i].word0 && page_hash(p + 8, d->page_size - 8) == d->rec[i].hash;
}

int sink_put(struct sink *s, const unsigned char *page, uint32_t want)
{
	struct demo *d = s->d;

	if (s->n >= s->limit)
		return 1;
	if (!s->count_only) {
		if (s->n % 4096 == 0)
			progress_line(&d->prog, "  fill: %llu of %zu pages",
				      (unsigned long long)s->n, d->pages);
		memcpy(d->base + s->n * d->page_size, page, d->page_size);
		memcpy(&d->rec[s->n].word0, page, 8);
		d->rec[s->n].hash = page_hash(page + 8, d->page_size - 8);
		if (d->want)
			d->want[s->n] = want;
	}
	s->n++;
	return s->n >= s->limit;
}

/* P random bytes from @seed, then zeros. */
static void fill_prefix(unsigned char *page, size_t size, size_t p, uint64_t seed)
{
	for (size_t i = 0; i < p; i += 8) {
		uint64_t w = mix(&seed);

		memcpy(page + i, &w, p - i < 8 ? p - i : 8);
	}
	memset(page + p, 0, size - p);
}

/* prefix_for[size]: the P whose LZ4 output is closest to size. */
static int synth_calibrate(struct sink *s, size_t ps)
{
	int cap = LZ4_compressBound((int)ps);
	unsigned char *page = malloc(ps);
	char *out = malloc((size_t)cap);
	uint32_t *got = calloc(ps + 1, sizeof(*got));

	s->prefix_for = calloc(ps + 1, sizeof(*s->prefix_for));
	if (!page || !out || !got || !s->prefix_for) {
		free(page), free(out), free(got);
		return -ENOMEM;
	}
	for (size_t p = 0; p <= ps; p++) {
		fill_prefix(page, ps, p, 0xca11b000u + p);
		got[p] = (uint32_t)LZ4_compress_default((char *)page, out, (int)ps, cap);
	}
	for (size_t want = 1, p = 0; want <= ps; want++) {
		while (p < ps && got[p] < want) /* got[] grows with p */
			p++;
		size_t best = p;

		if (p && want - got[p - 1] < got[p] - want)
			best = p - 1;
		s->prefix_for[want] = (uint32_t)(want >= ps ? ps : best);
	}
	free(page), free(out), free(got);
	return 0;
}

/* One trace line's page: @size 1..page, or 0 for S (a same-filled page:
 * zeros three times in four, else a random word repeated). */
static void synth_page(struct sink *s, uint32_t size, unsigned char *page)
{
	size_t ps = s->d->page_size;
	uint64_t x = s->d->o.seed ^ (s->lines++ * 0xd1b54a32d192ed03u);
	uint64_t seed = mix(&x);

	if (size == 0) {
		uint64_t w = seed % 4 ? 0 : seed;

		for (size_t i = 0; i < ps; i += 8)
			memcpy(page + i, &w, 8);
		return;
	}
	fill_prefix(page, ps, s->prefix_for[size], seed);
}

/* A trace line: 1 with *@size (0: S), 0 to skip, -1 for a bad line. */
static int trace_line(const char *line, size_t ps, uint32_t *size)
{
	char *end;
	unsigned long v;

	line += strspn(line, " \t");
	if (!*line || *line == '\n' || *line == '\r' || *line == '#')
		return 0;
	if (*line == 'S' || *line == 's') {
		*size = 0;
		end = (char *)(uintptr_t)(line + 1);
	} else {
		errno = 0;
		v = strtoul(line, &end, 10);
		if (end == line || errno || v == 0 || v > ps)
			return -1;
		*size = (uint32_t)v;
	}
	end += strspn(end, " \t\r\n");
	return *end ? -1 : 1;
}

static int src_trace(struct sink *s, const char *path, unsigned char *page)
{
	FILE *f = fopen(path, "r");
	char line[128];
	unsigned long no = 0;
	uint32_t size;

	if (!f) {
		fprintf(stderr, "demo: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		int r = trace_line(line, s->d->page_size, &size);

		no++;
		if (r < 0) {
			fprintf(stderr,
				"demo: %s:%lu: expected a size 1..%zu "
				"or S\n",
				path, no, s->d->page_size);
			fclose(f);
			return -1;
		}
		if (r == 0)
			continue;
		synth_page(s, size, page);
		if (sink_put(s, page, size))
			break;
	}
	fclose(f);
	return 0;
}

static int name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The bundled traces: tools/data under the workspace (`bazel run` sets
 * BUILD_WORKSPACE_DIRECTORY) or under the current directory. */
static int bundled_traces(struct demo *d, char ***paths)
{
	const char *ws = getenv("BUILD_WORKSPACE_DIRECTORY");
	char dir[4096];
	DIR *dp;
	struct dirent *e;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tools/data", ws ? ws : ".");
	if (!(dp = opendir(dir))) {
		fprintf(stderr,
			"demo: no bundled traces in %s (%s): run it "
			"with `bazel run`, or from the workspace, or give "
			"--trace FILE\n",
			dir, strerror(errno));
		return -1;
	}
	*paths = calloc(DEMO_MAX_INPUTS, sizeof(**paths));
	while (*paths && (e = readdir(dp)) && n < DEMO_MAX_INPUTS) {
		size_t l = strlen(e->d_name);

		if (l > 6 && !strcmp(e->d_name + l - 6, ".trace") &&
		    asprintf(&(*paths)[n], "%s/%s", dir, e->d_name) > 0)
			n++;
	}
	closedir(dp);
	if (*paths)
		qsort(*paths, (size_t)n, sizeof(**paths), name_order);
	(void)d;
	return n;
}

/* Append @name's last part to the header's source list. */
static void note_source(struct demo *d, const char *name)
{
	const char *base = strrchr(name, '/');
	size_t l = strlen(d->sources);

	snprintf(d->sources + l, sizeof(d->sources) - l, "%s%s", l ? ", " : "",
		 base ? base + 1 : name);
}

static int src_traces(struct sink *s, unsigned char *page)
{
	struct demo *d = s->d;
	char **own = NULL;
	int n = d->o.npaths, err = 0;

	if (!n && (n = bundled_traces(d, &own)) <= 0)
		return -1;
	if (synth_calibrate(s, d->page_size))
		return -1;
	for (int i = 0; i < n && !err && s->n < s->limit; i++) {
		const char *p = own ? own[i] : d->o.paths[i];

		err = src_trace(s, p, page);
		if (!s->count_only)
			note_source(d, p);
	}
	for (int i = 0; own && i < n; i++)
		free(own[i]);
	free(own);
	free(s->prefix_for);
	d->synthesized = 1;
	return err;
}

static int source_run(struct demo *d, int count_only, uint64_t limit, uint64_t *pages)
{
	struct sink s = { d, count_only, 0, limit, NULL, 0 };
	unsigned char *page = malloc(d->page_size);
	int err;

	if (!page)
		return -1;
	if (!count_only)
		d->sources[0] = 0;
	if (d->o.input == IN_TRACES)
		err = src_traces(&s, page);
	else if (d->o.input == IN_PID)
		err = source_pid(&s, page);
	else
		err = source_files(&s, page);
	free(page);
	*pages = s.n;
	return err;
}

int source_count(struct demo *d, uint64_t *pages)
{
	uint64_t limit = d->o.max_pages ? d->o.max_pages : UINT64_MAX;

	return source_run(d, 1, limit, pages);
}

int source_fill(struct demo *d)
{
	uint64_t n;
	int err = source_run(d, 0, d->pages, &n);

	if (!err && n < d->pages) {
		fprintf(stderr,
			"demo: the input shrank between two reads "
			"(%llu pages, then %llu): using %llu\n",
			(unsigned long long)d->pages, (unsigned long long)n, (unsigned long long)n);
		d->pages = n;
	}
	return err;
}
