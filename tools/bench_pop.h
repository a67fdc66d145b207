/*
 * bench_pop.h - what the allocator benchmarks share: the size mix of real
 * compressed pages, the three allocators behind one thin table, and a
 * population of live objects with the timed operations on it.
 *
 *   mix   2^16 sizes resampled (fixed seed) from the bundled traces or
 *         --trace files, same-filled pages left out (zram stores those as
 *         a value)
 *   aops  malloc, zsmalloc (contiguous, the default), zsmalloc-scattered
 *         (the kernel's layout, straddlers copied), xvmalloc: alloc,
 *         release, write, read, map; zsmalloc's SG read
 *   pop   n live objects of one allocator, each of a size drawn from the
 *         mix; the operations pick an object at random (xorshift, seeded)
 */
#ifndef ZSALLOC_TOOLS_BENCH_POP_H
#define ZSALLOC_TOOLS_BENCH_POP_H

#include <stdint.h>

#include "tools/bench.h"

#define MIX_BITS 16
#define MIX_MASK ((1u << MIX_BITS) - 1)
#define PAGE_MAX 65536 /* bytes of the source and read buffers */

struct mix {
	uint32_t size[1u << MIX_BITS]; /* resampled sizes */
	uint64_t pages;                /* trace lines used (not same-filled) */
	double mean;
	char source[160];
};

/* Load the mix from the --trace files, else the bundled traces. Returns 0
 * or an errno (told on stderr). */
int mix_load_for(const struct bench_options *o, struct mix *m);

struct aops {
	const char *name;
	const char *key; /* as --allocator takes it */
	/* A pool that may hold @max_pages pages (0: the library's default,
	 * the machine's memory: under valgrind a pool's reservation must
	 * stay below 64 GiB, so --op gives what the population needs). */
	void *(*create)(uint64_t max_pages);
	void (*destroy)(void *pool);
	uint64_t (*alloc)(void *pool, uint32_t size); /* 0: failed */
	void (*release)(void *pool, uint64_t id);
	void (*write)(void *pool, uint64_t id, const void *src, uint32_t len);
	void (*read)(void *pool, uint64_t id, void *dst, uint32_t len);
	/* map, touch the first and last byte, unmap; returns their sum */
	uint64_t (*map_touch)(void *pool, uint64_t id, uint32_t len);
	/* zs_obj_read_sg_begin/end, touching the first and last byte of every
	 * segment (no copy); returns their sum. NULL: no such call. */
	uint64_t (*sg_touch)(void *pool, uint64_t id, uint32_t len);
	const char *read_how; /* what read and write call, for the notes */
	const char *write_how;
	const char *map_how;
};

extern const struct aops ops_malloc, ops_zs, ops_zs_scattered, ops_xv;

/* The four, malloc (the reference) first. */
#define NR_OPS 4
extern const struct aops *const all_ops[NR_OPS];

/* The allocator --allocator @key names, or NULL. */
const struct aops *ops_find(const char *key);

/* What sg_touch calls, for the notes. */
#define SG_HOW "zs_obj_read_sg_begin/end: first + last byte of each segment, no copy"

/* The name to show: the malloc's label (glibc malloc 2.36, ...) or name. */
const char *ops_label(const struct aops *ops);

/* xorshift64: the benchmarks' fast generator (never seeded with 0). */
static inline uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct pop {
	const struct aops *ops;
	void *pool;
	const struct mix *mix;
	uint64_t *id;  /* [n] */
	uint32_t *len; /* [n] */
	uint32_t n;
	uint64_t rng;
	int with_write;     /* run_pair writes the bytes of each new object */
	int sg;             /* run_read reads by ops->sg_touch (a copy of a
			       population's struct, sharing its objects) */
	const uint8_t *src; /* PAGE_MAX bytes to write from */
	uint8_t *buf;       /* PAGE_MAX bytes to read into */
	int failed;         /* an allocation failed: the figures are void */
};

/* A random object of the population, in [0, n). */
static inline uint32_t pop_pick(struct pop *p)
{
	return (uint32_t)(((rnd_next(&p->rng) & 0xffffffffu) * p->n) >> 32);
}

/*
 * pop_fill - @n objects of sizes from @mix (or all of @fixed bytes when
 * @fixed != 0) in @pool of @ops, each written from @src. Returns 0 or
 * ENOMEM; pop_free() in either case.
 */
int pop_fill(struct pop *p, const struct aops *ops, void *pool, const struct mix *mix, uint32_t n,
	     uint64_t seed, const uint8_t *src, uint32_t fixed);
/* Release every object (not the pool). */
void pop_free(struct pop *p);
/* Release a random half of the objects (id 0 where released). */
void pop_free_half(struct pop *p);

/* The timed operations, for bench_best_each() (@arg: a struct pop). */
void run_pair(void *arg, uint64_t k);  /* free a random object, allocate anew */
void run_read(void *arg, uint64_t k);  /* copy a random object out (or,
					  with pop.sg, read it as segments) */
void run_write(void *arg, uint64_t k); /* copy bytes into a random object */
void run_map(void *arg, uint64_t k);   /* map + touch first, last + unmap */

#endif /* ZSALLOC_TOOLS_BENCH_POP_H */
