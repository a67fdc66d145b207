// limit_test.cc - pools with a page limit, filled to the limit: every
// allocation past it fails cleanly (ENOMEM, nothing changes, the checker
// finds 0 violations, every stored object keeps its bytes), the pool never
// holds more pages than the limit; then part or all is freed and the pool
// refilled to the limit, round after round, with nothing lost. For the page
// source, xvmalloc (one and three arenas) and zsmalloc (the contiguous
// layout, copy and remap, chains of 16, 4 and 1, and compaction at the
// limit making room; the pages of the cache of emptied zspages count
// against the limit).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "mapping/mapping.h"
#include "tests/stress/stress_util.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

namespace
{

using stress::Rng;

TEST(Limit, PageSourceFillFreeRefill)
{
	const size_t page = stress::page_size();
	for (uint32_t cache : { 0u, 3u }) {
		SCOPED_TRACE(cache);
		mp_config cfg{};
		cfg.max_pages = 37;
		cfg.cache_pages = cache;
		mp_source *src = mp_create(&cfg);
		ASSERT_NE(nullptr, src);
		std::map<uint32_t, uint64_t> live;
		Rng r(5);
		for (int round = 0; round < 6; round++) {
			SCOPED_TRACE(round);
			// Fill to the limit.
			for (;;) {
				uint32_t pfn;
				int err = mp_alloc_page(src, &pfn);
				if (err) {
					ASSERT_EQ(-ENOMEM, err);
					break;
				}
				ASSERT_LT(pfn, 37u);
				ASSERT_EQ(0u, live.count(pfn));
				uint64_t s = r.next();
				stress::fill(mp_kmap(src, pfn), page, s);
				live[pfn] = s;
			}
			ASSERT_EQ(37u, live.size());
			// Past the limit, again and again: clean failures.
			for (int i = 0; i < 5; i++) {
				uint32_t pfn = 999;
				ASSERT_EQ(-ENOMEM,
					  mp_alloc_page_near(src, live.begin()->first, &pfn));
				ASSERT_EQ(999u, pfn);
			}
			mp_stats st;
			mp_get_stats(src, &st);
			ASSERT_EQ(37u, st.pages_used);
			ASSERT_EQ(37u, st.pages_peak);
			for (const auto &kv : live)
				ASSERT_TRUE(stress::same(mp_kmap(src, kv.first), page, kv.second));
			// Free a random part (all of it in the last round), batch or single.
			std::vector<uint32_t> out;
			for (const auto &kv : live)
				if (round == 5 || r.below(3) == 0)
					out.push_back(kv.first);
			if (round % 2) {
				ASSERT_EQ(0, mp_free_pages(src, out.data(), out.size()));
			} else {
				for (uint32_t p : out)
					ASSERT_EQ(0, mp_free_page(src, p));
			}
			for (uint32_t p : out)
				live.erase(p);
		}
		mp_stats st;
		mp_get_stats(src, &st);
		EXPECT_EQ(0u, st.pages_used);
		mp_destroy(src);
	}
}

struct XvLive {
	stress::XvObj o;
	uint32_t size;
	uint64_t seed;
};

class XvLimit : public ::testing::TestWithParam<unsigned>
{
};

TEST_P(XvLimit, FillFreeRefill)
{
	const uint64_t limit = 24;
	xv_config cfg{};
	cfg.max_pages = limit;
	cfg.arenas = GetParam();
	xv_pool *pool = xv_create_pool_config(&cfg);
	ASSERT_NE(nullptr, pool);
	std::vector<XvLive> live;
	Rng r(GetParam());
	for (int round = 0; round < 8; round++) {
		SCOPED_TRACE(round);
		// Fill until 20 allocations in a row fail (small ones still fit in
		// holes after the first failures).
		for (int failed = 0; failed < 20;) {
			XvLive x;
			x.size = static_cast<uint32_t>(stress::compressed_size(r, xv_max_size()));
			x.seed = r.next();
			xv_stats before = stress::xv_stats_of(pool);
			int err = xv_malloc(pool, x.size, &x.o.pfn, &x.o.off, 0);
			if (err) {
				ASSERT_EQ(-ENOMEM, err);
				ASSERT_EQ(limit, before.pages) << "ENOMEM below the limit";
				xv_stats after = stress::xv_stats_of(pool);
				ASSERT_EQ(0, std::memcmp(&before, &after, sizeof(before)));
				failed++;
				continue;
			}
			failed = 0;
			ASSERT_TRUE(stress::xv_write(pool, x.o, x.size, x.seed));
			live.push_back(x);
			ASSERT_LE(xv_get_total_size_bytes(pool), limit * stress::page_size());
		}
		ASSERT_EQ(0u, xv_check(pool));
		for (const XvLive &x : live)
			ASSERT_TRUE(stress::xv_same(pool, x.o, x.size, x.seed));
		// The largest object cannot fit any more; the smallest may.
		uint32_t pfn, off;
		xv_stats full = stress::xv_stats_of(pool);
		if (full.bytes_free < xv_max_size()) {
			ASSERT_EQ(-ENOMEM, xv_malloc(pool, xv_max_size(), &pfn, &off, 0));
		}
		// Free some (everything every third round), in random order.
		for (size_t i = live.size(); i-- > 0;) {
			if (round % 3 != 2 && r.below(2))
				continue;
			ASSERT_TRUE(stress::xv_same(pool, live[i].o, live[i].size, live[i].seed));
			ASSERT_EQ(0, xv_free(pool, live[i].o.pfn, live[i].o.off));
			live[i] = live.back();
			live.pop_back();
		}
		ASSERT_EQ(0u, xv_check(pool));
	}
	for (const XvLive &x : live)
		ASSERT_EQ(0, xv_free(pool, x.o.pfn, x.o.off));
	EXPECT_EQ(0u, xv_get_total_size_bytes(pool));
	xv_destroy_pool(pool);
}

INSTANTIATE_TEST_SUITE_P(Arenas, XvLimit, ::testing::Values(1u, 3u));

struct ZsLive {
	zs_handle h;
	size_t size;
	uint64_t seed;
};

class ZsLimit : public ::testing::TestWithParam<std::tuple<unsigned, zs_map_method>>
{
};

TEST_P(ZsLimit, FillFreeCompactRefill)
{
	const uint64_t limit = 40;
	zs_config cfg{};
	cfg.name = "limit";
	cfg.max_pages = limit;
	cfg.max_pages_per_zspage = std::get<0>(GetParam());
	cfg.map_method = std::get<1>(GetParam());
	zs_pool *pool = zs_create_pool_config(&cfg);
	ASSERT_NE(nullptr, pool);
	const size_t page = stress::page_size();
	std::vector<ZsLive> live;
	Rng r(std::get<0>(GetParam()) * 3 + std::get<1>(GetParam()));
	for (int round = 0; round < 8; round++) {
		SCOPED_TRACE(round);
		for (int failed = 0; failed < 20;) {
			ZsLive x;
			x.size = stress::compressed_size(r, page);
			x.seed = r.next();
			size_t pages = zs_get_total_pages(pool);
			errno = 0;
			x.h = zs_malloc(pool, x.size, 0);
			if (!x.h) {
				ASSERT_EQ(ENOMEM, errno);
				ASSERT_EQ(limit, pages) << "ENOMEM below the limit";
				ASSERT_EQ(pages, zs_get_total_pages(pool));
				ASSERT_EQ(live.size(), stress::zs_objects(pool));
				failed++;
				continue;
			}
			failed = 0;
			ASSERT_TRUE(stress::zs_write(pool, x.h, x.size, x.seed,
						     static_cast<int>(r.below(3))));
			live.push_back(x);
			ASSERT_LE(zs_get_total_pages(pool), limit);
		}
		ASSERT_EQ(limit, zs_get_total_pages(pool));
		ASSERT_EQ(0u, zs_check(pool));
		for (size_t i = 0; i < live.size(); i++)
			ASSERT_TRUE(stress::zs_same(pool, live[i].h, live[i].size, live[i].seed,
						    static_cast<int>(i % 3)));
		// Free a random half (everything every fourth round).
		for (size_t i = live.size(); i-- > 0;) {
			if (round % 4 != 3 && r.below(2))
				continue;
			ASSERT_EQ(0, zs_free(pool, live[i].h));
			live[i] = live.back();
			live.pop_back();
		}
		// Every other round, compaction makes the room instead of the frees
		// alone; at the limit it may need pages it cannot get, and must then
		// stop cleanly.
		if (round % 2) {
			size_t before = zs_get_total_pages(pool);
			size_t freed = zs_compact(pool);
			EXPECT_EQ(before - freed, zs_get_total_pages(pool));
		}
		ASSERT_EQ(0u, zs_check(pool));
		for (size_t i = 0; i < live.size(); i++)
			ASSERT_TRUE(stress::zs_same(pool, live[i].h, live[i].size, live[i].seed,
						    static_cast<int>(i % 3)));
	}
	for (const ZsLive &x : live)
		ASSERT_EQ(0, zs_free(pool, x.h));
	EXPECT_TRUE(stress::zs_emptied(pool)) << "pages left besides the cache";
	EXPECT_EQ(0u, zs_check(pool));
	zs_destroy_pool(pool);
}

INSTANTIATE_TEST_SUITE_P(Configs, ZsLimit,
			 ::testing::Values(std::make_tuple(0u, ZS_MAP_COPY),
					   std::make_tuple(4u, ZS_MAP_REMAP),
					   std::make_tuple(1u, ZS_MAP_COPY),
					   std::make_tuple(0u, ZS_MAP_DEFAULT),
					   std::make_tuple(4u, ZS_MAP_DEFAULT)));

// A limit of one page: the smallest pool that works at all.
TEST(Limit, ZsOnePage)
{
	zs_config cfg{};
	cfg.max_pages = 1;
	zs_pool *pool = zs_create_pool_config(&cfg);
	ASSERT_NE(nullptr, pool);
	const size_t page = stress::page_size();
	zs_handle a = zs_malloc(pool, page, 0);
	ASSERT_NE(0u, a);
	ASSERT_TRUE(stress::zs_write(pool, a, page, 1, 1));
	EXPECT_EQ(0u, zs_malloc(pool, 1, 0));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_EQ(0u, zs_malloc(pool, page, 0));
	EXPECT_EQ(ENOMEM, errno);
	ASSERT_TRUE(stress::zs_same(pool, a, page, 1, 0));
	ASSERT_EQ(0, zs_free(pool, a));
	std::vector<zs_handle> small;
	for (;;) {
		zs_handle h = zs_malloc(pool, 32, 0);
		if (!h)
			break;
		ASSERT_TRUE(stress::zs_write(pool, h, 32, h, 0));
		small.push_back(h);
	}
	EXPECT_EQ(page / 32, small.size());
	for (zs_handle h : small)
		ASSERT_TRUE(stress::zs_same(pool, h, 32, h, 2));
	EXPECT_EQ(0u, zs_check(pool));
	zs_destroy_pool(pool); // with live objects
}

} // namespace
