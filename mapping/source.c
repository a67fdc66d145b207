/*
 * source.c - the page source: order-0 pages named by pfn, backed by a memfd.
 *
 * Why: zsalloc's allocators are modelled on kernel allocators that take
 * order-0 pages from the buddy allocator and reach them through the direct
 * map (or kmap). In user space the same shape comes from one memfd per
 * source: pfn p is the memfd's bytes [p << shift, (p + 1) << shift), and the
 * whole memfd is mapped once, so a page's address is arithmetic:
 *
 *   reserved range (max_pages pages, MAP_SHARED of the memfd, MAP_NORESERVE)
 *   +------+------+------+------+------+- - - - - - - - - - - - - - - - -+
 *   | pfn0 | pfn1 | pfn2 | pfn3 | pfn4 |   past the file's end: faults   |
 *   +------+------+------+------+------+- - - - - - - - - - - - - - - - -+
 *   |<------- file_pages (memfd size, grows) ------>|
 *   |<----- nr_pfns (ever handed out) ---->|
 *
 * Life of a pfn: new (nr_pfns grows; the memfd grows in steps, sparsely) ->
 * allocated (bit set in used[]) -> freed: a hole is punched in the memfd, so
 * the memory goes back to the OS at once and the page reads as zero, and
 * the pfn waits in the free[] bitmap to be reused, lowest first, so that
 * pages handed out together tend to be neighbours. mp_alloc_page_near()
 * prefers the pfn after its hint; mp_free_pages() punches each run of
 * consecutive pfns with one call (on a hypervisor that invalidates page by
 * page below ~33 pages, a run of 64 cost 2.4 us a page where single pages
 * cost 44 us). With cache_pages > 0, up to that many freed pages skip the
 * punch and wait, resident, on cache[]; they are zeroed when reused and
 * punched by mp_trim().
 *
 * Locking: one mutex per source guards the free lists and counters. Page
 * allocation is rare next to object allocation (one page per several
 * objects), so one lock is enough; the punch, the slow part of a free, runs
 * outside it. mp_kmap() and mp_page_valid() read the allocated bitmap with
 * relaxed atomic loads and take no lock.
 *
 * Glossary: pfn - page frame number, an index into the memfd; direct map -
 * the one mapping of the whole memfd; cache - freed pages kept resident.
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

/* The ids of the sources that exist, so that a thread can tell a mapping
 * slot of a destroyed source (which it can no longer unmap) from a live
 * one. Read only when a thread runs out of slots. */
static pthread_mutex_t mp_alive_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *mp_alive;
static size_t mp_nr_alive, mp_alive_cap;

static int alive_add(uint64_t id)
{
	int err = 0;

	pthread_mutex_lock(&mp_alive_lock);
	if (mp_nr_alive == mp_alive_cap) {
		size_t cap = mp_alive_cap ? mp_alive_cap * 2 : 16;
		uint64_t *a = realloc(mp_alive, cap * sizeof(*a));

		if (a) {
			mp_alive = a;
			mp_alive_cap = cap;
		} else {
			err = ENOMEM;
		}
	}
	if (!err)
		mp_alive[mp_nr_alive++] = id;
	pthread_mutex_unlock(&mp_alive_lock);
	return err;
}

static void alive_remove(uint64_t id)
{
	size_t i;

	pthread_mutex_lock(&mp_alive_lock);
	for (i = 0; i < mp_nr_alive; i++)
		if (mp_alive[i] == id) {
			mp_alive[i] = mp_alive[--mp_nr_alive];
			break;
		}
	pthread_mutex_unlock(&mp_alive_lock);
}

int mp_source_alive(uint64_t id)
{
	size_t i;
	int alive = 0;

	pthread_mutex_lock(&mp_alive_lock);
	for (i = 0; i < mp_nr_alive && !alive; i++)
		alive = mp_alive[i] == id;
	pthread_mutex_unlock(&mp_alive_lock);
	return alive;
}

/* Read once; racing first calls compute and store the same value. */
static _Atomic size_t mp_cached_page_size;

size_t mp_page_size(void)
{
	size_t size = atomic_load_explicit(&mp_cached_page_size,
					   memory_order_relaxed);

	if (!size) {
		size = os_page_size();
		atomic_store_explicit(&mp_cached_page_size, size,
				      memory_order_relaxed);
	}
	return size;
}

unsigned mp_page_shift(void)
{
	return (unsigned)__builtin_ctzll(mp_page_size()); /* a power of two */
}

static size_t source_map_bytes(const struct mp_source *src)
{
	return (size_t)src->max_pages << src->shift;
}

struct mp_source *mp_create(const struct mp_config *config)
{
	struct mp_config defaults = { 0 };
	struct mp_source *src;
	uint64_t max_pages;
	size_t words;
	int err;

