/*
 * map.c - reaching objects: map/unmap, read_begin/end, obj_write, and pins.
 *
 * A mapping hands the caller a pointer into a zspage's pages (or into a
 * per-thread copy of a straddling object). Until the caller unmaps,
 * compaction must not move objects out of that zspage. The kernel holds a
 * lock across the mapping; here map takes no lock at all. Each thread owns
 * a small array of records (ZS_MAX_MAPPINGS); a record holds the pinned
 * zspage. All threads' record blocks sit on one registry list that is only
 * ever appended to (a block is recycled when its thread exits), so anyone
 * may read them without a lock. The block also holds the thread's shard
 * number (zsmalloc.c, "Shards"), picked when the thread registers.
 *
 *   mapper (this file)                 compactor (compact.c, class lock held)
 *   s1 = seq (acquire); odd: lock      seq++              (now odd)
 *   look up the slot -> zspage Z       membarrier()       (full barrier on
 *   record.pin = Z                                         every thread)
 *   compiler barrier                   read every record.pin
 *   s2 = seq (acquire)                 move objects, never out of a pinned
 *   s1 != s2: clear pin, retry         zspage
 *   return a pointer into Z            seq++              (even again)
 *
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) makes every running thread
 * execute a full barrier, so either the compactor sees the mapper's pin, or
 * the mapper's second read of seq sees it odd and retries (under the class
 * lock, which compaction holds). The map path therefore costs plain loads
 * and stores, no atomic read-modify-write. Where membarrier is missing the
 * mapper issues a full fence instead.
 *
 * A zs_free() of the same handle racing the map is the caller's race (as
 * free() and a use in another thread), but the pool must stay sound. The
 * mapper reads the handle's slot again after publishing its pin: a handle
 * freed before that read fails the map (EINVAL). zs_free() frees the slot,
 * then looks for pins of a zspage it emptied and leaves a pinned one to
 * the last unpin. Without a barrier on the free side (one per emptied
 * zspage would cost microseconds with several threads) the two can still
 * miss each other while the mapper's pin store waits in its CPU's store
 * buffer: the map then succeeds into a zspage being given back, whose
 * memory may go to other objects - the caller's race, like a use after
 * free(). The zspage record stays valid memory: compaction, which does
 * run the barrier, never trims a record chunk that holds a pinned record.
 *
 * A straddling object is shown contiguously in one of two ways. Copy (the
 * default, the kernel's path): its two parts are copied into a page-sized
 * buffer of the thread's record, and back at unmap for RW and WO. Remap:
 * the mapping layer's per-thread window shows the two pages side by side
 * (mp_map_pair(), keyed by handle). In-page objects are returned in place.
 */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zsmalloc/internal.h"

_Static_assert((int)ZS_MM_RW == (int)MP_RW && (int)ZS_MM_RO == (int)MP_RO &&
		       (int)ZS_MM_WO == (int)MP_WO,
	       "zs_mapmode and mp_mode agree");

/* zs_rec.kind: what made the record, and what its release must undo. */
enum {
	REC_MAP = 0x1,   /* zs_map_object */
	REC_READ = 0x2,  /* zs_obj_read_begin */
	REC_COPY = 0x4,  /* straddling, through this record's copy buffer */
	REC_PAIR = 0x8,  /* straddling, through mp_map_pair() (remap window) */
	REC_WRITE = 0x10, /* copy back at unmap (ZS_MM_RW, ZS_MM_WO) */
};

struct zs_rec {
	_Atomic(const struct zs_pool *) pool; /* owner pool; NULL: record free */
	_Atomic(struct zspage *) pin;         /* pinned zspage; NULL: none */
	_Atomic zs_handle handle;             /* object mapped (read by zs_free
						 of any thread) */
	const void *mem;                      /* pointer handed out */
	uint64_t seq;                         /* order: unmap takes the latest */
	uint32_t loc;                         /* the object's location */
	uint8_t kind;                         /* REC_* bits */
};

