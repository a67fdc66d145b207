/*
 * bench_op.c - `bench --op OP --allocator A`: fill a population, then do
 * --count operations of one kind on it, and nothing else.
 *
 * It exists for tools/cachegrind.sh, which runs it under valgrind's
 * cachegrind twice, with --count K and 2K, and subtracts: the fill and the
 * program's start cost the same in both runs, so the difference is what K
 * operations cost, in instructions and cache misses, the same on every run
 * (unlike the wall-clock tables of a shared VM). Its pools are given a page
 * limit that the population needs (op_max_pages()), so that valgrind can
 * map their reservations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"
#include "tools/bench_pop.h"

/* Pages a pool of @n objects of the mix may need: one each at most (the
 * mix's objects are at most a page), and room for the partly filled
 * zspages of every class. The default limit, the machine's memory, makes a
 * zsmalloc pool reserve twice that plus 2 GiB of address space, and
 * valgrind refuses a mapping of 64 GiB or more. */
static uint64_t op_max_pages(uint64_t n)
{
	return n + 65536;
}

static void (*op_fn(const char *op))(void *, uint64_t)
{
	if (!strcmp(op, "pair"))
		return run_pair;
	if (!strcmp(op, "read"))
		return run_read;
	if (!strcmp(op, "write"))
		return run_write;
	return run_map;
}

int bench_op(const struct bench_options *o)
{
	const struct aops *ops = ops_find(o->allocator);
	void (*fn)(void *, uint64_t) = op_fn(o->op);
	struct mix *mix = calloc(1, sizeof(*mix));
	uint8_t *src = malloc(PAGE_MAX);
	void *pool = NULL;
	struct pop p = { 0 };
	uint64_t t0, t1;
	int err = ENOMEM;

	if (!ops || !mix || !src)
		goto out;
	for (int i = 0; i < PAGE_MAX; i++)
		src[i] = (uint8_t)(i * 131 + 7);
	err = mix_load_for(o, mix);
	if (err)
		goto out;
	pool = ops->create(op_max_pages(o->pops[0]));
	err = pool ? pop_fill(&p, ops, pool, mix, (uint32_t)o->pops[0], 42, src, 0) : ENOMEM;
	if (err)
		goto out;
	t0 = bench_now_ns();
	for (uint64_t k = 0; k < o->count; k++)
		fn(&p, k);
	t1 = bench_now_ns();
	printf("bench --op %s --allocator %s: %u objects, %llu operations, "
	       "%.1f ns each%s\n",
	       o->op, o->allocator, p.n, (unsigned long long)o->count,
	       (double)(t1 - t0) / (double)o->count, p.failed ? " (an allocation failed)" : "");
	err = p.failed ? ENOMEM : 0;
out:
	pop_free(&p);
	if (pool)
		ops->destroy(pool);
	free(src);
	free(mix);
	return err;
}
