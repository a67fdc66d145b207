/*
 * pool.c - the pool: creation, destruction, tags, fork.
 *
 * Why this allocator
 * ------------------
 * A compressed-memory store holds millions of objects whose sizes spread
 * evenly from a few dozen bytes to a whole page (or block). A general-
 * purpose malloc stores them densely at first, but its holes cannot move:
 * after the store churns and drops half its data, glibc, jemalloc, mimalloc
 * and tcmalloc all hold about twice the live bytes. zsmalloc packs objects
 * of one size class back to back into zspages, hands out handles instead of
 * pointers, and can therefore move objects (compaction) to keep its
 * footprint within a few percent of the live bytes.
 *
 * Layout
 * ------
 *   handle --> slot table[slot]: | state | gen | location |   (one load)
 *                                                 |
 *   span:  | extent 0 | extent 1 | extent 2 | ... v   (16 pages each)
 *          |<-- zspage of class 1392 -->|
 *          |obj0 |obj1 |obj2 |ob|j3 |obj4 |...         objects back to back
 *
 *   extent records (one cache line per extent, by extent number):
 *          class, shard, place in the zspage, present pages; the zspage's
 *          first extent: fullness group, list links, object bitmap
 *
 * The location is the object's first byte in the span, in 8-byte units.
 * In the contiguous layout (the default) the span is the pfn space of the
 * pool's page source, so the object's address is base + location * 8: a
 * handle reaches its bytes with one load that can miss (the slot) before
 * the bytes themselves, and every object, straddling pages or not, is one
 * contiguous range: no copy, no window. Only pages objects touch are
 * present; the rest of the span is address space (MAP_NORESERVE). In the
 * scattered layout (the kernel's) each span page present names a page of
 * the source anywhere (vpfn[]), and a straddling object is copied or
 * remapped through the mapping layer. Nothing is stored inside an object
 * but its bytes: compaction finds which slot points at an object by
 * scanning the class's slots.
 *
 * Metadata per object: its 8-byte slot, and 64 bytes per 64 KiB extent
 * (~1 byte for a 2 KiB object). The kernel: an 8-byte header in the object
 * and an 8-byte handle.
 *
 * Pins, frees and moves meet in the slot
 * --------------------------------------
 * A read, write or mapping pins the object: one compare-and-swap raises the
 * slot's state (slot.c). zs_free() turns the slot free with a compare-and-
 * swap that expects no pin, compaction turns it "moving" the same way
 * before copying the object; so a free and a map of one handle can never
 * both succeed, and a pinned object never moves, whatever the timing. No
 * lock, no barrier and no scan of other threads on any of these paths.
 *
 * Allocation takes the lowest free object of the fullest zspage that is not
 * full (fullness groups, as in Linux 6.3+), adding pages as objects reach
 * them (zspage.c). An emptied zspage goes to its shard's cache, whence the
 * next new zspage takes it back with its pages, or after decay_ms to the OS
 * (cache.c). A class whose free space passes a threshold is compacted by
 * its allocating and freeing threads in short steps (compact.c).
 *
 * Locking
 * -------
 * Each class has a spin-then-yield lock taken by malloc, free and
 * compaction of that class; no pool-wide lock exists on these paths. Lock
 * order: shard_lock -> class locks (by class number, then shard) -> cache
 * lock -> span_lock -> page source lock.
 *
 * Shards
 * ------
 * A pool holds its classes once per shard, and a thread allocates in its
 * own (shard.c); frees, reads and compaction reach an object from any
 * thread, and zs_compact() merges the shards' partly filled zspages.
 *
 * fork()
 * ------
 * Pages and metadata are private memory, so the child of a fork gets a
 * copy-on-write snapshot; a handler takes every lock of every pool around
 * the fork, so that the snapshot is consistent; in the child the mapping
 * layer ends the records of the threads that did not come along, and the
 * pin counts are set again from the forking thread's own records. A
 * scattered pool with remap windows lives in a shared memfd: its calls fail
 * with EPERM in the child.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/thread.h"
#include "zsmalloc/internal.h"

/* Tags of the live pools: a new pool takes one no live pool has, so a
 * handle of one live pool is never taken for another's. */
