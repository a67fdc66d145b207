/*
 * compact.c - move objects so that emptied zspages can be freed.
 *
 * One compaction works on a domain: one size class in one shard (the
 * automatic kind, run by that class's allocating and freeing threads) or in
 * every shard (zs_compact(), which so merges the shards' partial zspages).
 * It goes in steps, each under the domain's class locks and bounded (a few
 * dozen objects moved or a few thousand slots read), and keeps its state in
 * the classes (struct zs_compaction) between steps, so that no other thread
 * waits long for a class lock:
 *
 *   1. plan     the partial zspages, fullest first: [ D0 D1 ... S1 S0 ];
 *               the emptiest whose objects fit the others' free places
 *               are the sources. Sources are isolated: off the fullness
 *               lists, so that no allocation goes there.
 *   2. scan     the class's slots (every shard's), a chunk at a time: the
 *               slots that point into a source are the objects to move
 *               (objects carry no header; this is how a handle is found
 *               from an object: ~1 ns a slot, against 8 bytes per object
 *               forever for a header). Sorted by source, then place.
 *   3. migrate  each object: its slot turns "moving" with a compare-and-
 *               swap that expects no pin (a pinned object stays where it
 *               is), the bytes go into the lowest free place of the fullest
 *               destination, the slot turns live at the new location.
 *               A source that empties is released at once.
 *   4. putback  sources that kept objects (pinned, or no page for the
 *               destination) give back the pages no object touches and go
 *               back on their lists.
 *
 * The kernel does 1-4 zspage pair by zspage pair, finding handles through
 * the 8-byte header every object carries. zs_class_stat.freeable runs the
 * same plan on copies of the bitmaps (compact_plan() and plan_pages()),
 * so it says exactly what zs_compact() frees in a pool nobody touches.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

#define SCAN_STEP_CHUNKS 32 /* 2048 slots per scan step: tens of microseconds */

struct cand {
	uint32_t order; /* its source's place in the plan */
	uint32_t idx;   /* object place in the source */
	uint32_t slot;
	uint32_t src; /* the source's first extent */
	zs_slotv v;   /* the slot as scanned */
};

struct zs_compaction {
	unsigned n;                            /* classes in the domain */
	int automatic;                         /* taken by allocations and frees
						  (else a zs_compact()'s own) */
	struct size_class *cls[ZS_MAX_SHARDS]; /* by shard order */
	uint32_t *src, nsrc;                   /* sources, emptiest first */
	struct src_ref *sorted;                /* sources and meet by first extent */
	uint32_t nsorted;
	uint32_t meet;              /* the emptiest destination, which
				       also packs its own objects down
				       (isolated too); or ZS_EXT_NONE */
	uint32_t *dst, ndst, dnext; /* destinations, fullest first */
	struct cand *cand;
	size_t ncand, cap, next;
	unsigned scan_class; /* scan cursor: class, chunk */
	uint32_t scan_chunk;
	int scanned; /* the scan is over */
};

static void pending_set(struct size_class *class, int on);
static void auto_end(struct size_class *class);

struct src_ref {
	uint32_t first; /* a source's (or the meeting zspage's) extent */
	uint32_t order; /* its place in the plan; ZS_EXT_NONE: meeting */
};

