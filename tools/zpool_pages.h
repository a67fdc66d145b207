/*
 * zpool_pages.h - what the page-based model drivers (SLUB, SLOB, zbud) share:
 * the id of an object in a page, a table of per-page records indexed by pfn
 * (the model's struct page), and storing one object alone in a whole page
 * (what the kernel does with objects its slab layer cannot hold).
 *
 * An id names <pfn, offset> like a kernel pointer names a page and an offset:
 *
 *     bit 63       62 .. 32      31 .. 0
 *     whole page | pfn + 1     | offset in the page
 *
 * The pfn is stored plus one so that no id is 0.
 */
#ifndef ZSALLOC_TOOLS_ZPOOL_PAGES_H
#define ZSALLOC_TOOLS_ZPOOL_PAGES_H

#include <stddef.h>
#include <stdint.h>

#include "mapping/mapping.h"

#define PAGE_ID_WHOLE ((uint64_t)1 << 63)

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

/* One object alone in a page of its own: store, load, release. */
int whole_page_store(struct mp_source *src, const void *buf, size_t len,
		     uint64_t *id);
int whole_page_load(struct mp_source *src, uint64_t id, void *dst,
		    size_t len);
int whole_page_release(struct mp_source *src, uint64_t id);

#endif /* ZSALLOC_TOOLS_ZPOOL_PAGES_H */
