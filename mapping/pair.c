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
 * Per-thread state (struct mp_thread) is reached through one thread-local
 * pointer and needs no lock. It holds MP_MAX_MAPPINGS slots, so a thread can
 * hold that many mappings at once; a slot records what unmap must do. The
 * state is freed, and the windows unmapped, when the thread exits (a pthread
 * key destructor). Windows name their source by its process-unique id, so a
 * window of a destroyed source can never be taken for a live one; a slot a
 * destroyed source left held is taken back when the thread runs out.
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

struct mp_window {
	uint8_t *addr;    /* 2 pages of this thread's address space; NULL: none yet */
	uint64_t src_id;  /* source shown; 0: shows nothing usable */
	uint32_t pfn[2];  /* pages shown in the first and second half */
	uint32_t refs;    /* live mappings through this window */
	uint64_t last;    /* tick of last use, for LRU */
};

struct mp_slot {
	uint64_t src_id;       /* owner source; 0: slot free */
	uintptr_t key;         /* caller's name for the mapping */
	uint64_t seq;          /* order of mapping: unmap takes the latest */
	struct mp_window *win; /* MP_REMAP through a window, else NULL */
	uint8_t *buf;          /* MP_COPY buffer in use, else NULL */
	uint32_t pfn[2];       /* the pages, for copy-back */
	uint32_t gen[2];       /* their generations when mapped */
	uint32_t offset;       /* in page pfn[0] */
	uint32_t len;          /* bytes mapped */
	enum mp_mode mode;
};

struct mp_thread {
	struct mp_slot slot[MP_MAX_MAPPINGS];
	struct mp_window win[MP_WINDOWS];
	uint8_t *buffers;      /* MP_MAX_MAPPINGS pages; allocated on first copy */
	uint64_t tick;         /* counts mappings made, for seq and LRU */
};

static __thread struct mp_thread *mp_self
	__attribute__((tls_model("initial-exec")));
static pthread_key_t mp_thread_key;
static pthread_once_t mp_thread_once = PTHREAD_ONCE_INIT;
static int mp_thread_key_err;

static void thread_release(void *arg)
{
	struct mp_thread *t = arg;
	size_t page = mp_page_size();
	int i;

	for (i = 0; i < MP_WINDOWS; i++)
		if (t->win[i].addr)
			os_unmap(t->win[i].addr, 2 * page);
	free(t->buffers);
	free(t);
	mp_self = NULL;
}

static void thread_key_create(void)
{
	mp_thread_key_err = pthread_key_create(&mp_thread_key, thread_release);
}

static struct mp_thread *thread_get(void)
{
	struct mp_thread *t = mp_self;

