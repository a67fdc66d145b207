/*
 * mapping.h - the page source under zsalloc's allocators, and the two-page map.
 *
 * A page source (struct mp_source) hands out pages of the system page size,
 * each named by a page frame number (pfn, uint32_t), like the kernel's page
 * allocator hands out struct pages. Page pfn lives at a fixed address of one
 * reserved range of virtual memory (the "direct map", like the kernel's
 * 64-bit direct map), so that mapping a page is arithmetic:
 *
 *     direct map:  base + (pfn << page_shift)
 *                  +--------+--------+--------+--------+-----
 *                  | pfn 0  | pfn 1  | pfn 2  | pfn 3  | ...
 *                  +--------+--------+--------+--------+-----
 *
 * Backing (mp_config.backing). MP_BACKING_PRIVATE, the default: private
 * anonymous memory. After fork() the child sees a copy-on-write snapshot of
 * every source, and nothing either process does reaches the other's pages.
 * MP_BACKING_SHARED: the pages are a memfd mapped shared, which the two-page
 * windows of MP_REMAP need (they map the same page twice); after fork() the
 * parent and the child would share those pages, so in the child every call
 * on a shared source created before the fork fails with EPERM (mp_forked()
 * tells), and mp_destroy() there frees only the child's records.
 *
 * Freeing a page gives its memory back to the OS at once (MADV_DONTNEED, or a
 * hole punched in the memfd), unless the source keeps it in its small reuse
 * cache (mp_config.cache_pages). Allocated pages always read as zero.
 *
 * Placement (mp_config.placed). By default the source chooses each page's
 * pfn (mp_alloc_page()). A placed source lets its owner choose instead
 * (mp_alloc_pages_at()): an allocator that wants runs of consecutive pfns,
 * which the direct map shows contiguously, lays them out itself in a pfn
 * space larger than the page limit (mp_config.span_pages), since only pages
 * in use cost memory; the rest of the span is address space.
 *
 * Objects of zsmalloc straddle page boundaries, so two pages that are not
 * adjacent in the direct map must sometimes be seen side by side. The kernel
 * did this with a page-table mapping (vmap) or by copying through a per-cpu
 * buffer; mp_map_pair() offers both, per thread:
 *
 *     MP_REMAP: the two memfd pages are mapped next to each other into a
 *               per-thread two-page window (mmap MAP_FIXED of the memfd
 *               offsets; shared sources only). Writes through the window
 *               are the pages' own bytes.
 *               A window that already shows the pair is reused; each thread
 *               keeps MP_WINDOWS windows. When the pfns are consecutive the
 *               direct map already shows them contiguously and is used.
 *     MP_COPY:  the bytes are copied into a per-thread buffer on map (RO, RW)
 *               and back into the pages on unmap (WO, RW).
 *
 * The direct map shows only pages allocated now (or cached): others read as
 * zero or fault (memory past the pages in use is not accessible).
 *
 * Threads: every function is thread-safe. Page allocation and free take the
 * source's lock; mp_kmap() takes none. The per-thread areas behind
 * mp_map_pair() need no lock; a thread may hold up to MP_MAX_MAPPINGS
 * mappings at once. A thread's areas are released when it exits.
 *
 * Errors: int functions return 0 or a negative errno; pointer functions return
 * NULL and set errno. A bad pfn (never allocated, freed, out of range) is
 * refused with EINVAL and never mapped. Nothing here prints.
 */
#ifndef ZSALLOC_MAPPING_H
#define ZSALLOC_MAPPING_H

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

/* A thread may hold this many mp_map_pair() mappings at once. */
#define MP_MAX_MAPPINGS 4
/* Two-page windows cached per thread for MP_REMAP, reused by page pair (LRU). */
#define MP_WINDOWS 8

struct mp_source;

/* Where a source's pages live (see above). */
enum mp_backing {
	MP_BACKING_PRIVATE = 0, /* private anonymous memory (the default) */
	MP_BACKING_SHARED = 1,  /* a memfd, mapped shared: needed by MP_REMAP */
};

/* Create-time parameters. Zero-initialise, then set what you need. */
struct mp_config {
	/* Most pages allocated at once (the page limit); allocation past it
	 * fails with -ENOMEM. Also bounds pfns: every pfn is < max_pages.
	 * 0: the machine's physical memory in pages. At most UINT32_MAX. */
	uint64_t max_pages;
	/* Freed pages kept mapped and resident for quick reuse instead of being
	 * returned to the OS at once. 0 (the default): none. */
	uint32_t cache_pages;
	/* Name of the memfd as /proc/PID/maps shows it. NULL: "zsalloc". */
	const char *name;
	enum mp_backing backing;
	/* 1: the owner chooses every pfn (mp_alloc_pages_at(); mp_alloc_page()
	 * fails with EINVAL); the reuse cache is not used. */
	int placed;
	/* 1: a page mp_alloc_page() takes from the reuse cache keeps the bytes
	 * it had when freed (for an owner that writes a page before it reads
	 * it: clearing it costs a pass over the page); pages that went back
	 * to the OS, and new ones, read as zero all the same. 0: every page
	 * mp_alloc_page() returns is zero-filled. */
	int dirty_reuse;
	/* Size of the pfn space: every pfn is < span_pages. 0: max_pages.
	 * At least max_pages, at most UINT32_MAX; it costs address space
	 * (span_pages pages of it), not memory. */
	uint64_t span_pages;
};

