/*
 * density.c - how much memory each allocator needs to hold compressed pages.
 *
 * Why: a compressed-memory store (zram, zswap, a compressed cache) is only
 * worth having if it holds its objects with little waste, and keeps doing so
 * after the store churns. density measures exactly that, on real data:
 *
 *   pages ---> LZ4 ---> objects ---> every allocator, one after another
 *   (--pid, --files,      |           fill -> churn -> discard half -> compact
 *    --trace, default:    |           after each phase: bytes used / live
 *    tools/data traces)   |           bytes, and every live object read back,
 *                         v           decompressed, compared with its page
 *                   same-filled pages: counted, not stored (as zram)
 *                   incompressible: stored raw (page-size objects)
 *
 * Pieces: options.c (command line), workload.c (pages from processes and
 * files, compression, each page kept once with the hash of its original),
 * trace.c (trace files; pages synthesized to a trace's sizes), run.c (the
 * phases, timing and verification of one allocator), zpool*.c (the drivers:
 * every allocator behind one handle-based interface), report.c and svg.c
 * (output), progress.c (the progress bar).
 *
 * Measuring: every real allocator (zsmalloc, xvmalloc, the linked malloc)
 * runs in a forked child, and its figure is the growth of the child's
 * resident memory (resident.h): everything it holds, from the same
 * measurement for all. Its own account (pages times the page size plus its
 * metadata outside the pages; a malloc's count) is printed beside it. The
 * models (SLUB, SLOB, zbud) run here and are figured by their account. Both
 * as a percentage of the live bytes, the ideal. Allocators run one at a
 * time, each from a fresh pool, so a million-object run needs memory for
 * one allocator at a time.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mapping/mapping.h"
#include "tools/datadir.h"
#include "tools/options.h"
#include "tools/progress.h"
#include "tools/report.h"
#include "tools/run.h"
#include "tools/trace.h"
#include "tools/workload.h"
#include "tools/zpool.h"

/* Every *.trace of the bundled data directory, sorted, into o->traces. */
static int default_traces(struct options *o, const char *argv0)
{
	char dir[PATH_MAX], **paths;
	int n, i;

	if (data_dir_find(argv0, dir, sizeof(dir))) {
		fprintf(stderr, "density: no input given and the bundled traces "
				"(tools/data) are not found; give --trace, --pid "
				"or --files\n");
		return -1;
	}
	n = data_dir_traces(dir, &paths);
	if (n <= 0) {
		fprintf(stderr, "density: no .trace file in %s\n", dir);
		return -1;
	}
	for (i = 0; i < n && o->nr_traces < MAX_INPUTS; i++) {
		o->traces[o->nr_traces++] = paths[i];
		paths[i] = NULL; /* o->traces owns it now */
	}
	data_dir_free(paths, n);
	return 0;
}

static int read_inputs(struct options *o, struct workload *wl,
		       struct trace_synth *synth)
{
	for (size_t i = 0; i < o->nr_pids; i++)
		if (workload_add_pid(wl, o->pids[i]))
			return -1;
	for (size_t i = 0; i < o->nr_files; i++)
		if (workload_add_files(wl, o->files[i]))
			return -1;
	if (o->nr_traces) {
		if (trace_synth_init(synth, wl->page_size, o->hc, o->seed)) {
			fprintf(stderr, "density: out of memory\n");
			return -1;
		}
		for (size_t i = 0; i < o->nr_traces; i++)
			if (trace_read(wl, synth, o->traces[i]))
				return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct run_result results[MAX_DRIVERS];
	struct trace_synth synth = { 0 };
	struct report rep = { 0 };
	struct workload wl;
	struct options o;
	struct run_plan plan;
	uint64_t t0 = now_ns();
	int status = 0, err;

	if (options_parse(&o, argc, argv)) {
		options_free(&o);
		return 2;
	}
	if (o.help) {
		options_help(stdout);
		options_free(&o);
		return 0;
	}
	if (!o.nr_pids && !o.nr_files && !o.nr_traces &&
	    default_traces(&o, argv[0])) {
		options_free(&o);
		return 1;
	}
	if (workload_init(&wl, mp_page_size(), o.hc)) {
		fprintf(stderr, "density: cannot reserve memory for the workload\n");
		options_free(&o);
		return 1;
	}
	wl.max_pages = o.max_pages;
	progress_start(&wl.reading, !o.quiet && isatty(STDERR_FILENO),
		       "reading pages");
	err = read_inputs(&o, &wl, &synth);
	progress_end(&wl.reading);
	if (err) {
		status = 1;
		goto out;
	}
	if (o.save_trace) {
		err = trace_write(&wl, o.save_trace, o.hc ? "LZ4 HC" : "LZ4");

		if (err) {
			fprintf(stderr, "density: --save-trace %s: %s\n",
				o.save_trace, strerror(-err));
			status = 1;
			goto out;
		}
	}
	if (!wl.nr_pages) {
		fprintf(stderr, "density: nothing to store: %zu pages read, %llu "
				"same-filled, %llu unreadable\n",
			wl.trace_len, (unsigned long long)wl.same_filled,
			(unsigned long long)wl.unreadable);
		status = 1;
		goto out;
	}

	plan = (struct run_plan){
		.wl = &wl,
		.objects = o.objects ? o.objects : wl.nr_pages,
		.resample = o.objects != 0,
		.seed = o.seed,
		.progress = !o.quiet && isatty(STDERR_FILENO),
	};
	plan.churn = o.churn_set ? o.churn : plan.objects;
	rep = (struct report){ .wl = &wl, .synth = o.nr_traces ? &synth : NULL,
			       .compressor = o.hc ? "LZ4 HC" : "LZ4",
			       .objects = plan.objects, .resampled = plan.resample,
			       .churn = plan.churn, .seed = o.seed };
	/* The drivers measured in a child process first, while this process's
	 * heap holds no free memory left by the models (a child's malloc could
	 * reuse it without its figure growing); rows keep their order. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < o.nr_drivers; i++) {
			const struct zpool_driver *d = o.drivers[i];
			struct report_row *row = &rep.rows[i];
			int isolated = !!(d->flags & ZPOOL_REAL);
			uint64_t t;

			if (isolated != (pass == 0))
				continue;
			row->driver = d;
			row->res = &results[i];
			snprintf(row->label, sizeof(row->label), "%s",
				 zpool_label(d));
			t = now_ns();
			if (isolated)
				run_driver_isolated(d, &plan, row->res);
			else
				run_driver(d, &plan, row->res);
			row->seconds = (double)(now_ns() - t) / 1e9;
			if (row->res->failed) {
				fprintf(stderr, "density: %s\n", row->res->error);
				status = 1;
			}
		}
	rep.nr_rows = o.nr_drivers;
	rep.seconds = (double)(now_ns() - t0) / 1e9;
	if (o.json)
		report_json(&rep, stdout);
	else if (o.csv)
		report_csv(&rep, stdout);
	else
		report_table(&rep, stdout);
	if (o.svg) {
		err = report_svg(&rep, o.svg);

		if (err) {
			fprintf(stderr, "density: --svg %s: %s\n", o.svg,
				strerror(-err));
			status = 1;
		}
	}
out:
	fflush(stdout);
	trace_synth_free(&synth);
	workload_free(&wl);
	options_free(&o);
	return status;
}
