/*
 * internal.h - the pool and arena records and the debug asserts, shared by
 * the files of xvmalloc. Not a public header: users see struct xv_pool only
 * as an opaque type.
 */
#ifndef ZSALLOC_XVMALLOC_INTERNAL_H
#define ZSALLOC_XVMALLOC_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#if defined(__has_include)
#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>
#define XV_HAVE_SINGLE_THREADED 1
#endif
#endif

#include "mapping/mapping.h"
#include "xvmalloc/pages.h"
#include "xvmalloc/tlsf.h"
#include "xvmalloc/xvmalloc.h"

/*
 * XV_ASSERT(cond && "what must hold") - an invariant the prose around it
 * states. With XV_DEBUG defined (the test builds, --config=debug) a false
 * one prints the condition and its place to stderr and aborts; otherwise it
 * compiles to nothing (the condition is not evaluated).
 */
#ifdef XV_DEBUG
#define XV_ASSERT(cond) ((cond) ? (void)0 : xv_assert_fail(#cond, __FILE__, __LINE__, __func__))
_Noreturn void xv_assert_fail(const char *cond, const char *file, int line, const char *func);
#else
#define XV_ASSERT(cond) ((void)sizeof((cond) ? 1 : 0))
#endif

/* Most arenas a pool may have, and most the default (one per CPU) picks. */
#define XV_ARENAS_MAX 64u
#define XV_ARENAS_DEFAULT_MAX 8u

_Static_assert(XV_ARENAS_MAX <= XV_REC_OWNER_MASK, "arena ids fit a page record's owner field");

/*
 * One arena: a TLSF instance, its lock, and the pages it owns (the page
 * records name them). Allocated cache-line aligned, with its free-list
 * heads, counts and second-level bitmap right behind it.
 *   pages == number of pfns whose record's owner is id
 *   tlsf.bytes_allocated + tlsf.bytes_free == pages * page_size
 */
struct xv_arena {
	alignas(64) pthread_mutex_t lock; /* guards all below and its pages */
	int held_unlocked;                /* held by the only thread, lock not taken */
	unsigned id;                      /* index in pool->arenas + 1 (owner value) */
	_Atomic uint64_t pages;           /* pages held; written locked, read freely */
	uint64_t pages_allocated;         /* pages taken from the source, ever */
	uint64_t pages_freed;             /* pages given back, ever */
	struct tlsf tlsf;                 /* free lists, bitmaps, block counters */
};

/*
 * The pool: its page source (private to it), the arenas and the page
 * records. Everything but the arenas' contents and the records is fixed
 * after creation.
 */
struct xv_pool {
	struct mp_source *src;    /* page source, created for this pool */
	unsigned char *base;      /* mp_direct_map(src) */
	uint32_t page_size;       /* mp_page_size() */
	uint32_t page_shift;      /* log2(page_size) */
	uint32_t max_size;        /* page_size - XV_HDR: largest object */
	unsigned narenas;         /* 1..XV_ARENAS_MAX */
	uint64_t fixed_bytes;     /* pool + arenas + lists (metadata) */
	struct xv_pool *reg_next; /* the registry of live pools (fork.c) */
	struct xv_pool *reg_prev;
	struct xv_pages pages;     /* pfn -> owner and live objects */
	struct xv_arena *arenas[]; /* [narenas] */
};

/*
 * arena_lock, arena_trylock, arena_unlock - hold arena @a. A process with
 * one thread takes no lock: glibc's __libc_single_threaded, documented for
 * this, turns false in the thread that starts a second one before it
 * starts, so no hold of the only thread spans the change; a hold begun
 * unlocked is ended unlocked (held_unlocked), whatever the flag says by
 * then. The mutex serializes the misses of a hold with those around it
 * (its atomic instructions wait for every earlier load and store), which
 * a single-threaded user of glibc's malloc does not pay either. Without
 * glibc, always the mutex.
 */
static inline int xv_single_threaded(void)
{
#ifdef XV_HAVE_SINGLE_THREADED
	return __libc_single_threaded != 0;
#else
	return 0;
#endif
}

static inline void arena_lock(struct xv_arena *a)
{
	if (xv_single_threaded())
		a->held_unlocked = 1;
	else
		pthread_mutex_lock(&a->lock);
}

/* 0 if @a is now held, else nonzero. */
static inline int arena_trylock(struct xv_arena *a)
{
	if (xv_single_threaded()) {
		a->held_unlocked = 1;
		return 0;
	}
	return pthread_mutex_trylock(&a->lock);
}

static inline void arena_unlock(struct xv_arena *a)
{
	if (a->held_unlocked)
		a->held_unlocked = 0;
	else
		pthread_mutex_unlock(&a->lock);
}

static inline struct xv_arena *pool_arena(const struct xv_pool *pool, unsigned id)
{
	return pool->arenas[id - 1];
}

/*
 * pool_lock_owner - lock the arena that owns @pfn and return it, or NULL if
 * the pool does not hold @pfn. The owner is re-read under the lock, so the
 * page stays the returned arena's until the caller unlocks.
 */
struct xv_arena *pool_lock_owner(struct xv_pool *pool, uint32_t pfn);

/* fork.c: the registry of live pools whose locks fork() must hold.
 * pool_register: 0 or a positive errno. */
int pool_register(struct xv_pool *pool);
void pool_unregister(struct xv_pool *pool);

#endif /* ZSALLOC_XVMALLOC_INTERNAL_H */
