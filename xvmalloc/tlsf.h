/*
 * tlsf.h - one arena's blocks, free lists and bitmaps (internal to xvmalloc).
 *
 * A struct tlsf is a complete two-level segregated-fit instance over pages of
 * one page source. It knows nothing of locks, threads or which pages it owns:
 * the caller (xvmalloc.c) holds the arena's lock around every call here
 * ("_locked" functions), hands in fresh pages and gives back empty ones.
 * tlsf.c opens with the layout these functions keep.
 */
#ifndef ZSALLOC_XVMALLOC_TLSF_H
#define ZSALLOC_XVMALLOC_TLSF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mapping/mapping.h"

/* ------------------------------------------------------------------------
 * Tunables. Each may be overridden with -D; the asserts below bound them.
 * ------------------------------------------------------------------------ */

/* Smallest data part of any block that can hold an object, and of any free
 * block a free list holds: it must fit the free-list link (12 bytes), and it
 * is the floor of every object's block (objects of 1..32 bytes take 32). */
#ifndef XV_MIN_BLOCK
#define XV_MIN_BLOCK 32u
#endif

/* Free lists are XV_FL_DELTA bytes of data size apart (the seed: 8). */
#ifndef XV_FL_DELTA_SHIFT
#define XV_FL_DELTA_SHIFT 3u
#endif

/* Largest supported page (runtime page sizes up to this work): 64 KiB, the
 * most a u16 size field and a u16 offset can describe. */
#ifndef XV_PAGE_SHIFT_MAX
#define XV_PAGE_SHIFT_MAX 16u
#endif

/* Non-empty free lists the fit weighs besides a fresh page (see "Fit" in
 * tlsf.c). The fresh page is what wins a first fill; with it gated on the
 * free rate (XV_FIT_GROW_FREES), 1, 2, 4 and 8 packed within 0.5 points
 * of each other on the bundled traces after fill and after churn, and
 * each list weighed costs ~20 instructions. */
#ifndef XV_FIT_CANDIDATES
#define XV_FIT_CANDIDATES 2u
#endif

/* A remainder of fewer data bytes than this is waste to the fit, not a
 * hole whose list it keeps balanced (see "Fit" in tlsf.c): holes of a
 * few dozen bytes pile up in a churning pool, since few objects are that
 * small, and counting them made the fit take fresh pages rather than
 * fill holes tightly. 96 gave up 0.3 to 0.5 points of the first fill's
 * gain and held the churn within 0.5 points of good fit's on the bundled
 * traces. */
#ifndef XV_FIT_REST_MIN
#define XV_FIT_REST_MIN 96u
#endif

/* The fit prefers a fresh page over a fitting block only while frees are
 * fewer than this share (of 1 << 16) of the arena's recent calls: while
 * the pool grows. In a churning pool the holes frees leave are the room
 * to use, and a fresh page taken beside them stays: with the preference
 * always on, the python trace (10k objects) held 109.3 % of its live bytes
 * after churn, against 104.3 % with good fit; 1/8 held 104.5 % and kept
 * the first fill's gain whole on every bundled trace. */
#ifndef XV_FIT_GROW_FREES
#define XV_FIT_GROW_FREES 8192
#endif

/* Smallest supported page. */
#define XV_PAGE_SHIFT_MIN 12u

/* ------------------------------------------------------------------------
 * Fixed by the block format (not tunable).
 * ------------------------------------------------------------------------ */

#define XV_HDR 4u             /* block header: u16 size, u16 prev | flags */
#define XV_ALIGN 4u           /* block and object alignment */
#define XV_BLOCK_FREE 0x1u    /* prev field: this block is free */
#define XV_PREV_FREE 0x2u     /* prev field: the block before it is free */
#define XV_FLAGS_MASK 0x3u    /* both flags; the rest is the prev offset */
#define XV_NIL_PFN UINT32_MAX /* "no block" in links and list heads */

