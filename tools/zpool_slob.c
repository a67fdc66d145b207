/*
 * zpool_slob.c - a model of SLOB: a 2-byte header and first fit in pages.
 *
 * Facts modelled (the seeds; mm/slob.c): SLOB keeps pages that have free
 * space on a list and takes the first page on it whose free list has a block
 * big enough (first fit), then the first such block in the page; a free block
 * records its size and the next free block in itself, the page's free list is
 * kept in address order, and a freed block merges with free neighbours; a
 * page whose blocks are all free goes back to the page allocator. kmalloc on
 * SLOB puts a small header before each object holding its size: 2 bytes in
 * the seeds' accounting. The seed review asks that objects be 4-byte aligned,
 * so this model does both:
 *
 *     page:  |pad|hdr obj....|hdr obj......|free......|hdr obj..|.. |pad|
 *             2  ^ blocks start at 2 mod 4, are whole 4-byte units, so every
 *                  object (block + 2) is 4-aligned
 *     free block:  u16 units | u16 unit index of the next free block
 *
 * An object takes round_up(size + 2, 4) bytes; the largest is page size - 6
 * (4090 bytes); larger ones go to the page allocator, as kmalloc on SLOB
 * sends them (slob_new_pages of get_order(size): the smallest 2^order block
 * of pages that holds them), alone in a run of that many pages.
 *
 * The page list is searched in pfn order (address-ordered first fit). SLOB
 * walks its list, O(pages) per allocation, and starts the next walk where the
 * last one succeeded; walking 10^5 pages per allocation makes a million-object
 * run take hours, so this model finds the same page a walk in pfn order would
 * find through a max-tree of each page's largest free block, O(log pages).
 * Its density is that of first fit; its ns per store is not SLOB's (slower).
 * Address-ordered first fit packs at least as well as SLOB's rotating list,
 * and one list instead of SLOB's three (by size) is neutral to favourable.
 * Counted as metadata: the per-page records, the tree, the pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tools/zpool.h"
#include "tools/zpool_pages.h"

#define SLOB_UNIT 4u  /* block granularity, bytes */
#define SLOB_HDR 2u   /* header before each object: its block's units */
#define SLOB_START 2u /* first block: 2 mod 4, so objects are 4-aligned */
#define NO_UNIT 0xffffu

struct slob_page {           /* one per pfn: the model's struct page */
	uint16_t free_units; /* units in free blocks */
	uint16_t free_head;  /* unit index of the first free block, NO_UNIT */
	uint8_t live;        /* 1 while the page belongs to this pool */
};

struct slob_pool {
	struct page_runs runs;   /* first: the pages; objects above the
				    largest block, alone in runs of pages */
	struct slob_page *pages; /* indexed by pfn */
	size_t nr_pages;         /* capacity of pages[] */
	uint16_t *tree;          /* max-tree: tree[leaves + pfn] = largest free
				    block of pfn in units; tree[i] = max of its
				    two children */
	size_t leaves;           /* power of two >= nr_pages */
	uint32_t page_units;     /* units per page: (page size - 2) / 4 */
};

/* A free block's two fields, at unit @u of page @pfn. */
static uint16_t *unit_ptr(struct slob_pool *p, uint32_t pfn, uint32_t u)
{
	return (uint16_t *)((char *)mp_kmap(p->runs.src, pfn) + SLOB_START + u * SLOB_UNIT);
}

static uint32_t max_object(const struct slob_pool *p)
{
	return p->page_units * SLOB_UNIT - SLOB_HDR;
}

static void tree_set(struct slob_pool *p, uint32_t pfn, uint16_t largest)
{
	size_t i = p->leaves + pfn;

	p->tree[i] = largest;
	for (i /= 2; i; i /= 2) {
		uint16_t m = p->tree[2 * i] > p->tree[2 * i + 1] ? p->tree[2 * i]
								 : p->tree[2 * i + 1];
		if (p->tree[i] == m)
			break;
		p->tree[i] = m;
	}
}

/* The lowest pfn with a free block of at least @units; -1 if none has. */
static int64_t tree_first_fit(const struct slob_pool *p, uint16_t units)
{
	size_t i = 1;

	if (!p->leaves || p->tree[1] < units)
		return -1;
	while (i < p->leaves)
		i = p->tree[2 * i] >= units ? 2 * i : 2 * i + 1;
	return (int64_t)(i - p->leaves);
}

