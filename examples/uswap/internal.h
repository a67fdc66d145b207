/*
 * internal.h - what uswap.c, uffd.c, reclaim.c, handler.c, freer.c and
 * stats.c share: the region record, the per-page table and its states (the
 * protocol is in the comment at the top of uswap.c).
 */
#ifndef ZSALLOC_EXAMPLES_USWAP_INTERNAL_H
#define ZSALLOC_EXAMPLES_USWAP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "examples/uswap/hist.h"
#include "examples/uswap/uswap.h"
#include "zsmalloc/zsmalloc.h"

/*
 * Page states, the low byte of uswap_page.state. Each transition has one
 * owner: R = the reclaimer (holding reclaim_lock), H = the handler thread.
 *
 *   EMPTY --H fault--> LOADING --H page in place--> RESIDENT
 *   RESIDENT --R pick--> ARMING --R wp done--> RECLAIMING
 *   RECLAIMING --R stored--> ZAPPING --R dropped--> STORED
 *   STORED --H fault--> LOADING --H page in place--> RESIDENT
 *   RECLAIMING --H write fault--> DISARMING --H wp cleared--> RESIDENT
 *   RECLAIMING --R pool refused, wp cleared--> RESIDENT
 *
 * The page's table entry (len, value) is written by R before its
 * release-CAS to ZAPPING and read by H after an acquire-load of STORED.
 */
enum page_state {
	PG_EMPTY = 0,  /* never touched; no page table entry */
	PG_RESIDENT,   /* present (maybe the shared zero page), writable */
	PG_ARMING,     /* R: chosen, write-protect system call in flight */
	PG_RECLAIMING, /* write-protected, R compressing and storing it */
	PG_DISARMING,  /* H: written to; clearing the write-protection */
	PG_ZAPPING,    /* stored; R's MADV_DONTNEED in flight */
	PG_STORED,     /* dropped; the entry says where its bytes are */
	PG_LOADING,    /* H: putting the page in place (UFFDIO_COPY or
			  ZEROPAGE in flight); R waits for it to end */
};
#define PG_STATE_MASK 0xffu
#define PG_REFERENCED 0x100u /* H faulted it in since the hand passed */

struct uswap_page {
	_Atomic uint32_t state; /* enum page_state | PG_REFERENCED */
	uint32_t len;           /* STORED: object bytes (page_size: raw);
				   0: same-filled, value is the word */
	uint64_t value;         /* STORED: zs_handle, or the word */
};

/* Counters, updated with relaxed atomics by R and H, read by stats. */
struct uswap_counters {
	_Atomic uint64_t stored_pages; /* == STORED or ZAPPING entries
					  (moved before the transitions) */
	_Atomic uint64_t compr_bytes;  /* == sum of their len */
	_Atomic uint64_t same_pages;   /* those with len 0 */
	_Atomic uint64_t huge_pages;   /* those with len page_size */
	_Atomic uint64_t used_max;     /* pool pages, most seen */
	_Atomic uint64_t reclaimed, reclaim_written, reclaim_failed;
	_Atomic uint64_t faults, zero_faults, wp_faults, stale_faults;
	_Atomic uint64_t read_errors, eexist;
};

/* Objects waiting for the freer thread, at most (see freer.c): 128 KiB. */
#define USWAP_FREE_RING 16384

struct uswap {
	unsigned char *base; /* the region: pages * page_size bytes */
	size_t pages;
	size_t page_size;
	unsigned page_shift;      /* page_size == 1 << page_shift */
	unsigned char *doorbell;  /* the page after the region, registered
				     too: only uswap_destroy() touches it,
				     to wake the handler to stop */
	size_t map_bytes;         /* (pages + 1) * page_size */
	struct uswap_page *table; /* [pages] */
	struct zs_pool *pool;
	size_t huge_size; /* objects this big or bigger: raw */
	int uffd;         /* non-blocking; the handler polls it */
	int user_mode_only;
	int lz4_accel;
	unsigned batch; /* pages per reclaim batch */

