// api_test.cc - the public contract of xvmalloc/xvmalloc.h: limits, errors,
// block layout, every split and merge case, pages given back, stats, the
// walker, XV_NOGROW, the page limit and arenas.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xvmalloc/xv_test_util.h"
#include "xvmalloc/xvmalloc.h"

namespace
{

using xv_test::Block;
using xv_test::extent;
using xv_test::page_size;
using xv_test::stats;

struct Obj {
	uint32_t pfn = 0, off = 0, size = 0;
};

// A pool of @arenas arenas and at most @max_pages pages (0: no limit).
xv_pool *create_pool(unsigned arenas, uint64_t max_pages)
{
	xv_config cfg{};
	cfg.arenas = arenas;
	cfg.max_pages = max_pages;
	return xv_create_pool_config(&cfg);
}

class XvApi : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		pool = create_pool(1, 0);
		ASSERT_NE(nullptr, pool);
	}
	void TearDown() override
	{
		xv_destroy_pool(pool);
	}

	Obj alloc(uint32_t size, int flags = 0)
	{
		Obj o;
		o.size = size;
		EXPECT_EQ(0, xv_malloc(pool, size, &o.pfn, &o.off, flags)) << size;
		return o;
	}

	void free_obj(const Obj &o)
	{
		EXPECT_EQ(0, xv_free(pool, o.pfn, o.off));
	}

	// Every block of o's page, in order.
	std::vector<Block> page_of(const Obj &o)
	{
		return xv_test::page_blocks(pool, o.pfn);
	}

	xv_pool *pool = nullptr;
};

// The documented block layout of one page: a used block per object, the
// rest one free block of the remaining data bytes.
Block used_block(const Obj &o)
{
	return Block{ o.pfn, o.off, o.size, 1 };
}
Block free_at(uint32_t pfn, uint32_t off, uint32_t size)
{
	return Block{ pfn, off, size, 0 };
}

TEST(XvLimits, SizesFollowThePageSize)
{
	EXPECT_EQ(page_size() - 4, xv_max_size());
	EXPECT_EQ(32u, xv_min_block());
}

TEST(XvCreate, DefaultsAndNull)
{
	xv_pool *p = xv_create_pool();
	ASSERT_NE(nullptr, p);
	xv_stats s = stats(p);
	EXPECT_EQ(0u, s.pages);
	EXPECT_EQ(0u, s.objects);
	EXPECT_GT(s.metadata_bytes, 0u);
	EXPECT_EQ(0u, xv_get_total_size_bytes(p));
	EXPECT_EQ(0u, xv_check(p));
	xv_destroy_pool(p);
	xv_destroy_pool(nullptr);
	p = xv_create_pool_config(nullptr);
	ASSERT_NE(nullptr, p);
	xv_destroy_pool(p);
}

TEST(XvCreate, ConfigErrors)
{
	xv_config cfg{};
	cfg.arenas = 65;
	errno = 0;
	EXPECT_EQ(nullptr, xv_create_pool_config(&cfg));
	EXPECT_EQ(EINVAL, errno);

	cfg = xv_config{};
	cfg.max_pages = uint64_t{ 1 } << 32;
	errno = 0;
	EXPECT_EQ(nullptr, xv_create_pool_config(&cfg));
	EXPECT_EQ(EINVAL, errno);

	cfg = xv_config{};
	cfg.arenas = 64;
	xv_pool *p = xv_create_pool_config(&cfg);
	ASSERT_NE(nullptr, p);
	uint32_t pfn, off;
	EXPECT_EQ(0, xv_malloc(p, 100, &pfn, &off, 0));
	EXPECT_EQ(0, xv_free(p, pfn, off));
	EXPECT_EQ(0u, xv_check(p));
	xv_destroy_pool(p);
}

