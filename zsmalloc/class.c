/*
 * class.c - the size classes: their geometry, their merging, and the
 * classes of each shard, made on first use.
 *
 * Sizes are multiples of delta = page size >> ZS_CLASS_BITS (8 bytes for
 * 4 KiB pages), from delta to the largest object. A full zspage of opz
 * objects of a size holds pages = ceil(opz * size / page) of its chain
 * (pages past its last object are never present), and wastes what its
 * objects leave of those pages. For each size the chain is the one of
 * ppz = 1 .. the longest (16 pages for sizes up to a page, or the pool's
 * max_pages_per_zspage; up to ZS_LARGE_MAX_PAGES above a page) whose full
 * zspage wastes the smallest fraction of its pages, counting its extent
 * records; ties go to the longer chain (fewer zspages per byte). At most
 * ZS_MAX_OPZ objects fit one zspage's bitmap.
 *
 * Walking from the largest size down, a size whose (pages, objects) equal
 * those of the next larger size joins that class: objects of the two sizes
 * then share zspages without costing a page more. A class that holds at
 * most one object per page is "huge": compressing a page to its size saves
 * nothing over storing it whole.
 *
 * A pool's shards each get a copy of the classes, lazily: a shard's table
 * of classes is made when a thread first allocates in it, and each class
 * when an object of its size first comes (so a pool that never stores a
 * 40 KiB object never pays for that class's records).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

struct choice {
	uint32_t pages, opz;
};

/* The chain for @size with at most @max_ppz pages: see the top. */
static struct choice best_geometry(uint32_t size, uint32_t page, uint32_t max_ppz)
{
	struct choice best = { 0, 0 };
	uint64_t best_cost = 0, best_bytes = 1;
	uint32_t ppz;

	for (ppz = 1; ppz <= max_ppz; ppz++) {
		uint64_t opz = (uint64_t)ppz * page / size, pages, bytes, cost;

		if (!opz)
			continue;
		if (opz > ZS_MAX_OPZ)
			opz = ZS_MAX_OPZ;
		pages = (opz * size + page - 1) / page;
		bytes = pages * page;
		cost = bytes - opz * size +
		       (pages + ZS_EXT_PAGES - 1) / ZS_EXT_PAGES * sizeof(struct zs_ext);
		/* cost / bytes <= best_cost / best_bytes, without division */
		if (!best.pages || cost * best_bytes <= best_cost * bytes) {
			best.pages = (uint32_t)pages;
			best.opz = (uint32_t)opz;
			best_cost = cost;
			best_bytes = bytes;
		}
	}
	return best;
}

/* The class table of one longest chain: the same for every pool of this
 * process (the page size does not change), so it is made once. */
struct class_table {
	struct zs_geometry *geo; /* [n] */
	uint16_t *class_of;      /* size index -> class number */
	uint32_t n, huge_size;
	size_t bytes;
};

static struct class_table tables[ZS_MAX_PAGES_PER_ZSPAGE + 1];
static pthread_mutex_t tables_lock = PTHREAD_MUTEX_INITIALIZER;

/* Build the table for @max_ppz (sizes of @delta bytes, up to @max_size, in
 * pages of @page): 0 or -ENOMEM. */
static int table_build(struct class_table *t, uint32_t page, uint32_t delta, uint32_t max_size,
		       uint32_t max_ppz)
{
	uint32_t nr_sizes = max_size / delta, i, n = 0, c;
	struct choice *geo = malloc(nr_sizes * sizeof(*geo));
	uint32_t *owner = malloc(nr_sizes * sizeof(*owner));
	uint16_t *class_of = malloc(nr_sizes * sizeof(*class_of));
	struct zs_geometry *g;

	if (!geo || !owner || !class_of)
		goto nomem;
	/* From the largest size down: merge into the class above when equal. */
	for (i = nr_sizes; i-- > 0;) {
		uint32_t size = (i + 1) * delta;

		geo[i] = best_geometry(size, page, size <= page ? max_ppz : ZS_LARGE_MAX_PAGES);
		if (i + 1 < nr_sizes && geo[i].pages == geo[i + 1].pages &&
		    geo[i].opz == geo[i + 1].opz)
			owner[i] = owner[i + 1];
		else
			owner[i] = n++;
	}
	t->geo = calloc(n, sizeof(*t->geo));
	if (!t->geo)
		goto nomem;
	t->huge_size = max_size + 1;
	/* Class numbers were handed out from the top; store smallest first. */
	for (i = 0; i < nr_sizes; i++) {
		c = n - 1 - owner[i];
		g = &t->geo[c];
		class_of[i] = (uint16_t)c;
		if (!g->size)
			g->merged_from = (i + 1) * delta;
		g->size = (i + 1) * delta; /* the largest size wins */
		g->ppz = (uint16_t)geo[i].pages;
		g->opz = (uint16_t)geo[i].opz;
		g->nexts = (uint8_t)((geo[i].pages + ZS_EXT_PAGES - 1) / ZS_EXT_PAGES);
		g->huge = geo[i].opz <= geo[i].pages;
		if (g->huge && g->merged_from < t->huge_size)
			t->huge_size = g->merged_from;
	}
	t->n = n;
	t->class_of = class_of;
	t->bytes = n * sizeof(*t->geo) + nr_sizes * sizeof(*class_of);
	free(geo);
	free(owner);
	return 0;
nomem:
	free(geo);
	free(owner);
	free(class_of);
	return -ENOMEM;
}

