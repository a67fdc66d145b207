/*
 * zsmalloc.h - a handle-based allocator for compressed pages.
 *
 * zsmalloc stores millions of objects whose sizes spread from a few dozen
 * bytes to a whole page, with almost no waste. Objects are grouped by size
 * into classes 16 bytes apart (for 4 KiB pages); the objects of a class are
 * packed back to back into zspages: chains of 1..16 order-0 pages from the
 * page source, so that an object may start in one page and end in the next:
 *
 *     zspage of class 1392, 3 pages, 8 objects (waste: 8 bytes):
 *     | page pfn 17        | page pfn 4         | page pfn 90        |
 *     |obj0 |obj1 |obj2 |ob|j3 |obj4 |obj5 |obj|6 |obj7 |            |
 *
 * The caller gets an opaque handle, never 0, that stays valid while objects
 * move (compaction), and reaches the bytes through zs_map_object() /
 * zs_unmap_object() or the copy calls zs_obj_read_begin()/zs_obj_write(). An
 * object that straddles two pages is shown contiguously by the mapping
 * layer: copied through a per-thread buffer (ZS_MAP_COPY) or mapped side by
 * side in a per-thread window (ZS_MAP_REMAP).
 *
 * Default map method: ZS_MAP_COPY, the faster as measured by tools/bench
 * (2-core x86-64 VM, 2026-11-29, objects of the bundled traces' mix): a
 * copy-mode map + unmap of a straddling object costs 108 ns (1.9x a bare
 * memcpy of its bytes), a remap-mode one 11.7 us, because with more objects
 * than a thread's 8 windows nearly every map re-points a window (two mmap()
 * calls and two page faults). Remap wins (39 ns) only when the same pair of
 * pages is mapped again and again, which random access to millions of
 * objects does not do. The kernel reached the same choice (copy is its only
 * path since 5.10).
 *
 * Handles are validated: a handle this pool never returned, one already
 * freed, one whose slot was freed and reused, or one from another live pool
 * is refused with EINVAL and changes nothing. Two limits, both of the
 * handle's 64 bits: a slot's generation has 16 bits, so a stale handle whose
 * slot has since been reused exactly 65536 times (or a multiple) looks live
 * again; and a pool's tag has 10 bits, unique among live pools, so at most
 * 1023 pools live at once and a destroyed pool's tag comes back (as late as
 * possible). The per-object metadata is 6 bytes (a 4-byte location and a
 * 2-byte generation in a per-class handle table) and nothing inside the
 * zspage, against the kernel's 16 (an 8-byte in-object header and an 8-byte
 * handle slot).
 *
 * Threads: every function is thread-safe. Each class has its own lock, and
 * a pool has a copy of every class per shard (zs_config.shards; by default
 * one per CPU, up to ZS_MAX_SHARDS): threads allocate in different shards,
 * so that two threads on one pool share no lock or cache line on their
 * alloc and free paths. The alloc, free, map and copy paths take no
 * pool-wide lock. A thread may hold
 * up to ZS_MAX_MAPPINGS mappings at once (of any pools). A mapped object's
 * zspage is pinned: compaction leaves it alone until it is unmapped.
 *
 * Errors: int functions return 0 or a negative errno; pointer and handle
 * functions return NULL or 0 and set errno. Nothing here prints except
 * zs_dump_classes() to the FILE it is given.
 */
#ifndef ZSALLOC_ZSMALLOC_H
#define ZSALLOC_ZSMALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uintptr_t zs_handle; /* opaque; 0 is never a valid handle */

struct zs_pool;

enum zs_mapmode {
	ZS_MM_RW, /* read-write: copied in on map and out on unmap */
	ZS_MM_RO, /* read-only: writes through the pointer may be lost */
	ZS_MM_WO, /* write-only: contents undefined until written */
};

/* How objects that straddle two pages are mapped (see above). */
enum zs_map_method {
	ZS_MAP_DEFAULT = 0, /* ZS_MAP_COPY */
	ZS_MAP_COPY = 1,    /* per-thread buffer (the kernel's path) */
	ZS_MAP_REMAP = 2,   /* per-thread two-page window (the old vmap path) */
};

/* A thread may hold this many mappings (map or read_begin) at once. */
#define ZS_MAX_MAPPINGS 4
/* The longest zspage chain, in pages (the kernel's range is 4..16). */
#define ZS_MAX_PAGES_PER_ZSPAGE 16
/* Most shards a pool may have (see zs_config.shards). */
#define ZS_MAX_SHARDS 4
/* Fullness groups of a class: empty, 1-9 %, 10-19 %, ..., 90-99 %, full. */
#define ZS_NR_FULLNESS 12

/* zs_malloc() flags. */
#define ZS_NOGROW 0x1 /* fail with ENOMEM rather than take a new page */

