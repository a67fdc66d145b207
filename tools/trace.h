/*
 * trace.h - traces of compressed page sizes: reading, writing, and turning
 * them back into real pages.
 *
 * A trace has one line per page, in the order the pages were read:
 *
 *     # comment lines and blank lines are ignored
 *     1234        the page's LZ4-compressed size in bytes, 1 .. page size
 *     4096        (the page size) the page did not compress: stored raw
 *     S           a same-filled page (every 8-byte word equal)
 *
 * density needs real bytes to store and verify, so each trace line becomes a
 * synthesized page whose LZ4 output has (nearly) the size the line gives: the
 * first P bytes are random (from a seed per line), the rest zeros. LZ4 cannot
 * shrink random bytes and turns the zeros into one match, so the compressed
 * size grows with P by one byte per byte (plus one length byte per 255
 * literals); a calibration at start-up compresses one page for every P and
 * keeps, for every size, the P that comes closest. The page's real compressed
 * bytes are what is stored; a few sizes cannot be hit exactly and land a byte
 * or two away, which the report shows.
 */
#ifndef ZSALLOC_TOOLS_TRACE_H
#define ZSALLOC_TOOLS_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct workload;

#define TRACE_SAME UINT32_MAX /* a line "S" */

/*
 * trace_parse_line - one line (without or with its newline) of a trace.
 * Returns 1 with *@size set (1 .. @page_size, or TRACE_SAME), 0 for a comment
 * or blank line, or -EINVAL for anything else.
 */
int trace_parse_line(const char *line, size_t page_size, uint32_t *size);

/* The synthesizer: the calibration table for one page size and compressor. */
struct trace_synth {
	size_t page_size;
	int hc;
	uint32_t *prefix_for; /* [size] -> random prefix length P, 0..page size */
	uint64_t seed;        /* mixed into every line's seed */
	uint64_t lines;       /* pages synthesized */
	uint64_t off_target;  /* of those, how many missed their size */
	uint64_t abs_error;   /* sum of |actual - target| over sized pages */
	uint64_t max_error;   /* largest |actual - target| */
};

/* Calibrate for @page_size and LZ4 (HC when @hc). Returns 0 or -ENOMEM. */
int trace_synth_init(struct trace_synth *s, size_t page_size, int hc, uint64_t seed);
void trace_synth_free(struct trace_synth *s);

/*
 * trace_synth_page - fill @page (page size bytes) with the synthesized page
 * for a trace line asking for @size (or TRACE_SAME), line number @n.
 */
void trace_synth_page(struct trace_synth *s, uint32_t size, uint64_t n, void *page);

/*
 * trace_read - add the pages of the trace file @path to @wl, synthesized by
 * @s. Returns 0, or -1 after printing "density: PATH:LINE: ..." (a bad line,
 * an unreadable file, no memory) on stderr.
 */
int trace_read(struct workload *wl, struct trace_synth *s, const char *path);

/*
 * trace_write - write the trace of every page @wl read to @path, with a
 * header of comment lines naming the sources and @compressor. Returns 0 or a
 * negative errno.
 */
int trace_write(const struct workload *wl, const char *path, const char *compressor);

#endif /* ZSALLOC_TOOLS_TRACE_H */
