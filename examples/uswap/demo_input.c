/*
 * demo_input.c - real pages for the demo: a live process's (--pid) and
 * files' (--files).
 *
 * --pid: every page of the process's private writable mappings that is
 * resident and anonymous, or swapped out (/proc/PID/pagemap: bit 63
 * present, 62 swapped, 61 file-backed or shared), read through
 * /proc/PID/mem: what zram would get if the process were swapped out.
 * --files: regular files under each path, in name order, symbolic links
 * not followed and other file systems not entered, cut into pages (the
 * last one padded with zeros).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "examples/uswap/demo.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_BATCH 512

static int open_proc(int pid, const char *what)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr,
			"demo: --pid %d: %s: %s (reading another "
			"process needs the right to ptrace it: root, or the "
			"same user with kernel.yama.ptrace_scope 0)\n",
			pid, path, strerror(errno));
	return fd;
}

/* The anonymous pages of [start, end). Returns 1 when the region is full,
 * 0 to go on. */
static int pid_range(struct sink *s, int pm, int mem, uint64_t start, uint64_t end,
		     unsigned char *page)
{
	const uint64_t ps = s->d->page_size;
	uint64_t e[PM_BATCH];

	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / ps < PM_BATCH ? (end - a) / ps : PM_BATCH;
		ssize_t got = pread(pm, e, n * 8, (off_t)(a / ps * 8));

		if (got <= 0)
			return 0;
		for (uint64_t i = 0; i < (uint64_t)got / 8; i++) {
			int anon = (e[i] & PM_PRESENT) && !(e[i] & PM_FILE);

			if (!anon && !(e[i] & PM_SWAPPED))
				continue;
			if (pread(mem, page, ps, (off_t)(a + i * ps)) != (ssize_t)ps)
				continue;
			if (sink_put(s, page, 0))
				return 1;
		}
		a += (uint64_t)got / 8 * ps;
	}
	return 0;
}

int source_pid(struct sink *s, unsigned char *page)
{
	struct demo *d = s->d;
	char path[64], line[512], perms[8];
	unsigned long long start, end;
	int pm, mem, full = 0;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/maps", d->o.pid);
	if (!(maps = fopen(path, "r"))) {
		fprintf(stderr, "demo: --pid %d: %s: %s\n", d->o.pid, path, strerror(errno));
		return -1;
	}
	pm = open_proc(d->o.pid, "pagemap");
	mem = pm < 0 ? -1 : open_proc(d->o.pid, "mem");
	while (mem >= 0 && !full && fgets(line, sizeof(line), maps))
		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) == 3 && perms[1] == 'w' &&
		    perms[3] == 'p')
			full = pid_range(s, pm, mem, start, end, page);
	fclose(maps);
	if (pm >= 0)
		close(pm);
	if (mem < 0)
		return -1;
	close(mem);
	if (!s->count_only)
		snprintf(d->sources, sizeof(d->sources), "process %d", d->o.pid);
	return 0;
}

/* One file, page by page. 1 when the region is full. */
static int file_pages(struct sink *s, const char *path, unsigned char *page)
{
	const size_t ps = s->d->page_size;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), full = 0;

	if (fd < 0)
		return 0; /* unreadable: left out, as find would list it */
	for (;;) {
		size_t have = 0;
		ssize_t r = 1;

		while (have < ps && (r = read(fd, page + have, ps - have)) > 0)
			have += (size_t)r;
		if (have == 0)
			break;
		memset(page + have, 0, ps - have);
		if ((full = sink_put(s, page, 0)) || r <= 0)
			break;
	}
	close(fd);
	return full;
}

static int walk(struct sink *s, const char *path, dev_t dev, unsigned char *page);

static int walk_dir(struct sink *s, const char *path, dev_t dev, unsigned char *page)
{
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort), full = 0;

	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		char *sub;

		if (!full && strcmp(nm, ".") && strcmp(nm, "..") &&
		    asprintf(&sub, "%s/%s", path, nm) > 0) {
			full = walk(s, sub, dev, page);
			free(sub);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	return full;
}

static int walk(struct sink *s, const char *path, dev_t dev, unsigned char *page)
{
	struct stat st;

	if (lstat(path, &st) != 0 || st.st_dev != dev)
		return 0;
	if (S_ISREG(st.st_mode))
		return file_pages(s, path, page);
	if (S_ISDIR(st.st_mode))
		return walk_dir(s, path, dev, page);
	return 0;
}

int source_files(struct sink *s, unsigned char *page)
{
	struct demo *d = s->d;
	struct stat st;

	for (int i = 0; i < d->o.npaths; i++) {
		const char *p = d->o.paths[i];
		size_t l = strlen(d->sources);

		if (lstat(p, &st) != 0) {
			fprintf(stderr, "demo: --files %s: %s\n", p, strerror(errno));
			return -1;
		}
		if (!s->count_only)
			snprintf(d->sources + l, sizeof(d->sources) - l, "%s%s",
				 l ? ", " : "files under ", p);
		if (walk(s, p, st.st_dev, page))
			break;
	}
	return 0;
}
