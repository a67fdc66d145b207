/* store_page.c - compress a 4 KiB page with LZ4, keep it in a zsmalloc pool,
 * read it back and check it. The README's example; tests build and run it. */
#include <errno.h>
#include <lz4.h>
#include <stdio.h>
#include <string.h>

#include "zsmalloc/zsmalloc.h"

#define PAGE_BYTES 4096

static int fail(const char *what, int errnum)
{
	fprintf(stderr, "store_page: %s failed%s%s\n", what, errnum ? ": " : "",
		errnum ? strerror(errnum) : "");
	return 1;
}

/* Store @page compressed in @pool, read it back, compare: 0 when intact. On
 * error the object is left to zs_destroy_pool(), which frees everything. */
static int round_trip(struct zs_pool *pool, const char *page)
{
	char packed[LZ4_COMPRESSBOUND(PAGE_BYTES)], copy[sizeof packed];
	char back[PAGE_BYTES];

	int len = LZ4_compress_default(page, packed, PAGE_BYTES, (int)sizeof packed);
	if (len <= 0)
		return fail("LZ4_compress_default", 0);
	zs_handle h = zs_malloc(pool, (size_t)len, 0); /* 0 and errno on error */
	if (!h)
		return fail("zs_malloc", errno);
	int err = zs_obj_write(pool, h, packed, (size_t)len); /* 0 or -errno */
	if (err)
		return fail("zs_obj_write", -err);
	/* In place if the object lies in one page, else copied into `copy`. */
	const char *obj = zs_obj_read_begin(pool, h, (size_t)len, copy);
	if (!obj)
		return fail("zs_obj_read_begin", errno);
	int n = LZ4_decompress_safe(obj, back, len, PAGE_BYTES);
	if ((err = zs_obj_read_end(pool, h, obj)) != 0)
		return fail("zs_obj_read_end", -err);
	if (n != PAGE_BYTES || memcmp(back, page, PAGE_BYTES) != 0)
		return fail("reading the page back", 0);
	if ((err = zs_free(pool, h)) != 0)
		return fail("zs_free", -err);
	printf("stored a %d-byte page in %d bytes, read it back intact\n", PAGE_BYTES, len);
	return 0;
}

int main(void)
{
	static char page[PAGE_BYTES]; /* some text, then zeros */
	for (int i = 0, off = 0; off < PAGE_BYTES - 32; i++)
		off += snprintf(page + off, 32, "record %d: %d\n", i, i * i % 1000);

	struct zs_pool *pool = zs_create_pool("example");
	if (!pool)
		return fail("zs_create_pool", errno);
	int status = round_trip(pool, page);
	zs_destroy_pool(pool);
	return status;
}