struct zs_thread {
	struct zs_rec rec[ZS_MAX_MAPPINGS];
	unsigned free_mask;      /* bit i set: rec[i] is free */
	unsigned last;           /* the latest live record (if any is live) */
	uint64_t tick;           /* records made, for seq */
	uint8_t *buffers;        /* copy buffers, a page per record; lazily */
	unsigned shard;          /* 0 .. ZS_MAX_SHARDS - 1; zs_attach_lock */
	_Atomic int alive;       /* 0: the thread exited; block reusable */
	struct zs_thread *next;  /* registry link, set before publication */
};

#define ZS_ALL_FREE ((1u << ZS_MAX_MAPPINGS) - 1)

static _Atomic(struct zs_thread *) zs_threads; /* registry, append-only */
static __thread struct zs_thread *zs_self
	__attribute__((tls_model("initial-exec")));
__thread uint8_t zs_shard_tls __attribute__((tls_model("initial-exec")));
static pthread_mutex_t zs_attach_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t zs_thread_key;
static pthread_once_t zs_thread_once = PTHREAD_ONCE_INIT;
static int zs_thread_key_err;

static _Atomic int zs_membarrier_ok;

#ifdef ZS_TEST_HOOKS
void (*zs_test_hook_map_looked_up)(zs_handle h);
void (*zs_test_hook_free_scanned)(zs_handle h);
#endif
static pthread_once_t zs_barrier_once = PTHREAD_ONCE_INIT;

/* ---- Barriers ----------------------------------------------------------- */

static void barrier_register(void)
{
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
	    syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
		atomic_store(&zs_membarrier_ok, 1);
}

void zs_barrier_init(void)
{
	pthread_once(&zs_barrier_once, barrier_register);
}

/*
 * Publish a pin so that the compactor sees it or we see its seq. With
 * membarrier the compactor's barrier orders our plain store; without it we
 * use a sequentially consistent store, which with the compactor's
 * seq_cst increment of seq and seq_cst loads of pins forms Dekker's
 * handshake in plain C11.
 */
static inline void pin_publish(struct zs_rec *r, struct zspage *z)
{
	if (atomic_load_explicit(&zs_membarrier_ok, memory_order_relaxed)) {
		atomic_store_explicit(&r->pin, z, memory_order_relaxed);
		atomic_signal_fence(memory_order_seq_cst);
	} else {
		atomic_store_explicit(&r->pin, z, memory_order_seq_cst);
	}
}

/* After the compactor made seq odd (seq_cst), before it reads pins. */
static int writer_barrier(void)
{
	if (!atomic_load_explicit(&zs_membarrier_ok, memory_order_relaxed))
		return 0; /* mappers publish with seq_cst stores */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0)
		return 0;
	return -EAGAIN;
}

/* ---- Thread records ------------------------------------------------------- */

static void thread_exit(void *arg)
{
	struct zs_thread *t = arg;
	int i;

	/* Mappings left behind are dropped: their pins must not outlive us. */
	for (i = 0; i < ZS_MAX_MAPPINGS; i++) {
		atomic_store_explicit(&t->rec[i].pin, NULL, memory_order_release);
		atomic_store_explicit(&t->rec[i].pool, NULL, memory_order_release);
	}
	t->free_mask = ZS_ALL_FREE;
	free(t->buffers);
	t->buffers = NULL;
	atomic_store_explicit(&t->alive, 0, memory_order_release);
	zs_self = NULL;
	zs_shard_tls = 0;
}

static void thread_key_create(void)
{
	zs_thread_key_err = pthread_key_create(&zs_thread_key, thread_exit);
}

uint32_t zs_default_shards(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		return 1;
	return cpus < ZS_MAX_SHARDS ? (uint32_t)cpus : ZS_MAX_SHARDS;
}