int zs_geometry_init(struct zs_pool *pool, uint32_t max_ppz)
{
	uint32_t delta = pool->page_size >> ZS_CLASS_BITS;
	struct class_table *t = &tables[max_ppz];
	int err = 0;

	pool->delta_shift = (unsigned)__builtin_ctz(delta);
	pthread_mutex_lock(&tables_lock);
	if (!t->geo)
		err = table_build(t, pool->page_size, delta, pool->max_size, max_ppz);
	pthread_mutex_unlock(&tables_lock);
	if (err)
		return err;
	pool->geo = t->geo;
	pool->class_of = t->class_of;
	pool->nr_classes = t->n;
	pool->huge_size = t->huge_size;
	/* Shared by the pools of a process, counted in each: what one pool
	 * alone would hold. */
	atomic_fetch_add(&pool->malloc_bytes, t->bytes);
	return 0;
}

/* Shard @s's table of classes, made if need be; shard_lock held. */
static struct zs_shard *shard_make_locked(struct zs_pool *pool, unsigned s)
{
	struct zs_shard *sh = zs_shard_get(pool, s);
	size_t bytes = sizeof(*sh) + pool->nr_classes * sizeof(sh->cls[0]);
	uint32_t k;

	if (sh)
		return sh;
	sh = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (!sh)
		return NULL;
	memset(sh, 0, bytes);
	sh->pending_map = calloc(pool->nr_classes / 64 + 1, sizeof(uint64_t));
	if (!sh->pending_map) {
		free(sh);
		return NULL;
	}
	bytes += (pool->nr_classes / 64 + 1) * sizeof(uint64_t);
	for (k = 0; k < ZS_MAX_ZSPAGE_EXTS; k++)
		sh->cache.head[k] = sh->cache.tail[k] = ZS_EXT_NONE;
	atomic_fetch_add(&pool->malloc_bytes, bytes);
	atomic_store_explicit(&pool->shard[s], sh, memory_order_release);
	return sh;
}

struct size_class *zs_class_make(struct zs_pool *pool, unsigned s, uint32_t c)
{
	const struct zs_geometry *g = &pool->geo[c];
	struct size_class *class;
	struct zs_shard *sh;
	int grp;

	pthread_mutex_lock(&pool->shard_lock);
	sh = shard_make_locked(pool, s);
	class = sh ? atomic_load_explicit(&sh->cls[c], memory_order_relaxed) : NULL;
	if (sh && !class && (class = aligned_alloc(64, sizeof(*class)))) {
		memset(class, 0, sizeof(*class));
		class->size = g->size;
		class->number = c;
		class->ppz = g->ppz;
		class->opz = g->opz;
		class->nexts = g->nexts;
		class->shard = (uint8_t)s;
		class->pool = pool;
		class->free_slot = ZS_SLOT_NONE;
		for (grp = 0; grp < ZS_NR_FULLNESS; grp++)
			class->head[grp] = ZS_EXT_NONE;
		atomic_fetch_add(&pool->malloc_bytes, sizeof(*class));
		atomic_store_explicit(&sh->cls[c], class, memory_order_release);
	}
	pthread_mutex_unlock(&pool->shard_lock);
	return class;
}

void zs_classes_destroy(struct zs_pool *pool)
{
	uint32_t s, c;

	for (s = 0; s < ZS_MAX_SHARDS; s++) {
		struct zs_shard *sh = zs_shard_get(pool, s);

		for (c = 0; sh && c < pool->nr_classes; c++) {
			struct size_class *class = atomic_load(&sh->cls[c]);

			if (!class)
				continue;
			zs_compaction_free(class);
			free(class->chunks);
			free(class);
		}
		if (sh)
			free((void *)(uintptr_t)sh->pending_map);
		free(sh);
		atomic_store(&pool->shard[s], NULL);
	}
	pool->geo = NULL; /* the class tables stay for the next pool */
	pool->class_of = NULL;
}
