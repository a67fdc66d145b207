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
 *   small     issue 17's small working set (bench_small.c)
 *
 * zsmalloc is there twice where objects are read, written or mapped: the
 * default pool (contiguous zspages) and zsmalloc-scattered (the kernel's
 * layout, straddlers copied); the read tables read it as segments too
 * (zs_obj_read_sg_begin/end).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/bench.h"
#include "tools/bench_pop.h"
#include "zsmalloc/zsmalloc.h"

#define POP_BITS 17 /* the threads table's population: 131072 objects */

static struct zs_pool *zs_create_layout(enum zs_layout layout, enum zs_map_method method)
{
	struct zs_config c = { .name = "bench", .layout = layout, .map_method = method };

	return zs_create_pool_config(&c);
}

/* ---- map + unmap alone ------------------------------------------------ */

struct maps {
	struct zs_pool *pool;
	zs_handle in[1024]; /* objects inside one page */
	zs_handle st[1024]; /* objects that straddle two pages */
	uint8_t *src[1024]; /* malloc'd copies, for the memcpy reference */
	uint32_t len[1024]; /* of the straddling objects */
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

static void run_sg_st(void *arg, uint64_t k)
{
	struct maps *m = arg;
	uint32_t i = (uint32_t)(k & 1023);

	bench_keep(ops_zs.sg_touch(m->pool, m->st[i], m->len[i]));
}

static void run_memcpy_st(void *arg, uint64_t k)
{
	struct maps *m = arg;
	uint32_t i = (uint32_t)(k & 1023);

	memcpy(m->buf, m->src[i], m->len[i]);
	bench_keep((uint64_t)m->buf[0] + m->buf[m->len[i] - 1]);
}

/* 1 if the @len bytes at @p cross a page boundary. */
static int crosses(const void *p, uint32_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);

	return ((uintptr_t)p & (page - 1)) + len > page;
}

/* Keep @h as the next straddling object of @m; 0 or ENOMEM. */
static int maps_keep_st(struct maps *m, uint32_t *nst, zs_handle h, uint32_t len,
			const uint8_t *src)
{
	m->len[*nst] = len;
	m->src[*nst] = malloc(len);
	if (!m->src[*nst])
		return ENOMEM;
	memcpy(m->src[*nst], src, len);
	m->st[(*nst)++] = h;
	return 0;
}

/* Sort a pool's objects of the mix into in-page and straddling ones:
 * straddling, an object zs_obj_read_begin() copies (the scattered layout:
 * its pages are not consecutive) or, in the contiguous layout, one that
 * crosses a page boundary (there it is one range all the same). */
static int maps_init(struct maps *m, struct zs_pool *pool, int contiguous, const struct mix *mix,
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
		p = zs_obj_read_begin(pool, h, len, m->buf);
		zs_obj_read_end(pool, h, p);
		if (p != m->buf && !crosses(p, len) && nin < 1024)
			m->in[nin++] = h;
		else if ((p == m->buf || (contiguous && crosses(p, len))) && nst < 1024 &&
			 maps_keep_st(m, &nst, h, len, src))
			return ENOMEM;
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

	t->fill_failed = pop_fill(&t->pop, t->aops, t->pool, t->mix, t->n, t->seed, t->src, 0) != 0;
	pthread_barrier_wait(t->start);
	if (t->fill_failed)
		return NULL;
	for (k = 0; k < t->ops; k++)
		run_pair(&t->pop, k);
	return NULL;
}

/* ns per pair over all threads: @nt threads on one pool of @ops, each with
 * its own population of 2^POP_BITS / @nt objects, filled by the thread. */