/*
 * A shard number for a new thread, 0 .. ZS_MAX_SHARDS - 1, under
 * zs_attach_lock. A pool with n shards uses the number modulo n. The pick
 * balances live threads first over the shards of a default pool (n = the
 * CPUs, up to ZS_MAX_SHARDS), then over the numbers themselves, lowest on
 * a tie: up to ZS_MAX_SHARDS live threads have distinct numbers.
 */
static unsigned shard_pick(void)
{
	unsigned count[ZS_MAX_SHARDS] = { 0 }, load[ZS_MAX_SHARDS] = { 0 };
	unsigned s, best = 0, n = zs_default_shards();
	struct zs_thread *t;

	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next)
		if (atomic_load_explicit(&t->alive, memory_order_acquire)) {
			count[t->shard]++;
			load[t->shard % n]++;
		}
	for (s = 1; s < ZS_MAX_SHARDS; s++)
		if (load[s % n] < load[best % n] ||
		    (load[s % n] == load[best % n] && count[s] < count[best]))
			best = s;
	return best;
}

/* This thread's block, registered on first use; NULL on failure. */
static __attribute__((noinline)) struct zs_thread *thread_attach(void)
{
	struct zs_thread *t;
	unsigned shard;

	pthread_once(&zs_thread_once, thread_key_create);
	if (zs_thread_key_err)
		return NULL;
	pthread_mutex_lock(&zs_attach_lock);
	shard = shard_pick();
	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next)
		if (!atomic_load_explicit(&t->alive, memory_order_acquire))
			goto found;
	/* A cache line of its own: other threads' records sit next to it. */
	t = aligned_alloc(64, (sizeof(*t) + 63) & ~(size_t)63);
	if (!t) {
		pthread_mutex_unlock(&zs_attach_lock);
		return NULL;
	}
	memset(t, 0, sizeof(*t));
	t->free_mask = ZS_ALL_FREE;
	/* Appended under zs_attach_lock; readers walk it without a lock. */
	t->next = atomic_load_explicit(&zs_threads, memory_order_relaxed);
	atomic_store_explicit(&zs_threads, t, memory_order_release);
found:
	if (pthread_setspecific(zs_thread_key, t)) {
		pthread_mutex_unlock(&zs_attach_lock);
		return NULL;
	}
	t->shard = shard;
	atomic_store_explicit(&t->alive, 1, memory_order_release);
	pthread_mutex_unlock(&zs_attach_lock);
	zs_self = t;
	zs_shard_tls = (uint8_t)(shard + 1);
	return t;
}

unsigned zs_shard_attach(void)
{
	struct zs_thread *t = zs_self ? zs_self : thread_attach();

	return t ? t->shard : 0;
}

static inline struct zs_thread *thread_get(void)
{
	struct zs_thread *t = zs_self;

	return __builtin_expect(t != NULL, 1) ? t : thread_attach();
}

/* The latest live record of @h in @pool of @kind (and @mem, if set), or
 * -1. The latest record overall is checked first: mappings nest. */
static inline int rec_find(struct zs_thread *t, const struct zs_pool *pool,
			   zs_handle h, unsigned kind, const void *mem)
{
	struct zs_rec *r;
	unsigned live, i;
	int found = -1;

	if (!t || t->free_mask == ZS_ALL_FREE)
		return -1;
	r = &t->rec[t->last];
	if (__builtin_expect(atomic_load_explicit(&r->pool, memory_order_relaxed) == pool &&
			     atomic_load_explicit(&r->handle, memory_order_relaxed) == h &&
			     (r->kind & kind) && (!mem || r->mem == mem), 1))
		return (int)t->last;
	live = ~t->free_mask & ZS_ALL_FREE;
	for (i = 0; i < ZS_MAX_MAPPINGS; i++) {
		r = &t->rec[i];
		if ((live & (1u << i)) &&
		    atomic_load_explicit(&r->pool, memory_order_relaxed) == pool &&
		    atomic_load_explicit(&r->handle, memory_order_relaxed) == h &&
		    (r->kind & kind) && (!mem || r->mem == mem) &&
		    (found < 0 || r->seq > t->rec[found].seq))
			found = (int)i;
	}
	return found;
}