TEST(XvCreate, PageCacheSettings)
{
	for (uint32_t cache : { 0u, 1u, 1000u, XV_CACHE_NONE }) {
		xv_config cfg{};
		cfg.arenas = 1;
		cfg.cache_pages = cache;
		xv_pool *p = xv_create_pool_config(&cfg);
		ASSERT_NE(nullptr, p) << cache;
		// Empty pages leave the pool whatever the cache keeps.
		for (int round = 0; round < 3; round++) {
			std::vector<std::pair<uint32_t, uint32_t>> objs(50);
			for (auto &o : objs)
				ASSERT_EQ(0, xv_malloc(p, xv_max_size(), &o.first, &o.second, 0));
			EXPECT_EQ(50u, stats(p).pages);
			for (auto &o : objs)
				ASSERT_EQ(0, xv_free(p, o.first, o.second));
			EXPECT_EQ(0u, stats(p).pages);
			EXPECT_EQ(0u, xv_get_total_size_bytes(p));
		}
		EXPECT_EQ(150u, stats(p).pages_freed);
		EXPECT_EQ(0u, xv_check(p));
		xv_destroy_pool(p);
	}
}

TEST_F(XvApi, BoundarySizes)
{
	const uint32_t max = xv_max_size(), min = xv_min_block();
	for (uint32_t bad : { 0u, max + 1, max + 4, 65536u, UINT32_MAX }) {
		uint32_t pfn = 77, off = 77;
		xv_stats before = stats(pool);
		EXPECT_EQ(-EINVAL, xv_malloc(pool, bad, &pfn, &off, 0)) << bad;
		EXPECT_EQ(0u, pfn);
		EXPECT_EQ(0u, off);
		xv_stats after = stats(pool);
		EXPECT_EQ(before.pages, after.pages);
		EXPECT_EQ(before.objects, after.objects);
	}
	for (uint32_t size : { 1u, 2u, 3u, 4u, min - 1, min, min + 1, min + 4, max - 1, max }) {
		Obj o = alloc(size);
		EXPECT_EQ(0u, o.off % 4) << size;
		EXPECT_GE(o.off, 4u);
		EXPECT_LE(o.off + size, page_size());
		EXPECT_EQ(size, xv_get_object_size(pool, o.pfn, o.off));
		void *p = xv_map(pool, o.pfn, o.off);
		ASSERT_NE(nullptr, p);
		xv_test::fill(p, size, size);
		xv_unmap(pool, o.pfn, o.off);
		EXPECT_EQ(0u, xv_check(pool)) << size;
		EXPECT_EQ(1u, stats(pool).objects);
		EXPECT_EQ(size, stats(pool).bytes_requested);
		EXPECT_EQ(4 + extent(size), stats(pool).bytes_allocated);
		EXPECT_TRUE(xv_test::verify(xv_map(pool, o.pfn, o.off), size, size));
		free_obj(o);
		EXPECT_EQ(0u, stats(pool).pages) << size;
		EXPECT_EQ(0u, xv_check(pool));
	}
}

TEST_F(XvApi, BadArguments)
{
	uint32_t pfn = 5, off = 5;
	EXPECT_EQ(-EINVAL, xv_malloc(nullptr, 100, &pfn, &off, 0));
	EXPECT_EQ(0u, pfn);
	EXPECT_EQ(0u, off);
	EXPECT_EQ(-EINVAL, xv_malloc(pool, 100, nullptr, &off, 0));
	EXPECT_EQ(-EINVAL, xv_malloc(pool, 100, &pfn, nullptr, 0));
	for (int flags : { 2, 4, 0x100, -1, static_cast<int>(0x80000001u) }) {
		pfn = off = 9;
		EXPECT_EQ(-EINVAL, xv_malloc(pool, 100, &pfn, &off, flags)) << flags;
		EXPECT_EQ(0u, pfn);
		EXPECT_EQ(0u, off);
	}
	EXPECT_EQ(0u, stats(pool).pages);
	EXPECT_EQ(-EINVAL, xv_free(nullptr, 0, 4));
	errno = 0;
	EXPECT_EQ(nullptr, xv_map(nullptr, 0, 4));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0u, xv_get_total_size_bytes(nullptr));
	EXPECT_EQ(0u, xv_check(pool));
}

