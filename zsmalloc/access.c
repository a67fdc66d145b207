/*
 * access.c - reaching objects: map/unmap, read_begin/end, the SG read,
 * obj_write.
 *
 * Every access pins the object in its slot first (slot.c: one compare-and-
 * swap, which also validates the handle), and unpins it at the end, so
 * that zs_free() and compaction leave it alone meanwhile. A mapping or
 * read is recorded in the thread's block of records (mapping/thread.h,
 * shared with the two-page map): unmap finds it there, the limit of
 * ZS_MAX_MAPPINGS counts them, and a thread that exits ends them.
 *
 * Contiguous layout: the object is base + location * 8, whole; every call
 * returns a pointer into it.
 *
 * Scattered layout: an object that lies in one page, or in pages that
 * happen to be consecutive pfns, is returned in place. Otherwise a map
 * copies it into a per-record buffer (ZS_MAP_COPY, or any object above a
 * page) and copies it back when the mapping ends if it was RW or WO, or
 * shows its two pages side by side in a window (ZS_MAP_REMAP). So that
 * every sequence of calls means the same in every layout, a thread's
 * copies are its one view of the object: a nested map of an object the
 * thread holds copied returns the same copy, zs_obj_read_begin() reads it
 * and zs_obj_write() writes it too, and the copy goes back when the last
 * nested map ends.
 */
#include <string.h>

#include "mapping/thread.h"
#include "zsmalloc/internal.h"

/* mp_rec.kind of zsmalloc's records (owner: the pool, key: the handle). */
enum {
	REC_MAP = 0x1,    /* zs_map_object */
	REC_READ = 0x2,   /* zs_obj_read_begin */
	REC_SG = 0x4,     /* zs_obj_read_sg_begin */
	REC_COPY = 0x8,   /* mem is this record's copy of the object */
	REC_WRITE = 0x10, /* the copy goes back when the record ends */
	REC_VIEW = 0x20,  /* mem is a remap window (mp_view) */
};

_Static_assert((int)ZS_MM_RW == (int)MP_RW && (int)ZS_MM_RO == (int)MP_RO &&
		       (int)ZS_MM_WO == (int)MP_WO,
	       "zs_mapmode and mp_mode agree");

/* ---- Bytes --------------------------------------------------------------- */

void zs_copy_out(const struct zs_pool *pool, uint64_t loc, void *buf, uint32_t len)
{
	uint64_t off = loc << ZS_LOC_SHIFT;
	uint8_t *to = buf;

	if (!pool->scattered) {
		memcpy(buf, pool->base + off, len);
		return;
	}
	while (len) {
		uint32_t room = pool->page_size - (uint32_t)(off & (pool->page_size - 1));
		uint32_t n = len < room ? len : room;

		memcpy(to, zs_span_addr(pool, off), n);
		to += n;
		off += n;
		len -= n;
	}
}

void zs_copy_in(const struct zs_pool *pool, uint64_t loc, const void *buf, uint32_t len)
{
	uint64_t off = loc << ZS_LOC_SHIFT;
	const uint8_t *from = buf;

	if (!pool->scattered) {
		memcpy(pool->base + off, buf, len);
		return;
	}
	while (len) {
		uint32_t room = pool->page_size - (uint32_t)(off & (pool->page_size - 1));
		uint32_t n = len < room ? len : room;

		memcpy(zs_span_addr(pool, off), from, n);
		from += n;
		off += n;
		len -= n;
	}
}

/* The size of the class of a pinned object at @loc. */
static inline __attribute__((always_inline)) uint32_t pinned_size(const struct zs_pool *pool,
								  uint64_t loc)
{
	uint32_t e = zs_ext_of_loc(pool, loc);

	return pool->geo[atomic_load_explicit(&pool->ext_cls[e], memory_order_relaxed)].size;
}

/* 1 if the @len bytes at @loc are contiguous in the direct map (always in
 * the contiguous layout; in the scattered one, when they lie in one page
 * or in consecutive pfns). */
static int bytes_contiguous(const struct zs_pool *pool, uint64_t loc, uint32_t len)
{
	uint64_t off = loc << ZS_LOC_SHIFT, p, last;

	if (!pool->scattered)
		return 1;
	last = (off + len - 1) >> pool->page_shift;
	for (p = off >> pool->page_shift; p < last; p++)
		if (atomic_load_explicit(&pool->vpfn[p + 1], memory_order_relaxed) !=
		    atomic_load_explicit(&pool->vpfn[p], memory_order_relaxed) + 1)
			return 0;
	return 1;
}

/* ---- Records ------------------------------------------------------------- */

/* End record @r's use of the object: write a copy back, drop the pin. */
#define ZS_INLINE static inline __attribute__((always_inline))

