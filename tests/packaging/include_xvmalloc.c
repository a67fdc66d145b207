#include "xvmalloc/xvmalloc.h" /* first and alone: it must need nothing else */

#include "tests/packaging/include_test.h"

static int count_used(uint32_t pfn, uint32_t offset, uint32_t size, int used, void *arg)
{
	(void)pfn;
	(void)offset;
	(void)size;
	*(int *)arg += used;
	return 0;
}

int use_xvmalloc(void)
{
	struct xv_config config = { 0 };
	config.arenas = 1;
	config.cache_pages = XV_CACHE_NONE;
	struct xv_pool *pool = xv_create_pool_config(&config);
	if (!pool)
		return 1;
	uint32_t pfn, offset;
	int used = 0;
	int ok = xv_malloc(pool, 100, &pfn, &offset, XV_NOGROW) != 0 && /* no page yet */
		 xv_malloc(pool, 100, &pfn, &offset, 0) == 0 && xv_map(pool, pfn, offset) != NULL &&
		 xv_get_object_size(pool, pfn, offset) == 100 &&
		 xv_walk(pool, count_used, &used) == 0 && used == 1 && xv_check(pool) == 0 &&
		 xv_free(pool, pfn, offset) == 0;
	xv_destroy_pool(pool);
	return ok && xv_max_size() > xv_min_block() ? 0 : 1;
}