/* Create-time parameters. Zero-initialise, then set what you need. */
struct zs_config {
	const char *name;       /* for zs_dump_classes(); NULL: "zs" */
	/* Longest zspage chain, 1..ZS_MAX_PAGES_PER_ZSPAGE; 0: 16. Each class
	 * takes the chain length up to this that wastes least. */
	unsigned max_pages_per_zspage;
	enum zs_map_method map_method;
	/* Most pages the pool may hold; past it zs_malloc() fails with
	 * ENOMEM. 0: the machine's physical memory in pages. */
	uint64_t max_pages;
	/* Freed pages the page source keeps resident for reuse, so that a
	 * class that empties and refills a zspage does not pay the OS twice.
	 * 0: none (every freed page goes back to the OS at once). */
	uint32_t cache_pages;
	/* Copies of every size class, each with its own lock, zspages and
	 * handles, 1..ZS_MAX_SHARDS; 0: one per online CPU, at most
	 * ZS_MAX_SHARDS. A thread allocates in one shard (given it when it
	 * first calls the library: the shard with the fewest live threads),
	 * so that threads on different CPUs do not pass cache lines back and
	 * forth; frees, maps and compaction go to the object's own shard from
	 * any thread. A shard's classes (~48 KiB) are made when a thread first
	 * allocates in it. The price: each shard in use may hold a partly
	 * filled zspage per class, and compaction does not merge across
	 * shards. 1: every thread shares one set of classes (the densest with
	 * many threads, the kernel's layout). */
	uint32_t shards;
};

struct zs_stats {
	uint64_t pages_compacted;  /* pages freed by zs_compact(), ever */
	uint64_t pages_used;       /* == zs_get_total_pages() */
	uint64_t objects;          /* live objects */
	uint64_t metadata_bytes;   /* handle tables, zspage and class records */
	uint64_t handles_reserved; /* handle slots in the tables (live + free) */
	uint64_t objects_moved;    /* by compaction, ever */
};

/* One class, as the kernel's /sys/kernel/debug/zsmalloc/<pool>/classes. */
struct zs_class_stat {
	uint32_t index;             /* class number, 0 .. count - 1 */
	uint32_t size;              /* object size of the class */
	uint32_t merged_from;       /* smallest size merged into it */
	uint32_t pages_per_zspage;
	uint32_t objs_per_zspage;
	uint64_t zspages[ZS_NR_FULLNESS]; /* zspages per fullness group */
	uint64_t obj_allocated;     /* object places in the pages the class
				       holds (zspages get pages lazily, so
				       this is <= zspages * objs_per_zspage) */
	uint64_t obj_used;          /* live objects */
	uint64_t pages_used;        /* pages held by the class's zspages */
	uint64_t freeable;          /* pages zs_compact() could free now */
};

/*
 * zs_create_pool - a pool with the defaults; zs_create_pool_config - with
 * @config (NULL: defaults). @name may be NULL.
 * Returns the pool, or NULL with errno EINVAL (max_pages_per_zspage > 16, an
 * unknown map method, max_pages beyond the page source's limit, shards >
 * ZS_MAX_SHARDS), EMFILE (1023 pools are alive), ENOMEM, or the errno of
 * the page source.
 */
struct zs_pool *zs_create_pool(const char *name);
struct zs_pool *zs_create_pool_config(const struct zs_config *config);

/*
 * zs_destroy_pool - free the pool with every object in it. NULL is ignored.
 * Destroying a pool while any thread still holds a mapping of one of its
 * objects is a use-after-free in the making: it aborts the process with a
 * message on stderr naming the pool and the count.
 */
void zs_destroy_pool(struct zs_pool *pool);

/*
 * zs_malloc - allocate an object of @size bytes.
 * The object goes into the fullest zspage of its class with room, in the
 * calling thread's shard (see zs_config.shards); when
 * that needs a page the pool cannot get (ZS_NOGROW, the page limit, an
 * injected fault, the OS), into a hole in pages the class already holds.
 * Returns its handle, or 0 with errno: EINVAL (@size 0, NULL pool, unknown
 * @flags), ENOSPC (@size above the page size), ENOMEM (no page and no such
 * hole, or a class's handle table at 2^28). No object, page or handle changes after any error
 * (the class's handle table may keep room it grew for the attempt).
 */
zs_handle zs_malloc(struct zs_pool *pool, size_t size, int flags);

/*
 * zs_free - free the object of handle @h.
 * Returns 0; -EINVAL if @h is not a live handle of @pool; -EBUSY if the
 * object is mapped or being read (zs_obj_read_begin) by any thread. Nothing
 * changes on error. A map of @h that another thread starts while zs_free()
 * runs is the caller's race (as with free() and a use in another thread):
 * the map fails with EINVAL if it finds @h freed; a map that zs_free()
 * sees keeps the zspage's pages until it is unmapped (at the latest until
 * the next zs_compact()). The two can still miss each other in a window
 * of nanoseconds (a store not yet visible to the other CPU); that map then
 * points into memory that may go to other objects. The pool's own records
 * stay sound (zs_check()) in every case.
 */