/* A record's slow work: a copy to write back, a window to close. */
static __attribute__((noinline)) void rec_end_view(struct mp_rec *r, struct zs_pool *pool,
						   int write_back)
{
	if (write_back && (r->kind & (REC_COPY | REC_WRITE)) == (REC_COPY | REC_WRITE))
		zs_copy_in(pool, r->data, r->mem, pinned_size(pool, r->data));
	if (r->kind & REC_VIEW) {
		struct mp_thread *t = mp_thread_self;

		if (t && r >= t->rec && r < t->rec + MP_THREAD_RECORDS)
			mp_view_close(t, (unsigned)(r - t->rec));
	}
}

ZS_INLINE void rec_end(struct mp_rec *r, int write_back)
{
	struct zs_pool *pool = (struct zs_pool *)atomic_load_explicit(&r->owner,
								      memory_order_relaxed);
	zs_handle h = atomic_load_explicit(&r->key, memory_order_relaxed);

	if (__builtin_expect(r->kind & (REC_COPY | REC_VIEW), 0))
		rec_end_view(r, pool, write_back);
	zs_unpin(pool, h);
}

static void rec_thread_exit(struct mp_rec *r)
{
	rec_end(r, 1);
}

/* No .forget: in the child of fork(), where a vanished thread may have
 * been caught between its pin and its record (or inside zs_obj_write(),
 * which pins with no record), zs_fork_child_pins() sets every pin count
 * from the records of the thread that forked; the others' copies are
 * their parent's. */
static const struct mp_rec_ops zs_rec_ops = {
	.thread_exit = rec_thread_exit,
};

void zs_fork_child_pins(struct zs_pool *pool)
{
	struct mp_thread *t = mp_thread_self;
	uint32_t held[MP_THREAD_RECORDS], n = 0, s, k, nr;

	for (k = 0; t && k < MP_THREAD_RECORDS; k++)
		if (!(t->free_mask & (1u << k)) &&
		    atomic_load_explicit(&t->rec[k].owner, memory_order_relaxed) == (uintptr_t)pool)
			held[n++] = zs_handle_slot(
				atomic_load_explicit(&t->rec[k].key, memory_order_relaxed));
	nr = atomic_load_explicit(&pool->nr_slots, memory_order_relaxed);
	for (s = 0; s < nr; s++) {
		_Atomic zs_slotv *p = zs_slot(pool, s);
		zs_slotv v = atomic_load_explicit(p, memory_order_relaxed);
		uint32_t pins = 0;

		if (zs_sv_state(v) < ZS_STATE_LIVE)
			continue;
		for (k = 0; k < n; k++)
			pins += held[k] == s;
		if (zs_sv_state(v) != ZS_STATE_LIVE + pins) /* written only if wrong */
			atomic_store_explicit(
				p, zs_sv_make(ZS_STATE_LIVE + pins, zs_sv_gen(v), zs_sv_loc(v)),
				memory_order_relaxed);
	}
}

/* This thread's record of a copy of @h that it maps, or NULL. */
static struct mp_rec *copy_of(struct mp_thread *t, const struct zs_pool *pool, zs_handle h)
{
	int i = pool->scattered ? mp_rec_find(t, (uintptr_t)pool, h, REC_COPY) : -1;

	return i >= 0 ? &t->rec[i] : NULL;
}

/* Pin @h and claim a record for it: this thread's block, with the record's
 * index in *@ip and the slot in *@vp; or NULL with *@ip = -errno. A @len
 * past the object's class size is EINVAL (0: none to check). */
ZS_INLINE struct mp_thread *use_begin(struct zs_pool *pool, zs_handle h, size_t len, int *ip,
				      zs_slotv *vp)
{
	struct mp_thread *t;
	int err, i;
	zs_slotv v;

	if ((err = zs_forked(pool)) != 0) {
		*ip = err;
		return NULL;
	}
	v = zs_pin(pool, h, &err); /* validates the handle first */
	if (!v) {
		*ip = err;
		return NULL;
	}
	if (__builtin_expect(len > pinned_size(pool, zs_sv_loc(v)), 0)) {
		zs_unpin(pool, h); /* then the length: both before any limit */
		*ip = -EINVAL;
		return NULL;
	}
	t = mp_thread_get();
	if (!t || t->alloc_uses >= ZS_MAX_MAPPINGS ||
	    (i = mp_rec_claim(t, (uintptr_t)pool, h, &zs_rec_ops)) < 0) {
		zs_unpin(pool, h);
		*ip = t ? -EBUSY : -ENOMEM;
		return NULL;
	}
	t->alloc_uses++;
	t->rec[i].data = zs_sv_loc(v);
	*ip = i;
	*vp = v;
	return t;
}

