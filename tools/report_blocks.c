/*
 * report_blocks.c - density --block with several sizes: the runs of one
 * input side by side, a column per block size (see report_blocks()).
 */
#include <stdio.h>

#include "tools/report.h"
#include "tools/workload.h"

#define CELL "%20s"

static void row_head(FILE *f, const char *label)
{
	fprintf(f, "  %-20s", label);
}

/* The row of @d in @r, or NULL. */
static const struct report_row *find_row(const struct report *r, const struct zpool_driver *d)
{
	for (size_t i = 0; i < r->nr_rows; i++)
		if (r->rows[i].driver == d)
			return &r->rows[i];
	return NULL;
}

static void allocator_row(const struct report *const *r, size_t n, const struct report_row *first,
			  FILE *f)
{
	row_head(f, first->label);
	for (size_t k = 0; k < n; k++) {
		const struct report_row *row = find_row(r[k], first->driver);
		char cell[40];

		if (!row || row->left_out)
			snprintf(cell, sizeof(cell), "left out");
		else if (row->res->phases <= PHASE_COMPACT)
			snprintf(cell, sizeof(cell), "failed");
		else
			snprintf(cell, sizeof(cell), "%.1f / %.1f %%",
				 pct_ideal(&row->res->phase[PHASE_FILL]),
				 pct_ideal(&row->res->phase[PHASE_COMPACT]));
		fprintf(f, CELL, cell);
	}
	fputc('\n', f);
}

static void workload_rows(const struct report *const *r, size_t n, FILE *f)
{
	char cell[40];

	row_head(f, "objects stored");
	for (size_t k = 0; k < n; k++)
		fprintf(f, CELL, fmt_count(cell, sizeof(cell), r[k]->wl->nr_pages));
	fputc('\n', f);
	row_head(f, "compression ratio");
	for (size_t k = 0; k < n; k++) {
		snprintf(cell, sizeof(cell), "%.2f", wl_ratio(r[k]->wl));
		fprintf(f, CELL, cell);
	}
	fputc('\n', f);
	row_head(f, "stored / input");
	for (size_t k = 0; k < n; k++) {
		const struct workload *wl = r[k]->wl;
		double in = (double)wl->trace_len * (double)wl->block_size;

		snprintf(cell, sizeof(cell), "%.1f %%",
			 in ? 100.0 * (double)wl->stored_bytes / in : 0);
		fprintf(f, CELL, cell);
	}
	fputc('\n', f);
}

static void ideal_rows(const struct report *const *r, size_t n, FILE *f)
{
	char cell[40];

	row_head(f, "ideal after fill");
	for (size_t k = 0; k < n; k++) {
		const struct phase_result *p = phase_ref(r[k], PHASE_FILL);

		fprintf(f, CELL, p ? fmt_bytes(cell, sizeof(cell), p->live_bytes) : "-");
	}
	fputc('\n', f);
	row_head(f, "single-page bound");
	for (size_t k = 0; k < n; k++) {
		const struct phase_result *p = phase_ref(r[k], PHASE_FILL);
		const struct phase_result *c = phase_ref(r[k], PHASE_COMPACT);

		if (p && c && p->bound_pages)
			snprintf(cell, sizeof(cell), "%.1f / %.1f %%", pct_bound(r[k], p, 0),
				 pct_bound(r[k], c, 0));
		else
			snprintf(cell, sizeof(cell), "-");
		fprintf(f, CELL, cell);
	}
	fputc('\n', f);
}

void report_blocks(const struct report *const *r, size_t n, FILE *f)
{
	char cell[40];

	if (!n)
		return;
	fprintf(f, "\nblock sizes on the same input: %% of ideal after the fill / "
		   "after compaction\n");
	row_head(f, "block");
	for (size_t k = 0; k < n; k++) {
		snprintf(cell, sizeof(cell), "%zu KiB", r[k]->wl->block_size / 1024);
		fprintf(f, CELL, cell);
	}
	fputc('\n', f);
	workload_rows(r, n, f);
	ideal_rows(r, n, f);
	for (size_t i = 0; i < r[0]->nr_rows; i++)
		allocator_row(r, n, &r[0]->rows[i], f);
	fputs("  (ideal: the live bytes after the fill; stored / input: all "
	      "stored bytes over all\n"
	      "  bytes read, same-filled ones included; left out: the "
	      "allocator cannot hold objects\n"
	      "  that large, see that run's notes)\n",
	      f);
}
