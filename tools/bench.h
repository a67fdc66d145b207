/*
 * bench.h - timing and reporting shared by the benchmarks of tools/bench.
 *
 * Every figure is the best (lowest) of several repetitions of a timed loop,
 * in ns per operation, so that a neighbour's burst of activity on a shared
 * VM does not decide the result; each table also shows a reference
 * operation measured in the same run, and every figure as a ratio to it.
 */
#ifndef ZSALLOC_TOOLS_BENCH_H
#define ZSALLOC_TOOLS_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keep a value alive so the compiler cannot drop the work behind it. */
static inline void bench_keep(uint64_t v)
{
	__asm__ __volatile__("" : : "r"(v) : "memory");
}

/* The groups of tables (--only). */
#define BENCH_MAPPING 0x1u /* the mapping layer */
/* Pairs and access at each population, map, compact, threads, the small
 * working set. */
#define BENCH_ALLOC 0x2u
#define BENCH_LATENCY 0x4u /* latency percentiles while compacting */
#define BENCH_LARGE 0x8u   /* 16 KiB and 64 KiB objects */
#define BENCH_ALL 0xfu

#define BENCH_MAX_POPS 4

struct bench_options {
	int json;      /* print JSON instead of tables */
	int repeat;    /* repetitions per figure; the best one counts */
	double scale;  /* multiplies iteration counts (--quick: 0.1) */
	int threads;   /* threads of the shared-pool table (--threads) */
	char **traces; /* --trace files for the size mix; none: bundled */
	int nr_traces;
	const char *argv0;             /* to find the bundled traces */
	unsigned groups;               /* BENCH_* (--only) */
	uint64_t pops[BENCH_MAX_POPS]; /* populations of the access tables
					  (--objects) */
	int nr_pops;
	const char *op;        /* --op: one operation, for cachegrind; else NULL */
	const char *allocator; /* --allocator, with --op */
	uint64_t count;        /* --count: operations of --op */
};

/*
 * bench_parse_args - the command line into @o (defaults first). Returns -1
 * to go on, else the exit status: 0 after --help, 2 after a usage error
 * (one line naming the option and the value, then the usage, on stderr).
 * o->traces is allocated: free it.
 */
int bench_parse_args(struct bench_options *o, int argc, char **argv);

/* @n scaled by --quick, at least 1. */
static inline uint64_t bench_iters(const struct bench_options *o, uint64_t n)
{
	uint64_t k = (uint64_t)((double)n * o->scale);

	return k ? k : 1;
}

/* One table of results: rows of (name, ns/op), each shown as a ratio to the
 * row named as the reference (the table's first row when NULL). */
#define BENCH_MAX_ROWS 48
#define BENCH_MAX_TABLES 32

/* Latency tables: p50, p99, p99.9 and the maximum, in ns. */
#define BENCH_NR_PCT 4

struct bench_row {
	char name[64];
	double ns; /* per operation; < 0: not measured (see note) */
	char note[96];
	double pct[BENCH_NR_PCT]; /* latency tables: the percentiles */
	uint64_t count;           /* latency tables: operations timed */
};

struct bench_table {
	char title[256];
	char reference[64];
	int latency; /* rows hold pct[] and count instead of ns */
	int nr_rows;
	struct bench_row rows[BENCH_MAX_ROWS];
};

struct bench_report {
	int nr_tables;
	struct bench_table tables[BENCH_MAX_TABLES];
};

/* A new empty table in @r (NULL when full). */
struct bench_table *bench_table_new(struct bench_report *r, const char *title,
				    const char *reference);
void bench_table_add(struct bench_table *t, const char *name, double ns, const char *note);
/* A latency row: @pct = p50, p99, p99.9, max (ns) of @count operations. */
void bench_table_add_latency(struct bench_table *t, const char *name,
			     const double pct[BENCH_NR_PCT], uint64_t count, const char *note);
void bench_report_print(const struct bench_report *r, const struct bench_options *o, FILE *out);

/* Time @iters calls of @fn(@arg, i) @o->repeat times; the best, in ns/call
 * (@arg must not be NULL: bench_best_each() with one argument). */
double bench_best(const struct bench_options *o, uint64_t iters, void (*fn)(void *arg, uint64_t i),
		  void *arg);

/* The same for @n arguments of one @fn, the runs taken in turn (args 0, 1,
 * .., n - 1, then again): a slow spell of a shared machine falls on all of
 * them alike, so their ratios hold. best[k]: -1 where args[k] is NULL. */
void bench_best_each(const struct bench_options *o, uint64_t iters, int n,
		     void (*fn)(void *arg, uint64_t i), void *const args[], double best[]);

/* One row of a table: @fn(@arg, i) timed @iters times (scaled by --quick). */
struct bench_case {
	const char *name;
	uint64_t iters;
	void (*fn)(void *arg, uint64_t i);
	void *arg;
	const char *note;
};

/* Time each of @cases (bench_best) and add its row to @t. */
void bench_table_run(const struct bench_options *o, struct bench_table *t,
		     const struct bench_case *cases, size_t n);

/* ns for one cache line to go to another thread and back (two threads
 * taking turns on one atomic, @rounds times): what every handoff of a line
 * between two CPUs costs on this machine. A VM's vCPUs may sit on cores
 * that share a cache or not, and that can change between runs. -1 if the
 * second thread could not start. */
double bench_handoff_ns(uint64_t rounds);

/* The benchmark groups; each adds its tables to @r. Return 0 or an errno. */
int bench_mapping(const struct bench_options *o, struct bench_report *r);
int bench_alloc(const struct bench_options *o, struct bench_report *r);

struct mix;
/* The latency table (BENCH_LATENCY): called by bench_alloc() with the size
 * mix and PAGE_MAX bytes to write from. */
int bench_latency(const struct bench_options *o, struct bench_report *r, const struct mix *mix,
		  const uint8_t *src);
/* The small working set of issue 17 (BENCH_ALLOC). */
int bench_small(const struct bench_options *o, struct bench_report *r);
/* The tables of 16 KiB and 64 KiB objects (BENCH_LARGE), likewise. */
int bench_large(const struct bench_options *o, struct bench_report *r, const struct mix *mix,
		const uint8_t *src);

/* --op: o->count operations o->op on o->allocator after filling o->pops[0]
 * objects; prints one line. Returns 0 or an errno. */
int bench_op(const struct bench_options *o);

#endif /* ZSALLOC_TOOLS_BENCH_H */