/* Grow pages[] and the tree so that @pfn has a leaf. */
static int slob_reserve(struct slob_pool *p, uint32_t pfn)
{
	size_t leaves = p->leaves ? p->leaves : 64;
	uint16_t *tree;

	if (pfn_table_reserve((void **)&p->pages, &p->nr_pages, sizeof(*p->pages), pfn))
		return -ENOMEM;
	if (pfn < p->leaves)
		return 0;
	while (leaves <= pfn)
		leaves *= 2;
	tree = calloc(2 * leaves, sizeof(*tree));
	if (!tree)
		return -ENOMEM;
	if (p->leaves)
		memcpy(tree + leaves, p->tree + p->leaves, p->leaves * sizeof(*tree));
	for (size_t i = leaves - 1; i; i--)
		tree[i] = tree[2 * i] > tree[2 * i + 1] ? tree[2 * i] : tree[2 * i + 1];
	free(p->tree);
	p->tree = tree;
	p->leaves = leaves;
	return 0;
}

/* Walk the page's free list for its largest block, and tell the tree. */
static void page_update(struct slob_pool *p, uint32_t pfn)
{
	uint16_t largest = 0;

	for (uint32_t u = p->pages[pfn].free_head; u != NO_UNIT;) {
		uint16_t *b = unit_ptr(p, pfn, u);

		if (b[0] > largest)
			largest = b[0];
		u = b[1];
	}
	tree_set(p, pfn, largest);
}

static void *slob_create(void)
{
	struct slob_pool *p = model_pool_new(sizeof(*p), "density-slob");

	if (!p)
		return NULL;
	p->page_units = (uint32_t)((mp_page_size() - SLOB_START) / SLOB_UNIT);
	return p;
}

static void slob_destroy(void *pool)
{
	struct slob_pool *p = pool;

	if (!p)
		return;
	free(p->pages);
	free(p->tree);
	model_pool_free(p);
}

static int page_new(struct slob_pool *p, uint32_t *pfn)
{
	uint16_t *b;
	int err = mp_alloc_page(p->runs.src, pfn);

	if (err)
		return err;
	if (slob_reserve(p, *pfn)) {
		mp_free_page(p->runs.src, *pfn);
		return -ENOMEM;
	}
	p->pages[*pfn] = (struct slob_page){ .free_units = (uint16_t)p->page_units,
					     .free_head = 0,
					     .live = 1 };
	b = unit_ptr(p, *pfn, 0);
	b[0] = (uint16_t)p->page_units;
	b[1] = NO_UNIT;
	tree_set(p, *pfn, (uint16_t)p->page_units);
	return 0;
}

static int slob_store(void *pool, const void *buf, size_t len, uint64_t *id)
{
	struct slob_pool *p = pool;
	uint16_t units, prev = NO_UNIT, *b;
	uint32_t u, pfn;
	int64_t found;
	int err;

	if (!len || len > ZPOOL_MAX_OBJECT)
		return -EINVAL;
	if (len > max_object(p))
		return page_runs_store(&p->runs, buf, len, page_run_pages(len), id);
	units = (uint16_t)((len + SLOB_HDR + SLOB_UNIT - 1) / SLOB_UNIT);
	found = tree_first_fit(p, units);
	if (found < 0) {
		err = page_new(p, &pfn);
		if (err)
			return err;
	} else {
		pfn = (uint32_t)found;
	}
	/* First fit in the page's address-ordered free list. */
	for (u = p->pages[pfn].free_head;; prev = (uint16_t)u, u = b[1]) {
		b = unit_ptr(p, pfn, u);
		if (b[0] >= units)
			break;
	}
	if (b[0] > units) { /* split: the tail stays free */
		uint16_t *rest = unit_ptr(p, pfn, u + units);

		rest[0] = (uint16_t)(b[0] - units);
		rest[1] = b[1];
		b[1] = (uint16_t)(u + units);
	}
	if (prev == NO_UNIT)
		p->pages[pfn].free_head = b[1];
	else
		unit_ptr(p, pfn, prev)[1] = b[1];
	p->pages[pfn].free_units = (uint16_t)(p->pages[pfn].free_units - units);
	page_update(p, pfn);

	b[0] = units; /* the header: bytes 0-1 of the block */
	memcpy((char *)b + SLOB_HDR, buf, len);
	*id = page_id(pfn, SLOB_START + u * SLOB_UNIT + SLOB_HDR);
	return 0;
}

