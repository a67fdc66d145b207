// stress_util.h - what the cross-library stress tests share: a seeded PRNG,
// seeded object contents, compressed-page sizes, and small wrappers that
// store and verify an object of either allocator, so that one workload can
// drive zsmalloc and xvmalloc alike.
#ifndef ZSALLOC_TESTS_STRESS_STRESS_UTIL_H
#define ZSALLOC_TESTS_STRESS_STRESS_UTIL_H

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mapping/mapping.h"
#include "tests/common/content.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

namespace stress
{

using test_content::fill;
using test_content::Rng;
using test_content::same;

inline size_t page_size()
{
	return mp_page_size();
}

// Sizes like LZ4-compressed 4 KiB pages, with the edges: tiny, near and at
// the largest size @max.
inline size_t compressed_size(Rng &r, size_t max)
{
	uint64_t k = r.below(100);
	if (k < 5)
		return r.range(1, 48);
	if (k < 10)
		return r.range(max - 64, max);
	if (k < 45)
		return r.range(max / 4, max / 2);
	return r.range(32, max);
}

// ---- zsmalloc objects --------------------------------------------------

// Stores fill(seed) into @h through zs_obj_write, map WO or map RW (@how
// 0..2). Returns false if the call failed.
inline bool zs_write(zs_pool *pool, zs_handle h, size_t size, uint64_t seed, int how)
{
	std::vector<unsigned char> v(size);
	fill(v.data(), size, seed);
	if (how == 0)
		return zs_obj_write(pool, h, v.data(), size) == 0;
	void *p = zs_map_object(pool, h, how == 1 ? ZS_MM_WO : ZS_MM_RW);
	if (!p)
		return false;
	std::memcpy(p, v.data(), size);
	zs_unmap_object(pool, h);
	return true;
}

// True if @h holds fill(seed), read through read_begin, map RO or map RW
// (@how 0..2).
inline bool zs_same(zs_pool *pool, zs_handle h, size_t size, uint64_t seed, int how)
{
	if (how == 0) {
		std::vector<unsigned char> buf(size);
		const void *p = zs_obj_read_begin(pool, h, size, buf.data());
		if (!p)
			return false;
		bool ok = same(p, size, seed);
		return zs_obj_read_end(pool, h, p) == 0 && ok;
	}
	const void *p = zs_map_object(pool, h, how == 1 ? ZS_MM_RO : ZS_MM_RW);
	if (!p)
		return false;
	bool ok = same(p, size, seed);
	zs_unmap_object(pool, h);
	return ok;
}

// ---- xvmalloc objects --------------------------------------------------

struct XvObj {
	uint32_t pfn, off;
};

inline bool xv_write(xv_pool *pool, XvObj o, size_t size, uint64_t seed)
{
	void *p = xv_map(pool, o.pfn, o.off);
	if (!p)
		return false;
	fill(p, size, seed);
	xv_unmap(pool, o.pfn, o.off);
	return true;
}

inline bool xv_same(xv_pool *pool, XvObj o, size_t size, uint64_t seed)
{
	const void *p = xv_map(pool, o.pfn, o.off);
	if (!p)
		return false;
	bool ok = same(p, size, seed) && xv_get_object_size(pool, o.pfn, o.off) == size;
	xv_unmap(pool, o.pfn, o.off);
	return ok;
}

inline size_t zs_objects(zs_pool *pool)
{
	zs_stats st;
	zs_pool_stats(pool, &st);
	return st.objects;
}

// True if @pool, every object freed, holds only the pages of its cache of
// emptied zspages, and zs_trim() gives exactly those back, leaving none.
inline bool zs_emptied(zs_pool *pool)
{
	zs_stats st;
	zs_pool_stats(pool, &st);
	bool only_cached = st.objects == 0 && zs_get_total_pages(pool) == st.pages_cached;
	bool trimmed = zs_trim(pool) == st.pages_cached;
	return only_cached && trimmed && zs_get_total_pages(pool) == 0;
}

inline xv_stats xv_stats_of(xv_pool *pool)
{
	xv_stats st;
	xv_get_stats(pool, &st);
	return st;
}

// The operation count of a test, scaled down under ThreadSanitizer (its
// builds define ZSALLOC_TSAN) and by $STRESS_SCALE (a percentage).
inline uint64_t scaled(uint64_t n)
{
#ifdef ZSALLOC_TSAN
	n /= 8;
#endif
	if (const char *e = std::getenv("STRESS_SCALE"))
		n = n * std::strtoull(e, nullptr, 0) / 100;
	return n ? n : 1;
}

} // namespace stress

#endif // ZSALLOC_TESTS_STRESS_STRESS_UTIL_H
