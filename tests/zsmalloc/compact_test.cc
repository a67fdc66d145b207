// Compaction: fill with mixed sizes, free a random 50-75 %, verify every
// object, compact, verify every object again through every path, and hold
// the result to what the header promises: handles keep working, emptied
// zspages are freed, the trailing pages of the last partly filled zspage go
// back. After a compaction with nothing pinned each class holds at most one
// partly filled zspage, packed from object 0, so its page count is the
// fewest its live objects fit in. Also: a second compaction frees nothing,
// compaction with nothing to do, and a pool at its page limit.
#include <errno.h>
#include <stdint.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/zsmalloc/zs_test_util.h"

namespace {

using zstest::check_object_all;
using zstest::class_stats;
using zstest::make_pool;
using zstest::Obj;
using zstest::Pool;
using zstest::write_object;

const size_t kPage = zstest::page_size();

size_t compressed_size(std::mt19937_64 &rng)
{
	switch (rng() % 8) {
	case 0:
		return 1 + rng() % 128;
	case 1:
		return kPage - rng() % 400;
	case 2:
		return 1 + rng() % kPage;
	default:
		return 200 + rng() % 2800;
	}
}

// Every class is as compact as it can be: at most one partly filled
// zspage, packed from object 0. Returns a description of what is not.
std::string fully_compacted(zs_pool *p)
{
	std::string bad;
	for (const zs_class_stat &c : class_stats(p)) {
		if (zstest::partial_zspages(c) > 1)
			bad += "class " + std::to_string(c.size) + ": " +
			       std::to_string(zstest::partial_zspages(c)) + " partial zspages; ";
		if (c.pages_used != zstest::min_pages(c, kPage))
			bad += "class " + std::to_string(c.size) + ": " +
			       std::to_string(c.pages_used) + " pages, " +
			       std::to_string(zstest::min_pages(c, kPage)) + " would do; ";
		if (c.zspages[0])
			bad += "class " + std::to_string(c.size) + ": empty zspages kept; ";
	}
	return bad;
}

struct Config {
	unsigned chain;
	zs_map_method method;
	size_t objects;
	uint64_t seed;
};

void fill_free_compact(const Config &cfg)
{
	const uint64_t seed = zstest::test_seed(cfg.seed);
	printf("compact seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	Pool pool = make_pool(cfg.chain, cfg.method);
	ASSERT_NE(pool, nullptr);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	for (size_t i = 0; i < cfg.objects; i++) {
		size_t size = compressed_size(rng);
		zs_handle h = zs_malloc(p, size, 0);
		ASSERT_NE(h, 0u) << strerror(errno);
		objs.push_back({h, size, seed * 1000000 + i});
		ASSERT_TRUE(write_object(p, h, objs.back().seed, size, (int)(rng() % 3)));
	}
	ASSERT_EQ(zs_check(p), 0u);
	// Free a random 50-75 %.
	std::shuffle(objs.begin(), objs.end(), rng);
	size_t nfree = objs.size() / 2 + rng() % (objs.size() / 4 + 1);
	for (size_t i = 0; i < nfree; i++) {
		ASSERT_EQ(zs_free(p, objs[i].h), 0);
	}
	objs.erase(objs.begin(), objs.begin() + (long)nfree);
	ASSERT_EQ(zs_check(p), 0u);
	ASSERT_EQ(zstest::first_bad(p, objs, (int)(rng() % 3)), -1) << "before compaction";

	auto before = class_stats(p);
	size_t pages_before = zs_get_total_pages(p);
	uint64_t freeable = 0, unpopulated = 0, minimal = 0;
	for (const zs_class_stat &c : before) {
		freeable += c.freeable;
		unpopulated += zstest::total_zspages(c) * c.pages_per_zspage - c.pages_used;
		minimal += zstest::min_pages(c, kPage);
	}
	zs_stats st0;
	zs_pool_stats(p, &st0);

	size_t freed = zs_compact(p);
	size_t pages_after = zs_get_total_pages(p);
	printf("%zu objects left of %zu; pages %zu -> %zu (freed %zu; freeable %llu, "
	       "unpopulated %llu, minimum %llu)\n",
	       objs.size(), cfg.objects, pages_before, pages_after, freed,
	       (unsigned long long)freeable, (unsigned long long)unpopulated,
	       (unsigned long long)minimal);
	ASSERT_EQ(zs_check(p), 0u);
	EXPECT_EQ(pages_after, pages_before - freed) << "the return value is the pages freed";
	EXPECT_GT(freed, 0u);
	// freeable counts whole zspages' worth of holes at ppz pages each;
	// zspages that never had all their pages are why it may be less.
	EXPECT_GE(freed + unpopulated, freeable);
	EXPECT_EQ(pages_after, minimal);
	EXPECT_EQ(fully_compacted(p), "");
	for (const zs_class_stat &c : class_stats(p)) {
		EXPECT_EQ(c.freeable, 0u) << "class " << c.size;
	}
	zs_stats st1;
	zs_pool_stats(p, &st1);
	EXPECT_EQ(st1.pages_compacted, st0.pages_compacted + freed);
	EXPECT_GT(st1.objects_moved, st0.objects_moved);
	EXPECT_EQ(st1.objects, objs.size());

	// Every object, through every path, and its handle still frees.
	EXPECT_EQ(zstest::first_bad(p, objs, 3), -1) << "after compaction";

	// Once more: nothing to do.
	zstest::Snapshot s = zstest::snapshot(p);
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zstest::diff(s, zstest::snapshot(p)), "") << "a second compaction changed things";
	EXPECT_EQ(zs_check(p), 0u);

	// Churn a little and compact again: still right.
	for (size_t i = 0; i < objs.size() / 3; i++) {
		ASSERT_EQ(zs_free(p, objs[i].h), 0);
		size_t size = compressed_size(rng);
		zs_handle h = zs_malloc(p, size, 0);
		ASSERT_NE(h, 0u);
		objs[i] = {h, size, seed * 1000000 + cfg.objects + i};
		ASSERT_TRUE(write_object(p, h, objs[i].seed, size, (int)(i % 3)));
	}
	zs_compact(p);
	ASSERT_EQ(zs_check(p), 0u);
	EXPECT_EQ(fully_compacted(p), "");
	EXPECT_EQ(zstest::first_bad(p, objs, 3), -1) << "after the second compaction";

	for (const Obj &o : objs) {
		ASSERT_EQ(zs_free(p, o.h), 0);
	}
	EXPECT_EQ(zs_get_total_pages(p), 0u);
	EXPECT_EQ(zs_check(p), 0u);
}

TEST(Compact, FillFreeCompactDefault)
{
	fill_free_compact({0, ZS_MAP_COPY, 30000, 1});
}

TEST(Compact, FillFreeCompactChain4Remap)
{
	fill_free_compact({4, ZS_MAP_REMAP, 20000, 2});
}

TEST(Compact, FillFreeCompactChain1)
{
	fill_free_compact({1, ZS_MAP_COPY, 10000, 3});
}

TEST(Compact, FillFreeCompactManySeeds)
{
	for (uint64_t seed = 10; seed < 20; seed++) {
		fill_free_compact({(unsigned)(seed % 17), seed % 2 ? ZS_MAP_COPY : ZS_MAP_REMAP,
				   3000, seed});
		if (HasFatalFailure())
			return;
	}
}

TEST(Compact, NothingToDo)
{
	Pool pool = make_pool();
	zs_pool *p = pool.get();
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zs_check(p), 0u);
	// Full zspages only, in two classes.
	auto cs = class_stats(p);
	std::vector<Obj> objs;
	for (size_t size : {(size_t)1008, (size_t)3264}) {
		const zs_class_stat &c = cs[(size_t)zstest::class_for(cs, size)];
		for (uint64_t i = 0; i < 2 * c.objs_per_zspage; i++) {
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			objs.push_back({h, size, i + size});
			ASSERT_TRUE(write_object(p, h, i + size, size, 0));
		}
	}
	zstest::Snapshot s = zstest::snapshot(p);
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zstest::diff(s, zstest::snapshot(p)), "");
	// Plus one partly filled zspage, packed from 0: still nothing.
	for (int i = 0; i < 7; i++) {
		zs_handle h = zs_malloc(p, 1008, 0);
		ASSERT_NE(h, 0u);
		objs.push_back({h, 1008, 7000u + (uint64_t)i});
		ASSERT_TRUE(write_object(p, h, 7000u + (uint64_t)i, 1008, 1));
	}
	s = zstest::snapshot(p);
	EXPECT_EQ(zs_compact(p), 0u);
	EXPECT_EQ(zstest::diff(s, zstest::snapshot(p)), "");
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zstest::first_bad(p, objs, 3), -1);
}

