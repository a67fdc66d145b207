/*
 * uswap.c - compressed swap for a process's own memory: the region, its
 * table, its pool, its handler and freer threads.
 *
 * Why
 * ---
 * zram is what zsmalloc exists for: pages swapped out into compressed
 * memory. In user space the same job is done on userfaultfd by virtual
 * machine monitors and browsers, each with a store of its own. uswap is that
 * client on zsmalloc, small enough to read: the pool sees a fault handler
 * thread reading objects while other threads touch memory, reclaim stores
 * pages, and compaction moves objects underneath.
 *
 * Layout
 * ------
 *     base                                              doorbell
 *     | page 0 | page 1 | page 2 | ... | page pages-1 | page |
 *     `-- anonymous, MAP_NORESERVE, no THP, not forked, registered with one
 *         userfaultfd for missing-page and write-protect faults
 *     table[pages]: | state (enum page_state | REFERENCED) | len | value |
 *         len 0: same-filled, value = the 8-byte word; len == page size:
 *         raw; else value = the zs_handle of len LZ4 bytes
 *     pool: zsmalloc, one shard (only reclaim allocates, one at a time)
 *
 * A page of the region is always in exactly one place: in memory (its page
 * table entry is present), or in the table entry (a word or an object), or
 * being moved between the two by exactly one party. The states and their
 * owners are in internal.h.
 *
 * The race: reclaim against a thread touching the page
 * -----------------------------------------------------
 * Reclaim must not drop a page whose bytes changed after it compressed them:
 * MADV_DONTNEED would throw the write away, and the next fault would bring
 * back the old bytes. uswap write-protects the page first:
 *
 *   1. pick: RESIDENT -> ARMING (only the reclaimer moves RESIDENT pages).
 *   2. UFFDIO_WRITEPROTECT the run of pages. When it returns, the kernel has
 *      made their entries read-only and flushed every CPU's TLB (the flush's
 *      interrupt also drains the writers' store buffers): every earlier
 *      write is in the page, every later write faults to the handler.
 *      ARMING -> RECLAIMING.
 *   3. Read and compress the page; store the object.
 *   4. Commit: write the entry, then CAS RECLAIMING -> ZAPPING.
 *   5. MADV_DONTNEED the run, then ZAPPING -> STORED.
 *
 * A write during 2-4 stops its thread in a write-protect fault. The handler
 * CASes RECLAIMING -> DISARMING, clears the write-protection (which wakes
 * the thread: its write lands), and sets RESIDENT. The reclaimer's CAS in 4
 * then fails, and it frees the object: the page stays in memory with the
 * write. Exactly one of the two CASes wins, so either the page is dropped
 * with the bytes that were compressed (no write could have reached it since
 * step 2) or it stays with every write.
 *
 * A write during 5 (ZAPPING: the CAS is won, the entry is still present and
 * read-only) also faults; the handler waits until the madvise() returns and
 * then wakes the thread, which faults again, now on a missing page, and gets
 * the stored bytes back before its write lands. Reads during 2-5 are served
 * by the page as it is (its bytes are the stored ones). A missing-page fault
 * is only served for STORED (and EMPTY) pages, i.e. after the madvise() has
 * returned, so the handler never installs a page that a madvise() still in
 * flight could drop. The handler waits only for a reclaimer inside a
 * system call that needs nothing from it (ARMING, ZAPPING), so the wait
 * ends.
 *
 * The other way round, the handler marks a page LOADING while it puts it in
 * place, and the reclaimer waits for that to end before it may pick the
 * page: the thread woken by UFFDIO_COPY may be past its access already, so
 * the page counts as resident (uswap_page_state() says so) and a reclaim
 * right after that access takes it. The handler's LOADING step waits for
 * nobody, so that wait ends too.
 *
 * Ordering of the rest: the handler clears the write-protection *before* it
 * sets RESIDENT, so a new reclaim cannot arm the page and then lose its
 * protection to the handler's late clear; a page the pool refuses is given
 * back the same way (clear, then RESIDENT by CAS, which the handler may
 * have done already). UFFDIO_COPY's EEXIST cannot happen under this
 * protocol (a STORED page has no entry, and the handler is the only one to
 * install one); it is counted (stats.eexist is 0 in every test) and the
 * thread is woken. Messages can be stale: two threads fault on one page,
 * the first COPY wakes both, and the second message arrives for a RESIDENT
 * page; it is answered with UFFDIO_WAKE.
 *
 * Which pages: a clock
 * --------------------
 * uswap sees no accesses to resident pages (no accessed bits in user space
 * without root), only its own faults. The hand sweeps the region in address
 * order; a page faulted in (or written during a reclaim) since the hand
 * last passed it is REFERENCED and gets a second chance. Never-touched
 * (EMPTY) pages are skipped: they hold nothing. uswap_reclaim_range() is
 * for callers who know better (their own ranges, cold first).
 *
 * The handler thread and its shutdown
 * -----------------------------------
 * The handler reads the userfaultfd without blocking, serves what it read,
 * and reads again; with nothing to read it sleeps in poll(). It frees no
 * object itself: a free that empties a zspage may give pages back to the
 * OS (2 to 44 us here, with a TLB flush on every CPU), which would land
 * on the next fault. It hands them to the freer thread (freer.c, nice 19),
 * woken when the handler goes idle. To stop the handler, uswap_destroy()
 * reads the doorbell page, one page past the region, registered with it and
 * touched by nothing else; its fault message wakes the handler, which
 * serves the rest of what it read, answers the doorbell (UFFDIO_ZEROPAGE,
 * which wakes uswap_destroy()) and returns. uswap_destroy() joins it, then
 * stops the freer (which frees what is queued first), and only then unmaps
 * the region. No signal, no second descriptor.
 *
 * Memory accounting
 * -----------------
 * Resident memory of a region = its resident pages (smaps Rss of the
 * mapping) + the pool's pages and metadata (zs_get_total_pages(),
 * zs_stats.metadata_bytes: private memory of the process) + the table (16
 * bytes a page); the demo reads it as the growth of RssAnon. zram's figures (compr_data_size, mem_used_total) are kept the same
 * way, so that the demo can compare what the OS reports with what the store
 * says.
 *
 * Sanitizers: the reclaimer reads pages that other threads wrote, ordered by
 * the kernel (step 2), and the handler's writes are the kernel's
 * (UFFDIO_COPY); ThreadSanitizer sees neither, and reports the reads as
 * races with the writers. The two functions that read region pages are
 * excluded from instrumentation, and under ThreadSanitizer LZ4 compresses a
 * copy of the page (its memcpy calls are intercepted). See reclaim.c.
 */