static int by_first(const void *a, const void *b)
{
	const struct src_ref *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

struct zspage_ref {
	uint32_t first, inuse;
	struct size_class *class;
};

static int by_inuse_desc(const void *a, const void *b)
{
	const struct zspage_ref *x = a, *y = b;

	if (x->inuse != y->inuse)
		return x->inuse > y->inuse ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sources' objects by source, then place; the meeting zspage's (order
 * ZS_EXT_NONE) last, highest place first. */
static int by_order_idx(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->order == ZS_EXT_NONE)
		return x->idx > y->idx ? -1 : x->idx < y->idx;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Highest allocated place of the zspage (it is not empty). */
static uint32_t last_used(const uint64_t *map)
{
	uint32_t w = ZS_MAP_WORDS;

	while (w-- > 1 && !map[w])
		;
	return w * 64 + 63 - (uint32_t)__builtin_clzll(map[w] | 1);
}

/* 1 if the zspage of @map has a free place below its highest object. */
static int has_hole_below_top(const uint64_t *map, uint32_t inuse)
{
	return inuse && last_used(map) + 1 > inuse;
}

static void domain_lock(struct zs_compaction *cc)
{
	unsigned i;

	for (i = 0; i < cc->n; i++)
		zs_class_lock(cc->cls[i]);
}

static void domain_unlock(struct zs_compaction *cc)
{
	unsigned i;

	for (i = cc->n; i-- > 0;)
		zs_class_unlock(cc->cls[i]);
}

/* ---- 1. plan ----------------------------------------------------------- */

/* The partial zspages of the domain @cls[0..n), sorted fullest first, into
 * a new array (*@out, count returned), or -ENOMEM. Locks held. */
static int64_t partials(struct size_class **cls, unsigned n, struct zspage_ref **out)
{
	struct zs_pool *pool = cls[0]->pool;
	size_t count = 0, k = 0;
	struct zspage_ref *z;
	unsigned i;
	uint32_t f;
	int g;

	for (i = 0; i < n; i++)
		for (g = 1; g < ZS_GROUP_FULL; g++)
			for (f = cls[i]->head[g]; f != ZS_EXT_NONE; f = pool->ext[f].next)
				count++;
	z = malloc((count ? count : 1) * sizeof(*z));
	if (!z)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		for (g = 1; g < ZS_GROUP_FULL; g++)
			for (f = cls[i]->head[g]; f != ZS_EXT_NONE; f = pool->ext[f].next) {
				z[k].first = f;
				z[k].inuse = pool->ext[f].inuse;
				z[k++].class = cls[i];
			}
	qsort(z, count, sizeof(*z), by_inuse_desc);
	*out = z;
	return (int64_t)count;
}

/* How many of the emptiest of @z[0..count) can be emptied into the rest. */
static size_t sources_that_fit(const struct zspage_ref *z, size_t count, uint32_t opz)
{
	uint64_t objects = 0, holes = 0;
	size_t k = 0, i;

	for (i = 0; i < count; i++)
		holes += opz - z[i].inuse;
	while (k < count) {
		const struct zspage_ref *s = &z[count - 1 - k];

		if (objects + s->inuse > holes - (opz - s->inuse))
			break;
		objects += s->inuse;
		holes -= opz - s->inuse;
		k++;
	}
	return k;
}

/* Plan a compaction of domain @cls[0..n) (locks held) into @cc: sources
 * and the meeting zspage isolated, destinations listed. 0, or -ENOMEM;
 * nothing to do: no source and no meeting zspage. */
static int compact_plan(struct zs_compaction *cc)
{
	struct zs_pool *pool = cc->cls[0]->pool;
	struct zspage_ref *z;
	int64_t count = partials(cc->cls, cc->n, &z);
	size_t k, i;

	cc->meet = ZS_EXT_NONE;
	if (count < 0)
		return -ENOMEM;
	k = sources_that_fit(z, (size_t)count, cc->cls[0]->opz);
	cc->src = malloc((k + 1) * sizeof(*cc->src));
	cc->dst = malloc(((size_t)count - k + 1) * sizeof(*cc->dst));
	if (!cc->src || !cc->dst) {
		free(z);
		return -ENOMEM;
	}
	cc->sorted = malloc((k + 1) * sizeof(*cc->sorted));
	if (!cc->sorted) {
		free(z);
		return -ENOMEM;
	}
	for (i = 0; i < k; i++) {
		uint32_t f = z[(size_t)count - 1 - i].first;

		zs_list_remove(z[(size_t)count - 1 - i].class, f);
		cc->src[i] = f;
		cc->sorted[cc->nsorted++] = (struct src_ref){ f, (uint32_t)i };
	}
	cc->nsrc = (uint32_t)k;
	for (i = 0; i < (size_t)count - k; i++)
		cc->dst[cc->ndst++] = z[i].first;
	if ((size_t)count > k) {
		const struct zspage_ref *m = &z[(size_t)count - k - 1];

		/* It has work if sources come into it, if a fuller partial
		 * zspage has room for its objects, or if it has holes. */
		if (k || (size_t)count - k >= 2 ||
		    has_hole_below_top(pool->ext[m->first].map, m->inuse)) {
			zs_list_remove(m->class, m->first);
			cc->meet = m->first;
			cc->sorted[cc->nsorted++] = (struct src_ref){ m->first, ZS_EXT_NONE };
		}
	}
	qsort(cc->sorted, cc->nsorted, sizeof(*cc->sorted), by_first);
	free(z);
	return 0;
}

/* ---- 2. scan ----------------------------------------------------------- */

/* The source (or meeting zspage) of @cc that holds extent @e: 1 and its
 * first extent and order, or 0. A binary search of the plan's sources, so
 * that the scan reads no extent record of the objects that stay. */
static int source_of(const struct zs_compaction *cc, uint32_t e, uint32_t *first, uint32_t *order)
{
	uint32_t lo = 0, hi = cc->nsorted;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (cc->sorted[mid].first <= e)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || e >= cc->sorted[lo - 1].first + cc->cls[0]->nexts)
		return 0;
	*first = cc->sorted[lo - 1].first;
	*order = cc->sorted[lo - 1].order;
	return 1;
}

static int cand_add(struct zs_compaction *cc, const struct cand *c)
{
	if (cc->ncand == cc->cap) {
		size_t cap = cc->cap ? cc->cap * 2 : 256;
		struct cand *grown = realloc(cc->cand, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		cc->cand = grown;
		cc->cap = cap;
	}
	cc->cand[cc->ncand++] = *c;
	return 0;
}

/* Scan slot chunk @chunk for objects in a source. */
static int scan_chunk(struct zs_compaction *cc, uint32_t chunk)
{
	struct zs_pool *pool = cc->cls[0]->pool;
	uint32_t size = cc->cls[0]->size, s;

	for (s = chunk * ZS_SLOT_CHUNK; s < (chunk + 1) * ZS_SLOT_CHUNK; s++) {
		zs_slotv v = atomic_load_explicit(zs_slot(pool, s), memory_order_relaxed);
		uint64_t loc = zs_sv_loc(v);
		uint32_t e, first;
		struct cand c;

		if (zs_sv_state(v) < ZS_STATE_LIVE)
			continue;
		e = zs_ext_of_loc(pool, loc);
		if (!source_of(cc, e, &first, &c.order))
			continue;
		c.idx = (uint32_t)(((loc - ((uint64_t)first << pool->ext_unit_shift))
				    << ZS_LOC_SHIFT) /
				   size);
		c.slot = s;
		c.src = first;
		c.v = v;
		if (cand_add(cc, &c))
			return -ENOMEM;
	}
	return 0;
}

/* Sort @n candidates by source, then place: an insertion sort for the few
 * dozen an automatic plan finds (qsort's merge sort cost it ~4x more),
 * qsort for zs_compact()'s thousands. */
static void sort_cands(struct cand *c, size_t n)
{
	size_t i, j;

	if (n > 32) {
		qsort(c, n, sizeof(*c), by_order_idx);
		return;
	}
	for (i = 1; i < n; i++) {
		struct cand t = c[i];

		for (j = i; j > 0 && by_order_idx(&c[j - 1], &t) > 0; j--)
			c[j] = c[j - 1];
		c[j] = t;
	}
}

/* One step of the scan (locks held): 1 when it is over. */
static int scan_step(struct zs_compaction *cc)
{
	uint32_t done = 0;

	while (cc->scan_class < cc->n && done < SCAN_STEP_CHUNKS) {
		struct size_class *class = cc->cls[cc->scan_class];

		if (cc->scan_chunk >= class->nr_chunks) {
			cc->scan_class++;
			cc->scan_chunk = 0;
			continue;
		}
		if (scan_chunk(cc, class->chunks[cc->scan_chunk++])) {
			cc->scan_class = cc->n; /* no memory: move what was found */
			break;
		}
		done++;
	}
	if (cc->scan_class < cc->n)
		return 0;
	sort_cands(cc->cand, cc->ncand);
	return 1;
}

/* ---- 3. migrate -------------------------------------------------------- */

/* The class of the domain that owns zspage @first, or NULL. */
static struct size_class *domain_class(const struct zs_compaction *cc, uint32_t first)
{
	const struct zs_ext *z = &cc->cls[0]->pool->ext[first];
	unsigned i;

	if (zs_ext_part(z) != 0 ||
	    atomic_load_explicit(&z->cls, memory_order_relaxed) != cc->cls[0]->number)
		return NULL;
	for (i = 0; i < cc->n; i++)
		if (cc->cls[i]->shard == atomic_load_explicit(&z->shard, memory_order_relaxed))
			return cc->cls[i];
	return NULL;
}

/* The destination for the next object, its class and place, with the
 * pages present; 0, or -ENOMEM (none left, or no page). */
static int dest_next(struct zs_compaction *cc, int for_meet, uint32_t *first,
		     struct size_class **dclass, uint32_t *idx)
{
	struct zs_pool *pool = cc->cls[0]->pool;

	for (; cc->dnext < cc->ndst; cc->dnext++) {
		uint32_t d = cc->dst[cc->dnext];
		struct size_class *class;

		if (for_meet && d == cc->meet)
			return -ENOMEM; /* no fuller destination has room */
		if (d == ZS_EXT_NONE)
			continue; /* released between steps: see zs_compaction_forget() */
		class = domain_class(cc, d);
		if (!class || (zs_ext_group(&pool->ext[d]) == ZS_GROUP_ISOLATED && d != cc->meet) ||
		    pool->ext[d].inuse >= class->opz)
			continue;
		*idx = zs_zspage_first_free(class, d);
		if (zs_zspage_populate(class, d, *idx, 1))
			return -ENOMEM;
		*first = d;
		*dclass = class;
		return 0;
	}
	return -ENOMEM;
}

static void obj_copy(struct zs_pool *pool, uint64_t to, uint64_t from, uint32_t size)
{
	uint8_t buf[4096];
	uint32_t done, n;

	if (!pool->scattered) {
		memcpy(pool->base + (to << ZS_LOC_SHIFT), pool->base + (from << ZS_LOC_SHIFT),
		       size);
		return;
	}
	for (done = 0; done < size; done += n) {
		n = size - done < sizeof(buf) ? size - done : (uint32_t)sizeof(buf);
		zs_copy_out(pool, from + (done >> ZS_LOC_SHIFT), buf, n);
		zs_copy_in(pool, to + (done >> ZS_LOC_SHIFT), buf, n);
	}
}

/* Move candidate @c (locks held): 1 moved, 0 skipped (freed or pinned
 * meanwhile), -ENOMEM (no destination page: stop). */
static int migrate(struct zs_compaction *cc, const struct cand *c)
{
	struct zs_pool *pool = cc->cls[0]->pool;
	_Atomic zs_slotv *slot = zs_slot(pool, c->slot);
	struct size_class *sclass = domain_class(cc, c->src), *dclass;
	zs_slotv v = c->v;
	uint32_t d, idx;
	uint64_t to;

	if (!sclass || atomic_load_explicit(slot, memory_order_relaxed) != v ||
	    zs_sv_state(v) != ZS_STATE_LIVE)
		return 0;
	if (c->src != cc->meet) {
		if (dest_next(cc, 0, &d, &dclass, &idx))
			return -ENOMEM;
	} else if (dest_next(cc, 1, &d, &dclass, &idx)) {
		/* The meeting zspage: into fuller ones while they have room,
		 * then down into its own lowest holes. */
		d = c->src;
		dclass = sclass;
		idx = zs_zspage_first_free(sclass, d);
		if (idx >= c->idx || zs_zspage_populate(sclass, d, idx, 1))
			return 0;
	}
	if (!atomic_compare_exchange_strong_explicit(
		    slot, &v, zs_sv_make(ZS_STATE_MOVING, zs_sv_gen(v), zs_sv_loc(v)),
		    memory_order_acquire, memory_order_relaxed))
		return 0; /* pinned or freed just now */
	to = zs_obj_loc(pool, dclass, d, idx);
	obj_copy(pool, to, zs_sv_loc(v), sclass->size);
	zs_obj_set(dclass, d, idx);
	zs_obj_clear(sclass, c->src, c->idx);
	/* Release: a reader that finds the new location finds the bytes. */
	atomic_store_explicit(slot, zs_sv_make(ZS_STATE_LIVE, zs_sv_gen(v), to),
			      memory_order_release);
	zs_fix_fullness(dclass, d);
	atomic_fetch_add_explicit(&pool->objects_moved, 1, memory_order_relaxed);
	if (pool->ext[c->src].inuse == 0)
		zs_zspage_release(sclass, c->src);
	return 1;
}

/* Zspage @first of the domain is released (its class lock held, so no step
 * runs): the plan forgets it as a destination. Its extent may go to the
 * cache, to another class, or past the span's end, where its record reads
 * as zeros (class 0's first extent): no later step may read it. */
void zs_compaction_forget(struct zs_compaction *cc, uint32_t first, int isolated)
{
	uint32_t i;

	if (isolated && first != cc->meet)
		return; /* a source: never a destination */
	for (i = cc->dnext; i < cc->ndst; i++)
		if (cc->dst[i] == first)
			cc->dst[i] = ZS_EXT_NONE;
}

/* ---- 4. putback -------------------------------------------------------- */

static void putback(struct zs_compaction *cc)
{
	struct zs_pool *pool = cc->cls[0]->pool;
	uint32_t i;

	if (cc->meet != ZS_EXT_NONE)
		cc->src[cc->nsrc] = cc->meet; /* put back with the sources */
	for (i = 0; i < cc->nsrc + (cc->meet != ZS_EXT_NONE); i++) {
		uint32_t f = cc->src[i];
		struct size_class *class = domain_class(cc, f);

		if (!class || zs_ext_group(&pool->ext[f]) != ZS_GROUP_ISOLATED)
			continue; /* emptied and released during the moves */
		if (pool->ext[f].inuse == 0) {
			zs_zspage_release(class, f);
			continue;
		}
		zs_zspage_trim(class, f);
		zs_list_insert(class, f, zs_fullness_group(class, pool->ext[f].inuse));
	}
}

/* ---- For zs_check() ------------------------------------------------------- */

struct size_class *zs_compaction_leader(const struct zs_compaction *cc)
{
	return cc->cls[0];
}

uint32_t zs_compaction_sources(const struct zs_compaction *cc, const uint32_t **src)
{
	if (cc->meet != ZS_EXT_NONE)
		cc->src[cc->nsrc] = cc->meet; /* src has room for it */
	*src = cc->src;
	return cc->nsrc + (cc->meet != ZS_EXT_NONE);
}

struct size_class *zs_compaction_source_class(const struct zs_compaction *cc, uint32_t first)
{
	const struct zs_ext *z = &cc->cls[0]->pool->ext[first];

	return zs_ext_group(z) == ZS_GROUP_ISOLATED ? domain_class(cc, first) : NULL;
}

/* ---- Steps --------------------------------------------------------------- */

static void cc_free(struct zs_compaction *cc)
{
	unsigned i;

	for (i = 0; i < cc->n; i++)
		cc->cls[i]->cc = NULL;
	free(cc->src);
	free(cc->dst);
	free(cc->sorted);
	free(cc->cand);
	free(cc);
}

void zs_compaction_abort_auto(struct size_class **cls, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		struct zs_compaction *cc = cls[i]->cc;

		if (cc && cc->automatic) {
			putback(cc);
			cc_free(cc);
			pending_set(cls[i], 0);
			auto_end(cls[i]);
		}
	}
}

void zs_compaction_free(struct size_class *class)
{
	if (class->cc && class->cc->cls[0] == class)
		cc_free(class->cc);
	class->cc = NULL;
}

/* Begin a compaction of domain @cls[0..n) (locks held, no cc in any):
 * NULL when there is nothing to move (or no memory). */
static struct zs_compaction *cc_begin(struct size_class **cls, unsigned n)
{
	struct zs_compaction *cc = calloc(1, sizeof(*cc));
	unsigned i;

	if (!cc)
		return NULL;
	cc->n = n;
	memcpy(cc->cls, cls, n * sizeof(*cls));
	if (compact_plan(cc) || (!cc->nsrc && cc->meet == ZS_EXT_NONE)) {
		putback(cc); /* sources of a plan that ran out of memory */
		free(cc->src);
		free(cc->dst);
		free(cc->sorted);
		free(cc);
		return NULL;
	}
	for (i = 0; i < n; i++)
		cls[i]->cc = cc;
	return cc;
}

/* One bounded step of @cc (its locks held): 1 when it is over (then freed). */
static int cc_step(struct zs_compaction *cc, unsigned max_moves)
{
	unsigned moved = 0, i;

	for (i = 0; i < cc->n; i++)
		ZS_ASSERT(atomic_load_explicit(&cc->cls[i]->lock, memory_order_relaxed) &&
			  "a plan steps with every class of its domain locked");
	if (!cc->scanned) {
		cc->scanned = scan_step(cc);
		if (!cc->scanned)
			return 0;
	}
	while (cc->next < cc->ncand && moved < max_moves) {
		int r = migrate(cc, &cc->cand[cc->next]);

		if (r < 0) {
			cc->next = cc->ncand; /* no page for a destination: stop */
			break;
		}
		cc->next++;
		moved += (unsigned)r;
	}
	if (cc->next < cc->ncand)
		return 0;
	putback(cc);
	cc_free(cc);
	return 1;
}

/* Mark (or clear) @class as having a compaction under way; class lock. */
static void pending_set(struct size_class *class, int on)
{
	struct zs_shard *sh = zs_shard_get(class->pool, class->shard);
	uint64_t bit = (uint64_t)1 << (class->number % 64);
	_Atomic uint64_t *w = &sh->pending_map[class->number / 64];
	int was = (atomic_load_explicit(w, memory_order_relaxed) & bit) != 0;

	if (on && !was) {
		atomic_fetch_or_explicit(w, bit, memory_order_relaxed);
		atomic_fetch_add_explicit(&sh->pending, 1, memory_order_release);
	} else if (!on && was) {
		atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed);
		atomic_fetch_sub_explicit(&sh->pending, 1, memory_order_relaxed);
	}
}

