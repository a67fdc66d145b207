/*
 * bench_latency.c - how long one operation can take while another thread
 * compacts: p50, p99, p99.9 and the maximum of each operation, timed one by
 * one with clock_gettime, like tlsf-bsd's worst-case harness.
 *
 * A zsmalloc pool of 2^20 objects of the mix (--quick: a tenth) loses a
 * random half, so that compaction has work; the default pool (contiguous
 * zspages), then one of the scattered layout (the kernel's: straddlers
 * are copied, compaction copies page by page). Then the main thread takes the
 * operations in turn, map + unmap, read, write, alloc, free, each on a
 * random object (alloc into a free slot, free of a live one, so the
 * population stays at half), and times each alone:
 *
 *   quiet       for QUIET_SECONDS, nothing else running
 *   compacting  while a second thread calls zs_compact() in a loop, until
 *               its first call (the big one: half the pool to move) has
 *               returned and at least BUSY_SECONDS have passed, bounded by
 *               MAX_SECONDS
 *
 * Every figure includes one clock_gettime() pair (the title says what it
 * costs). The run is bounded: a few seconds after the fill.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/bench_pop.h"
#include "tools/progress.h"
#include "zsmalloc/zsmalloc.h"

#define QUIET_SECONDS 1.0
#define BUSY_SECONDS 1.0
#define MAX_SECONDS 10.0
#define MAX_SAMPLES (1u << 22) /* per operation and phase */

enum lat_op { LAT_MAP, LAT_READ, LAT_WRITE, LAT_ALLOC, LAT_FREE, NR_LAT };

static const char *const lat_names[NR_LAT] = {
	"map + unmap (RO, first and last byte)",
	"read (zs_obj_read_begin/end)",
	"write (zs_obj_write)",
	"alloc (zs_malloc)",
	"free (zs_free)",
};

struct lat_run {
	struct pop pop;
	uint32_t *free_slot; /* slots whose object was freed (a stack) */
	uint32_t nr_free;
	uint32_t *ns[NR_LAT]; /* samples of the phase */
	uint32_t nr[NR_LAT];
	_Atomic int stop;          /* the compactor's signal */
	_Atomic uint64_t compacts; /* zs_compact() calls returned */
	uint64_t pages_freed;      /* by them */
	uint64_t first_ns;         /* the first call's time */
};

static uint32_t live_pick(struct lat_run *l)
{
	uint32_t i;

	do
		i = pop_pick(&l->pop);
	while (!l->pop.id[i]);
	return i;
}

