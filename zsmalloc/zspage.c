/*
 * zspage.c - zspages: their pages, their object bitmap, their fullness list.
 *
 * A zspage of class c holds c->opz objects of c->size bytes back to back in
 * the first c->ppz pages of its c->nexts extents. A page is present only
 * while an object touches it: pages come as objects reach them (objects are
 * handed out lowest place first, so a zspage being filled holds only the
 * pages its objects reach), and compaction gives back the pages no object
 * touches any more.
 *
 *   ppz = 3, size 1392, opz 8, objects 0-4 allocated: pages 0 and 1 present
 *   | page 0             | page 1             | (page 2: not present) |
 *   |obj0 |obj1 |obj2 |ob|j3 |obj4 |          |                       |
 *
 * Every function here runs under the class lock.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

int zs_fullness_group(const struct size_class *class, uint32_t inuse)
{
	if (inuse == 0)
		return ZS_GROUP_EMPTY;
	if (inuse >= class->opz)
		return ZS_GROUP_FULL;
	/* 1..9 % is group 1, 10..19 % group 2, ..., 90..99 % group 10 */
	return (int)(100 * inuse / class->opz) / 10 + 1;
}

void zs_list_insert(struct size_class *class, uint32_t first, int group)
{
	struct zs_ext *ext = class->pool->ext, *z = &ext[first];
	uint32_t head = class->head[group];

	z->prev = ZS_EXT_NONE;
	z->next = head;
	if (head != ZS_EXT_NONE)
		ext[head].prev = first;
	class->head[group] = first;
	class->nonempty |= (uint16_t)(1u << group);
	zs_ext_set_group(z, group);
}

void zs_list_remove(struct size_class *class, uint32_t first)
{
	struct zs_ext *ext = class->pool->ext, *z = &ext[first];
	int group = zs_ext_group(z);

	ZS_ASSERT(group < ZS_NR_FULLNESS && "only a listed zspage leaves a list");
	if (z->prev != ZS_EXT_NONE)
		ext[z->prev].next = z->next;
	else
		class->head[group] = z->next;
	if (z->next != ZS_EXT_NONE)
		ext[z->next].prev = z->prev;
	if (class->head[group] == ZS_EXT_NONE)
		class->nonempty &= (uint16_t)(~(1u << group));
	z->next = z->prev = ZS_EXT_NONE;
	zs_ext_set_group(z, ZS_GROUP_ISOLATED);
}

void zs_fix_fullness(struct size_class *class, uint32_t first)
{
	struct zs_ext *z = &class->pool->ext[first];
	int group = zs_fullness_group(class, z->inuse);

	if (zs_ext_group(z) == ZS_GROUP_ISOLATED || group == zs_ext_group(z))
		return; /* compaction puts an isolated zspage back itself */
	zs_list_remove(class, first);
	zs_list_insert(class, first, group);
}

/* Extent records of a zspage of @class from @first: its identity. */
static void zspage_claim(struct size_class *class, uint32_t first)
{
	struct zs_pool *pool = class->pool;
	uint32_t i;

	for (i = 0; i < class->nexts; i++) {
		struct zs_ext *e = &pool->ext[first + i];

		atomic_store_explicit(&e->part, (uint8_t)i, memory_order_relaxed);
		atomic_store_explicit(&pool->ext_cls[first + i], (uint16_t)(class->number),
				      memory_order_relaxed);
		atomic_store_explicit(&e->shard, class->shard, memory_order_relaxed);
		atomic_store_explicit(&e->cls, (uint16_t)(class->number), memory_order_release);
	}
	pool->ext[first].nexts = class->nexts;
	pool->ext[first].inuse = 0;
	pool->ext[first].hiwat = 0;
	pool->ext[first].next = pool->ext[first].prev = ZS_EXT_NONE;
	zs_ext_set_group(&pool->ext[first], ZS_GROUP_ISOLATED);
	memset(pool->ext[first].map, 0, sizeof(pool->ext[first].map));
}

/* Pages present in the zspage from @first (@nexts extents). */
static uint32_t zspage_pages(const struct zs_pool *pool, uint32_t first, uint32_t nexts)
{
	uint32_t i, n = 0;

	for (i = 0; i < nexts; i++)
		n += (uint32_t)__builtin_popcount(pool->ext[first + i].present);
	return n;
}

/* Free the pages of the zspage from @first at index @from and up. */
static uint32_t drop_pages_from(struct zs_pool *pool, uint32_t first, uint32_t nexts, uint32_t from)
{
	uint16_t drop[ZS_MAX_ZSPAGE_EXTS] = { 0 };
	uint32_t i;

	for (i = 0; i < nexts; i++)
		if (from <= i * ZS_EXT_PAGES)
			drop[i] = 0xffff;
		else if (from < (i + 1) * ZS_EXT_PAGES)
			drop[i] = (uint16_t)(0xffffu << (from - i * ZS_EXT_PAGES));
	return zs_pages_free(pool, first, nexts, drop);
}

