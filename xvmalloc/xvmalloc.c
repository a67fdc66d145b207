/*
 * xvmalloc.c - pools, arenas, locking and the public API of xvmalloc.
 *
 * Why
 * ---
 * A compressed-memory store holds millions of objects whose sizes spread
 * evenly from a few dozen bytes to a whole page (an LZ4-compressed 4 KiB
 * page of process memory averages 1.1 to 2 KiB). Size classes round every object up and lose
 * a few percent to that alone; a power-of-two allocator loses a third. The
 * 2009 compcache allocator packed such objects within about 12 % of their
 * live size with a TLSF-style allocator confined to single pages: a 4-byte
 * header per object, free lists every 8 bytes, O(1) search through a
 * two-level bitmap, and pages handed back as soon as they empty. This is
 * that design in user space, on the page source of mapping/: objects are
 * named by <pfn, offset> and reached through the direct map.
 *
 * Page and block layout
 * ---------------------
 * A page is a chain of blocks, each a 4-byte header and a data part. Blocks
 * tile the page exactly; the first starts at offset 0.
 *
 *   0                                                         page_size
 *   +----+-----------+----+------------------+----+---------+----+----+
 *   |hdr | object A  |hdr | free block       |hdr | object B|hdr |frag|
 *   +----+-----------+----+------------------+----+---------+----+----+
 *        ^ <pfn, offset> of A = block offset + 4
 *                         [ link: next/prev pfn + offset | ...unused  ]
 *
 *   hdr.size   used: the size asked for, 1 .. page_size - 4
 *              free: the data bytes of the block (a multiple of 4)
 *   hdr.prev   block offset of the block before | PREV_FREE | BLOCK_FREE
 *              (offsets are multiples of 4, so the two low bits are flags)
 *
 *   extent(used) = max(round_up(size, 4), MIN_BLOCK)  data bytes spanned
 *   extent(free) = size
 *   next block   = block offset + 4 + extent
 *
 * Invariants of every page an arena holds:
 *   sum over the chain of (4 + extent) == page_size
 *   hdr.prev of each block == offset of the block before it (0 for the first)
 *   PREV_FREE of a block == BLOCK_FREE of the block before it
 *   no two free blocks are neighbours (frees merge both ways)
 *   not every block is free (an empty page goes back to the page source)
 *
 * A free block of at least MIN_BLOCK (32) data bytes is on a free list; its
 * list links (pfn and block offset of next and previous) live in its own
 * data part, as in the seed. A free block smaller than that ("fragment", 0..
 * 28 data bytes, the tail left by a split) is on no list: it waits for a
 * neighbour to be freed and merge with it. Every used block spans at least
 * MIN_BLOCK, so freeing one always yields a block a list can hold.
 *
 * Free lists and the two-level bitmap
 * -----------------------------------
 * List i holds free blocks of data size MIN + 8i .. MIN + 8i + 7 (the floor
 * index). For a 4 KiB page that is 508 lists; for 64 KiB, 8188. Bit i of the
 * second level (sl_bitmap, one u64 per 64 lists) says list i is non-empty;
 * bit w of the first level (fl_bitmap) says sl_bitmap[w] != 0. To allocate
 * extent e:
 *   i = (e - MIN) >> 3; if list i's head is large enough, take it (when e
 *       is MIN + 8i every block of list i is: a good fit);
 *   else the first set bit at or above i + 1 in sl_bitmap[i / 64], else the
 *       first set bit of fl_bitmap above that word, then that word's first
 *       bit: every block of that list fits.
 * That is a handful of find-first-set instructions: O(1). The block is split
 * at e; the tail becomes a free block (a list's, or a fragment).
 *
 * Validation of <pfn, offset>
 * ---------------------------
 * The pool keeps a byte per pfn (owners.c): which of its arenas owns the
 * page, or 0. A pair is accepted only if its pfn is owned, its offset is
 * 4-aligned and in range, and walking the page's chain from offset 0 lands
 * exactly on the offset's block, which is in use. A header alone proves
 * nothing (user data can look like one); the walk reads the headers before
 * the object in its page: at most page_size / 20 of them, on average half
 * the page's blocks, about one or two for compressed pages. xv_free,
 * xv_map, xv_unmap and xv_get_object_size all pay it, under the lock.
 * Measured on 100k live objects: ~0.6 more cache misses per free, issued
 * in parallel with the object's own (both lines are prefetched before the
 * lock), and no difference above the noise in ns per malloc + free pair.
 *
 * Pages
 * -----
 * An arena takes a page from the pool's page source when none of its free
 * blocks fits (unless XV_NOGROW), carves the object from its start, and
 * gives the page back the moment its last object is freed. The page source
 * keeps up to xv_config.cache_pages such pages resident (1 MiB by default)
 * and returns the rest to the OS: a page that goes to the OS and comes back
 * costs a hole punch and a page fault (~70-100 us on these VMs), which at
 * one page per ~16 frees would dominate everything else.
 *
 * Arenas and threads
 * ------------------
 * A pool has 1..64 arenas (default: one per online CPU, at most 8), each a
 * complete TLSF instance with its own mutex and pages. A thread allocates
 * from "its" arena: a thread-local index chosen round-robin on the thread's
 * first allocation. If that arena's lock is taken, the thread tries the
 * others with trylock and adopts the first it gets; if all are taken, it
 * waits for its own. A single-threaded user therefore touches one arena
 * only, and packs as densely as the seed. When the arena has no fitting
 * block it takes a new page, so that a thread's objects stay in its arena
 * and its frees meet no other thread's lock; only when no page may be taken
 * (XV_NOGROW, page limit, injected fault) is every arena searched before
 * -ENOMEM. A free goes to the arena that owns the page, found in the owner
 * table.
 *
 * Lock order
 * ----------
 *   arena lock  ->  page source lock (inside mp_*)
 * A thread never holds two arena locks. mp_alloc_page() runs before the
 * arena lock is taken; mp_free_page() after it is dropped (the page's owner
 * entry is cleared under the lock first, so no one can reach it meanwhile).
 * mp_kmap() takes no lock. Counters read without a lock (pages, for
 * xv_get_total_size_bytes) are atomics.
 *
 * Glossary
 * --------
 *   page      one page of the page source, named by its pfn
 *   block     header + data part; used (an object) or free
 *   extent    the data bytes a block spans
 *   fragment  a free block under MIN_BLOCK bytes, on no free list
 *   list      free list; lists are DELTA (8) bytes of size apart
 *   arena     a TLSF instance: lists, bitmaps, lock, pages
 *   owner     the arena that holds a page (owner table, one byte per pfn)
 */
