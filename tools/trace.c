/* trace.c - trace files and the synthesis of their pages (see trace.h). */
#include "tools/trace.h"

#include <ctype.h>
#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/rng.h"
#include "tools/workload.h"

int trace_parse_line(const char *line, size_t page_size, uint32_t *size)
{
	unsigned long v = 0;
	const char *p = line;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '\n' || *p == '\r' || *p == '#')
		return 0;
	if ((*p == 'S' || *p == 's')) {
		p++;
		*size = TRACE_SAME;
	} else {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			v = v * 10 + (unsigned long)(*p - '0');
			if (v > page_size)
				return -EINVAL;
		}
		if (v == 0)
			return -EINVAL;
		*size = (uint32_t)v;
	}
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return *p ? -EINVAL : 1;
}

/* @len random bytes from @seed, then zeros to the page's end. */
static void fill_prefix(unsigned char *page, size_t page_size, size_t len, uint64_t seed)
{
	uint64_t x = seed, w;
	size_t i;

	for (i = 0; i < len; i += 8) {
		w = rng_next(&x);
		memcpy(page + i, &w, len - i < 8 ? len - i : 8);
	}
	memset(page + len, 0, page_size - len);
}

int trace_synth_init(struct trace_synth *s, size_t page_size, int hc, uint64_t seed)
{
	int cap = LZ4_compressBound((int)page_size);
	unsigned char *page = malloc(page_size), *out = malloc((size_t)cap);
	uint32_t *size_of = calloc(page_size + 1, sizeof(*size_of));
	uint32_t best_err;

	memset(s, 0, sizeof(*s));
	s->prefix_for = calloc(page_size + 1, sizeof(*s->prefix_for));
	if (!page || !out || !size_of || !s->prefix_for) {
		free(page);
		free(out);
		free(size_of);
		free(s->prefix_for);
		return -ENOMEM;
	}
	s->page_size = page_size;
	s->hc = hc;
	s->seed = seed;
	/* size_of[P]: LZ4 output of P random bytes then zeros. */
	for (size_t p = 1; p <= page_size; p++) {
		fill_prefix(page, page_size, p, 0x5eed0000u + p);
		size_of[p] = (uint32_t)page_compress(page, page_size, out, cap, hc);
	}
	/* prefix_for[size]: the P whose output comes closest (the smallest
	 * such P); sizes >= the page size: a random page, stored raw. */
	for (size_t want = 1, from = 1; want <= page_size; want++) {
		uint32_t best = (uint32_t)page_size;

		best_err = UINT32_MAX;
		for (size_t p = from; p <= page_size && want < page_size; p++) {
			uint32_t got = size_of[p];
			uint32_t err = got > want ? got - (uint32_t)want : (uint32_t)want - got;
			if (got >= page_size)
				break;
			if (err < best_err) {
				best_err = err;
				best = (uint32_t)p;
			}
			if (got > want + 8)
				break; /* sizes only grow from here */
		}
		s->prefix_for[want] = best;
		if (best > 64 && best < page_size)
			from = best - 64; /* the next size's P is not below */
	}
	free(page);
	free(out);
	free(size_of);
	return 0;
}

void trace_synth_free(struct trace_synth *s)
{
	free(s->prefix_for);
	s->prefix_for = NULL;
}

void trace_synth_page(struct trace_synth *s, uint32_t size, uint64_t n, void *page)
{
	uint64_t x = s->seed ^ (n * 0xd1b54a32d192ed03u);
	uint64_t seed = rng_next(&x);

	if (size == TRACE_SAME) { /* one word, repeated: zero most often */
		uint64_t w = seed % 4 ? 0 : seed;

		for (size_t i = 0; i < s->page_size; i += 8)
			memcpy((unsigned char *)page + i, &w, 8);
		return;
	}
	if (size > s->page_size)
		size = (uint32_t)s->page_size;
	fill_prefix(page, s->page_size, s->prefix_for[size], seed);
}

int trace_read(struct workload *wl, struct trace_synth *s, const char *path)
{
	FILE *f = fopen(path, "r");
	unsigned char *page = malloc(wl->page_size);
	char line[256];
	uint64_t lineno = 0;
	int ret = 0;

	if (!f || !page) {
		fprintf(stderr, "density: --trace %s: %s\n", path, strerror(f ? ENOMEM : errno));
		if (f)
			fclose(f);
		free(page);
		return -1;
	}
	while (fgets(line, sizeof(line), f) && !workload_full(wl)) {
		uint32_t size;
		int r;

		lineno++;
		r = trace_parse_line(line, wl->page_size, &size);
		if (r < 0) {
			line[strcspn(line, "\r\n")] = 0;
			fprintf(stderr,
				"density: %s:%llu: expected a size 1..%zu or S, "
				"got '%.40s'\n",
				path, (unsigned long long)lineno, wl->page_size, line);
			ret = -1;
			break;
		}
		if (r == 0)
			continue;
		trace_synth_page(s, size, s->lines++, page);
		if (workload_add_page(wl, page, size == TRACE_SAME ? 0 : size)) {
			fprintf(stderr, "density: %s: out of memory\n", path);
			ret = -1;
			break;
		}
		if (size != TRACE_SAME) {
			const struct wl_page *rec = &wl->pages[wl->nr_pages - 1];
			uint32_t err = rec->size > size ? rec->size - size : size - rec->size;

			s->off_target += err != 0;
			s->abs_error += err;
			if (err > s->max_error)
				s->max_error = err;
		}
	}
	if (!ret && ferror(f)) {
		fprintf(stderr, "density: --trace %s: read error\n", path);
		ret = -1;
	}
	fclose(f);
	free(page);
	if (!ret) {
		const char *base = strrchr(path, '/');

		workload_describe(wl, base ? base + 1 : path);
	}
	return ret;
}

int trace_write(const struct workload *wl, const char *path, const char *compressor)
{
	FILE *f = fopen(path, "w");
	char date[32];
	time_t now = time(NULL);
	int err = 0;

	if (!f)
		return -errno;
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	fprintf(f,
		"# zsalloc density trace: one page per line: its %s-compressed "
		"size in bytes\n"
		"# (%zu: did not compress below the page size, stored raw), or "
		"S: same-filled.\n"
		"# page_size %zu, compressor %s, %zu pages (%llu same-filled)\n"
		"# source: %s\n# captured %s by tools/density --save-trace\n",
		compressor, wl->page_size, wl->page_size, compressor, wl->trace_len,
		(unsigned long long)wl->same_filled, wl->sources, date);
	for (size_t i = 0; i < wl->trace_len; i++) {
		if (wl->trace[i])
			fprintf(f, "%u\n", wl->trace[i]);
		else
			fputs("S\n", f);
	}
	if (ferror(f))
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}