static void record(struct lat_run *l, enum lat_op op, uint64_t t0)
{
	uint64_t ns = bench_now_ns() - t0;

	if (l->nr[op] < MAX_SAMPLES)
		l->ns[op][l->nr[op]++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

/* One operation @op on a random object, timed alone. */
static void lat_step(struct lat_run *l, enum lat_op op)
{
	struct pop *p = &l->pop;
	uint32_t i = op == LAT_ALLOC ? l->free_slot[l->nr_free - 1] : live_pick(l);
	uint64_t t0 = bench_now_ns();

	switch (op) {
	case LAT_MAP:
		bench_keep(p->ops->map_touch(p->pool, p->id[i], p->len[i]));
		break;
	case LAT_READ:
		p->ops->read(p->pool, p->id[i], p->buf, p->len[i]);
		break;
	case LAT_WRITE:
		p->ops->write(p->pool, p->id[i], p->src, p->len[i]);
		break;
	case LAT_ALLOC:
		p->id[i] = p->ops->alloc(p->pool, p->len[i]);
		break;
	case LAT_FREE:
		p->ops->release(p->pool, p->id[i]);
		break;
	case NR_LAT:
		break;
	}
	record(l, op, t0);
	if (op == LAT_ALLOC && p->id[i]) {
		l->nr_free--;
		p->ops->write(p->pool, p->id[i], p->src, p->len[i]);
	} else if (op == LAT_ALLOC) {
		p->failed = 1;
	} else if (op == LAT_FREE) {
		p->id[i] = 0;
		l->free_slot[l->nr_free++] = i;
	}
}

/* Take the operations in turn until @done says stop (checked every round). */
static void lat_loop(struct lat_run *l, int (*done)(struct lat_run *, uint64_t), uint64_t t0)
{
	memset(l->nr, 0, sizeof(l->nr));
	while (!done(l, bench_now_ns() - t0))
		for (int op = 0; op < NR_LAT; op++)
			if (op != LAT_ALLOC || l->nr_free)
				lat_step(l, (enum lat_op)op);
}

static int quiet_done(struct lat_run *l, uint64_t ns)
{
	(void)l;
	return (double)ns > QUIET_SECONDS * 1e9;
}

static int busy_done(struct lat_run *l, uint64_t ns)
{
	return (double)ns > MAX_SECONDS * 1e9 ||
	       ((double)ns > BUSY_SECONDS * 1e9 && atomic_load(&l->compacts) > 0);
}

static void *compactor(void *arg)
{
	struct lat_run *l = arg;

	while (!atomic_load(&l->stop)) {
		uint64_t t0 = bench_now_ns();
		size_t freed = zs_compact(l->pop.pool);

		if (!atomic_load(&l->compacts))
			l->first_ns = bench_now_ns() - t0;
		l->pages_freed += freed;
		atomic_fetch_add(&l->compacts, 1);
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void add_rows(struct bench_table *t, struct lat_run *l)
{
	static const double at[BENCH_NR_PCT] = { 0.50, 0.99, 0.999, 1.0 };

	for (int op = 0; op < NR_LAT; op++) {
		double pct[BENCH_NR_PCT];
		uint32_t n = l->nr[op];

		qsort(l->ns[op], n, sizeof(uint32_t), cmp_u32);
		for (int k = 0; k < BENCH_NR_PCT; k++)
			pct[k] = n ? (double)l->ns[op][(uint32_t)(at[k] * (n - 1))] : -1.0;
		bench_table_add_latency(t, lat_names[op], pct, n,
					n == MAX_SAMPLES ? "(samples capped)" : "");
	}
}

static int lat_init(struct lat_run *l, const struct aops *ops, const struct mix *mix,
		    const uint8_t *src, uint32_t n)
{
	void *pool = ops->create(0);

	memset(l, 0, sizeof(*l));
	l->free_slot = malloc(n * sizeof(*l->free_slot));
	for (int op = 0; op < NR_LAT; op++)
		l->ns[op] = malloc(MAX_SAMPLES * sizeof(uint32_t));
	l->pop.pool = pool; /* lat_free() destroys it whatever happens */
	l->pop.ops = ops;
	if (!pool || !l->free_slot || !l->ns[NR_LAT - 1] ||
	    pop_fill(&l->pop, ops, pool, mix, n, 99, src, 0))
		return ENOMEM;
	pop_free_half(&l->pop);
	for (uint32_t i = 0; i < n; i++)
		if (!l->pop.id[i])
			l->free_slot[l->nr_free++] = i;
	return 0;
}

static void lat_free(struct lat_run *l)
{
	void *pool = l->pop.pool;
	const struct aops *ops = l->pop.ops;

	pop_free(&l->pop);
	if (pool)
		ops->destroy(pool);
	for (int op = 0; op < NR_LAT; op++)
		free(l->ns[op]);
	free(l->free_slot);
}

static void busy_note(struct lat_run *l, char *buf, size_t len)
{
	snprintf(buf, len,
		 "; zs_compact ran %llu times (the first %.0f ms) and "
		 "freed %llu pages meanwhile",
		 (unsigned long long)atomic_load(&l->compacts), (double)l->first_ns / 1e6,
		 (unsigned long long)l->pages_freed);
}

/* The two tables of @ops: quiet, then while another thread compacts. */
static int latency_of(const struct bench_options *o, struct bench_report *r, const struct aops *ops,
		      const struct mix *mix, const uint8_t *src)
{
	uint32_t n = (uint32_t)bench_iters(o, 1u << 20);
	struct lat_run *l = calloc(1, sizeof(*l));
	char title[256], note[160];
	struct bench_table *t;
	pthread_t tid;
	int err = l ? lat_init(l, ops, mix, src, n) : ENOMEM;

	if (err)
		goto out;
	snprintf(title, sizeof(title),
		 "latency, %s pool of %u objects after "
		 "freeing a random half, quiet (a clock_gettime pair, in every "
		 "figure: %llu ns)",
		 ops->name, n, (unsigned long long)now_ns_pair_cost());
	t = bench_table_new(r, title, "");
	lat_loop(l, quiet_done, bench_now_ns());
	add_rows(t, l);
	if (t)
		t->latency = 1;
	if (pthread_create(&tid, NULL, compactor, l)) {
		err = EAGAIN;
		goto out;
	}
	lat_loop(l, busy_done, bench_now_ns());
	atomic_store(&l->stop, 1);
	pthread_join(tid, NULL);
	busy_note(l, note, sizeof(note));
	snprintf(title, sizeof(title),
		 "latency, the same pool while another "
		 "thread runs zs_compact() in a loop%s",
		 note);
	t = bench_table_new(r, title, "");
	add_rows(t, l);
	if (t)
		t->latency = 1;
	err = l->pop.failed ? ENOMEM : 0;
out:
	if (l)
		lat_free(l);
	free(l);
	return err;
}

int bench_latency(const struct bench_options *o, struct bench_report *r, const struct mix *mix,
		  const uint8_t *src)
{
	int err = latency_of(o, r, &ops_zs, mix, src);

	return err ? err : latency_of(o, r, &ops_zs_scattered, mix, src);
}
