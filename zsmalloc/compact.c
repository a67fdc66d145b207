/*
 * compact.c - move objects so that emptied zspages can be freed.
 *
 * Per class, under its lock, with its seq odd (readers wait):
 *
 *   1. pins   membarrier, then read every thread's pinned zspages; those
 *             are left alone (neither source nor destination).
 *   2. pick   candidates = unpinned zspages neither empty nor full, sorted
 *             fullest first:   [ D0 D1 D2 ... ............ S2 S1 S0 ]
 *   3. scan   one pass over the class's handle slots finds, for each
 *             object in a candidate, which slot points at it (objects carry
 *             no header, so this is how a handle is found from an object).
 *   4. move   objects of the emptiest (S0, S1, ...) into the lowest free
 *             places of the fullest (D0, D1, ...), rewriting their slots,
 *             until the two ends meet; emptied sources are freed.
 *   5. tidy   the zspage where the ends met moves its own highest objects
 *             down into its holes, and every candidate gives back the pages
 *             past its last object.
 *   6. renumber  live zspages move to the lowest ids and the record chunks
 *             past the highest are freed, so records shrink with the pool.
 *
 * The kernel does 1-4 zspage pair by zspage pair, finding handles through
 * the 8-byte header every object carries. Here a scan costs ~1 ns per slot
 * once per class and call, and saves 8 bytes per object all the time.
 * Destination pages may have to be allocated (zspages are populated
 * lazily); if that fails, compaction of the class stops where it is, with
 * every structure consistent.
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

struct cand {
	uint32_t id;          /* zspage id */
	struct zspage *z;
	uint32_t first;       /* its objects: objs[first .. first + count) */
	uint32_t count;       /* objects found by the scan, sorted by index */
	uint32_t next_obj;    /* moves take objs[first + count - 1 - next_obj] */
};

struct obj {
	uint32_t idx;         /* object index in its zspage */
	uint32_t slot;        /* the handle slot that points at it */
};

static int cand_by_inuse_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->z->inuse != y->z->inuse)
		return x->z->inuse > y->z->inuse ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int obj_by_idx(const void *a, const void *b)
{
	const struct obj *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int pinned(const struct zspage *const *pins, size_t n, const struct zspage *z)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pins[i] == z)
			return 1;
	return 0;
}

/* Give the pages gathered so far back now (they are waiting to be freed
 * after the unlock): a destination needs a page and the pool is at its
 * page limit, or an allocation failed. 1 if there were any. */
static int flush_later(struct zs_pool *pool, struct zs_pfns *later)
{
	if (!later->n)
		return 0;
	mp_free_pages(pool->src, later->pfn, later->n);
	later->n = 0;
	return 1;
}

/* Move object @o of @from into the lowest free place of @to; @o's index
 * becomes the new one (when @from is @to, the entry stays @from's). */
static int obj_move(struct size_class *class, struct cand *from, struct cand *to,
		    struct obj *o, uint8_t *buf, struct zs_pfns *later)
{
	struct zs_pool *pool = class->pool;
	uint64_t *fmap = zs_zspage_map(class, from->z), *tmap;
	uint32_t idx = zs_zspage_first_free(class, to->z);
	uint8_t *chunk;

	/* A page for the destination: if the source has none (limit or OS),
	 * give back what emptied sources freed and try once more. */
	if (zs_zspage_populate(class, to->z, idx, 1) &&
	    (!flush_later(pool, later) || zs_zspage_populate(class, to->z, idx, 1)))
		return -ENOMEM;
	zs_obj_copy_out(pool, from->z, o->idx * class->size, buf, class->size);
	zs_obj_copy_in(pool, to->z, idx * class->size, buf, class->size);
	tmap = zs_zspage_map(class, to->z);
	tmap[idx / 64] |= (uint64_t)1 << (idx % 64);
	to->z->inuse++;
	fmap[o->idx / 64] &= ~((uint64_t)1 << (o->idx % 64));
	from->z->inuse--;
	chunk = zs_table_chunk(&class->slots, o->slot >> ZS_SLOT_CHUNK_SHIFT);
	atomic_store_explicit(zs_slot_loc(chunk, o->slot), (to->id << class->idx_bits) | idx,
			      memory_order_release);
	atomic_fetch_add_explicit(&pool->objects_moved, 1, memory_order_relaxed);
	o->idx = idx;
	return 0;
}