struct mp_stats {
	uint64_t pages_used;     /* allocated now */
	uint64_t pages_peak;     /* most allocated at once */
	uint64_t pages_cached;   /* freed, still resident in the reuse cache */
	uint64_t max_pages;      /* the page limit */
	uint64_t allocs;         /* successful mp_alloc_page() calls */
	uint64_t frees;          /* successful mp_free_page() calls */
	uint64_t alloc_failures; /* -ENOMEM returns (limit, injected, OS) */
};

/* The system page size, and its log2. Never fail. */
size_t mp_page_size(void);
unsigned mp_page_shift(void);

/*
 * mp_create - create a page source.
 * @config: parameters, or NULL for the defaults.
 * Returns the source, or NULL with errno EINVAL (max_pages or span_pages >
 * UINT32_MAX, span_pages below max_pages, an unknown backing), ENOMEM, or
 * the errno of a failed memfd_create/mmap.
 */
struct mp_source *mp_create(const struct mp_config *config);

/*
 * mp_destroy - free every page and the source itself. NULL is ignored.
 * Pointers from mp_kmap() and mappings still held become invalid; the caller
 * must have stopped using the source in every thread. A thread's mapping
 * slots that such mappings held are taken back when it next runs out of
 * slots (mp_map_pair() of any source).
 */
void mp_destroy(struct mp_source *src);

/*
 * mp_alloc_page - allocate one zero-filled page (but see
 * mp_config.dirty_reuse), at a pfn the source picks.
 * Stores its pfn in *pfn (untouched on error).
 * Returns 0, -EINVAL (NULL argument, a placed source), -EPERM (a shared
 * source inherited across fork), or -ENOMEM: the page limit is reached,
 * a fault was injected (mp_fail_nth_alloc), or the OS refused memory. On
 * error nothing changes but the failure count. Pages another thread is
 * giving back to the OS at that moment (mp_free_pages(), mp_trim()) are
 * waited for, not counted as in use.
 */
int mp_alloc_page(struct mp_source *src, uint32_t *pfn);

/*
 * mp_alloc_page_near - as mp_alloc_page(), but prefer the page right after
 * @near (pfn @near + 1) when it is free, so that pages allocated one after
 * another for one owner tend to be consecutive: the direct map then shows
 * them contiguously, and freeing them together costs one system call.
 * A hint only: any free page may be returned. @near UINT32_MAX: no hint.
 */
int mp_alloc_page_near(struct mp_source *src, uint32_t near, uint32_t *pfn);

/*
 * mp_alloc_pages_at - allocate the @n pages pfn @pfn .. @pfn + @n - 1 of a
 * placed source, each zero-filled. All or nothing: returns 0, -EINVAL (not
 * a placed source, @n 0, a pfn out of the span or already allocated; NULL
 * argument), -EPERM (inherited across fork), or -ENOMEM (the page limit,
 * an injected fault: each page counts as one allocation for
 * mp_fail_nth_alloc(); or the OS); nothing changes on error but the failure
 * count.
 */
int mp_alloc_pages_at(struct mp_source *src, uint32_t pfn, uint32_t n);

/*
 * mp_free_page - free a page; its memory goes back to the OS (or to the
 * reuse cache). Returns 0, or -EINVAL if @pfn is not an allocated page of
 * @src (never allocated, already freed, out of range); nothing changes then.
 */
int mp_free_page(struct mp_source *src, uint32_t pfn);

/*
 * mp_free_pages - free @n pages at once, in any order. Consecutive pfns are
 * given back to the OS in one call per run, which on some machines costs
 * less than a tenth of freeing them one by one. Returns 0, -EINVAL if any
 * pfn is not an allocated page of @src or appears twice (nothing is freed
 * then), or -EPERM (a shared source inherited across fork).
 */
int mp_free_pages(struct mp_source *src, const uint32_t *pfns, size_t n);

/*
 * mp_kmap - the address of page @pfn in the direct map. Valid until the page
 * is freed. No lock, no system call.
 * Returns NULL with errno EINVAL if @pfn is not an allocated page of @src.
 */
void *mp_kmap(struct mp_source *src, uint32_t pfn);

