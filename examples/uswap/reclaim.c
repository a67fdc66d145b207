/*
 * reclaim.c - taking resident pages out of memory, a batch at a time:
 *
 *   pick     RESIDENT -> ARMING: up to a batch of pages, by the clock or in
 *            the caller's range
 *   arm      one UFFDIO_WRITEPROTECT per run of consecutive pages; from its
 *            return no write reaches them unseen: ARMING -> RECLAIMING
 *   encode   same-filled -> the word; else LZ4 into a page-sized buffer,
 *            raw when it does not come below zs_huge_class_size(); then
 *            zs_malloc + zs_obj_write. A refusal of the pool ends the batch
 *            and gives the rest back (write-protection cleared, RESIDENT)
 *   commit   the entry written, then RECLAIMING -> ZAPPING by CAS; a page
 *            the handler took back for a write (DISARMING, RESIDENT) loses
 *            the race, and its object is freed
 *   zap      one MADV_DONTNEED per run of committed pages, then STORED
 *
 * The protocol, and why no write is lost, is in the comment at the top of
 * uswap.c. Everything here runs under reclaim_lock.
 */
#include <errno.h>
#include <lz4.h>
#include <sched.h>
#include <sys/mman.h>

#include "examples/uswap/internal.h"
#include "zsmalloc/zsmalloc.h"

/*
 * Reads of region pages. The kernel orders them after every write to the
 * page (the write-protection and its TLB flush come first), which
 * ThreadSanitizer cannot see: it would report each as a race with the
 * thread that last wrote the page. So the two functions below are not
 * instrumented, and under ThreadSanitizer LZ4 compresses a copy of the
 * page made by copy_raw() (LZ4 itself is not instrumented, but its memcpy
 * calls are intercepted and checked).
 */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define NO_TSAN __attribute__((no_sanitize("thread")))
#else
#define NO_TSAN
#endif
#if defined(__SANITIZE_THREAD__)
#define COMPRESS_A_COPY 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COMPRESS_A_COPY 1
#endif
#endif
#ifndef COMPRESS_A_COPY
#define COMPRESS_A_COPY 0
#endif

/* 1 with *@word set when every 8-byte word of @page equals the first. */
NO_TSAN static int same_filled(const unsigned char *page, size_t size, uint64_t *word)
{
	const uint64_t *w = (const uint64_t *)(const void *)page;
	size_t n = size / sizeof(*w);

	for (size_t i = 1; i < n; i++)
		if (w[i] != w[0])
			return 0;
	*word = w[0];
	return 1;
}

/* Copy a page word by word; the empty asm keeps the compiler from turning
 * the loop into a call of memcpy, which ThreadSanitizer intercepts. */
NO_TSAN static void copy_raw(unsigned char *dst, const unsigned char *src, size_t size)
{
	const uint64_t *s = (const uint64_t *)(const void *)src;
	uint64_t *d = (uint64_t *)(void *)dst;

	for (size_t i = 0; i < size / sizeof(*s); i++) {
		uint64_t v = s[i];

		__asm__ volatile("" : "+r"(v));
		d[i] = v;
	}
}

/* Encode page @sl->index and store it. 0, or -ENOMEM: the pool refused. */
static int slot_encode(struct uswap *u, struct reclaim_slot *sl)
{
	const unsigned char *page = page_addr(u, sl->index);
	const unsigned char *src = u->pack;
	int n;

	if (same_filled(page, u->page_size, &sl->value)) {
		sl->len = 0;
		sl->stored = 1;
		return 0;
	}
	if (COMPRESS_A_COPY) {
		copy_raw(u->snap, page, u->page_size);
		page = u->snap;
	}
	n = LZ4_compress_fast_extState(u->lz4_state, (const char *)page, (char *)u->pack,
				       (int)u->page_size, (int)u->huge_size - 1, u->lz4_accel);
	if (n <= 0) { /* not below the huge size: keep it as it is */
		copy_raw(u->pack, page, u->page_size);
		n = (int)u->page_size;
	}
	zs_handle h = zs_malloc(u->pool, (size_t)n, 0);
	if (!h)
		return -ENOMEM;
	if (zs_obj_write(u->pool, h, src, (size_t)n) != 0) {
		zs_free(u->pool, h);
		return -ENOMEM;
	}
	sl->len = (uint32_t)n;
	sl->value = h;
	sl->stored = 1;
	return 0;
}

