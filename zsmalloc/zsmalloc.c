/*
 * zsmalloc.c - the pool, allocation and free.
 *
 * Why this allocator
 * ------------------
 * A compressed-memory store holds millions of objects whose sizes spread
 * evenly from a few dozen bytes to a whole page. A general-purpose malloc
 * stores them densely at first, but its holes cannot move: after the store
 * churns and drops half its data, glibc, jemalloc, mimalloc and tcmalloc all
 * hold about twice the live bytes. zsmalloc packs objects of one size class
 * into chains of order-0 pages, hands out handles instead of pointers, and
 * can therefore move objects (compaction) to keep its footprint within a
 * few percent of the live bytes.
 *
 * Layout
 * ------
 *   pool
 *    |- classes[]: one per merged size (16-byte steps for 4 KiB pages) and
 *    |    shard (a copy of the whole set per shard, see Shards below)
 *    |    |- lock, seq
 *    |    |- zspage records (by id, chunked):  | hdr | pfn[ppz] | bitmap |
 *    |    |- fullness lists: 12 groups by in-use ratio (0, 1-9 %, ..., 100 %)
 *    |    `- handle slots (by slot number, chunked): | loc | gen |
 *    `- page source: memfd pages named by pfn (mapping/)
 *
 *   zspage of a class with size 1392, 3 pages, 8 objects:
 *   | page pfn[0]          | page pfn[1]          | page pfn[2]          |
 *   |obj0  |obj1  |obj2  |o|bj3  |obj4  |obj5  |ob|j6  |obj7  |    waste |
 *
 * Objects start at index * size inside the zspage and may straddle a page
 * boundary. Nothing is stored inside an object but its bytes: the handle
 * slot gives the object's location, and compaction finds which slot points
 * into a zspage by scanning the class's slots (compaction is rare; a header
 * in every object, as in the kernel, would cost 8 bytes each, always).
 *
 * Handles
 * -------
 *   | tag 10 | shard 2 | class 8 | generation 16 | slot 28 |  (never 0: tag != 0)
 * A handle is valid while its slot is allocated with the same generation.
 * Freed slots bump their generation, so stale handles are refused; the tag
 * (per pool) refuses another pool's handles. See handle.c.
 *
 * Allocation takes the lowest free object of the fullest zspage that is not
 * full (fullness groups, as in Linux 6.3+), adding pages to the zspage only
 * as objects reach them (zspage.c). Free clears the object's bit and frees
 * the zspage's pages once it is empty.
 *
 * Locking
 * -------
 * Each class has a spin-then-yield lock taken by malloc, free, obj_write and
 * compaction of that class; no pool-wide lock exists on these paths. Map and
 * read_begin take no lock: they read the handle slot and the zspage record
 * (tables in chunks that never move), publish a pin in this thread's record,
 * and confirm with the class's seq, which compaction makes odd while it
 * moves objects. Compaction, after making seq odd, runs a process-wide
 * memory barrier (membarrier) and reads every thread's pins, so that it
 * never moves objects out of a zspage someone holds a pointer into (map.c,
 * compact.c). Lock order: class lock -> page source lock. Class locks never
 * nest.
 *
 * Shards
 * ------
 * Per-class locks alone do not let two threads scale: with a steady mix of
 * sizes both threads go through every class, and each alloc or free then
 * pulls the class's lock, lists, zspage and slot lines from the other
 * CPU's cache (on the 2-vCPU VM we measure on, 80 to 570 ns a round trip:
 * two threads ran 1.1x to 2.3x one thread). So a pool holds the whole set
 * of classes once per shard (zs_config.shards, default one per CPU up to
 * ZS_MAX_SHARDS), and a thread allocates in the shard it was given when it
 * first used the library, the least used among live threads (map.c). The
 * handle names the shard, so free, map and compaction work from any thread;
 * only an object freed by another thread than the one that allocated it
 * shares lines. A shard's classes are made when a thread first allocates
 * in it (class.c), and each shard fills its own zspages: a pool used by one
 * thread costs what it did before shards, several threads may hold a
 * partly filled zspage per class each (up to shards - 1 more than one
 * shard would), which zs_compact() does not merge across shards.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"
#include "zsmalloc/zsmalloc.h"

/* Tags of the live pools: a new pool takes one no live pool has, so a
 * handle of one live pool is never taken for another's. */
#define ZS_NR_TAGS (1u << ZS_TAG_BITS)
static pthread_mutex_t zs_tags_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t zs_tags_used[ZS_NR_TAGS / 64] = { 1 }; /* tag 0: never */
static uint32_t zs_tags_next;

void zs_class_lock_slow(struct size_class *class)
{
	unsigned spins = 0;

	for (;;) {
		while (atomic_load_explicit(&class->lock, memory_order_relaxed)) {
			if (++spins < 64)
				zs_cpu_relax();
			else
				sched_yield();
		}
		if (!atomic_exchange_explicit(&class->lock, 1, memory_order_acquire))
			return;
	}
}

