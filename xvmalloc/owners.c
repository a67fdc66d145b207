/*
 * owners.c - the pfn -> arena table of a pool (see owners.h).
 */
#include "xvmalloc/owners.h"

#include <errno.h>
#include <stdlib.h>

int owners_init(struct xv_owners *o, uint64_t max_pages)
{
	uint64_t ndir = (max_pages + XV_OWNER_CHUNK - 1) >> XV_OWNER_CHUNK_SHIFT;

	/* calloc: untouched directory pages cost no memory. */
	o->dir = calloc((size_t)ndir, sizeof(*o->dir));
	if (!o->dir)
		return -ENOMEM;
	o->ndir = (uint32_t)ndir;
	o->max_pages = max_pages;
	atomic_init(&o->hwm, 0);
	atomic_init(&o->nchunks, 0);
	return 0;
}

void owners_destroy(struct xv_owners *o)
{
	uint32_t i;

	if (!o->dir)
		return;
	for (i = 0; i < o->ndir; i++)
		free(o->dir[i]);
	free(o->dir);
	o->dir = NULL;
}

int owners_prepare(struct xv_owners *o, uint32_t pfn)
{
	uint8_t **slot, *chunk, *expected = NULL;

	if (pfn >= o->max_pages)
		return -ENOMEM; /* the page source broke its promise */
	slot = &o->dir[pfn >> XV_OWNER_CHUNK_SHIFT];
	if (__atomic_load_n(slot, __ATOMIC_ACQUIRE))
		return 0;
	chunk = calloc(XV_OWNER_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	if (!__atomic_compare_exchange_n(slot, &expected, chunk, 0,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(chunk); /* another arena installed one first */
		return 0;
	}
	atomic_fetch_add_explicit(&o->nchunks, 1, memory_order_relaxed);
	return 0;
}

void owners_set(struct xv_owners *o, uint32_t pfn, unsigned id)
{
	uint8_t *chunk = __atomic_load_n(&o->dir[pfn >> XV_OWNER_CHUNK_SHIFT],
					 __ATOMIC_ACQUIRE);
	uint32_t hwm = atomic_load_explicit(&o->hwm, memory_order_relaxed);

	__atomic_store_n(&chunk[pfn & (XV_OWNER_CHUNK - 1)], (uint8_t)id,
			 __ATOMIC_RELAXED);
	while (id && pfn >= hwm &&
	       !atomic_compare_exchange_weak_explicit(&o->hwm, &hwm, pfn + 1,
						      memory_order_relaxed,
						      memory_order_relaxed))
		;
}

uint64_t owners_bytes(const struct xv_owners *o)
{
	return (uint64_t)o->ndir * sizeof(*o->dir) +
	       (uint64_t)atomic_load_explicit(&o->nchunks,
					      memory_order_relaxed) *
		       XV_OWNER_CHUNK;
}
