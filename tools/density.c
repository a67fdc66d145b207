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

static int read_inputs(struct options *o, struct workload *wl, struct trace_synth *synth)
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

/* One block size's run: its objects, the allocators' results, the report. */
struct block_run {
	struct workload blocks;      /* the objects, when not the pages */
	const struct workload *objs; /* &blocks, or the page workload */
	struct run_result *results;  /* [MAX_DRIVERS] */
	struct report rep;
};

/* The objects of @br for @block bytes: the pages themselves, or blocks. */
static int build_objects(const struct workload *pages, size_t block, struct block_run *br)
{
	int err;

	br->results = calloc(MAX_DRIVERS, sizeof(*br->results));
	if (!br->results)
		return -ENOMEM;
	if (block == pages->block_size) {
		br->objs = pages;
		return 0;
	}
	err = workload_blocks(pages, block, &br->blocks);
	br->objs = &br->blocks;
	if (err)
		fprintf(stderr, "density: --block %zuK: %s\n", block / 1024, strerror(-err));
	return err;
}

/* Leave @row out if its allocator cannot hold @wl's largest object. */
static void probe(struct report_row *row, const struct workload *wl)
{
	char a[32];
	int err;

	if (wl->max_size <= wl->page_size)
		return;
	err = zpool_holds(row->driver, wl->max_size);
	if (!err)
		return;
	row->left_out = 1;
	snprintf(row->why, sizeof(row->why),
		 "refuses the largest object of these %zu KiB blocks, %s bytes "
		 "(%s)",
		 wl->block_size / 1024, fmt_count(a, sizeof(a), wl->max_size),
		 err == -ENOSPC ? "ENOSPC: larger than it holds" : strerror(-err));
}

static void run_row(struct report_row *row, const struct run_plan *plan)
{
	uint64_t t = now_ns();

	if (row->driver->flags & ZPOOL_REAL)
		run_driver_isolated(row->driver, plan, row->res);
	else
		run_driver(row->driver, plan, row->res);
	row->seconds = (double)(now_ns() - t) / 1e9;
}

/* @br's plan and report, each allocator's row (left out or not). */
static void plan_rows(const struct options *o, const struct trace_synth *synth,
		      struct block_run *br, struct run_plan *plan)
{
	const struct workload *wl = br->objs;

	*plan = (struct run_plan){
		.wl = wl,
		.objects = o->objects ? o->objects : wl->nr_pages,
		.resample = o->objects != 0,
		.seed = o->seed,
		.progress = !o->quiet && isatty(STDERR_FILENO),
	};
	plan->churn = o->churn_set ? o->churn : plan->objects;
	br->rep = (struct report){ .wl = wl,
				   .synth = synth,
				   .compressor = o->hc ? "LZ4 HC" : "LZ4",
				   .objects = plan->objects,
				   .resampled = plan->resample,
				   .churn = plan->churn,
				   .seed = o->seed,
				   .nr_rows = o->nr_drivers };
	for (size_t i = 0; i < o->nr_drivers; i++) {
		struct report_row *row = &br->rep.rows[i];

		row->driver = o->drivers[i];
		row->res = &br->results[i];
		snprintf(row->label, sizeof(row->label), "%s", zpool_label(row->driver));
		probe(row, wl);
	}
}

/* The allocators of @br measured in a child process (@isolated) or the
 * others through the phases. Returns 0, or 1 if one failed (told). */
static int run_allocators(struct block_run *br, const struct run_plan *plan, int isolated)
{
	uint64_t t0 = now_ns();
	int status = 0;

	for (size_t i = 0; i < br->rep.nr_rows; i++) {
		struct report_row *row = &br->rep.rows[i];

		if (row->left_out || !!(row->driver->flags & ZPOOL_REAL) != isolated)
			continue;
		run_row(row, plan);
		if (row->res->failed) {
			fprintf(stderr, "density: %s\n", row->res->error);
			status = 1;
		}
	}
	br->rep.seconds += (double)(now_ns() - t0) / 1e9;
	return status;
}

static void print_results(const struct options *o, struct block_run *runs, size_t n)
{
	const struct report *reps[MAX_BLOCKS];

	if (o->json && n > 1)
		fputs("{\"tool\": \"density\", \"format\": 2, \"runs\": [\n", stdout);
	for (size_t k = 0; k < n; k++) {
		reps[k] = &runs[k].rep;
		if (o->json) {
			fputs(k ? ",\n" : "", stdout);
			report_json(reps[k], stdout);
		} else if (o->csv) {
			report_csv(reps[k], stdout, !k);
		} else {
			if (n > 1)
				printf("%s=== blocks of %zu KiB ===\n", k ? "\n" : "",
				       runs[k].objs->block_size / 1024);
			report_table(reps[k], stdout);
		}
	}
	if (o->json && n > 1)
		fputs("]}\n", stdout);
	if (!o->json && !o->csv && n > 1)
		report_blocks(reps, n, stdout);
}

