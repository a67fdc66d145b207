/*
 * pages.h - the pool's record of each page: the arena that owns it and the
 * offsets of its live objects (internal to xvmalloc).
 *
 * Why: a <pfn, offset> from the caller must be proved to name a live object
 * before anything in the page is read. Bytes inside objects are the user's:
 * a header forged in them must not pass, and another thread may be writing
 * them. The record lives outside the pages, so the proof reads nothing the
 * user can write; it is one 64-bit load and a few compares, with no lock.
 *
 * One record per pfn, a 64-bit word:
 *
 *   63                                         8   7   6           0
 *   +--------------------------------------------+-----+-------------+
 *   | slot n-1 |  ...  | slot 1 | slot 0         | OVF |    owner    |
 *   +--------------------------------------------+-----+-------------+
 *
 *   owner  the arena holding the page (arena index + 1, 1..64); 0: the page
 *          is not the pool's, and the rest of the word is 0
 *   OVF    clear: the page's live objects are exactly its non-zero slots;
 *          set: they are the set bits of the page's overflow map, and the
 *          slots are 0
 *   slot   a live object's unit, offset / 4 (1 .. page_size / 4 - 1), or 0;
 *          unit_bits = page_shift - 2 bits each, 56 / unit_bits slots:
 *          5 for 4 and 8 KiB pages, 4 for 16 to 64 KiB pages
 *
 * A page of compressed data holds two to four objects; more than five only
 * with objects under ~800 bytes. The overflow map of such a page is a bitmap
 * of page_size / 4 bits (128 bytes for 4 KiB pages), made when a page's
 * objects outgrow the slots and dropped when they fit in one slot fewer
 * than the slots (so that one object coming and going does not make and drop
 * it each time).
 *
 * Storage: records in chunks of XV_PAGES_CHUNK pfns, made on first use and
 * kept until the pool is destroyed, under a directory sized once for the
 * page source's pfn range:
 *
 *     dir[pfn >> CHUNK_SHIFT] -> chunk->rec[pfn & (CHUNK - 1)]
 *                                chunk->ovf[g] -> group[pfn % GROUP] -> map
 *
 * (g: the pfn's group of XV_OVF_GROUP pages in the chunk; a group's array
 * of map pointers is made when one of its pages first overflows.)
 *
 * Concurrency: a record changes only under the lock of the arena it names
 * (the arena that takes a page sets it from 0 under its lock; the page's
 * last free clears it), always as one atomic store of the whole word. A
 * reader without the lock gets a consistent word; the slots of a live
 * object stay put while it lives (adding or removing another object changes
 * another slot), so a lock-free reader always finds a live object, inline
 * or by the OVF bit sending it to the locked path. Overflow maps and the
 * ovf arrays are read and written only under the owning arena's lock.
 */
#ifndef ZSALLOC_XVMALLOC_PAGES_H
#define ZSALLOC_XVMALLOC_PAGES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* pfns per chunk: a chunk of records is 32 KiB and covers 16 MiB of 4 KiB
 * pages, so that the directory stays small (8 bytes per 4096 pfns). */
#define XV_PAGES_CHUNK_SHIFT 12u
#define XV_PAGES_CHUNK (1u << XV_PAGES_CHUNK_SHIFT)

#define XV_REC_OWNER_MASK 0x7fu /* bits 0..6 */
#define XV_REC_OVF 0x80u        /* bit 7 */
#define XV_REC_SLOTS_SHIFT 8u   /* slot 0 starts here */
#define XV_REC_SLOT_BITS 56u    /* bits 8..63 */
#define XV_REC_SLOTS_MAX 5u     /* 56 / 10 */

/* The live objects of a page whose slots are too few. */
struct xv_ovf {
	uint32_t count; /* set bits in map */
	uint32_t spare;
	uint64_t map[]; /* [units / 64]: bit u set: unit u is a live object */
};

/* Pages per group of overflow map pointers (512 bytes a group). */
#define XV_OVF_GROUP_SHIFT 6u
#define XV_OVF_GROUP (1u << XV_OVF_GROUP_SHIFT)

