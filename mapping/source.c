/*
 * source.c - the page source: order-0 pages named by pfn.
 *
 * Why: zsalloc's allocators are modelled on kernel allocators that take
 * order-0 pages from the buddy allocator and reach them through the direct
 * map (or kmap). In user space the same shape comes from one reserved range
 * of address space per source: pfn p is the bytes [p << shift, (p + 1) <<
 * shift) of the range, so a page's address is arithmetic:
 *
 *   reserved range (span pages, MAP_NORESERVE)
 *   +------+------+------+------+------+- - - - - - - - - - - - - - - - -+
 *   | pfn0 | pfn1 | pfn2 | pfn3 | pfn4 |   not committed: faults         |
 *   +------+------+------+------+------+- - - - - - - - - - - - - - - - -+
 *   |<------- committed (grows by doubling) -------->|
 *   |<----- nr_pfns (general: ever handed out) ->|
 *
 * Behind the range is either private anonymous memory (made accessible as
 * it is committed; fork() gives the child a copy-on-write snapshot) or, for
 * the two-page windows of MP_REMAP, a memfd mapped shared (committed = the
 * file's size; the windows map its pages a second time).
 *
 * Life of a pfn in a general source: new (nr_pfns grows) -> allocated (bit
 * set in used[]) -> freed: its memory goes back to the OS at once
 * (MADV_DONTNEED, or a hole punched in the memfd) and it reads as zero; the
 * pfn waits in the free[] bitmap to be reused, lowest first, so that pages
 * handed out together tend to be neighbours. mp_alloc_page_near() prefers
 * the pfn after its hint; mp_free_pages() gives each run of consecutive
 * pfns back with one call (on a hypervisor that invalidates page by page
 * below ~33 pages, a run of 64 cost 2.4 us a page where single pages cost
 * 44 us). With cache_pages > 0, up to that many freed pages skip the
 * system call and wait, resident, on cache[]; they are zeroed when reused
 * and given back by mp_trim(). A placed source has no free list: its owner
 * names the pfns it allocates (mp_alloc_pages_at()) and frees.
 *
 * Locking: one mutex per source guards the free lists and counters. Page
 * allocation is rare next to object allocation (one page per several
 * objects), so one lock is enough; the system call of a free runs outside
 * it. mp_kmap() and mp_page_valid() read the allocated bitmap with relaxed
 * atomic loads and take no lock.
 *
 * fork(): a handler takes every source's lock before the fork (after
 * waiting for frees in flight) and releases it in both processes, so that
 * the child's copy of each source is consistent. A shared source is not
 * copied by fork: the child must leave it alone (mp_forked()).
 *
 * Glossary: pfn - page frame number, an index into the range; direct map -
 * the range; cache - freed pages kept resident; span - the pfn space.
 */
#include "mapping/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "mapping/os.h"

/* The memfd grows by doubling, from at least this many pages. */
#define MP_FILE_GROW_MIN 256u

/* mp_alloc_page_near() looks this far down the cache for the hint's pfn. */
#define MP_CACHE_SEARCH 32u

static _Atomic uint64_t mp_next_id = 1;

/* The sources that exist: so that a thread can tell a mapping slot of a
 * destroyed source (which it can no longer unmap) from a live one (read
 * only when a thread runs out of slots), and so that fork() can take every
 * source's lock. */
static pthread_mutex_t mp_alive_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mp_source *mp_alive;
static pthread_once_t mp_fork_once = PTHREAD_ONCE_INIT;
_Atomic uint64_t mp_fork_gen;

static void alive_add(struct mp_source *src)
{
	pthread_mutex_lock(&mp_alive_lock);
	src->next_alive = mp_alive;
	mp_alive = src;
	pthread_mutex_unlock(&mp_alive_lock);
}

static void alive_remove(struct mp_source *src)
{
	struct mp_source **p;

	pthread_mutex_lock(&mp_alive_lock);
	for (p = &mp_alive; *p; p = &(*p)->next_alive)
		if (*p == src) {
			*p = src->next_alive;
			break;
		}
	pthread_mutex_unlock(&mp_alive_lock);
}

int mp_source_alive(uint64_t id)
{
	struct mp_source *s;
	int alive = 0;

	pthread_mutex_lock(&mp_alive_lock);
	for (s = mp_alive; s && !alive; s = s->next_alive)
		alive = s->id == id;
	pthread_mutex_unlock(&mp_alive_lock);
	return alive;
}

