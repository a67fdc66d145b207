/*
 * uswap.h - compressed swap for a process's own memory: userfaultfd, LZ4 and
 * a zsmalloc pool, in user space.
 *
 * A uswap region is anonymous memory the process uses as it likes. On
 * request (uswap_reclaim), resident pages of the region are compressed with
 * LZ4 and stored in a zsmalloc pool, then dropped (MADV_DONTNEED), so that
 * resident memory falls to what the pool holds. When a thread touches a
 * dropped page, the kernel stops it (a userfaultfd missing-page fault) and
 * the region's handler thread reads the object back, decompresses it into
 * the page (UFFDIO_COPY, which also wakes the thread), and a second thread
 * frees the object. The
 * thread never knows: it reads what it wrote. As zram does, a page whose
 * 8-byte words are all equal ("same-filled", zeros most often) is kept as
 * that word and nothing is stored, and a page that does not compress below
 * zs_huge_class_size() is stored as it is ("huge").
 *
 *     region (anonymous, registered)           pool (zsmalloc)
 *     | res | res | --- | res | --- | ...      | obj obj obj | obj ... |
 *                  `-- dropped: the page table entry of each page tells
 *                      where it is (resident, a same-filled word, a handle)
 *
 * Which pages uswap_reclaim() takes: a clock over the region in address
 * order, with a second chance for the pages the handler faulted in since the
 * hand last passed them (the only accesses uswap sees); or exactly the
 * caller's range (uswap_reclaim_range()).
 *
 * Threads: every function is thread-safe except uswap_destroy(), which no
 * other call may overlap. Any number of threads may touch the region while
 * pages are reclaimed and faulted in: a write made while its page is being
 * reclaimed is never lost (the page is write-protected while it is
 * compressed; a write to it cancels the reclaim of that page). Reclaim
 * calls run one at a time per region (a lock). The pool may be compacted
 * (zs_compact) from any thread at any time.
 *
 * Limits: the region cannot grow, must not be unmapped, remapped or
 * madvise()d by the caller, and is not inherited by fork() (MADV_DONTFORK).
 * Where only user-mode faults may be handled (UFFD_USER_MODE_ONLY, see
 * uswap_create()), a system call given a dropped page of the region (read()
 * into it, write() from it) fails with EFAULT instead of faulting it in.
 *
 * Errors: int and long functions return a non-negative value or a negative
 * errno; pointer functions return NULL and set errno. Nothing here prints.
 */
#ifndef ZSALLOC_EXAMPLES_USWAP_H
#define ZSALLOC_EXAMPLES_USWAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uswap;
struct zs_pool;

/* Pages write-protected and dropped per system call, at most (the default,
 * and the bound of uswap_config.batch_pages). */
#define USWAP_BATCH_DEFAULT 64
#define USWAP_BATCH_MAX 512

/* Create-time parameters. Zero-initialise, then set what you need. */
struct uswap_config {
	size_t size; /* bytes of the region, > 0 (whole pages) */
	/* LZ4_compress_fast()'s acceleration, 1..65537; 0: 1 (zram's). */
	int lz4_acceleration;
	/* Most pages the pool may hold (zs_config.max_pages); past it a page
	 * cannot be stored and stays resident. 0: no limit of its own. */
	uint64_t max_pool_pages;
	/* zs_config.max_pages_per_zspage; 0: zsmalloc's default. */
	unsigned max_pages_per_zspage;
	/* Pages of emptied zspages the pool keeps resident for the next
	 * reclaim (zs_config.cache_pages); 0: zsmalloc's default,
	 * UINT32_MAX: none. */
	uint32_t pool_cache_pages;
	/* Pages reclaimed per batch (write-protected and dropped with one
	 * system call each), 1..USWAP_BATCH_MAX; 0: USWAP_BATCH_DEFAULT. */
	unsigned batch_pages;
	/* 1: also handle faults the kernel takes on the region inside system
	 * calls, which needs the full userfaultfd (CAP_SYS_PTRACE or
	 * vm.unprivileged_userfaultfd = 1). 0: take the full userfaultfd
	 * where allowed, else UFFD_USER_MODE_ONLY (Linux 5.11+). */
	int kernel_faults;
};

/* Figures in zram's terms (mm_stat), plus the pager's own. */
struct uswap_stats {
	uint64_t pages;           /* size of the region in pages */
	uint64_t page_size;       /* bytes */
	uint64_t stored_pages;    /* pages out of memory now (zram: pages
				     stored), same-filled ones included */
	uint64_t orig_data_size;  /* stored_pages * page_size */
	uint64_t compr_data_size; /* bytes of the objects in the pool (raw
				     pages count page_size each) */
	uint64_t same_pages;      /* stored as their 8-byte word */
	uint64_t huge_pages;      /* stored raw: did not compress enough */
	uint64_t mem_used_total;  /* pool pages * page_size (the objects of
				     pages faulted back in are freed by a
				     low-priority thread, so this lags the
				     faults a little) */
	uint64_t mem_used_max;    /* the most mem_used_total seen after a
				     reclaim batch */
	uint64_t pool_metadata;   /* the pool's bytes outside its pages
				     (zs_stats.metadata_bytes) */
	uint64_t table_bytes;     /* uswap's per-page table (where each
				     page is; holds the same-filled words) */
	uint64_t pages_compacted; /* zs_stats.pages_compacted */
	uint64_t reclaimed;       /* pages stored by reclaim, ever */
	uint64_t reclaim_written; /* reclaims cancelled by a write */
	uint64_t reclaim_failed;  /* pages the pool refused (kept resident) */
	uint64_t faults;          /* pages faulted in from the store, ever */
	uint64_t zero_faults;     /* first touches of never-stored pages */
	uint64_t wp_faults;       /* writes that hit a write-protected page */
	uint64_t stale_faults;    /* fault messages for pages already there */
	uint64_t read_errors;     /* objects that could not be read back
				     (SIGBUS sent to the thread): 0 in a
				     sound pool */
	uint64_t eexist;          /* pages the handler found already in
				     place (left as they were): 0 unless
				     the region was used against the
				     contract above */
	/* Fault service time in the handler: from reading the fault message
	 * to the page being in place and its thread woken, in ns (log-linear
	 * buckets: within 1/32 of the true value). */
	uint64_t fault_ns_p50, fault_ns_p99, fault_ns_max;
	int user_mode_only; /* 1: UFFD_USER_MODE_ONLY was needed */
};

