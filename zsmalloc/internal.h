/*
 * internal.h - zsmalloc's records, shared by its .c files. Not installed.
 *
 * Glossary (see zsmalloc.c for the design essay):
 *   page      an order-0 page of the pool's page source, named by a pfn
 *   zspage    a chain of 1..ppz pages holding opz objects of one class back
 *             to back; pages are added lazily as objects reach them
 *   class     objects of one size (a multiple of the class delta), with its
 *             own lock, zspages, fullness lists and handle table
 *   slot      a handle-table entry: the object's location and a generation
 *   location  (zspage id << idx_bits) | object index, 31 bits
 *   pin       a thread's record that it holds a pointer into a zspage
 *   seq       a class's sequence count, odd while compaction moves objects
 */
#ifndef ZSALLOC_ZSMALLOC_INTERNAL_H
#define ZSALLOC_ZSMALLOC_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mapping/mapping.h"
#include "zsmalloc/zsmalloc.h"

/* ---- Test hooks ---------------------------------------------------------- */

/* A build with -DZS_TEST_HOOKS (//zsmalloc:zsmalloc_test_hooks, for tests
 * only) calls these, when set, at the two points where a map and a free of
 * the same handle in two threads can interleave badly, so that a test can
 * hold each thread there. Other builds compile them away. */