struct xv_pages_chunk {
	_Atomic uint64_t rec[XV_PAGES_CHUNK];
	/* [g][pfn % GROUP]; a group is NULL until one of its pages overflows */
	struct xv_ovf **ovf[XV_PAGES_CHUNK / XV_OVF_GROUP];
};

struct xv_pages {
	struct xv_pages_chunk **dir; /* [ndir]; NULL: no chunk yet */
	uint32_t ndir;               /* ceil(max_pages / CHUNK) */
	uint64_t max_pages;          /* every pfn < max_pages */
	unsigned unit_bits;          /* page_shift - 2 */
	unsigned nslots;             /* XV_REC_SLOT_BITS / unit_bits */
	uint64_t unit_mask;          /* (1 << unit_bits) - 1 */
	uint64_t slot_lo;            /* the lowest bit of each slot, and */
	uint64_t slot_hi;            /* the highest (slots shifted to bit 0) */
	uint32_t units;              /* page_size / 4: bits of an overflow map */
	_Atomic uint32_t hwm;        /* 1 + highest pfn ever owned: scans stop */
	_Atomic uint32_t nchunks;    /* chunks made (metadata) */
	_Atomic uint64_t ovf_bytes;  /* overflow groups and maps (metadata) */
};

/* pages_init - an empty table for pfns < @max_pages of pages of 1 <<
 * @page_shift bytes (12..16). 0 or -ENOMEM. */
int pages_init(struct xv_pages *p, uint64_t max_pages, unsigned page_shift);
void pages_destroy(struct xv_pages *p);

/* pages_prepare - make sure @pfn's chunk exists (before the page is
 * claimed, outside any lock). 0 or -ENOMEM. */
int pages_prepare(struct xv_pages *p, uint32_t pfn);

