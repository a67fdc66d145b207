/*
 * zpool_zbud.c - a model of zbud: at most two objects per page.
 *
 * Facts modelled (the seeds; mm/zbud.c, removed in Linux 6.15): a zbud page
 * is cut into 64-byte chunks; the first chunk is the page's header; one
 * object (the first buddy) starts right after it, the other (the last buddy)
 * ends at the page's end; sizes are rounded up to whole chunks.
 *
 *     | hdr |first buddy ....|   free chunks   |..... last buddy|
 *      64 B  ^ page + 64                        ^ page end - last_chunks * 64
 *
 * A page with one buddy free sits on the unbuddied list of its number of
 * free chunks (63 lists for 4 KiB pages); an allocation of n chunks takes the
 * first page of the first non-empty list with >= n free chunks, else a new
 * page. Freeing the last buddy of a page frees the page. zbud refuses objects
 * above page size - 2 chunks (3968 bytes: -ENOSPC, and zswap then keeps the
 * page out); this model stores those up to a page one per page and counts
 * them (oversize_objects), so that every allocator holds the same workload,
 * and refuses larger ones (-ENOSPC) as zbud does: a zbud page holds at most
 * a page.
 * Counted as metadata: the per-page records (what zbud keeps in its in-page
 * header, which the reserved chunk already pays for) and the pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/zpool.h"
#include "tools/zpool_pages.h"

#define CHUNK_SHIFT 6
#define CHUNK_SIZE (1u << CHUNK_SHIFT)
#define ZHDR_SIZE CHUNK_SIZE /* the header chunk */
#define NO_PFN UINT32_MAX
#define MAX_CHUNKS 1024 /* lists for pages up to 64 KiB */

struct zbud_page {     /* one per pfn: zbud's struct zbud_header */
	uint32_t prev; /* unbuddied list neighbours (pfns) */
	uint32_t next;
	uint16_t first; /* chunks of the first buddy, 0: free */
	uint16_t last;  /* chunks of the last buddy, 0: free */
	uint8_t live;   /* 1 while the page belongs to this pool */
	uint8_t listed; /* 1 while on an unbuddied list */
};

struct zbud_pool {
	struct page_runs runs;          /* first: the pages; objects above zbud's
					   largest, alone in a page each */
	struct zbud_page *pages;        /* indexed by pfn */
	size_t nr_pages;                /* capacity of pages[] */
	uint32_t nchunks;               /* chunks per page after the header: 63 */
	uint32_t unbuddied[MAX_CHUNKS]; /* [free chunks] -> first pfn */
};

static uint32_t free_chunks(const struct zbud_pool *p, const struct zbud_page *z)
{
	return p->nchunks - z->first - z->last;
}

static void unbuddied_add(struct zbud_pool *p, uint32_t pfn)
{
	struct zbud_page *z = &p->pages[pfn];
	uint32_t *head = &p->unbuddied[free_chunks(p, z)];

	z->prev = NO_PFN;
	z->next = *head;
	if (*head != NO_PFN)
		p->pages[*head].prev = pfn;
	*head = pfn;
	z->listed = 1;
}

static void unbuddied_del(struct zbud_pool *p, uint32_t pfn)
{
	struct zbud_page *z = &p->pages[pfn];

	if (z->prev != NO_PFN)
		p->pages[z->prev].next = z->next;
	else
		p->unbuddied[free_chunks(p, z)] = z->next;
	if (z->next != NO_PFN)
		p->pages[z->next].prev = z->prev;
	z->listed = 0;
}

static uint32_t max_object(const struct zbud_pool *p)
{
	return (p->nchunks - 1) * CHUNK_SIZE;
}

static void *zbud_create(void)
{
	uint32_t nchunks = (uint32_t)((mp_page_size() - ZHDR_SIZE) >> CHUNK_SHIFT);
	struct zbud_pool *p;

	if (nchunks >= MAX_CHUNKS) {
		errno = EINVAL;
		return NULL;
	}
	p = model_pool_new(sizeof(*p), "density-zbud");
	if (!p)
		return NULL;
	p->nchunks = nchunks;
	for (unsigned i = 0; i < MAX_CHUNKS; i++)
		p->unbuddied[i] = NO_PFN;
	return p;
}