/* Where a page is, as uswap_page_state() tells. */
enum uswap_state {
	USWAP_EMPTY = 0, /* never touched: reads as zeros when first touched */
	USWAP_RESIDENT,  /* in memory, or being put there by the handler (a
			    thread whose access faulted sees RESIDENT once
			    the access returns; a reclaim waits for it) */
	USWAP_STORED,    /* out: in the pool or kept as its same-filled word */
	USWAP_MOVING,    /* being reclaimed, or taken back for a write */
};

/*
 * uswap_available - whether this process may create a region at all
 * (opens a userfaultfd, checks write-protect support, closes it).
 * @kernel_faults as in uswap_config. Returns 0, or the negative errno
 * uswap_create() would fail with: -EPERM (not allowed), -ENOSYS (no
 * userfaultfd in this kernel), -EOPNOTSUPP (no write-protect of anonymous
 * memory: Linux 5.7+ on x86-64, arm64 since 5.19 or so).
 * uswap_advice() says what to change.
 */
int uswap_available(int kernel_faults);

/*
 * uswap_advice - for an error of uswap_available() or uswap_create() (either
 * sign), one sentence saying what to change, e.g. the sysctl or the
 * capability; for other errors strerror()'s text. Never NULL; a static
 * string (strerror's may be overwritten by the next call).
 */
const char *uswap_advice(int err);

/*
 * uswap_create - a region of @config->size bytes (rounded up to pages),
 * every page EMPTY, its pool, its handler thread and its freer thread.
 * Returns the region, or NULL with errno: EINVAL (NULL @config, size 0,
 * acceleration, batch or zspage length out of range), EPERM, ENOSYS,
 * EOPNOTSUPP (see uswap_available()), ENOMEM, or the errno of mmap(),
 * zs_create_pool_config() or pthread_create().
 */
struct uswap *uswap_create(const struct uswap_config *config);

/*
 * uswap_destroy - stop the handler and the freer, unmap the region,
 * destroy the pool. NULL is ignored. No thread may touch the region, or call another
 * uswap function on it, once this has started.
 */
void uswap_destroy(struct uswap *u);

/* uswap_base - the region's first byte (page-aligned). NULL: NULL. */
void *uswap_base(const struct uswap *u);

/* uswap_pages - the region's size in pages. NULL: 0. */
size_t uswap_pages(const struct uswap *u);

/*
 * uswap_reclaim - store up to @n resident pages out of memory, taken by the
 * clock (see above: address order, skipping once the pages faulted in since
 * the hand last passed; a sweep may pass the hand over the region twice).
 * Returns the number stored (0..@n), or -ENOMEM when the pool refused the
 * first page it was given (the page stays resident; a refusal after some
 * pages were stored ends the call and returns their count), or -EINVAL
 * for NULL @u. Pages written to while being reclaimed stay resident and
 * are not counted. Blocks while another reclaim of the region runs.
 */
long uswap_reclaim(struct uswap *u, size_t n);

/*
 * uswap_reclaim_range - the same for every resident page of pages
 * [@first, @first + @count) of the region, in address order, regardless of
 * the clock (the hand does not move). Returns as uswap_reclaim(); -EINVAL
 * also for a range outside the region.
 */
long uswap_reclaim_range(struct uswap *u, size_t first, size_t count);

/*
 * uswap_page_state - where page @index is now (enum uswap_state), or
 * -EINVAL for NULL @u or an index outside the region. A snapshot: another
 * thread may fault the page in or reclaim it at once.
 */
int uswap_page_state(const struct uswap *u, size_t index);

/* uswap_stats - a snapshot of the figures. Returns 0 or -EINVAL. */
int uswap_get_stats(struct uswap *u, struct uswap_stats *stats);

/*
 * uswap_pool - the region's zsmalloc pool, for zs_compact(), zs_check(),
 * zs_pool_stats() and zs_fail_nth_page_alloc(). Do not allocate or free in
 * it. NULL: NULL.
 */
struct zs_pool *uswap_pool(struct uswap *u);

/*
 * uswap_check - check the table against the pool: the objects the table
 * names are live and distinct handles, and their count and bytes are the
 * pool's object count and the compressed bytes of the stats; then
 * zs_check() of the pool. Waits for the handler to finish the bookkeeping
 * of faults it has answered. Returns the number of violations (0: sound; 1
 * for NULL @u). Call it when no reclaim runs and no thread touches the
 * region (the counts move otherwise).
 */
size_t uswap_check(struct uswap *u);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_EXAMPLES_USWAP_H */
