/*
 * blocks.c - a workload's pages regrouped into blocks (workload_blocks(),
 * see workload.h): density --block 16K compresses 16 KiB at a time, as a
 * zram of 16 KiB blocks (or a kernel swapping 16 KiB folios) would.
 *
 * The pages are rebuilt from what the page workload kept of each: its
 * stored bytes (LZ4-decompressed, or raw) or, for a same-filled page, its
 * word. Every input (--pid, --files, traces) is therefore read once, and
 * several block sizes compare on exactly the same bytes.
 */
#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "tools/workload.h"

struct regroup {
	const struct workload *src;
	size_t page;   /* next page of src->trace */
	size_t stored; /* next of src->pages */
	size_t filled; /* next of src->fills */
};

/* Rebuild the next page of the source into @dst. Returns 0 or -EINVAL. */
static int next_page(struct regroup *g, unsigned char *dst)
{
	const struct workload *w = g->src;
	const struct wl_page *p;
	uint64_t word;

	if (!w->trace[g->page++]) {
		word = w->fills[g->filled++];
		for (size_t i = 0; i < w->page_size; i += 8)
			memcpy(dst + i, &word, 8);
		return 0;
	}
	p = &w->pages[g->stored++];
	if (p->size == w->page_size) {
		memcpy(dst, w->arena + p->offset, w->page_size);
		return 0;
	}
	return LZ4_decompress_safe((const char *)w->arena + p->offset, (char *)dst, (int)p->size,
				   (int)w->page_size) == (int)w->page_size
		       ? 0
		       : -EINVAL;
}

static int check_block(const struct workload *pages, size_t block)
{
	if (pages->block_size != pages->page_size || block < pages->page_size ||
	    block % pages->page_size || block > WL_MAX_BLOCK)
		return -EINVAL;
	return 0;
}

int workload_blocks(const struct workload *pages, size_t block, struct workload *out)
{
	struct regroup g = { .src = pages };
	size_t per = block / pages->page_size;
	unsigned char *buf = malloc(block);
	int err = check_block(pages, block);

	memset(out, 0, sizeof(*out));
	if (!err)
		err = workload_init(out, pages->page_size, pages->hc);
	if (err || !buf) {
		free(buf);
		return err ? err : -ENOMEM;
	}
	out->block_size = block;
	memcpy(out->sources, pages->sources, sizeof(out->sources));
	while (!err && g.page < pages->trace_len) {
		size_t k;

		for (k = 0; k < per && g.page < pages->trace_len && !err; k++)
			err = next_page(&g, buf + k * pages->page_size);
		memset(buf + k * pages->page_size, 0, (per - k) * pages->page_size);
		if (!err)
			err = workload_add_page(out, buf, 0);
	}
	free(buf);
	return err;
}
