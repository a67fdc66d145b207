/*
 * check.c - zs_check(), the statistics and the per-class table.
 *
 * zs_check() holds every class lock at once (taken in class order; nothing
 * else ever holds two, so this cannot deadlock) and verifies, per class:
 *   - fullness lists: links agree both ways, each zspage is listed once, in
 *     the group its in-use count gives, and the non-empty mask matches;
 *     group 0 holds only zspages emptied while pinned (deferred)
 *   - free ids: every id is listed or free, never both
 *   - each zspage: npages <= ppz, every pfn a live page of the pool's source
 *     and owned by no other zspage, inuse == popcount(bitmap) <= opz, no bit
 *     past opz, every allocated object inside the present pages
 *   - handle slots: each allocated slot points at an allocated object of a
 *     listed zspage, no two at the same object, one slot per allocated
 *     object; the free-slot list holds exactly the free slots
 *   - counters: pages, objects, zspages; the source's page count
 * and counts every violation instead of stopping, so that tests can assert
 * on the number and a release build can run it.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

struct checker {
	size_t violations;
	uint32_t *pfns;        /* every pfn of every zspage, to find sharing */
	size_t nr_pfns, cap_pfns;
};

#define FAIL(ck, cond) ((cond) ? (void)0 : (void)(ck)->violations++)

static void note_pfn(struct checker *ck, uint32_t pfn)
{
	if (ck->nr_pfns == ck->cap_pfns) {
		size_t cap = ck->cap_pfns ? ck->cap_pfns * 2 : 1024;
		uint32_t *grown = realloc(ck->pfns, cap * sizeof(*grown));

		if (!grown) {
			ck->violations++; /* cannot check: count it, do not hide it */
			return;
		}
		ck->pfns = grown;
		ck->cap_pfns = cap;
	}
	ck->pfns[ck->nr_pfns++] = pfn;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int test_bit(const uint64_t *map, uint64_t i)
{
	return (int)((map[i / 64] >> (i % 64)) & 1);
}

static void check_zspage(struct checker *ck, struct size_class *class,
			 struct zspage *z)
{
	struct zs_pool *pool = class->pool;
	const uint64_t *map = zs_zspage_map(class, z);
	uint32_t i, used = 0, last = 0;

	FAIL(ck, z->npages <= class->ppz);
	for (i = 0; i < z->npages && i < class->ppz; i++) {
		uint32_t pfn = atomic_load_explicit(&zs_zspage_pfns(z)[i],
						    memory_order_relaxed);

		FAIL(ck, mp_page_valid(pool->src, pfn));
		note_pfn(ck, pfn);
	}
	for (i = 0; i < class->map_words * 64u; i++) {
		if (!test_bit(map, i))
			continue;
		FAIL(ck, i < class->opz);
		used++;
		last = i;
	}
	FAIL(ck, used == z->inuse);
	FAIL(ck, z->inuse <= class->opz);
	if (used) {
		uint64_t end = (uint64_t)(last + 1) * class->size;

		FAIL(ck, end <= (uint64_t)z->npages * pool->page_size);
	}
	/* Group 0 holds only deferred (emptied while pinned) zspages. */
	FAIL(ck, zs_group(z) == zs_fullness_group(class, z->inuse));
}

static void check_class(struct checker *ck, struct size_class *class)
{
	uint8_t *listed;
	uint64_t *seen; /* object places claimed by a slot: id * opz + idx */
	uint64_t nr_zspages = 0, pages = 0, inuse = 0;
	uint64_t used_slots = 0, free_slots = 0, walked = 0;
	uint32_t g, id, prev, s;

	if (!class->nr_ids && !class->nr_slots) {
		/* Never used: nothing to walk, but nothing may be counted. */
		FAIL(ck, !class->nonempty && !class->nr_zspages && !class->obj_used &&
				 !class->pages_used && class->free_ids == ZS_ID_NONE &&
				 class->free_slot == ZS_SLOT_NONE);
		return;
	}
	listed = calloc(class->nr_ids ? class->nr_ids : 1, 1);
	seen = calloc(((uint64_t)class->nr_ids * class->opz + 63) / 64 + 1,
		      sizeof(*seen));
	if (!listed || !seen) {
		ck->violations++;
		goto out;
	}
	FAIL(ck, (atomic_load_explicit(&class->seq, memory_order_relaxed) & 1) == 0);

	for (g = 0; g < ZS_NR_FULLNESS; g++) {
		FAIL(ck, !!(class->nonempty & (1u << g)) == (class->head[g] != ZS_ID_NONE));
		prev = ZS_ID_NONE;
		for (id = class->head[g]; id != ZS_ID_NONE;) {
			struct zspage *z;

			if (id >= class->nr_ids || listed[id]) {
				ck->violations++; /* out of range, or a cycle */
				break;
			}
			listed[id] = 1;
			z = zs_zspage_at(class, id);
			FAIL(ck, zs_group(z) == (int)g);
			FAIL(ck, z->prev == prev);
			check_zspage(ck, class, z);
			nr_zspages++;
			pages += z->npages;
			inuse += z->inuse;
			prev = id;
			id = z->next;
		}
	}
	for (id = class->free_ids; id != ZS_ID_NONE;) {
		struct zspage *z;

		if (id >= class->nr_ids || listed[id]) {
			ck->violations++;
			break;
		}
		listed[id] = 2;
		z = zs_zspage_at(class, id);
		FAIL(ck, zs_group(z) == ZS_GROUP_UNUSED && z->npages == 0);
		id = z->next;
	}
	for (id = 0; id < class->nr_ids; id++)
		FAIL(ck, listed[id] != 0);
	FAIL(ck, nr_zspages == class->nr_zspages);
	FAIL(ck, pages == class->pages_used);
	FAIL(ck, inuse == class->obj_used);

	for (s = 0; s < class->nr_slots; s++) {
		uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);
		uint32_t loc = atomic_load_explicit(zs_slot_loc(chunk, s),
						    memory_order_relaxed);
		uint32_t lid, idx;

		if (loc & ZS_LOC_FREE) {
			free_slots++;
			continue;
		}
		used_slots++;
		lid = zs_loc_id(class, loc);
		idx = zs_loc_idx(class, loc);
		if (lid >= class->nr_ids || listed[lid] != 1 || idx >= class->opz) {
			ck->violations++;
			continue;
		}
		FAIL(ck, test_bit(zs_zspage_map(class, zs_zspage_at(class, lid)), idx));
		FAIL(ck, !test_bit(seen, (uint64_t)lid * class->opz + idx));
		seen[((uint64_t)lid * class->opz + idx) / 64] |=
			(uint64_t)1 << (((uint64_t)lid * class->opz + idx) % 64);
	}
	FAIL(ck, used_slots == class->obj_used);
	for (s = class->free_slot; s != ZS_SLOT_NONE && walked <= class->nr_slots;) {
		uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);
		uint32_t loc;

		if (s >= class->nr_slots || !chunk) {
			ck->violations++;
			break;
		}
		loc = atomic_load_explicit(zs_slot_loc(chunk, s), memory_order_relaxed);
		if (!(loc & ZS_LOC_FREE)) {
			ck->violations++;
			break;
		}
		walked++;
		s = loc & ~ZS_LOC_FREE;
	}
	FAIL(ck, walked == free_slots);
