/*
 * pages.c - the pool's page records: owner and live objects (see pages.h).
 */
#include "xvmalloc/pages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xvmalloc/internal.h"

static size_t dir_bytes(uint64_t ndir)
{
	return (size_t)(ndir ? ndir : 1) * sizeof(struct xv_pages_chunk *);
}

int pages_init(struct xv_pages *p, uint64_t max_pages, unsigned page_shift)
{
	uint64_t ndir = (max_pages + XV_PAGES_CHUNK - 1) >> XV_PAGES_CHUNK_SHIFT;
	unsigned k;

	memset(p, 0, sizeof(*p));
	/* Untouched directory pages cost no memory. */
	p->dir = mp_zalloc(dir_bytes(ndir));
	if (!p->dir)
		return -ENOMEM;
	p->ndir = (uint32_t)ndir;
	p->max_pages = max_pages;
	p->unit_bits = page_shift - 2;
	p->nslots = XV_REC_SLOT_BITS / p->unit_bits;
	p->unit_mask = ((uint64_t)1 << p->unit_bits) - 1;
	p->units = 1u << (page_shift - 2);
	for (k = 0; k < p->nslots; k++)
		p->slot_lo |= (uint64_t)1 << (k * p->unit_bits);
	p->slot_hi = p->slot_lo << (p->unit_bits - 1);
	atomic_init(&p->hwm, 0);
	atomic_init(&p->nchunks, 0);
	atomic_init(&p->ovf_bytes, 0);
	XV_ASSERT(p->nslots >= 4 && p->nslots <= XV_REC_SLOTS_MAX && "a record holds 4 or 5 slots");
	return 0;
}

static void chunk_destroy(struct xv_pages_chunk *c)
{
	uint32_t i;

	if (!c)
		return;
	for (i = 0; i < XV_PAGES_CHUNK; i++)
		if (c->ovf[i / XV_OVF_GROUP])
			free(c->ovf[i / XV_OVF_GROUP][i % XV_OVF_GROUP]);
	for (i = 0; i < XV_PAGES_CHUNK / XV_OVF_GROUP; i++)
		free(c->ovf[i]);
	free(c);
}

void pages_destroy(struct xv_pages *p)
{
	uint32_t i;

	if (!p->dir)
		return;
	for (i = 0; i < p->ndir; i++)
		chunk_destroy(p->dir[i]);
	mp_zfree(p->dir, dir_bytes(p->ndir));
	p->dir = NULL;
}

