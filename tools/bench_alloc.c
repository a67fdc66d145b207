/*
 * bench_alloc.c - zsmalloc, xvmalloc and the linked malloc on one size mix.
 *
 * The size mix is real: the compressed page sizes of the bundled traces
 * (tools/data, same-filled pages left out, as zram stores those as a value)
 * or of --trace files, resampled with a fixed seed into a table of 2^16
 * sizes. Every table puts the allocators side by side on the same sizes, in
 * the same run; the reference of a table is the linked malloc (whatever
 * LD_PRELOAD put there) or, for the access paths, a bare memcpy of the same
 * bytes. Each figure is the best of --repeat runs; where allocators are
 * compared (pairs, read, write, threads) their runs are taken in turn, so
 * that a slow spell of a shared host weighs on all of them alike.
 *
 *   pairs     free a random live object and allocate a new one, against a
 *             steady population (2^17 objects): allocator work only, then
 *             with the object's bytes written, as a store would
 *   read      copy a random object out, through each allocator's way
 *   map       zs_map_object + zs_unmap_object alone, in-page and
 *             straddling (copy and remap), beside memcpy of the bytes
 *   write     copy bytes into a random object
 *   compact   zs_compact after a random half of the objects is freed
 *   threads   pairs on one shared pool: 1 thread, then --threads threads
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/datadir.h"
#include "tools/trace.h"
#include "tools/zpool.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

#define MIX_BITS 16
#define MIX_MASK ((1u << MIX_BITS) - 1)
#define POP_BITS 17 /* steady population: 131072 objects */
#define PAGE_MAX 65536

/* ---- The size mix ---------------------------------------------------- */

struct mix {
	uint32_t size[1u << MIX_BITS]; /* resampled sizes */
	uint64_t pages;                /* trace lines used (not same-filled) */
	double mean;
	char source[160];
};

static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int mix_load(struct mix *m, char *const *paths, int n)
{
	size_t page = 4096, cap = 1 << 16, count = 0, i;
	uint32_t *all = malloc(cap * sizeof(*all));
	uint64_t seed = 0x9e3779b97f4a7c15ull, sum = 0;
	char line[256];
	int p;

	if (!all)
		return ENOMEM;
	for (p = 0; p < n; p++) {
		FILE *f = fopen(paths[p], "r");
		uint32_t size;

		if (!f) {
			fprintf(stderr, "bench: %s: %s\n", paths[p], strerror(errno));
			free(all);
			return EINVAL;
		}
		while (fgets(line, sizeof(line), f)) {
			int r = trace_parse_line(line, page, &size);

			if (r < 0) {
				fprintf(stderr, "bench: %s: bad line '%.40s'\n", paths[p], line);
				fclose(f);
				free(all);
				return EINVAL;
			}
			if (r == 0 || size == TRACE_SAME)
				continue;
			if (count == cap) {
				uint32_t *grown = realloc(all, (cap *= 2) * sizeof(*all));

				if (!grown) {
					fclose(f);
					free(all);
					return ENOMEM;
				}
				all = grown;
			}
			all[count++] = size;
		}
		fclose(f);
	}
	if (!count) {
		fprintf(stderr, "bench: the traces hold no sizes\n");
		free(all);
		return EINVAL;
	}
	for (i = 0; i <= MIX_MASK; i++) {
		m->size[i] = all[rnd_next(&seed) % count];
		sum += m->size[i];
	}
	m->pages = count;
	m->mean = (double)sum / (MIX_MASK + 1);
	free(all);
	return 0;
}

/* ---- The allocators, behind a thin table --------------------------- */

struct aops {
	const char *name;
	void *(*create)(void);
	void (*destroy)(void *pool);
	uint64_t (*alloc)(void *pool, uint32_t size); /* 0: failed */
	void (*release)(void *pool, uint64_t id);
	void (*write)(void *pool, uint64_t id, const void *src, uint32_t len);
	void (*read)(void *pool, uint64_t id, void *dst, uint32_t len);
};