out:
	free(seen);
	free(listed);
}

size_t zs_check(struct zs_pool *pool)
{
	struct checker ck = { 0 };
	uint64_t pages = 0, in_flight, in_flight_after;
	struct size_class *shard[ZS_MAX_SHARDS];
	struct mp_stats st;
	uint32_t s, c;
	size_t i;

	if (!pool)
		return 1;
	/* No shard appears while we hold every class lock of the others. */
	pthread_mutex_lock(&pool->shard_lock);
	for (s = 0; s < ZS_MAX_SHARDS; s++) {
		shard[s] = zs_shard_classes(pool, s);
		/* shard 0 always exists, shards past nr_shards never */
		FAIL(&ck, s < pool->nr_shards ? s > 0 || shard[s] : !shard[s]);
		for (c = 0; shard[s] && c < pool->nr_sizes; c++)
			zs_class_lock(&shard[s][c]);
	}
	FAIL(&ck, shard[0] == pool->classes);
	for (s = 0; s < ZS_MAX_SHARDS; s++)
		for (c = 0; shard[s] && c < pool->nr_sizes; c++) {
			const struct size_class *class = &shard[s][c], *base = &pool->classes[c];

			/* every shard repeats shard 0's geometry */
			FAIL(&ck, class->index == (s << ZS_CLASS_BITS | c));
			FAIL(&ck, class->size == base->size && class->ppz == base->ppz &&
					  class->opz == base->opz);
			check_class(&ck, &shard[s][c]);
			pages += class->pages_used;
		}
	/* A compaction may be giving pages back after its unlock: the source
	 * counts them, no class does. It lowers the source's count before
	 * pages_in_flight, so reading in_flight around the source is exact. */
	in_flight = atomic_load(&pool->pages_in_flight);
	mp_get_stats(pool->src, &st);
	in_flight_after = atomic_load(&pool->pages_in_flight);
	if (in_flight_after > in_flight)
		in_flight = in_flight_after;
	FAIL(&ck, st.pages_used >= pages && st.pages_used <= pages + in_flight);
	for (s = ZS_MAX_SHARDS; s-- > 0;)
		for (c = pool->nr_sizes; shard[s] && c-- > 0;)
			zs_class_unlock(&shard[s][c]);
	pthread_mutex_unlock(&pool->shard_lock);

	if (ck.nr_pfns)
		qsort(ck.pfns, ck.nr_pfns, sizeof(*ck.pfns), cmp_u32);
	for (i = 1; i < ck.nr_pfns; i++)
		FAIL(&ck, ck.pfns[i] != ck.pfns[i - 1]);
	free(ck.pfns);
	return ck.violations;
}