	pthread_mutex_t reclaim_lock; /* one reclaim at a time; guards below */
	size_t hand;                  /* the clock's next page */
	void *lz4_state;              /* LZ4_sizeofState() bytes */
	unsigned char *pack;          /* page_size bytes: LZ4 output or raw copy */
	unsigned char *snap;          /* page_size bytes: a page's copy, compressed
					 instead of the page under TSan */
	struct reclaim_slot *slots;   /* [batch] */

	pthread_t handler;
	int handler_started;
	atomic_int handler_busy; /* H is not asleep in poll() */

	/* The freer (freer.c): objects of pages back in, H -> F. */
	zs_handle free_ring[USWAP_FREE_RING];
	_Atomic size_t free_head;  /* H's next slot; H alone writes it */
	_Atomic size_t free_tail;  /* F's next slot; F alone writes it;
				      0 <= head - tail <= USWAP_FREE_RING */
	pthread_mutex_t free_lock; /* guards the three below */
	pthread_cond_t free_cond;
	int freer_sleeping, freer_stop;
	atomic_int freer_busy; /* F is freeing (or about to look) */
	pthread_t freer;
	int freer_started;
	unsigned char *fault_buf;  /* H: a page to decompress into */
	unsigned char *fault_copy; /* H: a straddling object's bytes */
	struct hist fault_ns;      /* H: service time of store fault-ins */

	struct uswap_counters c;
};

/* One page of a reclaim batch (reclaim.c). */
struct reclaim_slot {
	size_t index;   /* page number */
	uint32_t len;   /* as uswap_page.len, once encoded */
	uint64_t value; /* as uswap_page.value */
	int stored;     /* encoded and (unless same-filled) in the pool */
};

static inline uint32_t page_state_load(const struct uswap *u, size_t i)
{
	return atomic_load_explicit(&u->table[i].state, memory_order_acquire);
}

static inline int page_state_cas(struct uswap *u, size_t i, uint32_t *old, uint32_t new_state)
{
	return atomic_compare_exchange_strong_explicit(&u->table[i].state, old, new_state,
						       memory_order_acq_rel, memory_order_acquire);
}

static inline void page_state_store(struct uswap *u, size_t i, uint32_t new_state)
{
	atomic_store_explicit(&u->table[i].state, new_state, memory_order_release);
}

static inline void counter_add(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void counter_sub(_Atomic uint64_t *c, uint64_t v)
{
	atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

static inline unsigned char *page_addr(const struct uswap *u, size_t i)
{
	return u->base + (i << u->page_shift);
}

uint64_t uswap_now_ns(void);

/* Count a stored page in (sign 1) or out (sign -1) of the counters. */
void counters_store(struct uswap *u, uint32_t len, int sign);

/* uffd.c: the userfaultfd system calls. All return 0 or a negative errno;
 * transient errors (EAGAIN, EINTR, ENOMEM of the kernel) are retried. */
int uffd_open(int kernel_faults, int *user_mode_only);
int uffd_api(int fd);
int uffd_register(int fd, void *start, size_t len);
int uffd_copy(int fd, void *dst, const void *src, size_t len);
int uffd_zeropage(int fd, void *dst, size_t len);
int uffd_protect(int fd, void *start, size_t len, int on);
int uffd_wake(int fd, void *start, size_t len);

/* reclaim.c */
long reclaim_clock(struct uswap *u, size_t n);
long reclaim_range(struct uswap *u, size_t first, size_t count);

/* handler.c */
void *handler_main(void *arg);

/* freer.c: push and kick by H; idle: nothing queued or being freed. */
void freer_push(struct uswap *u, zs_handle h);
void freer_kick(struct uswap *u);
void *freer_main(void *arg);
void freer_stop(struct uswap *u);
int freer_idle(struct uswap *u);

#endif /* ZSALLOC_EXAMPLES_USWAP_INTERNAL_H */