TEST_F(XvApi, FirstObjectLayout)
{
	Obj a = alloc(1000);
	EXPECT_EQ(4u, a.off);
	std::vector<Block> want = { used_block(a),
				    free_at(a.pfn, 4 + 1000 + 4, page_size() - 1008) };
	EXPECT_EQ(want, page_of(a));
	xv_stats s = stats(pool);
	EXPECT_EQ(1u, s.pages);
	EXPECT_EQ(1004u, s.bytes_allocated);
	EXPECT_EQ(page_size() - 1004, s.bytes_free);
	EXPECT_EQ(page_size(), xv_get_total_size_bytes(pool));
}

TEST_F(XvApi, SmallObjectsTakeTheMinimumBlock)
{
	Obj a = alloc(1), b = alloc(5), c = alloc(33);
	EXPECT_EQ(4u, a.off);
	EXPECT_EQ(a.pfn, b.pfn);
	EXPECT_EQ(4u + 32 + 4, b.off);
	EXPECT_EQ(b.off + 32 + 4, c.off);
	EXPECT_EQ(3 * 4 + 32 + 32 + 36u, stats(pool).bytes_allocated);
	EXPECT_EQ(1 + 5 + 33u, stats(pool).bytes_requested);
	EXPECT_EQ(0u, xv_check(pool));
}

TEST_F(XvApi, MaxSizeTakesAWholePage)
{
	Obj a = alloc(xv_max_size());
	EXPECT_EQ(4u, a.off);
	EXPECT_EQ(std::vector<Block>{ used_block(a) }, page_of(a));
	Obj b = alloc(xv_max_size());
	EXPECT_NE(a.pfn, b.pfn);
	EXPECT_EQ(2u, stats(pool).pages);
	EXPECT_EQ(0u, stats(pool).bytes_free);
	// A full page: even the smallest object needs another.
	Obj c = alloc(1);
	EXPECT_NE(a.pfn, c.pfn);
	EXPECT_NE(b.pfn, c.pfn);
	free_obj(a);
	free_obj(b);
	free_obj(c);
	EXPECT_EQ(0u, stats(pool).pages);
	EXPECT_EQ(3u, stats(pool).pages_freed);
	EXPECT_EQ(0u, xv_check(pool));
}

// The four merge cases when B (between A and C) is freed, plus D after C so
// that the page stays in use; sizes unaligned so that rounding shows.
enum class Neighbours { kNone, kPrevFree, kNextFree, kBothFree };

class XvMerge : public XvApi, public ::testing::WithParamInterface<Neighbours>
{
};

TEST_P(XvMerge, FreeMergesWithFreeNeighbours)
{
	Obj a = alloc(101), b = alloc(203), c = alloc(297), d = alloc(400);
	ASSERT_EQ(a.pfn, d.pfn);
	const uint32_t ea = extent(101), eb = extent(203), ec = extent(297);
	ASSERT_EQ(b.off, a.off + ea + 4);
	ASSERT_EQ(c.off, b.off + eb + 4);
	ASSERT_EQ(d.off, c.off + ec + 4);
	const uint32_t tail_off = d.off + 400 + 4;
	const Block tail = free_at(a.pfn, tail_off, page_size() - tail_off);

	Neighbours n = GetParam();
	if (n == Neighbours::kPrevFree || n == Neighbours::kBothFree)
		free_obj(a);
	if (n == Neighbours::kNextFree || n == Neighbours::kBothFree)
		free_obj(c);
	ASSERT_EQ(0u, xv_check(pool));
	free_obj(b);
	ASSERT_EQ(0u, xv_check(pool));

	std::vector<Block> want;
	uint32_t merged_off = 0, merged = 0;
	switch (n) {
	case Neighbours::kNone:
		merged_off = b.off, merged = eb;
		want = { used_block(a), free_at(a.pfn, b.off, eb), used_block(c), used_block(d),
			 tail };
		break;
	case Neighbours::kPrevFree:
		merged_off = a.off, merged = ea + 4 + eb;
		want = { free_at(a.pfn, a.off, merged), used_block(c), used_block(d), tail };
		break;
	case Neighbours::kNextFree:
		merged_off = b.off, merged = eb + 4 + ec;
		want = { used_block(a), free_at(a.pfn, b.off, merged), used_block(d), tail };
		break;
	case Neighbours::kBothFree:
		merged_off = a.off, merged = ea + eb + ec + 8;
		want = { free_at(a.pfn, a.off, merged), used_block(d), tail };
		break;
	}
	EXPECT_EQ(want, page_of(a));

	// The merged block is on the free list of its size: an object of exactly
	// that size fits it with no page to spare, and leaves no remainder.
	uint32_t pfn, off;
	ASSERT_EQ(0, xv_malloc(pool, merged, &pfn, &off, XV_NOGROW));
	EXPECT_EQ(a.pfn, pfn);
	EXPECT_EQ(merged_off, off);
	EXPECT_EQ(0u, xv_check(pool));
	EXPECT_EQ(1u, stats(pool).pages);

	// Freeing the last object merges it with the page's free tail.
	ASSERT_EQ(0, xv_free(pool, pfn, off));
	free_obj(d);
	EXPECT_EQ(0u, xv_check(pool));
	if (n == Neighbours::kNone || n == Neighbours::kNextFree) {
		free_obj(a);
	}
	if (n == Neighbours::kNone || n == Neighbours::kPrevFree) {
		free_obj(c);
	}
	EXPECT_EQ(0u, stats(pool).pages);
	EXPECT_EQ(0u, xv_check(pool));
}

