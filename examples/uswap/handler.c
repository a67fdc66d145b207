/*
 * handler.c - the region's fault handler thread.
 *
 * It reads the userfaultfd (non-blocking) and serves each message it gets;
 * with nothing to read it wakes the freer thread (freer.c), which frees the
 * objects of the pages it put back, and sleeps in poll():
 *
 *   missing-page fault, page STORED   LOADING; read the object
 *                                     (zs_obj_read_begin), LZ4-decompress
 *                                     it into a page buffer (a raw object
 *                                     is copied from where it lies),
 *                                     UFFDIO_COPY it into place, which
 *                                     wakes the thread; then RESIDENT, and
 *                                     the object goes to the freer
 *   missing-page fault, page EMPTY    LOADING; zeros: UFFDIO_ZEROPAGE for a
 *                                     read (the shared zero page, no
 *                                     memory), a copy of a zero page for a
 *                                     write
 *   write-protect fault, RECLAIMING   the write wins: DISARMING, clear the
 *                                     write-protection (which wakes the
 *                                     thread), RESIDENT; the reclaimer sees
 *                                     it lost and frees its object
 *   a page ARMING or ZAPPING          the reclaimer is inside a system call
 *                                     on it: wait for it to return (it
 *                                     needs nothing from the handler)
 *   anything else                     stale (a message from before the page
 *                                     came back): UFFDIO_WAKE and go on
 *
 * A message for the doorbell page (after the region) means uswap_destroy()
 * wants the thread to stop: it answers that fault and returns.
 */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <lz4.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "examples/uswap/internal.h"
#include "zsmalloc/zsmalloc.h"

#define MSGS_PER_READ 16

struct fault {
	size_t index;   /* page number in the region */
	void *addr;     /* its first byte */
	int write;      /* a write fault */
	uint32_t tid;   /* the faulting thread */
	uint64_t t0_ns; /* when the message was read */
};

/* The state of page @i once no reclaimer system call is in flight on it. */
static uint32_t settled_state(struct uswap *u, size_t i)
{
	for (;;) {
		uint32_t s = page_state_load(u, i);
		uint32_t m = s & PG_STATE_MASK;

		if (m != PG_ARMING && m != PG_ZAPPING)
			return s;
		sched_yield();
	}
}

/* Put a page of @word at @f: the zero page for a read of zeros, else a
 * copy. */
static int fill_word(struct uswap *u, const struct fault *f, uint64_t word)
{
	if (!word && !f->write)
		return uffd_zeropage(u->uffd, f->addr, u->page_size);
	for (size_t i = 0; i < u->page_size; i += sizeof(word))
		memcpy(u->fault_buf + i, &word, sizeof(word));
	return uffd_copy(u->uffd, f->addr, u->fault_buf, u->page_size);
}

/* Decompress object @h of @len bytes into place at @f. -EIO when it cannot
 * be read or does not decompress to a page. */
static int fill_object(struct uswap *u, const struct fault *f, zs_handle h, uint32_t len)
{
	const char *obj = zs_obj_read_begin(u->pool, h, len, u->fault_copy);
	const void *src = obj;
	int err = 0;

	if (!obj)
		return -EIO;
	if (len < u->page_size) {
		int n = LZ4_decompress_safe(obj, (char *)u->fault_buf, (int)len, (int)u->page_size);

		err = n == (int)u->page_size ? 0 : -EIO;
		src = u->fault_buf;
	}
	if (!err)
		err = uffd_copy(u->uffd, f->addr, src, u->page_size);
	zs_obj_read_end(u->pool, h, obj);
	return err;
}

/* The object is lost: as the kernel does on a failed swap-in, SIGBUS to
 * the thread; it gets a page of zeros if it survives the signal. */
static int read_error(struct uswap *u, const struct fault *f)
{
	counter_add(&u->c.read_errors, 1);
	syscall(SYS_tgkill, getpid(), f->tid, SIGBUS);
	return fill_word(u, f, 0);
}

/* The page could not be put in place (EEXIST: it is there, which cannot
 * be; or the thread is gone): leave it as it was, wake whoever waits. */
static void fill_failed(struct uswap *u, const struct fault *f, uint32_t was)
{
	counter_add(&u->c.eexist, 1);
	page_state_store(u, f->index, was);
	uffd_wake(u->uffd, f->addr, u->page_size);
}

/* A missing-page fault on a STORED page. The counters move before the
 * page is put in place (which wakes the thread), so that the thread sees
 * them moved; the object is freed by the freer, off the thread's path. */