#define _POSIX_C_SOURCE 200809L

#include "xvmalloc/xvmalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "mapping/mapping.h"
#include "xvmalloc/internal.h"
#include "xvmalloc/owners.h"
#include "xvmalloc/tlsf.h"

/* Round-robin source of the threads' first arenas, and each thread's own
 * arena index (modulo the pool's arena count; UINT_MAX: not chosen yet). */
static _Atomic unsigned xv_next_arena;
static _Thread_local unsigned xv_thread_arena = UINT_MAX;

uint32_t xv_max_size(void)
{
	return (uint32_t)mp_page_size() - XV_HDR;
}

uint32_t xv_min_block(void)
{
	return XV_MIN_BLOCK;
}

static unsigned default_arenas(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		return 1;
	if ((unsigned long)cpus > XV_ARENAS_DEFAULT_MAX)
		return XV_ARENAS_DEFAULT_MAX;
	return (unsigned)cpus;
}

/* The arena record and, behind it, its second-level bitmap and list heads,
 * in one cache-line-aligned allocation of arena_bytes(). */
static size_t arena_bytes(uint32_t page_size)
{
	uint32_t nlists, sl_words;
	size_t bytes;

	tlsf_sizes(page_size, &nlists, &sl_words);
	bytes = sizeof(struct xv_arena) + sl_words * sizeof(uint64_t) +
		nlists * sizeof(struct xv_ref);
	return (bytes + 63) & ~(size_t)63;
}