/*
 * A tag for a new pool, 1 .. 1023, that no live pool has; 0 when 1023 pools
 * are alive. Tags are handed out round the circle from a start that differs
 * from run to run (the library's load address), so a destroyed pool's tag
 * comes back as late as possible.
 */
static uint32_t pool_tag_get(void)
{
	uint32_t i, tag = 0;

	pthread_mutex_lock(&zs_tags_lock);
	if (!zs_tags_next)
		zs_tags_next = (uint32_t)((uintptr_t)&zs_tags_next >> 12) % ZS_NR_TAGS;
	for (i = 0; i < ZS_NR_TAGS; i++) {
		uint32_t t = (zs_tags_next + i) % ZS_NR_TAGS;

		if (!(zs_tags_used[t / 64] & ((uint64_t)1 << (t % 64)))) {
			zs_tags_used[t / 64] |= (uint64_t)1 << (t % 64);
			zs_tags_next = t + 1;
			tag = t;
			break;
		}
	}
	pthread_mutex_unlock(&zs_tags_lock);
	return tag;
}

static void pool_tag_put(uint32_t tag)
{
	pthread_mutex_lock(&zs_tags_lock);
	zs_tags_used[tag / 64] &= ~((uint64_t)1 << (tag % 64));
	pthread_mutex_unlock(&zs_tags_lock);
}

struct zs_pool *zs_create_pool(const char *name)
{
	struct zs_config config = { .name = name };

	return zs_create_pool_config(&config);
}

struct zs_pool *zs_create_pool_config(const struct zs_config *config)
{
	struct zs_config defaults = { 0 };
	struct mp_config mpc = { 0 };
	struct zs_pool *pool;
	uint32_t max_ppz;
	int err;

