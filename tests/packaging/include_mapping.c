#include "mapping/mapping.h" /* first and alone: it must need nothing else */

#include "tests/packaging/include_test.h"

int use_mapping(void)
{
	struct mp_config config = { 0 };
	config.max_pages = 16;
	struct mp_source *src = mp_create(&config);
	if (!src)
		return 1;
	uint32_t pfn = 0;
	int ok = mp_alloc_page(src, &pfn) == 0 && mp_kmap(src, pfn) != NULL &&
		 mp_page_valid(src, pfn) && mp_free_page(src, pfn) == 0;
	struct mp_stats stats;
	mp_get_stats(src, &stats);
	mp_destroy(src);
	return ok && stats.allocs == 1 && mp_page_size() == (size_t)1 << mp_page_shift() ? 0 : 1;
}
