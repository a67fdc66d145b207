/* zpool_pages.c - helpers of the page-based model drivers (see zpool_pages.h). */
#include "tools/zpool_pages.h"

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

int whole_page_store(struct mp_source *src, const void *buf, size_t len,
		     uint64_t *id)
{
	uint32_t pfn;
	int err;

	if (!len || len > mp_page_size())
		return -EINVAL;
	err = mp_alloc_page(src, &pfn);
	if (err)
		return err;
	memcpy(mp_kmap(src, pfn), buf, len);
	*id = page_id(pfn, 0) | PAGE_ID_WHOLE;
	return 0;
}

int whole_page_load(struct mp_source *src, uint64_t id, void *dst, size_t len)
{
	const void *page = mp_kmap(src, page_id_pfn(id));

	if (!page || len > mp_page_size())
		return -EINVAL;
	memcpy(dst, page, len);
	return 0;
}

int whole_page_release(struct mp_source *src, uint64_t id)
{
	return mp_free_page(src, page_id_pfn(id));
}
