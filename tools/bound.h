/*
 * bound.h - the offline single-page packing bound of a set of objects.
 *
 * An allocator that keeps every object within one page, with xvmalloc's
 * layout rules (the seed's: a 4-byte header before each object, objects
 * 4-byte aligned, so an object of s bytes takes round_up(s, 4) + 4 bytes of
 * its page), cannot hold a set of objects in fewer pages than the best way
 * of packing them into pages; no such allocator does better without objects
 * that span pages. Offline, knowing every object at once, best fit
 * decreasing (the largest first, each into the page whose free space it
 * fits most tightly, a new page when none has room) packs them within a
 * page or two of that best for sets like these (many objects, each well
 * under a page), so density prints its figure as the limit beside the
 * single-page allocators (xvmalloc, slob, zbud). Objects that take more
 * than a page under these rules (s > page size - 4: pages stored raw) go
 * one per page, as xvmalloc's driver stores them. Volume alone gives the
 * floor below it: the sum of the objects' footprints over the page size.
 */
#ifndef ZSALLOC_TOOLS_BOUND_H
#define ZSALLOC_TOOLS_BOUND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BOUND_HEADER 4u /* bytes before each object */
#define BOUND_ALIGN 4u  /* objects and blocks start at multiples of it */

struct bound {
	uint64_t pages;       /* best fit decreasing: pages used */
	uint64_t floor_pages; /* ceil(sum of footprints / page size), raw
				 pages one each: no packing does better */
};

/*
 * bound_pack - pack the objects counted in @hist (hist[s]: objects of s
 * bytes, s = 1 .. @page_size; hist[0] is ignored) into pages of @page_size
 * bytes (a multiple of BOUND_ALIGN, at most 65536). Returns 0 with *@b
 * filled, or -ENOMEM.
 */
int bound_pack(const uint64_t *hist, size_t page_size, struct bound *b);

#ifdef __cplusplus
}
#endif

#endif /* ZSALLOC_TOOLS_BOUND_H */
