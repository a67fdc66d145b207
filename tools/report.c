/* report.c - tables, CSV and JSON (see report.h; the SVG is in svg.c). */
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
		snprintf(buf, len, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s",
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
	return p->live_bytes ? 100.0 * (double)p->usage.bytes_used /
				       (double)p->live_bytes :
			       0;
}

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, ns < 10 ? "%.1f" : "%.0f", ns);
}

/* The first row that completed @ph, for the phase's objects and bytes. */
static const struct phase_result *phase_ref(const struct report *r,
					    enum phase ph)
{
	for (size_t i = 0; i < r->nr_rows; i++)
		if (r->rows[i].res->phases > (int)ph)
			return &r->rows[i].res->phase[ph];
	return NULL;
}

static void workload_lines(const struct report *r, FILE *f)
{
	const struct workload *wl = r->wl;
	char a[32], b[32], c[32], d[32], e[32];
	uint64_t total = wl->trace_len;

	fprintf(f, "density: %s\n", wl->sources[0] ? wl->sources : "(nothing)");
	fprintf(f,
		"  %s pages of %zu bytes: %s same-filled (%.1f %%, counted, not "
		"stored), %s stored raw (%.1f %%)\n",
		fmt_count(a, sizeof(a), total), wl->page_size,
		fmt_count(c, sizeof(c), wl->same_filled),
		total ? 100.0 * (double)wl->same_filled / (double)total : 0,
		fmt_count(d, sizeof(d), wl->raw),
		wl->nr_pages ? 100.0 * (double)wl->raw / (double)wl->nr_pages : 0);
	fprintf(f, "  %s: %s pages stored, mean %s B, ratio %.2f\n",
		r->compressor, fmt_count(a, sizeof(a), wl->nr_pages),
		fmt_count(b, sizeof(b),
			  wl->nr_pages ? wl->stored_bytes / wl->nr_pages : 0),
		wl->stored_bytes ? (double)wl->nr_pages * (double)wl->page_size /
					   (double)wl->stored_bytes :
				   0);
	if (r->synth && r->synth->lines)
		fprintf(f,
			"  traces: pages synthesized to each line's size; %s of %s "
			"off by a mean %.2f B (at most %llu B)\n",
			fmt_count(a, sizeof(a), r->synth->off_target),
			fmt_count(b, sizeof(b), r->synth->lines),
			r->synth->off_target ? (double)r->synth->abs_error /
						       (double)r->synth->off_target :
					       0,
			(unsigned long long)r->synth->max_error);
	fprintf(f, "  objects: %s%s; churn: %s overwrites, then half discarded; "
		   "seed %llu\n",
		fmt_count(c, sizeof(c), r->objects),
		r->resampled ? " (resampled from the stored pages)" : "",
		fmt_count(e, sizeof(e), r->churn), (unsigned long long)r->seed);
}

static void table_row(FILE *f, const char *label, const struct phase_result *p,
		      int ideal, int rss)
{
	char obj[32], live[32], used[32], meta[32], st[32], ld[32];

	fmt_count(obj, sizeof(obj), p->objects);
	fmt_bytes(live, sizeof(live), p->live_bytes);
	if (ideal) {
		fprintf(f, "  %-20s %11s %11s %11s %8.1f %% %10s %9s %8s\n", label,
			obj, live, live, 100.0, "-", "-", "-");
		return;
	}
	fmt_bytes(used, sizeof(used), p->usage.bytes_used);
	if (rss)
		snprintf(meta, sizeof(meta), "in used");
	else
		fmt_bytes(meta, sizeof(meta), p->usage.metadata_bytes);
	fmt_ns(st, sizeof(st), p->ns_store);
	fmt_ns(ld, sizeof(ld), p->ns_load);
	fprintf(f, "  %-20s %11s %11s %11s %8.1f %% %10s %9s %8s\n", label, obj,
		live, used, pct_ideal(p), meta, st, ld);
}

static const char *const phase_titles[NR_PHASES] = {
	"after fill",
	"after churn",
	"after discarding half",
	"after compaction",
};

