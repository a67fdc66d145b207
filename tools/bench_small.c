/*
 * bench_small.c - the small working set of issue 17: one thread on a pool
 * with the defaults, a few dozen live objects, each operation an alloc or
 * a free at random.
 *
 * SMALL_SLOTS slots, half of them holding an object at the start; each
 * operation picks a slot at random: an object there is freed, an empty slot
 * gets a new object of a random size from SMALL_MIN to SMALL_MAX bytes. So
 * about SMALL_SLOTS / 2 objects (64) are live at any time, and nothing is
 * written or read: the allocator's own work. Such a pool empties and
 * refills its few zspages all the time; one that gave an emptied zspage's
 * pages back to the OS at once paid a page fault on most operations (2,731
 * ns each in the issue; its target: 200 ns or less with the defaults). The
 * same operations, in the same order, on every allocator, taken in turn.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "tools/bench.h"
#include "tools/bench_pop.h"

#define SMALL_SLOTS 128 /* a power of two */
#define SMALL_MIN 100
#define SMALL_MAX 4000

struct small {
	const struct aops *ops;
	void *pool;
	uint64_t id[SMALL_SLOTS]; /* 0: empty */
	uint64_t rng;
	int failed; /* an allocation failed */
};

static void run_small(void *arg, uint64_t k)
{
	struct small *s = arg;
	uint64_t r = rnd_next(&s->rng);
	uint32_t i = (uint32_t)(r & (SMALL_SLOTS - 1));

	(void)k;
	if (s->id[i]) {
		s->ops->release(s->pool, s->id[i]);
		s->id[i] = 0;
		return;
	}
	s->id[i] = s->ops->alloc(s->pool,
				 SMALL_MIN + (uint32_t)((r >> 32) % (SMALL_MAX - SMALL_MIN + 1)));
	s->failed |= !s->id[i];
}

static int small_init(struct small *s, const struct aops *ops)
{
	*s = (struct small){ .ops = ops, .pool = ops->create(0), .rng = 17 };
	if (!s->pool)
		return ENOMEM;
	for (uint32_t i = 0; i < SMALL_SLOTS; i += 2) {
		s->id[i] = ops->alloc(s->pool, SMALL_MIN + i * 31);
		if (!s->id[i])
			return ENOMEM;
	}
	return 0;
}

static void small_free(struct small *s)
{
	for (uint32_t i = 0; s->pool && i < SMALL_SLOTS; i++)
		if (s->id[i])
			s->ops->release(s->pool, s->id[i]);
	if (s->pool)
		s->ops->destroy(s->pool);
	s->pool = NULL;
}

int bench_small(const struct bench_options *o, struct bench_report *r)
{
	struct small *s = calloc(NR_OPS, sizeof(*s));
	void *args[NR_OPS];
	double ns[NR_OPS];
	char title[256];
	struct bench_table *t;

	if (!s)
		return ENOMEM;
	snprintf(title, sizeof(title),
		 "small working set, one thread, pools with the defaults: %d "
		 "objects live of %d..%d B, alloc or free at random (issue 17)",
		 SMALL_SLOTS / 2, SMALL_MIN, SMALL_MAX);
	t = bench_table_new(r, title, ops_label(&ops_malloc));
	for (int a = 0; a < NR_OPS; a++)
		args[a] = small_init(&s[a], all_ops[a]) ? NULL : &s[a];
	bench_best_each(o, bench_iters(o, 2000000), NR_OPS, run_small, args, ns);
	for (int a = 0; a < NR_OPS; a++)
		bench_table_add(t, ops_label(all_ops[a]), args[a] && !s[a].failed ? ns[a] : -1,
				!args[a] || s[a].failed     ? "an allocation failed"
				: all_ops[a] == &ops_malloc ? "malloc or free"
				: all_ops[a] == &ops_xv     ? "xv_malloc or xv_free"
							    : "zs_malloc or zs_free");
	for (int a = 0; a < NR_OPS; a++)
		small_free(&s[a]);
	free(s);
	return t ? 0 : ENOMEM;
}
