// Memory that follows live bytes (issue 17) and objects above a page
// (issue 18): the shards' cache of emptied zspages (bound, decay, zs_trim),
// automatic compaction, the exact freeable figure, zs_compact() merging
// shards, objects of every size up to ZS_MAX_OBJECT_SIZE, and the SG read.
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace
{

using namespace zs_test;

Pool make(zs_config cfg)
{
	cfg.name = "memory";
	return Pool(zs_create_pool_config(&cfg));
}

// @n objects of @size bytes (what they hold does not matter here).
std::vector<zs_handle> alloc_objects(zs_pool *p, int n, size_t size)
{
	std::vector<zs_handle> hs;
	for (int i = 0; i < n; i++)
		hs.push_back(zs_malloc(p, size, 0));
	return hs;
}

void free_objects(zs_pool *p, const std::vector<zs_handle> &hs)
{
	for (zs_handle h : hs)
		ASSERT_EQ(zs_free(p, h), 0);
}

// ---- The cache -----------------------------------------------------------

TEST(Cache, EmptiedZspagesAreKeptCountedAndTrimmed)
{
	zs_config cfg = {};
	cfg.shards = 1;
	Pool pool = make(cfg);
	zs_pool *p = pool.get();
	std::vector<zs_handle> hs = alloc_objects(p, 200, 3000);
	size_t full = zs_get_total_pages(p);
	ASSERT_NO_FATAL_FAILURE(free_objects(p, hs));
	zs_stats st = pool_stats(p);
	// 147 pages of objects: an eighth of them past the first 64 may stay.
	EXPECT_GT(st.pages_cached, 0u);
	EXPECT_LE(st.pages_cached, 64 + full / 8);
	EXPECT_EQ(st.pages_used, st.pages_cached) << "cached pages count as used";
	EXPECT_EQ(zs_get_total_pages(p), st.pages_cached);
	EXPECT_EQ(zs_check(p), 0u);
	// Taken back by the next zspages of the shard.
	hs = alloc_objects(p, 20, 3000);
	EXPECT_LT(pool_stats(p).pages_cached, st.pages_cached) << "no cached zspage was reused";
	EXPECT_EQ(zs_check(p), 0u);
	ASSERT_NO_FATAL_FAILURE(free_objects(p, hs));
	size_t cached = pool_stats(p).pages_cached;
	EXPECT_EQ(zs_trim(p), cached);
	EXPECT_EQ(zs_get_total_pages(p), 0u);
	EXPECT_EQ(pool_stats(p).pages_cached, 0u);
	EXPECT_EQ(zs_trim(p), 0u);
	EXPECT_EQ(zs_check(p), 0u);
}

TEST(Cache, BoundedByItsSetting)
{
	for (uint32_t bound : { 1u, 16u, UINT32_MAX }) {
		SCOPED_TRACE(bound);
		zs_config cfg = {};
		cfg.shards = 1;
		cfg.cache_pages = bound;
		Pool pool = make(cfg);
		zs_pool *p = pool.get();
		std::vector<zs_handle> hs = alloc_objects(p, 2000, 2000);
		ASSERT_NO_FATAL_FAILURE(free_objects(p, hs));
		uint64_t cached = pool_stats(p).pages_cached;
		if (bound == UINT32_MAX) {
			EXPECT_EQ(cached, 0u) << "UINT32_MAX: no cache";
		} else {
			EXPECT_LE(cached, bound + ZS_MAX_PAGES_PER_ZSPAGE - 1)
				<< "at most the bound (and the zspage that went over it)";
		}
		EXPECT_EQ(zs_get_total_pages(p), cached);
		EXPECT_EQ(zs_check(p), 0u);
	}
}

TEST(Cache, DecaysWithoutAnyCall)
{
	zs_config cfg = {};
	cfg.shards = 1;
	cfg.decay_ms = 50;
	Pool pool = make(cfg);
	zs_pool *p = pool.get();
	std::vector<zs_handle> hs = alloc_objects(p, 300, 1500);
	ASSERT_NO_FATAL_FAILURE(free_objects(p, hs));
	ASSERT_GT(pool_stats(p).pages_cached, 0u);
	usleep(150 * 1000);
	// Other work goes on (in a class of its own): enough calls that the
	// decay check runs; no trim, no compaction.
	for (int i = 0; i < 2000; i++) {
		zs_handle h = zs_malloc(p, 100, 0);
		ASSERT_EQ(zs_free(p, h), 0);
	}
	zs_stats st = pool_stats(p);
	EXPECT_LE(st.pages_cached, 1u) << "cached pages outlived the decay";
	EXPECT_EQ(zs_check(p), 0u);
}

// 64 live objects of random sizes, churned: the pages go round through the
// cache, not through the OS (the bench measures the time; this counts the
// page source's work through the pool's peak).
TEST(Cache, SmallWorkingSetDoesNotFaultPagesInAndOut)
{
	Pool pool = make({});
	zs_pool *p = pool.get();
	std::mt19937_64 rng(3);
	std::vector<zs_handle> live;
	size_t most = 0;
	for (int i = 0; i < 200000; i++) {
		if (live.size() < 64 && (live.empty() || rng() % 2)) {
			live.push_back(zs_malloc(p, 100 + rng() % 3900, 0));
		} else {
			size_t k = rng() % live.size();
			ASSERT_EQ(zs_free(p, live[k]), 0);
			live[k] = live.back();
			live.pop_back();
		}
		most = std::max(most, zs_get_total_pages(p));
	}
	EXPECT_LE(most, 200u) << "64 objects of up to 4 KiB held " << most << " pages";
	EXPECT_EQ(zs_check(p), 0u);
}

// ---- Compaction ------------------------------------------------------------

std::vector<Obj> fill_free_half(zs_pool *p, size_t n, uint64_t seed, size_t max_size = 4096)
{
	std::mt19937_64 rng(seed);
	std::vector<Obj> objs;
	for (size_t i = 0; i < n; i++) {
		size_t size = 1 + rng() % max_size;
		zs_handle h = zs_malloc(p, size, 0);
		EXPECT_NE(h, 0u);
		objs.push_back({ h, size, seed * 1000003 + i });
		zs_test::write_object(p, h, objs.back().seed, size, 0);
	}
	std::vector<Obj> kept;
	for (size_t i = 0; i < n; i++)
		if (rng() % 2) {
			kept.push_back(objs[i]);
		} else {
			EXPECT_EQ(zs_free(p, objs[i].h), 0);
		}
	return kept;
}

TEST(Compaction, FreeableIsExactlyWhatCompactionFrees)
{
	for (int auto_on : { 0, 1 })
		for (size_t max_size : { (size_t)4096, (size_t)ZS_MAX_OBJECT_SIZE }) {
			SCOPED_TRACE(std::to_string(auto_on) + " " + std::to_string(max_size));
			zs_config cfg = {};
			cfg.no_auto_compact = !auto_on;
			Pool pool = make(cfg);
			zs_pool *p = pool.get();
			std::vector<Obj> objs = fill_free_half(p, 6000, 11 + max_size, max_size);
			zs_trim(p);
			uint64_t freeable = 0;
			for (const zs_class_stat &c : zs_test::class_stats(p))
				freeable += c.freeable;
			EXPECT_EQ(zs_compact(p), freeable);
			for (const zs_class_stat &c : zs_test::class_stats(p)) {
				EXPECT_EQ(c.freeable, 0u) << "class " << c.size;
				EXPECT_LE(zs_test::partial_zspages(c), 1u) << "class " << c.size;
			}
			EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
			EXPECT_EQ(zs_check(p), 0u);
		}
}

// With automatic compaction on, a pool that loses half its objects at
// random comes back close to its live bytes without a zs_compact() call.
TEST(Compaction, AutomaticKeepsUpWithFrees)
{
	Pool on = make({});
	zs_config off_cfg = {};
	off_cfg.no_auto_compact = 1;
	Pool off = make(off_cfg);
	std::vector<Obj> a = fill_free_half(on.get(), 40000, 5),
			 b = fill_free_half(off.get(), 40000, 5);
	size_t pages_on = zs_get_total_pages(on.get()) - pool_stats(on.get()).pages_cached;
	size_t pages_off = zs_get_total_pages(off.get()) - pool_stats(off.get()).pages_cached;
	uint64_t live = 0;
	for (const Obj &o : a)
		live += o.size;
	printf("after freeing half: %zu pages with automatic compaction, %zu without, "
	       "%.1f %% and %.1f %% of the live bytes\n",
	       pages_on, pages_off, 100.0 * pages_on * 4096 / live,
	       100.0 * pages_off * 4096 / live);
	EXPECT_LT(pages_on * 100, pages_off * 80) << "automatic compaction did little";
	EXPECT_GT(pool_stats(on.get()).auto_compactions, 0u);
	EXPECT_EQ(pool_stats(off.get()).auto_compactions, 0u);
	EXPECT_EQ(zs_test::first_bad(on.get(), a, 3), -1);
	EXPECT_EQ(zs_check(on.get()), 0u);
}

// A class whose only zspage empties and refills: in a small pool automatic
// compaction leaves it alone (no pack, no trim, no page given back and
// faulted in again on every cycle); in a pool past ZS_AUTO_SMALL_POOL pages
// (4 MiB) it packs and trims that zspage all the same.
TEST(Compaction, AutomaticLeavesASmallPoolsOnlyZspage)
{
	const size_t size = 3000; // chains of several pages
	for (bool large : { false, true }) {
		SCOPED_TRACE(large ? "large pool" : "small pool");
		zs_config cfg = {};
		cfg.shards = 1;
		Pool pool = make(cfg);
		zs_pool *p = pool.get();
		std::vector<zs_handle> ballast; // other classes: 8 MiB
		for (size_t i = 0; large && i < 2048; i++) {
			ballast.push_back(zs_malloc(p, 4096, 0));
			ASSERT_NE(ballast.back(), 0u);
		}
		const uint64_t before = pool_stats(p).auto_compactions;
		for (int round = 0; round < 50; round++) {
			std::vector<zs_handle> hs;
			for (int i = 0; i < 4; i++) {
				hs.push_back(zs_malloc(p, size, 0));
				ASSERT_NE(hs.back(), 0u);
			}
			for (size_t i = 0; i + 1 < hs.size(); i++) // keep the last one
				ASSERT_EQ(zs_free(p, hs[i]), 0);
			ASSERT_EQ(zs_free(p, hs.back()), 0);
		}
		const uint64_t steps = pool_stats(p).auto_compactions - before;
		if (large)
			EXPECT_GT(steps, 0u);
		else
			EXPECT_EQ(steps, 0u);
		for (zs_handle h : ballast)
			ASSERT_EQ(zs_free(p, h), 0);
		EXPECT_EQ(zs_check(p), 0u);
	}
}

// Four threads fill their shards; zs_compact() leaves one partial zspage
// per class, not one per shard.
TEST(Compaction, MergesShards)
{
	zs_config cfg = {};
	cfg.shards = 4;
	cfg.no_auto_compact = 1;
	Pool pool = make(cfg);
	zs_pool *p = pool.get();
	std::vector<std::vector<Obj>> per(4);
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; t++)
		ts.emplace_back([&, t] { per[t] = fill_free_half(p, 3000, 40 + (uint64_t)t); });
	for (auto &t : ts)
		t.join();
	zs_compact(p);
	for (const zs_class_stat &c : zs_test::class_stats(p))
		EXPECT_LE(zs_test::partial_zspages(c), 1u) << "class " << c.size;
	for (auto &objs : per)
		EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
	EXPECT_EQ(zs_check(p), 0u);
	for (auto &objs : per)
		for (const Obj &o : objs)
			EXPECT_EQ(zs_free(p, o.h), 0);
	zs_trim(p);
	EXPECT_EQ(zs_get_total_pages(p), 0u);
}

