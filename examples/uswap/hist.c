/* hist.c - the log-linear latency histogram (see hist.h). */
#include "examples/uswap/hist.h"

/* Bucket of @v: v itself below HIST_SUB, else the octave's HIST_SUB_BITS
 * bits after the leading one. */
static unsigned bucket_of(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= HIST_SUB_BITS */
	unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);

	return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

/* The smallest value of bucket @b, and its width. */
static uint64_t bucket_low(unsigned b, uint64_t *width)
{
	if (b < HIST_SUB) {
		*width = 1;
		return b;
	}
	unsigned e = b / HIST_SUB + HIST_SUB_BITS - 1;
	uint64_t sub = b % HIST_SUB;

	*width = (uint64_t)1 << (e - HIST_SUB_BITS);
	return ((uint64_t)1 << e) + sub * *width;
}

void hist_reset(struct hist *h)
{
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		atomic_store_explicit(&h->count[b], 0, memory_order_relaxed);
	atomic_store_explicit(&h->n, 0, memory_order_relaxed);
	atomic_store_explicit(&h->max, 0, memory_order_relaxed);
}

static void max_update(_Atomic uint64_t *max, uint64_t v)
{
	uint64_t cur = atomic_load_explicit(max, memory_order_relaxed);

	while (v > cur && !atomic_compare_exchange_weak_explicit(max, &cur, v, memory_order_relaxed,
								 memory_order_relaxed))
		;
}

void hist_add(struct hist *h, uint64_t value)
{
	atomic_fetch_add_explicit(&h->count[bucket_of(value)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
	max_update(&h->max, value);
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		uint64_t c = atomic_load_explicit(&from->count[b], memory_order_relaxed);
		if (c)
			atomic_fetch_add_explicit(&into->count[b], c, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&into->n, atomic_load_explicit(&from->n, memory_order_relaxed),
				  memory_order_relaxed);
	max_update(&into->max, atomic_load_explicit(&from->max, memory_order_relaxed));
}

uint64_t hist_percentile(const struct hist *h, double pct)
{
	uint64_t n = 0, seen = 0, width, rank;

	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		n += atomic_load_explicit(&h->count[b], memory_order_relaxed);
	if (!n)
		return 0;
	if (pct < 0)
		pct = 0;
	rank = pct >= 100 ? n : (uint64_t)(pct / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += atomic_load_explicit(&h->count[b], memory_order_relaxed);
		if (seen >= rank) {
			uint64_t mid = bucket_low(b, &width) + width / 2;
			uint64_t max = hist_max(h);

			return mid > max ? max : mid;
		}
	}
	return hist_max(h);
}

uint64_t hist_count(const struct hist *h)
{
	return atomic_load_explicit(&h->n, memory_order_relaxed);
}

uint64_t hist_max(const struct hist *h)
{
	return atomic_load_explicit(&h->max, memory_order_relaxed);
}
