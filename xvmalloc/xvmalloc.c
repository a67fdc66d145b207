/*
 * xvmalloc.c - pools, arenas, locking and the public API of xvmalloc.
 *
 * Why
 * ---
 * A compressed-memory store holds millions of objects whose sizes spread
 * evenly from a few dozen bytes to a whole page (an LZ4-compressed 4 KiB
 * page of process memory averages 1.1 to 2 KiB). Size classes round every
 * object up and lose a few percent to that alone; a power-of-two allocator
 * loses a third. The 2009 compcache allocator packed such objects within
 * about 12 % of their live size with a TLSF-style allocator confined to
 * single pages: a 4-byte header per object, free lists every 8 bytes, O(1)
 * search through a two-level bitmap, and pages handed back as soon as they
 * empty. This is that design in user space, on the page source of mapping/:
 * objects are named by <pfn, offset> and reached through the direct map.
 * tlsf.c holds the layout of pages and blocks, the lists and the fit.
 *
 * Validation of <pfn, offset>
 * ---------------------------
 * Every pair a caller passes is proved to be a live object of the pool
 * before anything in its page is read: the pool's page records (pages.h)
 * hold, outside the pages, each page's owner arena and the offsets of its
 * live objects. A proof is one 64-bit load and a few compares, with no
 * lock (xv_map, xv_unmap, xv_get_object_size); xv_free repeats it under
 * the owner's lock. Bytes inside objects are never trusted: a header forged
 * in them is not in the record. A page with more live objects than its
 * record's slots (five for 4 KiB pages) keeps them in an overflow bitmap,
 * read under the owner's lock.
 *
 * Pages
 * -----
 * An arena takes a page from the pool's page source when the fit prefers
 * a fresh page or none of its free blocks fits (unless XV_NOGROW), carves
 * the object from its start, and gives the page back the moment its last
 * object is freed. The page source keeps up to xv_config.cache_pages such
 * pages resident (1 MiB by default) and returns the rest to the OS: a page
 * that goes to the OS and comes back costs a system call and a page fault,
 * which at one page per ~16 frees of ~1.5 KiB objects would dominate
 * everything else.
 *
 * Arenas and threads
 * ------------------
 * A pool has 1..64 arenas (default: one per online CPU, at most 8), each a
 * complete TLSF instance with its own mutex and pages. A thread allocates
 * from "its" arena: a thread-local index chosen round-robin on the thread's
 * first allocation. If that arena's lock is taken, the thread tries the
 * others with trylock and adopts the first it gets; if all are taken, it
 * waits for its own. A single-threaded user therefore touches one arena
 * only, and packs as densely as one arena can. When the fit prefers a fresh
 * page, or nothing fits, the arena takes a page rather than use another
 * arena's blocks, so that a thread's objects stay in its arena and its
 * frees meet no other thread's lock (measured: 1.4 % of frees crossed
 * arenas and threads kept swapping arenas when the others were tried first;
 * none now); only when no page may be taken (XV_NOGROW, page limit,
 * injected fault) is every arena searched before -ENOMEM. A free goes to
 * the arena that owns the page, named by its record.
 *
 * Lock order
 * ----------
 *   registry lock (fork.c)  ->  arena lock  ->  page source lock (in mp_*)
 * A thread never holds two arena locks but in the fork handler, which takes
 * every pool's in registry order and each pool's in arena order.
 * mp_alloc_page() runs before the arena lock is taken, mp_free_page() after
 * it is dropped (the page's record is cleared under the lock first, so no
 * one can reach the page meanwhile). Readers of records and headers that
 * take no lock use atomics; so do counters read without a lock.
 *
 * Glossary
 * --------
 *   page      one page of the page source, named by its pfn
 *   record    the pool's 64-bit word about a page: owner, live objects
 *   unit      an object offset / 4: how a record names an object
 *   block     header + data part; used (an object) or free
 *   arena     a TLSF instance: lists, bitmaps, lock, pages
 *   owner     the arena that holds a page
 */
#define _POSIX_C_SOURCE 200809L

