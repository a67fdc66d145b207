/*
 * owners.h - which arena of a pool owns each pfn (internal to xvmalloc).
 *
 * One byte per pfn: 0 if the pool does not hold the page, else the owning
 * arena's index + 1. Bytes live in chunks of XV_OWNER_CHUNK pfns, allocated
 * on first use and kept until the pool is destroyed, under a directory
 * sized once for the page source's pfn range (every pfn < max_pages):
 *
 *     dir[pfn >> CHUNK_SHIFT] -> chunk[pfn & (CHUNK - 1)] = arena id | 0
 *
 * Concurrency: entries and directory slots are read and written only with
 * the __atomic builtins (gcc, clang; TSan knows them). An entry changes only under the lock of
 * the arena it names (set when the arena takes the page, cleared before the
 * page goes back), so a reader that locks arena k and still reads k knows
 * the page stays k's until it unlocks. Lock-free readers use the value only
 * as a hint. The directory's slots are published with release/acquire.
 */
#ifndef ZSALLOC_XVMALLOC_OWNERS_H
#define ZSALLOC_XVMALLOC_OWNERS_H

#include <stdatomic.h>
#include <stdint.h>

/* pfns per chunk: 4 KiB of entries, so a small pool costs one chunk. */
#define XV_OWNER_CHUNK_SHIFT 12u
#define XV_OWNER_CHUNK (1u << XV_OWNER_CHUNK_SHIFT)

struct xv_owners {
	uint8_t **dir;            /* [ndir] chunks; NULL: none yet */
	uint32_t ndir;            /* ceil(max_pages / CHUNK) */
	uint64_t max_pages;       /* every pfn < max_pages */
	_Atomic uint32_t hwm;     /* 1 + highest pfn ever owned: scans stop */
	_Atomic uint32_t nchunks; /* chunks allocated (metadata) */
};

/* owners_init - an empty table for pfns < @max_pages. 0 or -ENOMEM. */
int owners_init(struct xv_owners *o, uint64_t max_pages);
void owners_destroy(struct xv_owners *o);

/* owners_get - the arena id (index + 1) owning @pfn, or 0. No lock. */
static inline unsigned owners_get(const struct xv_owners *o, uint32_t pfn)
{
	const uint8_t *chunk;

	if (pfn >= o->max_pages)
		return 0;
	chunk = __atomic_load_n(&o->dir[pfn >> XV_OWNER_CHUNK_SHIFT],
				__ATOMIC_ACQUIRE);
	if (!chunk)
		return 0;
	return __atomic_load_n(&chunk[pfn & (XV_OWNER_CHUNK - 1)],
			       __ATOMIC_RELAXED);
}

/* owners_prepare - make sure @pfn's chunk exists. 0 or -ENOMEM. */
int owners_prepare(struct xv_owners *o, uint32_t pfn);

/* owners_set - record @id (arena index + 1, or 0 to clear) for @pfn, whose
 * chunk owners_prepare() made. Under the lock of the arena named. */
void owners_set(struct xv_owners *o, uint32_t pfn, unsigned id);

/* owners_bytes - memory the table takes. */
uint64_t owners_bytes(const struct xv_owners *o);

#endif /* ZSALLOC_XVMALLOC_OWNERS_H */