INSTANTIATE_TEST_SUITE_P(AllCases, XvMerge,
			 ::testing::Values(Neighbours::kNone, Neighbours::kPrevFree,
					   Neighbours::kNextFree, Neighbours::kBothFree));

TEST_F(XvApi, FreeingTheLastObjectMergesWithTheTail)
{
	Obj a = alloc(100), b = alloc(200);
	free_obj(b);
	std::vector<Block> want = { used_block(a), free_at(a.pfn, b.off, page_size() - b.off) };
	EXPECT_EQ(want, page_of(a));
	EXPECT_EQ(0u, xv_check(pool));
}

// Every order of freeing five objects of one page: the checker holds after
// each step, and the page goes back after the last.
TEST_F(XvApi, EveryFreeOrderGivesThePageBack)
{
	std::vector<int> order = { 0, 1, 2, 3, 4 };
	const uint32_t sizes[] = { 64, 1, 700, 36, 1500 };
	int perms = 0;
	do {
		std::vector<Obj> objs;
		for (uint32_t s : sizes)
			objs.push_back(alloc(s));
		for (const Obj &o : objs)
			ASSERT_EQ(objs[0].pfn, o.pfn);
		const uint64_t freed = stats(pool).pages_freed;
		for (size_t i = 0; i < order.size(); i++) {
			ASSERT_EQ(1u, stats(pool).pages);
			free_obj(objs[static_cast<size_t>(order[i])]);
			ASSERT_EQ(0u, xv_check(pool)) << "perm " << perms << " step " << i;
		}
		EXPECT_EQ(0u, stats(pool).pages);
		EXPECT_EQ(freed + 1, stats(pool).pages_freed);
		EXPECT_EQ(0u, xv_get_total_size_bytes(pool));
		perms++;
	} while (std::next_permutation(order.begin(), order.end()));
	EXPECT_EQ(120, perms);
}

// A split that leaves fewer than MIN data bytes makes a fragment on no
// free list; it is reclaimed when its neighbour is freed.
TEST_F(XvApi, SplitRemaindersBelowTheMinimumAreFragments)
{
	const uint32_t page = page_size(), min = xv_min_block();
	for (uint32_t frag : { 0u, 4u, min - 4 }) {
		// block data (page - 4) = size + 4 + frag
		Obj a = alloc(page - 8 - frag);
		std::vector<Block> want = { used_block(a), free_at(a.pfn, page - frag, frag) };
		EXPECT_EQ(want, page_of(a));
		EXPECT_EQ(0u, xv_check(pool));
		uint32_t pfn = 1, off = 1;
		EXPECT_EQ(-ENOMEM, xv_malloc(pool, 1, &pfn, &off, XV_NOGROW)) << frag;
		EXPECT_EQ(0u, pfn);
		Obj b = alloc(1);
		EXPECT_NE(a.pfn, b.pfn);
		free_obj(a);
		EXPECT_EQ(0u, xv_check(pool));
		free_obj(b);
		EXPECT_EQ(0u, stats(pool).pages);
	}
	// A remainder of exactly MIN is a listed free block.
	Obj a = alloc(page - 8 - min);
	Obj b = alloc(min, XV_NOGROW);
	EXPECT_EQ(a.pfn, b.pfn);
	EXPECT_EQ(page - min, b.off);
	EXPECT_EQ(0u, xv_check(pool));
}

