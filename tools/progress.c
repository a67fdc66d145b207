/* progress.c - the progress bar (see progress.h). */
#include "tools/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define BAR_WIDTH 30

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t now_ns_pair_cost(void)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 1000; i++) {
		uint64_t t0 = now_ns(), t1 = now_ns();

		if (t1 - t0 < best)
			best = t1 - t0;
	}
	return best;
}

void progress_start(struct progress *p, int enabled, const char *label)
{
	memset(p, 0, sizeof(*p));
	p->enabled = enabled;
	p->start_ns = now_ns();
	snprintf(p->label, sizeof(p->label), "%s", label);
}

void progress_update(struct progress *p, uint64_t done, uint64_t total)
{
	char bar[BAR_WIDTH + 1];
	uint64_t now;
	int fill;

	if (!p->enabled)
		return;
	now = now_ns();
	if (now - p->start_ns < 1000000000u || now - p->last_ns < 100000000u)
		return;
	p->last_ns = now;
	p->drawn = 1;
	if (!total) { /* no end known: a count */
		fprintf(stderr, "\r%-36s %llu", p->label, (unsigned long long)done);
		fflush(stderr);
		return;
	}
	fill = (int)(done * BAR_WIDTH / total);
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = 0;
	fprintf(stderr, "\r%-36s [%s] %3d%%", p->label, bar, (int)(done * 100 / total));
	fflush(stderr);
}

void progress_end(struct progress *p)
{
	if (p->drawn)
		fprintf(stderr, "\r%-*s\r", 36 + BAR_WIDTH + 8, "");
	p->drawn = 0;
}