#ifdef ZS_TEST_HOOKS
extern void (*zs_test_hook_map_looked_up)(zs_handle h);
extern void (*zs_test_hook_free_scanned)(zs_handle h);
#define ZS_TEST_HOOK(name, h)                      \
	do {                                       \
		if (zs_test_hook_##name)           \
			zs_test_hook_##name(h);    \
	} while (0)
#else
#define ZS_TEST_HOOK(name, h) \
	do {                  \
	} while (0)
#endif

/* ---- Tunables (each with its reason) -------------------------------- */

/* Class delta = page size >> ZS_CLASS_BITS: 16 bytes for 4 KiB pages, as
 * the kernel. Finer classes waste less to rounding but make more partial
 * zspages; 16 bytes costs ~0.5 % on compressed pages. */
#define ZS_CLASS_BITS 8
#define ZS_NR_SIZES (1u << ZS_CLASS_BITS) /* size indices, before merging */

/* Handle layout, 64 bits: | tag 10 | shard 2 | class 8 | gen 16 | slot 28 |.
 * The tag names the pool (never 0, so no handle is 0; 1023 pools alive at
 * once); shard and class name the size class (class->index holds both);
 * the generation changes each time a slot is freed, so a stale handle is
 * refused until the slot has been reused exactly 65536 times; 2^28 - 1
 * slots per class and shard. */
#define ZS_SLOT_BITS 28
#define ZS_GEN_BITS 16
#define ZS_SHARD_BITS 2
#define ZS_HCLASS_BITS (ZS_SHARD_BITS + ZS_CLASS_BITS)
#define ZS_TAG_BITS 10
_Static_assert(ZS_SLOT_BITS + ZS_GEN_BITS + ZS_HCLASS_BITS + ZS_TAG_BITS == 64,
	       "handle fields fill 64 bits");
_Static_assert(sizeof(uintptr_t) == 8, "zsmalloc needs 64-bit handles");
_Static_assert((1u << ZS_SHARD_BITS) == ZS_MAX_SHARDS, "every shard fits a handle");
#define ZS_SLOT_NONE ((1u << ZS_SLOT_BITS) - 1) /* end of the free-slot list */
#define ZS_MAX_SLOTS ZS_SLOT_NONE

/* Slot tables and zspage records grow in chunks that never move, so that
 * map reads them without a lock. Small chunks keep a class that holds few
 * objects cheap (a pool uses ~190 classes); the directories that index them
 * cost 0.1 byte per object. 64 slots = 384 bytes; 4 zspage records. */
#define ZS_SLOT_CHUNK_SHIFT 6
#define ZS_ZSPAGE_CHUNK_SHIFT 2
#define ZS_SLOT_CHUNK (1u << ZS_SLOT_CHUNK_SHIFT)
#define ZS_ZSPAGE_CHUNK (1u << ZS_ZSPAGE_CHUNK_SHIFT)

/* Default zspage chain length: 16 (the kernel's maximum) wastes least, and
 * lazy page population removes the cost of long chains that are not full. */
#define ZS_DEFAULT_PAGES_PER_ZSPAGE 16
_Static_assert(ZS_DEFAULT_PAGES_PER_ZSPAGE <= ZS_MAX_PAGES_PER_ZSPAGE, "");
_Static_assert(ZS_MAX_PAGES_PER_ZSPAGE <= 255, "npages is a byte");

/* ---- Locations and slots ---------------------------------------------- */

#define ZS_LOC_FREE (1u << 31)  /* slot is free; low bits: next free slot */
#define ZS_ID_NONE UINT32_MAX   /* no zspage (list ends, free ids) */

/* ---- Records ---------------------------------------------------------- */

/* A table of fixed-size elements in chunks that never move, reachable
 * without a lock: readers load dir (acquire), check idx < cap, load the
 * chunk (acquire). Writers grow it under the class lock; a directory that
 * is replaced is kept on the retired list until the pool dies, since a
 * reader may still hold it. */
struct zs_dir {
	uint32_t cap;               /* entries in chunk[] */
	struct zs_dir *retired;     /* older directory, kept for readers */
	_Atomic(uint8_t *) chunk[]; /* NULL: not allocated yet */
};

struct zs_table {
	_Atomic(struct zs_dir *) dir; /* &zs_empty_dir until the first chunk */
	uint32_t nr_chunks;           /* chunks allocated: chunk[0..nr) */
	uint32_t chunk_bytes;         /* bytes per chunk */
	uint64_t bytes;               /* chunks and directories, for stats */
};

/*
 * A zspage record, fixed-size per class, followed by pfn[ppz] and the
 * object bitmap (one bit per object, set = allocated):
 *
 *   | struct zspage (12) | _Atomic u32 pfn[ppz] | pad to 8 | u64 map[(opz+63)/64] |
 *
 * Invariants (class lock held):
 *   inuse == popcount(map) <= opz
 *   every allocated object i lies in present pages:
 *       (i + 1) * size <= npages * page_size, rounded up to a whole page
 *   group == fullness_group(inuse) and the zspage is on that list, except
 *       group == ZS_GROUP_UNUSED (the id is free) and deferred zspages
 *       (inuse == 0, kept on group 0 while a thread still pins them)
 */
struct zspage {
	uint32_t next;   /* fullness list (or free-id list) link, ZS_ID_NONE */
	uint32_t prev;   /* fullness list link, ZS_ID_NONE */
	uint16_t inuse;  /* allocated objects */
	uint8_t npages;  /* pages present: pfn[0 .. npages) */
	/* Fullness group it is listed in, or ZS_GROUP_UNUSED. Group 0 (empty)
	 * holds only zspages emptied while pinned ("deferred"), which the
	 * last unpin frees; unmap reads it without the lock, hence atomic. */
	_Atomic uint8_t group;
};
_Static_assert(sizeof(struct zspage) == 12, "zspage header is 12 bytes");

static inline int zs_group(struct zspage *z)
{
	return atomic_load_explicit(&z->group, memory_order_relaxed);
}

static inline void zs_set_group(struct zspage *z, int group)
{
	atomic_store_explicit(&z->group, (uint8_t)group, memory_order_relaxed);
}

/* Emptied while pinned: waiting for the last unpin to be freed. */
static inline int zs_deferred(struct zspage *z)
{
	return zs_group(z) == 0; /* ZS_GROUP_EMPTY */
}

#define ZS_GROUP_EMPTY 0
#define ZS_GROUP_FULL (ZS_NR_FULLNESS - 1)
#define ZS_GROUP_UNUSED 0xff

struct zs_pool;

/*
 * One size class. Two cache lines' worth of concerns: the first holds what
 * the lock-free map path reads (geometry, seq, the tables' directories,
 * which change rarely); the lock and everything it guards start on a line
 * of their own, so that allocations in a class do not evict its readers'
 * line on another CPU.
 */
struct size_class {
	/* read by map without the lock */
	_Atomic uint32_t seq;     /* odd while compaction moves objects */
	uint32_t index;           /* shard << ZS_CLASS_BITS | class number:
				     the handle's class field */
	uint32_t size;            /* object size */
	uint32_t merged_from;     /* smallest size that maps to this class */
	uint16_t ppz;             /* pages per zspage */
	uint16_t opz;             /* objects per zspage */
	uint8_t idx_bits;         /* object-index bits of a location */
	uint8_t huge;             /* one object per page */
	uint16_t map_words;       /* u64 words of a zspage's bitmap */
	uint32_t zspage_bytes;    /* size of one zspage record with its arrays */
	uint32_t map_offset;      /* offset of the bitmap in the record */
	uint32_t max_ids;         /* zspage ids must stay below this */
	struct zs_pool *pool;
	struct zs_table zspages;  /* zspage records by id (dir read lock-free) */
	struct zs_table slots;    /* handle slots: chunk: u32 loc[C], u16 gen[C] */

	/* written under the lock */
	_Alignas(64) _Atomic int lock; /* spin-then-yield, see zs_class_lock() */
	uint32_t nr_ids;          /* ids [0, nr_ids) have records */
	uint32_t free_ids;        /* free-id list head, linked by next */
	uint32_t head[ZS_NR_FULLNESS]; /* fullness list heads (ids) */
	uint16_t nonempty;        /* bit g set <=> head[g] != ZS_ID_NONE */
	uint64_t nr_zspages;      /* zspages alive (listed), deferred included */
	uint32_t nr_slots;        /* slots [0, nr_slots) exist */
	uint32_t free_slot;       /* free-slot list head, ZS_SLOT_NONE: empty */
	uint64_t obj_used;        /* live objects == allocated slots */
	uint64_t pages_used;      /* sum of npages */
} __attribute__((aligned(64)));

struct zs_pool {
	struct mp_source *src;    /* this pool's pages */
	uint8_t *base;            /* src's direct map */
	uint32_t page_size;
	unsigned page_shift;
	unsigned delta_shift;     /* log2(class delta) */
	uint32_t tag;             /* handle tag, 1 .. 2^ZS_TAG_BITS - 1 */
	enum mp_method method;    /* for straddling objects */
	uint32_t huge_size;       /* zs_huge_class_size() */
	uint32_t nr_sizes;        /* size classes (after merging) */
	uint32_t nr_shards;       /* 1 .. ZS_MAX_SHARDS */
	struct size_class *classes; /* shard 0's [nr_sizes], == shard[0] */
	/* Each shard's classes[nr_sizes]; NULL until a thread of that shard
	 * first allocates (zs_shard_create()), then fixed until the pool dies,
	 * so that a pool used by one thread holds one set of classes. */
	_Atomic(struct size_class *) shard[ZS_MAX_SHARDS];
	pthread_mutex_t shard_lock; /* creating a shard; zs_check() holds it */
	uint8_t class_of[ZS_NR_SIZES]; /* size index -> class number */
	_Atomic uint64_t pages_compacted;
	_Atomic uint64_t objects_moved;
	/* Pages compaction took out of its classes and gives back to the
	 * source after unlocking: zs_check() allows for them. */
	_Atomic uint64_t pages_in_flight;
	char name[32];
};

/* Classes (class.c): geometry, merging, tables of shard 0, @shards shards
 * in all; pool->page_size set. */
int zs_classes_init(struct zs_pool *pool, uint32_t max_ppz, uint32_t shards);
void zs_classes_destroy(struct zs_pool *pool);
/* Shard @s's classes, made on first use with shard 0's geometry; shard 0's
 * when out of memory (the object then goes there). */
struct size_class *zs_shard_create(struct zs_pool *pool, unsigned s);

/* Shard @s's classes, or NULL while no thread has allocated in it. */
static inline struct size_class *zs_shard_classes(struct zs_pool *pool, unsigned s)
{
	return atomic_load_explicit(&pool->shard[s], memory_order_acquire);
}

/* ---- Handles ------------------------------------------------------------ */

static inline zs_handle zs_handle_make(const struct zs_pool *pool,
				       uint32_t class_idx, uint32_t gen,
				       uint32_t slot)
{
	return ((uintptr_t)pool->tag << (64 - ZS_TAG_BITS)) |
	       ((uintptr_t)class_idx << (ZS_SLOT_BITS + ZS_GEN_BITS)) |
	       ((uintptr_t)gen << ZS_SLOT_BITS) | slot;
}

static inline uint32_t zs_handle_tag(zs_handle h)
{
	return (uint32_t)(h >> (64 - ZS_TAG_BITS));
}

static inline uint32_t zs_handle_class(zs_handle h)
{
	return (uint32_t)(h >> (ZS_SLOT_BITS + ZS_GEN_BITS)) &
	       ((1u << ZS_HCLASS_BITS) - 1);
}

static inline uint32_t zs_handle_gen(zs_handle h)
{
	return (uint32_t)(h >> ZS_SLOT_BITS) & ((1u << ZS_GEN_BITS) - 1);
}

static inline uint32_t zs_handle_slot(zs_handle h)
{
	return (uint32_t)h & ((1u << ZS_SLOT_BITS) - 1);
}

/* The class a handle names, or NULL if it cannot be this pool's. */
static inline struct size_class *zs_handle_to_class(struct zs_pool *pool,
						    zs_handle h)
{
	uint32_t c = zs_handle_class(h), n = c & (ZS_NR_SIZES - 1);
	struct size_class *classes;

	if (zs_handle_tag(h) != pool->tag || n >= pool->nr_sizes)
		return NULL;
	classes = zs_shard_classes(pool, c >> ZS_CLASS_BITS);
	return classes ? &classes[n] : NULL;
}

/* The class of @h, a handle this pool gave out and a mapping still holds
 * (so its shard exists). */
static inline struct size_class *zs_mapped_class(struct zs_pool *pool, zs_handle h)
{
	uint32_t c = zs_handle_class(h);

	return &zs_shard_classes(pool, c >> ZS_CLASS_BITS)[c & (ZS_NR_SIZES - 1)];
}

/* ---- Shards (map.c keeps the per-thread state) ------------------------- */

/* This thread's shard number + 1; 0 until it first used the library. */
extern __thread uint8_t zs_shard_tls __attribute__((tls_model("initial-exec")));
/* Register this thread (map.c) and return its shard number; 0 if that
 * fails (out of memory: the thread then allocates in shard 0). */
unsigned zs_shard_attach(void);
/* Shards of a pool created with zs_config.shards 0: one per online CPU,
 * 1 .. ZS_MAX_SHARDS. */
uint32_t zs_default_shards(void);

/* The class a new object of @size (1 .. page size) goes into: its size
 * class in the calling thread's shard. */
static inline struct size_class *zs_alloc_class(struct zs_pool *pool, size_t size)
{
	uint32_t c = pool->class_of[(size - 1) >> pool->delta_shift];
	struct size_class *classes;
	unsigned s;

	if (pool->nr_shards == 1)
		return &pool->classes[c];
	s = zs_shard_tls;
	s = __builtin_expect(s != 0, 1) ? s - 1 : zs_shard_attach();
	if (__builtin_expect(s >= pool->nr_shards, 0))
		s %= pool->nr_shards;
	classes = zs_shard_classes(pool, s);
	if (__builtin_expect(!classes, 0))
		classes = zs_shard_create(pool, s);
	return &classes[c];
}

/* ---- Class lock ----------------------------------------------------------- */

static inline void zs_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void zs_class_lock_slow(struct size_class *class);

static inline void zs_class_lock(struct size_class *class)
{
	if (!atomic_exchange_explicit(&class->lock, 1, memory_order_acquire))
		return;
	zs_class_lock_slow(class);
}

static inline void zs_class_unlock(struct size_class *class)
{
	atomic_store_explicit(&class->lock, 0, memory_order_release);
}

/* ---- Tables (table.c) --------------------------------------------------- */

/* The directory of every table before its first chunk (cap 0), so that a
 * lookup needs no NULL test. */
extern struct zs_dir zs_empty_dir;

/* Element @i's chunk, read without a lock; NULL if out of range. */
static inline uint8_t *zs_table_chunk(struct zs_table *t, uint32_t ci)
{
	struct zs_dir *d = atomic_load_explicit(&t->dir, memory_order_acquire);

	if (ci >= d->cap)
		return NULL;
	return atomic_load_explicit(&d->chunk[ci], memory_order_acquire);
}

int zs_table_add_chunk(struct zs_table *t);  /* class lock; 0 | -ENOMEM */
/* Free chunks [keep, nr_chunks): class lock held and class seq odd. */
void zs_table_trim(struct zs_table *t, uint32_t keep);
void zs_table_destroy(struct zs_table *t);

/* Slot @s of a class: its location and generation words. */
static inline _Atomic uint32_t *zs_slot_loc(uint8_t *chunk, uint32_t s)
{
	return (_Atomic uint32_t *)chunk + (s & (ZS_SLOT_CHUNK - 1));
}

static inline _Atomic uint16_t *zs_slot_gen(uint8_t *chunk, uint32_t s)
{
	return (_Atomic uint16_t *)(chunk + ZS_SLOT_CHUNK * sizeof(uint32_t)) +
	       (s & (ZS_SLOT_CHUNK - 1));
}

/* The zspage record of id @id, or NULL if the id has no record. */
static inline struct zspage *zs_zspage_of(struct size_class *class, uint32_t id)
{
	uint8_t *chunk = zs_table_chunk(&class->zspages, id >> ZS_ZSPAGE_CHUNK_SHIFT);

	if (!chunk)
		return NULL;
	return (struct zspage *)(chunk + (size_t)(id & (ZS_ZSPAGE_CHUNK - 1)) *
						 class->zspage_bytes);
}

/* The record of an id that exists (id < nr_ids), class lock held. */
static inline struct zspage *zs_zspage_at(struct size_class *class, uint32_t id)
{
	struct zs_dir *d = atomic_load_explicit(&class->zspages.dir,
						memory_order_relaxed);
	uint8_t *chunk = atomic_load_explicit(&d->chunk[id >> ZS_ZSPAGE_CHUNK_SHIFT],
					      memory_order_relaxed);

	return (struct zspage *)(chunk + (size_t)(id & (ZS_ZSPAGE_CHUNK - 1)) *
						 class->zspage_bytes);
}

static inline _Atomic uint32_t *zs_zspage_pfns(struct zspage *z)
{
	return (_Atomic uint32_t *)(z + 1);
}

static inline uint64_t *zs_zspage_map(const struct size_class *class,
				      struct zspage *z)
{
	return (uint64_t *)((uint8_t *)z + class->map_offset);
}

/* Handle slots (handle.c). Class lock held for alloc/free. */
int zs_slot_alloc(struct size_class *class, uint32_t *slot);
void zs_slot_free(struct size_class *class, uint32_t slot);
/* Undo zs_slot_alloc() of a slot that was never given a location. */
void zs_slot_putback(struct size_class *class, uint32_t slot);

/*
 * zs_slot_lookup - the location of live handle @h in @class, read without a
 * lock. Returns 0 and stores the location, or -EINVAL. The answer is exact
 * under the class lock; without it the caller must confirm with the class
 * seq (an object may move) and live with handles freed concurrently.
 */
static inline int zs_slot_lookup(struct size_class *class, zs_handle h,
				 uint32_t *loc)
{
	uint32_t s = zs_handle_slot(h), l;
	uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);

	if (!chunk) /* slot ZS_SLOT_NONE never gets a chunk: see slots_grow() */
		return -EINVAL;
	l = atomic_load_explicit(zs_slot_loc(chunk, s), memory_order_acquire);
	if ((l & ZS_LOC_FREE) ||
	    atomic_load_explicit(zs_slot_gen(chunk, s), memory_order_relaxed) !=
		    zs_handle_gen(h))
		return -EINVAL;
	*loc = l;
	return 0;
}