/* An automatic plan of @class is over: the next waits until the frees
 * could have made half a threshold's worth of room again (a page's worth
 * at least), and twice as long again after each plan in a row that freed
 * no page, up to 2^ZS_AUTO_MAX_BACKOFF times. Each plan scans the class's
 * slots: the wait caps their cost at a few dozen slot reads per free (a
 * wait of a whole threshold let the bundled mix drift from 102.5 % to
 * 103.0 % after churn), and the backoff stops a class whose free places
 * are the slack of its partial zspages from paying it at every wait. */
static void auto_end(struct size_class *class)
{
	uint64_t places = class->nr_zspages * class->opz;
	uint64_t wait = class->pool->page_size / class->size + 1;

	if (class->pages_used < class->auto_pages)
		class->auto_backoff = 0;
	else if (class->auto_backoff < ZS_AUTO_MAX_BACKOFF)
		class->auto_backoff++;
	if (wait < places >> ZS_AUTO_WAIT_SHIFT)
		wait = places >> ZS_AUTO_WAIT_SHIFT;
	wait <<= class->auto_backoff;
	class->auto_wait = wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
}

/* One step of @class's automatic compaction (class lock): 1 when over. */
static int auto_step(struct size_class *class)
{
	if (!cc_step(class->cc, ZS_AUTO_STEP_MOVES))
		return 0;
	pending_set(class, 0);
	auto_end(class);
	return 1;
}

