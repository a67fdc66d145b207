/*
 * slot.c - handle slots, and the metadata pages they live in.
 *
 * A pool's metadata that must be found by arithmetic sits in a page source
 * of its own (pool->meta: placed, private memory), in three regions laid
 * out once at creation and made present page by page as they fill:
 *
 *   meta pfn 0              slot_pages           + ext_pages
 *   | slot table (8 B each) | extent records (64 B each) | vpfn (4 B each) |
 *     one per handle          one per span extent          scattered layout:
 *                                                           span page -> pfn
 *
 * The slot table never moves, so a handle finds its slot with one load,
 * without a lock: slot = table[handle's slot number]. A class takes slots
 * from the table ZS_SLOT_CHUNK at a time (their numbers recorded in the
 * class, for compaction's scan) and keeps its free ones on a list threaded
 * through their location bits. A slot goes back to the free list of the
 * class that frees it.
 *
 * Pins. A reader or mapper raises the slot's state by one with a
 * compare-and-swap, so that a zs_free() (which turns the slot free with a
 * compare-and-swap that expects no pin) and compaction (which turns it
 * "moving" the same way before copying the object) see the pin, or the
 * pinner sees the slot freed or moving: the two can never both succeed.
 * The pin is the only write a read makes, and it is to the line the read
 * loads anyway.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

#ifdef ZS_TEST_HOOKS
void (*zs_test_hook_map_looked_up)(zs_handle h);
void (*zs_test_hook_free_scanned)(zs_handle h);
void (*zs_test_hook_compact_round)(uint32_t c);
#endif

/* Make the pages of the slot table that hold slots [0, @end) present.
 * span_lock held. */
static int slot_pages_grow(struct zs_pool *pool, uint32_t end)
{
	uint32_t need = (uint32_t)(((uint64_t)end * sizeof(zs_slotv) + pool->page_size - 1) >>
				   pool->page_shift);

	while (pool->meta_slot_pages < need) {
		int err = mp_alloc_pages_at(pool->meta, pool->meta_slot_pages, 1);

		if (err)
			return err;
		pool->meta_slot_pages++;
	}
	return 0;
}