static inline uint32_t zs_loc_id(const struct size_class *class, uint32_t loc)
{
	return loc >> class->idx_bits;
}

static inline uint32_t zs_loc_idx(const struct size_class *class, uint32_t loc)
{
	return loc & ((1u << class->idx_bits) - 1);
}

/* ---- zspages (zspage.c), class lock held --------------------------------- */

int zs_fullness_group(const struct size_class *class, uint32_t inuse);
void zs_list_insert(struct size_class *class, uint32_t id, struct zspage *z,
		    int group);
void zs_list_remove(struct size_class *class, uint32_t id, struct zspage *z);
void zs_fix_fullness(struct size_class *class, uint32_t id, struct zspage *z);

/* Pages to give back later, in one batch (see mp_free_pages()). */
struct zs_pfns {
	uint32_t *pfn;
	size_t n, cap;
	int failed; /* could not grow: pages were freed at once instead */
};

/* A new empty zspage with no page yet: its id, or -ENOMEM. */
int64_t zs_zspage_create(struct size_class *class, struct zspage **out);
/* Give back an empty zspage's id, and its pages: to the page source now
 * (@later NULL) or onto @later for the caller to free in one batch. */
void zs_zspage_release(struct size_class *class, uint32_t id, struct zspage *z,
		       struct zs_pfns *later);
