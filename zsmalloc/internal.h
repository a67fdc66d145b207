/*
 * internal.h - zsmalloc's records and the helpers its files share. Not
 * installed. The design essay is at the top of zsmalloc/pool.c.
 *
 * Glossary:
 *   page      an order-0 page of the pool's page source, named by a pfn
 *   span      the pool's address space for zspages, in pages; in the
 *             contiguous layout it is the page source's pfn space itself
 *   extent    16 pages of the span (64 KiB with 4 KiB pages): the unit in
 *             which zspages are laid out, with one record (struct zs_ext)
 *   zspage    1..ZS_MAX_ZSPAGE_EXTS consecutive extents of one class, of
 *             which the first ppz pages hold opz objects back to back;
 *             pages are present only where objects reach them
 *   location  an object's first byte in the span, in 8-byte units (40 bits)
 *   slot      a handle's entry in the pool's slot table: the location, a
 *             generation and the pin count, in one 64-bit word
 *   pin       a reader's or mapper's claim on an object, counted in its
 *             slot: a pinned object is neither freed nor moved
 *   class     objects of one size (a multiple of the class delta), with its
 *             own lock, fullness lists and slots, once per shard
 *   shard     a copy of every class, one per group of threads
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

/* ---- Debug asserts -------------------------------------------------------- */

/* ZS_ASSERT(cond && "why"): checked in --config=debug and in the test
 * builds (-DZS_DEBUG), compiled out otherwise. */
#ifdef ZS_DEBUG
void zs_assert_fail(const char *what, const char *file, int line);
#define ZS_ASSERT(cond) ((cond) ? (void)0 : zs_assert_fail(#cond, __FILE__, __LINE__))
#else
#define ZS_ASSERT(cond) ((void)0)
#endif

/* ---- Test hooks ---------------------------------------------------------- */

/* A build with -DZS_TEST_HOOKS (//zsmalloc:zsmalloc_test_hooks, for tests
 * only) calls these, when set, where a test wants to hold a thread: a map
 * that has read its slot and not yet pinned, a free that has read its
 * slot and neither looked up the object's class nor taken its lock, and a
 * zs_compact() that has read the shard copies of class @c for a round (a
 * plan or a step) and not yet locked them. Other builds compile them away. */
