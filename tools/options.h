/*
 * options.h - density's command line.
 */
#ifndef ZSALLOC_TOOLS_OPTIONS_H
#define ZSALLOC_TOOLS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/zpool.h"

#define MAX_INPUTS 64
#define MAX_DRIVERS 16
#define MAX_BLOCKS 5 /* block sizes of one run: 4K, 8K, 16K, 32K, 64K */

struct options {
	int pids[MAX_INPUTS]; /* --pid */
	size_t nr_pids;
	char *files[MAX_INPUTS]; /* --files PATH... (resolved paths) */
	size_t nr_files;
	char *traces[MAX_INPUTS]; /* --trace FILE */
	size_t nr_traces;
	char *save_trace;   /* --save-trace FILE */
	char *svg;          /* --svg FILE */
	int hc;             /* --lz4hc */
	uint64_t objects;   /* --objects N; 0: the workload as read */
	uint64_t churn;     /* --churn N */
	int churn_set;      /* --churn given (else: the object count) */
	uint64_t seed;      /* --seed N */
	uint64_t max_pages; /* --max-pages N; 0: no limit */
	const struct zpool_driver *drivers[MAX_DRIVERS]; /* --allocators */
	size_t nr_drivers;
	size_t blocks[MAX_BLOCKS]; /* --block: bytes compressed as one
				      object, ascending; default the page */
	size_t nr_blocks;
	int csv, json, quiet, help;
};

/*
 * options_parse - fill @o from argv. Returns 0, or -1 after printing the
 * one-line error ("density: ...") and the usage line on stderr.
 */
int options_parse(struct options *o, int argc, char **argv);
void options_free(struct options *o);

/* The usage line, and the full --help text. */
void options_usage(FILE *f);
void options_help(FILE *f);

/*
 * resolve_path - @path as the user meant it: under `bazel run` the program
 * runs in its runfiles tree, so a relative path is taken relative to
 * $BUILD_WORKING_DIRECTORY (where bazel was started). Returns a new string
 * (free it) or NULL when out of memory.
 */
char *resolve_path(const char *path);

#endif /* ZSALLOC_TOOLS_OPTIONS_H */
