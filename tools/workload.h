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

/* One stored object: a page, or a block of pages (see block_size). */
struct wl_page {
	uint64_t offset; /* of the stored bytes in the arena */
	uint64_t hash;   /* page_hash() of the original page or block */
	uint32_t size;   /* stored bytes: compressed size, or block size (raw) */
	uint32_t target; /* trace pages: the size the trace asked for; else 0 */
};

struct workload {
	size_t page_size;
	size_t block_size;     /* bytes compressed as one object: page_size
				  for a workload read from its inputs, a
				  multiple of it for workload_blocks() */
	int hc;                /* compress with LZ4 HC */
	uint64_t max_pages;    /* stop reading after this many pages; 0: all */
	unsigned char *arena;  /* stored bytes of every page (reserved range) */
	size_t arena_len;      /* bytes used */
	size_t arena_cap;      /* bytes reserved */
	struct wl_page *pages; /* stored pages, in the order read */
	size_t nr_pages;
	size_t pages_cap;
	uint32_t *trace; /* every page (block) read, in order: its
			    stored size, 0 for same-filled (the
			    --save-trace) */
	size_t trace_len;
	size_t trace_cap;
	uint64_t *fills; /* the repeated word of every same-filled one,
			    in order (to rebuild the input in blocks) */
	size_t fills_cap;
	uint64_t same_filled;    /* pages (blocks) counted, not stored */
	uint64_t raw;            /* pages (blocks) stored raw */
	uint64_t stored_bytes;   /* sum of pages[].size */
	uint32_t max_size;       /* the largest pages[].size */
	uint64_t unreadable;     /* ranges or files skipped (no access, gone) */
	char sources[512];       /* what was read, for the report */
	struct progress reading; /* pages read so far, on a terminal */
};

/* An empty workload for pages of @page_size, compressing with LZ4 (HC when
 * @hc). Returns 0 or -ENOMEM. */
int workload_init(struct workload *wl, size_t page_size, int hc);
void workload_free(struct workload *wl);

/* 1 if the workload has read max_pages pages and takes no more. */
int workload_full(const struct workload *wl);

/* Classify, compress and keep one page: block_size bytes (the page size for
 * a workload that reads inputs). @target is the size a trace asked for (0:
 * none). Returns 0 or -ENOMEM. */
int workload_add_page(struct workload *wl, const void *page, uint32_t target);

/*
 * workload_blocks - @out: the pages @pages read (its trace, in order),
 * rebuilt from what it kept (decompressed, raw, or same-filled from its
 * word) and compressed @block bytes at a time (a multiple of the page size,
 * at most 64 KiB), as one object each: a block = that many consecutive
 * pages, the last one filled up with zero pages. A block whose every 8-byte
 * word is the same is same-filled (counted, not stored), one that does not
 * compress below @block bytes is stored raw: zram's rules, scaled to the
 * block. Returns 0, -EINVAL (@block), or -ENOMEM; workload_free(@out) in
 * either case.
 */
int workload_blocks(const struct workload *pages, size_t block, struct workload *out);

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

/* The most bytes one object may hold before compression. */
#define WL_MAX_BLOCK 65536

/* A 64-bit hash of @len bytes (a multiple of 8). */
uint64_t page_hash(const void *buf, size_t len);

/* 1 if every 8-byte word of the page is the same. */
int page_same_filled(const void *page, size_t len);

/* Compress @page into @dst (capacity LZ4_compressBound(page size)) with LZ4
 * or LZ4 HC. Returns the compressed size (> 0), or 0 on failure. */
int page_compress(const void *page, size_t len, void *dst, int cap, int hc);

#endif /* ZSALLOC_TOOLS_WORKLOAD_H */
