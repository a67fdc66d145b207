/*
 * pair.c - show two pages side by side: per-thread windows and copy buffers.
 *
 * An object of zsmalloc may begin near the end of page A and end at the
 * start of page B, where A and B are any two pages of the source. The kernel
 * shows such an object contiguously either by mapping A and B into a per-cpu
 * two-page virtual area (the old pgtable-mapping path) or by copying the two
 * parts into a per-cpu buffer. The user-space equivalents, per thread:
 *
 *   MP_REMAP   window (2 pages of address space, this thread's own)
 *              +-----------+-----------+
 *              | memfd @ A | memfd @ B |   mmap(MAP_FIXED|MAP_SHARED) each half
 *              +-----------+-----------+
 *                    ^ offset: the object, contiguous, the pages' own bytes
 *
 *   MP_COPY    buffer (1 page, per mapping slot)
 *              [ tail of A | head of B ]   copied in on map (RO, RW)
 *                                          copied back on unmap (WO, RW)
 *
 * Re-pointing a window costs two mmap() calls and a page fault per page on
 * first touch, so each thread keeps MP_WINDOWS windows keyed by
 * (source, A, B) and reuses the least recently used idle one. When B == A + 1
 * the direct map already shows the pair contiguously and no window is used.
 *
 * The per-thread state is the thread's block of mapping records (thread.h),
 * shared with zsmalloc: a mapping is one record, whose view says what
 * unmap must do; mp_map_pair() lets a thread hold MP_MAX_MAPPINGS of its
 * own at once. The windows are unmapped when the thread exits. Windows name
 * their source by its process-unique id, so a window of a destroyed source
 * can never be taken for a live one; a record a destroyed source left held
 * is taken back when the thread runs out.
 *
 * A page freed while mapped: every free bumps the page's generation, and
 * unmap compares the generations it recorded at map time. The copy back of
 * MP_COPY (RW, WO) runs under the source's lock, so no free can come
 * between that check and the write: a page freed (and maybe handed to a
 * new owner) is never written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/internal.h"
#include "mapping/mapping.h"
#include "mapping/os.h"
#include "mapping/thread.h"

/* mp_rec.kind of mp_map_pair()'s records (owner: the source's id). */
#define MP_KIND_PAIR 0x80000000u

struct mp_window {
	uint8_t *addr;   /* 2 pages of this thread's address space; NULL: none yet */
	uint64_t src_id; /* source shown; 0: shows nothing usable */
	uint32_t pfn[2]; /* pages shown in the first and second half */
	uint32_t refs;   /* live mappings through this window */
	uint64_t last;   /* tick of last use, for LRU */
};

void mp_windows_free(struct mp_thread *t)
{
	size_t page = mp_page_size();
	int i;

	for (i = 0; t->win && i < MP_WINDOWS; i++)
		if (t->win[i].addr)
			os_unmap(t->win[i].addr, 2 * page);
	free(t->win);
	t->win = NULL;
}

static struct mp_window *window_get(struct mp_thread *t, struct mp_source *src, uint32_t a,
				    uint32_t b)
{
	size_t page = (size_t)1 << src->shift;
	struct mp_window *w, *victim = NULL;
	int i;

	if (!t->win && !(t->win = calloc(MP_WINDOWS, sizeof(*t->win))))
		return NULL;
	for (i = 0; i < MP_WINDOWS; i++) {
		w = &t->win[i];
		if (w->src_id == src->id && w->pfn[0] == a && w->pfn[1] == b)
			return w;
		if (w->refs)
			continue;
		if (!victim || !w->addr || (victim->addr && w->last < victim->last))
			victim = w;
	}
	/* At most MP_THREAD_RECORDS < MP_WINDOWS windows are referenced. */
	w = victim;
	if (!w->addr) {
		w->addr = os_reserve(2 * page);
		if (!w->addr)
			return NULL;
	}
	w->src_id = 0;
	if (os_map_file_fixed(w->addr, src->fd, (uint64_t)a << src->shift, page) ||
	    os_map_file_fixed(w->addr + page, src->fd, (uint64_t)b << src->shift, page)) {
		/* A failed MAP_FIXED may have unmapped the range; never touch
		 * it again (leaking 2 pages of address space is safe, reusing
		 * them is not). */
		w->addr = NULL;
		errno = ENOMEM;
		return NULL;
	}
	w->src_id = src->id;
	w->pfn[0] = a;
	w->pfn[1] = b;
	return w;
}