#define XV_FL_DELTA (1u << XV_FL_DELTA_SHIFT)
#define XV_PAGE_MAX (1u << XV_PAGE_SHIFT_MAX)
/* Free lists for the largest page: data sizes MIN .. PAGE_MAX - HDR. */
#define XV_NLISTS_MAX (((XV_PAGE_MAX - XV_HDR - XV_MIN_BLOCK) >> XV_FL_DELTA_SHIFT) + 1u)
#define XV_SL_WORDS_MAX ((XV_NLISTS_MAX + 63u) / 64u)
#define XV_FL_WORDS_MAX ((XV_SL_WORDS_MAX + 63u) / 64u)

/*
 * A free block's link to its neighbours on its free list, stored in the
 * block's data part right after the header. Block offsets (not object
 * offsets) name blocks inside their page.
 */
struct xv_link {
	uint32_t next_pfn; /* next block on the list; XV_NIL_PFN: last */
	uint32_t prev_pfn; /* previous block on the list; stale in the head */
	uint16_t next_off; /* block offset of next in its page */
	uint16_t prev_off; /* block offset of prev in its page */
};

/* The 4-byte header in front of every block. */
struct xv_hdr {
	uint16_t size; /* used: size asked for (1..max); free: data bytes */
	uint16_t prev; /* offset of the block before (0 for the first) | flags */
};

/* A block named by page and block offset (the header's offset). */
struct xv_ref {
	uint32_t pfn; /* page; XV_NIL_PFN: none */
	uint32_t off; /* block offset in the page, a multiple of XV_ALIGN */
};

_Static_assert(XV_ALIGN == XV_HDR, "objects start right after the header");
_Static_assert(XV_FLAGS_MASK < XV_ALIGN, "flags live in the offset's low bits");
_Static_assert(sizeof(struct xv_hdr) == XV_HDR, "header is 4 bytes");
_Static_assert(sizeof(struct xv_hdr) == sizeof(uint32_t),
	       "a header is loaded and stored as one 32-bit word");
_Static_assert(XV_MIN_BLOCK >= sizeof(struct xv_link), "a free list block must hold its link");
_Static_assert(XV_MIN_BLOCK % XV_ALIGN == 0, "min block is aligned");
_Static_assert(XV_MIN_BLOCK <= 256u, "min block is small");
_Static_assert(XV_FL_DELTA_SHIFT >= 2u && XV_FL_DELTA_SHIFT <= 6u, "free lists 4..64 bytes apart");
_Static_assert(XV_PAGE_SHIFT_MAX >= XV_PAGE_SHIFT_MIN && XV_PAGE_SHIFT_MAX <= 16u,
	       "sizes and offsets are u16: pages of 4..64 KiB");
_Static_assert(XV_PAGE_MAX - XV_HDR <= UINT16_MAX, "size fits the header");
_Static_assert(XV_FL_WORDS_MAX <= 8u, "first level stays a few words");
_Static_assert(XV_FIT_CANDIDATES >= 1u && XV_FIT_CANDIDATES <= 64u, "the fit weighs 1..64 lists");
_Static_assert(XV_FIT_GROW_FREES >= 0 && XV_FIT_GROW_FREES <= 65536, "a share of 1 << 16");
_Static_assert(XV_FIT_REST_MIN >= XV_MIN_BLOCK &&
		       (XV_FIT_REST_MIN - XV_MIN_BLOCK) % XV_FL_DELTA == 0,
	       "the fit's least counted remainder starts a list");

/*
 * One arena's TLSF instance. Invariants (between calls):
 *   for every free list i: heads[i].pfn == NIL  <=>  bit i of sl_bitmap clear
 *                          counts[i] == the number of blocks on list i
 *   for every block b on a list but its head: b.prev.next == b, and
 *   b.next == NIL or b.next.prev == b (the head's prev is not kept)
 *   bit w of fl_bitmap set  <=>  sl_bitmap[w] != 0
 *   a free block of data size s >= MIN is on list floor((s - MIN) / DELTA),
 *   a free block smaller than MIN is on no list
 *   bytes_allocated + bytes_free == pages * page_size   (pages: the caller's)
 */