/* In a pool of fewer than ZS_AUTO_SMALL_POOL pages, automatic compaction
 * leaves a class's only zspage alone: all such a pool could give back is
 * under its size, and packing and trimming the zspage of a class that
 * empties and refills made most operations of a small working set pay a
 * madvise and a page fault (bench's small working set: 230 -> 150 ns an
 * operation). A large pool trims it all the same (the density tool after
 * discarding half: 108.2 % with, 110.2 % without). */
static int last_zspage_of_small_pool(const struct size_class *class)
{
	return class->nr_zspages < 2 &&
	       atomic_load_explicit(&class->pool->pages_total, memory_order_relaxed) <
		       ZS_AUTO_SMALL_POOL;
}

void zs_auto_compact(struct size_class *class, int may_begin)
{
	uint64_t places = class->nr_zspages * class->opz, room;
	struct size_class *one[1] = { class };

	if (class->cc) {
		if (class->cc->automatic)
			auto_step(class);
		return; /* (else a zs_compact() owns it) */
	}
	if (!may_begin)
		return;
	if (class->auto_wait) {
		class->auto_wait--;
		return;
	}
	room = places - class->obj_used;
	if (last_zspage_of_small_pool(class) || room <= places >> ZS_AUTO_SHIFT ||
	    room * class->size <= (uint64_t)(class->pool->page_size))
		return;
	class->auto_pages = class->pages_used;
	if (!cc_begin(one, 1)) {
		auto_end(class);
		return;
	}
	class->cc->automatic = 1;
	atomic_fetch_add_explicit(&class->pool->auto_compactions, 1, memory_order_relaxed);
	pending_set(class, 1);
	auto_step(class);
}