/* Free record @i of @t; the latest live record becomes t->last. */
static inline void rec_release(struct zs_thread *t, unsigned i)
{
	struct zs_rec *r = &t->rec[i];
	unsigned live;

	atomic_store_explicit(&r->pin, NULL, memory_order_release);
	atomic_store_explicit(&r->pool, NULL, memory_order_release);
	t->free_mask |= 1u << i;
	live = ~t->free_mask & ZS_ALL_FREE;
	if (__builtin_expect(live != 0, 0)) {
		unsigned j, best = 0;
		uint64_t seq = 0;

		for (j = 0; j < ZS_MAX_MAPPINGS; j++)
			if ((live & (1u << j)) && t->rec[j].seq >= seq) {
				seq = t->rec[j].seq;
				best = j;
			}
		t->last = best;
	}
}

void zs_release_deferred_locked(struct size_class *class, uint32_t id,
				struct zspage *z)
{
	if (zs_deferred(z) && z->inuse == 0 && !zs_zspage_pinned(z))
		zs_zspage_release(class, id, z, NULL);
}

/*
 * Drop record @r's pin on @z, the zspage of id @id in @class, and free @z
 * if it was emptied while pinned and no other thread pins it. Under the
 * class lock, so that from the moment the pin goes until the zspage is
 * freed nothing can recycle its record; the record is touched only once it
 * is known to be still the one of @id (a map that lost a race with
 * zs_free() may pin a record that compaction has since renumbered).
 */
static __attribute__((noinline)) void unpin_locked(struct size_class *class,
						   struct zs_rec *r, uint32_t id,
						   struct zspage *z)
{
	zs_class_lock(class);
	atomic_store_explicit(&r->pin, NULL, memory_order_release);
	if (id < class->nr_ids && zs_zspage_at(class, id) == z)
		zs_release_deferred_locked(class, id, z);
	zs_class_unlock(class);
}

/* Drop record @i's pin on @z, a zspage that was emptied while pinned (its
 * objects were freed by a thread racing this one's mapping). */
static void unpin_deferred(struct zs_pool *pool, struct zs_thread *t, unsigned i,
			   struct zspage *z)
{
	struct size_class *class = zs_mapped_class(
		pool, atomic_load_explicit(&t->rec[i].handle, memory_order_relaxed));

	unpin_locked(class, &t->rec[i], zs_loc_id(class, t->rec[i].loc), z);
}

/*
 * Drop record @i's pin. The zspage record is read only while the pin holds
 * (compaction may renumber or free records the moment it goes). A zspage
 * that is emptied between the check and the unpin stays deferred until the
 * next zs_compact() frees it.
 */
static inline void rec_unpin(struct zs_pool *pool, struct zs_thread *t, unsigned i)
{
	struct zspage *z = atomic_load_explicit(&t->rec[i].pin, memory_order_relaxed);

	if (z && __builtin_expect(zs_deferred(z), 0))
		unpin_deferred(pool, t, i, z);
	else
		atomic_store_explicit(&t->rec[i].pin, NULL, memory_order_release);
}

/* Drop record @i's pin and free the record. */
static inline void rec_unpin_release(struct zs_thread *t, unsigned i,
				     struct zs_pool *pool)
{
	rec_unpin(pool, t, i);
	rec_release(t, i);
}

int zs_zspage_pinned(const struct zspage *z)
{
	struct zs_thread *t;
	int i;

	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next)
		for (i = 0; i < ZS_MAX_MAPPINGS; i++)
			if (atomic_load_explicit(&t->rec[i].pin, memory_order_acquire) == z)
				return 1;
	return 0;
}

