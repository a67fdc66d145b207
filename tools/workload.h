/*
 * workload.h - the pages density stores: read, compressed, kept once.
 *
 * A workload is a sequence of pages read from a live process (--pid), from
 * files (--files) or synthesized from a trace of compressed sizes (--trace).
 * Each page is classified as zram would: same-filled (every 8-byte word
 * equal: counted, not stored), compressible (stored as its LZ4 output), or
 * not (LZ4's output is not smaller than the page: stored raw, page-size
 * bytes). For every stored page the workload keeps its stored bytes once, in
 * one arena, and a 64-bit hash of the original page, so that a million
 * objects that refer to the same pages cost a few bytes each, and every
 * object read back can be decompressed and checked against its original.
 */
#ifndef ZSALLOC_TOOLS_WORKLOAD_H
#define ZSALLOC_TOOLS_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "tools/progress.h"

struct wl_page {
	uint64_t offset; /* of the stored bytes in the arena */
	uint64_t hash;   /* page_hash() of the original page */
	uint32_t size;   /* stored bytes: compressed size, or page size (raw) */
	uint32_t target; /* trace pages: the size the trace asked for; else 0 */
};

struct workload {
	size_t page_size;
	int hc;                 /* compress with LZ4 HC */
	uint64_t max_pages;     /* stop reading after this many pages; 0: all */
	unsigned char *arena;   /* stored bytes of every page (reserved range) */
	size_t arena_len;       /* bytes used */
	size_t arena_cap;       /* bytes reserved */
	struct wl_page *pages;  /* stored pages, in the order read */
	size_t nr_pages;
	size_t pages_cap;
	uint32_t *trace;        /* every page read, in order: its stored size,
				   0 for same-filled (the --save-trace) */
	size_t trace_len;
	size_t trace_cap;
	uint64_t same_filled;   /* pages counted, not stored */
	uint64_t raw;           /* pages stored raw (page-size objects) */
	uint64_t stored_bytes;  /* sum of pages[].size */
	uint64_t unreadable;    /* ranges or files skipped (no access, gone) */
	char sources[512];      /* what was read, for the report */
	struct progress reading; /* pages read so far, on a terminal */
};

/* An empty workload for pages of @page_size, compressing with LZ4 (HC when
 * @hc). Returns 0 or -ENOMEM. */
int workload_init(struct workload *wl, size_t page_size, int hc);
void workload_free(struct workload *wl);

/* 1 if the workload has read max_pages pages and takes no more. */
int workload_full(const struct workload *wl);

/* Classify, compress and keep one page (page_size bytes). @target is the
 * size a trace asked for (0: none). Returns 0 or -ENOMEM. */
int workload_add_page(struct workload *wl, const void *page, uint32_t target);

/* Every private writable page of process @pid that is resident or swapped
 * and anonymous (what zram would be handed if the process were swapped out),
 * through /proc/PID/pagemap and /proc/PID/mem. Ranges that cannot be read are
 * skipped and counted. Returns 0, or a negative errno when the process's maps
 * cannot be read at all (message on stderr). */
int workload_add_pid(struct workload *wl, int pid);

/* Every regular file under @path (a file or a directory, recursively,
 * symbolic links not followed, not into other filesystems), cut into pages,
 * the last one zero-padded.
 * Unreadable files are skipped and counted. Returns 0, or a negative errno if
 * @path itself cannot be read (message on stderr). */
int workload_add_files(struct workload *wl, const char *path);

/* Append to wl->sources (comma-separated). */
void workload_describe(struct workload *wl, const char *what);

/* A 64-bit hash of @len bytes (a multiple of 8). */
uint64_t page_hash(const void *buf, size_t len);

/* 1 if every 8-byte word of the page is the same. */
int page_same_filled(const void *page, size_t len);

/* Compress @page into @dst (capacity LZ4_compressBound(page size)) with LZ4
 * or LZ4 HC. Returns the compressed size (> 0), or 0 on failure. */
int page_compress(const void *page, size_t len, void *dst, int cap, int hc);

#endif /* ZSALLOC_TOOLS_WORKLOAD_H */
