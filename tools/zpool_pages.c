/* zpool_pages.c - helpers of the page-based model drivers (see zpool_pages.h). */
#include "tools/zpool_pages.h"

#include "tools/zpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int pfn_table_reserve(void **table, size_t *cap, size_t elem, uint32_t pfn)
{
	size_t want = *cap ? *cap : 64;
	void *grown;

	if (pfn < *cap)
		return 0;
	while (want <= pfn)
		want *= 2;
	grown = realloc(*table, want * elem);
	if (!grown)
		return -ENOMEM;
	memset((char *)grown + *cap * elem, 0, (want - *cap) * elem);
	*table = grown;
	*cap = want;
	return 0;
}

struct mp_source *model_source_create(const char *name)
{
	struct mp_config cfg = { .name = name };

	return mp_create(&cfg);
}

struct page_run {
	uint32_t n;     /* pages */
	uint32_t pfn[]; /* [n] */
};

static size_t run_bytes(uint32_t n)
{
	return sizeof(struct page_run) + n * sizeof(uint32_t);
}

uint32_t page_run_pages(size_t len)
{
	size_t need = (len + mp_page_size() - 1) / mp_page_size();
	uint32_t n = 1;

	while (n < need)
		n *= 2;
	return n;
}

/* A run of @n > 1 pages: the record, its pages taken. */
static struct page_run *run_alloc(struct mp_source *src, uint32_t n)
{
	struct page_run *r = malloc(run_bytes(n));
	uint32_t k;

	if (!r)
		return NULL;
	r->n = n;
	for (k = 0; k < n; k++)
		if (mp_alloc_page(src, &r->pfn[k]))
			break;
	if (k == n)
		return r;
	mp_free_pages(src, r->pfn, k);
	free(r);
	return NULL;
}

int page_runs_store(struct page_runs *runs, const void *buf, size_t len, uint32_t pages,
		    uint64_t *id)
{
	size_t ps = mp_page_size();
	struct page_run *r;
	uint32_t pfn;
	int err;

	if (!len || len > (size_t)pages * ps)
		return -EINVAL;
	if (pages == 1) {
		err = mp_alloc_page(runs->src, &pfn);
		if (err)
			return err;
		memcpy(mp_kmap(runs->src, pfn), buf, len);
		*id = page_id(pfn, 0) | PAGE_ID_WHOLE;
		runs->objects++;
		return 0;
	}
	r = run_alloc(runs->src, pages);
	if (!r)
		return -ENOMEM;
	for (size_t at = 0; at < len; at += ps)
		memcpy(mp_kmap(runs->src, r->pfn[at / ps]), (const char *)buf + at,
		       len - at < ps ? len - at : ps);
	runs->record_bytes += run_bytes(pages);
	runs->objects++;
	*id = PAGE_ID_WHOLE | PAGE_ID_RUN | (uint64_t)(uintptr_t)r;
	return 0;
}

static struct page_run *id_run(uint64_t id)
{
	return (struct page_run *)(uintptr_t)(id & ~(PAGE_ID_WHOLE | PAGE_ID_RUN));
}

int page_runs_load(const struct page_runs *runs, uint64_t id, void *dst, size_t len)
{
	size_t ps = mp_page_size();
	const struct page_run *r;

	if (!(id & PAGE_ID_RUN)) {
		const void *page = mp_kmap(runs->src, page_id_pfn(id));

		if (!page || len > ps)
			return -EINVAL;
		memcpy(dst, page, len);
		return 0;
	}
	r = id_run(id);
	if (len > (size_t)r->n * ps)
		return -EINVAL;
	for (size_t at = 0; at < len; at += ps)
		memcpy((char *)dst + at, mp_kmap(runs->src, r->pfn[at / ps]),
		       len - at < ps ? len - at : ps);
	return 0;
}

int page_runs_release(struct page_runs *runs, uint64_t id)
{
	struct page_run *r;
	int err;

	if (!(id & PAGE_ID_RUN)) {
		err = mp_free_page(runs->src, page_id_pfn(id));
		runs->objects -= !err;
		return err;
	}
	r = id_run(id);
	err = mp_free_pages(runs->src, r->pfn, r->n);
	runs->record_bytes -= run_bytes(r->n);
	runs->objects--;
	free(r);
	return err;
}

void *model_pool_new(size_t size, const char *name)
{
	struct page_runs *runs = calloc(1, size);

	if (!runs)
		return NULL;
	runs->src = model_source_create(name);
	if (!runs->src) {
		free(runs);
		return NULL;
	}
	return runs;
}

void model_pool_free(void *pool)
{
	struct page_runs *runs = pool;

	if (!runs)
		return;
	mp_destroy(runs->src);
	free(runs);
}

int model_page_new(struct page_runs *runs, void **table, size_t *cap, size_t elem, uint32_t *pfn)
{
	int err = mp_alloc_page(runs->src, pfn);

	if (err)
		return err;
	if (pfn_table_reserve(table, cap, elem, *pfn)) {
		mp_free_page(runs->src, *pfn);
		return -ENOMEM;
	}
	memset((char *)*table + (size_t)*pfn * elem, 0, elem);
	return 0;
}

void model_usage(const struct page_runs *runs, uint64_t metadata, struct zpool_usage *u)
{
	struct mp_stats st;

	mp_get_stats(runs->src, &st);
	memset(u, 0, sizeof(*u));
	u->pages = st.pages_used;
	u->metadata_bytes = metadata + runs->record_bytes;
	u->bytes_used = u->pages * mp_page_size() + u->metadata_bytes;
	u->oversize_objects = runs->objects;
}