int zs_pins_snapshot(const struct zspage **out, size_t max, size_t *count)
{
	struct zs_thread *t;
	size_t n = 0;
	int i;

	if (writer_barrier())
		return -EAGAIN;
	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next)
		for (i = 0; i < ZS_MAX_MAPPINGS; i++) {
			const struct zspage *z =
				atomic_load_explicit(&t->rec[i].pin, memory_order_seq_cst);

			if (z) {
				if (n < max)
					out[n] = z;
				n++;
			}
		}
	*count = n;
	return 0;
}

size_t zs_pool_mappings(const struct zs_pool *pool)
{
	struct zs_thread *t;
	size_t n = 0;
	int i;

	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next)
		for (i = 0; i < ZS_MAX_MAPPINGS; i++)
			n += atomic_load_explicit(&t->rec[i].pool, memory_order_acquire) == pool;
	return n;
}

int zs_mapped_anywhere(const struct zs_pool *pool, zs_handle h)
{
	struct zs_thread *t;
	int i;

	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next)
		for (i = 0; i < ZS_MAX_MAPPINGS; i++)
			if (atomic_load_explicit(&t->rec[i].pool, memory_order_acquire) == pool &&
			    atomic_load_explicit(&t->rec[i].handle, memory_order_relaxed) == h)
				return 1;
	return 0;
}

/* ---- Pinning an object ---------------------------------------------------- */

/* The slow path of obj_pin(): under the class lock, while compaction runs. */
static __attribute__((noinline)) int obj_pin_locked(struct size_class *class,
						    zs_handle h, struct zs_rec *r,
						    uint32_t *locp)
{
	struct zspage *z;
	uint32_t loc;

	zs_class_lock(class);
	if (zs_slot_lookup(class, h, &loc) ||
	    !(z = zs_zspage_of(class, zs_loc_id(class, loc)))) {
		zs_class_unlock(class);
		return -EINVAL;
	}
	atomic_store_explicit(&r->pin, z, memory_order_release);
	zs_class_unlock(class);
	*locp = loc;
	return 0;
}

/* 1 if handle @h is still live at @loc: read after the pin is published
 * (see the top of this file). */
static inline int slot_still(struct size_class *class, zs_handle h, uint32_t loc)
{
	uint32_t s = zs_handle_slot(h);
	uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);

	return atomic_load_explicit(zs_slot_loc(chunk, s), memory_order_seq_cst) == loc &&
	       atomic_load_explicit(zs_slot_gen(chunk, s), memory_order_relaxed) ==
		       zs_handle_gen(h);
}

/*
 * Pin the zspage holding live handle @h in record @r and return the
 * object's location. 0, or -EINVAL (bad handle). See the top of this file.
 */
static inline __attribute__((always_inline)) int
obj_pin(struct size_class *class, zs_handle h, struct zs_rec *r, uint32_t *locp)
{
	uint32_t s1, loc;
	struct zspage *z;

	s1 = atomic_load_explicit(&class->seq, memory_order_acquire);
	if (__builtin_expect(s1 & 1, 0))
		return obj_pin_locked(class, h, r, locp);
	if (__builtin_expect(zs_slot_lookup(class, h, &loc) ||
			     !(z = zs_zspage_of(class, zs_loc_id(class, loc))), 0)) {
		/* A bad handle, or a compaction that began after s1 moved
		 * the object and trimmed the record's chunk: only the class
		 * lock tells which. */
		if (atomic_load_explicit(&class->seq, memory_order_seq_cst) != s1)
			return obj_pin_locked(class, h, r, locp);
		return -EINVAL;
	}
	ZS_TEST_HOOK(map_looked_up, h);
	pin_publish(r, z);
	if (__builtin_expect(atomic_load_explicit(&class->seq, memory_order_seq_cst) != s1, 0)) {
		atomic_store_explicit(&r->pin, NULL, memory_order_release);
		return obj_pin_locked(class, h, r, locp);
	}
	if (__builtin_expect(!slot_still(class, h, loc), 0)) {
		/* Freed by another thread meanwhile: if it emptied the zspage
		 * and saw our pin, the zspage waits for us. */
		unpin_locked(class, r, zs_loc_id(class, loc), z);
		return -EINVAL;
	}
	*locp = loc;
	return 0;
}

