/*
 * check.c - xv_check (count every broken invariant) and xv_walk.
 *
 * The checker never trusts what it reads in the pages: every offset is
 * bounded by the page before it is dereferenced, every list link is checked
 * against the page records before its page is read, and every loop is
 * bounded, so a corrupt pool yields a count, never a crash or a hang. It
 * checks each page's record against the page's used blocks (the record
 * lists exactly them), and every list's count. It allocates scratch arrays
 * (the free blocks seen on pages and on lists, and one page's objects) to
 * compare them as sets; if it cannot, it counts that as one violation and
 * compares only their sizes.
 */
#include <stdlib.h>

#include "xvmalloc/internal.h"
#include "xvmalloc/pages.h"
#include "xvmalloc/tlsf.h"
#include "xvmalloc/xvmalloc.h"

/* A growable array of block keys: pfn << 32 | block offset. */
struct keys {
	uint64_t *v; /* [cap] */
	size_t n;    /* used */
	size_t cap;  /* allocated */
	int failed;  /* an allocation failed: v is incomplete */
};

static void keys_push(struct keys *k, uint32_t pfn, uint32_t off)
{
	if (k->n == k->cap && !k->failed) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		uint64_t *v = realloc(k->v, cap * sizeof(*v));

		if (!v)
			k->failed = 1;
		else {
			k->v = v;
			k->cap = cap;
		}
	}
	if (k->n < k->cap)
		k->v[k->n] = (uint64_t)pfn << 32 | off;
	k->n++; /* counted even when not stored */
}

static int key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Violations in the difference of two key multisets (sorted here). */
static size_t keys_diff(struct keys *a, struct keys *b)
{
	size_t i = 0, j = 0, v = 0;

	if (a->failed || b->failed)
		return 1 + (a->n != b->n);
	if (a->n > 1)
		qsort(a->v, a->n, sizeof(*a->v), key_cmp);
	if (b->n > 1)
		qsort(b->v, b->n, sizeof(*b->v), key_cmp);
	while (i < a->n || j < b->n) {
		if (j == b->n || (i < a->n && a->v[i] < b->v[j])) {
			i++;
			v++;
		} else if (i == a->n || b->v[j] < a->v[i]) {
			j++;
			v++;
		} else {
			i++;
			j++;
		}
	}
	return v;
}

/* Totals found by walking an arena's pages, to compare with its counters. */
struct tally {
	struct keys used;      /* pfn << 32 | object offset of the used
				  blocks of the page being walked */
	uint64_t page_objects; /* how many */
	uint64_t pages;
	uint64_t objects;
	uint64_t bytes_requested;
	uint64_t bytes_allocated;
	uint64_t bytes_free;
};

/* Walk one page's chain; count violations; record listable free blocks. */
static size_t check_page(const struct tlsf *t, uint32_t pfn, const unsigned char *page,
			 struct tally *tl, struct keys *on_pages)
{
	uint32_t off = 0, prev_off = 0;
	int prev_free = 0, all_free = 1;
	size_t v = 0;

	while (off < t->page_size) {
		struct xv_hdr h;
		uint32_t ext;
		int is_free;

		if (off + XV_HDR > t->page_size) {
			v++; /* a header would cross the page end */
			break;
		}
		h = xv_hdr_load(page, off);
		is_free = xv_hdr_free(h);
		ext = xv_hdr_extent(h);
		if (xv_hdr_prev_off(h) != prev_off)
			v++;
		if (!!(h.prev & XV_PREV_FREE) != prev_free)
			v++;
		if (is_free && prev_free)
			v++; /* two free neighbours were not merged */
		if (off + XV_HDR + ext > t->page_size) {
			v++;
			break;
		}
		if (is_free) {
			if (h.size % XV_ALIGN)
				v++;
			tl->bytes_free += XV_HDR + ext;
			if (h.size >= XV_MIN_BLOCK)
				keys_push(on_pages, pfn, off);
		} else {
			if (h.size == 0 || h.size > t->max_data)
				v++;
			all_free = 0;
			tl->objects++;
			tl->page_objects++;
			tl->bytes_requested += h.size;
			tl->bytes_allocated += XV_HDR + ext;
			keys_push(&tl->used, pfn, off + XV_HDR);
		}
		prev_off = off;
		prev_free = is_free;
		off += XV_HDR + ext;
	}
	if (all_free)
		v++; /* an empty page should have gone back */
	return v;
}

