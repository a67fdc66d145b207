/*
 * bench_large.c - write and read of objects larger than a page (16 KiB and
 * 64 KiB: database pages, storage blocks, multi-size THP folios), zsmalloc
 * against memcpy from malloc, on populations of LARGE_POP objects (or the
 * smallest --objects) where memory allows.
 *
 * Both allocators' populations are alive at once and timed in turn, as in
 * the other tables. 131,072 objects of 64 KiB are 8 GiB per allocator; a
 * population that would not fit in half of MemAvailable (the machine is
 * shared) is halved until it does, and the table's title says so. While
 * zs_malloc() refuses a size (ENOSPC: objects above a page), zsmalloc's
 * rows are left out with that note. xvmalloc holds objects within a page
 * only, by design.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/bench_pop.h"
#include "zsmalloc/zsmalloc.h"

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

/* 0 if zsmalloc takes objects of @size, else the errno it refuses with. */
static int zs_refuses(uint32_t size)
{
	void *pool = ops_zs.create();
	uint64_t id;
	int err;

	if (!pool)
		return ENOMEM;
	errno = 0;
	id = ops_zs.alloc(pool, size);
	err = id ? 0 : errno ? errno : ENOMEM;
	if (id)
		ops_zs.release(pool, id);
	ops_zs.destroy(pool);
	return err;
}

/* The population: LARGE_POP or the smallest --objects if smaller, scaled
 * by --quick, halved until @nr_alive populations of @size fit in half of
 * MemAvailable (@why then says so). */
static uint32_t large_population(const struct bench_options *o, uint32_t size,
				 int nr_alive, char *why, size_t len)
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
		snprintf(why, len, " (not %llu: %d x %llu x %u KiB would pass half "
			 "of MemAvailable, %.1f GiB)",
			 (unsigned long long)want, nr_alive, (unsigned long long)want,
			 size / 1024, (double)budget * 2 / (1u << 30));
	return n;
}

/* The rows of both tables (t[0] read, t[1] write): malloc, zsmalloc, and
 * xvmalloc, which cannot hold these objects. */
static void large_rows(struct bench_table *t[2], const struct aops *const ops[2],
		       void *const args[2], double ns[2][2], int zs_err)
{
	for (int a = 0; a < 2; a++) {
		char note[96];

		if (a == 1 && zs_err) {
			snprintf(note, sizeof(note), "zs_malloc refuses the size (%s)",
				 zs_err == ENOSPC ? "ENOSPC" : strerror(zs_err));
		} else if (!args[a]) {
			snprintf(note, sizeof(note), "out of memory");
		}
		for (int k = 0; k < 2; k++)
			bench_table_add(t[k], ops_label(ops[a]), args[a] ? ns[k][a] : -1,
					args[a] ? k ? ops[a]->write_how : ops[a]->read_how :
						  note);
	}
	bench_table_add(t[0], ops_label(&ops_xv), -1, "objects within a page only");
	bench_table_add(t[1], ops_label(&ops_xv), -1, "objects within a page only");
}

static int table_large(const struct bench_options *o, struct bench_report *r,
		       const struct mix *mix, const uint8_t *src, uint32_t size)
{
	const struct aops *const ops[2] = { &ops_malloc, &ops_zs };
	int zs_err = zs_refuses(size);
	struct bench_table *t[2];
	struct pop p[2] = { { 0 }, { 0 } };
	void *args[2] = { NULL, NULL };
	double ns[2][2];
	char title[320], why[160];
	uint32_t n = large_population(o, size, zs_err ? 1 : 2, why, sizeof(why));

	for (int k = 0; k < 2; k++) {
		snprintf(title, sizeof(title), "%s a random %u KiB object, %u objects%s",
			 k ? "write" : "read", size / 1024, n, why);
		t[k] = bench_table_new(r, title, ops_label(&ops_malloc));
		if (!t[k])
			return ENOMEM;
	}
	for (int a = 0; a < 2; a++) {
		void *pool = a == 1 && zs_err ? NULL : ops[a]->create();

		if (pool && !pop_fill(&p[a], ops[a], pool, mix, n, 5, src, size)) {
			args[a] = &p[a];
		} else if (pool) {
			pop_free(&p[a]);
			ops[a]->destroy(pool);
		}
	}
	bench_best_each(o, bench_iters(o, 262144 / (size / 1024)), 2, run_read, args,
			ns[0]);
	bench_best_each(o, bench_iters(o, 262144 / (size / 1024)), 2, run_write,
			args, ns[1]);
	large_rows(t, ops, args, ns, zs_err);
	for (int a = 0; a < 2; a++)
		if (args[a]) {
			void *pool = p[a].pool;

			pop_free(&p[a]);
			ops[a]->destroy(pool);
		}
	return 0;
}

int bench_large(const struct bench_options *o, struct bench_report *r,
		const struct mix *mix, const uint8_t *src)
{
	int err = 0;

	for (size_t i = 0; i < sizeof(large_sizes) / sizeof(large_sizes[0]) && !err;
	     i++)
		err = table_large(o, r, mix, src, large_sizes[i]);
	return err;
}