void report_table(const struct report *r, FILE *f)
{
	char a[32], b[32];

	workload_lines(r, f);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *ref = phase_ref(r, (enum phase)ph);
		uint64_t verified = UINT64_MAX;
		size_t nr = 0;

		if (!ref)
			break;
		fprintf(f, "\n%s: %s objects, %s live\n", phase_titles[ph],
			fmt_count(a, sizeof(a), ref->objects),
			fmt_bytes(b, sizeof(b), ref->live_bytes));
		fprintf(f, "  %-20s %11s %11s %11s %10s %10s %9s %8s\n",
			"allocator", "objects", "live", "used", "% ideal",
			"metadata", "ns/store", "ns/load");
		table_row(f, "ideal", ref, 1, 0);
		for (size_t i = 0; i < r->nr_rows; i++) {
			const struct report_row *row = &r->rows[i];

			if (row->res->phases <= ph)
				continue;
			table_row(f, row->label, &row->res->phase[ph], 0,
				  !!(row->driver->flags & ZPOOL_RSS));
			if (row->res->phase[ph].verified < verified)
				verified = row->res->phase[ph].verified;
			nr++;
		}
		if (nr)
			fprintf(f, "  verified %s objects in each of %zu "
				   "allocators\n",
				fmt_count(a, sizeof(a), verified), nr);
	}
	fputs("\nnotes:\n", f);
	fputs("  used = pages held x page size + metadata outside the pages; "
	      "% ideal = used / live bytes\n",
	      f);
	for (size_t i = 0; i < r->nr_rows; i++) {
		const struct report_row *row = &r->rows[i];
		const struct phase_result *fill = &row->res->phase[PHASE_FILL];
		const struct phase_result *cmp = &row->res->phase[PHASE_COMPACT];

		if (row->driver->flags & ZPOOL_RSS)
			fprintf(f, "  %s: used = growth of private resident memory "
				   "in a process of its own (metadata included); "
				   "compaction = giving free memory back to the OS\n",
				row->label);
		if (row->res->phases > 0 && fill->usage.oversize_objects)
			fprintf(f, "  %s: %s objects after fill too large for its "
				   "layout, stored one per page\n",
				row->label,
				fmt_count(a, sizeof(a), fill->usage.oversize_objects));
		if (row->res->phases > PHASE_COMPACT && row->driver->compact &&
		    !(row->driver->flags & ZPOOL_RSS))
			fprintf(f, "  %s: compaction freed %s pages in %.3f s\n",
				row->label, fmt_count(a, sizeof(a), cmp->pages_freed),
				cmp->seconds);
		if (row->res->failed)
			fprintf(f, "  %s: FAILED: %s\n", row->label, row->res->error);
	}
	fputs("  seconds per allocator (phases and verification):", f);
	for (size_t i = 0; i < r->nr_rows; i++)
		fprintf(f, "%s %s %.1f", i ? "," : "", r->rows[i].driver->name,
			r->rows[i].seconds);
	fprintf(f, "; in all %.1f s\n", r->seconds);
}

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, double v, int ok)
{
	if (ok)
		fprintf(f, ",%.1f", v);
	else
		fputs(",", f);
}

void report_csv(const struct report *r, FILE *f)
{
	fputs("phase,allocator,objects,live_bytes,bytes_used,pct_ideal,"
	      "metadata_bytes,pages,ns_per_store,ns_per_load,ns_per_release,"
	      "verified,mismatches\n",
	      f);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *ref = phase_ref(r, (enum phase)ph);

		if (!ref)
			break;
		fprintf(f, "%s,ideal,%llu,%llu,%llu,100.0,0,0,,,,,\n",
			phase_names[ph], (unsigned long long)ref->objects,
			(unsigned long long)ref->live_bytes,
			(unsigned long long)ref->live_bytes);
		for (size_t i = 0; i < r->nr_rows; i++) {
			const struct report_row *row = &r->rows[i];
			const struct phase_result *p = &row->res->phase[ph];
			int rss = !!(row->driver->flags & ZPOOL_RSS);

			if (row->res->phases <= ph)
				continue;
			fprintf(f, "%s,", phase_names[ph]);
			csv_field(f, row->label);
			fprintf(f, ",%llu,%llu,%llu,%.1f,",
				(unsigned long long)p->objects,
				(unsigned long long)p->live_bytes,
				(unsigned long long)p->usage.bytes_used,
				pct_ideal(p));
			if (!rss)
				fprintf(f, "%llu,%llu",
					(unsigned long long)p->usage.metadata_bytes,
					(unsigned long long)p->usage.pages);
			else
				fputs(",", f);
			csv_num(f, p->ns_store, p->ns_store >= 0);
			csv_num(f, p->ns_load, p->ns_load >= 0);
			csv_num(f, p->ns_release, p->ns_release >= 0);
			fprintf(f, ",%llu,%llu\n", (unsigned long long)p->verified,
				(unsigned long long)p->mismatches);
		}
	}
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_ns(FILE *f, const char *key, double ns)
{
	if (ns < 0)
		fprintf(f, "\"%s\": null", key);
	else
		fprintf(f, "\"%s\": %.1f", key, ns);
}

