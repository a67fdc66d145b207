/*
 * bench_large.c - write and read of objects larger than a page (16 KiB and
 * 64 KiB: database pages, storage blocks, multi-size THP folios), zsmalloc
 * (the default contiguous pool, and zsmalloc-scattered: the kernel's
 * layout, whose objects span many pages that are not consecutive) against
 * memcpy from malloc, on populations of LARGE_POP objects (or the smallest
 * --objects) where memory allows. The read tables also read zsmalloc's
 * objects as segments (zs_obj_read_sg_begin/end): one in the contiguous
 * layout, one per run of consecutive pages in the scattered one.
 *
 * Every allocator's population is alive at once and timed in turn, as in
 * the other tables. 131,072 objects of 64 KiB are 8 GiB per allocator; a
 * population that would not fit in half of MemAvailable (the machine is
 * shared) is halved until it does, and the table's title says so. An
 * allocator that refuses the size (zs_malloc: ENOSPC above
 * ZS_MAX_OBJECT_SIZE) has its rows left out with that note. xvmalloc holds
 * objects within a page only, by design.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/bench_pop.h"

#define LARGE_POP 131072

static const uint32_t large_sizes[] = { 16384, 65536 };

/* MemAvailable of /proc/meminfo in bytes; 0 if unknown. */
static uint64_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	unsigned long long kb = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* 0 if @ops takes objects of @size, else the errno it refuses with. */
static int refuses(const struct aops *ops, uint32_t size)
{
	void *pool = ops->create(0);
	uint64_t id;
	int err;

	if (!pool)
		return ENOMEM;
	errno = 0;
	id = ops->alloc(pool, size);
	err = id ? 0 : errno ? errno : ENOMEM;
	if (id)
		ops->release(pool, id);
	ops->destroy(pool);
	return err;
}

/* The population: LARGE_POP or the smallest --objects if smaller, scaled
 * by --quick, halved until @nr_alive populations of @size fit in half of
 * MemAvailable (@why then says so). */
static uint32_t large_population(const struct bench_options *o, uint32_t size, int nr_alive,
				 char *why, size_t len)
{
	uint64_t budget = mem_available() / 2, want = LARGE_POP;
	uint32_t n;

	for (int k = 0; k < o->nr_pops; k++)
		if (o->pops[k] < want)
			want = o->pops[k];
	want = bench_iters(o, want);
	n = (uint32_t)want;
	while (budget && n > 1024 && (uint64_t)n * size * (uint64_t)nr_alive > budget)
		n /= 2;
	why[0] = 0;
	if (n < want)
		snprintf(why, len,
			 " (not %llu: %d x %llu x %u KiB would pass half "
			 "of MemAvailable, %.1f GiB)",
			 (unsigned long long)want, nr_alive, (unsigned long long)want, size / 1024,
			 (double)budget * 2 / (1u << 30));
	return n;
}

#define NR_LARGE 3 /* malloc, zsmalloc, zsmalloc-scattered */

static const struct aops *const large_ops[NR_LARGE] = { &ops_malloc, &ops_zs, &ops_zs_scattered };

struct large_run {
	struct pop p[NR_LARGE], sg[NR_LARGE - 1]; /* sg: zsmalloc's two, as segments */
	void *args[2 * NR_LARGE - 1];
	int err[NR_LARGE];              /* the errno each refuses the size with */
	double ns[2][2 * NR_LARGE - 1]; /* read (with the SG rows), write */
};

/* The note of an allocator without a population. */
static void large_note(const struct large_run *l, int a, char *note, size_t len)
{
	if (l->err[a])
		snprintf(note, len, "zs_malloc refuses the size (%s)",
			 l->err[a] == ENOSPC ? "ENOSPC" : strerror(l->err[a]));
	else
		snprintf(note, len, "out of memory");
}

/* The rows of both tables (t[0] read, t[1] write): malloc, zsmalloc's
 * two, their SG reads, and xvmalloc, which cannot hold these objects. */