#include <errno.h>
#include <lz4.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "examples/uswap/internal.h"
#include "zsmalloc/zsmalloc.h"

uint64_t uswap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void counters_store(struct uswap *u, uint32_t len, int sign)
{
	void (*op)(_Atomic uint64_t *, uint64_t) = sign > 0 ? counter_add : counter_sub;

	op(&u->c.stored_pages, 1);
	if (len == 0)
		op(&u->c.same_pages, 1);
	op(&u->c.compr_bytes, len);
	if (len == u->page_size)
		op(&u->c.huge_pages, 1);
}

/* Open, shake hands, register @len bytes at @start. The descriptor or a
 * negative errno. */
static int uffd_setup(int kernel_faults, void *start, size_t len, int *user_mode_only)
{
	int fd = uffd_open(kernel_faults, user_mode_only);
	int err;

	if (fd < 0)
		return fd;
	err = uffd_api(fd);
	if (!err)
		err = uffd_register(fd, start, len);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int uswap_available(int kernel_faults)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	int umo, fd;

	if (p == MAP_FAILED)
		return -errno;
	fd = uffd_setup(kernel_faults, p, (size_t)page, &umo);
	if (fd >= 0)
		close(fd);
	munmap(p, (size_t)page);
	return fd < 0 ? fd : 0;
}

const char *uswap_advice(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM:
		return "userfaultfd is not allowed for this process: allow it "
		       "with `sysctl -w vm.unprivileged_userfaultfd=1`, or run "
		       "with CAP_SYS_PTRACE (e.g. as root), or, for user-mode "
		       "faults only, use Linux 5.11 or later; in a container, "
		       "the seccomp profile must also allow the userfaultfd "
		       "system call";
	case ENOSYS:
		return "this kernel has no userfaultfd (CONFIG_USERFAULTFD=y "
		       "is needed), or a seccomp filter hides it";
	case EOPNOTSUPP:
		return "this kernel cannot write-protect anonymous memory "
		       "through userfaultfd (Linux 5.7 or later with "
		       "CONFIG_HAVE_ARCH_USERFAULTFD_WP, e.g. x86-64)";
	default:
		return strerror(err < 0 ? -err : err);
	}
}

static int config_check(const struct uswap_config *c)
{
	if (!c || !c->size || c->lz4_acceleration < 0 || c->lz4_acceleration > 65537 ||
	    c->batch_pages > USWAP_BATCH_MAX || c->max_pages_per_zspage > ZS_MAX_PAGES_PER_ZSPAGE)
		return -EINVAL;
	return 0;
}

