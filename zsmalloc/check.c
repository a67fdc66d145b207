/*
 * check.c - zs_check(): every record of a pool, against every invariant.
 *
 * zs_check() takes every lock of the pool in the lock order (the shard
 * lock, every class lock, every cache lock, the span lock) and verifies:
 *   - each class's fullness lists: links agree both ways, each zspage is
 *     listed once, in the group its in-use count gives, the non-empty mask
 *     matches; a compaction's isolated sources are accounted for
 *   - each zspage: every extent names the class, the shard and its place;
 *     inuse == popcount(bitmap) <= opz, no bit past opz, every page an
 *     allocated object touches is present, no page past the chain is;
 *     counters (zspages, objects, pages) add up
 *   - slots: every slot of every chunk is free or live (none moving or
 *     zeroed); every live slot points at an allocated place of a zspage of
 *     its size, no two at one place, one per allocated place; the free
 *     lists hold exactly the free slots; each chunk has one owner
 *   - the caches: cached zspages are marked so, and their pages counted
 *   - the span: free extents are free, the others belong to a zspage or a
 *     cache entry; every present page is a live page of the source, none
 *     named twice; the pool's page count is the source's
 * and counts every violation instead of stopping, so that tests can assert
 * on the number and a release build can run it.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

struct checker {
	struct zs_pool *pool;
	size_t violations;
	uint64_t *locs; /* locations of live slots */
	size_t nr_locs, cap_locs;
	uint32_t *pfns; /* pages present, to find any named twice */
	size_t nr_pfns, cap_pfns;
	uint8_t *seen_ext;    /* per extent below span_next: 1 zspage, 2 cache */
	uint8_t *chunk_owned; /* per slot chunk: a class owns it */
	struct tally *tallies;
	uint64_t objects, cached, free_slots, listed_free;
};

#define FAIL(ck, cond) ((cond) ? (void)0 : (void)(ck)->violations++)

static int push(struct checker *ck, void **arr, size_t *n, size_t *cap, size_t each,
		const void *item)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 1024;
		void *grown = realloc(*arr, c * each);

		if (!grown) {
			ck->violations++; /* cannot check: count it, do not hide it */
			return -1;
		}
		*arr = grown;
		*cap = c;
	}
	memcpy((uint8_t *)*arr + *n * each, item, each);
	(*n)++;
	return 0;
}

static void note_pfn(struct checker *ck, uint32_t pfn)
{
	FAIL(ck, mp_page_valid(ck->pool->src, pfn));
	push(ck, (void **)&ck->pfns, &ck->nr_pfns, &ck->cap_pfns, sizeof(pfn), &pfn);
}

/* The pages of the zspage from @first (@nexts extents, @ppz in the chain):
 * counted, noted, none past the chain. Returns the count. */
static uint32_t check_pages(struct checker *ck, uint32_t first, uint32_t nexts, uint32_t ppz)
{
	struct zs_pool *pool = ck->pool;
	uint32_t i, b, n = 0;

	for (i = 0; i < nexts; i++)
		for (b = 0; b < ZS_EXT_PAGES; b++) {
			uint32_t p = i * ZS_EXT_PAGES + b;
			uint64_t page = ((uint64_t)first << ZS_EXT_SHIFT) + p;

			if (!((pool->ext[first + i].present >> b) & 1))
				continue;
			FAIL(ck, p < ppz);
			note_pfn(ck,
				 pool->scattered ? atomic_load(&pool->vpfn[page]) : (uint32_t)page);
			n++;
		}
	return n;
}

static void mark_exts(struct checker *ck, uint32_t first, uint32_t nexts, uint8_t what)
{
	uint32_t i;

	for (i = 0; i < nexts; i++) {
		uint32_t e = first + i;

		if (e >= ck->pool->span_next) {
			ck->violations++;
			continue;
		}
		FAIL(ck, ck->seen_ext[e] == 0);
		ck->seen_ext[e] = what;
	}
}

/* Per class of each shard: what its zspages add up to. */
struct tally {
	uint64_t zspages, objects, pages;
};

static struct tally *tally_of(struct checker *ck, const struct size_class *class)
{
	return &ck->tallies[class->shard * ck->pool->nr_classes + class->number];
}

static void check_zspage(struct checker *ck, struct size_class *class, uint32_t first)
{
	struct zs_pool *pool = ck->pool;
	const struct zs_ext *z = &pool->ext[first];
	struct tally *t = tally_of(ck, class);
	uint32_t i, used = 0;

	mark_exts(ck, first, class->nexts, 1);
	FAIL(ck, z->nexts == class->nexts);
	for (i = 0; i < class->nexts; i++) {
		const struct zs_ext *e = &pool->ext[first + i];

		FAIL(ck, atomic_load(&e->cls) == class->number);
		FAIL(ck, atomic_load(&e->shard) == class->shard);
		FAIL(ck, zs_ext_part(e) == i);
	}
	for (i = 0; i < ZS_MAP_WORDS * 64u; i++) {
		if (!zs_obj_test(pool, first, i))
			continue;
		FAIL(ck, i < class->opz);
		if (i < class->opz)
			FAIL(ck, zs_obj_present(class, first, i));
		used++;
	}
	FAIL(ck, used == z->inuse && z->inuse <= class->opz);
	t->zspages++;
	t->objects += z->inuse;
	t->pages += check_pages(ck, first, class->nexts, class->ppz);
	ck->objects += z->inuse;
}