	if (t)
		return t;
	pthread_once(&mp_thread_once, thread_key_create);
	if (mp_thread_key_err) {
		errno = ENOMEM;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (pthread_setspecific(mp_thread_key, t)) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	mp_self = t;
	return t;
}

static struct mp_window *window_get(struct mp_thread *t, struct mp_source *src,
				   uint32_t a, uint32_t b)
{
	size_t page = (size_t)1 << src->shift;
	struct mp_window *w, *victim = NULL;
	int i;

	for (i = 0; i < MP_WINDOWS; i++) {
		w = &t->win[i];
		if (w->src_id == src->id && w->pfn[0] == a && w->pfn[1] == b)
			return w;
		if (w->refs)
			continue;
		if (!victim || !w->addr || (victim->addr && w->last < victim->last))
			victim = w;
	}
	/* At most MP_MAX_MAPPINGS < MP_WINDOWS windows are referenced. */
	w = victim;
	if (!w->addr) {
		w->addr = os_reserve(2 * page);
		if (!w->addr)
			return NULL;
	}
	w->src_id = 0;
	if (os_map_file_fixed(w->addr, src->fd, (uint64_t)a << src->shift, page) ||
	    os_map_file_fixed(w->addr + page, src->fd, (uint64_t)b << src->shift,
			      page)) {
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

/* End slot @s's mapping: its window, if any, is idle again. */
static void slot_release(struct mp_slot *s)
{
	if (s->win)
		s->win->refs--;
	s->win = NULL;
	s->src_id = 0;
}

/* A free slot of @t, or NULL. When all are held, those of sources that no
 * longer exist (mp_destroy() with mappings held) are taken back first. */
static struct mp_slot *slot_get(struct mp_thread *t)
{
	int i;

	for (i = 0; i < MP_MAX_MAPPINGS; i++)
		if (!t->slot[i].src_id)
			return &t->slot[i];
	for (i = 0; i < MP_MAX_MAPPINGS; i++)
		if (!mp_source_alive(t->slot[i].src_id))
			slot_release(&t->slot[i]);
	for (i = 0; i < MP_MAX_MAPPINGS; i++)
		if (!t->slot[i].src_id)
			return &t->slot[i];
	return NULL;
}

/* 1 if slot @s's pages are still the ones it mapped (none was freed). */
static int slot_pages_same(const struct mp_source *src, const struct mp_slot *s)
{
	int straddles = s->offset + s->len > ((uint32_t)1 << src->shift);

	return mp_page_valid(src, s->pfn[0]) && mp_gen(src, s->pfn[0]) == s->gen[0] &&
	       (!straddles || (mp_page_valid(src, s->pfn[1]) &&
			       mp_gen(src, s->pfn[1]) == s->gen[1]));
}

void *mp_map_pair(struct mp_source *src, uint32_t pfn_a, uint32_t pfn_b,
		  uint32_t offset, uint32_t len, enum mp_mode mode,
		  enum mp_method method, uintptr_t key)
{
	struct mp_thread *t;
	struct mp_slot *s = NULL;
	uint8_t *page_a, *ret;
	size_t page;
	uint32_t head;
	uint32_t gen_a = 0, gen_b = 0;
	int straddles;

	if (!src || offset >= ((uint32_t)1 << src->shift) || len == 0 ||
	    len > ((uint32_t)1 << src->shift) || (unsigned)mode > MP_WO ||
	    (unsigned)method > MP_REMAP || src->placed ||
	    (method == MP_REMAP && !src->shared)) {
		errno = EINVAL;
		return NULL;
	}
	if (mp_forked(src)) {
		errno = EPERM;
		return NULL;
	}
	page = (size_t)1 << src->shift;
	straddles = offset + len > page;
	/* Generations first: a page freed after this point, even if it is
	 * valid again below, is caught by mp_unmap_pair(). */
	if (pfn_a < src->span)
		gen_a = mp_gen(src, pfn_a);
	if (straddles && pfn_b < src->span)
		gen_b = mp_gen(src, pfn_b);
	if (!mp_page_valid(src, pfn_a) ||
	    (straddles && !mp_page_valid(src, pfn_b))) {
		errno = EINVAL;
		return NULL;
	}
	t = thread_get();
	if (!t)
		return NULL;
	s = slot_get(t);
	if (!s) {
		errno = EBUSY;
		return NULL;
	}

	page_a = src->base + ((size_t)pfn_a << src->shift);
	ret = page_a + offset;
	s->win = NULL;
	s->buf = NULL;
	if (straddles && pfn_b != pfn_a + 1) {
		if (method == MP_REMAP) {
			struct mp_window *w = window_get(t, src, pfn_a, pfn_b);

			if (!w)
				return NULL;
			w->refs++;
			w->last = t->tick;
			s->win = w;
			ret = w->addr + offset;
		} else {
			if (!t->buffers) {
				t->buffers = aligned_alloc(page, MP_MAX_MAPPINGS * page);
				if (!t->buffers) {
					errno = ENOMEM;
					return NULL;
				}
			}
			s->buf = t->buffers + (size_t)(s - t->slot) * page;
			if (mode != MP_WO) {
				head = (uint32_t)page - offset;
				memcpy(s->buf, ret, head);
				memcpy(s->buf + head,
				       src->base + ((size_t)pfn_b << src->shift),
				       len - head);
			}
			ret = s->buf;
		}
	}
	s->src_id = src->id;
	s->key = key;
	s->seq = ++t->tick;
	s->pfn[0] = pfn_a;
	s->pfn[1] = pfn_b;
	s->gen[0] = gen_a;
	s->gen[1] = gen_b;
	s->offset = offset;
	s->len = len;
	s->mode = mode;
	return ret;
}

int mp_unmap_pair(struct mp_source *src, uintptr_t key)
{
	struct mp_thread *t = mp_self;
	struct mp_slot *s = NULL;
	int i, err = 0;

	if (!src || !t)
		return -EINVAL;
	for (i = 0; i < MP_MAX_MAPPINGS; i++) {
		struct mp_slot *c = &t->slot[i];

		if (c->src_id == src->id && c->key == key && (!s || c->seq > s->seq))
			s = c;
	}
	if (!s)
		return -EINVAL;
	if (mp_forked(src)) {
		/* The pages are the parent's too: write nothing back. */
		slot_release(s);
		return -EPERM;
	}

	if (s->buf && s->mode != MP_RO) {
		size_t page = (size_t)1 << src->shift;
		uint32_t head = (uint32_t)page - s->offset;

		/* A page freed while mapped must not be written: it would
		 * re-fault into a punched hole, or, allocated again, land in
		 * its new owner's bytes. The lock keeps frees out from the
		 * check to the end of the copy. */
		pthread_mutex_lock(&src->lock);
		if (slot_pages_same(src, s)) {
			memcpy(src->base + ((size_t)s->pfn[0] << src->shift) +
				       s->offset, s->buf, head);
			memcpy(src->base + ((size_t)s->pfn[1] << src->shift),
			       s->buf + head, s->len - head);
		} else {
			err = -EINVAL;
		}
		pthread_mutex_unlock(&src->lock);
	} else if (!slot_pages_same(src, s)) {
		err = -EINVAL; /* nothing to write, but the caller must know */
	}
	slot_release(s);
	return err;
}