	if (!config)
		config = &defaults;
	max_pages = config->max_pages ? config->max_pages : os_physical_pages();
	if (config->max_pages > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (max_pages > UINT32_MAX)
		max_pages = UINT32_MAX;

	src = calloc(1, sizeof(*src));
	if (!src)
		return NULL;
	src->shift = mp_page_shift();
	src->max_pages = (uint32_t)max_pages;
	src->cache_pages = config->cache_pages;
	if (src->cache_pages > src->max_pages)
		src->cache_pages = src->max_pages;
	src->id = atomic_fetch_add(&mp_next_id, 1);
	src->fd = -1;

	words = ((size_t)src->max_pages + 63) / 64;
	src->used = calloc(words, sizeof(*src->used));
	src->free = calloc(words, sizeof(*src->free));
	src->gen = calloc(src->max_pages, sizeof(*src->gen));
	if (src->cache_pages)
		src->cache = calloc(src->cache_pages, sizeof(*src->cache));
	if (!src->used || !src->free || !src->gen ||
	    (src->cache_pages && !src->cache)) {
		err = ENOMEM;
		goto fail;
	}
	src->fd = os_memfd_create(config->name ? config->name : "zsalloc");
	if (src->fd < 0) {
		err = -src->fd;
		goto fail;
	}
	src->base = os_map_file(src->fd, source_map_bytes(src));
	if (!src->base) {
		err = errno;
		goto fail;
	}
	err = pthread_mutex_init(&src->lock, NULL);
	if (err)
		goto fail;
	err = pthread_cond_init(&src->punched, NULL);
	if (err) {
		pthread_mutex_destroy(&src->lock);
		goto fail;
	}
	err = alive_add(src->id);
	if (err) {
		pthread_cond_destroy(&src->punched);
		pthread_mutex_destroy(&src->lock);
		goto fail;
	}
	src->stats.max_pages = src->max_pages;
	return src;

fail:
	if (src->base)
		os_unmap(src->base, source_map_bytes(src));
	if (src->fd >= 0)
		os_close(src->fd);
	free(src->cache);
	free(src->free);
	free(src->gen);
	free(src->used);
	free(src);
	errno = err;
	return NULL;
}

void mp_destroy(struct mp_source *src)
{
	if (!src)
		return;
	alive_remove(src->id);
	/* Truncating frees every page even if a thread's two-page window still
	 * maps some of them (the window keeps only the empty file alive). */
	os_file_resize(src->fd, 0);
	os_unmap(src->base, source_map_bytes(src));
	os_close(src->fd);
	pthread_cond_destroy(&src->punched);
	pthread_mutex_destroy(&src->lock);
	free(src->cache);
	free(src->free);
	free(src->gen);
	free(src->used);
	free(src);
}

/* Make room for one more pfn: grow the memfd (sparse) when it is full. */
static int source_grow_locked(struct mp_source *src)
{
	uint64_t pages;
	int err;

	if (src->nr_pfns < src->file_pages)
		return 0;
	/* Every pfn exists: the pages under the limit that are not in use
	 * are being punched by a free outside the lock (in flight) and are
	 * not on free[] yet; the caller waits for them (-EAGAIN). Never hand
	 * out pfn max_pages, which is past used[] and the direct map. */
	if (src->nr_pfns >= src->max_pages)
		return src->in_flight ? -EAGAIN : -ENOMEM;
	pages = (uint64_t)src->file_pages * 2;
	if (pages < MP_FILE_GROW_MIN)
		pages = MP_FILE_GROW_MIN;
	if (pages > src->max_pages)
		pages = src->max_pages;
	err = os_file_resize(src->fd, pages << src->shift);
	if (err)
		return err;
	src->file_pages = (uint32_t)pages;
	return 0;
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
	uint32_t i, low = src->nr_cached > MP_CACHE_SEARCH
				  ? src->nr_cached - MP_CACHE_SEARCH
				  : 0;

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
static int source_take_locked(struct mp_source *src, uint32_t near, uint32_t *pp,
			      int *stale)
{
	uint32_t p = 0;
	int err;

retry:
	err = 0;
	if (near < UINT32_MAX - 1 && cache_take(src, near + 1)) {
		p = near + 1;          /* next to the owner's last page, resident */
		*stale = 1;
	} else if (src->nr_cached) {
		p = src->cache[--src->nr_cached];
		*stale = 1;            /* resident: no fault, but old bytes */
	} else if (near < UINT32_MAX - 1 && free_take(src, near + 1)) {
		p = near + 1;          /* next to the owner's last page */
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

	if (!src || !pfn)
		return -EINVAL;

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
	atomic_fetch_or_explicit(&src->used[p >> 6], (uint64_t)1 << (p & 63),
				 memory_order_release);
	src->stats.pages_used++;
	if (src->stats.pages_used > src->stats.pages_peak)
		src->stats.pages_peak = src->stats.pages_used;
	src->stats.allocs++;
	pthread_mutex_unlock(&src->lock);

	if (stale)
		memset(src->base + ((size_t)p << src->shift), 0,
		       (size_t)1 << src->shift);
	*pfn = p;
	return 0;
}

static int cmp_pfn(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Give @n pages (owned by nobody now, counted in flight) back to the OS,
 * one system call per run of consecutive pfns, then put them on the free
 * bitmap and wake allocations waiting for them. Sorts @pfns. */
static void source_punch(struct mp_source *src, uint32_t *pfns, size_t n)
{
	size_t i = 0, j;

	qsort(pfns, n, sizeof(*pfns), cmp_pfn);
	while (i < n) {
		uint64_t off = (uint64_t)pfns[i] << src->shift, len;

		for (j = i + 1; j < n && pfns[j] == pfns[j - 1] + 1; j++)
			;
		len = (uint64_t)(j - i) << src->shift;
		if (os_file_punch(src->fd, off, len))
			memset(src->base + off, 0, len); /* keep "free reads zero" */
		i = j;
	}
	pthread_mutex_lock(&src->lock);
	for (i = 0; i < n; i++)
		free_mark(src, pfns[i]);
	src->in_flight -= (uint32_t)n;
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

		if (p >= src->nr_pfns || !mp_bit_test(src, p) || (src->free[p >> 6] & bit)) {
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
		atomic_fetch_add_explicit(&src->gen[p], 1, memory_order_release);
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
	if (!src || pfn >= src->max_pages)
		return -EINVAL;
	return mp_free_pages(src, &pfn, 1);
}

uint8_t *mp_direct_map(struct mp_source *src)
{
	return src ? src->base : NULL;
}

int mp_page_valid(const struct mp_source *src, uint32_t pfn)
{
	return src && pfn < src->max_pages && mp_bit_test(src, pfn);
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

	if (!src)
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