static void *m_create(void) { return (void *)1; }
static void m_destroy(void *pool) { (void)pool; }
static uint64_t m_alloc(void *pool, uint32_t size)
{
	(void)pool;
	return (uint64_t)(uintptr_t)malloc(size);
}
static void m_release(void *pool, uint64_t id)
{
	(void)pool;
	free((void *)(uintptr_t)id);
}
static void m_write(void *pool, uint64_t id, const void *src, uint32_t len)
{
	(void)pool;
	memcpy((void *)(uintptr_t)id, src, len);
}
static void m_read(void *pool, uint64_t id, void *dst, uint32_t len)
{
	(void)pool;
	memcpy(dst, (void *)(uintptr_t)id, len);
}

static void *zs_create_copy(void) { return zs_create_pool("bench"); }
static void *zs_create_remap(void)
{
	struct zs_config c = { .name = "bench", .map_method = ZS_MAP_REMAP };

	return zs_create_pool_config(&c);
}
static void *zs_create_scattered(void)
{
	struct zs_config c = { .name = "bench", .layout = ZS_LAYOUT_SCATTERED };

	return zs_create_pool_config(&c);
}
static void zsb_destroy(void *pool) { zs_destroy_pool(pool); }
static uint64_t zsb_alloc(void *pool, uint32_t size) { return zs_malloc(pool, size, 0); }
static void zsb_release(void *pool, uint64_t id) { zs_free(pool, (zs_handle)id); }
static void zsb_write(void *pool, uint64_t id, const void *src, uint32_t len)
{
	zs_obj_write(pool, (zs_handle)id, src, len);
}
static void zsb_read(void *pool, uint64_t id, void *dst, uint32_t len)
{
	/* zram's read path: in place when in one page, else copied. */
	const void *p = zs_obj_read_begin(pool, (zs_handle)id, len, dst);

	if (p != dst)
		memcpy(dst, p, len);
	zs_obj_read_end(pool, (zs_handle)id, p);
}

static void *xvb_create(void) { return xv_create_pool(); }
static void xvb_destroy(void *pool) { xv_destroy_pool(pool); }
/* xvmalloc objects stop 4 bytes short of a page (its header); the raw
 * pages of the mix (4096 bytes) are stored as 4092, as said in the tables. */
static uint64_t xvb_alloc(void *pool, uint32_t size)
{
	uint32_t pfn, off;

	if (size > xv_max_size())
		size = xv_max_size();
	if (xv_malloc(pool, size, &pfn, &off, 0))
		return 0;
	return ((uint64_t)pfn << 32) | off;
}
static void xvb_release(void *pool, uint64_t id)
{
	xv_free(pool, (uint32_t)(id >> 32), (uint32_t)id);
}
static void xvb_write(void *pool, uint64_t id, const void *src, uint32_t len)
{
	void *p = xv_map(pool, (uint32_t)(id >> 32), (uint32_t)id);

	if (len > xv_max_size())
		len = xv_max_size();
	memcpy(p, src, len);
	xv_unmap(pool, (uint32_t)(id >> 32), (uint32_t)id);
}
static void xvb_read(void *pool, uint64_t id, void *dst, uint32_t len)
{
	const void *p = xv_map(pool, (uint32_t)(id >> 32), (uint32_t)id);

	if (len > xv_max_size())
		len = xv_max_size();
	memcpy(dst, p, len);
	xv_unmap(pool, (uint32_t)(id >> 32), (uint32_t)id);
}

static const struct aops ops_malloc = { "malloc", m_create, m_destroy, m_alloc,
					m_release, m_write, m_read };
static const struct aops ops_zs = { "zsmalloc", zs_create_copy, zsb_destroy,
				    zsb_alloc, zsb_release, zsb_write, zsb_read };
static const struct aops ops_xv = { "xvmalloc (4096 B stored as 4092)", xvb_create, xvb_destroy,
				    xvb_alloc, xvb_release, xvb_write, xvb_read };

/* ---- A population of live objects ---------------------------------- */

