#include "zsmalloc/zsmalloc.h" /* first and alone: it must need nothing else */

#include <string.h>

#include "tests/packaging/include_test.h"

int use_zsmalloc(void)
{
	struct zs_config config = { 0 };
	config.name = "include_test";
	config.map_method = ZS_MAP_COPY;
	struct zs_pool *pool = zs_create_pool_config(&config);
	if (!pool)
		return 1;
	static const char msg[] = "hello from C";
	zs_handle h = zs_malloc(pool, sizeof msg, 0);
	int ok = h != 0 && zs_obj_write(pool, h, msg, sizeof msg) == 0;
	if (ok) {
		const void *p = zs_map_object(pool, h, ZS_MM_RO);
		ok = p && memcmp(p, msg, sizeof msg) == 0;
		if (p)
			zs_unmap_object(pool, h);
	}
	struct zs_stats stats;
	zs_pool_stats(pool, &stats);
	ok = ok && stats.objects == 1 && zs_check(pool) == 0 && zs_free(pool, h) == 0;
	zs_destroy_pool(pool);
	return ok ? 0 : 1;
}
