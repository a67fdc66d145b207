#include "xvmalloc/xvmalloc.h" // first and alone: it must need nothing else

#include "tests/packaging/include_test.h"

namespace
{
int count_used(uint32_t, uint32_t, uint32_t, int used, void *arg)
{
	*static_cast<int *>(arg) += used;
	return 0;
}
} // namespace

int use_xvmalloc()
{
	xv_config config{};
	config.arenas = 1;
	config.cache_pages = XV_CACHE_NONE;
	xv_pool *pool = xv_create_pool_config(&config);
	if (pool == nullptr)
		return 1;
	uint32_t pfn = 0, offset = 0;
	int used = 0;
	xv_walker walker = count_used;
	bool ok = xv_malloc(pool, 100, &pfn, &offset, XV_NOGROW) != 0 && // no page yet
		  xv_malloc(pool, 100, &pfn, &offset, 0) == 0 &&
		  xv_map(pool, pfn, offset) != nullptr &&
		  xv_get_object_size(pool, pfn, offset) == 100 &&
		  xv_walk(pool, walker, &used) == 0 && used == 1 && xv_check(pool) == 0 &&
		  xv_free(pool, pfn, offset) == 0;
	xv_destroy_pool(pool);
	return ok && xv_max_size() > xv_min_block() ? 0 : 1;
}