static double threads_pairs(const struct aops *ops, const struct mix *mix, const uint8_t *src,
			    int nt, uint64_t per_thread, int *failed)
{
	struct thread_run *t = calloc((size_t)nt, sizeof(*t));
	pthread_t *tid = calloc((size_t)nt, sizeof(*tid));
	pthread_barrier_t start;
	void *pool = ops->create(0);
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

/* One access table per population: what it times and how long. */
struct access_table {
	const char *title; /* then ", N objects" */
	void (*fn)(void *arg, uint64_t k);
	uint64_t iters;
	int with_write; /* pairs: write the new object's bytes */
	int how;        /* which note: 0 none, 1 read, 2 write, 3 map */
};

static const struct access_table access_tables[] = {
	{ "alloc+free pairs, steady population", run_pair, 1000000, 0, 0 },
	{ "alloc + write the bytes + free, same population", run_pair, 500000, 1, 2 },
	{ "read a random object's bytes into a buffer", run_read, 1000000, 0, 1 },
	{ "write a random object's bytes", run_write, 1000000, 0, 2 },
	{ "map + touch the first and last byte + unmap a random object", run_map, 1000000, 0, 3 },
};
#define NR_ACCESS (sizeof(access_tables) / sizeof(access_tables[0]))

static const char *access_note(const struct aops *ops, int how)
{
	return how == 1 ? ops->read_how : how == 2 ? ops->write_how : how == 3 ? ops->map_how : "";
}

/* Every allocator's population of @n alive at once; args[a] NULL where the
 * fill failed (told in @t). */
static void pops_fill(struct pop p[NR_OPS], void *args[NR_OPS], uint32_t n, const struct mix *mix,
		      const uint8_t *src, struct bench_table *t)
{
	for (int a = 0; a < NR_OPS; a++) {
		void *pool = all_ops[a]->create(0);

		args[a] = NULL;
		if (!pool || pop_fill(&p[a], all_ops[a], pool, mix, n, 42, src, 0)) {
			bench_table_add(t, ops_label(all_ops[a]), -1, "out of memory");
			if (pool) {
				pop_free(&p[a]);
				all_ops[a]->destroy(pool);
			}
			continue;
		}
		args[a] = &p[a];
	}
}

static void pops_free(struct pop p[NR_OPS], void *args[NR_OPS])
{
	for (int a = 0; a < NR_OPS; a++)
		if (args[a]) {
			void *pool = p[a].pool;

			pop_free(&p[a]);
			all_ops[a]->destroy(pool);
		}
}

/* The SG rows of a read table: copies of the populations of the allocators
 * with an SG read (sharing their objects), read as segments. */
static int sg_pops(struct pop p[NR_OPS], void *const args[NR_OPS], struct pop sg[NR_OPS],
		   void *sg_args[NR_OPS])
{
	int n = 0;

	for (int a = 0; a < NR_OPS; a++)
		if (all_ops[a]->sg_touch) {
			sg[n] = p[a];
			sg[n].sg = 1;
			sg_args[n] = args[a] ? &sg[n] : NULL;
			n++;
		}
	return n;
}

/* The SG rows' labels: "zsmalloc, SG read". */
static void sg_label(char *buf, size_t len, const struct aops *ops)
{
	snprintf(buf, len, "%s, SG read", ops_label(ops));
}

static int tables_population(const struct bench_options *o, struct bench_report *r,
			     const struct mix *mix, const uint8_t *src, uint32_t n)
{
	struct bench_table *t[NR_ACCESS];
	struct pop p[NR_OPS], sg[NR_OPS];
	void *args[2 * NR_OPS];
	double ns[NR_ACCESS][2 * NR_OPS];
	char title[320], sizes[200], label[96];
	int nsg;

	snprintf(sizes, sizeof(sizes), ", sizes from %s (mean %.0f B)", mix->source, mix->mean);
	for (size_t k = 0; k < NR_ACCESS; k++) {
		snprintf(title, sizeof(title), "%s, %u objects%s", access_tables[k].title, n,
			 k ? "" : sizes);
		t[k] = bench_table_new(r, title, ops_label(&ops_malloc));
		if (!t[k])
			return ENOMEM;
	}
	/* Every allocator's population alive at once, and each figure taken
	 * in turn across them (bench_best_each): the host's slow spells, which
	 * last seconds on this VM, then weigh on all of them alike. The read
	 * table also reads zsmalloc's objects as segments, in the same turns. */
	pops_fill(p, args, n, mix, src, t[0]);
	nsg = sg_pops(p, args, sg, args + NR_OPS);
	for (size_t k = 0; k < NR_ACCESS; k++) {
		int with_sg = access_tables[k].fn == run_read;

		for (int a = 0; a < NR_OPS; a++)
			if (args[a])
				p[a].with_write = access_tables[k].with_write;
		bench_best_each(o, bench_iters(o, access_tables[k].iters),
				NR_OPS + (with_sg ? nsg : 0), access_tables[k].fn, args, ns[k]);
	}
	for (int a = 0; a < NR_OPS; a++)
		for (size_t k = 0; args[a] && k < NR_ACCESS; k++)
			bench_table_add(t[k], ops_label(all_ops[a]),
					p[a].failed && k < 2 ? -1 : ns[k][a],
					p[a].failed && k < 2
						? "an allocation failed"
						: access_note(all_ops[a], access_tables[k].how));
	for (int i = 0; i < nsg; i++)
		for (size_t k = 0; args[NR_OPS + i] && k < NR_ACCESS; k++)
			if (access_tables[k].fn == run_read) {
				sg_label(label, sizeof(label), sg[i].ops);
				bench_table_add(t[k], label, ns[k][NR_OPS + i], SG_HOW);
			}
	pops_free(p, args);
	return 0;
}

/* The map table's rows on the three pools (scattered with copy, remap,
 * contiguous). */
static void table_map_rows(const struct bench_options *o, struct bench_table *t, struct maps *mc,
			   struct maps *mr, struct maps *mk)
{
	const struct bench_case cases[] = {
		{ "memcpy of a straddling object's bytes", 4000000, run_memcpy_st, mc,
		  "the same 1024 objects' sizes, bare memcpy" },
		{ "in-page object, map + unmap", 20000000, run_map_in, mc,
		  "a pointer into the page, pinned (either layout)" },
		{ "straddling object, contiguous, map + unmap", 4000000, run_map_st, mk,
		  "the default layout: a pointer, pinned, no copy" },
		{ "straddling object, scattered, map + unmap", 4000000, run_map_st, mc,
		  "both parts copied to the thread's buffer" },
		{ "straddling object, scattered, SG read", 4000000, run_sg_st, mc,
		  "zs_obj_read_sg_begin/end: 2 segments, first + last byte each" },
		{ "straddling object, remap map + unmap", 20000, run_map_st, mr,
		  "1024 objects > 8 windows: re-pointed each time" },
		{ "straddling object, remap, same object", 4000000, run_map_st_same, mr,
		  "the window is reused" },
	};

	bench_table_run(o, t, cases, sizeof(cases) / sizeof(cases[0]));
}

static int table_map(const struct bench_options *o, struct bench_report *r, const struct mix *mix,
		     const uint8_t *src)
{
	struct zs_pool *copy = zs_create_layout(ZS_LAYOUT_SCATTERED, ZS_MAP_COPY);
	struct zs_pool *remap = zs_create_layout(ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP);
	struct zs_pool *contig = zs_create_layout(ZS_LAYOUT_CONTIGUOUS, ZS_MAP_DEFAULT);
	struct maps *m = calloc(3, sizeof(*m)); /* copy, remap, contiguous */
	struct bench_table *t;
	int err = ENOMEM;

	if (!copy || !remap || !contig || !m)
		goto out;
	err = maps_init(&m[0], copy, 0, mix, src);
	if (!err)
		err = maps_init(&m[1], remap, 0, mix, src);
	if (!err)
		err = maps_init(&m[2], contig, 1, mix, src);
	if (err)
		goto out;
	err = ENOMEM;
	t = bench_table_new(r,
			    "zsmalloc map + unmap (RO, touching the first and "
			    "last byte), objects of the mix",
			    "memcpy of a straddling object's bytes");
	if (!t)
		goto out;
	table_map_rows(o, t, &m[0], &m[1], &m[2]);
	err = 0;
out:
	for (int i = 0; m && i < 3; i++)
		maps_free(&m[i]);
	free(m);
	zs_destroy_pool(copy);
	zs_destroy_pool(remap);
	zs_destroy_pool(contig);
	return err;
}

static int table_compact(const struct bench_options *o, struct bench_report *r,
			 const struct mix *mix, const uint8_t *src)
{
	struct bench_table *t = bench_table_new(r, "zs_compact after freeing a random half",
						"zs_compact");
	struct zs_pool *pool = zs_create_pool("bench");
	struct zs_stats before, after;
	struct pop p;
	char note[96];
	uint64_t t0, t1, moved;
	uint32_t n = 1u << POP_BITS;
	size_t freed;

	(void)o;
	if (!t || !pool || pop_fill(&p, &ops_zs, pool, mix, n, 7, src, 0)) {
		pop_free(&p);
		zs_destroy_pool(pool);
		return ENOMEM;
	}
	pop_free_half(&p);
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
	snprintf(note, sizeof(note), "%llu live objects", (unsigned long long)after.objects);
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
	handoff[0] = bench_handoff_ns(bench_iters(o, 200000));
	for (a = 0; a < NR_OPS; a++) {
		const struct aops *ops = all_ops[a];
		int failed = 0, k;
		double one = 0, many = 0;

		if (ops == &ops_zs_scattered)
			continue; /* the layout changes no alloc or free path */

		/* Best of --repeat, 1 and N threads taken in turn so that both
		 * see the same machine (a VM's neighbours come and go). */
		for (k = 0; k < (o->repeat > 0 ? o->repeat : 1); k++) {
			double x = threads_pairs(ops, mix, src, 1, bench_iters(o, 2000000),
						 &failed);
			double y = threads_pairs(ops, mix, src, o->threads,
						 bench_iters(o, 2000000) / (uint64_t)o->threads,
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
	handoff[1] = bench_handoff_ns(bench_iters(o, 200000));
	bench_table_add(t, "cache line round trip, 2 threads, before", handoff[0],
			"the machine, not an allocator");
	bench_table_add(t, "cache line round trip, 2 threads, after", handoff[1],
			"(varies between runs on a VM)");
	return 0;
}

static int tables_alloc(const struct bench_options *o, struct bench_report *r,
			const struct mix *mix, const uint8_t *src)
{
	int err = 0;

	for (int k = 0; k < o->nr_pops && !err; k++)
		err = tables_population(o, r, mix, src, (uint32_t)bench_iters(o, o->pops[k]));
	if (!err)
		err = table_map(o, r, mix, src);
	if (!err)
		err = table_compact(o, r, mix, src);
	if (!err)
		err = table_threads(o, r, mix, src);
	if (!err)
		err = bench_small(o, r);
	return err;
}

int bench_alloc(const struct bench_options *o, struct bench_report *r)
{
	struct mix *mix = calloc(1, sizeof(*mix));
	uint8_t *src = malloc(PAGE_MAX);
	int err = ENOMEM;

	if (!mix || !src)
		goto out;
	for (int i = 0; i < PAGE_MAX; i++)
		src[i] = (uint8_t)(i * 131 + 7);
	err = mix_load_for(o, mix);
	if (!err && (o->groups & BENCH_ALLOC))
		err = tables_alloc(o, r, mix, src);
	if (!err && (o->groups & BENCH_LATENCY))
		err = bench_latency(o, r, mix, src);
	if (!err && (o->groups & BENCH_LARGE))
		err = bench_large(o, r, mix, src);
out:
	free(src);
	free(mix);
	return err;
}
