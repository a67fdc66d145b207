/*
 * alloc.c - zs_malloc() and zs_free().
 *
 * zs_malloc: the class of the size in the calling thread's shard; under its
 * lock, a slot, the fullest zspage with room (or a new one: from the
 * shard's cache, or new extents of the span), its lowest free place, the
 * pages that place touches; then the slot goes live with the location.
 *
 * zs_free: the slot names the location, the location's extent names the
 * class; under that class's lock the slot turns free with a compare-and-
 * swap that expects no pin (a pinned object stays: -EBUSY), the place is
 * cleared, and an emptied zspage leaves its class for the shard's cache.
 * Then, now and then, a compaction step (compact.c) and a look at the
 * caches' decay (cache.c).
 */
#include "zsmalloc/internal.h"

/*
 * The fullest zspage's next object needs a page it cannot have (ZS_NOGROW,
 * the page limit, the OS): find any zspage (fullest first) whose lowest
 * free object lies in pages it holds. Its first extent, or ZS_EXT_NONE.
 * O(zspages): the rare path.
 */
static uint32_t zspage_with_room(struct size_class *class)
{
	struct zs_pool *pool = class->pool;
	uint32_t first;
	int g;

	for (g = ZS_GROUP_FULL - 1; g >= 1; g--)
		for (first = class->head[g]; first != ZS_EXT_NONE; first = pool->ext[first].next)
			if (zs_obj_present(class, first, zs_zspage_first_free(class, first)))
				return first;
	return ZS_EXT_NONE;
}

/* The fullest zspage that is neither full nor empty, or ZS_EXT_NONE. */
static uint32_t zspage_fullest(const struct size_class *class)
{
	unsigned partial = class->nonempty & ((1u << ZS_GROUP_FULL) - 2);

	if (!partial)
		return ZS_EXT_NONE;
	return class->head[31 - __builtin_clz(partial)];
}

/* A place for a new object of @class: its zspage and index. 0 | -ENOMEM.
 * Class lock held. */
static int place_find(struct size_class *class, int grow, uint32_t *firstp, uint32_t *idxp)
{
	uint32_t first = zspage_fullest(class), idx;
	int created = 0;

	if (first == ZS_EXT_NONE && grow) {
		first = zs_zspage_create(class);
		created = first != ZS_EXT_NONE;
	}
	if (first != ZS_EXT_NONE) {
		idx = zs_zspage_first_free(class, first);
		if (!zs_zspage_populate(class, first, idx, grow))
			goto found;
	}
	/* No new page: use a hole in the pages the class holds. */
	if (created)
		zs_zspage_release(class, first);
	first = zspage_with_room(class);
	if (first == ZS_EXT_NONE)
		return -ENOMEM;
	idx = zs_zspage_first_free(class, first);
	created = 0;
found:
	if (created)
		zs_list_insert(class, first, zs_fullness_group(class, 0));
	*firstp = first;
	*idxp = idx;
	return 0;
}

zs_handle zs_malloc(struct zs_pool *pool, size_t size, int flags)
{
	struct size_class *class;
	unsigned s;
	uint32_t c, slot, gen, first, idx;
	int err;

	if (!pool || !size || (flags & ~ZS_NOGROW)) {
		errno = EINVAL;
		return 0;
	}
	if (size > pool->max_size) {
		errno = ENOSPC;
		return 0;
	}
	if ((err = zs_forked(pool)) != 0) {
		errno = -err;
		return 0;
	}
	s = zs_this_shard(pool);
	c = zs_class_number(pool, size);
	class = zs_class_get(pool, s, c);
	if (__builtin_expect(!class, 0) && !(class = zs_class_make(pool, s, c))) {
		errno = ENOMEM;
		return 0;
	}
	zs_class_lock(class);
	err = zs_slot_alloc(class, &slot, &gen);
	if (!err) {
		err = place_find(class, !(flags & ZS_NOGROW), &first, &idx);
		if (err)
			zs_slot_putback(class, slot);
	}
	if (err) {
		zs_class_unlock(class);
		errno = -err;
		return 0;
	}
	zs_obj_set(class, first, idx);
	zs_fix_fullness(class, first);
	/* Release: a reader that finds the slot live finds the place set. */
	atomic_store_explicit(zs_slot(pool, slot),
			      zs_sv_make(ZS_STATE_LIVE, gen, zs_obj_loc(pool, class, first, idx)),
			      memory_order_release);
	if (__builtin_expect(class->cc != NULL, 0))
		zs_auto_compact(class, 0);
	zs_class_unlock(class);
	zs_cache_tick(pool, s);
	if (__builtin_expect(atomic_load_explicit(&zs_shard_get(pool, s)->pending,
						  memory_order_relaxed) != 0,
			     0))
		zs_auto_compact_pending(pool, s);
	return zs_handle_make(pool, gen, slot);
}

