/*
 * thread.h - the one per-thread record of live mappings, shared by the
 * two-page map (pair.c) and zsmalloc's access calls. Internal to zsalloc:
 * not installed, not part of the public API.
 *
 * Each thread that maps anything owns one block (struct mp_thread): an array
 * of records, one per live mapping, and the means to show two pages side by
 * side (MP_WINDOWS remap windows and a copy buffer per record). A record
 * says who made it (owner: a page source or a zsmalloc pool), what it
 * names (key: the caller's key or the object's handle), what pointer was
 * handed out, and, for a straddling object, its view (struct mp_view). The
 * blocks sit on one list that is only ever appended to (a block is reused
 * when its thread exits), so any thread may read it without a lock: to
 * count a pool's mappings, or in the child of fork() to end the mappings of
 * the threads that did not come along.
 *
 * A record's owner ends it: the block only keeps the memory. At thread exit
 * each live record's ops->thread_exit() runs (the owner writes back a copy,
 * drops a pin); in the child of fork() ops->forget() runs for the records of
 * the other threads (drop the pin, write nothing).
 */
#ifndef ZSALLOC_MAPPING_THREAD_H
#define ZSALLOC_MAPPING_THREAD_H

#include <stdatomic.h>
#include <stdint.h>

#include "mapping/mapping.h"

/* Records per thread: MP_MAX_MAPPINGS for mp_map_pair() and as many for the
 * allocators (ZS_MAX_MAPPINGS of zsmalloc). */
#define MP_THREAD_RECORDS 8

struct mp_rec;

struct mp_rec_ops {
	void (*thread_exit)(struct mp_rec *r); /* the thread exits */
	void (*forget)(struct mp_rec *r);      /* the thread is gone (fork) */
};

struct mp_window;

/* Two pages shown side by side for one record (mp_view_open()). */
struct mp_view {
	struct mp_window *win; /* MP_REMAP through a window, else NULL */
	uint8_t *buf;          /* MP_COPY buffer in use, else NULL */
	uint32_t pfn[2];       /* the pages, for copy-back */
	uint32_t gen[2];       /* their generations when mapped */
	uint32_t offset;       /* in page pfn[0] */
	uint32_t len;          /* bytes shown */
	uint8_t mode;          /* enum mp_mode */
};

struct mp_rec {
	_Atomic uintptr_t owner;      /* who made it; 0: free (read by others) */
	_Atomic uintptr_t key;        /* what it maps (read by others) */
	const struct mp_rec_ops *ops; /* how its owner ends it */
	void *mem;                    /* pointer handed out */
	uint64_t seq;                 /* order made: the latest ends first */
	uint32_t kind;                /* owner-defined bits */
	uint32_t depth;               /* nested uses of this record - 1 */
	uint64_t data;                /* owner-defined */
	struct mp_view view;          /* a straddling object's, if any */
};

struct mp_thread {
	struct mp_rec rec[MP_THREAD_RECORDS];
	unsigned free_mask;              /* bit i set: rec[i] is free */
	unsigned last;                   /* the latest live record */
	unsigned alloc_uses;             /* the allocators' count of their live
					    uses (zsmalloc: maps and reads) */
	uint64_t tick;                   /* records made, for seq and LRU */
	struct mp_window *win;           /* MP_WINDOWS remap windows, lazily */
	uint8_t *buffers;                /* a page per record, lazily */
	uint8_t *big[MP_THREAD_RECORDS]; /* larger copy buffers, lazily */
	uint32_t big_len[MP_THREAD_RECORDS];
	_Atomic int alive;      /* 0: the thread exited; block reusable */
	struct mp_thread *next; /* registry link, set before publication */
};

#define MP_REC_ALL_FREE ((1u << MP_THREAD_RECORDS) - 1)

/* This thread's block, NULL until it first maps. */
extern __thread struct mp_thread *mp_thread_self __attribute__((tls_model("initial-exec")));

/* This thread's block, registered on first use; NULL (errno ENOMEM) if it
 * cannot be. */
struct mp_thread *mp_thread_attach(void);

static inline struct mp_thread *mp_thread_get(void)
{
	struct mp_thread *t = mp_thread_self;

	return __builtin_expect(t != NULL, 1) ? t : mp_thread_attach();
}