#ifdef ZS_TEST_HOOKS
extern void (*zs_test_hook_map_looked_up)(zs_handle h);
extern void (*zs_test_hook_free_scanned)(zs_handle h);
extern void (*zs_test_hook_compact_round)(uint32_t c);
#define ZS_TEST_HOOK(name, h)                   \
	do {                                    \
		if (zs_test_hook_##name)        \
			zs_test_hook_##name(h); \
	} while (0)
#else
#define ZS_TEST_HOOK(name, h) \
	do {                  \
	} while (0)
#endif

/* ---- Tunables (each with its reason) -------------------------------- */

/* Class delta = page size >> ZS_CLASS_BITS: 8 bytes for 4 KiB pages (the
 * kernel: 16). Finer classes waste less to rounding but make more partial
 * zspages: measured on 1M objects of the bundled JVM trace, 8-byte classes
 * hold 101.3 % of the live bytes after fill and 102.0 % after compaction,
 * 16-byte ones 101.5 % and 102.2 %; on the 50k objects of the bundled mix
 * 16-byte classes are ahead by 0.1-0.6 points (fewer partial zspages). */
#define ZS_CLASS_BITS 9
/* A location counts 8-byte units: every class size is a multiple of 8. */
#define ZS_LOC_SHIFT 3
/* An extent is 16 pages: the longest zspage of objects up to a page. */
#define ZS_EXT_SHIFT 4
#define ZS_EXT_PAGES (1u << ZS_EXT_SHIFT)
/* Objects above a page take zspages of up to 128 pages (8 extents): with
 * 16 pages a 36 KiB object would waste 4 KiB in 40; with 128 the classes
 * above a page waste 0.1-0.2 % (tools: geometry measured per size). */
#define ZS_LARGE_MAX_PAGES 128
#define ZS_MAX_ZSPAGE_EXTS (ZS_LARGE_MAX_PAGES / ZS_EXT_PAGES)
/* Object places per zspage at most: the record's bitmap is 5 words, so
 * that a record is one cache line. Only classes under 208 bytes (4 KiB
 * pages) are held to shorter chains by it, and they waste nothing more. */
#define ZS_MAP_WORDS 5
#define ZS_MAX_OPZ (ZS_MAP_WORDS * 64)
/* Slots a class takes from the pool's table at once (512 bytes). */
#define ZS_SLOT_CHUNK 64
/* The slot table's size: 2^28 - 1 handles per pool (2 GiB of address
 * space, committed as it fills). */
#define ZS_SLOT_TABLE_BITS 28
/* The span: twice the page limit (zspages leave holes in it as they come
 * and go; compaction closes them, extents are reused lowest first), at
 * least 1 GiB. It costs address space only, but that is bounded too: one
 * mapping under valgrind stays below 64 GiB, TSan's heap below 1.5 TiB. */
#define ZS_SPAN_FACTOR 2
#define ZS_MIN_SPAN_PAGES (1u << 18)
/* Every this many allocations and frees, a shard looks at the clock for
 * cached zspages that decayed. */
#define ZS_DECAY_CHECK_OPS 256
/* Automatic compaction: a class whose free places exceed 1/32 of its
 * places and two pages' worth of bytes is compacted, ZS_AUTO_STEP_MOVES
 * objects per step (a few microseconds), by the allocating and freeing
 * threads of its shard. 1/32 keeps a churning pool within ~3 % of its
 * live bytes; 1/8 let it drift to 107 % on the bundled traces. */
#define ZS_AUTO_SHIFT 5
/* After a plan, the class waits 1/2^ZS_AUTO_WAIT_SHIFT of its places in
 * frees before the next, twice as long after each plan in a row that freed
 * no page, up to 2^ZS_AUTO_MAX_BACKOFF times (compact.c, auto_end()).
 * Measured on the bundled traces (density tool, cachegrind pair at 131,072
 * objects): a wait of 1/8 instead of 1/64 cost 3 instructions in 5 a pair
 * less but 104.9 % after churn and 115.4 % after discarding half against
 * 103.6 % and 107.9 %; the backoff of 16x cost 15 % less at 103.7 % and
 * 108.2 %. Compile-time knobs, for such measurements. */
/* Pages of a small pool (4 MiB of 4 KiB pages), see compact.c. */
#define ZS_AUTO_SMALL_POOL 1024
#ifndef ZS_AUTO_WAIT_SHIFT
#define ZS_AUTO_WAIT_SHIFT 6
#endif
#ifndef ZS_AUTO_MAX_BACKOFF
#define ZS_AUTO_MAX_BACKOFF 4
#endif
#define ZS_AUTO_STEP_MOVES 32
/* zs_compact() releases each class lock at least this often (objects). */
#define ZS_COMPACT_STEP_MOVES 64

/* ---- Handles and slots --------------------------------------------------- */

/*
 * Handle, 64 bits:  | tag 10 | generation 16 | slot 38 |
 * The tag names the pool (never 0, so no handle is 0); the slot indexes the
 * pool's slot table; the generation must match the slot's.
 *
 * Slot, 64 bits:    | state 8 | generation 16 | location 40 |
 *   state 0         never used (the table's zero pages: no handle is valid)
 *   state 1         free: location holds the next free slot of its class
 *   state 2         moving: compaction is copying the object (pins 0)
 *   state 3 + n     live, pinned n times (0 <= n <= ZS_MAX_PINS)
 * A slot's generation is bumped by each free, so that a handle of a freed
 * slot is refused until the slot has been reused 65536 times.
 */
#define ZS_TAG_BITS 10
#define ZS_GEN_BITS 16
#define ZS_HSLOT_BITS 38
_Static_assert(ZS_TAG_BITS + ZS_GEN_BITS + ZS_HSLOT_BITS == 64, "handle fills 64 bits");
_Static_assert(sizeof(uintptr_t) == 8, "zsmalloc needs 64-bit handles");

#define ZS_LOC_BITS 40
#define ZS_SLOT_GEN_SHIFT ZS_LOC_BITS
#define ZS_SLOT_STATE_SHIFT (ZS_LOC_BITS + ZS_GEN_BITS)
#define ZS_LOC_MASK ((UINT64_C(1) << ZS_LOC_BITS) - 1)
#define ZS_STATE_UNUSED 0u
#define ZS_STATE_FREE 1u
#define ZS_STATE_MOVING 2u
#define ZS_STATE_LIVE 3u
#define ZS_MAX_PINS 250u
#define ZS_PIN_ONE (UINT64_C(1) << ZS_SLOT_STATE_SHIFT)
#define ZS_SLOT_NONE UINT32_MAX /* end of a free-slot list */
#define ZS_MAX_SLOTS ((UINT32_C(1) << ZS_SLOT_TABLE_BITS) - 1)

typedef uint64_t zs_slotv;

static inline uint32_t zs_sv_state(zs_slotv v)
{
	return (uint32_t)(v >> ZS_SLOT_STATE_SHIFT);
}

static inline uint32_t zs_sv_gen(zs_slotv v)
{
	return (uint32_t)(v >> ZS_SLOT_GEN_SHIFT) & ((1u << ZS_GEN_BITS) - 1);
}

static inline uint64_t zs_sv_loc(zs_slotv v)
{
	return v & ZS_LOC_MASK;
}

static inline zs_slotv zs_sv_make(uint32_t state, uint32_t gen, uint64_t loc)
{
	return (zs_slotv)state << ZS_SLOT_STATE_SHIFT |
	       (zs_slotv)(gen & ((1u << ZS_GEN_BITS) - 1)) << ZS_SLOT_GEN_SHIFT |
	       (loc & ZS_LOC_MASK);
}

/* ---- Records -------------------------------------------------------------- */

/*
 * An extent's record: one cache line, in a table indexed by extent number.
 * Every extent of a zspage names the zspage's class and shard and its own
 * place in the zspage; the zspage's own fields live in its first extent's
 * record:
 *
 *   | cls | shard | part | group | nexts | inuse | next | prev | stamp |
 *   | present | map[5]: one bit per object place, set = allocated      |
 *
 * Invariants (class lock held, first extent):
 *   inuse == popcount(map) <= opz
 *   every page an allocated object touches is present
 *   group == fullness_group(inuse), and the zspage is on that list, but
 *     ZS_GROUP_ISOLATED (compaction holds it off the lists) and the
 *     empty zspages kept while... none: an empty zspage leaves its class
 */
struct zs_ext {
	_Atomic uint16_t cls;       /* class number; ZS_EXT_FREE, ZS_EXT_CACHED */
	_Atomic uint8_t shard;      /* the class's shard */
	_Atomic uint8_t part;       /* this extent's index in its zspage */
	_Atomic uint8_t group;      /* first: fullness group, ZS_GROUP_ISOLATED */
	uint8_t nexts;              /* first: extents in the zspage */
	uint16_t inuse;             /* first: objects allocated */
	uint32_t next;              /* first: list link (first-extent number) */
	uint32_t prev;              /* first: list link */
	uint32_t stamp;             /* first: mp_clock_ms() when it was last
				       cached (or made); compaction: order */
	uint16_t present;           /* bit i: page i of this extent is allocated */
	uint16_t hiwat;             /* first: pages [0, hiwat) were touched by
				       an object since it left the cache */
	uint64_t map[ZS_MAP_WORDS]; /* first: object places, 1 = allocated */
};
_Static_assert(sizeof(struct zs_ext) == 64, "an extent record is a cache line");

#define ZS_EXT_FREE 0xffffu    /* in no zspage */
#define ZS_EXT_CACHED 0xfffeu  /* in an emptied zspage kept for reuse */
#define ZS_EXT_NONE UINT32_MAX /* list end */
#define ZS_GROUP_EMPTY 0
#define ZS_GROUP_FULL (ZS_NR_FULLNESS - 1)
#define ZS_GROUP_ISOLATED 0xfe

/* What a class number stands for, the same in every shard. */
struct zs_geometry {
	uint32_t size;        /* object size */
	uint32_t merged_from; /* smallest size that maps to this class */
	uint16_t ppz;         /* pages per zspage */
	uint16_t opz;         /* object places per zspage */
	uint8_t nexts;        /* extents per zspage */
	uint8_t huge;         /* at most one object per page */
};

struct zs_pool;
struct zs_compaction;

/* The metadata arrays indexed by extent number (slot.c), each a region of
 * the metadata source made present as the span grows. */
enum { ZS_META_CLS, ZS_META_EXT, ZS_META_VPFN, ZS_NR_META };

struct zs_meta_region {
	uint32_t first;    /* its first page in pool->meta */
	uint32_t reserved; /* pages reserved */
	uint32_t present;  /* pages present: [first, first + present) */
	uint32_t per_ext;  /* bytes per extent; 0: not used */
};

/*
 * One size class of one shard. The first cache line holds what stays put
 * (its geometry); the lock and everything it guards start on a line of
 * their own.
 */
struct size_class {
	uint32_t size;     /* == geometry size */
	uint32_t number;   /* class number */
	uint16_t ppz, opz; /* == geometry */
	uint8_t nexts;     /* == geometry */
	uint8_t shard;     /* its shard */
	struct zs_pool *pool;

	_Alignas(64) _Atomic int lock; /* spin-then-yield, see zs_class_lock() */
	uint32_t head[ZS_NR_FULLNESS]; /* fullness list heads (first extents) */
	uint16_t nonempty;             /* bit g set <=> head[g] != ZS_EXT_NONE */
	uint64_t nr_zspages;           /* zspages of the class (isolated included) */
	uint64_t obj_used;             /* live objects == allocated places */
	uint64_t pages_used;           /* pages present in its zspages */
	uint32_t free_slot;            /* free-slot list head, ZS_SLOT_NONE */
	uint32_t nr_chunks;            /* slot chunks it owns: chunks[0 .. nr) */
	uint32_t cap_chunks;
	uint32_t *chunks;         /* their numbers, for compaction's scan */
	struct zs_compaction *cc; /* compaction under way, or NULL */
	uint32_t auto_wait;       /* frees before the next automatic plan */
	uint8_t auto_backoff;     /* plans in a row that freed no page */
	uint64_t auto_pages;      /* pages_used when the last plan began */
} __attribute__((aligned(64)));

/* A zspage emptied and kept with its pages for reuse (cache.c). */
struct zs_cache {
	_Atomic int lock;                  /* guards this struct (after a class lock) */
	uint32_t head[ZS_MAX_ZSPAGE_EXTS]; /* newest first, by extents - 1 */
	uint32_t tail[ZS_MAX_ZSPAGE_EXTS]; /* oldest */
	uint64_t pages;                    /* pages present in cached zspages */
	uint64_t zspages;
};

/* One shard: a copy of every class, made as threads first use them. */
struct zs_shard {
	struct zs_cache cache;
	_Atomic unsigned ops; /* allocations + frees, for the decay check */
	/* Classes whose automatic compaction is under way (a bit per class
	 * number): any allocation or free in the shard takes a step of one of
	 * them, so that a class that goes quiet mid-way is finished all the
	 * same. */
	_Atomic unsigned pending;      /* bits set in pending_map */
	_Atomic unsigned pending_next; /* where the next look starts (a hint) */
	_Atomic uint64_t *pending_map;
	_Atomic(struct size_class *) cls[]; /* [nr_classes], NULL until used */
};

struct zs_pool {
	/* read by every call, changed never */
	uint32_t tag;      /* handle tag, 1 .. 2^ZS_TAG_BITS - 1 */
	uint8_t scattered; /* ZS_LAYOUT_SCATTERED */
	uint8_t remap;     /* scattered, straddlers through windows */
	uint8_t shared;    /* pages in a shared memfd (fork: EPERM) */
	uint8_t auto_compact;
	uint32_t page_size;
	unsigned page_shift;
	unsigned delta_shift;    /* log2(class delta) */
	unsigned ext_unit_shift; /* location >> this = extent number */
	uint32_t max_size;       /* largest object */
	uint32_t nr_classes;     /* after merging */
	uint32_t nr_shards;
	uint32_t huge_size; /* zs_huge_class_size() */
	uint32_t cache_max; /* pages per shard's cache at most */
	uint64_t max_pages; /* the page limit */
	uint32_t decay_ms;
	struct mp_source *src;   /* the objects' pages */
	uint8_t *base;           /* src's direct map */
	struct mp_source *meta;  /* the slot table, extent records, pfns */
	_Atomic zs_slotv *slots; /* slot table (meta's direct map) */
	struct zs_ext *ext;      /* extent records by extent number */
	/* Class number of each extent of a live zspage, dense: what a read
	 * checks a length against (a 64-byte record would miss the cache). */
	_Atomic uint16_t *ext_cls;
	_Atomic uint32_t *vpfn;                          /* scattered: span page -> pfn of src */
	_Atomic uint32_t nr_slots;                       /* slots [0, nr_slots) exist */
	uint32_t span_exts;                              /* extents in the span */
	const struct zs_geometry *geo;                   /* [nr_classes], shared by all pools */
	const uint16_t *class_of;                        /* size index -> class number, shared */
	_Atomic(struct zs_shard *) shard[ZS_MAX_SHARDS]; /* made on first use */

	/* changed under the locks below */
	pthread_mutex_t shard_lock;               /* making a shard or a class; zs_check() */
	pthread_mutex_t span_lock;                /* extents, slot chunks, metadata pages */
	uint32_t span_next;                       /* extents [0, span_next) were handed out */
	uint64_t *span_free;                      /* bit e set: extent e < span_next is free */
	uint32_t span_low;                        /* no free bit below word span_low */
	uint32_t meta_slot_pages;                 /* pages of slots[] present */
	struct zs_meta_region region[ZS_NR_META]; /* arrays by extent */
	_Atomic uint64_t malloc_bytes;            /* class records and lists (malloc) */
	_Atomic uint64_t pages_total;             /* pages of src held (cached included) */
	_Atomic uint64_t pages_cached;            /* of which in the shards' caches */
	_Atomic uint64_t pages_compacted;
	_Atomic uint64_t objects_moved;
	_Atomic uint64_t auto_compactions;
	char name[32];
};

/* ---- Small helpers -------------------------------------------------------- */

static inline uint32_t zs_ext_of_loc(const struct zs_pool *pool, uint64_t loc)
{
	return (uint32_t)(loc >> pool->ext_unit_shift);
}

/* Part and group are written under the owning class's lock, and read by
 * compaction of the same size in another shard to tell whether a record is
 * its own: relaxed atomics, so that such a look is not a data race. */
static inline uint32_t zs_ext_part(const struct zs_ext *e)
{
	return atomic_load_explicit(&e->part, memory_order_relaxed);
}

static inline int zs_ext_group(const struct zs_ext *e)
{
	return atomic_load_explicit(&e->group, memory_order_relaxed);
}

static inline void zs_ext_set_group(struct zs_ext *e, int group)
{
	atomic_store_explicit(&e->group, (uint8_t)group, memory_order_relaxed);
}

/* First extent of the zspage that holds extent @e. */
static inline uint32_t zs_zspage_first(const struct zs_pool *pool, uint32_t e)
{
	return e - zs_ext_part(&pool->ext[e]);
}

/* Location of object @idx of the zspage whose first extent is @first. */
static inline uint64_t zs_obj_loc(const struct zs_pool *pool, const struct size_class *class,
				  uint32_t first, uint32_t idx)
{
	return ((uint64_t)first << pool->ext_unit_shift) +
	       (((uint64_t)idx * class->size) >> ZS_LOC_SHIFT);
}

/* Span page number of byte 0 of location @loc. */
static inline uint64_t zs_loc_page(const struct zs_pool *pool, uint64_t loc)
{
	return loc >> (pool->page_shift - ZS_LOC_SHIFT);
}

static inline struct zs_shard *zs_shard_get(struct zs_pool *pool, unsigned s)
{
	return atomic_load_explicit(&pool->shard[s], memory_order_acquire);
}

/* The class of shard @s, number @c, or NULL while it does not exist. */
static inline struct size_class *zs_class_get(struct zs_pool *pool, unsigned s, uint32_t c)
{
	struct zs_shard *sh = zs_shard_get(pool, s);

	return sh ? atomic_load_explicit(&sh->cls[c], memory_order_acquire) : NULL;
}

/* The class that owns extent @e (a live zspage's: the caller pins one of
 * its objects or holds its class lock). */
static inline struct size_class *zs_ext_class(struct zs_pool *pool, uint32_t e)
{
	return zs_class_get(pool, atomic_load_explicit(&pool->ext[e].shard, memory_order_relaxed),
			    atomic_load_explicit(&pool->ext[e].cls, memory_order_relaxed));
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

void zs_spin_lock_slow(_Atomic int *lock);

static inline void zs_spin_lock(_Atomic int *lock)
{
	if (!atomic_exchange_explicit(lock, 1, memory_order_acquire))
		return;
	zs_spin_lock_slow(lock);
}

static inline int zs_spin_trylock(_Atomic int *lock)
{
	return !atomic_load_explicit(lock, memory_order_relaxed) &&
	       !atomic_exchange_explicit(lock, 1, memory_order_acquire);
}

static inline void zs_spin_unlock(_Atomic int *lock)
{
	atomic_store_explicit(lock, 0, memory_order_release);
}

static inline void zs_class_lock(struct size_class *class)
{
	zs_spin_lock(&class->lock);
}

static inline void zs_class_unlock(struct size_class *class)
{
	zs_spin_unlock(&class->lock);
}

/* ---- Classes (class.c) ---------------------------------------------------- */

/* Geometry of every class: pool->geo, class_of, nr_classes, huge_size. */
int zs_geometry_init(struct zs_pool *pool, uint32_t max_ppz);
/* The class number of an object of @size (1 .. max_size). */
static inline uint32_t zs_class_number(const struct zs_pool *pool, size_t size)
{
	return pool->class_of[(size - 1) >> pool->delta_shift];
}
/* Class @c of shard @s, made if it does not exist yet; NULL if out of
 * memory. */
struct size_class *zs_class_make(struct zs_pool *pool, unsigned s, uint32_t c);
void zs_classes_destroy(struct zs_pool *pool);

/* ---- Shards (shard.c) ------------------------------------------------------ */

/* This thread's shard number + 1; 0 until it first allocated. */
extern __thread uint8_t zs_shard_tls __attribute__((tls_model("initial-exec")));
/* Give this thread a shard (the least used among live threads). */
unsigned zs_shard_attach(void);
/* Shards of a pool made with zs_config.shards 0. */
uint32_t zs_default_shards(void);

static inline unsigned zs_this_shard(const struct zs_pool *pool)
{
	unsigned s = zs_shard_tls;

	if (pool->nr_shards == 1)
		return 0;
	s = __builtin_expect(s != 0, 1) ? s - 1 : zs_shard_attach();
	return s < pool->nr_shards ? s : s % pool->nr_shards;
}

/* ---- Slots and the metadata pages (slot.c) -------------------------------- */

static inline _Atomic zs_slotv *zs_slot(const struct zs_pool *pool, uint32_t s)
{
	return &pool->slots[s];
}

/* A slot for a new object of @class (its free list, or a new chunk), left
 * free until the caller stores a live value. 0 | -ENOMEM. Class lock. */
int zs_slot_alloc(struct size_class *class, uint32_t *slot, uint32_t *gen);
/* Put back a slot zs_slot_alloc() gave and nothing used. Class lock. */
void zs_slot_putback(struct size_class *class, uint32_t slot);
/* Make the metadata of extents [0, @n) present, or give back what lies
 * past it. span_lock held. 0 | -ENOMEM (then nothing grew). */
int zs_meta_ext_grow(struct zs_pool *pool, uint32_t n);
void zs_meta_ext_shrink(struct zs_pool *pool, uint32_t n);
void zs_meta_free(struct zs_pool *pool);

static inline uint32_t zs_handle_slot(zs_handle h)
{
	return (uint32_t)(h & ((UINT64_C(1) << ZS_HSLOT_BITS) - 1));
}

static inline uint32_t zs_handle_gen(zs_handle h)
{
	return (uint32_t)(h >> ZS_HSLOT_BITS) & ((1u << ZS_GEN_BITS) - 1);
}

/* The slot of @h if @h can name one of @pool's (tag and range), else NULL. */
static inline _Atomic zs_slotv *zs_handle_to_slot(struct zs_pool *pool, zs_handle h)
{
	if ((uint32_t)(h >> (64 - ZS_TAG_BITS)) != pool->tag ||
	    (h & ((UINT64_C(1) << ZS_HSLOT_BITS) - 1)) >=
		    atomic_load_explicit(&pool->nr_slots, memory_order_acquire))
		return NULL;
	return zs_slot(pool, zs_handle_slot(h));
}

/*
 * zs_slot_read - the slot value of handle @h if @h is a live handle of
 * @pool (tag, range, state, generation), read without a lock; else 0 (no
 * live value is 0). A moving object is waited for.
 */
zs_slotv zs_slot_read(struct zs_pool *pool, zs_handle h);
zs_slotv zs_wait_not_moving(_Atomic zs_slotv *p);
zs_slotv zs_pin_slow(_Atomic zs_slotv *p, zs_handle h, zs_slotv v, int *err);

/*
 * zs_pin - pin the object of handle @h: its slot's pin count goes up by one
 * (an atomic compare-and-swap), so that it can neither be freed nor moved
 * until zs_unpin(). Returns the slot value as pinned, or 0 with *@err
 * -EINVAL (not a live handle of @pool) or -EBUSY (ZS_MAX_PINS pins held).
 * Waits while compaction moves the object (a few microseconds).
 */
static inline __attribute__((always_inline)) zs_slotv zs_pin(struct zs_pool *pool, zs_handle h,
							     int *err)
{
	_Atomic zs_slotv *p = zs_handle_to_slot(pool, h);
	zs_slotv v;

	if (__builtin_expect(!p, 0)) {
		*err = -EINVAL;
		return 0;
	}
	v = atomic_load_explicit(p, memory_order_relaxed);
	ZS_TEST_HOOK(map_looked_up, h);
	/* Live, this generation, few pins: acquire the object's bytes as its
	 * last mover left them. */
	if (__builtin_expect(zs_sv_state(v) >= ZS_STATE_LIVE &&
				     zs_sv_state(v) - ZS_STATE_LIVE < ZS_MAX_PINS &&
				     zs_sv_gen(v) == zs_handle_gen(h),
			     1) &&
	    atomic_compare_exchange_strong_explicit(p, &v, v + ZS_PIN_ONE, memory_order_acquire,
						    memory_order_relaxed))
		return v + ZS_PIN_ONE;
	return zs_pin_slow(p, h, v, err);
}

static inline void zs_unpin(struct zs_pool *pool, zs_handle h)
{
	uint32_t s = (uint32_t)(h & ((UINT64_C(1) << ZS_HSLOT_BITS) - 1));

	atomic_fetch_sub_explicit(zs_slot(pool, s), ZS_PIN_ONE, memory_order_release);
}

static inline zs_handle zs_handle_make(const struct zs_pool *pool, uint32_t gen, uint32_t slot)
{
	return (uintptr_t)pool->tag << (64 - ZS_TAG_BITS) | (uintptr_t)gen << ZS_HSLOT_BITS | slot;
}

/* ---- The span (span.c), span_lock taken inside ------------------------ */

/* A run of @n free extents (their records made present): its first
 * extent, or ZS_EXT_NONE. */
uint32_t zs_span_alloc(struct zs_pool *pool, uint32_t n);
/* Give back the run of @n extents from @first (no page present). */
void zs_span_free(struct zs_pool *pool, uint32_t first, uint32_t n);

/* ---- zspages (zspage.c), class lock held --------------------------------- */

int zs_fullness_group(const struct size_class *class, uint32_t inuse);
void zs_list_insert(struct size_class *class, uint32_t first, int group);
void zs_list_remove(struct size_class *class, uint32_t first);
void zs_fix_fullness(struct size_class *class, uint32_t first);
/* A new empty zspage of @class (from the cache or the span): its first
 * extent, or ZS_EXT_NONE (no span or no memory). Not on a list yet. */
uint32_t zs_zspage_create(struct size_class *class);
/* An empty zspage leaves its class: cached, or its pages freed. */
void zs_zspage_release(struct size_class *class, uint32_t first);
/* Make the pages object @idx touches present. 0 | -ENOMEM (nothing changed). */
int zs_zspage_populate(struct size_class *class, uint32_t first, uint32_t idx, int grow);
/* 1 if every page object @idx touches is present. */
int zs_obj_present(const struct size_class *class, uint32_t first, uint32_t idx);
/* Lowest free object place (the zspage is not full). */
uint32_t zs_zspage_first_free(const struct size_class *class, uint32_t first);
/* Free the pages of the zspage that no allocated object touches; the
 * number freed. */
uint32_t zs_zspage_trim(struct size_class *class, uint32_t first);
/* Set / clear object @idx's bit and the counts. */
void zs_obj_set(struct size_class *class, uint32_t first, uint32_t idx);
void zs_obj_clear(struct size_class *class, uint32_t first, uint32_t idx);
static inline int zs_obj_test(const struct zs_pool *pool, uint32_t first, uint32_t idx)
{
	return (int)((pool->ext[first].map[idx / 64] >> (idx % 64)) & 1);
}
/* Free pages of @first's zspage from a present mask: pages present in
 * extent e+part whose bit is set in @drop[part]. Returns pages freed. */
uint32_t zs_pages_free(struct zs_pool *pool, uint32_t first, uint32_t nexts, const uint16_t *drop);

/* ---- Bytes of an object (access.c) --------------------------------------- */

/* The address of span byte @off's page content: the direct map in the
 * contiguous layout, the page's pfn in the scattered one. */
static inline uint8_t *zs_span_addr(const struct zs_pool *pool, uint64_t off)
{
	uint64_t vp;

	if (!pool->scattered)
		return pool->base + off;
	vp = off >> pool->page_shift;
	return pool->base +
	       ((size_t)atomic_load_explicit(&pool->vpfn[vp], memory_order_relaxed)
		<< pool->page_shift) +
	       (off & (pool->page_size - 1));
}

/* Copy between an object's bytes at location @loc and @buf. */
void zs_copy_out(const struct zs_pool *pool, uint64_t loc, void *buf, uint32_t len);
void zs_copy_in(const struct zs_pool *pool, uint64_t loc, const void *buf, uint32_t len);

/* In the child of fork(), every lock of @pool held (a private pool): set
 * each live slot's pin count to the pins the forking thread's records
 * hold. Reads every slot; writes only those a vanished thread left wrong. */
void zs_fork_child_pins(struct zs_pool *pool);

/* 1 if any thread holds a mapping or read of an object of @pool. */
size_t zs_pool_mappings(const struct zs_pool *pool);

/* ---- The cache of emptied zspages (cache.c) -------------------------------- */

/* Keep empty zspage @first (off every list) in shard @s's cache, or free
 * it if the cache is full; pages beyond the bound go oldest first. */
void zs_cache_put(struct zs_pool *pool, unsigned s, uint32_t first);
/* A cached zspage of @nexts extents from shard @s, or ZS_EXT_NONE. */
uint32_t zs_cache_take(struct zs_pool *pool, unsigned s, uint32_t nexts);
/* Count an allocation or free in shard @s; now and then give back the
 * cached zspages of every shard that decayed. */
void zs_cache_tick(struct zs_pool *pool, unsigned s);
/* Give every cached zspage of every shard back; pages freed. */
size_t zs_cache_drain(struct zs_pool *pool);
/* Free a zspage's pages and extents: it belongs to nobody now. */
void zs_zspage_destroy(struct zs_pool *pool, uint32_t first);

/* ---- Compaction (compact.c) ------------------------------------------------- */

/* After an allocation or free in @class (lock held): take a bounded step
 * of the class's automatic compaction, or (@may_begin: after a free) begin
 * one if the class's free space passed the threshold. */
void zs_auto_compact(struct size_class *class, int may_begin);
/* After an allocation or free in shard @s (no lock held): a step of the
 * shard's pending compaction, if its class lock is free. */
void zs_auto_compact_pending(struct zs_pool *pool, unsigned s);
void zs_compaction_free(struct size_class *class);
/* Zspage @first of a class of @cc's domain is released (that class's lock
 * held; @isolated: it was one of @cc's sources or its meeting zspage):
 * @cc no longer lists it as a destination. */
void zs_compaction_forget(struct zs_compaction *cc, uint32_t first, int isolated);
/* Stop the automatic compactions of the classes @cls[0..n) (their locks
 * held) where they are, their isolated zspages put back. */
void zs_compaction_abort_auto(struct size_class **cls, unsigned n);
/* For zs_check(), every lock held: the class that leads @cc's domain; its
 * sources (first extents, some released: see source_class); the class of
 * source @first while it is isolated, else NULL. */
struct size_class *zs_compaction_leader(const struct zs_compaction *cc);
uint32_t zs_compaction_sources(const struct zs_compaction *cc, const uint32_t **src);
struct size_class *zs_compaction_source_class(const struct zs_compaction *cc, uint32_t first);
/* Pages zs_compact() would free from the size class @c now (every shard's
 * copy; their locks held). */
uint64_t zs_compact_freeable(struct zs_pool *pool, struct size_class **cls, unsigned n);

/* ---- fork (pool.c) --------------------------------------------------------- */

/* Take (@lock) or release every lock of @pool, in the lock order: the
 * shard lock, every class lock, every cache lock, the span lock. */
void zs_pool_locks(struct zs_pool *pool, int lock);

/* -EPERM if @pool's pages are shared with a parent process, else 0. */
static inline int zs_forked(const struct zs_pool *pool)
{
	return __builtin_expect(pool->shared, 0) && mp_forked(pool->src) ? -EPERM : 0;
}

#endif /* ZSALLOC_ZSMALLOC_INTERNAL_H */
