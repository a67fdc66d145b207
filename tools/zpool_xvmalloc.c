/*
 * zpool_xvmalloc.c - xvmalloc. id = pfn + 1 << 32 | offset (offset >= 4, so
 * never 0). Objects above xv_max_size() (page size - 4: pages stored raw)
 * cannot be held by xvmalloc; compcache stored such pages alone in a page of
 * their own, and so does this driver (counted in oversize_objects). Objects
 * above a page it refuses (-ENOSPC): xvmalloc keeps the seed's single-page
 * objects. Usage = xvmalloc's pages plus its metadata outside them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "tools/zpool.h"
#include "tools/zpool_pages.h"
#include "xvmalloc/xvmalloc.h"

struct xvm_pool {
	struct xv_pool *xv;
	struct page_runs raw; /* objects above xv_max_size(), a page each */
};

static void *xvm_create(void)
{
	struct xvm_pool *p = calloc(1, sizeof(*p));
	struct xv_config cfg = { .arenas = 1 }; /* one thread: the seed's */

	if (!p)
		return NULL;
	p->xv = xv_create_pool_config(&cfg);
	p->raw.src = model_source_create("density-xv-raw");
	if (!p->xv || !p->raw.src) {
		xv_destroy_pool(p->xv);
		mp_destroy(p->raw.src);
		free(p);
		return NULL;
	}
	return p;
}

static void xvm_destroy(void *pool)
{
	struct xvm_pool *p = pool;

	if (!p)
		return;
	xv_destroy_pool(p->xv);
	mp_destroy(p->raw.src);
	free(p);
}

static int xvm_store(void *pool, const void *buf, size_t len, uint64_t *id)
{
	struct xvm_pool *p = pool;
	uint32_t pfn, off;
	void *mem;
	int err;

	if (!len || len > ZPOOL_MAX_OBJECT)
		return -EINVAL;
	if (len > mp_page_size())
		return -ENOSPC;
	if (len > xv_max_size())
		return page_runs_store(&p->raw, buf, len, 1, id);
	err = xv_malloc(p->xv, (uint32_t)len, &pfn, &off, 0);
	if (err)
		return err;
	mem = xv_map(p->xv, pfn, off);
	if (!mem) {
		xv_free(p->xv, pfn, off);
		return -EINVAL;
	}
	memcpy(mem, buf, len);
	xv_unmap(p->xv, pfn, off);
	*id = page_id(pfn, off);
	return 0;
}

static int xvm_load(void *pool, uint64_t id, void *dst, size_t len)
{
	struct xvm_pool *p = pool;
	uint32_t pfn = page_id_pfn(id), off = page_id_offset(id);
	const void *mem;

	if (id & PAGE_ID_WHOLE)
		return page_runs_load(&p->raw, id, dst, len);
	mem = xv_map(p->xv, pfn, off);
	if (!mem)
		return -EINVAL;
	memcpy(dst, mem, len);
	xv_unmap(p->xv, pfn, off);
	return 0;
}

static int xvm_release(void *pool, uint64_t id)
{
	struct xvm_pool *p = pool;

	if (id & PAGE_ID_WHOLE)
		return page_runs_release(&p->raw, id);
	return xv_free(p->xv, page_id_pfn(id), page_id_offset(id));
}

static void xvm_usage(void *pool, struct zpool_usage *u)
{
	struct xvm_pool *p = pool;
	struct xv_stats st;

	xv_get_stats(p->xv, &st);
	/* The page source's resident cache of emptied pages is the pool's. */
	u->pages = st.pages + st.pages_cached + p->raw.objects;
	u->metadata_bytes = st.metadata_bytes + sizeof(*p);
	u->bytes_used = u->pages * mp_page_size() + u->metadata_bytes;
	u->oversize_objects = p->raw.objects;
}

static size_t xvm_check(void *pool)
{
	struct xvm_pool *p = pool;

	return xv_check(p->xv);
}

const struct zpool_driver zpool_xvmalloc_driver = {
	.name = "xvmalloc",
	.summary = "xvmalloc (compcache, 2009): TLSF lists, 4-byte header, "
		   "objects within a page",
	.flags = ZPOOL_REAL,
	.create = xvm_create,
	.destroy = xvm_destroy,
	.store = xvm_store,
	.load = xvm_load,
	.release = xvm_release,
	.usage = xvm_usage,
	.check = xvm_check,
};