/* The class that holds location @loc now, or NULL (a stale read: the
 * caller validates under the lock). */
static struct size_class *loc_class(struct zs_pool *pool, uint64_t loc)
{
	uint32_t e = zs_ext_of_loc(pool, loc);
	uint32_t c, s;

	if (e >= pool->span_exts)
		return NULL;
	c = atomic_load_explicit(&pool->ext[e].cls, memory_order_relaxed);
	s = atomic_load_explicit(&pool->ext[e].shard, memory_order_relaxed);
	if (c >= pool->nr_classes || s >= ZS_MAX_SHARDS)
		return NULL;
	return zs_class_get(pool, s, c);
}

/* Free the object of slot value @v (live, unpinned) in @class: 0, -EAGAIN
 * (the slot changed: look again), -EBUSY (pinned). Class lock held. */
static int free_locked(struct size_class *class, uint32_t slot, zs_slotv v)
{
	struct zs_pool *pool = class->pool;
	uint64_t loc = zs_sv_loc(v);
	uint32_t e = zs_ext_of_loc(pool, loc), first, idx, gen = zs_sv_gen(v);
	zs_slotv freed;

	if (atomic_load_explicit(&pool->ext[e].cls, memory_order_relaxed) != class->number ||
	    pool->ext[e].shard != class->shard)
		return -EAGAIN; /* moved to another shard's zspage meanwhile */
	first = zs_zspage_first(pool, e);
	idx = (uint32_t)((((loc - ((uint64_t)first << pool->ext_unit_shift)) << ZS_LOC_SHIFT)) /
			 class->size);
	freed = zs_sv_make(ZS_STATE_FREE, gen + 1, class->free_slot);
	if (!atomic_compare_exchange_strong_explicit(zs_slot(pool, slot), &v, freed,
						     memory_order_acq_rel, memory_order_acquire))
		return zs_sv_state(v) > ZS_STATE_LIVE && zs_sv_loc(v) == loc && zs_sv_gen(v) == gen
			       ? -EBUSY   /* pinned */
			       : -EAGAIN; /* moved, or freed (and taken again) */
	class->free_slot = slot;
	zs_obj_clear(class, first, idx);
	if (pool->ext[first].inuse == 0 && zs_ext_group(&pool->ext[first]) != ZS_GROUP_ISOLATED)
		zs_zspage_release(class, first);
	else
		zs_fix_fullness(class, first);
	return 0;
}

int zs_free(struct zs_pool *pool, zs_handle h)
{
	struct size_class *class;
	unsigned tries;
	zs_slotv v;
	int err;

	if (!pool)
		return -EINVAL;
	if ((err = zs_forked(pool)) != 0)
		return err;
	for (tries = 0;; tries++) {
		v = zs_slot_read(pool, h);
		if (!v)
			return -EINVAL;
		if (zs_sv_state(v) > ZS_STATE_LIVE)
			return -EBUSY;
		ZS_TEST_HOOK(free_scanned, h);
		if (!(class = loc_class(pool, zs_sv_loc(v)))) {
			/* A compaction moved the object and gave its zspage
			 * back since the read (the record may be seen before
			 * the slot's new value, or the object may be back at
			 * the place by now): look again. */
			ZS_ASSERT(tries < 1000000 && "a free converges");
			if (tries >= 1000000)
				return -EINVAL; /* a live slot at no class's place */
			if (tries >= 64)
				mp_yield();
			continue;
		}
		zs_class_lock(class);
		err = free_locked(class, zs_handle_slot(h), v);
		if (!err && class->pool->auto_compact)
			zs_auto_compact(class, 1);
		zs_class_unlock(class);
		if (err != -EAGAIN)
			break;
		ZS_ASSERT(tries < 1000000 && "a free converges");
	}
	if (!err) {
		zs_cache_tick(pool, class->shard);
		if (atomic_load_explicit(&zs_shard_get(pool, class->shard)->pending,
					 memory_order_relaxed))
			zs_auto_compact_pending(pool, class->shard);
	}
	return err;
}
