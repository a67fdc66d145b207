/*
 * class.c - the size classes of a pool: their geometry and their merging.
 *
 * Sizes are multiples of delta = page size >> ZS_CLASS_BITS (16 bytes for
 * 4 KiB pages), from delta to the page size. For each size the zspage chain
 * length is the i in 1..max_ppz that costs the smallest fraction of its
 * pages: the tail no object fills, (i * page) % size, plus the zspage's
 * record, compared exactly; ties go to the longer chain. (The kernel picks
 * the best whole percentage of used bytes, ignoring its metadata, which
 * leaves about 0.2 % of a typical pool on the table.)
 *
 * Walking from the largest size down, a size whose chain length and object
 * count equal those of the next larger class joins that class: objects of
 * the two sizes then share zspages without costing a byte more. Every size
 * from the first "huge" one (one object per page: no chain does better) up
 * to the page size merges into the page-size class.
 *
 * A pool with several shards repeats the whole set of classes once per
 * shard, each with its own lock, tables and lists and the same geometry;
 * a shard's set is made when a thread first allocates in it.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

struct geometry {
	uint32_t ppz, opz;
};

/* Bytes of one zspage record with @ppz pages and @opz objects. */
static uint32_t record_bytes(uint32_t ppz, uint32_t opz)
{
	uint32_t map_offset = (uint32_t)((sizeof(struct zspage) +
					  ppz * sizeof(uint32_t) + 7) & ~7u);

	return map_offset + (opz + 63) / 64 * (uint32_t)sizeof(uint64_t);
}

/*
 * The chain length for @size: the i in 1..max_ppz whose zspage costs the
 * least per byte of pages, counting both the bytes no object fills,
 * (i * page) % size, and the zspage's record (header, pfns, bitmap), which
 * the pool also pays for. Compared exactly; ties go to the longer chain
 * (one record for more pages).
 */
static struct geometry best_geometry(uint32_t size, uint32_t page,
				     uint32_t max_ppz)
{
	struct geometry best = { 0, 0 };
	uint64_t best_cost = 0, best_bytes = 1;
	uint32_t i;

	for (i = 1; i <= max_ppz; i++) {
		uint64_t bytes = (uint64_t)i * page;
		uint32_t opz = (uint32_t)(bytes / size);
		uint64_t cost = bytes % size + record_bytes(i, opz);

		/* cost / bytes <= best_cost / best_bytes, without division */
		if (!best.ppz || cost * best_bytes <= best_cost * bytes) {
			best.ppz = i;
			best.opz = opz;
			best_cost = cost;
			best_bytes = bytes;
		}
	}
	/* Huge: no chain holds more than one object per page. One page per
	 * zspage then, as the kernel: a freed huge object frees its page at
	 * once instead of leaving a hole in a long chain until compaction. */
	if (best.opz == best.ppz)
		best.ppz = best.opz = 1;
	return best;
}