#define ZS_NR_TAGS (1u << ZS_TAG_BITS)
static pthread_mutex_t zs_pools_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t zs_tags_used[ZS_NR_TAGS / 64] = { 1 }; /* tag 0: never */
static uint32_t zs_tags_next;
static struct zs_pool *zs_pools[ZS_NR_TAGS]; /* by tag, for fork */
static pthread_once_t zs_fork_once = PTHREAD_ONCE_INIT;

#ifdef ZS_DEBUG
void zs_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "zsmalloc: %s:%d: assertion failed: %s\n", file, line, what);
	abort();
}
#endif

void zs_spin_lock_slow(_Atomic int *lock)
{
	unsigned spins = 0;

	for (;;) {
		while (atomic_load_explicit(lock, memory_order_relaxed)) {
			if (++spins < 64)
				zs_cpu_relax();
			else
				mp_yield();
		}
		if (!atomic_exchange_explicit(lock, 1, memory_order_acquire))
			return;
	}
}

/*
 * A tag for @pool, 1 .. 1023, that no live pool has; 0 when 1023 pools are
 * alive. Tags are handed out round the circle from a start that differs
 * from run to run (the library's load address), so a destroyed pool's tag
 * comes back as late as possible.
 */
static uint32_t pool_tag_get(struct zs_pool *pool)
{
	uint32_t i, tag = 0;

	pthread_mutex_lock(&zs_pools_lock);
	if (!zs_tags_next)
		zs_tags_next = (uint32_t)((uintptr_t)&zs_tags_next >> 12) % ZS_NR_TAGS;
	for (i = 0; i < ZS_NR_TAGS; i++) {
		uint32_t t = (zs_tags_next + i) % ZS_NR_TAGS;

		if (!(zs_tags_used[t / 64] & ((uint64_t)1 << (t % 64)))) {
			zs_tags_used[t / 64] |= (uint64_t)1 << (t % 64);
			zs_tags_next = t + 1;
			zs_pools[t] = pool;
			tag = t;
			break;
		}
	}
	pthread_mutex_unlock(&zs_pools_lock);
	return tag;
}

static void pool_tag_put(uint32_t tag)
{
	pthread_mutex_lock(&zs_pools_lock);
	zs_tags_used[tag / 64] &= ~((uint64_t)1 << (tag % 64));
	zs_pools[tag] = NULL;
	pthread_mutex_unlock(&zs_pools_lock);
}

/* ---- fork ------------------------------------------------------------------ */

void zs_pool_locks(struct zs_pool *pool, int lock)
{
	uint32_t c, s;

	if (lock)
		pthread_mutex_lock(&pool->shard_lock);
	for (c = 0; c < pool->nr_classes; c++)
		for (s = 0; s < ZS_MAX_SHARDS; s++) {
			struct size_class *class = zs_class_get(pool, s, c);

			if (class && lock)
				zs_class_lock(class);
			else if (class)
				zs_class_unlock(class);
		}
	for (s = 0; s < ZS_MAX_SHARDS; s++) {
		struct zs_shard *sh = zs_shard_get(pool, s);

		if (sh && lock)
			zs_spin_lock(&sh->cache.lock);
		else if (sh)
			zs_spin_unlock(&sh->cache.lock);
	}
	if (lock) {
		pthread_mutex_lock(&pool->span_lock);
	} else {
		pthread_mutex_unlock(&pool->span_lock);
		pthread_mutex_unlock(&pool->shard_lock);
	}
}

static void fork_prepare(void)
{
	uint32_t t;

	pthread_mutex_lock(&zs_pools_lock);
	for (t = 1; t < ZS_NR_TAGS; t++)
		if (zs_pools[t])
			zs_pool_locks(zs_pools[t], 1);
}

static void fork_release(void)
{
	uint32_t t;

	for (t = 1; t < ZS_NR_TAGS; t++)
		if (zs_pools[t])
			zs_pool_locks(zs_pools[t], 0);
	pthread_mutex_unlock(&zs_pools_lock);
}

/* In the child only the forking thread lives: the pins of the others go
 * (a pin and its record are not made in one step, so the records alone
 * cannot say which pins a vanished thread held). */
static void fork_child(void)
{
	uint32_t t;

	for (t = 1; t < ZS_NR_TAGS; t++)
		if (zs_pools[t] && !zs_pools[t]->shared)
			zs_fork_child_pins(zs_pools[t]);
	fork_release();
}

static void fork_register(void)
{
	pthread_atfork(fork_prepare, fork_release, fork_child);
}

