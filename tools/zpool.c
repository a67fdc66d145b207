/* zpool.c - the table of drivers (see zpool.h). */
#include "tools/zpool.h"

#include <string.h>

static const struct zpool_driver *const drivers[] = {
	&zpool_zsmalloc_driver,
	&zpool_zsmalloc_scattered_driver,
	&zpool_zsmalloc_remap_driver,
	&zpool_xvmalloc_driver,
	&zpool_malloc_driver,
	&zpool_slub_driver,
	&zpool_slob_driver,
	&zpool_zbud_driver,
};

const struct zpool_driver *const *zpool_drivers(size_t *n)
{
	*n = sizeof(drivers) / sizeof(drivers[0]);
	return drivers;
}

const struct zpool_driver *zpool_find_driver(const char *name)
{
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (!strcmp(drivers[i]->name, name))
			return drivers[i];
	return NULL;
}

const char *zpool_label(const struct zpool_driver *d)
{
	return d->label ? d->label() : d->name;
}