/* The block unit of a live-looking id, or -1. */
static int64_t id_unit(struct slob_pool *p, uint64_t id)
{
	uint32_t pfn = page_id_pfn(id), off = page_id_offset(id);
	uint32_t u;

	if (pfn >= p->nr_pages || !p->pages[pfn].live)
		return -1;
	if (off < SLOB_START + SLOB_HDR || (off - SLOB_START - SLOB_HDR) % SLOB_UNIT)
		return -1;
	u = (off - SLOB_START - SLOB_HDR) / SLOB_UNIT;
	if (u >= p->page_units)
		return -1;
	return u;
}

static int slob_load(void *pool, uint64_t id, void *dst, size_t len)
{
	struct slob_pool *p = pool;
	int64_t u;

	if (id & PAGE_ID_WHOLE)
		return page_runs_load(&p->runs, id, dst, len);
	u = id_unit(p, id);
	if (u < 0 || len + SLOB_HDR > *unit_ptr(p, page_id_pfn(id), (uint32_t)u) * SLOB_UNIT)
		return -EINVAL;
	memcpy(dst, (char *)mp_kmap(p->runs.src, page_id_pfn(id)) + page_id_offset(id), len);
	return 0;
}

static int slob_release(void *pool, uint64_t id)
{
	struct slob_pool *p = pool;
	uint32_t pfn = page_id_pfn(id), prev = NO_UNIT, next, u;
	struct slob_page *pg;
	uint16_t *b;
	int64_t found;

	if (id & PAGE_ID_WHOLE)
		return page_runs_release(&p->runs, id);
	found = id_unit(p, id);
	if (found < 0)
		return -EINVAL;
	u = (uint32_t)found;
	pg = &p->pages[pfn];
	b = unit_ptr(p, pfn, u);
	if (!b[0] || u + b[0] > p->page_units)
		return -EINVAL;
	/* Find the free neighbours in address order (and catch a double
	 * free: the block is on the list already). */
	for (next = pg->free_head; next != NO_UNIT && next < u; next = unit_ptr(p, pfn, next)[1])
		prev = next;
	if (next == u)
		return -EINVAL;
	if (pg->free_units + b[0] == p->page_units) { /* the last object */
		pg->live = 0;
		tree_set(p, pfn, 0);
		return mp_free_page(p->runs.src, pfn);
	}
	pg->free_units = (uint16_t)(pg->free_units + b[0]);
	b[1] = (uint16_t)next; /* merge with the neighbours that touch */
	if (next != NO_UNIT && u + b[0] == next) {
		uint16_t *nb = unit_ptr(p, pfn, next);

		b[0] = (uint16_t)(b[0] + nb[0]);
		b[1] = nb[1];
	}
	if (prev == NO_UNIT) {
		pg->free_head = (uint16_t)u;
	} else {
		uint16_t *pb = unit_ptr(p, pfn, prev);

		if (prev + pb[0] == u) {
			pb[0] = (uint16_t)(pb[0] + b[0]);
			pb[1] = b[1];
		} else {
			pb[1] = (uint16_t)u;
		}
	}
	page_update(p, pfn);
	return 0;
}

static void slob_usage(void *pool, struct zpool_usage *u)
{
	struct slob_pool *p = pool;

	model_usage(&p->runs,
		    sizeof(*p) + p->nr_pages * sizeof(*p->pages) + 2 * p->leaves * sizeof(*p->tree),
		    u);
}

const struct zpool_driver zpool_slob_driver = {
	.name = "slob",
	.summary = "model: SLOB, 2-byte header, 4-aligned objects, first fit "
		   "over pages with free space",
	.create = slob_create,
	.destroy = slob_destroy,
	.store = slob_store,
	.load = slob_load,
	.release = slob_release,
	.usage = slob_usage,
};
