/* report.c - the tables (see report.h; CSV and JSON in report_data.c, the
 * SVG in svg.c). */
#include "tools/report.h"

#include <string.h>

#include "tools/trace.h"
#include "tools/workload.h"

char *fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len,
			 v < 10    ? "%.2f %s"
			 : v < 100 ? "%.1f %s"
				   : "%.0f %s",
			 v, units[u]);
	return buf;
}

char *fmt_count(char *buf, size_t len, uint64_t n)
{
	char digits[32];
	size_t nd, o = 0;

	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
	nd = strlen(digits);
	for (size_t i = 0; i < nd && o + 2 < len; i++) {
		if (i && (nd - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = 0;
	return buf;
}

double pct_ideal(const struct phase_result *p)
{
	return p->live_bytes ? 100.0 * (double)p->used / (double)p->live_bytes : 0;
}

double pct_account(const struct phase_result *p)
{
	if (p->usage.bytes_used == ZPOOL_NO_ACCOUNT || !p->live_bytes)
		return -1;
	return 100.0 * (double)p->usage.bytes_used / (double)p->live_bytes;
}

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, ns < 10 ? "%.1f" : "%.0f", ns);
}

const struct phase_result *phase_ref(const struct report *r, enum phase ph)
{
	for (size_t i = 0; i < r->nr_rows; i++)
		if (r->rows[i].res->phases > (int)ph)
			return &r->rows[i].res->phase[ph];
	return NULL;
}

double wl_ratio(const struct workload *wl)
{
	return wl->stored_bytes
		       ? (double)wl->nr_pages * (double)wl->block_size / (double)wl->stored_bytes
		       : 0;
}

static void workload_lines(const struct report *r, FILE *f)
{
	const struct workload *wl = r->wl;
	char a[32], b[32], c[32], d[32], e[32];
	uint64_t total = wl->trace_len;

	const char *unit = wl->block_size == wl->page_size ? "pages" : "blocks";

	fprintf(f, "density: %s\n", wl->sources[0] ? wl->sources : "(nothing)");
	if (wl->block_size != wl->page_size)
		fprintf(f,
			"  blocks of %zu KiB: %zu consecutive pages of %zu bytes "
			"compressed as one object (the last block filled up "
			"with zero pages)\n",
			wl->block_size / 1024, wl->block_size / wl->page_size, wl->page_size);
	fprintf(f,
		"  %s %s of %zu bytes: %s same-filled (%.1f %%, counted, not "
		"stored), %s stored raw (%.1f %%)\n",
		fmt_count(a, sizeof(a), total), unit, wl->block_size,
		fmt_count(c, sizeof(c), wl->same_filled),
		total ? 100.0 * (double)wl->same_filled / (double)total : 0,
		fmt_count(d, sizeof(d), wl->raw),
		wl->nr_pages ? 100.0 * (double)wl->raw / (double)wl->nr_pages : 0);
	fprintf(f, "  %s: %s %s stored, mean %s B, ratio %.2f\n", r->compressor,
		fmt_count(a, sizeof(a), wl->nr_pages), unit,
		fmt_count(b, sizeof(b), wl->nr_pages ? wl->stored_bytes / wl->nr_pages : 0),
		wl_ratio(wl));
	if (r->synth && r->synth->lines)
		fprintf(f,
			"  traces: pages synthesized to each line's size; %s of %s "
			"off by a mean %.2f B (at most %llu B)\n",
			fmt_count(a, sizeof(a), r->synth->off_target),
			fmt_count(b, sizeof(b), r->synth->lines),
			r->synth->off_target
				? (double)r->synth->abs_error / (double)r->synth->off_target
				: 0,
			(unsigned long long)r->synth->max_error);
	fprintf(f,
		"  objects: %s%s; churn: %s overwrites, then half discarded; "
		"seed %llu\n",
		fmt_count(c, sizeof(c), r->objects),
		r->resampled ? " (resampled from the stored pages)" : "",
		fmt_count(e, sizeof(e), r->churn), (unsigned long long)r->seed);
}

#define ROW_FMT "  %-20s %10s %8s %9s %10s %8s %10s %9s %8s\n"

static void fmt_pct(char *buf, size_t len, double pct)
{
	if (pct < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f %%", pct);
}

/* The account columns: the allocator's own count, where used is another
 * figure (resident memory); "= used" where it is the account. */
static void account_cells(const struct run_result *res, const struct phase_result *p, char *acc,
			  char *pct, size_t len)
{
	if (!res->resident) {
		snprintf(acc, len, "= used");
		snprintf(pct, len, "=");
	} else if (p->usage.bytes_used == ZPOOL_NO_ACCOUNT) {
		snprintf(acc, len, "-");
		snprintf(pct, len, "-");
	} else {
		fmt_bytes(acc, len, p->usage.bytes_used);
		fmt_pct(pct, len, pct_account(p));
	}
}

static void table_row(FILE *f, const char *label, const struct run_result *res,
		      const struct phase_result *p)
{
	char used[32], pct[32], acc[32], apct[32], meta[32], st[32], ld[32];

	fmt_bytes(used, sizeof(used), p->used);
	fmt_pct(pct, sizeof(pct), pct_ideal(p));
	account_cells(res, p, acc, apct, sizeof(acc));
	if (p->usage.pages || p->usage.metadata_bytes)
		fmt_bytes(meta, sizeof(meta), p->usage.metadata_bytes);
	else
		snprintf(meta, sizeof(meta), "-");
	fmt_ns(st, sizeof(st), p->ns_store);
	fmt_ns(ld, sizeof(ld), p->ns_load);
	fprintf(f, ROW_FMT, label, used, pct, res->resident ? "resident" : "account", acc, apct,
		meta, st, ld);
}

double pct_bound(const struct report *r, const struct phase_result *p, int floor)
{
	uint64_t pages = floor ? p->floor_pages : p->bound_pages;

	return p->live_bytes
		       ? 100.0 * (double)pages * (double)r->wl->page_size / (double)p->live_bytes
		       : 0;
}

static void table_head(FILE *f, const struct report *r, const struct phase_result *ref)
{
	char live[32], used[32], pct[32];

	fmt_bytes(live, sizeof(live), ref->live_bytes);
	fprintf(f, ROW_FMT, "allocator", "used", "% ideal", "measured", "account", "% ideal",
		"metadata", "ns/store", "ns/load");
	fprintf(f, ROW_FMT, "ideal", live, "100.0 %", "-", "-", "-", "-", "-", "-");
	if (!ref->bound_pages)
		return;
	fmt_bytes(used, sizeof(used), ref->bound_pages * r->wl->page_size);
	fmt_pct(pct, sizeof(pct), pct_bound(r, ref, 0));
	fprintf(f, ROW_FMT, "single-page bound", used, pct, "offline", "-", "-", "-", "-", "-");
}

static const char *const phase_titles[NR_PHASES] = {
	"after fill",
	"after churn",
	"after discarding half",
	"after compaction",
};

static void bound_note(const struct report *r, FILE *f)
{
	const struct phase_result *fill = phase_ref(r, PHASE_FILL);

	if (!fill || !fill->bound_pages)
		return;
	fputs("  single-page bound: the live objects packed offline into pages, "
	      "best fit decreasing,\n"
	      "  4-byte header and alignment (xvmalloc's rules): what an "
	      "allocator that keeps each\n"
	      "  object within a page (xvmalloc, slob, zbud) can reach; the "
	      "volume floor below it:\n ",
	      f);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *p = phase_ref(r, (enum phase)ph);

		if (p && p->floor_pages)
			fprintf(f, "%s %.1f %% after %s", ph ? "," : "", pct_bound(r, p, 1),
				phase_names[ph]);
	}
	fputs("\n", f);
}

/* One phase's table: title, head, a row per allocator, the verified line. */
static void phase_table(const struct report *r, enum phase ph, const struct phase_result *ref,
			FILE *f)
{
	uint64_t verified = UINT64_MAX;
	char a[32], b[32];
	size_t nr = 0;

	fprintf(f, "\n%s: %s objects, %s live\n", phase_titles[ph],
		fmt_count(a, sizeof(a), ref->objects), fmt_bytes(b, sizeof(b), ref->live_bytes));
	table_head(f, r, ref);
	for (size_t i = 0; i < r->nr_rows; i++) {
		const struct report_row *row = &r->rows[i];

		if (row->res->phases <= (int)ph)
			continue;
		table_row(f, row->label, row->res, &row->res->phase[ph]);
		if (row->res->phase[ph].verified < verified)
			verified = row->res->phase[ph].verified;
		nr++;
	}
	if (nr)
		fprintf(f, "  verified %s objects in each of %zu allocators\n",
			fmt_count(a, sizeof(a), verified), nr);
}

/* The notes of one allocator's row. */
static void row_notes(const struct report *r, const struct report_row *row, FILE *f)
{
	const struct phase_result *fill = &row->res->phase[PHASE_FILL];
	const struct phase_result *cmp = &row->res->phase[PHASE_COMPACT];
	char a[32];

	if (row->driver == &zpool_malloc_driver)
		fprintf(f,
			"  %s: compaction = giving free memory back to the OS; "
			"account = %s\n",
			row->label,
			fill->usage.bytes_used == ZPOOL_NO_ACCOUNT
				? "none kept"
				: "its own count of what it took from the OS");
	if (row->res->phases > 0 && fill->usage.oversize_objects)
		fprintf(f,
			"  %s: %s objects after fill too large for its layout, "
			"stored alone in %s\n",
			row->label, fmt_count(a, sizeof(a), fill->usage.oversize_objects),
			r->wl->block_size > r->wl->page_size
				? "the smallest power of two of whole pages that "
				  "holds them (kmalloc's page allocator path)"
				: "a page each");
	if (row->res->phases > PHASE_COMPACT && row->driver->compact &&
	    row->driver != &zpool_malloc_driver)
		fprintf(f, "  %s: compaction freed %s pages in %.3f s\n", row->label,
			fmt_count(a, sizeof(a), cmp->pages_freed), cmp->seconds);
	if (row->left_out)
		fprintf(f, "  %s: left out: %s\n", row->label, row->why);
	if (row->res->failed)
		fprintf(f, "  %s: FAILED: %s\n", row->label, row->res->error);
}

void report_table(const struct report *r, FILE *f)
{
	workload_lines(r, f);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *ref = phase_ref(r, (enum phase)ph);

		if (!ref)
			break;
		phase_table(r, (enum phase)ph, ref, f);
	}
	fputs("\nnotes:\n", f);
	fputs("  % ideal = used / live bytes. used, measured as resident: the "
	      "growth of the resident\n"
	      "  memory (pages, memfd pages, page tables) of a process forked for "
	      "that allocator alone:\n"
	      "  all it holds, its library's records, caches and buffers "
	      "included. account: the\n"
	      "  allocator's own count (pages x page size + metadata outside the "
	      "pages; a malloc's\n"
	      "  count of what it holds from the OS); the models' used is their "
	      "account.\n",
	      f);
	bound_note(r, f);
	for (size_t i = 0; i < r->nr_rows; i++)
		row_notes(r, &r->rows[i], f);
	fputs("  seconds per allocator (phases and verification):", f);
	for (size_t i = 0, n = 0; i < r->nr_rows; i++)
		if (!r->rows[i].left_out)
			fprintf(f, "%s %s %.1f", n++ ? "," : "", r->rows[i].driver->name,
				r->rows[i].seconds);
	fprintf(f, "; in all %.1f s\n", r->seconds);
}
