/*
 * xvmalloc.h - a TLSF-style allocator of objects inside single pages.
 *
 * The allocator of compcache (2009), in user space on zsalloc's page source.
 * Every object lives inside one page: at most xv_max_size() = page size - 4
 * bytes, never spanning two pages (larger data, such as a page that does not
 * compress, must be stored some other way). An object is named by a
 * <pfn, offset> pair; the caller maps the pair to get a pointer (xv_map),
 * like a highmem page had to be kmapped. Every block carries a 4-byte header:
 *
 *     page:  | hdr | object .......... | hdr | free block ....... | hdr | ...
 *             ^ offset - 4               blocks are 4-byte aligned
 *     hdr:   u16 size | u16 offset of the previous block, 2 flag bits in its
 *            low bits (BLOCK_FREE, PREV_FREE)
 *
 * Free blocks sit on free lists every 8 bytes of size, found in O(1) through a
 * two-level bitmap (one word over words of free-list bits, as in TLSF). An
 * allocation takes the block that keeps the sizes of the free blocks most
 * even among a few that fit, or a fresh page, and splits it; a free merges
 * the block with both neighbours; a page whose blocks are all free goes back
 * to the page source, and its memory to the OS (past a small reuse cache:
 * see cache_pages).
 *
 * Sizes: 1 .. xv_max_size() bytes. An object takes its size rounded up to 4,
 * at least xv_min_block() (32 bytes), plus its 4-byte header. Free blocks
 * whose data part is smaller than xv_min_block() (the tail of a split) are on
 * no free list: they wait, as in the seed, to merge with a neighbour that is
 * freed. Beside the pages the pool keeps 8 bytes per page it holds (more for
 * a page of more than five objects), counted in xv_stats.metadata_bytes.
 *
 * Validation: every <pfn, offset> is checked. A pair that is not the start of
 * a live object of this pool (never allocated, freed, a wrong, interior or
 * unaligned offset, an unknown pfn, another pool's pair) is refused with
 * EINVAL and the pool is unchanged. Nothing inside any object is trusted:
 * a pair is accepted only if the pool's own record of its page, kept outside
 * the pages, lists it, so no byte of the page is read before the pair is
 * proved, and a header forged in object data never passes. The proof is
 * O(1); xv_map, xv_unmap and xv_get_object_size take no lock for it (but for
 * a page holding more than five objects, whose record is looked up under
 * its arena's lock). pfns are per pool: each pool has its own page source.
 *
 * Threads: every function is thread-safe. A pool holds one or more arenas,
 * each a complete TLSF instance with its own lock and pages. A thread
 * allocates from its own arena (assigned round robin on its first
 * allocation; when that arena's lock is taken, the first other arena whose
 * lock is free becomes its own), so a single thread touches one arena only.
 * When its arena's fit prefers a fresh page, or no block fits, it takes a
 * page; the other arenas are searched only when no page may be taken
 * (XV_NOGROW, the page limit, the OS, an injected fault). A free goes to the
 * arena that owns the page. Mapping, unmapping and sizing an object run in
 * parallel with everything but a free of the same object (which must not
 * race them: the caller frees an object no thread uses).
 *
 * fork(): the child gets a copy-on-write snapshot of every pool: it may use
 * and destroy a pool created before the fork, and nothing it does reaches
 * the parent's objects, nor the parent's the child's. A fork while other
 * threads use a pool is safe: the fork waits for every arena to be between
 * two operations.
 *
 * Errors: int functions return 0 or a negative errno; pointer functions
 * return NULL and set errno. Nothing here prints (xv_walk gives the caller
 * every block instead).
 */
#ifndef ZSALLOC_XVMALLOC_H
#define ZSALLOC_XVMALLOC_H

#include <stddef.h>
#include <stdint.h>

/* zsalloc's version (the same in every module's header; version.bzl says
 * how it moves). */
#ifndef ZSALLOC_VERSION_MAJOR
#define ZSALLOC_VERSION_MAJOR 2
#define ZSALLOC_VERSION_MINOR 0
#define ZSALLOC_VERSION_PATCH 0
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct xv_pool;

/* xv_malloc() flags. */
/* Fail with -ENOMEM rather than take a new page (the seed's GFP_NOWAIT). */
#define XV_NOGROW 0x1u

/* Create-time parameters. Zero-initialise, then set what you need. */
struct xv_config {
	/* Most pages the pool may hold at once; past it xv_malloc() fails
	 * with -ENOMEM. 0: the machine's physical memory in pages. */
	uint64_t max_pages;
	/* Independent arenas (each with its own lock and pages), 1..64.
	 * 0: one per online CPU, at most 8. One arena is the seed's design. */
	unsigned arenas;
	/* Empty pages the pool's page source keeps resident for reuse instead
	 * of returning them to the OS at once (mp_config.cache_pages). They
	 * are no longer the pool's (not in its stats or total size), at most
	 * this many, and go to the OS when the cache is full. Taking a page
	 * back from the OS costs a system call and a page fault, from the
	 * cache a memset; a churning pool empties a page every few frees and
	 * the number of pages it holds wanders by hundreds, so the cache must
	 * be a few hundred pages to absorb it. 0: XV_CACHE_BYTES_DEFAULT
	 * worth of pages (256 of 4 KiB). XV_CACHE_NONE: no cache, every empty
	 * page goes to the OS at once. */
	uint32_t cache_pages;
};

#define XV_CACHE_BYTES_DEFAULT (1u << 20) /* 1 MiB per pool */
#define XV_CACHE_NONE UINT32_MAX