/* Give @class a new chunk of free slots. Class lock held. */
static int slot_chunk_add(struct size_class *class)
{
	struct zs_pool *pool = class->pool;
	uint32_t first, i;
	int err;

	if (class->nr_chunks == class->cap_chunks) {
		uint32_t cap = class->cap_chunks ? class->cap_chunks * 2 : 4;
		uint32_t *grown = realloc(class->chunks, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		atomic_fetch_add(&pool->malloc_bytes, (cap - class->cap_chunks) * sizeof(*grown));
		class->chunks = grown;
		class->cap_chunks = cap;
	}
	pthread_mutex_lock(&pool->span_lock);
	first = atomic_load_explicit(&pool->nr_slots, memory_order_relaxed);
	err = first + ZS_SLOT_CHUNK > ZS_MAX_SLOTS ? -ENOMEM
						   : slot_pages_grow(pool, first + ZS_SLOT_CHUNK);
	if (!err) {
		for (i = 0; i < ZS_SLOT_CHUNK; i++) {
			uint32_t next = i + 1 < ZS_SLOT_CHUNK ? first + i + 1 : class->free_slot;

			atomic_store_explicit(zs_slot(pool, first + i),
					      zs_sv_make(ZS_STATE_FREE, 0, next),
					      memory_order_relaxed);
		}
		/* Published after the slots are free: a lock-free reader that
		 * sees the new count sees free slots, never zero pages. */
		atomic_store_explicit(&pool->nr_slots, first + ZS_SLOT_CHUNK, memory_order_release);
	}
	pthread_mutex_unlock(&pool->span_lock);
	if (err)
		return err;
	class->chunks[class->nr_chunks++] = first / ZS_SLOT_CHUNK;
	class->free_slot = first;
	return 0;
}

int zs_slot_alloc(struct size_class *class, uint32_t *slot, uint32_t *gen)
{
	zs_slotv v;
	int err;

	if (class->free_slot == ZS_SLOT_NONE) {
		err = slot_chunk_add(class);
		if (err)
			return err;
	}
	*slot = class->free_slot;
	v = atomic_load_explicit(zs_slot(class->pool, *slot), memory_order_relaxed);
	ZS_ASSERT(zs_sv_state(v) == ZS_STATE_FREE && "a free-list slot is free");
	class->free_slot = (uint32_t)zs_sv_loc(v);
	*gen = zs_sv_gen(v);
	return 0;
}

void zs_slot_putback(struct size_class *class, uint32_t slot)
{
	_Atomic zs_slotv *p = zs_slot(class->pool, slot);
	zs_slotv v = atomic_load_explicit(p, memory_order_relaxed);

	/* Undo zs_slot_alloc() exactly: the slot was never published. */
	atomic_store_explicit(p, zs_sv_make(ZS_STATE_FREE, zs_sv_gen(v), class->free_slot),
			      memory_order_relaxed);
	class->free_slot = slot;
}

/* Give back the pages of region @r past its first @keep. */
static void zs_meta_ext_shrink_region(struct zs_pool *pool, struct zs_meta_region *r, uint32_t keep)
{
	while (r->present > keep)
		mp_free_page(pool->meta, r->first + --r->present);
}

static uint32_t region_pages(const struct zs_pool *pool, const struct zs_meta_region *r, uint32_t n)
{
	return (uint32_t)(((uint64_t)n * r->per_ext + pool->page_size - 1) >> pool->page_shift);
}

void zs_meta_ext_shrink(struct zs_pool *pool, uint32_t n)
{
	uint32_t k;

	for (k = 0; k < ZS_NR_META; k++)
		if (pool->region[k].per_ext)
			zs_meta_ext_shrink_region(pool, &pool->region[k],
						  region_pages(pool, &pool->region[k], n));
}

int zs_meta_ext_grow(struct zs_pool *pool, uint32_t n)
{
	uint32_t had[ZS_NR_META], k;

	for (k = 0; k < ZS_NR_META; k++) {
		struct zs_meta_region *r = &pool->region[k];
		uint32_t need = r->per_ext ? region_pages(pool, r, n) : 0;

		had[k] = r->present;
		if (need > r->present &&
		    mp_alloc_pages_at(pool->meta, r->first + r->present, need - r->present)) {
			while (k-- > 0) /* all or nothing */
				zs_meta_ext_shrink_region(pool, &pool->region[k], had[k]);
			return -ENOMEM;
		}
		if (need > r->present)
			r->present = need;
	}
	return 0;
}

/* A moving object is copied under its class lock in well under a
 * microsecond per KiB; spin a little, then let the mover run. */
zs_slotv zs_wait_not_moving(_Atomic zs_slotv *p)
{
	unsigned spins = 0;
	zs_slotv v;

	while (zs_sv_state(v = atomic_load_explicit(p, memory_order_acquire)) == ZS_STATE_MOVING) {
		if (++spins < 128)
			zs_cpu_relax();
		else
			mp_yield();
	}
	return v;
}

zs_slotv zs_slot_read(struct zs_pool *pool, zs_handle h)
{
	_Atomic zs_slotv *p = zs_handle_to_slot(pool, h);
	zs_slotv v;

	if (!p)
		return 0;
	v = atomic_load_explicit(p, memory_order_acquire);
	if (__builtin_expect(zs_sv_state(v) == ZS_STATE_MOVING, 0))
		v = zs_wait_not_moving(p);
	if (zs_sv_state(v) < ZS_STATE_LIVE || zs_sv_gen(v) != zs_handle_gen(h))
		return 0;
	return v;
}

zs_slotv zs_pin_slow(_Atomic zs_slotv *p, zs_handle h, zs_slotv v, int *err)
{
	for (;;) {
		uint32_t state = zs_sv_state(v);

		if (state == ZS_STATE_MOVING) {
			v = zs_wait_not_moving(p);
			continue;
		}
		if (state < ZS_STATE_LIVE || zs_sv_gen(v) != zs_handle_gen(h)) {
			*err = -EINVAL;
			return 0;
		}
		if (state - ZS_STATE_LIVE >= ZS_MAX_PINS) {
			*err = -EBUSY;
			return 0;
		}
		if (atomic_compare_exchange_weak_explicit(
			    p, &v, v + ZS_PIN_ONE, memory_order_acquire, memory_order_relaxed))
			return v + ZS_PIN_ONE;
	}
}

void zs_meta_free(struct zs_pool *pool)
{
	mp_destroy(pool->meta);
	pool->meta = NULL;
}