static struct xv_arena *arena_create(struct xv_pool *pool, unsigned id)
{
	struct xv_arena *a = aligned_alloc(64, arena_bytes(pool->page_size));
	uint64_t *sl_bitmap;
	uint32_t nlists, sl_words;

	if (!a)
		return NULL;
	if (pthread_mutex_init(&a->lock, NULL)) {
		free(a);
		return NULL;
	}
	tlsf_sizes(pool->page_size, &nlists, &sl_words);
	sl_bitmap = (uint64_t *)(a + 1);
	a->id = id;
	atomic_init(&a->pages, 0);
	a->pages_allocated = 0;
	a->pages_freed = 0;
	tlsf_init(&a->tlsf, pool->src, pool->page_size,
		  (struct xv_ref *)(sl_bitmap + sl_words), sl_bitmap);
	return a;
}

static void arena_destroy(struct xv_arena *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

struct xv_pool *xv_create_pool(void)
{
	return xv_create_pool_config(NULL);
}

struct xv_pool *xv_create_pool_config(const struct xv_config *config)
{
	struct xv_config defaults = { 0 };
	struct mp_config mc = { 0 };
	struct mp_stats ms;
	struct xv_pool *pool;
	size_t page_size = mp_page_size();
	unsigned n, i;
	int err;

	if (!config)
		config = &defaults;
	if (config->arenas > XV_ARENAS_MAX || config->max_pages > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (page_size < ((size_t)1 << XV_PAGE_SHIFT_MIN) ||
	    page_size > XV_PAGE_MAX) {
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
	pool->max_size = (uint32_t)page_size - XV_HDR;
	pool->narenas = n;
	pool->fixed_bytes = sizeof(*pool) + n * sizeof(pool->arenas[0]) +
			    n * arena_bytes(pool->page_size);

	mc.max_pages = config->max_pages;
	if (config->cache_pages == XV_CACHE_NONE)
		mc.cache_pages = 0;
	else if (config->cache_pages)
		mc.cache_pages = config->cache_pages;
	else
		mc.cache_pages = (uint32_t)(XV_CACHE_BYTES_DEFAULT / page_size);
	mc.name = "xvmalloc";
	pool->src = mp_create(&mc);
	if (!pool->src) {
		err = errno ? errno : ENOMEM;
		goto fail;
	}
	mp_get_stats(pool->src, &ms);
	if (owners_init(&pool->owners, ms.max_pages)) {
		err = ENOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		pool->arenas[i] = arena_create(pool, i + 1);
		if (!pool->arenas[i]) {
			err = ENOMEM;
			goto fail;
		}
	}
	return pool;

fail:
	xv_destroy_pool(pool);
	errno = err;
	return NULL;
}

void xv_destroy_pool(struct xv_pool *pool)
{
	unsigned i;

	if (!pool)
		return;
	mp_destroy(pool->src);
	for (i = 0; i < pool->narenas; i++)
		arena_destroy(pool->arenas[i]);
	owners_destroy(&pool->owners);
	free(pool);
}

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
		pthread_mutex_lock(&a->lock);
		return a;
	}
	if (xv_thread_arena == UINT_MAX)
		xv_thread_arena = atomic_fetch_add_explicit(
			&xv_next_arena, 1, memory_order_relaxed) % XV_ARENAS_MAX;
	i = xv_thread_arena % n;
	a = pool->arenas[i];
	if (!pthread_mutex_trylock(&a->lock))
		return a;
	for (k = 1; k < n; k++) {
		struct xv_arena *b = pool->arenas[(i + k) % n];

		if (!pthread_mutex_trylock(&b->lock)) {
			xv_thread_arena = (i + k) % n;
			return b;
		}
	}
	pthread_mutex_lock(&a->lock);
	return a;
}

/*
 * malloc_elsewhere - look for a fitting free block in every arena, one lock
 * at a time (when no page may be taken). Returns 0 with the block in *out,
 * or -ENOMEM.
 */
static int malloc_elsewhere(struct xv_pool *pool, uint32_t size,
			    struct xv_ref *out)
{
	unsigned i;

	for (i = 0; i < pool->narenas; i++) {
		struct xv_arena *a = pool->arenas[i];
		int err;

		pthread_mutex_lock(&a->lock);
		err = tlsf_malloc_locked(&a->tlsf, size, out);
		pthread_mutex_unlock(&a->lock);
		if (!err)
			return 0;
	}
	return -ENOMEM;
}

/*
 * arena_grow_malloc - take a page from the source for arena @a and carve
 * the object from its start. On failure nothing changed: the page is given
 * back if the owner table could not record it.
 */
static int arena_grow_malloc(struct xv_pool *pool, struct xv_arena *a,
			     uint32_t size, struct xv_ref *out)
{
	uint32_t pfn;

	if (mp_alloc_page(pool->src, &pfn))
		return -ENOMEM;
	if (owners_prepare(&pool->owners, pfn)) {
		mp_free_page(pool->src, pfn);
		return -ENOMEM;
	}
	pthread_mutex_lock(&a->lock);
	owners_set(&pool->owners, pfn, a->id);
	atomic_fetch_add_explicit(&a->pages, 1, memory_order_relaxed);
	a->pages_allocated++;
	tlsf_page_add_malloc_locked(&a->tlsf, pfn, size, out);
	pthread_mutex_unlock(&a->lock);
	return 0;
}

int xv_malloc(struct xv_pool *pool, uint32_t size, uint32_t *pfn,
	      uint32_t *offset, int flags)
{
	struct xv_arena *a;
	struct xv_ref ref;
	int err;

	if (pfn)
		*pfn = 0;
	if (offset)
		*offset = 0;
	if (!pool || !pfn || !offset || ((unsigned)flags & ~XV_NOGROW) ||
	    size == 0 || size > pool->max_size)
		return -EINVAL;

	a = arena_lock_mine(pool);
	err = tlsf_malloc_locked(&a->tlsf, size, &ref);
	pthread_mutex_unlock(&a->lock);
	/* A new page for the thread's own arena rather than a block of
	 * another's: objects of one thread stay in one arena, so its frees do
	 * not contend with other threads (measured: 1.4 % of frees crossed
	 * arenas and threads kept swapping arenas when the others were tried
	 * first; none now). Only when no page may be taken, every arena. */
	if (err && !((unsigned)flags & XV_NOGROW))
		err = arena_grow_malloc(pool, a, size, &ref);
	if (err && pool->narenas > 1)
		err = malloc_elsewhere(pool, size, &ref);
	if (err)
		return -ENOMEM;
	*pfn = ref.pfn;
	*offset = ref.off + XV_HDR;
	return 0;
}

struct xv_arena *pool_lock_owner(struct xv_pool *pool, uint32_t pfn)
{
	for (;;) {
		unsigned id = owners_get(&pool->owners, pfn);
		struct xv_arena *a;

		if (!id || id > pool->narenas)
			return NULL;
		a = pool_arena(pool, id);
		pthread_mutex_lock(&a->lock);
		if (owners_get(&pool->owners, pfn) == id)
			return a;
		/* The page changed hands meanwhile (only misuse races here). */
		pthread_mutex_unlock(&a->lock);
	}
}

/*
 * object_lock - lock the arena owning <pfn, offset> and validate the pair:
 * returns the locked arena, the page and the header, or NULL (no lock
 * held) if the pair is not a live object of @pool.
 */
static struct xv_arena *object_lock(struct xv_pool *pool, uint32_t pfn,
				    uint32_t offset, unsigned char **page,
				    struct xv_hdr *hdr)
{
	struct xv_arena *a;
	int saved_errno;

	if (!pool)
		return NULL;
	/* The object's header and the page's first header are needed under
	 * the lock: start their (TLB and cache) misses now. A pfn's address
	 * never changes, so it stays good once the lock proves the page ours;
	 * if the page was not allocated at this instant, map it again then. */
	saved_errno = errno; /* a bad pfn is not an error yet */
	*page = mp_kmap(pool->src, pfn);
	errno = saved_errno;
	if (*page) {
		__builtin_prefetch(*page);
		__builtin_prefetch(*page + ((offset - XV_HDR) &
					    (pool->page_size - 1)));
	}
	a = pool_lock_owner(pool, pfn);
	if (!a)
		return NULL;
	if (!*page)
		*page = mp_kmap(pool->src, pfn);
	if (!*page || tlsf_find_live_locked(&a->tlsf, *page, offset, hdr)) {
		pthread_mutex_unlock(&a->lock);
		return NULL;
	}
	return a;
}

int xv_free(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	unsigned char *page;
	struct xv_arena *a;
	struct xv_hdr h;
	int empty;

	a = object_lock(pool, pfn, offset, &page, &h);
	if (!a)
		return -EINVAL;
	empty = tlsf_free_locked(&a->tlsf, pfn, page, offset - XV_HDR);
	if (empty) {
		owners_set(&pool->owners, pfn, 0);
		atomic_fetch_sub_explicit(&a->pages, 1, memory_order_relaxed);
		a->pages_freed++;
	}
	pthread_mutex_unlock(&a->lock);
	if (empty)
		mp_free_page(pool->src, pfn); /* ours: cannot fail */
	return 0;
}

void *xv_map(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	unsigned char *page;
	struct xv_arena *a;
	struct xv_hdr h;

	a = object_lock(pool, pfn, offset, &page, &h);
	if (!a) {
		errno = EINVAL;
		return NULL;
	}
	pthread_mutex_unlock(&a->lock);
	return page + offset;
}

void xv_unmap(struct xv_pool *pool, uint32_t pfn, uint32_t offset)
{
	unsigned char *page;
	struct xv_arena *a;
	struct xv_hdr h;

	a = object_lock(pool, pfn, offset, &page, &h);
	if (!a) {
		errno = EINVAL;
		return;
	}
	pthread_mutex_unlock(&a->lock);
}

uint32_t xv_get_object_size(struct xv_pool *pool, uint32_t pfn,
			    uint32_t offset)
{
	unsigned char *page;
	struct xv_arena *a;
	struct xv_hdr h;

	a = object_lock(pool, pfn, offset, &page, &h);
	if (!a) {
		errno = EINVAL;
		return 0;
	}
	pthread_mutex_unlock(&a->lock);
	return h.size;
}

uint64_t xv_get_total_size_bytes(struct xv_pool *pool)
{
	uint64_t pages = 0;
	unsigned i;

	if (!pool)
		return 0;
	for (i = 0; i < pool->narenas; i++)
		pages += atomic_load_explicit(&pool->arenas[i]->pages,
					      memory_order_relaxed);
	return pages * pool->page_size;
}

void xv_get_stats(struct xv_pool *pool, struct xv_stats *stats)
{
	unsigned i;

	if (!stats)
		return;
	memset(stats, 0, sizeof(*stats));
	if (!pool)
		return;
	for (i = 0; i < pool->narenas; i++) {
		struct xv_arena *a = pool->arenas[i];

		pthread_mutex_lock(&a->lock);
		stats->pages += atomic_load_explicit(&a->pages,
						     memory_order_relaxed);
		stats->objects += a->tlsf.objects;
		stats->bytes_requested += a->tlsf.bytes_requested;
		stats->bytes_allocated += a->tlsf.bytes_allocated;
		stats->bytes_free += a->tlsf.bytes_free;
		stats->pages_allocated += a->pages_allocated;
		stats->pages_freed += a->pages_freed;
		pthread_mutex_unlock(&a->lock);
	}
	stats->metadata_bytes = pool->fixed_bytes + owners_bytes(&pool->owners);
	{
		struct mp_stats st;

		mp_get_stats(pool->src, &st);
		stats->pages_cached = st.pages_cached;
	}
}

void xv_fail_nth_page_alloc(struct xv_pool *pool, uint64_t n)
{
	if (pool)
		mp_fail_nth_alloc(pool->src, n);
}