/*
 * Move @c's objects not yet taken from its top into its own lowest holes,
 * then give back its trailing pages (onto @later). Needs no page: every
 * place below the zspage's present pages is present. Used when the
 * destinations cannot get a page (the page limit): a source whose front
 * pages emptied gives them back before its objects can move out.
 */
static void cand_self_compact(struct size_class *class, struct cand *c,
			      struct obj *objs, uint8_t *buf, struct zs_pfns *later)
{
	struct obj *o = objs + c->first;
	uint32_t n = c->count - c->next_obj, moved = 0;

	while (moved < n && zs_zspage_first_free(class, c->z) < o[n - 1 - moved].idx) {
		if (obj_move(class, c, c, &o[n - 1 - moved], buf, later))
			break;
		moved++;
	}
	if (moved)
		qsort(o, n, sizeof(*o), obj_by_idx);
	zs_zspage_trim(class, c->z, later);
}

/* The next object to move out of @c (highest index first), or NULL. */
static struct obj *cand_take(struct cand *c, struct obj *objs)
{
	if (c->next_obj >= c->count)
		return NULL;
	return &objs[c->first + c->count - 1 - c->next_obj++];
}

/* Release empty zspages kept only because a thread pinned them. */
static void release_deferred(struct size_class *class, struct zs_pfns *later)
{
	uint32_t id = class->head[ZS_GROUP_EMPTY];

	while (id != ZS_ID_NONE) {
		struct zspage *z = zs_zspage_at(class, id);
		uint32_t next = z->next;

		if (!zs_zspage_pinned(z))
			zs_zspage_release(class, id, z, later);
		id = next;
	}
}

/*
 * Renumber the live zspages into the lowest ids and free the record chunks
 * past the highest one, so that records cost what the live zspages need,
 * not what the class's peak needed. Pinned zspages keep their ids (their
 * mapper holds the record's address), and no pinned record is freed.
 * Lock-free readers never read a record before confirming seq, which is odd
 * throughout, so moving and freeing records under them is safe. 0, or
 * -ENOMEM (nothing changed).
 */
static int renumber_zspages(struct size_class *class,
			    const struct zspage *const *pins, size_t nr_pins)
{
	uint32_t n = class->nr_ids, lo, hi, id, g, s, keep, nr_moved = 0;
	uint32_t *newid;
	uint8_t *live;

	live = calloc(n ? n : 1, 1);
	newid = malloc((n ? n : 1) * sizeof(*newid));
	if (!live || !newid) {
		free(live);
		free(newid);
		return -ENOMEM;
	}
	for (g = 0; g < ZS_NR_FULLNESS; g++)
		for (id = class->head[g]; id != ZS_ID_NONE; id = zs_zspage_at(class, id)->next)
			live[id] = 1;
	for (id = 0; id < n; id++)
		newid[id] = id;

	/* Move the highest unpinned live records into the lowest free ids. */
	lo = 0;
	hi = n;
	while (hi-- > 0) {
		struct zspage *from;

		if (!live[hi])
			continue;
		from = zs_zspage_at(class, hi);
		if (pinned(pins, nr_pins, from))
			continue;
		while (lo < hi && live[lo])
			lo++;
		if (lo >= hi)
			break;
		memcpy(zs_zspage_at(class, lo), from, class->zspage_bytes);
		live[lo] = 1;
		live[hi] = 0;
		newid[hi] = lo;
		nr_moved++;
	}
	if (nr_moved) {
		/* Relink every list in the new numbering. */
		for (g = 0; g < ZS_NR_FULLNESS; g++)
			class->head[g] = ZS_ID_NONE;
		class->nonempty = 0;
		for (id = 0; id < n; id++)
			if (live[id]) {
				struct zspage *z = zs_zspage_at(class, id);

				zs_list_insert(class, id, z, zs_group(z));
			}
		/* Point every handle of a moved zspage at its new id. */
		for (s = 0; s < class->nr_slots; s++) {
			uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);
			_Atomic uint32_t *loc = zs_slot_loc(chunk, s);
			uint32_t l = atomic_load_explicit(loc, memory_order_relaxed), lid;

			if (l & ZS_LOC_FREE)
				continue;
			lid = zs_loc_id(class, l);
			if (lid < n && newid[lid] != lid)
				atomic_store_explicit(loc, (newid[lid] << class->idx_bits) |
							   zs_loc_idx(class, l),
						      memory_order_release);
		}
	}
	/* Keep ids up to the highest live or pinned one (a thread whose map
	 * raced a zs_free() may pin a record that is no longer a zspage's: its
	 * memory must stay); free whole chunks past it. */
	for (keep = n; keep > 0 && !live[keep - 1] &&
		       !pinned(pins, nr_pins, zs_zspage_at(class, keep - 1));
	     keep--)
		;
	class->free_ids = ZS_ID_NONE;
	for (id = keep; id-- > 0;)
		if (!live[id]) {
			struct zspage *z = zs_zspage_at(class, id);

			zs_set_group(z, ZS_GROUP_UNUSED);
			z->npages = 0;
			z->next = class->free_ids;
			class->free_ids = id;
		}
	class->nr_ids = keep; /* zs_zspage_create() adds chunks from here */
	zs_table_trim(&class->zspages,
		      (keep + ZS_ZSPAGE_CHUNK - 1) >> ZS_ZSPAGE_CHUNK_SHIFT);
	free(live);
	free(newid);
	return 0;
}

