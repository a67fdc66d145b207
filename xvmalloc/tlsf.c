/*
 * tlsf.c - one arena's free lists, bitmaps, find, split and merge.
 *
 * Names follow the TLSF paper and its reference code: object_verb. A block
 * is named by <pfn, block offset>; its page is reached through mp_kmap(),
 * which is arithmetic on the direct map. Every function here runs under the
 * arena's lock (held by the caller in xvmalloc.c).
 */
#include "xvmalloc/tlsf.h"

#include <errno.h>
#include <stddef.h>

static unsigned char *page_kmap(const struct tlsf *t, uint32_t pfn)
{
	/* Only pages the arena owns get here: never NULL. */
	return mp_kmap(t->src, pfn);
}

/* Start fetching the line of block <pfn, off> (header and link): the loads
 * and stores that need it come a little later, so misses overlap. */
static void block_prefetch(const struct tlsf *t, uint32_t pfn, uint32_t off)
{
	if (pfn != XV_NIL_PFN)
		__builtin_prefetch(page_kmap(t, pfn) + off, 1);
}

void tlsf_sizes(uint32_t page_size, uint32_t *nlists, uint32_t *sl_words)
{
	uint32_t n = ((page_size - XV_HDR - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT)
		     + 1;

	*nlists = n;
	*sl_words = (n + 63) / 64;
}

void tlsf_init(struct tlsf *t, struct mp_source *src, uint32_t page_size,
	       struct xv_ref *heads, uint64_t *sl_bitmap)
{
	uint32_t i;

	memset(t, 0, sizeof(*t));
	t->src = src;
	t->page_size = page_size;
	t->max_data = page_size - XV_HDR;
	tlsf_sizes(page_size, &t->nlists, &t->sl_words);
	t->fl_words = (t->sl_words + 63) / 64;
	t->heads = heads;
	t->sl_bitmap = sl_bitmap;
	for (i = 0; i < t->nlists; i++) {
		heads[i].pfn = XV_NIL_PFN;
		heads[i].off = 0;
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

/* First non-empty list with index >= @i, or -1. Two word scans at most
 * beyond the first-level loop (which is one word for pages up to 32 KiB). */
static int64_t bitmap_find_from(const struct tlsf *t, uint32_t i)
{
	uint64_t bits;
	uint32_t w, f;

	if (i >= t->nlists)
		return -1;
	w = i / 64;
	bits = t->sl_bitmap[w] & (~(uint64_t)0 << (i % 64));
	if (bits)
		return (int64_t)w * 64 + __builtin_ctzll(bits);
	for (w = w + 1, f = w / 64; f < t->fl_words; f++, w = f * 64) {
		bits = t->fl_bitmap[f] & (~(uint64_t)0 << (w % 64));
		if (bits) {
			w = f * 64 + (uint32_t)__builtin_ctzll(bits);
			return (int64_t)w * 64 +
			       __builtin_ctzll(t->sl_bitmap[w]);
		}
	}
	return -1;
}

/*
 * The head of a list is the block heads[i] names; its link's prev is not
 * kept (stale), so taking the head never touches the next block's page.
 * Every other block's prev is exact.
 */
static int freelist_is_head(const struct tlsf *t, uint32_t i, uint32_t pfn,
			    uint32_t off)
{
	return t->heads[i].pfn == pfn && t->heads[i].off == off;
}

/* Push the free block <pfn, off> of data @size on the front of its list. */
static void freelist_insert(struct tlsf *t, uint32_t pfn, unsigned char *page,
			    uint32_t off, uint32_t size)
{
	uint32_t i = tlsf_list_index(t, size);
	struct xv_ref head = t->heads[i];
	struct xv_link l = {
		.next_pfn = head.pfn,
		.prev_pfn = XV_NIL_PFN,
		.next_off = (uint16_t)head.off,
		.prev_off = 0,
	};

	xv_link_store(page, off, l);
	if (head.pfn != XV_NIL_PFN) {
		/* The old head is no longer one: its prev must be exact. */
		unsigned char *hp = head.pfn == pfn ? page
						    : page_kmap(t, head.pfn);
		struct xv_link hl = xv_link_load(hp, head.off);

		hl.prev_pfn = pfn;
		hl.prev_off = (uint16_t)off;
		xv_link_store(hp, head.off, hl);
	} else {
		bitmap_set(t, i);
	}
	t->heads[i].pfn = pfn;
	t->heads[i].off = off;
	t->free_listed++;
}

/* Unlink the free block <pfn, off> of data @size from its list. */
static void freelist_remove(struct tlsf *t, uint32_t pfn, unsigned char *page,
			    uint32_t off, uint32_t size)
{
	uint32_t i = tlsf_list_index(t, size);
	struct xv_link l = xv_link_load(page, off);
	unsigned char *np = NULL;

	t->free_listed--;
	if (freelist_is_head(t, i, pfn, off)) {
		/* The next block becomes the head: its prev may go stale. */
		t->heads[i].pfn = l.next_pfn;
		t->heads[i].off = l.next_off;
		if (l.next_pfn == XV_NIL_PFN)
			bitmap_clear(t, i);
		return;
	}
	if (l.next_pfn != XV_NIL_PFN) {
		np = l.next_pfn == pfn ? page : page_kmap(t, l.next_pfn);
		__builtin_prefetch(np + l.next_off, 1); /* overlap both misses */
	}
	{
		unsigned char *pp = l.prev_pfn == pfn ? page
						      : page_kmap(t, l.prev_pfn);
		struct xv_link pl = xv_link_load(pp, l.prev_off);

		pl.next_pfn = l.next_pfn;
		pl.next_off = l.next_off;
		xv_link_store(pp, l.prev_off, pl);
	}
	if (np) {
		struct xv_link nl = xv_link_load(np, l.next_off);

		nl.prev_pfn = l.prev_pfn;
		nl.prev_off = l.prev_off;
		xv_link_store(np, l.next_off, nl);
	}
}

/*
 * A free block of data at least @ext: first the head of the floor list of
 * @ext (its blocks may fit: checked on the head only), then the first
 * non-empty list above it, whose every block fits. Stores the block and its
 * header; returns 0, or -ENOMEM.
 */
static int freelist_find(const struct tlsf *t, uint32_t ext,
			 struct xv_ref *ref, struct xv_hdr *hdr,
			 unsigned char **page)
{
	uint32_t i = (ext - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT;
	int64_t j;

	if (bitmap_test(t, i)) {
		*ref = t->heads[i];
		*page = page_kmap(t, ref->pfn);
		*hdr = xv_hdr_load(*page, ref->off);
		if (hdr->size >= ext)
			return 0;
	}
	j = bitmap_find_from(t, i + 1);
	if (j < 0)
		return -ENOMEM;
	*ref = t->heads[j];
	*page = page_kmap(t, ref->pfn);
	*hdr = xv_hdr_load(*page, ref->off);
	return 0;
}

/*
 * block_take - turn the free block at @off (header @h, already off its list)
 * into a used block for @size: split off the tail beyond the object's
 * extent as a new free block (on a list if at least MIN), fix the next
 * block's back link and PREV_FREE flag, update the counters.
 */
static void block_take(struct tlsf *t, uint32_t pfn, unsigned char *page,
		       uint32_t off, struct xv_hdr h, uint32_t size)
{
	uint32_t ext = xv_used_extent(size);
	uint32_t rest = h.size - ext;
	uint32_t end = off + XV_HDR + h.size; /* the next block, or page end */

	if (rest >= XV_HDR) {
		/* block_split */
		uint32_t roff = off + XV_HDR + ext;
		uint32_t rsize = rest - XV_HDR;
		struct xv_hdr r = {
			.size = (uint16_t)rsize,
			.prev = (uint16_t)(off | XV_BLOCK_FREE),
		};

		xv_hdr_store(page, roff, r);
		if (rsize >= XV_MIN_BLOCK)
			freelist_insert(t, pfn, page, roff, rsize);
		if (end < t->page_size) {
			struct xv_hdr n = xv_hdr_load(page, end);

			n.prev = (uint16_t)(roff | XV_PREV_FREE |
					    (n.prev & XV_BLOCK_FREE));
			xv_hdr_store(page, end, n);
		}
	} else if (end < t->page_size) {
		/* Exact fit (rest is a multiple of ALIGN, so 0): the next
		 * block's neighbour is now in use. */
		struct xv_hdr n = xv_hdr_load(page, end);

		n.prev &= (uint16_t)~XV_PREV_FREE;
		xv_hdr_store(page, end, n);
	}
	/* A free block never follows a free block: PREV_FREE is clear. */
	h.size = (uint16_t)size;
	h.prev = (uint16_t)xv_hdr_prev_off(h);
	xv_hdr_store(page, off, h);

	t->objects++;
	t->bytes_requested += size;
	t->bytes_allocated += XV_HDR + ext;
	t->bytes_free -= XV_HDR + ext;
}

int tlsf_malloc_locked(struct tlsf *t, uint32_t size, struct xv_ref *out)
{
	uint32_t ext = xv_used_extent(size);
	unsigned char *page;
	struct xv_hdr h;
	struct xv_ref ref;

	if (freelist_find(t, ext, &ref, &h, &page))
		return -ENOMEM;
	if (ref.off + XV_HDR + h.size < t->page_size)
		__builtin_prefetch(page + ref.off + XV_HDR + h.size, 1);
	if (h.size - ext >= XV_HDR + XV_MIN_BLOCK) {
		uint32_t i = tlsf_list_index(t, h.size - ext - XV_HDR);

		block_prefetch(t, t->heads[i].pfn, t->heads[i].off);
	}
	freelist_remove(t, ref.pfn, page, ref.off, h.size);
	block_take(t, ref.pfn, page, ref.off, h, size);
	*out = ref;
	return 0;
}

void tlsf_page_add_malloc_locked(struct tlsf *t, uint32_t pfn, uint32_t size,
				 struct xv_ref *out)
{
	unsigned char *page = page_kmap(t, pfn);
	struct xv_hdr h = {
		.size = (uint16_t)t->max_data,
		.prev = XV_BLOCK_FREE,
	};

	xv_hdr_store(page, 0, h);
	t->bytes_free += t->page_size;
	block_take(t, pfn, page, 0, h, size);
	out->pfn = pfn;
	out->off = 0;
}

int tlsf_free_locked(struct tlsf *t, uint32_t pfn, unsigned char *page,
		     uint32_t off)
{
	struct xv_hdr h = xv_hdr_load(page, off);
	uint32_t ext = xv_used_extent(h.size);
	uint32_t start = off, size = ext, prev = xv_hdr_prev_off(h);
	uint32_t end = off + XV_HDR + ext;

	t->objects--;
	t->bytes_requested -= h.size;
	t->bytes_allocated -= XV_HDR + ext;
	t->bytes_free += XV_HDR + ext;

	/* block_merge_next */
	if (end < t->page_size) {
		struct xv_hdr n = xv_hdr_load(page, end);

		if (xv_hdr_free(n)) {
			if (n.size >= XV_MIN_BLOCK)
				freelist_remove(t, pfn, page, end, n.size);
			size += XV_HDR + n.size;
			end += XV_HDR + n.size;
		}
	}
	/* block_merge_prev */
	if (h.prev & XV_PREV_FREE) {
		struct xv_hdr p = xv_hdr_load(page, prev);

		if (p.size >= XV_MIN_BLOCK)
			freelist_remove(t, pfn, page, prev, p.size);
		size += XV_HDR + p.size;
		start = prev;
		prev = xv_hdr_prev_off(p);
	}
	if (start == 0 && size == t->max_data) {
		t->bytes_free -= t->page_size;
		return 1; /* the page is empty: the caller gives it back */
	}
	h.size = (uint16_t)size;
	h.prev = (uint16_t)(prev | XV_BLOCK_FREE);
	xv_hdr_store(page, start, h);
	if (size >= XV_MIN_BLOCK)
		freelist_insert(t, pfn, page, start, size);
	if (end < t->page_size) {
		/* The block after a merged free block is in use. */
		struct xv_hdr n = xv_hdr_load(page, end);

		n.prev = (uint16_t)(start | XV_PREV_FREE);
		xv_hdr_store(page, end, n);
	}
	return 0;
}

int tlsf_find_live_locked(const struct tlsf *t, const unsigned char *page,
			  uint32_t obj_off, struct xv_hdr *hdr)
{
	uint32_t target, off = 0;
	struct xv_hdr h;

	if ((obj_off & (XV_ALIGN - 1)) || obj_off < XV_HDR ||
	    obj_off > t->page_size - XV_MIN_BLOCK)
		return -EINVAL;
	target = obj_off - XV_HDR;
	/* Only headers the chain leads to are read: a wrong offset may point
	 * into an object whose owner is writing it without the lock. Each
	 * step moves at least HDR bytes on: the loop is bounded. */
	while (off < target)
		off += XV_HDR + xv_hdr_extent(xv_hdr_load(page, off));
	if (off != target)
		return -EINVAL;
	h = xv_hdr_load(page, target);
	if (xv_hdr_free(h) || h.size == 0 || h.size > t->max_data ||
	    target + XV_HDR + xv_used_extent(h.size) > t->page_size)
		return -EINVAL; /* free, or a header a stray write corrupted */
	/* A free will need the block after it. */
	if (target + XV_HDR + xv_used_extent(h.size) < t->page_size)
		__builtin_prefetch(page + target + XV_HDR +
				   xv_used_extent(h.size), 1);
	*hdr = h;
	return 0;
}