/* End record @i (its pin, its view). */
ZS_INLINE void use_end(struct mp_thread *t, unsigned i, int write_back)
{
	rec_end(&t->rec[i], write_back);
	t->alloc_uses--;
	mp_rec_release(t, i);
}

/* ---- Map ------------------------------------------------------------------- */

/* Scattered layout: a pointer to the object of record @i (pinned) that is
 * not contiguous. NULL with errno ENOMEM. */
static void *map_scattered(struct zs_pool *pool, struct mp_thread *t, unsigned i, uint32_t size,
			   enum zs_mapmode mm)
{
	struct mp_rec *r = &t->rec[i];
	uint64_t off = r->data << ZS_LOC_SHIFT, vp = off >> pool->page_shift;
	uint32_t in = (uint32_t)(off & (pool->page_size - 1));
	uint8_t *buf;

	if (pool->remap && size <= pool->page_size) {
		void *w = mp_view_open(
			t, i, pool->src,
			atomic_load_explicit(&pool->vpfn[vp], memory_order_relaxed),
			atomic_load_explicit(&pool->vpfn[vp + 1], memory_order_relaxed), in, size,
			(enum mp_mode)mm, MP_REMAP);

		if (w)
			r->kind |= REC_VIEW;
		return w;
	}
	buf = mp_rec_buffer(t, i, size);
	if (!buf) {
		errno = ENOMEM;
		return NULL;
	}
	if (mm != ZS_MM_WO)
		zs_copy_out(pool, r->data, buf, size);
	r->kind |= REC_COPY | (mm != ZS_MM_RO ? REC_WRITE : 0);
	return buf;
}

void *zs_map_object(struct zs_pool *pool, zs_handle h, enum zs_mapmode mm)
{
	struct mp_thread *t;
	struct mp_rec *share;
	zs_slotv v;
	uint32_t size;
	void *ptr;
	int i;

	if (!pool || (unsigned)mm > ZS_MM_WO) {
		errno = EINVAL;
		return NULL;
	}
	t = use_begin(pool, h, 0, &i, &v);
	if (!t) {
		errno = -i;
		return NULL;
	}
	t->rec[i].kind = REC_MAP;
	if (__builtin_expect(!pool->scattered, 1)) {
		ptr = pool->base + (zs_sv_loc(v) << ZS_LOC_SHIFT);
		t->rec[i].mem = ptr;
		return ptr;
	}
	share = copy_of(t, pool, h);
	if (share && share != &t->rec[i]) {
		/* One view per object and thread: this map is the copy's. */
		share->depth++;
		share->kind |= mm != ZS_MM_RO ? REC_WRITE : 0;
		atomic_store_explicit(&t->rec[i].owner, 0, memory_order_relaxed);
		zs_unpin(pool, h);
		mp_rec_release(t, (unsigned)i);
		return share->mem;
	}
	size = pinned_size(pool, zs_sv_loc(v));
	ptr = bytes_contiguous(pool, zs_sv_loc(v), size)
		      ? zs_span_addr(pool, zs_sv_loc(v) << ZS_LOC_SHIFT)
		      : map_scattered(pool, t, (unsigned)i, size, mm);
	if (!ptr) {
		int err = errno;

		use_end(t, (unsigned)i, 0);
		errno = err;
		return NULL;
	}
	t->rec[i].mem = ptr;
	return ptr;
}

void zs_unmap_object(struct zs_pool *pool, zs_handle h)
{
	struct mp_thread *t = mp_thread_self;
	int i = pool ? mp_rec_find(t, (uintptr_t)pool, h, REC_MAP) : -1;

	if (i < 0) {
		errno = EINVAL;
		return;
	}
	if (t->rec[i].depth) { /* a nested map of a shared copy */
		t->rec[i].depth--;
		t->alloc_uses--;
		return;
	}
	use_end(t, (unsigned)i, 1);
}

/* ---- Reads ------------------------------------------------------------------- */

void *zs_obj_read_begin(struct zs_pool *pool, zs_handle h, size_t len, void *local_copy)
{
	struct mp_thread *t;
	struct mp_rec *view;
	zs_slotv v;
	void *ptr;
	int i;

	if (!pool || !local_copy || !len) {
		errno = EINVAL;
		return NULL;
	}
	t = use_begin(pool, h, len, &i, &v);
	if (!t) {
		errno = -i;
		return NULL;
	}
	t->rec[i].kind = REC_READ;
	if (__builtin_expect(!pool->scattered, 1)) {
		ptr = pool->base + (zs_sv_loc(v) << ZS_LOC_SHIFT);
	} else if ((view = copy_of(t, pool, h)) != NULL) {
		ptr = memcpy(local_copy, view->mem, len); /* this thread's view */
	} else if (bytes_contiguous(pool, zs_sv_loc(v), (uint32_t)len)) {
		ptr = zs_span_addr(pool, zs_sv_loc(v) << ZS_LOC_SHIFT);
	} else {
		zs_copy_out(pool, zs_sv_loc(v), local_copy, (uint32_t)len);
		ptr = local_copy;
	}
	t->rec[i].mem = ptr;
	return ptr;
}

