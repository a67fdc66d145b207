/*
 * fork.c - the registry of live pools, and what fork() does to their locks.
 *
 * After fork() the child holds a copy-on-write snapshot of every pool: the
 * page source keeps pages in private anonymous memory (mapping.h), and the
 * pool's records are malloc'd. What a snapshot cannot carry over is a lock
 * held at that instant by a thread that does not exist in the child: it
 * would stay held, and the arena it guards could be half updated. So a
 * handler (pthread_atfork) takes every arena lock of every live pool before
 * the fork, in a fixed order (the registry's, newest pool first, and each
 * pool's arenas in index order), and the parent and the child release them
 * after it. Both then see every arena between two operations.
 *
 * Lock order: the registry lock, then arena locks. Nothing else takes two
 * arena locks, and nothing takes the registry lock while it holds one, so
 * the handler cannot deadlock with running threads. The page source's own
 * fork handler (mapping/) takes each source's lock; it was registered
 * before ours (a pool's source is made before the pool is registered), so
 * it runs after ours before the fork, keeping the order arena -> source.
 */
#include <errno.h>
#include <pthread.h>

#include "xvmalloc/internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xv_pool *registry; /* newest first, via reg_next / reg_prev */
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;
static int handlers_err;

static void fork_prepare(void)
{
	struct xv_pool *p;
	unsigned i;

	pthread_mutex_lock(&registry_lock);
	for (p = registry; p; p = p->reg_next)
		for (i = 0; i < p->narenas; i++)
			pthread_mutex_lock(&p->arenas[i]->lock);
}

/* After the fork, in the parent and in the child (whose only thread is the
 * one that forked, the one that holds the locks). */
static void fork_release(void)
{
	struct xv_pool *p;
	unsigned i;

	for (p = registry; p; p = p->reg_next)
		for (i = p->narenas; i-- > 0;)
			pthread_mutex_unlock(&p->arenas[i]->lock);
	pthread_mutex_unlock(&registry_lock);
}

static void handlers_install(void)
{
	handlers_err = pthread_atfork(fork_prepare, fork_release, fork_release);
}

int pool_register(struct xv_pool *pool)
{
	pthread_once(&handlers_once, handlers_install);
	if (handlers_err)
		return handlers_err;
	pthread_mutex_lock(&registry_lock);
	pool->reg_prev = NULL;
	pool->reg_next = registry;
	if (registry)
		registry->reg_prev = pool;
	registry = pool;
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

void pool_unregister(struct xv_pool *pool)
{
	pthread_mutex_lock(&registry_lock);
	if (pool->reg_prev)
		pool->reg_prev->reg_next = pool->reg_next;
	else
		registry = pool->reg_next;
	if (pool->reg_next)
		pool->reg_next->reg_prev = pool->reg_prev;
	pool->reg_next = pool->reg_prev = NULL;
	pthread_mutex_unlock(&registry_lock);
}
