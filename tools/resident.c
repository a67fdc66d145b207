/* resident.c - resident memory and the malloc's give-back (see resident.h). */
#include "tools/resident.h"

#include <dirent.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
typedef void (*mi_collect_fn)(bool);
typedef void (*tc_release_fn)(void);

/* The sum of the "@key: N kB" lines of @path, in bytes; 0 if none. */
static uint64_t sum_kb(const char *path, const char *const *keys, int nkeys)
{
	char line[256];
	uint64_t kb, total = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		for (int k = 0; k < nkeys; k++) {
			size_t len = strlen(keys[k]);

			if (!strncmp(line, keys[k], len) && line[len] == ':' &&
			    sscanf(line + len + 1, "%" SCNu64, &kb) == 1)
				total += kb * 1024;
		}
	fclose(f);
	return total;
}

static uint64_t statm_private(void)
{
	unsigned long resident, shared;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f)
		return 0;
	if (fscanf(f, "%*u %lu %lu", &resident, &shared) != 2)
		resident = shared = 0;
	fclose(f);
	return (uint64_t)(resident - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The bytes the memfds this process holds open have in memory (st_blocks:
 * tmpfs counts the pages it holds, punched holes not). */
static uint64_t memfd_bytes(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	uint64_t total = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char target[64];
		struct stat st;
		int fd = atoi(de->d_name);
		ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);

		if (n <= 0 || fd == dirfd(d))
			continue;
		target[n] = 0;
		if (!strncmp(target, "/memfd:", 7) && !fstat(fd, &st))
			total += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return total;
}

uint64_t resident_bytes(void)
{
	static const char *const pss[] = { "Pss" };
	static const char *const anon[] = { "Pss_Anon" };
	static const char *const pte[] = { "VmPTE" };
	uint64_t bytes = sum_kb("/proc/self/smaps_rollup", anon, 1);

	if (bytes) /* shared memory counted where it lives, mapped or not */
		bytes += memfd_bytes();
	else
		bytes = sum_kb("/proc/self/smaps_rollup", pss, 1);
	if (!bytes)
		bytes = statm_private();
	return bytes + sum_kb("/proc/self/status", pte, 1);
}

/* 1 if the linked malloc is glibc's (none of the others resident_give_back()
 * knows is loaded). */
static int malloc_is_glibc(void)
{
	return !dlsym(RTLD_DEFAULT, "mallctl") && !dlsym(RTLD_DEFAULT, "mi_collect") &&
	       !dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory");
}

/* 1 if @p, just allocated, lies in the heap's space as it was (below the
 * unchanged break @brk, within the main arena's @arena bytes): free space
 * that was there, not a new top or an mmapped block. */
static int from_old_heap(const void *p, const char *brk, size_t arena)
{
	const char *c = p;

	return c && (const char *)sbrk(0) == brk && c < brk && c >= brk - arena;
}

/* Take up the heap's free space, largest blocks first, down to a page:
 * allocated and never written, it stays out of memory (the trim before the
 * baseline gave its pages back) and no later allocation can reuse it. */
static void heap_plug(void)
{
	struct mallinfo2 mi = mallinfo2();
	size_t size = 4096;

	while (size <= mi.fordblks / 2)
		size *= 2;
	while (size >= 4096) {
		const char *brk = sbrk(0);
		void *p = malloc(size - 2 * sizeof(size_t)); /* a chunk of size */

		if (!from_old_heap(p, brk, mi.arena)) {
			free(p);
			size /= 2;
		} /* else kept, never freed: the process is a measuring child */
	}
}

void resident_fresh_malloc(void)
{
	if (!malloc_is_glibc())
		return;
	/* glibc's defaults (DEFAULT_MMAP_THRESHOLD_MIN, DEFAULT_TRIM_THRESHOLD);
	 * setting them also stops their growth. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	malloc_trim(0);
	heap_plug();
}

void resident_give_back(void)
{
	mallctl_fn mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	mi_collect_fn mi_collect = (mi_collect_fn)dlsym(RTLD_DEFAULT, "mi_collect");
	tc_release_fn tc_release = (tc_release_fn)dlsym(RTLD_DEFAULT,
							"MallocExtension_ReleaseFreeMemory");

	if (mallctl)
		mallctl("arena.4096.purge", NULL, NULL, NULL, 0); /* all */
	else if (mi_collect)
		mi_collect(true);
	else if (tc_release)
		tc_release();
	else
		malloc_trim(0);
}