void mp_view_close(struct mp_thread *t, unsigned i)
{
	struct mp_view *v = &t->rec[i].view;

	if (v->win)
		v->win->refs--;
	v->win = NULL;
	v->buf = NULL;
}

/* 1 if view @v's pages are still the ones it showed (none was freed). */
static int view_pages_same(const struct mp_source *src, const struct mp_view *v)
{
	int straddles = v->offset + v->len > ((uint32_t)1 << src->shift);

	return mp_page_valid(src, v->pfn[0]) && mp_gen(src, v->pfn[0]) == v->gen[0] &&
	       (!straddles ||
		(mp_page_valid(src, v->pfn[1]) && mp_gen(src, v->pfn[1]) == v->gen[1]));
}

/* Copy both parts of @v's range between @buf and the pages. */
static void view_copy(const struct mp_source *src, const struct mp_view *v, uint8_t *buf,
		      int to_pages)
{
	uint32_t page = (uint32_t)1 << src->shift, head = page - v->offset;
	uint8_t *a = src->base + ((size_t)v->pfn[0] << src->shift) + v->offset;
	uint8_t *b = src->base + ((size_t)v->pfn[1] << src->shift);

	if (head > v->len)
		head = v->len;
	if (to_pages) {
		memcpy(a, buf, head);
		memcpy(b, buf + head, v->len - head);
	} else {
		memcpy(buf, a, head);
		memcpy(buf + head, b, v->len - head);
	}
}

void *mp_view_open(struct mp_thread *t, unsigned i, struct mp_source *src, uint32_t pfn_a,
		   uint32_t pfn_b, uint32_t offset, uint32_t len, enum mp_mode mode,
		   enum mp_method method)
{
	struct mp_view *v = &t->rec[i].view;
	uint32_t page = (uint32_t)1 << src->shift;
	uint8_t *ret = src->base + ((size_t)pfn_a << src->shift) + offset;

	v->win = NULL;
	v->buf = NULL;
	v->pfn[0] = pfn_a;
	v->pfn[1] = pfn_b;
	v->offset = offset;
	v->len = len;
	v->mode = (uint8_t)mode;
	if (offset + len <= page || pfn_b == pfn_a + 1)
		return ret; /* in one page, or the direct map shows both */
	if (method == MP_REMAP) {
		struct mp_window *w = window_get(t, src, pfn_a, pfn_b);

		if (!w)
			return NULL;
		w->refs++;
		w->last = t->tick;
		v->win = w;
		return w->addr + offset;
	}
	v->buf = mp_rec_buffer(t, i, page);
	if (!v->buf) {
		errno = ENOMEM;
		return NULL;
	}
	if (mode != MP_WO)
		view_copy(src, v, v->buf, 0);
	return v->buf;
}

int mp_view_write_back(struct mp_thread *t, unsigned i, struct mp_source *src)
{
	struct mp_view *v = &t->rec[i].view;
	int err = 0;

	if (!v->buf || v->mode == MP_RO)
		return view_pages_same(src, v) ? 0 : -EINVAL;
	/* A page freed while mapped must not be written: it would land in a
	 * page given back, or, allocated again, in its new owner's bytes. The
	 * lock keeps frees out from the check to the end of the copy. */
	pthread_mutex_lock(&src->lock);
	if (view_pages_same(src, v))
		view_copy(src, v, v->buf, 1);
	else
		err = -EINVAL;
	pthread_mutex_unlock(&src->lock);
	return err;
}