#include "xvmalloc/xvmalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "xvmalloc/internal.h"
#include "xvmalloc/pages.h"
#include "xvmalloc/tlsf.h"

/* Round-robin source of the threads' first arenas, and each thread's own
 * arena index (UINT_MAX: not chosen yet; taken modulo a pool's arena count
 * where it is too large). */
static _Atomic unsigned xv_next_arena;
static _Thread_local unsigned xv_thread_arena = UINT_MAX;

#ifdef XV_DEBUG
void xv_assert_fail(const char *cond, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: xvmalloc invariant broken: %s\n", file, line, func, cond);
	abort();
}
#endif

uint32_t xv_max_size(void)
{
	return (uint32_t)mp_page_size() - XV_HDR;
}

uint32_t xv_min_block(void)
{
	return XV_MIN_BLOCK;
}

/* ---- Pools and arenas ------------------------------------------------- */

static unsigned default_arenas(void)
{
	unsigned cpus = mp_cpu_count();

	return cpus > XV_ARENAS_DEFAULT_MAX ? XV_ARENAS_DEFAULT_MAX : cpus;
}

/* The arena record and, behind it, its second-level bitmap, list heads
 * and list counts, in one cache-line-aligned allocation of arena_bytes(). */
static size_t arena_bytes(uint32_t page_size)
{
	uint32_t nlists, sl_words;
	size_t bytes;

	tlsf_sizes(page_size, &nlists, &sl_words);
	bytes = sizeof(struct xv_arena) + sl_words * sizeof(uint64_t) +
		nlists * (sizeof(struct xv_ref) + sizeof(uint32_t));
	return (bytes + 63) & ~(size_t)63;
}

static struct xv_arena *arena_create(struct xv_pool *pool, unsigned id)
{
	struct xv_arena *a = aligned_alloc(64, arena_bytes(pool->page_size));
	uint64_t *sl_bitmap;
	struct xv_ref *heads;
	uint32_t nlists, sl_words;

	if (!a)
		return NULL;
	if (pthread_mutex_init(&a->lock, NULL)) {
		free(a);
		return NULL;
	}
	tlsf_sizes(pool->page_size, &nlists, &sl_words);
	sl_bitmap = (uint64_t *)(a + 1);
	heads = (struct xv_ref *)(sl_bitmap + sl_words);
	a->held_unlocked = 0;
	a->id = id;
	atomic_init(&a->pages, 0);
	a->pages_allocated = 0;
	a->pages_freed = 0;
	tlsf_init(&a->tlsf, pool->src, pool->page_size, heads, (uint32_t *)(heads + nlists),
		  sl_bitmap);
	return a;
}

