/*
 * zsmalloc.h - a handle-based allocator for compressed pages.
 *
 * zsmalloc stores millions of objects whose sizes spread from a few bytes to
 * ZS_MAX_OBJECT_SIZE with almost no waste. Objects are grouped by size into
 * classes 8 bytes apart (for 4 KiB pages); the objects of a class are
 * packed back to back into zspages, runs of pages that hold a fixed number
 * of objects, so that an object may start in one page and end in the next:
 *
 *     zspage of class 1392, 3 pages, 8 objects (waste: 8 bytes):
 *     | page 0             | page 1             | page 2             |
 *     |obj0 |obj1 |obj2 |ob|j3 |obj4 |obj5 |obj|6 |obj7 |            |
 *
 * The caller gets an opaque handle, never 0, that stays valid while objects
 * move (compaction), and reaches the bytes through zs_obj_read_begin() /
 * zs_obj_write(), zs_obj_read_sg_begin(), or zs_map_object() /
 * zs_unmap_object().
 *
 * Layouts (zs_config.layout). ZS_LAYOUT_CONTIGUOUS, the default: a zspage's
 * pages are consecutive in the pool's address space, so every object,
 * straddling or not, is one contiguous range and every access returns a
 * pointer to the object's own bytes (no copy). ZS_LAYOUT_SCATTERED, the
 * kernel's (and the seed's) layout: a zspage's pages are any pages, and an
 * object that straddles two of them is shown contiguously by the mapping
 * layer: copied through a per-thread buffer (ZS_MAP_COPY) or mapped side by
 * side in a per-thread window (ZS_MAP_REMAP). Both layouts pack objects the
 * same way and use the same memory.
 *
 * Handles are validated: a handle this pool never returned, one already
 * freed, one whose slot was freed and reused, or one from another live pool
 * is refused with EINVAL and changes nothing. Two limits, both of the
 * handle's 64 bits: a slot's generation has 16 bits, so a stale handle whose
 * slot has since been reused exactly 65536 times (or a multiple) looks live
 * again; and a pool's tag has 10 bits, unique among live pools, so at most
 * 1023 pools live at once and a destroyed pool's tag comes back (as late as
 * possible). Per object the pool keeps an 8-byte handle slot and nothing
 * inside the object (the kernel: an 8-byte header in the object and an
 * 8-byte handle).
 *
 * Threads: every function is thread-safe. Each class has its own lock, and
 * a pool has a copy of every class per shard (zs_config.shards; by default
 * one per CPU, up to ZS_MAX_SHARDS): threads allocate in different shards,
 * so that two threads on one pool share no lock or cache line on their
 * alloc and free paths. Reading, writing and mapping take no lock at all:
 * they pin the object in its handle slot (one atomic operation), which
 * compaction and zs_free() respect. A thread may hold up to ZS_MAX_MAPPINGS
 * mappings at once (of any pools).
 *
 * Mappings, reads and frees (one meaning for each sequence, whatever the
 * layout, the map method and where the object lies):
 *   - zs_free() of an object that any thread has mapped or is reading fails
 *     with -EBUSY; a map or read that starts while zs_free() runs either
 *     succeeds (and the free fails with -EBUSY) or fails with EINVAL (and
 *     the free succeeds): never both, whatever the timing.
 *   - Every mapping of one object in one thread shows the same bytes: nested
 *     maps share one view, zs_obj_write() and zs_obj_read_begin() in the
 *     thread that holds a mapping write and read that view, and what any of
 *     them wrote is in the object once the last mapping ends (copy mode
 *     writes the copy back then if any of the nested maps was RW or WO).
 *   - A thread that exits holding mappings ends them as zs_unmap_object()
 *     would (writes kept), and its reads as zs_obj_read_end() would.
 *   - Two threads that write one object at once race, as with memory.
 *
 * fork(): pools live in private memory by default, so the child of a fork
 * gets a copy-on-write snapshot of every pool and may use it (or destroy it)
 * without touching the parent's objects, and the parent likewise. Mappings
 * held by other threads of the parent, and their calls under way, end in
 * the child (the threads are gone; the child's handler reads every slot of
 * the pool to set the pins that remain: those of the forking thread's own
 * mappings). A pool of ZS_LAYOUT_SCATTERED with ZS_MAP_REMAP needs pages that
 * can be mapped twice, a memfd shared with the child: in the child every
 * call on such a pool made before the fork fails (EPERM, or -EPERM), and
 * zs_destroy_pool() frees the child's records only.
 *
 * Memory follows live bytes without the caller's help (see zs_config):
 * emptied zspages wait in a small per-shard cache for reuse and go back to
 * the OS after ZS_DEFAULT_DECAY_MS unused; the allocating and freeing
 * threads compact a class in small bounded steps once its free space passes
 * a threshold. zs_compact() and zs_trim() do it all at once.
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

typedef uintptr_t zs_handle; /* opaque; 0 is never a valid handle */