int zs_free(struct zs_pool *pool, zs_handle h);

/*
 * zs_map_object - a pointer to the bytes of object @h (its class size),
 * valid in this thread until zs_unmap_object(). Pins the object's zspage.
 * Returns NULL with errno: EINVAL (bad handle or @mm), EBUSY (this thread
 * already holds ZS_MAX_MAPPINGS mappings), ENOMEM (per-thread buffer or
 * window).
 */
void *zs_map_object(struct zs_pool *pool, zs_handle h, enum zs_mapmode mm);

/*
 * zs_unmap_object - end this thread's latest mapping of @h, writing a copy
 * back when the object straddles pages in copy mode with RW or WO. If this
 * thread holds no mapping of @h it does nothing and sets errno to EINVAL.
 */
void zs_unmap_object(struct zs_pool *pool, zs_handle h);

/*
 * zs_obj_read_begin - read @len bytes of object @h (len <= its class size).
 * When the bytes lie in one page, returns a pointer to them in place, and
 * the zspage stays pinned until zs_obj_read_end(); when they straddle two
 * pages, copies them into @local_copy (at least @len bytes) and returns
 * @local_copy, pinning nothing past the copy. Either way the read counts
 * against ZS_MAX_MAPPINGS until zs_obj_read_end().
 * Returns NULL with errno EINVAL (bad handle, @len 0 or too long, NULL
 * @local_copy) or EBUSY (too many mappings in this thread).
 */
void *zs_obj_read_begin(struct zs_pool *pool, zs_handle h, size_t len,
			void *local_copy);

/* zs_obj_read_end - end zs_obj_read_begin(); @mem is what it returned.
 * Returns 0, or -EINVAL if this thread has no such read of @h. */
int zs_obj_read_end(struct zs_pool *pool, zs_handle h, const void *mem);

/*
 * zs_obj_write - copy @len bytes from @buf into object @h (len <= its class
 * size), straddling pages as needed, with no mapping.
 * Returns 0 or -EINVAL (bad handle, @len 0 or too long, NULL @buf).
 */
int zs_obj_write(struct zs_pool *pool, zs_handle h, const void *buf,
		 size_t len);

/*
 * zs_compact - in each class, move objects from the emptiest zspages into the
 * fullest, free the zspages that empty, and give trailing free pages of the
 * last partly filled zspage back; handles keep working. Pinned (mapped)
 * zspages are left alone. Returns the number of pages freed.
 */
size_t zs_compact(struct zs_pool *pool);

/* zs_get_total_pages - pages held by the pool's zspages. */
size_t zs_get_total_pages(struct zs_pool *pool);

/*
 * zs_huge_class_size - objects of this size or larger are stored one per
 * page (the "huge" class), so compressing a page to less than this saves
 * nothing. Depends on the pool's max_pages_per_zspage. NULL: 0.
 */
size_t zs_huge_class_size(struct zs_pool *pool);

/* zs_pool_stats - a snapshot of the pool's counters. */
void zs_pool_stats(struct zs_pool *pool, struct zs_stats *stats);

/*
 * zs_class_stats - per-class figures into @out (up to @n entries), one per
 * class after merging, smallest size first, each the sum over the pool's
 * shards (zs_dump_classes() likewise). Returns the number of classes
 * (call with @out NULL to size the array), or -EINVAL for a NULL pool.
 */
int zs_class_stats(struct zs_pool *pool, struct zs_class_stat *out, size_t n);

/*
 * zs_dump_classes - print the per-class table, with a total row, to @f
 * (columns as the kernel's debugfs "classes" file). Classes that hold no
 * zspage are left out. Returns 0 or -EINVAL (NULL argument) or -EIO.
 */
int zs_dump_classes(struct zs_pool *pool, FILE *f);

/*
 * zs_check - check every class, zspage, object map, fullness group and
 * handle of the pool: every live handle points at an allocated object of
 * its class, every allocated object has exactly one handle, counters and
 * fullness groups agree, every page is a valid page of the source. Returns
 * the number of violations: 0 for a sound pool (1 for a NULL pool). Works
 * in release builds; holds every class lock at once while it runs. Telling
 * a page used twice takes scratch memory (4 bytes per page); where it
 * cannot get it, the check counts a violation rather than pass unchecked.
 */
size_t zs_check(struct zs_pool *pool);

/* zs_fail_nth_page_alloc - fault injection for tests: the @n-th page the pool
 * asks its page source for (1 = the next) is refused, once. 0 cancels. */
void zs_fail_nth_page_alloc(struct zs_pool *pool, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_ZSMALLOC_H */
