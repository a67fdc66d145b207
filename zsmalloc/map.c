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
 * may read them without a lock.
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
 * A straddling object is shown contiguously by the mapping layer:
 * mp_map_pair() with the pool's method (copy or remap), keyed by handle.
 */
#define _GNU_SOURCE
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zsmalloc/internal.h"

_Static_assert((int)ZS_MM_RW == (int)MP_RW && (int)ZS_MM_RO == (int)MP_RO &&
		       (int)ZS_MM_WO == (int)MP_WO,
	       "zs_mapmode and mp_mode agree");

enum { REC_MAP = 1, REC_READ = 2 };

struct zs_rec {
	_Atomic(const struct zs_pool *) pool; /* owner pool; NULL: record free */
	_Atomic(struct zspage *) pin;         /* pinned zspage; NULL: none */
	zs_handle handle;                     /* object mapped */
	struct size_class *class;             /* its class */
	uint32_t zspage_id;                   /* id of the pinned zspage */
	uint8_t kind;                         /* REC_MAP or REC_READ */
	uint8_t via_pair;                     /* mp_map_pair() to undo */
	const void *mem;                      /* pointer handed out */
	uint64_t seq;                         /* order: unmap takes the latest */
};

struct zs_thread {
	struct zs_rec rec[ZS_MAX_MAPPINGS];
	uint64_t tick;           /* records made, for seq */
	_Atomic int alive;       /* 0: the thread exited; block reusable */
	struct zs_thread *next;  /* registry link, set before publication */
};

static _Atomic(struct zs_thread *) zs_threads; /* registry, append-only */
static __thread struct zs_thread *zs_self
	__attribute__((tls_model("initial-exec")));
static pthread_key_t zs_thread_key;
static pthread_once_t zs_thread_once = PTHREAD_ONCE_INIT;
static int zs_thread_key_err;

static _Atomic int zs_membarrier_ok;
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
	atomic_store_explicit(&t->alive, 0, memory_order_release);
	zs_self = NULL;
}

static void thread_key_create(void)
{
	zs_thread_key_err = pthread_key_create(&zs_thread_key, thread_exit);
}

static struct zs_thread *thread_get(void)
{
	struct zs_thread *t = zs_self, *head;

	if (t)
		return t;
	pthread_once(&zs_thread_once, thread_key_create);
	if (zs_thread_key_err)
		return NULL;
	for (t = atomic_load_explicit(&zs_threads, memory_order_acquire); t; t = t->next) {
		int dead = 0;

		if (atomic_compare_exchange_strong(&t->alive, &dead, 1))
			goto found;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	atomic_store_explicit(&t->alive, 1, memory_order_relaxed);
	head = atomic_load_explicit(&zs_threads, memory_order_relaxed);
	do {
		t->next = head;
	} while (!atomic_compare_exchange_weak_explicit(&zs_threads, &head, t,
							memory_order_release,
							memory_order_relaxed));
found:
	if (pthread_setspecific(zs_thread_key, t)) {
		atomic_store_explicit(&t->alive, 0, memory_order_release);
		return NULL;
	}
	zs_self = t;
	return t;
}

static struct zs_rec *rec_claim(struct zs_thread *t, const struct zs_pool *pool)
{
	int i;