	if (!config)
		config = &defaults;
	max_ppz = config->max_pages_per_zspage ? config->max_pages_per_zspage
					       : ZS_DEFAULT_PAGES_PER_ZSPAGE;
	if (max_ppz > ZS_MAX_PAGES_PER_ZSPAGE ||
	    (unsigned)config->map_method > ZS_MAP_REMAP ||
	    config->max_pages > UINT32_MAX || config->shards > ZS_MAX_SHARDS) {
		errno = EINVAL;
		return NULL;
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	snprintf(pool->name, sizeof(pool->name), "%s",
		 config->name ? config->name : "zs");
	pool->page_size = (uint32_t)mp_page_size();
	pool->page_shift = mp_page_shift();
	pool->delta_shift = pool->page_shift - ZS_CLASS_BITS;
	pool->method = config->map_method == ZS_MAP_REMAP ? MP_REMAP : MP_COPY;
	pool->tag = pool_tag_get();
	if (!pool->tag) {
		free(pool);
		errno = EMFILE; /* 1023 pools alive already */
		return NULL;
	}

	mpc.max_pages = config->max_pages;
	mpc.cache_pages = config->cache_pages;
	mpc.name = pool->name;
	/* Remap windows map pages twice: only a memfd can. */
	mpc.backing = pool->method == MP_REMAP ? MP_BACKING_SHARED : MP_BACKING_PRIVATE;
	pool->src = mp_create(&mpc);
	if (!pool->src) {
		err = errno;
		pool_tag_put(pool->tag);
		free(pool);
		errno = err;
		return NULL;
	}
	pool->base = mp_direct_map(pool->src);
	pthread_mutex_init(&pool->shard_lock, NULL);
	err = zs_classes_init(pool, max_ppz,
			      config->shards ? config->shards : zs_default_shards());
	if (err) {
		pthread_mutex_destroy(&pool->shard_lock);
		mp_destroy(pool->src);
		pool_tag_put(pool->tag);
		free(pool);
		errno = -err;
		return NULL;
	}
	zs_barrier_init();
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
	zs_classes_destroy(pool);
	pthread_mutex_destroy(&pool->shard_lock);
	mp_destroy(pool->src);
	pool_tag_put(pool->tag);
	free(pool);
}

/*
 * The fullest zspage's next object needs a page it cannot have (ZS_NOGROW,
 * the page limit, the OS): find any zspage (fullest first) whose lowest
 * free object lies in pages it holds. Its id, or ZS_ID_NONE. O(zspages):
 * the rare path.
 */
static uint32_t zspage_with_room(struct size_class *class)
{
	uint32_t page = class->pool->page_size, id;
	int g;

	for (g = ZS_GROUP_FULL - 1; g >= 1; g--)
		for (id = class->head[g]; id != ZS_ID_NONE; id = zs_zspage_at(class, id)->next) {
			struct zspage *z = zs_zspage_at(class, id);
			uint64_t end = (uint64_t)(zs_zspage_first_free(class, z) + 1) * class->size;

			if (end <= (uint64_t)z->npages * page)
				return id;
		}
	return ZS_ID_NONE;
}

zs_handle zs_malloc(struct zs_pool *pool, size_t size, int flags)
{
	struct size_class *class;
	struct zspage *z;
	uint32_t slot, idx, id, gen;
	int created = 0, grow = !(flags & ZS_NOGROW), err;
	uint8_t *chunk;

	if (!pool || !size || (flags & ~ZS_NOGROW)) {
		errno = EINVAL;
		return 0;
	}
	if (size > pool->page_size) {
		errno = ENOSPC;
		return 0;
	}
	class = zs_alloc_class(pool, size);

	zs_class_lock(class);
	err = zs_slot_alloc(class, &slot);
	if (err)
		goto unlock;
	/* The fullest zspage that is neither full nor empty (groups 1..10). */
	if (class->nonempty & ((1u << ZS_GROUP_FULL) - 2)) {
		int group = 31 - __builtin_clz(class->nonempty &
					       ((1u << ZS_GROUP_FULL) - 2));

		id = class->head[group];
		z = zs_zspage_at(class, id);
	} else {
		int64_t nid;

		if (!grow) {
			err = -ENOMEM;
			goto putback;
		}
		nid = zs_zspage_create(class, &z);
		if (nid < 0) {
			err = (int)nid;
			goto putback;
		}
		id = (uint32_t)nid;
		created = 1;
	}
	idx = zs_zspage_first_free(class, z);
	err = zs_zspage_populate(class, z, idx, grow);
	if (err) {
		/* No new page: use a hole in the pages the class holds. */
		if (created) {
			zs_zspage_release(class, id, z, NULL);
			created = 0;
		}
		id = zspage_with_room(class);
		if (id == ZS_ID_NONE)
			goto putback;
		z = zs_zspage_at(class, id);
		idx = zs_zspage_first_free(class, z);
		err = 0; /* its pages hold the object: nothing to populate */
	}
	zs_zspage_map(class, z)[idx / 64] |= (uint64_t)1 << (idx % 64);
	z->inuse++;
	if (created) {
		zs_list_insert(class, id, z, zs_fullness_group(class, z->inuse));
		class->nr_zspages++;
	} else {
		zs_fix_fullness(class, id, z);
	}
	chunk = zs_table_chunk(&class->slots, slot >> ZS_SLOT_CHUNK_SHIFT);
	atomic_store_explicit(zs_slot_loc(chunk, slot), (id << class->idx_bits) | idx,
			      memory_order_release);
	gen = atomic_load_explicit(zs_slot_gen(chunk, slot), memory_order_relaxed);
	class->obj_used++;
	zs_class_unlock(class);
	return zs_handle_make(pool, class->index, gen, slot);

putback:
	zs_slot_putback(class, slot);
unlock:
	zs_class_unlock(class);
	errno = -err;
	return 0;
}

int zs_free(struct zs_pool *pool, zs_handle h)
{
	struct size_class *class;
	struct zspage *z;
	uint32_t loc, id, idx;
	uint64_t *word, bit;

	if (!pool || !(class = zs_handle_to_class(pool, h)))
		return -EINVAL;
	if (zs_mapped_anywhere(pool, h))
		return -EBUSY;
	ZS_TEST_HOOK(free_scanned, h);

	zs_class_lock(class);
	if (zs_slot_lookup(class, h, &loc))
		goto invalid;
	id = zs_loc_id(class, loc);
	idx = zs_loc_idx(class, loc);
	if (id >= class->nr_ids || idx >= class->opz)
		goto invalid; /* a corrupt slot: zs_check() reports it */
	z = zs_zspage_at(class, id);
	if (zs_group(z) == ZS_GROUP_UNUSED)
		goto invalid;
	word = &zs_zspage_map(class, z)[idx / 64];
	bit = (uint64_t)1 << (idx % 64);
	if (!(*word & bit))
		goto invalid;

	*word &= ~bit;
	z->inuse--;
	zs_slot_free(class, zs_handle_slot(h));
	class->obj_used--;
	if (z->inuse == 0 && zs_zspage_pinned(z)) {
		/* Someone still holds a pointer into it (a racing user): keep
		 * the pages on group 0 until the pin goes (map.c frees it). */
		zs_fix_fullness(class, id, z);
	} else if (z->inuse == 0) {
		zs_zspage_release(class, id, z, NULL);
	} else {
		zs_fix_fullness(class, id, z);
	}
	zs_class_unlock(class);
	return 0;

invalid:
	zs_class_unlock(class);
	return -EINVAL;
}

size_t zs_get_total_pages(struct zs_pool *pool)
{
	struct mp_stats st;

	if (!pool)
		return 0;
	mp_get_stats(pool->src, &st);
	return (size_t)st.pages_used;
}

size_t zs_huge_class_size(struct zs_pool *pool)
{
	return pool ? pool->huge_size : 0;
}

void zs_fail_nth_page_alloc(struct zs_pool *pool, uint64_t n)
{
	if (pool)
		mp_fail_nth_alloc(pool->src, n);
}