struct tlsf {
	struct mp_source *src;               /* page source of every page */
	unsigned char *base;                 /* mp_direct_map(src): page pfn at
						base + (pfn << page_shift) */
	uint32_t page_size;                  /* mp_page_size(), <= XV_PAGE_MAX */
	uint32_t page_shift;                 /* log2(page_size) */
	uint32_t max_data;                   /* page_size - HDR: a whole page as a block */
	uint32_t nlists;                     /* ((max_data - MIN) >> DELTA_SHIFT) + 1 */
	uint32_t sl_words;                   /* ceil(nlists / 64) */
	uint32_t fl_words;                   /* ceil(sl_words / 64) <= XV_FL_WORDS_MAX */
	uint64_t fl_bitmap[XV_FL_WORDS_MAX]; /* bit w: sl_bitmap[w] != 0 */
	uint64_t *sl_bitmap;                 /* [sl_words] bit i%64 of i/64: list i used */
	struct xv_ref *heads;                /* [nlists] first block of each free list */
	uint32_t *counts;                    /* [nlists] blocks on each free list */
	uint64_t objects;                    /* used blocks */
	uint64_t bytes_requested;            /* sum of used blocks' asked-for sizes */
	uint64_t bytes_allocated;            /* sum of HDR + extent of used blocks */
	uint64_t bytes_free;                 /* sum of HDR + size of free blocks */
	uint64_t free_listed;                /* free blocks on the free lists */
	int32_t free_rate;                   /* share of frees among the last ~128
						takes and frees, 1 << 16 = all */
};

/* Where the fit puts an object: a free block (found) or a fresh page. */
struct tlsf_fit {
	struct xv_ref ref;   /* the free block; pfn XV_NIL_PFN: none fits */
	struct xv_hdr hdr;   /* its header */
	unsigned char *page; /* its page */
	int fresh_page;      /* a fresh page packs better, or no block fits
				(ref.pfn is then XV_NIL_PFN) */
};

/* Data bytes a used block of asked-for @size spans: size rounded up to the
 * alignment, at least XV_MIN_BLOCK. */
static inline uint32_t xv_used_extent(uint32_t size)
{
	uint32_t ext = (size + XV_ALIGN - 1) & ~(XV_ALIGN - 1);

	return ext < XV_MIN_BLOCK ? XV_MIN_BLOCK : ext;
}

/* Headers are loaded and stored as one relaxed atomic word: a live
 * object's header is read without the lock (xv_get_object_size) while a
 * neighbour's free or split rewrites its PREV_FREE flag under the lock. */
static inline struct xv_hdr xv_hdr_load(const unsigned char *page, uint32_t off)
{
	uint32_t w = __atomic_load_n((const uint32_t *)(const void *)(page + off),
				     __ATOMIC_RELAXED);
	struct xv_hdr h;

	memcpy(&h, &w, sizeof(h));
	return h;
}

static inline void xv_hdr_store(unsigned char *page, uint32_t off, struct xv_hdr h)
{
	uint32_t w;

	memcpy(&w, &h, sizeof(w));
	__atomic_store_n((uint32_t *)(void *)(page + off), w, __ATOMIC_RELAXED);
}

static inline struct xv_link xv_link_load(const unsigned char *page, uint32_t off)
{
	struct xv_link l;

	memcpy(&l, page + off + XV_HDR, sizeof(l));
	return l;
}

static inline void xv_link_store(unsigned char *page, uint32_t off, struct xv_link l)
{
	memcpy(page + off + XV_HDR, &l, sizeof(l));
}

/* Store only the prev half of the header at @off (the block before starts
 * at @prev, flags in its low bits). For a used block, whose BLOCK_FREE is
 * clear and whose size a store here must not touch: it is written without
 * being read, so a split or a free does not wait for the line. */
static inline void xv_hdr_store_prev(unsigned char *page, uint32_t off, uint32_t prev)
{
	__atomic_store_n((uint16_t *)(void *)(page + off + offsetof(struct xv_hdr, prev)),
			 (uint16_t)prev, __ATOMIC_RELAXED);
}