struct xv_stats {
	uint64_t pages;           /* pages holding blocks (== total size / page) */
	uint64_t pages_cached;    /* emptied pages the pool's page source keeps
				     resident for reuse (xv_config.cache_pages):
				     resident memory = (pages + pages_cached)
				     * page size */
	uint64_t objects;         /* live objects */
	uint64_t bytes_requested; /* sum of the sizes asked for by live objects */
	uint64_t bytes_allocated; /* sum of live blocks, headers included */
	uint64_t bytes_free;      /* sum of free blocks, headers included:
				     allocated + free == pages * page size */
	uint64_t metadata_bytes;  /* pool and arena structures outside the pages */
	uint64_t pages_allocated; /* pages taken from the page source, ever */
	uint64_t pages_freed;     /* pages given back, ever */
};

/* The largest object size (page size - 4), and the smallest free block
 * (data part, header excluded) a free list holds. Never fail. */
uint32_t xv_max_size(void);
uint32_t xv_min_block(void);

/*
 * xv_create_pool - a pool with the defaults; xv_create_pool_config - with
 * @config (NULL: defaults).
 * Returns the pool, or NULL with errno EINVAL (arenas > 64, max_pages beyond
 * the page source's limit), ENOTSUP (a system page size outside 4..64 KiB),
 * ENOMEM, or the errno of the page source.
 */
struct xv_pool *xv_create_pool(void);
struct xv_pool *xv_create_pool_config(const struct xv_config *config);

/* xv_destroy_pool - free the pool, its pages and every live object in them.
 * NULL is ignored. */
void xv_destroy_pool(struct xv_pool *pool);

/*
 * xv_malloc - allocate @size bytes. On success stores the object's page in
 * *pfn and its offset in the page (4-byte aligned, past the header) in
 * *offset, and returns 0. On error stores 0 in both and returns -EINVAL
 * (@size 0 or above xv_max_size(), unknown @flags, NULL argument) or -ENOMEM
 * (no page could be had: no free block fits and XV_NOGROW, the page limit,
 * the OS or an injected fault refused one; or the arena's fit preferred a
 * fresh page and the OS or an injected fault refused it: at the page limit
 * a fitting block is used instead). The pool is unchanged after any error;
 * traces may remain outside it: a page just taken whose record could not be
 * made goes back to the page source, whose reuse cache may keep it
 * (pages_cached one higher, as after any free), and metadata_bytes may keep
 * an allocation the record needed.
 */
int xv_malloc(struct xv_pool *pool, uint32_t size, uint32_t *pfn, uint32_t *offset, int flags);

/*
 * xv_free - free the object at <@pfn, @offset>. Returns 0, or -EINVAL if the
 * pair is not a live object of @pool; nothing changes then. Takes the lock
 * of the arena that owns the page.
 */
int xv_free(struct xv_pool *pool, uint32_t pfn, uint32_t offset);

/*
 * xv_map - a pointer to the object at <@pfn, @offset>: xv_get_object_size()
 * bytes, valid until the object is freed. Returns NULL with errno EINVAL if
 * the pair is not a live object of @pool. No lock (see Validation), no
 * system call.
 */
void *xv_map(struct xv_pool *pool, uint32_t pfn, uint32_t offset);

/* xv_unmap - end a mapping from xv_map(). Objects live in the direct map,
 * so this only validates, as xv_map does: a pair that is not a live object
 * sets errno EINVAL (errno is left alone otherwise). */
void xv_unmap(struct xv_pool *pool, uint32_t pfn, uint32_t offset);

/*
 * xv_get_object_size - the size asked for when the object at <@pfn, @offset>
 * was allocated. Returns 0 with errno EINVAL if the pair is not a live
 * object. No lock (see Validation).
 */
uint32_t xv_get_object_size(struct xv_pool *pool, uint32_t pfn, uint32_t offset);

/* xv_get_total_size_bytes - the pool's pages times the page size, as in
 * the seed. Emptied pages its page source keeps resident for reuse are not
 * in it: see xv_stats.pages_cached. */
uint64_t xv_get_total_size_bytes(struct xv_pool *pool);

/* xv_get_stats - a consistent snapshot of the counters (locks each arena). */
void xv_get_stats(struct xv_pool *pool, struct xv_stats *stats);

/* ------------------------------------------------------------------------
 * Test and debug entry points: the checker, the walker, fault injection.
 * They hold each arena's lock while they visit it, and are meant for tests,
 * fuzzers and tools rather than for the path of every object.
 * ------------------------------------------------------------------------ */

/*
 * xv_check - walk every page, every block and both bitmap levels of every
 * arena and check every invariant (block chain covers each page exactly,
 * prev offsets and PREV_FREE flags agree, no two free neighbours, each free
 * block of at least the minimum size is on exactly the free list of its size,
 * list counts and bitmaps match the lists, each page's record lists exactly
 * its used blocks, counters match). Returns the number of violations found:
 * 0 for a sound pool. Works in release builds; takes the arenas' locks one
 * at a time. Matching the free lists against the pages takes scratch memory
 * (16 bytes per free block); without it the check cannot finish and counts
 * one violation.
 */
size_t xv_check(struct xv_pool *pool);

/*
 * xv_walk - call @fn for every block of every page, in page order, with the
 * pfn, the object offset (block start + 4), the block's size (object size for
 * used blocks, free space for free ones) and whether it is in use. Stops and
 * returns @fn's value as soon as it is non-zero; returns 0 after the last
 * block. @fn must not call into the pool.
 */
typedef int (*xv_walker)(uint32_t pfn, uint32_t offset, uint32_t size, int used, void *arg);
int xv_walk(struct xv_pool *pool, xv_walker fn, void *arg);

/* xv_fail_nth_page_alloc - fault injection for tests: the @n-th page the pool
 * asks its page source for (1 = the next) is refused, once. 0 cancels. */
void xv_fail_nth_page_alloc(struct xv_pool *pool, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_XVMALLOC_H */
