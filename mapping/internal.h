/*
 * internal.h - the page source's record, shared by source.c and pair.c.
 * Not a public header: users see struct mp_source only as an opaque type.
 */
#ifndef ZSALLOC_MAPPING_INTERNAL_H
#define ZSALLOC_MAPPING_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "mapping/mapping.h"

/* MP_ASSERT(cond && "why"): checked with -DMP_DEBUG (--config=debug),
 * compiled out otherwise. */
#ifdef MP_DEBUG
#include <stdio.h>
#include <stdlib.h>
#define MP_ASSERT(cond)                                                                          \
	((cond) ? (void)0                                                                        \
		: (fprintf(stderr, "mapping: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, \
			   #cond),                                                               \
		   abort()))
#else
#define MP_ASSERT(cond) ((void)0)
#endif

/*
 * Invariants (under lock):
 *   general sources: stats.pages_used + nr_cached + nr_free + in_flight == nr_pfns
 *   nr_pfns <= committed <= span (general: span == max_pages)
 *   bit p of used[] is set  <=>  pfn p is allocated (p < nr_pfns)
 *   bit p of free[] is set  <=>  pfn p is free and punched (reads as zero)
 *   no bit of free[] below word free_low is set
 *   pfns on cache[] are free, resident, and hold stale bytes
 * in_flight counts pages being punched by a free outside the lock: an
 * allocation that finds every pfn in existence and none free waits for them
 * rather than fail (the limit is not reached).
 * free[] bits of allocated pfns are used, under the lock, as marks while
 * mp_free_pages() checks a batch; they are clear between calls.
 */
struct mp_source {
	uint8_t *base;                /* direct map: pfn p at base + (p << shift) */
	int fd;                       /* the memfd (shared backing), else -1 */
	unsigned shift;               /* log2 of the page size */
	uint32_t max_pages;           /* page limit */
	uint32_t span;                /* every pfn < span; >= max_pages */
	uint32_t cache_pages;         /* capacity of cache[] (general sources) */
	uint8_t shared;               /* MP_BACKING_SHARED */
	uint8_t placed;               /* the owner picks pfns (mp_alloc_pages_at) */
	uint64_t id;                  /* unique in the process, never 0 */
	uint64_t fork_gen;            /* mp_fork_gen when created (see mp_forked) */
	struct mp_source *next_alive; /* the list of live sources, for fork */
	_Atomic uint64_t *used;       /* allocated bitmap, read without the lock */
	_Atomic uint32_t *gen;        /* general sources, per pfn: bumped by every
					 free, so that an unmap can tell a page
					 freed (and maybe allocated again) since
					 its map; 2^32 frees of one pfn during
					 one mapping would go unseen. NULL for
					 placed sources (no mp_map_pair) */

	pthread_mutex_t lock;    /* guards everything below */
	uint32_t nr_pfns;        /* general: pfns [0, nr_pfns) exist */
	uint32_t committed;      /* pages of the direct map usable: the
				    memfd's size, or the private range
				    made accessible */
	int dirty_reuse;         /* == mp_config.dirty_reuse */
	uint64_t *free;          /* punched pfns (bitmap), reused lowest first */
	uint32_t nr_free;        /* bits set in free[] */
	uint32_t free_low;       /* first word of free[] that may have a bit */
	uint32_t *cache;         /* resident freed pfns */
	uint32_t nr_cached;      /* entries on cache[] */
	uint32_t in_flight;      /* freed pages being punched outside the lock */
	pthread_cond_t punched;  /* in_flight went down */
	uint64_t fail_countdown; /* fault injection: fail when it reaches 0 */
	struct mp_stats stats;   /* pages_cached and max_pages filled on read */
};

static inline int mp_bit_test(const struct mp_source *src, uint32_t pfn)
{
	uint64_t w = atomic_load_explicit(&src->used[pfn >> 6], memory_order_relaxed);

	return (int)((w >> (pfn & 63)) & 1);
}

static inline uint32_t mp_gen(const struct mp_source *src, uint32_t pfn)
{
	return atomic_load_explicit(&src->gen[pfn], memory_order_acquire);
}

/* 1 if a source of id @id exists now (pair.c frees a thread's slots of
 * destroyed sources with it). */
int mp_source_alive(uint64_t id);

struct mp_thread;
/* Unmap and free the remap windows of @t (pair.c; at thread exit). */
void mp_windows_free(struct mp_thread *t);

/* The generation of forks this process is the child of (0 in the first
 * process), bumped by the child's fork handler. */
extern _Atomic uint64_t mp_fork_gen;

#endif /* ZSALLOC_MAPPING_INTERNAL_H */