struct zs_pool;

enum zs_mapmode {
	ZS_MM_RW, /* read-write */
	ZS_MM_RO, /* read-only: writes through the pointer may be lost */
	ZS_MM_WO, /* write-only: contents undefined until written */
};

/* Where a zspage's pages lie (see above). */
enum zs_layout {
	ZS_LAYOUT_DEFAULT = 0,    /* ZS_LAYOUT_CONTIGUOUS */
	ZS_LAYOUT_CONTIGUOUS = 1, /* consecutive pages: objects contiguous */
	ZS_LAYOUT_SCATTERED = 2,  /* any pages: straddlers copied or remapped */
};

/* How ZS_LAYOUT_SCATTERED shows an object that straddles two pages. */
enum zs_map_method {
	ZS_MAP_DEFAULT = 0, /* ZS_MAP_COPY */
	ZS_MAP_COPY = 1,    /* per-thread buffer (the kernel's path) */
	ZS_MAP_REMAP = 2,   /* per-thread two-page window (the old vmap path) */
};

/* Largest object: 64 KiB, or the page size if that is larger. */
#define ZS_MAX_OBJECT_SIZE 65536
/* A thread may hold this many mappings (map or read_begin) at once. */
#define ZS_MAX_MAPPINGS 4
/* The longest zspage chain of objects up to a page, in pages. */
#define ZS_MAX_PAGES_PER_ZSPAGE 16
/* Most shards a pool may have (see zs_config.shards). */
#define ZS_MAX_SHARDS 4
/* Fullness groups of a class: empty, 1-9 %, 10-19 %, ..., 90-99 %, full. */
#define ZS_NR_FULLNESS 12
/* Most segments zs_obj_read_sg_begin() returns (a scattered object of
 * ZS_MAX_OBJECT_SIZE bytes in 4 KiB pages: one per page it touches). */
#define ZS_MAX_SEGMENTS 17
/* Defaults of zs_config (see there). */
#define ZS_DEFAULT_CACHE_PAGES 256
#define ZS_DEFAULT_DECAY_MS 1000

/* zs_malloc() flags. */
#define ZS_NOGROW 0x1 /* fail with ENOMEM rather than take a new page */

/* Create-time parameters. Zero-initialise, then set what you need. */
struct zs_config {
	const char *name; /* for zs_dump_classes(); NULL: "zs" */
	/* Longest zspage chain of objects up to a page,
	 * 1..ZS_MAX_PAGES_PER_ZSPAGE; 0: 16. Each class takes the chain
	 * length up to this that wastes least. Larger objects take longer
	 * chains (up to 128 pages), as their sizes need. */
	unsigned max_pages_per_zspage;
	enum zs_layout layout;
	enum zs_map_method map_method; /* ZS_LAYOUT_SCATTERED only */
	/* Most pages the pool's objects may hold; past it zs_malloc() fails
	 * with ENOMEM. Cached pages count, but go back to the OS first when
	 * an object needs them. 0: the machine's physical memory in pages. */
	uint64_t max_pages;
	/* Pages of emptied zspages each shard keeps resident for reuse, so
	 * that a class that empties and refills a zspage does not pay the OS
	 * twice; at most 32 pages plus 1/128 of the pool's pages.
	 * 0: ZS_DEFAULT_CACHE_PAGES; UINT32_MAX: none (every emptied zspage
	 * goes back to the OS at once). */
	uint32_t cache_pages;
	/* Cached pages unused this long (milliseconds) go back to the OS, at
	 * the next allocation or free in any shard. 0: ZS_DEFAULT_DECAY_MS. */
	uint32_t decay_ms;
	/* 1: no automatic compaction (only zs_compact() moves objects). 0:
	 * a class whose free object places add up to more than 1/32 of its
	 * places and a page is compacted by its allocating and freeing
	 * threads, a few objects per call (in a pool under 4 MiB, not a
	 * class's only zspage); a plan that frees no page makes the next
	 * wait longer. */
	int no_auto_compact;
	/* Copies of every size class, each with its own lock, zspages and
	 * handles, 1..ZS_MAX_SHARDS; 0: one per online CPU, at most
	 * ZS_MAX_SHARDS. A thread allocates in one shard (given it when it
	 * first allocates: the shard with the fewest live threads), so that
	 * threads on different CPUs do not pass cache lines back and forth;
	 * frees, maps and compaction go to the object's own shard from any
	 * thread, and zs_compact() merges the shards' partly filled zspages.
	 * 1: every thread shares one set of classes (the kernel's layout). */
	uint32_t shards;
};