/* ---- Creation ---------------------------------------------------------------- */

struct zs_pool *zs_create_pool(const char *name)
{
	struct zs_config config = { .name = name };

	return zs_create_pool_config(&config);
}

/* The layout @config asks for (a map method implies the scattered layout),
 * or -EINVAL. */
/* The span's bitmap of free extents (mp_zalloc()'d: resident as used). */
static size_t span_free_bytes(const struct zs_pool *pool)
{
	return (pool->span_exts / 64 + 1) * sizeof(uint64_t);
}

static int config_check(const struct zs_config *config)
{
	if (config->max_pages_per_zspage > ZS_MAX_PAGES_PER_ZSPAGE ||
	    (unsigned)config->layout > ZS_LAYOUT_SCATTERED ||
	    (unsigned)config->map_method > ZS_MAP_REMAP ||
	    (config->layout == ZS_LAYOUT_CONTIGUOUS && config->map_method != ZS_MAP_DEFAULT) ||
	    config->max_pages > UINT32_MAX || config->shards > ZS_MAX_SHARDS)
		return -EINVAL;
	return 0;
}

/* The page sources: the objects' pages, and the metadata. */
static int pool_sources(struct zs_pool *pool, const struct zs_config *config)
{
	uint64_t max = config->max_pages ? config->max_pages : mp_physical_pages();
	uint64_t span = max * ZS_SPAN_FACTOR, meta_span;
	struct mp_config mpc = { 0 }, meta = { 0 };
	uint8_t *base;
	unsigned k;

	if (max > UINT32_MAX)
		max = UINT32_MAX;
	if (span < ZS_MIN_SPAN_PAGES)
		span = ZS_MIN_SPAN_PAGES;
	if (span > (UINT32_MAX & ~(uint64_t)(ZS_EXT_PAGES - 1)))
		span = UINT32_MAX & ~(uint64_t)(ZS_EXT_PAGES - 1);
	pool->span_exts = (uint32_t)(span / ZS_EXT_PAGES);
	if (max > span)
		max = span; /* a limit beyond what 2^32 pfns can hold */
	mpc.max_pages = max;
	pool->max_pages = max;
	mpc.name = pool->name;
	mpc.backing = pool->shared ? MP_BACKING_SHARED : MP_BACKING_PRIVATE;
	mpc.placed = !pool->scattered;
	mpc.span_pages = pool->scattered ? 0 : (uint64_t)pool->span_exts * ZS_EXT_PAGES;
	pool->src = mp_create(&mpc);
	if (!pool->src)
		return -errno;
	pool->base = mp_direct_map(pool->src);

	/* The metadata: | slots | class per extent | records | pfns | */
	meta_span = ((uint64_t)ZS_MAX_SLOTS + 1) * sizeof(zs_slotv) >> pool->page_shift;
	pool->region[ZS_META_CLS].per_ext = sizeof(uint16_t);
	pool->region[ZS_META_EXT].per_ext = sizeof(struct zs_ext);
	pool->region[ZS_META_VPFN].per_ext = pool->scattered ? ZS_EXT_PAGES * sizeof(uint32_t) : 0;
	for (k = 0; k < ZS_NR_META; k++) {
		struct zs_meta_region *r = &pool->region[k];

		r->first = (uint32_t)meta_span;
		r->reserved = (uint32_t)(((uint64_t)pool->span_exts * r->per_ext + pool->page_size -
					  1) >>
					 pool->page_shift);
		meta_span += r->reserved;
	}
	meta.placed = 1;
	meta.span_pages = meta_span;
	meta.max_pages = meta_span;
	meta.name = "zsmalloc-meta";
	pool->meta = mp_create(&meta);
	if (!pool->meta)
		return -errno;
	base = mp_direct_map(pool->meta);
	pool->slots = (_Atomic zs_slotv *)base;
	pool->ext_cls = (_Atomic uint16_t *)(base + ((size_t)pool->region[ZS_META_CLS].first
						     << pool->page_shift));
	pool->ext = (struct zs_ext *)(base + ((size_t)pool->region[ZS_META_EXT].first
					      << pool->page_shift));
	pool->vpfn = (_Atomic uint32_t *)(base + ((size_t)pool->region[ZS_META_VPFN].first
						  << pool->page_shift));
	pool->span_free = mp_zalloc(span_free_bytes(pool));
	return pool->span_free ? 0 : -ENOMEM;
}