/* Before fork(): every source's lock, taken once no free is in flight (a
 * free's system call runs outside the lock; the child has no thread to
 * finish it). */
static void fork_prepare(void)
{
	struct mp_source *s;

	pthread_mutex_lock(&mp_alive_lock);
	for (s = mp_alive; s; s = s->next_alive) {
		pthread_mutex_lock(&s->lock);
		while (s->in_flight)
			pthread_cond_wait(&s->punched, &s->lock);
	}
}

static void fork_parent(void)
{
	struct mp_source *s;

	for (s = mp_alive; s; s = s->next_alive)
		pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&mp_alive_lock);
}

static void fork_child(void)
{
	atomic_fetch_add_explicit(&mp_fork_gen, 1, memory_order_relaxed);
	fork_parent();
}

static void fork_register(void)
{
	os_atfork(fork_prepare, fork_parent, fork_child);
}

int mp_forked(const struct mp_source *src)
{
	return src && src->shared &&
	       src->fork_gen != atomic_load_explicit(&mp_fork_gen, memory_order_relaxed);
}

uint64_t mp_physical_pages(void)
{
	return os_physical_pages();
}

unsigned mp_cpu_count(void)
{
	return os_cpu_count();
}

uint64_t mp_clock_ms(void)
{
	return os_clock_ms();
}

void mp_yield(void)
{
	os_yield();
}

void *mp_zalloc(size_t bytes)
{
	void *p = bytes ? os_reserve(bytes) : NULL;

	if (p && os_commit(p, bytes)) {
		os_unmap(p, bytes);
		p = NULL;
	}
	if (!p)
		errno = ENOMEM;
	return p;
}

void mp_zfree(void *p, size_t bytes)
{
	if (p)
		os_unmap(p, bytes);
}

/* Read once; racing first calls compute and store the same value. */
static _Atomic size_t mp_cached_page_size;

size_t mp_page_size(void)
{
	size_t size = atomic_load_explicit(&mp_cached_page_size, memory_order_relaxed);

	if (!size) {
		size = os_page_size();
		atomic_store_explicit(&mp_cached_page_size, size, memory_order_relaxed);
	}
	return size;
}

unsigned mp_page_shift(void)
{
	return (unsigned)__builtin_ctzll(mp_page_size()); /* a power of two */
}

static size_t source_map_bytes(const struct mp_source *src)
{
	return (size_t)src->span << src->shift;
}

/* The limits of @config, checked: 0, or -EINVAL. */
static int config_limits(const struct mp_config *config, uint32_t *max_pages, uint32_t *span)
{
	uint64_t max = config->max_pages ? config->max_pages : os_physical_pages();

	if (config->max_pages > UINT32_MAX || config->span_pages > UINT32_MAX ||
	    (unsigned)config->backing > MP_BACKING_SHARED ||
	    (config->span_pages && config->span_pages < config->max_pages))
		return -EINVAL;
	if (max > UINT32_MAX)
		max = UINT32_MAX;
	if (config->span_pages && config->span_pages < max)
		max = config->span_pages; /* the machine's memory, beyond the span */
	*max_pages = (uint32_t)max;
	*span = config->span_pages ? (uint32_t)config->span_pages : (uint32_t)max;
	return 0;
}

/* The span-sized tables: the used and free bitmaps, the generations. */
static size_t source_bitmap_bytes(const struct mp_source *src)
{
	return ((size_t)src->span + 63) / 64 * sizeof(*src->used);
}

static size_t source_gen_bytes(const struct mp_source *src)
{
	return (size_t)src->span * sizeof(*src->gen);
}

/* The bitmaps and tables of @src (span set): 0 or -ENOMEM. Those sized by
 * the span come from mp_zalloc(): only what the pool reaches is resident. */
static int source_alloc_tables(struct mp_source *src)
{
	src->used = mp_zalloc(source_bitmap_bytes(src));
	src->free = mp_zalloc(source_bitmap_bytes(src));
	if (!src->placed)
		src->gen = mp_zalloc(source_gen_bytes(src));
	if (src->cache_pages)
		src->cache = calloc(src->cache_pages, sizeof(*src->cache));
	if (!src->used || !src->free || (!src->placed && !src->gen) ||
	    (src->cache_pages && !src->cache))
		return -ENOMEM;
	return 0;
}