/* --svg FILE: FILE for the first block size, FILE-16K.svg (the name before
 * .svg, then the size) for the others. Returns 0 or 1 (told). */
static int write_svgs(const struct options *o, struct block_run *runs, size_t n)
{
	int status = 0;

	for (size_t k = 0; k < n; k++) {
		char path[PATH_MAX];
		size_t len = strlen(o->svg);
		int err;

		if (len > 4 && !strcmp(o->svg + len - 4, ".svg"))
			len -= 4;
		if (k)
			snprintf(path, sizeof(path), "%.*s-%zuK.svg", (int)len, o->svg,
				 runs[k].objs->block_size / 1024);
		else
			snprintf(path, sizeof(path), "%s", o->svg);
		err = report_svg(&runs[k].rep, path);
		if (err) {
			fprintf(stderr, "density: --svg %s: %s\n", path, strerror(-err));
			status = 1;
		}
	}
	return status;
}

/* Read, compress, save the trace if asked. Returns 0 or 1 (told). */
static int read_workload(struct options *o, struct workload *wl, struct trace_synth *synth)
{
	int err;

	wl->max_pages = o->max_pages;
	progress_start(&wl->reading, !o->quiet && isatty(STDERR_FILENO), "reading pages");
	err = read_inputs(o, wl, synth);
	progress_end(&wl->reading);
	if (err)
		return 1;
	if (o->save_trace) {
		err = trace_write(wl, o->save_trace, o->hc ? "LZ4 HC" : "LZ4");
		if (err) {
			fprintf(stderr, "density: --save-trace %s: %s\n", o->save_trace,
				strerror(-err));
			return 1;
		}
	}
	if (!wl->nr_pages) {
		fprintf(stderr,
			"density: nothing to store: %zu pages read, %llu "
			"same-filled, %llu unreadable\n",
			wl->trace_len, (unsigned long long)wl->same_filled,
			(unsigned long long)wl->unreadable);
		return 1;
	}
	return 0;
}

static int run_blocks(struct options *o, const struct workload *wl, const struct trace_synth *synth,
		      struct block_run *runs)
{
	struct run_plan plans[MAX_BLOCKS];
	int status = 0;

	for (size_t k = 0; k < o->nr_blocks; k++) {
		if (build_objects(wl, o->blocks[k], &runs[k]))
			return 1;
		plan_rows(o, synth, &runs[k], &plans[k]);
	}
	/* The allocators measured in a child process first, for every block
	 * size, while this process's heap holds no free memory left by the
	 * models (a child's malloc would take objects into it without its
	 * account growing); rows keep their order. */
	for (int isolated = 1; isolated >= 0; isolated--)
		for (size_t k = 0; k < o->nr_blocks; k++)
			status |= run_allocators(&runs[k], &plans[k], isolated);
	print_results(o, runs, o->nr_blocks);
	if (o->svg)
		status |= write_svgs(o, runs, o->nr_blocks);
	return status;
}

int main(int argc, char **argv)
{
	static struct block_run runs[MAX_BLOCKS];
	struct trace_synth synth = { 0 };
	struct workload wl;
	struct options o;
	int status;

	if (options_parse(&o, argc, argv)) {
		options_free(&o);
		return 2;
	}
	if (o.help) {
		options_help(stdout);
		options_free(&o);
		return 0;
	}
	if (!o.nr_pids && !o.nr_files && !o.nr_traces && default_traces(&o, argv[0])) {
		options_free(&o);
		return 1;
	}
	if (workload_init(&wl, mp_page_size(), o.hc)) {
		fprintf(stderr, "density: cannot reserve memory for the workload\n");
		options_free(&o);
		return 1;
	}
	status = read_workload(&o, &wl, &synth);
	if (!status)
		status = run_blocks(&o, &wl, o.nr_traces ? &synth : NULL, runs);
	fflush(stdout);
	for (size_t k = 0; k < MAX_BLOCKS; k++) {
		if (runs[k].objs == &runs[k].blocks)
			workload_free(&runs[k].blocks);
		free(runs[k].results);
	}
	trace_synth_free(&synth);
	workload_free(&wl);
	options_free(&o);
	return status;
}
