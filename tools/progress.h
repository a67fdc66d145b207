/*
 * progress.h - a progress bar on stderr, for phases that take over a second.
 *
 * Drawn only when enabled (stderr is a terminal and not --quiet), only once
 * the task has run for a second, at most ten times a second; the line is
 * cleared when the task ends, so nothing of it stays in the output.
 */
#ifndef ZSALLOC_TOOLS_PROGRESS_H
#define ZSALLOC_TOOLS_PROGRESS_H

#include <stdint.h>

struct progress {
	int enabled;
	int drawn; /* something is on the line */
	uint64_t start_ns;
	uint64_t last_ns; /* last drawing */
	char label[64];
};

/* CLOCK_MONOTONIC in ns; the least two calls of it in a row take apart
 * (best of 1,000 tries: what timing one operation adds to it). */
uint64_t now_ns(void);
uint64_t now_ns_pair_cost(void);

void progress_start(struct progress *p, int enabled, const char *label);
/* @done of @total; @total 0: no end known, show the count. */
void progress_update(struct progress *p, uint64_t done, uint64_t total);
void progress_end(struct progress *p);

#endif /* ZSALLOC_TOOLS_PROGRESS_H */