void zs_auto_compact_pending(struct zs_pool *pool, unsigned s)
{
	struct zs_shard *sh = zs_shard_get(pool, s);
	uint32_t words = pool->nr_classes / 64 + 1, i;
	uint32_t w = atomic_load_explicit(&sh->pending_next, memory_order_relaxed) % words;

	for (i = 0; i < words; i++, w = (w + 1) % words) {
		uint64_t bits = atomic_load_explicit(&sh->pending_map[w], memory_order_relaxed);
		struct size_class *class;

		if (!bits)
			continue;
		atomic_store_explicit(&sh->pending_next, w, memory_order_relaxed);
		class = zs_class_get(pool, s, w * 64 + (uint32_t)__builtin_ctzll(bits));
		if (!class || !zs_spin_trylock(&class->lock))
			return;
		if (!class->cc || !class->cc->automatic)
			pending_set(class, 0);
		else
			auto_step(class);
		zs_class_unlock(class);
		return;
	}
}

/* The copies of class number @c in every shard, into @cls: how many. */
static unsigned domain_of(struct zs_pool *pool, uint32_t c, struct size_class **cls)
{
	unsigned n = 0, s;

	for (s = 0; s < ZS_MAX_SHARDS; s++) {
		struct size_class *class = zs_class_get(pool, s, c);

		if (class)
			cls[n++] = class;
	}
	return n;
}