/* The region, its table and the buffers. 0 or a negative errno. */
static int region_map(struct uswap *u, const struct uswap_config *c)
{
	u->page_size = (size_t)sysconf(_SC_PAGESIZE);
	u->page_shift = (unsigned)__builtin_ctzl(u->page_size);
	u->pages = (c->size + u->page_size - 1) >> u->page_shift;
	u->map_bytes = (u->pages + 1) << u->page_shift;
	u->batch = c->batch_pages ? c->batch_pages : USWAP_BATCH_DEFAULT;
	u->lz4_accel = c->lz4_acceleration ? c->lz4_acceleration : 1;
	u->base = mmap(NULL, u->map_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (u->base == MAP_FAILED) {
		u->base = NULL;
		return -errno;
	}
	u->doorbell = page_addr(u, u->pages);
	/* THP would fault in 2 MiB at once; a child would see zeros. */
	madvise(u->base, u->map_bytes, MADV_NOHUGEPAGE);
	madvise(u->base, u->map_bytes, MADV_DONTFORK);
	u->table = calloc(u->pages, sizeof(*u->table));
	u->slots = calloc(u->batch, sizeof(*u->slots));
	u->lz4_state = malloc((size_t)LZ4_sizeofState());
	u->pack = malloc(u->page_size);
	u->snap = malloc(u->page_size);
	u->fault_buf = malloc(u->page_size);
	u->fault_copy = malloc(u->page_size);
	if (!u->table || !u->slots || !u->lz4_state || !u->pack || !u->snap || !u->fault_buf ||
	    !u->fault_copy)
		return -ENOMEM;
	return 0;
}

static int pool_make(struct uswap *u, const struct uswap_config *c)
{
	struct zs_config zc = {
		.name = "uswap",
		.max_pages_per_zspage = c->max_pages_per_zspage,
		.max_pages = c->max_pool_pages,
		.cache_pages = c->pool_cache_pages,
		.shards = 1, /* only reclaim allocates, one call at a time */
	};

	u->pool = zs_create_pool_config(&zc);
	if (!u->pool)
		return -errno;
	u->huge_size = zs_huge_class_size(u->pool);
	return 0;
}

/* The freer and the handler, with every signal blocked (they are the
 * process's). */
static int threads_start(struct uswap *u)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&u->freer, NULL, freer_main, u);
	u->freer_started = !err;
	if (!err)
		err = pthread_create(&u->handler, NULL, handler_main, u);
	u->handler_started = u->freer_started && !err;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

struct uswap *uswap_create(const struct uswap_config *config)
{
	struct uswap *u;
	int err = config_check(config);

	if (err) {
		errno = -err;
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->uffd = -1;
	hist_reset(&u->fault_ns);
	pthread_mutex_init(&u->reclaim_lock, NULL);
	pthread_mutex_init(&u->free_lock, NULL);
	pthread_cond_init(&u->free_cond, NULL);
	err = region_map(u, config);
	if (!err) {
		u->uffd = uffd_setup(config->kernel_faults, u->base, u->map_bytes,
				     &u->user_mode_only);
		err = u->uffd < 0 ? u->uffd : 0;
	}
	if (!err)
		err = pool_make(u, config);
	if (!err)
		err = threads_start(u);
	if (err) {
		uswap_destroy(u);
		errno = -err;
		return NULL;
	}
	return u;
}

void uswap_destroy(struct uswap *u)
{
	if (!u)
		return;
	if (u->handler_started) {
		(void)*(volatile unsigned char *)u->doorbell;
		pthread_join(u->handler, NULL);
	}
	if (u->freer_started)
		freer_stop(u);
	if (u->base)
		munmap(u->base, u->map_bytes);
	if (u->uffd >= 0)
		close(u->uffd);
	zs_destroy_pool(u->pool);
	pthread_mutex_destroy(&u->reclaim_lock);
	pthread_mutex_destroy(&u->free_lock);
	pthread_cond_destroy(&u->free_cond);
	free(u->table);
	free(u->slots);
	free(u->lz4_state);
	free(u->pack);
	free(u->snap);
	free(u->fault_buf);
	free(u->fault_copy);
	free(u);
}

void *uswap_base(const struct uswap *u)
{
	return u ? u->base : NULL;
}

size_t uswap_pages(const struct uswap *u)
{
	return u ? u->pages : 0;
}

long uswap_reclaim(struct uswap *u, size_t n)
{
	return u ? reclaim_clock(u, n) : -EINVAL;
}

long uswap_reclaim_range(struct uswap *u, size_t first, size_t count)
{
	if (!u || first > u->pages || count > u->pages - first)
		return -EINVAL;
	return reclaim_range(u, first, count);
}

int uswap_page_state(const struct uswap *u, size_t index)
{
	if (!u || index >= u->pages)
		return -EINVAL;
	switch (page_state_load(u, index) & PG_STATE_MASK) {
	case PG_EMPTY:
		return USWAP_EMPTY;
	case PG_RESIDENT:
	case PG_LOADING: /* the thread that faulted may be past it already */
		return USWAP_RESIDENT;
	case PG_STORED:
		return USWAP_STORED;
	default:
		return USWAP_MOVING;
	}
}

struct zs_pool *uswap_pool(struct uswap *u)
{
	return u ? u->pool : NULL;
}