uint32_t zs_zspage_create(struct size_class *class)
{
	struct zs_pool *pool = class->pool;
	uint32_t first = zs_cache_take(pool, class->shard, class->nexts);

	if (first != ZS_EXT_NONE) {
		drop_pages_from(pool, first, class->nexts, class->ppz); /* never used here */
	} else {
		first = zs_span_alloc(pool, class->nexts);
		if (first == ZS_EXT_NONE)
			return ZS_EXT_NONE;
		pool->ext[first].stamp = (uint32_t)mp_clock_ms();
	}
	zspage_claim(class, first);
	class->pages_used += zspage_pages(pool, first, class->nexts);
	class->nr_zspages++;
	return first;
}

void zs_zspage_release(struct size_class *class, uint32_t first)
{
	struct zs_pool *pool = class->pool;
	int isolated = zs_ext_group(&pool->ext[first]) == ZS_GROUP_ISOLATED;

	ZS_ASSERT(pool->ext[first].inuse == 0 && "only an empty zspage is released");
	if (!isolated)
		zs_list_remove(class, first);
	if (class->cc)
		zs_compaction_forget(class->cc, first, isolated);
	/* Pages no object touched since the zspage left the cache have been
	 * unused since it went in: past the decay they go, not back in. */
	if ((uint32_t)mp_clock_ms() - pool->ext[first].stamp >= pool->decay_ms)
		class->pages_used -= drop_pages_from(pool, first, class->nexts,
						     pool->ext[first].hiwat);
	class->pages_used -= zspage_pages(pool, first, class->nexts);
	class->nr_zspages--;
	zs_cache_put(pool, class->shard, first);
}

/* Pages [*lo, *hi] of the zspage that object @idx touches. */
static void obj_pages(const struct size_class *class, uint32_t idx, uint32_t *lo, uint32_t *hi)
{
	uint64_t start = (uint64_t)idx * class->size;
	unsigned shift = class->pool->page_shift;

	*lo = (uint32_t)(start >> shift);
	*hi = (uint32_t)((start + class->size - 1) >> shift);
}

static int page_present(const struct zs_pool *pool, uint32_t first, uint32_t p)
{
	return (pool->ext[first + p / ZS_EXT_PAGES].present >> (p % ZS_EXT_PAGES)) & 1;
}

int zs_obj_present(const struct size_class *class, uint32_t first, uint32_t idx)
{
	uint32_t lo, hi, p;

	obj_pages(class, idx, &lo, &hi);
	for (p = lo; p <= hi; p++)
		if (!page_present(class->pool, first, p))
			return 0;
	return 1;
}

uint32_t zs_pages_free(struct zs_pool *pool, uint32_t first, uint32_t nexts, const uint16_t *drop)
{
	uint32_t pfns[ZS_LARGE_MAX_PAGES], n = 0, i, b;

	for (i = 0; i < nexts; i++) {
		struct zs_ext *e = &pool->ext[first + i];
		uint16_t bits = (uint16_t)(drop[i] & e->present);

		for (b = 0; b < ZS_EXT_PAGES; b++) {
			uint64_t page = ((uint64_t)(first + i) << ZS_EXT_SHIFT) + b;

			if (!(bits & (1u << b)))
				continue;
			pfns[n++] = pool->scattered ? atomic_load_explicit(&pool->vpfn[page],
									   memory_order_relaxed)
						    : (uint32_t)page;
		}
		e->present &= (uint16_t)(~bits);
	}
	if (n) {
		mp_free_pages(pool->src, pfns, n);
		atomic_fetch_sub_explicit(&pool->pages_total, n, memory_order_relaxed);
	}
	return n;
}

/* Allocate the @n pages from page @p of the zspage from @first, all or
 * nothing (their present bits are the caller's). 0 | -ENOMEM. */
static int pages_alloc(struct zs_pool *pool, uint32_t first, uint32_t p, uint32_t n)
{
	uint64_t page = ((uint64_t)first << ZS_EXT_SHIFT) + p;
	uint32_t got[ZS_LARGE_MAX_PAGES], i;

	if (!pool->scattered) {
		if (mp_alloc_pages_at(pool->src, (uint32_t)page, n))
			return -ENOMEM;
		atomic_fetch_add_explicit(&pool->pages_total, n, memory_order_relaxed);
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint32_t near = i ? got[i - 1]
				: p && page_present(pool, first, p - 1)
					? atomic_load_explicit(&pool->vpfn[page - 1],
							       memory_order_relaxed)
					: UINT32_MAX;

		if (mp_alloc_page_near(pool->src, near, &got[i])) {
			if (i)
				mp_free_pages(pool->src, got, i);
			return -ENOMEM;
		}
	}
	for (i = 0; i < n; i++)
		atomic_store_explicit(&pool->vpfn[page + i], got[i], memory_order_relaxed);
	atomic_fetch_add_explicit(&pool->pages_total, n, memory_order_relaxed);
	return 0;
}

