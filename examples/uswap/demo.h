/*
 * demo.h - what the parts of the uswap demo share (demo.c runs the phases;
 * demo_source.c makes the pages; demo_touch.c runs the threads;
 * demo_proc.c reads /proc; demo_report.c prints).
 */
#ifndef ZSALLOC_EXAMPLES_USWAP_DEMO_H
#define ZSALLOC_EXAMPLES_USWAP_DEMO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "examples/uswap/hist.h"

struct uswap;

#define DEMO_MAX_THREADS 64
#define DEMO_MAX_INPUTS 64

enum demo_input { IN_TRACES, IN_PID, IN_FILES };

struct demo_options {
	enum demo_input input;
	const char *paths[DEMO_MAX_INPUTS]; /* traces or files; none: bundled */
	int npaths;
	int pid;
	uint64_t max_pages; /* 0: every page of the input */
	unsigned threads;   /* touching threads */
	double working_set; /* fraction of its pages a thread touches */
	double reclaim;     /* fraction of the region reclaimed first */
	double seconds;     /* of the churn phase */
	uint64_t seed;
	int kernel_faults;
	unsigned batch;
	int quiet; /* no progress line */
};

/* What the demo knows of each page, to check it whenever it is read. */
struct page_rec {
	uint64_t word0; /* the first 8 bytes as they should be (writers
			   change them) */
	uint64_t hash;  /* hash of the other bytes, never changed */
};

struct progress {
	int on; /* stderr is a terminal and not --quiet */
	uint64_t last_ns;
	int drawn;
};

struct demo {
	struct demo_options o;
	struct progress prog; /* of the single-threaded phases */
	struct uswap *u;
	unsigned char *base;
	size_t pages, page_size;
	struct page_rec *rec; /* [pages] */
	uint32_t *want;       /* traces: each page's line size (0: S) */
	char sources[512];    /* what was read, for the header */
	int synthesized;      /* pages made from trace lines */
	atomic_ullong wrong;  /* pages read that were not as recorded */
	atomic_ullong reads;  /* pages read and checked */
	uint64_t anon_base;   /* RssAnon before uswap_create() */
};

/* demo_source.c, demo_input.c */
/* Where pages go: counted, or written into the region and recorded. */
struct sink {
	struct demo *d;
	int count_only;
	uint64_t n;           /* pages taken */
	uint64_t limit;       /* most to take (the region's size) */
	uint32_t *prefix_for; /* synthesis: [size] -> random prefix length */
	uint64_t lines;       /* trace lines synthesized */
};
/* Take one page (@want: its trace size, 0 for S or for real pages).
 * Returns 1 once the region is full. */
int sink_put(struct sink *s, const unsigned char *page, uint32_t want);
int source_pid(struct sink *s, unsigned char *page);
int source_files(struct sink *s, unsigned char *page);

/* Count the input's pages (first pass), then fill the region (second). */
int source_count(struct demo *d, uint64_t *pages);
int source_fill(struct demo *d);
uint64_t page_hash(const unsigned char *page, size_t size);
/* 1 when page @i holds what d->rec[i] says (reads every byte). */
int page_check(struct demo *d, size_t i);

/* demo_proc.c */
struct mem_now {
	uint64_t vm_rss, rss_anon, rss_file, rss_shmem; /* bytes, status */
	uint64_t region_rss;                            /* bytes, smaps */
};
/* @region: the demo region (@len bytes), whose Rss is read from smaps. */
int mem_read(const void *region, size_t len, struct mem_now *m);
/* Thread CPU time in ns. */
uint64_t cpu_ns(void);
uint64_t wall_ns(void);

/* demo_touch.c */
struct touch_result {
	uint64_t touches, faults_timed, writes, reclaims, compactions;
	uint64_t reclaim_cpu_ns; /* the reclaimer thread's CPU time */
	struct hist *latency;    /* of the timed faults, ns (owned) */
	double seconds;
};
/* Phase A: each thread faults in its working set once, in random order,
 * timing each fault; nothing else runs. */
int touch_fault_in(struct demo *d, struct touch_result *r);
/* Phase B: random touches of the working sets, a reclaimer and a
 * compactor running, for o.seconds. */
int touch_churn(struct demo *d, struct touch_result *r);
/* The floor under phase A, same threads and handler: first writes to the
 * @pages never-stored pages of a second region (the handler's path with
 * no store: UFFDIO_COPY of a zero page), each timed. */
int touch_floor(struct demo *d, size_t pages, struct touch_result *r);
void touch_result_free(struct touch_result *r);

/* demo_options.c: 0, or 2 after printing what is wrong (or 1 for
 * --help, after printing the usage on stdout). */
int options_parse(int argc, char **argv, struct demo_options *o);

/* demo_report.c */
void progress_init(struct progress *p, int quiet);
void progress_line(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_done(struct progress *p);
/* "1,234,567" into @buf. */
const char *fmt_count(char *buf, size_t len, uint64_t v);
/* "12.3 MiB" into @buf. */
const char *fmt_bytes(char *buf, size_t len, uint64_t v);
/* "4.8 us" into @buf. */
const char *fmt_ns(char *buf, size_t len, uint64_t ns);
void print_mem(const char *label, const struct mem_now *m);
void print_latency(const char *label, const struct hist *h);

#endif /* ZSALLOC_EXAMPLES_USWAP_DEMO_H */