static void fault_in(struct uswap *u, const struct fault *f)
{
	/* Read before the page is marked: from then on a reclaim may
	 * rewrite the entry. */
	const uint32_t len = u->table[f->index].len;
	const uint64_t value = u->table[f->index].value;
	int err;

	page_state_store(u, f->index, PG_LOADING);
	counters_store(u, len, -1);
	counter_add(&u->c.faults, 1);
	err = len ? fill_object(u, f, (zs_handle)value, len) : fill_word(u, f, value);
	if (err == -EIO)
		err = read_error(u, f);
	if (err) {
		counters_store(u, len, 1);
		counter_sub(&u->c.faults, 1);
		fill_failed(u, f, PG_STORED);
		return;
	}
	page_state_store(u, f->index, PG_RESIDENT | PG_REFERENCED);
	hist_add(&u->fault_ns, uswap_now_ns() - f->t0_ns);
	if (len)
		freer_push(u, (zs_handle)value);
}

/* A first touch: zeros. */
static void fill_empty(struct uswap *u, const struct fault *f)
{
	page_state_store(u, f->index, PG_LOADING);
	counter_add(&u->c.zero_faults, 1);
	if (fill_word(u, f, 0) != 0) {
		counter_sub(&u->c.zero_faults, 1);
		fill_failed(u, f, PG_EMPTY);
		return;
	}
	page_state_store(u, f->index, PG_RESIDENT | PG_REFERENCED);
}

/* A missing-page fault. */
static void serve_missing(struct uswap *u, const struct fault *f)
{
	uint32_t s = settled_state(u, f->index) & PG_STATE_MASK;

	if (s == PG_STORED) {
		fault_in(u, f);
	} else if (s == PG_EMPTY) {
		fill_empty(u, f);
	} else {
		counter_add(&u->c.stale_faults, 1);
		uffd_wake(u->uffd, f->addr, u->page_size);
	}
}

/* A write to a write-protected page. */
static void serve_wp(struct uswap *u, const struct fault *f)
{
	counter_add(&u->c.wp_faults, 1);
	for (;;) {
		uint32_t s = settled_state(u, f->index);

		if ((s & PG_STATE_MASK) != PG_RECLAIMING) {
			/* Taken back, or dropped meanwhile: the thread tries
			 * again and faults anew if it must. */
			counter_add(&u->c.stale_faults, 1);
			uffd_wake(u->uffd, f->addr, u->page_size);
			return;
		}
		if (!page_state_cas(u, f->index, &s, PG_DISARMING))
			continue;
		uffd_protect(u->uffd, f->addr, u->page_size, 0);
		page_state_store(u, f->index, PG_RESIDENT | PG_REFERENCED);
		return;
	}
}

/* Serve one message. Returns 1 for the doorbell. */
static int serve(struct uswap *u, const struct uffd_msg *m, uint64_t t0)
{
	uintptr_t a = (uintptr_t)m->arg.pagefault.address & ~(uintptr_t)(u->page_size - 1);
	struct fault f;

	if (m->event != UFFD_EVENT_PAGEFAULT)
		return 0;
	if (a == (uintptr_t)u->doorbell)
		return 1;
	if (a < (uintptr_t)u->base || a >= (uintptr_t)u->doorbell)
		return 0;
	f.index = (a - (uintptr_t)u->base) >> u->page_shift;
	f.addr = (void *)a;
	f.write = (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0;
	f.tid = m->arg.pagefault.feat.ptid;
	f.t0_ns = t0;
	if (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
		serve_wp(u, &f);
	else
		serve_missing(u, &f);
	return 0;
}

/* Read what messages there are (the descriptor does not block); when
 * none, wake the freer and sleep in poll(). Returns the bytes read, or -1
 * on an error that ends the thread. */
static ssize_t next_messages(struct uswap *u, struct uffd_msg *m, size_t len)
{
	struct pollfd p = { .fd = u->uffd, .events = POLLIN };

	for (;;) {
		ssize_t r = read(u->uffd, m, len);

		if (r > 0)
			return r;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN)
			return -1; /* EBADF, EFAULT: a bug; nothing to serve */
		freer_kick(u);
		atomic_store(&u->handler_busy, 0);
		poll(&p, 1, -1);
		atomic_store(&u->handler_busy, 1);
	}
}

void *handler_main(void *arg)
{
	struct uswap *u = arg;
	struct uffd_msg msgs[MSGS_PER_READ];
	int stop = 0;

	atomic_store(&u->handler_busy, 1);
	while (!stop) {
		ssize_t r = next_messages(u, msgs, sizeof(msgs));
		uint64_t t0 = uswap_now_ns();

		if (r < 0)
			break;
		for (size_t i = 0; i < (size_t)r / sizeof(msgs[0]); i++)
			stop |= serve(u, &msgs[i], t0);
	}
	atomic_store(&u->handler_busy, 0);
	/* Answer the doorbell, which wakes uswap_destroy(). */
	uffd_zeropage(u->uffd, u->doorbell, u->page_size);
	return NULL;
}
