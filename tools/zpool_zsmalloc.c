/*
 * zpool_zsmalloc.c - zsmalloc, as three drivers: "zsmalloc" (the default
 * pool: contiguous zspages) and "zsmalloc-scattered" (the kernel's layout,
 * straddlers copied) reach objects by the copy calls (zs_obj_write,
 * zs_obj_read_begin/end: the kernel's path since 2025), "zsmalloc-remap"
 * by zs_map_object/zs_unmap_object on a scattered pool whose straddling
 * objects are shown through remapped two-page windows.
 * id = the zsmalloc handle. Usage (the pool's own account) = its pages,
 * those its cache of emptied zspages keeps included (zs_stats.pages_cached),
 * plus its metadata_bytes (slots, extent records, class records).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mapping/mapping.h"
#include "tools/zpool.h"
#include "zsmalloc/zsmalloc.h"

static void *zs_create_layout(enum zs_layout layout, enum zs_map_method method, const char *name)
{
	struct zs_config cfg = { .name = name, .layout = layout, .map_method = method };

	return zs_create_pool_config(&cfg);
}

static void *zsm_create_copy(void)
{
	return zs_create_layout(ZS_LAYOUT_DEFAULT, ZS_MAP_DEFAULT, "density");
}

static void *zsm_create_scattered(void)
{
	return zs_create_layout(ZS_LAYOUT_SCATTERED, ZS_MAP_COPY, "density-scattered");
}

static void *zsm_create_remap(void)
{
	return zs_create_layout(ZS_LAYOUT_SCATTERED, ZS_MAP_REMAP, "density-remap");
}

static void zsm_destroy(void *pool)
{
	zs_destroy_pool(pool);
}

static int zsm_alloc(void *pool, size_t len, zs_handle *h)
{
	if (!len || len > ZPOOL_MAX_OBJECT)
		return -EINVAL;
	*h = zs_malloc(pool, len, 0);
	if (!*h)
		return -(errno ? errno : ENOMEM); /* ENOSPC: larger than it holds */
	return 0;
}

static int zsm_store_copy(void *pool, const void *buf, size_t len, uint64_t *id)
{
	zs_handle h;
	int err = zsm_alloc(pool, len, &h);

	if (err)
		return err;
	err = zs_obj_write(pool, h, buf, len);
	if (err) {
		zs_free(pool, h);
		return err;
	}
	*id = h;
	return 0;
}

static int zsm_load_copy(void *pool, uint64_t id, void *dst, size_t len)
{
	const void *mem = zs_obj_read_begin(pool, (zs_handle)id, len, dst);

	if (!mem)
		return -(errno ? errno : EINVAL);
	if (mem != dst)
		memcpy(dst, mem, len);
	return zs_obj_read_end(pool, (zs_handle)id, mem);
}

static int zsm_store_map(void *pool, const void *buf, size_t len, uint64_t *id)
{
	zs_handle h;
	void *mem;
	int err = zsm_alloc(pool, len, &h);

	if (err)
		return err;
	mem = zs_map_object(pool, h, ZS_MM_WO);
	if (!mem) {
		err = -(errno ? errno : ENOMEM);
		zs_free(pool, h);
		return err;
	}
	memcpy(mem, buf, len);
	zs_unmap_object(pool, h);
	*id = h;
	return 0;
}

static int zsm_load_map(void *pool, uint64_t id, void *dst, size_t len)
{
	const void *mem = zs_map_object(pool, (zs_handle)id, ZS_MM_RO);

	if (!mem)
		return -(errno ? errno : EINVAL);
	memcpy(dst, mem, len);
	zs_unmap_object(pool, (zs_handle)id);
	return 0;
}

static int zsm_release(void *pool, uint64_t id)
{
	return zs_free(pool, (zs_handle)id);
}

static size_t zsm_compact(void *pool)
{
	return zs_compact(pool);
}

static void zsm_usage(void *pool, struct zpool_usage *u)
{
	struct zs_stats st;

	zs_pool_stats(pool, &st);
	memset(u, 0, sizeof(*u));
	u->pages = zs_get_total_pages(pool); /* cached pages included */
	u->metadata_bytes = st.metadata_bytes;
	u->bytes_used = u->pages * mp_page_size() + u->metadata_bytes;
}

/* The pool's class table, converted. The zs_class_stat array is allocated
 * for the call (2,526 classes with 4 KiB pages, 384 KB) and freed, so that
 * the tool holds no memory of its own that a measurement would count. */
static int zsm_class_stats(void *pool, struct zpool_class_stat *out, size_t n)
{
	int nr = zs_class_stats(pool, NULL, 0);
	struct zs_class_stat *cs;

	if (nr <= 0 || !out || !n)
		return nr;
	if ((size_t)nr < n)
		n = (size_t)nr;
	cs = malloc(n * sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	zs_class_stats(pool, cs, n);
	for (size_t i = 0; i < n; i++)
		out[i] = (struct zpool_class_stat){
			.size = cs[i].size,
			.pages_per_zspage = cs[i].pages_per_zspage,
			.obj_allocated = cs[i].obj_allocated,
			.obj_used = cs[i].obj_used,
			.pages_used = cs[i].pages_used,
		};
	free(cs);
	return nr;
}

static size_t zsm_check(void *pool)
{
	return zs_check(pool);
}

/* What the three drivers share: they differ in how the pool is made and how
 * objects are stored and loaded, not in the calls on the pool as a whole. */
#define ZSM_SHARED                                                                  \
	.flags = ZPOOL_REAL, .destroy = zsm_destroy, .release = zsm_release,        \
	.compact = zsm_compact, .usage = zsm_usage, .class_stats = zsm_class_stats, \
	.check = zsm_check

const struct zpool_driver zpool_zsmalloc_driver = {
	.name = "zsmalloc",
	.summary = "zsmalloc, contiguous zspages, copy calls (zs_obj_write, zs_obj_read_begin)",
	.create = zsm_create_copy,
	.store = zsm_store_copy,
	.load = zsm_load_copy,
	ZSM_SHARED,
};

const struct zpool_driver zpool_zsmalloc_scattered_driver = {
	.name = "zsmalloc-scattered",
	.summary = "zsmalloc, the kernel's scattered zspages, straddlers copied",
	.create = zsm_create_scattered,
	.store = zsm_store_copy,
	.load = zsm_load_copy,
	ZSM_SHARED,
};

const struct zpool_driver zpool_zsmalloc_remap_driver = {
	.name = "zsmalloc-remap",
	.summary = "zsmalloc, zs_map_object through remapped two-page windows",
	.create = zsm_create_remap,
	.store = zsm_store_map,
	.load = zsm_load_map,
	ZSM_SHARED,
};