static uint8_t bits_for(uint32_t n)
{
	uint8_t bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

/* @n zeroed classes on their own cache lines, or NULL. */
static struct size_class *classes_alloc(uint32_t n)
{
	struct size_class *classes = aligned_alloc(64, (size_t)n * sizeof(*classes));

	if (classes)
		memset(classes, 0, (size_t)n * sizeof(*classes));
	return classes;
}

/* Everything of @class but its geometry (size, merged_from, ppz, opz, set
 * by the caller): derived fields, empty tables and lists, @index. */
static void class_setup(struct zs_pool *pool, struct size_class *class, uint32_t index)
{
	uint32_t g;

	class->index = index;
	class->pool = pool;
	class->huge = class->opz == class->ppz;
	class->idx_bits = bits_for(class->opz);
	class->max_ids = 1u << (31 - class->idx_bits);
	if (class->max_ids > ZS_ID_NONE - 1)
		class->max_ids = ZS_ID_NONE - 1;
	class->map_words = (uint16_t)((class->opz + 63) / 64);
	class->map_offset = (uint32_t)((sizeof(struct zspage) +
					class->ppz * sizeof(uint32_t) + 7) & ~7u);
	class->zspage_bytes = record_bytes(class->ppz, class->opz);
	class->zspages.chunk_bytes = class->zspage_bytes * ZS_ZSPAGE_CHUNK;
	class->slots.chunk_bytes = ZS_SLOT_CHUNK * (sizeof(uint32_t) + sizeof(uint16_t));
	atomic_store_explicit(&class->zspages.dir, &zs_empty_dir, memory_order_relaxed);
	atomic_store_explicit(&class->slots.dir, &zs_empty_dir, memory_order_relaxed);
	class->free_ids = ZS_ID_NONE;
	class->free_slot = ZS_SLOT_NONE;
	for (g = 0; g < ZS_NR_FULLNESS; g++)
		class->head[g] = ZS_ID_NONE;
}

int zs_classes_init(struct zs_pool *pool, uint32_t max_ppz, uint32_t shards)
{
	uint32_t delta = pool->page_size >> ZS_CLASS_BITS;
	struct geometry geo[ZS_NR_SIZES];
	int32_t owner[ZS_NR_SIZES]; /* size index -> class number */
	uint32_t i, n = 0, c;

	/* From the largest size down: merge into the class above when equal. */
	for (i = ZS_NR_SIZES; i-- > 0;) {
		geo[i] = best_geometry((i + 1) * delta, pool->page_size, max_ppz);
		if (i + 1 < ZS_NR_SIZES && geo[i].ppz == geo[i + 1].ppz &&
		    geo[i].opz == geo[i + 1].opz)
			owner[i] = owner[i + 1];
		else
			owner[i] = (int32_t)n++;
	}
	pool->classes = classes_alloc(n);
	if (!pool->classes)
		return -ENOMEM;
	pool->nr_sizes = n;
	pool->nr_shards = shards;

	/* Class numbers were handed out from the top; store smallest first. */
	for (i = 0; i < ZS_NR_SIZES; i++) {
		struct size_class *class;

		c = n - 1 - (uint32_t)owner[i];
		class = &pool->classes[c];
		pool->class_of[i] = (uint8_t)c;
		if (class->size == 0)
			class->merged_from = (i + 1) * delta;
		class->size = (i + 1) * delta; /* the largest size wins */
		class->ppz = (uint16_t)geo[i].ppz;
		class->opz = (uint16_t)geo[i].opz;
	}
	pool->huge_size = pool->page_size + 1;
	for (c = 0; c < n; c++) {
		struct size_class *class = &pool->classes[c];

		class_setup(pool, class, c);
		if (class->huge && class->merged_from < pool->huge_size)
			pool->huge_size = class->merged_from;
	}
	atomic_store_explicit(&pool->shard[0], pool->classes, memory_order_release);
	return 0;
}

struct size_class *zs_shard_create(struct zs_pool *pool, unsigned s)
{
	struct size_class *classes;
	uint32_t c;

	pthread_mutex_lock(&pool->shard_lock);
	classes = zs_shard_classes(pool, s);
	if (!classes) {
		classes = classes_alloc(pool->nr_sizes);
		if (!classes) {
			pthread_mutex_unlock(&pool->shard_lock);
			return pool->classes;
		}
		for (c = 0; c < pool->nr_sizes; c++) {
			classes[c].size = pool->classes[c].size;
			classes[c].merged_from = pool->classes[c].merged_from;
			classes[c].ppz = pool->classes[c].ppz;
			classes[c].opz = pool->classes[c].opz;
			class_setup(pool, &classes[c], s << ZS_CLASS_BITS | c);
		}
		atomic_store_explicit(&pool->shard[s], classes, memory_order_release);
	}
	pthread_mutex_unlock(&pool->shard_lock);
	return classes;
}

void zs_classes_destroy(struct zs_pool *pool)
{
	uint32_t s, c;

	for (s = 0; s < ZS_MAX_SHARDS; s++) {
		struct size_class *classes = zs_shard_classes(pool, s);

		for (c = 0; classes && c < pool->nr_sizes; c++) {
			zs_table_destroy(&classes[c].zspages);
			zs_table_destroy(&classes[c].slots);
		}
		free(classes);
		atomic_store_explicit(&pool->shard[s], NULL, memory_order_relaxed);
	}
	pool->classes = NULL;
	pool->nr_sizes = 0;
}