/* A free record for mp_map_pair(), or -1. When the thread holds
 * MP_MAX_MAPPINGS, records of sources that no longer exist (mp_destroy()
 * with mappings held) are taken back first. */
static int pair_rec_get(struct mp_thread *t, struct mp_source *src, uintptr_t key)
{
	unsigned i;

	if (mp_rec_count(t, 0, MP_KIND_PAIR) >= MP_MAX_MAPPINGS)
		for (i = 0; i < MP_THREAD_RECORDS; i++) {
			struct mp_rec *r = &t->rec[i];

			if (!(t->free_mask & (1u << i)) && (r->kind & MP_KIND_PAIR) &&
			    !mp_source_alive(
				    atomic_load_explicit(&r->owner, memory_order_relaxed))) {
				mp_view_close(t, i);
				mp_rec_release(t, i);
			}
		}
	if (mp_rec_count(t, 0, MP_KIND_PAIR) >= MP_MAX_MAPPINGS)
		return -1;
	return mp_rec_claim(t, (uintptr_t)src->id, key, NULL);
}

void *mp_map_pair(struct mp_source *src, uint32_t pfn_a, uint32_t pfn_b, uint32_t offset,
		  uint32_t len, enum mp_mode mode, enum mp_method method, uintptr_t key)
{
	struct mp_thread *t;
	uint32_t gen_a = 0, gen_b = 0;
	void *ret;
	int straddles, i;

	if (!src || offset >= ((uint32_t)1 << src->shift) || len == 0 ||
	    len > ((uint32_t)1 << src->shift) || (unsigned)mode > MP_WO ||
	    (unsigned)method > MP_REMAP || src->placed || (method == MP_REMAP && !src->shared)) {
		errno = EINVAL;
		return NULL;
	}
	if (mp_forked(src)) {
		errno = EPERM;
		return NULL;
	}
	straddles = offset + len > ((uint32_t)1 << src->shift);
	/* Generations first: a page freed after this point, even if it is
	 * valid again below, is caught by mp_unmap_pair(). */
	if (pfn_a < src->span)
		gen_a = mp_gen(src, pfn_a);
	if (straddles && pfn_b < src->span)
		gen_b = mp_gen(src, pfn_b);
	if (!mp_page_valid(src, pfn_a) || (straddles && !mp_page_valid(src, pfn_b))) {
		errno = EINVAL;
		return NULL;
	}
	t = mp_thread_get();
	if (!t)
		return NULL;
	i = pair_rec_get(t, src, key);
	if (i < 0) {
		errno = EBUSY;
		return NULL;
	}
	t->rec[i].kind = MP_KIND_PAIR;
	ret = mp_view_open(t, (unsigned)i, src, pfn_a, pfn_b, offset, len, mode, method);
	if (!ret) {
		int err = errno;

		mp_rec_release(t, (unsigned)i);
		errno = err;
		return NULL;
	}
	t->rec[i].view.gen[0] = gen_a;
	t->rec[i].view.gen[1] = gen_b;
	t->rec[i].mem = ret;
	return ret;
}

int mp_unmap_pair(struct mp_source *src, uintptr_t key)
{
	struct mp_thread *t = mp_thread_self;
	int i = src ? mp_rec_find(t, (uintptr_t)src->id, key, MP_KIND_PAIR) : -1;
	int err;

	if (i < 0)
		return -EINVAL;
	if (mp_forked(src)) {
		/* The pages are the parent's too: write nothing back. */
		mp_view_close(t, (unsigned)i);
		mp_rec_release(t, (unsigned)i);
		return -EPERM;
	}
	err = mp_view_write_back(t, (unsigned)i, src);
	mp_view_close(t, (unsigned)i);
	mp_rec_release(t, (unsigned)i);
	return err;
}
