/* report_data.c - density's results as CSV and JSON (see report.h). */
#include <stdio.h>

#include "tools/report.h"
#include "tools/workload.h"

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

static void csv_row(FILE *f, enum phase ph, const struct report_row *row, size_t block)
{
	const struct phase_result *p = &row->res->phase[ph];
	int acc = p->usage.bytes_used != ZPOOL_NO_ACCOUNT;

	fprintf(f, "%s,", phase_names[ph]);
	csv_field(f, row->label);
	fprintf(f, ",%llu,%llu,%llu,%.1f,%llu,%llu", (unsigned long long)p->objects,
		(unsigned long long)p->live_bytes, (unsigned long long)p->used, pct_ideal(p),
		(unsigned long long)p->usage.metadata_bytes, (unsigned long long)p->usage.pages);
	csv_num(f, p->ns_store, p->ns_store >= 0);
	csv_num(f, p->ns_load, p->ns_load >= 0);
	csv_num(f, p->ns_release, p->ns_release >= 0);
	fprintf(f, ",%llu,%llu,%s,", (unsigned long long)p->verified,
		(unsigned long long)p->mismatches, row->res->resident ? "resident" : "account");
	if (acc)
		fprintf(f, "%llu", (unsigned long long)p->usage.bytes_used);
	csv_num(f, pct_account(p), acc);
	fprintf(f, ",%zu\n", block);
}

