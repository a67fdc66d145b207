/*
 * zpool_slub.c - a model of kmalloc on SLUB: the general caches, no header.
 *
 * Facts modelled (the seeds; mm/slub.c): kmalloc rounds a request up to the
 * next of its general caches, 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024,
 * 2048 and 4096 bytes, and stores no per-object header: the waste is the
 * rounding. A slab is a run of pages cut into objects of one cache; a free
 * object holds the pointer to the next free one (the freelist lives in the
 * free objects themselves); the slab's counters live in its struct page.
 * Allocation takes the first slab of the cache's partial list, or a new one;
 * a slab whose last object is freed goes back to the page allocator.
 *
 * Objects above the largest cache go to the page allocator, as kmalloc sends
 * them (kmalloc_large: a 2^order block of pages, the smallest that holds
 * them; SLUB's kmalloc-8k cache wastes the same on 4097..8192 bytes), alone
 * in a run of that many pages.
 *
 * Simplifications, each in SLUB's favour or neutral:
 *   - Slabs are one page (order 0). Real SLUB uses order-1..3 slabs for the
 *     larger caches; for the power-of-two caches that changes nothing (they
 *     tile any page run exactly); kmalloc-96 and -192 waste 64 bytes per
 *     4 KiB slab here against 32 and 128 bytes per 32 KiB order-3 slab.
 *   - No per-cpu slabs, no min_partial empty slabs kept around: an empty
 *     slab is freed at once.
 * Counted as metadata: this model's per-page records (what SLUB keeps in
 * struct page) and the pool itself.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/zpool.h"
#include "tools/zpool_pages.h"

#define NO_PFN UINT32_MAX

static const uint32_t slub_sizes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096 };
#define NR_CACHES (sizeof(slub_sizes) / sizeof(slub_sizes[0]))

struct slab {          /* one per pfn: the model's struct page */
	uint32_t prev; /* partial list neighbours (pfns), NO_PFN at ends */
	uint32_t next;
	uint16_t inuse;    /* objects allocated; 0 < inuse <= objects */
	uint16_t freelist; /* offset of the first free object + 1; 0: none */
	uint8_t cache;     /* index into slub_sizes */
	uint8_t live;      /* 1 while the page is a slab of this pool */
	uint8_t partial;   /* 1 while on its cache's partial list */
};

struct cache {
	uint32_t size;    /* object size */
	uint32_t objects; /* objects per slab: page size / size */
	uint32_t partial; /* first slab on the partial list, NO_PFN: none */
};

struct slub_pool {
	struct page_runs runs; /* first: the pages; objects above the
				  largest cache, alone in runs of pages */
	struct slab *slabs;    /* indexed by pfn */
	size_t nr_slabs;       /* capacity of slabs[] */
	struct cache caches[NR_CACHES];
};

/* The object's freelist link: the offset + 1 of the next free object. */
static uint16_t *object_link(struct slub_pool *p, uint32_t pfn, uint32_t off)
{
	return (uint16_t *)((char *)mp_kmap(p->runs.src, pfn) + off);
}

static void partial_add(struct slub_pool *p, struct cache *c, uint32_t pfn)
{
	struct slab *s = &p->slabs[pfn];

	s->prev = NO_PFN;
	s->next = c->partial;
	if (c->partial != NO_PFN)
		p->slabs[c->partial].prev = pfn;
	c->partial = pfn;
	s->partial = 1;
}

static void partial_del(struct slub_pool *p, struct cache *c, uint32_t pfn)
{
	struct slab *s = &p->slabs[pfn];

	if (s->prev != NO_PFN)
		p->slabs[s->prev].next = s->next;
	else
		c->partial = s->next;
	if (s->next != NO_PFN)
		p->slabs[s->next].prev = s->prev;
	s->partial = 0;
}

static int cache_index(size_t len)
{
	for (unsigned i = 0; i < NR_CACHES; i++)
		if (len <= slub_sizes[i])
			return (int)i;
	return -1;
}

/* A new slab for @c: every object on the freelist, in address order. */
static int slab_new(struct slub_pool *p, struct cache *c, uint32_t *pfn)
{
	uint32_t off;
	int err = model_page_new(&p->runs, (void **)&p->slabs, &p->nr_slabs, sizeof(*p->slabs),
				 pfn);

	if (err)
		return err;
	for (off = 0; off < c->objects * c->size; off += c->size) {
		uint32_t next = off + c->size;

		*object_link(p, *pfn, off) = (uint16_t)(next < c->objects * c->size ? next + 1 : 0);
	}
	p->slabs[*pfn] =
		(struct slab){ .freelist = 1, .cache = (uint8_t)(c - p->caches), .live = 1 };
	partial_add(p, c, *pfn);
	return 0;
}