/* Free what slot_encode() stored. */
static void slot_discard(struct uswap *u, struct reclaim_slot *sl)
{
	if (sl->stored && sl->len)
		zs_free(u->pool, (zs_handle)sl->value);
	sl->stored = 0;
}

/* Slots [@j, end) with consecutive page numbers: returns end. */
static size_t run_end(const struct reclaim_slot *s, size_t j, size_t n)
{
	size_t k = j + 1;

	while (k < n && s[k].index == s[k - 1].index + 1)
		k++;
	return k;
}

/* The run's address range. */
static void *run_addr(const struct uswap *u, const struct reclaim_slot *s, size_t j, size_t k,
		      size_t *len)
{
	*len = (k - j) << u->page_shift;
	return page_addr(u, s[j].index);
}

/* Give page @i back untouched: clear the write-protection, then RESIDENT
 * (the handler may have done both already, for a write). */
static void slot_release(struct uswap *u, size_t i, uint32_t from)
{
	uint32_t old = from;

	uffd_protect(u->uffd, page_addr(u, i), u->page_size, 0);
	page_state_cas(u, i, &old, PG_RESIDENT);
}

/* Write-protect the batch. 0, or the error after giving every page back. */
static int batch_arm(struct uswap *u, struct reclaim_slot *s, size_t n)
{
	int err = 0;

	for (size_t j = 0, k; j < n && !err; j = k) {
		size_t len;
		void *a;

		k = run_end(s, j, n);
		a = run_addr(u, s, j, k, &len);
		err = uffd_protect(u->uffd, a, len, 1);
	}
	for (size_t j = 0; j < n; j++) {
		if (err)
			slot_release(u, s[j].index, PG_ARMING);
		else
			page_state_store(u, s[j].index, PG_RECLAIMING);
	}
	return err;
}

/* Encode every page. Returns 0, or -ENOMEM after giving back the page the
 * pool refused and every page after it. */
static int batch_encode(struct uswap *u, struct reclaim_slot *s, size_t n)
{
	for (size_t j = 0; j < n; j++)
		s[j].stored = 0;
	for (size_t j = 0; j < n; j++) {
		if (slot_encode(u, &s[j]) == 0)
			continue;
		counter_add(&u->c.reclaim_failed, 1);
		for (size_t k = j; k < n; k++)
			slot_release(u, s[k].index, PG_RECLAIMING);
		return -ENOMEM;
	}
	return 0;
}

/* Publish each stored page's entry and claim it; a page written to
 * meanwhile stays with the handler and its object goes. */
static void batch_commit(struct uswap *u, struct reclaim_slot *s, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		struct uswap_page *e = &u->table[s[j].index];
		uint32_t old = PG_RECLAIMING;

		if (!s[j].stored)
			continue;
		e->len = s[j].len;
		e->value = s[j].value;
		counters_store(u, s[j].len, 1);
		if (page_state_cas(u, s[j].index, &old, PG_ZAPPING))
			continue;
		counters_store(u, s[j].len, -1);
		counter_add(&u->c.reclaim_written, 1);
		slot_discard(u, &s[j]);
	}
}

/* A run that could not be dropped (madvise failed, which a valid range
 * does not): take its pages back as they are. */
static void run_unwind(struct uswap *u, struct reclaim_slot *s, size_t j, size_t k)
{
	for (; j < k; j++) {
		counters_store(u, s[j].len, -1);
		slot_discard(u, &s[j]);
		slot_release(u, s[j].index, PG_ZAPPING);
	}
}

/* Drop the committed pages, a run per system call. Returns how many. */
static size_t batch_zap(struct uswap *u, struct reclaim_slot *s, size_t n)
{
	size_t dropped = 0;

	for (size_t j = 0, k; j < n; j = k) {
		size_t len;
		void *a;

		if (!s[j].stored) {
			k = j + 1;
			continue;
		}
		for (k = j + 1; k < n && s[k].stored && s[k].index == s[k - 1].index + 1; k++)
			;
		a = run_addr(u, s, j, k, &len);
		if (madvise(a, len, MADV_DONTNEED) != 0) {
			run_unwind(u, s, j, k);
			continue;
		}
		for (size_t m = j; m < k; m++)
			page_state_store(u, s[m].index, PG_STORED);
		dropped += k - j;
	}
	return dropped;
}

