/*
 * run.h - one allocator through the phases: fill, churn, discard, compact.
 *
 *   fill     store every object of the plan
 *   churn    overwrite N random live objects with other pages of the
 *            workload: store the new page, then release the old object
 *            (zram's order on a page rewrite)
 *   discard  release a random half of the live objects
 *   compact  compact (drivers that can; the malloc driver gives free memory
 *            back to the OS); the others are measured again unchanged
 *
 * After each phase: the pool's usage, then every live object is loaded back
 * (timed alone, for ns per load), then loaded again, compared with the
 * workload's stored bytes, decompressed and checked against the original
 * page's hash, and the driver's own checker runs. Every random choice comes
 * from the plan's seed, so every allocator sees the same operations.
 */
#ifndef ZSALLOC_TOOLS_RUN_H
#define ZSALLOC_TOOLS_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "tools/zpool.h"

struct workload;

enum phase { PHASE_FILL, PHASE_CHURN, PHASE_DISCARD, PHASE_COMPACT, NR_PHASES };

extern const char *const phase_names[NR_PHASES];

/* Classes kept per phase: zsmalloc has 2,526 with 4 KiB pages (8 bytes
 * apart up to 64 KiB, merged where they hold the same), fewer with larger
 * pages. */
#define RUN_MAX_CLASSES 4096

struct run_plan {
	const struct workload *wl;
	uint64_t objects; /* objects to fill */
	int resample;     /* 1: draw them at random; 0: the stored pages in
			     order (objects == the workload's stored pages) */
	uint64_t churn;   /* overwrites in the churn phase */
	uint64_t seed;
	int progress; /* draw a progress bar on stderr */
};

struct phase_result {
	uint64_t objects;         /* live after the phase */
	uint64_t live_bytes;      /* sum of their sizes: the ideal */
	uint64_t used;            /* the figure compared: resident_bytes when
				     measured, else usage.bytes_used */
	uint64_t resident_bytes;  /* growth of resident memory since before the
				     pool was created (run_result.resident) */
	struct zpool_usage usage; /* the allocator's own account */
	double ns_store;          /* per store in the phase; < 0: none */
	double ns_release;        /* per release in the phase; < 0: none */
	double ns_load;           /* per load of every live object after it */
	double seconds;           /* the phase's operations, wall time */
	uint64_t verified;        /* live objects read back and found intact */
	uint64_t mismatches;      /* live objects that were not */
	uint64_t violations;      /* found by the driver's checker */
	uint64_t pages_freed;     /* by compact() */
	uint64_t bound_pages;     /* the live objects' single-page packing bound
				     (bound.h); 0: not computed (an object is
				     larger than a page) */
	uint64_t floor_pages;     /* the volume floor below it */
	int nr_classes;           /* class_stats drivers: entries in classes[] */
	struct zpool_class_stat classes[RUN_MAX_CLASSES];
};

struct run_result {
	int failed;      /* a store/load/release failed: see error */
	int resident;    /* measured as resident memory too (in a
			    process of its own) */
	char error[240]; /* the first error, a full sentence */
	int phases;      /* phases completed */
	struct phase_result phase[NR_PHASES];
};

/*
 * run_driver - create a pool of @d, run the phases of @plan, destroy it.
 * Never exits; failures and mismatches are reported in @res.
 */
void run_driver(const struct zpool_driver *d, const struct run_plan *plan, struct run_result *res);

/*
 * run_driver_isolated - run_driver() in a forked child and bring @res back
 * over a pipe. A ZPOOL_REAL driver is also measured there as the growth of
 * the child's resident memory (resident.h) from just before its pool is
 * created: then phase_result.used is that growth. Returns 0, or -1 if the
 * child could not be run or died (@res says why).
 */
int run_driver_isolated(const struct zpool_driver *d, const struct run_plan *plan,
			struct run_result *res);

#endif /* ZSALLOC_TOOLS_RUN_H */