/* pages_alloc(); at the page limit, when giving the shards' cached pages
 * back makes room for @n, they go back to the OS first (cached pages count
 * against the limit, but only as long as nothing needs them). When it
 * would not make room, nothing changes. */
static int pages_alloc_or_drain(struct zs_pool *pool, uint32_t first, uint32_t p, uint32_t n)
{
	uint64_t total, cached;

	if (!pages_alloc(pool, first, p, n))
		return 0;
	total = atomic_load_explicit(&pool->pages_total, memory_order_relaxed);
	cached = atomic_load_explicit(&pool->pages_cached, memory_order_relaxed);
	if (total + n <= pool->max_pages)
		return -ENOMEM; /* not the limit (the OS, an injected fault) */
	if (total - cached + n > pool->max_pages || !zs_cache_drain(pool))
		return -ENOMEM; /* the cache would not make room */
	return pages_alloc(pool, first, p, n);
}

int zs_zspage_populate(struct size_class *class, uint32_t first, uint32_t idx, int grow)
{
	struct zs_pool *pool = class->pool;
	uint16_t added[ZS_MAX_ZSPAGE_EXTS] = { 0 };
	uint32_t lo, hi, p, q, run, nadded = 0;

	obj_pages(class, idx, &lo, &hi);
	for (p = lo; p <= hi; p += run) {
		run = 1;
		if (page_present(pool, first, p))
			continue;
		while (p + run <= hi && !page_present(pool, first, p + run))
			run++;
		if (!grow || pages_alloc_or_drain(pool, first, p, run)) {
			/* Leave the zspage exactly as it was. */
			zs_pages_free(pool, first, class->nexts, added);
			return -ENOMEM;
		}
		for (q = p; q < p + run; q++) {
			pool->ext[first + q / ZS_EXT_PAGES].present |=
				(uint16_t)(1u << (q % ZS_EXT_PAGES));
			added[q / ZS_EXT_PAGES] |= (uint16_t)(1u << (q % ZS_EXT_PAGES));
		}
		nadded += run;
	}
	class->pages_used += nadded;
	return 0;
}

uint32_t zs_zspage_first_free(const struct size_class *class, uint32_t first)
{
	const uint64_t *map = class->pool->ext[first].map;
	uint32_t w;

	for (w = 0; w < ZS_MAP_WORDS; w++)
		if (~map[w])
			return w * 64 + (uint32_t)__builtin_ctzll(~map[w]);
	return class->opz; /* full: callers never ask */
}

void zs_obj_set(struct size_class *class, uint32_t first, uint32_t idx)
{
	struct zs_ext *z = &class->pool->ext[first];

	ZS_ASSERT(idx < class->opz && !zs_obj_test(class->pool, first, idx) &&
		  "an object place is taken once");
	uint32_t top =
		(uint32_t)((((uint64_t)idx + 1) * class->size - 1) >> class->pool->page_shift) + 1;

	z->map[idx / 64] |= (uint64_t)1 << (idx % 64);
	z->inuse++;
	if (top > z->hiwat)
		z->hiwat = (uint16_t)top;
	class->obj_used++;
}

void zs_obj_clear(struct size_class *class, uint32_t first, uint32_t idx)
{
	struct zs_ext *z = &class->pool->ext[first];

	ZS_ASSERT(zs_obj_test(class->pool, first, idx) && "only an allocated place is freed");
	z->map[idx / 64] &= ~((uint64_t)1 << (idx % 64));
	z->inuse--;
	class->obj_used--;
}

/* 1 if an allocated object of the zspage touches its page @p. */
static int page_touched(const struct size_class *class, uint32_t first, uint32_t p)
{
	unsigned shift = class->pool->page_shift;
	uint64_t lo = ((uint64_t)p << shift) / class->size;
	uint64_t hi = ((((uint64_t)p + 1) << shift) - 1) / class->size, i;

	if (hi >= class->opz)
		hi = class->opz - 1;
	for (i = lo; i <= hi; i++)
		if (zs_obj_test(class->pool, first, (uint32_t)i))
			return 1;
	return 0;
}

uint32_t zs_zspage_trim(struct size_class *class, uint32_t first)
{
	struct zs_pool *pool = class->pool;
	uint16_t drop[ZS_MAX_ZSPAGE_EXTS] = { 0 };
	uint32_t p, freed;

	for (p = 0; p < class->ppz; p++)
		if (page_present(pool, first, p) && !page_touched(class, first, p))
			drop[p / ZS_EXT_PAGES] |= (uint16_t)(1u << (p % ZS_EXT_PAGES));
	freed = zs_pages_free(pool, first, class->nexts, drop);
	class->pages_used -= freed;
	return freed;
}