/*
 * mp_direct_map - the start of @src's direct map: page pfn is at
 * base + (pfn << mp_page_shift()) while it is allocated. For allocators that
 * hold pfns they allocated themselves and must not pay mp_kmap()'s check on
 * every access. Never fails for a live source; constant for its lifetime.
 */
uint8_t *mp_direct_map(struct mp_source *src);

/* mp_page_valid - 1 if @pfn is an allocated page of @src, else 0. No lock. */
int mp_page_valid(const struct mp_source *src, uint32_t pfn);

/*
 * mp_forked - 1 if @src is a shared source created before a fork() that
 * this process is the child of (it must not be used: see Backing above),
 * else 0. One load and a compare; no lock.
 */
int mp_forked(const struct mp_source *src);

/* mp_physical_pages - the machine's memory in pages (the default limit). */
uint64_t mp_physical_pages(void);

/* mp_cpu_count - the online CPUs, at least 1 (for per-CPU structures). */
unsigned mp_cpu_count(void);

/* mp_clock_ms - a coarse monotonic clock in milliseconds (a few ms of
 * resolution, cheap enough to read every few hundred operations). */
uint64_t mp_clock_ms(void);

/* mp_yield - let another thread run (for bounded spin-waits). */
void mp_yield(void);

/*
 * mp_zalloc - @bytes of zero-filled memory straight from the OS, for the
 * tables a pool sizes by its page limit and touches only as far as it
 * grows: a page of it costs resident memory once written, whatever state
 * malloc's heap is in (calloc() of a large size may reuse heap memory and
 * clear all of it). Returns NULL with errno ENOMEM (also for @bytes 0).
 * mp_zfree - give it back; @bytes as given to mp_zalloc(). NULL is ignored.
 * Thread-safe.
 */
void *mp_zalloc(size_t bytes);
void mp_zfree(void *p, size_t bytes);

/* mp_get_stats - a consistent snapshot of the counters. */
void mp_get_stats(struct mp_source *src, struct mp_stats *stats);

/*
 * mp_trim - return every page of the reuse cache to the OS.
 * Returns the number of pages released (0 when the cache is empty or off).
 */
size_t mp_trim(struct mp_source *src);

/* How mp_map_pair() shows two pages side by side. */
enum mp_method {
	MP_COPY = 0,  /* per-thread buffer, copied in and/or out */
	MP_REMAP = 1, /* per-thread window onto the pages themselves */
};

/* Access intent; the same order as zsmalloc's enum zs_mapmode. */
enum mp_mode {
	MP_RW = 0, /* read and write: copied in on map, out on unmap */
	MP_RO = 1, /* read only: copied in on map; the caller must not write
		      (where the direct map or a window is returned, writes
		      would reach the pages) */
	MP_WO = 2, /* write only: not copied in (contents undefined), out on unmap */
};

/*
 * mp_map_pair - show @len bytes that start at byte @offset of page @pfn_a
 * and, past the end of that page, continue at the start of page @pfn_b, as
 * one contiguous range. @key names the mapping for mp_unmap_pair(); the
 * caller picks it (zsmalloc uses the object's handle).
 *
 * Requires offset < page size, 0 < len <= page size. When the range ends in
 * page A (offset + len <= page size) @pfn_b is not used and the direct map is
 * returned. With MP_REMAP the range is the pages' own bytes; with MP_COPY it
 * is a per-thread buffer, following @mode.
 *
 * Returns a pointer to the first byte, valid in this thread until
 * mp_unmap_pair(), or NULL with errno: EINVAL (a bad pfn, offset, len, mode
 * or method; MP_REMAP on a private source, which has no file to map twice),
 * EPERM (a shared source inherited across fork), EBUSY (this thread already holds MP_MAX_MAPPINGS mappings),
 * ENOMEM (no memory for the thread's buffers or window).
 */
void *mp_map_pair(struct mp_source *src, uint32_t pfn_a, uint32_t pfn_b, uint32_t offset,
		  uint32_t len, enum mp_mode mode, enum mp_method method, uintptr_t key);

/*
 * mp_unmap_pair - end the most recent mapping of @key by this thread on @src,
 * copying the buffer back into the pages for MP_COPY with MP_WO or MP_RW.
 * Returns 0, or -EINVAL if this thread holds no such mapping, or if one of
 * the pages was freed while mapped, by any method and mode (the mapping
 * ends; nothing is written, even if the page was allocated again, by this
 * thread or another, before the unmap).
 */
int mp_unmap_pair(struct mp_source *src, uintptr_t key);

/* ---- For tests ------------------------------------------------------ */

/*
 * mp_fail_nth_alloc - fault injection for tests: the @n-th page allocation
 * from now on (1 = the next one) fails with -ENOMEM, once. 0 cancels.
 */
void mp_fail_nth_alloc(struct mp_source *src, uint64_t n);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_MAPPING_H */
