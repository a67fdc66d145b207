/*
 * cache.c - each shard's cache of emptied zspages, and its decay.
 *
 * When a zspage's last object goes, its pages would go back to the OS and
 * the next zspage of the shard would fault fresh ones in: ~2 us a page each
 * way on the VMs we measure on, for a pool whose working set is small
 * (64 live objects of random sizes churned: 2.7 us an operation without a
 * cache, 0.16 us with one). So an emptied zspage stays, with its pages, on
 * its shard's cache (one list per zspage length, newest first), and the
 * shard's next new zspage of that length takes it back. The cache is
 * bounded (zs_config.cache_pages per shard, and 32 pages plus 1/128 of
 * the pool's pages: a small pool keeps little), and decays like
 * jemalloc's dirty pages: a zspage cached for zs_config.decay_ms goes back
 * to the OS, noticed by the next allocations and frees in any shard, which
 * look at the clock every ZS_DECAY_CHECK_OPS calls. zs_trim() and
 * zs_compact() empty it at once. Per shard, so that threads of different
 * shards share nothing here.
 *
 * A cached zspage belongs to no class: its extents say ZS_EXT_CACHED and
 * its first extent's next/prev link it into the cache list.
 *
 * Lock order: class lock -> cache lock -> span lock -> page source lock.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

static uint32_t zspage_pages(const struct zs_pool *pool, uint32_t first, uint32_t nexts)
{
	uint32_t i, n = 0;

	for (i = 0; i < nexts; i++)
		n += (uint32_t)__builtin_popcount(pool->ext[first + i].present);
	return n;
}

void zs_zspage_destroy(struct zs_pool *pool, uint32_t first)
{
	static const uint16_t all[ZS_MAX_ZSPAGE_EXTS] = {
		0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
	};
	uint32_t nexts = pool->ext[first].nexts;

	zs_pages_free(pool, first, nexts, all);
	zs_span_free(pool, first, nexts);
}

static void cache_unlink_locked(struct zs_pool *pool, struct zs_cache *c, uint32_t first)
{
	struct zs_ext *z = &pool->ext[first];
	unsigned k = z->nexts - 1u;

	if (z->prev != ZS_EXT_NONE)
		pool->ext[z->prev].next = z->next;
	else
		c->head[k] = z->next;
	if (z->next != ZS_EXT_NONE)
		pool->ext[z->next].prev = z->prev;
	else
		c->tail[k] = z->prev;
	c->pages -= zspage_pages(pool, first, z->nexts);
	c->zspages--;
}

/* The shard's oldest cached zspage of any length, or ZS_EXT_NONE. */
static uint32_t cache_oldest_locked(const struct zs_pool *pool, const struct zs_cache *c)
{
	uint32_t best = ZS_EXT_NONE, k;

	for (k = 0; k < ZS_MAX_ZSPAGE_EXTS; k++) {
		uint32_t t = c->tail[k];

		if (t != ZS_EXT_NONE && (best == ZS_EXT_NONE ||
					 (int32_t)(pool->ext[t].stamp - pool->ext[best].stamp) < 0))
			best = t;
	}
	return best;
}

/* The most pages shard caches may hold now. */
static uint64_t cache_bound(const struct zs_pool *pool)
{
	uint64_t fraction = 32 +
			    atomic_load_explicit(&pool->pages_total, memory_order_relaxed) / 128;

	return pool->cache_max < fraction ? pool->cache_max : fraction;
}