static void *slub_create(void)
{
	struct slub_pool *p = model_pool_new(sizeof(*p), "density-slub");
	uint32_t page = (uint32_t)mp_page_size();

	if (!p)
		return NULL;
	for (unsigned i = 0; i < NR_CACHES; i++)
		p->caches[i] = (struct cache){ .size = slub_sizes[i],
					       .objects = page / slub_sizes[i],
					       .partial = NO_PFN };
	return p;
}

static void slub_destroy(void *pool)
{
	struct slub_pool *p = pool;

	if (!p)
		return;
	free(p->slabs);
	model_pool_free(p);
}

static int slub_store(void *pool, const void *buf, size_t len, uint64_t *id)
{
	struct slub_pool *p = pool;
	int ci = cache_index(len);
	struct cache *c;
	struct slab *s;
	uint32_t pfn, off;
	int err;

	if (!len || len > ZPOOL_MAX_OBJECT)
		return -EINVAL;
	if (ci < 0) /* above 4 KiB: kmalloc goes to the page allocator */
		return page_runs_store(&p->runs, buf, len, page_run_pages(len), id);
	c = &p->caches[ci];
	if (c->partial == NO_PFN) {
		err = slab_new(p, c, &pfn);
		if (err)
			return err;
	}
	pfn = c->partial;
	s = &p->slabs[pfn];
	off = s->freelist - 1u;
	s->freelist = *object_link(p, pfn, off);
	if (++s->inuse == c->objects)
		partial_del(p, c, pfn);
	memcpy((char *)mp_kmap(p->runs.src, pfn) + off, buf, len);
	*id = page_id(pfn, off);
	return 0;
}

/* The slab of a live-looking id, or NULL. */
static struct slab *id_slab(struct slub_pool *p, uint64_t id)
{
	uint32_t pfn = page_id_pfn(id), off = page_id_offset(id);
	struct slab *s;

	if (pfn >= p->nr_slabs || !p->slabs[pfn].live)
		return NULL;
	s = &p->slabs[pfn];
	if (off % p->caches[s->cache].size ||
	    off >= p->caches[s->cache].objects * p->caches[s->cache].size)
		return NULL;
	return s;
}

static int slub_load(void *pool, uint64_t id, void *dst, size_t len)
{
	struct slub_pool *p = pool;
	struct slab *s;

	if (id & PAGE_ID_WHOLE)
		return page_runs_load(&p->runs, id, dst, len);
	s = id_slab(p, id);
	if (!s || len > p->caches[s->cache].size)
		return -EINVAL;
	memcpy(dst, (char *)mp_kmap(p->runs.src, page_id_pfn(id)) + page_id_offset(id), len);
	return 0;
}

static int slub_release(void *pool, uint64_t id)
{
	struct slub_pool *p = pool;
	uint32_t pfn = page_id_pfn(id), off = page_id_offset(id);
	struct slab *s;
	struct cache *c;

	if (id & PAGE_ID_WHOLE)
		return page_runs_release(&p->runs, id);
	s = id_slab(p, id);
	if (!s || !s->inuse)
		return -EINVAL;
	c = &p->caches[s->cache];
	*object_link(p, pfn, off) = s->freelist;
	s->freelist = (uint16_t)(off + 1);
	if (--s->inuse == 0) {
		if (s->partial)
			partial_del(p, c, pfn);
		s->live = 0;
		return mp_free_page(p->runs.src, pfn);
	}
	if (!s->partial)
		partial_add(p, c, pfn);
	return 0;
}

static void slub_usage(void *pool, struct zpool_usage *u)
{
	struct slub_pool *p = pool;

	model_usage(&p->runs, sizeof(*p) + p->nr_slabs * sizeof(*p->slabs), u);
}

const struct zpool_driver zpool_slub_driver = {
	.name = "slub",
	.summary = "model: kmalloc on SLUB, caches 8..4096 plus 96 and 192, "
		   "no header, one-page slabs",
	.create = slub_create,
	.destroy = slub_destroy,
	.store = slub_store,
	.load = slub_load,
	.release = slub_release,
	.usage = slub_usage,
};
