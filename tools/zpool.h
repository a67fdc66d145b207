/*
 * zpool.h - one handle-based interface for every allocator the tools compare.
 *
 * Like the kernel's zpool (mm/zpool.c), which put zbud, z3fold and zsmalloc
 * behind one API for zswap, this puts zsalloc's allocators, the linked malloc
 * and page-based models of the kernel's other allocators behind one table of
 * functions, so that tools/density and tools/bench drive them all the same
 * way:
 *
 *     const struct zpool_driver *d = zpool_find_driver("zsmalloc");
 *     void *pool = d->create();
 *     d->store(pool, bytes, len, &id);     the allocator holds a copy
 *     d->load(pool, id, out, len);         copy it back out
 *     d->release(pool, id);
 *     d->destroy(pool);
 *
 * An id is a 64-bit name for one stored object, chosen by the driver (a
 * handle, a <pfn, offset> pair, a pointer); 0 is never a valid id. The caller
 * keeps each object's length, as zram keeps it in its slot table, and passes
 * it back to load().
 *
 * Byte accounting (struct zpool_usage) is the allocator's own account: the
 * pages it took from its page source times the page size, plus the memory
 * its driver or library allocated outside those pages (metadata: handle
 * tables, lists, per-page records). A malloc counts what it took from the OS
 * (where it says). The real allocators (ZPOOL_REAL: zsmalloc, xvmalloc, the
 * malloc) are also measured from outside, as a process's resident memory
 * (resident.h): density does that, in a process of its own per allocator.
 *
 * Threads: a pool is used by one thread at a time. Errors: int functions
 * return 0 or a negative errno; create() returns NULL and sets errno. Nothing
 * here prints.
 */
#ifndef ZSALLOC_TOOLS_ZPOOL_H
#define ZSALLOC_TOOLS_ZPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* zpool_driver.flags */
/* A real allocator, not a model: measure it as the resident memory grown in a
 * process of its own (density forks), beside usage(). */
#define ZPOOL_REAL 0x1u

/* The largest object a driver is asked to store: a 64 KiB block. */
#define ZPOOL_MAX_OBJECT 65536u

/* zpool_usage.bytes_used of an allocator that keeps no account of its own. */
#define ZPOOL_NO_ACCOUNT UINT64_MAX

struct zpool_usage {
	uint64_t pages;            /* pages held from the page source, cached
				      ones included (0: not page-based) */
	uint64_t bytes_used;       /* pages * page size + metadata_bytes; a
				      malloc's count of what it holds, or
				      ZPOOL_NO_ACCOUNT */
	uint64_t metadata_bytes;   /* outside the pages, included in bytes_used;
				      0 where not separable (malloc) */
	uint64_t oversize_objects; /* live objects the allocator's own layout
				      cannot hold, stored one per page by the
				      driver (e.g. above zbud's 3968 bytes) */
};

/* One size class, for drivers that have them (zsmalloc). */
struct zpool_class_stat {
	uint32_t size;             /* object size of the class */
	uint32_t pages_per_zspage; /* pages per unit of the class */
	uint64_t obj_allocated;    /* object places in the class's pages */
	uint64_t obj_used;         /* live objects; <= obj_allocated */
	uint64_t pages_used;       /* pages the class holds */
};

struct zpool_driver {
	const char *name;    /* as --allocators takes it: [a-z0-9-]+ */
	const char *summary; /* one line: what the driver models or wraps */
	unsigned flags;      /* ZPOOL_* */

	/* A new empty pool, or NULL with errno set. */
	void *(*create)(void);
	/* Free the pool. NULL is ignored. Release every object first: the
	 * page-based drivers free what is left with their pages, but the
	 * malloc driver does not track its objects (a list of them would add
	 * to what it measures) and leaks them. */
	void (*destroy)(void *pool);
	/* Store a copy of @len bytes (1 .. ZPOOL_MAX_OBJECT) of @src; the
	 * object's id goes to *@id. Returns 0, -EINVAL (len 0 or above
	 * ZPOOL_MAX_OBJECT), -ENOSPC (larger than this allocator holds: an
	 * allocator of single-page objects, above a page), -ENOMEM. */
	int (*store)(void *pool, const void *src, size_t len, uint64_t *id);
	/* Copy the @len bytes stored under @id (len as stored) to @dst.
	 * Returns 0 or -EINVAL (not a live id, where the driver can tell). */
	int (*load)(void *pool, uint64_t id, void *dst, size_t len);
	/* Free the object @id. Returns 0 or -EINVAL (where it can tell). */
	int (*release)(void *pool, uint64_t id);
	/* Move objects to free pages; returns pages freed. NULL: the
	 * allocator cannot move objects. */
	size_t (*compact)(void *pool);
	/* Fill *@u with what the pool holds now. */
	void (*usage)(void *pool, struct zpool_usage *u);
	/* Per-class figures into @out (up to @n); returns the number of
	 * classes (@out NULL: just count) or a negative errno. NULL: none. */
	int (*class_stats)(void *pool, struct zpool_class_stat *out, size_t n);
	/* Consistency check of the whole pool; returns violations found.
	 * NULL: the allocator has no checker. */
	size_t (*check)(void *pool);
	/* The name to show in tables, when it says more than @name (e.g.
	 * "glibc malloc 2.36"). NULL: @name. */
	const char *(*label)(void);
};

/* Every driver, in the order tables show them; *@n gets the count. */
const struct zpool_driver *const *zpool_drivers(size_t *n);

/* The driver called @name, or NULL. */
const struct zpool_driver *zpool_find_driver(const char *name);

/* The name to show for @d: its label() or its name. */
const char *zpool_label(const struct zpool_driver *d);

/*
 * zpool_holds - whether @d stores objects of @len bytes: one is stored and
 * released in a pool made for it, in a forked child (so that this
 * process's heap keeps nothing of it). Returns 0, the store's error
 * (-ENOSPC: larger than the allocator holds; -EINVAL: above
 * ZPOOL_MAX_OBJECT), -ENOMEM, or the errno of fork().
 */
int zpool_holds(const struct zpool_driver *d, size_t len);

/* The drivers, one by one (also reached through zpool_drivers()). */
extern const struct zpool_driver zpool_zsmalloc_driver;           /* copy */
extern const struct zpool_driver zpool_zsmalloc_scattered_driver; /* scattered */
extern const struct zpool_driver zpool_zsmalloc_remap_driver;     /* remap */
extern const struct zpool_driver zpool_xvmalloc_driver;
extern const struct zpool_driver zpool_malloc_driver;
extern const struct zpool_driver zpool_slub_driver;
extern const struct zpool_driver zpool_slob_driver;
extern const struct zpool_driver zpool_zbud_driver;

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_TOOLS_ZPOOL_H */