/* Give back the pages no object touches in the domain's partial zspages. */
static void trim_partials(struct size_class **cls, unsigned n)
{
	struct zspage_ref *z;
	int64_t count = partials(cls, n, &z), i;

	for (i = 0; i < count; i++)
		zs_zspage_trim(z[i].class, z[i].first);
	if (count >= 0)
		free(z);
}

/* 1 if @locks holds every class of plan @cc. */
static int holds_domain(const struct zs_compaction *locks, const struct zs_compaction *cc)
{
	unsigned i, j;

	for (i = 0; i < cc->n; i++) {
		for (j = 0; j < locks->n && locks->cls[j] != cc->cls[i]; j++)
			;
		if (j == locks->n)
			return 0;
	}
	return 1;
}

/* Compact class number @c in every shard, step by step, releasing the
 * locks between steps: automatic compactions under way stop where they
 * are, another zs_compact()'s goes on to its end, then one of its own. */
static void compact_size(struct zs_pool *pool, uint32_t c)
{
	struct zs_compaction locks = { 0 };
	int begun = 0;
	unsigned i;

	for (;;) {
		struct zs_compaction *cc = NULL;

		/* Again each round: a shard's copy of the class may have come
		 * since, and a plan begun by another zs_compact() then covers it. */
		locks.n = domain_of(pool, c, locks.cls);
		if (!locks.n)
			return;
		ZS_TEST_HOOK(compact_round, c);
		domain_lock(&locks);
		/* An automatic compaction under way stops where it is (its
		 * moves are whole); the plan below covers its zspages too, as
		 * the freeable figure assumes. */
		zs_compaction_abort_auto(locks.cls, locks.n);
		for (i = 0; i < locks.n && !cc; i++)
			cc = locks.cls[i]->cc;
		if (cc && !holds_domain(&locks, cc)) {
			/* Begun on a copy made after our domain_of(): read
			 * the domain again, with the new copy's lock. */
			domain_unlock(&locks);
			continue;
		}
		if (cc) {
			cc_step(cc, ZS_COMPACT_STEP_MOVES);
		} else if (!begun) {
			begun = 1;
			cc_begin(locks.cls, locks.n);
		} else {
			trim_partials(locks.cls, locks.n);
			domain_unlock(&locks);
			return;
		}
		domain_unlock(&locks); /* let the others in */
	}
}

