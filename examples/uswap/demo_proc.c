/* demo_proc.c - resident memory from /proc/self/status and smaps, and the
 * clocks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "examples/uswap/demo.h"

uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "Key:   123 kB" -> bytes into *@out if the line has @key. */
static void kb_field(const char *line, const char *key, uint64_t *out)
{
	size_t l = strlen(key);

	if (!strncmp(line, key, l) && line[l] == ':')
		*out = strtoull(line + l + 1, NULL, 10) * 1024;
}

static int status_read(struct mem_now *m)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		kb_field(line, "VmRSS", &m->vm_rss);
		kb_field(line, "RssAnon", &m->rss_anon);
		kb_field(line, "RssFile", &m->rss_file);
		kb_field(line, "RssShmem", &m->rss_shmem);
	}
	fclose(f);
	return 0;
}

/* Sum of Rss of the mappings that start inside [region, region + len). */
static int smaps_read(const void *region, size_t len, struct mem_now *m)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t lo = (uintptr_t)region, hi = lo + len;
	char line[512];
	int inside = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		uint64_t rss = 0;

		if (sscanf(line, "%llx-%llx ", &a, &b) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			inside = a >= lo && a < hi;
			continue;
		}
		kb_field(line, "Rss", &rss);
		if (inside)
			m->region_rss += rss;
	}
	fclose(f);
	return 0;
}

int mem_read(const void *region, size_t len, struct mem_now *m)
{
	memset(m, 0, sizeof(*m));
	if (status_read(m))
		return -1;
	return region ? smaps_read(region, len, m) : 0;
}
