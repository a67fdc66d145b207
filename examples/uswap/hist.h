/*
 * hist.h - a latency histogram: log-linear buckets (32 per power of two), so
 * that every percentile it gives is within 1/32 of the true value, in a
 * fixed 15 KiB with no allocation. Adding is one relaxed atomic increment:
 * any number of threads may add and read at once (a read is a snapshot
 * that may miss adds in flight).
 */
#ifndef ZSALLOC_EXAMPLES_USWAP_HIST_H
#define ZSALLOC_EXAMPLES_USWAP_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define HIST_SUB_BITS 5 /* 32 buckets per power of two: 1/32 precision */
#define HIST_SUB (1u << HIST_SUB_BITS)
/* Values 0..HIST_SUB-1 get a bucket each; each octave 2^e..2^(e+1)-1 above
 * (e = 5..63) gets HIST_SUB. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	_Atomic uint64_t count[HIST_BUCKETS]; /* values per bucket */
	_Atomic uint64_t n;                   /* == sum of count[] */
	_Atomic uint64_t max;                 /* the largest value, exact */
};

/* hist_reset - empty @h (not while others add). */
void hist_reset(struct hist *h);

/* hist_add - count @value. */
void hist_add(struct hist *h, uint64_t value);

/* hist_merge - add every count of @from to @into. */
void hist_merge(struct hist *into, const struct hist *from);

/*
 * hist_percentile - the value below which @pct percent (0..100) of the
 * counted values lie: the middle of its bucket, never above the maximum.
 * 0 for an empty histogram.
 */
uint64_t hist_percentile(const struct hist *h, double pct);

/* hist_count, hist_max - values counted; the largest (0: none). */
uint64_t hist_count(const struct hist *h);
uint64_t hist_max(const struct hist *h);

#endif /* ZSALLOC_EXAMPLES_USWAP_HIST_H */