/* Walk @class's fullness lists. */
static void check_lists(struct checker *ck, struct size_class *class)
{
	struct zs_pool *pool = ck->pool;
	uint32_t f, prev;
	uint64_t walked;
	int g;

	for (g = 0; g < ZS_NR_FULLNESS; g++) {
		FAIL(ck, !!(class->nonempty & (1u << g)) == (class->head[g] != ZS_EXT_NONE));
		prev = ZS_EXT_NONE;
		for (f = class->head[g], walked = 0; f != ZS_EXT_NONE; f = pool->ext[f].next) {
			if (f >= pool->span_next || walked++ > pool->span_next) {
				ck->violations++; /* out of range, or a cycle */
				break;
			}
			FAIL(ck, zs_ext_group(&pool->ext[f]) == g);
			FAIL(ck, g == zs_fullness_group(class, pool->ext[f].inuse));
			FAIL(ck, g != ZS_GROUP_EMPTY); /* an empty zspage leaves */
			FAIL(ck, pool->ext[f].prev == prev);
			check_zspage(ck, class, f);
			prev = f;
		}
	}
}

/* The isolated sources of a compaction that @class leads. */
static void check_sources(struct checker *ck, struct size_class *class)
{
	const uint32_t *src;
	uint32_t n = zs_compaction_sources(class->cc, &src), i;

	for (i = 0; i < n; i++) {
		struct size_class *owner = zs_compaction_source_class(class->cc, src[i]);

		if (owner)
			check_zspage(ck, owner, src[i]);
	}
}