size_t zs_compact(struct zs_pool *pool)
{
	uint64_t before, after;
	uint32_t c;

	if (!pool || zs_forked(pool))
		return 0;
	before = atomic_load(&pool->pages_total);
	for (c = 0; c < pool->nr_classes; c++)
		compact_size(pool, c);
	zs_cache_drain(pool);
	after = atomic_load(&pool->pages_total);
	if (after >= before)
		return 0;
	atomic_fetch_add_explicit(&pool->pages_compacted, before - after, memory_order_relaxed);
	return (size_t)(before - after);
}

/* ---- The plan, simulated (freeable) ---------------------------------------- */

struct sim {
	uint64_t map[ZS_MAP_WORDS];
	uint16_t present[ZS_MAX_ZSPAGE_EXTS];
	uint32_t inuse;
};

static int sim_present(const struct sim *z, uint32_t p)
{
	return (z->present[p / ZS_EXT_PAGES] >> (p % ZS_EXT_PAGES)) & 1;
}

static void sim_load(const struct zs_pool *pool, uint32_t first, uint32_t nexts, struct sim *z)
{
	uint32_t i;

	memset(z, 0, sizeof(*z));
	memcpy(z->map, pool->ext[first].map, sizeof(z->map));
	for (i = 0; i < nexts; i++)
		z->present[i] = pool->ext[first + i].present;
	z->inuse = pool->ext[first].inuse;
}