int zs_obj_read_end(struct zs_pool *pool, zs_handle h, const void *mem)
{
	struct mp_thread *t = mp_thread_self;
	int i = pool && mem ? mp_rec_find(t, (uintptr_t)pool, h, REC_READ) : -1;

	/* The latest read of @h that returned @mem. */
	if (i >= 0 && t->rec[i].mem != mem) {
		int j;

		for (i = -1, j = 0; j < MP_THREAD_RECORDS; j++) {
			const struct mp_rec *r = &t->rec[j];

			if (!(t->free_mask & (1u << j)) && (r->kind & REC_READ) &&
			    atomic_load_explicit(&r->owner, memory_order_relaxed) ==
				    (uintptr_t)pool &&
			    atomic_load_explicit(&r->key, memory_order_relaxed) == h &&
			    r->mem == mem && (i < 0 || r->seq > t->rec[i].seq))
				i = j;
		}
	}
	if (i < 0)
		return -EINVAL;
	use_end(t, (unsigned)i, 0);
	return 0;
}

/* The runs of consecutive pages of @len bytes at @loc, into @seg (at most
 * @n): their number, or -ENOBUFS. */
static int segments(const struct zs_pool *pool, uint64_t loc, uint32_t len, struct zs_segment *seg,
		    size_t n)
{
	uint64_t off = loc << ZS_LOC_SHIFT;
	size_t k = 0;

	if (!pool->scattered) {
		if (!n)
			return -ENOBUFS;
		seg[0].addr = pool->base + off;
		seg[0].len = len;
		return 1;
	}
	while (len) {
		uint32_t room = pool->page_size - (uint32_t)(off & (pool->page_size - 1));
		uint32_t part = len < room ? len : room;
		const uint8_t *a = zs_span_addr(pool, off);

		if (k && (const uint8_t *)seg[k - 1].addr + seg[k - 1].len == a) {
			seg[k - 1].len += part;
		} else {
			if (k == n)
				return -ENOBUFS;
			seg[k].addr = a;
			seg[k++].len = part;
		}
		off += part;
		len -= part;
	}
	return (int)k;
}

int zs_obj_read_sg_begin(struct zs_pool *pool, zs_handle h, size_t len, struct zs_segment *seg,
			 size_t n)
{
	struct mp_thread *t;
	zs_slotv v;
	int i, k;

	if (!pool || !seg || !len)
		return -EINVAL;
	t = use_begin(pool, h, len, &i, &v);
	if (!t)
		return i;
	k = segments(pool, zs_sv_loc(v), (uint32_t)len, seg, n);
	if (k < 0) {
		use_end(t, (unsigned)i, 0);
		return k;
	}
	t->rec[i].kind = REC_SG;
	t->rec[i].mem = (void *)(uintptr_t)seg[0].addr;
	return k;
}

int zs_obj_read_sg_end(struct zs_pool *pool, zs_handle h)
{
	struct mp_thread *t = mp_thread_self;
	int i = pool ? mp_rec_find(t, (uintptr_t)pool, h, REC_SG) : -1;

	if (i < 0)
		return -EINVAL;
	use_end(t, (unsigned)i, 0);
	return 0;
}

/* ---- Writes ---------------------------------------------------------------- */

int zs_obj_write(struct zs_pool *pool, zs_handle h, const void *buf, size_t len)
{
	struct mp_thread *t;
	struct mp_rec *view;
	zs_slotv v;
	int err;

	if (!pool || !buf || !len)
		return -EINVAL;
	if ((err = zs_forked(pool)) != 0)
		return err;
	v = zs_pin(pool, h, &err);
	if (!v)
		return err;
	if (len > pinned_size(pool, zs_sv_loc(v))) {
		zs_unpin(pool, h);
		return -EINVAL;
	}
	zs_copy_in(pool, zs_sv_loc(v), buf, (uint32_t)len);
	if (__builtin_expect(pool->scattered, 0) && (t = mp_thread_self) &&
	    (view = copy_of(t, pool, h)) != NULL)
		memcpy(view->mem, buf, len); /* this thread's view sees it too */
	zs_unpin(pool, h);
	return 0;
}

size_t zs_pool_mappings(const struct zs_pool *pool)
{
	const struct mp_thread *t;
	size_t n = 0;

	for (t = mp_thread_first(); t; t = t->next)
		if (atomic_load_explicit(&t->alive, memory_order_acquire))
			n += mp_rec_count(t, (uintptr_t)pool, REC_MAP | REC_READ | REC_SG);
	return n;
}