static void pool_free(struct zs_pool *pool)
{
	zs_classes_destroy(pool);
	if (pool->meta)
		zs_meta_free(pool);
	mp_destroy(pool->src);
	mp_zfree(pool->span_free, span_free_bytes(pool));
	pthread_mutex_destroy(&pool->span_lock);
	pthread_mutex_destroy(&pool->shard_lock);
	if (pool->tag)
		pool_tag_put(pool->tag);
	free(pool);
}

/* The settings of @config, defaults filled in. */
static void pool_settings(struct zs_pool *pool, const struct zs_config *config)
{
	snprintf(pool->name, sizeof(pool->name), "%s", config->name ? config->name : "zs");
	pool->page_size = (uint32_t)mp_page_size();
	pool->page_shift = mp_page_shift();
	pool->ext_unit_shift = pool->page_shift + ZS_EXT_SHIFT - ZS_LOC_SHIFT;
	pool->max_size = pool->page_size > ZS_MAX_OBJECT_SIZE ? pool->page_size
							      : ZS_MAX_OBJECT_SIZE;
	pool->scattered = config->layout == ZS_LAYOUT_SCATTERED ||
			  (config->layout == ZS_LAYOUT_DEFAULT &&
			   config->map_method != ZS_MAP_DEFAULT);
	pool->remap = pool->scattered && config->map_method == ZS_MAP_REMAP;
	pool->shared = pool->remap; /* remap windows map the memfd twice */
	pool->auto_compact = !config->no_auto_compact;
	pool->cache_max = config->cache_pages == UINT32_MAX ? 0
			  : config->cache_pages             ? config->cache_pages
							    : ZS_DEFAULT_CACHE_PAGES;
	pool->decay_ms = config->decay_ms ? config->decay_ms : ZS_DEFAULT_DECAY_MS;
	pool->nr_shards = config->shards ? config->shards : zs_default_shards();
}

struct zs_pool *zs_create_pool_config(const struct zs_config *config)
{
	struct zs_config defaults = { 0 };
	struct zs_pool *pool;
	int err;

	if (!config)
		config = &defaults;
	err = config_check(config);
	if (err) {
		errno = -err;
		return NULL;
	}
	pool = aligned_alloc(64, (sizeof(*pool) + 63) & ~(size_t)63);
	if (!pool)
		return NULL;
	memset(pool, 0, sizeof(*pool));
	pthread_mutex_init(&pool->shard_lock, NULL);
	pthread_mutex_init(&pool->span_lock, NULL);
	pool_settings(pool, config);
	atomic_store(&pool->malloc_bytes, sizeof(*pool));
	err = zs_geometry_init(pool, config->max_pages_per_zspage ? config->max_pages_per_zspage
								  : ZS_MAX_PAGES_PER_ZSPAGE);
	if (!err)
		err = pool_sources(pool, config);
	/* After the first page sources: their fork handler (registered at
	 * their first creation) must take their locks after ours. */
	if (!err)
		pthread_once(&zs_fork_once, fork_register);
	if (!err && !(pool->tag = pool_tag_get(pool)))
		err = -EMFILE; /* 1023 pools alive already */
	if (err) {
		pool_free(pool);
		errno = -err;
		return NULL;
	}
	return pool;
}

void zs_destroy_pool(struct zs_pool *pool)
{
	size_t mapped;

	if (!pool)
		return;
	mapped = zs_pool_mappings(pool);
	if (mapped) {
		fprintf(stderr,
			"zs_destroy_pool: pool '%s' still has %zu mapped object(s); "
			"destroying it would leave dangling pointers\n",
			pool->name, mapped);
		abort();
	}
	pool_free(pool);
}

size_t zs_get_total_pages(struct zs_pool *pool)
{
	return pool ? (size_t)atomic_load_explicit(&pool->pages_total, memory_order_relaxed) : 0;
}

size_t zs_huge_class_size(struct zs_pool *pool)
{
	return pool ? pool->huge_size : 0;
}

size_t zs_trim(struct zs_pool *pool)
{
	return pool && !zs_forked(pool) ? zs_cache_drain(pool) : 0;
}

void zs_fail_nth_page_alloc(struct zs_pool *pool, uint64_t n)
{
	if (pool)
		mp_fail_nth_alloc(pool->src, n);
}