/* Pages @z holds that no allocated object touches. */
static uint32_t sim_untouched(const struct size_class *class, const struct sim *z)
{
	unsigned shift = class->pool->page_shift;
	uint32_t p, n = 0;

	for (p = 0; p < class->ppz; p++) {
		uint64_t lo = ((uint64_t)p << shift) / class->size, i;
		uint64_t hi = ((((uint64_t)p + 1) << shift) - 1) / class->size;
		int touched = 0;

		if (!sim_present(z, p))
			continue;
		for (i = lo; i <= hi && i < class->opz && !touched; i++)
			touched = (z->map[i / 64] >> (i % 64)) & 1;
		n += !touched;
	}
	return n;
}

/* Place one object in @z as the real move would: new pages it needs. */
static uint32_t sim_place(const struct size_class *class, struct sim *z)
{
	unsigned shift = class->pool->page_shift;
	uint32_t idx = 0, w, p, added = 0;

	for (w = 0; w < ZS_MAP_WORDS; w++)
		if (~z->map[w]) {
			idx = w * 64 + (uint32_t)__builtin_ctzll(~z->map[w]);
			break;
		}
	z->map[idx / 64] |= (uint64_t)1 << (idx % 64);
	z->inuse++;
	for (p = (uint32_t)(((uint64_t)idx * class->size) >> shift);
	     p <= (uint32_t)(((uint64_t)idx * class->size + class->size - 1) >> shift); p++)
		if (!sim_present(z, p)) {
			z->present[p / ZS_EXT_PAGES] |= (uint16_t)(1u << (p % ZS_EXT_PAGES));
			added++;
		}
	return added;
}

/* The meeting zspage moves its highest objects into its lowest holes, as
 * the real one would: the pages that needs. */
static uint32_t sim_pack(const struct size_class *class, struct sim *z)
{
	uint32_t added = 0;

	while (has_hole_below_top(z->map, z->inuse)) {
		uint32_t top = last_used(z->map);

		z->map[top / 64] &= ~((uint64_t)1 << (top % 64));
		z->inuse--;
		added += sim_place(class, z);
	}
	return added;
}

/* The meeting zspage @sims[m]: its highest objects into the fuller
 * destinations from @sims[d] while they have room, the rest packed down.
 * The pages that frees (net). */
static int64_t sim_meet(const struct size_class *class, struct sim *sims, size_t m, size_t d)
{
	struct sim *z = &sims[m];
	int64_t freed = 0;
	uint32_t i;

	while (z->inuse) {
		uint32_t top = last_used(z->map);

		while (d < m && sims[d].inuse >= class->opz)
			d++;
		if (d >= m)
			break;
		z->map[top / 64] &= ~((uint64_t)1 << (top % 64));
		z->inuse--;
		freed -= sim_place(class, &sims[d]);
	}
	if (z->inuse)
		return freed - sim_pack(class, z);
	for (i = 0; i < ZS_MAX_ZSPAGE_EXTS; i++)
		freed += __builtin_popcount(z->present[i]);
	memset(z->present, 0, sizeof(z->present));
	return freed;
}

uint64_t zs_compact_freeable(struct zs_pool *pool, struct size_class **cls, unsigned n)
{
	const struct size_class *class = cls[0];
	struct zspage_ref *z;
	int64_t count = partials(cls, n, &z);
	size_t k, i, d = 0;
	int64_t freed = 0;
	struct sim *sims;

	if (count <= 0) {
		if (count == 0)
			free(z);
		return 0;
	}
	k = sources_that_fit(z, (size_t)count, class->opz);
	sims = malloc((size_t)count * sizeof(*sims));
	if (!sims) {
		free(z);
		return 0;
	}
	for (i = 0; i < (size_t)count; i++)
		sim_load(pool, z[i].first, class->nexts, &sims[i]);
	for (i = 0; i < k; i++) { /* sources, emptiest first */
		struct sim *s = &sims[(size_t)count - 1 - i];
		uint32_t p;

		for (; s->inuse; s->inuse--) {
			while (sims[d].inuse >= class->opz)
				d++;
			freed -= sim_place(class, &sims[d]);
		}
		for (p = 0; p < ZS_MAX_ZSPAGE_EXTS; p++)
			freed += __builtin_popcount(s->present[p]);
	}
	if ((size_t)count > k)
		freed += sim_meet(class, sims, (size_t)count - k - 1, d);
	for (i = 0; i < (size_t)count - k; i++)
		freed += sim_untouched(class, &sims[i]);
	free(sims);
	free(z);
	return freed > 0 ? (uint64_t)freed : 0;
}