/* The direct map: a memfd mapped shared, or reserved private memory. */
static int source_map(struct mp_source *src, const char *name)
{
	if (src->shared) {
		src->fd = os_memfd_create(name ? name : "zsalloc");
		if (src->fd < 0)
			return src->fd;
		src->base = os_map_file(src->fd, source_map_bytes(src));
	} else {
		src->base = os_reserve(source_map_bytes(src));
	}
	return src->base ? 0 : -errno;
}

static void source_free(struct mp_source *src)
{
	if (src->base)
		os_unmap(src->base, source_map_bytes(src));
	if (src->fd >= 0)
		os_close(src->fd);
	free(src->cache);
	mp_zfree(src->free, source_bitmap_bytes(src));
	if (!src->placed)
		mp_zfree(src->gen, source_gen_bytes(src));
	mp_zfree(src->used, source_bitmap_bytes(src));
	free(src);
}

struct mp_source *mp_create(const struct mp_config *config)
{
	struct mp_config defaults = { 0 };
	struct mp_source *src;
	uint32_t max_pages, span;
	int err;

	if (!config)
		config = &defaults;
	err = config_limits(config, &max_pages, &span);
	if (err) {
		errno = -err;
		return NULL;
	}
	pthread_once(&mp_fork_once, fork_register);
	src = calloc(1, sizeof(*src));
	if (!src)
		return NULL;
	src->shift = mp_page_shift();
	src->max_pages = max_pages;
	src->span = span;
	src->shared = config->backing == MP_BACKING_SHARED;
	src->placed = config->placed != 0;
	src->cache_pages = src->placed ? 0 : config->cache_pages;
	src->dirty_reuse = config->dirty_reuse != 0;
	if (src->cache_pages > src->max_pages)
		src->cache_pages = src->max_pages;
	src->id = atomic_fetch_add(&mp_next_id, 1);
	src->fork_gen = atomic_load(&mp_fork_gen);
	src->fd = -1;

	err = source_alloc_tables(src);
	if (!err)
		err = source_map(src, config->name);
	if (!err)
		err = -pthread_mutex_init(&src->lock, NULL);
	if (err) {
		source_free(src);
		errno = -err;
		return NULL;
	}
	err = -pthread_cond_init(&src->punched, NULL);
	if (err) {
		pthread_mutex_destroy(&src->lock);
		source_free(src);
		errno = -err;
		return NULL;
	}
	alive_add(src);
	src->stats.max_pages = src->max_pages;
	return src;
}

void mp_destroy(struct mp_source *src)
{
	if (!src)
		return;
	alive_remove(src);
	/* Truncating frees every page even if a thread's two-page window still
	 * maps some of them (the window keeps only the empty file alive). A
	 * child of fork() must not: the pages are its parent's too. */
	if (src->shared && !mp_forked(src))
		os_file_resize(src->fd, 0);
	pthread_cond_destroy(&src->punched);
	pthread_mutex_destroy(&src->lock);
	source_free(src);
}

/* Make pfns below @need usable (under the lock): grow the memfd, or make
 * more of the private range accessible, by doubling. 0 or -ENOMEM. */
static int source_commit_locked(struct mp_source *src, uint64_t need)
{
	uint64_t pages;
	int err;

	if (need <= src->committed)
		return 0;
	pages = (uint64_t)src->committed * 2;
	if (pages < MP_FILE_GROW_MIN)
		pages = MP_FILE_GROW_MIN;
	if (pages < need)
		pages = need;
	if (pages > src->span)
		pages = src->span;
	if (src->shared)
		err = os_file_resize(src->fd, pages << src->shift);
	else
		err = os_commit(src->base + ((size_t)src->committed << src->shift),
				(size_t)(pages - src->committed) << src->shift);
	if (err)
		return -ENOMEM;
	src->committed = (uint32_t)pages;
	return 0;
}

/* Make room for one more pfn of a general source. */
static int source_grow_locked(struct mp_source *src)
{
	/* Every pfn exists: the pages under the limit that are not in use
	 * are being given back by a free outside the lock (in flight) and
	 * are not on free[] yet; the caller waits for them (-EAGAIN). Never
	 * hand out pfn max_pages, which is past used[] and the direct map. */
	if (src->nr_pfns >= src->max_pages)
		return src->in_flight ? -EAGAIN : -ENOMEM;
	return source_commit_locked(src, (uint64_t)src->nr_pfns + 1);
}