/* Store one side of a free block's list link (the block it names: @pfn,
 * @ref_off), without reading the rest: at @pfn_at and @off_at, the
 * offsets of that side's fields in struct xv_link. */
static inline void xv_link_store_side(unsigned char *page, uint32_t off, size_t pfn_at,
				      size_t off_at, uint32_t pfn, uint32_t ref_off)
{
	uint16_t o = (uint16_t)ref_off;

	memcpy(page + off + XV_HDR + pfn_at, &pfn, sizeof(pfn));
	memcpy(page + off + XV_HDR + off_at, &o, sizeof(o));
}

#define xv_link_store_next(page, off, pfn, noff)                          \
	xv_link_store_side(page, off, offsetof(struct xv_link, next_pfn), \
			   offsetof(struct xv_link, next_off), pfn, noff)
#define xv_link_store_prev(page, off, pfn, poff)                          \
	xv_link_store_side(page, off, offsetof(struct xv_link, prev_pfn), \
			   offsetof(struct xv_link, prev_off), pfn, poff)

static inline int xv_hdr_free(struct xv_hdr h)
{
	return (h.prev & XV_BLOCK_FREE) != 0;
}

/* Data bytes the block spans (the next block starts HDR + this later). */
static inline uint32_t xv_hdr_extent(struct xv_hdr h)
{
	return xv_hdr_free(h) ? h.size : xv_used_extent(h.size);
}

static inline uint32_t xv_hdr_prev_off(struct xv_hdr h)
{
	return h.prev & ~XV_FLAGS_MASK;
}

/* The address of page @pfn, which the arena holds. */
static inline unsigned char *tlsf_page(const struct tlsf *t, uint32_t pfn)
{
	return t->base + ((size_t)pfn << t->page_shift);
}

/* tlsf_init - an empty instance over @src whose list arrays the caller
 * allocated: @heads[nlists], @counts[nlists], @sl_bitmap[sl_words] (see
 * tlsf_sizes()). */
void tlsf_init(struct tlsf *t, struct mp_source *src, uint32_t page_size, struct xv_ref *heads,
	       uint32_t *counts, uint64_t *sl_bitmap);

/* tlsf_sizes - the number of free lists and second-level words for pages
 * of @page_size bytes. */
void tlsf_sizes(uint32_t page_size, uint32_t *nlists, uint32_t *sl_words);

/* tlsf_list_index - the free list a free block of data @size belongs on
 * (size >= XV_MIN_BLOCK). */
uint32_t tlsf_list_index(const struct tlsf *t, uint32_t size);

/*
 * tlsf_fit_locked - choose where an object of @size (1..max_data) bytes
 * goes, changing nothing: a free block, or (if @may_grow) a fresh page when
 * that packs better. Returns 0 with the choice in *fit (fit->fresh_page
 * says which), or -ENOMEM if no free block fits and !@may_grow.
 */
int tlsf_fit_locked(const struct tlsf *t, uint32_t size, int may_grow, struct tlsf_fit *fit);

/*
 * tlsf_take_locked - allocate @size bytes in the free block *fit names
 * (fit->ref.pfn != NIL, from tlsf_fit_locked() under the same lock hold):
 * split off the rest. The object's block is *out.
 */
void tlsf_take_locked(struct tlsf *t, const struct tlsf_fit *fit, uint32_t size,
		      struct xv_ref *out);

/*
 * tlsf_page_add_malloc_locked - make fresh page @pfn one free block and take
 * a block for @size from its start; the rest goes on a free list.
 */
void tlsf_page_add_malloc_locked(struct tlsf *t, uint32_t pfn, uint32_t size, struct xv_ref *out);

/*
 * tlsf_free_locked - free the used block at <@pfn, @off> (block offset; the
 * caller has proved it live) and merge it with free neighbours. Returns 1
 * if every block of the page is now free: the page is then on no list and
 * off the counters, and the caller must give it back; else 0.
 */
int tlsf_free_locked(struct tlsf *t, uint32_t pfn, uint32_t off);

#endif /* ZSALLOC_XVMALLOC_TLSF_H */
