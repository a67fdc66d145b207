/*
 * report.h - density's results as tables, CSV, JSON and SVG.
 */
#ifndef ZSALLOC_TOOLS_REPORT_H
#define ZSALLOC_TOOLS_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/run.h"
#include "tools/zpool.h"

struct workload;
struct trace_synth;

struct report_row {
	const struct zpool_driver *driver;
	char label[64];         /* zpool_label(), taken where it ran */
	int left_out;           /* not run: cannot hold these objects */
	char why[160];          /* when left out: why, a phrase */
	struct run_result *res; /* phases 0 when left out */
	double seconds;         /* the allocator's whole run, verification
				   included */
};

struct report {
	const struct workload *wl;
	const struct trace_synth *synth; /* when traces were read, else NULL */
	const char *compressor;          /* "LZ4" or "LZ4 HC" */
	uint64_t objects;                /* filled */
	int resampled;                   /* objects drawn at random from the pages */
	uint64_t churn;
	uint64_t seed;
	struct report_row rows[16];
	size_t nr_rows;
	double seconds; /* the whole run */
};

/* The tables, one per phase, with the workload line above and notes below. */
void report_table(const struct report *r, FILE *f);
/* One line per phase and row (ideal first), after a header line if
 * @header. */
void report_csv(const struct report *r, FILE *f, int header);
/* One JSON object; keys are stable (see tools/README.md). */
void report_json(const struct report *r, FILE *f);
/* The block sizes of one input side by side (@n runs of one input, each
 * with its own block size): objects, compression, each allocator's % of
 * ideal after the fill and after compaction. */
void report_blocks(const struct report *const *r, size_t n, FILE *f);
/* The charts; returns 0 or a negative errno. */
int report_svg(const struct report *r, const char *path);

/* The compression ratio of the stored objects: their bytes before over
 * after. */
double wl_ratio(const struct workload *wl);

/* Bytes as "93.1 MiB"; counts as "61,024". Return @buf. */
char *fmt_bytes(char *buf, size_t len, uint64_t bytes);
char *fmt_count(char *buf, size_t len, uint64_t n);

/* used (the figure compared) as a percentage of the phase's live bytes;
 * the allocator's own account likewise (-1: it keeps none). */
double pct_ideal(const struct phase_result *p);
double pct_account(const struct phase_result *p);

/* The single-page packing bound of @p's live objects (@floor: its volume
 * floor) as a percentage of its live bytes. */
double pct_bound(const struct report *r, const struct phase_result *p, int floor);

/* The first row that completed @ph, for the phase's objects and bytes. */
const struct phase_result *phase_ref(const struct report *r, enum phase ph);

#endif /* ZSALLOC_TOOLS_REPORT_H */