// ---- Objects above a page ----------------------------------------------------

TEST(Large, EverySizeUpToTheLargest)
{
	for (zs_layout layout : { ZS_LAYOUT_CONTIGUOUS, ZS_LAYOUT_SCATTERED }) {
		zs_config cfg = {};
		cfg.layout = layout;
		Pool pool = make(cfg);
		zs_pool *p = pool.get();
		std::vector<Obj> objs;
		for (size_t size = 4000; size <= ZS_MAX_OBJECT_SIZE; size += 997) {
			for (int k = 0; k < 3; k++) {
				zs_handle h = zs_malloc(p, size, 0);
				ASSERT_NE(h, 0u) << size;
				objs.push_back({ h, size, size * 3 + (uint64_t)k });
				ASSERT_TRUE(zs_test::write_object(p, h, objs.back().seed, size, k));
			}
		}
		zs_handle h = zs_malloc(p, ZS_MAX_OBJECT_SIZE, 0);
		ASSERT_NE(h, 0u);
		objs.push_back({ h, ZS_MAX_OBJECT_SIZE, 77 });
		ASSERT_TRUE(zs_test::write_object(p, h, 77, ZS_MAX_OBJECT_SIZE, 2));
		errno = 0;
		EXPECT_EQ(zs_malloc(p, ZS_MAX_OBJECT_SIZE + 1, 0), 0u);
		EXPECT_EQ(errno, ENOSPC);
		EXPECT_EQ(zs_test::first_bad(p, objs, 3), -1);
		EXPECT_EQ(zs_check(p), 0u);
		// The class table's largest classes waste little: each object's
		// class is within 1/32 of its size (the pages then follow the
		// objects once compacted, checked by the density runs).
		auto cs = zs_test::class_stats(p);
		for (const Obj &o : objs) {
			const zs_class_stat &c = cs[(size_t)zs_test::class_for(cs, o.size)];
			EXPECT_LE(c.size - o.size, o.size / 32) << o.size;
		}
		for (size_t i = 0; i < objs.size(); i += 2)
			EXPECT_EQ(zs_free(p, objs[i].h), 0);
		zs_compact(p);
		EXPECT_EQ(zs_check(p), 0u);
		for (size_t i = 1; i < objs.size(); i += 2)
			EXPECT_TRUE(zs_test::check_object_all(p, objs[i].h, objs[i].seed,
							      objs[i].size));
	}
}

