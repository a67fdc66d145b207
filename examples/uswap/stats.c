/* stats.c - uswap_get_stats() and uswap_check(): the figures, and the table
 * checked against the pool. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "examples/uswap/internal.h"
#include "zsmalloc/zsmalloc.h"

static uint64_t load(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void stats_counters(struct uswap *u, struct uswap_stats *st)
{
	st->stored_pages = load(&u->c.stored_pages);
	st->orig_data_size = st->stored_pages * u->page_size;
	st->compr_data_size = load(&u->c.compr_bytes);
	st->same_pages = load(&u->c.same_pages);
	st->huge_pages = load(&u->c.huge_pages);
	st->reclaimed = load(&u->c.reclaimed);
	st->reclaim_written = load(&u->c.reclaim_written);
	st->reclaim_failed = load(&u->c.reclaim_failed);
	st->faults = load(&u->c.faults);
	st->zero_faults = load(&u->c.zero_faults);
	st->wp_faults = load(&u->c.wp_faults);
	st->stale_faults = load(&u->c.stale_faults);
	st->read_errors = load(&u->c.read_errors);
	st->eexist = load(&u->c.eexist);
}

int uswap_get_stats(struct uswap *u, struct uswap_stats *st)
{
	struct zs_stats zs;
	uint64_t used_max;

	if (!u || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	zs_pool_stats(u->pool, &zs);
	st->pages = u->pages;
	st->page_size = u->page_size;
	stats_counters(u, st);
	st->mem_used_total = zs.pages_used * u->page_size;
	used_max = load(&u->c.used_max);
	st->mem_used_max = (used_max > zs.pages_used ? used_max : zs.pages_used) * u->page_size;
	st->pool_metadata = zs.metadata_bytes;
	st->table_bytes = u->pages * sizeof(*u->table);
	st->pages_compacted = zs.pages_compacted;
	st->fault_ns_p50 = hist_percentile(&u->fault_ns, 50);
	st->fault_ns_p99 = hist_percentile(&u->fault_ns, 99);
	st->fault_ns_max = hist_max(&u->fault_ns);
	st->user_mode_only = u->user_mode_only;
	return 0;
}

/* What the table says is out, counted as the counters count it. */
struct census {
	uint64_t stored, same, huge, objects, bytes, moving;
};

static int handle_order(const void *a, const void *b)
{
	zs_handle x = *(const zs_handle *)a, y = *(const zs_handle *)b;

	return x < y ? -1 : x > y;
}

/* Every object the table names can be read; no handle appears twice. */
static size_t check_objects(struct uswap *u, zs_handle *h, size_t n)
{
	size_t bad = 0;

	qsort(h, n, sizeof(*h), handle_order);
	for (size_t i = 0; i < n; i++) {
		const void *p = zs_obj_read_begin(u->pool, h[i], 1, u->pack);

		if (!p)
			bad++;
		else
			zs_obj_read_end(u->pool, h[i], p);
		if (i && h[i] == h[i - 1])
			bad++;
	}
	return bad;
}

/* Walk the table into @c, collecting the handles into @h. */
static void census_take(struct uswap *u, struct census *c, zs_handle *h)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < u->pages; i++) {
		uint32_t s = page_state_load(u, i) & PG_STATE_MASK;
		const struct uswap_page *e = &u->table[i];

		if (s != PG_STORED) {
			c->moving += s != PG_EMPTY && s != PG_RESIDENT;
			continue;
		}
		c->stored++;
		c->same += e->len == 0;
		c->huge += e->len == u->page_size;
		c->bytes += e->len;
		if (e->len)
			h[c->objects++] = (zs_handle)e->value;
	}
}

size_t uswap_check(struct uswap *u)
{
	struct census c;
	struct zs_stats zs;
	zs_handle *h;
	size_t bad;

	if (!u)
		return 1;
	/* A thread whose fault was answered may be ahead of the handler's
	 * bookkeeping, and the object is freed later by the freer. */
	while (atomic_load(&u->handler_busy) || !freer_idle(u))
		sched_yield();
	h = malloc((u->pages ? u->pages : 1) * sizeof(*h));
	if (!h)
		return 1;                     /* cannot check: a violation, not a pass */
	pthread_mutex_lock(&u->reclaim_lock); /* the pack buffer */
	census_take(u, &c, h);
	bad = check_objects(u, h, c.objects);
	pthread_mutex_unlock(&u->reclaim_lock);
	free(h);
	zs_pool_stats(u->pool, &zs);
	bad += c.moving;
	bad += c.objects != zs.objects;
	bad += c.stored != load(&u->c.stored_pages);
	bad += c.same != load(&u->c.same_pages);
	bad += c.huge != load(&u->c.huge_pages);
	bad += c.bytes != load(&u->c.compr_bytes);
	return bad + zs_check(u->pool);
}