struct zs_stats {
	uint64_t pages_compacted;  /* pages freed by compaction, ever */
	uint64_t pages_used;       /* == zs_get_total_pages(): pages of the
				      pool's objects, cached ones included */
	uint64_t objects;          /* live objects */
	uint64_t metadata_bytes;   /* everything else the pool holds resident:
				      handle slots, zspage records, class
				      records, shards, per-thread buffers */
	uint64_t handles_reserved; /* handle slots in the table (live + free) */
	uint64_t objects_moved;    /* by compaction, ever */
	uint64_t pages_cached;     /* pages of emptied zspages kept for reuse
				      (part of pages_used) */
	uint64_t auto_compactions; /* compaction steps taken by zs_malloc()
				      and zs_free(), ever */
};

/* One class, as the kernel's /sys/kernel/debug/zsmalloc/<pool>/classes. */
struct zs_class_stat {
	uint32_t index;       /* class number, 0 .. count - 1 */
	uint32_t size;        /* object size of the class */
	uint32_t merged_from; /* smallest size merged into it */
	uint32_t pages_per_zspage;
	uint32_t objs_per_zspage;
	uint64_t zspages[ZS_NR_FULLNESS]; /* zspages per fullness group */
	uint64_t obj_allocated;           /* object places in the pages the class
					     holds (pages are added as objects
					     reach them, so this is <= zspages *
					     objs_per_zspage) */
	uint64_t obj_used;                /* live objects */
	uint64_t pages_used;              /* pages held by the class's zspages */
	uint64_t freeable;                /* pages zs_compact() would free now if no
					     object of the class were mapped (reading
					     it stops the class's automatic
					     compaction where it is, as zs_compact()
					     would) */
};

/* One contiguous run of an object's bytes (zs_obj_read_sg_begin()). */
struct zs_segment {
	const void *addr;
	size_t len;
};

/*
 * zs_create_pool - a pool with the defaults; zs_create_pool_config - with
 * @config (NULL: defaults). @name may be NULL.
 * Returns the pool, or NULL with errno EINVAL (max_pages_per_zspage > 16, an
 * unknown layout or map method, a map method with the contiguous layout,
 * max_pages beyond the page source's limit, shards > ZS_MAX_SHARDS),
 * EMFILE (1023 pools are alive), ENOMEM, or the errno of the page source.
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
 * zs_malloc - allocate an object of @size bytes (its contents are
 * undefined until written).
 * The object goes into the fullest zspage of its class with room, in the
 * calling thread's shard; when that needs a page the pool cannot get
 * (ZS_NOGROW, the page limit, an injected fault, the OS), into a hole in
 * pages the class already holds.
 * Returns its handle, or 0 with errno: EINVAL (@size 0, NULL pool, unknown
 * @flags), ENOSPC (@size above ZS_MAX_OBJECT_SIZE), ENOMEM (no page and no
 * such hole, or the pool's 2^28 - 1 handles in use), EPERM (see fork()).
 * No object or handle changes after any error, and no page but one: at the
 * page limit, when the cached pages (zs_config.cache_pages) would make
 * room, they go back to the OS first, and stay gone if the OS or an
 * injected fault then refuses the new page.
 */
zs_handle zs_malloc(struct zs_pool *pool, size_t size, int flags);

/*
 * zs_free - free the object of handle @h.
 * Returns 0; -EINVAL if @h is not a live handle of @pool; -EBUSY if the
 * object is mapped or being read by any thread (see "Mappings" above);
 * -EPERM (see fork()). Nothing changes on error.
 */
int zs_free(struct zs_pool *pool, zs_handle h);

/*
 * zs_map_object - a pointer to the bytes of object @h (its class size,
 * which is at least the size it was allocated with), valid in this thread
 * until zs_unmap_object(). The object cannot be freed or moved meanwhile.
 * Returns NULL with errno: EINVAL (bad handle or @mm), EBUSY (this thread
 * already holds ZS_MAX_MAPPINGS mappings, or 250 mappings of the object are
 * held at once), ENOMEM (a per-thread buffer or window), EPERM (fork()).
 */
void *zs_map_object(struct zs_pool *pool, zs_handle h, enum zs_mapmode mm);

