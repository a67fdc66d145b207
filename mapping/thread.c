/*
 * thread.c - the per-thread block of mapping records (see thread.h).
 *
 * A block is made when a thread first maps, put on the registry (a list
 * only ever appended to, under a mutex; read without one), and marked dead
 * when its thread exits, after every live record's owner ended it; a new
 * thread takes a dead block before allocating one. In the child of fork()
 * only the forking thread lives on: the handler ends, through their
 * owners' forget(), the records of every other thread and marks their
 * blocks dead.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/internal.h"
#include "mapping/os.h"
#include "mapping/thread.h"

__thread struct mp_thread *mp_thread_self __attribute__((tls_model("initial-exec")));

static _Atomic(struct mp_thread *) mp_threads; /* registry, append-only */
static pthread_mutex_t mp_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t mp_thread_key;
static pthread_once_t mp_thread_once = PTHREAD_ONCE_INIT;
static int mp_thread_key_err;

struct mp_thread *mp_thread_first(void)
{
	return atomic_load_explicit(&mp_threads, memory_order_acquire);
}

/* End every live record of @t through its owner (@exit: thread_exit, else
 * forget) and free the block's buffers and windows. */
static void thread_end(struct mp_thread *t, int exit)
{
	unsigned i;

	for (i = 0; i < MP_THREAD_RECORDS; i++) {
		struct mp_rec *r = &t->rec[i];

		if (t->free_mask & (1u << i))
			continue;
		if (r->ops && exit && r->ops->thread_exit)
			r->ops->thread_exit(r);
		else if (r->ops && !exit && r->ops->forget)
			r->ops->forget(r);
		mp_view_close(t, i);
		atomic_store_explicit(&r->owner, 0, memory_order_release);
	}
	t->free_mask = MP_REC_ALL_FREE;
	mp_windows_free(t);
	free(t->buffers);
	t->buffers = NULL;
	for (i = 0; i < MP_THREAD_RECORDS; i++) {
		free(t->big[i]);
		t->big[i] = NULL;
		t->big_len[i] = 0;
	}
	t->alloc_uses = 0;
	atomic_store_explicit(&t->alive, 0, memory_order_release);
}

static void thread_exit(void *arg)
{
	thread_end(arg, 1);
	mp_thread_self = NULL;
}

static void thread_fork_prepare(void)
{
	pthread_mutex_lock(&mp_threads_lock);
}

static void thread_fork_parent(void)
{
	pthread_mutex_unlock(&mp_threads_lock);
}

/* In the child of fork(): the other threads are gone. */
static void thread_fork_child(void)
{
	struct mp_thread *t;

	for (t = mp_thread_first(); t; t = t->next)
		if (t != mp_thread_self && atomic_load_explicit(&t->alive, memory_order_relaxed))
			thread_end(t, 0);
	pthread_mutex_unlock(&mp_threads_lock);
}

static void thread_key_create(void)
{
	mp_thread_key_err = pthread_key_create(&mp_thread_key, thread_exit);
	if (!mp_thread_key_err)
		mp_thread_key_err = -os_atfork(thread_fork_prepare, thread_fork_parent,
					       thread_fork_child);
}

struct mp_thread *mp_thread_attach(void)
{
	struct mp_thread *t;

	pthread_once(&mp_thread_once, thread_key_create);
	if (mp_thread_key_err) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_lock(&mp_threads_lock);
	for (t = mp_thread_first(); t; t = t->next)
		if (!atomic_load_explicit(&t->alive, memory_order_acquire))
			break;
	if (!t) {
		/* A cache line of its own: other threads' blocks sit next to it. */
		t = aligned_alloc(64, (sizeof(*t) + 63) & ~(size_t)63);
		if (!t) {
			pthread_mutex_unlock(&mp_threads_lock);
			errno = ENOMEM;
			return NULL;
		}
		memset(t, 0, sizeof(*t));
		t->free_mask = MP_REC_ALL_FREE;
		t->next = mp_thread_first();
		atomic_store_explicit(&mp_threads, t, memory_order_release);
	}
	if (pthread_setspecific(mp_thread_key, t)) {
		pthread_mutex_unlock(&mp_threads_lock);
		errno = ENOMEM;
		return NULL;
	}
	atomic_store_explicit(&t->alive, 1, memory_order_release);
	pthread_mutex_unlock(&mp_threads_lock);
	mp_thread_self = t;
	return t;
}

void mp_rec_release_slow(struct mp_thread *t)
{
	unsigned j, best = 0;
	uint64_t seq = 0;

	for (j = 0; j < MP_THREAD_RECORDS; j++)
		if (!(t->free_mask & (1u << j)) && t->rec[j].seq >= seq) {
			seq = t->rec[j].seq;
			best = j;
		}
	t->last = best;
}

unsigned mp_rec_count(const struct mp_thread *t, uintptr_t owner, uint32_t kind)
{
	unsigned i, n = 0;

	for (i = 0; t && i < MP_THREAD_RECORDS; i++)
		n += !(t->free_mask & (1u << i)) && (t->rec[i].kind & kind) &&
		     (!owner ||
		      atomic_load_explicit(&t->rec[i].owner, memory_order_relaxed) == owner);
	return n;
}

uint8_t *mp_rec_buffer(struct mp_thread *t, unsigned i, size_t len)
{
	size_t page = mp_page_size();

	if (len > page) {
		if (t->big_len[i] < len) {
			uint8_t *b = realloc(t->big[i], len);

			if (!b)
				return NULL;
			t->big[i] = b;
			t->big_len[i] = (uint32_t)len;
		}
		return t->big[i];
	}
	if (!t->buffers) {
		t->buffers = aligned_alloc(page, MP_THREAD_RECORDS * page);
		if (!t->buffers)
			return NULL;
	}
	return t->buffers + i * page;
}
