/*
 * stats.c - the pool's counters and the per-class table.
 *
 * Every figure is all-in: zs_stats.metadata_bytes is everything the pool
 * holds besides its objects' pages (the metadata pages of slots, extent
 * records and pfns; the malloc'd class records, shard tables, slot chunk
 * lists and geometry), and pages_used counts the shards' cached pages too.
 * A class's figures are the sum over the pool's shards, each read under its
 * class lock (a snapshot per shard).
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

/* @class's figures into @st (zeroed first); class lock held. */
static void class_stat_locked(struct size_class *class, struct zs_class_stat *st)
{
	struct zs_pool *pool = class->pool;
	uint32_t f, shift = pool->page_shift;
	int g;

	for (g = 0; g < ZS_NR_FULLNESS; g++)
		for (f = class->head[g]; f != ZS_EXT_NONE; f = pool->ext[f].next) {
			uint32_t p, top = 0;

			st->zspages[g]++;
			/* places in the pages present up to the last one */
			for (p = 0; p < class->ppz; p++)
				if ((pool->ext[f + p / ZS_EXT_PAGES].present >>
				     (p % ZS_EXT_PAGES)) &
				    1)
					top = p + 1;
			st->obj_allocated += (((uint64_t)top << shift) / class->size < class->opz)
						     ? ((uint64_t)top << shift) / class->size
						     : class->opz;
		}
	st->obj_used += class->obj_used;
	st->pages_used += class->pages_used;
}

/* Size class @c's figures summed over the shards. */
static void class_stat(struct zs_pool *pool, uint32_t c, struct zs_class_stat *st)
{
	const struct zs_geometry *g = &pool->geo[c];
	struct size_class *cls[ZS_MAX_SHARDS];
	unsigned n = 0, s, i;

	memset(st, 0, sizeof(*st));
	st->index = c;
	st->size = g->size;
	st->merged_from = g->merged_from;
	st->pages_per_zspage = g->ppz;
	st->objs_per_zspage = g->opz;
	for (s = 0; s < ZS_MAX_SHARDS; s++)
		if ((cls[n] = zs_class_get(pool, s, c)) != NULL)
			n++;
	for (i = 0; i < n; i++)
		zs_class_lock(cls[i]);
	/* What zs_compact() would free: it stops an automatic compaction
	 * under way and plans over its zspages too; so does this. */
	zs_compaction_abort_auto(cls, n);
	for (i = 0; i < n; i++)
		class_stat_locked(cls[i], st);
	if (n)
		st->freeable = zs_compact_freeable(pool, cls, n);
	for (i = n; i-- > 0;)
		zs_class_unlock(cls[i]);
}

int zs_class_stats(struct zs_pool *pool, struct zs_class_stat *out, size_t n)
{
	uint32_t c;

	if (!pool)
		return -EINVAL;
	for (c = 0; out && c < pool->nr_classes && c < n; c++)
		class_stat(pool, c, &out[c]);
	return (int)pool->nr_classes;
}

void zs_pool_stats(struct zs_pool *pool, struct zs_stats *stats)
{
	uint32_t s, c;

	if (!pool || !stats)
		return;
	memset(stats, 0, sizeof(*stats));
	for (s = 0; s < ZS_MAX_SHARDS; s++)
		for (c = 0; c < pool->nr_classes; c++) {
			struct size_class *class = zs_class_get(pool, s, c);

			if (!class)
				continue;
			zs_class_lock(class);
			stats->objects += class->obj_used;
			stats->handles_reserved += (uint64_t)(class->nr_chunks) * ZS_SLOT_CHUNK;
			zs_class_unlock(class);
		}
	pthread_mutex_lock(&pool->span_lock);
	stats->metadata_bytes =
		((uint64_t)pool->meta_slot_pages + pool->region[ZS_META_CLS].present +
		 pool->region[ZS_META_EXT].present + pool->region[ZS_META_VPFN].present) *
			pool->page_size +
		atomic_load(&pool->malloc_bytes) + (pool->span_next / 64 + 1) * sizeof(uint64_t);
	pthread_mutex_unlock(&pool->span_lock);
	stats->pages_used = atomic_load(&pool->pages_total);
	stats->pages_cached = atomic_load(&pool->pages_cached);
	stats->pages_compacted = atomic_load(&pool->pages_compacted);
	stats->objects_moved = atomic_load(&pool->objects_moved);
	stats->auto_compactions = atomic_load(&pool->auto_compactions);
}

int zs_dump_classes(struct zs_pool *pool, FILE *f)
{
	static const char *const groups[ZS_NR_FULLNESS] = {
		"0%", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "99%", "100%",
	};
	struct zs_class_stat st, total;
	uint32_t c, g;
	int err = 0;

	if (!pool || !f)
		return -EINVAL;
	memset(&total, 0, sizeof(total));
	err |= fprintf(f, "pool %s\n %5s %5s", pool->name, "class", "size") < 0;
	for (g = 1; g < ZS_NR_FULLNESS; g++)
		err |= fprintf(f, " %5s", groups[g]) < 0;
	err |= fprintf(f, " %13s %10s %10s %16s %8s\n", "obj_allocated", "obj_used", "pages_used",
		       "pages_per_zspage", "freeable") < 0;
	for (c = 0; c < pool->nr_classes; c++) {
		class_stat(pool, c, &st);
		for (g = 0; g < ZS_NR_FULLNESS; g++)
			total.zspages[g] += st.zspages[g];
		total.obj_allocated += st.obj_allocated;
		total.obj_used += st.obj_used;
		total.pages_used += st.pages_used;
		total.freeable += st.freeable;
		if (!st.obj_allocated && !st.pages_used)
			continue;
		err |= fprintf(f, " %5u %5u", st.index, st.size) < 0;
		for (g = 1; g < ZS_NR_FULLNESS; g++)
			err |= fprintf(f, " %5llu", (unsigned long long)st.zspages[g]) < 0;
		err |= fprintf(f, " %13llu %10llu %10llu %16u %8llu\n",
			       (unsigned long long)st.obj_allocated,
			       (unsigned long long)st.obj_used, (unsigned long long)st.pages_used,
			       st.pages_per_zspage, (unsigned long long)st.freeable) < 0;
	}
	err |= fprintf(f, " %5s %5s", "Total", "") < 0;
	for (g = 1; g < ZS_NR_FULLNESS; g++)
		err |= fprintf(f, " %5llu", (unsigned long long)total.zspages[g]) < 0;
	err |= fprintf(f, " %13llu %10llu %10llu %16s %8llu\n",
		       (unsigned long long)total.obj_allocated, (unsigned long long)total.obj_used,
		       (unsigned long long)total.pages_used, "",
		       (unsigned long long)total.freeable) < 0;
	return err ? -EIO : 0;
}