static void used_max_update(struct uswap *u)
{
	uint64_t used = zs_get_total_pages(u->pool);
	uint64_t cur = atomic_load_explicit(&u->c.used_max, memory_order_relaxed);

	while (used > cur &&
	       !atomic_compare_exchange_weak_explicit(&u->c.used_max, &cur, used,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* Reclaim the picked pages (all ARMING). Returns how many went out; sets
 * *@refused when the pool refused one. */
static size_t reclaim_batch(struct uswap *u, size_t n, int *refused)
{
	struct reclaim_slot *s = u->slots;
	size_t out;

	*refused = 0;
	if (batch_arm(u, s, n) != 0)
		return 0;
	if (batch_encode(u, s, n) != 0)
		*refused = 1;
	batch_commit(u, s, n);
	out = batch_zap(u, s, n);
	counter_add(&u->c.reclaimed, out);
	used_max_update(u);
	return out;
}

/* Claim page @i for a batch if it is resident: RESIDENT -> ARMING. With
 * @second_chance, a referenced page loses its mark instead. */
static int pick(struct uswap *u, size_t i, int second_chance)
{
	uint32_t s = page_state_load(u, i);

	/* The handler is putting it in place; the thread it woke may have
	 * gone on already, so the page counts as resident: wait. */
	while ((s & PG_STATE_MASK) == PG_LOADING) {
		sched_yield();
		s = page_state_load(u, i);
	}

	if ((s & PG_STATE_MASK) != PG_RESIDENT)
		return 0;
	if ((s & PG_REFERENCED) && second_chance) {
		page_state_cas(u, i, &s, PG_RESIDENT);
		return 0;
	}
	return page_state_cas(u, i, &s, PG_ARMING);
}

/* Fill the batch from the clock hand, at most @want pages, scanning at
 * most *@budget pages. Returns the count. */
static size_t pick_clock(struct uswap *u, size_t want, size_t *budget)
{
	size_t k = 0;

	while (k < want && *budget) {
		size_t i = u->hand;

		u->hand = i + 1 == u->pages ? 0 : i + 1;
		(*budget)--;
		if (pick(u, i, 1))
			u->slots[k++].index = i;
		if (u->hand == 0 && k)
			break; /* keep the batch's pages in address order */
	}
	return k;
}

/* Run batches of pages given by @next until @n went out, or none is left,
 * or the pool refuses. */
static long reclaim_loop(struct uswap *u, size_t n, size_t (*next)(struct uswap *, size_t, void *),
			 void *arg)
{
	size_t done = 0;
	int refused = 0;

	while (done < n && !refused) {
		size_t want = n - done < u->batch ? n - done : u->batch;
		size_t k = next(u, want, arg);

		if (!k)
			break;
		done += reclaim_batch(u, k, &refused);
	}
	if (refused && !done)
		return -ENOMEM;
	return (long)done;
}

static size_t next_clock(struct uswap *u, size_t want, void *arg)
{
	return pick_clock(u, want, arg);
}

long reclaim_clock(struct uswap *u, size_t n)
{
	size_t budget = 2 * u->pages; /* every page seen twice at most */
	long r;

	pthread_mutex_lock(&u->reclaim_lock);
	r = reclaim_loop(u, n, next_clock, &budget);
	pthread_mutex_unlock(&u->reclaim_lock);
	return r;
}

struct range_cursor {
	size_t next, end;
};

static size_t next_range(struct uswap *u, size_t want, void *arg)
{
	struct range_cursor *c = arg;
	size_t k = 0;

	for (; k < want && c->next < c->end; c->next++)
		if (pick(u, c->next, 0))
			u->slots[k++].index = c->next;
	return k;
}

long reclaim_range(struct uswap *u, size_t first, size_t count)
{
	struct range_cursor c = { first, first + count };
	long r;

	pthread_mutex_lock(&u->reclaim_lock);
	r = reclaim_loop(u, count, next_range, &c);
	pthread_mutex_unlock(&u->reclaim_lock);
	return r;
}