void zs_cache_put(struct zs_pool *pool, unsigned s, uint32_t first)
{
	struct zs_cache *c = &zs_shard_get(pool, s)->cache;
	struct zs_ext *z = &pool->ext[first];
	uint32_t i, k = z->nexts - 1u, pages = zspage_pages(pool, first, z->nexts);

	if (!pages || !pool->cache_max) {
		zs_zspage_destroy(pool, first);
		return;
	}
	for (i = 0; i < z->nexts; i++)
		atomic_store_explicit(&pool->ext[first + i].cls, ZS_EXT_CACHED,
				      memory_order_relaxed);
	z->stamp = (uint32_t)mp_clock_ms();
	zs_spin_lock(&c->lock);
	z->prev = ZS_EXT_NONE;
	z->next = c->head[k];
	if (c->head[k] != ZS_EXT_NONE)
		pool->ext[c->head[k]].prev = first;
	else
		c->tail[k] = first;
	c->head[k] = first;
	c->pages += pages;
	c->zspages++;
	atomic_fetch_add_explicit(&pool->pages_cached, pages, memory_order_relaxed);
	while (c->pages > cache_bound(pool)) {
		uint32_t old = cache_oldest_locked(pool, c);

		cache_unlink_locked(pool, c, old);
		atomic_fetch_sub_explicit(&pool->pages_cached,
					  zspage_pages(pool, old, pool->ext[old].nexts),
					  memory_order_relaxed);
		zs_zspage_destroy(pool, old);
	}
	zs_spin_unlock(&c->lock);
}

uint32_t zs_cache_take(struct zs_pool *pool, unsigned s, uint32_t nexts)
{
	struct zs_cache *c = &zs_shard_get(pool, s)->cache;
	uint32_t first;

	if (!atomic_load_explicit(&pool->pages_cached, memory_order_relaxed))
		return ZS_EXT_NONE; /* nothing cached anywhere */
	zs_spin_lock(&c->lock);
	first = c->head[nexts - 1];
	if (first != ZS_EXT_NONE) {
		cache_unlink_locked(pool, c, first);
		atomic_fetch_sub_explicit(&pool->pages_cached, zspage_pages(pool, first, nexts),
					  memory_order_relaxed);
	}
	zs_spin_unlock(&c->lock);
	return first;
}

/* Give back shard cache @c's zspages cached before @now - decay (or all,
 * @all); pages freed. Cache lock held. */
static size_t cache_expire_locked(struct zs_pool *pool, struct zs_cache *c, uint32_t now, int all)
{
	size_t freed = 0;
	uint32_t old;

	while ((old = cache_oldest_locked(pool, c)) != ZS_EXT_NONE &&
	       (all || now - pool->ext[old].stamp >= pool->decay_ms)) {
		uint32_t pages = zspage_pages(pool, old, pool->ext[old].nexts);

		cache_unlink_locked(pool, c, old);
		atomic_fetch_sub_explicit(&pool->pages_cached, pages, memory_order_relaxed);
		zs_zspage_destroy(pool, old);
		freed += pages;
	}
	return freed;
}

void zs_cache_tick(struct zs_pool *pool, unsigned s)
{
	struct zs_shard *sh = zs_shard_get(pool, s);
	/* A plain load and store, not a locked add: two threads of one shard
	 * may lose a count between them, which only delays a check. */
	unsigned ops = atomic_load_explicit(&sh->ops, memory_order_relaxed) + 1;
	uint32_t now, i;

	atomic_store_explicit(&sh->ops, ops, memory_order_relaxed);
	if (ops % ZS_DECAY_CHECK_OPS ||
	    !atomic_load_explicit(&pool->pages_cached, memory_order_relaxed))
		return;
	now = (uint32_t)mp_clock_ms();
	for (i = 0; i < pool->nr_shards; i++) {
		struct zs_shard *other = zs_shard_get(pool, i);

		if (other && zs_spin_trylock(&other->cache.lock)) {
			cache_expire_locked(pool, &other->cache, now, 0);
			zs_spin_unlock(&other->cache.lock);
		}
	}
}

size_t zs_cache_drain(struct zs_pool *pool)
{
	size_t freed = 0;
	uint32_t i;

	for (i = 0; i < ZS_MAX_SHARDS; i++) {
		struct zs_shard *sh = zs_shard_get(pool, i);

		if (!sh)
			continue;
		zs_spin_lock(&sh->cache.lock);
		freed += cache_expire_locked(pool, &sh->cache, 0, 1);
		zs_spin_unlock(&sh->cache.lock);
	}
	return freed;
}
