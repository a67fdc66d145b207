/*
 * bench.c - tools/bench: ns per operation of zsalloc's layers, each beside a
 * reference measured in the same run: a bare memcpy for the mapping layer,
 * the linked malloc (LD_PRELOAD chooses it) for the allocators, on the size
 * mix of real compressed pages (the bundled traces, or --trace files).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench.h"

struct bench_table *bench_table_new(struct bench_report *r, const char *title,
				    const char *reference)
{
	struct bench_table *t;

	if (r->nr_tables >= BENCH_MAX_TABLES)
		return NULL;
	t = &r->tables[r->nr_tables++];
	memset(t, 0, sizeof(*t));
	snprintf(t->title, sizeof(t->title), "%s", title);
	snprintf(t->reference, sizeof(t->reference), "%s", reference ? reference : "");
	return t;
}

void bench_table_add(struct bench_table *t, const char *name, double ns, const char *note)
{
	struct bench_row *row;

	if (!t || t->nr_rows >= BENCH_MAX_ROWS)
		return;
	row = &t->rows[t->nr_rows++];
	snprintf(row->name, sizeof(row->name), "%s", name);
	snprintf(row->note, sizeof(row->note), "%s", note ? note : "");
	row->ns = ns;
}

void bench_best_each(const struct bench_options *o, uint64_t iters, int n,
		     void (*fn)(void *arg, uint64_t i), void *const args[], double best[])
{
	int r, k;

	if (!iters)
		iters = 1;
	for (k = 0; k < n; k++)
		best[k] = -1;
	for (r = 0; r < o->repeat; r++)
		for (k = 0; k < n; k++) {
			void *arg = args[k];
			uint64_t t0, i;
			double ns;

			if (!arg)
				continue;
			t0 = bench_now_ns();
			for (i = 0; i < iters; i++)
				fn(arg, i);
			ns = (double)(bench_now_ns() - t0) / (double)iters;
			if (best[k] < 0 || ns < best[k])
				best[k] = ns;
		}
}

double bench_best(const struct bench_options *o, uint64_t iters, void (*fn)(void *arg, uint64_t i),
		  void *arg)
{
	void *const args[1] = { arg };
	double best;

	bench_best_each(o, iters, 1, fn, args, &best);
	return best;
}

void bench_table_run(const struct bench_options *o, struct bench_table *t,
		     const struct bench_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bench_table_add(
			t, cases[i].name,
			bench_best(o, bench_iters(o, cases[i].iters), cases[i].fn, cases[i].arg),
			cases[i].note);
}

static double table_reference_ns(const struct bench_table *t)
{
	int i;

	for (i = 0; i < t->nr_rows; i++)
		if (!strcmp(t->rows[i].name, t->reference))
			return t->rows[i].ns;
	return t->nr_rows ? t->rows[0].ns : -1;
}

static void print_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void bench_table_add_latency(struct bench_table *t, const char *name,
			     const double pct[BENCH_NR_PCT], uint64_t count, const char *note)
{
	struct bench_row *row;

	if (!t || t->nr_rows >= BENCH_MAX_ROWS)
		return;
	bench_table_add(t, name, pct[0], note);
	row = &t->rows[t->nr_rows - 1];
	memcpy(row->pct, pct, sizeof(row->pct));
	row->count = count;
}

static const char *const pct_keys[BENCH_NR_PCT] = { "p50_ns", "p99_ns", "p999_ns", "max_ns" };

static void json_row(const struct bench_table *t, const struct bench_row *row, double ref,
		     FILE *out)
{
	fprintf(out, "\n  {\"name\": ");
	print_json_string(out, row->name);
	if (t->latency) {
		for (int k = 0; k < BENCH_NR_PCT; k++)
			fprintf(out, ", \"%s\": %.0f", pct_keys[k], row->pct[k]);
		fprintf(out, ", \"count\": %llu", (unsigned long long)row->count);
	} else if (row->ns >= 0) {
		fprintf(out, ", \"ns_per_op\": %.2f, \"ratio\": %.3f", row->ns,
			ref > 0 ? row->ns / ref : 0.0);
	} else {
		fprintf(out, ", \"ns_per_op\": null, \"ratio\": null");
	}
	fprintf(out, ", \"note\": ");
	print_json_string(out, row->note);
	fprintf(out, "}");
}

static void json_table(const struct bench_table *t, int first, FILE *out)
{
	double ref = table_reference_ns(t);

	fprintf(out, "%s\n {\"title\": ", first ? "" : ",");
	print_json_string(out, t->title);
	fprintf(out, ", \"reference\": ");
	print_json_string(out, t->reference);
	fprintf(out, ", \"rows\": [");
	for (int j = 0; j < t->nr_rows; j++) {
		fputs(j ? "," : "", out);
		json_row(t, &t->rows[j], ref, out);
	}
	fprintf(out, "]}");
}

static void text_latency_table(const struct bench_table *t, FILE *out)
{
	fprintf(out, "%s (ns, each operation timed alone)\n", t->title);
	fprintf(out, "  %-36s %9s %9s %9s %9s %10s  %s\n", "operation", "p50", "p99", "p99.9",
		"max", "count", "");
	for (int j = 0; j < t->nr_rows; j++) {
		const struct bench_row *row = &t->rows[j];

		fprintf(out, "  %-36s %9.0f %9.0f %9.0f %9.0f %10llu  %s\n", row->name, row->pct[0],
			row->pct[1], row->pct[2], row->pct[3], (unsigned long long)row->count,
			row->note);
	}
}

static void text_table(const struct bench_table *t, FILE *out)
{
	double ref = table_reference_ns(t);

	if (t->latency) {
		text_latency_table(t, out);
		return;
	}
	fprintf(out, "%s (ratio: to %s, same run)\n", t->title, t->reference);
	fprintf(out, "  %-44s %12s %9s  %s\n", "operation", "ns/op", "ratio", "");
	for (int j = 0; j < t->nr_rows; j++) {
		const struct bench_row *row = &t->rows[j];

		if (row->ns < 0)
			fprintf(out, "  %-44s %12s %9s  %s\n", row->name, "-", "-", row->note);
		else
			fprintf(out, "  %-44s %12.1f %8.2fx  %s\n", row->name, row->ns,
				ref > 0 ? row->ns / ref : 0.0, row->note);
	}
}

void bench_report_print(const struct bench_report *r, const struct bench_options *o, FILE *out)
{
	if (o->json)
		fprintf(out, "{\"tables\": [");
	for (int i = 0; i < r->nr_tables; i++) {
		if (o->json) {
			json_table(&r->tables[i], !i, out);
		} else {
			fputs(i ? "\n" : "", out);
			text_table(&r->tables[i], out);
		}
	}
	if (o->json)
		fprintf(out, "\n]}\n");
}

int main(int argc, char **argv)
{
	struct bench_options o;
	static struct bench_report report;
	int status, err = 0;

	status = bench_parse_args(&o, argc, argv);
	if (status >= 0)
		goto out;
	status = 1;
	if (o.op) {
		err = bench_op(&o);
		if (err)
			fprintf(stderr, "bench: --op %s --allocator %s: %s\n", o.op, o.allocator,
				strerror(err));
		status = err ? 1 : 0;
		goto out;
	}
	if (o.groups & BENCH_MAPPING) {
		err = bench_mapping(&o, &report);
		if (err) {
			fprintf(stderr, "bench: mapping: %s\n", strerror(err));
			goto out;
		}
	}
	if (o.groups & ~BENCH_MAPPING) {
		err = bench_alloc(&o, &report);
		if (err) {
			fprintf(stderr, "bench: allocators: %s\n", strerror(err));
			goto out;
		}
	}
	bench_report_print(&report, &o, stdout);
	status = 0;
out:
	free(o.traces);
	return status;
}

/* ---- Cross-thread handoff ----------------------------------------------- */

struct handoff {
	_Alignas(64) _Atomic uint64_t turn; /* even: main thread's turn */
	uint64_t rounds;
};

static void *handoff_peer(void *arg)
{
	struct handoff *h = arg;
	uint64_t i;

	for (i = 0; i < h->rounds; i++) {
		while (atomic_load_explicit(&h->turn, memory_order_acquire) != 2 * i + 1)
			;
		atomic_store_explicit(&h->turn, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

double bench_handoff_ns(uint64_t rounds)
{
	struct handoff h = { .rounds = rounds ? rounds : 1 };
	pthread_t peer;
	uint64_t t0, i;

	atomic_init(&h.turn, 0);
	if (pthread_create(&peer, NULL, handoff_peer, &h))
		return -1;
	t0 = bench_now_ns();
	for (i = 0; i < h.rounds; i++) {
		while (atomic_load_explicit(&h.turn, memory_order_acquire) != 2 * i)
			;
		atomic_store_explicit(&h.turn, 2 * i + 1, memory_order_release);
	}
	while (atomic_load_explicit(&h.turn, memory_order_acquire) != 2 * h.rounds)
		;
	t0 = bench_now_ns() - t0;
	pthread_join(peer, NULL);
	return (double)t0 / (double)h.rounds;
}
