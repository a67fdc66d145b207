/*
 * span.c - the pool's span: runs of extents for zspages.
 *
 * A zspage takes 1..ZS_MAX_ZSPAGE_EXTS consecutive extents of the span. In
 * the contiguous layout the span is the page source's pfn space, so the
 * extents of a zspage are consecutive pages of the direct map and every
 * object in it is one contiguous range of bytes; only the pages objects
 * touch are ever present (the rest of the span costs address space). In
 * the scattered layout the span is only numbering: each span page present
 * names a page of the source anywhere (vpfn[]).
 *
 * Extents are handed out lowest first (a bitmap of the free ones below
 * span_next), so that the span, and with it the extent records, stay as
 * small as the live zspages allow: when the highest extents are given
 * back, span_next comes down and the record pages past it go back to the
 * OS. One mutex (span_lock) guards it; a zspage is made or freed once per
 * many objects.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

static int bit_test(const uint64_t *map, uint32_t e)
{
	return (int)((map[e / 64] >> (e % 64)) & 1);
}

/* The first run of @n free extents below span_next, or ZS_EXT_NONE. */
static uint32_t free_run(const struct zs_pool *pool, uint32_t n)
{
	uint32_t w, e, run = 0;

	for (w = pool->span_low; w * 64 < pool->span_next; w++) {
		if (!pool->span_free[w]) {
			run = 0;
			continue;
		}
		if (n == 1)
			return w * 64 + (uint32_t)__builtin_ctzll(pool->span_free[w]);
		for (e = w * 64; e < w * 64 + 64 && e < pool->span_next; e++) {
			run = bit_test(pool->span_free, e) ? run + 1 : 0;
			if (run == n)
				return e + 1 - n;
		}
	}
	return ZS_EXT_NONE;
}

uint32_t zs_span_alloc(struct zs_pool *pool, uint32_t n)
{
	uint32_t first, e;

	pthread_mutex_lock(&pool->span_lock);
	first = free_run(pool, n);
	if (first == ZS_EXT_NONE) {
		if (pool->span_next + n > pool->span_exts ||
		    zs_meta_ext_grow(pool, pool->span_next + n)) {
			pthread_mutex_unlock(&pool->span_lock);
			return ZS_EXT_NONE;
		}
		first = pool->span_next;
		pool->span_next += n;
	} else {
		for (e = first; e < first + n; e++)
			pool->span_free[e / 64] &= ~((uint64_t)1 << (e % 64));
	}
	pthread_mutex_unlock(&pool->span_lock);
	for (e = first; e < first + n; e++)
		ZS_ASSERT(pool->ext[e].present == 0 && "a free extent has no page");
	return first;
}

void zs_span_free(struct zs_pool *pool, uint32_t first, uint32_t n)
{
	uint32_t e;

	for (e = first; e < first + n; e++) {
		ZS_ASSERT(pool->ext[e].present == 0 && "pages go before their extent");
		atomic_store_explicit(&pool->ext[e].cls, ZS_EXT_FREE, memory_order_relaxed);
	}
	pthread_mutex_lock(&pool->span_lock);
	for (e = first; e < first + n; e++)
		pool->span_free[e / 64] |= (uint64_t)1 << (e % 64);
	if (first / 64 < pool->span_low)
		pool->span_low = first / 64;
	/* The top of the span came free: lower it. */
	while (pool->span_next && bit_test(pool->span_free, pool->span_next - 1)) {
		pool->span_next--;
		pool->span_free[pool->span_next / 64] &= ~((uint64_t)1 << (pool->span_next % 64));
	}
	zs_meta_ext_shrink(pool, pool->span_next);
	pthread_mutex_unlock(&pool->span_lock);
}