// One class, one partly filled zspage with holes at its low indices: the
// objects move down and the trailing pages go back.
TEST(Compact, TrailingPagesOfASingleZspage)
{
	struct Case {
		size_t size, alloc, free_below;
	} cases[] = {
		{1008, 30, 20}, // 10 objects at 20..29: 8 pages -> 3
		{1008, 65, 60}, // a full zspage, 5 left at the top: 16 -> 2
		{1392, 40, 39}, // one at the top: 14 -> 1
		{208, 250, 100},
		{3264, 19, 10},
	};
	for (const Case &c : cases) {
		for (zs_map_method method : {ZS_MAP_COPY, ZS_MAP_REMAP}) {
			SCOPED_TRACE("size " + std::to_string(c.size) + " alloc " +
				     std::to_string(c.alloc) + " method " + std::to_string(method));
			Pool pool = make_pool(0, method);
			zs_pool *p = pool.get();
			std::vector<Obj> objs;
			for (size_t i = 0; i < c.alloc; i++) {
				zs_handle h = zs_malloc(p, c.size, 0);
				ASSERT_NE(h, 0u);
				objs.push_back({h, c.size, 100 + i});
				ASSERT_TRUE(write_object(p, h, 100 + i, c.size, (int)(i % 3)));
			}
			auto cs = class_stats(p);
			const zs_class_stat cl = cs[(size_t)zstest::class_for(cs, c.size)];
			ASSERT_EQ(cl.size, c.size);
			ASSERT_LE(c.alloc, cl.objs_per_zspage) << "one zspage";
			ASSERT_EQ(zs_get_total_pages(p), zstest::pages_for(c.alloc - 1, c.size, kPage));
			for (size_t i = 0; i < c.free_below; i++) {
				ASSERT_EQ(zs_free(p, objs[i].h), 0);
			}
			objs.erase(objs.begin(), objs.begin() + (long)c.free_below);
			size_t before = zs_get_total_pages(p);
			ASSERT_EQ(before, zstest::pages_for(c.alloc - 1, c.size, kPage))
				<< "free keeps the pages of a zspage still in use";
			size_t left = c.alloc - c.free_below;
			size_t want = zstest::pages_for(left - 1, c.size, kPage);
			size_t freed = zs_compact(p);
			EXPECT_EQ(freed, before - want);
			EXPECT_EQ(zs_get_total_pages(p), want);
			EXPECT_EQ(zs_check(p), 0u);
			EXPECT_EQ(zstest::first_bad(p, objs, 3), -1);
			EXPECT_EQ(zs_compact(p), 0u);
			// The moved objects' handles free, and the pool empties.
			for (const Obj &o : objs) {
				ASSERT_EQ(zs_free(p, o.h), 0);
			}
			EXPECT_EQ(zs_get_total_pages(p), 0u);
		}
	}
}

