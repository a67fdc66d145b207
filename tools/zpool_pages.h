/*
 * zpool_pages.h - what the page-based model drivers (SLUB, SLOB, zbud) share:
 * the id of an object in a page, a table of per-page records indexed by pfn
 * (the model's struct page), and storing one object alone in a run of
 * whole pages (what the kernel does with objects its slab layer cannot hold:
 * kmalloc above its largest cache takes a 2^order block of pages).
 *
 * An id names <pfn, offset> like a kernel pointer names a page and an offset:
 *
 *     bit 63       62        61 .. 32      31 .. 0
 *     whole page | 0       | pfn + 1     | offset in the page (0)
 *     whole page | 1 (run) | the run's record (a pointer, bits 61 .. 0)
 *
 * The pfn is stored plus one so that no id is 0. A run of more than one
 * page is named by a record of its pfns, allocated outside the pages (its
 * bytes are the model's metadata, as the kernel's struct pages are).
 */
#ifndef ZSALLOC_TOOLS_ZPOOL_PAGES_H
#define ZSALLOC_TOOLS_ZPOOL_PAGES_H

#include <stddef.h>
#include <stdint.h>

#include "mapping/mapping.h"

#define PAGE_ID_WHOLE ((uint64_t)1 << 63)
#define PAGE_ID_RUN ((uint64_t)1 << 62)

static inline uint64_t page_id(uint32_t pfn, uint32_t offset)
{
	return ((uint64_t)pfn + 1) << 32 | offset;
}

static inline uint32_t page_id_pfn(uint64_t id)
{
	return (uint32_t)(((id & ~PAGE_ID_WHOLE) >> 32) - 1);
}

static inline uint32_t page_id_offset(uint64_t id)
{
	return (uint32_t)id;
}

/*
 * pfn_table_reserve - make *@table (elements of @elem bytes, *@cap of them)
 * hold index @pfn, zero-filling new elements. Returns 0 or -ENOMEM.
 */
int pfn_table_reserve(void **table, size_t *cap, size_t elem, uint32_t pfn);

/*
 * A page source for a model driver: no page limit but the machine, freed
 * pages back to the OS at once (as for zsmalloc and xvmalloc).
 * Returns NULL with errno set.
 */
struct mp_source *model_source_create(const char *name);

/* The pages kmalloc's page allocator path takes for @len bytes: the
 * smallest power of two pages that holds them (get_order()). */
uint32_t page_run_pages(size_t len);

/* The objects a model stores alone in runs of whole pages. */
struct page_runs {
	struct mp_source *src; /* where the pages come from */
	uint64_t objects;      /* live objects in runs */
	uint64_t record_bytes; /* the records of runs longer than a page */
};

/*
 * One object alone in a run of @pages pages of its own (@pages at least
 * the pages @len needs): store, load, release. Return 0, -EINVAL (a bad
 * id, @len 0 or too long) or -ENOMEM; release frees the pages.
 */
int page_runs_store(struct page_runs *r, const void *buf, size_t len, uint32_t pages, uint64_t *id);
int page_runs_load(const struct page_runs *r, uint64_t id, void *dst, size_t len);
int page_runs_release(struct page_runs *r, uint64_t id);

/*
 * A model's pool begins with a struct page_runs: its page source (runs.src,
 * the pages of everything it stores) and the objects it stores alone in
 * runs of pages. model_pool_new - @size zeroed bytes so begun, the source
 * made and named @name; NULL with errno set. model_pool_free - destroy the
 * source (its pages) and free the pool; NULL is ignored.
 */
void *model_pool_new(size_t size, const char *name);
void model_pool_free(void *pool);

/*
 * model_page_new - a page for a model: taken from @runs->src, with its
 * record of @elem bytes at index *@pfn of *@table (capacity *@cap) made to
 * exist, zeroed. Returns 0, or -ENOMEM with nothing kept.
 */
int model_page_new(struct page_runs *runs, void **table, size_t *cap, size_t elem, uint32_t *pfn);

struct zpool_usage;

/* A model's usage: the pages its source holds, @metadata bytes outside them
 * plus its runs' records, the objects stored alone in runs. */
void model_usage(const struct page_runs *runs, uint64_t metadata, struct zpool_usage *u);

#endif /* ZSALLOC_TOOLS_ZPOOL_PAGES_H */