void report_json(const struct report *r, FILE *f)
{
	const struct workload *wl = r->wl;

	fputs("{\n  \"tool\": \"density\",\n  \"format\": 1,\n  \"workload\": {\n"
	      "    \"sources\": ",
	      f);
	json_str(f, wl->sources);
	fprintf(f,
		",\n    \"page_size\": %zu,\n    \"compressor\": ",
		wl->page_size);
	json_str(f, r->compressor);
	fprintf(f,
		",\n    \"pages\": %zu,\n    \"same_filled\": %llu,\n"
		"    \"stored_pages\": %zu,\n    \"stored_raw\": %llu,\n"
		"    \"stored_bytes\": %llu,\n    \"objects\": %llu,\n"
		"    \"resampled\": %s,\n    \"churn\": %llu,\n    \"seed\": %llu\n"
		"  },\n  \"seconds\": %.2f,\n  \"phases\": [",
		wl->trace_len, (unsigned long long)wl->same_filled, wl->nr_pages,
		(unsigned long long)wl->raw,
		(unsigned long long)wl->stored_bytes,
		(unsigned long long)r->objects, r->resampled ? "true" : "false",
		(unsigned long long)r->churn, (unsigned long long)r->seed,
		r->seconds);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *ref = phase_ref(r, (enum phase)ph);
		int first = 1;

		if (!ref)
			break;
		fprintf(f,
			"%s\n    {\n      \"phase\": \"%s\",\n"
			"      \"objects\": %llu,\n      \"live_bytes\": %llu,\n"
			"      \"allocators\": [",
			ph ? "," : "", phase_names[ph],
			(unsigned long long)ref->objects,
			(unsigned long long)ref->live_bytes);
		for (size_t i = 0; i < r->nr_rows; i++) {
			const struct report_row *row = &r->rows[i];
			const struct phase_result *p = &row->res->phase[ph];
			int rss = !!(row->driver->flags & ZPOOL_RSS);

			if (row->res->phases <= ph)
				continue;
			fprintf(f, "%s\n        {\"name\": ", first ? "" : ",");
			first = 0;
			json_str(f, row->driver->name);
			fputs(", \"label\": ", f);
			json_str(f, row->label);
			fprintf(f,
				", \"objects\": %llu, \"live_bytes\": %llu, "
				"\"bytes_used\": %llu, \"pct_ideal\": %.2f, ",
				(unsigned long long)p->objects,
				(unsigned long long)p->live_bytes,
				(unsigned long long)p->usage.bytes_used,
				pct_ideal(p));
			if (rss)
				fputs("\"metadata_bytes\": null, \"pages\": null, ", f);
			else
				fprintf(f, "\"metadata_bytes\": %llu, \"pages\": %llu, ",
					(unsigned long long)p->usage.metadata_bytes,
					(unsigned long long)p->usage.pages);
			fprintf(f, "\"oversize_objects\": %llu, ",
				(unsigned long long)p->usage.oversize_objects);
			json_ns(f, "ns_per_store", p->ns_store);
			fputs(", ", f);
			json_ns(f, "ns_per_load", p->ns_load);
			fputs(", ", f);
			json_ns(f, "ns_per_release", p->ns_release);
			fprintf(f,
				", \"seconds\": %.4f, \"pages_freed\": %llu, "
				"\"verified\": %llu, \"mismatches\": %llu, "
				"\"violations\": %llu}",
				p->seconds, (unsigned long long)p->pages_freed,
				(unsigned long long)p->verified,
				(unsigned long long)p->mismatches,
				(unsigned long long)p->violations);
		}
		fputs("\n      ]\n    }", f);
	}
	fputs("\n  ],\n  \"errors\": [", f);
	for (size_t i = 0, n = 0; i < r->nr_rows; i++) {
		if (!r->rows[i].res->failed)
			continue;
		fputs(n++ ? ", " : "", f);
		json_str(f, r->rows[i].res->error);
	}
	fputs("]\n}\n", f);
}