/* The slots of @class's chunks; its free list. */
static void check_slots(struct checker *ck, struct size_class *class)
{
	struct zs_pool *pool = ck->pool;
	uint32_t nr = atomic_load(&pool->nr_slots), i, s, walked = 0;

	for (i = 0; i < class->nr_chunks; i++) {
		uint32_t chunk = class->chunks[i];

		if ((uint64_t)(chunk + 1) * ZS_SLOT_CHUNK > nr || ck->chunk_owned[chunk]) {
			ck->violations++;
			continue;
		}
		ck->chunk_owned[chunk] = 1;
		for (s = chunk * ZS_SLOT_CHUNK; s < (chunk + 1) * ZS_SLOT_CHUNK; s++) {
			zs_slotv v = atomic_load(zs_slot(pool, s));
			uint64_t loc = zs_sv_loc(v);

			if (zs_sv_state(v) == ZS_STATE_FREE) {
				ck->free_slots++;
				continue;
			}
			FAIL(ck, zs_sv_state(v) >= ZS_STATE_LIVE);
			if (zs_sv_state(v) >= ZS_STATE_LIVE)
				push(ck, (void **)&ck->locs, &ck->nr_locs, &ck->cap_locs,
				     sizeof(loc), &loc);
		}
	}
	for (s = class->free_slot; s != ZS_SLOT_NONE; walked++) {
		zs_slotv v;

		if (s >= nr || walked > nr) {
			ck->violations++;
			break;
		}
		v = atomic_load(zs_slot(pool, s));
		if (zs_sv_state(v) != ZS_STATE_FREE) {
			ck->violations++;
			break;
		}
		s = (uint32_t)zs_sv_loc(v);
	}
	ck->listed_free += walked;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Every live slot at an allocated place of a zspage of its size, once. */
static void check_locations(struct checker *ck)
{
	struct zs_pool *pool = ck->pool;
	size_t i;

	if (ck->nr_locs)
		qsort(ck->locs, ck->nr_locs, sizeof(*ck->locs), cmp_u64);
	for (i = 0; i < ck->nr_locs; i++) {
		uint64_t loc = ck->locs[i], off;
		uint32_t e = zs_ext_of_loc(pool, loc), first, idx, c;

		FAIL(ck, i == 0 || ck->locs[i - 1] != loc);
		if (e >= pool->span_next || ck->seen_ext[e] != 1) {
			ck->violations++;
			continue;
		}
		first = zs_zspage_first(pool, e);
		c = atomic_load(&pool->ext[first].cls);
		off = (loc - ((uint64_t)first << pool->ext_unit_shift)) << ZS_LOC_SHIFT;
		idx = (uint32_t)(off / pool->geo[c].size);
		FAIL(ck, off % pool->geo[c].size == 0 && idx < pool->geo[c].opz &&
				 zs_obj_test(pool, first, idx));
	}
	FAIL(ck, ck->nr_locs == ck->objects);
}

static void check_cache(struct checker *ck, struct zs_cache *c)
{
	struct zs_pool *pool = ck->pool;
	uint64_t pages = 0, zspages = 0;
	uint32_t k, f, i;

	for (k = 0; k < ZS_MAX_ZSPAGE_EXTS; k++) {
		uint32_t prev = ZS_EXT_NONE;

		for (f = c->head[k]; f != ZS_EXT_NONE; f = pool->ext[f].next) {
			if (f >= pool->span_next || zspages > pool->span_next) {
				ck->violations++;
				break;
			}
			FAIL(ck, pool->ext[f].nexts == k + 1 && pool->ext[f].prev == prev);
			mark_exts(ck, f, k + 1, 2);
			for (i = 0; i <= k; i++)
				FAIL(ck, atomic_load(&pool->ext[f + i].cls) == ZS_EXT_CACHED);
			pages += check_pages(ck, f, k + 1, (k + 1) * ZS_EXT_PAGES);
			zspages++;
			prev = f;
		}
		FAIL(ck, c->tail[k] == prev);
	}
	FAIL(ck, pages == c->pages && zspages == c->zspages);
	ck->cached += pages;
}

/* Free extents are free; the others were seen in a zspage or a cache. */
static void check_span(struct checker *ck)
{
	struct zs_pool *pool = ck->pool;
	uint32_t e;

	for (e = 0; e < pool->span_next; e++) {
		int free = (int)((pool->span_free[e / 64] >> (e % 64)) & 1);

		FAIL(ck, free == (ck->seen_ext[e] == 0));
		if (free)
			FAIL(ck, atomic_load(&pool->ext[e].cls) == ZS_EXT_FREE &&
					 pool->ext[e].present == 0);
	}
}

/* Per class: its tally against its counters. */
static void check_counters(struct checker *ck)
{
	struct zs_pool *pool = ck->pool;
	uint64_t pages = 0;
	uint32_t c, s;

	for (s = 0; s < ZS_MAX_SHARDS; s++)
		for (c = 0; c < pool->nr_classes; c++) {
			struct size_class *class = zs_class_get(pool, s, c);

			if (!class)
				continue;
			FAIL(ck, s < pool->nr_shards);
			FAIL(ck, tally_of(ck, class)->zspages == class->nr_zspages);
			FAIL(ck, tally_of(ck, class)->objects == class->obj_used);
			FAIL(ck, tally_of(ck, class)->pages == class->pages_used);
			pages += class->pages_used;
		}
	FAIL(ck, ck->free_slots == ck->listed_free);
	FAIL(ck, ck->cached == atomic_load(&pool->pages_cached));
	FAIL(ck, pages + ck->cached == atomic_load(&pool->pages_total));
}

static void check_all(struct checker *ck)
{
	struct zs_pool *pool = ck->pool;
	uint32_t c, s;
	size_t i;

	for (s = 0; s < ZS_MAX_SHARDS; s++)
		for (c = 0; c < pool->nr_classes; c++) {
			struct size_class *class = zs_class_get(pool, s, c);

			if (!class)
				continue;
			check_lists(ck, class);
			if (class->cc && zs_compaction_leader(class->cc) == class)
				check_sources(ck, class);
			check_slots(ck, class);
		}
	for (s = 0; s < ZS_MAX_SHARDS; s++)
		if (zs_shard_get(pool, s))
			check_cache(ck, &zs_shard_get(pool, s)->cache);
	check_locations(ck);
	check_span(ck);
	check_counters(ck);
	if (ck->nr_pfns)
		qsort(ck->pfns, ck->nr_pfns, sizeof(*ck->pfns), cmp_u32);
	for (i = 1; i < ck->nr_pfns; i++)
		FAIL(ck, ck->pfns[i] != ck->pfns[i - 1]);
}

size_t zs_check(struct zs_pool *pool)
{
	struct checker ck = { 0 };
	struct mp_stats st;

	if (!pool)
		return 1;
	ck.pool = pool;
	zs_pool_locks(pool, 1);
	ck.seen_ext = calloc(pool->span_next + 1, 1);
	ck.chunk_owned = calloc(atomic_load(&pool->nr_slots) / ZS_SLOT_CHUNK + 1, 1);
	ck.tallies = calloc((size_t)ZS_MAX_SHARDS * pool->nr_classes, sizeof(*ck.tallies));
	if (ck.seen_ext && ck.chunk_owned && ck.tallies)
		check_all(&ck);
	else
		ck.violations++;
	mp_get_stats(pool->src, &st);
	FAIL(&ck, st.pages_used == atomic_load(&pool->pages_total));
	zs_pool_locks(pool, 0);
	free(ck.seen_ext);
	free(ck.chunk_owned);
	free(ck.tallies);
	free(ck.locs);
	free(ck.pfns);
	return ck.violations;
}
