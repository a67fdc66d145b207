/*
 * tlsf.c - one arena's blocks: free lists, bitmaps, fit, split and merge.
 *
 * Names follow the TLSF paper and its reference code: object_verb. A block
 * is named by <pfn, block offset>; its page is reached through the page
 * source's direct map (arithmetic). Every function here runs under the
 * arena's lock (held by the caller in xvmalloc.c).
 *
 * Page and block layout
 * ---------------------
 * A page is a chain of blocks, each a 4-byte header and a data part. Blocks
 * tile the page exactly; the first starts at offset 0.
 *
 *   0                                                         page_size
 *   +----+-----------+----+------------------+----+---------+----+----+
 *   |hdr | object A  |hdr | free block       |hdr | object B|hdr |frag|
 *   +----+-----------+----+------------------+----+---------+----+----+
 *        ^ <pfn, offset> of A = block offset + 4
 *                         [ link: next/prev pfn + offset | ...unused  ]
 *
 *   hdr.size   used: the size asked for, 1 .. page_size - 4
 *              free: the data bytes of the block (a multiple of 4)
 *   hdr.prev   block offset of the block before | PREV_FREE | BLOCK_FREE
 *              (offsets are multiples of 4, so the two low bits are flags)
 *
 *   extent(used) = max(round_up(size, 4), MIN_BLOCK)  data bytes spanned
 *   extent(free) = size
 *   next block   = block offset + 4 + extent
 *
 * Invariants of every page an arena holds:
 *   sum over the chain of (4 + extent) == page_size
 *   hdr.prev of each block == offset of the block before it (0 for the first)
 *   PREV_FREE of a block == BLOCK_FREE of the block before it
 *   no two free blocks are neighbours (frees merge both ways)
 *   not every block is free (an empty page goes back to the page source)
 *
 * A free block of at least MIN_BLOCK (32) data bytes is on a free list; its
 * list links (pfn and block offset of next and previous) live in its own
 * data part, as in the seed. A free block smaller than that ("fragment", 0..
 * 28 data bytes, the tail left by a split) is on no list: it waits for a
 * neighbour to be freed and merge with it. Every used block spans at least
 * MIN_BLOCK, so freeing one always yields a block a list can hold.
 *
 * Headers are the allocator's, but nothing here proves that an offset is a
 * block: the caller proves an object live from the pool's page records
 * (pages.h) before any header is read.
 *
 * Free lists and the two-level bitmap
 * -----------------------------------
 * List i holds free blocks of data size MIN + 8i .. MIN + 8i + 7 (the floor
 * index). For a 4 KiB page that is 508 lists; for 64 KiB, 8188. Bit i of the
 * second level (sl_bitmap, one u64 per 64 lists) says list i is non-empty;
 * bit w of the first level (fl_bitmap) says sl_bitmap[w] != 0. The first
 * non-empty list at or above any index is a handful of find-first-set
 * instructions: O(1). Every block of a list above the floor list of an
 * extent fits it; a block of the floor list itself may be 4 bytes short.
 *
 * Fit
 * ---
 * Good fit (the first list that fits) packs a churning pool well, but on a
 * first fill it leaves each page a tail that the next objects fit badly:
 * pages of two ~1.6 KiB objects and a ~0.9 KiB hole that waits for a rare
 * small object. The fit here weighs the first XV_FIT_CANDIDATES non-empty
 * lists that fit (the floor list only if its head fits) and a fresh page,
 * and takes the choice that keeps the sum over the lists of count^2 lowest
 * (the Sum-of-Squares rule of Csirik, Johnson, Kenyon, Orlin, Shor and
 * Weber for online bin packing): taking a block of list j and leaving a
 * remainder on list r changes it by
 *
 *   (1 - 2 counts[j]) + (1 + 2 counts[r])      (no counted r: first term)
 *
 * and a fresh page by 1 + 2 counts[r0] (r0: its remainder's list). Holes of
 * sizes many others have are used up first, and a remainder is left where
 * few are, so that holes of every size stay available for the sizes that
 * come; a fresh page is taken where every fitting hole would leave a
 * remainder of a crowded size. Remainders under XV_FIT_REST_MIN data bytes
 * are not counted (they are waste whatever the fit does, and a churning
 * pool piles them up). The rule is for bin packing without departures:
 * the fresh page is an option only while frees are under
 * XV_FIT_GROW_FREES of the arena's recent calls (free_rate), that is while
 * the pool fills; in a churning pool the holes that frees leave are what
 * to fill, and the fit weighs only them. A block of list j > floor is
 * costed at list j's least size, so that no page but the chosen block's is
 * touched. On a million objects drawn from each bundled trace, this packs
 * a first fill within 0.3 to 0.9 points of an offline best-fit-decreasing
 * packing of the same objects into single pages, where good fit was up to
 * 4.2 points above it.
 *
 * Split and merge
 * ---------------
 * block_take puts an object at the start of the chosen free block and
 * block_split turns the rest into a free block (on a list, or a fragment).
 * A free merges the block with a free block after it (block_merge_next)
 * and one before it (block_merge_prev); each neighbour leaves its list
 * first. A page whose blocks are all free goes back to the caller.
 */
