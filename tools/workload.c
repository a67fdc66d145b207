/*
 * workload.c - reading pages from processes and files, compressing them, and
 * keeping each stored page once (see workload.h).
 */
#include "tools/workload.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The arena is one reserved range, touched as it fills: no realloc copies,
 * and it stays out of the malloc heap that the malloc driver measures. */
#define ARENA_RESERVE ((size_t)1 << 40)

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT ((uint64_t)1 << 63)
#define PM_SWAPPED ((uint64_t)1 << 62)
#define PM_FILE ((uint64_t)1 << 61) /* file page or shared anonymous */

/* Pages read from /proc/PID/mem or a file at a time. */
#define READ_PAGES 64

int workload_init(struct workload *wl, size_t page_size, int hc)
{
	memset(wl, 0, sizeof(*wl));
	wl->page_size = page_size;
	wl->block_size = page_size;
	wl->hc = hc;
	wl->arena = mmap(NULL, ARENA_RESERVE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (wl->arena == MAP_FAILED) {
		wl->arena = NULL;
		return -ENOMEM;
	}
	wl->arena_cap = ARENA_RESERVE;
	return 0;
}

void workload_free(struct workload *wl)
{
	if (wl->arena)
		munmap(wl->arena, wl->arena_cap);
	free(wl->pages);
	free(wl->trace);
	free(wl->fills);
	memset(wl, 0, sizeof(*wl));
}

int workload_full(const struct workload *wl)
{
	return wl->max_pages && wl->trace_len >= wl->max_pages;
}

void workload_describe(struct workload *wl, const char *what)
{
	size_t used = strlen(wl->sources);

	snprintf(wl->sources + used, sizeof(wl->sources) - used, "%s%s", used ? ", " : "", what);
}

uint64_t page_hash(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = 0x6a09e667f3bcc908u ^ len, w;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15u;
		h ^= h >> 31;
	}
	h *= 0xbf58476d1ce4e5b9u;
	return h ^ (h >> 29);
}

int page_same_filled(const void *page, size_t len)
{
	const unsigned char *p = page;
	uint64_t first, w;

	memcpy(&first, p, 8);
	for (size_t i = 8; i < len; i += 8) {
		memcpy(&w, p + i, 8);
		if (w != first)
			return 0;
	}
	return 1;
}

int page_compress(const void *page, size_t len, void *dst, int cap, int hc)
{
	if (hc)
		return LZ4_compress_HC(page, dst, (int)len, cap, LZ4HC_CLEVEL_DEFAULT);
	return LZ4_compress_default(page, dst, (int)len, cap);
}

/* Room in *@array (*@cap elements of @elem bytes) for element @used: the
 * capacity doubles (from 4096). Returns 0 or -ENOMEM. */
static int array_reserve(void *array, size_t *cap, size_t used, size_t elem)
{
	void **a = array, *grown;
	size_t want = *cap ? 2 * *cap : 4096;

	if (used < *cap)
		return 0;
	grown = realloc(*a, want * elem);
	if (!grown)
		return -ENOMEM;
	*a = grown;
	*cap = want;
	return 0;
}

static int trace_push(struct workload *wl, uint32_t size)
{
	if (array_reserve(&wl->trace, &wl->trace_cap, wl->trace_len, sizeof(*wl->trace)))
		return -ENOMEM;
	wl->trace[wl->trace_len++] = size;
	return 0;
}

/* Keep the word of a same-filled page (block), in order. */
static int fill_push(struct workload *wl, const void *page)
{
	if (array_reserve(&wl->fills, &wl->fills_cap, wl->same_filled, sizeof(*wl->fills)))
		return -ENOMEM;
	memcpy(&wl->fills[wl->same_filled++], page, 8);
	return trace_push(wl, 0);
}

static int pages_reserve(struct workload *wl)
{
	return array_reserve(&wl->pages, &wl->pages_cap, wl->nr_pages, sizeof(*wl->pages));
}

int workload_add_page(struct workload *wl, const void *page, uint32_t target)
{
	const size_t bs = wl->block_size;
	const int cap = LZ4_compressBound((int)bs);
	unsigned char *dst;
	struct wl_page *rec;
	int size;

	if (wl->trace_len % 4096 == 0)
		progress_update(&wl->reading, wl->trace_len, wl->max_pages);
	if (page_same_filled(page, bs))
		return fill_push(wl, page);
	if (pages_reserve(wl) || wl->arena_len + (size_t)cap > wl->arena_cap)
		return -ENOMEM;
	dst = wl->arena + wl->arena_len;
	size = page_compress(page, bs, dst, cap, wl->hc);
	if (size <= 0 || (size_t)size >= bs) {
		memcpy(dst, page, bs); /* stored raw */
		size = (int)bs;
		wl->raw++;
	}
	rec = &wl->pages[wl->nr_pages++];
	rec->offset = wl->arena_len;
	rec->hash = page_hash(page, bs);
	rec->size = (uint32_t)size;
	rec->target = target;
	wl->arena_len += (size_t)size;
	wl->stored_bytes += (uint64_t)size;
	if ((uint32_t)size > wl->max_size)
		wl->max_size = (uint32_t)size;
	return trace_push(wl, (uint32_t)size);
}

/* --pid */

/* Add the pages of [start, end) that zram would get: present and anonymous,
 * or swapped out. Reads runs of such pages at once. */
