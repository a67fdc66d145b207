/* zpool.c - the table of drivers (see zpool.h). */
#include "tools/zpool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct zpool_driver *const drivers[] = {
	/* the real allocators (ZPOOL_REAL) */
	&zpool_zsmalloc_driver,
	&zpool_zsmalloc_scattered_driver,
	&zpool_zsmalloc_remap_driver,
	&zpool_xvmalloc_driver,
	&zpool_malloc_driver,
	/* models of the kernel's other allocators */
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

static int holds_here(const struct zpool_driver *d, size_t len)
{
	void *buf = calloc(1, len ? len : 1), *pool = d->create();
	uint64_t id = 0;
	int err = !buf || !pool ? -ENOMEM : d->store(pool, buf, len, &id);

	if (!err)
		err = d->release(pool, id);
	if (pool)
		d->destroy(pool);
	free(buf);
	return err;
}

int zpool_holds(const struct zpool_driver *d, size_t len)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(-holds_here(d, len) & 0xff); /* errnos are below 256 */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? -WEXITSTATUS(status) : -ECHILD;
}