/* Make object @idx's bytes present, allocating pages if @grow. 0 | -ENOMEM */
int zs_zspage_populate(struct size_class *class, struct zspage *z,
		       uint32_t idx, int grow);
/* Lowest free object index of @z (< opz; the zspage is not full). */
uint32_t zs_zspage_first_free(const struct size_class *class, struct zspage *z);
/* Free pages past the last allocated object (now, or onto @later). */
uint32_t zs_zspage_trim(struct size_class *class, struct zspage *z,
			struct zs_pfns *later);

/* Byte @off of a zspage, as a direct-map address (page must be present). */
static inline uint8_t *zs_zspage_addr(const struct zs_pool *pool,
				      struct zspage *z, uint32_t off)
{
	uint32_t pfn = atomic_load_explicit(&zs_zspage_pfns(z)[off >> pool->page_shift],
					    memory_order_relaxed);

	return pool->base + ((size_t)pfn << pool->page_shift) +
	       (off & (pool->page_size - 1));
}

void zs_obj_copy_in(const struct zs_pool *pool, struct zspage *z,
		    uint32_t off, const void *src, uint32_t len);
void zs_obj_copy_out(const struct zs_pool *pool, struct zspage *z,
		     uint32_t off, void *dst, uint32_t len);

/* ---- Pins (map.c) ----------------------------------------------------------- */

/* 1 if any thread's mapping pins zspage @z (scan, no barrier). */
int zs_zspage_pinned(const struct zspage *z);
/* Every zspage pinned now, after a full memory barrier on every thread
 * (the caller made its class seq odd first). Stores up to @max pointers
 * and the count (which may exceed @max) in *@count. Returns 0, or -EAGAIN
 * if the barrier could not run (then nothing may be moved). */
int zs_pins_snapshot(const struct zspage **out, size_t max, size_t *count);
/* The number of mappings any thread holds on @pool. */
size_t zs_pool_mappings(const struct zs_pool *pool);
/* 1 if any thread holds a mapping (or read) of @h of @pool. A mapping
 * that starts while this runs may be missed: that is the caller's race. */
int zs_mapped_anywhere(const struct zs_pool *pool, zs_handle h);
void zs_barrier_init(void);

/* Free @z if it was emptied while pinned and is no longer pinned. */
void zs_release_deferred_locked(struct size_class *class, uint32_t id,
				struct zspage *z);

#endif /* ZSALLOC_ZSMALLOC_INTERNAL_H */