static void free_mark(struct mp_source *src, uint32_t p)
{
	src->free[p >> 6] |= (uint64_t)1 << (p & 63);
	src->nr_free++;
	if ((p >> 6) < src->free_low)
		src->free_low = p >> 6;
}

static int free_take(struct mp_source *src, uint32_t p)
{
	uint64_t bit = (uint64_t)1 << (p & 63);

	if (p >= src->nr_pfns || !(src->free[p >> 6] & bit))
		return 0;
	src->free[p >> 6] &= ~bit;
	src->nr_free--;
	return 1;
}

/* The lowest punched free pfn (nr_free > 0). */
static uint32_t free_take_lowest(struct mp_source *src)
{
	uint32_t w = src->free_low;

	while (!src->free[w])
		w++;
	src->free_low = w;
	return w * 64 + (uint32_t)__builtin_ctzll(src->free[w]);
}

/* Takes @p off the cache if it is among the most recently cached pages
 * (those a neighbour freed with it are there; the search stays short). */
static int cache_take(struct mp_source *src, uint32_t p)
{
	uint32_t i, low = src->nr_cached > MP_CACHE_SEARCH ? src->nr_cached - MP_CACHE_SEARCH : 0;

	for (i = src->nr_cached; i-- > low;) {
		if (src->cache[i] == p) {
			src->cache[i] = src->cache[--src->nr_cached];
			return 1;
		}
	}
	return 0;
}

/*
 * A pfn to allocate, under the lock, below the limit (pages_used <
 * max_pages): from the cache, the free bitmap, or a new one. Waits for
 * pages in flight when those are all that is left. 0, or -ENOMEM (the OS
 * would not grow the memfd).
 */
static int source_take_locked(struct mp_source *src, uint32_t near, uint32_t *pp, int *stale)
{
	uint32_t p = 0;
	int err;

retry:
	err = 0;
	if (near < UINT32_MAX - 1 && cache_take(src, near + 1)) {
		p = near + 1; /* next to the owner's last page, resident */
		*stale = 1;
	} else if (src->nr_cached) {
		p = src->cache[--src->nr_cached];
		*stale = 1; /* resident: no fault, but old bytes */
	} else if (near < UINT32_MAX - 1 && free_take(src, near + 1)) {
		p = near + 1; /* next to the owner's last page */
	} else if (src->nr_free) {
		p = free_take_lowest(src);
		free_take(src, p);
	} else {
		err = source_grow_locked(src);
		if (err == -EAGAIN) {
			pthread_cond_wait(&src->punched, &src->lock);
			goto retry;
		}
		if (!err)
			p = src->nr_pfns++;
	}
	*pp = p;
	return err;
}

int mp_alloc_page(struct mp_source *src, uint32_t *pfn)
{
	return mp_alloc_page_near(src, UINT32_MAX, pfn);
}

int mp_alloc_page_near(struct mp_source *src, uint32_t near, uint32_t *pfn)
{
	uint32_t p = 0;
	int stale = 0, err = 0;

	if (!src || !pfn || src->placed)
		return -EINVAL;
	if (mp_forked(src))
		return -EPERM;

	pthread_mutex_lock(&src->lock);
	if (src->fail_countdown && --src->fail_countdown == 0) {
		err = -ENOMEM;
	} else if (src->stats.pages_used >= src->max_pages) {
		err = -ENOMEM;
	} else {
		err = source_take_locked(src, near, &p, &stale);
	}
	if (err) {
		src->stats.alloc_failures++;
		pthread_mutex_unlock(&src->lock);
		return -ENOMEM; /* the limit, an injected fault or the OS */
	}
	atomic_fetch_or_explicit(&src->used[p >> 6], (uint64_t)1 << (p & 63), memory_order_release);
	src->stats.pages_used++;
	if (src->stats.pages_used > src->stats.pages_peak)
		src->stats.pages_peak = src->stats.pages_used;
	src->stats.allocs++;
	pthread_mutex_unlock(&src->lock);

	MP_ASSERT(p < src->span && "a pfn is inside the span");
	if (stale && !src->dirty_reuse)
		memset(src->base + ((size_t)p << src->shift), 0, (size_t)1 << src->shift);
	*pfn = p;
	return 0;
}