	for (i = 0; i < ZS_MAX_MAPPINGS; i++) {
		struct zs_rec *r = &t->rec[i];

		if (!atomic_load_explicit(&r->pool, memory_order_relaxed)) {
			atomic_store_explicit(&r->pool, pool, memory_order_relaxed);
			return r;
		}
	}
	return NULL;
}

static void rec_release(struct zs_rec *r)
{
	atomic_store_explicit(&r->pin, NULL, memory_order_release);
	atomic_store_explicit(&r->pool, NULL, memory_order_release);
}

/* This thread's latest record of @h in @pool of @kind (and @mem, if set). */
static struct zs_rec *rec_find(const struct zs_pool *pool, zs_handle h,
			       int kind, const void *mem)
{
	struct zs_thread *t = zs_self;
	struct zs_rec *found = NULL;
	int i;

	if (!t)
		return NULL;
	for (i = 0; i < ZS_MAX_MAPPINGS; i++) {
		struct zs_rec *r = &t->rec[i];

		if (atomic_load_explicit(&r->pool, memory_order_relaxed) == pool &&
		    r->handle == h && r->kind == kind && (!mem || r->mem == mem) &&
		    (!found || r->seq > found->seq))
			found = r;
	}
	return found;
}

void zs_release_deferred_locked(struct size_class *class, uint32_t id,
				struct zspage *z)
{
	if (zs_deferred(z) && z->inuse == 0 && !zs_zspage_pinned(z))
		zs_zspage_release(class, id, z);
}

/* Drop @r's pin (freeing a zspage emptied meanwhile) and the record. */
static void rec_unpin_release(struct zs_rec *r)
{
	struct zspage *z = atomic_load_explicit(&r->pin, memory_order_relaxed);
	struct size_class *class = r->class;
	uint32_t id = r->zspage_id;

	rec_release(r);
	if (z && zs_deferred(z)) {
		zs_class_lock(class);
		zs_release_deferred_locked(class, id, z);
		zs_class_unlock(class);
	}
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

int zs_mapped_here(const struct zs_pool *pool, zs_handle h)
{
	struct zs_thread *t = zs_self;
	int i;

	if (!t)
		return 0;
	for (i = 0; i < ZS_MAX_MAPPINGS; i++)
		if (atomic_load_explicit(&t->rec[i].pool, memory_order_relaxed) == pool &&
		    t->rec[i].handle == h)
			return 1;
	return 0;
}

/* ---- Pinning an object ---------------------------------------------------- */

/*
 * Pin the zspage holding live handle @h in record @r and return its id, the
 * zspage and the object's byte offset in it. 0 or -EINVAL (bad handle).
 */
static int obj_pin(struct size_class *class, zs_handle h, struct zs_rec *r,
		   struct zspage **zp, uint32_t *offp)
{
	uint32_t s1, loc;
	struct zspage *z;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		s1 = atomic_load_explicit(&class->seq, memory_order_acquire);
		if (s1 & 1)
			break; /* compaction is moving objects: wait for it */
		if (zs_slot_lookup(class, h, &loc))
			return -EINVAL;
		z = zs_zspage_of(class, zs_loc_id(class, loc));
		if (!z)
			return -EINVAL;
		pin_publish(r, z);
		if (atomic_load_explicit(&class->seq, memory_order_seq_cst) == s1)
			goto pinned;
		atomic_store_explicit(&r->pin, NULL, memory_order_release);
	}
	zs_class_lock(class);
	if (zs_slot_lookup(class, h, &loc) ||
	    !(z = zs_zspage_of(class, zs_loc_id(class, loc)))) {
		zs_class_unlock(class);
		return -EINVAL;
	}
	atomic_store_explicit(&r->pin, z, memory_order_release);
	zs_class_unlock(class);
pinned:
	r->handle = h;
	r->class = class;
	r->zspage_id = zs_loc_id(class, loc);
	*zp = z;
	*offp = zs_loc_idx(class, loc) * class->size;
	return 0;
}

static void rec_fill(struct zs_thread *t, struct zs_rec *r, int kind,
		     const void *mem, int via_pair)
{
	r->kind = (uint8_t)kind;
	r->mem = mem;
	r->via_pair = (uint8_t)via_pair;
	r->seq = ++t->tick;
}

/* ---- Public calls ------------------------------------------------------ */

void *zs_map_object(struct zs_pool *pool, zs_handle h, enum zs_mapmode mm)
{
	struct size_class *class;
	struct zs_thread *t;
	struct zs_rec *r;
	struct zspage *z;
	uint32_t off, in, k;
	void *ptr;
	int err;

	if (!pool || (unsigned)mm > ZS_MM_WO || !(class = zs_handle_to_class(pool, h))) {
		errno = EINVAL;
		return NULL;
	}
	t = thread_get();
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	r = rec_claim(t, pool);
	if (!r) {
		errno = EBUSY;
		return NULL;
	}
	if (obj_pin(class, h, r, &z, &off)) {
		rec_release(r);
		errno = EINVAL;
		return NULL;
	}
	in = off & (pool->page_size - 1);
	k = off >> pool->page_shift;
	if (in + class->size <= pool->page_size) {
		ptr = zs_zspage_addr(pool, z, off);
		rec_fill(t, r, REC_MAP, ptr, 0);
		return ptr;
	}
	ptr = mp_map_pair(pool->src,
			  atomic_load_explicit(&zs_zspage_pfns(z)[k], memory_order_relaxed),
			  atomic_load_explicit(&zs_zspage_pfns(z)[k + 1], memory_order_relaxed),
			  in, class->size, (enum mp_mode)mm, pool->method, h);
	if (!ptr) {
		err = errno;
		rec_unpin_release(r);
		errno = err;
		return NULL;
	}
	rec_fill(t, r, REC_MAP, ptr, 1);
	return ptr;
}

void zs_unmap_object(struct zs_pool *pool, zs_handle h)
{
	struct zs_rec *r = pool ? rec_find(pool, h, REC_MAP, NULL) : NULL;

	if (!r) {
		errno = EINVAL;
		return;
	}
	if (r->via_pair)
		mp_unmap_pair(pool->src, h); /* copies back for RW and WO */
	rec_unpin_release(r);
}

void *zs_obj_read_begin(struct zs_pool *pool, zs_handle h, size_t len,
			void *local_copy)
{
	struct size_class *class;
	struct zs_thread *t;
	struct zs_rec *r;
	struct zspage *z;
	uint32_t off;
	void *ptr;

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
	r = rec_claim(t, pool);
	if (!r) {
		errno = EBUSY;
		return NULL;
	}
	if (obj_pin(class, h, r, &z, &off)) {
		rec_release(r);
		errno = EINVAL;
		return NULL;
	}
	if ((off & (pool->page_size - 1)) + len <= pool->page_size) {
		ptr = zs_zspage_addr(pool, z, off); /* in place, pinned */
	} else {
		/* Straddles: copy, and hold no pin past the copy. */
		zs_obj_copy_out(pool, z, off, local_copy, (uint32_t)len);
		ptr = local_copy;
		atomic_store_explicit(&r->pin, NULL, memory_order_release);
		if (zs_deferred(z)) {
			zs_class_lock(class);
			zs_release_deferred_locked(class, r->zspage_id, z);
			zs_class_unlock(class);
		}
	}
	rec_fill(t, r, REC_READ, ptr, 0);
	return ptr;
}

int zs_obj_read_end(struct zs_pool *pool, zs_handle h, const void *mem)
{
	struct zs_rec *r = pool && mem ? rec_find(pool, h, REC_READ, mem) : NULL;

	if (!r)
		return -EINVAL;
	rec_unpin_release(r);
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