int pages_prepare(struct xv_pages *p, uint32_t pfn)
{
	struct xv_pages_chunk **slot, *c, *expected = NULL;

	if (pfn >= p->max_pages)
		return -ENOMEM; /* the page source broke its promise */
	slot = &p->dir[pfn >> XV_PAGES_CHUNK_SHIFT];
	if (__atomic_load_n(slot, __ATOMIC_ACQUIRE))
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (!__atomic_compare_exchange_n(slot, &expected, c, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(c); /* another arena installed one first */
		return 0;
	}
	atomic_fetch_add_explicit(&p->nchunks, 1, memory_order_relaxed);
	return 0;
}

static struct xv_pages_chunk *chunk_of(const struct xv_pages *p, uint32_t pfn)
{
	return __atomic_load_n(&p->dir[pfn >> XV_PAGES_CHUNK_SHIFT], __ATOMIC_ACQUIRE);
}

/* Where the overflow map pointer of owned page @pfn lives, or NULL if its
 * group has none yet. */
static struct xv_ovf **ovf_slot(const struct xv_pages *p, uint32_t pfn)
{
	struct xv_pages_chunk *c = chunk_of(p, pfn);
	uint32_t i = pfn & (XV_PAGES_CHUNK - 1);
	struct xv_ovf **group = __atomic_load_n(&c->ovf[i >> XV_OVF_GROUP_SHIFT], __ATOMIC_ACQUIRE);

	return group ? &group[i & (XV_OVF_GROUP - 1)] : NULL;
}

/* The overflow map of owned page @pfn, or NULL. */
static struct xv_ovf *ovf_of(const struct xv_pages *p, uint32_t pfn)
{
	struct xv_ovf **slot = ovf_slot(p, pfn);

	return slot ? *slot : NULL;
}

static void rec_store(const struct xv_pages *p, uint32_t pfn, uint64_t rec)
{
	atomic_store_explicit(pages_slot(p, pfn), rec, memory_order_release);
}

static uint64_t rec_get(const struct xv_pages *p, uint32_t pfn)
{
	return atomic_load_explicit(pages_slot(p, pfn), memory_order_relaxed);
}

static uint32_t slot_get(const struct xv_pages *p, uint64_t rec, unsigned k)
{
	return (uint32_t)((rec >> (XV_REC_SLOTS_SHIFT + k * p->unit_bits)) & p->unit_mask);
}

static uint64_t slot_set(const struct xv_pages *p, uint64_t rec, unsigned k, uint32_t unit)
{
	unsigned shift = XV_REC_SLOTS_SHIFT + k * p->unit_bits;

	return (rec & ~(p->unit_mask << shift)) | ((uint64_t)unit << shift);
}

void pages_claim_locked(struct xv_pages *p, uint32_t pfn, unsigned id)
{
	uint32_t hwm = atomic_load_explicit(&p->hwm, memory_order_relaxed);

	XV_ASSERT(id && id <= XV_REC_OWNER_MASK && "an arena id fits the owner");
	XV_ASSERT(rec_get(p, pfn) == 0 && "a claimed page was nobody's");
	rec_store(p, pfn, id);
	while (pfn >= hwm &&
	       !atomic_compare_exchange_weak_explicit(&p->hwm, &hwm, pfn + 1, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static uint64_t ovf_map_bytes(const struct xv_pages *p)
{
	return sizeof(struct xv_ovf) + p->units / 8;
}

static void ovf_drop(struct xv_pages *p, uint32_t pfn)
{
	struct xv_ovf **slot = ovf_slot(p, pfn);

	if (!slot || !*slot)
		return;
	free(*slot);
	*slot = NULL;
	atomic_fetch_sub_explicit(&p->ovf_bytes, ovf_map_bytes(p), memory_order_relaxed);
}

void pages_release_locked(struct xv_pages *p, uint32_t pfn)
{
	ovf_drop(p, pfn);
	rec_store(p, pfn, 0);
}

static int ovf_test(const struct xv_ovf *o, uint32_t unit)
{
	return (int)((o->map[unit / 64] >> (unit % 64)) & 1);
}

int pages_has_locked(const struct xv_pages *p, uint32_t pfn, uint32_t unit)
{
	uint64_t rec = pages_load(p, pfn);
	int found = rec_find(p, rec, unit);
	const struct xv_ovf *o;

	if (found >= 0)
		return found;
	o = ovf_of(p, pfn);
	return o && unit < p->units && ovf_test(o, unit);
}

/* ovf_slot(), with the group made if missing; NULL if no memory. */
static struct xv_ovf **ovf_slot_make(struct xv_pages *p, uint32_t pfn)
{
	struct xv_pages_chunk *c = chunk_of(p, pfn);
	uint32_t i = pfn & (XV_PAGES_CHUNK - 1);
	struct xv_ovf ***gs = &c->ovf[i >> XV_OVF_GROUP_SHIFT];
	struct xv_ovf **group = __atomic_load_n(gs, __ATOMIC_ACQUIRE);
	struct xv_ovf **expected = NULL;

	if (!group) {
		group = calloc(XV_OVF_GROUP, sizeof(*group));
		if (!group)
			return NULL;
		if (__atomic_compare_exchange_n(gs, &expected, group, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE)) {
			atomic_fetch_add_explicit(&p->ovf_bytes, XV_OVF_GROUP * sizeof(*group),
						  memory_order_relaxed);
		} else {
			free(group); /* another arena's page came first */
			group = expected;
		}
	}
	return &group[i & (XV_OVF_GROUP - 1)];
}

/* Move a full record's slots into a new overflow map. */
__attribute__((noinline, cold)) int pages_ovf_make_locked(struct xv_pages *p, uint32_t pfn,
							  uint64_t rec)
{
	struct xv_ovf **slot = ovf_slot_make(p, pfn);
	struct xv_ovf *o;
	unsigned k;

	if (!slot)
		return -ENOMEM;
	o = calloc(1, ovf_map_bytes(p));
	if (!o)
		return -ENOMEM; /* (the group stays: it is the chunk's) */
	for (k = 0; k < p->nslots; k++) {
		uint32_t u = slot_get(p, rec, k);

		o->map[u / 64] |= (uint64_t)1 << (u % 64);
	}
	o->count = p->nslots;
	*slot = o;
	atomic_fetch_add_explicit(&p->ovf_bytes, ovf_map_bytes(p), memory_order_relaxed);
	rec_store(p, pfn, rec_owner(rec) | XV_REC_OVF);
	return 0;
}

__attribute__((noinline, cold)) void pages_ovf_add_locked(struct xv_pages *p, uint32_t pfn,
							  uint32_t unit)
{
	struct xv_ovf *o = ovf_of(p, pfn);

	XV_ASSERT(o && "an overflowed record has its map");
	XV_ASSERT(unit && unit < p->units && "units are 1 .. page / 4 - 1");
	if (!o)
		return;
	XV_ASSERT(!ovf_test(o, unit) && "a new object was not live");
	o->map[unit / 64] |= (uint64_t)1 << (unit % 64);
	o->count++;
}

/* Back from the overflow map to the slots, which now hold them all. */
static void ovf_unmake(struct xv_pages *p, uint32_t pfn, struct xv_ovf *o)
{
	uint64_t rec = rec_owner(rec_get(p, pfn));
	unsigned k = 0;
	uint32_t w;

	for (w = 0; w < p->units / 64; w++) {
		uint64_t bits = o->map[w];

		while (bits) {
			uint32_t u = w * 64 + (uint32_t)__builtin_ctzll(bits);

			bits &= bits - 1;
			rec = slot_set(p, rec, k++, u);
		}
	}
	XV_ASSERT(k == o->count && k < p->nslots && "the slots hold them");
	rec_store(p, pfn, rec); /* first: readers see the objects all along */
	ovf_drop(p, pfn);
}

__attribute__((noinline, cold)) int pages_ovf_remove_locked(struct xv_pages *p, uint32_t pfn,
							    uint32_t unit)
{
	struct xv_ovf *o = ovf_of(p, pfn);

	if (!o || unit >= p->units || !ovf_test(o, unit))
		return 0;
	o->map[unit / 64] &= ~((uint64_t)1 << (unit % 64));
	if (--o->count < p->nslots)
		ovf_unmake(p, pfn, o);
	return 1;
}

uint32_t pages_count_locked(const struct xv_pages *p, uint32_t pfn)
{
	uint64_t rec = pages_load(p, pfn);
	uint32_t n = 0;
	unsigned k;

	if (rec & XV_REC_OVF) {
		const struct xv_ovf *o = ovf_of(p, pfn);

		return o ? o->count : 0;
	}
	for (k = 0; k < p->nslots; k++)
		n += slot_get(p, rec, k) != 0;
	return n;
}

uint64_t pages_bytes(const struct xv_pages *p)
{
	return (uint64_t)p->ndir * sizeof(*p->dir) +
	       (uint64_t)atomic_load_explicit(&p->nchunks, memory_order_relaxed) *
		       sizeof(struct xv_pages_chunk) +
	       atomic_load_explicit(&p->ovf_bytes, memory_order_relaxed);
}
