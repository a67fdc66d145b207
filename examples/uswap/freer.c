/*
 * freer.c - the thread that frees the objects of pages faulted back in.
 *
 * Freeing an object that empties its zspage gives the zspage's pages back
 * to the OS (MADV_DONTNEED), whose TLB flush reaches
 * every CPU running the process (2 to 44 us on the VM we measure on). In
 * the fault handler that cost lands on the next fault whenever faults come
 * back to back. The demo's fault-in p50 (2 threads, 8 alternating runs
 * each, a loaded 2-vCPU VM): median 20.5 us with the handler freeing
 * between faults, 16.8 us with this thread (11-21 us, in 3 runs, with no
 * free at all). So the handler hands each object to this thread, through
 * a ring it alone
 * fills and this thread alone empties, and wakes it only when it has
 * nothing else to do (or the ring is half full). The thread runs at nice
 * 19: it frees when the CPUs have time. A full ring makes the handler free
 * at once, so nothing waits unbounded.
 */
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "examples/uswap/internal.h"
#include "zsmalloc/zsmalloc.h"

static size_t ring_used(struct uswap *u)
{
	return atomic_load_explicit(&u->free_head, memory_order_acquire) -
	       atomic_load_explicit(&u->free_tail, memory_order_acquire);
}

void freer_push(struct uswap *u, zs_handle h)
{
	size_t head = atomic_load_explicit(&u->free_head, memory_order_relaxed);

	if (ring_used(u) == USWAP_FREE_RING) {
		zs_free(u->pool, h);
		return;
	}
	u->free_ring[head % USWAP_FREE_RING] = h;
	atomic_store_explicit(&u->free_head, head + 1, memory_order_release);
	if (ring_used(u) == USWAP_FREE_RING / 2)
		freer_kick(u);
}

void freer_kick(struct uswap *u)
{
	if (!ring_used(u))
		return;
	pthread_mutex_lock(&u->free_lock);
	if (u->freer_sleeping)
		pthread_cond_signal(&u->free_cond);
	pthread_mutex_unlock(&u->free_lock);
}

/* Free everything in the ring. */
static void drain(struct uswap *u)
{
	size_t tail = atomic_load_explicit(&u->free_tail, memory_order_relaxed);

	while (tail != atomic_load_explicit(&u->free_head, memory_order_acquire)) {
		zs_free(u->pool, u->free_ring[tail % USWAP_FREE_RING]);
		atomic_store_explicit(&u->free_tail, ++tail, memory_order_release);
	}
}

void *freer_main(void *arg)
{
	struct uswap *u = arg;

	/* Below the threads that touch memory and the handler; refused
	 * only by an odd policy, and then the default priority does. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	pthread_mutex_lock(&u->free_lock);
	for (;;) {
		atomic_store(&u->freer_busy, 1);
		pthread_mutex_unlock(&u->free_lock);
		drain(u);
		pthread_mutex_lock(&u->free_lock);
		atomic_store(&u->freer_busy, 0);
		if (ring_used(u))
			continue;
		if (u->freer_stop)
			break;
		u->freer_sleeping = 1;
		pthread_cond_wait(&u->free_cond, &u->free_lock);
		u->freer_sleeping = 0;
	}
	pthread_mutex_unlock(&u->free_lock);
	return NULL;
}

void freer_stop(struct uswap *u)
{
	pthread_mutex_lock(&u->free_lock);
	u->freer_stop = 1;
	pthread_cond_signal(&u->free_cond);
	pthread_mutex_unlock(&u->free_lock);
	pthread_join(u->freer, NULL);
}

int freer_idle(struct uswap *u)
{
	return !ring_used(u) && !atomic_load(&u->freer_busy);
}