/* The page's record lists exactly the used blocks the walk found. */
static size_t check_record(const struct xv_pool *pool, uint32_t pfn, struct tally *tl)
{
	const struct xv_pages *p = &pool->pages;
	uint64_t rec = pages_load(p, pfn);
	size_t v = 0, i;

	if (rec & XV_REC_OVF) {
		if (rec >> XV_REC_SLOTS_SHIFT)
			v++; /* an overflowed record keeps no slots */
		if (pages_count_locked(p, pfn) < p->nslots)
			v++; /* it would have gone back to its slots */
	}
	if (pages_count_locked(p, pfn) != tl->page_objects)
		v++;
	if (tl->used.failed)
		return v + 1; /* no memory to list the page's objects */
	for (i = 0; i < tl->used.n; i++)
		if (!pages_has_locked(p, pfn, (uint32_t)tl->used.v[i] >> 2))
			v++;
	return v;
}

/* A list link may be followed only to a block offset inside a page this
 * arena owns. */
static int link_ok(const struct xv_pool *pool, const struct xv_arena *a, uint32_t pfn, uint32_t off)
{
	return rec_owner(pages_load(&pool->pages, pfn)) == a->id && mp_page_valid(pool->src, pfn) &&
	       !(off % XV_ALIGN) && off + XV_HDR + XV_MIN_BLOCK <= a->tlsf.page_size;
}

/* Walk free list @i: every block free, of its list's size, linked back,
 * counted. */
static size_t check_list(struct xv_pool *pool, struct xv_arena *a, uint32_t i, uint64_t bound,
			 struct keys *on_lists)
{
	const struct tlsf *t = &a->tlsf;
	struct xv_ref cur = t->heads[i];
	uint32_t prev_pfn = XV_NIL_PFN, prev_off = 0;
	int bit = (int)((t->sl_bitmap[i / 64] >> (i % 64)) & 1);
	uint64_t steps = 0;
	size_t v = 0;

	if (bit != (cur.pfn != XV_NIL_PFN))
		v++;
	while (cur.pfn != XV_NIL_PFN) {
		const unsigned char *page;
		struct xv_link l;
		struct xv_hdr h;

		if (++steps > bound || !link_ok(pool, a, cur.pfn, cur.off)) {
			v++; /* a cycle, or a link out of the arena */
			break;
		}
		page = tlsf_page(t, cur.pfn);
		h = xv_hdr_load(page, cur.off);
		if (!xv_hdr_free(h) || h.size < XV_MIN_BLOCK || h.size > t->max_data ||
		    tlsf_list_index(t, h.size) != i)
			v++;
		l = xv_link_load(page, cur.off);
		if (prev_pfn != XV_NIL_PFN && (l.prev_pfn != prev_pfn || l.prev_off != prev_off))
			v++; /* (the head's prev is not kept) */
		keys_push(on_lists, cur.pfn, cur.off);
		prev_pfn = cur.pfn;
		prev_off = cur.off;
		cur.pfn = l.next_pfn;
		cur.off = l.next_off;
	}
	if (steps != t->counts[i])
		v++;
	return v;
}

/* Both bitmap levels agree with each other and with the lists. */
static size_t check_bitmaps(const struct tlsf *t)
{
	size_t v = 0;
	uint32_t w;

	for (w = 0; w < t->sl_words; w++) {
		int bit = (int)((t->fl_bitmap[w / 64] >> (w % 64)) & 1);

		if (bit != (t->sl_bitmap[w] != 0))
			v++;
	}
	/* No bits past the last list or the last second-level word. */
	if (t->nlists % 64 && t->sl_bitmap[t->sl_words - 1] >> (t->nlists % 64))
		v++;
	for (w = t->sl_words; w < (uint32_t)XV_FL_WORDS_MAX * 64; w++)
		if ((t->fl_bitmap[w / 64] >> (w % 64)) & 1)
			v++;
	return v;
}

/* Every page the arena owns: its chain and its record. */
static size_t check_pages(struct xv_pool *pool, struct xv_arena *a, struct tally *tl,
			  struct keys *on_pages)
{
	uint32_t hwm = atomic_load_explicit(&pool->pages.hwm, memory_order_relaxed);
	size_t v = 0;
	uint32_t pfn;