#include "xvmalloc/tlsf.h"

#include <errno.h>
#include <stddef.h>

#include "xvmalloc/internal.h"

/* Start fetching the line of block <pfn, off> (header and link): the loads
 * and stores that need it come a little later, so misses overlap. */
static void block_prefetch(const struct tlsf *t, uint32_t pfn, uint32_t off)
{
	if (pfn != XV_NIL_PFN)
		__builtin_prefetch(tlsf_page(t, pfn) + off, 1);
}

void tlsf_sizes(uint32_t page_size, uint32_t *nlists, uint32_t *sl_words)
{
	uint32_t n = ((page_size - XV_HDR - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT) + 1;

	*nlists = n;
	*sl_words = (n + 63) / 64;
}

void tlsf_init(struct tlsf *t, struct mp_source *src, uint32_t page_size, struct xv_ref *heads,
	       uint32_t *counts, uint64_t *sl_bitmap)
{
	uint32_t i;

	memset(t, 0, sizeof(*t));
	t->src = src;
	t->base = mp_direct_map(src);
	t->page_size = page_size;
	t->page_shift = (uint32_t)__builtin_ctz(page_size);
	t->max_data = page_size - XV_HDR;
	tlsf_sizes(page_size, &t->nlists, &t->sl_words);
	t->fl_words = (t->sl_words + 63) / 64;
	t->heads = heads;
	t->counts = counts;
	t->sl_bitmap = sl_bitmap;
	for (i = 0; i < t->nlists; i++) {
		heads[i].pfn = XV_NIL_PFN;
		heads[i].off = 0;
		counts[i] = 0;
	}
	memset(sl_bitmap, 0, t->sl_words * sizeof(*sl_bitmap));
}

/* Floor mapping: list i holds data sizes MIN + i*DELTA .. + DELTA - 1. */
uint32_t tlsf_list_index(const struct tlsf *t, uint32_t size)
{
	if (size > t->max_data)
		size = t->max_data;
	return (size - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT;
}

/* ---- The two-level bitmap ------------------------------------------- */

static void bitmap_set(struct tlsf *t, uint32_t i)
{
	t->sl_bitmap[i / 64] |= (uint64_t)1 << (i % 64);
	t->fl_bitmap[i / 4096] |= (uint64_t)1 << ((i / 64) % 64);
}

static void bitmap_clear(struct tlsf *t, uint32_t i)
{
	t->sl_bitmap[i / 64] &= ~((uint64_t)1 << (i % 64));
	if (!t->sl_bitmap[i / 64])
		t->fl_bitmap[i / 4096] &= ~((uint64_t)1 << ((i / 64) % 64));
}

static int bitmap_test(const struct tlsf *t, uint32_t i)
{
	return (int)((t->sl_bitmap[i / 64] >> (i % 64)) & 1);
}

/* ---- Free lists -------------------------------------------------------- */

/*
 * The head of a list is the block heads[i] names; its link's prev is not
 * kept (stale), so taking the head never touches the next block's page.
 * Every other block's prev is exact.
 */
static int freelist_is_head(const struct tlsf *t, uint32_t i, uint32_t pfn, uint32_t off)
{
	return t->heads[i].pfn == pfn && t->heads[i].off == off;
}

/* The page of list neighbour @pfn: @page if it is the same page. */
static unsigned char *freelist_page(const struct tlsf *t, uint32_t pfn, uint32_t this_pfn,
				    unsigned char *page)
{
	return pfn == this_pfn ? page : tlsf_page(t, pfn);
}

/* Push the free block <pfn, off> of data @size on the front of its list. */
static void freelist_insert(struct tlsf *t, uint32_t pfn, unsigned char *page, uint32_t off,
			    uint32_t size)
{
	uint32_t i = tlsf_list_index(t, size);
	struct xv_ref head = t->heads[i];
	struct xv_link l = {
		.next_pfn = head.pfn,
		.prev_pfn = XV_NIL_PFN,
		.next_off = (uint16_t)head.off,
		.prev_off = 0,
	};

	XV_ASSERT(size >= XV_MIN_BLOCK && "only blocks of MIN bytes are listed");
	xv_link_store(page, off, l);
	if (head.pfn != XV_NIL_PFN) {
		/* The old head is no longer one: its prev must be exact. */
		xv_link_store_prev(freelist_page(t, head.pfn, pfn, page), head.off, pfn, off);
	} else {
		bitmap_set(t, i);
	}
	t->heads[i].pfn = pfn;
	t->heads[i].off = off;
	t->counts[i]++;
	t->free_listed++;
}

/* Unlink the free block <pfn, off> of data @size from its list. */
static void freelist_remove(struct tlsf *t, uint32_t pfn, unsigned char *page, uint32_t off,
			    uint32_t size)
{
	uint32_t i = tlsf_list_index(t, size);
	struct xv_link l = xv_link_load(page, off);

	XV_ASSERT(t->counts[i] > 0 && "the block is on its list");
	t->counts[i]--;
	t->free_listed--;
	if (freelist_is_head(t, i, pfn, off)) {
		/* The next block becomes the head: its prev may go stale. */
		t->heads[i].pfn = l.next_pfn;
		t->heads[i].off = l.next_off;
		if (l.next_pfn == XV_NIL_PFN)
			bitmap_clear(t, i);
		return;
	}
	/* Both neighbours' links are written, not read: no wait for their
	 * lines. */
	xv_link_store_next(freelist_page(t, l.prev_pfn, pfn, page), l.prev_off, l.next_pfn,
			   l.next_off);
	if (l.next_pfn != XV_NIL_PFN)
		xv_link_store_prev(freelist_page(t, l.next_pfn, pfn, page), l.next_off, l.prev_pfn,
				   l.prev_off);
}

/* ---- Fit --------------------------------------------------------------- */

/* The part of a fit's cost that its remainder adds: a block of @g data
 * bytes keeps @ext, and what is left joins a list if it holds MIN. */
static int32_t fit_rest_cost(const struct tlsf *t, uint32_t g, uint32_t ext)
{
	if (g < ext + XV_HDR + XV_FIT_REST_MIN)
		return 0;
	return 1 + 2 * (int32_t)t->counts[(g - ext - XV_HDR - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT];
}

/*
 * fit_cost - the change of the sum of squares of the list counts when a
 * block of list @j with @g data bytes takes an extent of @ext (see "Fit"
 * above). The remainder's list is always below @j (ext >= MIN > DELTA), so
 * the two counts are distinct.
 */
static int32_t fit_cost(const struct tlsf *t, uint32_t j, uint32_t g, uint32_t ext)
{
	return 1 - 2 * (int32_t)t->counts[j] + fit_rest_cost(t, g, ext);
}

/*
 * Walk the non-empty lists from the second-level word @w, whose bits not
 * yet visited are *@bits: the next list's index, or -1 after the last.
 */
static int64_t fit_next_list(const struct tlsf *t, uint32_t *w, uint64_t *bits)
{
	while (!*bits) {
		uint32_t f = (*w + 1) / 64;
		uint64_t fl;

		if (*w + 1 >= t->sl_words)
			return -1;
		fl = t->fl_bitmap[f] & (~(uint64_t)0 << ((*w + 1) % 64));
		while (!fl) {
			if (++f >= t->fl_words)
				return -1;
			fl = t->fl_bitmap[f];
		}
		*w = f * 64 + (uint32_t)__builtin_ctzll(fl);
		*bits = t->sl_bitmap[*w];
	}
	{
		uint32_t j = *w * 64 + (uint32_t)__builtin_ctzll(*bits);

		*bits &= *bits - 1;
		return j;
	}
}

/*
 * The cheapest of the first XV_FIT_CANDIDATES non-empty lists above @i,
 * each costed at its least block size, MIN + (j << SHIFT); -1 if there is
 * none. *best: its cost, if lower than *best on entry. A block of list j
 * then leaves a listed remainder iff j >= d = ceil((ext + HDR) / DELTA),
 * on list j - d: fit_cost() without its divisions.
 */
static int64_t fit_scan_above(const struct tlsf *t, uint32_t i, uint32_t ext, int32_t *best)
{
	uint32_t first = i + 1, w = first / 64, n;
	uint32_t d = (ext + XV_HDR + XV_FL_DELTA - 1) >> XV_FL_DELTA_SHIFT;
	uint32_t rest_min = (XV_FIT_REST_MIN - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT;
	const uint32_t *counts = t->counts;
	uint64_t bits = 0;
	int64_t j, bj = -1;

	if (first < t->nlists)
		bits = t->sl_bitmap[w] & (~(uint64_t)0 << (first % 64));
	for (n = 0; n < XV_FIT_CANDIDATES; n++) {
		int32_t c, counted;

		j = fit_next_list(t, &w, &bits);
		if (j < 0)
			break;
		/* Branch-free: which list wins is data, not a pattern. */
		counted = (uint32_t)j >= d + rest_min;
		c = 1 - 2 * (int32_t)counts[j] +
		    counted * (1 + 2 * (int32_t)counts[counted ? j - d : 0]);
		bj = c < *best ? j : bj;
		*best = c < *best ? c : *best;
	}
	return bj;
}

/* Load the head of list @j into @fit, and start fetching what taking it
 * will touch: the block after it and the head of its remainder's list. */
static void fit_load_head(const struct tlsf *t, uint32_t j, uint32_t ext, struct tlsf_fit *fit)
{
	uint32_t end;

	fit->ref = t->heads[j];
	fit->page = tlsf_page(t, fit->ref.pfn);
	fit->hdr = xv_hdr_load(fit->page, fit->ref.off);
	end = fit->ref.off + XV_HDR + fit->hdr.size;
	if (end < t->page_size)
		__builtin_prefetch(fit->page + end, 1);
	if (fit->hdr.size >= ext + XV_HDR + XV_MIN_BLOCK) {
		uint32_t r = tlsf_list_index(t, fit->hdr.size - ext - XV_HDR);

		block_prefetch(t, t->heads[r].pfn, t->heads[r].off);
	}
}

int tlsf_fit_locked(const struct tlsf *t, uint32_t size, int may_grow, struct tlsf_fit *fit)
{
	uint32_t ext = xv_used_extent(size);
	uint32_t i = (ext - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT;
	int32_t best = INT32_MAX;
	int64_t bj = -1, above;

	fit->fresh_page = 0;
	if (bitmap_test(t, i)) {
		/* The floor list's blocks may be 4 bytes short: its head
		 * decides, at its exact size. */
		fit_load_head(t, i, ext, fit);
		if (fit->hdr.size >= ext) {
			best = fit_cost(t, i, fit->hdr.size, ext);
			bj = i;
		}
	}
	above = fit_scan_above(t, i, ext, &best);
	if (above >= 0)
		bj = above;
	if (may_grow && (bj < 0 || (t->free_rate < XV_FIT_GROW_FREES &&
				    fit_rest_cost(t, t->max_data, ext) < best))) {
		fit->ref.pfn = XV_NIL_PFN; /* a fresh page: no list loses one */
		fit->fresh_page = 1;
		return 0;
	}
	if (bj < 0) {
		fit->ref.pfn = XV_NIL_PFN;
		return -ENOMEM;
	}
	if (above >= 0)
		fit_load_head(t, (uint32_t)bj, ext, fit);
	XV_ASSERT(fit->hdr.size >= ext && xv_hdr_free(fit->hdr) &&
		  "the fit's block is free and large enough");
	return 0;
}

/* ---- Split and take ---------------------------------------------------- */

/* Tell the block at @next, if the page has one there, that the block before
 * it starts at @prev and whether that one is free. Only a used block
 * follows the block a split or a free changes (no two free neighbours), so
 * its BLOCK_FREE is clear and the prev half is written without a read. */
static void block_set_prev(const struct tlsf *t, unsigned char *page, uint32_t next, uint32_t prev,
			   int prev_free)
{
	if (next >= t->page_size)
		return;
	XV_ASSERT(!xv_hdr_free(xv_hdr_load(page, next)) &&
		  "a used block follows the block that changed");
	xv_hdr_store_prev(page, next, prev | (prev_free ? XV_PREV_FREE : 0));
}

/*
 * block_split - the free block at @off (@h: data h.size, off its list) keeps
 * @ext data bytes; the rest (at least a header) becomes a free block after
 * it: on a list if at least MIN, else a fragment.
 */
static void block_split(struct tlsf *t, uint32_t pfn, unsigned char *page, uint32_t off,
			struct xv_hdr h, uint32_t ext)
{
	uint32_t roff = off + XV_HDR + ext;
	uint32_t rsize = h.size - ext - XV_HDR;
	struct xv_hdr r = {
		.size = (uint16_t)rsize,
		.prev = (uint16_t)(off | XV_BLOCK_FREE),
	};

	XV_ASSERT(h.size >= ext + XV_HDR && "a split leaves at least a header");
	xv_hdr_store(page, roff, r);
	if (rsize >= XV_MIN_BLOCK)
		freelist_insert(t, pfn, page, roff, rsize);
	block_set_prev(t, page, roff + XV_HDR + rsize, roff, 1);
}

/*
 * block_take - turn the free block at @off (header @h, already off its
 * list) into a used block for @size: split off the rest, or (exact fit)
 * tell the next block its neighbour is in use; update the counters.
 */
static void block_take(struct tlsf *t, uint32_t pfn, unsigned char *page, uint32_t off,
		       struct xv_hdr h, uint32_t size)
{
	uint32_t ext = xv_used_extent(size);

	XV_ASSERT(!(h.prev & XV_PREV_FREE) && "no free block before a free one");
	if (h.size - ext >= XV_HDR)
		block_split(t, pfn, page, off, h, ext);
	else /* exact: h.size - ext is a multiple of ALIGN, so 0 */
		block_set_prev(t, page, off + XV_HDR + h.size, off, 0);
	h.size = (uint16_t)size;
	h.prev = (uint16_t)xv_hdr_prev_off(h);
	xv_hdr_store(page, off, h);

	t->objects++;
	t->bytes_requested += size;
	t->bytes_allocated += XV_HDR + ext;
	t->bytes_free -= XV_HDR + ext;
}

/* The share of frees among the arena's recent calls, 16-bit fixed point,
 * a moving average over about 128 calls. */
static void free_rate_step(struct tlsf *t, uint32_t is_free)
{
	t->free_rate += (int32_t)((is_free << 16) - t->free_rate) >> 7;
}

void tlsf_take_locked(struct tlsf *t, const struct tlsf_fit *fit, uint32_t size, struct xv_ref *out)
{
	free_rate_step(t, 0);
	freelist_remove(t, fit->ref.pfn, fit->page, fit->ref.off, fit->hdr.size);
	block_take(t, fit->ref.pfn, fit->page, fit->ref.off, fit->hdr, size);
	*out = fit->ref;
}

void tlsf_page_add_malloc_locked(struct tlsf *t, uint32_t pfn, uint32_t size, struct xv_ref *out)
{
	unsigned char *page = tlsf_page(t, pfn);
	struct xv_hdr h = {
		.size = (uint16_t)t->max_data,
		.prev = XV_BLOCK_FREE,
	};

	xv_hdr_store(page, 0, h);
	t->bytes_free += t->page_size;
	free_rate_step(t, 0);
	block_take(t, pfn, page, 0, h, size);
	out->pfn = pfn;
	out->off = 0;
}

/* ---- Free and merge ---------------------------------------------------- */

/* A free block being formed: its start, data bytes and the block before. */
struct span {
	uint32_t start;
	uint32_t size;
	uint32_t prev;
};

/* The offset just past the span: the next block, or page_size. */
static uint32_t span_end(const struct span *s)
{
	return s->start + XV_HDR + s->size;
}

/* block_merge_next - if the block after the span is free, take it off its
 * list and into the span. */
static void block_merge_next(struct tlsf *t, uint32_t pfn, unsigned char *page, struct span *s)
{
	uint32_t end = span_end(s);
	struct xv_hdr n;

	if (end >= t->page_size)
		return;
	n = xv_hdr_load(page, end);
	if (!xv_hdr_free(n))
		return;
	if (n.size >= XV_MIN_BLOCK)
		freelist_remove(t, pfn, page, end, n.size);
	s->size += XV_HDR + n.size;
}

/* block_merge_prev - the block before the span is free (PREV_FREE): take
 * it off its list and let the span start there. */
static void block_merge_prev(struct tlsf *t, uint32_t pfn, unsigned char *page, struct span *s)
{
	struct xv_hdr p = xv_hdr_load(page, s->prev);

	XV_ASSERT(xv_hdr_free(p) && "PREV_FREE names a free block");
	if (p.size >= XV_MIN_BLOCK)
		freelist_remove(t, pfn, page, s->prev, p.size);
	s->size += XV_HDR + p.size;
	s->start = s->prev;
	s->prev = xv_hdr_prev_off(p);
}

/* block_mark_free - write the span as one free block, list it, and tell
 * the (used) block after it. */
static void block_mark_free(struct tlsf *t, uint32_t pfn, unsigned char *page, const struct span *s)
{
	struct xv_hdr h = {
		.size = (uint16_t)s->size,
		.prev = (uint16_t)(s->prev | XV_BLOCK_FREE),
	};

	xv_hdr_store(page, s->start, h);
	if (s->size >= XV_MIN_BLOCK)
		freelist_insert(t, pfn, page, s->start, s->size);
	block_set_prev(t, page, span_end(s), s->start, 1);
}

int tlsf_free_locked(struct tlsf *t, uint32_t pfn, uint32_t off)
{
	unsigned char *page = tlsf_page(t, pfn);
	struct xv_hdr h = xv_hdr_load(page, off);
	uint32_t ext = xv_used_extent(h.size);
	struct span s = { off, ext, xv_hdr_prev_off(h) };

	XV_ASSERT(!xv_hdr_free(h) && h.size && h.size <= t->max_data &&
		  "only a live object is freed");
	free_rate_step(t, 1);
	t->objects--;
	t->bytes_requested -= h.size;
	t->bytes_allocated -= XV_HDR + ext;
	t->bytes_free += XV_HDR + ext;

	/* Both neighbours' misses at once. */
	if (span_end(&s) < t->page_size)
		__builtin_prefetch(page + span_end(&s), 1);
	if (h.prev & XV_PREV_FREE)
		__builtin_prefetch(page + s.prev, 1);
	block_merge_next(t, pfn, page, &s);
	if (h.prev & XV_PREV_FREE)
		block_merge_prev(t, pfn, page, &s);
	if (s.start == 0 && s.size == t->max_data) {
		t->bytes_free -= t->page_size;
		return 1; /* the page is empty: the caller gives it back */
	}
	block_mark_free(t, pfn, page, &s);
	return 0;
}