// Sizes just under a list boundary are found in their own (floor) list when
// its head fits: a freed 36-byte block serves the next 36-byte request.
TEST_F(XvApi, GoodFitReusesTheFloorList)
{
	for (uint32_t size : { 36u, 44u, 1004u, 2036u }) {
		Obj a = alloc(size), guard = alloc(8);
		free_obj(a);
		Obj b = alloc(size, XV_NOGROW);
		EXPECT_EQ(a.pfn, b.pfn) << size;
		EXPECT_EQ(a.off, b.off) << size;
		free_obj(b);
		free_obj(guard);
		EXPECT_EQ(0u, stats(pool).pages);
	}
}

// A hole in a high list serves any request that fits it (found through the
// first-level bitmap), and nothing larger.
TEST_F(XvApi, SearchFindsTheOnlyFittingHole)
{
	const uint32_t page = page_size();
	const uint32_t hole = page * 3 / 4;
	Obj a = alloc(hole);
	Obj guard = alloc(page - 8 - extent(hole)); // fills the page exactly
	ASSERT_EQ(a.pfn, guard.pfn);
	ASSERT_EQ((std::vector<Block>{ used_block(a), used_block(guard) }), page_of(a));
	free_obj(a);
	uint32_t pfn, off;
	EXPECT_EQ(-ENOMEM, xv_malloc(pool, hole + 1, &pfn, &off, XV_NOGROW));
	for (uint32_t want : { 40u, 300u, 1000u, hole / 2 }) {
		ASSERT_EQ(0, xv_malloc(pool, want, &pfn, &off, XV_NOGROW)) << want;
		EXPECT_EQ(a.pfn, pfn);
		EXPECT_EQ(0u, xv_check(pool));
		EXPECT_EQ(0, xv_free(pool, pfn, off));
	}
	ASSERT_EQ(0, xv_malloc(pool, hole, &pfn, &off, XV_NOGROW));
	EXPECT_EQ(a.off, off);
	EXPECT_EQ(1u, stats(pool).pages);
}

TEST_F(XvApi, NoGrowNeverTakesAPage)
{
	uint32_t pfn = 3, off = 3;
	EXPECT_EQ(-ENOMEM, xv_malloc(pool, 10, &pfn, &off, XV_NOGROW));
	EXPECT_EQ(0u, pfn);
	EXPECT_EQ(0u, off);
	EXPECT_EQ(0u, stats(pool).pages);
	EXPECT_EQ(0u, stats(pool).pages_allocated);
	Obj a = alloc(1000);
	Obj b = alloc(1000, XV_NOGROW);
	EXPECT_EQ(a.pfn, b.pfn);
	EXPECT_EQ(-ENOMEM, xv_malloc(pool, xv_max_size(), &pfn, &off, XV_NOGROW));
	EXPECT_EQ(1u, stats(pool).pages);
	EXPECT_EQ(0u, xv_check(pool));
}

TEST(XvPageLimit, FailsCleanlyAtTheLimit)
{
	xv_pool *p = create_pool(1, 3);
	ASSERT_NE(nullptr, p);
	std::vector<Obj> objs(3);
	for (Obj &o : objs)
		ASSERT_EQ(0, xv_malloc(p, xv_max_size(), &o.pfn, &o.off, 0));
	xv_stats before = stats(p);
	uint32_t pfn = 8, off = 8;
	EXPECT_EQ(-ENOMEM, xv_malloc(p, 1, &pfn, &off, 0));
	EXPECT_EQ(0u, pfn);
	EXPECT_EQ(0u, off);
	xv_stats after = stats(p);
	EXPECT_EQ(before.pages, after.pages);
	EXPECT_EQ(before.objects, after.objects);
	EXPECT_EQ(before.pages_allocated, after.pages_allocated);
	EXPECT_EQ(0u, xv_check(p));
	EXPECT_EQ(0, xv_free(p, objs[1].pfn, objs[1].off));
	EXPECT_EQ(0, xv_malloc(p, 1, &pfn, &off, 0));
	EXPECT_EQ(0u, xv_check(p));
	xv_destroy_pool(p);
}

