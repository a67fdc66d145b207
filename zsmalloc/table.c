/*
 * table.c - tables in chunks that never move, readable without a lock.
 *
 *   zs_table.dir --> | cap | retired | chunk[0] chunk[1] ... chunk[cap-1] |
 *                                         |        |
 *                                         v        v
 *                                      [elements] [elements]   (never move)
 *
 * A reader loads the directory and the chunk pointer with acquire loads and
 * may keep using what it read: chunks are freed only with the pool, and a
 * directory that grows is replaced by a copy twice its size while the old
 * one waits on the retired list, also until the pool dies (the retired
 * directories add up to less than the live one).
 */
#include <stdlib.h>
#include <string.h>

#include "zsmalloc/internal.h"

struct zs_dir zs_empty_dir = { .cap = 0 };

int zs_table_add_chunk(struct zs_table *t)
{
	struct zs_dir *d = atomic_load_explicit(&t->dir, memory_order_relaxed);
	uint8_t *chunk;

	if (t->nr_chunks == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 4;
		struct zs_dir *nd = calloc(1, sizeof(*nd) + cap * sizeof(nd->chunk[0]));
		uint32_t i;

		if (!nd)
			return -ENOMEM;
		nd->cap = cap;
		nd->retired = d == &zs_empty_dir ? NULL : d;
		for (i = 0; i < t->nr_chunks; i++)
			atomic_store_explicit(&nd->chunk[i],
					      atomic_load_explicit(&d->chunk[i],
								   memory_order_relaxed),
					      memory_order_relaxed);
		atomic_store_explicit(&t->dir, nd, memory_order_release);
		t->bytes += sizeof(*nd) + cap * sizeof(nd->chunk[0]);
		d = nd;
	}
	chunk = calloc(1, t->chunk_bytes);
	if (!chunk)
		return -ENOMEM;
	atomic_store_explicit(&d->chunk[t->nr_chunks], chunk, memory_order_release);
	t->nr_chunks++;
	t->bytes += t->chunk_bytes;
	return 0;
}

void zs_table_destroy(struct zs_table *t)
{
	struct zs_dir *d = atomic_load_explicit(&t->dir, memory_order_relaxed);
	uint32_t i;

	for (i = 0; i < t->nr_chunks; i++)
		free(atomic_load_explicit(&d->chunk[i], memory_order_relaxed));
	if (d == &zs_empty_dir)
		d = NULL;
	while (d) {
		struct zs_dir *older = d->retired;

		free(d);
		d = older;
	}
	memset(t, 0, sizeof(*t));
	atomic_store_explicit(&t->dir, &zs_empty_dir, memory_order_relaxed);
}

void zs_table_trim(struct zs_table *t, uint32_t keep)
{
	struct zs_dir *d = atomic_load_explicit(&t->dir, memory_order_relaxed);

	/* Lock-free readers may still hold a chunk's address, but they read
	 * nothing in it before confirming the class seq, which the caller
	 * keeps odd (see compact.c). */
	while (t->nr_chunks > keep) {
		uint8_t *chunk;

		t->nr_chunks--;
		chunk = atomic_load_explicit(&d->chunk[t->nr_chunks], memory_order_relaxed);
		atomic_store_explicit(&d->chunk[t->nr_chunks], NULL, memory_order_release);
		free(chunk);
		t->bytes -= t->chunk_bytes;
	}
}