/*
 * zs_unmap_object - end this thread's latest mapping of @h (copy mode: the
 * copy is written back when the last mapping of @h in this thread ends, if
 * one of them was RW or WO). If this thread holds no mapping of @h it does
 * nothing and sets errno to EINVAL.
 */
void zs_unmap_object(struct zs_pool *pool, zs_handle h);

/*
 * zs_obj_read_begin - read @len bytes of object @h (len <= its class size).
 * When the bytes are contiguous (always in the contiguous layout), returns
 * a pointer to them in place; else copies them into @local_copy (at least
 * @len bytes) and returns @local_copy. Either way the object is pinned (it
 * cannot be freed or moved) and the read counts against ZS_MAX_MAPPINGS
 * until zs_obj_read_end().
 * Returns NULL with errno EINVAL (bad handle, @len 0 or too long, NULL
 * @local_copy), EBUSY (as zs_map_object()) or EPERM (fork()).
 */
void *zs_obj_read_begin(struct zs_pool *pool, zs_handle h, size_t len, void *local_copy);

/* zs_obj_read_end - end zs_obj_read_begin(); @mem is what it returned.
 * Returns 0, or -EINVAL if this thread has no such read of @h. */
int zs_obj_read_end(struct zs_pool *pool, zs_handle h, const void *mem);

/*
 * zs_obj_read_sg_begin - the first @len bytes of object @h (len <= its class
 * size) as up to @n segments in place, no copy: one in the contiguous
 * layout, one per run of consecutive pages in the scattered one (at most
 * ZS_MAX_SEGMENTS). The object is pinned until zs_obj_read_sg_end(), and the
 * read counts against ZS_MAX_MAPPINGS. The segments are read-only.
 * Returns the number of segments, or -EINVAL (bad handle, @len 0 or too
 * long, NULL @seg), -ENOBUFS (@n too small: nothing pinned), -EBUSY (as
 * zs_map_object()), -EPERM (fork()).
 */
int zs_obj_read_sg_begin(struct zs_pool *pool, zs_handle h, size_t len, struct zs_segment *seg,
			 size_t n);

/* zs_obj_read_sg_end - end zs_obj_read_sg_begin() of @h in this thread.
 * Returns 0, or -EINVAL if this thread has no such read. */
int zs_obj_read_sg_end(struct zs_pool *pool, zs_handle h);

/*
 * zs_obj_write - copy @len bytes from @buf into object @h (len <= its class
 * size), with no mapping. Takes no lock.
 * Returns 0, -EINVAL (bad handle, @len 0 or too long, NULL @buf), -EBUSY
 * (250 mappings of the object held at once) or -EPERM (fork()).
 */
int zs_obj_write(struct zs_pool *pool, zs_handle h, const void *buf, size_t len);

/*
 * zs_compact - in each size class, across shards, move objects from the
 * emptiest zspages into the fullest, free the zspages that empty and the
 * pages no object touches, and give every cached page back (zs_trim());
 * handles keep working. Mapped objects stay where they are. Works in short
 * steps, so that other threads never wait long for a class lock. Returns
 * the number of pages freed.
 */
size_t zs_compact(struct zs_pool *pool);

/*
 * zs_trim - give every page the pool keeps only for reuse (the shards'
 * caches of emptied zspages) back to the OS now. Moves no object. Returns
 * the number of pages given back.
 */
size_t zs_trim(struct zs_pool *pool);

/* zs_get_total_pages - pages held by the pool's objects (cached included). */
size_t zs_get_total_pages(struct zs_pool *pool);

/*
 * zs_huge_class_size - objects of this size or larger are stored one per
 * page (or worse), so compressing a page to less than this saves nothing.
 * Depends on the pool's max_pages_per_zspage. NULL: 0.
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

/* ---- For tests and debugging ---------------------------------------- */

/*
 * zs_check - check every class, zspage, object map, fullness group, cache
 * and handle of the pool: every live handle points at an allocated object
 * of its class, every allocated object has exactly one handle, counters and
 * fullness groups agree, every page an object touches is present. Returns
 * the number of violations: 0 for a sound pool (1 for a NULL pool). Works
 * in release builds; holds every class lock at once while it runs. Where it
 * cannot get scratch memory it counts a violation rather than pass.
 */
size_t zs_check(struct zs_pool *pool);

/* zs_fail_nth_page_alloc - fault injection for tests: the @n-th page the pool
 * asks its page source for (1 = the next) is refused, once. 0 cancels. */
void zs_fail_nth_page_alloc(struct zs_pool *pool, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_ZSMALLOC_H */