/* 1 if any of @n pfns from @pfn is allocated, else 0; waits (under the
 * lock) while any is still being given back by a free (its free[] bit). */
static int placed_busy_locked(struct mp_source *src, uint32_t pfn, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint32_t p = pfn + i;

		while (src->free[p >> 6] & ((uint64_t)1 << (p & 63)))
			pthread_cond_wait(&src->punched, &src->lock);
		if (mp_bit_test(src, p))
			return 1;
	}
	return 0;
}

/* Each of @n pages counts as one allocation for fault injection: 1 if one
 * of them is the injected failure. */
static int fault_injected_locked(struct mp_source *src, uint32_t n)
{
	int hit = 0;

	while (n-- && src->fail_countdown)
		hit |= --src->fail_countdown == 0;
	return hit;
}

int mp_alloc_pages_at(struct mp_source *src, uint32_t pfn, uint32_t n)
{
	uint32_t i;
	int err = 0;

	if (!src || !src->placed || !n || pfn >= src->span || n > src->span - pfn)
		return -EINVAL;
	if (mp_forked(src))
		return -EPERM;
	pthread_mutex_lock(&src->lock);
	if (placed_busy_locked(src, pfn, n)) {
		pthread_mutex_unlock(&src->lock);
		return -EINVAL;
	}
	if (fault_injected_locked(src, n) || src->stats.pages_used + n > src->max_pages ||
	    source_commit_locked(src, (uint64_t)pfn + n))
		err = -ENOMEM;
	if (err) {
		src->stats.alloc_failures++;
		pthread_mutex_unlock(&src->lock);
		return err;
	}
	for (i = 0; i < n; i++)
		atomic_fetch_or_explicit(&src->used[(pfn + i) >> 6],
					 (uint64_t)1 << ((pfn + i) & 63), memory_order_release);
	src->stats.pages_used += n;
	if (src->stats.pages_used > src->stats.pages_peak)
		src->stats.pages_peak = src->stats.pages_used;
	src->stats.allocs += n;
	pthread_mutex_unlock(&src->lock);
	return 0;
}

static int cmp_pfn(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Give [off, off + len) of the direct map back to the OS; it reads as zero
 * after (if the system call fails, zeroing keeps that true). */
static void source_discard(struct mp_source *src, uint64_t off, uint64_t len)
{
	int err = src->shared ? os_file_punch(src->fd, off, len)
			      : os_discard(src->base + off, (size_t)len);

	if (err)
		memset(src->base + off, 0, len);
}

/* Give @n pages (owned by nobody now, counted in flight) back to the OS,
 * one system call per run of consecutive pfns, then put them on the free
 * bitmap (a placed source: take their in-flight marks off) and wake
 * allocations waiting for them. Sorts @pfns. */
static void source_punch(struct mp_source *src, uint32_t *pfns, size_t n)
{
	size_t i = 0, j;

	qsort(pfns, n, sizeof(*pfns), cmp_pfn);
	while (i < n) {
		uint64_t off = (uint64_t)pfns[i] << src->shift;

		for (j = i + 1; j < n && pfns[j] == pfns[j - 1] + 1; j++)
			;
		source_discard(src, off, (uint64_t)(j - i) << src->shift);
		i = j;
	}
	pthread_mutex_lock(&src->lock);
	for (i = 0; i < n; i++) {
		if (src->placed)
			src->free[pfns[i] >> 6] &= ~((uint64_t)1 << (pfns[i] & 63));
		else
			free_mark(src, pfns[i]);
	}
	MP_ASSERT(src->in_flight >= n && "only pages in flight land");
	src->in_flight -= (uint32_t)n;
	MP_ASSERT((src->placed ||
		   src->stats.pages_used + src->nr_cached + src->nr_free + src->in_flight ==
			   src->nr_pfns) &&
		  "every pfn of a general source is used, cached, free or in flight");
	pthread_cond_broadcast(&src->punched);
	pthread_mutex_unlock(&src->lock);
}

/* Clear the marks free_pages_check() left on the first @n pfns. */
static void free_pages_unmark(struct mp_source *src, const uint32_t *pfns, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		src->free[pfns[i] >> 6] &= ~((uint64_t)1 << (pfns[i] & 63));
}

/* Under the lock: 1 if every pfn of the batch is allocated and none comes
 * twice. An allocated pfn's free[] bit is clear, so it serves as the mark
 * of a pfn seen; used[], which other threads read without the lock, is not
 * touched. The marks are cleared again either way. */
static int free_pages_check(struct mp_source *src, const uint32_t *pfns, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t p = pfns[i];
		uint64_t bit = (uint64_t)1 << (p & 63);

		if (p >= src->span || !mp_bit_test(src, p) || (src->free[p >> 6] & bit)) {
			free_pages_unmark(src, pfns, i);
			return 0;
		}
		src->free[p >> 6] |= bit;
	}
	free_pages_unmark(src, pfns, n);
	return 1;
}