static inline _Atomic uint64_t *pages_slot(const struct xv_pages *p, uint32_t pfn)
{
	struct xv_pages_chunk *c;

	if (pfn >= p->max_pages)
		return NULL;
	c = __atomic_load_n(&p->dir[pfn >> XV_PAGES_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
	return c ? &c->rec[pfn & (XV_PAGES_CHUNK - 1)] : NULL;
}

/* pages_load - @pfn's record, 0 if the pool does not hold it. No lock. */
static inline uint64_t pages_load(const struct xv_pages *p, uint32_t pfn)
{
	_Atomic uint64_t *r = pages_slot(p, pfn);

	return r ? atomic_load_explicit(r, memory_order_acquire) : 0;
}

static inline unsigned rec_owner(uint64_t rec)
{
	return (unsigned)(rec & XV_REC_OWNER_MASK);
}

/*
 * rec_zero_slots - the slots of @s (a record's slots, shifted to bit 0)
 * that are 0, as the top bit of each such slot, exactly for the lowest
 * one (the word-at-a-time test for a zero field: a slot below the lowest
 * zero one is at least 1 and borrows nothing).
 */
static inline uint64_t rec_zero_slots(const struct xv_pages *p, uint64_t s)
{
	return (s - p->slot_lo) & ~s & p->slot_hi;
}

/* The slots of record @rec that hold @unit (1 .. units - 1), as above. */
static inline uint64_t rec_match(const struct xv_pages *p, uint64_t rec, uint32_t unit)
{
	return rec_zero_slots(p, (rec >> XV_REC_SLOTS_SHIFT) ^ (unit * p->slot_lo));
}

/*
 * rec_find - look for @unit in a record's slots: 1 if a slot holds it, 0 if
 * none does and the record lists every object, -1 if the page's objects are
 * in its overflow map (look there under the owner's lock).
 */
static inline int rec_find(const struct xv_pages *p, uint64_t rec, uint32_t unit)
{
	if (rec & XV_REC_OVF)
		return -1;
	return rec_match(p, rec, unit) != 0;
}

/* The slot mask whose top bit is the lowest set bit of @z (a result of
 * rec_zero_slots() or rec_match()). */
static inline uint64_t rec_slot_mask(const struct xv_pages *p, uint64_t z)
{
	uint64_t top = z & -z;

	return (top << 1) - (top >> (p->unit_bits - 1));
}

/* pages_claim_locked - record that arena @id (1..64) now holds @pfn, with
 * no objects; its chunk exists (pages_prepare). Under @id's lock. */
void pages_claim_locked(struct xv_pages *p, uint32_t pfn, unsigned id);

/* pages_release_locked - the pool no longer holds @pfn: record 0, overflow
 * map dropped. Under the owner's lock. */
void pages_release_locked(struct xv_pages *p, uint32_t pfn);

/* pages_has_locked - 1 if @unit is a live object of owned page @pfn, else
 * 0. Under the owner's lock. */
int pages_has_locked(const struct xv_pages *p, uint32_t pfn, uint32_t unit);

/* The overflow halves of the calls below (out of line: rare). */
int pages_ovf_make_locked(struct xv_pages *p, uint32_t pfn, uint64_t rec);
void pages_ovf_add_locked(struct xv_pages *p, uint32_t pfn, uint32_t unit);
int pages_ovf_remove_locked(struct xv_pages *p, uint32_t pfn, uint32_t unit);

/*
 * pages_reserve_locked - make room in the record *@slot of @pfn for one
 * more object: a free slot, or the overflow map (made here, the page's
 * objects moved to it). 0, or -ENOMEM with nothing changed. Under the
 * owner's lock.
 */
static inline int pages_reserve_locked(struct xv_pages *p, _Atomic uint64_t *slot, uint32_t pfn)
{
	uint64_t rec = atomic_load_explicit(slot, memory_order_relaxed);

	if ((rec & XV_REC_OVF) || rec_zero_slots(p, rec >> XV_REC_SLOTS_SHIFT))
		return 0;
	return pages_ovf_make_locked(p, pfn, rec);
}

/* pages_add_locked - record @unit as a live object of @pfn (record
 * *@slot), after pages_reserve_locked(). Under the owner's lock. */
static inline void pages_add_locked(struct xv_pages *p, _Atomic uint64_t *slot, uint32_t pfn,
				    uint32_t unit)
{
	uint64_t rec = atomic_load_explicit(slot, memory_order_relaxed), z;

	if (rec & XV_REC_OVF) {
		pages_ovf_add_locked(p, pfn, unit);
		return;
	}
	/* The lowest free slot: a made room. */
	z = rec_zero_slots(p, rec >> XV_REC_SLOTS_SHIFT);
	rec |= ((uint64_t)unit * ((z & -z) >> (p->unit_bits - 1))) << XV_REC_SLOTS_SHIFT;
	atomic_store_explicit(slot, rec, memory_order_release);
}

/* pages_remove_locked - if @unit is a live object of owned page @pfn
 * (record *@slot), it is no longer: returns 1; else 0 and nothing changes.
 * Under the owner's lock. */
static inline int pages_remove_locked(struct xv_pages *p, _Atomic uint64_t *slot, uint32_t pfn,
				      uint32_t unit)
{
	uint64_t rec = atomic_load_explicit(slot, memory_order_relaxed), z;

	if (rec & XV_REC_OVF)
		return pages_ovf_remove_locked(p, pfn, unit);
	z = rec_match(p, rec, unit);
	if (!z)
		return 0;
	rec &= ~(rec_slot_mask(p, z) << XV_REC_SLOTS_SHIFT);
	atomic_store_explicit(slot, rec, memory_order_release);
	return 1;
}

/* pages_count_locked - the live objects @pfn's record lists. */
uint32_t pages_count_locked(const struct xv_pages *p, uint32_t pfn);

/* pages_bytes - memory the table takes (directory, chunks, overflow). */
uint64_t pages_bytes(const struct xv_pages *p);

#endif /* ZSALLOC_XVMALLOC_PAGES_H */