/* Claim a free record of @t for @h of @pool: its index, or -1 (all in
 * use). The handle is set before the pool, so that zs_free() on another
 * thread never pairs this pool with the previous mapping's handle. */
static inline int rec_claim(struct zs_thread *t, const struct zs_pool *pool,
			    zs_handle h)
{
	unsigned i;

	if (__builtin_expect(!t->free_mask, 0))
		return -1;
	i = (unsigned)__builtin_ctz(t->free_mask);
	atomic_store_explicit(&t->rec[i].handle, h, memory_order_relaxed);
	atomic_store_explicit(&t->rec[i].pool, pool, memory_order_release);
	return (int)i;
}

/* Make claimed record @i of @t live: pinned, filled, the latest. */
static inline void rec_commit(struct zs_thread *t, unsigned i, zs_handle h,
			      uint32_t loc, const void *mem, unsigned kind)
{
	struct zs_rec *r = &t->rec[i];

	(void)h; /* set by rec_claim() */
	r->mem = mem;
	r->kind = (uint8_t)kind;
	r->loc = loc;
	r->seq = ++t->tick;
	t->free_mask &= ~(1u << i);
	t->last = i;
}

/* Record @i's copy buffer (one page), or NULL when out of memory. */
static uint8_t *rec_buffer(struct zs_thread *t, unsigned i, uint32_t page)
{
	if (!t->buffers) {
		t->buffers = aligned_alloc(page, (size_t)ZS_MAX_MAPPINGS * page);
		if (!t->buffers)
			return NULL;
	}
	return t->buffers + (size_t)i * page;
}

/* ---- Public calls ------------------------------------------------------ */

void *zs_map_object(struct zs_pool *pool, zs_handle h, enum zs_mapmode mm)
{
	struct size_class *class;
	struct zs_thread *t;
	struct zspage *z;
	uint32_t loc, off, in;
	unsigned kind = REC_MAP;
	void *ptr;
	int i, err;

	if (!pool || (unsigned)mm > ZS_MM_WO || !(class = zs_handle_to_class(pool, h))) {
		errno = EINVAL;
		return NULL;
	}
	t = thread_get();
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	i = rec_claim(t, pool, h);
	if (i < 0) {
		errno = EBUSY;
		return NULL;
	}
	if (obj_pin(class, h, &t->rec[i], &loc)) {
		atomic_store_explicit(&t->rec[i].pool, NULL, memory_order_relaxed);
		errno = EINVAL;
		return NULL;
	}
	z = atomic_load_explicit(&t->rec[i].pin, memory_order_relaxed);
	off = zs_loc_idx(class, loc) * class->size;
	in = off & (pool->page_size - 1);
	if (__builtin_expect(in + class->size <= pool->page_size, 1)) {
		ptr = zs_zspage_addr(pool, z, off);
	} else if (pool->method == MP_COPY) {
		ptr = rec_buffer(t, (unsigned)i, pool->page_size);
		if (!ptr) {
			err = ENOMEM;
			goto fail;
		}
		if (mm != ZS_MM_WO)
			zs_obj_copy_out(pool, z, off, ptr, class->size);
		kind |= REC_COPY | (mm != ZS_MM_RO ? REC_WRITE : 0);
	} else {
		uint32_t k = off >> pool->page_shift;

		ptr = mp_map_pair(pool->src,
				  atomic_load_explicit(&zs_zspage_pfns(z)[k], memory_order_relaxed),
				  atomic_load_explicit(&zs_zspage_pfns(z)[k + 1], memory_order_relaxed),
				  in, class->size, (enum mp_mode)mm, MP_REMAP, h);
		if (!ptr) {
			err = errno;
			goto fail;
		}
		kind |= REC_PAIR;
	}
	rec_commit(t, (unsigned)i, h, loc, ptr, kind);
	return ptr;
fail:
	atomic_store_explicit(&t->rec[i].pin, NULL, memory_order_release);
	atomic_store_explicit(&t->rec[i].pool, NULL, memory_order_relaxed);
	errno = err;
	return NULL;
}