int mp_free_pages(struct mp_source *src, const uint32_t *pfns, size_t n)
{
	uint32_t *rest;
	size_t i, cached;

	if (!src || (!pfns && n))
		return -EINVAL;
	if (mp_forked(src))
		return -EPERM;
	if (!n)
		return 0;

	pthread_mutex_lock(&src->lock);
	/* All or nothing: check the whole batch before anything changes. */
	if (!free_pages_check(src, pfns, n)) {
		pthread_mutex_unlock(&src->lock);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		uint32_t p = pfns[i];

		atomic_fetch_and_explicit(&src->used[p >> 6], ~((uint64_t)1 << (p & 63)),
					  memory_order_release);
		if (src->gen)
			atomic_fetch_add_explicit(&src->gen[p], 1, memory_order_release);
		if (src->placed) /* in flight: not to be allocated again yet */
			src->free[p >> 6] |= (uint64_t)1 << (p & 63);
	}
	src->stats.pages_used -= n;
	src->stats.frees += n;
	/* The first ones stay resident in the cache while it has room. */
	for (cached = 0; cached < n && src->nr_cached < src->cache_pages; cached++)
		src->cache[src->nr_cached++] = pfns[cached];
	src->in_flight += (uint32_t)(n - cached);
	pthread_mutex_unlock(&src->lock);

	/* The rest go back to the OS, outside the lock; nobody owns them. */
	if (cached == n)
		return 0;
	rest = malloc((n - cached) * sizeof(*rest));
	if (rest) {
		memcpy(rest, pfns + cached, (n - cached) * sizeof(*rest));
		source_punch(src, rest, n - cached);
		free(rest);
	} else {
		for (i = cached; i < n; i++) { /* no memory to sort: one by one */
			uint32_t p = pfns[i];

			source_punch(src, &p, 1);
		}
	}
	return 0;
}

int mp_free_page(struct mp_source *src, uint32_t pfn)
{
	if (!src || pfn >= src->span)
		return -EINVAL;
	return mp_free_pages(src, &pfn, 1);
}

uint8_t *mp_direct_map(struct mp_source *src)
{
	return src ? src->base : NULL;
}

int mp_page_valid(const struct mp_source *src, uint32_t pfn)
{
	return src && pfn < src->span && mp_bit_test(src, pfn);
}

void *mp_kmap(struct mp_source *src, uint32_t pfn)
{
	if (!mp_page_valid(src, pfn)) {
		errno = EINVAL;
		return NULL;
	}
	return src->base + ((size_t)pfn << src->shift);
}

void mp_fail_nth_alloc(struct mp_source *src, uint64_t n)
{
	if (!src)
		return;
	pthread_mutex_lock(&src->lock);
	src->fail_countdown = n;
	pthread_mutex_unlock(&src->lock);
}

void mp_get_stats(struct mp_source *src, struct mp_stats *stats)
{
	if (!src || !stats)
		return;
	pthread_mutex_lock(&src->lock);
	*stats = src->stats;
	stats->pages_cached = src->nr_cached;
	stats->max_pages = src->max_pages;
	pthread_mutex_unlock(&src->lock);
}

size_t mp_trim(struct mp_source *src)
{
	uint32_t *pfns;
	size_t n;

	if (!src || mp_forked(src))
		return 0;
	pthread_mutex_lock(&src->lock);
	n = src->nr_cached;
	pfns = n ? malloc(n * sizeof(*pfns)) : NULL;
	if (pfns) {
		memcpy(pfns, src->cache, n * sizeof(*pfns));
		src->nr_cached = 0;
		src->in_flight += (uint32_t)n;
	}
	pthread_mutex_unlock(&src->lock);
	if (!pfns)
		return 0; /* empty, or no memory to batch: try again later */
	source_punch(src, pfns, n);
	free(pfns);
	return n;
}
