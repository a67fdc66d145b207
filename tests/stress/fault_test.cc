// fault_test.cc - fault injection for every N: one random workload (alloc,
// free, rewrite, verify and, for zsmalloc, compaction) is run again and
// again with the Nth page allocation refused, for every N from 1 to the
// number of page allocations the workload makes. The workload's choices do
// not depend on the outcomes, so every run is the same program with one
// page refused at a different point. After the refusal: the failing call
// returns ENOMEM and changes nothing observable, the checker finds 0
// violations, and every stored object holds its bytes; the run then goes on
// to its end, frees everything and must leave no page behind.
//
// Covered per layer: the page source itself, xvmalloc (one arena: every
// refusal surfaces as the xv_malloc that needed the page; three arenas: it
// may be served from another arena instead), and zsmalloc (the contiguous
// layout, copy and remap, chains of 16, 4 and 1 pages, with and without the
// cache of emptied zspages; a refusal may also strike inside zs_compact()
// or an automatic compaction step of zs_free() or zs_malloc(), which must
// then stop cleanly).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "mapping/mapping.h"
#include "tests/stress/stress_util.h"
#include "xvmalloc/xvmalloc.h"
#include "zsmalloc/zsmalloc.h"

namespace
{

using stress::Rng;

// ---- the page source -------------------------------------------------

struct MpResult {
	uint64_t allocs = 0; // successful page allocations
	int failures = 0;    // -ENOMEM returns
};

MpResult run_mp(uint64_t seed, int ops, uint32_t cache, uint64_t fail_n)
{
	MpResult res;
	mp_config cfg{};
	cfg.cache_pages = cache;
	mp_source *src = mp_create(&cfg);
	EXPECT_NE(nullptr, src);
	if (!src)
		return res;
	if (fail_n)
		mp_fail_nth_alloc(src, fail_n);
	const size_t page = mp_page_size();
	std::map<uint32_t, uint64_t> live; // pfn -> seed
	Rng r(seed);
	for (int i = 0; i < ops; i++) {
		uint64_t k = r.below(100);
		if (k < 55 || live.empty()) {
			uint32_t near = live.empty() || r.below(2) ? UINT32_MAX
								   : live.rbegin()->first;
			mp_stats before, after;
			mp_get_stats(src, &before);
			uint32_t pfn = 12345;
			int err = mp_alloc_page_near(src, near, &pfn);
			if (err) {
				EXPECT_EQ(-ENOMEM, err);
				EXPECT_EQ(12345u, pfn) << "pfn written on error";
				res.failures++;
				mp_get_stats(src, &after);
				EXPECT_EQ(before.pages_used, after.pages_used);
				EXPECT_EQ(before.allocs, after.allocs);
				EXPECT_EQ(before.alloc_failures + 1, after.alloc_failures);
				for (const auto &kv : live)
					EXPECT_TRUE(stress::same(mp_kmap(src, kv.first), page,
								 kv.second))
						<< "pfn " << kv.first
						<< " after a refused allocation";
				continue;
			}
			res.allocs++;
			uint64_t s = r.next();
			stress::fill(mp_kmap(src, pfn), page, s);
			live[pfn] = s;
		} else if (k < 85) {
			auto it = live.begin();
			std::advance(it, static_cast<long>(r.below(live.size())));
			EXPECT_TRUE(stress::same(mp_kmap(src, it->first), page, it->second));
			EXPECT_EQ(0, mp_free_page(src, it->first));
			live.erase(it);
		} else {
			std::vector<uint32_t> batch;
			for (auto it = live.begin(); it != live.end() && batch.size() < 5; ++it)
				if (r.below(3) == 0)
					batch.push_back(it->first);
			EXPECT_EQ(0, mp_free_pages(src, batch.data(), batch.size()));
			for (uint32_t p : batch)
				live.erase(p);
		}
	}
	for (const auto &kv : live) {
		EXPECT_TRUE(stress::same(mp_kmap(src, kv.first), page, kv.second));
		EXPECT_EQ(0, mp_free_page(src, kv.first));
	}
	mp_stats st;
	mp_get_stats(src, &st);
	EXPECT_EQ(0u, st.pages_used);
	mp_destroy(src);
	return res;
}

TEST(FaultEveryN, PageSource)
{
	for (uint32_t cache : { 0u, 4u }) {
		SCOPED_TRACE(cache);
		const MpResult ref = run_mp(11, 250, cache, 0);
		ASSERT_EQ(0, ref.failures);
		ASSERT_GT(ref.allocs, 60u);
		for (uint64_t n = 1; n <= ref.allocs + 1; n++) {
			SCOPED_TRACE(n);
			MpResult res = run_mp(11, 250, cache, n);
			// Every request up to the workload's total can be refused, once.
			ASSERT_EQ(n <= ref.allocs ? 1 : 0, res.failures);
			if (HasFailure())
				return;
		}
	}
}

// ---- xvmalloc ----------------------------------------------------------

struct XvResult {
	uint64_t pages_allocated = 0;
	int failures = 0; // -ENOMEM from xv_malloc without XV_NOGROW
};

struct XvLive {
	stress::XvObj o;
	uint32_t size;
	uint64_t seed;
};

void expect_xv_intact(xv_pool *pool, const std::vector<XvLive> &live, const char *when)
{
	EXPECT_EQ(0u, xv_check(pool)) << when;
	for (const XvLive &x : live)
		ASSERT_TRUE(stress::xv_same(pool, x.o, x.size, x.seed))
			<< "<" << x.o.pfn << ", " << x.o.off << "> " << when;
}

XvResult run_xv(uint64_t seed, int ops, unsigned arenas, uint32_t cache, uint64_t fail_n)
{
	XvResult res;
	xv_config cfg{};
	cfg.arenas = arenas;
	cfg.cache_pages = cache;
	xv_pool *pool = xv_create_pool_config(&cfg);
	EXPECT_NE(nullptr, pool);
	if (!pool)
		return res;
	if (fail_n)
		xv_fail_nth_page_alloc(pool, fail_n);
	std::vector<XvLive> live;
	Rng r(seed);
	for (int i = 0; i < ops && !::testing::Test::HasFatalFailure(); i++) {
		uint64_t k = r.below(100);
		if (k < 55 || live.empty()) {
			XvLive x;
			x.size = static_cast<uint32_t>(stress::compressed_size(r, xv_max_size()));
			x.seed = r.next();
			int flags = r.below(10) == 0 ? static_cast<int>(XV_NOGROW) : 0;
			xv_stats before = stress::xv_stats_of(pool);
			int err = xv_malloc(pool, x.size, &x.o.pfn, &x.o.off, flags);
			if (err) {
				EXPECT_EQ(-ENOMEM, err);
				xv_stats after = stress::xv_stats_of(pool);
				EXPECT_EQ(0, std::memcmp(&before, &after, sizeof(before)))
					<< "a failed xv_malloc changed the pool";
				if (!flags) {
					res.failures++;
					expect_xv_intact(pool, live, "after a refused page");
				}
				continue;
			}
			EXPECT_TRUE(stress::xv_write(pool, x.o, x.size, x.seed));
			live.push_back(x);
		} else if (k < 85) {
			size_t j = r.below(live.size());
			EXPECT_TRUE(stress::xv_same(pool, live[j].o, live[j].size, live[j].seed));
			EXPECT_EQ(0, xv_free(pool, live[j].o.pfn, live[j].o.off));
			live[j] = live.back();
			live.pop_back();
		} else if (k < 95) {
			XvLive &x = live[r.below(live.size())];
			x.seed = r.next();
			EXPECT_TRUE(stress::xv_write(pool, x.o, x.size, x.seed));
		} else {
			const XvLive &x = live[r.below(live.size())];
			EXPECT_TRUE(stress::xv_same(pool, x.o, x.size, x.seed));
		}
	}
	expect_xv_intact(pool, live, "at the end");
	res.pages_allocated = stress::xv_stats_of(pool).pages_allocated;
	for (const XvLive &x : live)
		EXPECT_EQ(0, xv_free(pool, x.o.pfn, x.o.off));
	EXPECT_EQ(0u, xv_get_total_size_bytes(pool));
	EXPECT_EQ(0u, xv_check(pool));
	xv_destroy_pool(pool);
	return res;
}

class XvFaultEveryN : public ::testing::TestWithParam<std::tuple<unsigned, uint32_t>>
{
};

TEST_P(XvFaultEveryN, Workload)
{
	const unsigned arenas = std::get<0>(GetParam());
	const uint32_t cache = std::get<1>(GetParam());
	const int ops = 700;
	const XvResult ref = run_xv(21, ops, arenas, cache, 0);
	ASSERT_EQ(0, ref.failures);
	ASSERT_GT(ref.pages_allocated, 40u);
	int refused = 0;
	for (uint64_t n = 1; n <= ref.pages_allocated + 1; n++) {
		SCOPED_TRACE(n);
		XvResult res = run_xv(21, ops, arenas, cache, n);
		if (HasFailure())
			return;
		ASSERT_LE(res.failures, 1) << "the fault strikes once";
		if (arenas == 1) { // no other arena to fall back on: it surfaces
			ASSERT_EQ(n <= ref.pages_allocated ? 1 : 0, res.failures);
		}
		refused += res.failures;
	}
	std::printf("xvmalloc, %u arena(s), cache %u: %llu page allocations, "
		    "%d refusals surfaced as ENOMEM\n",
		    arenas, cache, (unsigned long long)ref.pages_allocated, refused);
	if (arenas > 1) {
		EXPECT_GT(refused, 0);
	}
}

INSTANTIATE_TEST_SUITE_P(Configs, XvFaultEveryN,
			 ::testing::Values(std::make_tuple(1u, 0u),
					   std::make_tuple(1u, XV_CACHE_NONE),
					   std::make_tuple(3u, 0u)));

// ---- zsmalloc ------------------------------------------------------------

struct ZsResult {
	uint64_t page_requests_bound = 0; // pages mallocs took + objects moved
	int failures = 0;                 // ENOMEM from zs_malloc without NOGROW
};

// Objects moved by compaction so far (zs_compact() and the automatic
// steps): each move may ask for a page (objects up to a page need at most
// one new page where they go).
uint64_t zs_moved(zs_pool *pool)
{
	zs_stats st;
	zs_pool_stats(pool, &st);
	return st.objects_moved;
}

struct ZsLive {
	zs_handle h;
	size_t size;
	uint64_t seed;
};

void expect_zs_intact(zs_pool *pool, const std::vector<ZsLive> &live, const char *when)
{
	EXPECT_EQ(0u, zs_check(pool)) << when;
	EXPECT_EQ(live.size(), stress::zs_objects(pool)) << when;
	int how = 0;
	for (const ZsLive &x : live)
		ASSERT_TRUE(stress::zs_same(pool, x.h, x.size, x.seed, how++ % 3))
			<< "handle " << x.h << " size " << x.size << " " << when;
}

ZsResult run_zs(uint64_t seed, int ops, unsigned chain, zs_map_method method, uint32_t cache,
		uint64_t fail_n)
{
	ZsResult res;
	zs_config cfg{};
	cfg.name = "fault";
	cfg.max_pages_per_zspage = chain;
	cfg.map_method = method;
	cfg.cache_pages = cache;
	zs_pool *pool = zs_create_pool_config(&cfg);
	EXPECT_NE(nullptr, pool);
	if (!pool)
		return res;
	if (fail_n)
		zs_fail_nth_page_alloc(pool, fail_n);
	const size_t page = stress::page_size();
	std::vector<ZsLive> live;
	Rng r(seed);
	uint64_t moved = 0;
	for (int i = 0; i < ops && !::testing::Test::HasFatalFailure(); i++) {
		uint64_t now = zs_moved(pool);
		res.page_requests_bound += now - moved;
		moved = now;
		uint64_t k = r.below(100);
		if (k < 55 || live.empty()) {
			ZsLive x;
			x.size = stress::compressed_size(r, page);
			x.seed = r.next();
			int flags = r.below(10) == 0 ? ZS_NOGROW : 0;
			int how = static_cast<int>(r.below(3));
			size_t pages = zs_get_total_pages(pool);
			errno = 0;
			x.h = zs_malloc(pool, x.size, flags);
			if (!x.h) {
				EXPECT_EQ(ENOMEM, errno);
				EXPECT_EQ(pages, zs_get_total_pages(pool));
				if (!flags) {
					res.failures++;
					expect_zs_intact(pool, live, "after a refused page");
				}
				continue;
			}
			// A page from the cache is no request; an automatic step may
			// have freed pages meanwhile (its moves are counted above).
			if (zs_get_total_pages(pool) > pages)
				res.page_requests_bound += zs_get_total_pages(pool) - pages;
			EXPECT_TRUE(stress::zs_write(pool, x.h, x.size, x.seed, how));
			live.push_back(x);
		} else if (k < 85) {
			size_t j = r.below(live.size());
			EXPECT_TRUE(stress::zs_same(pool, live[j].h, live[j].size, live[j].seed,
						    static_cast<int>(r.below(3))));
			EXPECT_EQ(0, zs_free(pool, live[j].h));
			live[j] = live.back();
			live.pop_back();
		} else if (k < 92) {
			ZsLive &x = live[r.below(live.size())];
			x.seed = r.next();
			EXPECT_TRUE(stress::zs_write(pool, x.h, x.size, x.seed,
						     static_cast<int>(r.below(3))));
		} else if (k < 96) {
			zs_compact(pool);
			// A refusal may strike in here, silently: compaction stops.
			expect_zs_intact(pool, live, "after zs_compact");
		} else {
			const ZsLive &x = live[r.below(live.size())];
			EXPECT_TRUE(stress::zs_same(pool, x.h, x.size, x.seed,
						    static_cast<int>(r.below(3))));
		}
	}
	expect_zs_intact(pool, live, "at the end");
	res.page_requests_bound += zs_moved(pool) - moved;
	for (const ZsLive &x : live)
		EXPECT_EQ(0, zs_free(pool, x.h));
	EXPECT_TRUE(stress::zs_emptied(pool)) << "pages left besides the cache";
	EXPECT_EQ(0u, zs_check(pool));
	zs_destroy_pool(pool);
	return res;
}

class ZsFaultEveryN : public ::testing::TestWithParam<std::tuple<unsigned, zs_map_method, uint32_t>>
{
};

TEST_P(ZsFaultEveryN, Workload)
{
	const unsigned chain = std::get<0>(GetParam());
	const zs_map_method method = std::get<1>(GetParam());
	const uint32_t cache = std::get<2>(GetParam());
	const int ops = 500;
	const ZsResult ref = run_zs(31, ops, chain, method, cache, 0);
	ASSERT_EQ(0, ref.failures);
	ASSERT_GT(ref.page_requests_bound, 30u);
	int refused = 0;
	for (uint64_t n = 1; n <= ref.page_requests_bound + 1; n++) {
		SCOPED_TRACE(n);
		ZsResult res = run_zs(31, ops, chain, method, cache, n);
		if (HasFailure())
			return;
		ASSERT_LE(res.failures, 1) << "the fault strikes once";
		refused += res.failures;
	}
	std::printf("zsmalloc chain %u method %d cache %u: <= %llu page requests, "
		    "%d refusals surfaced as ENOMEM from zs_malloc\n",
		    chain, method, cache, (unsigned long long)ref.page_requests_bound, refused);
	// Most requests come from zs_malloc; those refusals must surface.
	EXPECT_GT(refused, static_cast<int>(ref.page_requests_bound / 2));
}

// (chain, map method: DEFAULT is the contiguous layout, cache pages: 0 the
// default, UINT32_MAX none)
INSTANTIATE_TEST_SUITE_P(Configs, ZsFaultEveryN,
			 ::testing::Values(std::make_tuple(0u, ZS_MAP_COPY, 0u),
					   std::make_tuple(4u, ZS_MAP_REMAP, 2u),
					   std::make_tuple(1u, ZS_MAP_COPY, 0u),
					   std::make_tuple(0u, ZS_MAP_DEFAULT, 0u),
					   std::make_tuple(4u, ZS_MAP_DEFAULT, UINT32_MAX)));

} // namespace