/* Every pinned zspage, into *@pins: the caller's array of @max entries,
 * or, when more threads hold mappings, an array allocated here (the caller
 * frees it when *@pins changed). 0, -EAGAIN (no barrier) or -ENOMEM. */
static int snapshot_pins(const struct zspage ***pins, size_t max, size_t *n)
{
	const struct zspage **const callers = *pins;

	if (zs_pins_snapshot(*pins, max, n))
		return -EAGAIN;
	while (*n > max) {
		const struct zspage **big;

		max = *n * 2;
		big = malloc(max * sizeof(*big));
		if (!big)
			return -ENOMEM;
		if (*pins != callers)
			free(*pins);
		*pins = big;
		if (zs_pins_snapshot(big, max, n))
			return -EAGAIN;
	}
	return 0;
}

static int64_t compact_class(struct size_class *class)
{
	const struct zspage *stack_pins[64], **pins = stack_pins;
	struct zs_pfns later = { 0 };
	size_t nr_pins = 0, i;
	struct cand *cands = NULL;
	struct obj *objs = NULL;
	uint32_t *pos = NULL, nc = 0, nobj = 0, s, d, g;
	uint64_t pages_before, pages_after;
	int self_compacted = 0;
	uint8_t *buf = NULL;

	zs_class_lock(class);
	pages_before = class->pages_used;
	release_deferred(class, &later);
	if (!(class->nonempty & ((1u << ZS_GROUP_FULL) - 2)))
		goto unlock; /* nothing partly filled */

	atomic_fetch_add_explicit(&class->seq, 1, memory_order_seq_cst); /* odd */
	if (snapshot_pins(&pins, 64, &nr_pins))
		goto done; /* no barrier or no memory: move nothing */

	/* 2. candidates */
	for (g = 1; g < ZS_GROUP_FULL; g++)
		for (d = class->head[g]; d != ZS_ID_NONE; d = zs_zspage_at(class, d)->next)
			nc++;
	cands = calloc(nc ? nc : 1, sizeof(*cands));
	pos = malloc((class->nr_ids ? class->nr_ids : 1) * sizeof(*pos));
	buf = malloc(class->size);
	if (!cands || !pos || !buf)
		goto done;
	memset(pos, 0xff, class->nr_ids * sizeof(*pos));
	nc = 0;
	for (g = 1; g < ZS_GROUP_FULL; g++)
		for (d = class->head[g]; d != ZS_ID_NONE; d = zs_zspage_at(class, d)->next) {
			struct zspage *z = zs_zspage_at(class, d);

			if (pinned(pins, nr_pins, z))
				continue;
			cands[nc].id = d;
			cands[nc].z = z;
			nc++;
		}
	if (!nc)
		goto done;
	qsort(cands, nc, sizeof(*cands), cand_by_inuse_desc);
	for (i = 0; i < nc; i++) {
		pos[cands[i].id] = (uint32_t)i;
		cands[i].first = nobj;
		nobj += cands[i].z->inuse;
	}

	/* 3. scan the slots: which handle points at each candidate's objects */
	objs = malloc((nobj ? nobj : 1) * sizeof(*objs));
	if (!objs)
		goto done;
	for (s = 0; s < class->nr_slots; s++) {
		uint8_t *chunk = zs_table_chunk(&class->slots, s >> ZS_SLOT_CHUNK_SHIFT);
		uint32_t loc = atomic_load_explicit(zs_slot_loc(chunk, s),
						    memory_order_relaxed);
		uint32_t p;

		if (loc & ZS_LOC_FREE)
			continue;
		p = pos[zs_loc_id(class, loc)];
		if (p == UINT32_MAX || cands[p].count >= cands[p].z->inuse)
			continue; /* not a candidate (or a corrupt slot) */
		objs[cands[p].first + cands[p].count].idx = zs_loc_idx(class, loc);
		objs[cands[p].first + cands[p].count].slot = s;
		cands[p].count++;
	}
	for (i = 0; i < nc; i++)
		qsort(objs + cands[i].first, cands[i].count, sizeof(*objs), obj_by_idx);

	/* 4. move from the emptiest into the fullest until the ends meet */
	d = 0;
	s = nc - 1;
	while (nc && d < s) {
		struct obj *o;

		if (cands[d].z->inuse == class->opz) {
			d++;
			continue;
		}
		o = cand_take(&cands[s], objs);
		if (!o) {
			/* Emptied: its pages go now, for the destinations' use. */
			zs_zspage_release(class, cands[s].id, cands[s].z, &later);
			cands[s].z = NULL;
			s--;
			continue;
		}
		if (obj_move(class, &cands[s], &cands[d], o, buf, &later)) {
			/* No page for the destination. Once: let every source
			 * close its own holes and give its tail pages back,
			 * then try again; else stop, everything consistent. */
			uint32_t k;

			cands[s].next_obj--; /* @o stays */
			if (self_compacted)
				goto tidy;
			self_compacted = 1;
			for (k = s; k > d; k--)
				cand_self_compact(class, &cands[k], objs, buf, &later);
			flush_later(class->pool, &later);
		}
	}
	/* 5. the zspage where they met: move its top objects into its holes */
	if (nc) {
		struct cand *c = &cands[d];
		struct obj *o;

		while (c->z->inuse && (o = cand_take(c, objs)) &&
		       zs_zspage_first_free(class, c->z) < o->idx) {
			if (obj_move(class, c, c, o, buf, &later))
				break;
		}
	}
tidy:
	for (i = 0; i < nc; i++) {
		struct cand *c = &cands[i];

		if (!c->z)
			continue; /* emptied and released during the moves */
		if (c->z->inuse == 0) {
			zs_zspage_release(class, c->id, c->z, &later);
		} else {
			zs_zspage_trim(class, c->z, &later);
			zs_fix_fullness(class, c->id, c->z);
		}
	}
	/* Worth it when at least one chunk of records can go. */
	if (class->nr_ids - class->nr_zspages >= ZS_ZSPAGE_CHUNK)
		renumber_zspages(class, pins, nr_pins);
done:
	atomic_fetch_add_explicit(&class->seq, 1, memory_order_release); /* even */
unlock:
	pages_after = class->pages_used;
	atomic_fetch_add(&class->pool->pages_in_flight, later.n);
	/* Net pages: destinations may have gained some (lazy population). */
	zs_class_unlock(class);
	/* The freed pages belong to no zspage any more: give them back in
	 * one batch, outside the lock (consecutive pfns cost one call). */
	if (later.n) {
		mp_free_pages(class->pool->src, later.pfn, later.n);
		atomic_fetch_sub(&class->pool->pages_in_flight, later.n);
	}
	free(later.pfn);
	if (pins != stack_pins)
		free(pins);
	free(buf);
	free(objs);
	free(pos);
	free(cands);
	return (int64_t)pages_before - (int64_t)pages_after;
}

size_t zs_compact(struct zs_pool *pool)
{
	int64_t freed = 0;
	uint32_t s, c;

	if (!pool)
		return 0;
	/* The net change over all classes: a class whose destinations took
	 * more pages than it freed counts against the others. */
	for (s = 0; s < pool->nr_shards; s++) {
		struct size_class *classes = zs_shard_classes(pool, s);

		for (c = 0; classes && c < pool->nr_sizes; c++)
			freed += compact_class(&classes[c]);
	}
	if (freed < 0)
		freed = 0;
	atomic_fetch_add_explicit(&pool->pages_compacted, (uint64_t)freed,
				  memory_order_relaxed);
	return (size_t)freed;
}