static void arena_destroy(struct xv_arena *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* The page source's part of the configuration. */
static struct mp_source *pool_source_create(const struct xv_config *config, size_t page_size)
{
	struct mp_config mc = { 0 };

	mc.max_pages = config->max_pages;
	mc.dirty_reuse = 1; /* a page's first block header is written at once */
	if (config->cache_pages == XV_CACHE_NONE)
		mc.cache_pages = 0;
	else if (config->cache_pages)
		mc.cache_pages = config->cache_pages;
	else
		mc.cache_pages = (uint32_t)(XV_CACHE_BYTES_DEFAULT / page_size);
	mc.name = "xvmalloc";
	return mp_create(&mc);
}

/* Everything but the registry: 0 or a positive errno. */
static int pool_init(struct xv_pool *pool, const struct xv_config *config)
{
	struct mp_stats ms;
	unsigned i;

	pool->src = pool_source_create(config, pool->page_size);
	if (!pool->src)
		return errno ? errno : ENOMEM;
	pool->base = mp_direct_map(pool->src);
	mp_get_stats(pool->src, &ms);
	if (pages_init(&pool->pages, ms.max_pages, pool->page_shift))
		return ENOMEM;
	for (i = 0; i < pool->narenas; i++) {
		pool->arenas[i] = arena_create(pool, i + 1);
		if (!pool->arenas[i])
			return ENOMEM;
	}
	return 0;
}

static void pool_free(struct xv_pool *pool)
{
	unsigned i;

	mp_destroy(pool->src);
	for (i = 0; i < pool->narenas; i++)
		arena_destroy(pool->arenas[i]);
	pages_destroy(&pool->pages);
	free(pool);
}

struct xv_pool *xv_create_pool(void)
{
	return xv_create_pool_config(NULL);
}

struct xv_pool *xv_create_pool_config(const struct xv_config *config)
{
	struct xv_config defaults = { 0 };
	size_t page_size = mp_page_size();
	struct xv_pool *pool;
	unsigned n;
	int err;

	if (!config)
		config = &defaults;
	if (config->arenas > XV_ARENAS_MAX || config->max_pages > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (page_size < ((size_t)1 << XV_PAGE_SHIFT_MIN) || page_size > XV_PAGE_MAX) {
		errno = ENOTSUP;
		return NULL;
	}
	n = config->arenas ? config->arenas : default_arenas();
	pool = calloc(1, sizeof(*pool) + n * sizeof(pool->arenas[0]));
	if (!pool) {
		errno = ENOMEM;
		return NULL;
	}
	pool->page_size = (uint32_t)page_size;
	pool->page_shift = mp_page_shift();
	pool->max_size = (uint32_t)page_size - XV_HDR;
	pool->narenas = n;
	pool->fixed_bytes = sizeof(*pool) + n * sizeof(pool->arenas[0]) +
			    n * arena_bytes(pool->page_size);
	err = pool_init(pool, config);
	if (!err)
		err = pool_register(pool);
	if (err) {
		pool_free(pool);
		errno = err;
		return NULL;
	}
	return pool;
}

void xv_destroy_pool(struct xv_pool *pool)
{
	if (!pool)
		return;
	pool_unregister(pool);
	pool_free(pool);
}

/* ---- Allocation ------------------------------------------------------- */

/*
 * arena_lock_mine - lock and return the calling thread's arena. On
 * contention, take any other arena whose trylock succeeds and make it the
 * thread's; if none, wait for the thread's own.
 */
static struct xv_arena *arena_lock_mine(struct xv_pool *pool)
{
	unsigned n = pool->narenas, i, k;
	struct xv_arena *a;

	if (n == 1) {
		a = pool->arenas[0];
		arena_lock(a);
		return a;
	}
	i = xv_thread_arena;
	if (i >= n) { /* first use, or a pool with fewer arenas */
		if (i == UINT_MAX)
			i = atomic_fetch_add_explicit(&xv_next_arena, 1, memory_order_relaxed);
		i %= n;
		xv_thread_arena = i;
	}
	a = pool->arenas[i];
	if (!arena_trylock(a))
		return a;
	for (k = 1; k < n; k++) {
		struct xv_arena *b = pool->arenas[(i + k) % n];

		if (!arena_trylock(b)) {
			xv_thread_arena = (i + k) % n;
			return b;
		}
	}
	arena_lock(a);
	return a;
}

/* arena_take_locked - allocate @size in the block @fit chose, and record
 * the object in its page's record. 0, or -ENOMEM with nothing changed (no
 * memory for the record's overflow map: the block is given back). */
static int arena_take_locked(struct xv_pool *pool, struct xv_arena *a, const struct tlsf_fit *fit,
			     uint32_t size, struct xv_ref *out)
{
	_Atomic uint64_t *slot = pages_slot(&pool->pages, fit->ref.pfn);
	uint32_t unit = (fit->ref.off + XV_HDR) >> 2;

	__builtin_prefetch(slot, 1); /* its miss overlaps the take's */
	tlsf_take_locked(&a->tlsf, fit, size, out);
	if (pages_reserve_locked(&pool->pages, slot, out->pfn)) {
		tlsf_free_locked(&a->tlsf, out->pfn, out->off);
		return -ENOMEM;
	}
	pages_add_locked(&pool->pages, slot, out->pfn, unit);
	return 0;
}

/* arena_fit_take_locked - allocate @size in a free block of arena @a (no
 * fresh page). 0 or -ENOMEM. */
static int arena_fit_take_locked(struct xv_pool *pool, struct xv_arena *a, uint32_t size,
				 struct xv_ref *out)
{
	struct tlsf_fit fit;

	if (tlsf_fit_locked(&a->tlsf, size, 0, &fit))
		return -ENOMEM;
	return arena_take_locked(pool, a, &fit, size, out);
}

/*
 * arena_grow_malloc - take a page from the source for arena @a and carve
 * the object from its start. On failure nothing changed: the page is given
 * back if its record could not be made.
 */
static int arena_grow_malloc(struct xv_pool *pool, struct xv_arena *a, uint32_t size,
			     struct xv_ref *out)
{
	uint32_t pfn;

	if (mp_alloc_page(pool->src, &pfn))
		return -ENOMEM;
	if (pages_prepare(&pool->pages, pfn)) {
		mp_free_page(pool->src, pfn);
		return -ENOMEM;
	}
	arena_lock(a);
	pages_claim_locked(&pool->pages, pfn, a->id);
	atomic_fetch_add_explicit(&a->pages, 1, memory_order_relaxed);
	a->pages_allocated++;
	tlsf_page_add_malloc_locked(&a->tlsf, pfn, size, out);
	pages_add_locked(&pool->pages, pages_slot(&pool->pages, pfn), pfn,
			 (out->off + XV_HDR) >> 2);
	arena_unlock(a);
	return 0;
}

/* The page source refuses pages because the pool holds its limit (rather
 * than for the OS or an injected fault). */
static int pool_at_limit(struct xv_pool *pool)
{
	struct mp_stats ms;

	mp_get_stats(pool->src, &ms);
	return ms.pages_used >= ms.max_pages;
}

/*
 * arena_malloc - allocate in the calling thread's arena: in the block the
 * fit chooses, or in a fresh page when the fit prefers one (@may_grow).
 * When that page is refused because the pool is at its page limit, in a
 * block after all; a refusal of the OS (or an injected fault) fails the
 * call, as it does when no block fits. 0 or -ENOMEM.
 */
static int arena_malloc(struct xv_pool *pool, uint32_t size, int may_grow, struct xv_arena **used,
			struct xv_ref *out)
{
	struct xv_arena *a = arena_lock_mine(pool);
	struct tlsf_fit fit;
	int err;

	*used = a;
	err = tlsf_fit_locked(&a->tlsf, size, may_grow, &fit);
	if (!err && !fit.fresh_page)
		err = arena_take_locked(pool, a, &fit, size, out);
	arena_unlock(a);
	if (err || !fit.fresh_page)
		return err;
	err = arena_grow_malloc(pool, a, size, out);
	if (err && pool_at_limit(pool)) {
		arena_lock(a);
		err = arena_fit_take_locked(pool, a, size, out);
		arena_unlock(a);
	}
	return err;
}

/*
 * malloc_elsewhere - look for a fitting free block in every arena but
 * @tried, one lock at a time (when no page may be taken). 0 with the block
 * in *out, or -ENOMEM.
 */
static int malloc_elsewhere(struct xv_pool *pool, uint32_t size, const struct xv_arena *tried,
			    struct xv_ref *out)
{
	unsigned i;

	for (i = 0; i < pool->narenas; i++) {
		struct xv_arena *a = pool->arenas[i];
		int err;

		if (a == tried)
			continue;
		arena_lock(a);
		err = arena_fit_take_locked(pool, a, size, out);
		arena_unlock(a);
		if (!err)
			return 0;
	}
	return -ENOMEM;
}

int xv_malloc(struct xv_pool *pool, uint32_t size, uint32_t *pfn, uint32_t *offset, int flags)
{
	struct xv_arena *mine;
	struct xv_ref ref;
	int err;

	if (pfn)
		*pfn = 0;
	if (offset)
		*offset = 0;
	if (!pool || !pfn || !offset || ((unsigned)flags & ~XV_NOGROW) || size == 0 ||
	    size > pool->max_size)
		return -EINVAL;
	err = arena_malloc(pool, size, !((unsigned)flags & XV_NOGROW), &mine, &ref);
	if (err && pool->narenas > 1)
		err = malloc_elsewhere(pool, size, mine, &ref);
	if (err)
		return -ENOMEM;
	*pfn = ref.pfn;
	*offset = ref.off + XV_HDR;
	return 0;
}

/* ---- Objects ---------------------------------------------------------- */

struct xv_arena *pool_lock_owner(struct xv_pool *pool, uint32_t pfn)
{
	for (;;) {
		unsigned id = rec_owner(pages_load(&pool->pages, pfn));
		struct xv_arena *a;

		if (!id || id > pool->narenas)
			return NULL;
		a = pool_arena(pool, id);
		arena_lock(a);
		if (rec_owner(pages_load(&pool->pages, pfn)) == id)
			return a;
		/* The page changed hands meanwhile (only misuse races here). */
		arena_unlock(a);
	}
}

/* An offset an object can have: 4-aligned, past a header, room for the
 * smallest block before the page ends. */
static inline int object_offset_ok(const struct xv_pool *pool, uint32_t offset)
{
	return !(offset & (XV_ALIGN - 1)) &&
	       offset - XV_HDR <= pool->page_size - XV_HDR - XV_MIN_BLOCK;
}

static unsigned char *object_ptr(const struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	return pool->base + ((size_t)pfn << pool->page_shift) + offset;
}

/*
 * object_listed - 1 if <@pfn, @offset> is a live object that its page's
 * record lists in a slot (almost every live object), else 0. Reads the
 * record only: nothing in the page. Inline, with no call, so that the
 * entry points' fast paths are leaves.
 */
static inline int object_listed(const struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	_Atomic uint64_t *slot;

	if (!pool || !object_offset_ok(pool, offset))
		return 0;
	slot = pages_slot(&pool->pages, pfn);
	if (!slot)
		return 0;
	return rec_match(&pool->pages, atomic_load_explicit(slot, memory_order_acquire),
			 offset >> 2) != 0;
}

/*
 * object_live - 1 if <@pfn, @offset> is a live object of @pool, else 0:
 * listed in a slot, or (a page whose objects overflow its record, whose
 * slots are then all 0) in the overflow map, looked up under the owner's
 * lock. The entry points call it only when object_listed() said no.
 */
__attribute__((noinline, cold)) static int object_live(struct xv_pool *pool, uint32_t pfn,
						       uint32_t offset)
{
	struct xv_arena *a;
	uint64_t rec;
	int live;

	if (!pool || !object_offset_ok(pool, offset))
		return 0;
	/* One load: a record without the overflow flag lists every live
	 * object of its page (a free may have just brought the page back
	 * from overflow since object_listed() looked). */
	rec = pages_load(&pool->pages, pfn);
	if (!(rec & XV_REC_OVF))
		return rec_match(&pool->pages, rec, offset >> 2) != 0;
	a = pool_lock_owner(pool, pfn);
	if (!a)
		return 0;
	live = pages_has_locked(&pool->pages, pfn, offset >> 2);
	arena_unlock(a);
	return live;
}

/* arena_drop_page_locked - the page's last object is gone: it leaves the
 * arena (the caller gives it back after unlocking). */
static void arena_drop_page_locked(struct xv_pool *pool, struct xv_arena *a, uint32_t pfn)
{
	pages_release_locked(&pool->pages, pfn);
	atomic_fetch_sub_explicit(&a->pages, 1, memory_order_relaxed);
	a->pages_freed++;
}

int xv_free(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	_Atomic uint64_t *slot;
	struct xv_arena *a;
	int empty;

	if (!pool || !object_offset_ok(pool, offset) || pfn >= pool->pages.max_pages)
		return -EINVAL;
	/* The header's miss overlaps the record's: a pfn below max_pages is
	 * inside the direct map, whether the pool holds it or not. The
	 * record proves the pair under the lock. */
	__builtin_prefetch(object_ptr(pool, pfn, offset - XV_HDR), 1);
	slot = pages_slot(&pool->pages, pfn);
	if (!slot)
		return -EINVAL;
	a = pool_lock_owner(pool, pfn);
	if (!a)
		return -EINVAL;
	if (!pages_remove_locked(&pool->pages, slot, pfn, offset >> 2)) {
		arena_unlock(a);
		return -EINVAL;
	}
	empty = tlsf_free_locked(&a->tlsf, pfn, offset - XV_HDR);
	if (empty)
		arena_drop_page_locked(pool, a, pfn);
	arena_unlock(a);
	if (empty)
		mp_free_page(pool->src, pfn); /* ours: cannot fail */
	return 0;
}

/* The entry points: a leaf fast path for a pair listed in its record, and
 * an out-of-line rest for everything else (overflowed pages, errors). */

__attribute__((noinline, cold)) static void *map_rest(struct xv_pool *pool, uint32_t pfn,
						      uint32_t offset)
{
	if (object_live(pool, pfn, offset))
		return object_ptr(pool, pfn, offset);
	errno = EINVAL;
	return NULL;
}

void *xv_map(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	if (__builtin_expect(object_listed(pool, pfn, offset), 1))
		return object_ptr(pool, pfn, offset);
	return map_rest(pool, pfn, offset);
}

__attribute__((noinline, cold)) static void unmap_rest(struct xv_pool *pool, uint32_t pfn,
						       uint32_t offset)
{
	if (!object_live(pool, pfn, offset))
		errno = EINVAL;
}

void xv_unmap(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	if (__builtin_expect(!object_listed(pool, pfn, offset), 0))
		unmap_rest(pool, pfn, offset);
}

static uint32_t object_size(const struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	return xv_hdr_load(object_ptr(pool, pfn, 0), offset - XV_HDR).size;
}

__attribute__((noinline, cold)) static uint32_t size_rest(struct xv_pool *pool, uint32_t pfn,
							  uint32_t offset)
{
	if (object_live(pool, pfn, offset))
		return object_size(pool, pfn, offset);
	errno = EINVAL;
	return 0;
}

uint32_t xv_get_object_size(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	if (__builtin_expect(object_listed(pool, pfn, offset), 1))
		return object_size(pool, pfn, offset);
	return size_rest(pool, pfn, offset);
}

/* ---- Counters --------------------------------------------------------- */

uint64_t xv_get_total_size_bytes(struct xv_pool *pool)
{
	uint64_t pages = 0;
	unsigned i;

	if (!pool)
		return 0;
	for (i = 0; i < pool->narenas; i++)
		pages += atomic_load_explicit(&pool->arenas[i]->pages, memory_order_relaxed);
	return pages * pool->page_size;
}

void xv_get_stats(struct xv_pool *pool, struct xv_stats *stats)
{
	struct mp_stats ms;
	unsigned i;

	if (!stats)
		return;
	memset(stats, 0, sizeof(*stats));
	if (!pool)
		return;
	for (i = 0; i < pool->narenas; i++) {
		struct xv_arena *a = pool->arenas[i];

		arena_lock(a);
		stats->pages += atomic_load_explicit(&a->pages, memory_order_relaxed);
		stats->objects += a->tlsf.objects;
		stats->bytes_requested += a->tlsf.bytes_requested;
		stats->bytes_allocated += a->tlsf.bytes_allocated;
		stats->bytes_free += a->tlsf.bytes_free;
		stats->pages_allocated += a->pages_allocated;
		stats->pages_freed += a->pages_freed;
		arena_unlock(a);
	}
	stats->metadata_bytes = pool->fixed_bytes + pages_bytes(&pool->pages);
	mp_get_stats(pool->src, &ms);
	stats->pages_cached = ms.pages_cached;
}

void xv_fail_nth_page_alloc(struct xv_pool *pool, uint64_t n)
{
	if (pool)
		mp_fail_nth_alloc(pool->src, n);
}
