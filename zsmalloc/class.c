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
 * shard: classes[shard * nr_sizes + c], each with its own lock, tables and
 * lists, and the same geometry.
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
	pool->classes = aligned_alloc(64, (size_t)n * shards * sizeof(*pool->classes));
	if (!pool->classes)
		return -ENOMEM;
	memset(pool->classes, 0, (size_t)n * shards * sizeof(*pool->classes));
	pool->nr_sizes = n;
	pool->nr_shards = shards;
	pool->nr_classes = n * shards;

	/* Class numbers were handed out from the top; store smallest first. */
	for (i = 0; i < ZS_NR_SIZES; i++) {
		struct size_class *class;

		c = n - 1 - (uint32_t)owner[i];
		class = &pool->classes[c];
		pool->class_of[i] = class;
		if (class->size == 0)
			class->merged_from = (i + 1) * delta;
		class->size = (i + 1) * delta; /* the largest size wins */
		class->ppz = (uint16_t)geo[i].ppz;
		class->opz = (uint16_t)geo[i].opz;
	}
	pool->huge_size = pool->page_size + 1;
	for (c = 0; c < n * shards; c++) {
		struct size_class *class = &pool->classes[c];
		uint32_t g;

		if (c >= n) { /* a later shard: the geometry of shard 0 */
			const struct size_class *base = &pool->classes[c % n];

			class->size = base->size;
			class->merged_from = base->merged_from;
			class->ppz = base->ppz;
			class->opz = base->opz;
		}
		class->index = c;
		class->pool = pool;
		class->huge = class->opz == class->ppz;
		if (class->huge && class->merged_from < pool->huge_size)
			pool->huge_size = class->merged_from;
		class->idx_bits = bits_for(class->opz);
		class->max_ids = 1u << (31 - class->idx_bits);
		if (class->max_ids > ZS_ID_NONE - 1)
			class->max_ids = ZS_ID_NONE - 1;
		class->map_words = (uint16_t)((class->opz + 63) / 64);
		class->map_offset = (uint32_t)((sizeof(struct zspage) +
						class->ppz * sizeof(uint32_t) + 7) & ~7u);
		class->zspage_bytes = record_bytes(class->ppz, class->opz);
		class->zspages.chunk_bytes = class->zspage_bytes * ZS_ZSPAGE_CHUNK;
		class->slots.chunk_bytes = ZS_SLOT_CHUNK *
					   (sizeof(uint32_t) + sizeof(uint16_t));
		atomic_store_explicit(&class->zspages.dir, &zs_empty_dir,
				      memory_order_relaxed);
		atomic_store_explicit(&class->slots.dir, &zs_empty_dir,
				      memory_order_relaxed);
		class->free_ids = ZS_ID_NONE;
		class->free_slot = ZS_SLOT_NONE;
		for (g = 0; g < ZS_NR_FULLNESS; g++)
			class->head[g] = ZS_ID_NONE;
	}
	return 0;
}

void zs_classes_destroy(struct zs_pool *pool)
{
	uint32_t c;

	for (c = 0; c < pool->nr_classes; c++) {
		zs_table_destroy(&pool->classes[c].zspages);
		zs_table_destroy(&pool->classes[c].slots);
	}
	free(pool->classes);
	pool->classes = NULL;
	pool->nr_classes = 0;
}