/* The first block of the registry (walk ->next; skip blocks not alive). */
struct mp_thread *mp_thread_first(void);

/* Claim a free record of @t for @key of @owner: its index, or -1 (all in
 * use). The key is set before the owner, so that another thread never
 * pairs this owner with the previous record's key. */
static inline int mp_rec_claim(struct mp_thread *t, uintptr_t owner, uintptr_t key,
			       const struct mp_rec_ops *ops)
{
	unsigned i;
	struct mp_rec *r;

	if (__builtin_expect(!t->free_mask, 0))
		return -1;
	i = (unsigned)__builtin_ctz(t->free_mask);
	r = &t->rec[i];
	atomic_store_explicit(&r->key, key, memory_order_relaxed);
	atomic_store_explicit(&r->owner, owner, memory_order_release);
	r->ops = ops;
	r->depth = 0;
	r->view.win = NULL;
	r->view.buf = NULL;
	r->seq = ++t->tick;
	t->free_mask &= ~(1u << i);
	t->last = i;
	return (int)i;
}

/* The latest live record of @key of @owner whose kind has a bit of @kind,
 * or -1. The latest record overall is checked first: mappings nest. */
static inline int mp_rec_find(const struct mp_thread *t, uintptr_t owner, uintptr_t key,
			      uint32_t kind)
{
	const struct mp_rec *r;
	int i, found = -1;

	if (!t || t->free_mask == MP_REC_ALL_FREE)
		return -1;
	r = &t->rec[t->last];
	if (__builtin_expect(atomic_load_explicit(&r->owner, memory_order_relaxed) == owner &&
				     atomic_load_explicit(&r->key, memory_order_relaxed) == key &&
				     (r->kind & kind),
			     1))
		return (int)t->last;
	for (i = 0; i < MP_THREAD_RECORDS; i++) {
		r = &t->rec[i];
		if (!(t->free_mask & (1u << i)) &&
		    atomic_load_explicit(&r->owner, memory_order_relaxed) == owner &&
		    atomic_load_explicit(&r->key, memory_order_relaxed) == key &&
		    (r->kind & kind) && (found < 0 || r->seq > t->rec[found].seq))
			found = i;
	}
	return found;
}

/* Free record @i of @t; the latest live record becomes t->last. */
void mp_rec_release_slow(struct mp_thread *t);

static inline void mp_rec_release(struct mp_thread *t, unsigned i)
{
	atomic_store_explicit(&t->rec[i].owner, 0, memory_order_release);
	t->free_mask |= 1u << i;
	if (__builtin_expect(t->free_mask != MP_REC_ALL_FREE, 0))
		mp_rec_release_slow(t);
}

/* Live records of @t whose owner is @owner (or any owner: 0) and whose kind
 * has a bit of @kind. */
unsigned mp_rec_count(const struct mp_thread *t, uintptr_t owner, uint32_t kind);

/* Record @i's copy buffer of at least @len bytes (a page for up to a
 * page), or NULL when out of memory. Freed with the thread. */
uint8_t *mp_rec_buffer(struct mp_thread *t, unsigned i, size_t len);

/*
 * mp_view_open - show @len bytes from byte @offset of page @pfn_a, running
 * on into page @pfn_b, contiguously, for record @i of @t (see mp_map_pair()
 * for the arguments; @len may span the two pages only). Returns the
 * pointer, or NULL with errno (EINVAL, ENOMEM).
 */
void *mp_view_open(struct mp_thread *t, unsigned i, struct mp_source *src, uint32_t pfn_a,
		   uint32_t pfn_b, uint32_t offset, uint32_t len, enum mp_mode mode,
		   enum mp_method method);

/* Write the copy of record @i back (MP_COPY, RW or WO) if its pages are
 * still the ones it showed. 0, or -EINVAL (a page was freed meanwhile:
 * nothing written). */
int mp_view_write_back(struct mp_thread *t, unsigned i, struct mp_source *src);

/* End record @i's view (its window is idle again); nothing is written. */
void mp_view_close(struct mp_thread *t, unsigned i);

#endif /* ZSALLOC_MAPPING_THREAD_H */