void zs_unmap_object(struct zs_pool *pool, zs_handle h)
{
	struct zs_thread *t = zs_self;
	int i = pool ? rec_find(t, pool, h, REC_MAP, NULL) : -1;
	struct zs_rec *r;

	if (i < 0) {
		errno = EINVAL;
		return;
	}
	r = &t->rec[i];
	if (__builtin_expect(r->kind & (REC_WRITE | REC_PAIR), 0)) {
		if (r->kind & REC_PAIR) {
			mp_unmap_pair(pool->src, h); /* a window: nothing to copy */
		} else {
			struct size_class *class = zs_mapped_class(pool, h);

			zs_obj_copy_in(pool, atomic_load_explicit(&r->pin, memory_order_relaxed),
				       zs_loc_idx(class, r->loc) * class->size, r->mem,
				       class->size);
		}
	}
	rec_unpin_release(t, (unsigned)i, pool);
}

void *zs_obj_read_begin(struct zs_pool *pool, zs_handle h, size_t len,
			void *local_copy)
{
	struct size_class *class;
	struct zs_thread *t;
	struct zspage *z;
	uint32_t loc, off;
	void *ptr;
	int i;

	if (!pool || !local_copy || !(class = zs_handle_to_class(pool, h)) ||
	    len == 0 || len > class->size) {
		errno = EINVAL;
		return NULL;
	}
	t = thread_get();
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	i = rec_claim(t, pool, h);
	if (i < 0) {
		errno = EBUSY;
		return NULL;
	}
	if (obj_pin(class, h, &t->rec[i], &loc)) {
		atomic_store_explicit(&t->rec[i].pool, NULL, memory_order_relaxed);
		errno = EINVAL;
		return NULL;
	}
	z = atomic_load_explicit(&t->rec[i].pin, memory_order_relaxed);
	off = zs_loc_idx(class, loc) * class->size;
	if ((off & (pool->page_size - 1)) + len <= pool->page_size) {
		ptr = zs_zspage_addr(pool, z, off); /* in place, pinned */
	} else {
		/* Straddles: copy, and hold no pin past the copy. */
		zs_obj_copy_out(pool, z, off, local_copy, (uint32_t)len);
		ptr = local_copy;
		t->rec[i].loc = loc;
		rec_unpin(pool, t, (unsigned)i);
	}
	rec_commit(t, (unsigned)i, h, loc, ptr, REC_READ);
	return ptr;
}

int zs_obj_read_end(struct zs_pool *pool, zs_handle h, const void *mem)
{
	struct zs_thread *t = zs_self;
	int i = pool && mem ? rec_find(t, pool, h, REC_READ, mem) : -1;

	if (i < 0)
		return -EINVAL;
	rec_unpin_release(t, (unsigned)i, pool);
	return 0;
}

int zs_obj_write(struct zs_pool *pool, zs_handle h, const void *buf, size_t len)
{
	struct size_class *class;
	struct zspage *z;
	uint32_t loc;

	if (!pool || !buf || !(class = zs_handle_to_class(pool, h)) || len == 0 ||
	    len > class->size)
		return -EINVAL;
	zs_class_lock(class);
	if (zs_slot_lookup(class, h, &loc) ||
	    !(z = zs_zspage_of(class, zs_loc_id(class, loc)))) {
		zs_class_unlock(class);
		return -EINVAL;
	}
	zs_obj_copy_in(pool, z, zs_loc_idx(class, loc) * class->size, buf,
		       (uint32_t)len);
	zs_class_unlock(class);
	return 0;
}