TEST(Large, ClassesAboveAPageWasteLittle)
{
	Pool pool = make({});
	for (const zs_class_stat &c : zs_test::class_stats(pool.get())) {
		if (c.size <= 4096)
			continue;
		uint64_t bytes = (uint64_t)c.pages_per_zspage * 4096;
		EXPECT_LE(bytes - (uint64_t)c.objs_per_zspage * c.size, bytes / 50)
			<< "class " << c.size << ": " << c.objs_per_zspage << " in "
			<< c.pages_per_zspage << " pages";
		EXPECT_LE(c.pages_per_zspage, 128u);
	}
}

// ---- The SG read -----------------------------------------------------------

TEST(Segments, OneSegmentPerContiguousRun)
{
	for (zs_layout layout : { ZS_LAYOUT_CONTIGUOUS, ZS_LAYOUT_SCATTERED }) {
		SCOPED_TRACE(layout);
		zs_config cfg = {};
		cfg.layout = layout;
		Pool pool = make(cfg);
		zs_pool *p = pool.get();
		for (size_t size : { (size_t)100, (size_t)1360, (size_t)4096, (size_t)30000,
				     (size_t)ZS_MAX_OBJECT_SIZE }) {
			std::vector<zs_handle> hs;
			for (int k = 0; k < 5; k++) {
				hs.push_back(zs_malloc(p, size, 0));
				ASSERT_TRUE(zs_test::write_object(p, hs.back(), size + (uint64_t)k,
								  size, 0));
			}
			for (int k = 0; k < 5; k++) {
				zs_segment seg[ZS_MAX_SEGMENTS];
				int n = zs_obj_read_sg_begin(p, hs[k], size, seg, ZS_MAX_SEGMENTS);
				ASSERT_GT(n, 0) << size;
				if (layout == ZS_LAYOUT_CONTIGUOUS) {
					EXPECT_EQ(n, 1);
				}
				std::vector<uint8_t> got;
				for (int i = 0; i < n; i++) {
					const uint8_t *a = static_cast<const uint8_t *>(
						seg[i].addr);
					got.insert(got.end(), a, a + seg[i].len);
					if (i) {
						EXPECT_NE(static_cast<const uint8_t *>(
								  seg[i - 1].addr) +
								  seg[i - 1].len,
							  a)
							<< "two segments that could be one";
					}
				}
				EXPECT_EQ(got, test_content::bytes(size + (uint64_t)k, size));
				EXPECT_EQ(zs_free(p, hs[k]), -EBUSY) << "a read pins";
				EXPECT_EQ(zs_obj_read_sg_end(p, hs[k]), 0);
				EXPECT_EQ(zs_obj_read_sg_end(p, hs[k]), -EINVAL);
				if (n > 1) {
					EXPECT_EQ(zs_obj_read_sg_begin(p, hs[k], size, seg, 1),
						  -ENOBUFS);
				}
			}
			for (zs_handle h : hs)
				EXPECT_EQ(zs_free(p, h), 0);
		}
		zs_segment seg[2];
		zs_handle h = zs_malloc(p, 100, 0);
		EXPECT_EQ(zs_obj_read_sg_begin(p, h, 0, seg, 2), -EINVAL);
		EXPECT_EQ(zs_obj_read_sg_begin(p, h, 4097, seg, 2), -EINVAL)
			<< "past the class size";
		EXPECT_EQ(zs_obj_read_sg_begin(p, h, 10, nullptr, 2), -EINVAL);
		EXPECT_EQ(zs_obj_read_sg_begin(nullptr, h, 10, seg, 2), -EINVAL);
		EXPECT_EQ(zs_free(p, h), 0);
		EXPECT_EQ(zs_check(p), 0u);
	}
}

} // namespace