/* ---- Statistics ------------------------------------------------------ */

static void class_stat_locked(struct size_class *class, struct zs_class_stat *st)
{
	uint32_t g, id;
	uint64_t wasted;

	memset(st, 0, sizeof(*st));
	st->index = class->index;
	st->size = class->size;
	st->merged_from = class->merged_from;
	st->pages_per_zspage = class->ppz;
	st->objs_per_zspage = class->opz;
	for (g = 0; g < ZS_NR_FULLNESS; g++)
		for (id = class->head[g]; id != ZS_ID_NONE; id = zs_zspage_at(class, id)->next) {
			struct zspage *z = zs_zspage_at(class, id);
			uint64_t fit = (uint64_t)z->npages * class->pool->page_size / class->size;

			st->zspages[g]++;
			/* places in the pages present (zspages fill lazily) */
			st->obj_allocated += fit < class->opz ? fit : class->opz;
		}
	st->obj_used = class->obj_used;
	st->pages_used = class->pages_used;
	/* As the kernel's zs_can_compact(): whole zspages' worth of holes. */
	wasted = (st->obj_allocated - st->obj_used) / class->opz;
	st->freeable = wasted * class->ppz;
}

/* Size class @c's figures summed over the pool's shards (one lock at a
 * time: a snapshot per shard). */
static void class_stat(struct zs_pool *pool, uint32_t c, struct zs_class_stat *st)
{
	struct zs_class_stat one;
	uint32_t s, g;

	for (s = 0; s < pool->nr_shards; s++) {
		struct size_class *classes = zs_shard_classes(pool, s);

		if (!classes)
			continue; /* never NULL for shard 0 */
		zs_class_lock(&classes[c]);
		class_stat_locked(&classes[c], s ? &one : st);
		zs_class_unlock(&classes[c]);
		if (!s)
			continue;
		for (g = 0; g < ZS_NR_FULLNESS; g++)
			st->zspages[g] += one.zspages[g];
		st->obj_allocated += one.obj_allocated;
		st->obj_used += one.obj_used;
		st->pages_used += one.pages_used;
		st->freeable += one.freeable;
	}
}

int zs_class_stats(struct zs_pool *pool, struct zs_class_stat *out, size_t n)
{
	uint32_t c;

	if (!pool)
		return -EINVAL;
	for (c = 0; out && c < pool->nr_sizes && c < n; c++)
		class_stat(pool, c, &out[c]);
	return (int)pool->nr_sizes;
}

void zs_pool_stats(struct zs_pool *pool, struct zs_stats *stats)
{
	uint32_t s, c;

	if (!pool || !stats)
		return;
	memset(stats, 0, sizeof(*stats));
	stats->metadata_bytes = sizeof(*pool);
	for (s = 0; s < pool->nr_shards; s++) {
		struct size_class *classes = zs_shard_classes(pool, s);

		if (!classes)
			continue;
		stats->metadata_bytes += pool->nr_sizes * sizeof(*classes);
		for (c = 0; c < pool->nr_sizes; c++) {
			struct size_class *class = &classes[c];

			zs_class_lock(class);
			stats->objects += class->obj_used;
			stats->handles_reserved += class->nr_slots;
			stats->metadata_bytes += class->slots.bytes + class->zspages.bytes;
			zs_class_unlock(class);
		}
	}
	stats->pages_used = zs_get_total_pages(pool);
	stats->pages_compacted = atomic_load(&pool->pages_compacted);
	stats->objects_moved = atomic_load(&pool->objects_moved);
}

int zs_dump_classes(struct zs_pool *pool, FILE *f)
{
	static const char *const groups[ZS_NR_FULLNESS] = {
		"0%", "10%", "20%", "30%", "40%", "50%",
		"60%", "70%", "80%", "90%", "99%", "100%",
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
	err |= fprintf(f, " %13s %10s %10s %16s %8s\n", "obj_allocated",
		       "obj_used", "pages_used", "pages_per_zspage", "freeable") < 0;
	for (c = 0; c < pool->nr_sizes; c++) {
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
			       (unsigned long long)st.obj_used,
			       (unsigned long long)st.pages_used, st.pages_per_zspage,
			       (unsigned long long)st.freeable) < 0;
	}
	err |= fprintf(f, " %5s %5s", "Total", "") < 0;
	for (g = 1; g < ZS_NR_FULLNESS; g++)
		err |= fprintf(f, " %5llu", (unsigned long long)total.zspages[g]) < 0;
	err |= fprintf(f, " %13llu %10llu %10llu %16s %8llu\n",
		       (unsigned long long)total.obj_allocated,
		       (unsigned long long)total.obj_used,
		       (unsigned long long)total.pages_used, "",
		       (unsigned long long)total.freeable) < 0;
	return err ? -EIO : 0;
}
