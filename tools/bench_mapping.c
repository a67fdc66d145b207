/*
 * bench_mapping.c - what it costs to reach bytes through the mapping layer.
 *
 * The straddling object is 2 KiB starting 1 KiB before the end of page A and
 * ending 1 KiB into page B, where A and B are not adjacent in the direct
 * map. The reference is a bare memcpy of the same 2 KiB (two 1 KiB parts
 * into a buffer), which is the least any copy-based map can cost.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "tools/bench.h"

#define NR_PAIRS 256  /* pages pairs the loops cycle through */
#define COLD_PAIRS 64 /* > MP_WINDOWS: every remap re-points a window */
#define OBJ_LEN 2048u

struct ctx {
	struct mp_source *src;
	uint32_t a[NR_PAIRS]; /* first page of pair i */
	uint32_t b[NR_PAIRS]; /* second page, never a[i] + 1 */
	uint32_t page;
	const uint8_t *tail[NR_PAIRS]; /* last OBJ_LEN / 2 bytes of page a[i] */
	const uint8_t *head[NR_PAIRS]; /* first bytes of page b[i] */
	uint8_t *buf;                  /* page-aligned, like the per-thread copy buffers */
	uint32_t half;                 /* OBJ_LEN / 2, a run-time value so that memcpy is the
					  library call, as in the map path (a constant size
					  lets gcc inline a slower `rep movsq`) */
};

static uint64_t touch(const uint8_t *p)
{
	return (uint64_t)p[0] + p[OBJ_LEN / 2] + p[OBJ_LEN - 1];
}

static void run_kmap(void *arg, uint64_t i)
{
	struct ctx *c = arg;
	const uint8_t *p = mp_kmap(c->src, c->a[i % NR_PAIRS]);

	bench_keep(p[0]);
}

static void run_memcpy(void *arg, uint64_t i)
{
	struct ctx *c = arg;
	memcpy(c->buf, c->tail[i % NR_PAIRS], c->half);
	memcpy(c->buf + c->half, c->head[i % NR_PAIRS], c->half);
	bench_keep(touch(c->buf));
}

static void map_one(struct ctx *c, uint32_t a, uint32_t b, enum mp_mode mode, enum mp_method method)
{
	const uint8_t *p = mp_map_pair(c->src, a, b, c->page - OBJ_LEN / 2, OBJ_LEN, mode, method,
				       1);

	if (!p)
		abort(); /* validated before timing; cannot fail here */
	bench_keep(touch(p));
	mp_unmap_pair(c->src, 1);
}

static void run_remap_reused(void *arg, uint64_t i)
{
	struct ctx *c = arg;

	(void)i;
	map_one(c, c->a[0], c->b[0], MP_RW, MP_REMAP);
}

static void run_remap_cold(void *arg, uint64_t i)
{
	struct ctx *c = arg;

	map_one(c, c->a[i % COLD_PAIRS], c->b[i % COLD_PAIRS], MP_RW, MP_REMAP);
}

static void run_remap_adjacent(void *arg, uint64_t i)
{
	struct ctx *c = arg;
	uint32_t a = c->a[i % NR_PAIRS];

	/* a + 1 is the gap page allocated between a and b */
	map_one(c, a, a + 1, MP_RW, MP_REMAP);
}

static void run_copy_ro(void *arg, uint64_t i)
{
	struct ctx *c = arg;

	map_one(c, c->a[i % NR_PAIRS], c->b[i % NR_PAIRS], MP_RO, MP_COPY);
}

static void run_copy_rw(void *arg, uint64_t i)
{
	struct ctx *c = arg;

	map_one(c, c->a[i % NR_PAIRS], c->b[i % NR_PAIRS], MP_RW, MP_COPY);
}

int bench_mapping(const struct bench_options *o, struct bench_report *r)
{
	struct mp_config shared = { .backing = MP_BACKING_SHARED }; /* remap windows */
	struct ctx *c = calloc(1, sizeof(*c));
	struct bench_table *t;
	uint32_t gap;
	int i, err = 0;

	if (!c)
		return ENOMEM;
	c->src = mp_create(&shared);
	if (!c->src) {
		err = errno;
		goto out;
	}
	c->page = (uint32_t)mp_page_size();
	c->half = OBJ_LEN / 2;
	c->buf = aligned_alloc(c->page, c->page);
	if (!c->buf) {
		err = ENOMEM;
		goto out;
	}
	/* a, gap, b, a', gap', b', ...: no pair is adjacent; a + 1 is a page. */
	for (i = 0; i < NR_PAIRS; i++) {
		if (mp_alloc_page(c->src, &c->a[i]) || mp_alloc_page(c->src, &gap) ||
		    mp_alloc_page(c->src, &c->b[i])) {
			err = ENOMEM;
			goto out;
		}
		memset(mp_kmap(c->src, c->a[i]), 'a', c->page);
		memset(mp_kmap(c->src, gap), 'g', c->page);
		memset(mp_kmap(c->src, c->b[i]), 'b', c->page);
		c->tail[i] = (const uint8_t *)mp_kmap(c->src, c->a[i]) + c->page - OBJ_LEN / 2;
		c->head[i] = mp_kmap(c->src, c->b[i]);
	}
	if (!mp_map_pair(c->src, c->a[0], c->b[0], 0, 1, MP_RO, MP_REMAP, 1) ||
	    mp_unmap_pair(c->src, 1)) {
		err = errno ? errno : EINVAL;
		goto out;
	}

	t = bench_table_new(r,
			    "mapping: reach a 2 KiB object straddling two "
			    "non-adjacent pages",
			    "memcpy 2 KiB (reference)");
	if (!t) {
		err = ENOMEM;
		goto out;
	}
	{
		const struct bench_case cases[] = {
			{ "memcpy 2 KiB (reference)", 2000000, run_memcpy, c,
			  "the two 1 KiB parts into a buffer" },
			{ "page map (mp_kmap)", 20000000, run_kmap, c,
			  "one page, direct map: arithmetic + check" },
			{ "copy map+unmap RO", 2000000, run_copy_ro, c, "copy in" },
			{ "copy map+unmap RW", 2000000, run_copy_rw, c, "copy in and back" },
			{ "remap map+unmap, window reused", 2000000, run_remap_reused, c,
			  "same pair every time" },
			{ "remap map+unmap, window not reused", 20000, run_remap_cold, c,
			  "64 pairs > 8 windows: 2 mmap + 2 faults" },
			{ "remap map+unmap, adjacent pfns", 2000000, run_remap_adjacent, c,
			  "B == A + 1: the direct map, no window" },
		};

		bench_table_run(o, t, cases, sizeof(cases) / sizeof(cases[0]));
	}
out:
	if (c->src)
		mp_destroy(c->src);
	free(c->buf);
	free(c);
	return err;
}