struct pop {
	const struct aops *ops;
	void *pool;
	const struct mix *mix;
	uint64_t *id;      /* [n] */
	uint32_t *len;     /* [n] */
	uint32_t n;        /* a power of two */
	uint64_t rng;
	int with_write;    /* write the bytes of each new object */
	const uint8_t *src; /* PAGE_MAX bytes to write from */
	uint8_t *buf;      /* PAGE_MAX bytes to read into */
	int failed;        /* an allocation failed: the figures are void */
};

static int pop_fill(struct pop *p, const struct aops *ops, void *pool,
		    const struct mix *mix, uint32_t n, uint64_t seed,
		    const uint8_t *src)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->pool = pool;
	p->mix = mix;
	p->n = n;
	p->rng = seed;
	p->src = src;
	p->id = malloc(n * sizeof(*p->id));
	p->len = malloc(n * sizeof(*p->len));
	p->buf = malloc(PAGE_MAX);
	if (!p->id || !p->len || !p->buf)
		return ENOMEM;
	for (i = 0; i < n; i++) {
		p->len[i] = mix->size[rnd_next(&p->rng) & MIX_MASK];
		p->id[i] = ops->alloc(pool, p->len[i]);
		if (!p->id[i])
			return ENOMEM;
		ops->write(pool, p->id[i], src, p->len[i]);
	}
	return 0;
}