	for (pfn = 0; pfn < hwm; pfn++) {
		if (rec_owner(pages_load(&pool->pages, pfn)) != a->id)
			continue;
		tl->pages++;
		if (!mp_page_valid(pool->src, pfn)) {
			v++; /* we own a page the source says is free */
			continue;
		}
		tl->page_objects = 0;
		tl->used.n = 0;
		v += check_page(&a->tlsf, pfn, tlsf_page(&a->tlsf, pfn), tl, on_pages);
		v += check_record(pool, pfn, tl);
	}
	return v;
}

/* The arena's counters against what the walk found. */
static size_t check_counters(const struct xv_arena *a, const struct tally *tl)
{
	const struct tlsf *t = &a->tlsf;
	size_t v = 0;

	if (tl->pages != atomic_load_explicit(&a->pages, memory_order_relaxed))
		v++;
	if (a->pages_allocated - a->pages_freed != tl->pages)
		v++;
	if (tl->objects != t->objects)
		v++;
	if (tl->bytes_requested != t->bytes_requested)
		v++;
	if (tl->bytes_allocated != t->bytes_allocated)
		v++;
	if (tl->bytes_free != t->bytes_free)
		v++;
	if (t->bytes_allocated + t->bytes_free != tl->pages * t->page_size)
		v++;
	return v;
}

static size_t check_arena_locked(struct xv_pool *pool, struct xv_arena *a)
{
	const struct tlsf *t = &a->tlsf;
	struct keys on_pages = { 0 }, on_lists = { 0 };
	struct tally tl = { 0 };
	size_t v;
	uint32_t i;

	v = check_pages(pool, a, &tl, &on_pages);
	for (i = 0; i < t->nlists; i++)
		v += check_list(pool, a, i, on_pages.n + 1, &on_lists);
	v += check_bitmaps(t);
	if (on_lists.n != t->free_listed)
		v++;
	v += keys_diff(&on_pages, &on_lists);
	v += check_counters(a, &tl);
	free(on_pages.v);
	free(on_lists.v);
	free(tl.used.v);
	return v;
}

/* Records of pages no arena holds are 0; owners name real arenas. */
static size_t check_records(const struct xv_pool *pool)
{
	uint32_t hwm = atomic_load_explicit(&pool->pages.hwm, memory_order_relaxed);
	size_t v = 0;
	uint32_t pfn;

	for (pfn = 0; pfn < hwm; pfn++) {
		uint64_t rec = pages_load(&pool->pages, pfn);

		if (rec_owner(rec) > pool->narenas || (rec && !rec_owner(rec)))
			v++;
	}
	return v;
}

size_t xv_check(struct xv_pool *pool)
{
	size_t v;
	unsigned i;

	if (!pool)
		return 1;
	v = check_records(pool);
	for (i = 0; i < pool->narenas; i++) {
		struct xv_arena *a = pool->arenas[i];

		arena_lock(a);
		v += check_arena_locked(pool, a);
		arena_unlock(a);
	}
	return v;
}

int xv_walk(struct xv_pool *pool, xv_walker fn, void *arg)
{
	uint32_t hwm, pfn;

	if (!pool || !fn)
		return 0;
	hwm = atomic_load_explicit(&pool->pages.hwm, memory_order_relaxed);
	for (pfn = 0; pfn < hwm; pfn++) {
		const unsigned char *page;
		struct xv_arena *a;
		uint32_t off = 0, page_size = pool->page_size;
		int ret = 0;

		if (!rec_owner(pages_load(&pool->pages, pfn)))
			continue;
		a = pool_lock_owner(pool, pfn);
		if (!a)
			continue;
		page = tlsf_page(&a->tlsf, pfn);
		while (off + XV_HDR <= page_size) {
			struct xv_hdr h = xv_hdr_load(page, off);
			uint32_t ext = xv_hdr_extent(h);

			if (off + XV_HDR + ext > page_size)
				break; /* corrupt: xv_check reports it */
			ret = fn(pfn, off + XV_HDR, h.size, !xv_hdr_free(h), arg);
			if (ret)
				break;
			off += XV_HDR + ext;
		}
		arena_unlock(a);
		if (ret)
			return ret;
	}
	return 0;
}
