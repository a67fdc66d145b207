/*
 * shard.c - which shard a thread allocates in.
 *
 * Per-class locks alone do not let two threads scale: with a steady mix of
 * sizes both threads go through every class, and each alloc or free then
 * pulls the class's lock, lists, zspage record and slot lines from the
 * other CPU's cache (on the 2-vCPU VM we measure on, 80 to 570 ns a round
 * trip: two threads ran 1.1x to 2.3x one thread). So a pool holds its
 * classes once per shard, and a thread allocates in the shard it was given
 * when it first allocated: the number with the fewest live threads. A pool
 * with n shards uses that number modulo n; the pick balances live threads
 * first over the shards of a default pool (n = the CPUs, up to
 * ZS_MAX_SHARDS), then over the numbers themselves, lowest on a tie: up to
 * ZS_MAX_SHARDS live threads have distinct numbers.
 */
#include <pthread.h>

#include "zsmalloc/internal.h"

__thread uint8_t zs_shard_tls __attribute__((tls_model("initial-exec")));

static pthread_mutex_t shard_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned live[ZS_MAX_SHARDS]; /* live threads per shard number */
static pthread_key_t shard_key;
static pthread_once_t shard_once = PTHREAD_ONCE_INIT;
static int shard_key_err;

static void shard_exit(void *arg)
{
	unsigned s = (unsigned)(uintptr_t)arg - 1;

	pthread_mutex_lock(&shard_lock);
	live[s]--;
	pthread_mutex_unlock(&shard_lock);
	zs_shard_tls = 0;
}

static void shard_key_create(void)
{
	shard_key_err = pthread_key_create(&shard_key, shard_exit);
}

static unsigned default_shards(void)
{
	unsigned n = mp_cpu_count();

	return n < ZS_MAX_SHARDS ? n : ZS_MAX_SHARDS;
}

static unsigned shard_pick_locked(void)
{
	unsigned load[ZS_MAX_SHARDS] = { 0 }, s, best = 0, n = default_shards();

	for (s = 0; s < ZS_MAX_SHARDS; s++)
		load[s % n] += live[s];
	for (s = 1; s < ZS_MAX_SHARDS; s++)
		if (load[s % n] < load[best % n] ||
		    (load[s % n] == load[best % n] && live[s] < live[best]))
			best = s;
	return best;
}

unsigned zs_shard_attach(void)
{
	unsigned s;

	pthread_once(&shard_once, shard_key_create);
	pthread_mutex_lock(&shard_lock);
	s = shard_pick_locked();
	if (shard_key_err || pthread_setspecific(shard_key, (void *)(uintptr_t)(s + 1))) {
		pthread_mutex_unlock(&shard_lock);
		zs_shard_tls = 1; /* not counted: allocate in shard 0 */
		return 0;
	}
	live[s]++;
	pthread_mutex_unlock(&shard_lock);
	zs_shard_tls = (uint8_t)(s + 1);
	return s;
}

uint32_t zs_default_shards(void)
{
	return default_shards();
}