static void pop_free(struct pop *p)
{
	uint32_t i;

	if (p->id)
		for (i = 0; i < p->n; i++)
			if (p->id[i])
				p->ops->release(p->pool, p->id[i]);
	free(p->id);
	free(p->len);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

static void run_pair(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = (uint32_t)rnd_next(&p->rng) & (p->n - 1);

	(void)k;
	p->ops->release(p->pool, p->id[i]);
	p->len[i] = p->mix->size[rnd_next(&p->rng) & MIX_MASK];
	p->id[i] = p->ops->alloc(p->pool, p->len[i]);
	if (!p->id[i]) {
		p->failed = 1;
		p->id[i] = p->ops->alloc(p->pool, 1); /* keep the slot usable */
		return;
	}
	if (p->with_write)
		p->ops->write(p->pool, p->id[i], p->src, p->len[i]);
}

static void run_read(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = (uint32_t)rnd_next(&p->rng) & (p->n - 1);

	(void)k;
	p->ops->read(p->pool, p->id[i], p->buf, p->len[i]);
	bench_keep(p->buf[0]);
}

static void run_write(void *arg, uint64_t k)
{
	struct pop *p = arg;
	uint32_t i = (uint32_t)rnd_next(&p->rng) & (p->n - 1);

	(void)k;
	p->ops->write(p->pool, p->id[i], p->src, p->len[i]);
}

static uint64_t iters(const struct bench_options *o, uint64_t n)
{
	uint64_t k = (uint64_t)((double)n * o->scale);

	return k ? k : 1;
}

/* ---- map + unmap alone ------------------------------------------------ */

struct maps {
	struct zs_pool *pool;
	zs_handle in[1024];   /* objects inside one page */
	zs_handle st[1024];   /* objects that straddle two pages */
	uint8_t *src[1024];   /* malloc'd copies, for the memcpy reference */
	uint32_t len[1024];   /* of the straddling objects */
	uint8_t *buf;
	uint64_t rng;
};

static void run_map_in(void *arg, uint64_t k)
{
	struct maps *m = arg;
	zs_handle h = m->in[k & 1023];
	const uint8_t *p = zs_map_object(m->pool, h, ZS_MM_RO);

	bench_keep(p[0]);
	zs_unmap_object(m->pool, h);
}

static void run_map_st(void *arg, uint64_t k)
{
	struct maps *m = arg;
	uint32_t i = (uint32_t)(k & 1023);
	const uint8_t *p = zs_map_object(m->pool, m->st[i], ZS_MM_RO);

	bench_keep((uint64_t)p[0] + p[m->len[i] - 1]);
	zs_unmap_object(m->pool, m->st[i]);
}

static void run_map_st_same(void *arg, uint64_t k)
{
	struct maps *m = arg;
	const uint8_t *p = zs_map_object(m->pool, m->st[0], ZS_MM_RO);

	(void)k;
	bench_keep((uint64_t)p[0] + p[m->len[0] - 1]);
	zs_unmap_object(m->pool, m->st[0]);
}

static void run_memcpy_st(void *arg, uint64_t k)
{
	struct maps *m = arg;
	uint32_t i = (uint32_t)(k & 1023);

	memcpy(m->buf, m->src[i], m->len[i]);
	bench_keep((uint64_t)m->buf[0] + m->buf[m->len[i] - 1]);
}

/* Sort a pool's objects of the mix into in-page and straddling ones. */
static int maps_init(struct maps *m, struct zs_pool *pool, const struct mix *mix,
		     const uint8_t *src)
{
	uint32_t nin = 0, nst = 0, tries = 0;

	memset(m, 0, sizeof(*m));
	m->pool = pool;
	m->rng = 12345;
	m->buf = aligned_alloc(4096, PAGE_MAX);
	if (!m->buf)
		return ENOMEM;
	while ((nin < 1024 || nst < 1024) && tries++ < 100000) {
		uint32_t len = mix->size[rnd_next(&m->rng) & MIX_MASK];
		zs_handle h = zs_malloc(pool, len, 0);
		const void *p;

		if (!h)
			return ENOMEM;
		zs_obj_write(pool, h, src, len);
		/* read_begin hands back the caller's buffer only when the
		 * object straddles two pages */
		p = zs_obj_read_begin(pool, h, len, m->buf);
		zs_obj_read_end(pool, h, p);
		if (p != m->buf && nin < 1024) {
			m->in[nin++] = h;
		} else if (p == m->buf && nst < 1024) {
			m->len[nst] = len;
			m->src[nst] = malloc(len);
			if (!m->src[nst])
				return ENOMEM;
			memcpy(m->src[nst], src, len);
			m->st[nst++] = h;
		}
	}
	if (nin < 1024 || nst < 1024)
		return EINVAL;
	return 0;
}

static void maps_free(struct maps *m)
{
	uint32_t i;

	for (i = 0; i < 1024; i++)
		free(m->src[i]);
	free(m->buf);
}

/* ---- Threads ------------------------------------------------------------ */

struct thread_run {
	struct pop pop;
	uint64_t ops;
	pthread_barrier_t *start;
	/* for pop_fill, which each thread runs itself, as a real user's
	 * threads would fill their own objects */
	const struct aops *aops;
	void *pool;
	const struct mix *mix;
	uint32_t n;
	uint64_t seed;
	const uint8_t *src;
	int fill_failed;
};

static void *thread_pairs(void *arg)
{
	struct thread_run *t = arg;
	uint64_t k;

	t->fill_failed = pop_fill(&t->pop, t->aops, t->pool, t->mix, t->n,
				  t->seed, t->src) != 0;
	pthread_barrier_wait(t->start);
	if (t->fill_failed)
		return NULL;
	for (k = 0; k < t->ops; k++)
		run_pair(&t->pop, k);
	return NULL;
}

/* ns per pair over all threads: @nt threads on one pool of @ops, each with
 * its own population of 2^POP_BITS / @nt objects, filled by the thread. */
static double threads_pairs(const struct aops *ops, const struct mix *mix,
			    const uint8_t *src, int nt, uint64_t per_thread,
			    int *failed)
{
	struct thread_run *t = calloc((size_t)nt, sizeof(*t));
	pthread_t *tid = calloc((size_t)nt, sizeof(*tid));
	pthread_barrier_t start;
	void *pool = ops->create();
	uint64_t t0, t1;
	int i;

	if (!t || !tid || !pool) {
		free(t);
		free(tid);
		if (pool)
			ops->destroy(pool);
		*failed = 1;
		return -1;
	}
	pthread_barrier_init(&start, NULL, (unsigned)nt + 1);
	for (i = 0; i < nt; i++) {
		t[i].aops = ops;
		t[i].pool = pool;
		t[i].mix = mix;
		t[i].n = (1u << POP_BITS) / (uint32_t)nt;
		t[i].seed = 1000 + (uint64_t)i;
		t[i].src = src;
		t[i].ops = per_thread;
		t[i].start = &start;
		pthread_create(&tid[i], NULL, thread_pairs, &t[i]);
	}
	pthread_barrier_wait(&start); /* every population filled */
	t0 = bench_now_ns();
	for (i = 0; i < nt; i++)
		pthread_join(tid[i], NULL);
	t1 = bench_now_ns();
	for (i = 0; i < nt; i++) {
		*failed |= t[i].pop.failed | t[i].fill_failed;
		pop_free(&t[i].pop);
	}
	pthread_barrier_destroy(&start);
	ops->destroy(pool);
	free(t);
	free(tid);
	return (double)(t1 - t0) / (double)(per_thread * (uint64_t)nt);
}

/* ---- The tables ------------------------------------------------------- */

static const struct aops *const all_ops[] = { &ops_malloc, &ops_zs, &ops_xv };
#define NR_OPS 3

static const char *ops_label(const struct aops *ops)
{
	return ops == &ops_malloc ? zpool_label(&zpool_malloc_driver) : ops->name;
}

static int table_pairs_and_access(const struct bench_options *o,
				  struct bench_report *r, const struct mix *mix,
				  const uint8_t *src)
{
	struct bench_table *pairs, *stores, *reads, *writes;
	struct pop p[NR_OPS];
	void *args[NR_OPS];
	double ns[4][NR_OPS];
	char title[320];
	int a;

	snprintf(title, sizeof(title),
		 "alloc+free pairs, steady population of %u objects, sizes from %s (mean %.0f B)",
		 1u << POP_BITS, mix->source, mix->mean);
	pairs = bench_table_new(r, title, "malloc");
	stores = bench_table_new(r, "alloc + write the bytes + free, same population",
				 "malloc");
	reads = bench_table_new(r, "read a random object's bytes into a buffer", "malloc");
	writes = bench_table_new(r, "write a random object's bytes", "malloc");
	if (!writes)
		return ENOMEM;
	snprintf(pairs->reference, sizeof(pairs->reference), "%s", ops_label(&ops_malloc));
	snprintf(stores->reference, sizeof(stores->reference), "%s", ops_label(&ops_malloc));
	snprintf(reads->reference, sizeof(reads->reference), "%s", ops_label(&ops_malloc));
	snprintf(writes->reference, sizeof(writes->reference), "%s", ops_label(&ops_malloc));

	/* Every allocator's population alive at once, and each figure taken
	 * in turn across them (bench_best_each): the host's slow spells, which
	 * last seconds on this VM, then weigh on all three alike. */
	for (a = 0; a < NR_OPS; a++) {
		void *pool = all_ops[a]->create();

		args[a] = NULL;
		if (!pool || pop_fill(&p[a], all_ops[a], pool, mix, 1u << POP_BITS, 42, src)) {
			bench_table_add(pairs, ops_label(all_ops[a]), -1, "out of memory");
			if (pool) {
				pop_free(&p[a]);
				all_ops[a]->destroy(pool);
			}
			continue;
		}
		args[a] = &p[a];
	}
	bench_best_each(o, iters(o, 1000000), NR_OPS, run_pair, args, ns[0]);
	for (a = 0; a < NR_OPS; a++)
		if (args[a])
			p[a].with_write = 1;
	bench_best_each(o, iters(o, 500000), NR_OPS, run_pair, args, ns[1]);
	bench_best_each(o, iters(o, 1000000), NR_OPS, run_read, args, ns[2]);
	bench_best_each(o, iters(o, 1000000), NR_OPS, run_write, args, ns[3]);
	for (a = 0; a < NR_OPS; a++) {
		const struct aops *ops = all_ops[a];
		const char *how = ops == &ops_zs ? "zs_obj_read_begin/end (+memcpy if in place)"
			: ops == &ops_xv ? "xv_map + memcpy + xv_unmap" : "memcpy";
		const char *wr = ops == &ops_zs ? "zs_obj_write"
			: ops == &ops_xv ? "xv_map + memcpy" : "memcpy";
		void *pool = p[a].pool;

		if (!args[a])
			continue;
		bench_table_add(pairs, ops_label(ops), p[a].failed ? -1 : ns[0][a],
				p[a].failed ? "an allocation failed" : "");
		bench_table_add(stores, ops_label(ops), p[a].failed ? -1 : ns[1][a], wr);
		bench_table_add(reads, ops_label(ops), ns[2][a], how);
		bench_table_add(writes, ops_label(ops), ns[3][a], wr);
		pop_free(&p[a]);
		ops->destroy(pool);
	}
	return 0;
}

static int table_map(const struct bench_options *o, struct bench_report *r,
		     const struct mix *mix, const uint8_t *src)
{
	struct zs_pool *copy = zs_create_scattered(), *remap = zs_create_remap();
	struct maps *mc = calloc(1, sizeof(*mc)), *mr = calloc(1, sizeof(*mr));
	struct bench_table *t;
	int err = ENOMEM;

	if (!copy || !remap || !mc || !mr)
		goto out;
	err = maps_init(mc, copy, mix, src);
	if (!err)
		err = maps_init(mr, remap, mix, src);
	if (err)
		goto out;
	t = bench_table_new(r, "zsmalloc map + unmap (RO, touching the first and last byte), objects of the mix",
			    "memcpy of a straddling object's bytes");
	if (!t)
		goto out;
	bench_table_add(t, "memcpy of a straddling object's bytes",
			bench_best(o, iters(o, 4000000), run_memcpy_st, mc),
			"the same 1024 objects' sizes, bare memcpy");
	bench_table_add(t, "in-page object, map + unmap",
			bench_best(o, iters(o, 20000000), run_map_in, mc),
			"a pointer into the page, pinned");
	bench_table_add(t, "straddling object, copy map + unmap",
			bench_best(o, iters(o, 4000000), run_map_st, mc),
			"both parts copied to the thread's buffer");
	bench_table_add(t, "straddling object, remap map + unmap",
			bench_best(o, iters(o, 20000), run_map_st, mr),
			"1024 objects > 8 windows: re-pointed each time");
	bench_table_add(t, "straddling object, remap, same object",
			bench_best(o, iters(o, 4000000), run_map_st_same, mr),
			"the window is reused");
	err = 0;
out:
	if (mc)
		maps_free(mc);
	if (mr)
		maps_free(mr);
	free(mc);
	free(mr);
	zs_destroy_pool(copy);
	zs_destroy_pool(remap);
	return err;
}

static int table_compact(const struct bench_options *o, struct bench_report *r,
			 const struct mix *mix, const uint8_t *src)
{
	struct bench_table *t = bench_table_new(r, "zs_compact after freeing a random half",
						"zs_compact");
	struct zs_pool *pool = zs_create_copy();
	struct zs_stats before, after;
	struct pop p;
	char note[96];
	uint64_t t0, t1, moved;
	uint32_t i, n = 1u << POP_BITS;
	size_t freed;

	(void)o;
	if (!t || !pool || pop_fill(&p, &ops_zs, pool, mix, n, 7, src)) {
		zs_destroy_pool(pool);
		return ENOMEM;
	}
	for (i = 0; i < n; i++)
		if (rnd_next(&p.rng) & 1) {
			zsb_release(pool, p.id[i]);
			p.id[i] = 0;
		}
	zs_pool_stats(pool, &before);
	t0 = bench_now_ns();
	freed = zs_compact(pool);
	t1 = bench_now_ns();
	zs_pool_stats(pool, &after);
	moved = after.objects_moved - before.objects_moved;
	snprintf(note, sizeof(note), "%.1f ms, %llu objects moved, %zu pages freed",
		 (double)(t1 - t0) / 1e6, (unsigned long long)moved, freed);
	bench_table_add(t, "zs_compact, per object moved",
			moved ? (double)(t1 - t0) / (double)moved : -1, note);
	snprintf(note, sizeof(note), "%llu live objects",
		 (unsigned long long)after.objects);
	bench_table_add(t, "zs_compact, per live object",
			after.objects ? (double)(t1 - t0) / (double)after.objects : -1, note);
	pop_free(&p);
	zs_destroy_pool(pool);
	return 0;
}

static int table_threads(const struct bench_options *o, struct bench_report *r,
			 const struct mix *mix, const uint8_t *src)
{
	char title[128], name[96], note[96];
	struct bench_table *t;
	double handoff[2];
	int a;

	snprintf(title, sizeof(title),
		 "alloc+free pairs on one shared pool: 1 thread vs %d (ns per pair, all threads)",
		 o->threads);
	t = bench_table_new(r, title, "");
	if (!t)
		return ENOMEM;
	handoff[0] = bench_handoff_ns(iters(o, 200000));
	for (a = 0; a < NR_OPS; a++) {
		const struct aops *ops = all_ops[a];
		int failed = 0, k;
		double one = 0, many = 0;

		/* Best of --repeat, 1 and N threads taken in turn so that both
		 * see the same machine (a VM's neighbours come and go). */
		for (k = 0; k < (o->repeat > 0 ? o->repeat : 1); k++) {
			double x = threads_pairs(ops, mix, src, 1, iters(o, 2000000),
						 &failed);
			double y = threads_pairs(ops, mix, src, o->threads,
						 iters(o, 2000000) / (uint64_t)o->threads,
						 &failed);

			if (!k || x < one)
				one = x;
			if (!k || y < many)
				many = y;
		}

		if (a == 0)
			snprintf(t->reference, sizeof(t->reference), "%s, 1 thread",
				 ops_label(ops));
		snprintf(name, sizeof(name), "%s, 1 thread", ops_label(ops));
		bench_table_add(t, name, failed ? -1 : one, "");
		snprintf(name, sizeof(name), "%s, %d threads", ops_label(ops), o->threads);
		snprintf(note, sizeof(note), "throughput %.2fx of 1 thread", one / many);
		bench_table_add(t, name, failed ? -1 : many, note);
	}
	/* Threads sharing a pool hand cache lines (locks, lists, records)
	 * back and forth; what one handoff costs sets how far they scale. */
	handoff[1] = bench_handoff_ns(iters(o, 200000));
	bench_table_add(t, "cache line round trip, 2 threads, before", handoff[0],
			"the machine, not an allocator");
	bench_table_add(t, "cache line round trip, 2 threads, after", handoff[1],
			"(varies between runs on a VM)");
	return 0;
}

int bench_alloc(const struct bench_options *o, struct bench_report *r)
{
	struct mix *mix = calloc(1, sizeof(*mix));
	uint8_t *src = malloc(PAGE_MAX);
	char dir[4096], **paths = NULL;
	int n = 0, err, i;

	if (!mix || !src) {
		err = ENOMEM;
		goto out;
	}
	for (i = 0; i < PAGE_MAX; i++)
		src[i] = (uint8_t)(i * 131 + 7);
	if (o->nr_traces) {
		err = mix_load(mix, o->traces, o->nr_traces);
		snprintf(mix->source, sizeof(mix->source), "%d trace file%s", o->nr_traces,
			 o->nr_traces > 1 ? "s" : "");
	} else {
		if (data_dir_find(o->argv0, dir, sizeof(dir)) ||
		    (n = data_dir_traces(dir, &paths)) <= 0) {
			fprintf(stderr, "bench: no bundled traces found (tools/data); use --trace FILE\n");
			err = ENOENT;
			goto out;
		}
		err = mix_load(mix, paths, n);
		snprintf(mix->source, sizeof(mix->source), "the %d bundled traces", n);
	}
	if (err)
		goto out;
	err = table_pairs_and_access(o, r, mix, src);
	if (!err)
		err = table_map(o, r, mix, src);
	if (!err)
		err = table_compact(o, r, mix, src);
	if (!err)
		err = table_threads(o, r, mix, src);
out:
	data_dir_free(paths, n > 0 ? n : 0);
	free(src);
	free(mix);
	return err;
}