static void zbud_destroy(void *pool)
{
	struct zbud_pool *p = pool;

	if (!p)
		return;
	free(p->pages);
	model_pool_free(p);
}

static int zbud_store(void *pool, const void *buf, size_t len, uint64_t *id)
{
	struct zbud_pool *p = pool;
	uint32_t chunks, pfn = NO_PFN, off;
	struct zbud_page *z;
	int err;

	if (!len || len > ZPOOL_MAX_OBJECT)
		return -EINVAL;
	if (len > mp_page_size())
		return -ENOSPC;
	if (len > max_object(p))
		return page_runs_store(&p->runs, buf, len, 1, id);
	chunks = (uint32_t)((len + CHUNK_SIZE - 1) >> CHUNK_SHIFT);
	for (uint32_t i = chunks; i < p->nchunks && pfn == NO_PFN; i++)
		pfn = p->unbuddied[i];
	if (pfn != NO_PFN) {
		unbuddied_del(p, pfn);
	} else {
		err = model_page_new(&p->runs, (void **)&p->pages, &p->nr_pages, sizeof(*p->pages),
				     &pfn);
		if (err)
			return err;
		p->pages[pfn].live = 1;
	}
	z = &p->pages[pfn];
	if (!z->first) {
		z->first = (uint16_t)chunks;
		off = ZHDR_SIZE;
	} else {
		z->last = (uint16_t)chunks;
		off = (uint32_t)mp_page_size() - (chunks << CHUNK_SHIFT);
	}
	if (!z->first || !z->last)
		unbuddied_add(p, pfn);
	memcpy((char *)mp_kmap(p->runs.src, pfn) + off, buf, len);
	*id = page_id(pfn, off);
	return 0;
}

/* The buddy's chunk count field of a live-looking id, or NULL. */
static uint16_t *id_buddy(struct zbud_pool *p, uint64_t id)
{
	uint32_t pfn = page_id_pfn(id), off = page_id_offset(id);
	struct zbud_page *z;

	if (pfn >= p->nr_pages || !p->pages[pfn].live)
		return NULL;
	z = &p->pages[pfn];
	if (off == ZHDR_SIZE && z->first)
		return &z->first;
	if (z->last && off == mp_page_size() - ((uint32_t)z->last << CHUNK_SHIFT))
		return &z->last;
	return NULL;
}

static int zbud_load(void *pool, uint64_t id, void *dst, size_t len)
{
	struct zbud_pool *p = pool;
	uint16_t *bud;

	if (id & PAGE_ID_WHOLE)
		return page_runs_load(&p->runs, id, dst, len);
	bud = id_buddy(p, id);
	if (!bud || len > (size_t)*bud << CHUNK_SHIFT)
		return -EINVAL;
	memcpy(dst, (char *)mp_kmap(p->runs.src, page_id_pfn(id)) + page_id_offset(id), len);
	return 0;
}

static int zbud_release(void *pool, uint64_t id)
{
	struct zbud_pool *p = pool;
	uint32_t pfn = page_id_pfn(id);
	struct zbud_page *z;
	uint16_t *bud;

	if (id & PAGE_ID_WHOLE)
		return page_runs_release(&p->runs, id);
	bud = id_buddy(p, id);
	if (!bud)
		return -EINVAL;
	z = &p->pages[pfn];
	if (z->listed)
		unbuddied_del(p, pfn);
	*bud = 0;
	if (!z->first && !z->last) {
		z->live = 0;
		return mp_free_page(p->runs.src, pfn);
	}
	unbuddied_add(p, pfn);
	return 0;
}

static void zbud_usage(void *pool, struct zpool_usage *u)
{
	struct zbud_pool *p = pool;

	model_usage(&p->runs, sizeof(*p) + p->nr_pages * sizeof(*p->pages), u);
}

const struct zpool_driver zpool_zbud_driver = {
	.name = "zbud",
	.summary = "model: zbud, two buddies per page in 64-byte chunks",
	.create = zbud_create,
	.destroy = zbud_destroy,
	.store = zbud_store,
	.load = zbud_load,
	.release = zbud_release,
	.usage = zbud_usage,
};
