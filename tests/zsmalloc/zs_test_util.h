// Shared helpers of the zsmalloc tests: pools that clean up, seeded object
// contents, and reading/writing objects through every access path.
#ifndef ZSALLOC_TESTS_ZSMALLOC_ZS_TEST_UTIL_H
#define ZSALLOC_TESTS_ZSMALLOC_ZS_TEST_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "zsmalloc/zsmalloc.h"

namespace zstest {

struct PoolDeleter {
	void operator()(zs_pool *p) const { zs_destroy_pool(p); }
};
using Pool = std::unique_ptr<zs_pool, PoolDeleter>;

inline Pool make_pool(unsigned chain = 0, zs_map_method method = ZS_MAP_DEFAULT,
		      uint64_t max_pages = 0)
{
	zs_config cfg = {};
	cfg.name = "test";
	cfg.max_pages_per_zspage = chain;
	cfg.map_method = method;
	cfg.max_pages = max_pages;
	return Pool(zs_create_pool_config(&cfg));
}

// Deterministic bytes for (seed, i): a cheap mix, different per seed.
inline uint8_t content_byte(uint64_t seed, size_t i)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + i * 0xBF58476D1CE4E5B9ull;
	x ^= x >> 31;
	return (uint8_t)(x * 0x94D049BB133111EBull >> 56);
}

inline std::vector<uint8_t> content(uint64_t seed, size_t len)
{
	std::vector<uint8_t> v(len);
	for (size_t i = 0; i < len; i++)
		v[i] = content_byte(seed, i);
	return v;
}

// Write @len seeded bytes into object @h, through the path @how picks:
// 0: zs_obj_write, 1: map WO, 2: map RW.
inline bool write_object(zs_pool *pool, zs_handle h, uint64_t seed, size_t len,
			 int how)
{
	std::vector<uint8_t> v = content(seed, len);
	if (how == 0)
		return zs_obj_write(pool, h, v.data(), len) == 0;
	void *p = zs_map_object(pool, h, how == 1 ? ZS_MM_WO : ZS_MM_RW);
	if (!p)
		return false;
	memcpy(p, v.data(), len);
	zs_unmap_object(pool, h);
	return true;
}

// Check that object @h holds @len seeded bytes, through the path @how picks:
// 0: zs_obj_read_begin/end, 1: map RO, 2: map RW (and write nothing).
inline bool check_object(zs_pool *pool, zs_handle h, uint64_t seed, size_t len,
			 int how)
{
	std::vector<uint8_t> want = content(seed, len), buf(len);
	const void *p;
	if (how == 0)
		p = zs_obj_read_begin(pool, h, len, buf.data());
	else
		p = zs_map_object(pool, h, how == 1 ? ZS_MM_RO : ZS_MM_RW);
	if (!p)
		return false;
	bool same = memcmp(p, want.data(), len) == 0;
	if (how == 0)
		same &= zs_obj_read_end(pool, h, p) == 0;
	else
		zs_unmap_object(pool, h);
	return same;
}

// A seed from the environment (ZS_TEST_SEED) or @fallback.
inline uint64_t test_seed(uint64_t fallback)
{
	const char *s = getenv("ZS_TEST_SEED");
	return s ? strtoull(s, nullptr, 0) : fallback;
}

} // namespace zstest

#endif