void report_csv(const struct report *r, FILE *f, int header)
{
	size_t block = r->wl->block_size;

	if (header)
		fputs("phase,allocator,objects,live_bytes,bytes_used,pct_ideal,"
		      "metadata_bytes,pages,ns_per_store,ns_per_load,ns_per_release,"
		      "verified,mismatches,measured,account_bytes,account_pct_ideal,"
		      "block_size\n",
		      f);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *ref = phase_ref(r, (enum phase)ph);

		if (!ref)
			break;
		fprintf(f, "%s,ideal,%llu,%llu,%llu,100.0,0,0,,,,,,,,,%zu\n", phase_names[ph],
			(unsigned long long)ref->objects, (unsigned long long)ref->live_bytes,
			(unsigned long long)ref->live_bytes, block);
		if (ref->bound_pages)
			fprintf(f,
				"%s,single-page bound,%llu,%llu,%llu,%.1f,0,%llu,,,,,,"
				"offline,,,%zu\n",
				phase_names[ph], (unsigned long long)ref->objects,
				(unsigned long long)ref->live_bytes,
				(unsigned long long)(ref->bound_pages * r->wl->page_size),
				pct_bound(r, ref, 0), (unsigned long long)ref->bound_pages, block);
		for (size_t i = 0; i < r->nr_rows; i++)
			if (r->rows[i].res->phases > ph)
				csv_row(f, (enum phase)ph, &r->rows[i], block);
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

static void json_workload(const struct report *r, FILE *f)
{
	const struct workload *wl = r->wl;

	fputs("{\n  \"tool\": \"density\",\n  \"format\": 2,\n  \"workload\": {\n"
	      "    \"sources\": ",
	      f);
	json_str(f, wl->sources);
	fprintf(f,
		",\n    \"page_size\": %zu,\n    \"block_size\": %zu,\n"
		"    \"compressor\": ",
		wl->page_size, wl->block_size);
	json_str(f, r->compressor);
	fprintf(f,
		",\n    \"pages\": %zu,\n    \"same_filled\": %llu,\n"
		"    \"stored_pages\": %zu,\n    \"stored_raw\": %llu,\n"
		"    \"stored_bytes\": %llu,\n    \"objects\": %llu,\n"
		"    \"resampled\": %s,\n    \"churn\": %llu,\n    \"seed\": %llu\n"
		"  },\n  \"seconds\": %.2f,\n  \"phases\": [",
		wl->trace_len, (unsigned long long)wl->same_filled, wl->nr_pages,
		(unsigned long long)wl->raw, (unsigned long long)wl->stored_bytes,
		(unsigned long long)r->objects, r->resampled ? "true" : "false",
		(unsigned long long)r->churn, (unsigned long long)r->seed, r->seconds);
}

static void json_sizes(FILE *f, const struct run_result *res, const struct phase_result *p)
{
	fprintf(f,
		", \"objects\": %llu, \"live_bytes\": %llu, "
		"\"bytes_used\": %llu, \"pct_ideal\": %.2f, \"measured\": \"%s\", ",
		(unsigned long long)p->objects, (unsigned long long)p->live_bytes,
		(unsigned long long)p->used, pct_ideal(p), res->resident ? "resident" : "account");
	if (res->resident)
		fprintf(f, "\"resident_bytes\": %llu, ", (unsigned long long)p->resident_bytes);
	else
		fputs("\"resident_bytes\": null, ", f);
	if (p->usage.bytes_used == ZPOOL_NO_ACCOUNT)
		fputs("\"account_bytes\": null, \"account_pct_ideal\": null, ", f);
	else
		fprintf(f, "\"account_bytes\": %llu, \"account_pct_ideal\": %.2f, ",
			(unsigned long long)p->usage.bytes_used, pct_account(p));
	fprintf(f,
		"\"metadata_bytes\": %llu, \"pages\": %llu, "
		"\"oversize_objects\": %llu, ",
		(unsigned long long)p->usage.metadata_bytes, (unsigned long long)p->usage.pages,
		(unsigned long long)p->usage.oversize_objects);
}

static void json_allocator(FILE *f, const struct report_row *row, const struct phase_result *p)
{
	fputs("{\"name\": ", f);
	json_str(f, row->driver->name);
	fputs(", \"label\": ", f);
	json_str(f, row->label);
	json_sizes(f, row->res, p);
	json_ns(f, "ns_per_store", p->ns_store);
	fputs(", ", f);
	json_ns(f, "ns_per_load", p->ns_load);
	fputs(", ", f);
	json_ns(f, "ns_per_release", p->ns_release);
	fprintf(f,
		", \"seconds\": %.4f, \"pages_freed\": %llu, \"verified\": %llu, "
		"\"mismatches\": %llu, \"violations\": %llu}",
		p->seconds, (unsigned long long)p->pages_freed, (unsigned long long)p->verified,
		(unsigned long long)p->mismatches, (unsigned long long)p->violations);
}

static void json_phase(const struct report *r, enum phase ph, const struct phase_result *ref,
		       FILE *f)
{
	int first = 1;

	fprintf(f,
		"%s\n    {\n      \"phase\": \"%s\",\n"
		"      \"objects\": %llu,\n      \"live_bytes\": %llu,\n",
		ph ? "," : "", phase_names[ph], (unsigned long long)ref->objects,
		(unsigned long long)ref->live_bytes);
	if (ref->bound_pages)
		fprintf(f,
			"      \"single_page_bound\": {\"pages\": %llu, "
			"\"pct_ideal\": %.2f, \"floor_pages\": %llu, "
			"\"floor_pct_ideal\": %.2f},\n",
			(unsigned long long)ref->bound_pages, pct_bound(r, ref, 0),
			(unsigned long long)ref->floor_pages, pct_bound(r, ref, 1));
	else
		fputs("      \"single_page_bound\": null,\n", f);
	fputs("      \"allocators\": [", f);
	for (size_t i = 0; i < r->nr_rows; i++) {
		const struct report_row *row = &r->rows[i];

		if (row->res->phases <= (int)ph)
			continue;
		fputs(first ? "\n        " : ",\n        ", f);
		first = 0;
		json_allocator(f, row, &row->res->phase[ph]);
	}
	fputs("\n      ]\n    }", f);
}

void report_json(const struct report *r, FILE *f)
{
	json_workload(r, f);
	for (int ph = 0; ph < NR_PHASES; ph++) {
		const struct phase_result *ref = phase_ref(r, (enum phase)ph);

		if (!ref)
			break;
		json_phase(r, (enum phase)ph, ref, f);
	}
	fputs("\n  ],\n  \"left_out\": [", f);
	for (size_t i = 0, n = 0; i < r->nr_rows; i++) {
		if (!r->rows[i].left_out)
			continue;
		fputs(n++ ? ", " : "", f);
		fputs("{\"name\": ", f);
		json_str(f, r->rows[i].driver->name);
		fputs(", \"why\": ", f);
		json_str(f, r->rows[i].why);
		fputs("}", f);
	}
	fputs("],\n  \"errors\": [", f);
	for (size_t i = 0, n = 0; i < r->nr_rows; i++) {
		if (!r->rows[i].res->failed)
			continue;
		fputs(n++ ? ", " : "", f);
		json_str(f, r->rows[i].res->error);
	}
	fputs("]\n}\n", f);
}