static void large_rows(struct bench_table *t[2], const struct large_run *l)
{
	char note[96], label[96];

	for (int a = 0; a < NR_LARGE; a++) {
		const struct aops *ops = large_ops[a];

		large_note(l, a, note, sizeof(note));
		for (int k = 0; k < 2; k++)
			bench_table_add(t[k], ops_label(ops), l->args[a] ? l->ns[k][a] : -1,
					l->args[a] ? k ? ops->write_how : ops->read_how : note);
	}
	for (int a = 1; a < NR_LARGE; a++) {
		snprintf(label, sizeof(label), "%s, SG read", ops_label(large_ops[a]));
		large_note(l, a, note, sizeof(note));
		bench_table_add(t[0], label, l->args[a] ? l->ns[0][NR_LARGE + a - 1] : -1,
				l->args[a] ? SG_HOW : note);
	}
	bench_table_add(t[0], ops_label(&ops_xv), -1, "objects within a page only");
	bench_table_add(t[1], ops_label(&ops_xv), -1, "objects within a page only");
}

/* Every allocator's population of @n objects of @size, where it holds them. */
static void large_fill(struct large_run *l, const struct mix *mix, const uint8_t *src, uint32_t n,
		       uint32_t size)
{
	for (int a = 0; a < NR_LARGE; a++) {
		const struct aops *ops = large_ops[a];
		void *pool = l->err[a] ? NULL : ops->create(0);

		if (pool && !pop_fill(&l->p[a], ops, pool, mix, n, 5, src, size)) {
			l->args[a] = &l->p[a];
		} else if (pool) {
			pop_free(&l->p[a]);
			ops->destroy(pool);
		}
	}
	for (int a = 1; a < NR_LARGE; a++) {
		l->sg[a - 1] = l->p[a];
		l->sg[a - 1].sg = 1;
		l->args[NR_LARGE + a - 1] = l->args[a] ? &l->sg[a - 1] : NULL;
	}
}

static int table_large(const struct bench_options *o, struct bench_report *r, const struct mix *mix,
		       const uint8_t *src, uint32_t size)
{
	struct large_run *l = calloc(1, sizeof(*l));
	struct bench_table *t[2];
	char title[320], why[160];
	uint64_t iters = bench_iters(o, 262144 / (size / 1024));
	int alive = 0;
	uint32_t n;

	if (!l)
		return ENOMEM;
	for (int a = 0; a < NR_LARGE; a++) {
		l->err[a] = a ? refuses(large_ops[a], size) : 0;
		alive += !l->err[a];
	}
	n = large_population(o, size, alive, why, sizeof(why));
	for (int k = 0; k < 2; k++) {
		snprintf(title, sizeof(title), "%s a random %u KiB object, %u objects%s",
			 k ? "write" : "read", size / 1024, n, why);
		t[k] = bench_table_new(r, title, ops_label(&ops_malloc));
		if (!t[k]) {
			free(l);
			return ENOMEM;
		}
	}
	large_fill(l, mix, src, n, size);
	bench_best_each(o, iters, 2 * NR_LARGE - 1, run_read, l->args, l->ns[0]);
	bench_best_each(o, iters, NR_LARGE, run_write, l->args, l->ns[1]);
	large_rows(t, l);
	for (int a = 0; a < NR_LARGE; a++)
		if (l->args[a]) {
			void *pool = l->p[a].pool;

			pop_free(&l->p[a]);
			large_ops[a]->destroy(pool);
		}
	free(l);
	return 0;
}

int bench_large(const struct bench_options *o, struct bench_report *r, const struct mix *mix,
		const uint8_t *src)
{
	int err = 0;

	for (size_t i = 0; i < sizeof(large_sizes) / sizeof(large_sizes[0]) && !err; i++)
		err = table_large(o, r, mix, src, large_sizes[i]);
	return err;
}