// With more arenas, a thread whose arena is empty uses the free space of
// another arena rather than fail at the page limit (or under XV_NOGROW).
TEST(XvPageLimit, UsesOtherArenasBeforeFailing)
{
	xv_pool *p = create_pool(4, 2);
	ASSERT_NE(nullptr, p);
	Obj a, full;
	ASSERT_EQ(0, xv_malloc(p, 100, &a.pfn, &a.off, 0));
	// Other threads start in other arenas (round robin on first use).
	std::thread([&] {
		ASSERT_EQ(0, xv_malloc(p, xv_max_size(), &full.pfn, &full.off, 0));
	}).join();
	ASSERT_EQ(2u, stats(p).pages);
	for (int flags : { 0, static_cast<int>(XV_NOGROW) }) {
		std::thread([&] {
			Obj b;
			ASSERT_EQ(0, xv_malloc(p, 100, &b.pfn, &b.off, flags));
			EXPECT_EQ(a.pfn, b.pfn);
			Obj c;
			EXPECT_EQ(-ENOMEM, xv_malloc(p, xv_max_size(), &c.pfn, &c.off, flags));
		}).join();
	}
	EXPECT_EQ(2u, stats(p).pages);
	EXPECT_EQ(0u, xv_check(p));
	xv_destroy_pool(p);
}

TEST_F(XvApi, StatsMatchTheObjects)
{
	xv_test::Rng r(42);
	std::vector<Obj> objs;
	uint64_t requested = 0, allocated = 0;
	for (int i = 0; i < 2000; i++) {
		Obj o = alloc(xv_test::compressed_size(r, xv_max_size()));
		requested += o.size;
		allocated += 4 + extent(o.size);
		objs.push_back(o);
	}
	for (size_t i = 0; i < objs.size(); i += 3) {
		free_obj(objs[i]);
		requested -= objs[i].size;
		allocated -= 4 + extent(objs[i].size);
	}
	xv_stats s = stats(pool);
	EXPECT_EQ(objs.size() - (objs.size() + 2) / 3, s.objects);
	EXPECT_EQ(requested, s.bytes_requested);
	EXPECT_EQ(allocated, s.bytes_allocated);
	EXPECT_EQ(s.pages * page_size(), s.bytes_allocated + s.bytes_free);
	EXPECT_EQ(s.pages * page_size(), xv_get_total_size_bytes(pool));
	EXPECT_EQ(s.pages, s.pages_allocated - s.pages_freed);
	EXPECT_GT(s.metadata_bytes, 0u);
	EXPECT_EQ(0u, xv_check(pool));
}

TEST_F(XvApi, WalkerVisitsEveryBlockInPageOrder)
{
	xv_test::Rng r(7);
	std::vector<Obj> objs;
	for (int i = 0; i < 500; i++)
		objs.push_back(alloc(xv_test::compressed_size(r, xv_max_size())));
	for (size_t i = 0; i < objs.size(); i += 2)
		free_obj(objs[i]);

	std::vector<Block> blocks = xv_test::walk_blocks(pool);
	std::vector<std::pair<uint32_t, uint32_t>> used;
	uint64_t covered = 0;
	for (size_t i = 0; i < blocks.size(); i++) {
		const Block &b = blocks[i];
		if (i > 0) {
			const Block &p = blocks[i - 1];
			EXPECT_TRUE(p.pfn < b.pfn || (p.pfn == b.pfn && p.offset < b.offset));
		}
		covered += 4 + (b.used ? extent(b.size) : b.size);
		if (b.used) {
			used.push_back({ b.pfn, b.offset });
			EXPECT_EQ(b.size, xv_get_object_size(pool, b.pfn, b.offset));
		}
	}
	EXPECT_EQ(stats(pool).pages * page_size(), covered);
	std::vector<std::pair<uint32_t, uint32_t>> live;
	for (size_t i = 1; i < objs.size(); i += 2)
		live.push_back({ objs[i].pfn, objs[i].off });
	std::sort(live.begin(), live.end());
	std::sort(used.begin(), used.end());
	EXPECT_EQ(live, used);

	// A non-zero return stops the walk and is passed on.
	struct Stop {
		int calls = 0;
	} stop;
	auto fn = [](uint32_t, uint32_t, uint32_t, int, void *arg) -> int {
		return ++static_cast<Stop *>(arg)->calls == 3 ? 7 : 0;
	};
	EXPECT_EQ(7, xv_walk(pool, fn, &stop));
	EXPECT_EQ(3, stop.calls);
	EXPECT_EQ(0, xv_walk(pool, nullptr, nullptr));
}