// Rounds of churn, each ended by a compaction and a full verification.
TEST(Compact, RoundsOfChurn)
{
	const uint64_t seed = zstest::test_seed(99);
	printf("churn seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	Pool pool = make_pool(8, ZS_MAP_COPY);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	uint64_t next = 1;
	for (int round = 0; round < 20; round++) {
		size_t target = 1000 + rng() % 4000;
		while (objs.size() < target) {
			size_t size = compressed_size(rng);
			zs_handle h = zs_malloc(p, size, 0);
			ASSERT_NE(h, 0u);
			objs.push_back({h, size, next++});
			ASSERT_TRUE(write_object(p, h, objs.back().seed, size, (int)(next % 3)));
		}
		std::shuffle(objs.begin(), objs.end(), rng);
		size_t n = objs.size() * (20 + rng() % 60) / 100;
		for (size_t i = 0; i < n; i++) {
			ASSERT_EQ(zs_free(p, objs[i].h), 0);
		}
		objs.erase(objs.begin(), objs.begin() + (long)n);
		size_t before = zs_get_total_pages(p);
		size_t freed = zs_compact(p);
		ASSERT_EQ(zs_get_total_pages(p), before - freed) << "round " << round;
		ASSERT_EQ(zs_check(p), 0u) << "round " << round;
		ASSERT_EQ(fully_compacted(p), "") << "round " << round;
		ASSERT_EQ(zstest::first_bad(p, objs, round % 3), -1) << "round " << round;
	}
}

// A pool at its page limit, where compaction matters most: it must still
// get down to the fewest pages (zspages are populated lazily, so moving
// objects may need a destination page before a source gives any back).
void at_the_page_limit(bool full_again)
{
	const uint64_t seed = zstest::test_seed(123);
	printf("limit seed %llu (replay: ZS_TEST_SEED=%llu)\n", (unsigned long long)seed,
	       (unsigned long long)seed);
	std::mt19937_64 rng(seed);
	const uint64_t limit = 2000;
	Pool pool = make_pool(0, ZS_MAP_COPY, limit);
	zs_pool *p = pool.get();
	std::vector<Obj> objs;
	uint64_t next = 1;
	int failures = 0;
	while (failures < 200) {
		size_t size = compressed_size(rng);
		zs_handle h = zs_malloc(p, size, 0);
		if (!h) {
			ASSERT_EQ(errno, ENOMEM);
			failures++;
			continue;
		}
		objs.push_back({h, size, next++});
		ASSERT_TRUE(write_object(p, h, objs.back().seed, size, 0));
	}
	ASSERT_EQ(zs_get_total_pages(p), limit);
	std::shuffle(objs.begin(), objs.end(), rng);
	size_t n = objs.size() / 2;
	for (size_t i = 0; i < n; i++) {
		ASSERT_EQ(zs_free(p, objs[i].h), 0);
	}
	objs.erase(objs.begin(), objs.begin() + (long)n);
	if (full_again) {
		// Back to the limit with page-sized objects: no page to spare.
		for (;;) {
			zs_handle h = zs_malloc(p, kPage, 0);
			if (!h)
				break;
			objs.push_back({h, kPage, next++});
			ASSERT_TRUE(write_object(p, h, objs.back().seed, kPage, 0));
		}
		ASSERT_EQ(zs_get_total_pages(p), limit);
	}
	uint64_t minimal = 0;
	for (const zs_class_stat &c : class_stats(p))
		minimal += zstest::min_pages(c, kPage);
	size_t before = zs_get_total_pages(p);
	size_t freed = zs_compact(p);
	printf("at the limit: %zu pages, first compaction freed %zu, minimum %llu\n", before,
	       freed, (unsigned long long)minimal);
	EXPECT_EQ(zs_check(p), 0u);
	EXPECT_EQ(zstest::first_bad(p, objs, 3), -1);
	// Repeated compactions converge.
	for (int i = 0; i < 20 && zs_get_total_pages(p) > minimal; i++)
		zs_compact(p);
	EXPECT_EQ(zs_get_total_pages(p), minimal);
	EXPECT_EQ(fully_compacted(p), "");
	EXPECT_EQ(zstest::first_bad(p, objs, 3), -1);
}

TEST(Compact, AtThePageLimit)
{
	at_the_page_limit(false);
}

// The same with no page to spare when compaction starts.
TEST(Compact, AtThePageLimitNoPageToSpare)
{
	at_the_page_limit(true);
}

// Compaction renumbers zspage records into the lowest ids and frees the
// record chunks past the highest; pinned zspages keep theirs. Twenty
// zspages of class 1008; Z18 and Z19 hold mapped objects (one in a page,
// RW; one straddling, RW through a copy), the rest is freed but for three
// objects of Z0. Unpin one, compact, unpin the other, compact: the mapped
// pointers show the right bytes throughout, their writes land, every
// object reads back.
TEST(Compact, RenumberAroundPins)
{
	for (zs_map_method method : {ZS_MAP_COPY, ZS_MAP_REMAP}) {
		SCOPED_TRACE("method " + std::to_string(method));
		const size_t sz = 1008, opz = 65;
		Pool pool = make_pool(0, method);
		zs_pool *p = pool.get();
		auto cs = class_stats(p);
		ASSERT_EQ(cs[(size_t)zstest::class_for(cs, sz)].objs_per_zspage, opz);
		std::vector<Obj> all;
		for (size_t i = 0; i < 20 * opz; i++) {
			zs_handle h = zs_malloc(p, sz, 0);
			ASSERT_NE(h, 0u);
			all.push_back({h, sz, i + 1});
			ASSERT_TRUE(write_object(p, h, i + 1, sz, (int)(i % 3)));
		}
		Obj A = all[18 * opz + 10], B = all[19 * opz + 4];
		ASSERT_FALSE(zstest::straddles(10, sz, kPage));
		ASSERT_TRUE(zstest::straddles(4, sz, kPage));
		uint8_t *a = (uint8_t *)zs_map_object(p, A.h, ZS_MM_RW);
		uint8_t *b = (uint8_t *)zs_map_object(p, B.h, ZS_MM_RW);
		ASSERT_TRUE(a && b);
		std::vector<Obj> live;
		for (size_t z = 0; z < 20; z++)
			for (size_t i = 0; i < opz; i++) {
				const Obj &o = all[z * opz + i];
				bool keep = (z == 0 && i < 3) || (z == 18 && i >= 20 && i < 30) ||
					    (z == 19 && i >= 30 && i < 40);
				if (o.h == A.h || o.h == B.h)
					continue;
				if (keep)
					live.push_back(o);
				else {
					ASSERT_EQ(zs_free(p, o.h), 0);
				}
			}
		auto zspages = [&] {
			auto v = class_stats(p);
			return zstest::total_zspages(v[(size_t)zstest::class_for(v, sz)]);
		};
		EXPECT_EQ(zspages(), 3u);
		zs_compact(p);
		ASSERT_EQ(zs_check(p), 0u);
		EXPECT_TRUE(zstest::same_content(a, A.seed, sz));
		EXPECT_TRUE(zstest::same_content(b, B.seed, sz));
		EXPECT_EQ(zstest::first_bad(p, live, 0), -1);
		// Unpin A (with new bytes); Z18 may now move and be renumbered.
		A.seed = 555;
		memcpy(a, zstest::content(A.seed, sz).data(), sz);
		zs_unmap_object(p, A.h);
		live.push_back(A);
		zs_compact(p);
		ASSERT_EQ(zs_check(p), 0u);
		EXPECT_EQ(zspages(), 2u) << "Z0 merged into Z18, Z19 pinned";
		EXPECT_TRUE(zstest::same_content(b, B.seed, sz)) << "pinned Z19 was touched";
		EXPECT_EQ(zstest::first_bad(p, live, 3), -1);
		// Unpin B (with new bytes, written back at unmap in copy mode).
		B.seed = 777;
		memcpy(b, zstest::content(B.seed, sz).data(), sz);
		zs_unmap_object(p, B.h);
		live.push_back(B);
		EXPECT_EQ(zstest::first_bad(p, live, 3), -1);
		zs_compact(p);
		ASSERT_EQ(zs_check(p), 0u);
		EXPECT_EQ(zspages(), 1u);
		EXPECT_EQ(zs_get_total_pages(p), zstest::pages_for(live.size() - 1, sz, kPage));
		EXPECT_EQ(zstest::first_bad(p, live, 3), -1);
		// New zspages after renumbering work as before.
		for (size_t i = 0; i < 3 * opz; i++) {
			zs_handle h = zs_malloc(p, sz, 0);
			ASSERT_NE(h, 0u);
			live.push_back({h, sz, 9000 + i});
			ASSERT_TRUE(write_object(p, h, 9000 + i, sz, (int)(i % 3)));
		}
		ASSERT_EQ(zs_check(p), 0u);
		EXPECT_EQ(zstest::first_bad(p, live, 3), -1);
		for (const Obj &o : live) {
			ASSERT_EQ(zs_free(p, o.h), 0);
		}
		EXPECT_EQ(zs_get_total_pages(p), 0u);
	}
}

} // namespace