static int add_range(struct workload *wl, int mem, int pagemap, uint64_t start, uint64_t end,
		     unsigned char *buf)
{
	const size_t ps = wl->page_size;
	uint64_t pm[READ_PAGES];

	for (uint64_t at = start; at < end && !workload_full(wl);) {
		size_t n = (size_t)((end - at) / ps), got, i, run;

		if (n > READ_PAGES)
			n = READ_PAGES;
		got = 0;
		if (pagemap >= 0) {
			ssize_t r = pread(pagemap, pm, n * 8, (off_t)(at / ps * 8));

			got = r > 0 ? (size_t)r / 8 : 0;
		}
		for (i = 0; i < n; i += run) {
			int want = got <= i || (pm[i] & PM_SWAPPED) ||
				   ((pm[i] & PM_PRESENT) && !(pm[i] & PM_FILE));
			ssize_t r;

			for (run = 1; i + run < n; run++) {
				int w = got <= i + run || (pm[i + run] & PM_SWAPPED) ||
					((pm[i + run] & PM_PRESENT) && !(pm[i + run] & PM_FILE));
				if (w != want)
					break;
			}
			if (!want)
				continue;
			r = pread(mem, buf, run * ps, (off_t)(at + i * ps));
			if (r < (ssize_t)ps) {
				wl->unreadable++;
				continue;
			}
			for (size_t k = 0; k < (size_t)r / ps; k++) {
				int err;

				if (workload_full(wl))
					return 0;
				err = workload_add_page(wl, buf + k * ps, 0);
				if (err)
					return err;
			}
		}
		at += n * ps;
	}
	return 0;
}

int workload_add_pid(struct workload *wl, int pid)
{
	char path[64], line[4096], comm[64] = "?", what[128];
	unsigned char *buf;
	FILE *maps;
	int mem, pagemap, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	if (!maps) {
		err = -errno;
		fprintf(stderr, "density: --pid %d: %s: %s\n", pid, path, strerror(errno));
		return err;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	if (mem < 0) {
		err = -errno;
		fprintf(stderr, "density: --pid %d: %s: %s\n", pid, path, strerror(errno));
		fclose(maps);
		return err;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pagemap = open(path, O_RDONLY); /* without it: every page is taken */
	buf = malloc(READ_PAGES * wl->page_size);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (!err && fgets(line, sizeof(line), maps) && !workload_full(wl)) {
		uint64_t start, end;
		char perms[8];

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &start, &end, perms) != 3)
			continue;
		if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p')
			continue;
		err = add_range(wl, mem, pagemap, start, end, buf);
	}
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
	snprintf(what, sizeof(what), "pid %d (%s)", pid, comm);
	workload_describe(wl, what);
out:
	free(buf);
	if (pagemap >= 0)
		close(pagemap);
	close(mem);
	fclose(maps);
	return err;
}

/* --files */

static int add_file(struct workload *wl, int fd, unsigned char *buf)
{
	const size_t ps = wl->page_size;

	while (!workload_full(wl)) {
		ssize_t r = read(fd, buf, READ_PAGES * ps);
		size_t pages;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			wl->unreadable++;
			return 0;
		}
		if (r == 0)
			return 0;
		pages = ((size_t)r + ps - 1) / ps;
		memset(buf + r, 0, pages * ps - (size_t)r); /* zero-pad */
		for (size_t k = 0; k < pages && !workload_full(wl); k++) {
			int err = workload_add_page(wl, buf + k * ps, 0);

			if (err)
				return err;
		}
	}
	return 0;
}

/* Walk @fd_dir's entries (names sorted, so runs are reproducible), staying
 * on filesystem @dev (like find -xdev: /proc and /sys are not files). */
static int add_dir(struct workload *wl, int fd_dir, dev_t dev, unsigned char *buf)
{
	struct dirent **names;
	DIR *dir = fdopendir(fd_dir);
	struct dirent *de;
	size_t n = 0, cap = 0;
	int err = 0;

	if (!dir) {
		close(fd_dir);
		wl->unreadable++;
		return 0;
	}
	names = NULL;
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			struct dirent **g;

			cap = cap ? 2 * cap : 64;
			g = realloc(names, cap * sizeof(*g));
			if (!g) {
				err = -ENOMEM;
				break;
			}
			names = g;
		}
		names[n] = malloc(sizeof(*de));
		if (!names[n]) {
			err = -ENOMEM;
			break;
		}
		memcpy(names[n++], de, sizeof(*de));
	}
	for (size_t i = 0; i + 1 < n; i++) /* insertion sort: dirs are short */
		for (size_t j = i + 1; j > 0 && strcmp(names[j - 1]->d_name, names[j]->d_name) > 0;
		     j--) {
			struct dirent *t = names[j];

			names[j] = names[j - 1];
			names[j - 1] = t;
		}
	for (size_t i = 0; i < n && !err && !workload_full(wl); i++) {
		struct stat st;
		int fd;

		if (fstatat(fd_dir, names[i]->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			wl->unreadable++;
			continue;
		}
		if (!(S_ISDIR(st.st_mode) && st.st_dev == dev) && !S_ISREG(st.st_mode))
			continue;
		fd = openat(fd_dir, names[i]->d_name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
				    (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0) {
			wl->unreadable++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			err = add_dir(wl, fd, dev, buf);
		} else {
			err = add_file(wl, fd, buf);
			close(fd);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}

int workload_add_files(struct workload *wl, const char *path)
{
	unsigned char *buf = malloc(READ_PAGES * wl->page_size);
	struct stat st;
	int fd, err;

	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		fprintf(stderr, "density: --files %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(buf);
		return err;
	}
	if (S_ISDIR(st.st_mode)) {
		err = add_dir(wl, fd, st.st_dev, buf);
	} else {
		err = add_file(wl, fd, buf);
		close(fd);
	}
	free(buf);
	workload_describe(wl, path);
	return err;
}
