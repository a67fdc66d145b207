/*
 * bound.c - best fit decreasing into pages (see bound.h).
 *
 * Pages are not kept one by one: all that matters for best fit is how many
 * open pages have each amount of free space, and free space comes in
 * BOUND_ALIGN units, so open[u] counts the pages with u free units and a
 * bitmap marks the non-empty counts. Placing a block of k units takes the
 * lowest marked u >= k (a scan of a few words), moves one page from open[u]
 * to open[u - k], or opens a page when no u is marked. The objects are
 * taken by size, largest first, from the histogram.
 */
#include "tools/bound.h"

#include <errno.h>
#include <stdlib.h>

struct bins {
	uint64_t *open;   /* [units + 1]: open pages by free units */
	uint64_t *marked; /* bitmap over open[]: non-zero counts */
	size_t units;     /* units in a page */
	size_t words;
};

static void bins_add(struct bins *b, size_t u, uint64_t n)
{
	if (!b->open[u])
		b->marked[u / 64] |= (uint64_t)1 << (u % 64);
	b->open[u] += n;
}

static void bins_take(struct bins *b, size_t u)
{
	if (!--b->open[u])
		b->marked[u / 64] &= ~((uint64_t)1 << (u % 64));
}

/* The fewest free units >= @k an open page has; > units if none has. */
static size_t bins_best(const struct bins *b, size_t k)
{
	size_t w = k / 64;
	uint64_t bits = b->marked[w] & (~(uint64_t)0 << (k % 64));

	while (!bits && ++w < b->words)
		bits = b->marked[w];
	return bits ? w * 64 + (size_t)__builtin_ctzll(bits) : b->units + 1;
}

/* Place @n blocks of @k units each; returns the pages opened. */
static uint64_t bins_place(struct bins *b, size_t k, uint64_t n)
{
	uint64_t opened = 0;

	while (n) {
		size_t u = bins_best(b, k);

		if (u > b->units) { /* no room: a new page, and the same size
				       into its rest while it fits */
			uint64_t per_page = b->units / k, pages = n / per_page;

			if (pages) {
				bins_add(b, b->units - per_page * k, pages);
				opened += pages;
				n -= pages * per_page;
				continue;
			}
			bins_add(b, b->units - n * k, 1);
			return opened + 1;
		}
		bins_take(b, u);
		bins_add(b, u - k, 1);
		n--;
	}
	return opened;
}

int bound_pack(const uint64_t *hist, size_t page_size, struct bound *out)
{
	struct bins b = { .units = page_size / BOUND_ALIGN };
	uint64_t units_total = 0, raw = 0, pages = 0;

	b.words = b.units / 64 + 1;
	b.open = calloc(b.units + 1, sizeof(*b.open));
	b.marked = calloc(b.words, sizeof(*b.marked));
	if (!b.open || !b.marked) {
		free(b.open);
		free(b.marked);
		return -ENOMEM;
	}
	for (size_t s = page_size; s >= 1; s--) {
		size_t k = (s + BOUND_ALIGN - 1) / BOUND_ALIGN + BOUND_HEADER / BOUND_ALIGN;

		if (!hist[s])
			continue;
		if (k > b.units) {
			raw += hist[s];
			continue;
		}
		units_total += hist[s] * k;
		pages += bins_place(&b, k, hist[s]);
	}
	out->pages = pages + raw;
	out->floor_pages = (units_total + b.units - 1) / b.units + raw;
	free(b.open);
	free(b.marked);
	return 0;
}
