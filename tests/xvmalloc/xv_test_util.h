// xv_test_util.h - helpers shared by the xvmalloc tests: a seeded PRNG,
// content patterns derived from a seed, a compressed-page size mix, block
// listings through xv_walk, and the seed/operation-count environment knobs.
#ifndef ZSALLOC_TESTS_XVMALLOC_XV_TEST_UTIL_H
#define ZSALLOC_TESTS_XVMALLOC_XV_TEST_UTIL_H

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mapping/mapping.h"
#include "tests/common/content.h"
#include "xvmalloc/xvmalloc.h"

namespace xv_test
{

using test_content::fill;
using test_content::Rng;

// True if [p, p + n) holds exactly what fill(p, n, seed) wrote.
inline bool verify(const void *p, uint32_t n, uint64_t seed)
{
	return test_content::same(p, n, seed);
}

// Sizes like LZ4-compressed pages: spread over 1..max with a bump around
// 1.5 KiB, plus the edges (tiny, the minimum block, near the maximum).
inline uint32_t compressed_size(Rng &r, uint32_t max)
{
	uint64_t k = r.below(100);
	if (k < 4)
		return static_cast<uint32_t>(r.range(1, 40));
	if (k < 8)
		return static_cast<uint32_t>(r.range(max - 64, max));
	if (k < 40) {
		uint32_t mid = max * 3 / 8;
		return static_cast<uint32_t>(r.range(mid - max / 8, mid + max / 8));
	}
	return static_cast<uint32_t>(r.range(30, max));
}

// A seed from $XV_SEED, or a fresh one; printed so that a failure replays.
inline uint64_t seed_from_env(const char *test)
{
	uint64_t seed;
	if (const char *e = std::getenv("XV_SEED")) {
		seed = std::strtoull(e, nullptr, 0);
	} else {
		seed = static_cast<uint64_t>(
			std::chrono::steady_clock::now().time_since_epoch().count());
	}
	std::printf("[ seed     ] %s: XV_SEED=%llu\n", test, static_cast<unsigned long long>(seed));
	std::fflush(stdout);
	return seed;
}

// $name as a count, or def.
inline uint64_t count_from_env(const char *name, uint64_t def)
{
	const char *e = std::getenv(name);
	return e ? std::strtoull(e, nullptr, 0) : def;
}

struct Block {
	uint32_t pfn, offset, size;
	int used;
	bool operator==(const Block &o) const
	{
		return pfn == o.pfn && offset == o.offset && size == o.size && used == o.used;
	}
};

inline int collect_block(uint32_t pfn, uint32_t offset, uint32_t size, int used, void *arg)
{
	static_cast<std::vector<Block> *>(arg)->push_back({ pfn, offset, size, used });
	return 0;
}

// Every block of the pool, in page order (xv_walk).
inline std::vector<Block> walk_blocks(xv_pool *pool)
{
	std::vector<Block> v;
	EXPECT_EQ(0, xv_walk(pool, collect_block, &v));
	return v;
}

// Blocks of one page.
inline std::vector<Block> page_blocks(xv_pool *pool, uint32_t pfn)
{
	std::vector<Block> v;
	for (const Block &b : walk_blocks(pool))
		if (b.pfn == pfn)
			v.push_back(b);
	return v;
}

inline xv_stats stats(xv_pool *pool)
{
	xv_stats s;
	xv_get_stats(pool, &s);
	return s;
}

inline uint32_t page_size()
{
	return static_cast<uint32_t>(mp_page_size());
}

// Data bytes a used block of this size spans (the documented rounding).
inline uint32_t extent(uint32_t size)
{
	uint32_t e = (size + 3) & ~3u;
	return e < xv_min_block() ? xv_min_block() : e;
}

} // namespace xv_test

#endif // ZSALLOC_TESTS_XVMALLOC_XV_TEST_UTIL_H
