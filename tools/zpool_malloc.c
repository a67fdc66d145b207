/*
 * zpool_malloc.c - the malloc the program is linked with (or LD_PRELOADed).
 *
 * store = malloc + memcpy, id = the pointer; release = free. malloc's memory
 * is not pages of a page source: density measures it, as every real
 * allocator, by the growth of a process's resident memory (resident.h), in
 * a process forked for it. usage() is the malloc's own account beside it,
 * where the malloc keeps one: what it holds from the OS now less what was in
 * use at create(): glibc's mallinfo2() (held: arena + hblkhd, the heap and
 * the mmapped chunks, where what malloc_trim() gives back inside the heap
 * stays counted; in use: uordblks + hblkhd), jemalloc's "stats.resident"
 * and "stats.allocated"; others: ZPOOL_NO_ACCOUNT.
 *
 * compact() cannot move objects; it asks the malloc to give free memory back
 * to the OS, the most a malloc can do after a churn (resident_give_back()).
 * The malloc is identified by the symbols these allocators export (looked up
 * with dlsym).
 */
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/resident.h"
#include "tools/zpool.h"

struct malloc_pool {
	uint64_t base;    /* bytes in use at create(), by the malloc's count */
	uint64_t objects; /* live */
};

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef int (*mi_version_fn)(void);
typedef const char *(*tc_version_fn)(int *, int *, const char **);

static void *symbol(const char *name)
{
	return dlsym(RTLD_DEFAULT, name);
}

/* The malloc's own count of the bytes it holds from the OS (@held) or of
 * those its live blocks take (!@held), or ZPOOL_NO_ACCOUNT. */
static uint64_t malloc_account(int held)
{
	mallctl_fn mallctl = (mallctl_fn)symbol("mallctl");
	struct mallinfo2 mi;

	if (mallctl) {
		uint64_t epoch = 1;
		size_t v = 0, len = sizeof(v);

		mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
		if (mallctl(held ? "stats.resident" : "stats.allocated", &v, &len, NULL, 0))
			return ZPOOL_NO_ACCOUNT;
		return v;
	}
	if (symbol("mi_version") || symbol("tc_version"))
		return ZPOOL_NO_ACCOUNT;
	mi = mallinfo2();
	return (uint64_t)(held ? mi.arena : mi.uordblks) + (uint64_t)mi.hblkhd;
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
		snprintf(label, sizeof(label), "jemalloc %.*s", (int)strcspn(v, "-"), v);
	} else if (mi_version) {
		int v = mi_version();

		snprintf(label, sizeof(label), "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
	} else if (tc_version) {
		int major = 0, minor = 0;
		const char *patch = "";

		tc_version(&major, &minor, &patch);
		snprintf(label, sizeof(label), "tcmalloc %d.%d%s", major, minor,
			 patch ? patch : "");
	} else {
		snprintf(label, sizeof(label), "glibc malloc %s", gnu_get_libc_version());
	}
	return label;
}

static void *malloc_create(void)
{
	struct malloc_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	/* What is in use now: the free space the heap holds already (in a
	 * forked child, the parent's) will take objects without the heap
	 * growing, so the account is what it holds less what was in use. */
	p->base = malloc_account(0);
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

	if (!len || len > ZPOOL_MAX_OBJECT)
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
	resident_give_back();
	return 0;
}

static void malloc_usage(void *pool, struct zpool_usage *u)
{
	struct malloc_pool *p = pool;
	uint64_t now = malloc_account(1);

	memset(u, 0, sizeof(*u));
	if (now == ZPOOL_NO_ACCOUNT || p->base == ZPOOL_NO_ACCOUNT)
		u->bytes_used = ZPOOL_NO_ACCOUNT;
	else
		u->bytes_used = now > p->base ? now - p->base : 0;
}

const struct zpool_driver zpool_malloc_driver = {
	.name = "malloc",
	.summary = "the linked malloc (LD_PRELOAD works)",
	.flags = ZPOOL_REAL,
	.create = malloc_create,
	.destroy = malloc_destroy,
	.store = malloc_store,
	.load = malloc_load,
	.release = malloc_release,
	.compact = malloc_compact,
	.usage = malloc_usage,
	.label = malloc_label,
};
