/*
 * zpool_malloc.c - the malloc the program is linked with (or LD_PRELOADed).
 *
 * store = malloc + memcpy, id = the pointer; release = free. malloc's memory
 * is not pages of a page source, so the pool's size is measured the way a
 * person would: the growth of the process's private memory (Private_Clean +
 * Private_Dirty of /proc/self/smaps_rollup) since create(). That takes in the
 * malloc's own headers, free lists and holes, and nothing else the process
 * allocated before create(). In a process forked just before create() (what
 * density does), memory inherited from the parent is shared and not counted
 * until written, so the figure is the malloc's own.
 *
 * compact() cannot move objects; it asks the malloc to give free memory back
 * to the OS, the most a malloc can do after a churn: glibc malloc_trim(0),
 * jemalloc "arena.<all>.purge", mimalloc mi_collect(true), tcmalloc
 * MallocExtension_ReleaseFreeMemory(). The malloc is identified by the
 * symbols these allocators export (looked up with dlsym).
 */
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/zpool.h"

struct malloc_pool {
	uint64_t base;    /* private bytes at create() */
	uint64_t objects; /* live */
};

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef int (*mi_version_fn)(void);
typedef void (*mi_collect_fn)(bool);
typedef const char *(*tc_version_fn)(int *, int *, const char **);
typedef void (*tc_release_fn)(void);

static void *symbol(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/* Private resident bytes of this process; statm's resident - shared when
 * smaps_rollup is missing (kernels before 4.14). */
static uint64_t private_bytes(void)
{
	char line[256];
	uint64_t kb, total = 0;
	unsigned long resident, shared;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if ((sscanf(line, "Private_Clean: %" SCNu64, &kb) == 1) ||
			    (sscanf(line, "Private_Dirty: %" SCNu64, &kb) == 1))
				total += kb * 1024;
		fclose(f);
		return total;
	}
	f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%*u %lu %lu", &resident, &shared) != 2)
		resident = shared = 0;
	fclose(f);
	return (uint64_t)(resident - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

static const char *malloc_label(void)
{
	static char label[64];
	mallctl_fn mallctl = (mallctl_fn)symbol("mallctl");
	mi_version_fn mi_version = (mi_version_fn)symbol("mi_version");
	tc_version_fn tc_version = (tc_version_fn)symbol("tc_version");

	if (mallctl) {
		const char *v = NULL;
		size_t len = sizeof(v);

		if (mallctl("version", &v, &len, NULL, 0) || !v)
			v = "?";
		/* "5.3.0-0-g54eaed1d8b..." -> "5.3.0" */
		snprintf(label, sizeof(label), "jemalloc %.*s",
			 (int)strcspn(v, "-"), v);
	} else if (mi_version) {
		int v = mi_version();

		snprintf(label, sizeof(label), "mimalloc %d.%d.%d", v / 100,
			 v / 10 % 10, v % 10);
	} else if (tc_version) {
		int major = 0, minor = 0;
		const char *patch = "";

		tc_version(&major, &minor, &patch);
		snprintf(label, sizeof(label), "tcmalloc %d.%d%s", major, minor,
			 patch ? patch : "");
	} else {
		snprintf(label, sizeof(label), "glibc malloc %s",
			 gnu_get_libc_version());
	}
	return label;
}

/* Give the malloc's free memory back to the OS: what it can do without
 * moving objects. */
static void release_free_memory(void)
{
	mallctl_fn mallctl = (mallctl_fn)symbol("mallctl");
	mi_collect_fn mi_collect = (mi_collect_fn)symbol("mi_collect");
	tc_release_fn tc_release =
		(tc_release_fn)symbol("MallocExtension_ReleaseFreeMemory");

	if (mallctl)
		mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* all */
	else if (mi_collect)
		mi_collect(true);
	else if (tc_release)
		tc_release();
	else
		malloc_trim(0);
}

static void *malloc_create(void)
{
	struct malloc_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* Free memory that is resident now (in a forked child: touched by the
	 * malloc's own bookkeeping since the fork) would take objects without
	 * growing the figure: give it back first, then take the baseline. */
	release_free_memory();
	p->base = private_bytes();
	return p;
}

static void malloc_destroy(void *pool)
{
	free(pool);
}

static int malloc_store(void *pool, const void *buf, size_t len, uint64_t *id)
{
	struct malloc_pool *p = pool;
	void *obj;

	if (!len || len > (size_t)sysconf(_SC_PAGESIZE))
		return -EINVAL;
	obj = malloc(len);
	if (!obj)
		return -ENOMEM;
	memcpy(obj, buf, len);
	*id = (uint64_t)(uintptr_t)obj;
	p->objects++;
	return 0;
}

static int malloc_load(void *pool, uint64_t id, void *dst, size_t len)
{
	(void)pool;
	if (!id)
		return -EINVAL;
	memcpy(dst, (const void *)(uintptr_t)id, len);
	return 0;
}

static int malloc_release(void *pool, uint64_t id)
{
	struct malloc_pool *p = pool;

	if (!id)
		return -EINVAL;
	free((void *)(uintptr_t)id);
	p->objects--;
	return 0;
}

static size_t malloc_compact(void *pool)
{
	(void)pool;
	release_free_memory();
	return 0;
}

static void malloc_usage(void *pool, struct zpool_usage *u)
{
	struct malloc_pool *p = pool;
	uint64_t now = private_bytes();

	memset(u, 0, sizeof(*u));
	u->bytes_used = now > p->base ? now - p->base : 0;
}

const struct zpool_driver zpool_malloc_driver = {
	.name = "malloc",
	.summary = "the linked malloc (LD_PRELOAD works), measured by private "
		   "resident memory",
	.flags = ZPOOL_RSS,
	.create = malloc_create,
	.destroy = malloc_destroy,
	.store = malloc_store,
	.load = malloc_load,
	.release = malloc_release,
	.compact = malloc_compact,
	.usage = malloc_usage,
	.label = malloc_label,
};