TEST_F(XvApi, MapPointsIntoThePage)
{
	Obj a = alloc(100), b = alloc(200);
	unsigned char *pa = static_cast<unsigned char *>(xv_map(pool, a.pfn, a.off));
	unsigned char *pb = static_cast<unsigned char *>(xv_map(pool, b.pfn, b.off));
	ASSERT_NE(nullptr, pa);
	ASSERT_NE(nullptr, pb);
	EXPECT_EQ(static_cast<ptrdiff_t>(b.off - a.off), pb - pa);
	EXPECT_EQ(0u, reinterpret_cast<uintptr_t>(pa) % 4);
	xv_test::fill(pa, 100, 1);
	xv_test::fill(pb, 200, 2);
	xv_unmap(pool, a.pfn, a.off);
	xv_unmap(pool, b.pfn, b.off);
	EXPECT_TRUE(xv_test::verify(pa, 100, 1));
	EXPECT_TRUE(xv_test::verify(pb, 200, 2));
	EXPECT_EQ(0u, xv_check(pool));
}

// One thread touches one arena: the same sequence gives the same placement
// (and so the same density) with 1 arena or 8.
TEST(XvArenas, SingleThreadUsesOneArena)
{
	xv_pool *p1 = create_pool(1, 0);
	xv_pool *p8 = create_pool(8, 0);
	ASSERT_NE(nullptr, p1);
	ASSERT_NE(nullptr, p8);
	xv_test::Rng r(99);
	std::vector<Obj> o1, o8;
	for (int i = 0; i < 20000; i++) {
		if (!o1.empty() && r.below(3) == 0) {
			size_t k = r.below(o1.size());
			ASSERT_EQ(0, xv_free(p1, o1[k].pfn, o1[k].off));
			ASSERT_EQ(0, xv_free(p8, o8[k].pfn, o8[k].off));
			o1[k] = o1.back(), o1.pop_back();
			o8[k] = o8.back(), o8.pop_back();
			continue;
		}
		uint32_t size = xv_test::compressed_size(r, xv_max_size());
		Obj a, b;
		ASSERT_EQ(0, xv_malloc(p1, size, &a.pfn, &a.off, 0));
		ASSERT_EQ(0, xv_malloc(p8, size, &b.pfn, &b.off, 0));
		ASSERT_EQ(a.pfn, b.pfn);
		ASSERT_EQ(a.off, b.off);
		o1.push_back(a);
		o8.push_back(b);
	}
	EXPECT_EQ(stats(p1).pages, stats(p8).pages);
	EXPECT_EQ(0u, xv_check(p1));
	EXPECT_EQ(0u, xv_check(p8));
	xv_destroy_pool(p1);
	xv_destroy_pool(p8);
}

TEST(XvDestroy, WithLiveObjects)
{
	xv_pool *p = xv_create_pool();
	ASSERT_NE(nullptr, p);
	uint32_t pfn, off;
	for (int i = 0; i < 1000; i++)
		ASSERT_EQ(0, xv_malloc(p, 1 + static_cast<uint32_t>(i) * 3, &pfn, &off, 0));
	EXPECT_GT(stats(p).pages, 0u);
	xv_destroy_pool(p); // ASan reports any leak
}

} // namespace
